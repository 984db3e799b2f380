//! Desired state from Git (docs/drift-semantics.md#desired-state): fetch the repository into
//! a cached mirror, resolve the application's ref (or a requested revision) to a commit that is
//! recorded, and read that commit's manifests under the source path — plain `.yaml`/`.yml`/`.json`
//! files, or the output of `kubectl kustomize` for a kustomize directory. Helm charts are
//! refused. Parsing the bytes into objects is `statesight_core::manifest`'s business
//! ([`DesiredState::parse`] calls it); nothing here knows about clusters or the database.
//!
//! Everything runs through the `git` CLI (`GIT_BIN`) so credentials come from the worker's
//! environment exactly as git finds them. The entry point is [`desired_state`].

mod command;
mod error;
mod history;
mod mirror;
mod resolve;
mod settings;
mod tree;
mod url;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use statesight_core::manifest::{ParsedManifests, parse_manifests};
use statesight_core::source;

pub use error::{GitError, Result};
pub use history::{
    FieldQuery, GitChange, HistoryCache, HistoryCacheStats, KUSTOMIZE_REASON, MAX_HISTORY_COMMITS,
    MAX_SUBJECT_CHARS, Since, since_when,
};
pub use settings::{GitSettings, default_cache_dir};

use command::Tool;
use tree::Entry;

/// File names that make a directory a kustomization, as `kubectl kustomize` looks for them.
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Private checkouts older than this are leftovers of a crashed worker and are removed.
const STALE_CHECKOUT_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// `rendered_with` of files read as they are in Git.
pub const RENDERED_PLAIN: &str = "plain";
/// `rendered_with` of the output of `kubectl kustomize` on the source path.
pub const RENDERED_KUSTOMIZE: &str = "kustomize";

/// The desired state of one application at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredState {
    /// The repository URL with credentials redacted: safe to store and show.
    pub repo_url: String,
    /// The application's ref, as validated.
    pub git_ref: String,
    /// What was resolved: the requested revision if one was given, else `git_ref`.
    pub revision: String,
    /// The source path, normalized (`./deploy/` → `deploy`; the root is `.`).
    pub path: String,
    /// The full commit id the documents were read at.
    pub commit_sha: String,
    /// The commit's committer time.
    pub committed_at: DateTime<Utc>,
    /// [`RENDERED_PLAIN`] or [`RENDERED_KUSTOMIZE`], as stored with an analysis run.
    pub rendered_with: &'static str,
    /// `(origin, bytes)` pairs ready for `statesight_core::manifest::parse_manifests`. The
    /// origin is the repository-relative file path (`deploy/api-deployment.yaml`), or
    /// `kustomize:<source path>` for rendered output. Plain files come in byte order of
    /// their paths (hidden files and directories skipped); kustomize gives one entry.
    pub documents: Vec<(String, Vec<u8>)>,
}

impl DesiredState {
    /// Parses every document. A syntax error fails with [`GitError::InvalidManifest`]
    /// naming the file, the document and the commit; documents that parse but are not
    /// Kubernetes objects come back as `problems`, as for any other input.
    pub fn parse(&self) -> Result<ParsedManifests> {
        let mut all = ParsedManifests::default();
        for (origin, bytes) in &self.documents {
            let parsed =
                parse_manifests(origin, bytes).map_err(|error| GitError::InvalidManifest {
                    repo: self.repo_url.clone(),
                    commit: self.commit_sha.clone(),
                    detail: error.to_string(),
                })?;
            all.objects.extend(parsed.objects);
            all.problems.extend(parsed.problems);
        }
        Ok(all)
    }
}

/// Where the mirror of `repo_url` lives (or will live) under the cache. For operators and
/// tests; [`desired_state`] manages it.
pub fn mirror_dir(settings: &GitSettings, repo_url: &str) -> Result<PathBuf> {
    let url = validated_url(settings, repo_url)?;
    Ok(mirror::mirror_dir(&absolute_cache_dir(settings)?, &url))
}

