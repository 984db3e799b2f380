//! The `kube-api` collector (kube-rs) against the test Kubernetes API: exact selection of the
//! wanted objects with their managedFields, batching into GETs and LISTs, missing resources
//! (404, kinds the cluster does not serve), cluster-scoped kinds, version fallback, the
//! readable 403, transient and permanent failures, held replies, deterministic order.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use statesight_worker::collect::{
    CollectError, CollectOptions, LiveObservation, LiveSourceConfig, ResourceKey, collect,
};
use support::kube_api::{ServedResource, TEST_TOKEN, TestKubeApi, write_kubeconfig};
use support::{fixture, ledger_snapshot_dir, load_objects};

const CONTEXT: &str = "prod-eu-1";

fn key_of(object: &Value) -> ResourceKey {
    ResourceKey::of_object(object).expect("fixture objects have an identity")
}

/// The ledger's live objects, the keys Git declares for them, and unrelated objects in the
/// same cluster (another application in `default`).
fn ledger() -> (Vec<Value>, Vec<ResourceKey>) {
    let objects = load_objects(&ledger_snapshot_dir());
    let keys = objects.iter().map(key_of).collect();
    (objects, keys)
}

fn unrelated() -> Vec<Value> {
    let mut objects = load_objects(&fixture("k8s/argo-cd/live-deployment.yaml"));
    objects.extend(load_objects(&fixture(
        "k8s/argo-cd/ssd-configmap-live.yaml",
    )));
    objects
}

fn kube_api(server: &TestKubeApi, dir: &tempfile::TempDir) -> LiveSourceConfig {
    LiveSourceConfig::KubeApi {
        kubeconfig_path: Some(server.write_kubeconfig(dir.path(), CONTEXT)),
        context: Some(CONTEXT.to_owned()),
    }
}

fn quick() -> CollectOptions {
    CollectOptions {
        request_timeout: Duration::from_secs(10),
        total_timeout: Duration::from_secs(30),
        ..CollectOptions::default()
    }
}

async fn observe(
    config: &LiveSourceConfig,
    wanted: &[ResourceKey],
    options: &CollectOptions,
) -> LiveObservation {
    match collect(config, wanted, options).await {
        Ok(observation) => observation,
        Err(error) => panic!("collection failed: {error}"),
    }
}

async fn fail(
    config: &LiveSourceConfig,
    wanted: &[ResourceKey],
    options: &CollectOptions,
) -> CollectError {
    match collect(config, wanted, options).await {
        Ok(observation) => panic!("collection succeeded unexpectedly: {observation:?}"),
        Err(error) => error,
    }
}

fn sorted(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(|o| {
        let key = key_of(o);
        let (g, k, ns, n) = key.sort_key();
        (
            g.to_owned(),
            k.to_owned(),
            ns.map(str::to_owned),
            n.to_owned(),
        )
    });
    objects
}

