//! The mirror cache: one bare repository per repository under `<cache>/mirrors/`, named
//! `<slug>-<hash>.git`, fetched on every run. Several worker processes may share the cache,
//! so each repository has a lock file beside its mirror (`<slug>-<hash>.lock`, an OS file
//! lock) held from the fetch until the commit's files have been read. A new mirror is built
//! in a temporary directory and renamed into place only after its first fetch succeeded, so
//! a crash leaves either no mirror or a complete one, never half of one.
//!
//! The URL is passed to git on the command line for every fetch and never written into the
//! mirror's configuration, so credentials typed into a URL are not stored on disk.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::command::{self, Tool};
use super::error::{GitError, Result};
use super::settings::GitSettings;
use super::url;

/// Where every branch and tag of the remote is kept: exactly as the remote has them, with
/// deleted ones pruned. Other refs (`refs/pull/*`, …) are not fetched; a requested commit
/// only reachable from them is fetched by id (see [`fetch_commit`]).
const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// A fetched mirror, locked for this run until dropped.
pub(crate) struct Mirror {
    pub(crate) git_dir: PathBuf,
    /// Dropping the file releases the OS lock.
    _lock: File,
}

/// The directory of the mirror of `url` under `cache_dir` (whether or not it exists yet).
pub(crate) fn mirror_dir(cache_dir: &Path, url: &str) -> PathBuf {
    cache_dir
        .join("mirrors")
        .join(format!("{}.git", url::cache_name(url)))
}

/// Locks the repository's mirror, creates it if needed and fetches every branch and tag.
pub(crate) async fn fetch(settings: &GitSettings, cache_dir: &Path, url: &str) -> Result<Mirror> {
    let shown = url::redact(url);
    let mirrors = cache_dir.join("mirrors");
    tokio::fs::create_dir_all(&mirrors)
        .await
        .map_err(|e| GitError::io(format!("creating the Git cache {}", mirrors.display()), e))?;
    let name = url::cache_name(url);
    let lock = lock(settings, &mirrors.join(format!("{name}.lock")), &shown).await?;
    remove_stale_temporaries(&mirrors, &name).await;

    let git_dir = mirrors.join(format!("{name}.git"));
    let exists = tokio::fs::try_exists(&git_dir)
        .await
        .map_err(|e| GitError::io(format!("reading {}", git_dir.display()), e))?;
    if exists {
        fetch_into(settings, &git_dir, url).await?;
        tracing::debug!(repo = %shown, mirror = %git_dir.display(), "fetched mirror");
    } else {
        let temporary = tempfile::Builder::new()
            .prefix(&format!("{name}.tmp-"))
            .tempdir_in(&mirrors)
            .map_err(|e| {
                GitError::io(format!("creating a directory in {}", mirrors.display()), e)
            })?;
        init(settings, temporary.path()).await?;
        // On failure the temporary directory is removed when `temporary` is dropped.
        fetch_into(settings, temporary.path(), url).await?;
        let built = temporary.keep();
        if let Err(error) = tokio::fs::rename(&built, &git_dir).await {
            let _ = tokio::fs::remove_dir_all(&built).await;
            return Err(GitError::io(
                format!("moving the new mirror into {}", git_dir.display()),
                error,
            ));
        }
        tracing::info!(repo = %shown, mirror = %git_dir.display(), "created mirror");
    }
    Ok(Mirror {
        git_dir,
        _lock: lock,
    })
}

/// Locks the mirror of `url` as it is, without fetching: for reading commits a run already
/// fetched (the history of a file, see `history.rs`). `None` when there is no mirror yet.
/// The lock is held, as for a fetch, so no other worker renames or builds the mirror while
/// it is read.
pub(crate) async fn open(
    settings: &GitSettings,
    cache_dir: &Path,
    url: &str,
) -> Result<Option<Mirror>> {
    let git_dir = mirror_dir(cache_dir, url);
    let exists = tokio::fs::try_exists(&git_dir)
        .await
        .map_err(|e| GitError::io(format!("reading {}", git_dir.display()), e))?;
    if !exists {
        return Ok(None);
    }
    let lock_file = cache_dir
        .join("mirrors")
        .join(format!("{}.lock", url::cache_name(url)));
    let lock = lock(settings, &lock_file, &url::redact(url)).await?;
    Ok(Some(Mirror {
        git_dir,
        _lock: lock,
    }))
}

