//! "Since when, in Git" for drifted fields (docs/drift-semantics.md#since-when-in-git): the
//! commit that last changed the desired value of a field in the file Git declares it in, as of
//! the analysed commit. The value comparison is `statesight_core::git_history`'s; this module
//! lists the file's commits and reads its versions from the mirror `desired_state` fetched.
//!
//! One `git log` lists, newest first and at most [`MAX_HISTORY_COMMITS`], the commits on the
//! first-parent line of the analysed commit that changed the file, each with the id of the
//! file's blob after it (`--raw`). Versions are then read with one `git cat-file --batch`, only
//! as far back as some field's run of equal values still goes. Both the list and the blobs are
//! kept in a [`HistoryCache`], so asking again about the same commit runs no git command.
//!
//! Nothing here fetches: commits are read by id from the mirror as it is, under the mirror's
//! lock. Strings from Git (names, e-mails, subjects) are untrusted data: they are returned as
//! they are (subjects shortened) and must be escaped by whoever displays them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use statesight_core::git_history::{
    Lookup, first_commit_of_current_value_at, same_declaration, value_in,
};
use statesight_core::manifest::parse_manifests;
use statesight_core::source::Invalid;
use statesight_core::{DriftPath, ResourceId};

use super::command::{self, Tool};
use super::error::{GitError, Result};
use super::mirror::{self, Mirror};
use super::settings::GitSettings;
use super::tree::{self, BlobStream};
use super::{absolute_cache_dir, validated_url};

/// How many commits touching one file are examined at most. A value unchanged across all of
/// them is reported as not determined rather than read further: 500 versions of a manifest is
/// years of history for most applications, and each is a blob to read and parse.
pub const MAX_HISTORY_COMMITS: usize = 500;

/// Subjects are cut to this many characters: enough to recognise a commit, bounded for storage.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// The reason given for every field of rendered (kustomize) output.
pub const KUSTOMIZE_REASON: &str =
    "the desired state is rendered by kustomize: the value cannot be traced to one file honestly";

/// A commit that changed a file, as Git records it. Names, e-mails and subjects are whatever
/// the commit says (not mapped through `.mailmap`), untrusted text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitChange {
    /// The full commit id.
    pub commit: String,
    pub author_name: String,
    pub author_email: String,
    /// The author time (when the change was written, not when it was committed or merged).
    pub authored_at: DateTime<Utc>,
    /// The subject line, at most [`MAX_SUBJECT_CHARS`] characters (`…` marks a cut).
    pub subject: String,
}

/// The answer for one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// The commit that set the field's current desired value (or removed it from Git).
    Changed(GitChange),
    /// Why no commit can be named, in plain English.
    NotDetermined(String),
}

/// One drifted field: the object as the analysis identified it, and the finding's path (the
/// typed path, and its text for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldQuery {
    pub resource: ResourceId,
    pub path: DriftPath,
    pub path_text: String,
}