/// Fetches `repo_url` into its mirror, resolves `requested_revision` (or else `git_ref`)
/// to a commit and reads the manifests under `path` at exactly that commit.
///
/// All four inputs are validated again with `statesight_core::source` before any command
/// runs. Branch names, tag names, full ref names, `HEAD` (the remote's default branch) and
/// full or abbreviated commit SHAs are accepted. A path holding `Chart.yaml` is refused; a
/// path holding a kustomization is rendered with `kubectl kustomize`; otherwise every
/// `.yaml`, `.yml` and `.json` file beneath it is read (hidden entries skipped).
pub async fn desired_state(
    settings: &GitSettings,
    repo_url: &str,
    git_ref: &str,
    requested_revision: Option<&str>,
    path: &str,
) -> Result<DesiredState> {
    let url = validated_url(settings, repo_url)?;
    let git_ref = source::git_ref("ref", git_ref)?;
    let revision = match requested_revision {
        Some(requested) => source::git_ref("revision", requested)?,
        None => git_ref.clone(),
    };
    let path = source::source_path(path)?;
    let cache_dir = absolute_cache_dir(settings)?;
    let shown = url::redact(&url);

    // A run pinned to a full commit id the mirror already holds (a watch-triggered
    // re-analysis of the revision the last one compared) reads it without fetching.
    let mut pinned = None;
    if let Some(commit) = requested_revision.filter(|r| mirror::is_object_id(r))
        && let Some(mirror) = mirror::open(settings, &cache_dir, &url).await?
        && resolve::has_commit(settings, &mirror, commit).await?
    {
        pinned = Some(mirror);
    }
    let mirror = match pinned {
        Some(mirror) => mirror,
        None => mirror::fetch(settings, &cache_dir, &url).await?,
    };
    let commit = resolve::commit_id(settings, &mirror, &url, &revision).await?;
    let committed_at = resolve::committed_at(settings, &mirror, &commit).await?;
    let entries = tree::list(settings, &mirror, &commit).await?;

    let (rendered_with, documents) = match classify(&entries, &path) {
        Layout::Missing => {
            return Err(GitError::MissingPath {
                repo: shown,
                path,
                commit,
            });
        }
        Layout::Empty => {
            return Err(GitError::NoManifests {
                repo: shown,
                path,
                commit,
            });
        }
        Layout::Helm => return Err(GitError::HelmNotSupported { path, commit }),
        Layout::Plain(files) => {
            let documents = read_files(settings, &mirror, &files, &shown, &commit).await?;
            (RENDERED_PLAIN, documents)
        }
        Layout::Kustomize => {
            let work = prepare_work_dir(&cache_dir).await?;
            let checkout = tempfile::Builder::new()
                .prefix("checkout-")
                .tempdir_in(&work)
                .map_err(|e| {
                    GitError::io(format!("creating a checkout in {}", work.display()), e)
                })?;
            tree::materialize(settings, &mirror, &entries, checkout.path()).await?;
            // The files are copied: other workers may fetch this repository while
            // kustomize runs.
            drop(mirror);
            let rendered = kustomize(settings, checkout.path(), &path, &commit).await?;
            (RENDERED_KUSTOMIZE, vec![rendered])
        }
    };

    tracing::info!(
        repo = %shown,
        revision = %revision,
        commit = %commit,
        path = %path,
        rendered_with,
        documents = documents.len(),
        "read desired state from git"
    );
    Ok(DesiredState {
        repo_url: shown,
        git_ref,
        revision,
        path,
        commit_sha: commit,
        committed_at,
        rendered_with,
        documents,
    })
}

/// The repository URL as `source::repo_url_with` accepts it, with the worker's policy:
/// `file://` only when the operator allows it; credentials embedded by a row that predates
/// their refusal at the API are still read (and redacted from every message).
fn validated_url(settings: &GitSettings, repo_url: &str) -> Result<String> {
    Ok(source::repo_url_with(
        repo_url,
        source::RepoUrlPolicy {
            allow_file: settings.allow_file_repositories,
            allow_embedded_credentials: true,
        },
    )?)
}

fn absolute_cache_dir(settings: &GitSettings) -> Result<PathBuf> {
    std::path::absolute(&settings.cache_dir).map_err(|e| {
        GitError::io(
            format!(
                "resolving the Git cache directory {} (GIT_CACHE_DIR)",
                settings.cache_dir.display()
            ),
            e,
        )
    })
}

/// What the source path is at the commit.
#[derive(Debug)]
enum Layout<'a> {
    Missing,
    /// The path exists but yields no manifest file.
    Empty,
    Helm,
    Kustomize,
    Plain(Vec<&'a Entry>),
}

