//! Incidents, their findings and suppressed findings.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::PgPool;
use statesight_core::wire::{
    Cause, ChangeKind, Evidence, Finding, Incident, IncidentStatus, NamedRef, Owner,
    Recommendation, ResourceIdentity, RuleScope, Severity, SuppressedFinding, SuppressingRule,
    TimelineEvent, TimelineKind,
};
use uuid::Uuid;

use crate::Result;
use crate::keyset::{ByIncidentOrdinal, ByOrdinal, ByTimeAsc, ByTimeDesc, Page};

macro_rules! incident_select {
    () => {
        "
SELECT i.id, i.workspace_id, i.application_id, a.name AS application_name, i.fingerprint,
       i.resource_api_version, i.resource_group, i.resource_kind, i.resource_namespace,
       i.resource_name, i.cause, i.title, i.severity, i.recommendation, i.rationale,
       i.status, i.finding_count, i.occurrence_count, i.recurrence_count,
       i.first_seen_at, i.last_seen_at, i.resolved_at, i.last_run_id
  FROM incidents i
  JOIN applications a ON a.workspace_id = i.workspace_id AND a.id = i.application_id"
    };
}

#[derive(sqlx::FromRow)]
struct IncidentRow {
    id: Uuid,
    workspace_id: Uuid,
    application_id: Uuid,
    application_name: String,
    fingerprint: String,
    resource_api_version: String,
    resource_group: String,
    resource_kind: String,
    resource_namespace: String,
    resource_name: String,
    cause: String,
    title: String,
    #[sqlx(try_from = "String")]
    severity: Severity,
    #[sqlx(try_from = "String")]
    recommendation: Recommendation,
    rationale: String,
    #[sqlx(try_from = "String")]
    status: IncidentStatus,
    finding_count: i32,
    occurrence_count: i32,
    recurrence_count: i32,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    last_run_id: Option<Uuid>,
}

impl From<IncidentRow> for Incident {
    fn from(row: IncidentRow) -> Self {
        Incident {
            id: row.id,
            workspace_id: row.workspace_id,
            application: NamedRef {
                id: row.application_id,
                name: row.application_name,
            },
            fingerprint: row.fingerprint,
            resource: ResourceIdentity {
                api_version: row.resource_api_version,
                group: row.resource_group,
                kind: row.resource_kind,
                namespace: row.resource_namespace,
                name: row.resource_name,
            },
            cause: Cause::from_label(&row.cause),
            title: row.title,
            severity: row.severity,
            recommendation: row.recommendation,
            rationale: row.rationale,
            status: row.status,
            finding_count: row.finding_count,
            occurrence_count: row.occurrence_count,
            recurrence_count: row.recurrence_count,
            first_seen_at: row.first_seen_at,
            last_seen_at: row.last_seen_at,
            resolved_at: row.resolved_at,
            last_run_id: row.last_run_id,
        }
    }
}

/// Filters of the incident list; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub application_id: Option<Uuid>,
    pub status: Option<IncidentStatus>,
}

/// Incidents of a workspace, most recently seen first.
pub async fn list(
    pool: &PgPool,
    workspace_id: Uuid,
    filter: &IncidentFilter,
    after: Option<&ByTimeDesc>,
    limit: i64,
) -> Result<Page<Incident, ByTimeDesc>> {
    let sql = concat!(
        incident_select!(),
        "
          WHERE i.workspace_id = $1
            AND ($2::uuid IS NULL OR i.application_id = $2)
            AND ($3::text IS NULL OR i.status = $3)
            AND ($4::timestamptz IS NULL OR (i.last_seen_at, i.id) < ($4, $5))
          ORDER BY i.last_seen_at DESC, i.id DESC
          LIMIT $6"
    );
    let rows: Vec<IncidentRow> = sqlx::query_as(sql)
        .bind(workspace_id)
        .bind(filter.application_id)
        .bind(filter.status.map(IncidentStatus::as_str))
        .bind(after.map(|key| key.at))
        .bind(after.map(|key| key.id))
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    let items: Vec<Incident> = rows.into_iter().map(Incident::from).collect();
    Ok(Page::from_rows(items, limit, |incident| ByTimeDesc {
        at: incident.last_seen_at,
        id: incident.id,
    }))
}