/// For each field (same order), the commit on the first-parent line of `commit` that last
/// changed its desired value in `file`, a repository-relative path as in
/// `DesiredState::documents` (the finding's origin file).
///
/// `commit` must be a full commit id already fetched into the mirror of `repo_url` (by
/// `desired_state`): nothing is fetched here. Origins of rendered output (`kustomize:…`)
/// are not traced. Errors are the mirror's or git's (a damaged mirror, a timeout); everything
/// about the file and its content is an answer ([`Since::NotDetermined`] with the reason).
pub async fn since_when(
    settings: &GitSettings,
    repo_url: &str,
    commit: &str,
    file: &str,
    default_namespace: &str,
    fields: &[FieldQuery],
    cache: &HistoryCache,
) -> Result<Vec<Since>> {
    let all = |reason: String| -> Vec<Since> {
        fields
            .iter()
            .map(|_| Since::NotDetermined(reason.clone()))
            .collect()
    };
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    if file.starts_with("kustomize:") {
        return Ok(all(String::from(KUSTOMIZE_REASON)));
    }
    let url = validated_url(settings, repo_url)?;
    if !mirror::is_object_id(commit) {
        return Err(GitError::InvalidSource(Invalid {
            field: "commit",
            message: String::from("must be a full commit id (40 or 64 lower-case hex digits)"),
        }));
    }
    // The same rule as files written for kustomize: only plain relative components. The path
    // goes to git after `--` with literal pathspecs, so this is about honest answers (a file
    // named `../x` cannot be in the repository), not about injection.
    if !tree::is_safe_relative_path(file) {
        return Ok(all(format!(
            "{file:?} is not a plain path inside the repository"
        )));
    }
    let cache_dir = absolute_cache_dir(settings)?;
    let mut reader = Reader {
        settings,
        mirror_dir: mirror::mirror_dir(&cache_dir, &url),
        cache_dir,
        url,
        mirror: None,
        cache,
    };

    let Some(log) = reader.log(commit, file).await? else {
        return Ok(all(String::from(
            "the repository has not been fetched into the cache: read its desired state first",
        )));
    };
    let Some(newest) = log.entries.first() else {
        return Ok(all(format!(
            "no commit up to {commit} touches {file}: it is not in the history"
        )));
    };
    if newest.blob.is_none() {
        return Ok(all(format!("{file} does not exist at {commit}")));
    }

    // Newest first, one list per field; a field is done once its run of equal values ended.
    let mut versions: Vec<Vec<Lookup>> = fields.iter().map(|_| Vec::new()).collect();
    let mut active: Vec<bool> = vec![true; fields.len()];
    let mut blobs = BlobSource::new(&log);
    for entry in &log.entries {
        if !active.contains(&true) {
            break;
        }
        let parsed = match &entry.blob {
            None => None,
            Some(blob) => {
                let bytes = reader.blob(&mut blobs, blob).await?;
                Some(parse_manifests(file, &bytes).map_err(|error| error.to_string()))
            }
        };
        for (index, field) in fields.iter().enumerate() {
            if !active.get(index).copied().unwrap_or(false) {
                continue;
            }
            let lookup = match &parsed {
                None => Lookup::NoObject,
                Some(Ok(parsed)) => value_in(
                    &parsed.objects,
                    &field.resource,
                    &field.path,
                    default_namespace,
                ),
                Some(Err(reason)) => Lookup::Unparseable(reason.clone()),
            };
            let Some(list) = versions.get_mut(index) else {
                continue;
            };
            let ended = match list.first() {
                None => !matches!(lookup, Lookup::Value(_) | Lookup::Absent),
                Some(first) => !same_declaration(first, &lookup, &field.path),
            };
            list.push(lookup);
            if ended && let Some(flag) = active.get_mut(index) {
                *flag = false;
            }
        }
    }
    drop(blobs);

    let answers = fields
        .iter()
        .zip(&versions)
        .zip(&active)
        .map(|((field, lookups), still_running)| {
            answer(field, lookups, *still_running, &log, commit, file)
        })
        .collect();
    Ok(answers)
}

/// Turns one field's versions into its answer. `still_running`: its run reached the oldest
/// commit listed.
fn answer(
    field: &FieldQuery,
    lookups: &[Lookup],
    still_running: bool,
    log: &FileLog,
    commit: &str,
    file: &str,
) -> Since {
    match lookups.first() {
        None => {
            return Since::NotDetermined(format!("{file} has no readable version at {commit}"));
        }
        Some(Lookup::NoObject) => {
            return Since::NotDetermined(format!(
                "{} is not declared in {file} at {commit}",
                field.resource.short_label()
            ));
        }
        Some(Lookup::Unparseable(reason)) => {
            return Since::NotDetermined(format!(
                "{} cannot be read in {file} at {commit}: {reason}",
                describe(field)
            ));
        }
        Some(Lookup::Value(_) | Lookup::Absent) => {}
    }
    if still_running && log.truncated {
        return Since::NotDetermined(format!(
            "more than {MAX_HISTORY_COMMITS} commits touch {file} and {} is the same in the {MAX_HISTORY_COMMITS} most recent",
            describe(field)
        ));
    }
    match first_commit_of_current_value_at(lookups, &field.path)
        .and_then(|index| log.entries.get(index))
    {
        Some(entry) => Since::Changed(entry.change.clone()),
        None => Since::NotDetermined(format!(
            "no commit of {file} could be named for {}",
            describe(field)
        )),
    }
}

