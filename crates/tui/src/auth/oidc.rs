//! Talking to the identity provider with the `openidconnect` crate: what the server publishes
//! (`GET /api/v1/auth/config`), discovery, the device authorization grant (RFC 8628), refresh
//! and revocation. Requests go through a small adapter over reqwest 0.13 that follows no
//! redirects (a token request must never be replayed to wherever a redirect points).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreDeviceAuthorizationResponse, CoreErrorResponseType, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreRevocableToken, CoreSubjectIdentifierType, CoreTokenResponse,
};
use openidconnect::url;
use openidconnect::{
    AdditionalProviderMetadata, AsyncHttpClient, AuthType, ClientId, DeviceAuthorizationUrl,
    DeviceCodeErrorResponseType, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl,
    Nonce, OAuth2TokenResponse, ProviderMetadata, RefreshToken, RequestTokenError, RevocationUrl,
    Scope, TokenResponse as _,
};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use statesight_core::wire::{AudienceParameter, PublicAuthConfig};

use crate::client::describe;
use crate::exit;

/// Why signing in, refreshing or revoking failed. Messages say what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SignInError {
    #[error(
        "{server} needs no sign-in (authentication is off there): every command works without one"
    )]
    NotRequired { server: String },
    #[error("the sign-in was denied{}: run `statesight-tui login` to try again", detail(.0))]
    Denied(Option<String>),
    #[error(
        "the code expired before the sign-in was approved: run `statesight-tui login` again and approve it within {0}"
    )]
    Expired(String),
    #[error("your sign-in to {server} was revoked or expired: run `statesight-tui login`")]
    Revoked { server: String },
    #[error("cannot reach {what}: {reason}")]
    Unreachable { what: String, reason: String },
    #[error("the identity provider refused the request: {0}")]
    Provider(String),
    #[error("{0}")]
    Misconfigured(String),
}

fn detail(description: &Option<String>) -> String {
    match description {
        Some(text) if !text.is_empty() => format!(" ({text})"),
        _ => String::new(),
    }
}

impl SignInError {
    pub fn exit_code(&self) -> u8 {
        match self {
            SignInError::NotRequired { .. } | SignInError::Misconfigured(_) => exit::USAGE,
            SignInError::Denied(_) | SignInError::Expired(_) | SignInError::Revoked { .. } => {
                exit::SIGN_IN_REQUIRED
            }
            SignInError::Unreachable { .. } | SignInError::Provider(_) => exit::UNREACHABLE,
        }
    }
}

/// Transport failure of the adapter (the provider could not be reached or its answer read).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(String);

/// The largest answer read from the provider.
const MAX_PROVIDER_BODY: usize = 1024 * 1024;

/// openidconnect's HTTP requests over reqwest 0.13 (openidconnect's own adapter is for reqwest
/// 0.12). The client must follow no redirects.
#[derive(Clone)]
pub struct OidcHttp {
    client: reqwest::Client,
    /// Counts `slow_down` answers seen (device-code polling).
    slow_downs: Arc<AtomicU32>,
}

impl OidcHttp {
    pub fn new(client: reqwest::Client) -> OidcHttp {
        OidcHttp {
            client,
            slow_downs: Arc::new(AtomicU32::new(0)),
        }
    }

