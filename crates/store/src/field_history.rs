//! A drifted field's history across an application's analyses: the last analysis that saw
//! it equal to Git (neither a finding nor a suppressed finding), which bounds the window
//! in which the change happened and, when Git has not moved since, gives its earlier value.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// One field of one object, as findings name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldKey {
    pub group: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    pub path: String,
}

impl FieldKey {
    /// The field a finding is about.
    pub fn of_finding(finding: &statesight_core::Finding) -> Self {
        FieldKey {
            group: finding.resource.group.clone(),
            kind: finding.resource.kind.clone(),
            namespace: finding.resource.namespace.clone().unwrap_or_default(),
            name: finding.resource.name.clone(),
            path: finding.path_text.clone(),
        }
    }
}

/// The last analysis in which a field matched Git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InSync {
    pub run_id: Uuid,
    /// When that analysis observed the live state.
    pub at: DateTime<Utc>,
    /// The commit it analysed.
    pub revision: Option<String>,
}

/// How many earlier analyses are searched: older drift has no in-sync observation here.
pub const RUNS_SEARCHED: i64 = 50;

#[derive(sqlx::FromRow)]
struct EarlierRun {
    id: Uuid,
    /// When that analysis observed the live state (a snapshot's capture time, not when
    /// the analysis ran).
    observed_at: DateTime<Utc>,
    resolved_revision: Option<String>,
}

/// For each of `fields`, the newest of the application's last [`RUNS_SEARCHED`] succeeded
/// analyses before `before_run` that reported it neither drifted nor suppressed. A field
/// drifted in every analysis searched has no entry. (An analysis of a revision that did not
/// declare the object at all also reports nothing for it; callers use the earlier value
/// only when that analysis read the same revision as the current one.)
pub async fn last_in_sync(
    pool: &PgPool,
    application_id: Uuid,
    before_run: Uuid,
    fields: &[FieldKey],
) -> Result<HashMap<FieldKey, InSync>> {
    if fields.is_empty() {
        return Ok(HashMap::new());
    }
    let runs: Vec<EarlierRun> = sqlx::query_as(
        "SELECT r.id, l.observed_at, r.resolved_revision
           FROM analysis_runs r JOIN live_provenance l ON l.run_id = r.id
          WHERE r.application_id = $1 AND r.status = 'succeeded' AND r.id <> $2
          ORDER BY l.observed_at DESC, r.id DESC LIMIT $3",
    )
    .bind(application_id)
    .bind(before_run)
    .bind(RUNS_SEARCHED)
    .fetch_all(pool)
    .await?;
    if runs.is_empty() {
        return Ok(HashMap::new());
    }
    let drifted = drifted_in(pool, &runs, fields).await?;
    let mut found = HashMap::new();
    for field in fields {
        let in_sync = runs
            .iter()
            .find(|run| !drifted.contains(&(run.id, field.clone())));
        if let Some(run) = in_sync {
            found.insert(
                field.clone(),
                InSync {
                    run_id: run.id,
                    at: run.observed_at,
                    revision: run.resolved_revision.clone(),
                },
            );
        }
    }
    Ok(found)
}

/// Which of `fields` each run reported, as a finding or a suppressed finding.
async fn drifted_in(
    pool: &PgPool,
    runs: &[EarlierRun],
    fields: &[FieldKey],
) -> Result<HashSet<(Uuid, FieldKey)>> {
    let run_ids: Vec<Uuid> = runs.iter().map(|run| run.id).collect();
    let groups: Vec<&str> = fields.iter().map(|f| f.group.as_str()).collect();
    let kinds: Vec<&str> = fields.iter().map(|f| f.kind.as_str()).collect();
    let namespaces: Vec<&str> = fields.iter().map(|f| f.namespace.as_str()).collect();
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
    let rows: Vec<(Uuid, String, String, String, String, String)> = sqlx::query_as(
        "WITH wanted AS (
              SELECT * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                         AS w (g, k, ns, n, p))
         SELECT f.run_id, f.resource_group, f.resource_kind, f.resource_namespace,
                f.resource_name, f.path
           FROM findings f JOIN wanted w
             ON f.resource_group = w.g AND f.resource_kind = w.k
            AND f.resource_namespace = w.ns AND f.resource_name = w.n AND f.path = w.p
          WHERE f.run_id = ANY($1)
         UNION
         SELECT s.run_id, s.resource_group, s.resource_kind, s.resource_namespace,
                s.resource_name, s.path
           FROM suppressed_findings s JOIN wanted w
             ON s.resource_group = w.g AND s.resource_kind = w.k
            AND s.resource_namespace = w.ns AND s.resource_name = w.n AND s.path = w.p
          WHERE s.run_id = ANY($1)",
    )
    .bind(&run_ids)
    .bind(&groups)
    .bind(&kinds)
    .bind(&namespaces)
    .bind(&names)
    .bind(&paths)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(run, group, kind, namespace, name, path)| {
            (
                run,
                FieldKey {
                    group,
                    kind,
                    namespace,
                    name,
                    path,
                },
            )
        })
        .collect())
}
