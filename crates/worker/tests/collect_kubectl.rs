//! The `kubectl` collector running the real kubectl (`KUBECTL_BIN`, default
//! `/usr/bin/kubectl`) against the test Kubernetes API: it returns exactly what kube-rs
//! returns, keeps managedFields (`--show-managed-fields`), maps kubectl's errors (403, unknown
//! context, missing kubeconfig, connection refused, timeouts) to the same error kinds, and
//! never lets a value be read as an option.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use statesight_worker::collect::{
    CollectError, CollectOptions, LiveObservation, LiveSourceConfig, ResourceKey, collect,
};
use support::kube_api::{TestKubeApi, write_kubeconfig};
use support::{fixture, ledger_snapshot_dir, load_objects};

const CONTEXT: &str = "prod-eu-1";

fn kubectl_bin() -> PathBuf {
    let bin = std::env::var_os("KUBECTL_BIN")
        .map_or_else(|| PathBuf::from("/usr/bin/kubectl"), PathBuf::from);
    assert!(
        bin.is_file(),
        "these tests run the real kubectl, and {} does not exist: install kubectl or set KUBECTL_BIN",
        bin.display()
    );
    bin
}

fn key_of(object: &Value) -> ResourceKey {
    ResourceKey::of_object(object).expect("fixture objects have an identity")
}

fn kubectl(
    server: &TestKubeApi,
    dir: &tempfile::TempDir,
    context: Option<&str>,
) -> LiveSourceConfig {
    LiveSourceConfig::Kubectl {
        kubectl_bin: kubectl_bin(),
        kubeconfig_path: Some(server.write_kubeconfig(dir.path(), CONTEXT)),
        context: context.map(str::to_owned),
    }
}

