//! Validation of what operators type when onboarding: Git repository URLs, refs and source
//! paths, Kubernetes names, kubeconfig contexts, local paths. Every value here is later handed
//! to `git`, `ssh` or `kubectl` as an argument, or opened by the worker, so anything those
//! tools could read as an option (a leading `-`, also after percent-decoding), a remote-helper
//! transport (`ext::sh -c …`), a path escaping the repository or a file outside the
//! directories the operator allows ([`PathRoots`]) is refused here, once, for the server and
//! the worker alike. Repository URLs are parsed against an allow-list of forms
//! ([`repo_url_with`]) rather than searched for known-bad patterns. Nothing here touches the
//! filesystem or the environment: callers pass the operator's settings in.

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

/// Which repository URL forms an installation accepts beyond the network forms that are
/// always allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RepoUrlPolicy {
    /// `file:///absolute/path`: a repository on the worker's own disk. Off by default: it lets
    /// whoever onboards a source make the worker read any Git repository it can see. The
    /// server and the worker read it from `ALLOW_FILE_REPOSITORIES` (default `false`); the
    /// demo, whose repositories are local, turns it on.
    pub allow_file: bool,
    /// User information that is a secret: any user part of an `http(s)://` URL (usually a
    /// token), a password anywhere. Off by default — credentials belong in the worker's Git
    /// credential helper, SSH keys or `GIT_*` environment, not in a stored row. Only the
    /// worker, re-checking a row stored before this rule, may turn it on.
    pub allow_embedded_credentials: bool,
}

impl RepoUrlPolicy {
    /// What the API enforces unless the operator enables `file://`: network forms only, no
    /// credentials.
    pub const STRICT: Self = RepoUrlPolicy {
        allow_file: false,
        allow_embedded_credentials: false,
    };
}

/// The message every refusal of a URL ends with, so the reader learns what would work.
fn accepted_forms(policy: RepoUrlPolicy) -> &'static str {
    if policy.allow_file {
        "accepted forms: https://host[:port]/path, http://host[:port]/path, ssh://[user@]host[:port]/path, [user@]host:path, git://host[:port]/path, file:///absolute/path"
    } else {
        "accepted forms: https://host[:port]/path, http://host[:port]/path, ssh://[user@]host[:port]/path, [user@]host:path, git://host[:port]/path"
    }
}

const CREDENTIALS_ADVICE: &str = "must not embed credentials: the worker fetches with the git CLI, so give it access through a Git credential helper (git config credential.helper), an SSH key (~/.ssh, GIT_SSH_COMMAND) or GIT_* / GIT_CONFIG_* environment variables, and onboard the URL without them";

/// A Git repository URL, with the policy the API enforces ([`RepoUrlPolicy::STRICT`]
/// unless the operator allows `file://`). Kept as it was typed (trimmed) when accepted.
///
/// Only these forms pass — an allow-list, because git and ssh give meaning to far more
/// syntax than anyone onboards on purpose (remote helpers `ext::sh -c …`, `-oProxyCommand`
/// read as an ssh option, percent-decoded hosts, `[…]` hosts, `file:/etc` read as host
/// `file`):
///
/// - `https://host[:port]/path` and `http://host[:port]/path`, host a DNS name, an IPv4
///   address or a bracketed IPv6 address; no user information at all (it would be a token).
///   Plain `http://` stays accepted for internal mirrors: nothing secret can be embedded in it,
///   but a credential helper configured for the host would answer over plain text, so scope
///   helpers to `https://` hosts.
/// - `ssh://[user@]host[:port]/path` and scp-like `[user@]host:path`: a user name without
///   password; in the scp form the host may not be bracketed and the path may not start with
///   `-` (`git-upload-pack` would read it as an option).
/// - `git://host[:port]/path`: unauthenticated and unencrypted, but read-only and carrying no
///   credentials; accepted as before for public mirrors (the same integrity caveat as `http`).
/// - `file:///absolute/path` only when [`RepoUrlPolicy::allow_file`] is set.
///
/// Everywhere: no whitespace, control, bidi or invisible characters, no `%` in user or host
/// (git percent-decodes `ssh://` URLs before handing the host to ssh), no user, host or path
/// starting with `-` after decoding, no `?` or `#` in URL forms, at most 2048 bytes.
pub fn repo_url_with(value: &str, policy: RepoUrlPolicy) -> Result<String, Invalid> {
    const FIELD: &str = "repo_url";
    let refuse = |reason: &str| invalid(FIELD, format!("{reason}; {}", accepted_forms(policy)));
    let value = value.trim();
    if value.is_empty() {
        return Err(refuse("must not be empty"));
    }
    if value.len() > 2048 {
        return Err(refuse("must be at most 2048 bytes"));
    }
    if let Some(c) = value
        .chars()
        .find(|&c| c.is_whitespace() || crate::terminal::is_control_or_invisible(c))
    {
        return Err(refuse(&format!(
            "must not contain whitespace, control or invisible characters (found U+{:04X})",
            u32::from(c)
        )));
    }
    if value.starts_with('-') {
        return Err(refuse(
            "must not start with `-` (git would read it as an option)",
        ));
    }
    let scheme_end = scheme_length(value);
    let after_scheme = &value[scheme_end..];
    // git's own test: a run of scheme characters followed by `::` names a remote helper.
    if after_scheme.starts_with("::") {
        return Err(refuse(&format!(
            "the `{}::` remote-helper transport is not allowed",
            &value[..scheme_end]
        )));
    }
    if scheme_end > 0 && after_scheme.starts_with("://") {
        let scheme = value[..scheme_end].to_ascii_lowercase();
        let rest = &after_scheme[3..];
        let url = match scheme.as_str() {
            "https" | "http" | "ssh" | "git" => network_url(&scheme, rest, policy),
            "file" => file_url(rest, policy),
            _ => Err(format!("the `{scheme}://` scheme is not supported")),
        };
        return url
            .map(|()| value.to_owned())
            .map_err(|reason| refuse(&reason));
    }
    scp_like(value, policy)
        .map(|()| value.to_owned())
        .map_err(|reason| refuse(&reason))
}

/// Length of a leading URL scheme as git recognises one: a letter, then letters, digits,
/// `+`, `-` or `.` (0 when the value does not start with one).
fn scheme_length(value: &str) -> usize {
    let mut length = 0;
    for (i, b) in value.bytes().enumerate() {
        let ok = if i == 0 {
            b.is_ascii_alphabetic()
        } else {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
        };
        if !ok {
            break;
        }
        length = i + 1;
    }
    length
}

