//! Outgoing notifications: a workspace's webhook endpoints (admin-managed) and the
//! deliveries the worker sends them. The endpoint's signing secret appears in exactly one
//! answer, the creation's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{EventKind, Severity, WorkspaceEvent};
use crate::string_enum::string_enum;

string_enum! {
    /// The body a delivery carries.
    pub enum NotificationFormat {
        /// `{"delivery_id", "event"}`: the workspace event as the live stream has it.
        Json => "json",
        /// A Slack incoming-webhook message (`text` and `blocks`).
        Slack => "slack",
    }
}

string_enum! {
    /// Where a delivery is.
    pub enum DeliveryStatus {
        /// Not delivered yet; `next_attempt_at` says when it is tried (again).
        Pending => "pending",
        /// The endpoint answered 2xx.
        Delivered => "delivered",
        /// Given up: refused by the address policy, refused for good by the endpoint, or
        /// out of attempts. `last_error` says why.
        Dead => "dead",
    }
}

string_enum! {
    /// The outcome of an endpoint's latest attempt.
    pub enum AttemptOutcome {
        Delivered => "delivered",
        /// Failed; the delivery is retried.
        Failed => "failed",
        /// Failed; the delivery was given up.
        Dead => "dead",
    }
}

/// A webhook the worker sends a workspace's events to. Never carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationEndpoint {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub url: String,
    pub events: Vec<EventKind>,
    /// Incident events of a lower severity are not sent; run events always are.
    pub min_severity: Severity,
    pub format: NotificationFormat,
    pub enabled: bool,
    /// The latest attempt of any of its deliveries, if one was made.
    pub last_attempt: Option<LastAttempt>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an endpoint's latest attempt did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LastAttempt {
    pub at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    /// The HTTP status answered, if the request got an answer.
    pub status_code: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Body of `POST /api/v1/notification-endpoints` and `PUT /api/v1/notification-endpoints/:id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NotificationEndpointInput {
    /// Unique in the workspace; no control characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// `http://` or `https://`, without credentials, at most 2048 characters. Whether its
    /// address may be reached is decided by the worker when it sends.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2048))]
    pub url: String,
    /// What to send: one or more of `run.started`, `run.succeeded`, `run.failed`,
    /// `incident.opened`, `incident.changed`, `incident.resolved`. (`run.queued` is
    /// announced by the server outside any worker and is not sent.)
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 16))]
    pub events: Vec<EventKind>,
    /// Default `low`: every incident event.
    #[serde(default = "lowest_severity")]
    pub min_severity: Severity,
    /// Default `json`.
    #[serde(default = "json_format")]
    pub format: NotificationFormat,
    /// Default true.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The signing secret, 16 to 256 printable characters without spaces. On creation,
    /// omitted means a random one is made (answered once); on replacement, omitted keeps the
    /// current one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 16, max_length = 256))]
    pub secret: Option<String>,
}

fn lowest_severity() -> Severity {
    Severity::Low
}

fn json_format() -> NotificationFormat {
    NotificationFormat::Json
}

fn enabled_by_default() -> bool {
    true
}

/// `POST /api/v1/notification-endpoints`: the endpoint and its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedNotificationEndpoint {
    /// Verify `X-StateSight-Signature` with it; it is never answered again.
    pub secret: String,
    pub endpoint: NotificationEndpoint,
}

/// One event sent (or to be sent) to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationDelivery {
    /// Also the `X-StateSight-Delivery` header: the same on every attempt.
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_kind: EventKind,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// For `pending`: when it is tried (again).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub event: WorkspaceEvent,
}

impl EventKind {
    /// Whether endpoints may ask for this kind: the kinds the worker announces after its
    /// commits. `run.queued` is announced by whoever queued the run, outside the worker.
    pub fn is_notified(self) -> bool {
        !matches!(self, EventKind::RunQueued)
    }
}
