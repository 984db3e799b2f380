//! Analysis runs with their desired and live provenance.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use statesight_core::wire::{
    AnalysisRun, DesiredProvenance, LiveMethod, LiveProvenance, ObservedAtSource, RenderedWith,
    RunStatus, RunTrigger,
};
use uuid::Uuid;

use crate::Result;
use crate::keyset::{ByTimeDesc, Page};

macro_rules! run_select {
    () => {
        "
SELECT r.id, r.workspace_id, r.application_id, r.status, r.trigger, r.requested_revision,
       r.resolved_revision, r.requested_by, r.attempts, r.error, r.finding_count,
       r.suppressed_count, r.incident_count, r.warnings, r.queued_at, r.started_at, r.finished_at,
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
    #[sqlx(try_from = "String")]
    status: RunStatus,
    #[sqlx(try_from = "String")]
    trigger: RunTrigger,
    requested_revision: Option<String>,
    resolved_revision: Option<String>,
    requested_by: Option<Uuid>,
    attempts: i32,
    error: Option<String>,
    finding_count: Option<i32>,
    suppressed_count: Option<i32>,
    incident_count: Option<i32>,
    warnings: sqlx::types::Json<Vec<String>>,
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

/// Parses an optional enum column (the provenance columns are null without provenance).
fn parse_optional<T>(text: Option<String>) -> Result<Option<T>>
where
    T: std::str::FromStr<Err = statesight_core::wire::UnknownVariant>,
{
    Ok(text.map(|text| text.parse()).transpose()?)
}

impl RunRow {
    fn desired_provenance(&mut self) -> Result<Option<DesiredProvenance>> {
        let rendered_with: Option<RenderedWith> = parse_optional(self.d_rendered_with.take())?;
        Ok(
            match (
                self.d_repo_url.take(),
                self.d_git_ref.take(),
                self.d_path.take(),
                self.d_commit_sha.take(),
                rendered_with,
            ) {
                (
                    Some(repo_url),
                    Some(git_ref),
                    Some(path),
                    Some(commit_sha),
                    Some(rendered_with),
                ) => Some(DesiredProvenance {
                    repo_url,
                    git_ref,
                    path,
                    commit_sha,
                    committed_at: self.d_committed_at,
                    rendered_with,
                }),
                _ => None,
            },
        )
    }

    fn live_provenance(&mut self) -> Result<Option<LiveProvenance>> {
        let method: Option<LiveMethod> = parse_optional(self.l_method.take())?;
        let observed_at_source: Option<ObservedAtSource> =
            parse_optional(self.l_observed_at_source.take())?;
        Ok(
            match (
                self.l_cluster_id,
                method,
                self.l_trusted,
                self.l_observed_at,
                observed_at_source,
                self.l_has_managed_fields,
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
                    context: self.l_context.take(),
                    has_managed_fields,
                }),
                _ => None,
            },
        )
    }
}

impl TryFrom<RunRow> for AnalysisRun {
    type Error = crate::StoreError;

    fn try_from(mut row: RunRow) -> Result<Self> {
        let desired_provenance = row.desired_provenance()?;
        let live_provenance = row.live_provenance()?;
        Ok(AnalysisRun {
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
            warnings: row.warnings.0,
            queued_at: row.queued_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            desired_provenance,
            live_provenance,
        })
    }
}

fn runs(rows: Vec<RunRow>) -> Result<Vec<AnalysisRun>> {
    rows.into_iter().map(AnalysisRun::try_from).collect()
}

pub async fn get(pool: &PgPool, run_id: Uuid) -> Result<Option<AnalysisRun>> {
    let sql = concat!(run_select!(), " WHERE r.id = $1");
    let row: Option<RunRow> = sqlx::query_as(sql)
        .bind(run_id)
        .fetch_optional(pool)
        .await?;
    row.map(AnalysisRun::try_from).transpose()
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
    let items = runs(rows)?;
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
    runs(rows)
}

