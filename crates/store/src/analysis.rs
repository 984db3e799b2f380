//! What the worker reads and writes around one analysis run: the job's context, the run's
//! state transitions, and the results, written in ONE transaction keyed by the run so a
//! redelivered job can never write them twice. Incidents are upserted by fingerprint,
//! resolved when their findings are gone and reopened when they come back; findings,
//! suppressed findings and timeline events are inserted in batches (UNNEST).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use statesight_core::lifecycle::{
    self, IncidentState, KnownIncident, Observation, PlannedEvent, RunInfo,
};
use statesight_core::wire::{
    Attribution, Cluster, DesiredSince, EventKind, IgnoreRule, IncidentEvent, Recommendation,
    Severity, Source, WorkspaceEvent,
};
use statesight_core::{Analysis, Finding, Incident, ResourceId, cause_label};
use uuid::Uuid;

use crate::Result;

/// Everything the worker needs to run a job, read from the database (the job itself
/// carries only ids).
#[derive(Debug, Clone)]
pub struct JobContext {
    pub run_id: Uuid,
    pub workspace_id: Uuid,
    pub application_id: Uuid,
    pub application_name: String,
    pub default_namespace: String,
    pub status: String,
    pub attempts: i32,
    pub requested_revision: Option<String>,
    pub cluster: Cluster,
    pub source: Source,
    /// Enabled rules that apply, in precedence order.
    pub rules: Vec<IgnoreRule>,
}

#[derive(sqlx::FromRow)]
struct RunHead {
    workspace_id: Uuid,
    application_id: Uuid,
    application_name: String,
    default_namespace: String,
    status: String,
    attempts: i32,
    requested_revision: Option<String>,
    cluster_id: Uuid,
    source_id: Uuid,
}

/// `None` when the run no longer exists (its application was deleted).
pub async fn load_job(pool: &PgPool, run_id: Uuid) -> Result<Option<JobContext>> {
    let head: Option<RunHead> = sqlx::query_as(
        "SELECT r.workspace_id, r.application_id, a.name AS application_name, a.default_namespace,
                r.status, r.attempts, r.requested_revision, a.cluster_id, a.source_id
           FROM analysis_runs r
           JOIN applications a ON a.workspace_id = r.workspace_id AND a.id = r.application_id
          WHERE r.id = $1",
    )
    .bind(run_id)
    .fetch_optional(pool)
    .await?;
    let Some(head) = head else {
        return Ok(None);
    };
    let (Some(cluster), Some(source)) = (
        crate::onboarding::get_cluster(pool, head.cluster_id).await?,
        crate::onboarding::get_source(pool, head.source_id).await?,
    ) else {
        return Ok(None);
    };
    let rules = crate::rules::applicable_to_application(pool, head.application_id)
        .await?
        .into_iter()
        .filter(|rule| rule.enabled)
        .collect();
    Ok(Some(JobContext {
        run_id,
        workspace_id: head.workspace_id,
        application_id: head.application_id,
        application_name: head.application_name,
        default_namespace: head.default_namespace,
        status: head.status,
        attempts: head.attempts,
        requested_revision: head.requested_revision,
        cluster,
        source,
        rules,
    }))
}

/// Outcome of trying to start a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The run is now `running`; `attempt` counts this one.
    Started { attempt: i32 },
    /// The run already finished (a redelivery after a crash that followed the commit).
    AlreadyFinished,
}

/// Marks a run `running` and counts the attempt. Idempotent for a run already running
/// (a redelivered job resumes it).
pub async fn start_run(pool: &PgPool, run_id: Uuid) -> Result<Start> {
    let row: Option<(i32,)> = sqlx::query_as(
        "UPDATE analysis_runs
            SET status = 'running', started_at = coalesce(started_at, now()), attempts = attempts + 1,
                heartbeat_at = now()
          WHERE id = $1 AND status IN ('queued', 'running')
          RETURNING attempts",
    )
    .bind(run_id)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((attempt,)) => Start::Started { attempt },
        None => Start::AlreadyFinished,
    })
}

/// Notes the error of an attempt that will be retried.
pub async fn note_attempt_error(pool: &PgPool, run_id: Uuid, error: &str) -> Result<()> {
    sqlx::query("UPDATE analysis_runs SET error = $2 WHERE id = $1 AND status = 'running'")
        .bind(run_id)
        .bind(error)
        .execute(pool)
        .await?;
    Ok(())
}

