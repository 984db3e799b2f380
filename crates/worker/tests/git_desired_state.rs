//! Reading desired state from real local repositories: ref and SHA resolution, the mirror
//! cache across runs and across concurrent callers, file selection and order, and the demo's
//! `ledger` history read at each of its commits.

#[path = "support/git_fixture.rs"]
mod fixture;

use fixture::{SourceRepo, deployment, mirror_entries, settings};
use statesight_worker::git::{self, DesiredState, GitError, RENDERED_PLAIN};

fn origins(state: &DesiredState) -> Vec<&str> {
    state
        .documents
        .iter()
        .map(|(origin, _)| origin.as_str())
        .collect()
}

fn text_of<'a>(state: &'a DesiredState, origin: &str) -> &'a str {
    let bytes = state
        .documents
        .iter()
        .find(|(name, _)| name == origin)
        .map(|(_, bytes)| bytes.as_slice())
        .unwrap_or_else(|| panic!("{origin} not read; read {:?}", origins(state)));
    std::str::from_utf8(bytes).expect("manifests in these tests are UTF-8")
}

#[tokio::test]
async fn branches_tags_full_refs_and_shas_resolve_to_their_commit() {
    let repo = SourceRepo::new();
    repo.write("deploy/app.yaml", &deployment("app", "app:1"));
    let first = repo.commit("first", "2026-10-02T09:14:00Z");
    repo.git(&["tag", "--annotate", "--message", "release v1", "v1"]);
    repo.git(&["branch", "release/1.0"]);
    // A `master` branch at the old commit: `HEAD` must still mean the remote's default.
    repo.git(&["branch", "master"]);
    repo.write("deploy/app.yaml", &deployment("app", "app:2"));
    let second = repo.commit("second", "2026-10-09T14:02:00Z");
    repo.git(&["tag", "light"]);

    let cache = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache.path());
    let url = repo.url();
    let cases: [(&str, Option<&str>, &str); 9] = [
        ("main", None, &second),
        ("HEAD", None, &second),
        ("v1", None, &first),
        ("light", None, &second),
        ("refs/heads/release/1.0", None, &first),
        ("refs/tags/v1", None, &first),
        ("main", Some(first.as_str()), &first),
        ("main", Some(&first[..7]), &first),
        ("v1", Some("main"), &second),
    ];
    for (git_ref, requested, expected) in cases {
        let state = git::desired_state(&settings, &url, git_ref, requested, "deploy")
            .await
            .unwrap_or_else(|error| panic!("{git_ref} / {requested:?}: {error}"));
        assert_eq!(state.commit_sha, expected, "{git_ref} / {requested:?}");
        assert_eq!(state.git_ref, git_ref);
        assert_eq!(state.revision, requested.unwrap_or(git_ref));
        let image = if expected == first { "app:1" } else { "app:2" };
        assert!(
            text_of(&state, "deploy/app.yaml").contains(image),
            "{git_ref} / {requested:?} read the wrong content"
        );
    }

    let state = git::desired_state(&settings, &url, "v1", None, "./deploy/")
        .await
        .expect("the tag resolves");
    assert_eq!(state.path, "deploy");
    assert_eq!(state.rendered_with, RENDERED_PLAIN);
    assert_eq!(state.repo_url, url);
    assert_eq!(state.committed_at.to_rfc3339(), "2026-10-02T09:14:00+00:00");
}

#[tokio::test]
async fn head_means_the_remote_default_branch_not_the_mirror_own() {
    // The mirror's own HEAD names `main`; the remote's default branch is `trunk`.
    let repo = SourceRepo::new();
    repo.write("deploy/app.yaml", &deployment("app", "app:1"));
    let on_main = repo.commit("first", "2026-10-02T09:14:00Z");
    repo.git(&["checkout", "--quiet", "-b", "trunk"]);
    repo.write("deploy/app.yaml", &deployment("app", "app:2"));
    let on_trunk = repo.commit("second", "2026-10-09T14:02:00Z");
    let cache = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache.path());

    let state = git::desired_state(&settings, &repo.url(), "HEAD", None, "deploy")
        .await
        .expect("HEAD resolves");
    assert_eq!(state.commit_sha, on_trunk);
    let state = git::desired_state(&settings, &repo.url(), "main", None, "deploy")
        .await
        .expect("main resolves");
    assert_eq!(state.commit_sha, on_main);
}

