//! Outgoing notifications: a workspace's webhook endpoints (admin writes, audited in the
//! same transaction) and the outbox of their deliveries.
//!
//! The worker records deliveries after the change an event announces is committed
//! ([`enqueue`]: one statement for a batch of events, which inserts nothing when no endpoint
//! matches), then claims due ones ([`claim_due`], `FOR UPDATE SKIP LOCKED`, so any number of
//! workers share the outbox without sending a delivery twice at once) and records each
//! attempt's outcome ([`record_delivered`], [`record_failed`]). A claim counts the attempt
//! and pushes `next_attempt_at` past the send's time limit: a worker that dies mid-send
//! leaves the delivery due again, so delivery is at least once (receivers deduplicate by
//! the delivery id).
//!
//! The signing secret is stored as typed (the worker needs the key itself to sign, so a
//! digest could not serve). Only [`create_endpoint`], [`update_endpoint`] and
//! [`claim_due`] touch it; every read for the API leaves it out.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::types::Json;
use statesight_core::wire::{
    AttemptOutcome, DeliveryStatus, EventKind, LastAttempt, NotificationDelivery,
    NotificationEndpoint, NotificationFormat, Severity, WorkspaceEvent,
};
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
use crate::keyset::{ByName, ByTimeDesc, Page};
use crate::{Result, StoreError};

/// Validated endpoint settings (the secret travels separately: it is never echoed).
#[derive(Debug, Clone)]
pub struct EndpointValues {
    pub name: String,
    pub url: String,
    pub events: Vec<EventKind>,
    pub min_severity: Severity,
    pub format: NotificationFormat,
    pub enabled: bool,
}