/// Marks a run failed with a readable error. Returns the `run.failed` event to publish,
/// `None` when the run had already finished (or no longer exists).
pub async fn fail_run(pool: &PgPool, run_id: Uuid, error: &str) -> Result<Option<WorkspaceEvent>> {
    let failed: Option<(Uuid, Uuid, String)> = sqlx::query_as(
        "UPDATE analysis_runs r SET status = 'failed', error = $2, finished_at = now()
           FROM applications a
          WHERE r.id = $1 AND r.status IN ('queued', 'running')
            AND a.workspace_id = r.workspace_id AND a.id = r.application_id
      RETURNING r.workspace_id, r.application_id, a.name",
    )
    .bind(run_id)
    .bind(error)
    .fetch_optional(pool)
    .await?;
    Ok(failed.map(
        |(workspace_id, application_id, application_name)| WorkspaceEvent {
            kind: EventKind::RunFailed,
            workspace_id,
            application_id,
            application_name,
            run_id: Some(run_id),
            incident: None,
            error: Some(error.to_owned()),
            at: Utc::now(),
        },
    ))
}

/// Where the desired state came from.
#[derive(Debug, Clone)]
pub struct DesiredRecord {
    pub repo_url: String,
    pub git_ref: String,
    pub path: String,
    pub commit_sha: String,
    pub committed_at: Option<DateTime<Utc>>,
    pub rendered_with: String,
}

/// How the live state was observed.
#[derive(Debug, Clone)]
pub struct LiveRecord {
    pub method: String,
    pub trusted: bool,
    pub observed_at: DateTime<Utc>,
    pub observed_at_source: String,
    pub context: Option<String>,
    pub has_managed_fields: bool,
}

/// The results of one run, ready to persist.
pub struct RunResults<'a> {
    pub analysis: &'a Analysis,
    pub desired: DesiredRecord,
    pub live: LiveRecord,
    /// When the analysis ran: the observation time of every finding and incident.
    pub analysed_at: DateTime<Utc>,
    /// What the run noticed but did not turn into findings.
    pub warnings: Vec<String>,
    /// Each finding's attribution, by (resource, path); a finding without one is recorded
    /// as not attributed for want of audit events.
    pub attributions: BTreeMap<(ResourceId, String), Attribution>,
    /// Each finding's "since when, in Git", by (resource, path); absent ones are recorded
    /// as null (not looked up).
    pub since: BTreeMap<(ResourceId, String), DesiredSince>,
    /// Every object the run compared: what a watch of the cluster follows for the
    /// application from now on.
    pub tracked: Vec<crate::watch::TrackedObject>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub findings: i32,
    pub suppressed: i32,
    pub incidents: i32,
    pub opened: i32,
    pub reopened: i32,
    pub resolved: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persisted {
    Written(Written),
    /// The run had already finished: nothing was written (at-least-once delivery).
    AlreadyFinished,
}

fn owners_json(finding: &Finding) -> Value {
    serde_json::to_value(&finding.owners).unwrap_or_else(|_| json!([]))
}

fn evidence_json(context: &JobContext, results: &RunResults<'_>, finding: &Finding) -> Value {
    let ownership = if finding.owners.is_empty() {
        let note = if results.live.has_managed_fields {
            "no managedFields entry owns this path"
        } else {
            "the live state carries no managedFields (e.g. a snapshot taken without --show-managed-fields): ownership is unknown, not absent"
        };
        json!({ "owners": [], "note": note })
    } else {
        json!({
            "owners": owners_json(finding),
            "note": "managedFields ownership is evidence of who last wrote or asserted the field, not proof of causation",
        })
    };
    json!({
        "desired": {
            "repository": results.desired.repo_url,
            "ref": results.desired.git_ref,
            "source_path": results.desired.path,
            "file": finding.origin.file,
            "document": finding.origin.document,
            "revision": results.desired.commit_sha,
            "committed_at": results.desired.committed_at,
            "since": results
                .since
                .get(&(finding.resource.clone(), finding.path_text.clone()))
                .and_then(|since| serde_json::to_value(since).ok()),
        },
        "live": {
            "method": results.live.method,
            "cluster": context.cluster.name,
            "cluster_id": context.cluster.id,
            "observed_at": results.live.observed_at,
            "observed_at_source": results.live.observed_at_source,
            "context": results.live.context,
            "trusted": results.live.trusted,
        },
        "ownership": ownership,
        "attribution": attribution_json(results, finding),
    })
}