/// `scheme://[userinfo@]host[:port]/path` for https, http, ssh and git.
fn network_url(scheme: &str, rest: &str, policy: RepoUrlPolicy) -> Result<(), String> {
    if rest.contains(['?', '#']) {
        return Err(String::from(
            "must not contain `?` or `#` (a query or fragment is not part of a Git repository URL)",
        ));
    }
    if rest.contains('\\') {
        return Err(String::from("must not contain `\\`"));
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host_port = match authority.split_once('@') {
        None => authority,
        Some((userinfo, host_port)) => {
            if host_port.contains('@') {
                return Err(String::from("must contain at most one `@` before the host"));
            }
            userinfo_allowed(scheme, userinfo, policy)?;
            host_port
        }
    };
    host_and_port(host_port)?;
    url_path(path)
}

/// Whether the user information of a `scheme://` URL may be stored.
fn userinfo_allowed(scheme: &str, userinfo: &str, policy: RepoUrlPolicy) -> Result<(), String> {
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    match scheme {
        "git" => Err(String::from(
            "a git:// URL takes no user name (the git protocol has no authentication)",
        )),
        // Over HTTP the "user" is usually a token; any user part is refused.
        "https" | "http" if !policy.allow_embedded_credentials => {
            Err(String::from(CREDENTIALS_ADVICE))
        }
        "https" | "http" => {
            if userinfo.starts_with('-') {
                return Err(String::from("the user part must not start with `-`"));
            }
            Ok(())
        }
        _ => {
            if password.is_some() && !policy.allow_embedded_credentials {
                return Err(String::from(CREDENTIALS_ADVICE));
            }
            ssh_user(user)
        }
    }
}

/// An SSH user name, as ssh receives it (git percent-decodes `ssh://` URLs first, so `%`
/// is refused outright rather than decoded and re-checked).
fn ssh_user(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err(String::from("the user name before `@` must not be empty"));
    }
    if user.starts_with('-') {
        return Err(String::from(
            "the user name must not start with `-` (ssh would read it as an option)",
        ));
    }
    if !user
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    {
        return Err(String::from(
            "the user name may contain only letters, digits, `.`, `_`, `-` and `+` (no `%` encoding)",
        ));
    }
    Ok(())
}

/// `host[:port]` or `[ipv6][:port]` of a `scheme://` URL.
fn host_and_port(host_port: &str) -> Result<(), String> {
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else {
            return Err(String::from("an IPv6 host must be closed with `]`"));
        };
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(String::from(
                "only an IPv6 address may be written in brackets (no zone identifier)",
            ));
        }
        let port = match after {
            "" => None,
            after => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(String::from("only `:port` may follow an IPv6 host")),
            },
        };
        (None, port)
    } else if host_port.matches(':').count() > 1 {
        return Err(String::from("an IPv6 host must be written in brackets"));
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(host_port), None),
        }
    };
    if let Some(host) = host {
        hostname(host)?;
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !valid {
            return Err(String::from(
                "the port must be a number from 1 to 65535 (an IPv6 host goes in brackets)",
            ));
        }
    }
    Ok(())
}

/// A DNS name or an IPv4 address, ASCII only (an internationalised name is written in its
/// `xn--` form).
fn hostname(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err(String::from("must name a host"));
    }
    if host.contains('%') {
        return Err(String::from(
            "the host must not be percent-encoded (git would decode it before ssh reads it)",
        ));
    }
    if host.starts_with('-') {
        return Err(String::from(
            "the host must not start with `-` (ssh would read it as an option)",
        ));
    }
    if host.starts_with('[') || host.contains([']', '[']) {
        return Err(String::from(
            "only an IPv6 address may be written in brackets, and only in a scheme:// URL",
        ));
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    };
    if host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(String::from(
            "the host must be a DNS name (letters, digits, `-`, `_`, dot-separated), an IPv4 address or a bracketed IPv6 address",
        ));
    }
    // All-numeric dotted names are read as IPv4 addresses by resolvers: be exact about them.
    let numeric = host
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if numeric && host.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(String::from("the host is not a valid IPv4 address"));
    }
    Ok(())
}

/// The path of a `scheme://` URL (`/…`), checked in its percent-decoded form too.
fn url_path(path: &str) -> Result<(), String> {
    if path.trim_matches('/').is_empty() {
        return Err(String::from("names no repository after the host"));
    }
    let decoded = percent_decoded(path)?;
    if let Some(c) = decoded
        .chars()
        .find(|&c| crate::terminal::is_control_or_invisible(c))
    {
        return Err(format!(
            "the path must not encode control or invisible characters (found U+{:04X})",
            u32::from(c)
        ));
    }
    if decoded.trim_start_matches('/').starts_with('-') {
        return Err(String::from(
            "the path must not start with `-` (git would read it as an option)",
        ));
    }
    Ok(())
}

/// `file:///absolute/path`: no host, an absolute path without `..`.
fn file_url(rest: &str, policy: RepoUrlPolicy) -> Result<(), String> {
    if !policy.allow_file {
        return Err(String::from(
            "file:// repositories are not enabled on this installation (the operator enables them with ALLOW_FILE_REPOSITORIES=true)",
        ));
    }
    let Some(path) = rest.strip_prefix('/') else {
        return Err(String::from(
            "a file URL takes no host: write file:///absolute/path",
        ));
    };
    if rest.contains(['?', '#']) {
        return Err(String::from("a file URL must not contain `?` or `#`"));
    }
    let decoded = percent_decoded(path)?;
    if decoded
        .chars()
        .any(crate::terminal::is_control_or_invisible)
    {
        return Err(String::from(
            "the path must not encode control or invisible characters",
        ));
    }
    if decoded.split('/').all(str::is_empty) {
        return Err(String::from("names no repository after file://"));
    }
    if decoded.split('/').any(|part| part == "..") {
        return Err(String::from("the path must not contain `..`"));
    }
    Ok(())
}

