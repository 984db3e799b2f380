//! The engine against real captured objects (`testdata/`): pairs upstream treats as in
//! sync give no drift, pairs with real drift give exactly it, and every live object carrying
//! `last-applied-configuration` diffed against that configuration gives only what really
//! changed after the apply.

mod common;

use common::{assert_lines, last_applied, load, run, summary};

fn check_pair(desired: &str, live: &str, namespace: &str, expect: &[&str]) {
    let analysis = run(&load(desired), &load(live), namespace, &[]);
    assert!(analysis.problems.is_empty(), "{:?}", analysis.problems);
    assert_lines(&format!("{desired} vs {live}"), &summary(&analysis), expect);
}

// ---- upstream verdict: in sync (Modified=false) ----

#[test]
fn smd_deploy_defaults_are_not_drift() {
    check_pair(
        "k8s/gitops-engine/smd-deploy-config.yaml",
        "k8s/gitops-engine/smd-deploy-live.yaml",
        "default",
        &[],
    );
}

#[test]
fn elasticsearch_statefulset_defaults_and_vct_status_are_not_drift() {
    check_pair(
        "k8s/gitops-engine/elasticsearch-config.json",
        "k8s/gitops-engine/elasticsearch-live.json",
        "elasticsearch4",
        &[],
    );
}

#[test]
fn endpoints_reordered_ports_and_default_protocol_are_not_drift() {
    check_pair(
        "k8s/gitops-engine/endpoints-config.json",
        "k8s/gitops-engine/endpoints-live.json",
        "default",
        &[],
    );
}

#[test]
fn webhook_ca_bundle_injection_and_defaults_are_not_drift() {
    check_pair(
        "k8s/gitops-engine/mutatingwebhookconfig-config.json",
        "k8s/gitops-engine/mutatingwebhookconfig-live.json",
        "default",
        &[],
    );
}

#[test]
fn service_defaulted_target_port_is_not_drift() {
    check_pair(
        "k8s/gitops-engine/ssd-service-config.yaml",
        "k8s/gitops-engine/ssd-service-live.yaml",
        "default",
        &[],
    );
}

/// Upstream (Argo CD's three-way diff) calls this pair in sync because it ignores live-only
/// keys absent from last-applied. StateSight deliberately does not: an env var present live
/// but not in Git is always drift (argo-cd #8767; docs/drift-semantics.md, keyed lists).
#[test]
fn deployment_extra_env_var_is_drift_unlike_upstream() {
    check_pair(
        "k8s/gitops-engine/deployment-config.json",
        "k8s/gitops-engine/deployment-live.json",
        "default",
        &[
            "added_in_live apps/Deployment/default/guestbook-ui spec.template.spec.containers[name=guestbook-ui].env[name=VAR2] cause=unowned owners=",
        ],
    );
}

// ---- real drift ----

#[test]
fn configmap_key_added_out_of_band_is_removed_from_git() {
    check_pair(
        "k8s/argo-cd/ssd-configmap-config.yaml",
        "k8s/argo-cd/ssd-configmap-live.yaml",
        "default",
        &[
            "added_in_live ConfigMap/default/test-configmap data.key3 cause=removed_from_git owners=argocd-controller",
        ],
    );
}

#[test]
fn replicas_and_annotation_changed() {
    check_pair(
        "k8s/argo-cd/target-deployment.yaml",
        "k8s/argo-cd/live-deployment.yaml",
        "default",
        &[
            "changed apps/Deployment/default/kustomize-guestbook-ui metadata.annotations.iksm-version cause=janitor owners=janitor",
            "changed apps/Deployment/default/kustomize-guestbook-ui spec.replicas cause=argocd owners=argocd",
        ],
    );
}

#[test]
fn env_list_is_keyed_by_name() {
    check_pair(
        "k8s/argo-cd/target-deployment-env-vars.yaml",
        "k8s/argo-cd/live-deployment-env-vars.yaml",
        "default",
        &[
            "changed apps/Deployment/default/kustomize-guestbook-ui metadata.annotations.iksm-version cause=janitor owners=janitor",
            "changed apps/Deployment/default/kustomize-guestbook-ui spec.replicas cause=argocd owners=argocd",
            "changed apps/Deployment/default/kustomize-guestbook-ui spec.template.spec.containers[name=guestbook-ui].env[name=SOME_ENV_VAR].value cause=argocd owners=argocd",
            "missing_in_live apps/Deployment/default/kustomize-guestbook-ui spec.template.spec.containers[name=guestbook-ui].env[name=SOME_OTHER_ENV_VAR] cause=unowned owners=",
            "missing_in_live apps/Deployment/default/kustomize-guestbook-ui spec.template.spec.containers[name=guestbook-ui].env[name=YET_ANOTHER_ENV_VAR] cause=unowned owners=",
        ],
    );
}