fn attribution_json(results: &RunResults<'_>, finding: &Finding) -> Value {
    let key = (finding.resource.clone(), finding.path_text.clone());
    match results.attributions.get(&key) {
        Some(attribution) => serde_json::to_value(attribution).unwrap_or(Value::Null),
        None => json!({
            "grade": "not-attributed",
            "reason": "no Kubernetes audit events were ingested for this cluster",
            "events": [],
        }),
    }
}

#[derive(sqlx::FromRow)]
struct ExistingIncident {
    id: Uuid,
    fingerprint: String,
    status: String,
    title: String,
    #[sqlx(try_from = "String")]
    severity: Severity,
    #[sqlx(try_from = "String")]
    recommendation: Recommendation,
    finding_count: i32,
    resource_group: String,
    resource_kind: String,
    resource_namespace: String,
    resource_name: String,
}

impl ExistingIncident {
    fn resource(&self) -> ResourceId {
        ResourceId {
            group: self.resource_group.clone(),
            kind: self.resource_kind.clone(),
            namespace: Some(self.resource_namespace.clone()).filter(|ns| !ns.is_empty()),
            name: self.resource_name.clone(),
        }
    }
}

/// What a run wrote: its counts, and the events announcing it (incidents opened, changed
/// and resolved, in the lifecycle plan's order, then `run.succeeded`), for the caller to
/// publish once the transaction has committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub counts: Counts,
    pub events: Vec<WorkspaceEvent>,
}