fn describe(field: &FieldQuery) -> String {
    if field.path_text.is_empty() {
        field.resource.short_label()
    } else {
        format!("{} of {}", field.path_text, field.resource.short_label())
    }
}

/// The commits that changed a file, newest first.
#[derive(Debug)]
struct FileLog {
    entries: Vec<LogEntry>,
    /// More than [`MAX_HISTORY_COMMITS`] commits touch the file; `entries` holds the newest.
    truncated: bool,
}

#[derive(Debug)]
struct LogEntry {
    change: GitChange,
    /// The file's blob after the commit; `None` when the commit deleted it.
    blob: Option<String>,
}

impl FileLog {
    /// What the cache charges for it: its text plus a little for the structure.
    fn weight(&self) -> usize {
        self.entries
            .iter()
            .map(|entry| {
                let change = &entry.change;
                96 + change.commit.len()
                    + change.author_name.len()
                    + change.author_email.len()
                    + change.subject.len()
                    + entry.blob.as_ref().map_or(0, String::len)
            })
            .sum()
    }
}

/// Reads through the cache, opening (and locking) the mirror only on the first miss.
struct Reader<'a> {
    settings: &'a GitSettings,
    cache_dir: PathBuf,
    mirror_dir: PathBuf,
    url: String,
    mirror: Option<Mirror>,
    cache: &'a HistoryCache,
}

impl Reader<'_> {
    async fn mirror(&mut self) -> Result<Option<&Mirror>> {
        if self.mirror.is_none() {
            self.mirror = mirror::open(self.settings, &self.cache_dir, &self.url).await?;
        }
        Ok(self.mirror.as_ref())
    }

    /// The file's log up to `commit`, or `None` when there is no mirror.
    async fn log(&mut self, commit: &str, file: &str) -> Result<Option<Arc<FileLog>>> {
        let key = Key::Log {
            mirror: self.mirror_dir.clone(),
            file: file.to_owned(),
            commit: commit.to_owned(),
        };
        if let Some(Cached::Log(log)) = self.cache.get(&key) {
            return Ok(Some(log));
        }
        let settings = self.settings;
        let Some(mirror) = self.mirror().await? else {
            return Ok(None);
        };
        let log = Arc::new(read_log(settings, mirror, commit, file).await?);
        let weight = log.weight();
        self.cache.put(key, Cached::Log(Arc::clone(&log)), weight);
        Ok(Some(log))
    }

    /// One blob's content, from the cache or else from `source` (started on first use).
    async fn blob(&mut self, source: &mut BlobSource, blob: &str) -> Result<Arc<[u8]>> {
        let key = Key::Blob {
            mirror: self.mirror_dir.clone(),
            blob: blob.to_owned(),
        };
        if let Some(Cached::Blob(bytes)) = self.cache.get(&key) {
            return Ok(bytes);
        }
        if source.stream.is_none() {
            // Every blob of the log not cached yet, in the order the walk will want them: the
            // stream is dropped (and git stopped) as soon as the walk ends.
            let wanted: Vec<String> = source
                .order
                .iter()
                .filter(|id| {
                    self.cache
                        .get(&Key::Blob {
                            mirror: self.mirror_dir.clone(),
                            blob: (*id).clone(),
                        })
                        .is_none()
                })
                .cloned()
                .collect();
            source.pending = wanted.clone();
            let settings = self.settings;
            let Some(mirror) = self.mirror().await? else {
                return Err(missing_mirror(&self.mirror_dir));
            };
            source.stream = Some(BlobStream::start(settings, mirror, wanted)?);
        }
        let Some(stream) = source.stream.as_mut() else {
            return Err(missing_mirror(&self.mirror_dir));
        };
        while let Some((index, bytes)) = stream.next().await? {
            let Some(id) = source.pending.get(index) else {
                continue;
            };
            let bytes: Arc<[u8]> = Arc::from(bytes);
            self.cache.put(
                Key::Blob {
                    mirror: self.mirror_dir.clone(),
                    blob: id.clone(),
                },
                Cached::Blob(Arc::clone(&bytes)),
                bytes.len(),
            );
            if id == blob {
                return Ok(bytes);
            }
        }
        Err(GitError::Command {
            command: String::from("git cat-file --batch"),
            detail: format!("blob {blob} was not returned"),
        })
    }
}

