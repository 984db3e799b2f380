//! The checks a bearer token passes to be accepted: a JWT of bounded size, signed with an
//! allowed asymmetric algorithm by a key the issuer publishes, from exactly our issuer, for
//! our audience, inside its validity window, and an access token rather than an ID token.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::OidcSettings;
use super::keys::{KeyCache, Lookup};

/// Bearer tokens longer than this are refused before any parsing (real ones are 1–4 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Subjects longer than this are refused (they become database keys and log fields).
const MAX_SUBJECT_CHARS: usize = 255;

/// The algorithms a token may be signed with. Never `none` (the JWT library cannot even
/// parse it) and never HMAC: a verifier holding only public keys must not treat one as a
/// shared secret.
const ALLOWED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub issuer: String,
    pub subject: String,
    /// The OAuth client the token was issued to, when the token says.
    pub client_id: Option<String>,
    /// When the token stops being valid (its `exp`, Unix seconds): a long-lived answer such
    /// as the event stream ends then.
    pub expires_at: i64,
}

/// Why a token was refused. Messages help the caller fix it and never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the bearer token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error(
        "the bearer token is not a well-formed JWT (expected three base64url parts with a JSON \
         header naming its algorithm)"
    )]
    Malformed,
    #[error(
        "tokens signed with {0} are not accepted: access tokens must be signed with an \
         asymmetric algorithm (RS256/384/512, PS256/384/512, ES256/384, EdDSA)"
    )]
    AlgorithmNotAllowed(String),
    #[error(
        "the token's signing key (kid {0}) is not among the issuer's published keys; sign in \
         again to get a token signed with a current key"
    )]
    UnknownKey(String),
    #[error("the issuer's signing keys could not be read to check this token; retry shortly")]
    KeysUnavailable,
    #[error("the token's signature does not verify against the issuer's published keys")]
    BadSignature,
    #[error("the token has expired; refresh it or sign in again")]
    Expired,
    #[error("the token is not valid yet (its nbf is in the future); check this machine's clock")]
    NotYetValid,
    #[error("the token was issued by another issuer; this server accepts tokens from {0}")]
    WrongIssuer(String),
    #[error(
        "the token is not meant for this API: its aud must include {0} (GET /api/v1/auth/config \
         says how to ask the provider for it)"
    )]
    WrongAudience(String),
    #[error(
        "this is an ID token (its audience is the console's client id); send the access token \
         the provider issued alongside it"
    )]
    IdToken,
    #[error("a token of type {0} is not an access token")]
    NotAnAccessToken(String),
    #[error("the token has no usable {0} claim")]
    MissingClaim(&'static str),
}

impl TokenError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::TooLarge => "too_large",
            TokenError::Malformed => "malformed",
            TokenError::AlgorithmNotAllowed(_) => "algorithm",
            TokenError::UnknownKey(_) => "unknown_key",
            TokenError::KeysUnavailable => "keys_unavailable",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::WrongIssuer(_) => "issuer",
            TokenError::WrongAudience(_) => "audience",
            TokenError::IdToken => "id_token",
            TokenError::NotAnAccessToken(_) => "token_type",
            TokenError::MissingClaim(_) => "claims",
        }
    }
}

/// Optional fields, so a missing claim is reported as missing rather than as malformed JSON
/// (the validation requires `exp`, `iss`, `aud` and `sub`).
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    /// Required by the validation, so present and checked by the time it is read.
    #[serde(default)]
    exp: i64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn only(&self, value: &str) -> bool {
        match self {
            Audience::One(one) => one == value,
            Audience::Many(many) => !many.is_empty() && many.iter().all(|one| one == value),
        }
    }
}