#[tokio::test]
async fn collects_exactly_the_wanted_objects_with_managed_fields() {
    let (ledger_objects, mut wanted) = ledger();
    let server = TestKubeApi::start(ledger_objects.iter().cloned().chain(unrelated())).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ghost = ResourceKey::new("apps/v1", "Deployment", Some("payments"), "ledger-ghost");
    let rollout = ResourceKey::new(
        "argoproj.io/v1alpha1",
        "Rollout",
        Some("payments"),
        "ledger-api",
    );
    wanted.push(ghost.clone());
    wanted.push(rollout.clone());

    let config = kube_api(&server, &dir);
    let options = quick();
    let future = collect(&config, &wanted, &options);
    assert_send(&future);
    let observation = future.await.expect("collection succeeds");

    // Exactly the ledger objects, byte for byte as the server holds them (list items get
    // their apiVersion and kind back), sorted by group, kind, namespace, name.
    assert_eq!(observation.objects, sorted(ledger_objects));
    assert_eq!(observation.missing, vec![ghost, rollout]);
    assert!(
        observation
            .notes
            .iter()
            .any(|n| n.contains("does not serve Rollout.argoproj.io")),
        "{:?}",
        observation.notes
    );
    assert_eq!(observation.method, "kube-api");
    assert!(observation.trusted);
    assert!(observation.has_managed_fields);
    assert_eq!(observation.observed_at_source, "collector");
    assert_eq!(observation.context.as_deref(), Some(CONTEXT));

    // Read-only, and batched: three Deployment names in `payments` are one LIST; single
    // names are GETs; unrelated collections and the unserved group are never asked for.
    let lines = server.request_lines();
    assert!(
        server.requests().iter().all(|r| r.method == "GET"),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"GET /apis/apps/v1/namespaces/payments/deployments".to_owned()),
        "{lines:#?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("GET /apis/apps/v1/namespaces/payments/deployments/")),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"GET /api/v1/namespaces/payments/configmaps/ledger-config".to_owned()),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("/namespaces/default/")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("argoproj.io")),
        "{lines:#?}"
    );
    let discovery: Vec<&String> = lines
        .iter()
        .filter(|l| *l == "GET /apis" || *l == "GET /api")
        .collect();
    assert_eq!(
        discovery.len(),
        2,
        "discovery runs once per collection: {lines:#?}"
    );
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::test]
async fn not_found_objects_and_unserved_kinds_are_missing_not_errors() {
    let (ledger_objects, _) = ledger();
    let server = TestKubeApi::builder()
        .objects(ledger_objects)
        .without_group("autoscaling")
        .start()
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let wanted = vec![
        ResourceKey::new("v1", "ConfigMap", Some("payments"), "ledger-config"),
        ResourceKey::new("v1", "ConfigMap", Some("payments"), "does-not-exist"),
        ResourceKey::new(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            Some("payments"),
            "ledger-api",
        ),
        ResourceKey::new("v1", "Secret", Some("nowhere"), "ledger-db"),
    ];
    let observation = observe(&kube_api(&server, &dir), &wanted, &quick()).await;
    assert_eq!(observation.objects.len(), 1);
    assert_eq!(observation.objects[0]["metadata"]["name"], "ledger-config");
    let missing: Vec<String> = observation
        .missing
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        missing,
        [
            "ConfigMap/payments/does-not-exist",
            "Secret/nowhere/ledger-db",
            "autoscaling/HorizontalPodAutoscaler/payments/ledger-api"
        ]
    );
    assert!(
        observation
            .notes
            .iter()
            .any(|n| n.contains("HorizontalPodAutoscaler.autoscaling")),
        "{:?}",
        observation.notes
    );
}

