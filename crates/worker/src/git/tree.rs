//! Reading one commit's files from the mirror without a work tree: `git ls-tree -r -z -l`
//! lists every file with its object id and size, `git cat-file --batch` streams the
//! contents. Nothing is checked out in the mirror, so concurrent runs at different commits
//! never see each other's files; kustomize gets a private copy written here.

use std::path::{Component, Path};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdout};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::command::{self, Tool};
use super::error::{GitError, Result};
use super::mirror::Mirror;
use super::settings::GitSettings;

/// Files larger than this are not read: no manifest is that big, and reading an arbitrary
/// blob into memory must stay bounded.
pub(crate) const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One file of a commit's tree.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Git's mode: `100644` file, `100755` executable, `120000` symbolic link, `160000`
    /// submodule.
    pub(crate) mode: String,
    pub(crate) object_id: String,
    /// `None` for submodules, which have no size here.
    pub(crate) size: Option<u64>,
    /// Repository-relative path with `/` separators.
    pub(crate) path: String,
}

impl Entry {
    /// A regular file (executable or not). Symbolic links are never followed: their target
    /// could name a file outside the repository.
    pub(crate) fn is_regular_file(&self) -> bool {
        matches!(self.mode.as_str(), "100644" | "100755" | "100664")
    }
}

/// Every file of `commit`'s tree, in git's order (byte order of paths).
pub(crate) async fn list(
    settings: &GitSettings,
    mirror: &Mirror,
    commit: &str,
) -> Result<Vec<Entry>> {
    let mut command = command::git(settings, Some(&mirror.git_dir));
    command.args(["ls-tree", "-r", "-z", "-l", "--full-tree", commit]);
    let output = command::output(
        settings,
        Tool::Git,
        command,
        &format!("git ls-tree of {commit}"),
        settings.command_timeout,
    )
    .await?;
    if !output.status.success() {
        return Err(GitError::Command {
            command: format!("git ls-tree {commit}"),
            detail: command::trimmed_stderr(&output.stderr),
        });
    }
    let mut entries = Vec::new();
    for record in output.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        match parse_entry(record) {
            Some(entry) => entries.push(entry),
            None => tracing::warn!(
                commit,
                record = %String::from_utf8_lossy(record),
                "skipping a tree entry that is not UTF-8 or not understood"
            ),
        }
    }
    Ok(entries)
}

/// Parses `<mode> SP <type> SP <object> SP+ <size> TAB <path>`.
fn parse_entry(record: &[u8]) -> Option<Entry> {
    let text = std::str::from_utf8(record).ok()?;
    let (meta, path) = text.split_once('\t')?;
    let mut fields = meta.split_ascii_whitespace();
    let mode = fields.next()?.to_owned();
    let _object_type = fields.next()?;
    let object_id = fields.next()?.to_owned();
    let size = fields.next()?.parse().ok();
    Some(Entry {
        mode,
        object_id,
        size,
        path: path.to_owned(),
    })
}

/// The contents of a list of blobs, streamed from one `git cat-file --batch` in the order
/// asked. The whole exchange shares one deadline; dropping the stream early kills git.
pub(crate) struct BlobStream {
    child: Child,
    pid: Option<u32>,
    reader: BufReader<ChildStdout>,
    count: usize,
    next_index: usize,
    deadline: Instant,
    limit: Duration,
    writer: JoinHandle<()>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    finished: bool,
}