    async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (parts, body) = request.into_parts();
        let url = Url::parse(&parts.uri.to_string())
            .map_err(|error| TransportError(format!("bad provider URL {}: {error}", parts.uri)))?;
        let mut builder = self.client.request(parts.method, url.clone()).body(body);
        for (name, value) in &parts.headers {
            builder = builder.header(name, value);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|error| TransportError(describe(&error)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| TransportError(describe(&error)))?
        {
            if bytes.len() + chunk.len() > MAX_PROVIDER_BODY {
                return Err(TransportError(format!(
                    "{url} answered more than {MAX_PROVIDER_BODY} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.as_u16() == 400 && body_error(&bytes).as_deref() == Some("slow_down") {
            self.slow_downs.fetch_add(1, Ordering::SeqCst);
        }
        let mut answer = openidconnect::http::Response::builder().status(status);
        for (name, value) in &headers {
            answer = answer.header(name, value);
        }
        answer
            .body(bytes)
            .map_err(|error| TransportError(format!("reading the provider's answer: {error}")))
    }
}

fn body_error(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    value["error"].as_str().map(str::to_owned)
}

impl<'c> AsyncHttpClient<'c> for OidcHttp {
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}

/// Provider metadata beyond what openidconnect reads: the device authorization endpoint
/// (RFC 8628) and the revocation endpoint (RFC 7009).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ExtraMetadata {
    #[serde(default)]
    pub device_authorization_endpoint: Option<DeviceAuthorizationUrl>,
    #[serde(default)]
    pub revocation_endpoint: Option<RevocationUrl>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

pub type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type TokenClient =
    CoreClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// `GET /api/v1/auth/config` of `server`.
pub async fn fetch_auth_config(
    http: &reqwest::Client,
    server: &Url,
) -> Result<PublicAuthConfig, SignInError> {
    let url = server
        .join("api/v1/auth/config")
        .map_err(|error| SignInError::Misconfigured(format!("bad server URL: {error}")))?;
    let unreachable = |reason: String| SignInError::Unreachable {
        what: server.to_string(),
        reason,
    };
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|error| unreachable(describe(&error)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(SignInError::Misconfigured(format!(
            "{server} answered HTTP {} to GET /api/v1/auth/config: is it a StateSight server?",
            status.as_u16()
        )));
    }
    let body: serde_json::Value = response.json().await.map_err(|error| {
        SignInError::Misconfigured(format!(
            "{server} did not answer GET /api/v1/auth/config with StateSight's JSON: {}",
            describe(&error)
        ))
    })?;
    serde_json::from_value(body["data"].clone()).map_err(|error| {
        SignInError::Misconfigured(format!(
            "{server} answered GET /api/v1/auth/config with unexpected data: {error}"
        ))
    })
}

/// A provider ready for the device flow: the server's auth configuration and the provider's
/// discovery document (and key set, to verify ID tokens).
#[derive(Clone)]
pub struct Provider {
    pub issuer: String,
    pub client_id: String,
    scopes: Vec<String>,
    /// `(parameter, audience)` added to device and token requests, per `audience_parameter`.
    audience_parameter: Option<(&'static str, String)>,
    metadata: Metadata,
    http: OidcHttp,
}

/// Tokens from the provider.
#[derive(Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// From the verified ID token (device flow), else `None`.
    pub subject: Option<String>,
}

/// What happens while polling, for whoever shows it.
#[derive(Debug, Clone, Copy)]
pub enum PollEvent {
    /// The provider answered `slow_down` (the `count`-th time); the next poll waits `wait`.
    SlowDown { count: u32, wait: Duration },
}

/// RFC 8628 polls at most every `interval`; waiting a little longer leaves room for clock
/// drift and slow networks.
pub const POLL_SAFETY_MARGIN: f64 = 1.2;

impl Provider {
    /// Discovers the provider the server names. `http` must follow no redirects.
    pub async fn discover(
        config: &PublicAuthConfig,
        server: &Url,
        http: reqwest::Client,
    ) -> Result<Provider, SignInError> {
        if !config.auth_required {
            return Err(SignInError::NotRequired {
                server: server.to_string(),
            });
        }
        let missing = |field: &str| {
            SignInError::Misconfigured(format!(
                "{server} requires sign-in but its /api/v1/auth/config names no {field}: ask its \
                 operator to set OIDC_{}",
                field.to_uppercase()
            ))
        };
        let issuer = config.issuer.clone().ok_or_else(|| missing("issuer"))?;
        let client_id = config
            .client_id
            .clone()
            .ok_or_else(|| missing("client_id"))?;
        let audience_parameter = match config.audience_parameter {
            Some(AudienceParameter::Resource) => Some((
                "resource",
                config.audience.clone().ok_or_else(|| missing("audience"))?,
            )),
            Some(AudienceParameter::Audience) => Some((
                "audience",
                config.audience.clone().ok_or_else(|| missing("audience"))?,
            )),
            Some(AudienceParameter::Scope) | None => None,
        };
        let issuer_url = IssuerUrl::new(issuer.clone()).map_err(|error| {
            SignInError::Misconfigured(format!("the issuer {issuer:?} is not a URL: {error}"))
        })?;
        let http = OidcHttp::new(http);
        let metadata = Metadata::discover_async(issuer_url, &http)
            .await
            .map_err(|error| match error {
                openidconnect::DiscoveryError::Request(reason) => SignInError::Unreachable {
                    what: format!("the identity provider {issuer}"),
                    reason: reason.to_string(),
                },
                other => SignInError::Misconfigured(format!(
                    "discovering the identity provider {issuer}: {}",
                    error_chain(&other)
                )),
            })?;
        Ok(Provider {
            issuer,
            client_id,
            scopes: config
                .scopes
                .iter()
                .filter(|scope| scope.as_str() != "openid")
                .cloned()
                .collect(),
            audience_parameter,
            metadata,
            http,
        })
    }

    fn token_client(&self) -> Result<TokenClient, SignInError> {
        let token_url = self.metadata.token_endpoint().cloned().ok_or_else(|| {
            SignInError::Misconfigured(format!(
                "the identity provider {} publishes no token endpoint",
                self.issuer
            ))
        })?;
        Ok(CoreClient::new(
            ClientId::new(self.client_id.clone()),
            self.metadata.issuer().clone(),
            self.metadata.jwks().clone(),
        )
        .set_token_uri(token_url)
        .set_auth_type(AuthType::RequestBody))
    }

    /// Starts a device authorization: the codes to show the user.
    pub async fn start_device(&self) -> Result<CoreDeviceAuthorizationResponse, SignInError> {
        let endpoint = self
            .metadata
            .additional_metadata()
            .device_authorization_endpoint
            .clone()
            .ok_or_else(|| {
                SignInError::Misconfigured(format!(
                    "the identity provider {} does not offer the device authorization grant \
                     (no device_authorization_endpoint in its discovery document)",
                    self.issuer
                ))
            })?;
        let client = self.token_client()?.set_device_authorization_url(endpoint);
        let mut request = client
            .exchange_device_code()
            .add_scopes(self.scopes.iter().cloned().map(Scope::new));
        if let Some((name, audience)) = &self.audience_parameter {
            request = request.add_extra_param(*name, audience.clone());
        }
        request
            .request_async(&self.http)
            .await
            .map_err(|error| self.token_error(error))
    }

    /// Polls until the user approves (tokens), denies, or the code expires. Waits
    /// `interval` × [`POLL_SAFETY_MARGIN`] between polls and 5 s more after each `slow_down`.
    pub async fn poll(
        &self,
        details: &CoreDeviceAuthorizationResponse,
        observe: Arc<dyn Fn(PollEvent) + Send + Sync>,
    ) -> Result<Tokens, SignInError> {
        let client = self.token_client()?;
        let mut request = client.exchange_device_access_token(details);
        if let Some((name, audience)) = &self.audience_parameter {
            request = request.add_extra_param(*name, audience.clone());
        }
        let http = OidcHttp::new(self.http.client.clone());
        let slow_downs = Arc::clone(&http.slow_downs);
        let seen = Arc::new(AtomicU32::new(0));
        let sleep = move |interval: Duration| {
            let wait = interval.mul_f64(POLL_SAFETY_MARGIN);
            let count = slow_downs.load(Ordering::SeqCst);
            if seen.swap(count, Ordering::SeqCst) != count {
                observe(PollEvent::SlowDown { count, wait });
            }
            tokio::time::sleep(wait)
        };
        let lifetime = details.expires_in();
        let response =
            request
                .request_async(&http, sleep, None)
                .await
                .map_err(|error| match error {
                    RequestTokenError::ServerResponse(response) => match response.error() {
                        DeviceCodeErrorResponseType::AccessDenied => {
                            SignInError::Denied(response.error_description().cloned())
                        }
                        DeviceCodeErrorResponseType::ExpiredToken => {
                            SignInError::Expired(human_duration(lifetime))
                        }
                        other => SignInError::Provider(format!(
                            "{}{}",
                            other.as_ref(),
                            detail(&response.error_description().cloned())
                        )),
                    },
                    other => self.transport_or_parse(other),
                })?;
        let subject = self.verified_subject(&client, &response)?;
        Ok(tokens_from(&response, subject))
    }

    /// The `sub` of the response's ID token, verified against the provider's keys, for the
    /// console's client id. Without an ID token, `None`.
    fn verified_subject(
        &self,
        client: &TokenClient,
        response: &CoreTokenResponse,
    ) -> Result<Option<String>, SignInError> {
        let Some(id_token) = response.id_token() else {
            return Ok(None);
        };
        // The device flow has no nonce.
        let no_nonce = |_: Option<&Nonce>| -> Result<(), String> { Ok(()) };
        let claims = id_token
            .claims(&client.id_token_verifier(), no_nonce)
            .map_err(|error| {
                SignInError::Provider(format!(
                    "the ID token from {} does not verify: {}",
                    self.issuer,
                    error_chain(&error)
                ))
            })?;
        Ok(Some(claims.subject().as_str().to_owned()))
    }

    /// New tokens for `refresh_token`. `invalid_grant` (revoked, expired, or already used)
    /// is [`SignInError::Revoked`].
    pub async fn refresh(&self, refresh_token: &str, server: &Url) -> Result<Tokens, SignInError> {
        let client = self.token_client()?;
        let token = RefreshToken::new(refresh_token.to_owned());
        let mut request = client.exchange_refresh_token(&token);
        if let Some((name, audience)) = &self.audience_parameter {
            request = request.add_extra_param(*name, audience.clone());
        }
        let response = request
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(response)
                    if *response.error() == CoreErrorResponseType::InvalidGrant =>
                {
                    SignInError::Revoked {
                        server: server.to_string(),
                    }
                }
                other => self.token_error(other),
            })?;
        Ok(tokens_from(&response, None))
    }

    /// Revokes `refresh_token` at the provider's revocation endpoint. `Ok(false)` when the
    /// provider has none.
    pub async fn revoke(&self, refresh_token: &str) -> Result<bool, SignInError> {
        let Some(endpoint) = self
            .metadata
            .additional_metadata()
            .revocation_endpoint
            .clone()
        else {
            return Ok(false);
        };
        let client = self.token_client()?.set_revocation_url(endpoint.clone());
        let token = CoreRevocableToken::from(RefreshToken::new(refresh_token.to_owned()));
        let request = match client.revoke_token(token) {
            Ok(request) => request,
            // oauth2 sends revocations over HTTPS only. A provider on loopback (tests, a
            // local development provider) gets the same RFC 7009 request by hand; a token is
            // never sent over plain HTTP to another host.
            Err(openidconnect::ConfigurationError::InsecureUrl(_))
                if is_loopback(endpoint.url()) =>
            {
                return self.revoke_on_loopback(endpoint.url(), refresh_token).await;
            }
            Err(error) => return Err(SignInError::Misconfigured(error.to_string())),
        };
        request
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(response) => SignInError::Provider(format!(
                    "{}{}",
                    response.error().as_ref(),
                    detail(&response.error_description().cloned())
                )),
                other => self.transport_or_parse(other),
            })?;
        Ok(true)
    }

