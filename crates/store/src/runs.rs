//! Analysis runs with their desired and live provenance.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use statesight_core::wire::{AnalysisRun, DesiredProvenance, LiveProvenance};
use uuid::Uuid;

use crate::Result;
use crate::keyset::{ByTimeDesc, Page};

macro_rules! run_select {
    () => {
        "
SELECT r.id, r.workspace_id, r.application_id, r.status, r.trigger, r.requested_revision,
       r.resolved_revision, r.requested_by, r.attempts, r.error, r.finding_count,
       r.suppressed_count, r.incident_count, r.queued_at, r.started_at, r.finished_at,
       d.repo_url AS d_repo_url, d.git_ref AS d_git_ref, d.path AS d_path,
       d.commit_sha AS d_commit_sha, d.committed_at AS d_committed_at,
       d.rendered_with AS d_rendered_with,
       l.cluster_id AS l_cluster_id, l.method AS l_method, l.trusted AS l_trusted,
       l.observed_at AS l_observed_at, l.observed_at_source AS l_observed_at_source,
       l.context AS l_context, l.has_managed_fields AS l_has_managed_fields
  FROM analysis_runs r
  LEFT JOIN desired_provenance d ON d.run_id = r.id
  LEFT JOIN live_provenance l ON l.run_id = r.id"
    };
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: Uuid,
    workspace_id: Uuid,
    application_id: Uuid,
    status: String,
    trigger: String,
    requested_revision: Option<String>,
    resolved_revision: Option<String>,
    requested_by: Option<Uuid>,
    attempts: i32,
    error: Option<String>,
    finding_count: Option<i32>,
    suppressed_count: Option<i32>,
    incident_count: Option<i32>,
    queued_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    d_repo_url: Option<String>,
    d_git_ref: Option<String>,
    d_path: Option<String>,
    d_commit_sha: Option<String>,
    d_committed_at: Option<DateTime<Utc>>,
    d_rendered_with: Option<String>,
    l_cluster_id: Option<Uuid>,
    l_method: Option<String>,
    l_trusted: Option<bool>,
    l_observed_at: Option<DateTime<Utc>>,
    l_observed_at_source: Option<String>,
    l_context: Option<String>,
    l_has_managed_fields: Option<bool>,
}

impl From<RunRow> for AnalysisRun {
    fn from(row: RunRow) -> Self {
        let desired_provenance = match (
            row.d_repo_url,
            row.d_git_ref,
            row.d_path,
            row.d_commit_sha,
            row.d_rendered_with,
        ) {
            (Some(repo_url), Some(git_ref), Some(path), Some(commit_sha), Some(rendered_with)) => {
                Some(DesiredProvenance {
                    repo_url,
                    git_ref,
                    path,
                    commit_sha,
                    committed_at: row.d_committed_at,
                    rendered_with,
                })
            }
            _ => None,
        };
        let live_provenance = match (
            row.l_cluster_id,
            row.l_method,
            row.l_trusted,
            row.l_observed_at,
            row.l_observed_at_source,
            row.l_has_managed_fields,
        ) {
            (
                Some(cluster_id),
                Some(method),
                Some(trusted),
                Some(observed_at),
                Some(observed_at_source),
                Some(has_managed_fields),
            ) => Some(LiveProvenance {
                cluster_id,
                method,
                trusted,
                observed_at,
                observed_at_source,
                context: row.l_context,
                has_managed_fields,
            }),
            _ => None,
        };
        AnalysisRun {
            id: row.id,
            workspace_id: row.workspace_id,
            application_id: row.application_id,
            status: row.status,
            trigger: row.trigger,
            requested_revision: row.requested_revision,
            resolved_revision: row.resolved_revision,
            requested_by: row.requested_by,
            attempts: row.attempts,
            error: row.error,
            finding_count: row.finding_count,
            suppressed_count: row.suppressed_count,
            incident_count: row.incident_count,
            queued_at: row.queued_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            desired_provenance,
            live_provenance,
        }
    }
}

pub async fn get(pool: &PgPool, run_id: Uuid) -> Result<Option<AnalysisRun>> {
    let sql = concat!(run_select!(), " WHERE r.id = $1");
    let row: Option<RunRow> = sqlx::query_as(sql)
        .bind(run_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(AnalysisRun::from))
}

/// Runs of one application, newest first.
pub async fn list_for_application(
    pool: &PgPool,
    application_id: Uuid,
    after: Option<&ByTimeDesc>,
    limit: i64,
) -> Result<Page<AnalysisRun, ByTimeDesc>> {
    let sql = concat!(
        run_select!(),
        "
          WHERE r.application_id = $1
            AND ($2::timestamptz IS NULL OR (r.queued_at, r.id) < ($2, $3))
          ORDER BY r.queued_at DESC, r.id DESC
          LIMIT $4"
    );
    let rows: Vec<RunRow> = sqlx::query_as(sql)
        .bind(application_id)
        .bind(after.map(|key| key.at))
        .bind(after.map(|key| key.id))
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let items: Vec<AnalysisRun> = rows.into_iter().map(AnalysisRun::from).collect();
    Ok(Page::from_rows(items, limit, |run| ByTimeDesc {
        at: run.queued_at,
        id: run.id,
    }))
}

/// The most recent runs across a workspace.
pub async fn recent_in_workspace(
    pool: &PgPool,
    workspace_id: Uuid,
    limit: i64,
) -> Result<Vec<AnalysisRun>> {
    let sql = concat!(
        run_select!(),
        " WHERE r.workspace_id = $1 ORDER BY r.queued_at DESC, r.id DESC LIMIT $2"
    );
    let rows: Vec<RunRow> = sqlx::query_as(sql)
        .bind(workspace_id)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(AnalysisRun::from).collect())
}
