//! Outgoing notifications: the worker records a delivery per (event, matching endpoint)
//! after each commit it announces ([`record`]), and a sender task ([`run_sender`]) POSTs
//! due deliveries to their endpoints, retrying with backoff until delivered or dead.
//!
//! Neither part can hold up or fail an analysis: recording is one statement after the
//! commit whose errors are logged and counted, and sending runs in its own task.
//!
//! Policy per attempt (docs/api.md#notifications):
//! - 2xx: delivered.
//! - 408, 425, 429, 5xx, a timeout or a broken connection: retried, up to
//!   `NOTIFY_MAX_ATTEMPTS` attempts, after `NOTIFY_RETRY_BASE` doubling per attempt (at most
//!   an hour, ±20 % jitter; a longer `Retry-After` in seconds is honoured, up to the hour).
//! - 410: dead at once (the receiver says it is gone for good).
//! - Any other 3xx or 4xx: the receiver refuses this request as it is, which a change on
//!   its side (a rotated secret, a fixed route) may cure: retried, but at most
//!   [`CLIENT_ERROR_ATTEMPTS`] attempts. Redirects are never followed (they could lead past
//!   the address checks).
//! - A target refused by the address policy (`ssrf`): dead at once, never contacted.

pub mod body;
pub mod ssrf;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use statesight_core::wire::WorkspaceEvent;
use statesight_store::notifications::{self as store, ClaimedDelivery, Failure, Next};
use tokio::sync::watch;

use crate::settings::Settings;
use ssrf::{AllowedNetworks, Refusal};

pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Attempts of a delivery the receiver answered with a 3xx or a 4xx other than 408, 410,
/// 425 and 429.
pub const CLIENT_ERROR_ATTEMPTS: u32 = 3;
/// Longest wait between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// Deliveries sent at once by one worker.
const BATCH: i64 = 16;

pub const DELIVERED: &str = "statesight_worker_notifications_delivered_total";
pub const FAILED_ATTEMPTS: &str = "statesight_worker_notification_attempts_failed_total";
pub const DEAD: &str = "statesight_worker_notifications_dead_total";
pub const UNRECORDED: &str = "statesight_worker_notifications_unrecorded_total";

/// How the worker sends notifications.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// `NOTIFY_ALLOWED_NETWORKS`.
    pub allowed_networks: AllowedNetworks,
    /// `NOTIFY_MAX_ATTEMPTS`.
    pub max_attempts: u32,
    /// `NOTIFY_RETRY_BASE`.
    pub retry_base: Duration,
    /// One attempt's time limit, connection included.
    pub timeout: Duration,
    /// How often the sender looks for due deliveries when it found none.
    pub poll_interval: Duration,
    /// Delivered and dead deliveries are deleted after this long.
    pub retention: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            allowed_networks: AllowedNetworks::default(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_base: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            retention: Duration::from_secs(7 * 86400),
        }
    }
}

impl NotifySettings {
    /// From the environment's values (already read by clap).
    pub fn from_env_values(
        allowed_networks: &str,
        max_attempts: u32,
        retry_base: Duration,
    ) -> anyhow::Result<Self> {
        if max_attempts == 0 || max_attempts > 100 {
            anyhow::bail!("NOTIFY_MAX_ATTEMPTS must be between 1 and 100");
        }
        Ok(NotifySettings {
            allowed_networks: AllowedNetworks::parse(allowed_networks)
                .map_err(|error| anyhow::anyhow!("NOTIFY_ALLOWED_NETWORKS: {error}"))?,
            max_attempts,
            retry_base,
            ..NotifySettings::default()
        })
    }

    /// The claim's hold: longer than an attempt can take, so no other worker claims a
    /// delivery being sent.
    fn hold(&self) -> Duration {
        self.timeout.saturating_mul(2) + Duration::from_secs(5)
    }
}

/// Records the deliveries `events` call for. Called after the commit they announce; a
/// failure is logged and counted, never returned: notifications must not fail an analysis.
pub async fn record(pool: &PgPool, events: &[WorkspaceEvent]) {
    if let Err(error) = store::enqueue(pool, events).await {
        metrics::counter!(UNRECORDED).increment(events.len() as u64);
        tracing::warn!(%error, events = events.len(), "recording notification deliveries failed");
    }
}

