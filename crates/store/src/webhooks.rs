//! What the GitHub webhook needs from the database: claiming a delivery id once across every
//! server replica, pruning old claims, and the applications whose source may track a pushed
//! repository (the exact match is `statesight_core::source`'s, in Rust).

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// How long a delivery id is remembered. GitHub redelivers (by hand or through its API)
/// deliveries of the past 3 days; a week covers that with room to spare.
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How many expired delivery ids one prune removes at most, so a large backlog is worked off
/// across deliveries instead of in one long statement.
const PRUNE_BATCH: i64 = 1000;

/// How long a `processing` claim is honoured. A request is cut off after 30 s; a claim
/// older than this belongs to a request (or a server) that died without finishing, and the
/// next copy of the delivery takes it over.
pub const STALE_CLAIM: Duration = Duration::from_secs(120);

/// What claiming a delivery id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the delivery: act on it, then [`complete_delivery`] (or
    /// [`release_delivery`] when acting failed).
    Claimed,
    /// The delivery was already processed.
    Done,
    /// Another request is processing the delivery right now.
    InProgress,
}

/// Claims `delivery_id` for this request. One statement, so concurrent copies of a delivery
/// on any number of replicas get exactly one `Claimed`; no transaction stays open while the
/// delivery is acted on.
pub async fn claim_delivery(pool: &PgPool, delivery_id: &str, event: &str) -> Result<Claim> {
    let claimed: Option<(String,)> = sqlx::query_as(
        "INSERT INTO github_webhook_deliveries (delivery_id, event, state, received_at)
         VALUES ($1, $2, 'processing', now())
         ON CONFLICT (delivery_id) DO UPDATE
            SET event = EXCLUDED.event, state = 'processing', received_at = now()
          WHERE github_webhook_deliveries.state = 'processing'
            AND github_webhook_deliveries.received_at < now() - make_interval(secs => $3)
         RETURNING delivery_id",
    )
    .bind(delivery_id)
    .bind(event)
    .bind(STALE_CLAIM.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    if claimed.is_some() {
        return Ok(Claim::Claimed);
    }
    let state: Option<(String,)> =
        sqlx::query_as("SELECT state FROM github_webhook_deliveries WHERE delivery_id = $1")
            .bind(delivery_id)
            .fetch_optional(pool)
            .await?;
    Ok(match state {
        Some((state,)) if state == "done" => Claim::Done,
        // Processing, or released by its failed request a moment ago: either way another
        // request holds or held it; the sender's next redelivery settles it.
        _ => Claim::InProgress,
    })
}

/// Marks a claimed delivery as processed: copies of it are duplicates from now on.
pub async fn complete_delivery(pool: &PgPool, delivery_id: &str) -> Result<()> {
    sqlx::query("UPDATE github_webhook_deliveries SET state = 'done' WHERE delivery_id = $1")
        .bind(delivery_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Gives up a claim whose processing failed, so the sender's redelivery is processed.
pub async fn release_delivery(pool: &PgPool, delivery_id: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM github_webhook_deliveries WHERE delivery_id = $1 AND state = 'processing'",
    )
    .bind(delivery_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes up to one batch of delivery ids older than `retention`; returns how many. Rows
/// another replica is deleting at the same moment are skipped, not waited for.
pub async fn prune_deliveries(pool: &PgPool, retention: Duration) -> Result<u64> {
    let deleted = sqlx::query(
        "DELETE FROM github_webhook_deliveries
          WHERE delivery_id IN (
                SELECT delivery_id FROM github_webhook_deliveries
                 WHERE received_at < now() - make_interval(secs => $1)
                 LIMIT $2
                   FOR UPDATE SKIP LOCKED)",
    )
    .bind(retention.as_secs_f64())
    .bind(PRUNE_BATCH)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted)
}

/// Whether a delivery id is recorded as processed (tests and operators).
pub async fn delivery_done(pool: &PgPool, delivery_id: &str) -> Result<bool> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT delivery_id FROM github_webhook_deliveries WHERE delivery_id = $1 AND state = 'done'",
    )
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// An application with its source's repository and ref, as the webhook matches them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TrackingApplication {
    pub application_id: Uuid,
    pub workspace_id: Uuid,
    pub application_name: String,
    pub repo_url: String,
    pub git_ref: String,
}

/// Every application, in every workspace, whose source's repository URL may name the
/// repository called `repository_name` (its last path segment): the URL contains the name,
/// ignoring case, or holds a percent escape that might spell it. A cheap pre-filter; the
/// caller compares repository keys exactly. Ordered by workspace and application name.
pub async fn applications_for_repository_name(
    pool: &PgPool,
    repository_name: &str,
) -> Result<Vec<TrackingApplication>> {
    Ok(sqlx::query_as(
        "SELECT a.id AS application_id, a.workspace_id, a.name AS application_name,
                s.repo_url, s.git_ref
           FROM applications a
           JOIN source_definitions s
             ON s.workspace_id = a.workspace_id AND s.id = a.source_id
          WHERE strpos(lower(s.repo_url), lower($1)) > 0 OR strpos(s.repo_url, '%') > 0
          ORDER BY a.workspace_id, a.name, a.id",
    )
    .bind(repository_name)
    .fetch_all(pool)
    .await?)
}