/// scp-like `[user@]host:path`, which git hands to ssh as they are (no percent-decoding).
fn scp_like(value: &str, policy: RepoUrlPolicy) -> Result<(), String> {
    let Some((user_host, path)) = value.split_once(':') else {
        return Err(String::from(
            "is not a URL (a local path is written file:///absolute/path)",
        ));
    };
    if user_host.contains('/') {
        // git reads `a/b:c` as a local path, not as a host.
        return Err(String::from(
            "is not a URL (a local path is written file:///absolute/path)",
        ));
    }
    let (user, host) = match user_host.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, user_host),
    };
    if host.starts_with('[') {
        return Err(String::from(
            "the scp-like form takes no bracketed host; write ssh://[user@][host]:port/path",
        ));
    }
    let lower = host.to_ascii_lowercase();
    if user.is_none()
        && matches!(
            lower.as_str(),
            "file" | "http" | "https" | "ssh" | "git" | "ftp" | "ftps" | "rsync"
        )
    {
        // `file:/etc` is ssh to a host named `file`, never what was meant.
        return Err(format!(
            "looks like a {lower} URL without `//` (git would read `{lower}` as an ssh host)"
        ));
    }
    if let Some(user) = user {
        if user.contains('@') {
            return Err(String::from("must contain at most one `@` before the host"));
        }
        ssh_user(user)?;
    }
    hostname(host)?;
    if path.is_empty() || path.trim_matches('/').is_empty() {
        return Err(String::from("names no repository after `host:`"));
    }
    if path.starts_with('-') {
        return Err(String::from(
            "the path must not start with `-` (git-upload-pack would read it as an option)",
        ));
    }
    if path.starts_with(':') {
        return Err(String::from("the path must not start with `:`"));
    }
    // `user:password@host:path`: git splits at the first `:`, so the password and real host
    // land in the path; whatever was meant, a password was typed.
    if user.is_none() && !policy.allow_embedded_credentials {
        let first_segment = path.split('/').next().unwrap_or_default();
        if first_segment.contains('@') {
            return Err(String::from(CREDENTIALS_ADVICE));
        }
    }
    Ok(())
}

/// `text` with `%XX` sequences decoded, as git decodes URLs; malformed sequences and
/// non-UTF-8 results are refused rather than guessed at.
fn percent_decoded(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(decoded) = hex else {
                return Err(String::from(
                    "`%` must start a two-digit hexadecimal escape",
                ));
            };
            out.push(decoded);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| String::from("the percent-decoded path is not UTF-8"))
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
/// `~/`-relative, no control characters, no `..` component, normalized (`/a//./b/` →
/// `/a/b`). Says nothing about *where* the path is: [`PathRoots::check`] does.
pub fn local_path(field: &'static str, value: &str) -> Result<String, Invalid> {
    LexicalPath::parse(field, value).map(|path| path.to_string())
}

/// Default of `KUBECONFIG_ROOTS`: a directory meant for kubeconfigs the operator mounts (a
/// Kubernetes Secret volume, a configuration-management drop) and the worker user's own
/// `~/.kube`, where `kubectl` keeps kubeconfigs on a workstation install. Nothing else a
/// worker can read (`/etc/shadow`, `/proc/self/environ`, the server's configuration) is
/// a kubeconfig anyone should point it at.
pub const DEFAULT_KUBECONFIG_ROOTS: &str = "/etc/statesight/kubeconfigs:~/.kube";

/// Default of `SNAPSHOT_ROOTS`: snapshots are state the operator stores for the worker,
/// which the filesystem hierarchy puts under `/var/lib/<program>`. A checkout running the
/// demo adds its `examples/clusters` directory.
pub const DEFAULT_SNAPSHOT_ROOTS: &str = "/var/lib/statesight/snapshots";

/// The directories an operator allows a kind of path to lie in (`KUBECONFIG_ROOTS`,
/// `SNAPSHOT_ROOTS`), checked lexically: no filesystem access, so the server validates at
/// onboarding (a 422 naming the field and the roots) and the worker checks again before
/// reading, with the same rules.
///
/// `~` means the worker's home directory. Given the home directory ([`PathRoots::parse`]'s
/// `home`), `~` is expanded in roots and paths alike and [`PathRoots::check`] returns the
/// absolute path to open — what the worker passes. Without it (the server, which does not
/// know the worker's home), `~` is kept as a symbol: `~/.kube/config` lies under the root
/// `~/.kube`, but `/home/worker/.kube/config` does not. `~user` is refused everywhere.
///
/// Lexical means symlinks are not followed: a link inside a root to `/etc/shadow` passes.
/// Roots must therefore be directories only the operator can write; a worker that also wants
/// to rule out links can canonicalize the path (I/O, its business) and check the result
/// again, with roots written in their canonical form.
///
/// An empty list allows nothing; `/` allows everything (an explicit choice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRoots {
    home: Option<LexicalPath>,
    roots: Vec<LexicalPath>,
}

impl PathRoots {
    /// Parses a `:`-separated list of roots as in an environment variable
    /// (`/etc/statesight/kubeconfigs:~/.kube`); empty entries are skipped. Each root must be
    /// absolute or `~`/`~/…`, without `..`. `setting` names the variable in errors. `home`
    /// (absolute, or empty for none) expands `~`; see the type's documentation.
    pub fn parse(setting: &'static str, list: &str, home: Option<&str>) -> Result<Self, Invalid> {
        let home = match home.map(str::trim) {
            None | Some("") => None,
            Some(home) => {
                let parsed = LexicalPath::parse(setting, home)?;
                if parsed.home {
                    return Err(invalid(setting, "the home directory must be absolute"));
                }
                Some(parsed)
            }
        };
        let mut roots = Vec::new();
        for entry in list.split(':').filter(|entry| !entry.trim().is_empty()) {
            let root = LexicalPath::parse(setting, entry)?;
            roots.push(root.expand(home.as_ref()));
        }
        Ok(PathRoots { home, roots })
    }

    /// The roots as they are matched (`~` expanded when the home directory is known),
    /// separated by `, `: what refusals show.
    pub fn describe(&self) -> String {
        self.roots
            .iter()
            .map(LexicalPath::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `value` ([`local_path`]'s rules) lying in one of the roots, or the root itself.
    /// Returns the normalized path, `~` expanded when the home directory is known; the
    /// refusal names `field` and the allowed roots.
    pub fn check(&self, field: &'static str, value: &str) -> Result<String, Invalid> {
        let path = LexicalPath::parse(field, value)?.expand(self.home.as_ref());
        if self.roots.is_empty() {
            return Err(invalid(
                field,
                "is not allowed on this installation: the operator has configured no directory for it",
            ));
        }
        if self.roots.iter().any(|root| path.starts_with(root)) {
            return Ok(path.to_string());
        }
        Err(invalid(
            field,
            format!(
                "must be inside one of the directories the operator allows: {}",
                self.describe()
            ),
        ))
    }
}

/// An absolute (or `~`-anchored) path as normalized components.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LexicalPath {
    /// Anchored at `~` (the home directory) rather than `/`.
    home: bool,
    parts: Vec<String>,
}

impl LexicalPath {
    fn parse(field: &'static str, value: &str) -> Result<Self, Invalid> {
        let value = value.trim();
        if value.is_empty() || value.len() > 4096 {
            return Err(invalid(field, "must be 1–4096 bytes"));
        }
        no_controls(field, value)?;
        let (home, rest) = if let Some(rest) = value.strip_prefix('~') {
            if !(rest.is_empty() || rest.starts_with('/')) {
                return Err(invalid(
                    field,
                    "`~user` is not supported: write ~/… (the worker's home) or an absolute path",
                ));
            }
            (true, rest)
        } else if value.starts_with('/') {
            (false, value)
        } else {
            return Err(invalid(
                field,
                "must be an absolute path (or start with ~/) on the worker's machine",
            ));
        };
        let mut parts = Vec::new();
        for part in rest.split('/') {
            match part {
                "" | "." => {}
                // Refused rather than resolved: `a/..` is only `.` if `a` is not a symlink.
                ".." => return Err(invalid(field, "must not contain a `..` component")),
                part => parts.push(part.to_owned()),
            }
        }
        Ok(LexicalPath { home, parts })
    }

    fn expand(self, home: Option<&LexicalPath>) -> Self {
        match home {
            Some(home) if self.home => {
                let mut parts = home.parts.clone();
                parts.extend(self.parts);
                LexicalPath { home: false, parts }
            }
            _ => self,
        }
    }

    /// Component-wise: `/srv/snap` does not contain `/srv/snapshot-evil`.
    fn starts_with(&self, root: &LexicalPath) -> bool {
        self.home == root.home && self.parts.starts_with(&root.parts)
    }
}

impl fmt::Display for LexicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.home, self.parts.is_empty()) {
            (true, true) => f.write_str("~"),
            (false, true) => f.write_str("/"),
            (home, false) => {
                if home {
                    f.write_str("~")?;
                }
                for part in &self.parts {
                    write!(f, "/{part}")?;
                }
                Ok(())
            }
        }
    }
}

