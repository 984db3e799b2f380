//! Validation of what operators type when onboarding: Git repository URLs, refs and source
//! paths, Kubernetes names, kubeconfig contexts. Every value here is later handed to `git`
//! or `kubectl` as an argument, so anything those tools could read as an option (a leading
//! `-`), a remote-helper transport (`ext::sh -c …`) or a path escaping the repository is
//! refused here, once, for the server and the worker alike.

use std::fmt;

/// Why a value was refused, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for Invalid {}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

fn no_controls(field: &'static str, value: &str) -> Result<(), Invalid> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(invalid(
            field,
            format!("must not contain control characters (found {c:?})"),
        ));
    }
    Ok(())
}

/// A display name: 1–100 characters after trimming, no control characters.
pub fn display_name(field: &'static str, value: &str) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > 100 {
        return Err(invalid(field, "must be at most 100 characters"));
    }
    no_controls(field, trimmed)?;
    Ok(trimmed.to_owned())
}

/// A Git repository URL: `https://`, `http://`, `ssh://`, `git://`, `file://` or the
/// scp-like `user@host:path`. Remote-helper transports (`ext::`, `fd::`, any `name::`) and
/// values starting with `-` are refused.
pub fn repo_url(value: &str) -> Result<String, Invalid> {
    const FIELD: &str = "repo_url";
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(FIELD, "must not be empty"));
    }
    if value.len() > 2048 {
        return Err(invalid(FIELD, "must be at most 2048 bytes"));
    }
    no_controls(FIELD, value)?;
    if value.starts_with('-') {
        return Err(invalid(
            FIELD,
            "must not start with `-` (git would read it as an option)",
        ));
    }
    if value.chars().any(char::is_whitespace) {
        return Err(invalid(FIELD, "must not contain whitespace"));
    }
    if let Some((transport, _)) = value.split_once("::") {
        return Err(invalid(
            FIELD,
            format!(
                "the `{transport}::` remote-helper transport is not allowed; use https://, ssh://, git://, file:// or user@host:path"
            ),
        ));
    }
    if let Some((scheme, rest)) = value.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "https" | "http" | "ssh" | "git" | "file") {
            return Err(invalid(
                FIELD,
                format!(
                    "the `{scheme}://` scheme is not supported; use https, http, ssh, git or file"
                ),
            ));
        }
        if rest.is_empty() || rest == "/" {
            return Err(invalid(FIELD, "names no repository after the scheme"));
        }
        if scheme != "file" {
            let host = rest.split('/').next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or("");
            if host.is_empty() || host.starts_with('-') {
                return Err(invalid(FIELD, "must name a host after the scheme"));
            }
        }
        return Ok(value.to_owned());
    }
    // scp-like syntax: [user@]host:path, where host has no slash before the colon.
    if let Some((host, path)) = value.split_once(':') {
        let (user, host_part) = host.rsplit_once('@').unwrap_or(("", host));
        // ssh would read `-oProxyCommand=…` as an option, as user or as host.
        if user.starts_with('-') || host_part.starts_with('-') {
            return Err(invalid(FIELD, "the user and host must not start with `-`"));
        }
        if !host_part.is_empty() && !host.contains('/') && !path.is_empty() {
            return Ok(value.to_owned());
        }
    }
    Err(invalid(
        FIELD,
        "must be a URL (https://…, ssh://…, git://…, file://…) or user@host:path",
    ))
}

/// A Git ref or revision: a branch, tag, full ref name or commit SHA. Follows the rules of
/// `git check-ref-format` that matter for safety and clarity; `HEAD` is allowed.
pub fn git_ref(field: &'static str, value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.len() > 255 {
        return Err(invalid(field, "must be at most 255 bytes"));
    }
    no_controls(field, value)?;
    if value.starts_with('-') {
        return Err(invalid(
            field,
            "must not start with `-` (git would read it as an option)",
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return Err(invalid(
            field,
            format!("must not contain {c:?} (not allowed in Git ref names)"),
        ));
    }
    if value.contains("..") || value.contains("@{") || value.contains("//") {
        return Err(invalid(field, "must not contain `..`, `@{` or `//`"));
    }
    if value.starts_with('/') || value.ends_with('/') || value.ends_with('.') {
        return Err(invalid(
            field,
            "must not start or end with `/` or end with `.`",
        ));
    }
    if value.ends_with(".lock") || value.split('/').any(|part| part.starts_with('.')) {
        return Err(invalid(
            field,
            "must not end with `.lock` or have a component starting with `.`",
        ));
    }
    if value == "@" {
        return Err(invalid(field, "must not be `@`"));
    }
    Ok(value.to_owned())
}

/// A path inside the repository: relative, without `..`, normalized (`./a//b/` → `a/b`);
/// the repository root is `.`.
pub fn source_path(value: &str) -> Result<String, Invalid> {
    const FIELD: &str = "path";
    let value = value.trim();
    no_controls(FIELD, value)?;
    if value.starts_with('/') {
        return Err(invalid(FIELD, "must be relative to the repository root"));
    }
    if value.len() > 1024 {
        return Err(invalid(FIELD, "must be at most 1024 bytes"));
    }
    let mut parts = Vec::new();
    for part in value.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid(FIELD, "must not contain `..`")),
            part if part.starts_with('-') => {
                return Err(invalid(FIELD, "no component may start with `-`"));
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        Ok(String::from("."))
    } else {
        Ok(parts.join("/"))
    }
}

