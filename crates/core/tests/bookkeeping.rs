//! Bookkeeping keys of GitOps tools, data-driven like `semantics.rs`: each case is a desired
//! object and a live object in the form the tool really leaves behind (manager name, operation,
//! FieldsV1, last-applied), and one line per finding (`change path cause`) out. Regressions: the
//! tools' tracking labels and annotations, owned by the applier and never declared in Git, were
//! reported as "removed from Git, still live".

mod common;

use common::{assert_lines, lines, yaml};
use statesight_core::analysis::{AnalyzeOptions, analyze};
use statesight_core::bookkeeping::BookkeepingKey;

fn options() -> AnalyzeOptions {
    AnalyzeOptions {
        default_namespace: "payments".into(),
        application_key: "test".into(),
        ..AnalyzeOptions::default()
    }
}

fn check_with(options: &AnalyzeOptions, desired: &str, live: &str, expect: &[&str]) {
    let analysis = analyze(
        &yaml("desired.yaml", desired),
        &yaml("live.yaml", live),
        options,
        &[],
    );
    assert_lines(
        &format!("desired:\n{desired}\nlive:\n{live}"),
        &lines(&analysis),
        expect,
    );
}

fn check(desired: &str, live: &str, expect: &[&str]) {
    check_with(&options(), desired, live, expect);
}

/// The ConfigMap as Git declares it (no tool bookkeeping).
const DESIRED_CM: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: ledger-config
  namespace: payments
  labels:
    app.kubernetes.io/name: ledger
data:
  LOG_LEVEL: info
";

/// A live ConfigMap as `kubectl get -o yaml --show-managed-fields` prints it: `labels` and
/// `annotations` are the live maps' entries (indented for `metadata`), `fields` the
/// managedFields list.
fn live_cm(annotations: &str, labels: &str, fields: &str) -> String {
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("  annotations:\n{annotations}")
    };
    format!(
        "apiVersion: v1
data:
  LOG_LEVEL: info
kind: ConfigMap
metadata:
{annotations}  creationTimestamp: \"2026-10-02T09:31:47Z\"
  labels:
    app.kubernetes.io/name: ledger
{labels}  managedFields:
{fields}  name: ledger-config
  namespace: payments
  resourceVersion: \"18231\"
  uid: 5f0c9a8e-3c1e-4d7a-9d0e-2b7c4f1a6e21
"
    )
}

// ---- Argo CD ----

