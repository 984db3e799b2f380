//! What a watched cluster's watcher needs from the database, and what it keeps there:
//!
//! - `tracked_resources`: the objects each application's latest successful analysis
//!   compared (replaced in the same transaction as its results), and the revision it
//!   compared them against;
//! - `cluster_watches`: one row per (cluster, group, kind, namespace) being watched, with
//!   the resourceVersion to resume from and when the watch last listed and last heard from
//!   the API server;
//! - `live_objects`: the live-state cache, each watched object as the API server last sent
//!   it. Writes are conditional on the resourceVersion, so replaying an event or relisting
//!   reports only objects that really changed: the same resourceVersion is never a change.
//!
//! Any worker may read the cache for an analysis (`read_cache`), but only while every
//! (kind, namespace) the analysis needs is listed and recently heard from.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use statesight_core::wire::Cluster;
use uuid::Uuid;

use crate::Result;

/// An object an analysis compared. `namespace` is `None` for cluster-scoped kinds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackedObject {
    pub api_version: String,
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The resourceVersion the analysis saw; `None` when the object was absent or the
    /// source does not say.
    pub resource_version: Option<String>,
}

/// One (group, kind, namespace) a watched cluster's applications track: one watch each.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatchTarget {
    pub group: String,
    pub kind: String,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// The `apiVersion` Git writes the kind in (the greatest, when applications differ).
    pub api_version: String,
}

impl WatchTarget {
    fn namespace_column(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

/// A change the cache recorded: the object and its resourceVersion now (`None`: deleted).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Changed {
    pub key: ObjectKey,
    pub resource_version: Option<String>,
}

/// The identity of a cached object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
}

impl TrackedObject {
    /// The object's identity in the cache.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// An application tracking objects of a watched cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    pub application_id: Uuid,
    pub revision: String,
    pub object: TrackedObject,
}

/// Replaces an application's tracked objects (inside the results' transaction).
pub(crate) async fn replace_tracked(
    tx: &mut PgConnection,
    workspace_id: Uuid,
    application_id: Uuid,
    revision: &str,
    objects: &[TrackedObject],
) -> Result<()> {
    sqlx::query("DELETE FROM tracked_resources WHERE application_id = $1")
        .bind(application_id)
        .execute(&mut *tx)
        .await?;
    let distinct: BTreeSet<&TrackedObject> = objects.iter().collect();
    let mut api_versions = Vec::with_capacity(distinct.len());
    let mut groups = Vec::with_capacity(distinct.len());
    let mut kinds = Vec::with_capacity(distinct.len());
    let mut namespaces = Vec::with_capacity(distinct.len());
    let mut names = Vec::with_capacity(distinct.len());
    let mut versions = Vec::with_capacity(distinct.len());
    for object in distinct {
        api_versions.push(object.api_version.as_str());
        groups.push(object.group.as_str());
        kinds.push(object.kind.as_str());
        namespaces.push(object.namespace.as_deref().unwrap_or(""));
        names.push(object.name.as_str());
        versions.push(object.resource_version.as_deref());
    }
    sqlx::query(
        "INSERT INTO tracked_resources (workspace_id, application_id, api_version, resource_group, kind, namespace, name, revision, resource_version)
         SELECT $1, $2, v, g, k, ns, n, $8, rv
           FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $9::text[])
                AS t(v, g, k, ns, n, rv)
         ON CONFLICT (application_id, resource_group, kind, namespace, name) DO NOTHING",
    )
    .bind(workspace_id)
    .bind(application_id)
    .bind(&api_versions)
    .bind(&groups)
    .bind(&kinds)
    .bind(&namespaces)
    .bind(&names)
    .bind(revision)
    .bind(&versions)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Clusters whose record asks to be watched (kube-api and in-cluster only), by id.
pub use crate::onboarding::watched_clusters;

#[derive(sqlx::FromRow)]
struct TrackingRow {
    application_id: Uuid,
    revision: String,
    resource_version: Option<String>,
    api_version: String,
    resource_group: String,
    kind: String,
    namespace: String,
    name: String,
}