/// Writes a run's results in one transaction. Returns `AlreadyFinished` (writing nothing)
/// when the run is no longer running, so a redelivered job is harmless.
pub async fn persist_success(
    pool: &PgPool,
    context: &JobContext,
    results: &RunResults<'_>,
) -> Result<Persisted> {
    let mut tx = pool.begin().await?;
    let status: Option<(String,)> =
        sqlx::query_as("SELECT status FROM analysis_runs WHERE id = $1 FOR UPDATE")
            .bind(context.run_id)
            .fetch_optional(&mut *tx)
            .await?;
    if !matches!(status, Some((ref status,)) if status == "running") {
        return Ok(Persisted::AlreadyFinished);
    }
    let written = write_results(&mut tx, context, results).await?;
    let counts = written.counts;
    sqlx::query(
        "UPDATE analysis_runs
            SET status = 'succeeded', finished_at = now(), error = NULL, resolved_revision = $2,
                finding_count = $3, suppressed_count = $4, incident_count = $5, warnings = $6
          WHERE id = $1",
    )
    .bind(context.run_id)
    .bind(&results.desired.commit_sha)
    .bind(counts.findings)
    .bind(counts.suppressed)
    .bind(counts.incidents)
    .bind(Json(&results.warnings))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Persisted::Written(written))
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Persists what the engine found and what `core::lifecycle` decided about each incident.
async fn write_results(
    tx: &mut PgConnection,
    context: &JobContext,
    results: &RunResults<'_>,
) -> Result<Written> {
    let analysis = results.analysis;
    insert_provenance(tx, context, results).await?;
    crate::watch::replace_tracked(
        tx,
        context.workspace_id,
        context.application_id,
        &results.desired.commit_sha,
        &results.tracked,
    )
    .await?;

    // Existing incidents of the application, locked for the upsert.
    let existing: Vec<ExistingIncident> = sqlx::query_as(
        "SELECT id, fingerprint, status, title, severity, recommendation, finding_count,
                resource_group, resource_kind, resource_namespace, resource_name
           FROM incidents WHERE application_id = $1 FOR UPDATE",
    )
    .bind(context.application_id)
    .fetch_all(&mut *tx)
    .await?;
    let known: Vec<KnownIncident> = existing
        .iter()
        .map(|incident| KnownIncident {
            fingerprint: incident.fingerprint.clone(),
            state: if incident.status == "resolved" {
                IncidentState::Resolved
            } else {
                IncidentState::Open
            },
        })
        .collect();
    let run = RunInfo {
        commit_sha: results.desired.commit_sha.clone(),
        git_ref: results.desired.git_ref.clone(),
        committed_at: results.desired.committed_at,
        analysed_at: results.analysed_at,
    };
    let plan = lifecycle::plan(&context.application_id.to_string(), analysis, &known, &run);

    let mut ids: BTreeMap<String, Uuid> = existing
        .iter()
        .map(|incident| (incident.fingerprint.clone(), incident.id))
        .collect();
    let before: BTreeMap<&str, &ExistingIncident> = existing
        .iter()
        .map(|incident| (incident.fingerprint.as_str(), incident))
        .collect();
    let mut events = Vec::new();
    for (incident, observation) in analysis.incidents.iter().zip(&plan.observations) {
        let id = upsert_incident(tx, context, results, incident, *observation, &ids).await?;
        ids.insert(incident.fingerprint.clone(), id);
        let previous = before.get(incident.fingerprint.as_str()).copied();
        events.extend(incident_event(
            context,
            id,
            incident,
            *observation,
            previous,
        ));
    }
    for resolution in &plan.resolutions {
        if let Some(previous) = before.get(resolution.fingerprint.as_str()) {
            events.push(resolved_event(context, previous));
        }
        if let Some(id) = ids.get(&resolution.fingerprint) {
            sqlx::query(
                "UPDATE incidents SET status = 'resolved', resolved_at = $2, last_run_id = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(results.analysed_at)
            .bind(context.run_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    insert_findings(tx, context, results, &ids).await?;
    insert_suppressed(tx, context, results).await?;
    insert_timeline(tx, context, &plan.events, &ids).await?;
    let known = cited_audit_events(tx, &ids).await?;
    let audit_events =
        statesight_core::attribution::audit_timeline(analysis, &results.attributions, &known);
    insert_timeline(tx, context, &audit_events, &ids).await?;
    events.push(run_event(context, EventKind::RunSucceeded, None));
    Ok(Written {
        counts: Counts {
            findings: count(analysis.findings.len()),
            suppressed: count(analysis.suppressed.len()),
            incidents: count(analysis.incidents.len()),
            opened: count(plan.count(Observation::Opened)),
            reopened: count(plan.count(Observation::Reopened)),
            resolved: count(plan.resolutions.len()),
        },
        events,
    })
}

/// An event about the job's run (`run.started`, `run.succeeded`, `run.failed`).
pub fn run_event(context: &JobContext, kind: EventKind, error: Option<String>) -> WorkspaceEvent {
    WorkspaceEvent {
        kind,
        workspace_id: context.workspace_id,
        application_id: context.application_id,
        application_name: context.application_name.clone(),
        run_id: Some(context.run_id),
        incident: None,
        error,
        at: Utc::now(),
    }
}

/// `incident.opened` for a new or reopened incident, `incident.changed` for an open one
/// whose severity, recommendation or number of findings changed; nothing when it is
/// observed again unchanged.
fn incident_event(
    context: &JobContext,
    id: Uuid,
    incident: &Incident,
    observation: Observation,
    previous: Option<&ExistingIncident>,
) -> Option<WorkspaceEvent> {
    let finding_count = count(incident.findings.len());
    let (kind, previous_severity) = match (observation, previous) {
        (Observation::Opened, _) | (Observation::Reobserved, None) => {
            (EventKind::IncidentOpened, None)
        }
        (Observation::Reopened, _) => (EventKind::IncidentOpened, None),
        (Observation::Reobserved, Some(previous)) => {
            let unchanged = previous.severity == incident.severity
                && previous.recommendation == incident.recommendation
                && previous.finding_count == finding_count;
            if unchanged {
                return None;
            }
            let severity = Some(previous.severity).filter(|s| *s != incident.severity);
            (EventKind::IncidentChanged, severity)
        }
    };
    Some(WorkspaceEvent {
        incident: Some(IncidentEvent {
            id,
            title: incident.title.clone(),
            severity: incident.severity,
            recommendation: incident.recommendation,
            resource: incident.resource.to_string(),
            finding_count,
            reopened: observation == Observation::Reopened,
            previous_severity,
        }),
        ..run_event(context, kind, None)
    })
}

fn resolved_event(context: &JobContext, previous: &ExistingIncident) -> WorkspaceEvent {
    WorkspaceEvent {
        incident: Some(IncidentEvent {
            id: previous.id,
            title: previous.title.clone(),
            severity: previous.severity,
            recommendation: previous.recommendation,
            resource: previous.resource().to_string(),
            finding_count: 0,
            reopened: false,
            previous_severity: None,
        }),
        ..run_event(context, EventKind::IncidentResolved, None)
    }
}

async fn insert_provenance(
    tx: &mut PgConnection,
    context: &JobContext,
    results: &RunResults<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO desired_provenance (run_id, workspace_id, repo_url, git_ref, path, commit_sha, committed_at, rendered_with)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(context.run_id)
    .bind(context.workspace_id)
    .bind(&results.desired.repo_url)
    .bind(&results.desired.git_ref)
    .bind(&results.desired.path)
    .bind(&results.desired.commit_sha)
    .bind(results.desired.committed_at)
    .bind(&results.desired.rendered_with)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO live_provenance (run_id, workspace_id, cluster_id, method, trusted, observed_at, observed_at_source, context, has_managed_fields)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(context.run_id)
    .bind(context.workspace_id)
    .bind(context.cluster.id)
    .bind(&results.live.method)
    .bind(results.live.trusted)
    .bind(results.live.observed_at)
    .bind(&results.live.observed_at_source)
    .bind(&results.live.context)
    .bind(results.live.has_managed_fields)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Inserts a new incident or updates a known one as `observation` says; returns its id.
async fn upsert_incident(
    tx: &mut PgConnection,
    context: &JobContext,
    results: &RunResults<'_>,
    incident: &Incident,
    observation: Observation,
    ids: &BTreeMap<String, Uuid>,
) -> Result<Uuid> {
    let finding_count = count(incident.findings.len());
    let known = ids.get(&incident.fingerprint).copied();
    if let (Some(id), Observation::Reobserved | Observation::Reopened) = (known, observation) {
        sqlx::query(
            "UPDATE incidents
                SET title = $2, severity = $3, recommendation = $4, rationale = $5,
                    resource_api_version = $6, status = 'open', resolved_at = NULL,
                    finding_count = $7, occurrence_count = occurrence_count + 1,
                    recurrence_count = recurrence_count + $8, last_seen_at = $9, last_run_id = $10
              WHERE id = $1",
        )
        .bind(id)
        .bind(&incident.title)
        .bind(incident.severity.as_str())
        .bind(incident.recommendation.as_str())
        .bind(&incident.rationale)
        .bind(&incident.api_version)
        .bind(finding_count)
        .bind(i32::from(observation == Observation::Reopened))
        .bind(results.analysed_at)
        .bind(context.run_id)
        .execute(&mut *tx)
        .await?;
        return Ok(id);
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO incidents (id, workspace_id, application_id, fingerprint, resource_api_version,
             resource_group, resource_kind, resource_namespace, resource_name, cause, title, severity,
             recommendation, rationale, status, finding_count, occurrence_count, recurrence_count,
             first_seen_at, last_seen_at, first_run_id, last_run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'open', $15, 1, 0, $16, $16, $17, $17)",
    )
    .bind(id)
    .bind(context.workspace_id)
    .bind(context.application_id)
    .bind(&incident.fingerprint)
    .bind(&incident.api_version)
    .bind(&incident.resource.group)
    .bind(&incident.resource.kind)
    .bind(incident.resource.namespace.as_deref().unwrap_or(""))
    .bind(&incident.resource.name)
    .bind(cause_label(&incident.cause))
    .bind(&incident.title)
    .bind(incident.severity.as_str())
    .bind(incident.recommendation.as_str())
    .bind(&incident.rationale)
    .bind(finding_count)
    .bind(results.analysed_at)
    .bind(context.run_id)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// The resource and change columns shared by findings and suppressed findings.
#[derive(Default)]
struct DriftColumns {
    api_version: Vec<String>,
    group: Vec<String>,
    kind: Vec<String>,
    namespace: Vec<String>,
    name: Vec<String>,
    path: Vec<String>,
    change: Vec<String>,
    desired: Vec<Option<Json<Value>>>,
    live: Vec<Option<Json<Value>>>,
    owners: Vec<Json<Value>>,
}

impl DriftColumns {
    fn push(&mut self, finding: &Finding) {
        self.api_version.push(finding.api_version.clone());
        self.group.push(finding.resource.group.clone());
        self.kind.push(finding.resource.kind.clone());
        self.namespace
            .push(finding.resource.namespace.clone().unwrap_or_default());
        self.name.push(finding.resource.name.clone());
        self.path.push(finding.path_text.clone());
        self.change.push(finding.change.as_str().to_owned());
        self.desired.push(finding.desired.clone().map(Json));
        self.live.push(finding.live.clone().map(Json));
        self.owners.push(Json(owners_json(finding)));
    }

    /// Binds the columns, in field order, as the next ten parameters of `query`.
    fn bind_to(self, query: PgQuery<'_>) -> PgQuery<'_> {
        query
            .bind(self.api_version)
            .bind(self.group)
            .bind(self.kind)
            .bind(self.namespace)
            .bind(self.name)
            .bind(self.path)
            .bind(self.change)
            .bind(self.desired)
            .bind(self.live)
            .bind(self.owners)
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

async fn insert_findings(
    tx: &mut PgConnection,
    context: &JobContext,
    results: &RunResults<'_>,
    ids: &BTreeMap<String, Uuid>,
) -> Result<()> {
    let analysis = results.analysis;
    let mut columns = DriftColumns::default();
    let mut row_ids = Vec::new();
    let mut incident_ids = Vec::new();
    let mut evidence = Vec::new();
    for incident in &analysis.incidents {
        let Some(incident_id) = ids.get(&incident.fingerprint) else {
            continue;
        };
        for finding in incident
            .findings
            .iter()
            .filter_map(|index| analysis.findings.get(*index))
        {
            row_ids.push(Uuid::now_v7());
            incident_ids.push(*incident_id);
            columns.push(finding);
            evidence.push(Json(evidence_json(context, results, finding)));
        }
    }
    if row_ids.is_empty() {
        return Ok(());
    }
    let ordinals: Vec<i32> = (0..row_ids.len()).map(count).collect();
    let query = sqlx::query(
        "INSERT INTO findings (id, workspace_id, incident_id, run_id, ordinal, resource_api_version, resource_group,
             resource_kind, resource_namespace, resource_name, path, change, desired, live, owners, evidence, observed_at)
         SELECT u.id, $1, u.incident, $2, u.ordinal, u.api_version, u.grp, u.kind, u.ns, u.name, u.path, u.change,
                u.desired, u.live, u.owners, u.evidence, $3
           FROM UNNEST($4::uuid[], $5::uuid[], $6::int[], $7::text[], $8::text[], $9::text[], $10::text[],
                       $11::text[], $12::text[], $13::text[], $14::jsonb[], $15::jsonb[], $16::jsonb[], $17::jsonb[])
             AS u(id, incident, ordinal, api_version, grp, kind, ns, name, path, change, desired, live, owners, evidence)",
    )
    .bind(context.workspace_id)
    .bind(context.run_id)
    .bind(results.analysed_at)
    .bind(row_ids)
    .bind(incident_ids)
    .bind(ordinals);
    columns
        .bind_to(query)
        .bind(evidence)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Suppressed candidates make no incident; they are recorded with the rule's name and
/// reason as they were at analysis time. Names are unique within a scope, so (scope, name)
/// finds the rule that matched.
async fn insert_suppressed(
    tx: &mut PgConnection,
    context: &JobContext,
    results: &RunResults<'_>,
) -> Result<()> {
    let suppressed = &results.analysis.suppressed;
    if suppressed.is_empty() {
        return Ok(());
    }
    let rule_ids_by_name: BTreeMap<(&str, &str), Uuid> = context
        .rules
        .iter()
        .map(|rule| ((rule.scope.as_str(), rule.name.as_str()), rule.id))
        .collect();
    let mut columns = DriftColumns::default();
    let mut rule_ids = Vec::new();
    let mut rule_names = Vec::new();
    let mut rule_reasons = Vec::new();
    let mut rule_scopes = Vec::new();
    for item in suppressed {
        let scope = item.rule.scope.as_str();
        rule_ids.push(
            rule_ids_by_name
                .get(&(scope, item.rule.name.as_str()))
                .copied(),
        );
        rule_names.push(item.rule.name.clone());
        rule_reasons.push(item.rule.reason.clone());
        rule_scopes.push(scope.to_owned());
        columns.push(&item.finding);
    }
    let ids: Vec<Uuid> = suppressed.iter().map(|_| Uuid::now_v7()).collect();
    let ordinals: Vec<i32> = (0..suppressed.len()).map(count).collect();
    let query = sqlx::query(
        "INSERT INTO suppressed_findings (id, workspace_id, application_id, run_id, rule_id, rule_name, rule_reason,
             rule_scope, resource_api_version, resource_group, resource_kind, resource_namespace, resource_name,
             path, change, desired, live, owners, observed_at, ordinal)
         SELECT u.id, $1, $2, $3, u.rule_id, u.rule_name, u.rule_reason, u.rule_scope, u.api_version, u.grp,
                u.kind, u.ns, u.name, u.path, u.change, u.desired, u.live, u.owners, $4, u.ordinal
           FROM UNNEST($5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                       $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::jsonb[], $18::jsonb[],
                       $19::jsonb[], $20::int[])
             AS u(id, rule_id, rule_name, rule_reason, rule_scope, api_version, grp, kind, ns, name, path, change,
                  desired, live, owners, ordinal)",
    )
    .bind(context.workspace_id)
    .bind(context.application_id)
    .bind(context.run_id)
    .bind(results.analysed_at)
    .bind(ids)
    .bind(rule_ids)
    .bind(rule_names)
    .bind(rule_reasons)
    .bind(rule_scopes);
    columns
        .bind_to(query)
        .bind(ordinals)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// `(fingerprint, audit id)` of the audit events already on these incidents' timelines.
async fn cited_audit_events(
    tx: &mut PgConnection,
    ids: &BTreeMap<String, Uuid>,
) -> Result<std::collections::BTreeSet<(String, String)>> {
    let incidents: Vec<Uuid> = ids.values().copied().collect();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.fingerprint, t.details ->> 'audit_id'
           FROM incident_timeline_events t JOIN incidents i ON i.id = t.incident_id
          WHERE t.kind = 'audit_event' AND t.incident_id = ANY($1)
            AND t.details ? 'audit_id'",
    )
    .bind(&incidents)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().collect())
}

async fn insert_timeline(
    tx: &mut PgConnection,
    context: &JobContext,
    events: &[PlannedEvent],
    ids: &BTreeMap<String, Uuid>,
) -> Result<()> {
    let events: Vec<(&PlannedEvent, Uuid)> = events
        .iter()
        .filter_map(|event| ids.get(&event.fingerprint).map(|id| (event, *id)))
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    let row_ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    let incidents: Vec<Uuid> = events.iter().map(|(_, id)| *id).collect();
    let runs: Vec<Option<Uuid>> = events.iter().map(|_| Some(context.run_id)).collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|(e, _)| e.occurred_at).collect();
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.kind.as_str()).collect();
    let summaries: Vec<&str> = events.iter().map(|(e, _)| e.summary.as_str()).collect();
    let details: Vec<Json<&Value>> = events.iter().map(|(e, _)| Json(&e.details)).collect();
    let ordinals: Vec<i32> = (0..events.len()).map(count).collect();
    sqlx::query(
        "INSERT INTO incident_timeline_events (id, workspace_id, incident_id, run_id, occurred_at, kind, summary, details, ordinal)
         SELECT u.id, $1, u.incident, u.run, u.occurred_at, u.kind, u.summary, u.details, u.ordinal
           FROM UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::text[], $7::text[], $8::jsonb[], $9::int[])
             AS u(id, incident, run, occurred_at, kind, summary, details, ordinal)",
    )
    .bind(context.workspace_id)
    .bind(row_ids)
    .bind(incidents)
    .bind(runs)
    .bind(times)
    .bind(kinds)
    .bind(summaries)
    .bind(details)
    .bind(ordinals)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Deletes runs finished more than `retention_days` ago, except the latest run of each
/// application and runs that open incidents point at. Findings and suppressed findings of
/// open incidents keep their evidence (their run reference becomes null). Returns how many
/// runs were deleted.
pub async fn prune(pool: &PgPool, retention_days: u32) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let deleted = sqlx::query(
        "DELETE FROM analysis_runs r
          WHERE r.finished_at < now() - make_interval(days => $1)
            AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.last_run_id = r.id AND i.status = 'open')
            AND r.id <> (SELECT l.id FROM analysis_runs l WHERE l.application_id = r.application_id
                          ORDER BY l.queued_at DESC, l.id DESC LIMIT 1)",
    )
    .bind(i32::try_from(retention_days).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Old suppression records and findings of resolved incidents go with their age.
    sqlx::query(
        "DELETE FROM suppressed_findings WHERE observed_at < now() - make_interval(days => $1)",
    )
    .bind(i32::try_from(retention_days).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM findings f USING incidents i
          WHERE f.incident_id = i.id AND f.observed_at < now() - make_interval(days => $1)
            AND f.observed_at < i.last_seen_at",
    )
    .bind(i32::try_from(retention_days).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(deleted)
}