fn quick() -> CollectOptions {
    CollectOptions {
        request_timeout: Duration::from_secs(20),
        total_timeout: Duration::from_secs(60),
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

#[tokio::test]
async fn kubectl_returns_what_kube_rs_returns_with_managed_fields() {
    let ledger = load_objects(&ledger_snapshot_dir());
    let unrelated = load_objects(&fixture("k8s/argo-cd/live-deployment.yaml"));
    let server = TestKubeApi::start(ledger.iter().cloned().chain(unrelated)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut wanted: Vec<ResourceKey> = ledger.iter().map(key_of).collect();
    wanted.push(ResourceKey::new(
        "apps/v1",
        "Deployment",
        Some("payments"),
        "ledger-ghost",
    ));
    wanted.push(ResourceKey::new(
        "argoproj.io/v1alpha1",
        "Rollout",
        Some("payments"),
        "ledger-api",
    ));

    let through_kubectl = observe(&kubectl(&server, &dir, Some(CONTEXT)), &wanted, &quick()).await;
    let requests = server.requests();
    let kube_api = LiveSourceConfig::KubeApi {
        kubeconfig_path: Some(server.write_kubeconfig(dir.path(), CONTEXT)),
        context: Some(CONTEXT.to_owned()),
    };
    let through_kube_rs = observe(&kube_api, &wanted, &quick()).await;

    assert_eq!(through_kubectl.objects, through_kube_rs.objects);
    assert_eq!(through_kubectl.missing, through_kube_rs.missing);
    assert_eq!(through_kubectl.objects.len(), ledger.len());
    let missing: Vec<String> = through_kubectl
        .missing
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        missing,
        [
            "apps/Deployment/payments/ledger-ghost",
            "argoproj.io/Rollout/payments/ledger-api"
        ]
    );
    assert_eq!(through_kubectl.method, "kubectl");
    assert!(through_kubectl.trusted);
    assert_eq!(through_kubectl.context.as_deref(), Some(CONTEXT));
    // kubectl drops managedFields unless asked; the collector asks.
    assert!(through_kubectl.has_managed_fields);
    assert!(
        through_kubectl
            .objects
            .iter()
            .all(|o| o["metadata"]["managedFields"].is_array())
    );

    // Read-only; the three Deployment names are one LIST, the single ConfigMap one GET.
    assert!(requests.iter().all(|r| r.method == "GET"));
    let lines: Vec<String> = requests.iter().map(|r| r.line()).collect();
    assert!(
        lines.contains(&"GET /apis/apps/v1/namespaces/payments/deployments".to_owned()),
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
}

#[tokio::test]
async fn without_a_context_the_current_one_is_used_and_reported() {
    let server = TestKubeApi::start(load_objects(&ledger_snapshot_dir())).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let wanted = [ResourceKey::new(
        "v1",
        "ServiceAccount",
        Some("payments"),
        "ledger-api",
    )];
    let observation = observe(&kubectl(&server, &dir, None), &wanted, &quick()).await;
    assert_eq!(observation.context.as_deref(), Some(CONTEXT));
    assert_eq!(observation.objects.len(), 1);
}

#[tokio::test]
async fn forbidden_through_kubectl_is_the_same_readable_error() {
    let ledger = load_objects(&ledger_snapshot_dir());
    let server = TestKubeApi::start(ledger.clone()).await;
    server.forbid("deployments.apps", Some("payments"));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut wanted: Vec<ResourceKey> = ledger.iter().map(key_of).collect();
    wanted.push(ResourceKey::new(
        "apps/v1",
        "Deployment",
        Some("payments"),
        "ledger-ghost",
    ));
    // The rest is read; the Deployments are reported not readable, with the API's words.
    let observation = observe(&kubectl(&server, &dir, Some(CONTEXT)), &wanted, &quick()).await;
    let deployments: Vec<ResourceKey> = wanted
        .iter()
        .filter(|k| k.kind == "Deployment")
        .cloned()
        .collect();
    assert_eq!(observation.unreadable.len(), deployments.len());
    assert!(observation.missing.is_empty(), "{:?}", observation.missing);
    assert!(
        observation
            .notes
            .iter()
            .any(|n| n.contains("not readable with the worker's permissions")
                && n.contains(
                    "permission denied: cannot list deployments.apps in namespace \"payments\""
                )),
        "{:?}",
        observation.notes
    );
    // Only refused resources: the same readable error as through the API client.
    let error = fail(
        &kubectl(&server, &dir, Some(CONTEXT)),
        &deployments,
        &quick(),
    )
    .await;
    assert!(matches!(error, CollectError::Forbidden { .. }), "{error:?}");
    assert!(!error.is_transient());
    let message = error.to_string();
    assert!(message.starts_with("permission denied: cannot list deployments.apps in namespace \"payments\" (deployments.apps is forbidden: User \"system:serviceaccount:statesight:worker\" cannot list resource \"deployments\""), "{message}");
}

#[tokio::test]
async fn cluster_scoped_kinds_and_version_fallback_through_kubectl() {
    let node = load_objects(&fixture("managedfields/node.yaml"));
    let webhook = load_objects(&fixture(
        "k8s/gitops-engine/mutatingwebhookconfig-live.json",
    ));
    let server = TestKubeApi::start(node.iter().chain(&webhook).cloned()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let wanted = [key_of(&webhook[0]), key_of(&node[0])];
    let observation = observe(&kubectl(&server, &dir, Some(CONTEXT)), &wanted, &quick()).await;
    let kinds: Vec<&str> = observation
        .objects
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["Node", "MutatingWebhookConfiguration"]);
    assert!(observation.missing.is_empty());
    let lines = server.request_lines();
    assert!(
        lines.contains(&"GET /api/v1/nodes/node-default-pool-something".to_owned()),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_held_reply_kills_kubectl_at_the_deadline_with_a_transient_error() {
    let server = TestKubeApi::start(load_objects(&ledger_snapshot_dir())).await;
    // Discovery passes; the object request hangs.
    server.hold_matching(|request| request.path.contains("/namespaces/payments/"));
    let dir = tempfile::tempdir().expect("temp dir");
    let wanted = [ResourceKey::new(
        "v1",
        "ConfigMap",
        Some("payments"),
        "ledger-config",
    )];
    let options = CollectOptions {
        request_timeout: Duration::from_secs(3),
        ..quick()
    };
    let config = kubectl(&server, &dir, Some(CONTEXT));
    let (error, ()) = tokio::join!(fail(&config, &wanted, &options), server.wait_for_held(1));
    assert!(matches!(error, CollectError::Timeout { .. }), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn kubectl_configuration_and_connection_failures() {
    let server = TestKubeApi::start(Vec::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let wanted = [ResourceKey::new(
        "v1",
        "ConfigMap",
        Some("payments"),
        "ledger-config",
    )];

    let error = fail(&kubectl(&server, &dir, Some("staging")), &wanted, &quick()).await;
    assert!(
        matches!(error, CollectError::UnknownContext { .. }) && !error.is_transient(),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("(it defines: prod-eu-1)"),
        "{error}"
    );

    let absent = LiveSourceConfig::Kubectl {
        kubectl_bin: kubectl_bin(),
        kubeconfig_path: Some(dir.path().join("no-such-kubeconfig")),
        context: Some(CONTEXT.to_owned()),
    };
    let error = fail(&absent, &wanted, &quick()).await;
    assert!(
        matches!(error, CollectError::Kubeconfig { .. }) && !error.is_transient(),
        "{error:?}"
    );

    let no_binary = LiveSourceConfig::Kubectl {
        kubectl_bin: dir.path().join("no-kubectl-here"),
        kubeconfig_path: None,
        context: Some(CONTEXT.to_owned()),
    };
    let error = fail(&no_binary, &wanted, &quick()).await;
    assert!(
        matches!(error, CollectError::KubectlUnavailable { .. }) && !error.is_transient(),
        "{error:?}"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let refused = dir.path().join("refused");
    write_kubeconfig(&refused, &format!("http://127.0.0.1:{port}"), CONTEXT, "t").expect("write");
    let config = LiveSourceConfig::Kubectl {
        kubectl_bin: kubectl_bin(),
        kubeconfig_path: Some(refused),
        context: None,
    };
    let error = fail(&config, &wanted, &quick()).await;
    assert!(
        matches!(error, CollectError::Unreachable { .. }) && error.is_transient(),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_name_that_looks_like_an_option_stays_a_name() {
    let server = TestKubeApi::start(load_objects(&ledger_snapshot_dir())).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let wanted = [
        ResourceKey::new("v1", "ConfigMap", Some("payments"), "--all-namespaces"),
        ResourceKey::new("v1", "ConfigMap", Some("payments"), "ledger-config"),
    ];
    let observation = observe(&kubectl(&server, &dir, Some(CONTEXT)), &wanted, &quick()).await;
    assert_eq!(observation.objects.len(), 1);
    assert_eq!(observation.missing, wanted[..1]);
    let lines = server.request_lines();
    assert!(
        lines.contains(&"GET /api/v1/namespaces/payments/configmaps/--all-namespaces".to_owned()),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l == "GET /api/v1/configmaps"),
        "{lines:#?}"
    );
}
