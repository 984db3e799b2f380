//! Applications: lists and single rows with their cluster, source, open-incident digest
//! and latest run.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use statesight_core::wire::{Application, NamedRef, RunStatus, RunSummary, Severity};
use uuid::Uuid;

use crate::Result;
use crate::keyset::{ByName, Page};

macro_rules! application_select {
    () => {
        "
SELECT a.id, a.workspace_id, a.name, a.description, a.default_namespace,
       a.created_at, a.updated_at,
       c.id AS cluster_id, c.name AS cluster_name,
       s.id AS source_id, s.name AS source_name,
       COALESCE(oi.open_count, 0) AS open_incident_count,
       oi.highest AS highest_open_severity,
       lr.id AS run_id, lr.status AS run_status, lr.queued_at AS run_queued_at,
       lr.finished_at AS run_finished_at, lr.resolved_revision AS run_revision
  FROM applications a
  JOIN clusters c ON c.workspace_id = a.workspace_id AND c.id = a.cluster_id
  JOIN source_definitions s ON s.workspace_id = a.workspace_id AND s.id = a.source_id
  LEFT JOIN LATERAL (
        SELECT count(*) AS open_count,
               (array_agg(i.severity ORDER BY severity_rank(i.severity) DESC))[1] AS highest
          FROM incidents i
         WHERE i.application_id = a.id AND i.status = 'open') oi ON true
  LEFT JOIN LATERAL (
        SELECT r.id, r.status, r.queued_at, r.finished_at, r.resolved_revision
          FROM analysis_runs r
         WHERE r.application_id = a.id
         ORDER BY r.queued_at DESC, r.id DESC
         LIMIT 1) lr ON true"
    };
}

#[derive(sqlx::FromRow)]
struct ApplicationRow {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    description: String,
    default_namespace: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    cluster_id: Uuid,
    cluster_name: String,
    source_id: Uuid,
    source_name: String,
    open_incident_count: i64,
    highest_open_severity: Option<String>,
    run_id: Option<Uuid>,
    run_status: Option<String>,
    run_queued_at: Option<DateTime<Utc>>,
    run_finished_at: Option<DateTime<Utc>>,
    run_revision: Option<String>,
}

impl TryFrom<ApplicationRow> for Application {
    type Error = crate::StoreError;

    fn try_from(row: ApplicationRow) -> Result<Self> {
        let run_status: Option<RunStatus> = row.run_status.map(|s| s.parse()).transpose()?;
        let latest_run = match (row.run_id, run_status, row.run_queued_at) {
            (Some(id), Some(status), Some(queued_at)) => Some(RunSummary {
                id,
                status,
                queued_at,
                finished_at: row.run_finished_at,
                resolved_revision: row.run_revision,
            }),
            _ => None,
        };
        let highest_open_severity: Option<Severity> =
            row.highest_open_severity.map(|s| s.parse()).transpose()?;
        Ok(Application {
            id: row.id,
            workspace_id: row.workspace_id,
            name: row.name,
            description: row.description,
            default_namespace: row.default_namespace,
            cluster: NamedRef {
                id: row.cluster_id,
                name: row.cluster_name,
            },
            source: NamedRef {
                id: row.source_id,
                name: row.source_name,
            },
            open_incident_count: row.open_incident_count,
            highest_open_severity,
            latest_run,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Applications of a workspace ordered by name.
pub async fn list(
    pool: &PgPool,
    workspace_id: Uuid,
    after: Option<&ByName>,
    limit: i64,
) -> Result<Page<Application, ByName>> {
    let sql = concat!(
        application_select!(),
        "
          WHERE a.workspace_id = $1
            AND ($2::text IS NULL OR (a.name, a.id) > ($2, $3))
          ORDER BY a.name, a.id
          LIMIT $4"
    );
    let rows: Vec<ApplicationRow> = sqlx::query_as(sql)
        .bind(workspace_id)
        .bind(after.map(|key| key.name.clone()))
        .bind(after.map(|key| key.id))
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let items = rows
        .into_iter()
        .map(Application::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(items, limit, |app| ByName {
        name: app.name.clone(),
        id: app.id,
    }))
}

pub async fn get(pool: &PgPool, application_id: Uuid) -> Result<Option<Application>> {
    let sql = concat!(application_select!(), " WHERE a.id = $1");
    let row: Option<ApplicationRow> = sqlx::query_as(sql)
        .bind(application_id)
        .fetch_optional(pool)
        .await?;
    row.map(Application::try_from).transpose()
}

/// The workspace an application belongs to, for authorizing routes addressed by its id.
pub async fn workspace_of(pool: &PgPool, application_id: Uuid) -> Result<Option<Uuid>> {
    let row: Option<(Uuid,)> =
        sqlx::query_as("SELECT workspace_id FROM applications WHERE id = $1")
            .bind(application_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(id,)| id))
}
