//! The console's only way to the server: `/api/v1` over HTTP(S), with the bearer token a
//! [`Credentials`] provides, the `{"data", "meta"}` envelope decoded, and every failure a
//! typed [`ClientError`] whose message says what to do.

#![allow(
    clippy::result_large_err,
    reason = "ClientError carries the server's error body for `api`; requests are not hot"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

/// Where a request's bearer token comes from: a stored sign-in (refreshed when needed),
/// `STATESIGHT_TOKEN`, or nothing against a server with auth off.
pub trait Credentials: Send + Sync + 'static {
    /// The token to send now, refreshing it first if it is about to expire.
    fn bearer(&self) -> BoxFuture<'_, Result<Option<String>, CredentialError>>;
    /// The server refused `token` (401): drop it so the next call refreshes or asks for a
    /// new sign-in.
    fn refused(&self, token: &str) -> BoxFuture<'_, ()>;
}

/// Why no token could be produced.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    /// Nobody is signed in to this server (or the sign-in was revoked): run `login`.
    #[error("{0}")]
    SignInRequired(String),
    /// The identity provider or the token store failed; retrying may help.
    #[error("{0}")]
    Unavailable(String),
}

/// A fixed token, or none.
pub struct StaticToken(pub Option<String>);

impl Credentials for StaticToken {
    fn bearer(&self) -> BoxFuture<'_, Result<Option<String>, CredentialError>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }

    fn refused(&self, _token: &str) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {server}: {reason}")]
    Unreachable { server: String, reason: String },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The server answered with its error envelope (or a status without one).
    #[error("{message} (HTTP {status}, {code}{})", request_id.as_deref().map(|id| format!(", request {id}")).unwrap_or_default())]
    Api {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
        /// The whole error body, for `api`'s stderr.
        body: Value,
    },
    #[error("the server answered something that is not StateSight's API: {0}")]
    Protocol(String),
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A decoded success: the `data` and the `meta` of the envelope.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub data: T,
    pub request_id: Option<String>,
    pub next_cursor: Option<String>,
}

/// A raw answer, for `statesight-tui api`.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub body: Value,
}

/// The longest a single request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Installs ring as rustls's crypto provider (reqwest without one panics).
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client honouring the proxy variables and, when given, an extra CA bundle.
pub fn http_client(ca_bundle: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    http_client_with(ca_bundle, true)
}

/// [`http_client`], optionally following no redirects (for the identity provider: a token
/// request must never be sent on to wherever a redirect points).
pub fn http_client_with(
    ca_bundle: Option<&Path>,
    follow_redirects: bool,
) -> anyhow::Result<reqwest::Client> {
    ensure_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("statesight-tui/", env!("CARGO_PKG_VERSION")));
    if !follow_redirects {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|error| {
            anyhow::anyhow!("reading the CA bundle {}: {error}", path.display())
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
            anyhow::anyhow!(
                "{} is not a PEM certificate bundle: {error}",
                path.display()
            )
        })?;
        if certificates.is_empty() {
            anyhow::bail!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            );
        }
        builder = builder.tls_certs_merge(certificates);
    }
    Ok(builder.build()?)
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    server: Url,
    credentials: Arc<dyn Credentials>,
}

impl ApiClient {
    pub fn new(http: reqwest::Client, server: Url, credentials: Arc<dyn Credentials>) -> Self {
        ApiClient {
            http,
            server,
            credentials,
        }
    }

    pub fn server(&self) -> &Url {
        &self.server
    }

    /// The bearer token requests carry now (refreshed if needed); `None` without one.
    pub async fn bearer(&self) -> Result<Option<String>, CredentialError> {
        self.credentials.bearer().await
    }

    /// `GET path` decoded into `T` (the envelope's `data`).
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        workspace: Option<Uuid>,
    ) -> Result<Reply<T>, ClientError> {
        let raw = self.send(Method::GET, path, None, workspace).await?;
        decode(raw)
    }

    /// Any request; a non-2xx answer is an error carrying the server's envelope.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        workspace: Option<Uuid>,
    ) -> Result<RawReply, ClientError> {
        self.send_with(method, path, body, workspace, &[]).await
    }

    /// [`ApiClient::send`] with extra request headers (such as a rule preview's token).
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        workspace: Option<Uuid>,
        headers: &[(&str, &str)],
    ) -> Result<RawReply, ClientError> {
        let raw = self
            .send_raw_with(method, path, body, workspace, headers)
            .await?;
        if (200..300).contains(&raw.status) {
            Ok(raw)
        } else {
            Err(api_error(raw))
        }
    }

    /// Any request, whatever the status; only transport and credential failures are errors.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        workspace: Option<Uuid>,
    ) -> Result<RawReply, ClientError> {
        self.send_raw_with(method, path, body, workspace, &[]).await
    }

    async fn send_raw_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        workspace: Option<Uuid>,
        headers: &[(&str, &str)],
    ) -> Result<RawReply, ClientError> {
        let url = self.url(path)?;
        let mut retried = false;
        loop {
            let token = self.credentials.bearer().await?;
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            if let Some(workspace) = workspace {
                request = request.header("x-workspace-id", workspace.to_string());
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|error| ClientError::Unreachable {
                    server: self.server.to_string(),
                    reason: describe(&error),
                })?;
            let status = response.status();
            // A token the server refused may have been revoked or expired early: one retry
            // with whatever the credentials produce next (a refresh, or a sign-in error).
            if status == StatusCode::UNAUTHORIZED
                && !retried
                && let Some(token) = &token
            {
                self.credentials.refused(token).await;
                retried = true;
                continue;
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|error| ClientError::Unreachable {
                    server: self.server.to_string(),
                    reason: describe(&error),
                })?;
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).map_err(|_| {
                    ClientError::Protocol(format!(
                        "HTTP {} with a body that is not JSON ({} bytes)",
                        status.as_u16(),
                        bytes.len()
                    ))
                })?
            };
            return Ok(RawReply {
                status: status.as_u16(),
                body,
            });
        }
    }

    /// `path` relative to the server (`/api/v1/…`, with an optional query).
    fn url(&self, path: &str) -> Result<Url, ClientError> {
        // Relative to the server URL (which ends in `/`), so a path prefix such as
        // `https://ops.example.com/statesight/` is kept.
        let path = path.trim_start_matches('/');
        self.server.join(path).map_err(|error| {
            ClientError::Protocol(format!("{path:?} is not a usable path: {error}"))
        })
    }
}

