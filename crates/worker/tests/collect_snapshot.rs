//! The `snapshot` collector on the real ledger capture and on directories built from the
//! fixtures in `testdata/`: `capture.json` versus file times, objects without managedFields,
//! any file names with `kind: List`, multi-document YAML and JSON, malformed snapshots, order.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde_json::Value;
use statesight_worker::collect::{
    CollectError, CollectOptions, LiveObservation, LiveSourceConfig, ResourceKey, collect,
};
use support::{fixture, ledger_snapshot_dir, load_objects};

fn key_of(object: &Value) -> ResourceKey {
    ResourceKey::of_object(object).expect("fixture objects have an identity")
}

fn snapshot(dir: &Path) -> LiveSourceConfig {
    LiveSourceConfig::Snapshot {
        dir: dir.to_path_buf(),
    }
}

async fn observe(dir: &Path, wanted: &[ResourceKey]) -> LiveObservation {
    match collect(&snapshot(dir), wanted, &CollectOptions::default()).await {
        Ok(observation) => observation,
        Err(error) => panic!("collection failed: {error}"),
    }
}

async fn fail(dir: &Path, wanted: &[ResourceKey]) -> CollectError {
    match collect(&snapshot(dir), wanted, &CollectOptions::default()).await {
        Ok(observation) => panic!("collection succeeded unexpectedly: {observation:?}"),
        Err(error) => error,
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

fn set_mtime(path: &Path, time: SystemTime) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open for times");
    file.set_modified(time).expect("set mtime");
}

#[tokio::test]
async fn the_ledger_capture_with_capture_json() {
    let dir = ledger_snapshot_dir();
    let objects = load_objects(&dir);
    let mut wanted: Vec<ResourceKey> = objects.iter().map(key_of).collect();
    wanted.push(ResourceKey::new(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        Some("payments"),
        "default-deny",
    ));
    let observation = observe(&dir, &wanted).await;

    assert_eq!(observation.objects.len(), objects.len());
    for object in &objects {
        assert!(
            observation.objects.contains(object),
            "{} not returned as captured",
            key_of(object)
        );
    }
    assert_eq!(
        observation.missing,
        [ResourceKey::new(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            Some("payments"),
            "default-deny"
        )]
    );
    assert!(
        observation
            .notes
            .iter()
            .any(|n| n.contains("not in the snapshot")),
        "{:?}",
        observation.notes
    );
    assert_eq!(observation.method, "snapshot");
    assert!(observation.trusted);
    assert_eq!(observation.observed_at_source, "capture_file");
    assert_eq!(
        observation.observed_at,
        "2026-11-20T08:30:00Z"
            .parse::<DateTime<Utc>>()
            .expect("time")
    );
    assert_eq!(observation.context.as_deref(), Some("prod-eu-1"));
    assert!(observation.has_managed_fields);
    assert!(
        observation
            .notes
            .iter()
            .any(|n| n.contains("kubectl v1.32.3")),
        "{:?}",
        observation.notes
    );
    // The Role and RoleBinding come from one `kind: List` file.
    assert!(
        observation
            .objects
            .iter()
            .any(|o| o["kind"] == "RoleBinding")
    );
}

#[tokio::test]
async fn without_capture_json_the_newest_file_time_is_used_and_marked() {
    let source = ledger_snapshot_dir();
    let dir = tempfile::tempdir().expect("temp dir");
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let newest = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    for (i, name) in [
        "configmap-ledger-config.yaml",
        "deployment-ledger-api.yaml",
        "service-ledger-api.yaml",
    ]
    .iter()
    .enumerate()
    {
        let target = dir.path().join(name);
        copy(&source.join(name), &target);
        set_mtime(&target, if i == 1 { newest } else { old });
    }
    let wanted: Vec<ResourceKey> = load_objects(dir.path()).iter().map(key_of).collect();
    let observation = observe(dir.path(), &wanted).await;
    assert_eq!(observation.objects.len(), 3);
    assert_eq!(observation.observed_at_source, "file_times");
    assert_eq!(observation.observed_at, DateTime::<Utc>::from(newest));
    assert_eq!(observation.context, None);
    assert!(
        observation
            .notes
            .iter()
            .any(|n| n.contains("no capture.json")),
        "{:?}",
        observation.notes
    );
}

#[tokio::test]
async fn objects_captured_without_managed_fields_carry_no_ownership_evidence() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy(
        &fixture("k8s/argo-cd/live-pdb.yaml"),
        &dir.path().join("pdb.yaml"),
    );
    copy(
        &fixture("k8s/argo-cd/svc-loadbalancer.yaml"),
        &dir.path().join("svc.yaml"),
    );
    let wanted: Vec<ResourceKey> = load_objects(dir.path()).iter().map(key_of).collect();
    let observation = observe(dir.path(), &wanted).await;
    assert_eq!(observation.objects.len(), 2);
    assert!(!observation.has_managed_fields);
    assert!(
        observation
            .notes
            .iter()
            .any(|n| n.contains("without --show-managed-fields: no ownership evidence")),
        "{:?}",
        observation.notes
    );

    // Mixed: the note names the objects that lack them.
    copy(
        &ledger_snapshot_dir().join("service-ledger-api.yaml"),
        &dir.path().join("ledger-svc.yaml"),
    );
    let wanted: Vec<ResourceKey> = load_objects(dir.path()).iter().map(key_of).collect();
    let observation = observe(dir.path(), &wanted).await;
    assert!(observation.has_managed_fields);
    let note = observation
        .notes
        .iter()
        .find(|n| n.contains("captured without managedFields"))
        .expect("a note");
    assert!(
        note.contains("Service/argocd/argocd-server")
            && note.contains("policy/PodDisruptionBudget/default/myapp-pdb"),
        "{note}"
    );
    assert!(!note.contains("ledger-api"), "{note}");
}