/// What local inputs one installation allows: `file://` repositories, and the directories
/// kubeconfig and snapshot paths must lie under. The server checks what operators type with
/// it; the worker checks stored rows again before reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPolicy {
    pub allow_file_repositories: bool,
    pub kubeconfig_roots: PathRoots,
    pub snapshot_roots: PathRoots,
}

impl InputPolicy {
    /// Reads the `:`-separated roots (`KUBECONFIG_ROOTS`, `SNAPSHOT_ROOTS`); `home` expands
    /// `~` (the worker passes its own; the server, which does not know it, passes `None`).
    pub fn new(
        allow_file_repositories: bool,
        kubeconfig_roots: &str,
        snapshot_roots: &str,
        home: Option<&str>,
    ) -> Result<Self, Invalid> {
        Ok(InputPolicy {
            allow_file_repositories,
            kubeconfig_roots: PathRoots::parse("KUBECONFIG_ROOTS", kubeconfig_roots, home)?,
            snapshot_roots: PathRoots::parse("SNAPSHOT_ROOTS", snapshot_roots, home)?,
        })
    }

    /// The defaults of an installation that configured nothing: no `file://` repositories,
    /// [`DEFAULT_KUBECONFIG_ROOTS`] and [`DEFAULT_SNAPSHOT_ROOTS`].
    pub fn defaults(home: Option<&str>) -> Result<Self, Invalid> {
        Self::new(
            false,
            DEFAULT_KUBECONFIG_ROOTS,
            DEFAULT_SNAPSHOT_ROOTS,
            home,
        )
    }

    /// A repository URL typed by an operator: never with embedded credentials.
    pub fn repo_url(&self, value: &str) -> Result<String, Invalid> {
        repo_url_with(
            value,
            RepoUrlPolicy {
                allow_file: self.allow_file_repositories,
                allow_embedded_credentials: false,
            },
        )
    }
}

/// Which repository a URL names, for matching a Git host's push notification with the
/// sources that track it: the same repository is written many ways (`https://…`,
/// `ssh://git@…`, scp-like `git@host:owner/repo`, `git://…`, with or without `.git` or a
/// trailing `/`), and the key is what those spellings share.
///
/// The rules, in order:
/// - only the network forms [`repo_url_with`] accepts (`file://` never matches a push);
///   user information (`git@`, a token) is ignored;
/// - the scheme and the port are ignored: one host serves one repository over HTTPS, SSH
///   and the git protocol, often on different ports;
/// - the host is compared case-insensitively (DNS names are), and GitHub's aliases
///   `www.github.com` and `ssh.github.com` (SSH over port 443) count as `github.com`;
/// - the path is percent-decoded, empty segments are dropped (`//`, leading and trailing
///   `/`), one trailing `.git` is removed, and it is compared case-insensitively: GitHub
///   (the sender of these notifications, including GitHub Enterprise Server) treats owner
///   and repository names case-insensitively, so `Acme/Shop` and `acme/shop` are one
///   repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryKey {
    /// The host, lowercase, without port.
    pub host: String,
    /// The path segments joined by `/`, lowercase, without `.git`.
    pub path: String,
}

impl fmt::Display for RepositoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.path)
    }
}

impl RepositoryKey {
    /// The last path segment (the repository's own name): the cheap pre-filter a store can
    /// apply before comparing keys.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// The [`RepositoryKey`] of a repository URL, or `None` when the URL is not one of the
/// network forms (a `file://` URL, a local path, anything [`repo_url_with`] refuses).
/// Payload URLs are untrusted: they pass the same allow-list as what operators type.
pub fn repository_key(url: &str) -> Option<RepositoryKey> {
    let url = repo_url_with(
        url,
        RepoUrlPolicy {
            allow_file: false,
            // A stored row from before the credentials rule still names its repository.
            allow_embedded_credentials: true,
        },
    )
    .ok()?;
    let (host, path) = host_and_path(&url)?;
    let host = canonical_host(host);
    let decoded = percent_decoded(path).ok()?;
    let mut segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    let last = segments.pop()?;
    let last = strip_suffix_ignore_case(last, ".git");
    if !last.is_empty() {
        segments.push(last);
    }
    if segments.is_empty() {
        return None;
    }
    Some(RepositoryKey {
        host,
        path: segments.join("/").to_lowercase(),
    })
}

/// The host and the path of a URL already accepted by [`repo_url_with`].
fn host_and_path(url: &str) -> Option<(&str, &str)> {
    let scheme_end = scheme_length(url);
    if scheme_end > 0 && url[scheme_end..].starts_with("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let host = match host_port.strip_prefix('[') {
            Some(bracketed) => bracketed.split_once(']')?.0,
            None => host_port
                .split_once(':')
                .map_or(host_port, |(host, _)| host),
        };
        return Some((host, path));
    }
    // scp-like `[user@]host:path`: git splits at the first `:`.
    let (user_host, path) = url.split_once(':')?;
    let host = user_host
        .rsplit_once('@')
        .map_or(user_host, |(_, host)| host);
    Some((host, path))
}

