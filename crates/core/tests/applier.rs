//! The applier choice (`detect_roles`), data-driven like `semantics.rs`: a desired Deployment
//! and a live one with the managedFields a real sequence of writes leaves behind, one line per
//! finding (`change path cause`) out. Regressions: (a) two managers owning as many declared
//! fields both became the applier, hiding the out-of-band writer among them; (b) the manager
//! owning most declared fields was the applier even when it owned them with values that differ
//! from Git (a hand edit of many fields, `kubectl apply` of another file).

mod common;

use common::{assert_lines, lines, run, yaml};

fn check(desired: &str, live: &str, expect: &[&str]) {
    let analysis = run(
        &yaml("desired.yaml", desired),
        &yaml("live.yaml", live),
        "payments",
        &[],
    );
    assert_lines(
        &format!("desired:\n{desired}\nlive:\n{live}"),
        &lines(&analysis),
        expect,
    );
}

/// Git's Deployment: `replicas`, `image` and `memory` as given, the rest fixed.
fn desired(replicas: u32, image: &str, memory: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger-api
  namespace: payments
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: ledger-api
  template:
    metadata:
      labels:
        app: ledger-api
    spec:
      containers:
      - name: ledger-api
        image: ghcr.io/acme-payments/ledger-api:{image}
        resources:
          limits:
            memory: {memory}
"
    )
}

/// The live Deployment: `annotations` (entries under `metadata.annotations`), `fields` (the
/// managedFields entries before kube-controller-manager's), and the varying values.
struct Live<'a> {
    annotations: &'a str,
    fields: &'a str,
    replicas: u32,
    image: &'a str,
    memory: &'a str,
    /// Extra lines of the pod spec (indented for `spec.template.spec`).
    pod_extra: &'a str,
}

impl Live<'_> {
    fn render(&self) -> String {
        let Live {
            annotations,
            fields,
            replicas,
            image,
            memory,
            pod_extra,
        } = self;
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    deployment.kubernetes.io/revision: "3"
{annotations}  creationTimestamp: "2026-10-02T09:31:47Z"
  generation: 4
  managedFields:
{fields}  - apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:annotations:
          f:deployment.kubernetes.io/revision: {{}}
      f:status:
        f:availableReplicas: {{}}
        f:observedGeneration: {{}}
        f:readyReplicas: {{}}
        f:replicas: {{}}
        f:updatedReplicas: {{}}
    manager: kube-controller-manager
    operation: Update
    subresource: status
    time: "2026-11-16T15:41:02Z"
  name: ledger-api
  namespace: payments
  resourceVersion: "4471203"
  uid: 0b6f3e2a-6d1c-4b8e-9a57-2f4d1c7e9b10
spec:
  progressDeadlineSeconds: 600
  replicas: {replicas}
  revisionHistoryLimit: 10
  selector:
    matchLabels:
      app: ledger-api
  strategy:
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 25%
    type: RollingUpdate
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: ledger-api
    spec:
      containers:
      - image: ghcr.io/acme-payments/ledger-api:{image}
        imagePullPolicy: IfNotPresent
        name: ledger-api
        resources:
          limits:
            memory: {memory}
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
{pod_extra}      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {{}}
      terminationGracePeriodSeconds: 30
status:
  availableReplicas: {replicas}
  observedGeneration: 4
  readyReplicas: {replicas}
  replicas: {replicas}
  updatedReplicas: {replicas}
"#
        )
    }
}