#[tokio::test]
async fn any_file_names_lists_multi_document_yaml_and_json_in_subdirectories() {
    let dir = tempfile::tempdir().expect("temp dir");
    // One multi-document YAML file made of two captures, a JSON object in a subdirectory, a
    // `kind: List`, and a README that is not a capture.
    let multi = [
        std::fs::read_to_string(fixture("k8s/argo-cd/ssd-configmap-live.yaml")).expect("read"),
        std::fs::read_to_string(fixture("k8s/argo-cd/live-deployment.yaml")).expect("read"),
    ]
    .join("\n---\n");
    std::fs::write(
        dir.path().join("README"),
        "captured with kubectl get -o yaml\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("default.yml"), multi).expect("write");
    std::fs::create_dir(dir.path().join("cluster")).expect("mkdir");
    copy(
        &fixture("k8s/gitops-engine/mutatingwebhookconfig-live.json"),
        &dir.path().join("cluster/webhook.json"),
    );
    copy(
        &ledger_snapshot_dir().join("rbac-ledger-reader.yaml"),
        &dir.path().join("rbac.yaml"),
    );

    let mut expected = load_objects(&fixture("k8s/argo-cd/ssd-configmap-live.yaml"));
    expected.extend(load_objects(&fixture("k8s/argo-cd/live-deployment.yaml")));
    expected.extend(load_objects(&fixture(
        "k8s/gitops-engine/mutatingwebhookconfig-live.json",
    )));
    expected.extend(load_objects(
        &ledger_snapshot_dir().join("rbac-ledger-reader.yaml"),
    ));
    let mut wanted: Vec<ResourceKey> = expected.iter().map(key_of).collect();
    // Git declares the webhook as v1; the capture has v1beta1. Same object.
    wanted[2].api_version = "admissionregistration.k8s.io/v1".to_owned();
    let observation = observe(dir.path(), &wanted).await;
    assert_eq!(observation.objects.len(), 5, "{:?}", observation.missing);
    assert!(observation.missing.is_empty());
    assert!(
        observation
            .notes
            .iter()
            .any(|n| n.contains("ignored") && n.contains("README")),
        "{:?}",
        observation.notes
    );
}

#[tokio::test]
async fn malformed_snapshots_are_permanent_errors() {
    let wanted = [ResourceKey::new(
        "v1",
        "ConfigMap",
        Some("default"),
        "test-configmap",
    )];

    let missing = tempfile::tempdir().expect("temp dir");
    let error = fail(&missing.path().join("absent"), &wanted).await;
    assert!(
        matches!(error, CollectError::Snapshot { .. }) && !error.is_transient(),
        "{error:?}"
    );

    let empty = tempfile::tempdir().expect("temp dir");
    let error = fail(empty.path(), &wanted).await;
    assert!(error.to_string().contains("holds no .yaml"), "{error}");

    let broken = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        broken.path().join("bad.yaml"),
        "kind: ConfigMap\nmetadata: [unclosed\n",
    )
    .expect("write");
    let error = fail(broken.path(), &wanted).await;
    assert!(matches!(error, CollectError::Snapshot { .. }), "{error:?}");
    assert!(error.to_string().contains("bad.yaml"), "{error}");

    let bad_capture = tempfile::tempdir().expect("temp dir");
    copy(
        &fixture("k8s/argo-cd/ssd-configmap-live.yaml"),
        &bad_capture.path().join("cm.yaml"),
    );
    std::fs::write(
        bad_capture.path().join("capture.json"),
        r#"{"captured_at": "yesterday"}"#,
    )
    .expect("write");
    let error = fail(bad_capture.path(), &wanted).await;
    assert!(
        error
            .to_string()
            .contains("captured_at \"yesterday\" is not an RFC 3339 time"),
        "{error}"
    );

    // The same capture twice is harmless (these two upstream files are identical) ...
    let twice = tempfile::tempdir().expect("temp dir");
    copy(
        &fixture("k8s/argo-cd/live-deployment.yaml"),
        &twice.path().join("a.yaml"),
    );
    copy(
        &fixture("k8s/argo-cd/live-deployment-env-vars.yaml"),
        &twice.path().join("b.yaml"),
    );
    let deployment = [ResourceKey::new(
        "apps/v1",
        "Deployment",
        Some("default"),
        "kustomize-guestbook-ui",
    )];
    assert_eq!(observe(twice.path(), &deployment).await.objects.len(), 1);
    // ... but two different captures of one object are: which one is live cannot be told.
    let ledger_config = ledger_snapshot_dir().join("configmap-ledger-config.yaml");
    let text = std::fs::read_to_string(&ledger_config).expect("read");
    std::fs::write(twice.path().join("c.yaml"), &text).expect("write");
    std::fs::write(
        twice.path().join("d.yaml"),
        text.replace("HALF_EVEN", "HALF_UP"),
    )
    .expect("write");
    let error = fail(twice.path(), &deployment).await;
    assert!(
        error
            .to_string()
            .contains("two different versions of ConfigMap/payments/ledger-config (c.yaml"),
        "{error}"
    );
}

#[tokio::test]
async fn output_order_is_deterministic() {
    let dir = ledger_snapshot_dir();
    let mut wanted: Vec<ResourceKey> = load_objects(&dir).iter().map(key_of).collect();
    wanted.push(ResourceKey::new(
        "v1",
        "Secret",
        Some("payments"),
        "ledger-db",
    ));
    let first = observe(&dir, &wanted).await;
    wanted.reverse();
    let second = observe(&dir, &wanted).await;
    let render = |o: &LiveObservation| {
        serde_json::to_string(&(&o.objects, &o.missing)).expect("serializable")
    };
    assert_eq!(render(&first), render(&second));
    let order: Vec<String> = first
        .objects
        .iter()
        .map(|o| key_of(o).to_string())
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|label| {
        // Group first (core has none), then kind, namespace, name.
        let parts: Vec<&str> = label.split('/').collect();
        if parts.len() == 4 {
            (parts[0].to_owned(), parts[1..].join("/"))
        } else {
            (String::new(), label.clone())
        }
    });
    assert_eq!(order, sorted);
}