#[tokio::test]
async fn a_new_commit_is_seen_on_the_next_run_with_the_same_mirror() {
    let repo = SourceRepo::new();
    repo.write("deploy/app.yaml", &deployment("app", "app:1"));
    let first = repo.commit("first", "2026-10-02T09:14:00Z");
    repo.git(&["branch", "short-lived"]);
    let cache = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache.path());
    let url = repo.url();

    let before = git::desired_state(&settings, &url, "main", None, "deploy")
        .await
        .expect("the first run reads main");
    assert_eq!(before.commit_sha, first);
    let mirror = git::mirror_dir(&settings, &url).expect("a valid URL");
    let mirror_name = mirror
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .expect("the mirror has a name");
    assert_eq!(
        mirror_entries(cache.path()),
        std::slice::from_ref(&mirror_name)
    );
    // A marker inside the mirror proves the second run reuses it rather than recloning.
    std::fs::write(mirror.join("statesight-test-marker"), b"kept").expect("writing a marker");

    repo.write("deploy/app.yaml", &deployment("app", "app:2"));
    repo.write("deploy/extra.yaml", &deployment("extra", "extra:1"));
    let second = repo.commit("second", "2026-10-09T14:02:00Z");
    repo.git(&["branch", "--delete", "short-lived"]);

    let after = git::desired_state(&settings, &url, "main", None, "deploy")
        .await
        .expect("the second run reads main");
    assert_eq!(after.commit_sha, second);
    assert_eq!(origins(&after), ["deploy/app.yaml", "deploy/extra.yaml"]);
    assert!(text_of(&after, "deploy/app.yaml").contains("app:2"));
    assert!(
        mirror.join("statesight-test-marker").exists(),
        "the mirror was rebuilt"
    );
    assert_eq!(mirror_entries(cache.path()), [mirror_name]);

    // Deleted branches are pruned from the mirror, so the old name no longer resolves.
    let pruned = git::desired_state(&settings, &url, "short-lived", None, "deploy").await;
    assert!(
        matches!(pruned, Err(GitError::UnknownRevision { .. })),
        "{pruned:?}"
    );
    // The commit itself is still readable by its id.
    let old = git::desired_state(&settings, &url, "main", Some(&first), "deploy")
        .await
        .expect("the old commit by id");
    assert_eq!(origins(&old), ["deploy/app.yaml"]);
}

#[tokio::test]
async fn files_are_read_in_byte_order_skipping_hidden_and_non_manifest_files() {
    let repo = SourceRepo::new();
    for (path, name) in [
        ("b.yaml", "b"),
        ("a.yml", "a"),
        ("A.yaml", "upper-a"),
        ("a-b.yaml", "a-b"),
        ("sub/c.yaml", "c"),
        ("sub/deeper/d.yaml", "d"),
        ("z.json", "z"),
        (".hidden.yaml", "hidden"),
        (".github/workflows/ci.yml", "ci"),
        ("sub/.git-crypt/key.yaml", "key"),
    ] {
        repo.write(path, &deployment(name, "img:1"));
    }
    repo.write("README.md", "# not a manifest\n");
    repo.write("notes.txt", "kind: Secret\n");
    std::os::unix::fs::symlink("/etc/hostname", repo.path.join("host.yaml"))
        .expect("creating a symbolic link");
    repo.commit("files", "2026-10-02T09:14:00Z");
    let cache = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache.path());

    let expected = [
        "A.yaml",
        "a-b.yaml",
        "a.yml",
        "b.yaml",
        "sub/c.yaml",
        "sub/deeper/d.yaml",
        "z.json",
    ];
    for _ in 0..2 {
        let state = git::desired_state(&settings, &repo.url(), "main", None, ".")
            .await
            .expect("the root reads");
        assert_eq!(origins(&state), expected);
    }
    let state = git::desired_state(&settings, &repo.url(), "main", None, "sub")
        .await
        .expect("a subdirectory reads");
    assert_eq!(origins(&state), ["sub/c.yaml", "sub/deeper/d.yaml"]);
    // A source path may also name a single file.
    let state = git::desired_state(&settings, &repo.url(), "main", None, "sub/c.yaml")
        .await
        .expect("a single file reads");
    assert_eq!(origins(&state), ["sub/c.yaml"]);
    let parsed = state.parse().expect("valid manifests");
    assert_eq!(parsed.objects.len(), 1);
    assert_eq!(parsed.objects[0].origin.file, "sub/c.yaml");
}