fn missing_mirror(mirror_dir: &std::path::Path) -> GitError {
    GitError::Command {
        command: String::from("reading the history of a file"),
        detail: format!("the mirror {} disappeared", mirror_dir.display()),
    }
}

/// The blobs of a log in walk order (each once) and the stream reading those not cached.
struct BlobSource {
    order: Vec<String>,
    pending: Vec<String>,
    stream: Option<BlobStream>,
}

impl BlobSource {
    fn new(log: &FileLog) -> Self {
        let mut order: Vec<String> = Vec::new();
        for blob in log.entries.iter().filter_map(|entry| entry.blob.as_ref()) {
            if !order.contains(blob) {
                order.push(blob.clone());
            }
        }
        BlobSource {
            order,
            pending: Vec::new(),
            stream: None,
        }
    }
}

/// `git log` of `file` on the first-parent line of `commit`, with the blob after each commit.
///
/// Every option that user or system configuration could change is given explicitly:
/// `--first-parent` (a value brought in by a merge is attributed to the merge, never to a
/// commit of a side branch listed in date order among the main line's), no rename following
/// (`log.follow`), no rename pairing in the raw diff, no `.mailmap`, no signature output, the
/// root commit's diff shown. Pathspecs are literal, so `*` or `:` in a file name is not magic.
async fn read_log(
    settings: &GitSettings,
    mirror: &Mirror,
    commit: &str,
    file: &str,
) -> Result<FileLog> {
    let mut command = command::git(settings, Some(&mirror.git_dir));
    command.args([
        "--literal-pathspecs",
        "log",
        "--first-parent",
        "--diff-merges=first-parent",
        "--no-follow",
        "--no-renames",
        "--no-use-mailmap",
        "--no-show-signature",
        "--root",
        "--raw",
        "--no-abbrev",
        "-z",
        "--format=%H%x00%an%x00%ae%x00%at%x00%s",
    ]);
    command.arg(format!("--max-count={}", MAX_HISTORY_COMMITS + 1));
    command.args(["--end-of-options", commit, "--", file]);
    let output = command::output(
        settings,
        Tool::Git,
        command,
        &format!("git log of {file} at {commit}"),
        settings.command_timeout,
    )
    .await?;
    if !output.status.success() {
        return Err(GitError::Command {
            command: format!("git log {commit} -- {file}"),
            detail: command::trimmed_stderr(&output.stderr),
        });
    }
    let mut entries = parse_log(&output.stdout).map_err(|detail| GitError::Command {
        command: format!("git log {commit} -- {file}"),
        detail,
    })?;
    let truncated = entries.len() > MAX_HISTORY_COMMITS;
    entries.truncate(MAX_HISTORY_COMMITS);
    tracing::debug!(
        file,
        commit,
        commits = entries.len(),
        truncated,
        "listed the commits of a file"
    );
    Ok(FileLog { entries, truncated })
}

/// Parses `-z` output of the format above with `--raw`: per commit the five fields, then
/// `\n:<old mode> <new mode> <old blob> <new blob> <status>` and the path, all separated by NUL.
fn parse_log(stdout: &[u8]) -> std::result::Result<Vec<LogEntry>, String> {
    let mut tokens = stdout.split(|&byte| byte == 0).peekable();
    let mut entries = Vec::new();
    while let Some(first) = tokens.next() {
        let id = String::from_utf8_lossy(first.trim_ascii()).into_owned();
        if id.is_empty() {
            continue;
        }
        if !mirror::is_object_id(&id) {
            return Err(format!(
                "unexpected output where a commit id belongs: {id:?}"
            ));
        }
        let mut field = |name: &str| {
            tokens
                .next()
                .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
                .ok_or_else(|| format!("the {name} of commit {id} is missing"))
        };
        let author_name = field("author name")?;
        let author_email = field("author e-mail")?;
        let seconds = field("author time")?;
        let subject = field("subject")?;
        let authored_at = seconds
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .ok_or_else(|| format!("unreadable author time {seconds:?} of commit {id}"))?;
        let raw = match tokens.peek() {
            Some(raw) if raw.trim_ascii_start().starts_with(b":") => {
                let raw = String::from_utf8_lossy(raw.trim_ascii()).into_owned();
                tokens.next();
                // The path that follows: the one asked for.
                tokens.next();
                raw
            }
            _ => return Err(format!("commit {id} lists no change of the file")),
        };
        let blob = blob_after(&raw).ok_or_else(|| format!("unexpected raw diff line {raw:?}"))?;
        entries.push(LogEntry {
            change: GitChange {
                commit: id,
                author_name,
                author_email,
                authored_at,
                subject: shorten(&subject),
            },
            blob,
        });
    }
    Ok(entries)
}

