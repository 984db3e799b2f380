//! OpenID Connect discovery: `<issuer>/.well-known/openid-configuration`, checked against
//! what the operator configured before anything trusts it.

use reqwest::Url;
use serde::Deserialize;

use super::OidcSettings;
use super::http::{FetchError, get_json};

/// The parts of the provider's discovery document the server uses or reports.
#[derive(Debug, Clone)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub jwks_uri: Url,
    pub token_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint: Option<String>,
    #[serde(default)]
    device_authorization_endpoint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "OIDC_ISSUER_URL {issuer} is not a usable URL ({reason}); set it to the provider's \
         issuer, e.g. https://login.example.com/realms/ops"
    )]
    BadIssuerUrl { issuer: String, reason: String },
    #[error(
        "OpenID discovery at {url} failed: {source}; check OIDC_ISSUER_URL, that the provider \
         is reachable from this host (HTTPS_PROXY/NO_PROXY) and, for a private CA, \
         OIDC_CA_BUNDLE"
    )]
    Fetch {
        url: String,
        #[source]
        source: FetchError,
    },
    #[error(
        "the discovery document at {url} names the issuer {found:?}, not {expected:?}: tokens \
         from it would never verify; set OIDC_ISSUER_URL to exactly the provider's issuer"
    )]
    IssuerMismatch {
        url: String,
        expected: String,
        found: String,
    },
    #[error("the provider's jwks_uri {uri:?} is not a usable URL: {reason}")]
    BadKeySetUrl { uri: String, reason: String },
}

/// The discovery document's URL for an issuer (RFC 8414, section 3 as OpenID Connect uses it:
/// appended to the issuer's path).
pub fn document_url(issuer: &str) -> Result<Url, DiscoveryError> {
    let bad = |reason: String| DiscoveryError::BadIssuerUrl {
        issuer: issuer.to_owned(),
        reason,
    };
    let parsed = Url::parse(issuer).map_err(|error| bad(error.to_string()))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad(String::from(
            "an issuer has no query or fragment (OpenID Connect Discovery 1.0, section 2)",
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad(String::from("it names no host")));
    }
    let url = Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
    .map_err(|error| bad(error.to_string()))?;
    Ok(url)
}

/// Checks that `url` is http(s) and, unless insecure providers are allowed, https.
pub fn check_scheme(url: &Url, allow_insecure: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure => Ok(()),
        "http" => Err(String::from(
            "plain HTTP; the provider must use HTTPS (OIDC_ALLOW_INSECURE_ISSUER=true allows \
             HTTP, for tests and loopback providers only)",
        )),
        other => Err(format!("scheme {other:?} is neither https nor http")),
    }
}

pub async fn fetch(
    client: &reqwest::Client,
    settings: &OidcSettings,
) -> Result<ProviderMetadata, DiscoveryError> {
    let url = document_url(&settings.issuer)?;
    check_scheme(&url, settings.allow_insecure).map_err(|reason| DiscoveryError::BadIssuerUrl {
        issuer: settings.issuer.clone(),
        reason,
    })?;
    let document: Document =
        get_json(client, &url)
            .await
            .map_err(|source| DiscoveryError::Fetch {
                url: url.to_string(),
                source,
            })?;
    if document.issuer != settings.issuer {
        return Err(DiscoveryError::IssuerMismatch {
            url: url.to_string(),
            expected: settings.issuer.clone(),
            found: document.issuer,
        });
    }
    let bad_keys = |reason: String| DiscoveryError::BadKeySetUrl {
        uri: document.jwks_uri.clone(),
        reason,
    };
    let jwks_uri = Url::parse(&document.jwks_uri).map_err(|error| bad_keys(error.to_string()))?;
    check_scheme(&jwks_uri, settings.allow_insecure).map_err(bad_keys)?;
    Ok(ProviderMetadata {
        issuer: document.issuer,
        jwks_uri,
        token_endpoint: document.token_endpoint,
        device_authorization_endpoint: document.device_authorization_endpoint,
    })
}