/// Every object the applications of `cluster_id` track, ordered by application then
/// object.
pub async fn tracking(pool: &PgPool, cluster_id: Uuid) -> Result<Vec<Tracking>> {
    let rows: Vec<TrackingRow> = sqlx::query_as(
        "SELECT t.application_id, t.revision, t.resource_version, t.api_version,
                t.resource_group, t.kind, t.namespace, t.name
           FROM tracked_resources t
           JOIN applications a ON a.workspace_id = t.workspace_id AND a.id = t.application_id
          WHERE a.cluster_id = $1
          ORDER BY t.application_id, t.resource_group, t.kind, t.namespace, t.name",
    )
    .bind(cluster_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Tracking {
            application_id: row.application_id,
            revision: row.revision,
            object: TrackedObject {
                api_version: row.api_version,
                group: row.resource_group,
                kind: row.kind,
                namespace: Some(row.namespace).filter(|ns| !ns.is_empty()),
                name: row.name,
                resource_version: row.resource_version,
            },
        })
        .collect())
}

/// The watches `tracking` calls for: one per (group, kind, namespace), sorted.
pub fn targets_of(tracking: &[Tracking]) -> Vec<WatchTarget> {
    let mut targets: std::collections::BTreeMap<(String, String, Option<String>), String> =
        std::collections::BTreeMap::new();
    for entry in tracking {
        let object = &entry.object;
        let slot = targets
            .entry((
                object.group.clone(),
                object.kind.clone(),
                object.namespace.clone(),
            ))
            .or_default();
        if object.api_version > *slot {
            slot.clone_from(&object.api_version);
        }
    }
    targets
        .into_iter()
        .map(|((group, kind, namespace), api_version)| WatchTarget {
            group,
            kind,
            namespace,
            api_version,
        })
        .collect()
}

/// Where a watch resumes: the resourceVersion it last reached, if it ever listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchPosition {
    pub resource_version: Option<String>,
    pub synced_at: Option<DateTime<Utc>>,
}

/// The stored position of one watch (`None` when it never ran).
pub async fn position(
    pool: &PgPool,
    cluster_id: Uuid,
    target: &WatchTarget,
) -> Result<Option<WatchPosition>> {
    let row: Option<(Option<String>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT resource_version, synced_at FROM cluster_watches
          WHERE cluster_id = $1 AND resource_group = $2 AND kind = $3 AND namespace = $4",
    )
    .bind(cluster_id)
    .bind(&target.group)
    .bind(&target.kind)
    .bind(target.namespace_column())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(resource_version, synced_at)| WatchPosition {
        resource_version,
        synced_at,
    }))
}

/// A live object as the API server sent it, with its identity and resourceVersion.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObject {
    pub key: ObjectKey,
    pub resource_version: String,
    pub object: Value,
}

/// Records a complete list of one watch: the cache for (group, kind, namespace) becomes
/// exactly `objects`, the watch resumes from `resource_version`, and it is synced as of
/// `observed_at`. Returns the objects that changed (new, another resourceVersion, or gone),
/// sorted; an object listed again unchanged is not a change.
pub async fn record_list(
    pool: &PgPool,
    cluster: &Cluster,
    target: &WatchTarget,
    holder: &str,
    objects: &[LiveObject],
    resource_version: &str,
    observed_at: DateTime<Utc>,
) -> Result<Vec<Changed>> {
    let mut tx = pool.begin().await?;
    let mut changed = upsert_objects(&mut tx, cluster, objects, observed_at).await?;
    let names: Vec<&str> = objects.iter().map(|o| o.key.name.as_str()).collect();
    let gone: Vec<(String,)> = sqlx::query_as(
        "DELETE FROM live_objects
          WHERE cluster_id = $1 AND resource_group = $2 AND kind = $3 AND namespace = $4
            AND NOT (name = ANY($5::text[]))
      RETURNING name",
    )
    .bind(cluster.id)
    .bind(&target.group)
    .bind(&target.kind)
    .bind(target.namespace_column())
    .bind(&names)
    .fetch_all(&mut *tx)
    .await?;
    changed.extend(gone.into_iter().map(|(name,)| Changed {
        key: ObjectKey {
            group: target.group.clone(),
            kind: target.kind.clone(),
            namespace: target.namespace.clone(),
            name,
        },
        resource_version: None,
    }));
    sqlx::query(
        "INSERT INTO cluster_watches (workspace_id, cluster_id, resource_group, kind, namespace, api_version,
                                      resource_version, synced_at, seen_at, holder)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
         ON CONFLICT (cluster_id, resource_group, kind, namespace) DO UPDATE
            SET api_version = EXCLUDED.api_version, resource_version = EXCLUDED.resource_version,
                synced_at = EXCLUDED.synced_at, seen_at = EXCLUDED.seen_at, holder = EXCLUDED.holder",
    )
    .bind(cluster.workspace_id)
    .bind(cluster.id)
    .bind(&target.group)
    .bind(&target.kind)
    .bind(target.namespace_column())
    .bind(&target.api_version)
    .bind(resource_version)
    .bind(observed_at)
    .bind(holder)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    changed.sort();
    changed.dedup();
    Ok(changed)
}

