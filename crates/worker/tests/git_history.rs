//! "Since when, in Git" against real repositories: built in temporary directories with fixed
//! authors and dates, fetched into the mirror by `desired_state` exactly as a run does, then
//! asked which commit set each drifted field's desired value.

#[path = "support/git_fixture.rs"]
mod fixture;

use std::path::Path;

use fixture::{SourceRepo, git, script, settings};
use statesight_core::{DriftPath, ResourceId};
use statesight_worker::git::{
    self, FieldQuery, GitChange, GitSettings, HistoryCache, KUSTOMIZE_REASON, MAX_HISTORY_COMMITS,
    Since,
};

const FILE: &str = "deploy/app.yaml";

/// Commits everything as `author` at `date`; returns the commit id.
fn commit_as(repo: &SourceRepo, message: &str, date: &str, author: &str) -> String {
    git(&repo.path, &["add", "--all"], &[]);
    let email = format!("{}@example.com", author.to_lowercase());
    git(
        &repo.path,
        &["commit", "--quiet", "--no-verify", "-m", message],
        &[
            ("GIT_AUTHOR_NAME", author),
            ("GIT_AUTHOR_EMAIL", &email),
            ("GIT_AUTHOR_DATE", date),
            ("GIT_COMMITTER_DATE", date),
        ],
    );
    repo.git(&["rev-parse", "HEAD"])
}

/// A Service and a Deployment in one file.
fn app(replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  ports:\n    - port: 80\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: {replicas}\n  template:\n    spec:\n      containers:\n        - name: api\n          image: {image}\n"
    )
}

fn deployment_id() -> ResourceId {
    ResourceId {
        group: "apps".into(),
        kind: "Deployment".into(),
        namespace: Some("payments".into()),
        name: "api".into(),
    }
}

fn field(resource: ResourceId, path: &str) -> FieldQuery {
    FieldQuery {
        resource,
        path: path.parse::<DriftPath>().expect("a valid drift path"),
        path_text: path.to_owned(),
    }
}

fn replicas() -> FieldQuery {
    field(deployment_id(), "spec.replicas")
}

fn image() -> FieldQuery {
    field(
        deployment_id(),
        "spec.template.spec.containers[name=api].image",
    )
}

/// Fetches the repository into the mirror as an analysis run does; returns main's commit.
async fn fetch(settings: &GitSettings, repo: &SourceRepo) -> String {
    git::desired_state(settings, &repo.url(), "main", None, "deploy")
        .await
        .expect("the desired state reads")
        .commit_sha
}

async fn ask(
    settings: &GitSettings,
    repo: &SourceRepo,
    commit: &str,
    fields: &[FieldQuery],
    cache: &HistoryCache,
) -> Vec<Since> {
    git::since_when(
        settings,
        &repo.url(),
        commit,
        FILE,
        "payments",
        fields,
        cache,
    )
    .await
    .expect("the history reads")
}

fn changed(since: &Since) -> &GitChange {
    match since {
        Since::Changed(change) => change,
        Since::NotDetermined(reason) => panic!("not determined: {reason}"),
    }
}

fn reason(since: &Since) -> &str {
    match since {
        Since::NotDetermined(reason) => reason,
        Since::Changed(change) => panic!("determined: {change:?}"),
    }
}

