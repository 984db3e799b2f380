//! Kustomize directories in Git rendered with the real `kubectl kustomize` (`/usr/bin/kubectl`
//! on this project's machines): a base and an overlay, a broken kustomization, a symbolic
//! link that must not reach outside the repository, and a hanging kubectl.

#[path = "support/git_fixture.rs"]
mod fixture;

use std::path::Path;
use std::time::{Duration, Instant};

use fixture::{SourceRepo, deployment, script, settings};
use statesight_worker::git::{self, GitError, RENDERED_KUSTOMIZE};

fn require_kubectl() {
    assert!(
        Path::new("/usr/bin/kubectl").is_file(),
        "these tests need the real kubectl at /usr/bin/kubectl (Debian package kubectl, or the upstream binary)"
    );
}

fn base_and_overlay() -> (SourceRepo, String) {
    let repo = SourceRepo::new();
    repo.write(
        "deploy/base/deployment.yaml",
        &deployment("ledger-api", "ledger-api:1.9.0"),
    );
    repo.write(
        "deploy/base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ledger-api\nspec:\n  ports:\n    - port: 80\n",
    );
    repo.write(
        "deploy/base/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n  - service.yaml\n",
    );
    repo.write(
        "deploy/overlays/prod/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: payments\nresources:\n  - ../../base\npatches:\n  - path: replicas.yaml\nconfigMapGenerator:\n  - name: ledger-config\n    envs:\n      - .env\n",
    );
    repo.write(
        "deploy/overlays/prod/replicas.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ledger-api\nspec:\n  replicas: 3\n",
    );
    // Hidden files are part of a kustomization's inputs (here an env file).
    repo.write("deploy/overlays/prod/.env", "SETTLEMENT_BATCH_SIZE=500\n");
    let head = repo.commit("kustomize", "2026-10-02T09:14:00Z");
    (repo, head)
}

#[tokio::test]
async fn an_overlay_is_rendered_with_its_base() {
    require_kubectl();
    let (repo, head) = base_and_overlay();
    let cache = tempfile::tempdir().expect("a cache directory");
    let state = git::desired_state(
        &settings(cache.path()),
        &repo.url(),
        "main",
        None,
        "deploy/overlays/prod",
    )
    .await
    .expect("the overlay renders");
    assert_eq!(state.commit_sha, head);
    assert_eq!(state.rendered_with, RENDERED_KUSTOMIZE);
    assert_eq!(state.documents.len(), 1);
    assert_eq!(state.documents[0].0, "kustomize:deploy/overlays/prod");

    let parsed = state.parse().expect("kustomize output parses");
    let mut kinds: Vec<(&str, &str, Option<&str>)> = parsed
        .objects
        .iter()
        .map(|object| {
            (
                object.kind.as_str(),
                object.name.as_str(),
                object.namespace.as_deref(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(
        kinds[0].0 == "ConfigMap" && kinds[0].1.starts_with("ledger-config-"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds[1..],
        [
            ("Deployment", "ledger-api", Some("payments")),
            ("Service", "ledger-api", Some("payments")),
        ]
    );
    let deployment = parsed
        .objects
        .iter()
        .find(|object| object.kind == "Deployment")
        .expect("the Deployment is rendered");
    assert_eq!(deployment.value["spec"]["replicas"], 3);

    // The private checkout is gone once the run is over.
    let leftovers: Vec<_> = std::fs::read_dir(cache.path().join("work"))
        .expect("the work directory exists")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The base alone is a kustomization too.
    let base = git::desired_state(
        &settings(cache.path()),
        &repo.url(),
        "main",
        None,
        "deploy/base",
    )
    .await
    .expect("the base renders");
    assert_eq!(base.documents[0].0, "kustomize:deploy/base");
    assert_eq!(base.parse().expect("valid output").objects.len(), 2);
}

#[tokio::test]
async fn a_broken_kustomization_names_the_path_and_commit_not_the_checkout() {
    require_kubectl();
    let repo = SourceRepo::new();
    repo.write(
        "deploy/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - missing.yaml\n",
    );
    let head = repo.commit("broken", "2026-10-02T09:14:00Z");
    let cache = tempfile::tempdir().expect("a cache directory");
    let error = git::desired_state(&settings(cache.path()), &repo.url(), "main", None, "deploy")
        .await
        .expect_err("kustomize fails");
    assert!(
        matches!(error, GitError::KustomizeFailed { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("kubectl kustomize failed for deploy at {head}: ")),
        "{message}"
    );
    assert!(message.contains("missing.yaml"), "{message}");
    assert!(
        !message.contains("checkout-"),
        "the private directory leaks: {message}"
    );
}

#[tokio::test]
async fn a_symbolic_link_in_the_repository_cannot_read_worker_files() {
    require_kubectl();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let secret = scratch.path().join("worker-secret.txt");
    std::fs::write(&secret, "TOKEN=do-not-read\n").expect("writing a worker file");
    let repo = SourceRepo::new();
    std::fs::create_dir_all(repo.path.join("deploy")).expect("creating deploy");
    std::os::unix::fs::symlink(&secret, repo.path.join("deploy/stolen.env"))
        .expect("creating a symbolic link");
    repo.write(
        "deploy/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nconfigMapGenerator:\n  - name: stolen\n    envs:\n      - stolen.env\n",
    );
    repo.commit("exfiltrate", "2026-10-02T09:14:00Z");
    let cache = tempfile::tempdir().expect("a cache directory");
    let outcome =
        git::desired_state(&settings(cache.path()), &repo.url(), "main", None, "deploy").await;
    match outcome {
        Err(GitError::KustomizeFailed { detail, .. }) => {
            assert!(detail.contains("stolen.env"), "{detail}");
            assert!(!detail.contains("do-not-read"), "{detail}");
        }
        other => panic!("expected kustomize to miss the linked file, got {other:?}"),
    }
}

#[tokio::test]
async fn a_hanging_kubectl_is_stopped_at_the_timeout() {
    let (repo, _) = base_and_overlay();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let mut settings = settings(&scratch.path().join("cache"));
    settings.kubectl_bin = script(scratch.path(), "kubectl", "exec sleep 30");
    settings.command_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let error = git::desired_state(&settings, &repo.url(), "main", None, "deploy/overlays/prod")
        .await
        .expect_err("the fake kubectl never finishes");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(error, GitError::Timeout { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(
        error
            .to_string()
            .starts_with("kubectl kustomize deploy/overlays/prod did not finish within 2s"),
        "{error}"
    );
}
