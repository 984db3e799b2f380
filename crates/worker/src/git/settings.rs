//! Where git and kubectl are, where the mirror cache lives and how long each step may take
//! (`GIT_BIN`, `GIT_CACHE_DIR`, `KUBECTL_BIN`; defaults in the README's configuration table).

use std::path::PathBuf;
use std::time::Duration;

/// Settings for reading desired state from Git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSettings {
    /// The git executable (`GIT_BIN`, default `git` from `PATH`).
    pub git_bin: PathBuf,
    /// Root of the mirror cache (`GIT_CACHE_DIR`). Holds `mirrors/` (one bare repository
    /// and one lock file per repository) and `work/` (private checkouts for kustomize,
    /// removed after each run). Several workers on one machine may share it.
    pub cache_dir: PathBuf,
    /// The kubectl executable used for `kubectl kustomize` (`KUBECTL_BIN`, default `kubectl`).
    pub kubectl_bin: PathBuf,
    /// Limit for each network operation: the fetch of a run, `ls-remote`.
    pub fetch_timeout: Duration,
    /// Limit for each local command: resolving, listing, reading objects, `kubectl kustomize`.
    pub command_timeout: Duration,
    /// Whether `file:///…` repositories may be read (`ALLOW_FILE_REPOSITORIES`, default
    /// false: a URL typed into the API must not make the worker read its own disk).
    pub allow_file_repositories: bool,
}

impl GitSettings {
    pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(120);
    pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

    /// Settings with the default timeouts.
    pub fn new(git_bin: PathBuf, cache_dir: PathBuf, kubectl_bin: PathBuf) -> Self {
        GitSettings {
            git_bin,
            cache_dir,
            kubectl_bin,
            fetch_timeout: Self::DEFAULT_FETCH_TIMEOUT,
            command_timeout: Self::DEFAULT_COMMAND_TIMEOUT,
            allow_file_repositories: false,
        }
    }

    /// The same settings, permitting `file:///…` repositories or not.
    pub fn with_file_repositories(mut self, allowed: bool) -> Self {
        self.allow_file_repositories = allowed;
        self
    }

    /// How long to wait for another worker holding the same mirror's lock. A holder runs at
    /// most two network commands (the fetch, and `ls-remote` or a fetch by commit id) and a
    /// few local ones before it releases the lock; this allows for about two such holders
    /// ahead in line (8 minutes with the default timeouts).
    pub fn lock_timeout(&self) -> Duration {
        self.fetch_timeout
            .saturating_mul(2)
            .saturating_add(self.command_timeout.saturating_mul(4))
    }

    /// Reads `GIT_BIN`, `GIT_CACHE_DIR`, `KUBECTL_BIN` (empty counts as unset) and
    /// `ALLOW_FILE_REPOSITORIES`, with [`default_cache_dir`] when the cache is not configured.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        let allow_file = var("ALLOW_FILE_REPOSITORIES")
            .is_some_and(|value| matches!(value.to_str(), Some("true" | "1" | "yes" | "on")));
        Self::new(
            var("GIT_BIN").map_or_else(|| PathBuf::from("git"), PathBuf::from),
            var("GIT_CACHE_DIR").map_or_else(default_cache_dir, PathBuf::from),
            var("KUBECTL_BIN").map_or_else(|| PathBuf::from("kubectl"), PathBuf::from),
        )
        .with_file_repositories(allow_file)
    }
}

/// `$XDG_CACHE_HOME/statesight/git`, else `$HOME/.cache/statesight/git`, else a directory
/// under the system's temporary directory.
pub fn default_cache_dir() -> PathBuf {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    if let Some(cache) = absolute("XDG_CACHE_HOME") {
        return cache.join("statesight/git");
    }
    if let Some(home) = absolute("HOME") {
        return home.join(".cache/statesight/git");
    }
    std::env::temp_dir().join("statesight-git-cache")
}