/// What `request_analysis` decided.
#[derive(Debug, Clone)]
pub enum AnalysisRequest {
    /// A new run was recorded and its job enqueued (202).
    Created(AnalysisRun),
    /// A run for the same target is already queued or running (200).
    Existing(AnalysisRun),
    /// The queued follow-up now targets the newer revision asked for (200).
    Coalesced(AnalysisRun),
    /// The application does not exist.
    NoApplication,
}

#[derive(sqlx::FromRow)]
struct InFlight {
    id: Uuid,
    #[sqlx(try_from = "String")]
    status: RunStatus,
    requested_revision: Option<String>,
}

/// Records an analysis request. The application row is locked for the decision, so
/// concurrent requests serialize: the first creates a run, the rest find it. A run is in
/// flight at most once per application, with at most one follow-up queued behind it (the
/// database's partial unique indexes back this up).
///
/// The job is enqueued before the transaction commits: if Redis refuses, nothing is
/// recorded; if the commit fails after enqueueing, the worker finds no queued run for the
/// job and drops it.
pub async fn request_analysis(
    pool: &PgPool,
    queue: &crate::queue::Queue,
    actor: &crate::audit::Actor,
    application_id: Uuid,
    revision: Option<String>,
    trigger: RunTrigger,
) -> Result<AnalysisRequest> {
    let mut tx = pool.begin().await?;
    let workspace: Option<(Uuid, String)> =
        sqlx::query_as("SELECT workspace_id, name FROM applications WHERE id = $1 FOR UPDATE")
            .bind(application_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((workspace_id, application_name)) = workspace else {
        return Ok(AnalysisRequest::NoApplication);
    };
    let in_flight: Vec<InFlight> = sqlx::query_as(
        "SELECT id, status, requested_revision FROM analysis_runs
          WHERE application_id = $1 AND status IN ('queued', 'running')",
    )
    .bind(application_id)
    .fetch_all(&mut *tx)
    .await?;
    let queued = in_flight.iter().find(|run| run.status == RunStatus::Queued);
    let running = in_flight
        .iter()
        .find(|run| run.status == RunStatus::Running);

    if let Some(queued) = queued {
        // A watched change needs only some analysis after it: the queued one reads the
        // cluster later, whatever revision it was asked for.
        if queued.requested_revision == revision
            || revision.is_none()
            || trigger == RunTrigger::Watch
        {
            let id = queued.id;
            tx.commit().await?;
            return existing(pool, id, AnalysisRequest::Existing).await;
        }
        sqlx::query("UPDATE analysis_runs SET requested_revision = $2 WHERE id = $1")
            .bind(queued.id)
            .bind(&revision)
            .execute(&mut *tx)
            .await?;
        crate::audit::append(
            &mut tx,
            actor,
            crate::audit::Entry {
                workspace_id: Some(workspace_id),
                action: "analysis.coalesce",
                target_type: "analysis_run",
                target_id: queued.id,
                before: Some(
                    serde_json::json!({ "requested_revision": queued.requested_revision }),
                ),
                after: Some(serde_json::json!({ "requested_revision": revision })),
            },
        )
        .await?;
        let id = queued.id;
        tx.commit().await?;
        return existing(pool, id, AnalysisRequest::Coalesced).await;
    }
    // A watch-triggered request behind a running run always gets a follow-up: the running
    // one may have read the cluster before the change that triggered this request.
    if let Some(running) = running
        && running.requested_revision == revision
        && trigger != RunTrigger::Watch
    {
        let id = running.id;
        tx.commit().await?;
        return existing(pool, id, AnalysisRequest::Existing).await;
    }

    let run_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO analysis_runs (id, workspace_id, application_id, status, trigger, requested_revision, requested_by)
         VALUES ($1, $2, $3, 'queued', $6, $4, $5)",
    )
    .bind(run_id)
    .bind(workspace_id)
    .bind(application_id)
    .bind(&revision)
    .bind(actor.user_id)
    .bind(trigger.as_str())
    .execute(&mut *tx)
    .await?;
    crate::audit::append(
        &mut tx,
        actor,
        crate::audit::Entry {
            workspace_id: Some(workspace_id),
            action: "analysis.request",
            target_type: "analysis_run",
            target_id: run_id,
            before: None,
            after: Some(serde_json::json!({
                "application_id": application_id,
                "requested_revision": revision,
                "follow_up_of": running.map(|run| run.id),
            })),
        },
    )
    .await?;
    let job = crate::queue::Job::new(run_id, application_id);
    queue.enqueue(&job, running.is_none()).await?;
    tx.commit().await?;
    let queued = statesight_core::wire::WorkspaceEvent {
        kind: statesight_core::wire::EventKind::RunQueued,
        workspace_id,
        application_id,
        application_name,
        run_id: Some(run_id),
        incident: None,
        error: None,
        at: chrono::Utc::now(),
    };
    // Best effort, after the commit: a lost event costs a client a refresh.
    if let Err(error) = queue.publish_events(&[queued]).await {
        tracing::warn!(%error, %run_id, "publishing run.queued failed");
    }
    existing(pool, run_id, AnalysisRequest::Created).await
}