#[tokio::test]
async fn a_commit_only_a_pull_request_ref_reaches_is_fetched_by_id() {
    let repo = SourceRepo::new();
    repo.write("deploy/app.yaml", &deployment("app", "app:1"));
    repo.commit("first", "2026-10-02T09:14:00Z");
    repo.git(&["checkout", "--quiet", "-b", "pr"]);
    repo.write("deploy/app.yaml", &deployment("app", "app:pr"));
    let proposed = repo.commit("proposal", "2026-10-03T09:14:00Z");
    repo.git(&["update-ref", "refs/pull/1/head", &proposed]);
    repo.git(&["checkout", "--quiet", "main"]);
    repo.git(&["branch", "--delete", "--force", "pr"]);
    let cache = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache.path());

    let state = git::desired_state(&settings, &repo.url(), "main", Some(&proposed), "deploy")
        .await
        .expect("the proposed commit is fetched by id");
    assert_eq!(state.commit_sha, proposed);
    assert!(text_of(&state, "deploy/app.yaml").contains("app:pr"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_on_a_new_repository_share_one_mirror() {
    let repo = SourceRepo::new();
    repo.write("deploy/app.yaml", &deployment("app", "app:1"));
    let head = repo.commit("first", "2026-10-02T09:14:00Z");
    let cache = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache.path());
    let url = repo.url();

    let runs = (0..4).map(|_| {
        let settings = settings.clone();
        let url = url.clone();
        tokio::spawn(
            async move { git::desired_state(&settings, &url, "main", None, "deploy").await },
        )
    });
    for run in runs {
        let state = run
            .await
            .expect("the task did not panic")
            .expect("every concurrent run succeeds");
        assert_eq!(state.commit_sha, head);
        assert_eq!(origins(&state), ["deploy/app.yaml"]);
    }
    assert_eq!(
        mirror_entries(cache.path()).len(),
        1,
        "{:?}",
        mirror_entries(cache.path())
    );
}

#[tokio::test]
async fn a_half_created_mirror_left_by_a_crash_is_replaced() {
    let repo = SourceRepo::new();
    repo.write("deploy/app.yaml", &deployment("app", "app:1"));
    let head = repo.commit("first", "2026-10-02T09:14:00Z");
    let cache = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache.path());
    let mirror = git::mirror_dir(&settings, &repo.url()).expect("a valid URL");
    let stem = mirror
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .expect("the mirror has a name");
    // What a worker killed during its first clone leaves behind.
    let leftover = cache
        .path()
        .join("mirrors")
        .join(format!("{stem}.tmp-crashed"));
    std::fs::create_dir_all(leftover.join("objects")).expect("creating a leftover");
    std::fs::write(leftover.join("HEAD"), "garbage").expect("writing a leftover");

    let state = git::desired_state(&settings, &repo.url(), "main", None, "deploy")
        .await
        .expect("the run succeeds despite the leftover");
    assert_eq!(state.commit_sha, head);
    assert!(!leftover.exists(), "the leftover was not removed");
    assert_eq!(mirror_entries(cache.path()), [format!("{stem}.git")]);
}

#[derive(serde::Deserialize)]
struct ExampleCommit {
    message: String,
    author_name: String,
    author_email: String,
    date: String,
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("reading the example") {
        let entry = entry.expect("reading the example");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("creating a directory");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying an example file");
        }
    }
}

