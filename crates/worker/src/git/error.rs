//! What can go wrong while reading desired state from Git, each variant phrased for the
//! operator who has to act on it, and which failures are worth retrying
//! ([`GitError::is_transient`]). Repository URLs in these errors are always redacted.

use std::path::PathBuf;
use std::time::Duration;

use statesight_core::source::Invalid;

/// Errors of [`crate::git::desired_state`]. Transient ones (the network, a slow server, the
/// local disk) may succeed on a retry; the others describe the source's configuration or
/// content and will fail again until someone changes it.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository URL, ref, revision or path was refused by validation before any
    /// command ran (a leading `-`, a remote-helper transport such as `ext::`, `..` in a
    /// path, a host starting with `-`).
    #[error("invalid source: {0}; fix the application's source settings")]
    InvalidSource(#[from] Invalid),

    /// `git fetch` (or `git ls-remote`) failed: host unknown or refusing connections,
    /// repository missing, authentication refused. `detail` is git's own message, trimmed,
    /// with credentials removed.
    #[error(
        "cannot fetch {repo}: {detail} (check the URL, the network and the worker's Git credentials: credential helper, SSH key, GIT_* variables)"
    )]
    Unreachable { repo: String, detail: String },

    /// The ref or requested revision names no branch, tag or commit of the repository
    /// after a fresh fetch (or an abbreviated SHA is ambiguous).
    #[error(
        "{revision:?} is not a branch, tag or commit of {repo}{detail} (check the ref or revision; abbreviated SHAs need at least 7 hex digits and must be unique)"
    )]
    UnknownRevision {
        repo: String,
        revision: String,
        /// Empty, or `": <git's explanation>"`.
        detail: String,
    },

    /// The source path does not exist in the tree of the resolved commit.
    #[error(
        "path {path:?} does not exist in {repo} at {commit} (the source path is relative to the repository root; check it against that commit)"
    )]
    MissingPath {
        repo: String,
        path: String,
        commit: String,
    },

    /// The source path exists but holds no `.yaml`, `.yml` or `.json` file (hidden
    /// directories are not read), so there is no desired state to compare.
    #[error(
        "path {path:?} in {repo} at {commit} holds no .yaml, .yml or .json manifests (point the source at the directory holding them)"
    )]
    NoManifests {
        repo: String,
        path: String,
        commit: String,
    },

    /// The source path is a Helm chart (it holds `Chart.yaml`).
    #[error(
        "Helm charts are not supported yet: {path} at {commit} holds Chart.yaml; render it to plain manifests in Git or point the source at a kustomize directory"
    )]
    HelmNotSupported { path: String, commit: String },

    /// `kubectl kustomize` rejected the kustomize directory at the source path. `detail`
    /// is its message with the private checkout directory removed, so paths read as
    /// repository paths.
    #[error("kubectl kustomize failed for {path} at {commit}: {detail}")]
    KustomizeFailed {
        path: String,
        commit: String,
        detail: String,
    },

    /// A manifest read from Git is not valid YAML or JSON. `detail` names the file (as a
    /// repository path, or `kustomize:<path>`) and the 1-based document.
    #[error("invalid manifest in {repo} at {commit}: {detail} (fix the file in Git)")]
    InvalidManifest {
        repo: String,
        commit: String,
        detail: String,
    },

    /// A git or kubectl command, or the wait for another worker's lock on the same mirror,
    /// took longer than its limit; the process (and its children) was killed.
    #[error(
        "{what} did not finish within {}s and was stopped (a slow or hanging server; it will be retried)",
        after.as_secs_f64()
    )]
    Timeout { what: String, after: Duration },

    /// The configured git or kubectl executable could not be started.
    #[error("cannot run {program:?}: {reason} (set {variable} to the {tool} executable)")]
    ToolNotFound {
        tool: &'static str,
        variable: &'static str,
        program: PathBuf,
        reason: String,
    },

    /// A local git command on the cache failed in a way no input explains (a damaged
    /// mirror, a stale lock file of git's own, an unexpected output).
    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },

    /// Reading or writing the cache directory or a private checkout failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl GitError {
    /// Whether retrying the same request later may succeed: the network, a slow command, a
    /// local disk or cache problem. Configuration and content errors are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            GitError::Unreachable { .. }
            | GitError::Timeout { .. }
            | GitError::Command { .. }
            | GitError::Io { .. } => true,
            GitError::InvalidSource(_)
            | GitError::UnknownRevision { .. }
            | GitError::MissingPath { .. }
            | GitError::NoManifests { .. }
            | GitError::HelmNotSupported { .. }
            | GitError::KustomizeFailed { .. }
            | GitError::InvalidManifest { .. }
            | GitError::ToolNotFound { .. } => false,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        GitError::Io {
            context: context.into(),
            source,
        }
    }
}

/// `Result` with [`GitError`].
pub type Result<T, E = GitError> = std::result::Result<T, E>;