/// Takes the repository's lock: at once when it is free, else by waiting on a blocking
/// thread for at most [`GitSettings::lock_timeout`]. If the wait times out, the blocked
/// thread releases the lock as soon as it gets it.
async fn lock(settings: &GitSettings, path: &Path, shown: &str) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| GitError::io(format!("opening the lock file {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => {
            return Err(GitError::io(format!("locking {}", path.display()), e));
        }
    }
    tracing::debug!(repo = %shown, "waiting for another worker's lock on the mirror");
    let waiting = tokio::task::spawn_blocking(move || file.lock().map(|()| file));
    match tokio::time::timeout(settings.lock_timeout(), waiting).await {
        Ok(Ok(Ok(file))) => Ok(file),
        Ok(Ok(Err(e))) => Err(GitError::io(format!("locking {}", path.display()), e)),
        Ok(Err(join_error)) => Err(GitError::io(
            format!("locking {}", path.display()),
            std::io::Error::other(join_error),
        )),
        Err(_elapsed) => Err(GitError::Timeout {
            what: format!("waiting for another worker's lock on the mirror of {shown}"),
            after: settings.lock_timeout(),
        }),
    }
}

/// Removes leftovers of mirror creations that crashed. Only called with the repository's
/// lock held, so no other process is building this mirror right now.
async fn remove_stale_temporaries(mirrors: &Path, name: &str) {
    let prefix = format!("{name}.tmp-");
    let Ok(mut entries) = tokio::fs::read_dir(mirrors).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            tracing::info!(path = %entry.path().display(), "removing a half-created mirror");
            if let Err(error) = tokio::fs::remove_dir_all(entry.path()).await {
                tracing::warn!(path = %entry.path().display(), %error, "cannot remove a half-created mirror");
            }
        }
    }
}

async fn init(settings: &GitSettings, git_dir: &Path) -> Result<()> {
    let mut command = command::git(settings, None);
    command
        .args(["init", "--bare", "--quiet", "--initial-branch=main", "--"])
        .arg(git_dir);
    let output = command::output(
        settings,
        Tool::Git,
        command,
        "git init",
        settings.command_timeout,
    )
    .await?;
    if !output.status.success() {
        return Err(GitError::Command {
            command: format!("git init --bare {}", git_dir.display()),
            detail: command::trimmed_stderr(&output.stderr),
        });
    }
    Ok(())
}

async fn fetch_into(settings: &GitSettings, git_dir: &Path, url: &str) -> Result<()> {
    let mut command = command::git(settings, Some(git_dir));
    command::allow_file_protocol(&mut command, url);
    command
        .args([
            "fetch",
            "--quiet",
            "--prune",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "--end-of-options",
            url,
        ])
        .args(REFSPECS);
    let shown = url::redact(url);
    let output = command::output(
        settings,
        Tool::Git,
        command,
        &format!("git fetch of {shown}"),
        settings.fetch_timeout,
    )
    .await?;
    if !output.status.success() {
        return Err(GitError::Unreachable {
            repo: shown,
            detail: url::redact_text(&command::trimmed_stderr(&output.stderr), url),
        });
    }
    Ok(())
}

/// Fetches one commit by its full id, for a requested revision that no branch or tag
/// reaches (a pull request's head, say). Servers refuse ids they do not hold or do not
/// allow; the caller then reports the revision as unknown, so the refusal is returned as
/// text rather than as an error.
pub(crate) async fn fetch_commit(
    settings: &GitSettings,
    mirror: &Mirror,
    url: &str,
    commit: &str,
) -> Result<Result<(), String>> {
    let mut command = command::git(settings, Some(&mirror.git_dir));
    command::allow_file_protocol(&mut command, url);
    command.args([
        "fetch",
        "--quiet",
        "--no-write-fetch-head",
        "--no-recurse-submodules",
        "--end-of-options",
        url,
        commit,
    ]);
    let output = command::output(
        settings,
        Tool::Git,
        command,
        &format!("git fetch of commit {commit} from {}", url::redact(url)),
        settings.fetch_timeout,
    )
    .await?;
    if output.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(url::redact_text(
            &command::trimmed_stderr(&output.stderr),
            url,
        )))
    }
}

/// The commit the remote's `HEAD` points at (its default branch), asked of the remote
/// itself: a mirror built with `init` + `fetch` does not know which branch that is.
pub(crate) async fn remote_head(
    settings: &GitSettings,
    mirror: &Mirror,
    url: &str,
) -> Result<Option<String>> {
    let mut command = command::git(settings, Some(&mirror.git_dir));
    command::allow_file_protocol(&mut command, url);
    command.args(["ls-remote", "--end-of-options", url, "HEAD"]);
    let shown = url::redact(url);
    let output = command::output(
        settings,
        Tool::Git,
        command,
        &format!("git ls-remote of {shown}"),
        settings.fetch_timeout,
    )
    .await?;
    if !output.status.success() {
        return Err(GitError::Unreachable {
            repo: shown,
            detail: url::redact_text(&command::trimmed_stderr(&output.stderr), url),
        });
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.lines().find_map(|line| {
        let (id, name) = line.split_once('\t')?;
        (name == "HEAD" && is_object_id(id)).then(|| id.to_owned())
    }))
}

/// A full object id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
pub(crate) fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