/// Decides from the commit's file list alone. Helm is checked before kustomize, as Argo CD
/// does: a chart directory that also holds a kustomization is still a chart.
fn classify<'a>(entries: &'a [Entry], path: &str) -> Layout<'a> {
    if let Some(file) = entries
        .iter()
        .find(|entry| path != "." && entry.path == path)
    {
        return if file.is_regular_file() {
            Layout::Plain(vec![file])
        } else {
            Layout::Empty
        };
    }
    let prefix = if path == "." {
        String::new()
    } else {
        format!("{path}/")
    };
    let beneath: Vec<(&Entry, &str)> = entries
        .iter()
        .filter_map(|entry| Some((entry, entry.path.strip_prefix(&prefix)?)))
        .collect();
    if beneath.is_empty() && path != "." {
        return Layout::Missing;
    }
    let holds = |name: &str| {
        beneath
            .iter()
            .any(|(entry, relative)| *relative == name && entry.is_regular_file())
    };
    if holds("Chart.yaml") {
        return Layout::Helm;
    }
    if KUSTOMIZATION_FILES.iter().any(|name| holds(name)) {
        return Layout::Kustomize;
    }
    let mut files: Vec<&Entry> = beneath
        .into_iter()
        .filter(|(entry, relative)| {
            entry.is_regular_file()
                && !relative.split('/').any(|part| part.starts_with('.'))
                && [".yaml", ".yml", ".json"]
                    .iter()
                    .any(|extension| relative.ends_with(extension))
        })
        .map(|(entry, _)| entry)
        .collect();
    if files.is_empty() {
        return Layout::Empty;
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Layout::Plain(files)
}

async fn read_files(
    settings: &GitSettings,
    mirror: &mirror::Mirror,
    files: &[&Entry],
    shown: &str,
    commit: &str,
) -> Result<Vec<(String, Vec<u8>)>> {
    if let Some(large) = files
        .iter()
        .find(|file| file.size.is_none_or(|size| size > tree::MAX_FILE_BYTES))
    {
        return Err(GitError::InvalidManifest {
            repo: shown.to_owned(),
            commit: commit.to_owned(),
            detail: format!(
                "{}: larger than the {} MiB limit for one manifest file",
                large.path,
                tree::MAX_FILE_BYTES / (1024 * 1024)
            ),
        });
    }
    let mut documents = Vec::with_capacity(files.len());
    let object_ids = files.iter().map(|file| file.object_id.clone()).collect();
    let mut blobs = tree::BlobStream::start(settings, mirror, object_ids)?;
    while let Some((index, bytes)) = blobs.next().await? {
        if let Some(file) = files.get(index) {
            documents.push((file.path.clone(), bytes));
        }
    }
    Ok(documents)
}

/// `<cache>/work`, created if needed, with checkouts that crashed workers left behind
/// removed (best effort: a failure here must not fail the run).
async fn prepare_work_dir(cache_dir: &Path) -> Result<PathBuf> {
    let work = cache_dir.join("work");
    tokio::fs::create_dir_all(&work)
        .await
        .map_err(|e| GitError::io(format!("creating {}", work.display()), e))?;
    if let Ok(mut entries) = tokio::fs::read_dir(&work).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            let stale = entry
                .metadata()
                .await
                .and_then(|metadata| metadata.modified())
                .ok()
                .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                .is_some_and(|age| age > STALE_CHECKOUT_AGE);
            if stale {
                tracing::info!(path = %entry.path().display(), "removing a stale checkout");
                let _ = tokio::fs::remove_dir_all(entry.path()).await;
            }
        }
    }
    Ok(work)
}