/// The blob after the change of `:<old mode> <new mode> <old blob> <new blob> <status>`:
/// `Some(None)` for a deletion.
fn blob_after(raw: &str) -> Option<Option<String>> {
    let mut fields = raw.strip_prefix(':')?.split(' ');
    let (_old_mode, _new_mode, _old_blob) = (fields.next()?, fields.next()?, fields.next()?);
    let new_blob = fields.next()?;
    let status = fields.next()?;
    if !mirror::is_object_id(new_blob) {
        return None;
    }
    if status.starts_with('D') || new_blob.bytes().all(|byte| byte == b'0') {
        return Some(None);
    }
    Some(Some(new_blob.to_owned()))
}

fn shorten(subject: &str) -> String {
    match subject.char_indices().nth(MAX_SUBJECT_CHARS) {
        Some((cut, _)) => {
            let mut short: String = subject[..cut].trim_end().to_owned();
            short.push('…');
            short
        }
        None => subject.to_owned(),
    }
}

/// What the cache holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A file's log up to a commit: fixed forever, since a commit's history never changes.
    Log {
        mirror: PathBuf,
        file: String,
        commit: String,
    },
    /// A blob's content. Keyed by the blob id, which names the content itself: the bytes of
    /// `(file, commit)` are the blob the log names, and a version two commits share is kept
    /// once.
    Blob { mirror: PathBuf, blob: String },
}

#[derive(Debug, Clone)]
enum Cached {
    Log(Arc<FileLog>),
    Blob(Arc<[u8]>),
}

/// An in-memory cache of file logs and file versions read by [`since_when`], shared by every
/// job of a worker process (clone it: clones share the content). Bounded by the bytes it holds
/// (blob sizes, and the text of log entries): [`HistoryCache::DEFAULT_MAX_BYTES`] unless
/// built with [`HistoryCache::with_max_bytes`]; the least recently used entries are dropped
/// first, and an entry larger than the whole bound is not kept. Everything it holds is
/// immutable in Git (a commit's history, a blob's content), so nothing ever goes stale.
#[derive(Debug, Clone)]
pub struct HistoryCache {
    inner: Arc<Mutex<CacheInner>>,
}

/// Counters of a [`HistoryCache`], for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistoryCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
    pub bytes: usize,
}

#[derive(Debug)]
struct CacheInner {
    entries: HashMap<Key, (Cached, usize, u64)>,
    bytes: usize,
    max_bytes: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

impl Default for HistoryCache {
    fn default() -> Self {
        Self::new()
    }
}

impl HistoryCache {
    /// 64 MiB: a few hundred versions of typical manifest files, across repositories.
    pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

    pub fn new() -> Self {
        Self::with_max_bytes(Self::DEFAULT_MAX_BYTES)
    }

    pub fn with_max_bytes(max_bytes: usize) -> Self {
        HistoryCache {
            inner: Arc::new(Mutex::new(CacheInner {
                entries: HashMap::new(),
                bytes: 0,
                max_bytes,
                clock: 0,
                hits: 0,
                misses: 0,
            })),
        }
    }

    pub fn stats(&self) -> HistoryCacheStats {
        let inner = self.lock();
        HistoryCacheStats {
            hits: inner.hits,
            misses: inner.misses,
            entries: inner.entries.len(),
            bytes: inner.bytes,
        }
    }