/// Open incidents of one application, most severe first, and how many there are.
pub async fn open_for_application(
    pool: &PgPool,
    application_id: Uuid,
    limit: i64,
) -> Result<(Vec<Incident>, i64)> {
    let sql = concat!(
        incident_select!(),
        "
          WHERE i.application_id = $1 AND i.status = 'open'
          ORDER BY severity_rank(i.severity) DESC, i.last_seen_at DESC, i.id DESC
          LIMIT $2"
    );
    let rows: Vec<IncidentRow> = sqlx::query_as(sql)
        .bind(application_id)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let (total,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM incidents WHERE application_id = $1 AND status = 'open'",
    )
    .bind(application_id)
    .fetch_one(pool)
    .await?;
    Ok((rows.into_iter().map(Incident::from).collect(), total))
}

/// The most severe open incidents of a workspace.
pub async fn top_open(pool: &PgPool, workspace_id: Uuid, limit: i64) -> Result<Vec<Incident>> {
    let sql = concat!(
        incident_select!(),
        "
          WHERE i.workspace_id = $1 AND i.status = 'open'
          ORDER BY severity_rank(i.severity) DESC, i.last_seen_at DESC, i.id DESC
          LIMIT $2"
    );
    let rows: Vec<IncidentRow> = sqlx::query_as(sql)
        .bind(workspace_id)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(Incident::from).collect())
}

pub async fn get(pool: &PgPool, incident_id: Uuid) -> Result<Option<Incident>> {
    let sql = concat!(incident_select!(), " WHERE i.id = $1");
    let row: Option<IncidentRow> = sqlx::query_as(sql)
        .bind(incident_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Incident::from))
}

#[derive(sqlx::FromRow)]
struct FindingRow {
    id: Uuid,
    incident_id: Uuid,
    run_id: Option<Uuid>,
    ordinal: i32,
    resource_api_version: String,
    resource_group: String,
    resource_kind: String,
    resource_namespace: String,
    resource_name: String,
    path: String,
    #[sqlx(try_from = "String")]
    change: ChangeKind,
    desired: Option<Value>,
    live: Option<Value>,
    #[sqlx(json)]
    owners: Vec<Owner>,
    #[sqlx(json)]
    evidence: Evidence,
    observed_at: DateTime<Utc>,
}

impl FindingRow {
    fn into_wire(self) -> (Finding, i32) {
        let ordinal = self.ordinal;
        let finding = Finding {
            id: self.id,
            incident_id: self.incident_id,
            run_id: self.run_id,
            resource: ResourceIdentity {
                api_version: self.resource_api_version,
                group: self.resource_group,
                kind: self.resource_kind,
                namespace: self.resource_namespace,
                name: self.resource_name,
            },
            path: self.path,
            change: self.change,
            desired: self.desired,
            live: self.live,
            owners: self.owners,
            evidence: self.evidence,
            observed_at: self.observed_at,
        };
        (finding, ordinal)
    }
}

/// The findings of each incident's latest observation (those observed when the incident
/// was last seen): the one definition of "an incident's current findings", shared by the
/// incident's list and the application's, which append `AND` conditions.
macro_rules! latest_finding_select {
    () => {
        "
SELECT f.id, f.incident_id, f.run_id, f.ordinal, f.resource_api_version,
       f.resource_group, f.resource_kind, f.resource_namespace, f.resource_name,
       f.path, f.change, f.desired, f.live, f.owners, f.evidence, f.observed_at
  FROM findings f
  JOIN incidents i ON i.workspace_id = f.workspace_id AND i.id = f.incident_id
 WHERE f.observed_at = i.last_seen_at"
    };
}

/// Turns up to `limit + 1` finding rows in sort order into a page whose next key
/// `key_of` makes from a finding and its ordinal.
fn finding_page<K>(
    rows: Vec<FindingRow>,
    limit: i64,
    key_of: impl Fn(&Finding, i32) -> K,
) -> Page<Finding, K> {
    let items: Vec<(Finding, i32)> = rows.into_iter().map(FindingRow::into_wire).collect();
    let page = Page::from_rows(items, limit, |(finding, ordinal)| key_of(finding, *ordinal));
    Page {
        items: page.items.into_iter().map(|(finding, _)| finding).collect(),
        next: page.next,
    }
}