/// Runs `kubectl kustomize` on the source path inside a private checkout.
async fn kustomize(
    settings: &GitSettings,
    checkout: &Path,
    path: &str,
    commit: &str,
) -> Result<(String, Vec<u8>)> {
    // Canonical, so the prefix kustomize prints in its messages is exactly this one.
    let root = tokio::fs::canonicalize(checkout)
        .await
        .map_err(|e| GitError::io(format!("resolving {}", checkout.display()), e))?;
    let directory = if path == "." {
        root.clone()
    } else {
        root.join(path)
    };
    let mut command = command::kubectl(settings);
    command
        .arg("kustomize")
        .arg("--")
        .arg(&directory)
        .current_dir(&root);
    let output = command::output(
        settings,
        Tool::Kubectl,
        command,
        &format!("kubectl kustomize {path}"),
        settings.command_timeout,
    )
    .await?;
    if !output.status.success() {
        let root_text = root.display().to_string();
        let detail = command::trimmed_stderr(&output.stderr)
            .replace(&format!("{root_text}/"), "")
            .replace(&root_text, ".");
        return Err(GitError::KustomizeFailed {
            path: path.to_owned(),
            commit: commit.to_owned(),
            detail,
        });
    }
    Ok((format!("kustomize:{path}"), output.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, mode: &str) -> Entry {
        Entry {
            mode: mode.to_owned(),
            object_id: String::from("0123456789012345678901234567890123456789"),
            size: Some(10),
            path: path.to_owned(),
        }
    }

    #[test]
    fn layouts_are_decided_from_the_file_list() {
        let entries = [
            entry(".github/workflows/ci.yml", "100644"),
            entry("README.md", "100644"),
            entry("charts/web/Chart.yaml", "100644"),
            entry("charts/web/kustomization.yaml", "100644"),
            entry("deploy/.hidden/x.yaml", "100644"),
            entry("deploy/b.yaml", "100644"),
            entry("deploy/a.json", "100755"),
            entry("deploy/link.yaml", "120000"),
            entry("deploy/sub/c.yml", "100644"),
            entry("deploy/notes.txt", "100644"),
            entry("docs/readme.md", "100644"),
            entry("overlay/kustomization.yml", "100644"),
        ];
        let paths = |layout: Layout<'_>| match layout {
            Layout::Plain(files) => files.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
            other => panic!("expected plain files, got {other:?}"),
        };
        assert_eq!(
            paths(classify(&entries, "deploy")),
            ["deploy/a.json", "deploy/b.yaml", "deploy/sub/c.yml"]
        );
        assert_eq!(
            paths(classify(&entries, "deploy/b.yaml")),
            ["deploy/b.yaml"]
        );
        assert!(matches!(classify(&entries, "charts/web"), Layout::Helm));
        assert!(matches!(classify(&entries, "overlay"), Layout::Kustomize));
        assert!(matches!(classify(&entries, "docs"), Layout::Empty));
        assert!(matches!(classify(&entries, "nope"), Layout::Missing));
        // `deploy` is a directory, `dep` only a prefix of its name.
        assert!(matches!(classify(&entries, "dep"), Layout::Missing));
        assert!(matches!(classify(&[], "."), Layout::Empty));
    }

    #[test]
    fn the_future_can_run_on_any_runtime_thread() {
        fn assert_send<T: Send>(_: &T) {}
        let settings = GitSettings::new(
            PathBuf::from("git"),
            PathBuf::from("/tmp"),
            PathBuf::from("kubectl"),
        );
        let future = desired_state(&settings, "https://example.com/r.git", "main", None, ".");
        assert_send(&future);
    }

    #[test]
    fn ssh_users_and_hosts_that_look_like_options_are_refused() {
        let settings = GitSettings::new(
            PathBuf::from("git"),
            PathBuf::from("/tmp"),
            PathBuf::from("kubectl"),
        );
        for bad in [
            "git@-oProxyCommand=x:repo",
            "ssh://-oProxyCommand=x@example.com/repo",
        ] {
            assert!(
                matches!(
                    validated_url(&settings, bad),
                    Err(GitError::InvalidSource(_))
                ),
                "{bad:?} accepted"
            );
        }
        assert!(validated_url(&settings, "git@github.com:acme/deploy.git").is_ok());
        assert!(validated_url(&settings, "https://example.com/a-b/-c.git").is_ok());
    }

    #[test]
    fn file_repositories_are_read_only_when_the_operator_allows_them() {
        let settings = GitSettings::new(
            PathBuf::from("git"),
            PathBuf::from("/tmp"),
            PathBuf::from("kubectl"),
        );
        let url = "file:///srv/repos/ledger.git";
        assert!(matches!(
            validated_url(&settings, url),
            Err(GitError::InvalidSource(_))
        ));
        assert!(validated_url(&settings.with_file_repositories(true), url).is_ok());
    }
}