/// `kubectl apply` (client-side) creating the Deployment: an `Update` owning everything the
/// created object held after defaulting, except what later writers took over. `taken` lists
/// FieldsV1 members left out (`replicas`, `image`, `memory`).
fn client_side_apply_entry(time: &str, taken: &[&str]) -> String {
    let keep = |name: &str, member: &str| {
        if taken.contains(&name) {
            String::new()
        } else {
            member.to_owned()
        }
    };
    format!(
        r#"  - apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:annotations:
          .: {{}}
          f:kubectl.kubernetes.io/last-applied-configuration: {{}}
      f:spec:
        f:progressDeadlineSeconds: {{}}
{replicas}        f:revisionHistoryLimit: {{}}
        f:selector: {{}}
        f:strategy:
          f:rollingUpdate:
            .: {{}}
            f:maxSurge: {{}}
            f:maxUnavailable: {{}}
          f:type: {{}}
        f:template:
          f:metadata:
            f:labels:
              .: {{}}
              f:app: {{}}
          f:spec:
            f:containers:
              k:{{"name":"ledger-api"}}:
                .: {{}}
{image}                f:imagePullPolicy: {{}}
                f:name: {{}}
                f:resources:
                  .: {{}}
                  f:limits:
                    .: {{}}
{memory}                f:terminationMessagePath: {{}}
                f:terminationMessagePolicy: {{}}
            f:dnsPolicy: {{}}
            f:restartPolicy: {{}}
            f:schedulerName: {{}}
            f:securityContext: {{}}
            f:terminationGracePeriodSeconds: {{}}
    manager: kubectl-client-side-apply
    operation: Update
    time: "{time}"
"#,
        replicas = keep("replicas", "        f:replicas: {}\n"),
        image = keep("image", "                f:image: {}\n"),
        memory = keep("memory", "                      f:memory: {}\n"),
    )
}

/// The last-applied annotation `kubectl apply` wrote for these values.
fn last_applied(replicas: u32, image: &str, memory: &str) -> String {
    format!(
        "    kubectl.kubernetes.io/last-applied-configuration: |\n      {{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{{\"annotations\":{{}},\"name\":\"ledger-api\",\"namespace\":\"payments\"}},\"spec\":{{\"replicas\":{replicas},\"selector\":{{\"matchLabels\":{{\"app\":\"ledger-api\"}}}},\"template\":{{\"metadata\":{{\"labels\":{{\"app\":\"ledger-api\"}}}},\"spec\":{{\"containers\":[{{\"image\":\"ghcr.io/acme-payments/ledger-api:{image}\",\"name\":\"ledger-api\",\"resources\":{{\"limits\":{{\"memory\":\"{memory}\"}}}}}}]}}}}}}}}\n"
    )
}

/// An `Update` entry of `manager` owning replicas, the image and the memory limit, and
/// `pod_field` (an undeclared pod spec field) when given.
fn update_entry(manager: &str, time: &str, pod_field: Option<&str>) -> String {
    let pod_field = pod_field
        .map(|f| format!("            f:{f}: {{}}\n"))
        .unwrap_or_default();
    format!(
        r#"  - apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:replicas: {{}}
        f:template:
          f:spec:
            f:containers:
              k:{{"name":"ledger-api"}}:
                f:image: {{}}
                f:resources:
                  f:limits:
                    f:memory: {{}}
{pod_field}    manager: {manager}
    operation: Update
    time: "{time}"
"#
    )
}

/// (a) `kubectl apply` created the Deployment (2 replicas, 1.9.0, 512Mi); during an incident
/// `kubectl edit` set 3 replicas, 1.9.1 and 1Gi and also turned on `hostNetwork`; Git later
/// caught up with the three values but not with `hostNetwork`. Both managers own 3 declared
/// fields equal to Git (selector, template label, container name vs replicas, image, memory):
/// the old rule made both the applier and `hostNetwork` vanished. Now the tie goes to the
/// client-side apply (its last-applied no longer agrees with Git, but `kubectl-edit` is an
/// imperative command), and the edit's undeclared field is drift.
#[test]
fn applier_tie_between_client_side_apply_and_kubectl_edit_is_broken() {
    let fields = format!(
        "{}{}",
        client_side_apply_entry("2026-10-02T09:31:47Z", &["replicas", "image", "memory"]),
        update_entry("kubectl-edit", "2026-11-16T15:40:12Z", Some("hostNetwork")),
    );
    let annotations = last_applied(2, "1.9.0", "512Mi");
    let live = Live {
        annotations: &annotations,
        fields: &fields,
        replicas: 3,
        image: "1.9.1",
        memory: "1Gi",
        pod_extra: "      hostNetwork: true\n",
    };
    check(
        &desired(3, "1.9.1", "1Gi"),
        &live.render(),
        &["added_in_live spec.template.spec.hostNetwork kubectl-edit"],
    );
}