fn canonical_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    match host.as_str() {
        "www.github.com" | "ssh.github.com" => String::from("github.com"),
        _ => host,
    }
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> &'a str {
    let split = text.len().saturating_sub(suffix.len());
    match (text.get(..split), text.get(split..)) {
        (Some(head), Some(tail)) if tail.eq_ignore_ascii_case(suffix) => head,
        _ => text,
    }
}

/// Whether a source whose ref is `source_ref` tracks the ref a push updated (`pushed`, the
/// full name the Git host sends, e.g. `refs/heads/main`).
///
/// - A branch push `refs/heads/B` is tracked by a source whose ref is `B`, `heads/B` or
///   `refs/heads/B` (a short name is read as a branch, as sources are nearly always
///   branches), and by a source tracking `HEAD` when `B` is the repository's default
///   branch (`default_branch`, from the notification).
/// - Any other ref (a tag `refs/tags/T`, a note, …) is tracked only by a source naming it
///   unambiguously: the full ref, or `tags/T` for a tag. A tag is not matched by its short
///   name, which Git would also resolve to a branch of that name.
/// - A source pinned to a commit SHA tracks nothing.
///
/// Ref names are case-sensitive, as in Git.
pub fn source_ref_tracks(source_ref: &str, pushed: &str, default_branch: Option<&str>) -> bool {
    let source_ref = source_ref.trim();
    if source_ref.is_empty() || pushed.is_empty() {
        return false;
    }
    if source_ref == pushed {
        return true;
    }
    if let Some(branch) = pushed.strip_prefix("refs/heads/") {
        return !branch.is_empty()
            && (source_ref == branch
                || source_ref.strip_prefix("heads/") == Some(branch)
                || (source_ref == "HEAD" && default_branch == Some(branch)));
    }
    if let Some(tag) = pushed.strip_prefix("refs/tags/") {
        return !tag.is_empty() && source_ref.strip_prefix("tags/") == Some(tag);
    }
    false
}

