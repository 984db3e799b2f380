//! `statesight-worker diff` end to end through the real binary: exit codes, `--help`, the JSON
//! shape, plain text when not on a terminal, rules files, and determinism (byte-identical
//! JSON across runs and across the order of the input paths).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's `testdata/`.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");

fn fixture(relative: &str) -> PathBuf {
    Path::new(FIXTURES).join(relative)
}

fn worker(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_statesight-worker"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap_or_else(|e| panic!("running the worker: {e}"))
}

fn diff(desired: &Path, live: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "diff",
        "--desired",
        desired.to_str().unwrap_or_default(),
        "--live",
        live.to_str().unwrap_or_default(),
    ];
    args.extend_from_slice(extra);
    worker(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn exit_codes_follow_diff() {
    let in_sync = diff(
        &fixture("k8s/gitops-engine/smd-deploy-config.yaml"),
        &fixture("k8s/gitops-engine/smd-deploy-live.yaml"),
        &[],
    );
    assert_eq!(in_sync.status.code(), Some(0), "{}", stdout(&in_sync));
    assert!(stdout(&in_sync).contains("No drift"));
    let drift = diff(
        &fixture("k8s/argo-cd/target-deployment.yaml"),
        &fixture("k8s/argo-cd/live-deployment.yaml"),
        &[],
    );
    assert_eq!(drift.status.code(), Some(1));
    let missing = diff(
        Path::new("/nonexistent/desired.yaml"),
        &fixture("k8s/argo-cd/live-deployment.yaml"),
        &[],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("error: loading desired manifests"),
        "{missing:?}"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "a: 1\n---\nb: [\n").unwrap_or_else(|e| panic!("{e}"));
    let invalid = diff(&bad, &fixture("k8s/argo-cd/live-deployment.yaml"), &[]);
    assert_eq!(invalid.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&invalid.stderr).contains("bad.yaml: document 2"),
        "{invalid:?}"
    );
    let usage = worker(&["diff", "--desired", "x"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn help_lists_only_what_exists() {
    let help = stdout(&worker(&["--help"]));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(commands.contains(&"diff"), "{help}");
    // Every listed command is real: its own help works.
    for command in commands.into_iter().filter(|c| *c != "help") {
        let out = worker(&[command, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{command}: {out:?}");
    }
    let diff_help = stdout(&worker(&["diff", "--help"]));
    for flag in [
        "--desired",
        "--live",
        "--namespace",
        "--rules",
        "--applier",
        "--bookkeeping-key",
        "--no-default-bookkeeping",
        "--format",
    ] {
        assert!(diff_help.contains(flag), "{flag} missing from\n{diff_help}");
    }
}

#[test]
fn json_shape() {
    let out = diff(
        &fixture("k8s/argo-cd/target-deployment.yaml"),
        &fixture("k8s/argo-cd/live-deployment.yaml"),
        &["--format", "json"],
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    let keys: Vec<&str> = report
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "findings",
            "suppressed",
            "incidents",
            "problems",
            "secret_digest"
        ]
    );
    let finding = &report["findings"][1];
    let finding_keys: Vec<&str> = finding
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        finding_keys,
        [
            "resource", "origin", "path", "change", "desired", "live", "owners", "cause"
        ]
    );
    assert_eq!(
        finding["resource"],
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "kustomize-guestbook-ui"})
    );
    assert_eq!(finding["path"], "spec.replicas");
    assert_eq!(finding["change"], "changed");
    assert_eq!(
        (finding["desired"].clone(), finding["live"].clone()),
        (serde_json::json!(1), serde_json::json!(4))
    );
    assert_eq!(finding["owners"][0]["manager"], "argocd");
    let incident = &report["incidents"][0];
    for key in [
        "fingerprint",
        "cause",
        "severity",
        "recommendation",
        "rationale",
        "findings",
    ] {
        assert!(incident.get(key).is_some(), "{key} missing in {incident}");
    }
}

#[test]
fn text_has_no_colour_when_piped() {
    let out = diff(
        &fixture("k8s/argo-cd/target-deployment.yaml"),
        &fixture("k8s/argo-cd/live-deployment.yaml"),
        &[],
    );
    let text = stdout(&out);
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains("~ spec.replicas: 1 -> 4"), "{text}");
    assert!(
        text.contains("owners: argocd (Update 2022-01-06T15:04:15Z)"),
        "{text}"
    );
}