/// Sends due deliveries until `shutdown` turns true (an attempt in progress finishes).
pub async fn run_sender(
    pool: PgPool,
    settings: Arc<Settings>,
    mut shutdown: watch::Receiver<bool>,
) {
    crate::collect::install_crypto_provider();
    let notify = &settings.notify;
    let mut last_prune: Option<Instant> = None;
    while !*shutdown.borrow() {
        if last_prune.is_none_or(|at| at.elapsed() > Duration::from_secs(3600)) {
            last_prune = Some(Instant::now());
            match store::prune(&pool, notify.retention).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "pruned old notification deliveries"),
                Err(error) => tracing::warn!(%error, "pruning notification deliveries failed"),
            }
        }
        let wait = match send_due(&pool, notify).await {
            // A full batch: more may be due at once.
            Ok(sent) if sent as i64 >= BATCH => continue,
            Ok(_) => notify.poll_interval,
            Err(error) => {
                tracing::warn!(%error, "claiming notification deliveries failed; retrying");
                notify.poll_interval.max(Duration::from_secs(1))
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Claims one batch of due deliveries and attempts each (at once). Returns how many were
/// attempted.
pub async fn send_due(pool: &PgPool, settings: &NotifySettings) -> statesight_store::Result<usize> {
    let claimed = store::claim_due(pool, BATCH, settings.hold()).await?;
    let attempts = claimed
        .iter()
        .map(|delivery| attempt(pool, settings, delivery));
    futures::future::join_all(attempts).await;
    Ok(claimed.len())
}

/// One attempt of one delivery, its outcome recorded.
async fn attempt(pool: &PgPool, settings: &NotifySettings, delivery: &ClaimedDelivery) {
    let outcome = send(settings, delivery).await;
    let recorded = match &outcome {
        Ok(status) => {
            metrics::counter!(DELIVERED).increment(1);
            store::record_delivered(pool, delivery, *status).await
        }
        Err(failed) => {
            let failure = failure(settings, delivery.attempt, failed);
            metrics::counter!(FAILED_ATTEMPTS).increment(1);
            if failure.next == Next::GiveUp {
                metrics::counter!(DEAD).increment(1);
                tracing::warn!(delivery = %delivery.id, endpoint = %delivery.endpoint_name, attempt = delivery.attempt, error = %failure.error, "notification dead-lettered");
            } else {
                tracing::info!(delivery = %delivery.id, endpoint = %delivery.endpoint_name, attempt = delivery.attempt, error = %failure.error, "notification attempt failed; will retry");
            }
            store::record_failed(pool, delivery, &failure).await
        }
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(delivery = %delivery.id, "the delivery's claim expired before its outcome was recorded; another attempt owns it")
        }
        Err(error) => {
            tracing::warn!(delivery = %delivery.id, %error, "recording a notification attempt failed; it will be attempted again")
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The address policy refuses the target: never contacted.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The stored URL cannot be sent to (the server validates URLs, so only a row written
    /// behind its back).
    #[error("the endpoint URL is unusable: {0}")]
    BadUrl(String),
    /// The host name could not be resolved (perhaps for now).
    #[error("resolving {host} failed: {reason}")]
    Resolve { host: String, reason: String },
    /// No answer: connection refused or broken, TLS failure, time limit.
    #[error("{0}")]
    Transport(String),
    /// The endpoint answered with a status that is not 2xx.
    #[error("{}", describe_status(*.status, .location.as_deref()))]
    Status {
        status: u16,
        retry_after: Option<Duration>,
        location: Option<String>,
    },
}

fn describe_status(status: u16, location: Option<&str>) -> String {
    match (status, location) {
        (300..=399, Some(location)) => {
            let location: String = location.chars().take(200).collect();
            format!(
                "answered HTTP {status}, a redirect to {location:?} (redirects are not followed)"
            )
        }
        _ => format!("answered HTTP {status}"),
    }
}

/// What follows a failed attempt number `attempt`.
fn failure(settings: &NotifySettings, attempt: i32, error: &SendError) -> Failure {
    let attempt_count = u32::try_from(attempt).unwrap_or(u32::MAX);
    let backoff = || store::retry_delay(attempt, settings.retry_base, MAX_RETRY_DELAY, jitter());
    let (status_code, limit, delay) = match error {
        SendError::Refused(_) | SendError::BadUrl(_) => (None, 0, backoff()),
        SendError::Resolve { .. } | SendError::Transport(_) => {
            (None, settings.max_attempts, backoff())
        }
        SendError::Status {
            status,
            retry_after,
            ..
        } => {
            let limit = match status {
                410 => 0,
                408 | 425 | 429 | 500..=599 => settings.max_attempts,
                _ => settings.max_attempts.min(CLIENT_ERROR_ATTEMPTS),
            };
            let delay =
                retry_after.map_or_else(backoff, |after| after.min(MAX_RETRY_DELAY).max(backoff()));
            (Some(*status), limit, delay)
        }
    };
    Failure {
        status_code,
        error: error.to_string(),
        next: if attempt_count >= limit {
            Next::GiveUp
        } else {
            Next::RetryAfter(delay)
        },
    }
}

/// A factor between 0.8 and 1.2 from the OS's random source (1.0 if it has none).
fn jitter() -> f64 {
    getrandom::u32().map_or(1.0, |random| {
        0.8 + 0.4 * (f64::from(random) / f64::from(u32::MAX))
    })
}

/// Sends one delivery: resolves and checks the target, then POSTs the signed body to
/// exactly the checked addresses. The 2xx status on success.
pub async fn send(settings: &NotifySettings, delivery: &ClaimedDelivery) -> Result<u16, SendError> {
    let url =
        reqwest::Url::parse(&delivery.url).map_err(|error| SendError::BadUrl(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SendError::BadUrl(format!(
            "the scheme {} is not http or https",
            url.scheme()
        )));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| SendError::BadUrl(String::from("no port")))?;
    let (host, addresses) = resolve(&url, port).await?;
    ssrf::check_all(&host, &addresses, &settings.allowed_networks)?;
    let client = client(settings, &url, &host, &addresses)?;
    let body = body::render(delivery.format, delivery.id, &delivery.event);
    let timestamp = chrono::Utc::now().timestamp();
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-StateSight-Event", delivery.event.kind.as_str())
        .header("X-StateSight-Delivery", delivery.id.to_string())
        .header("X-StateSight-Timestamp", timestamp.to_string())
        .header(
            "X-StateSight-Signature",
            body::signature(&delivery.secret, timestamp, &body),
        )
        .body(body)
        .send()
        .await
        .map_err(|error| SendError::Transport(describe_transport(&error)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    Err(SendError::Status {
        status: status.as_u16(),
        retry_after: header(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs),
        location: header(reqwest::header::LOCATION),
    })
}

/// The URL's host and every address it stands for: itself for an IP literal, else what DNS
/// answers now. (The URL parser has already normalized IPv4 spellings such as `0x7f.1`.)
async fn resolve(url: &reqwest::Url, port: u16) -> Result<(String, Vec<SocketAddr>), SendError> {
    let host = url
        .host_str()
        .ok_or_else(|| SendError::BadUrl(String::from("no host")))?;
    let literal = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(address) = literal.parse::<IpAddr>() {
        return Ok((address.to_string(), vec![SocketAddr::new(address, port)]));
    }
    let addresses = tokio::net::lookup_host((host, port))
        .await
        .map_err(|error| SendError::Resolve {
            host: host.to_owned(),
            reason: error.to_string(),
        })?
        .collect();
    Ok((host.to_owned(), addresses))
}

/// A client for one attempt that connects to `addresses` only: the name is never resolved
/// again, so what was checked is what is reached. No redirects, no proxy (a proxy would
/// connect wherever the name resolves from where it stands).
fn client(
    settings: &NotifySettings,
    url: &reqwest::Url,
    host: &str,
    addresses: &[SocketAddr],
) -> Result<reqwest::Client, SendError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(settings.timeout)
        .timeout(settings.timeout)
        .user_agent(concat!("statesight-worker/", env!("CARGO_PKG_VERSION")));
    let is_literal = url
        .host_str()
        .is_some_and(|name| name.starts_with('[') || name.parse::<IpAddr>().is_ok());
    if !is_literal {
        builder = builder.resolve_to_addrs(host, addresses);
    }
    builder
        .build()
        .map_err(|error| SendError::Transport(format!("building the HTTP client failed: {error}")))
}

/// A transport error with its causes (reqwest's own message is often just "error sending
/// request").
fn describe_transport(error: &reqwest::Error) -> String {
    let mut message = if error.is_timeout() {
        String::from("no answer within the time limit")
    } else if error.is_connect() {
        String::from("connecting failed")
    } else {
        String::from("the request failed")
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> SendError {
        SendError::Status {
            status,
            retry_after: None,
            location: None,
        }
    }

    #[test]
    fn retry_policy() {
        let settings = NotifySettings::default();
        let next = |attempt, error: SendError| failure(&settings, attempt, &error).next;
        assert!(matches!(next(1, status(500)), Next::RetryAfter(_)));
        assert!(matches!(next(7, status(429)), Next::RetryAfter(_)));
        assert_eq!(next(8, status(503)), Next::GiveUp);
        assert_eq!(next(1, status(410)), Next::GiveUp);
        assert!(matches!(next(2, status(401)), Next::RetryAfter(_)));
        assert_eq!(next(3, status(401)), Next::GiveUp);
        assert_eq!(next(3, status(302)), Next::GiveUp);
        assert!(matches!(
            next(1, SendError::Transport(String::from("reset"))),
            Next::RetryAfter(_)
        ));
        let refused = SendError::Refused(Refusal::NoAddress {
            host: String::from("x"),
        });
        assert_eq!(next(1, refused), Next::GiveUp);
    }

    #[test]
    fn retry_after_is_honoured_within_the_cap() {
        let settings = NotifySettings::default();
        let error = SendError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(600)),
            location: None,
        };
        assert_eq!(
            failure(&settings, 1, &error).next,
            Next::RetryAfter(Duration::from_secs(600))
        );
    }
}