/// Server-side apply (`ServerSideApply=true`): Argo CD adds the tracking annotation to what it
/// applies, so `argocd-controller` owns it through `Apply`.
#[test]
fn argocd_ssa_tracking_annotation_is_not_removed_from_git() {
    let live = live_cm(
        "    argocd.argoproj.io/tracking-id: ledger:/ConfigMap:payments/ledger-config\n",
        "",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:annotations:
          f:argocd.argoproj.io/tracking-id: {}
        f:labels:
          f:app.kubernetes.io/name: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(DESIRED_CM, &live, &[]);
}

/// `annotation+label` tracking with an `installationID`: the tracking annotation, the
/// installation id and the instance label, all applied by `argocd-controller`.
#[test]
fn argocd_ssa_annotation_label_tracking_and_installation_id_are_not_removed_from_git() {
    let live = live_cm(
        "    argocd.argoproj.io/installation-id: prod-eu\n    argocd.argoproj.io/tracking-id: ledger:/ConfigMap:payments/ledger-config\n",
        "    app.kubernetes.io/instance: ledger\n",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:annotations:
          f:argocd.argoproj.io/installation-id: {}
          f:argocd.argoproj.io/tracking-id: {}
        f:labels:
          f:app.kubernetes.io/instance: {}
          f:app.kubernetes.io/name: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(DESIRED_CM, &live, &[]);
}

/// Client-side apply (Argo CD's default sync): gitops-engine runs kubectl's apply with field
/// manager `argocd-controller`, operation `Update`, and the tracking annotation ends up in the
/// last-applied configuration too.
#[test]
fn argocd_client_side_apply_tracking_annotation_in_last_applied_is_not_removed_from_git() {
    let live = live_cm(
        r#"    argocd.argoproj.io/tracking-id: ledger:/ConfigMap:payments/ledger-config
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"v1","data":{"LOG_LEVEL":"info"},"kind":"ConfigMap","metadata":{"annotations":{"argocd.argoproj.io/tracking-id":"ledger:/ConfigMap:payments/ledger-config"},"labels":{"app.kubernetes.io/name":"ledger"},"name":"ledger-config","namespace":"payments"}}
"#,
        "",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        .: {}
        f:LOG_LEVEL: {}
      f:metadata:
        f:annotations:
          .: {}
          f:argocd.argoproj.io/tracking-id: {}
          f:kubectl.kubernetes.io/last-applied-configuration: {}
        f:labels:
          .: {}
          f:app.kubernetes.io/name: {}
    manager: argocd-controller
    operation: Update
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(DESIRED_CM, &live, &[]);
}

/// Label tracking of Argo CD 0.10 and older (`applications.argoproj.io/app-name`), as
/// gitops-engine's own test data still shows it.
#[test]
fn argocd_legacy_app_name_label_is_not_removed_from_git() {
    let live = live_cm(
        "",
        "    applications.argoproj.io/app-name: ledger\n",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:labels:
          f:app.kubernetes.io/name: {}
          f:applications.argoproj.io/app-name: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(DESIRED_CM, &live, &[]);
}

// ---- Flux ----

/// kustomize-controller applies every object server-side as `kustomize-controller` with its
/// two owner labels.
#[test]
fn flux_kustomize_controller_owner_labels_are_not_removed_from_git() {
    let live = live_cm(
        "",
        "    kustomize.toolkit.fluxcd.io/name: apps\n    kustomize.toolkit.fluxcd.io/namespace: flux-system\n",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:labels:
          f:app.kubernetes.io/name: {}
          f:kustomize.toolkit.fluxcd.io/name: {}
          f:kustomize.toolkit.fluxcd.io/namespace: {}
    manager: kustomize-controller
    operation: Apply
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(DESIRED_CM, &live, &[]);
}

/// helm-controller (Helm 4 SDK, server-side apply as `helm-controller`): its origin labels plus
/// Helm's own release metadata.
#[test]
fn flux_helm_controller_origin_labels_and_helm_metadata_are_not_removed_from_git() {
    let live = live_cm(
        "    meta.helm.sh/release-name: ledger\n    meta.helm.sh/release-namespace: payments\n",
        "    app.kubernetes.io/managed-by: Helm\n    helm.toolkit.fluxcd.io/name: ledger\n    helm.toolkit.fluxcd.io/namespace: payments\n",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:annotations:
          f:meta.helm.sh/release-name: {}
          f:meta.helm.sh/release-namespace: {}
        f:labels:
          f:app.kubernetes.io/managed-by: {}
          f:app.kubernetes.io/name: {}
          f:helm.toolkit.fluxcd.io/name: {}
          f:helm.toolkit.fluxcd.io/namespace: {}
    manager: helm-controller
    operation: Apply
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(DESIRED_CM, &live, &[]);
}

// ---- Helm ----

/// Helm 3 (`helm install`/`upgrade`): manager `helm`, operation `Update`, which created the
/// maps (hence `.: {}`).
#[test]
fn helm3_release_metadata_is_not_drift() {
    let live = live_cm(
        "    meta.helm.sh/release-name: ledger\n    meta.helm.sh/release-namespace: payments\n",
        "    app.kubernetes.io/managed-by: Helm\n",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        .: {}
        f:LOG_LEVEL: {}
      f:metadata:
        f:annotations:
          .: {}
          f:meta.helm.sh/release-name: {}
          f:meta.helm.sh/release-namespace: {}
        f:labels:
          .: {}
          f:app.kubernetes.io/managed-by: {}
          f:app.kubernetes.io/name: {}
    manager: helm
    operation: Update
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(DESIRED_CM, &live, &[]);
}

/// Helm 4 applies server-side by default: the same metadata, owned through `Apply`.
#[test]
fn helm4_server_side_apply_release_metadata_is_not_removed_from_git() {
    let live = live_cm(
        "    meta.helm.sh/release-name: ledger\n    meta.helm.sh/release-namespace: payments\n",
        "    app.kubernetes.io/managed-by: Helm\n",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:annotations:
          f:meta.helm.sh/release-name: {}
          f:meta.helm.sh/release-namespace: {}
        f:labels:
          f:app.kubernetes.io/managed-by: {}
          f:app.kubernetes.io/name: {}
    manager: helm
    operation: Apply
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(DESIRED_CM, &live, &[]);
}

// ---- what stays drift ----

/// A bookkeeping key Git declares is compared like any other: Git says the instance is `web`,
/// Argo CD's label tracking wrote `ledger`.
#[test]
fn bookkeeping_key_declared_in_git_is_still_compared() {
    let desired = DESIRED_CM.replace(
        "    app.kubernetes.io/name: ledger\n",
        "    app.kubernetes.io/instance: web\n    app.kubernetes.io/name: ledger\n",
    );
    let live = live_cm(
        "",
        "    app.kubernetes.io/instance: ledger\n",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:labels:
          f:app.kubernetes.io/instance: {}
          f:app.kubernetes.io/name: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(
        &desired,
        &live,
        &["changed metadata.labels.app.kubernetes.io/instance argocd-controller"],
    );
    // The same for an annotation: Git pins the release name, Helm wrote another.
    let desired = DESIRED_CM.replace(
        "  labels:\n",
        "  annotations:\n    meta.helm.sh/release-name: ledger-v2\n  labels:\n",
    );
    let live = live_cm(
        "    meta.helm.sh/release-name: ledger\n",
        "",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:annotations:
          f:meta.helm.sh/release-name: {}
        f:labels:
          f:app.kubernetes.io/name: {}
    manager: helm
    operation: Apply
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(
        &desired,
        &live,
        &["changed metadata.annotations.meta.helm.sh/release-name helm"],
    );
}

/// Only bookkeeping keys are exempt: an annotation Git no longer declares, still owned by
/// the applier through `Apply`, stays "removed from Git, still live".
#[test]
fn other_applier_owned_annotation_is_still_removed_from_git() {
    let live = live_cm(
        "    argocd.argoproj.io/tracking-id: ledger:/ConfigMap:payments/ledger-config\n    ledger.acme.io/owner: team-ledger\n",
        "",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:annotations:
          f:argocd.argoproj.io/tracking-id: {}
          f:ledger.acme.io/owner: {}
        f:labels:
          f:app.kubernetes.io/name: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-02T09:31:47Z"
"#,
    );
    check(
        DESIRED_CM,
        &live,
        &["added_in_live metadata.annotations.ledger.acme.io/owner removed_from_git"],
    );
}

/// An out-of-band writer using a bookkeeping key's name is not drift on the object's own
/// metadata either ("whatever its owner"), but the exemption stops there: the same label in a
/// pod template, written by `kubectl patch`, is drift.
#[test]
fn bookkeeping_keys_cover_object_metadata_only() {
    let desired = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger-worker
  namespace: payments
spec:
  template:
    metadata:
      labels:
        app: ledger-worker
    spec:
      containers:
      - name: worker
        image: ghcr.io/acme-payments/ledger-worker:1.9.0
";
    let live = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    kustomize.toolkit.fluxcd.io/name: apps
  managedFields:
  - apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:template:
          f:metadata:
            f:labels:
              f:app: {}
          f:spec:
            f:containers:
              k:{"name":"worker"}:
                .: {}
                f:image: {}
                f:name: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-27T11:05:19Z"
  - apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:labels:
          .: {}
          f:kustomize.toolkit.fluxcd.io/name: {}
      f:spec:
        f:template:
          f:metadata:
            f:labels:
              f:kustomize.toolkit.fluxcd.io/name: {}
    manager: kubectl-patch
    operation: Update
    time: "2026-11-16T15:40:12Z"
  name: ledger-worker
  namespace: payments
spec:
  template:
    metadata:
      labels:
        app: ledger-worker
        kustomize.toolkit.fluxcd.io/name: apps
    spec:
      containers:
      - image: ghcr.io/acme-payments/ledger-worker:1.9.0
        name: worker
"#;
    check(
        desired,
        live,
        &[
            "added_in_live spec.template.metadata.labels.kustomize.toolkit.fluxcd.io/name kubectl-patch",
        ],
    );
}

/// The list is an option: emptied, the old reading comes back; extended, a site-specific key
/// is exempt too.
#[test]
fn bookkeeping_keys_can_be_replaced_and_extended() {
    let live = live_cm(
        "    argocd.argoproj.io/tracking-id: ledger:/ConfigMap:payments/ledger-config\n    ledger.acme.io/owner: team-ledger\n",
        "",
        r#"  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:annotations:
          f:argocd.argoproj.io/tracking-id: {}
          f:ledger.acme.io/owner: {}
        f:labels:
          f:app.kubernetes.io/name: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-02T09:31:47Z"
"#,
    );
    let none = AnalyzeOptions {
        bookkeeping_keys: Vec::new(),
        ..options()
    };
    check_with(
        &none,
        DESIRED_CM,
        &live,
        &[
            "added_in_live metadata.annotations.argocd.argoproj.io/tracking-id removed_from_git",
            "added_in_live metadata.annotations.ledger.acme.io/owner removed_from_git",
        ],
    );
    let mut extended = options();
    extended
        .bookkeeping_keys
        .push(BookkeepingKey::annotation("ledger.acme.io/owner"));
    check_with(&extended, DESIRED_CM, &live, &[]);
    // A label key does not cover the annotation of the same name.
    let mut label_only = options();
    label_only
        .bookkeeping_keys
        .push(BookkeepingKey::label("ledger.acme.io/owner"));
    check_with(
        &label_only,
        DESIRED_CM,
        &live,
        &["added_in_live metadata.annotations.ledger.acme.io/owner removed_from_git"],
    );
}