#[test]
fn pdb_selector_changed() {
    check_pair(
        "k8s/argo-cd/target-pdb.yaml",
        "k8s/argo-cd/live-pdb.yaml",
        "default",
        &[
            "changed policy/PodDisruptionBudget/default/myapp-pdb spec.selector.matchLabels.app cause=unowned owners=",
            "changed policy/PodDisruptionBudget/default/myapp-pdb spec.selector.matchLabels.version cause=unowned owners=",
        ],
    );
}

#[test]
fn rollout_embedded_pod_spec_probe_changed() {
    check_pair(
        "k8s/argo-cd/target-rollout.yaml",
        "k8s/argo-cd/live-rollout.yaml",
        "default",
        &[
            "changed argoproj.io/Rollout/default/rollout-sample spec.template.spec.containers[name=init].livenessProbe.initialDelaySeconds cause=unowned owners=",
        ],
    );
}

#[test]
fn container_added_by_manual_kubectl_apply() {
    check_pair(
        "k8s/gitops-engine/ssd-deploy-with-manual-apply-config.yaml",
        "k8s/gitops-engine/ssd-deploy-with-manual-apply-live.yaml",
        "default",
        &[
            "added_in_live apps/Deployment/default/manual-apply-test-deployment spec.template.spec.containers[name=idle] cause=kubectl-client-side-apply owners=kubectl-client-side-apply",
            "missing_in_live apps/Deployment/default/manual-apply-test-deployment spec.template.spec.containers[name=main-container].ports[containerPort=40] cause=unowned owners=",
        ],
    );
}

#[test]
fn removed_port_and_requests_still_live() {
    check_pair(
        "k8s/gitops-engine/smd-deploy2-config.yaml",
        "k8s/gitops-engine/smd-deploy2-live.yaml",
        "default",
        &[
            "added_in_live apps/Deployment/default/nginx-deployment spec.template.spec.containers[name=nginx].ports[containerPort=8080] cause=unowned owners=",
            "added_in_live apps/Deployment/default/nginx-deployment spec.template.spec.containers[name=nginx].resources.requests.cpu cause=removed_from_git owners=argocd-controller",
            "added_in_live apps/Deployment/default/nginx-deployment spec.template.spec.containers[name=nginx].resources.requests.memory cause=removed_from_git owners=argocd-controller",
        ],
    );
}

#[test]
fn service_ports_composite_key_and_defaults() {
    // Defaults owned by the client-side-apply creator (sessionAffinity, type) are not drift.
    check_pair(
        "k8s/gitops-engine/smd-service-config.yaml",
        "k8s/gitops-engine/smd-service-live.yaml",
        "default",
        &[
            "changed Service/default/multiple-protocol-port-svc spec.ports[port=1935].targetPort cause=argocd-controller owners=argocd-controller",
        ],
    );
    check_pair(
        "k8s/gitops-engine/smd-service-config-2-ports.yaml",
        "k8s/gitops-engine/smd-service-live.yaml",
        "default",
        &[
            "added_in_live Service/default/multiple-protocol-port-svc spec.ports[port=443] cause=argocd-controller owners=argocd-controller",
        ],
    );
    check_pair(
        "k8s/gitops-engine/smd-service-config-ports.yaml",
        "k8s/gitops-engine/smd-service-live.yaml",
        "default",
        &[
            "missing_in_live Service/default/multiple-protocol-port-svc spec.ports[port=1935,protocol=UDP] cause=unowned owners=",
            "missing_in_live Service/default/multiple-protocol-port-svc spec.ports[port=443,protocol=UDP] cause=unowned owners=",
        ],
    );
}