macro_rules! endpoint_columns {
    () => {
        "id, workspace_id, name, url, events, min_severity, format, enabled, last_attempt_at,
         last_outcome, last_status_code, last_error, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    url: String,
    events: Vec<String>,
    #[sqlx(try_from = "String")]
    min_severity: Severity,
    #[sqlx(try_from = "String")]
    format: NotificationFormat,
    enabled: bool,
    last_attempt_at: Option<DateTime<Utc>>,
    last_outcome: Option<String>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<EndpointRow> for NotificationEndpoint {
    type Error = StoreError;

    fn try_from(row: EndpointRow) -> Result<Self> {
        let events = row
            .events
            .into_iter()
            .map(EventKind::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let last_attempt = match (row.last_attempt_at, row.last_outcome) {
            (Some(at), Some(outcome)) => Some(LastAttempt {
                at,
                outcome: AttemptOutcome::try_from(outcome)?,
                status_code: row.last_status_code.and_then(status_code),
                error: row.last_error,
            }),
            _ => None,
        };
        Ok(NotificationEndpoint {
            id: row.id,
            workspace_id: row.workspace_id,
            name: row.name,
            url: row.url,
            events,
            min_severity: row.min_severity,
            format: row.format,
            enabled: row.enabled,
            last_attempt,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn status_code(code: i32) -> Option<u16> {
    u16::try_from(code).ok()
}

fn event_kinds(events: &[EventKind]) -> Vec<&'static str> {
    events.iter().map(|kind| kind.as_str()).collect()
}

fn audit_json(endpoint: &NotificationEndpoint, secret_changed: bool) -> Option<Value> {
    let mut value = serde_json::to_value(endpoint).ok()?;
    // Only the fact: the audit log is readable by every admin of the workspace.
    if secret_changed && let Some(object) = value.as_object_mut() {
        object.insert(String::from("secret_changed"), Value::Bool(true));
    }
    Some(value)
}

pub async fn list_endpoints(
    pool: &PgPool,
    workspace_id: Uuid,
    after: Option<&ByName>,
    limit: i64,
) -> Result<Page<NotificationEndpoint, ByName>> {
    let rows: Vec<EndpointRow> = sqlx::query_as(concat!(
        "SELECT ",
        endpoint_columns!(),
        " FROM notification_endpoints WHERE workspace_id = $1
            AND ($2::text IS NULL OR (name, id) > ($2, $3))
          ORDER BY name, id LIMIT $4"
    ))
    .bind(workspace_id)
    .bind(after.map(|key| key.name.clone()))
    .bind(after.map(|key| key.id))
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(NotificationEndpoint::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(items, limit, |endpoint| ByName {
        name: endpoint.name.clone(),
        id: endpoint.id,
    }))
}

pub async fn get_endpoint(pool: &PgPool, id: Uuid) -> Result<Option<NotificationEndpoint>> {
    let row: Option<EndpointRow> = sqlx::query_as(concat!(
        "SELECT ",
        endpoint_columns!(),
        " FROM notification_endpoints WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(NotificationEndpoint::try_from).transpose()
}

pub async fn create_endpoint(
    pool: &PgPool,
    actor: &Actor,
    workspace_id: Uuid,
    values: &EndpointValues,
    secret: &str,
) -> Result<NotificationEndpoint> {
    let mut tx = pool.begin().await?;
    let row: EndpointRow = sqlx::query_as(concat!(
        "INSERT INTO notification_endpoints
            (id, workspace_id, name, url, events, min_severity, format, enabled, secret)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
        endpoint_columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(workspace_id)
    .bind(&values.name)
    .bind(&values.url)
    .bind(event_kinds(&values.events))
    .bind(values.min_severity.as_str())
    .bind(values.format.as_str())
    .bind(values.enabled)
    .bind(secret)
    .fetch_one(&mut *tx)
    .await?;
    let endpoint = NotificationEndpoint::try_from(row)?;
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(workspace_id),
            action: "notification_endpoint.create",
            target_type: "notification_endpoint",
            target_id: endpoint.id,
            before: None,
            after: audit_json(&endpoint, false),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(endpoint)
}

/// Replaces an endpoint's settings, and its secret when `secret` is given. `None` when it
/// does not exist.
pub async fn update_endpoint(
    pool: &PgPool,
    actor: &Actor,
    id: Uuid,
    values: &EndpointValues,
    secret: Option<&str>,
) -> Result<Option<NotificationEndpoint>> {
    let mut tx = pool.begin().await?;
    let before: Option<EndpointRow> = sqlx::query_as(concat!(
        "SELECT ",
        endpoint_columns!(),
        " FROM notification_endpoints WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before.map(NotificationEndpoint::try_from).transpose()? else {
        return Ok(None);
    };
    let row: EndpointRow = sqlx::query_as(concat!(
        "UPDATE notification_endpoints
            SET name = $2, url = $3, events = $4, min_severity = $5, format = $6, enabled = $7,
                secret = coalesce($8, secret), updated_at = now()
          WHERE id = $1 RETURNING ",
        endpoint_columns!()
    ))
    .bind(id)
    .bind(&values.name)
    .bind(&values.url)
    .bind(event_kinds(&values.events))
    .bind(values.min_severity.as_str())
    .bind(values.format.as_str())
    .bind(values.enabled)
    .bind(secret)
    .fetch_one(&mut *tx)
    .await?;
    let after = NotificationEndpoint::try_from(row)?;
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(after.workspace_id),
            action: "notification_endpoint.update",
            target_type: "notification_endpoint",
            target_id: id,
            before: audit_json(&before, false),
            after: audit_json(&after, secret.is_some()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(after))
}

/// Deletes an endpoint and its deliveries (pending ones are never sent). False when it does
/// not exist.
pub async fn delete_endpoint(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let before: Option<EndpointRow> = sqlx::query_as(concat!(
        "DELETE FROM notification_endpoints WHERE id = $1 RETURNING ",
        endpoint_columns!()
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before.map(NotificationEndpoint::try_from).transpose()? else {
        return Ok(false);
    };
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(before.workspace_id),
            action: "notification_endpoint.delete",
            target_type: "notification_endpoint",
            target_id: id,
            before: audit_json(&before, false),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

macro_rules! delivery_columns {
    () => {
        "id, endpoint_id, event_kind, event, status, attempts, next_attempt_at, last_attempt_at,
         last_status_code, last_error, delivered_at, created_at"
    };
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    endpoint_id: Uuid,
    #[sqlx(try_from = "String")]
    event_kind: EventKind,
    event: Json<WorkspaceEvent>,
    #[sqlx(try_from = "String")]
    status: DeliveryStatus,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_attempt_at: Option<DateTime<Utc>>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    delivered_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<DeliveryRow> for NotificationDelivery {
    fn from(row: DeliveryRow) -> Self {
        NotificationDelivery {
            id: row.id,
            endpoint_id: row.endpoint_id,
            event_kind: row.event_kind,
            next_attempt_at: (row.status == DeliveryStatus::Pending).then_some(row.next_attempt_at),
            status: row.status,
            attempts: row.attempts,
            last_attempt_at: row.last_attempt_at,
            last_status_code: row.last_status_code.and_then(status_code),
            last_error: row.last_error,
            delivered_at: row.delivered_at,
            created_at: row.created_at,
            event: row.event.0,
        }
    }
}

/// An endpoint's deliveries, newest first.
pub async fn list_deliveries(
    pool: &PgPool,
    endpoint_id: Uuid,
    after: Option<&ByTimeDesc>,
    limit: i64,
) -> Result<Page<NotificationDelivery, ByTimeDesc>> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM notification_deliveries WHERE endpoint_id = $1
            AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
          ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(endpoint_id)
    .bind(after.map(|key| key.at))
    .bind(after.map(|key| key.id))
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let items: Vec<NotificationDelivery> =
        rows.into_iter().map(NotificationDelivery::from).collect();
    Ok(Page::from_rows(items, limit, |delivery| ByTimeDesc {
        at: delivery.created_at,
        id: delivery.id,
    }))
}

/// Records a delivery of each event to each enabled endpoint of its workspace that asks for
/// its kind (and, for incident events, whose minimum severity it reaches). One statement
/// for the batch; returns how many deliveries were recorded.
pub async fn enqueue(pool: &PgPool, events: &[WorkspaceEvent]) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let workspaces: Vec<Uuid> = events.iter().map(|event| event.workspace_id).collect();
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    let severities: Vec<Option<&str>> = events
        .iter()
        .map(|event| {
            event
                .incident
                .as_ref()
                .map(|incident| incident.severity.as_str())
        })
        .collect();
    let bodies: Vec<Json<&WorkspaceEvent>> = events.iter().map(Json).collect();
    // clock_timestamp() per row keeps the deliveries of one batch in announcement order
    // for the newest-first list.
    let inserted = sqlx::query(
        "INSERT INTO notification_deliveries (id, workspace_id, endpoint_id, event_kind, event, created_at)
         SELECT gen_random_uuid(), e.workspace_id, e.id, ev.kind, ev.event, clock_timestamp()
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[])
                WITH ORDINALITY AS ev (workspace_id, kind, severity, event, ordinal)
           JOIN notification_endpoints e
             ON e.workspace_id = ev.workspace_id AND e.enabled AND ev.kind = ANY (e.events)
          WHERE ev.severity IS NULL
             OR array_position(ARRAY['low', 'medium', 'high', 'critical'], ev.severity)
                >= array_position(ARRAY['low', 'medium', 'high', 'critical'], e.min_severity)
          ORDER BY ev.ordinal, e.id",
    )
    .bind(&workspaces)
    .bind(&kinds)
    .bind(&severities)
    .bind(&bodies)
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected())
}

/// A delivery claimed for one attempt, with what sending it needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub endpoint_name: String,
    pub url: String,
    pub format: NotificationFormat,
    /// The HMAC key; the sender signs with it and never logs or sends it.
    pub secret: String,
    pub event: WorkspaceEvent,
    /// This attempt's number (1 for the first). Recording the outcome names it, so the
    /// outcome of an attempt whose claim expired is not recorded over a newer one.
    pub attempt: i32,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: Uuid,
    endpoint_id: Uuid,
    name: String,
    url: String,
    #[sqlx(try_from = "String")]
    format: NotificationFormat,
    secret: String,
    event: Json<WorkspaceEvent>,
    attempts: i32,
}

/// Claims up to `limit` due deliveries of enabled endpoints, oldest due first, for one
/// attempt each; another claim skips them until `hold` has passed (longer than a send may
/// take), when a delivery whose sender died is due again. Safe with many workers.
pub async fn claim_due(pool: &PgPool, limit: i64, hold: Duration) -> Result<Vec<ClaimedDelivery>> {
    let rows: Vec<ClaimedRow> = sqlx::query_as(
        "WITH due AS (
             SELECT d.id FROM notification_deliveries d
               JOIN notification_endpoints e
                 ON e.workspace_id = d.workspace_id AND e.id = d.endpoint_id
              WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.enabled
              ORDER BY d.next_attempt_at
              LIMIT $1
                FOR UPDATE OF d SKIP LOCKED
         )
         UPDATE notification_deliveries d
            SET attempts = d.attempts + 1, last_attempt_at = now(),
                next_attempt_at = now() + $2::float8 * interval '1 millisecond'
           FROM due, notification_endpoints e
          WHERE d.id = due.id AND e.workspace_id = d.workspace_id AND e.id = d.endpoint_id
         RETURNING d.id, d.endpoint_id, e.name, e.url, e.format, e.secret, d.event, d.attempts",
    )
    .bind(limit)
    .bind(hold.as_millis() as f64)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ClaimedDelivery {
            id: row.id,
            endpoint_id: row.endpoint_id,
            endpoint_name: row.name,
            url: row.url,
            format: row.format,
            secret: row.secret,
            event: row.event.0,
            attempt: row.attempts,
        })
        .collect())
}

/// Records that `delivery`'s attempt was answered 2xx. False when the claim had expired
/// and another attempt owns the delivery (nothing is written).
pub async fn record_delivered(
    pool: &PgPool,
    delivery: &ClaimedDelivery,
    status_code: u16,
) -> Result<bool> {
    let updated = sqlx::query(
        "WITH done AS (
             UPDATE notification_deliveries
                SET status = 'delivered', delivered_at = now(), last_status_code = $3,
                    last_error = NULL
              WHERE id = $1 AND attempts = $2 AND status = 'pending'
             RETURNING workspace_id, endpoint_id
         )
         UPDATE notification_endpoints e
            SET last_attempt_at = now(), last_outcome = 'delivered', last_status_code = $3,
                last_error = NULL
           FROM done
          WHERE e.workspace_id = done.workspace_id AND e.id = done.endpoint_id",
    )
    .bind(delivery.id)
    .bind(delivery.attempt)
    .bind(i32::from(status_code))
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() > 0)
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Tried again after this delay.
    RetryAfter(Duration),
    /// Given up: dead-lettered.
    GiveUp,
}

/// A failed attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The status answered, if any.
    pub status_code: Option<u16>,
    /// Why, for operators (never a secret).
    pub error: String,
    pub next: Next,
}

/// Records a failed attempt: pending again after the delay, or dead. False when the claim
/// had expired and another attempt owns the delivery.
pub async fn record_failed(
    pool: &PgPool,
    delivery: &ClaimedDelivery,
    failure: &Failure,
) -> Result<bool> {
    let (dead, delay_ms) = match failure.next {
        Next::RetryAfter(delay) => (false, delay.as_millis() as f64),
        Next::GiveUp => (true, 0.0),
    };
    let updated = sqlx::query(
        "WITH failed AS (
             UPDATE notification_deliveries
                SET status = CASE WHEN $4 THEN 'dead' ELSE 'pending' END,
                    next_attempt_at = now() + $5::float8 * interval '1 millisecond',
                    last_status_code = $3, last_error = $6
              WHERE id = $1 AND attempts = $2 AND status = 'pending'
             RETURNING workspace_id, endpoint_id
         )
         UPDATE notification_endpoints e
            SET last_attempt_at = now(),
                last_outcome = CASE WHEN $4 THEN 'dead' ELSE 'failed' END,
                last_status_code = $3, last_error = $6
           FROM failed
          WHERE e.workspace_id = failed.workspace_id AND e.id = failed.endpoint_id",
    )
    .bind(delivery.id)
    .bind(delivery.attempt)
    .bind(failure.status_code.map(i32::from))
    .bind(dead)
    .bind(delay_ms)
    .bind(&failure.error)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() > 0)
}

/// Deletes delivered and dead deliveries created more than `older_than` ago; pending ones
/// are kept whatever their age. Returns how many were deleted.
pub async fn prune(pool: &PgPool, older_than: Duration) -> Result<u64> {
    let deleted = sqlx::query(
        "DELETE FROM notification_deliveries
          WHERE status <> 'pending' AND created_at < now() - $1::float8 * interval '1 second'",
    )
    .bind(older_than.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}

/// Delay before retry after failed attempt number `attempt` (1-based): `base` doubling per
/// attempt, at most `cap`, scaled by `jitter` (a factor the caller draws, e.g. between 0.8
/// and 1.2) so that deliveries failed together do not all come back together.
pub fn retry_delay(attempt: i32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    let delay = base.saturating_mul(2u32.saturating_pow(doublings)).min(cap);
    delay.mul_f64(jitter.clamp(0.0, 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let base = Duration::from_secs(10);
        let cap = Duration::from_secs(3600);
        assert_eq!(retry_delay(1, base, cap, 1.0), Duration::from_secs(10));
        assert_eq!(retry_delay(2, base, cap, 1.0), Duration::from_secs(20));
        assert_eq!(retry_delay(4, base, cap, 1.0), Duration::from_secs(80));
        assert_eq!(retry_delay(40, base, cap, 1.0), cap);
        assert_eq!(retry_delay(0, base, cap, 1.0), base);
        assert_eq!(retry_delay(1, base, cap, 0.8), Duration::from_secs(8));
    }
}