/// The findings of an incident's latest observation, in the engine's order.
pub async fn findings(
    pool: &PgPool,
    incident_id: Uuid,
    after: Option<&ByOrdinal>,
    limit: i64,
) -> Result<Page<Finding, ByOrdinal>> {
    let sql = concat!(
        latest_finding_select!(),
        "
   AND f.incident_id = $1
   AND ($2::integer IS NULL OR (f.ordinal, f.id) > ($2, $3))
 ORDER BY f.ordinal, f.id
 LIMIT $4"
    );
    let rows: Vec<FindingRow> = sqlx::query_as(sql)
        .bind(incident_id)
        .bind(after.map(|key| key.ordinal))
        .bind(after.map(|key| key.id))
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    Ok(finding_page(rows, limit, |finding, ordinal| ByOrdinal {
        ordinal,
        id: finding.id,
    }))
}

/// The findings of every open incident of an application, each incident's latest
/// observation exactly as [`findings`] lists it: grouped by incident (by incident id, which
/// never changes, so pages stay in one order while incidents are re-observed), each
/// incident's findings in the engine's order.
pub async fn open_findings_of_application(
    pool: &PgPool,
    application_id: Uuid,
    after: Option<&ByIncidentOrdinal>,
    limit: i64,
) -> Result<Page<Finding, ByIncidentOrdinal>> {
    let sql = concat!(
        latest_finding_select!(),
        "
   AND i.application_id = $1
   AND i.status = 'open'
   AND ($2::uuid IS NULL OR (f.incident_id, f.ordinal, f.id) > ($2, $3, $4))
 ORDER BY f.incident_id, f.ordinal, f.id
 LIMIT $5"
    );
    let rows: Vec<FindingRow> = sqlx::query_as(sql)
        .bind(application_id)
        .bind(after.map(|key| key.incident_id))
        .bind(after.map(|key| key.ordinal))
        .bind(after.map(|key| key.id))
        .bind(limit + 1)
        .fetch_all(pool)
        .await?;
    Ok(finding_page(rows, limit, |finding, ordinal| {
        ByIncidentOrdinal {
            incident_id: finding.incident_id,
            ordinal,
            id: finding.id,
        }
    }))
}

#[derive(sqlx::FromRow)]
struct SuppressedRow {
    id: Uuid,
    run_id: Option<Uuid>,
    rule_id: Option<Uuid>,
    rule_name: String,
    rule_reason: String,
    #[sqlx(try_from = "String")]
    rule_scope: RuleScope,
    resource_api_version: String,
    resource_group: String,
    resource_kind: String,
    resource_namespace: String,
    resource_name: String,
    path: String,
    #[sqlx(try_from = "String")]
    change: ChangeKind,
    desired: Option<Value>,
    live: Option<Value>,
    #[sqlx(json)]
    owners: Vec<Owner>,
    observed_at: DateTime<Utc>,
}

impl From<SuppressedRow> for SuppressedFinding {
    fn from(row: SuppressedRow) -> Self {
        SuppressedFinding {
            id: row.id,
            run_id: row.run_id,
            rule: SuppressingRule {
                id: row.rule_id,
                name: row.rule_name,
                reason: row.rule_reason,
                scope: row.rule_scope,
            },
            resource: ResourceIdentity {
                api_version: row.resource_api_version,
                group: row.resource_group,
                kind: row.resource_kind,
                namespace: row.resource_namespace,
                name: row.resource_name,
            },
            path: row.path,
            change: row.change,
            desired: row.desired,
            live: row.live,
            owners: row.owners,
            observed_at: row.observed_at,
        }
    }
}

