//! How reading desired state from Git fails: each error names what failed and what to do,
//! says whether a retry may help, and never repeats a credential. Unreachable repositories
//! and hanging commands are real (a missing path, a closed port, a script that sleeps).

#[path = "support/git_fixture.rs"]
mod fixture;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fixture::{SourceRepo, deployment, mirror_entries, script, settings};
use statesight_worker::git::{self, GitError};

fn one_commit_repo() -> (SourceRepo, String) {
    let repo = SourceRepo::new();
    repo.write("deploy/app.yaml", &deployment("app", "app:1"));
    repo.write("docs/README.md", "# docs\n");
    repo.write(
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    repo.write("charts/web/templates/deployment.yaml", "{{ .Values.x }}\n");
    let head = repo.commit("first", "2026-10-02T09:14:00Z");
    (repo, head)
}

#[tokio::test]
async fn unknown_refs_and_commits_are_permanent_and_named() {
    let (repo, _) = one_commit_repo();
    let cache = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache.path());

    let error = git::desired_state(&settings, &repo.url(), "does-not-exist", None, "deploy")
        .await
        .expect_err("an unknown branch fails");
    assert!(
        matches!(error, GitError::UnknownRevision { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let message = error.to_string();
    assert!(
        message.contains("\"does-not-exist\" is not a branch, tag or commit of file://"),
        "{message}"
    );

    // A well-formed commit id the remote does not have: unknown, not unreachable.
    let absent = "0123456789abcdef0123456789abcdef01234567";
    let error = git::desired_state(&settings, &repo.url(), "main", Some(absent), "deploy")
        .await
        .expect_err("an unknown commit fails");
    assert!(
        matches!(error, GitError::UnknownRevision { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert!(error.to_string().contains(absent), "{error}");
}

#[tokio::test]
async fn missing_paths_empty_paths_and_helm_charts_are_refused_with_the_commit() {
    let (repo, head) = one_commit_repo();
    let cache = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache.path());
    let url = repo.url();

    let error = git::desired_state(&settings, &url, "main", None, "deploy/prod")
        .await
        .expect_err("a missing path fails");
    assert!(matches!(error, GitError::MissingPath { .. }), "{error:?}");
    assert!(!error.is_transient());
    let message = error.to_string();
    for part in ["\"deploy/prod\"", head.as_str(), url.as_str()] {
        assert!(message.contains(part), "{message:?} does not name {part}");
    }

    let error = git::desired_state(&settings, &url, "main", None, "docs")
        .await
        .expect_err("a path without manifests fails");
    assert!(matches!(error, GitError::NoManifests { .. }), "{error:?}");
    assert!(!error.is_transient());

    let error = git::desired_state(&settings, &url, "main", None, "charts/web")
        .await
        .expect_err("a Helm chart is refused");
    assert!(!error.is_transient());
    assert_eq!(
        error.to_string(),
        format!(
            "Helm charts are not supported yet: charts/web at {head} holds Chart.yaml; render it to plain manifests in Git or point the source at a kustomize directory"
        )
    );
}

#[tokio::test]
async fn an_invalid_manifest_names_the_file_the_document_and_the_commit() {
    let repo = SourceRepo::new();
    repo.write(
        "deploy/app.yaml",
        &format!("{}---\nkind: [unclosed\n", deployment("app", "app:1")),
    );
    let head = repo.commit("broken", "2026-10-02T09:14:00Z");
    let cache = tempfile::tempdir().expect("a cache directory");
    let state = git::desired_state(&settings(cache.path()), &repo.url(), "main", None, "deploy")
        .await
        .expect("reading succeeds; parsing is separate");
    let error = state.parse().expect_err("the second document is invalid");
    assert!(
        matches!(error, GitError::InvalidManifest { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let message = error.to_string();
    for part in ["deploy/app.yaml", "document 2", head.as_str()] {
        assert!(message.contains(part), "{message:?} does not name {part}");
    }
}

#[tokio::test]
async fn an_unreachable_repository_is_transient_and_leaves_no_mirror() {
    let missing = tempfile::tempdir().expect("a temporary directory");
    let url = format!("file://{}/no-such-repo.git", missing.path().display());
    let cache = tempfile::tempdir().expect("a cache directory");

    let error = git::desired_state(&settings(cache.path()), &url, "main", None, "deploy")
        .await
        .expect_err("a missing repository fails");
    assert!(matches!(error, GitError::Unreachable { .. }), "{error:?}");
    assert!(error.is_transient());
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot fetch {url}: ")),
        "{message}"
    );
    assert!(
        message.contains("does not appear to be a git repository"),
        "{message}"
    );
    assert!(
        mirror_entries(cache.path()).is_empty(),
        "{:?}",
        mirror_entries(cache.path())
    );
}

#[tokio::test]
async fn a_closed_port_is_transient_and_credentials_never_appear() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
        listener.local_addr().expect("a local address").port()
    };
    let url = format!("http://deploy-bot:s3cr3t-t0ken@127.0.0.1:{port}/acme/deploy.git");
    let cache = tempfile::tempdir().expect("a cache directory");

    let error = git::desired_state(&settings(cache.path()), &url, "main", None, "deploy")
        .await
        .expect_err("nothing listens on the port");
    assert!(matches!(error, GitError::Unreachable { .. }), "{error:?}");
    assert!(error.is_transient());
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(!shown.contains("deploy-bot"), "{shown}");
    assert!(
        shown.contains(&format!("http://***@127.0.0.1:{port}/acme/deploy.git")),
        "{shown}"
    );
    // The cache directory name carries no credential either.
    let mirror = git::mirror_dir(&settings(cache.path()), &url).expect("a valid URL");
    assert!(!mirror.to_string_lossy().contains("s3cr3t"));
}

#[tokio::test]
async fn a_hanging_git_is_killed_with_its_children_at_the_timeout() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let pid_file = scratch.path().join("child.pid");
    // A fake git that starts a child holding its output open, then waits for it.
    let fake_git = script(
        scratch.path(),
        "git",
        &format!("sleep 30 &\necho $! > '{}'\nwait", pid_file.display()),
    );
    let mut settings = settings(&scratch.path().join("cache"));
    settings.git_bin = fake_git;
    settings.fetch_timeout = Duration::from_millis(500);
    settings.command_timeout = Duration::from_millis(500);

    let started = Instant::now();
    let error = git::desired_state(
        &settings,
        "https://example.com/acme/deploy.git",
        "main",
        None,
        "deploy",
    )
    .await
    .expect_err("the fake git never finishes");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(error, GitError::Timeout { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(
        error.to_string().contains("did not finish within 0.5s"),
        "{error}"
    );

    // The script's own child was killed too, not left running.
    let pid = std::fs::read_to_string(&pid_file).expect("the script wrote its child's pid");
    let stat_path = PathBuf::from(format!("/proc/{}/stat", pid.trim()));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive = std::fs::read_to_string(&stat_path)
            .map(|stat| !stat.contains(") Z "))
            .unwrap_or(false);
        if !alive {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the child {} still runs",
            pid.trim()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_mirror_locked_by_another_worker_times_out_transiently() {
    let (repo, _) = one_commit_repo();
    let cache = tempfile::tempdir().expect("a cache directory");
    let mut settings = settings(cache.path());
    settings.fetch_timeout = Duration::from_millis(100);
    settings.command_timeout = Duration::from_millis(100);
    // Another worker process holds the repository's lock file (beside the mirror).
    let lock_path = git::mirror_dir(&settings, &repo.url())
        .expect("a valid URL")
        .with_extension("lock");
    std::fs::create_dir_all(cache.path().join("mirrors")).expect("creating the cache");
    let other_worker = std::fs::File::create(&lock_path).expect("creating the lock file");
    other_worker.lock().expect("taking the lock");

    let started = Instant::now();
    let error = git::desired_state(&settings, &repo.url(), "main", None, "deploy")
        .await
        .expect_err("the lock is never released");
    assert!(matches!(error, GitError::Timeout { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(
        error.to_string().contains("another worker's lock"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // Once the other worker is done, the same settings succeed.
    drop(other_worker);
    settings.fetch_timeout = Duration::from_secs(30);
    settings.command_timeout = Duration::from_secs(30);
    git::desired_state(&settings, &repo.url(), "main", None, "deploy")
        .await
        .expect("the lock is free again");
}

#[tokio::test]
async fn invalid_sources_are_refused_before_git_runs() {
    let cache = tempfile::tempdir().expect("a cache directory");
    let mut settings = settings(cache.path());
    // If anything were run, this would fail with a different error.
    settings.git_bin = PathBuf::from("/nonexistent/git");
    let good = "https://example.com/acme/deploy.git";
    for (url, git_ref, revision, path) in [
        ("ext::sh -c touch% /tmp/pwned", "main", None, "deploy"),
        ("--upload-pack=touch /tmp/x", "main", None, "deploy"),
        ("git@-oProxyCommand=x:repo", "main", None, "deploy"),
        (good, "--output=/tmp/x", None, "deploy"),
        (good, "main", Some("-n"), "deploy"),
        (good, "main", Some("HEAD^"), "deploy"),
        (good, "main", None, "../etc"),
        (good, "main", None, "deploy/--help"),
    ] {
        let error = git::desired_state(&settings, url, git_ref, revision, path)
            .await
            .expect_err("an invalid source is refused");
        assert!(
            matches!(error, GitError::InvalidSource(_)),
            "{url} {git_ref} {revision:?} {path}: {error:?}"
        );
        assert!(!error.is_transient());
    }
    assert!(
        !cache.path().join("mirrors").exists(),
        "nothing was created"
    );
}

#[tokio::test]
async fn a_missing_git_binary_names_the_setting() {
    let cache = tempfile::tempdir().expect("a cache directory");
    let mut settings = settings(cache.path());
    settings.git_bin = PathBuf::from("/nonexistent/git");
    let error = git::desired_state(
        &settings,
        "https://example.com/acme/deploy.git",
        "main",
        None,
        "deploy",
    )
    .await
    .expect_err("git cannot start");
    assert!(matches!(error, GitError::ToolNotFound { .. }), "{error:?}");
    assert!(!error.is_transient());
    assert!(error.to_string().contains("set GIT_BIN"), "{error}");
}