/// Applies watch events: `upserts` (added or modified) and `deletes`, then moves the
/// watch's position to `resource_version`. Returns the objects that really changed, sorted.
#[allow(clippy::too_many_arguments)]
pub async fn record_events(
    pool: &PgPool,
    cluster: &Cluster,
    target: &WatchTarget,
    holder: &str,
    upserts: &[LiveObject],
    deletes: &[ObjectKey],
    resource_version: &str,
    observed_at: DateTime<Utc>,
) -> Result<Vec<Changed>> {
    let mut tx = pool.begin().await?;
    let mut changed = upsert_objects(&mut tx, cluster, upserts, observed_at).await?;
    for key in deletes {
        let deleted = sqlx::query(
            "DELETE FROM live_objects
              WHERE cluster_id = $1 AND resource_group = $2 AND kind = $3 AND namespace = $4 AND name = $5",
        )
        .bind(cluster.id)
        .bind(&key.group)
        .bind(&key.kind)
        .bind(key.namespace.as_deref().unwrap_or(""))
        .bind(&key.name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted > 0 {
            changed.push(Changed {
                key: key.clone(),
                resource_version: None,
            });
        }
    }
    sqlx::query(
        "UPDATE cluster_watches SET resource_version = $5, seen_at = $6, holder = $7
          WHERE cluster_id = $1 AND resource_group = $2 AND kind = $3 AND namespace = $4",
    )
    .bind(cluster.id)
    .bind(&target.group)
    .bind(&target.kind)
    .bind(target.namespace_column())
    .bind(resource_version)
    .bind(observed_at)
    .bind(holder)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    changed.sort();
    changed.dedup();
    Ok(changed)
}

/// Notes that the watches of `cluster_id` held by `holder` were heard from (a bookmark,
/// or the streams simply open) at `seen_at`, in one statement.
pub async fn touch(
    pool: &PgPool,
    cluster_id: Uuid,
    targets: &[WatchTarget],
    holder: &str,
    seen_at: DateTime<Utc>,
) -> Result<()> {
    let groups: Vec<&str> = targets.iter().map(|t| t.group.as_str()).collect();
    let kinds: Vec<&str> = targets.iter().map(|t| t.kind.as_str()).collect();
    let namespaces: Vec<&str> = targets.iter().map(WatchTarget::namespace_column).collect();
    sqlx::query(
        "UPDATE cluster_watches w SET seen_at = $5
           FROM UNNEST($2::text[], $3::text[], $4::text[]) AS t(g, k, ns)
          WHERE w.cluster_id = $1 AND w.resource_group = t.g AND w.kind = t.k
            AND w.namespace = t.ns AND w.holder = $6 AND w.synced_at IS NOT NULL",
    )
    .bind(cluster_id)
    .bind(&groups)
    .bind(&kinds)
    .bind(&namespaces)
    .bind(seen_at)
    .bind(holder)
    .execute(pool)
    .await?;
    Ok(())
}

/// Moves one watch's position (a bookmark) without changing the cache.
pub async fn record_bookmark(
    pool: &PgPool,
    cluster_id: Uuid,
    target: &WatchTarget,
    resource_version: &str,
    seen_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE cluster_watches SET resource_version = $5, seen_at = $6
          WHERE cluster_id = $1 AND resource_group = $2 AND kind = $3 AND namespace = $4",
    )
    .bind(cluster_id)
    .bind(&target.group)
    .bind(&target.kind)
    .bind(target.namespace_column())
    .bind(resource_version)
    .bind(seen_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Upserts objects whose resourceVersion differs from the cached one; returns them.
async fn upsert_objects(
    tx: &mut PgConnection,
    cluster: &Cluster,
    objects: &[LiveObject],
    observed_at: DateTime<Utc>,
) -> Result<Vec<Changed>> {
    if objects.is_empty() {
        return Ok(Vec::new());
    }
    let mut groups = Vec::with_capacity(objects.len());
    let mut kinds = Vec::with_capacity(objects.len());
    let mut namespaces = Vec::with_capacity(objects.len());
    let mut names = Vec::with_capacity(objects.len());
    let mut versions = Vec::with_capacity(objects.len());
    let mut bodies = Vec::with_capacity(objects.len());
    // A key appearing twice in one batch keeps its last object (events arrive in order).
    let mut latest: std::collections::BTreeMap<&ObjectKey, &LiveObject> =
        std::collections::BTreeMap::new();
    for object in objects {
        latest.insert(&object.key, object);
    }
    for (key, object) in latest {
        groups.push(key.group.as_str());
        kinds.push(key.kind.as_str());
        namespaces.push(key.namespace.as_deref().unwrap_or(""));
        names.push(key.name.as_str());
        versions.push(object.resource_version.as_str());
        bodies.push(Json(&object.object));
    }
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "INSERT INTO live_objects (workspace_id, cluster_id, resource_group, kind, namespace, name,
                                   resource_version, object, observed_at)
         SELECT $1, $2, g, k, ns, n, rv, o, $9
           FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[])
                AS t(g, k, ns, n, rv, o)
         ON CONFLICT (cluster_id, resource_group, kind, namespace, name) DO UPDATE
            SET resource_version = EXCLUDED.resource_version, object = EXCLUDED.object,
                observed_at = EXCLUDED.observed_at
          WHERE live_objects.resource_version <> EXCLUDED.resource_version
      RETURNING resource_group, kind, namespace, name, resource_version",
    )
    .bind(cluster.workspace_id)
    .bind(cluster.id)
    .bind(&groups)
    .bind(&kinds)
    .bind(&namespaces)
    .bind(&names)
    .bind(&versions)
    .bind(&bodies)
    .bind(observed_at)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(group, kind, namespace, name, resource_version)| Changed {
            key: ObjectKey {
                group,
                kind,
                namespace: Some(namespace).filter(|ns| !ns.is_empty()),
                name,
            },
            resource_version: Some(resource_version),
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct WatchState {
    resource_group: String,
    kind: String,
    namespace: String,
    synced_at: Option<DateTime<Utc>>,
    seen_at: Option<DateTime<Utc>>,
}

/// What the cache holds for an analysis.
#[derive(Debug, Clone)]
pub struct CachedState {
    /// The cached objects among the wanted keys, in key order.
    pub objects: Vec<Value>,
    /// The oldest `seen_at` of the watches read: the state is known as of at least then.
    pub observed_at: DateTime<Utc>,
}

/// The cached objects of `wanted`, when every (group, kind, namespace) they belong to is
/// watched, listed, and heard from no earlier than `fresh_since`. `None` otherwise: the
/// caller then reads the cluster itself.
pub async fn read_cache(
    pool: &PgPool,
    cluster_id: Uuid,
    wanted: &[ObjectKey],
    fresh_since: DateTime<Utc>,
) -> Result<Option<CachedState>> {
    if wanted.is_empty() {
        return Ok(None);
    }
    let scopes: BTreeSet<(&str, &str, &str)> = wanted
        .iter()
        .map(|key| {
            (
                key.group.as_str(),
                key.kind.as_str(),
                key.namespace.as_deref().unwrap_or(""),
            )
        })
        .collect();
    let states: Vec<WatchState> = sqlx::query_as(
        "SELECT resource_group, kind, namespace, synced_at, seen_at FROM cluster_watches
          WHERE cluster_id = $1",
    )
    .bind(cluster_id)
    .fetch_all(pool)
    .await?;
    let states: std::collections::BTreeMap<(&str, &str, &str), &WatchState> = states
        .iter()
        .map(|state| {
            (
                (
                    state.resource_group.as_str(),
                    state.kind.as_str(),
                    state.namespace.as_str(),
                ),
                state,
            )
        })
        .collect();
    let mut oldest: Option<DateTime<Utc>> = None;
    for scope in &scopes {
        match states.get(scope) {
            Some(WatchState {
                synced_at: Some(_),
                seen_at: Some(seen_at),
                ..
            }) if *seen_at >= fresh_since => {
                oldest = Some(oldest.map_or(*seen_at, |o| o.min(*seen_at)));
            }
            _ => return Ok(None),
        }
    }
    let Some(observed_at) = oldest else {
        return Ok(None);
    };
    let mut groups = Vec::with_capacity(wanted.len());
    let mut kinds = Vec::with_capacity(wanted.len());
    let mut namespaces = Vec::with_capacity(wanted.len());
    let mut names = Vec::with_capacity(wanted.len());
    for key in wanted {
        groups.push(key.group.as_str());
        kinds.push(key.kind.as_str());
        namespaces.push(key.namespace.as_deref().unwrap_or(""));
        names.push(key.name.as_str());
    }
    let rows: Vec<(Json<Value>,)> = sqlx::query_as(
        "SELECT o.object FROM live_objects o
           JOIN UNNEST($2::text[], $3::text[], $4::text[], $5::text[]) AS w(g, k, ns, n)
             ON o.resource_group = w.g AND o.kind = w.k AND o.namespace = w.ns AND o.name = w.n
          WHERE o.cluster_id = $1
          ORDER BY o.resource_group, o.kind, o.namespace, o.name",
    )
    .bind(cluster_id)
    .bind(&groups)
    .bind(&kinds)
    .bind(&namespaces)
    .bind(&names)
    .fetch_all(pool)
    .await?;
    Ok(Some(CachedState {
        objects: rows.into_iter().map(|(Json(object),)| object).collect(),
        observed_at,
    }))
}

/// Forgets what no watch keeps any more: the caches and positions of clusters no longer
/// watched, and of (kind, namespace) pairs no application of the cluster tracks. Returns
/// the number of cached objects deleted.
pub async fn prune(pool: &PgPool) -> Result<u64> {
    let mut tx = pool.begin().await?;
    // Pairs without a tracking application, or of clusters not watched.
    let stale: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT w.cluster_id, w.resource_group, w.kind, w.namespace
           FROM cluster_watches w
           JOIN clusters c ON c.id = w.cluster_id
          WHERE NOT c.watch_enabled
             OR NOT EXISTS (
                  SELECT 1 FROM tracked_resources t
                    JOIN applications a ON a.workspace_id = t.workspace_id AND a.id = t.application_id
                   WHERE a.cluster_id = w.cluster_id AND t.resource_group = w.resource_group
                     AND t.kind = w.kind AND t.namespace = w.namespace)",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut deleted = 0;
    for (cluster_id, group, kind, namespace) in stale {
        deleted += sqlx::query(
            "DELETE FROM live_objects
              WHERE cluster_id = $1 AND resource_group = $2 AND kind = $3 AND namespace = $4",
        )
        .bind(cluster_id)
        .bind(&group)
        .bind(&kind)
        .bind(&namespace)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM cluster_watches
              WHERE cluster_id = $1 AND resource_group = $2 AND kind = $3 AND namespace = $4",
        )
        .bind(cluster_id)
        .bind(&group)
        .bind(&kind)
        .bind(&namespace)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(deleted)
}
