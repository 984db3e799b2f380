//! What the worker reads and writes around one analysis run: the job's context, the run's
//! state transitions, and the results, written in ONE transaction keyed by the run so a
//! redelivered job can never write them twice. Incidents are upserted by fingerprint,
//! resolved when their findings are gone and reopened when they come back; findings,
//! suppressed findings and timeline events are inserted in batches (UNNEST).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use statesight_core::wire::{Cluster, IgnoreRule, Source};
use statesight_core::{Analysis, Finding, cause_label};
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
            SET status = 'running', started_at = coalesce(started_at, now()), attempts = attempts + 1
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

/// Marks a run failed with a readable error. `false` when it had already finished.
pub async fn fail_run(pool: &PgPool, run_id: Uuid, error: &str) -> Result<bool> {
    let updated = sqlx::query(
        "UPDATE analysis_runs SET status = 'failed', error = $2, finished_at = now()
          WHERE id = $1 AND status IN ('queued', 'running')",
    )
    .bind(run_id)
    .bind(error)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(updated > 0)
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
    Written(Counts),
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
        "attribution": {
            "grade": "not-attributed",
            "reason": "no Kubernetes audit events were ingested for this cluster",
        },
    })
}

#[derive(sqlx::FromRow)]
struct ExistingIncident {
    id: Uuid,
    fingerprint: String,
    status: String,
}

/// Rows of one batch insert, column by column (UNNEST takes arrays).
#[derive(Default)]
struct FindingColumns {
    id: Vec<Uuid>,
    incident: Vec<Uuid>,
    ordinal: Vec<i32>,
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
    evidence: Vec<Json<Value>>,
}

#[derive(Default)]
struct TimelineColumns {
    id: Vec<Uuid>,
    incident: Vec<Uuid>,
    run: Vec<Option<Uuid>>,
    occurred_at: Vec<DateTime<Utc>>,
    kind: Vec<String>,
    summary: Vec<String>,
    details: Vec<Json<Value>>,
    ordinal: Vec<i32>,
}

impl TimelineColumns {
    fn push(
        &mut self,
        incident: Uuid,
        run: Option<Uuid>,
        occurred_at: DateTime<Utc>,
        kind: &str,
        summary: String,
        details: Value,
    ) {
        let ordinal = i32::try_from(self.id.len()).unwrap_or(i32::MAX);
        self.id.push(Uuid::now_v7());
        self.incident.push(incident);
        self.run.push(run);
        self.occurred_at.push(occurred_at);
        self.kind.push(kind.to_owned());
        self.summary.push(summary);
        self.details.push(Json(details));
        self.ordinal.push(ordinal);
    }
}

/// (time, manager, operation, subresource) of one managedFields entry.
type OwnerTime<'a> = (Option<DateTime<Utc>>, &'a str, &'a str, Option<&'a str>);

fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    text.and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|time| time.with_timezone(&Utc))
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
    let counts = write_results(&mut tx, context, results).await?;
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
    Ok(Persisted::Written(counts))
}

