//! The deployment manifests are manifests like any other: `kubectl kustomize
//! deploy/kubernetes` (and every overlay) renders, and the offline `diff` reads every object
//! of it — against an empty cluster each one is missing, against itself nothing drifts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `kubectl kustomize <dir>`, written to a file in `out`.
fn render(dir: &str, out: &Path) -> (PathBuf, usize) {
    let output = Command::new(std::env::var("KUBECTL_BIN").unwrap_or_else(|_| "kubectl".into()))
        .arg("kustomize")
        .arg(repo_root().join(dir))
        .output()
        .expect("kubectl runs (it is installed wherever the tests run)");
    assert!(
        output.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("kustomize prints UTF-8");
    let objects = text
        .lines()
        .filter(|line| line.starts_with("kind: "))
        .count();
    let path = out.join(format!("{}.yaml", dir.replace('/', "_")));
    std::fs::write(&path, text).expect("write the rendering");
    (path, objects)
}

fn diff(desired: &Path, live: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_statesight-worker"))
        .args(["diff", "--namespace", "statesight", "--desired"])
        .arg(desired)
        .arg("--live")
        .arg(live)
        .output()
        .expect("the worker runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn every_rendering_of_the_manifests_is_read_whole_by_diff() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty-cluster");
    std::fs::create_dir(&empty).expect("empty live dir");
    for target in [
        "deploy/kubernetes",
        "deploy/kubernetes/overlays/external-services",
        "deploy/kubernetes/overlays/read-secrets",
    ] {
        let (rendered, objects) = render(target, dir.path());
        assert!(objects >= 15, "{target} renders {objects} objects");
        // Nothing live: every object is a missing resource, none is a problem.
        let (status, text) = diff(&rendered, &empty);
        assert_eq!(status, 1, "{target} against an empty cluster:\n{text}");
        assert!(
            text.contains(&format!("{objects} finding(s) in {objects} resource(s)")),
            "{target}: every object read:\n{text}"
        );
        assert!(
            !text.to_lowercase().contains("problem"),
            "{target}:\n{text}"
        );
        // Itself as the live state: no drift.
        let (status, text) = diff(&rendered, &rendered);
        assert_eq!(status, 0, "{target} against itself:\n{text}");
        assert!(text.contains("No drift"), "{target}:\n{text}");
    }
}