/// (a') A tie where the client-side apply is Git's: `kubectl apply` of Git's file (its
/// last-applied agrees with Git) and an operator (`ledger-operator`, older entry) writing the
/// same replicas, image and memory, plus `shareProcessNamespace`. Client-side apply of Git
/// wins over the older writer; the operator's undeclared field is drift.
#[test]
fn applier_tie_goes_to_the_client_side_apply_that_agrees_with_git() {
    let fields = format!(
        "{}{}",
        update_entry(
            "ledger-operator",
            "2026-10-05T08:00:00Z",
            Some("shareProcessNamespace")
        ),
        client_side_apply_entry("2026-11-01T10:12:00Z", &["replicas", "image", "memory"]),
    );
    let annotations = last_applied(3, "1.9.1", "1Gi");
    let live = Live {
        annotations: &annotations,
        fields: &fields,
        replicas: 3,
        image: "1.9.1",
        memory: "1Gi",
        pod_extra: "      shareProcessNamespace: true\n",
    };
    check(
        &desired(3, "1.9.1", "1Gi"),
        &live.render(),
        &["added_in_live spec.template.spec.shareProcessNamespace ledger-operator"],
    );
}

/// (a'') Nothing but time tells two writers apart: Helm 3 (`helm`, Update) created the
/// Deployment, an operator later owns as many fields with Git's values and adds
/// `shareProcessNamespace`. The older writer is the applier, whatever the entry order; with
/// equal times the name decides (`helm` < `ledger-operator`).
#[test]
fn applier_tie_without_other_evidence_is_decided_by_age_then_name() {
    let helm = |time: &str| {
        client_side_apply_entry(time, &["replicas", "image", "memory"])
            .replace(
                "          .: {}\n          f:kubectl.kubernetes.io/last-applied-configuration: {}\n",
                "          .: {}\n          f:meta.helm.sh/release-name: {}\n",
            )
            .replace("kubectl-client-side-apply", "helm")
    };
    let operator = update_entry(
        "ledger-operator",
        "2026-11-01T10:12:00Z",
        Some("shareProcessNamespace"),
    );
    let annotations = "    meta.helm.sh/release-name: ledger\n";
    let expect = ["added_in_live spec.template.spec.shareProcessNamespace ledger-operator"];
    for fields in [
        format!("{}{operator}", helm("2026-10-02T09:31:47Z")),
        format!("{operator}{}", helm("2026-10-02T09:31:47Z")),
        format!("{operator}{}", helm("2026-11-01T10:12:00Z")),
    ] {
        let live = Live {
            annotations,
            fields: &fields,
            replicas: 3,
            image: "1.9.1",
            memory: "1Gi",
            pod_extra: "      shareProcessNamespace: true\n",
        };
        check(&desired(3, "1.9.1", "1Gi"), &live.render(), &expect);
    }
}

/// (b) Argo CD applies server-side (`argocd-controller`, Apply). During an incident someone
/// used `kubectl edit` to scale to 6, roll a hotfix image, double the memory and the progress
/// deadline, and raise `terminationGracePeriodSeconds` (not in Git). The edit took 4 declared
/// fields from Argo CD, which keeps 3 (selector, template label, container name): the old rule
/// made `kubectl-edit` the applier and the grace period vanished. None of the edit's values is
/// Git's, so Argo CD stays the applier and the undeclared edit is drift.
#[test]
fn applier_is_not_the_top_owner_of_values_that_differ_from_git() {
    let desired = desired(2, "1.9.0", "512Mi").replace(
        "spec:\n  replicas: 2\n",
        "spec:\n  progressDeadlineSeconds: 600\n  replicas: 2\n",
    );
    let argo = r#"  - apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:selector: {}
        f:template:
          f:metadata:
            f:labels:
              f:app: {}
          f:spec:
            f:containers:
              k:{"name":"ledger-api"}:
                .: {}
                f:name: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-27T11:05:19Z"
"#;
    let edit = update_entry(
        "kubectl-edit",
        "2026-11-16T15:40:12Z",
        Some("terminationGracePeriodSeconds"),
    )
    .replace(
        "      f:spec:\n        f:replicas: {}\n",
        "      f:spec:\n        f:progressDeadlineSeconds: {}\n        f:replicas: {}\n",
    );
    let fields = format!("{argo}{edit}");
    let live = Live {
        annotations: "",
        fields: &fields,
        replicas: 6,
        image: "1.9.1-hotfix.1",
        memory: "1Gi",
        pod_extra: "",
    }
    .render()
    .replace(
        "  progressDeadlineSeconds: 600\n",
        "  progressDeadlineSeconds: 1200\n",
    )
    .replace(
        "      terminationGracePeriodSeconds: 30\n",
        "      terminationGracePeriodSeconds: 120\n",
    );
    check(
        &desired,
        &live,
        &[
            "changed spec.progressDeadlineSeconds kubectl-edit",
            "changed spec.replicas kubectl-edit",
            "changed spec.template.spec.containers[name=ledger-api].image kubectl-edit",
            "changed spec.template.spec.containers[name=ledger-api].resources.limits.memory kubectl-edit",
            "added_in_live spec.template.spec.terminationGracePeriodSeconds kubectl-edit",
        ],
    );
}