#[tokio::test]
async fn the_commit_that_set_the_current_value_is_named_with_its_author() {
    let repo = SourceRepo::new();
    repo.write(FILE, &app(2, "api:1"));
    let created = commit_as(&repo, "Add the api", "2026-01-05T10:00:00Z", "Alice");
    repo.write(FILE, &app(3, "api:1"));
    let scaled = commit_as(
        &repo,
        "Scale the api to 3",
        "2026-02-10T11:30:00+02:00",
        "Bob",
    );
    // Later commits touching another field of the same file, and another file.
    repo.write(FILE, &app(3, "api:2"));
    let released = commit_as(&repo, "Release api 2", "2026-03-01T09:00:00Z", "Carol");
    repo.write(
        "deploy/other.yaml",
        &fixture::deployment("other", "other:1"),
    );
    commit_as(&repo, "Add other", "2026-03-02T09:00:00Z", "Dave");

    let cache_dir = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache_dir.path());
    let head = fetch(&settings, &repo).await;
    let cache = HistoryCache::new();
    let service = ResourceId {
        group: String::new(),
        kind: "Service".into(),
        namespace: Some("payments".into()),
        name: "api".into(),
    };
    let fields = [
        replicas(),
        image(),
        field(service, "spec.ports[port=80].port"),
        // Not declared: the object was created without it.
        field(deployment_id(), "spec.paused"),
    ];
    let answers = ask(&settings, &repo, &head, &fields, &cache).await;
    assert_eq!(answers.len(), fields.len());

    let scale = changed(&answers[0]);
    assert_eq!(scale.commit, scaled);
    assert_eq!(scale.author_name, "Bob");
    assert_eq!(scale.author_email, "bob@example.com");
    assert_eq!(scale.authored_at.to_rfc3339(), "2026-02-10T09:30:00+00:00");
    assert_eq!(scale.subject, "Scale the api to 3");
    assert_eq!(changed(&answers[1]).commit, released);
    assert_eq!(changed(&answers[1]).author_name, "Carol");
    assert_eq!(changed(&answers[2]).commit, created);
    assert_eq!(changed(&answers[3]).commit, created);

    // As of an older analysed commit, the image was set when the file was created.
    let answers = ask(&settings, &repo, &scaled, &[image(), replicas()], &cache).await;
    assert_eq!(changed(&answers[0]).commit, created);
    assert_eq!(changed(&answers[1]).commit, scaled);
}

#[tokio::test]
async fn a_value_changed_and_changed_back_dates_from_the_change_back() {
    let repo = SourceRepo::new();
    repo.write(FILE, &app(2, "api:1"));
    commit_as(&repo, "Add", "2026-01-05T10:00:00Z", "Alice");
    repo.write(FILE, &app(5, "api:1"));
    commit_as(
        &repo,
        "Scale up for the sale",
        "2026-01-06T10:00:00Z",
        "Bob",
    );
    repo.write(FILE, &app(2, "api:1"));
    let back = commit_as(&repo, "Scale back down", "2026-01-07T10:00:00Z", "Carol");
    // Spelled differently, equal by value: not a change.
    repo.write(
        FILE,
        &app(2, "api:1").replace("replicas: 2", "replicas: 2.0"),
    );
    commit_as(&repo, "Reformat", "2026-01-08T10:00:00Z", "Dave");

    let cache_dir = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache_dir.path());
    let head = fetch(&settings, &repo).await;
    let answers = ask(&settings, &repo, &head, &[replicas()], &HistoryCache::new()).await;
    let change = changed(&answers[0]);
    assert_eq!(change.commit, back);
    assert_eq!(change.author_name, "Carol");
}

#[tokio::test]
async fn a_file_deleted_and_restored_or_an_object_moved_in_dates_from_its_return() {
    let repo = SourceRepo::new();
    repo.write(FILE, &app(2, "api:1"));
    commit_as(&repo, "Add", "2026-01-05T10:00:00Z", "Alice");
    repo.remove(FILE);
    repo.write("deploy/keep.yaml", &fixture::deployment("keep", "keep:1"));
    commit_as(&repo, "Remove the api", "2026-01-06T10:00:00Z", "Bob");
    repo.write(FILE, &app(2, "api:1"));
    let restored = commit_as(&repo, "Restore the api", "2026-01-07T10:00:00Z", "Carol");

    let cache_dir = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache_dir.path());
    let head = fetch(&settings, &repo).await;
    let cache = HistoryCache::new();
    let answers = ask(&settings, &repo, &head, &[replicas()], &cache).await;
    assert_eq!(changed(&answers[0]).commit, restored);

    // Moved here from another file (no rename following): the move is the answer.
    repo.write("deploy/api.yaml", &app(4, "api:1"));
    repo.write(FILE, "# moved to api.yaml\n");
    let moved_away = commit_as(&repo, "Split files", "2026-01-08T10:00:00Z", "Dave");
    repo.write(FILE, &app(4, "api:1"));
    repo.remove("deploy/api.yaml");
    let moved_back = commit_as(&repo, "Merge files", "2026-01-09T10:00:00Z", "Erin");
    let head = fetch(&settings, &repo).await;
    let answers = ask(&settings, &repo, &head, &[replicas()], &cache).await;
    assert_eq!(changed(&answers[0]).commit, moved_back);

    // At the commit where the file held no object, or did not exist, nothing is traced.
    let answers = ask(&settings, &repo, &moved_away, &[replicas()], &cache).await;
    assert!(
        reason(&answers[0]).contains("is not declared in"),
        "{answers:?}"
    );
    let first_removed = repo.git(&["rev-parse", "HEAD~3"]);
    let answers = ask(&settings, &repo, &first_removed, &[replicas()], &cache).await;
    assert!(
        reason(&answers[0]).contains("does not exist at"),
        "{answers:?}"
    );
}