/// Whether `text` is a full commit object name: 40 (SHA-1) or 64 (SHA-256) lowercase
/// hexadecimal digits, as Git hosts send them.
pub fn is_full_commit_sha(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `sha` is the all-zeros name Git uses for "no commit" (the `after` of a deleted
/// ref, the `before` of a created one).
pub fn is_null_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most lenient policy: `file://` allowed and credentials read, as the worker treats
    /// rows stored before those rules.
    fn repo_url(value: &str) -> Result<String, Invalid> {
        repo_url_with(
            value,
            RepoUrlPolicy {
                allow_file: true,
                allow_embedded_credentials: true,
            },
        )
    }

    #[test]
    fn an_input_policy_refuses_credentials_and_follows_its_file_setting() {
        let policy = InputPolicy::defaults(None).expect("defaults parse");
        assert!(
            policy
                .repo_url("https://user:pass@example.com/r.git")
                .is_err()
        );
        assert!(policy.repo_url("file:///srv/r.git").is_err());
        let demo = InputPolicy::new(true, "/etc/statesight/kubeconfigs", "/srv/examples", None)
            .expect("parse");
        assert!(demo.repo_url("file:///srv/r.git").is_ok());
        assert!(demo.snapshot_roots.check("snapshot_dir", "/etc").is_err());
        assert!(
            demo.snapshot_roots
                .check("snapshot_dir", "/srv/examples/clusters/a")
                .is_ok()
        );
    }

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

    const FILE_ALLOWED: RepoUrlPolicy = RepoUrlPolicy {
        allow_file: true,
        allow_embedded_credentials: false,
    };

    fn strict(url: &str) -> Result<String, Invalid> {
        repo_url_with(url, RepoUrlPolicy::STRICT)
    }

    /// Refused under every policy, with a message that names the field and the forms.
    fn assert_refused_everywhere(url: &str) -> Invalid {
        for policy in [
            RepoUrlPolicy::STRICT,
            FILE_ALLOWED,
            RepoUrlPolicy {
                allow_file: true,
                allow_embedded_credentials: true,
            },
        ] {
            let error = repo_url_with(url, policy).expect_err(url);
            assert_eq!(error.field, "repo_url");
            assert!(
                error
                    .message
                    .contains("accepted forms: https://host[:port]/path"),
                "{url:?}: {error}"
            );
        }
        assert!(repo_url(url).is_err(), "{url:?}");
        strict(url).expect_err(url)
    }

    #[test]
    fn ssh_option_injection_through_a_bracketed_host_is_refused() {
        assert_refused_everywhere("ssh://[-oProxyCommand=touch${IFS}/tmp/x]/r");
        assert_refused_everywhere("ssh://[-oProxyCommand=x]/r");
        assert_refused_everywhere("ssh://git@[-oProxyCommand=x]:22/r");
        assert_refused_everywhere("https://[example.com]/r.git");
    }

    #[test]
    fn ssh_option_injection_through_an_scp_bracketed_host_is_refused() {
        let error = assert_refused_everywhere("[-oProxyCommand=x]:repo");
        assert!(error.message.contains("bracketed"), "{error}");
        assert_refused_everywhere("git@[-oProxyCommand=x]:repo");
        assert_refused_everywhere("[git@host:22]:repo");
        assert_refused_everywhere("git@[::1]:repo");
    }

    #[test]
    fn upload_pack_option_in_an_scp_path_is_refused() {
        assert_refused_everywhere("host:--upload-pack=touch /tmp/x");
        let error = assert_refused_everywhere("host:--upload-pack=touch${IFS}/tmp/x");
        assert!(error.message.contains("must not start with `-`"), "{error}");
    }

    #[test]
    fn an_scp_path_starting_with_a_dash_is_refused() {
        assert_refused_everywhere("git@host:-u");
        assert_refused_everywhere("host:-u");
        assert_refused_everywhere("-u@host:repo");
        assert_refused_everywhere("git@-oProxyCommand=x:repo");
        // Through a URL the path starts with `/`, but not after decoding a leading `-`.
        assert_refused_everywhere("ssh://host/-u");
        assert_refused_everywhere("ssh://host/%2du");
    }

    #[test]
    fn a_percent_encoded_dash_in_the_host_is_refused() {
        let error = assert_refused_everywhere("ssh://%2doProxyCommand=x/r");
        assert!(error.message.contains("percent-encoded"), "{error}");
        assert_refused_everywhere("ssh://%2DoProxyCommand=x/r");
        assert_refused_everywhere("ssh://%2du@host/r");
        assert_refused_everywhere("git://host%2eexample.com/r");
        assert_refused_everywhere("ssh://[::1%25eth0]/r");
        // Decoding must not smuggle controls into the path either.
        assert_refused_everywhere("https://host/r%0a.git");
        assert_refused_everywhere("https://host/r%e2%80%ae.git");
        assert_refused_everywhere("https://host/r%zz.git");
        assert_refused_everywhere("https://host/r%ff.git");
    }

    #[test]
    fn a_file_url_without_slashes_is_refused() {
        let error = assert_refused_everywhere("file:/etc");
        assert!(error.message.contains("without `//`"), "{error}");
        assert_refused_everywhere("file:etc/repo");
        assert_refused_everywhere("FILE:/etc");
        assert_refused_everywhere("https:example.com/repo.git");
        // A host is not a file URL's business, and `..` not its path's.
        assert_refused_everywhere("file://host/srv/repo.git");
        assert_refused_everywhere("file:///srv/../etc");
        assert_refused_everywhere("file:///");
    }

    #[test]
    fn an_ipv6_host_is_accepted() {
        for good in [
            "https://[2001:db8::1]/repo.git",
            "https://[2001:db8::1]:8443/acme/repo.git",
            "ssh://git@[2001:db8::1]:2222/acme/repo.git",
            "git://[::1]/repo",
        ] {
            assert_eq!(strict(good).as_deref(), Ok(good));
            assert_eq!(repo_url(good).as_deref(), Ok(good));
        }
        // The old code refused it as a `https://[2001:db8:` remote helper.
        let unbracketed = strict("https://2001:db8::1/repo.git").expect_err("no brackets");
        assert!(
            !unbracketed.message.contains("remote-helper"),
            "{unbracketed}"
        );
        assert!(unbracketed.message.contains("brackets"), "{unbracketed}");
        assert!(strict("https://[2001:db8::g]/r").is_err());
        assert!(strict("https://[2001:db8::1]x/r").is_err());
        assert!(strict("https://[2001:db8::1/r").is_err());
    }

    #[test]
    fn credentials_embedded_in_the_url_are_refused() {
        for bad in [
            "https://user:pass@host/r.git",
            "https://token@host/r.git",
            "https://x-access-token:ghs_16C7e42F292c6912E7710c838347Ae178B4a@github.com/acme/deploy.git",
            "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/acme/deploy.git",
            "https://oauth2:glpat-xxxxxxxxxxxxxxxxxxxx@gitlab.example.com/acme/deploy.git",
            "http://deploy-bot:s3cr3t-t0ken@127.0.0.1:8080/acme/deploy.git",
            "https://:pass@host/r.git",
            "ssh://git:hunter2@host/r.git",
            "deploy:hunter2@host:acme/deploy.git",
        ] {
            let error = strict(bad).expect_err(bad);
            assert_eq!(error.field, "repo_url");
            assert!(
                error.message.contains("credential helper"),
                "{bad}: {error}"
            );
            assert!(error.message.contains("GIT_"), "{bad}: {error}");
            // The refusal never repeats the secret.
            for secret in ["pass", "hunter2", "ghp_", "ghs_", "glpat", "s3cr3t"] {
                assert!(!error.to_string().contains(secret), "{bad}: {error}");
            }
        }
        // An SSH user name is not a secret.
        for good in [
            "ssh://git@example.com:2222/acme/deploy.git",
            "git@github.com:acme/deploy.git",
        ] {
            assert_eq!(strict(good).as_deref(), Ok(good));
        }
        // git:// has no users at all.
        assert!(strict("git://git@example.com/r").is_err());
        // Rows stored before the rule still pass the worker's lenient check.
        assert!(repo_url("http://deploy-bot:s3cr3t-t0ken@127.0.0.1:8080/acme/deploy.git").is_ok());
    }

    #[test]
    fn file_urls_need_the_operator_s_permission() {
        let url = "file:///srv/repos/ledger.git";
        let error = strict(url).expect_err("file:// is off by default");
        assert!(error.message.contains("ALLOW_FILE_REPOSITORIES"), "{error}");
        assert!(!error.message.contains("file:///absolute/path"), "{error}");
        assert_eq!(repo_url_with(url, FILE_ALLOWED).as_deref(), Ok(url));
        assert_eq!(repo_url(url).as_deref(), Ok(url));
        assert!(
            repo_url_with("file://localhost/srv/r.git", FILE_ALLOWED)
                .expect_err("a host")
                .message
                .contains("file:///absolute/path")
        );
        assert!(RepoUrlPolicy::default() == RepoUrlPolicy::STRICT);
    }

    #[test]
    fn only_the_allow_listed_forms_pass() {
        for good in [
            "https://github.com/acme/deploy.git",
            "HTTPS://GitHub.com/acme/deploy.git",
            "https://git.example.com:8443/acme/deploy",
            "http://mirror.internal/acme/deploy.git",
            "https://10.0.0.7/acme/deploy.git",
            "https://example.com/a@b/repo.git",
            "https://example.com/%C3%A9t%C3%A9.git",
            "ssh://git@example.com:2222/acme/deploy.git",
            "ssh://example.com/~alice/deploy.git",
            "git@github.com:acme/deploy.git",
            "github-work:acme/deploy.git",
            "deploy+ci@git.example.com:/srv/git/deploy.git",
            "git://example.com/repo",
        ] {
            assert_eq!(strict(good).as_deref(), Ok(good), "{good:?} refused");
        }
        for bad in [
            "ext::sh -c touch% /tmp/pwned",
            "ext::sh",
            "fd::17",
            "::x",
            "-uhttps://x",
            "ftp://example.com/repo.git",
            "git+ssh://example.com/repo.git",
            "https://",
            "https://example.com",
            "https://example.com/",
            "https://-oProxyCommand=x/repo",
            "https://exa mple.com/repo",
            "https://example.com/repo.git?x=1",
            "https://example.com/repo.git#main",
            "https://example.com\\@evil.example/repo.git",
            "https://a@b@example.com/repo.git",
            "https://example.com:0/repo.git",
            "https://example.com:65536/repo.git",
            "https://example.com:/repo.git",
            "https://example.com:8a/repo.git",
            "https://ex_ample..com/repo.git",
            "https://-example.com/repo.git",
            "https://example-.com/repo.git",
            "https://999.1.1.1/repo.git",
            "https://bücher.example/repo.git",
            "https://example.com/re\u{202e}po.git",
            "https://example.com/re\u{200b}po.git",
            "not a url",
            "/just/a/path",
            "./relative",
            "dir/sub:path",
            "host:",
            "host:/",
            "host::path",
            "",
            "https://example.com/a\nb",
            "-oProxyCommand=x@host:repo",
            "git@host@evil:repo",
        ] {
            let error = strict(bad).expect_err(bad);
            assert_eq!(error.field, "repo_url", "{bad:?}");
            assert!(error.message.contains("accepted forms"), "{bad:?}: {error}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert!(strict(&long).is_err());
    }

    #[test]
    fn refusals_show_no_raw_control_characters() {
        let error = strict("https://example.com/\u{1b}[2J").expect_err("ESC");
        assert!(error.message.contains("U+001B"), "{error}");
        assert!(!error.to_string().chars().any(char::is_control));
    }

    proptest::proptest! {
        #[test]
        fn accepted_urls_never_look_like_options(url in "\\PC{0,40}|[a-z]{2,5}://[-%@:\\[\\]a-z0-9./~]{0,30}|[-@\\[\\]a-z0-9.]{0,12}:[-a-z0-9/.]{0,12}") {
            let policy = RepoUrlPolicy { allow_file: true, allow_embedded_credentials: true };
            if let Ok(accepted) = repo_url_with(&url, policy) {
                proptest::prop_assert!(!accepted.starts_with('-'));
                proptest::prop_assert!(!accepted.chars().any(|c| c.is_whitespace() || c.is_control()));
                proptest::prop_assert!(!accepted.contains("::") || accepted.contains('['));
                let authority = match accepted.split_once("://") {
                    Some((_, rest)) => rest.split('/').next().unwrap_or_default(),
                    None => accepted.split(':').next().unwrap_or_default(),
                };
                proptest::prop_assert!(!authority.contains('%'));
                proptest::prop_assert!(!authority.split('@').any(|part| part.starts_with('-')), "{}", accepted);
            }
        }
    }

    #[test]
    fn kubeconfig_and_snapshot_paths_can_no_longer_name_any_file() {
        let kubeconfigs = PathRoots::parse("KUBECONFIG_ROOTS", DEFAULT_KUBECONFIG_ROOTS, None)
            .expect("the default parses");
        let snapshots = PathRoots::parse("SNAPSHOT_ROOTS", DEFAULT_SNAPSHOT_ROOTS, None)
            .expect("the default parses");
        for bad in [
            "/etc/shadow",
            "/proc/self/environ",
            "/",
            "/etc/statesight/kubeconfigs/../../shadow",
            "/etc/statesight/kubeconfigs-evil/config",
            "/etc/statesight",
            "~/.ssh/id_ed25519",
            "~root/.kube/config",
            "~/.kube/../.ssh/id_rsa",
            "relative/config",
        ] {
            let error = kubeconfigs.check("kubeconfig_path", bad).expect_err(bad);
            assert_eq!(error.field, "kubeconfig_path", "{bad}");
        }
        let error = kubeconfigs
            .check("kubeconfig_path", "/etc/shadow")
            .expect_err("outside");
        assert_eq!(
            error.to_string(),
            "kubeconfig_path: must be inside one of the directories the operator allows: /etc/statesight/kubeconfigs, ~/.kube"
        );
        for bad in [
            "/",
            "/proc/self",
            "/var/lib/statesight",
            "/var/lib/statesight/snapshots/../../..",
        ] {
            let error = snapshots.check("snapshot_dir", bad).expect_err(bad);
            assert_eq!(error.field, "snapshot_dir");
        }
        assert!(
            snapshots
                .check("snapshot_dir", "/etc")
                .expect_err("outside")
                .message
                .contains("/var/lib/statesight/snapshots")
        );
        assert_eq!(
            kubeconfigs.check(
                "kubeconfig_path",
                "/etc/statesight/kubeconfigs//prod/./config.yaml"
            ),
            Ok(String::from("/etc/statesight/kubeconfigs/prod/config.yaml"))
        );
        assert_eq!(
            kubeconfigs.check("kubeconfig_path", "~/.kube/config"),
            Ok(String::from("~/.kube/config"))
        );
        assert_eq!(
            snapshots.check("snapshot_dir", "/var/lib/statesight/snapshots/"),
            Ok(String::from("/var/lib/statesight/snapshots"))
        );
    }

    #[test]
    fn the_worker_checks_with_its_home_expanded() {
        let roots = PathRoots::parse(
            "KUBECONFIG_ROOTS",
            DEFAULT_KUBECONFIG_ROOTS,
            Some("/home/statesight/"),
        )
        .expect("parses");
        assert_eq!(
            roots.describe(),
            "/etc/statesight/kubeconfigs, /home/statesight/.kube"
        );
        assert_eq!(
            roots.check("kubeconfig_path", "~/.kube/config"),
            Ok(String::from("/home/statesight/.kube/config"))
        );
        assert_eq!(
            roots.check("kubeconfig_path", "/home/statesight/.kube/prod"),
            Ok(String::from("/home/statesight/.kube/prod"))
        );
        assert!(roots.check("kubeconfig_path", "~/.ssh/id_rsa").is_err());
        assert!(
            roots
                .check("kubeconfig_path", "/home/other/.kube/config")
                .is_err()
        );
        // An empty HOME is no home: `~` stays symbolic.
        let symbolic = PathRoots::parse("KUBECONFIG_ROOTS", "~/.kube", Some("")).expect("parses");
        assert_eq!(
            symbolic.check("kubeconfig_path", "~/.kube/c"),
            Ok(String::from("~/.kube/c"))
        );
        assert!(PathRoots::parse("KUBECONFIG_ROOTS", "~/.kube", Some("relative")).is_err());
    }

    #[test]
    fn roots_are_validated_and_explicit() {
        for bad in ["relative/dir", "/srv/../etc", "~other/x", "/srv/\u{7}"] {
            let error = PathRoots::parse("SNAPSHOT_ROOTS", bad, None).expect_err(bad);
            assert_eq!(error.field, "SNAPSHOT_ROOTS");
        }
        let none = PathRoots::parse("SNAPSHOT_ROOTS", "", None).expect("empty allows nothing");
        let error = none
            .check("snapshot_dir", "/srv/snap")
            .expect_err("nothing allowed");
        assert!(error.message.contains("no directory"), "{error}");
        let everything = PathRoots::parse("SNAPSHOT_ROOTS", "/", None).expect("parses");
        assert_eq!(
            everything.check("snapshot_dir", "/srv//snap"),
            Ok(String::from("/srv/snap"))
        );
        assert!(everything.check("snapshot_dir", "/srv/../etc").is_err());
        let several = PathRoots::parse("SNAPSHOT_ROOTS", "/a::/b/:", None).expect("parses");
        assert_eq!(several.describe(), "/a, /b");
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
        assert_eq!(
            local_path("snapshot_dir", " /srv//snap/ ").as_deref(),
            Ok("/srv/snap")
        );
        assert!(local_path("snapshot_dir", "/srv/../etc").is_err());
        assert!(local_path("snapshot_dir", "~root/x").is_err());
        assert!(display_name("name", "  ").is_err());
        assert_eq!(display_name("name", " ledger ").as_deref(), Ok("ledger"));
    }
}

#[cfg(test)]
mod repository_key_tests {
    use super::*;

    fn key(url: &str) -> String {
        repository_key(url)
            .unwrap_or_else(|| panic!("{url:?} has no key"))
            .to_string()
    }

    #[test]
    fn every_spelling_of_a_github_repository_has_one_key() {
        for url in [
            "https://github.com/acme/shop-deploy",
            "https://github.com/acme/shop-deploy.git",
            "https://github.com/acme/shop-deploy/",
            "https://github.com/acme/shop-deploy.git/",
            "http://github.com/acme/shop-deploy",
            "https://GitHub.COM/Acme/Shop-Deploy.GIT",
            "https://github.com:443/acme/shop-deploy.git",
            "https://www.github.com/acme/shop-deploy",
            "https://github.com//acme//shop-deploy",
            "ssh://git@github.com/acme/shop-deploy.git",
            "ssh://git@ssh.github.com:443/acme/shop-deploy.git",
            "git@github.com:acme/shop-deploy.git",
            "git@github.com:/acme/shop-deploy",
            "github.com:acme/shop-deploy",
            "git://github.com/acme/shop-deploy.git",
            "https://github.com/acme/%73hop-deploy",
            " https://github.com/acme/shop-deploy ",
        ] {
            assert_eq!(key(url), "github.com/acme/shop-deploy", "{url}");
        }
    }

    #[test]
    fn different_repositories_and_hosts_have_different_keys() {
        let base = key("https://github.com/acme/shop");
        for other in [
            "https://github.com/acme/shop-deploy",
            "https://github.com/other/shop",
            "https://gitlab.com/acme/shop",
            "https://github.example.com/acme/shop",
            "https://github.com/acme/shop/sub",
            "https://github.com/acme",
        ] {
            assert_ne!(key(other), base, "{other}");
        }
        // Only one `.git` is a suffix; the name `x.git.git` keeps one.
        assert_eq!(key("https://h.example/a/x.git.git"), "h.example/a/x.git");
    }

    #[test]
    fn local_and_refused_urls_have_no_key() {
        for url in [
            "file:///srv/git/shop.git",
            "/srv/git/shop.git",
            "ext::sh -c touch% /tmp/x",
            "https://github.com/",
            "https://github.com/.git",
            "",
            "https://github.com/acme/shop?x=1",
            "https://gith%75b.com/acme/shop",
        ] {
            assert_eq!(repository_key(url), None, "{url:?}");
        }
        assert_eq!(
            repository_key("https://github.com/acme/shop").map(|k| k.name().to_owned()),
            Some(String::from("shop"))
        );
    }

    #[test]
    fn branch_pushes_match_short_full_and_default_branch_refs() {
        let push = "refs/heads/main";
        for tracked in ["main", "heads/main", "refs/heads/main", " main "] {
            assert!(source_ref_tracks(tracked, push, Some("main")), "{tracked}");
        }
        assert!(source_ref_tracks("HEAD", push, Some("main")));
        assert!(!source_ref_tracks("HEAD", push, Some("trunk")));
        assert!(!source_ref_tracks("HEAD", push, None));
        for untracked in [
            "Main",
            "release",
            "refs/tags/main",
            "tags/main",
            "",
            "main2",
        ] {
            assert!(
                !source_ref_tracks(untracked, push, Some("main")),
                "{untracked}"
            );
        }
        assert!(source_ref_tracks("feature/x", "refs/heads/feature/x", None));
        assert!(!source_ref_tracks("x", "refs/heads/feature/x", None));
    }

    #[test]
    fn tag_pushes_match_only_unambiguous_tag_refs() {
        let push = "refs/tags/v1.2.0";
        assert!(source_ref_tracks("refs/tags/v1.2.0", push, Some("main")));
        assert!(source_ref_tracks("tags/v1.2.0", push, Some("main")));
        assert!(!source_ref_tracks("v1.2.0", push, Some("main")));
        assert!(!source_ref_tracks("HEAD", push, Some("v1.2.0")));
        assert!(!source_ref_tracks("main", "refs/pull/1/head", Some("main")));
        assert!(source_ref_tracks("refs/notes/x", "refs/notes/x", None));
    }

    #[test]
    fn commit_names() {
        assert!(is_full_commit_sha(&"a1".repeat(20)));
        assert!(is_full_commit_sha(&"0f".repeat(32)));
        for bad in [
            "",
            "main",
            &"A1".repeat(20),
            &"a1".repeat(19),
            &"g1".repeat(20),
        ] {
            assert!(!is_full_commit_sha(bad), "{bad}");
        }
        assert!(is_null_sha(&"0".repeat(40)));
        assert!(!is_null_sha(""));
        assert!(!is_null_sha(&"a1".repeat(20)));
    }

    /// Owner and repository names as GitHub allows them: letters, digits, `-`, `_`, `.`
    /// (the name `.git`-suffixed ones aside).
    fn name() -> impl proptest::strategy::Strategy<Value = String> {
        "[A-Za-z0-9][A-Za-z0-9_-]{0,20}"
    }

    proptest::proptest! {
        #[test]
        fn all_forms_of_one_repository_agree(owner in name(), repo in name(), upper in proptest::bool::ANY) {
            let (o, r) = if upper {
                (owner.to_uppercase(), repo.to_uppercase())
            } else {
                (owner.clone(), repo.clone())
            };
            let expected = repository_key(&format!("https://github.com/{owner}/{repo}"));
            proptest::prop_assert!(expected.is_some());
            for url in [
                format!("https://github.com/{o}/{r}.git"),
                format!("https://GITHUB.com/{o}/{r}/"),
                format!("ssh://git@github.com:22/{o}/{r}.git"),
                format!("git@github.com:{o}/{r}.git"),
                format!("git@github.com:{o}/{r}"),
                format!("git://github.com/{o}/{r}"),
            ] {
                proptest::prop_assert_eq!(&repository_key(&url), &expected, "{}", url);
            }
        }

        #[test]
        fn a_key_is_its_own_key(url in "(https://|ssh://git@|git@)[a-z]{1,8}\\.(com|org)(/|:)[A-Za-z0-9_/]{1,30}(\\.git)?/?") {
            if let Some(key) = repository_key(&url) {
                let again = repository_key(&format!("https://{key}"));
                proptest::prop_assert_eq!(again, Some(key));
            }
        }

        #[test]
        fn keys_never_panic_and_are_lowercase(url in "\\PC{0,80}") {
            if let Some(key) = repository_key(&url) {
                proptest::prop_assert_eq!(key.path.to_lowercase(), key.path.clone());
                proptest::prop_assert!(!key.path.is_empty());
                proptest::prop_assert!(!key.host.is_empty());
            }
        }
    }
}