/// Builds the repository `statesight-server admin seed` builds, the same way: one commit per
/// `history/NN-*` directory, committer = author, both dates from `commit.json`.
fn ledger_repository() -> (SourceRepo, Vec<(String, String)>) {
    let history =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ledger/history");
    let mut steps: Vec<_> = std::fs::read_dir(&history)
        .expect("examples/ledger/history exists")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    steps.sort();
    let repo = SourceRepo::new();
    let mut commits = Vec::new();
    for step in steps {
        let spec: ExampleCommit = serde_json::from_slice(
            &std::fs::read(step.join("commit.json")).expect("reading commit.json"),
        )
        .expect("parsing commit.json");
        for entry in std::fs::read_dir(&repo.path).expect("listing the work tree") {
            let entry = entry.expect("listing the work tree");
            if entry.file_name() == ".git" {
                continue;
            }
            if entry.path().is_dir() {
                std::fs::remove_dir_all(entry.path()).expect("clearing the work tree");
            } else {
                std::fs::remove_file(entry.path()).expect("clearing the work tree");
            }
        }
        copy_tree(&step.join("tree"), &repo.path);
        fixture::git(&repo.path, &["add", "--all"], &[]);
        fixture::git(
            &repo.path,
            &[
                "commit",
                "--quiet",
                "--allow-empty",
                "--no-verify",
                "-m",
                &spec.message,
            ],
            &[
                ("GIT_AUTHOR_NAME", &spec.author_name),
                ("GIT_AUTHOR_EMAIL", &spec.author_email),
                ("GIT_AUTHOR_DATE", &spec.date),
                ("GIT_COMMITTER_NAME", &spec.author_name),
                ("GIT_COMMITTER_EMAIL", &spec.author_email),
                ("GIT_COMMITTER_DATE", &spec.date),
            ],
        );
        commits.push((repo.git(&["rev-parse", "HEAD"]), spec.date));
    }
    (repo, commits)
}

#[tokio::test]
async fn the_ledger_example_reads_at_every_commit() {
    let (repo, commits) = ledger_repository();
    assert_eq!(commits.len(), 4, "the example has 4 commits");
    let cache = tempfile::tempdir().expect("a cache directory");
    let settings = settings(cache.path());

    let head = git::desired_state(&settings, &repo.url(), "main", None, "deploy/")
        .await
        .expect("HEAD of the example reads");
    let (head_sha, head_date) = &commits[3];
    assert_eq!(&head.commit_sha, head_sha);
    assert_eq!(
        head.committed_at,
        head_date
            .parse::<chrono::DateTime<chrono::Utc>>()
            .expect("an RFC 3339 date")
    );
    assert_eq!(
        origins(&head),
        [
            "deploy/api-deployment.yaml",
            "deploy/api-hpa.yaml",
            "deploy/api-pdb.yaml",
            "deploy/api-service.yaml",
            "deploy/configmap.yaml",
            "deploy/networkpolicy.yaml",
            "deploy/rbac.yaml",
            "deploy/serviceaccount.yaml",
            "deploy/worker-deployment.yaml",
        ]
    );
    let parsed = head.parse().expect("the example's manifests are valid");
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.objects.len(), 10);
    assert!(
        parsed
            .objects
            .iter()
            .any(|object| object.kind == "NetworkPolicy" && object.name == "ledger-default-deny")
    );

    // Each earlier commit reads by its id, with its own files and commit time.
    for ((sha, date), (files, objects)) in commits.iter().zip([(6, 7), (8, 9), (8, 9)]) {
        let state = git::desired_state(&settings, &repo.url(), "main", Some(sha), "deploy")
            .await
            .unwrap_or_else(|error| panic!("commit {sha}: {error}"));
        assert_eq!(&state.commit_sha, sha);
        assert_eq!(
            state
                .committed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            *date
        );
        assert_eq!(state.documents.len(), files, "files at {date}");
        let parsed = state.parse().expect("valid manifests");
        assert_eq!(parsed.objects.len(), objects, "objects at {date}");
        assert!(
            parsed
                .objects
                .iter()
                .all(|object| object.kind != "NetworkPolicy")
        );
    }
}