async fn write_results(
    tx: &mut PgConnection,
    context: &JobContext,
    results: &RunResults<'_>,
) -> Result<Counts> {
    let run_id = context.run_id;
    let now = results.analysed_at;
    let analysis = results.analysis;
    sqlx::query(
        "INSERT INTO desired_provenance (run_id, workspace_id, repo_url, git_ref, path, commit_sha, committed_at, rendered_with)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(run_id)
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
    .bind(run_id)
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

    // Existing incidents of the application, locked for the upsert.
    let existing: Vec<ExistingIncident> = sqlx::query_as(
        "SELECT id, fingerprint, status FROM incidents WHERE application_id = $1 FOR UPDATE",
    )
    .bind(context.application_id)
    .fetch_all(&mut *tx)
    .await?;
    let existing: BTreeMap<&str, &ExistingIncident> = existing
        .iter()
        .map(|incident| (incident.fingerprint.as_str(), incident))
        .collect();

    let mut counts = Counts {
        findings: i32::try_from(analysis.findings.len()).unwrap_or(i32::MAX),
        suppressed: i32::try_from(analysis.suppressed.len()).unwrap_or(i32::MAX),
        incidents: i32::try_from(analysis.incidents.len()).unwrap_or(i32::MAX),
        ..Counts::default()
    };
    let mut findings = FindingColumns::default();
    let mut timeline = TimelineColumns::default();
    let mut seen = BTreeSet::new();
    let revision_summary = format!(
        "Git revision {} analysed",
        results
            .desired
            .commit_sha
            .get(..12)
            .unwrap_or(&results.desired.commit_sha)
    );
    let revision_details = json!({
        "commit": results.desired.commit_sha,
        "ref": results.desired.git_ref,
        "committed_at": results.desired.committed_at,
    });

    for incident in &analysis.incidents {
        seen.insert(incident.fingerprint.as_str());
        let members: Vec<&Finding> = incident
            .findings
            .iter()
            .filter_map(|index| analysis.findings.get(*index))
            .collect();
        let finding_count = i32::try_from(members.len()).unwrap_or(i32::MAX);
        let incident_id = match existing.get(incident.fingerprint.as_str()) {
            Some(known) => {
                let reopening = known.status == "resolved";
                sqlx::query(
                    "UPDATE incidents
                        SET title = $2, severity = $3, recommendation = $4, rationale = $5,
                            resource_api_version = $6, status = 'open', resolved_at = NULL,
                            finding_count = $7, occurrence_count = occurrence_count + 1,
                            recurrence_count = recurrence_count + $8, last_seen_at = $9, last_run_id = $10
                      WHERE id = $1",
                )
                .bind(known.id)
                .bind(&incident.title)
                .bind(incident.severity.as_str())
                .bind(incident.recommendation.as_str())
                .bind(&incident.rationale)
                .bind(&incident.api_version)
                .bind(finding_count)
                .bind(i32::from(reopening))
                .bind(now)
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
                let details =
                    json!({ "findings": finding_count, "commit": results.desired.commit_sha });
                if reopening {
                    counts.reopened += 1;
                    timeline.push(
                        known.id,
                        Some(run_id),
                        results.desired.committed_at.unwrap_or(now),
                        "git_revision",
                        revision_summary.clone(),
                        revision_details.clone(),
                    );
                    timeline.push(
                        known.id,
                        Some(run_id),
                        now,
                        "reopened",
                        String::from("Reopened: the drift is back"),
                        details,
                    );
                } else {
                    timeline.push(
                        known.id,
                        Some(run_id),
                        now,
                        "reobserved",
                        String::from("Observed again by analysis"),
                        details,
                    );
                }
                known.id
            }
            None => {
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
                .bind(now)
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
                counts.opened += 1;
                timeline.push(
                    id,
                    Some(run_id),
                    results.desired.committed_at.unwrap_or(now),
                    "git_revision",
                    revision_summary.clone(),
                    revision_details.clone(),
                );
                // The cluster's own record of when each owner last wrote: evidence of
                // timing, shown as recorded (per manager entry, not per field).
                let mut owner_times: BTreeSet<OwnerTime<'_>> = BTreeSet::new();
                for finding in &members {
                    for owner in &finding.owners {
                        owner_times.insert((
                            parse_time(owner.time.as_deref()),
                            owner.manager.as_str(),
                            owner.operation.as_str(),
                            owner.subresource.as_deref(),
                        ));
                    }
                }
                for (time, manager, operation, subresource) in owner_times {
                    let Some(time) = time else { continue };
                    let via = subresource.map(|s| format!(" via {s}")).unwrap_or_default();
                    timeline.push(
                        id,
                        Some(run_id),
                        time,
                        "managed_fields_time",
                        format!("managedFields: {manager} ({operation}{via}) last wrote its fields"),
                        json!({ "manager": manager, "operation": operation, "subresource": subresource, "note": "time of the manager's managedFields entry as the cluster recorded it" }),
                    );
                }
                timeline.push(
                    id,
                    Some(run_id),
                    now,
                    "first_seen",
                    String::from("First seen by analysis"),
                    json!({ "findings": finding_count }),
                );
                id
            }
        };
        for finding in members {
            let ordinal = i32::try_from(findings.id.len()).unwrap_or(i32::MAX);
            findings.id.push(Uuid::now_v7());
            findings.incident.push(incident_id);
            findings.ordinal.push(ordinal);
            findings.api_version.push(finding.api_version.clone());
            findings.group.push(finding.resource.group.clone());
            findings.kind.push(finding.resource.kind.clone());
            findings
                .namespace
                .push(finding.resource.namespace.clone().unwrap_or_default());
            findings.name.push(finding.resource.name.clone());
            findings.path.push(finding.path_text.clone());
            findings.change.push(finding.change.as_str().to_owned());
            findings.desired.push(finding.desired.clone().map(Json));
            findings.live.push(finding.live.clone().map(Json));
            findings.owners.push(Json(owners_json(finding)));
            findings
                .evidence
                .push(Json(evidence_json(context, results, finding)));
        }
    }

    // Suppressed candidates: recorded with the rule as it is now; they make no incident.
    // Names are unique within a scope, so (scope, name) finds the rule that matched.
    let rules_by_name: BTreeMap<(&str, &str), &IgnoreRule> = context
        .rules
        .iter()
        .map(|rule| ((rule.scope.as_str(), rule.name.as_str()), rule))
        .collect();
    let mut suppressed_by_fingerprint: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut suppressed_rows = Vec::with_capacity(analysis.suppressed.len());
    for (ordinal, item) in analysis.suppressed.iter().enumerate() {
        let rule = rules_by_name.get(&(item.rule.scope.as_str(), item.rule.name.as_str()));
        let fingerprint = statesight_core::incident::fingerprint(
            &context.application_id.to_string(),
            &item.finding.resource,
            &item.finding.cause,
        );
        suppressed_by_fingerprint
            .entry(fingerprint)
            .or_default()
            .push(item.rule.name.as_str());
        suppressed_rows.push((ordinal, item, rule));
    }
    if !suppressed_rows.is_empty() {
        let ids: Vec<Uuid> = suppressed_rows.iter().map(|_| Uuid::now_v7()).collect();
        let rule_ids: Vec<Option<Uuid>> = suppressed_rows
            .iter()
            .map(|(_, _, rule)| rule.map(|r| r.id))
            .collect();
        let rule_names: Vec<String> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.rule.name.clone())
            .collect();
        let rule_reasons: Vec<String> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.rule.reason.clone())
            .collect();
        let rule_scopes: Vec<String> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.rule.scope.as_str().to_owned())
            .collect();
        let api_versions: Vec<String> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.finding.api_version.clone())
            .collect();
        let groups: Vec<String> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.finding.resource.group.clone())
            .collect();
        let kinds: Vec<String> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.finding.resource.kind.clone())
            .collect();
        let namespaces: Vec<String> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.finding.resource.namespace.clone().unwrap_or_default())
            .collect();
        let names: Vec<String> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.finding.resource.name.clone())
            .collect();
        let paths: Vec<String> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.finding.path_text.clone())
            .collect();
        let changes: Vec<String> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.finding.change.as_str().to_owned())
            .collect();
        let desired: Vec<Option<Json<Value>>> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.finding.desired.clone().map(Json))
            .collect();
        let live: Vec<Option<Json<Value>>> = suppressed_rows
            .iter()
            .map(|(_, item, _)| item.finding.live.clone().map(Json))
            .collect();
        let owners: Vec<Json<Value>> = suppressed_rows
            .iter()
            .map(|(_, item, _)| Json(owners_json(&item.finding)))
            .collect();
        let ordinals: Vec<i32> = suppressed_rows
            .iter()
            .map(|(ordinal, _, _)| i32::try_from(*ordinal).unwrap_or(i32::MAX))
            .collect();
        sqlx::query(
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
        .bind(run_id)
        .bind(now)
        .bind(ids)
        .bind(rule_ids)
        .bind(rule_names)
        .bind(rule_reasons)
        .bind(rule_scopes)
        .bind(api_versions)
        .bind(groups)
        .bind(kinds)
        .bind(namespaces)
        .bind(names)
        .bind(paths)
        .bind(changes)
        .bind(desired)
        .bind(live)
        .bind(owners)
        .bind(ordinals)
        .execute(&mut *tx)
        .await?;
    }

    // Open incidents whose findings are gone are resolved; if ignore rules now suppress
    // them, the timeline says which.
    for (fingerprint, known) in &existing {
        if seen.contains(fingerprint) || known.status != "open" {
            continue;
        }
        sqlx::query("UPDATE incidents SET status = 'resolved', resolved_at = $2, last_run_id = $3 WHERE id = $1")
            .bind(known.id)
            .bind(now)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        counts.resolved += 1;
        match suppressed_by_fingerprint.get(*fingerprint) {
            Some(rules) => {
                let mut rules = rules.clone();
                rules.sort_unstable();
                rules.dedup();
                timeline.push(
                    known.id,
                    Some(run_id),
                    now,
                    "suppressed",
                    format!("Suppressed by ignore rule {}", rules.join(", ")),
                    json!({ "rules": rules }),
                );
            }
            None => timeline.push(
                known.id,
                Some(run_id),
                now,
                "resolved",
                String::from("Resolved: the drift is gone"),
                json!({}),
            ),
        }
    }

    if !findings.id.is_empty() {
        sqlx::query(
            "INSERT INTO findings (id, workspace_id, incident_id, run_id, ordinal, resource_api_version, resource_group,
                 resource_kind, resource_namespace, resource_name, path, change, desired, live, owners, evidence, observed_at)
             SELECT u.id, $1, u.incident, $2, u.ordinal, u.api_version, u.grp, u.kind, u.ns, u.name, u.path, u.change,
                    u.desired, u.live, u.owners, u.evidence, $3
               FROM UNNEST($4::uuid[], $5::uuid[], $6::int[], $7::text[], $8::text[], $9::text[], $10::text[],
                           $11::text[], $12::text[], $13::text[], $14::jsonb[], $15::jsonb[], $16::jsonb[], $17::jsonb[])
                 AS u(id, incident, ordinal, api_version, grp, kind, ns, name, path, change, desired, live, owners, evidence)",
        )
        .bind(context.workspace_id)
        .bind(run_id)
        .bind(now)
        .bind(findings.id)
        .bind(findings.incident)
        .bind(findings.ordinal)
        .bind(findings.api_version)
        .bind(findings.group)
        .bind(findings.kind)
        .bind(findings.namespace)
        .bind(findings.name)
        .bind(findings.path)
        .bind(findings.change)
        .bind(findings.desired)
        .bind(findings.live)
        .bind(findings.owners)
        .bind(findings.evidence)
        .execute(&mut *tx)
        .await?;
    }
    if !timeline.id.is_empty() {
        sqlx::query(
            "INSERT INTO incident_timeline_events (id, workspace_id, incident_id, run_id, occurred_at, kind, summary, details, ordinal)
             SELECT u.id, $1, u.incident, u.run, u.occurred_at, u.kind, u.summary, u.details, u.ordinal
               FROM UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::text[], $7::text[], $8::jsonb[], $9::int[])
                 AS u(id, incident, run, occurred_at, kind, summary, details, ordinal)",
        )
        .bind(context.workspace_id)
        .bind(timeline.id)
        .bind(timeline.incident)
        .bind(timeline.run)
        .bind(timeline.occurred_at)
        .bind(timeline.kind)
        .bind(timeline.summary)
        .bind(timeline.details)
        .bind(timeline.ordinal)
        .execute(&mut *tx)
        .await?;
    }
    Ok(counts)
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
