//! The HTTP client that talks to the OpenID provider: TLS through rustls (with an optional
//! extra CA bundle), the usual proxy variables (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`,
//! honoured by reqwest), no redirects (a redirect could lead a discovery or key request
//! somewhere the operator never configured), short time limits and capped bodies.

use std::time::Duration;

use reqwest::Url;
use serde::de::DeserializeOwned;

use super::{OidcSettings, SetupError};

/// Provider documents larger than this are refused (a key set is a few KiB).
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Installs ring as rustls's process-wide crypto provider. reqwest built without a provider
/// panics when a client is created and none is installed; calling this first is harmless
/// when one already is.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn client(settings: &OidcSettings) -> Result<reqwest::Client, SetupError> {
    ensure_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .https_only(!settings.allow_insecure)
        .user_agent(concat!("statesight-server/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &settings.ca_bundle {
        let pem = std::fs::read(path).map_err(|error| SetupError::CaBundle {
            path: path.clone(),
            reason: error.to_string(),
        })?;
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| SetupError::CaBundle {
                path: path.clone(),
                reason: format!("not a PEM certificate bundle: {error}"),
            })?;
        if certificates.is_empty() {
            return Err(SetupError::CaBundle {
                path: path.clone(),
                reason: String::from("it holds no PEM certificate"),
            });
        }
        // Added to the system's trust store, not instead of it.
        builder = builder.tls_certs_merge(certificates);
    }
    builder
        .build()
        .map_err(|error| SetupError::Client(error.to_string()))
}

/// Why a provider document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Transport(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answered with more than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("answered with something that is not the expected JSON: {0}")]
    Json(String),
}

/// GETs `url` and decodes its JSON body, reading at most [`MAX_DOCUMENT_BYTES`].
pub async fn get_json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: &Url,
) -> Result<T, FetchError> {
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| FetchError::Transport(describe(&error)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| FetchError::Transport(describe(&error)))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|error| FetchError::Json(error.to_string()))
}

/// reqwest's top-level message ("error sending request") hides the cause; the chain has it
/// (connection refused, certificate unknown, timed out).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