#[test]
fn rules_file_suppresses() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "- name: janitor-annotation\n  match: metadata.annotations.iksm-version\n  managed_by: janitor\n  reason: janitor owns it\n- name: replicas\n  match: spec.replicas\n  resource_ref: apps/Deployment/default/kustomize-guestbook-ui\n  reason: scaled by hand on purpose\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = diff(
        &fixture("k8s/argo-cd/target-deployment.yaml"),
        &fixture("k8s/argo-cd/live-deployment.yaml"),
        &[
            "--format",
            "json",
            "--rules",
            rules.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = report["suppressed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["rule"]["name"].as_str())
        .collect();
    assert_eq!(names, ["janitor-annotation", "replicas"]);
    std::fs::write(&rules, "- name: broken\n  match: spec[\n").unwrap_or_else(|e| panic!("{e}"));
    let broken = diff(
        &fixture("k8s/argo-cd/target-deployment.yaml"),
        &fixture("k8s/argo-cd/live-deployment.yaml"),
        &["--rules", rules.to_str().unwrap_or_default()],
    );
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("rule 1 (broken)"),
        "{broken:?}"
    );
}

#[test]
fn json_is_byte_identical_across_runs_and_input_order() {
    let desired = [
        "k8s/argo-cd/target-deployment.yaml",
        "k8s/gitops-engine/smd-service-config.yaml",
        "k8s/argo-cd/ssd-configmap-config.yaml",
        "k8s/gitops-engine/ssd-deploy-with-manual-apply-config.yaml",
    ];
    let live = [
        "k8s/argo-cd/live-deployment.yaml",
        "k8s/gitops-engine/smd-service-live.yaml",
        "k8s/argo-cd/ssd-configmap-live.yaml",
        "k8s/gitops-engine/ssd-deploy-with-manual-apply-live.yaml",
    ];
    let run = |order: &[usize]| {
        let mut args: Vec<String> = vec!["diff".into(), "--format".into(), "json".into()];
        for &i in order {
            args.push("--desired".into());
            args.push(fixture(desired[i]).display().to_string());
        }
        for &i in order.iter().rev() {
            args.push("--live".into());
            args.push(fixture(live[i]).display().to_string());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        worker(&refs).stdout
    };
    let first = run(&[0, 1, 2, 3]);
    assert!(first.len() > 1000);
    assert_eq!(first, run(&[0, 1, 2, 3]));
    assert_eq!(first, run(&[3, 1, 0, 2]));
    assert_eq!(first, run(&[2, 3, 1, 0]));
}

#[test]
fn directories_are_walked_in_name_order() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let desired = dir.path().join("desired");
    std::fs::create_dir_all(desired.join("nested")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        fixture("k8s/argo-cd/target-deployment.yaml"),
        desired.join("nested/b.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        fixture("k8s/argo-cd/ssd-configmap-config.yaml"),
        desired.join("a.yml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(desired.join("README.md"), "not a manifest").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(desired.join(".hidden.yaml"), "broken: [").unwrap_or_else(|e| panic!("{e}"));
    let live = dir.path().join("live.yaml");
    let mut both =
        std::fs::read_to_string(fixture("k8s/argo-cd/live-deployment.yaml")).unwrap_or_default();
    both.push_str("\n---\n");
    both.push_str(
        &std::fs::read_to_string(fixture("k8s/argo-cd/ssd-configmap-live.yaml"))
            .unwrap_or_default(),
    );
    std::fs::write(&live, both).unwrap_or_else(|e| panic!("{e}"));
    let out = diff(&desired, &live, &["--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(3));
    std::fs::write(desired.join("kustomization.yaml"), "resources: []\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let kustomize = diff(&desired, &live, &[]);
    assert_eq!(kustomize.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&kustomize.stderr).contains("kubectl kustomize"));
}

/// The runnable example's offline form (examples/ledger/README.md): exactly the 9 findings in
/// 8 incidents, exit 1. Regression: the snapshot's `capture.json` was read as an object
/// without identity, which made the analysis "incomplete" (exit 2).
#[test]
fn the_ledger_example_reports_exactly_its_drift() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ledger");
    let output = diff(
        &example.join("history/04-default-deny/tree/deploy"),
        &example.join("snapshot"),
        &["--namespace", "payments", "--format", "json"],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let findings: Vec<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["resource"]["name"].as_str().unwrap_or("").to_owned(),
                f["path"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(findings.len(), 9, "{findings:?}");
    assert!(findings.contains(&(String::from("ledger-default-deny"), String::new())));
    assert!(findings.contains(&(
        String::from("ledger-config"),
        String::from("data.LEDGER_LEGACY_CSV_EXPORT")
    )));
    assert_eq!(report["incidents"].as_array().map(Vec::len), Some(8));
    assert!(
        report["problems"].as_array().is_none_or(Vec::is_empty),
        "{}",
        report["problems"]
    );
}

/// `--bookkeeping-key` / `--no-default-bookkeeping`: Argo CD's tracking annotation, applied
/// server-side by `argocd-controller` and absent from Git, is not drift by default; without the
/// built-in keys it reads as removed from Git again; a site key can be added; a malformed key is
/// a usage error.
#[test]
fn bookkeeping_key_flags() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let desired = dir.path().join("desired.yaml");
    let live = dir.path().join("live.yaml");
    std::fs::write(
        &desired,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ledger-config\n  namespace: payments\ndata:\n  LOG_LEVEL: info\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &live,
        r#"apiVersion: v1
data:
  LOG_LEVEL: info
kind: ConfigMap
metadata:
  annotations:
    argocd.argoproj.io/tracking-id: ledger:/ConfigMap:payments/ledger-config
    ledger.acme.io/owner: team-ledger
  managedFields:
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:LOG_LEVEL: {}
      f:metadata:
        f:annotations:
          f:argocd.argoproj.io/tracking-id: {}
          f:ledger.acme.io/owner: {}
    manager: argocd-controller
    operation: Apply
    time: "2026-10-02T09:31:47Z"
  name: ledger-config
  namespace: payments
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let paths = |out: &Output| -> Vec<String> {
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| format!("{} {}", f["path"].as_str().unwrap_or(""), f["cause"]))
            .collect()
    };
    let json = ["--format", "json"];
    let default = diff(&desired, &live, &json);
    assert_eq!(default.status.code(), Some(1));
    assert_eq!(
        paths(&default),
        ["metadata.annotations.ledger.acme.io/owner \"removed_from_git\""]
    );
    let none = diff(
        &desired,
        &live,
        &["--format", "json", "--no-default-bookkeeping"],
    );
    assert_eq!(
        paths(&none),
        [
            "metadata.annotations.argocd.argoproj.io/tracking-id \"removed_from_git\"",
            "metadata.annotations.ledger.acme.io/owner \"removed_from_git\""
        ]
    );
    let added = diff(
        &desired,
        &live,
        &["--bookkeeping-key", "annotation:ledger.acme.io/owner"],
    );
    assert_eq!(added.status.code(), Some(0), "{}", stdout(&added));
    let only_site = diff(
        &desired,
        &live,
        &[
            "--format",
            "json",
            "--no-default-bookkeeping",
            "--bookkeeping-key",
            "annotation:ledger.acme.io/owner",
        ],
    );
    assert_eq!(
        paths(&only_site),
        ["metadata.annotations.argocd.argoproj.io/tracking-id \"removed_from_git\""]
    );
    let bad = diff(
        &desired,
        &live,
        &["--bookkeeping-key", "ledger.acme.io/owner"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("expected label:KEY or annotation:KEY"),
        "{bad:?}"
    );
}
