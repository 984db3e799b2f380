//! What the GitHub webhook needs from the database: claiming a delivery id once across every
//! server replica, pruning old claims, and the applications whose source may track a pushed
//! repository (the exact match is `statesight_core::source`'s, in Rust).

use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::Result;

/// How long a delivery id is remembered. GitHub redelivers (by hand or through its API)
/// deliveries of the past 3 days; a week covers that with room to spare.
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How many expired delivery ids one prune removes at most, so a large backlog is worked off
/// across deliveries instead of in one long statement.
const PRUNE_BATCH: i64 = 1000;

/// A delivery id this request recorded, not yet committed. The claim holds the row's insert
/// lock: a concurrent request with the same id waits, then sees a duplicate if this one
/// commits, or claims it itself if this one is dropped (its processing failed, so a retry by
/// the sender must be processed again).
pub struct DeliveryClaim {
    tx: Transaction<'static, Postgres>,
}

impl DeliveryClaim {
    /// Makes the claim permanent: the delivery counts as processed.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Claims `delivery_id`, or `None` when it was already processed.
pub async fn claim_delivery(
    pool: &PgPool,
    delivery_id: &str,
    event: &str,
) -> Result<Option<DeliveryClaim>> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO github_webhook_deliveries (delivery_id, event) VALUES ($1, $2)
         ON CONFLICT (delivery_id) DO NOTHING",
    )
    .bind(delivery_id)
    .bind(event)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    Ok(Some(DeliveryClaim { tx }))
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

/// Whether a delivery id is recorded (tests and operators).
pub async fn delivery_recorded(pool: &PgPool, delivery_id: &str) -> Result<bool> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT delivery_id FROM github_webhook_deliveries WHERE delivery_id = $1")
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