#[tokio::test]
async fn a_value_brought_by_a_merge_dates_from_the_merge() {
    let repo = SourceRepo::new();
    repo.write(FILE, &app(2, "api:1"));
    commit_as(&repo, "Add", "2026-01-05T10:00:00Z", "Alice");
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.write(FILE, &app(6, "api:1"));
    commit_as(&repo, "Scale on a branch", "2026-01-06T10:00:00Z", "Bob");
    repo.git(&["checkout", "--quiet", "main"]);
    repo.write(
        "deploy/other.yaml",
        &fixture::deployment("other", "other:1"),
    );
    commit_as(&repo, "Other work", "2026-01-07T10:00:00Z", "Carol");
    git(
        &repo.path,
        &[
            "merge",
            "--quiet",
            "--no-ff",
            "-m",
            "Merge feature",
            "feature",
        ],
        &[
            ("GIT_AUTHOR_NAME", "Dave"),
            ("GIT_AUTHOR_EMAIL", "dave@example.com"),
            ("GIT_AUTHOR_DATE", "2026-01-08T10:00:00Z"),
            ("GIT_COMMITTER_DATE", "2026-01-08T10:00:00Z"),
        ],
    );
    let merge = repo.git(&["rev-parse", "HEAD"]);

    let cache_dir = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache_dir.path());
    let head = fetch(&settings, &repo).await;
    assert_eq!(head, merge);
    let answers = ask(&settings, &repo, &head, &[replicas()], &HistoryCache::new()).await;
    let change = changed(&answers[0]);
    assert_eq!(change.commit, merge);
    assert_eq!(change.subject, "Merge feature");
}

#[tokio::test]
async fn rendered_kustomize_output_and_unfetched_repositories_are_not_traced() {
    let cache_dir = tempfile::tempdir().expect("a cache directory");
    let mut settings = settings(cache_dir.path());
    // No git may run at all: the binary does not exist.
    settings.git_bin = "/nonexistent/git".into();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let answers = git::since_when(
        &settings,
        "file:///srv/repos/ledger.git",
        commit,
        "kustomize:overlays/prod",
        "payments",
        &[replicas(), image()],
        &HistoryCache::new(),
    )
    .await
    .expect("an answer, not an error");
    assert_eq!(
        answers,
        [
            Since::NotDetermined(KUSTOMIZE_REASON.into()),
            Since::NotDetermined(KUSTOMIZE_REASON.into())
        ]
    );
    let answers = git::since_when(
        &settings,
        "file:///srv/repos/ledger.git",
        commit,
        FILE,
        "payments",
        &[replicas()],
        &HistoryCache::new(),
    )
    .await
    .expect("an answer, not an error");
    assert!(
        reason(&answers[0]).contains("not been fetched"),
        "{answers:?}"
    );
    for (bad_commit, bad_file) in [("main", FILE), ("-p", FILE)] {
        let refused = git::since_when(
            &settings,
            "file:///srv/repos/ledger.git",
            bad_commit,
            bad_file,
            "payments",
            &[replicas()],
            &HistoryCache::new(),
        )
        .await;
        assert!(
            matches!(refused, Err(git::GitError::InvalidSource(_))),
            "{refused:?}"
        );
    }
    for bad_file in ["../etc/passwd", "/etc/passwd", ".git/config"] {
        let answers = git::since_when(
            &settings,
            "file:///srv/repos/ledger.git",
            commit,
            bad_file,
            "payments",
            &[replicas()],
            &HistoryCache::new(),
        )
        .await
        .expect("an answer");
        assert!(
            reason(&answers[0]).contains("not a plain path"),
            "{answers:?}"
        );
    }
}