#[tokio::test]
async fn forbidden_names_the_verb_resource_and_namespace() {
    let (ledger_objects, mut wanted) = ledger();
    // Three Deployment names in one namespace: one LIST.
    wanted.push(ResourceKey::new(
        "apps/v1",
        "Deployment",
        Some("payments"),
        "ledger-ghost",
    ));
    let server = TestKubeApi::start(ledger_objects).await;
    server.forbid("deployments.apps", Some("payments"));
    let dir = tempfile::tempdir().expect("temp dir");
    // The other kinds are read; the Deployments are neither present nor missing but not
    // readable, and the note carries the API's refusal.
    let observation = observe(&kube_api(&server, &dir), &wanted, &quick()).await;
    let deployments: Vec<&ResourceKey> = wanted.iter().filter(|k| k.kind == "Deployment").collect();
    assert_eq!(observation.unreadable.len(), deployments.len());
    assert!(
        deployments
            .iter()
            .all(|k| observation.unreadable.contains(k))
    );
    assert!(observation.missing.is_empty(), "{:?}", observation.missing);
    assert!(
        observation
            .objects
            .iter()
            .all(|o| o["kind"] != "Deployment"),
        "no Deployment was read"
    );
    assert!(!observation.objects.is_empty(), "the rest was read");
    let note = observation
        .notes
        .iter()
        .find(|n| n.contains("not readable with the worker's permissions"))
        .expect("a note about the refused kind");
    assert!(
        note.contains(
            "permission denied: cannot list deployments.apps in namespace \"payments\" ("
        ),
        "{note}"
    );
    assert!(
        note.contains(
            "User \"system:serviceaccount:statesight:worker\" cannot list resource \"deployments\""
        ),
        "{note}"
    );

    // Nothing readable at all is the permission error itself, naming verb, resource and
    // namespace.
    let only_deployments: Vec<ResourceKey> = deployments.into_iter().cloned().collect();
    let error = fail(&kube_api(&server, &dir), &only_deployments, &quick()).await;
    assert!(matches!(error, CollectError::Forbidden { .. }), "{error:?}");
    assert!(!error.is_transient());
    let message = error.to_string();
    assert!(
        message.starts_with(
            "permission denied: cannot list deployments.apps in namespace \"payments\" ("
        ),
        "{message}"
    );
    assert!(
        message.ends_with("grant get/list on it to the worker's identity"),
        "{message}"
    );

    // A single name is a GET, and the message says so.
    server.clear_failures();
    server.forbid("configmaps", None);
    let one = [ResourceKey::new(
        "v1",
        "ConfigMap",
        Some("payments"),
        "ledger-config",
    )];
    let message = fail(&kube_api(&server, &dir), &one, &quick())
        .await
        .to_string();
    assert!(
        message.starts_with("permission denied: cannot get configmaps in namespace \"payments\""),
        "{message}"
    );
}