#[test]
fn composite_and_nested_keys() {
    check_pair(
        "k8s/gitops-engine/ssd-deploy-composite-key-config.yaml",
        "k8s/gitops-engine/ssd-deploy-composite-key-live.yaml",
        "default",
        &[
            "missing_in_live apps/Deployment/default/test-container-ports spec.template.spec.containers[name=nginx].ports[containerPort=8080] cause=unowned owners=",
        ],
    );
    check_pair(
        "k8s/gitops-engine/ssd-deploy-nested-config.yaml",
        "k8s/gitops-engine/ssd-deploy-nested-live.yaml",
        "default",
        &[
            "missing_in_live apps/Deployment/default/nested-test-deployment spec.template.spec.containers[name=main-container].env[name=ENV_VAR2] cause=unowned owners=",
            "missing_in_live apps/Deployment/default/nested-test-deployment spec.template.spec.containers[name=main-container].ports[containerPort=443] cause=unowned owners=",
        ],
    );
}

/// `istioctl kube-inject` run on a Deployment outside Git: the injected init containers and
/// volumes are keyed items present live but not in Git, which are always reported. Nothing
/// else (annotations, labels, `strategy: {}`, `status: {}`) is drift: there is no ownership
/// evidence for it.
#[test]
fn istio_injected_sidecar_is_reported_as_keyed_items_only() {
    for (desired, live, prefix) in [
        (
            "k8s/istio/hello.yaml",
            "k8s/istio/hello.yaml.injected",
            "spec.template.spec",
        ),
        (
            "k8s/istio/cronjob.yaml",
            "k8s/istio/cronjob.yaml.injected",
            "spec.jobTemplate.spec.template.spec",
        ),
    ] {
        let analysis = run(&load(desired), &load(live), "default", &[]);
        let paths: Vec<String> = analysis
            .findings
            .iter()
            .map(|f| format!("{} {}", f.change.as_str(), f.path_text))
            .collect();
        assert_eq!(paths.len(), 11, "{paths:#?}");
        assert!(
            paths
                .iter()
                .all(|p| p.starts_with(&format!(
                    "added_in_live {prefix}.initContainers[name=istio-"
                )) || p.starts_with(&format!("added_in_live {prefix}.volumes[name="))),
            "{paths:#?}"
        );
    }
}

// ---- last-applied-configuration pairs: drift only where a field changed after apply ----

fn check_last_applied(live_file: &str, namespace: &str, expect: &[&str]) {
    let live = load(live_file);
    let desired: Vec<_> = live.iter().filter_map(last_applied).collect();
    assert!(
        !desired.is_empty(),
        "{live_file} has no last-applied configuration"
    );
    let analysis = run(&desired, &live, namespace, &[]);
    assert!(analysis.problems.is_empty(), "{:?}", analysis.problems);
    assert_lines(
        &format!("{live_file} vs its last-applied"),
        &summary(&analysis),
        expect,
    );
}

#[test]
fn last_applied_pairs() {
    check_last_applied("k8s/argo-cd/live-deployment.yaml", "default", &[]);
    check_last_applied("k8s/argo-cd/live-deployment-env-vars.yaml", "default", &[]);
    check_last_applied("k8s/argo-cd/live-pdb.yaml", "default", &[]);
    check_last_applied("k8s/argo-cd/statefulset.yaml", "default", &[]);
    check_last_applied("k8s/gitops-engine/elasticsearch-live.json", "default", &[]);
    check_last_applied("k8s/gitops-engine/endpoints-live.json", "default", &[]);
    check_last_applied(
        "k8s/gitops-engine/mutatingwebhookconfig-live.json",
        "default",
        &[],
    );
    // `foo` was applied as `iperf` and relabelled afterwards (by its creator, kubectl-create).
    check_last_applied(
        "k8s/kubectl-blame/deploy.yaml",
        "default",
        &[
            "changed apps/Deployment/default/foo metadata.labels.app cause=kubectl-create owners=kubectl-create",
        ],
    );
    check_last_applied("managedfields/deploy.json", "default", &[]);
}

#[test]
fn last_applied_pairs_with_real_changes() {
    // VAR2 was added after the apply (it is not in last-applied): a keyed item, always drift.
    check_last_applied(
        "k8s/gitops-engine/deployment-live.json",
        "default",
        &[
            "added_in_live apps/Deployment/default/guestbook-ui spec.template.spec.containers[name=guestbook-ui].env[name=VAR2] cause=unowned owners=",
        ],
    );
    // Argo CD's server-side apply added its label-tracking label (`app.kubernetes.io/instance:
    // big-crd`) after the client-side apply that wrote last-applied. The configuration does not
    // declare it, but it is Argo CD's bookkeeping, not a field removed from Git (regression:
    // it was reported `removed_from_git`).
    check_last_applied("k8s/gitops-engine/smd-service-live.yaml", "default", &[]);
    // After the client-side apply, Argo CD applied a config with port 443 instead of 1935/UDP.
    check_last_applied(
        "k8s/gitops-engine/smd-service-live-with-type.yaml",
        "default",
        &[
            "missing_in_live Service/default/multiple-protocol-port-svc spec.ports[port=1935,protocol=UDP] cause=unowned owners=",
            "added_in_live Service/default/multiple-protocol-port-svc spec.ports[port=443] cause=argocd-controller owners=argocd-controller",
        ],
    );
}

