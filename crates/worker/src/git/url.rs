//! Repository URLs as logs, errors and the cache see them. Credentials typed into a URL
//! (`https://user:token@host/…`) never leave this module: messages get a redacted form, the
//! cache directory name is derived from the URL with its user information removed.

use sha2::{Digest, Sha256};

/// How many characters of readable slug a cache directory name keeps (the end of the URL,
/// where the repository name is).
const SLUG_LENGTH: usize = 48;

/// The parts of a URL that matter here. `userinfo` is what sits before the host's `@`.
struct Parts<'a> {
    /// `https://`, `ssh://`, … including the separator; empty for scp-like `host:path`.
    scheme: &'a str,
    userinfo: Option<&'a str>,
    /// Host and everything after it.
    rest: &'a str,
}

fn split(url: &str) -> Parts<'_> {
    if let Some(index) = url.find("://") {
        let (scheme, after) = url.split_at(index + 3);
        let authority_end = after.find('/').unwrap_or(after.len());
        if let Some(at) = after[..authority_end].rfind('@') {
            return Parts {
                scheme,
                userinfo: Some(&after[..at]),
                rest: &after[at + 1..],
            };
        }
        return Parts {
            scheme,
            userinfo: None,
            rest: after,
        };
    }
    // scp-like `[user@]host:path`: the user part ends at the last `@` before the first `:`
    // that follows it; a `:` inside the user part means a password was typed there.
    let host_end = url
        .rfind('@')
        .and_then(|at| url[at..].find(':').map(|colon| at + colon))
        .unwrap_or(url.len());
    match url[..host_end].rfind('@') {
        Some(at) => Parts {
            scheme: "",
            userinfo: Some(&url[..at]),
            rest: &url[at + 1..],
        },
        None => Parts {
            scheme: "",
            userinfo: None,
            rest: url,
        },
    }
}

/// Whether user information may be shown: an SSH user name (`git@github.com:…`) is not a
/// secret, but over HTTP the "user" is often a token, and anything with a `:` is a password.
fn userinfo_is_secret(scheme: &str, userinfo: &str) -> bool {
    userinfo.contains(':')
        || scheme.eq_ignore_ascii_case("https://")
        || scheme.eq_ignore_ascii_case("http://")
}

/// The URL as it may appear in logs, errors and stored results: secret user information
/// replaced by `***`, so a reader still sees that credentials were configured.
pub fn redact(url: &str) -> String {
    let parts = split(url);
    match parts.userinfo {
        Some(userinfo) if userinfo_is_secret(parts.scheme, userinfo) => {
            format!("{}***@{}", parts.scheme, parts.rest)
        }
        _ => url.to_owned(),
    }
}

/// The URL without any user information: what identifies the repository regardless of
/// whose credentials fetch it.
fn anonymous(url: &str) -> String {
    let parts = split(url);
    format!("{}{}", parts.scheme, parts.rest)
}

/// Replaces every occurrence of the URL's secret parts in `text` (git's stderr, a
/// kustomize message) so nothing a user typed as a credential is repeated.
pub fn redact_text(text: &str, url: &str) -> String {
    let parts = split(url);
    let mut text = text.to_owned();
    if let Some(userinfo) = parts
        .userinfo
        .filter(|u| userinfo_is_secret(parts.scheme, u))
    {
        text = text.replace(url, &redact(url));
        // Also the bare secret, in case a tool printed it on its own. Very short values are
        // left alone: replacing `git` everywhere would garble the message and hide nothing.
        let secrets = [
            Some(userinfo),
            userinfo.split_once(':').map(|(_, password)| password),
        ];
        for secret in secrets.into_iter().flatten().filter(|s| s.len() >= 6) {
            text = text.replace(secret, "***");
        }
    }
    text
}

/// The mirror's directory name under the cache: a readable slug of host and path plus the
/// first 16 hex digits of the SHA-256 of the credential-free URL, so two URLs never share a
/// mirror by accident and rotating a token keeps the cache.
pub fn cache_name(url: &str) -> String {
    let anonymous = anonymous(url);
    let digest = hex::encode(Sha256::digest(anonymous.as_bytes()));
    let without_scheme = anonymous
        .split_once("://")
        .map_or(anonymous.as_str(), |(_, rest)| rest);
    let mut slug = String::new();
    for c in without_scheme.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    // The slug is ASCII, so any byte offset is a character boundary.
    let slug = &slug[slug.len().saturating_sub(SLUG_LENGTH)..];
    let slug = slug.trim_start_matches('-');
    let slug = if slug.is_empty() { "repo" } else { slug };
    format!("{slug}-{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_ssh_users_kept() {
        assert_eq!(
            redact("https://user:s3cret@example.com/acme/deploy.git"),
            "https://***@example.com/acme/deploy.git"
        );
        assert_eq!(
            redact("https://ghp_token@example.com/acme/deploy.git"),
            "https://***@example.com/acme/deploy.git"
        );
        assert_eq!(
            redact("ssh://git@example.com:2222/acme/deploy.git"),
            "ssh://git@example.com:2222/acme/deploy.git"
        );
        assert_eq!(
            redact("git@github.com:acme/deploy.git"),
            "git@github.com:acme/deploy.git"
        );
        assert_eq!(
            redact("file:///srv/repos/ledger.git"),
            "file:///srv/repos/ledger.git"
        );
        // An `@` in the path is not user information.
        assert_eq!(
            redact("https://example.com/a@b/repo.git"),
            "https://example.com/a@b/repo.git"
        );
    }

    #[test]
    fn stderr_never_repeats_a_credential() {
        let url = "https://bob:hunter2@example.com/repo.git";
        let text = "fatal: unable to access 'https://bob:hunter2@example.com/repo.git/': hunter2";
        let redacted = redact_text(text, url);
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains("https://***@example.com/repo.git"));
    }

    #[test]
    fn cache_names_are_readable_stable_and_credential_free() {
        let name = cache_name("https://user:token@example.com/acme/deploy.git");
        assert_eq!(name, cache_name("https://example.com/acme/deploy.git"));
        assert!(name.starts_with("example-com-acme-deploy-git-"), "{name}");
        assert!(!name.contains("token"));
        assert_ne!(name, cache_name("https://example.com/acme/other.git"));
        let long = cache_name(&format!("https://example.com/{}/repo.git", "x".repeat(200)));
        assert!(long.len() <= SLUG_LENGTH + 17, "{long}");
        assert!(long.contains("repo-git-"));
        assert!(cache_name("file:///").starts_with("repo-"));
    }
}
