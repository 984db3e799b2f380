//! Turning what the operator typed (a branch, tag, full ref name, `HEAD` or a full or
//! abbreviated commit SHA) into the full commit id that is analysed and recorded, and reading
//! that commit's committer time. Resolution happens in the freshly fetched mirror with `git
//! rev-parse --verify --end-of-options <revision>^{commit}`, which peels annotated tags and
//! never reads the revision as an option or a path.

use chrono::{DateTime, Utc};

use super::command::{self, Tool};
use super::error::{GitError, Result};
use super::mirror::{self, Mirror};
use super::settings::GitSettings;
use super::url;

/// Resolves `revision` (already validated) to a full commit id.
pub(crate) async fn commit_id(
    settings: &GitSettings,
    mirror: &Mirror,
    url: &str,
    revision: &str,
) -> Result<String> {
    let unknown = |detail: String| GitError::UnknownRevision {
        repo: url::redact(url),
        revision: revision.to_owned(),
        detail,
    };
    // The mirror's own HEAD is not the remote's: ask the remote which commit its default
    // branch is at. That branch was just fetched, so the commit is in the mirror.
    let target = if revision == "HEAD" {
        mirror::remote_head(settings, mirror, url)
            .await?
            .ok_or_else(|| unknown(String::from(": the repository has no default branch")))?
    } else {
        revision.to_owned()
    };
    match rev_parse(settings, mirror, &target).await? {
        Ok(commit) => return Ok(commit),
        Err(reason) if !mirror::is_object_id(&target) => return Err(unknown(reason)),
        Err(_) => {}
    }
    // A full id that no branch or tag reaches: fetch it by id if the server allows it.
    match mirror::fetch_commit(settings, mirror, url, &target).await? {
        Ok(()) => rev_parse(settings, mirror, &target).await?.map_err(unknown),
        Err(refusal) => Err(unknown(format!(
            ": no branch or tag reaches it and fetching it by id failed ({refusal})"
        ))),
    }
}

/// Whether the mirror already holds `commit` (a full object id): a run pinned to it then
/// needs no fetch, since a commit's content never changes.
pub(crate) async fn has_commit(
    settings: &GitSettings,
    mirror: &Mirror,
    commit: &str,
) -> Result<bool> {
    if !mirror::is_object_id(commit) {
        return Ok(false);
    }
    Ok(matches!(rev_parse(settings, mirror, commit).await?, Ok(found) if found == commit))
}

/// `Ok(Ok(id))` when the revision names a commit, `Ok(Err(": reason"))` when it does not.
async fn rev_parse(
    settings: &GitSettings,
    mirror: &Mirror,
    revision: &str,
) -> Result<std::result::Result<String, String>> {
    let mut command = command::git(settings, Some(&mirror.git_dir));
    command.args(["rev-parse", "--verify", "--quiet", "--end-of-options"]);
    command.arg(format!("{revision}^{{commit}}"));
    let output = command::output(
        settings,
        Tool::Git,
        command,
        &format!("git rev-parse of {revision}"),
        settings.command_timeout,
    )
    .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let reason = stderr
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with("hint:"))
            .map(|line| format!(": {}", line.trim_start_matches("error: ")))
            .unwrap_or_default();
        return Ok(Err(reason));
    }
    if !stderr.trim().is_empty() {
        // For example "refname 'v1' is ambiguous": git picked one, the operator should know.
        tracing::warn!(revision, message = %stderr.trim(), "git warned while resolving a revision");
    }
    let commit = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !mirror::is_object_id(&commit) {
        return Err(GitError::Command {
            command: format!("git rev-parse {revision}"),
            detail: format!("unexpected output {commit:?}"),
        });
    }
    Ok(Ok(commit))
}

/// The committer time of `commit`, read from the raw commit object so no formatting
/// configuration (`log.showSignature`, …) can change the output.
pub(crate) async fn committed_at(
    settings: &GitSettings,
    mirror: &Mirror,
    commit: &str,
) -> Result<DateTime<Utc>> {
    let mut command = command::git(settings, Some(&mirror.git_dir));
    command.args(["cat-file", "commit", commit]);
    let output = command::output(
        settings,
        Tool::Git,
        command,
        &format!("git cat-file of commit {commit}"),
        settings.command_timeout,
    )
    .await?;
    let failed = |detail: String| GitError::Command {
        command: format!("git cat-file commit {commit}"),
        detail,
    };
    if !output.status.success() {
        return Err(failed(command::trimmed_stderr(&output.stderr)));
    }
    committer_time(&output.stdout).ok_or_else(|| failed(String::from("no readable committer line")))
}

/// Finds `committer <name> <<email>> <seconds> <zone>` among the commit's headers.
fn committer_time(raw_commit: &[u8]) -> Option<DateTime<Utc>> {
    let text = String::from_utf8_lossy(raw_commit);
    let line = text
        .lines()
        .take_while(|line| !line.is_empty())
        .find_map(|line| line.strip_prefix("committer "))?;
    let mut fields = line.rsplitn(3, ' ');
    let _zone = fields.next()?;
    let seconds: i64 = fields.next()?.parse().ok()?;
    DateTime::from_timestamp(seconds, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committer_time_is_read_from_the_raw_commit() {
        let raw = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
            author A <a@example.com> 1700000000 +0100\n\
            committer Priya N. <p@example.com> 1763482800 +0000\n\
            \n\
            committer in the message 1 +0000\n";
        assert_eq!(
            committer_time(raw).map(|t| t.to_rfc3339()),
            Some(String::from("2025-11-18T16:20:00+00:00"))
        );
        assert_eq!(committer_time(b"tree x\n\ncommitter X <x> 5 +0000\n"), None);
    }
}