    /// RFC 7009 revocation of a refresh token, as a public client (`client_id` in the form).
    async fn revoke_on_loopback(
        &self,
        endpoint: &Url,
        refresh_token: &str,
    ) -> Result<bool, SignInError> {
        let response = self
            .http
            .client
            .post(endpoint.clone())
            .form(&[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
                ("client_id", self.client_id.as_str()),
            ])
            .send()
            .await
            .map_err(|error| SignInError::Unreachable {
                what: format!("the identity provider {}", self.issuer),
                reason: describe(&error),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(true);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(SignInError::Provider(format!(
            "revocation answered HTTP {}{}",
            status.as_u16(),
            body_error(&body)
                .map(|code| format!(" ({code})"))
                .unwrap_or_default()
        )))
    }

    fn token_error(
        &self,
        error: RequestTokenError<
            TransportError,
            openidconnect::StandardErrorResponse<CoreErrorResponseType>,
        >,
    ) -> SignInError {
        match error {
            RequestTokenError::ServerResponse(response) => SignInError::Provider(format!(
                "{}{}",
                response.error().as_ref(),
                detail(&response.error_description().cloned())
            )),
            other => self.transport_or_parse(other),
        }
    }

    fn transport_or_parse<T: openidconnect::ErrorResponse + 'static>(
        &self,
        error: RequestTokenError<TransportError, T>,
    ) -> SignInError {
        match error {
            RequestTokenError::Request(reason) => SignInError::Unreachable {
                what: format!("the identity provider {}", self.issuer),
                reason: reason.to_string(),
            },
            other => SignInError::Provider(error_chain(&other)),
        }
    }
}

fn tokens_from(response: &CoreTokenResponse, subject: Option<String>) -> Tokens {
    let now = Utc::now();
    Tokens {
        access_token: response.access_token().secret().clone(),
        refresh_token: response.refresh_token().map(|token| token.secret().clone()),
        expires_at: response
            .expires_in()
            .and_then(|lifetime| chrono::Duration::from_std(lifetime).ok())
            .map(|lifetime| now + lifetime),
        subject,
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `error` and its sources, `: `-separated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// `90 s` → "1 minute 30 seconds"-style text, coarse.
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 120 {
        format!("{} minutes", seconds / 60)
    } else if seconds == 1 {
        String::from("1 second")
    } else {
        format!("{seconds} seconds")
    }
}