/// Suppressed findings of an application, most recent first.
pub async fn suppressions(
    pool: &PgPool,
    application_id: Uuid,
    after: Option<&ByTimeDesc>,
    limit: i64,
) -> Result<Page<SuppressedFinding, ByTimeDesc>> {
    let rows: Vec<SuppressedRow> = sqlx::query_as(
        "SELECT id, run_id, rule_id, rule_name, rule_reason, rule_scope, resource_api_version,
                resource_group, resource_kind, resource_namespace, resource_name, path, change,
                desired, live, owners, observed_at
           FROM suppressed_findings
          WHERE application_id = $1
            AND ($2::timestamptz IS NULL OR (observed_at, id) < ($2, $3))
          ORDER BY observed_at DESC, id DESC
          LIMIT $4",
    )
    .bind(application_id)
    .bind(after.map(|key| key.at))
    .bind(after.map(|key| key.id))
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let items: Vec<SuppressedFinding> = rows.into_iter().map(SuppressedFinding::from).collect();
    Ok(Page::from_rows(items, limit, |item| ByTimeDesc {
        at: item.observed_at,
        id: item.id,
    }))
}

pub async fn count_suppressions(pool: &PgPool, application_id: Uuid) -> Result<i64> {
    let (total,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM suppressed_findings WHERE application_id = $1")
            .bind(application_id)
            .fetch_one(pool)
            .await?;
    Ok(total)
}

/// The workspace an incident belongs to, for authorizing routes addressed by its id.
pub async fn workspace_of(pool: &PgPool, incident_id: Uuid) -> Result<Option<Uuid>> {
    let row: Option<(Uuid,)> = sqlx::query_as("SELECT workspace_id FROM incidents WHERE id = $1")
        .bind(incident_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(id,)| id))
}

#[derive(sqlx::FromRow)]
struct TimelineRow {
    id: Uuid,
    incident_id: Uuid,
    run_id: Option<Uuid>,
    occurred_at: DateTime<Utc>,
    ordinal: i32,
    #[sqlx(try_from = "String")]
    kind: TimelineKind,
    summary: String,
    #[sqlx(json)]
    details: Map<String, Value>,
}

/// An incident's timeline in time order (events of one write keep their written order),
/// one page after `after`.
pub async fn timeline(
    pool: &PgPool,
    incident_id: Uuid,
    after: Option<&ByTimeAsc>,
    limit: i64,
) -> Result<Page<TimelineEvent, ByTimeAsc>> {
    let rows: Vec<TimelineRow> = sqlx::query_as(
        "SELECT id, incident_id, run_id, occurred_at, ordinal, kind, summary, details
           FROM incident_timeline_events
          WHERE incident_id = $1
            AND ($2::timestamptz IS NULL OR (occurred_at, ordinal, id) > ($2, $3, $4))
          ORDER BY occurred_at, ordinal, id
          LIMIT $5",
    )
    .bind(incident_id)
    .bind(after.map(|key| key.at))
    .bind(after.map(|key| key.ordinal))
    .bind(after.map(|key| key.id))
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let page = Page::from_rows(rows, limit, |row| ByTimeAsc {
        at: row.occurred_at,
        ordinal: row.ordinal,
        id: row.id,
    });
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|row| TimelineEvent {
                id: row.id,
                incident_id: row.incident_id,
                run_id: row.run_id,
                occurred_at: row.occurred_at,
                kind: row.kind,
                summary: row.summary,
                details: row.details,
            })
            .collect(),
        next: page.next,
    })
}

/// One application of a workspace with the findings of its open incidents.
pub struct ApplicationFindings {
    pub application_id: Uuid,
    pub name: String,
    pub default_namespace: String,
    pub findings: Vec<Finding>,
}

/// The open findings of every application of a workspace, applications by name: what a
/// workspace rule preview matches against.
pub async fn open_findings_of_workspace(
    pool: &PgPool,
    workspace_id: Uuid,
) -> Result<Vec<ApplicationFindings>> {
    let applications: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, name, default_namespace FROM applications WHERE workspace_id = $1
          ORDER BY name, id",
    )
    .bind(workspace_id)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(applications.len());
    for (application_id, name, default_namespace) in applications {
        let mut findings = Vec::new();
        let mut after = None;
        loop {
            let page =
                open_findings_of_application(pool, application_id, after.as_ref(), 500).await?;
            findings.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        out.push(ApplicationFindings {
            application_id,
            name,
            default_namespace,
            findings,
        });
    }
    Ok(out)
}