/// (b') Argo CD applies server-side; someone ran `kubectl apply -f` of a canary file over it.
/// kubectl's patch changed replicas, image and memory (taking them from Argo CD) and added an
/// annotation, all recorded in its last-applied: `kubectl-client-side-apply` now owns more
/// declared fields than Argo CD, none with Git's value. The old rule made it the applier and
/// reported its annotation as "removed from Git" (it never was in Git); it is drift by the
/// client-side apply.
#[test]
fn applier_is_not_a_client_side_apply_of_another_file() {
    let argo = r#"  - apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:selector: {}
        f:template:
          f:metadata:
            f:labels:
              f:app: {}
          f:spec:
            f:containers:
              k:{"name":"ledger-api"}:
                .: {}
                f:name: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-27T11:05:19Z"
"#;
    let canary = r#"  - apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:annotations:
          f:kubectl.kubernetes.io/last-applied-configuration: {}
          f:ledger.acme.io/canary: {}
      f:spec:
        f:replicas: {}
        f:template:
          f:spec:
            f:containers:
              k:{"name":"ledger-api"}:
                f:image: {}
                f:resources:
                  .: {}
                  f:limits:
                    .: {}
                    f:memory: {}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2026-11-18T09:02:41Z"
"#;
    let fields = format!("{argo}{canary}");
    let annotations = last_applied(1, "1.10.0-rc.1", "768Mi").replace(
        "\"metadata\":{\"annotations\":{}",
        "\"metadata\":{\"annotations\":{\"ledger.acme.io/canary\":\"true\"}",
    ) + "    ledger.acme.io/canary: \"true\"\n";
    let live = Live {
        annotations: &annotations,
        fields: &fields,
        replicas: 1,
        image: "1.10.0-rc.1",
        memory: "768Mi",
        pod_extra: "",
    };
    check(
        &desired(2, "1.9.0", "512Mi"),
        &live.render(),
        &[
            "added_in_live metadata.annotations.ledger.acme.io/canary kubectl-client-side-apply",
            "changed spec.replicas kubectl-client-side-apply",
            "changed spec.template.spec.containers[name=ledger-api].image kubectl-client-side-apply",
            "changed spec.template.spec.containers[name=ledger-api].resources.limits.memory kubectl-client-side-apply",
        ],
    );
}

/// Support is counted as the diff compares: a Secret's `stringData` in Git against live `data`
/// bytes. Argo CD applied `password` (as `stringData`) and `legacy`, then Git dropped `legacy`
/// (not synced yet): Argo CD is the applier through `password` alone, so `legacy` is "removed
/// from Git, still live", not an out-of-band addition by Argo CD.
#[test]
fn applier_support_compares_secret_string_data_as_bytes() {
    let desired = "apiVersion: v1
kind: Secret
metadata:
  name: ledger-db
  namespace: payments
stringData:
  password: hunter2
";
    let live = r#"apiVersion: v1
data:
  legacy: eA==
  password: aHVudGVyMg==
kind: Secret
metadata:
  creationTimestamp: "2026-10-02T09:31:47Z"
  managedFields:
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:legacy: {}
      f:stringData:
        f:password: {}
      f:type: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-02T09:31:47Z"
  name: ledger-db
  namespace: payments
  resourceVersion: "18240"
  uid: 9d2e4b71-0c3a-4f5e-8b6d-1a7c2e9f0b34
type: Opaque
"#;
    check(
        desired,
        live,
        &["added_in_live data.legacy removed_from_git"],
    );
}