impl BlobStream {
    pub(crate) fn start(
        settings: &GitSettings,
        mirror: &Mirror,
        object_ids: Vec<String>,
    ) -> Result<Self> {
        let mut command = command::git(settings, Some(&mirror.git_dir));
        command.args(["cat-file", "--batch"]).stdin(Stdio::piped());
        let mut child = command::spawn(settings, Tool::Git, &mut command)?;
        let pid = child.id();
        let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            command::kill_group(pid);
            return Err(GitError::Command {
                command: String::from("git cat-file --batch"),
                detail: String::from("its standard streams were not available"),
            });
        };
        let count = object_ids.len();
        // Requests are written by another task while answers are read, so neither side
        // can block the other on a full pipe.
        let writer = tokio::spawn(async move {
            for object_id in object_ids {
                if stdin
                    .write_all(format!("{object_id}\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
            // Dropping stdin tells cat-file there is nothing more to answer.
        });
        let stderr = tokio::spawn(async move {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text).await;
            text
        });
        Ok(BlobStream {
            child,
            pid,
            reader: BufReader::new(stdout),
            count,
            next_index: 0,
            deadline: Instant::now() + settings.command_timeout,
            limit: settings.command_timeout,
            writer,
            stderr: Some(stderr),
            finished: false,
        })
    }

    /// The next blob's index (in the list given to [`BlobStream::start`]) and content, or
    /// `None` once every blob was read and git exited cleanly.
    pub(crate) async fn next(&mut self) -> Result<Option<(usize, Vec<u8>)>> {
        if self.finished {
            return Ok(None);
        }
        if self.next_index == self.count {
            let status = match tokio::time::timeout_at(self.deadline, self.child.wait()).await {
                Ok(Ok(status)) => status,
                Ok(Err(error)) => return Err(self.fail(Some(error)).await),
                Err(_elapsed) => return Err(self.timed_out()),
            };
            // Reaped: its process group id may be reused from now on, so never signal it.
            self.pid = None;
            if !status.success() {
                return Err(self.fail(None).await);
            }
            self.finished = true;
            return Ok(None);
        }
        match tokio::time::timeout_at(self.deadline, read_one(&mut self.reader)).await {
            Ok(Ok(content)) => {
                self.next_index += 1;
                Ok(Some((self.next_index - 1, content)))
            }
            Ok(Err(ReadFailure::Answer(error))) => {
                self.stop();
                Err(error)
            }
            Ok(Err(ReadFailure::Stream(error))) => Err(self.fail(Some(error)).await),
            Err(_elapsed) => Err(self.timed_out()),
        }
    }

    fn stop(&mut self) {
        self.finished = true;
        command::kill_group(self.pid);
        self.writer.abort();
    }

    fn timed_out(&mut self) -> GitError {
        self.stop();
        GitError::Timeout {
            what: String::from("reading files with git cat-file"),
            after: self.limit,
        }
    }

    /// Stops git and explains the failure with its stderr (or the I/O error if it said
    /// nothing).
    async fn fail(&mut self, error: Option<std::io::Error>) -> GitError {
        self.stop();
        let stderr = match self.stderr.take() {
            Some(handle) => tokio::time::timeout(Duration::from_secs(1), handle)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let mut detail = command::trimmed_stderr(&stderr);
        if let Some(error) = error {
            detail = format!("{detail} ({error})");
        }
        GitError::Command {
            command: String::from("git cat-file --batch"),
            detail,
        }
    }
}

impl Drop for BlobStream {
    fn drop(&mut self) {
        if !self.finished {
            self.stop();
        }
    }
}

enum ReadFailure {
    /// Git answered something other than a blob within the limit.
    Answer(GitError),
    /// The pipe broke: git died, its stderr says why.
    Stream(std::io::Error),
}

/// Reads one `<object> blob <size>\n<content>\n` answer.
async fn read_one(
    reader: &mut BufReader<ChildStdout>,
) -> std::result::Result<Vec<u8>, ReadFailure> {
    let mut header = String::new();
    let read = reader
        .read_line(&mut header)
        .await
        .map_err(ReadFailure::Stream)?;
    if read == 0 {
        return Err(ReadFailure::Stream(
            std::io::ErrorKind::UnexpectedEof.into(),
        ));
    }
    let size = parse_batch_header(header.trim_end()).map_err(ReadFailure::Answer)?;
    let mut content = vec![0; size];
    reader
        .read_exact(&mut content)
        .await
        .map_err(ReadFailure::Stream)?;
    let mut newline = [0u8; 1];
    reader
        .read_exact(&mut newline)
        .await
        .map_err(ReadFailure::Stream)?;
    Ok(content)
}

/// `<object> blob <size>` → size; anything else (`<object> missing`, another type, a size
/// over the limit) is an error.
fn parse_batch_header(header: &str) -> Result<usize> {
    let unexpected = |why: &str| GitError::Command {
        command: String::from("git cat-file --batch"),
        detail: format!("{why}: {header:?}"),
    };
    let mut fields = header.split(' ');
    let (Some(_object), Some(object_type), Some(size)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(unexpected("unexpected answer"));
    };
    if object_type != "blob" {
        return Err(unexpected("expected a file"));
    }
    let size: u64 = size.parse().map_err(|_| unexpected("unexpected size"))?;
    if size > MAX_FILE_BYTES {
        return Err(unexpected("file larger than the limit"));
    }
    usize::try_from(size).map_err(|_| unexpected("unexpected size"))
}

/// Whether a repository path is safe to create under a private directory: only normal
/// components, none of them `.git`. Git refuses such trees itself, but a mirror does not
/// check what a hostile server sends.
pub(crate) fn is_safe_relative_path(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|component| match component {
                Component::Normal(name) => !name.eq_ignore_ascii_case(".git"),
                _ => false,
            })
}

/// Writes the regular files among `entries` under `root`, for `kubectl kustomize`.
/// Symbolic links, submodules, unsafe paths and files over [`MAX_FILE_BYTES`] are left out.
pub(crate) async fn materialize(
    settings: &GitSettings,
    mirror: &Mirror,
    entries: &[Entry],
    root: &Path,
) -> Result<()> {
    let wanted: Vec<&Entry> = entries
        .iter()
        .filter(|entry| {
            let keep = entry.is_regular_file()
                && is_safe_relative_path(&entry.path)
                && entry.size.is_some_and(|size| size <= MAX_FILE_BYTES);
            if !keep {
                tracing::debug!(path = %entry.path, mode = %entry.mode, "not copied for kustomize");
            }
            keep
        })
        .collect();
    let object_ids = wanted.iter().map(|entry| entry.object_id.clone()).collect();
    let mut blobs = BlobStream::start(settings, mirror, object_ids)?;
    while let Some((index, content)) = blobs.next().await? {
        let Some(entry) = wanted.get(index) else {
            continue;
        };
        let target = root.join(&entry.path);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| GitError::io(format!("creating {}", parent.display()), e))?;
        }
        tokio::fs::write(&target, content)
            .await
            .map_err(|e| GitError::io(format!("writing {}", target.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_entries_parse_with_sizes_and_submodules() {
        let entry = parse_entry(
            b"100644 blob 0123456789012345678901234567890123456789     512\tdeploy/a b.yaml",
        )
        .expect("a file entry");
        assert_eq!(entry.path, "deploy/a b.yaml");
        assert_eq!(entry.size, Some(512));
        assert!(entry.is_regular_file());
        let submodule = parse_entry(
            b"160000 commit 0123456789012345678901234567890123456789       -\tvendor/lib",
        )
        .expect("a submodule entry");
        assert_eq!(submodule.size, None);
        assert!(!submodule.is_regular_file());
        assert!(parse_entry(b"garbage").is_none());
    }

    #[test]
    fn unsafe_paths_are_not_materialized() {
        assert!(is_safe_relative_path("deploy/base/kustomization.yaml"));
        assert!(is_safe_relative_path(".env"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            ".git/config",
            "a/.GIT/hooks/x",
        ] {
            assert!(!is_safe_relative_path(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn batch_headers() {
        assert_eq!(parse_batch_header("abc blob 12").ok(), Some(12));
        assert!(parse_batch_header("abc missing").is_err());
        assert!(parse_batch_header("abc tree 12").is_err());
        assert!(parse_batch_header(&format!("abc blob {}", MAX_FILE_BYTES + 1)).is_err());
    }
}
