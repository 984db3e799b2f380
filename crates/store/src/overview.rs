//! The workspace overview: counts and the most pressing items, in a few queries.

use sqlx::PgPool;
use statesight_core::wire::{OpenIncidentCounts, RecommendationCounts, RunCounts, SeverityCounts};
use uuid::Uuid;

use crate::Result;

pub struct WorkspaceCounts {
    pub applications: i64,
    pub clusters: i64,
    pub sources: i64,
    pub open_incidents: OpenIncidentCounts,
    pub runs: RunCounts,
}

#[derive(sqlx::FromRow)]
struct CountsRow {
    applications: i64,
    clusters: i64,
    sources: i64,
    open_total: i64,
    critical: i64,
    high: i64,
    medium: i64,
    low: i64,
    reconcile: i64,
    investigate: i64,
    monitor: i64,
    ignore: i64,
    queued: i64,
    running: i64,
    failed_last_24h: i64,
    succeeded_last_24h: i64,
}

pub async fn counts(pool: &PgPool, workspace_id: Uuid) -> Result<WorkspaceCounts> {
    let row: CountsRow = sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM applications WHERE workspace_id = $1) AS applications,
           (SELECT count(*) FROM clusters WHERE workspace_id = $1) AS clusters,
           (SELECT count(*) FROM source_definitions WHERE workspace_id = $1) AS sources,
           oi.open_total, oi.critical, oi.high, oi.medium, oi.low,
           oi.reconcile, oi.investigate, oi.monitor, oi.ignore,
           rc.queued, rc.running, rc.failed_last_24h, rc.succeeded_last_24h
         FROM
           (SELECT count(*) AS open_total,
                   count(*) FILTER (WHERE severity = 'critical') AS critical,
                   count(*) FILTER (WHERE severity = 'high') AS high,
                   count(*) FILTER (WHERE severity = 'medium') AS medium,
                   count(*) FILTER (WHERE severity = 'low') AS low,
                   count(*) FILTER (WHERE recommendation = 'reconcile') AS reconcile,
                   count(*) FILTER (WHERE recommendation = 'investigate') AS investigate,
                   count(*) FILTER (WHERE recommendation = 'monitor') AS monitor,
                   count(*) FILTER (WHERE recommendation = 'ignore') AS ignore
              FROM incidents WHERE workspace_id = $1 AND status = 'open') oi,
           (SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
                   count(*) FILTER (WHERE status = 'running') AS running,
                   count(*) FILTER (WHERE status = 'failed'
                                      AND finished_at > now() - interval '24 hours') AS failed_last_24h,
                   count(*) FILTER (WHERE status = 'succeeded'
                                      AND finished_at > now() - interval '24 hours') AS succeeded_last_24h
              FROM analysis_runs WHERE workspace_id = $1) rc",
    )
    .bind(workspace_id)
    .fetch_one(pool)
    .await?;
    Ok(WorkspaceCounts {
        applications: row.applications,
        clusters: row.clusters,
        sources: row.sources,
        open_incidents: OpenIncidentCounts {
            total: row.open_total,
            by_severity: SeverityCounts {
                critical: row.critical,
                high: row.high,
                medium: row.medium,
                low: row.low,
            },
            by_recommendation: RecommendationCounts {
                reconcile: row.reconcile,
                investigate: row.investigate,
                monitor: row.monitor,
                ignore: row.ignore,
            },
        },
        runs: RunCounts {
            queued: row.queued,
            running: row.running,
            failed_last_24h: row.failed_last_24h,
            succeeded_last_24h: row.succeeded_last_24h,
        },
    })
}
