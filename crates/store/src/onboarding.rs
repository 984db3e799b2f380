//! Clusters, sources and applications: the writes operators make to onboard what
//! StateSight watches. Every write runs in one transaction with its audit record. Values
//! arrive validated (see `statesight_core::source`); the database still enforces tenant
//! integrity and uniqueness, and callers map those refusals to 4xx answers.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use statesight_core::wire::{Cluster, LiveSource, NamedRef, References, Source};
use uuid::Uuid;

use crate::Result;
use crate::audit::{self, Actor, Entry};
use crate::keyset::{ByName, Page};

/// Outcome of a delete.
#[derive(Debug)]
pub enum Deleted {
    Yes,
    NotFound,
    /// Still used; nothing was deleted.
    Referenced(References),
}

/// Validated cluster settings.
#[derive(Debug, Clone)]
pub struct ClusterValues {
    pub name: String,
    pub description: String,
    pub live_source: LiveSource,
    pub kubeconfig_path: Option<String>,
    pub context: Option<String>,
    pub snapshot_dir: Option<String>,
    pub watch: bool,
}

#[derive(sqlx::FromRow)]
struct ClusterRow {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    description: String,
    #[sqlx(try_from = "String")]
    live_source: LiveSource,
    kubeconfig_path: Option<String>,
    kube_context: Option<String>,
    snapshot_dir: Option<String>,
    watch_enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ClusterRow> for Cluster {
    fn from(row: ClusterRow) -> Self {
        Cluster {
            id: row.id,
            workspace_id: row.workspace_id,
            name: row.name,
            description: row.description,
            live_source: row.live_source,
            kubeconfig_path: row.kubeconfig_path,
            context: row.kube_context,
            snapshot_dir: row.snapshot_dir,
            watch: row.watch_enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

macro_rules! cluster_columns {
    () => {
        "id, workspace_id, name, description, live_source, kubeconfig_path, kube_context, snapshot_dir, watch_enabled, created_at, updated_at"
    };
}

fn to_json<T: serde::Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value).ok()
}

pub async fn list_clusters(
    pool: &PgPool,
    workspace_id: Uuid,
    after: Option<&ByName>,
    limit: i64,
) -> Result<Page<Cluster, ByName>> {
    let rows: Vec<ClusterRow> = sqlx::query_as(concat!(
        "SELECT ",
        cluster_columns!(),
        " FROM clusters WHERE workspace_id = $1
            AND ($2::text IS NULL OR (name, id) > ($2, $3))
          ORDER BY name, id LIMIT $4"
    ))
    .bind(workspace_id)
    .bind(after.map(|key| key.name.clone()))
    .bind(after.map(|key| key.id))
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let items: Vec<Cluster> = rows.into_iter().map(Cluster::from).collect();
    Ok(Page::from_rows(items, limit, |cluster| ByName {
        name: cluster.name.clone(),
        id: cluster.id,
    }))
}

/// Clusters whose record asks to be watched (kube-api and in-cluster only), by id.
pub async fn watched_clusters(pool: &PgPool) -> Result<Vec<Cluster>> {
    let rows: Vec<ClusterRow> = sqlx::query_as(concat!(
        "SELECT ",
        cluster_columns!(),
        " FROM clusters
          WHERE watch_enabled AND live_source IN ('kube-api', 'in-cluster')
          ORDER BY id"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Cluster::from).collect())
}

pub async fn get_cluster(pool: &PgPool, id: Uuid) -> Result<Option<Cluster>> {
    let row: Option<ClusterRow> = sqlx::query_as(concat!(
        "SELECT ",
        cluster_columns!(),
        " FROM clusters WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Cluster::from))
}

pub async fn create_cluster(
    pool: &PgPool,
    actor: &Actor,
    workspace_id: Uuid,
    values: &ClusterValues,
) -> Result<Cluster> {
    let mut tx = pool.begin().await?;
    let row: ClusterRow = sqlx::query_as(concat!(
        "INSERT INTO clusters (id, workspace_id, name, description, live_source, kubeconfig_path, kube_context, snapshot_dir, watch_enabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
        cluster_columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(workspace_id)
    .bind(&values.name)
    .bind(&values.description)
    .bind(values.live_source.as_str())
    .bind(&values.kubeconfig_path)
    .bind(&values.context)
    .bind(&values.snapshot_dir)
    .bind(values.watch)
    .fetch_one(&mut *tx)
    .await?;
    let cluster = Cluster::from(row);
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(workspace_id),
            action: "cluster.create",
            target_type: "cluster",
            target_id: cluster.id,
            before: None,
            after: to_json(&cluster),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(cluster)
}

/// Replaces a cluster's settings. `None` when it does not exist.
pub async fn update_cluster(
    pool: &PgPool,
    actor: &Actor,
    id: Uuid,
    values: &ClusterValues,
) -> Result<Option<Cluster>> {
    let mut tx = pool.begin().await?;
    let before: Option<ClusterRow> = sqlx::query_as(concat!(
        "SELECT ",
        cluster_columns!(),
        " FROM clusters WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before.map(Cluster::from) else {
        return Ok(None);
    };
    let row: ClusterRow = sqlx::query_as(concat!(
        "UPDATE clusters SET name = $2, description = $3, live_source = $4, kubeconfig_path = $5,
                kube_context = $6, snapshot_dir = $7, watch_enabled = $8, updated_at = now()
          WHERE id = $1 RETURNING ",
        cluster_columns!()
    ))
    .bind(id)
    .bind(&values.name)
    .bind(&values.description)
    .bind(values.live_source.as_str())
    .bind(&values.kubeconfig_path)
    .bind(&values.context)
    .bind(&values.snapshot_dir)
    .bind(values.watch)
    .fetch_one(&mut *tx)
    .await?;
    let after = Cluster::from(row);
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(after.workspace_id),
            action: "cluster.update",
            target_type: "cluster",
            target_id: id,
            before: to_json(&before),
            after: to_json(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(after))
}

async fn applications_using(
    conn: &mut PgConnection,
    column: &'static str,
    id: Uuid,
) -> Result<Vec<NamedRef>> {
    let sql = match column {
        "cluster_id" => "SELECT id, name FROM applications WHERE cluster_id = $1 ORDER BY name, id",
        _ => "SELECT id, name FROM applications WHERE source_id = $1 ORDER BY name, id",
    };
    let rows: Vec<(Uuid, String)> = sqlx::query_as(sql).bind(id).fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| NamedRef { id, name })
        .collect())
}

pub async fn delete_cluster(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<Deleted> {
    let mut tx = pool.begin().await?;
    let before: Option<ClusterRow> = sqlx::query_as(concat!(
        "SELECT ",
        cluster_columns!(),
        " FROM clusters WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before.map(Cluster::from) else {
        return Ok(Deleted::NotFound);
    };
    let users = applications_using(&mut tx, "cluster_id", id).await?;
    if !users.is_empty() {
        return Ok(Deleted::Referenced(References {
            applications: users,
        }));
    }
    sqlx::query("DELETE FROM clusters WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(before.workspace_id),
            action: "cluster.delete",
            target_type: "cluster",
            target_id: id,
            before: to_json(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Deleted::Yes)
}

/// Validated source settings.
#[derive(Debug, Clone)]
pub struct SourceValues {
    pub name: String,
    pub repo_url: String,
    pub git_ref: String,
    pub path: String,
}

#[derive(sqlx::FromRow)]
struct SourceRow {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    repo_url: String,
    git_ref: String,
    path: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SourceRow> for Source {
    fn from(row: SourceRow) -> Self {
        Source {
            id: row.id,
            workspace_id: row.workspace_id,
            name: row.name,
            repo_url: row.repo_url,
            git_ref: row.git_ref,
            path: row.path,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

macro_rules! source_columns {
    () => {
        "id, workspace_id, name, repo_url, git_ref, path, created_at, updated_at"
    };
}

pub async fn list_sources(
    pool: &PgPool,
    workspace_id: Uuid,
    after: Option<&ByName>,
    limit: i64,
) -> Result<Page<Source, ByName>> {
    let rows: Vec<SourceRow> = sqlx::query_as(concat!(
        "SELECT ",
        source_columns!(),
        " FROM source_definitions WHERE workspace_id = $1
            AND ($2::text IS NULL OR (name, id) > ($2, $3))
          ORDER BY name, id LIMIT $4"
    ))
    .bind(workspace_id)
    .bind(after.map(|key| key.name.clone()))
    .bind(after.map(|key| key.id))
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let items: Vec<Source> = rows.into_iter().map(Source::from).collect();
    Ok(Page::from_rows(items, limit, |source| ByName {
        name: source.name.clone(),
        id: source.id,
    }))
}

pub async fn get_source(pool: &PgPool, id: Uuid) -> Result<Option<Source>> {
    let row: Option<SourceRow> = sqlx::query_as(concat!(
        "SELECT ",
        source_columns!(),
        " FROM source_definitions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Source::from))
}

pub async fn create_source(
    pool: &PgPool,
    actor: &Actor,
    workspace_id: Uuid,
    values: &SourceValues,
) -> Result<Source> {
    let mut tx = pool.begin().await?;
    let row: SourceRow = sqlx::query_as(concat!(
        "INSERT INTO source_definitions (id, workspace_id, name, repo_url, git_ref, path)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        source_columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(workspace_id)
    .bind(&values.name)
    .bind(&values.repo_url)
    .bind(&values.git_ref)
    .bind(&values.path)
    .fetch_one(&mut *tx)
    .await?;
    let source = Source::from(row);
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(workspace_id),
            action: "source.create",
            target_type: "source",
            target_id: source.id,
            before: None,
            after: to_json(&source),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(source)
}

pub async fn update_source(
    pool: &PgPool,
    actor: &Actor,
    id: Uuid,
    values: &SourceValues,
) -> Result<Option<Source>> {
    let mut tx = pool.begin().await?;
    let before: Option<SourceRow> = sqlx::query_as(concat!(
        "SELECT ",
        source_columns!(),
        " FROM source_definitions WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before.map(Source::from) else {
        return Ok(None);
    };
    let row: SourceRow = sqlx::query_as(concat!(
        "UPDATE source_definitions SET name = $2, repo_url = $3, git_ref = $4, path = $5, updated_at = now()
          WHERE id = $1 RETURNING ",
        source_columns!()
    ))
    .bind(id)
    .bind(&values.name)
    .bind(&values.repo_url)
    .bind(&values.git_ref)
    .bind(&values.path)
    .fetch_one(&mut *tx)
    .await?;
    let after = Source::from(row);
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(after.workspace_id),
            action: "source.update",
            target_type: "source",
            target_id: id,
            before: to_json(&before),
            after: to_json(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(after))
}

pub async fn delete_source(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<Deleted> {
    let mut tx = pool.begin().await?;
    let before: Option<SourceRow> = sqlx::query_as(concat!(
        "SELECT ",
        source_columns!(),
        " FROM source_definitions WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before.map(Source::from) else {
        return Ok(Deleted::NotFound);
    };
    let users = applications_using(&mut tx, "source_id", id).await?;
    if !users.is_empty() {
        return Ok(Deleted::Referenced(References {
            applications: users,
        }));
    }
    sqlx::query("DELETE FROM source_definitions WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(before.workspace_id),
            action: "source.delete",
            target_type: "source",
            target_id: id,
            before: to_json(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Deleted::Yes)
}

/// Validated application settings.
#[derive(Debug, Clone)]
pub struct ApplicationValues {
    pub name: String,
    pub description: String,
    pub cluster_id: Uuid,
    pub source_id: Uuid,
    pub default_namespace: String,
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct ApplicationRecord {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    description: String,
    cluster_id: Uuid,
    source_id: Uuid,
    default_namespace: String,
}

macro_rules! application_columns {
    () => {
        "id, workspace_id, name, description, cluster_id, source_id, default_namespace"
    };
}

/// Creates an application and returns its id. A cluster or source of another workspace
/// is refused by the composite foreign keys.
pub async fn create_application(
    pool: &PgPool,
    actor: &Actor,
    workspace_id: Uuid,
    values: &ApplicationValues,
) -> Result<Uuid> {
    let mut tx = pool.begin().await?;
    let record: ApplicationRecord = sqlx::query_as(concat!(
        "INSERT INTO applications (id, workspace_id, name, description, cluster_id, source_id, default_namespace)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        application_columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(workspace_id)
    .bind(&values.name)
    .bind(&values.description)
    .bind(values.cluster_id)
    .bind(values.source_id)
    .bind(&values.default_namespace)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(workspace_id),
            action: "application.create",
            target_type: "application",
            target_id: record.id,
            before: None,
            after: to_json(&record),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(record.id)
}

/// Replaces an application's settings; `false` when it does not exist.
pub async fn update_application(
    pool: &PgPool,
    actor: &Actor,
    id: Uuid,
    values: &ApplicationValues,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let before: Option<ApplicationRecord> = sqlx::query_as(concat!(
        "SELECT ",
        application_columns!(),
        " FROM applications WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        return Ok(false);
    };
    let after: ApplicationRecord = sqlx::query_as(concat!(
        "UPDATE applications SET name = $2, description = $3, cluster_id = $4, source_id = $5,
                default_namespace = $6, updated_at = now()
          WHERE id = $1 RETURNING ",
        application_columns!()
    ))
    .bind(id)
    .bind(&values.name)
    .bind(&values.description)
    .bind(values.cluster_id)
    .bind(values.source_id)
    .bind(&values.default_namespace)
    .fetch_one(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(after.workspace_id),
            action: "application.update",
            target_type: "application",
            target_id: id,
            before: to_json(&before),
            after: to_json(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Deletes an application with its runs, incidents, findings and rules.
pub async fn delete_application(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<Deleted> {
    let mut tx = pool.begin().await?;
    let before: Option<ApplicationRecord> = sqlx::query_as(concat!(
        "SELECT ",
        application_columns!(),
        " FROM applications WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        return Ok(Deleted::NotFound);
    };
    sqlx::query("DELETE FROM applications WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        Entry {
            workspace_id: Some(before.workspace_id),
            action: "application.delete",
            target_type: "application",
            target_id: id,
            before: to_json(&before),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Deleted::Yes)
}
