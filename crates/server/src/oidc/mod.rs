//! Bearer-token verification against an OpenID provider: discovery at startup, a cached key
//! set refreshed when a token names a key it has not seen (rate-limited), and the checks a
//! token must pass to be accepted as an access token for this API. `docs/authentication.md`
//! is the contract written out for operators.

mod discovery;
mod http;
mod keys;
mod token;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use statesight_core::wire::AudienceParameter;

pub use discovery::{DiscoveryError, ProviderMetadata};
pub use http::ensure_crypto_provider;
pub use keys::KeyCache;
pub use token::{TokenError, VerifiedIdentity};

/// The discovery URL of `issuer`, refusing what is not an http(s) URL.
pub fn discovery_url(issuer: &str) -> Result<reqwest::Url, DiscoveryError> {
    let url = discovery::document_url(issuer)?;
    discovery::check_scheme(&url, true).map_err(|reason| DiscoveryError::BadIssuerUrl {
        issuer: issuer.to_owned(),
        reason,
    })?;
    Ok(url)
}

/// What `GET /api/v1/auth/config` publishes for these settings.
pub fn public_config(
    auth_required: bool,
    settings: Option<&OidcSettings>,
) -> statesight_core::wire::PublicAuthConfig {
    statesight_core::wire::PublicAuthConfig {
        auth_required,
        issuer: settings.map(|settings| settings.issuer.clone()),
        audience: settings.map(|settings| settings.audience.clone()),
        client_id: settings.and_then(|settings| settings.client_id.clone()),
        scopes: settings
            .map(|settings| settings.scopes.clone())
            .unwrap_or_default(),
        audience_parameter: settings.map(|settings| settings.audience_parameter),
    }
}

/// Clock skew tolerated on `exp` and `nbf` when nothing else is configured.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// The largest leeway an operator may configure: more would keep expired tokens alive.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// A token naming an unknown key refreshes the key set at most this often.
pub const DEFAULT_MIN_KEY_REFRESH: Duration = Duration::from_secs(10);
/// Keys are re-read this often even when every token names a known key, so a key the
/// provider withdrew stops verifying.
pub const DEFAULT_KEY_MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// Everything the verifier needs, validated (see `ServeArgs::oidc_settings`).
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Compared byte for byte with the discovery document's `issuer` and every token's `iss`.
    pub issuer: String,
    /// What `aud` must contain.
    pub audience: String,
    /// The console's public client; an `aud` that is only this is an ID token.
    pub client_id: Option<String>,
    /// Plain-HTTP issuer and key-set URLs are allowed (tests, a provider on loopback).
    pub allow_insecure: bool,
    /// Extra trust anchors (PEM) for the provider's TLS certificate.
    pub ca_bundle: Option<PathBuf>,
    pub leeway: Duration,
    pub min_key_refresh: Duration,
    pub key_max_age: Duration,
    /// Shown to clients by `GET /api/v1/auth/config`.
    pub scopes: Vec<String>,
    pub audience_parameter: AudienceParameter,
}

/// Verifies bearer tokens. Built once at startup by [`OidcVerifier::discover`], which fails
/// when the provider cannot be reached or describes itself inconsistently.
#[derive(Debug)]
pub struct OidcVerifier {
    settings: OidcSettings,
    metadata: ProviderMetadata,
    keys: Arc<KeyCache>,
}

/// Why the verifier could not be built; the server refuses to start with this message.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("reading the CA bundle {path}: {reason}")]
    CaBundle { path: PathBuf, reason: String },
    #[error("building the HTTP client for the OpenID provider: {0}")]
    Client(String),
    #[error(transparent)]
    Discovery(#[from] discovery::DiscoveryError),
    #[error(transparent)]
    Keys(#[from] keys::KeyFetchError),
}

impl OidcVerifier {
    /// Reads the provider's discovery document and key set. Any failure is fatal: a server
    /// that cannot verify tokens must not start and answer 401 to everyone.
    pub async fn discover(settings: OidcSettings) -> Result<Self, SetupError> {
        let client = http::client(&settings)?;
        let metadata = discovery::fetch(&client, &settings).await?;
        let keys = KeyCache::load(
            client,
            metadata.jwks_uri.clone(),
            settings.min_key_refresh,
            settings.key_max_age,
        )
        .await?;
        Ok(OidcVerifier {
            settings,
            metadata,
            keys: Arc::new(keys),
        })
    }

    /// Verifies `token` as an access token for this API and returns who it speaks for.
    pub async fn verify(&self, token: &str) -> Result<VerifiedIdentity, TokenError> {
        let outcome = token::verify(&self.settings, &self.keys, token).await;
        if let Err(error) = &outcome {
            metrics::counter!(TOKEN_REJECTIONS, "reason" => error.reason()).increment(1);
        }
        outcome
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    pub fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    /// How many times the key set was fetched (startup included).
    pub fn key_fetches(&self) -> u64 {
        self.keys.fetches()
    }
}

/// Rejected bearer tokens by reason (`expired`, `bad_signature`, …).
pub const TOKEN_REJECTIONS: &str = "statesight_auth_token_rejections_total";
/// Key-set fetches by outcome (`ok`, `error`).
pub const KEY_FETCHES: &str = "statesight_auth_jwks_fetches_total";