/// The envelope's `data` as `T`, with the request id and the next page's cursor.
/// How long an event stream may stay silent before it is taken as dead: the server beats
/// every 15 s, so three missed beats.
pub const EVENT_STREAM_IDLE: Duration = Duration::from_secs(45);
/// An event stream is reopened at least this often (with `Last-Event-ID`, so nothing is
/// lost): the client's whole-request time limit must be finite.
const EVENT_STREAM_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// An open `GET /api/v1/events` stream.
pub struct EventStream {
    response: reqwest::Response,
    parser: crate::sse::Parser,
    ready: std::collections::VecDeque<crate::sse::Frame>,
    server: String,
}

impl EventStream {
    /// The next frame; `None` when the server closed the stream. A stream silent for
    /// [`EVENT_STREAM_IDLE`] is an error (the connection is gone without a word).
    pub async fn next(&mut self) -> Result<Option<crate::sse::Frame>, ClientError> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Ok(Some(frame));
            }
            let chunk = tokio::time::timeout(EVENT_STREAM_IDLE, self.response.chunk())
                .await
                .map_err(|_| ClientError::Unreachable {
                    server: self.server.clone(),
                    reason: String::from("the event stream went silent"),
                })?
                .map_err(|error| ClientError::Unreachable {
                    server: self.server.clone(),
                    reason: describe(&error),
                })?;
            let Some(chunk) = chunk else {
                return Ok(None);
            };
            self.ready.extend(self.parser.push(&chunk));
        }
    }

    /// The id to resume after.
    pub fn last_id(&self) -> Option<&str> {
        self.parser.last_id()
    }
}

impl ApiClient {
    /// Opens the live event stream of `workspace`, resuming after `last_event_id`. The
    /// token is asked for afresh (so refreshed when it is about to expire), and a refused
    /// one is dropped and retried once, as for every request.
    pub async fn events(
        &self,
        workspace: Uuid,
        last_event_id: Option<&str>,
    ) -> Result<EventStream, ClientError> {
        let url = self.url("/api/v1/events")?;
        let mut retried = false;
        loop {
            let token = self.credentials.bearer().await?;
            let mut request = self
                .http
                .get(url.clone())
                .timeout(EVENT_STREAM_LIFETIME)
                .header("accept", "text/event-stream")
                .header("x-workspace-id", workspace.to_string());
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            if let Some(id) = last_event_id {
                request = request.header("last-event-id", id);
            }
            let response = request
                .send()
                .await
                .map_err(|error| ClientError::Unreachable {
                    server: self.server.to_string(),
                    reason: describe(&error),
                })?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED
                && !retried
                && let Some(token) = &token
            {
                self.credentials.refused(token).await;
                retried = true;
                continue;
            }
            if !status.is_success() {
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                return Err(api_error(RawReply {
                    status: status.as_u16(),
                    body,
                }));
            }
            return Ok(EventStream {
                response,
                parser: crate::sse::Parser::with_last_id(last_event_id.map(str::to_owned)),
                ready: std::collections::VecDeque::new(),
                server: self.server.to_string(),
            });
        }
    }
}

pub fn decode<T: DeserializeOwned>(raw: RawReply) -> Result<Reply<T>, ClientError> {
    let meta = &raw.body["meta"];
    let request_id = meta["request_id"].as_str().map(str::to_owned);
    let next_cursor = meta["next_cursor"].as_str().map(str::to_owned);
    let data = serde_json::from_value(raw.body["data"].clone()).map_err(|error| {
        ClientError::Protocol(format!("unexpected data in the answer: {error}"))
    })?;
    Ok(Reply {
        data,
        request_id,
        next_cursor,
    })
}

fn api_error(raw: RawReply) -> ClientError {
    let error = &raw.body["error"];
    ClientError::Api {
        status: raw.status,
        code: error["code"].as_str().unwrap_or("http_error").to_owned(),
        message: error["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the server answered HTTP {}", raw.status)),
        request_id: raw.body["meta"]["request_id"].as_str().map(str::to_owned),
        body: raw.body,
    }
}

/// reqwest's top-level message hides the cause; the chain has it.
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Signing in again from inside the console, when the stored sign-in was revoked or expired
/// (shown as a modal, never printed over the screen).
pub trait DeviceSignIn: Send + Sync + 'static {
    /// Starts a device authorization with the identity provider.
    fn begin(&self) -> BoxFuture<'_, Result<PendingSignIn, CredentialError>>;
}

/// A device authorization waiting for the user: what to show, and a future that completes
/// (tokens stored) when they approve, or fails when they deny or the code expires.
pub struct PendingSignIn {
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_at: std::time::Instant,
    pub completion: BoxFuture<'static, Result<(), CredentialError>>,
}