async fn existing(
    pool: &PgPool,
    run_id: Uuid,
    wrap: fn(AnalysisRun) -> AnalysisRequest,
) -> Result<AnalysisRequest> {
    Ok(match get(pool, run_id).await? {
        Some(run) => wrap(run),
        // Deleted between the decision and the read (the application was removed).
        None => AnalysisRequest::NoApplication,
    })
}

/// Every application id, for the scheduler.
pub async fn all_application_ids(pool: &PgPool) -> Result<Vec<Uuid>> {
    let rows: Vec<(Uuid,)> = sqlx::query_as("SELECT id FROM applications ORDER BY id")
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// What the database says is waiting and working: the truth the queue's gauges report
/// (a job lost in Redis still counts here).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InFlightStats {
    pub queued: i64,
    pub running: i64,
    pub oldest_queued_seconds: f64,
    pub oldest_running_seconds: f64,
}

pub async fn in_flight_stats(pool: &PgPool) -> Result<InFlightStats> {
    let (queued, running, oldest_queued_seconds, oldest_running_seconds): (i64, i64, f64, f64) =
        sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'queued'),
                    count(*) FILTER (WHERE status = 'running'),
                    coalesce(extract(epoch FROM now() - min(queued_at) FILTER (WHERE status = 'queued')), 0)::float8,
                    coalesce(extract(epoch FROM now() - min(coalesce(started_at, queued_at)) FILTER (WHERE status = 'running')), 0)::float8
               FROM analysis_runs WHERE status IN ('queued', 'running')",
        )
        .fetch_one(pool)
        .await?;
    Ok(InFlightStats {
        queued,
        running,
        oldest_queued_seconds,
        oldest_running_seconds,
    })
}

/// Marks a running run alive (its worker renews its lease). A no-op for other states.
pub async fn heartbeat(pool: &PgPool, run_id: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE analysis_runs SET heartbeat_at = now() WHERE id = $1 AND status = 'running'",
    )
    .bind(run_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// A run that is queued or running, as the sweeper sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlightRun {
    pub run_id: Uuid,
    pub application_id: Uuid,
    pub running: bool,
    /// Seconds since the run's worker last renewed it (running runs), or since it was
    /// queued.
    pub silent_for_seconds: f64,
}

/// Every queued or running run, oldest first within each application.
pub async fn in_flight(pool: &PgPool) -> Result<Vec<InFlightRun>> {
    let rows: Vec<(Uuid, Uuid, String, f64)> = sqlx::query_as(
        "SELECT id, application_id, status,
                extract(epoch FROM now() - coalesce(heartbeat_at, started_at, queued_at))::float8
           FROM analysis_runs
          WHERE status IN ('queued', 'running')
          ORDER BY application_id, queued_at, id
          LIMIT 2000",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(run_id, application_id, status, silent)| InFlightRun {
            run_id,
            application_id,
            running: status == "running",
            silent_for_seconds: silent,
        })
        .collect())
}