pub async fn verify(
    settings: &OidcSettings,
    keys: &Arc<KeyCache>,
    token: &str,
) -> Result<VerifiedIdentity, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    // A header the library cannot read may still name an algorithm (`none`, a typo): say so.
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        algorithm_name(token).map_or(TokenError::Malformed, TokenError::AlgorithmNotAllowed)
    })?;
    if !ALLOWED_ALGORITHMS.contains(&header.alg) {
        return Err(TokenError::AlgorithmNotAllowed(format!("{:?}", header.alg)));
    }
    let token_type = header.typ.as_deref().map(normalized_type);
    if let Some(kind) = &token_type
        && kind != "at+jwt"
        && kind != "jwt"
    {
        return Err(TokenError::NotAnAccessToken(crate::error::echo(kind)));
    }
    let candidates = match keys.lookup(header.kid.as_deref()).await {
        Lookup::Found(candidates) => candidates,
        Lookup::Unknown => {
            return Err(TokenError::UnknownKey(
                header
                    .kid
                    .as_deref()
                    .map_or_else(|| String::from("(none)"), crate::error::echo),
            ));
        }
        Lookup::Unavailable(error) => {
            tracing::warn!(%error, "an unknown signing key could not be looked up");
            return Err(TokenError::KeysUnavailable);
        }
    };
    let validation = validation(settings, header.alg);
    let mut last_error = TokenError::BadSignature;
    for candidate in candidates {
        if candidate
            .algorithm
            .is_some_and(|pinned| pinned != header.alg)
        {
            continue;
        }
        match jsonwebtoken::decode::<Claims>(token, &candidate.key, &validation) {
            Ok(data) => return accept(settings, data.claims),
            Err(error) => last_error = refusal(settings, token, error.kind()),
        }
        if !matches!(last_error, TokenError::BadSignature) {
            break;
        }
    }
    Err(last_error)
}

fn validation(settings: &OidcSettings, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = settings.leeway.as_secs();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_issuer(&[settings.issuer.as_str()]);
    validation.set_audience(&[settings.audience.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation
}

/// The last checks, on claims whose signature, issuer, audience and window are verified.
fn accept(settings: &OidcSettings, claims: Claims) -> Result<VerifiedIdentity, TokenError> {
    if settings
        .client_id
        .as_deref()
        .is_some_and(|client_id| claims.aud.as_ref().is_some_and(|aud| aud.only(client_id)))
    {
        return Err(TokenError::IdToken);
    }
    let subject = claims.sub.unwrap_or_default();
    if subject.is_empty()
        || subject.chars().count() > MAX_SUBJECT_CHARS
        || subject.chars().any(char::is_control)
    {
        return Err(TokenError::MissingClaim("sub"));
    }
    Ok(VerifiedIdentity {
        issuer: claims.iss,
        subject,
        client_id: claims.client_id.or(claims.azp),
        expires_at: claims.exp,
    })
}

fn refusal(settings: &OidcSettings, token: &str, kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer(settings.issuer.clone()),
        // The signature verified, so reading the payload to explain the refusal is safe.
        ErrorKind::InvalidAudience if is_id_token(settings, token) => TokenError::IdToken,
        ErrorKind::InvalidAudience => TokenError::WrongAudience(settings.audience.clone()),
        ErrorKind::MissingRequiredClaim(claim) => TokenError::MissingClaim(match claim.as_str() {
            "exp" => "exp",
            "iss" => "iss",
            "aud" => "aud",
            _ => "sub",
        }),
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm => TokenError::BadSignature,
        _ => TokenError::Malformed,
    }
}

/// Whether the (verified) token's audience is only the console's client id.
fn is_id_token(settings: &OidcSettings, token: &str) -> bool {
    settings.client_id.as_deref().is_some_and(|client_id| {
        payload(token).is_some_and(|claims| claims.aud.is_some_and(|aud| aud.only(client_id)))
    })
}

/// The claims of a token whose signature already verified.
fn payload(token: &str) -> Option<Claims> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `typ` compared the way RFC 9068, section 4 asks: case-insensitively, `application/` optional.
fn normalized_type(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    lower
        .strip_prefix("application/")
        .map(str::to_owned)
        .unwrap_or(lower)
}

/// The `alg` a token's header names when the JWT library cannot read the header (`none`,
/// typos), escaped for the message.
fn algorithm_name(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    header
        .get("alg")
        .and_then(|alg| alg.as_str())
        .map(crate::error::echo)
}