/// A Kubernetes namespace: an RFC 1123 label (lower-case alphanumerics and `-`, at most 63).
pub fn namespace(value: &str) -> Result<String, Invalid> {
    const FIELD: &str = "default_namespace";
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !valid {
        return Err(invalid(
            FIELD,
            "must be a Kubernetes namespace name: lower-case letters, digits and `-`, at most 63, starting and ending alphanumeric",
        ));
    }
    Ok(value.to_owned())
}

/// A kubeconfig context name, passed to `kubectl --context` or kube-rs.
pub fn context(value: &str) -> Result<String, Invalid> {
    const FIELD: &str = "context";
    let value = value.trim();
    if value.is_empty() || value.len() > 253 {
        return Err(invalid(FIELD, "must be 1–253 characters"));
    }
    no_controls(FIELD, value)?;
    if value.starts_with('-') {
        return Err(invalid(
            FIELD,
            "must not start with `-` (kubectl would read it as an option)",
        ));
    }
    Ok(value.to_owned())
}

/// A filesystem path the worker reads (a kubeconfig or a snapshot directory): absolute or
/// `~/`-relative, no control characters, not starting with `-`.
pub fn local_path(field: &'static str, value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() || value.len() > 4096 {
        return Err(invalid(field, "must be 1–4096 bytes"));
    }
    no_controls(field, value)?;
    if !(value.starts_with('/') || value.starts_with("~/")) {
        return Err(invalid(
            field,
            "must be an absolute path (or start with ~/) on the worker's machine",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_urls_that_git_could_misread_are_refused() {
        for bad in [
            "ext::sh -c touch% /tmp/pwned",
            "ext::sh",
            "fd::17",
            "-uhttps://x",
            "--upload-pack=touch /tmp/x",
            "ftp://example.com/repo.git",
            "https://",
            "https://-oProxyCommand=x/repo",
            "not a url",
            "",
            "https://example.com/a\nb",
            "/just/a/path",
            "git@-oProxyCommand=touch:repo",
            "-oProxyCommand=x@host:repo",
        ] {
            assert!(repo_url(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "https://github.com/acme/deploy.git",
            "ssh://git@example.com:2222/acme/deploy.git",
            "git@github.com:acme/deploy.git",
            "file:///srv/repos/ledger.git",
            "git://example.com/repo",
        ] {
            assert_eq!(repo_url(good).as_deref(), Ok(good), "{good:?} refused");
        }
    }

    #[test]
    fn refs_follow_check_ref_format_and_never_look_like_options() {
        for bad in [
            "-b",
            "--output=/tmp/x",
            "main..dev",
            "a b",
            "a~1",
            "HEAD^",
            "x:y",
            "refs/heads/",
            "a.lock",
            ".hidden",
            "@",
            "a@{1}",
            "",
        ] {
            assert!(git_ref("ref", bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "main",
            "HEAD",
            "release/2026.11",
            "refs/tags/v1.2.3",
            "3f9c2b7e1a4d5c6b8e9f0a1b2c3d4e5f60718293",
        ] {
            assert_eq!(git_ref("ref", good).as_deref(), Ok(good));
        }
    }

    #[test]
    fn source_paths_stay_inside_the_repository() {
        assert_eq!(source_path("").as_deref(), Ok("."));
        assert_eq!(source_path("./deploy//prod/").as_deref(), Ok("deploy/prod"));
        for bad in ["/etc", "../x", "a/../../b", "-rf", "a/--x"] {
            assert!(source_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn namespaces_contexts_and_paths() {
        assert!(namespace("payments").is_ok());
        for bad in ["Payments", "-x", "x-", "a_b", "", &"a".repeat(64)] {
            assert!(namespace(bad).is_err(), "{bad:?} accepted");
        }
        assert!(context("--kubeconfig=/tmp/x").is_err());
        assert!(context("prod-eu-1").is_ok());
        assert!(local_path("snapshot_dir", "relative/dir").is_err());
        assert!(local_path("snapshot_dir", "/srv/snap").is_ok());
        assert!(display_name("name", "  ").is_err());
        assert_eq!(display_name("name", " ledger ").as_deref(), Ok("ledger"));
    }
}