// ---- k8s-openapi replays of a real v1.36 API server: request bodies (desired) vs responses ----

fn replay(file: &str) -> Vec<serde_json::Value> {
    serde_json::from_slice(&common::fixture_bytes(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn object(file: &str, entry: usize, text: &serde_json::Value) -> statesight_core::ManifestObject {
    let value: serde_json::Value = serde_json::from_str(text.as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{file}[{entry}]: {e}"));
    let origin = statesight_core::Origin {
        file: file.to_owned(),
        document: entry + 1,
        item: None,
    };
    statesight_core::ManifestObject::from_value(origin, value)
        .unwrap_or_else(|(_, m)| panic!("{file}[{entry}]: {m}"))
}

fn check_replay(file: &str, desired_entry: usize, live_entries: &[usize], expect: &[&str]) {
    let entries = replay(file);
    let desired = object(file, desired_entry, &entries[desired_entry]["request_body"]);
    for &live_entry in live_entries {
        let live = object(file, live_entry, &entries[live_entry]["response_body"]);
        let analysis = run(std::slice::from_ref(&desired), &[live], "default", &[]);
        assert!(analysis.problems.is_empty(), "{:?}", analysis.problems);
        assert_lines(
            &format!("{file}: request {desired_entry} vs response {live_entry}"),
            &summary(&analysis),
            expect,
        );
    }
}

/// A minimal Job as created and then observed six times while it ran: defaults, generated
/// selector and labels, status and kube-controller-manager writes are never drift.
#[test]
fn job_create_and_run_is_in_sync() {
    check_replay(
        "k8s/k8s-openapi/job-create.json",
        0,
        &[0, 1, 2, 3, 4, 5, 6],
        &[],
    );
}

#[test]
fn deployment_create_is_in_sync_and_patches_are_drift() {
    check_replay("k8s/k8s-openapi/patch-deployment.json", 0, &[0], &[]);
    for patched in [1, 2, 3] {
        let entries = replay("k8s/k8s-openapi/patch-deployment.json");
        let desired = object("patch", 0, &entries[0]["request_body"]);
        let live = object("patch", patched, &entries[patched]["response_body"]);
        let analysis = run(&[desired], &[live], "default", &[]);
        let got: Vec<String> = analysis
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{} {} {:?} -> {:?}",
                    f.change.as_str(),
                    f.path_text,
                    f.desired,
                    f.live
                )
            })
            .collect();
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].starts_with("changed spec.template.spec.containers[name=k8s-openapi-tests-patch-deployment].image"), "{got:#?}");
    }
}

/// int-or-string values are stored unchanged (`prop4: 6`, `prop5: "7"`): equal as written.
#[test]
fn crd_and_custom_resources_are_in_sync() {
    check_replay(
        "k8s/k8s-openapi/custom_resource_definition-test.json",
        0,
        &[0, 1, 2],
        &[],
    );
    check_replay(
        "k8s/k8s-openapi/custom_resource_definition-test.json",
        3,
        &[3, 6],
        &[],
    );
    check_replay(
        "k8s/k8s-openapi/custom_resource_definition-test.json",
        4,
        &[4, 7],
        &[],
    );
}

/// Typed lists (`DeploymentList`, `kind: List`) flatten into their items with the item kind.
#[test]
fn lists_flatten_into_objects() {
    let entries = replay("k8s/k8s-openapi/deployment-list.json");
    let body = entries[0]["response_body"].as_str().unwrap_or_default();
    let parsed = statesight_core::parse_manifests("deployment-list.json", body.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = parsed
        .objects
        .iter()
        .map(|o| format!("{} {} {:?}", o.kind, o.name, o.origin.item))
        .collect();
    assert_eq!(names, ["Deployment coredns Some(0)"]);
    let list = load("managedfields/list.yaml");
    assert!(
        !list.is_empty()
            && list
                .iter()
                .all(|o| o.kind == "Deployment" && o.origin.item.is_some())
    );
}