/// A `git` that logs each invocation's arguments to `log`, then runs the real one.
fn logging_git(dir: &Path, log: &Path) -> std::path::PathBuf {
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .expect("sh runs")
            .stdout,
    )
    .expect("a UTF-8 path");
    script(
        dir,
        "git",
        &format!(
            "printf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"",
            log.display(),
            real.trim()
        ),
    )
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn asking_again_about_the_same_commit_runs_no_git_command() {
    let repo = SourceRepo::new();
    repo.write(FILE, &app(2, "api:1"));
    commit_as(&repo, "Add", "2026-01-05T10:00:00Z", "Alice");
    repo.write(FILE, &app(3, "api:1"));
    let scaled = commit_as(&repo, "Scale", "2026-01-06T10:00:00Z", "Bob");
    repo.write(FILE, &app(3, "api:2"));
    commit_as(&repo, "Release", "2026-01-07T10:00:00Z", "Carol");

    let cache_dir = tempfile::tempdir().expect("a cache directory");
    let scripts = tempfile::tempdir().expect("a script directory");
    let log = scripts.path().join("invocations");
    let mut settings = settings(cache_dir.path());
    settings.git_bin = logging_git(scripts.path(), &log);
    let head = fetch(&settings, &repo).await;
    let before = lines(&log);
    assert!(!before.is_empty(), "the wrapper logs the fetch");

    let cache = HistoryCache::new();
    let first = ask(&settings, &repo, &head, &[replicas(), image()], &cache).await;
    assert_eq!(changed(&first[0]).commit, scaled);
    let walked = lines(&log);
    let new: Vec<&String> = walked[before.len()..].iter().collect();
    assert!(
        new.iter().any(|line| line.contains(" log "))
            && new.iter().any(|line| line.contains("cat-file --batch")),
        "{new:?}"
    );
    // No fetch, no ls-remote: history reads the mirror as the run left it.
    assert!(
        !new.iter()
            .any(|line| line.contains("fetch") || line.contains("ls-remote")),
        "{new:?}"
    );

    // Again, by another job sharing the cache: the same answers, no git command at all.
    let shared = cache.clone();
    let second = ask(&settings, &repo, &head, &[replicas(), image()], &shared).await;
    assert_eq!(second, first);
    assert_eq!(lines(&log), walked, "the cache was not used");
    assert!(cache.stats().hits > 0);

    // Another field of the same version: still nothing to read.
    let third = ask(
        &settings,
        &repo,
        &head,
        &[field(deployment_id(), "metadata.name")],
        &cache,
    )
    .await;
    assert_eq!(third.len(), 1);
    assert_eq!(lines(&log), walked);
}

#[tokio::test]
async fn a_value_older_than_the_examined_history_is_not_determined() {
    // MAX_HISTORY_COMMITS + 1 commits of the file, built in one `git fast-import`: the first
    // sets replicas, every later one changes only an annotation.
    let repo = SourceRepo::new();
    let mut stream = String::new();
    let total = MAX_HISTORY_COMMITS + 1;
    for n in 0..total {
        let content = app(2, "api:1").replace(
            "kind: Deployment\nmetadata:\n  name: api\n",
            &format!(
                "kind: Deployment\nmetadata:\n  name: api\n  annotations:\n    revision: \"{n}\"\n"
            ),
        );
        let message = format!("Revision {n}\n");
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter Bot <bot@example.com> {} +0000\ndata {}\n{message}",
            1_780_000_000 + n,
            message.len()
        ));
        stream.push_str(&format!(
            "M 100644 inline {FILE}\ndata {}\n{content}\n",
            content.len()
        ));
    }
    let mut child = std::process::Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&repo.path)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("git fast-import starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("fast-import's stdin");
        stdin
            .write_all(stream.as_bytes())
            .expect("writing the fast-import stream");
    }
    assert!(child.wait().expect("fast-import finishes").success());

    let cache_dir = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache_dir.path());
    let head = fetch(&settings, &repo).await;
    let annotation = field(deployment_id(), "metadata.annotations.revision");
    let answers = ask(
        &settings,
        &repo,
        &head,
        &[replicas(), annotation],
        &HistoryCache::new(),
    )
    .await;
    assert!(
        reason(&answers[0]).contains(&format!("more than {MAX_HISTORY_COMMITS} commits")),
        "{answers:?}"
    );
    let newest = changed(&answers[1]);
    assert_eq!(newest.commit, head);
    assert_eq!(newest.subject, format!("Revision {}", total - 1));
}