    /// The lock is never held across an await; a panic while holding it cannot leave the
    /// map inconsistent (each change is one insert or remove), so a poisoned lock is used.
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, key: &Key) -> Option<Cached> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let found = inner.entries.get_mut(key).map(|(value, _, used)| {
            *used = now;
            value.clone()
        });
        if found.is_some() {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        found
    }

    fn put(&self, key: Key, value: Cached, weight: usize) {
        let mut inner = self.lock();
        if weight > inner.max_bytes {
            return;
        }
        inner.clock += 1;
        let now = inner.clock;
        if let Some((_, old, _)) = inner.entries.insert(key, (value, weight, now)) {
            inner.bytes = inner.bytes.saturating_sub(old);
        }
        inner.bytes += weight;
        // Linear eviction: the map holds at most a few thousand entries, and this runs only
        // on inserts, each of which already cost a git read.
        while inner.bytes > inner.max_bytes {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some((_, size, _)) = inner.entries.remove(&oldest) {
                inner.bytes = inner.bytes.saturating_sub(size);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const ZERO: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn log_output_parses_with_deletions_and_hostile_subjects() {
        let mut out = Vec::new();
        out.extend_from_slice(
            format!("{A}\0Eve\0eve@example.com\x001790000000\0\x1b[31mred\0\n:100644 000000 {B} {ZERO} D\0deploy/a.yaml\0")
                .as_bytes(),
        );
        out.extend_from_slice(
            format!("{B}\0Bob\0bob@example.com\x001780000000\0add\0\n:000000 100644 {ZERO} {A} A\0deploy/a.yaml\0")
                .as_bytes(),
        );
        let entries = parse_log(&out).expect("parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].blob, None);
        assert_eq!(entries[0].change.subject, "\x1b[31mred");
        assert_eq!(entries[1].blob.as_deref(), Some(A));
        assert_eq!(entries[1].change.author_email, "bob@example.com");
        assert_eq!(
            entries[1].change.authored_at.to_rfc3339(),
            "2026-05-28T20:26:40+00:00"
        );
        assert!(parse_log(b"not-a-commit\0x\0").is_err());
        assert!(parse_log(format!("{A}\0n\0e\0soon\0s\0").as_bytes()).is_err());
        assert!(parse_log(format!("{A}\0n\0e\x001\0s\0").as_bytes()).is_err());
        assert!(parse_log(b"").is_ok_and(|entries| entries.is_empty()));
    }

    #[test]
    fn subjects_are_cut_on_characters() {
        let long = "é".repeat(MAX_SUBJECT_CHARS + 5);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), MAX_SUBJECT_CHARS + 1);
        assert!(short.ends_with('…'));
        assert_eq!(shorten("fix"), "fix");
    }

    #[test]
    fn the_cache_keeps_within_its_bound_dropping_the_least_recently_used() {
        let cache = HistoryCache::with_max_bytes(10);
        let key = |blob: &str| Key::Blob {
            mirror: PathBuf::from("/m"),
            blob: blob.to_owned(),
        };
        let bytes = |n: usize| Cached::Blob(Arc::from(vec![0u8; n]));
        cache.put(key("a"), bytes(4), 4);
        cache.put(key("b"), bytes(4), 4);
        assert!(cache.get(&key("a")).is_some());
        cache.put(key("c"), bytes(4), 4);
        assert!(
            cache.get(&key("b")).is_none(),
            "b was the least recently used"
        );
        assert!(cache.get(&key("a")).is_some());
        assert!(cache.get(&key("c")).is_some());
        cache.put(key("huge"), bytes(11), 11);
        assert!(cache.get(&key("huge")).is_none());
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes), (2, 8));
        assert_eq!((stats.hits, stats.misses), (3, 2));
    }

    #[test]
    fn the_future_can_run_on_any_runtime_thread() {
        fn assert_send<T: Send>(_: &T) {}
        let settings = GitSettings::new(
            PathBuf::from("git"),
            PathBuf::from("/tmp"),
            PathBuf::from("kubectl"),
        );
        let cache = HistoryCache::new();
        let future = since_when(
            &settings,
            "https://example.com/r.git",
            A,
            "a.yaml",
            "default",
            &[],
            &cache,
        );
        assert_send(&future);
    }
}
