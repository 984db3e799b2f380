//! The GitHub webhook's shared secret and the `X-Hub-Signature-256` check: `sha256=` and
//! the hex HMAC-SHA256 of the raw request body, compared in constant time.

use std::fmt;
use std::sync::Arc;

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The environment variable holding the secret.
pub const SECRET_ENV: &str = "GITHUB_WEBHOOK_SECRET";
/// The header GitHub signs deliveries in.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The shortest secret accepted: GitHub recommends a long random string, and a short one can
/// be guessed offline from one captured delivery.
pub const MIN_SECRET_CHARS: usize = 16;
/// The largest webhook body read. GitHub caps payloads at 25 MB; a push of many commits is
/// rarely over a few hundred KB, and the body must be held whole to check its signature, so
/// 5 MiB bounds what an unauthenticated caller can make the server buffer.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 5 * 1024 * 1024;

/// The configured secret. Never printed: `Debug` says only that it is there.
#[derive(Clone)]
pub struct WebhookSecret(Arc<[u8]>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(redacted)")
    }
}

/// Why a configured secret is refused at startup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakSecret {
    #[error(
        "{SECRET_ENV} is shorter than {MIN_SECRET_CHARS} characters; generate one with `openssl rand -hex 32` and enter the same value as the webhook's secret in GitHub"
    )]
    TooShort,
    #[error(
        "{SECRET_ENV} starts or ends with whitespace (a copy-and-paste accident?); GitHub signs with the secret exactly as entered there, so set the variable to the same characters without the whitespace"
    )]
    SurroundingWhitespace,
    #[error("{SECRET_ENV} contains control characters")]
    ControlCharacters,
}

impl WebhookSecret {
    /// The secret from the environment's value: `None` when unset or empty (the webhook is
    /// off and its route answers 404), an error when it is too weak or mistyped.
    pub fn from_config(configured: Option<&str>) -> Result<Option<Self>, WeakSecret> {
        let Some(text) = configured.filter(|text| !text.is_empty()) else {
            return Ok(None);
        };
        if text.trim() != text {
            return Err(WeakSecret::SurroundingWhitespace);
        }
        if text.chars().any(char::is_control) {
            return Err(WeakSecret::ControlCharacters);
        }
        if text.chars().count() < MIN_SECRET_CHARS {
            return Err(WeakSecret::TooShort);
        }
        Ok(Some(WebhookSecret(Arc::from(text.as_bytes()))))
    }

    /// Checks the delivery's signature header against `body`.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        let mut values = headers.get_all(SIGNATURE_HEADER).iter();
        let value = values.next().ok_or(SignatureError::Missing)?;
        if values.next().is_some() {
            return Err(SignatureError::Multiple);
        }
        let text = value.to_str().map_err(|_| SignatureError::Malformed)?;
        let digest = text
            .strip_prefix("sha256=")
            .filter(|hex| hex.len() == 64)
            .and_then(|hex_digest| hex::decode(hex_digest).ok())
            .ok_or(SignatureError::Malformed)?;
        let mut mac = self.mac();
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&digest)
            .map_err(|_| SignatureError::Mismatch)
    }

    /// `sha256=<hex>` of `body`: what a sender puts in the header (tests, tools).
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; the error cannot happen.
        <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
    }
}

/// Why a delivery's signature is refused (all answered 401 `unauthenticated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "the X-Hub-Signature-256 header is missing: deliveries must be signed with the webhook's secret (set a secret on the webhook in GitHub)"
    )]
    Missing,
    #[error("exactly one X-Hub-Signature-256 header is allowed")]
    Multiple,
    #[error("the X-Hub-Signature-256 header must be `sha256=` followed by 64 hexadecimal digits")]
    Malformed,
    #[error(
        "the X-Hub-Signature-256 signature does not match the body: the webhook's secret in GitHub differs from GITHUB_WEBHOOK_SECRET, or the body was changed on the way"
    )]
    Mismatch,
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::from_config(Some("It's a Secret to Everybody"))
            .expect("valid")
            .expect("configured")
    }

    fn headers(signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(signature).expect("header"),
        );
        headers
    }

    /// GitHub's documented example: secret "It's a Secret to Everybody", payload
    /// "Hello, World!".
    #[test]
    fn githubs_documented_example_verifies() {
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(secret().sign(b"Hello, World!"), expected);
        assert_eq!(
            secret().verify(&headers(expected), b"Hello, World!"),
            Ok(())
        );
    }

    #[test]
    fn wrong_missing_and_malformed_signatures_are_refused() {
        let body = b"{}";
        let good = secret().sign(body);
        assert_eq!(secret().verify(&headers(&good), body), Ok(()));
        assert_eq!(
            secret().verify(&headers(&good), b"{ }"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            secret().verify(&HeaderMap::new(), body),
            Err(SignatureError::Missing)
        );
        let hex_part = good.trim_start_matches("sha256=");
        for bad in [
            hex_part.to_owned(),
            format!("sha1={hex_part}"),
            format!("sha256={}", &hex_part[..63]),
            format!("sha256={}zz", &hex_part[..62]),
            format!("SHA256={hex_part}"),
            String::from("sha256="),
        ] {
            assert_eq!(
                secret().verify(&headers(&bad), body),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        let mut two = headers(&good);
        two.append(SIGNATURE_HEADER, HeaderValue::from_static("sha256=00"));
        assert_eq!(secret().verify(&two, body), Err(SignatureError::Multiple));
    }

    #[test]
    fn weak_or_mistyped_secrets_are_refused_and_empty_means_off() {
        assert!(matches!(WebhookSecret::from_config(None), Ok(None)));
        assert!(matches!(WebhookSecret::from_config(Some("")), Ok(None)));
        assert_eq!(
            WebhookSecret::from_config(Some("short")).err(),
            Some(WeakSecret::TooShort)
        );
        assert_eq!(
            WebhookSecret::from_config(Some(" 0123456789abcdef0123")).err(),
            Some(WeakSecret::SurroundingWhitespace)
        );
        assert_eq!(
            WebhookSecret::from_config(Some("0123456789abcdef\u{7}")).err(),
            Some(WeakSecret::ControlCharacters)
        );
        assert_eq!(format!("{:?}", secret()), "WebhookSecret(redacted)");
    }
}