#[tokio::test]
async fn cluster_scoped_kinds_and_a_version_the_cluster_no_longer_serves() {
    let node = load_objects(&fixture("managedfields/node.yaml"));
    let webhook = load_objects(&fixture(
        "k8s/gitops-engine/mutatingwebhookconfig-live.json",
    ));
    let crd = load_objects(&fixture("k8s/argo-cd/crd-v1-healthy.yaml"));
    let all: Vec<Value> = node.iter().chain(&webhook).chain(&crd).cloned().collect();
    let server = TestKubeApi::start(all.clone()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    // Git wrote the webhook as admissionregistration.k8s.io/v1beta1, which this cluster serves
    // only as v1: same object (the version is not identity). The node key carries a namespace
    // Git should not have written; cluster-scoped objects are found regardless.
    let mut node_key = key_of(&node[0]);
    node_key.namespace = Some("payments".to_owned());
    let wanted = vec![key_of(&webhook[0]), node_key, key_of(&crd[0])];
    let observation = observe(&kube_api(&server, &dir), &wanted, &quick()).await;
    assert_eq!(observation.objects, sorted(all));
    assert!(observation.missing.is_empty());
    assert!(
        !observation.has_managed_fields,
        "these fixtures were captured without managedFields"
    );
    assert!(
        observation
            .notes
            .iter()
            .any(|n| n.contains("no ownership evidence")),
        "{:?}",
        observation.notes
    );
    let lines = server.request_lines();
    let webhook_name = webhook[0]["metadata"]["name"].as_str().expect("name");
    assert!(
        lines.contains(&"GET /api/v1/nodes/node-default-pool-something".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!(
            "GET /apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{webhook_name}"
        )),
        "{lines:#?}"
    );
    assert!(
        lines.contains(
            &"GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/examples.example.io"
                .to_owned()
        ),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_held_reply_times_out_as_a_transient_error() {
    let (ledger_objects, wanted) = ledger();
    let server = TestKubeApi::start(ledger_objects).await;
    server.hold_matching(|request| request.path.contains("/namespaces/"));
    let dir = tempfile::tempdir().expect("temp dir");
    let options = CollectOptions {
        request_timeout: Duration::from_secs(1),
        ..quick()
    };
    let config = kube_api(&server, &dir);
    let started = Instant::now();
    let (error, ()) = tokio::join!(fail(&config, &wanted, &options), async {
        server.wait_for_held(1).await;
    });
    assert!(matches!(error, CollectError::Timeout { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up after {:?}",
        started.elapsed()
    );
    // Once released, the same collection succeeds.
    server.release();
    assert_eq!(
        observe(&config, &wanted, &quick()).await.objects.len(),
        wanted.len()
    );
}

#[tokio::test]
async fn the_whole_collection_has_a_deadline_too() {
    let (ledger_objects, wanted) = ledger();
    let server = TestKubeApi::start(ledger_objects).await;
    server.hold();
    let dir = tempfile::tempdir().expect("temp dir");
    let options = CollectOptions {
        total_timeout: Duration::from_millis(300),
        ..quick()
    };
    let error = fail(&kube_api(&server, &dir), &wanted, &options).await;
    assert!(
        matches!(error, CollectError::Timeout { .. }) && error.is_transient(),
        "{error:?}"
    );
}

#[tokio::test]
async fn output_order_does_not_depend_on_the_order_asked() {
    let (ledger_objects, wanted) = ledger();
    let server = TestKubeApi::start(ledger_objects).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = kube_api(&server, &dir);
    let mut reversed = wanted.clone();
    reversed.reverse();
    reversed.push(ResourceKey::new(
        "v1",
        "Service",
        Some("payments"),
        "zz-missing",
    ));
    reversed.push(ResourceKey::new(
        "v1",
        "ConfigMap",
        Some("payments"),
        "aa-missing",
    ));
    let mut with_missing = wanted.clone();
    with_missing.insert(
        0,
        ResourceKey::new("v1", "ConfigMap", Some("payments"), "aa-missing"),
    );
    with_missing.insert(
        3,
        ResourceKey::new("v1", "Service", Some("payments"), "zz-missing"),
    );
    let first = observe(&config, &with_missing, &quick()).await;
    let second = observe(
        &config,
        &reversed,
        &CollectOptions {
            concurrency: 1,
            ..quick()
        },
    )
    .await;
    let render = |o: &LiveObservation| {
        serde_json::to_string(&(&o.objects, &o.missing)).expect("serializable")
    };
    assert_eq!(render(&first), render(&second));
    let missing: Vec<String> = first.missing.iter().map(ToString::to_string).collect();
    assert_eq!(
        missing,
        [
            "ConfigMap/payments/aa-missing",
            "Service/payments/zz-missing"
        ]
    );
}

#[tokio::test]
async fn kubeconfig_problems_are_permanent_errors() {
    let server = TestKubeApi::start(Vec::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = server.write_kubeconfig(dir.path(), CONTEXT);
    let wanted = [ResourceKey::new(
        "v1",
        "ConfigMap",
        Some("payments"),
        "ledger-config",
    )];

    let unknown = LiveSourceConfig::KubeApi {
        kubeconfig_path: Some(path.clone()),
        context: Some("staging".to_owned()),
    };
    let error = fail(&unknown, &wanted, &quick()).await;
    assert!(
        matches!(error, CollectError::UnknownContext { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert!(
        error
            .to_string()
            .contains(&format!("(it defines: {CONTEXT})")),
        "{error}"
    );

    // Without a context the kubeconfig's current-context is used and reported.
    let current = LiveSourceConfig::KubeApi {
        kubeconfig_path: Some(path),
        context: None,
    };
    assert_eq!(
        observe(&current, &wanted, &quick())
            .await
            .context
            .as_deref(),
        Some(CONTEXT)
    );

    let absent = LiveSourceConfig::KubeApi {
        kubeconfig_path: Some(dir.path().join("nope")),
        context: None,
    };
    let error = fail(&absent, &wanted, &quick()).await;
    assert!(
        matches!(error, CollectError::Kubeconfig { .. }) && !error.is_transient(),
        "{error:?}"
    );

    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, "clusters: [this is: not a kubeconfig").expect("write");
    let error = fail(
        &LiveSourceConfig::KubeApi {
            kubeconfig_path: Some(garbage),
            context: None,
        },
        &wanted,
        &quick(),
    )
    .await;
    assert!(
        matches!(error, CollectError::Kubeconfig { .. }) && !error.is_transient(),
        "{error:?}"
    );
}

#[tokio::test]
async fn connection_refused_and_server_errors_are_transient_bad_credentials_are_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wanted = [ResourceKey::new(
        "v1",
        "ConfigMap",
        Some("payments"),
        "ledger-config",
    )];

    // A port nothing listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let refused = dir.path().join("refused");
    write_kubeconfig(&refused, &format!("http://127.0.0.1:{port}"), CONTEXT, "t").expect("write");
    let config = LiveSourceConfig::KubeApi {
        kubeconfig_path: Some(refused),
        context: None,
    };
    let error = fail(&config, &wanted, &quick()).await;
    assert!(
        matches!(error, CollectError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(error.is_transient());

    let (ledger_objects, _) = ledger();
    let server = TestKubeApi::start(ledger_objects).await;
    server.fail("configmaps", Some("payments"), 503);
    let error = fail(&kube_api(&server, &dir), &wanted, &quick()).await;
    assert!(
        matches!(error, CollectError::ServerError { code: 503, .. }) && error.is_transient(),
        "{error:?}"
    );
    server.clear_failures();
    server.fail("configmaps", None, 429);
    let error = fail(&kube_api(&server, &dir), &wanted, &quick()).await;
    assert!(
        matches!(error, CollectError::ServerError { code: 429, .. }) && error.is_transient(),
        "{error:?}"
    );

    let server = TestKubeApi::builder().token(Some(TEST_TOKEN)).start().await;
    let right_token = server.write_kubeconfig(dir.path(), CONTEXT);
    let config = LiveSourceConfig::KubeApi {
        kubeconfig_path: Some(right_token),
        context: None,
    };
    assert_eq!(observe(&config, &wanted, &quick()).await.missing.len(), 1);
    let wrong_token = dir.path().join("wrong-token");
    write_kubeconfig(&wrong_token, &server.url(), CONTEXT, "not-the-token").expect("write");
    let config = LiveSourceConfig::KubeApi {
        kubeconfig_path: Some(wrong_token),
        context: None,
    };
    let error = fail(&config, &wanted, &quick()).await;
    assert!(
        matches!(error, CollectError::Unauthorized { .. }) && !error.is_transient(),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_custom_resource_the_cluster_serves_is_collected() {
    // The upstream fixture was trimmed of server metadata, namespace included.
    let mut rollout = load_objects(&fixture("k8s/argo-cd/live-rollout.yaml"));
    rollout[0]["metadata"]["namespace"] = "default".into();
    let server = TestKubeApi::builder()
        .objects(rollout.clone())
        .serve(ServedResource::new(
            "argoproj.io",
            "v1alpha1",
            "Rollout",
            "rollouts",
            true,
            &["ro"],
        ))
        .start()
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let observation = observe(&kube_api(&server, &dir), &[key_of(&rollout[0])], &quick()).await;
    assert_eq!(observation.objects, rollout);
}

#[tokio::test]
async fn in_cluster_outside_a_pod_is_a_permanent_error() {
    // Only meaningful where the worker is not itself running in a pod.
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        return;
    }
    let wanted = [ResourceKey::new(
        "v1",
        "ConfigMap",
        Some("payments"),
        "ledger-config",
    )];
    let error = fail(&LiveSourceConfig::InCluster, &wanted, &quick()).await;
    assert!(matches!(error, CollectError::InCluster { .. }), "{error:?}");
    assert!(!error.is_transient());
}
