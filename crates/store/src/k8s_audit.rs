//! Kubernetes audit events per cluster: the tokens a cluster's webhook authenticates with
//! (stored as hashes), storing kept events once per `auditID`, reading one object's events
//! for attribution, and retention.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::types::Json;
use statesight_core::k8s_audit::KeptEvent;
use statesight_core::wire::AuditIngestionToken;
use uuid::Uuid;

use crate::Result;
use crate::audit::{self, Actor, Entry};

/// How long a token's `last_used_at` may lag: one write a minute at most, not one per
/// delivery.
const LAST_USED_RESOLUTION_SECONDS: f64 = 60.0;

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    cluster_id: Uuid,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for AuditIngestionToken {
    fn from(row: TokenRow) -> AuditIngestionToken {
        AuditIngestionToken {
            id: row.id,
            cluster_id: row.cluster_id,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

macro_rules! token_columns {
    () => {
        "id, cluster_id, prefix, created_at, last_used_at, revoked_at"
    };
}

/// Stores a new token of `cluster_id` (its SHA-256 only), recorded in the audit chain.
pub async fn create_token(
    pool: &PgPool,
    actor: &Actor,
    workspace_id: Uuid,
    cluster_id: Uuid,
    token_sha256: &[u8; 32],
    prefix: &str,
) -> Result<AuditIngestionToken> {
    let mut tx = pool.begin().await?;
    let row: TokenRow = sqlx::query_as(concat!(
        "INSERT INTO cluster_audit_tokens (id, cluster_id, token_sha256, prefix, created_by)
         VALUES ($1, $2, $3, $4, $5) RETURNING ",
        token_columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(cluster_id)
    .bind(token_sha256.as_slice())
    .bind(prefix)
    .bind(actor.user_id)
    .fetch_one(&mut *tx)
    .await?;
    let token = AuditIngestionToken::from(row);
    audit_token_change(
        &mut tx,
        actor,
        "cluster.audit_token.create",
        workspace_id,
        &token,
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The cluster's tokens, oldest first (revoked ones included: they say when).
pub async fn list_tokens(pool: &PgPool, cluster_id: Uuid) -> Result<Vec<AuditIngestionToken>> {
    let rows: Vec<TokenRow> = sqlx::query_as(concat!(
        "SELECT ",
        token_columns!(),
        " FROM cluster_audit_tokens WHERE cluster_id = $1 ORDER BY created_at, id"
    ))
    .bind(cluster_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(AuditIngestionToken::from).collect())
}

/// Revokes a token of `cluster_id`. `None` when the cluster has no such token; revoking a
/// revoked token changes nothing and returns it as it is.
pub async fn revoke_token(
    pool: &PgPool,
    actor: &Actor,
    workspace_id: Uuid,
    cluster_id: Uuid,
    token_id: Uuid,
) -> Result<Option<AuditIngestionToken>> {
    let mut tx = pool.begin().await?;
    let revoked: Option<TokenRow> = sqlx::query_as(concat!(
        "UPDATE cluster_audit_tokens SET revoked_at = now()
          WHERE id = $1 AND cluster_id = $2 AND revoked_at IS NULL RETURNING ",
        token_columns!()
    ))
    .bind(token_id)
    .bind(cluster_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = revoked else {
        tx.rollback().await?;
        let existing: Option<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM cluster_audit_tokens WHERE id = $1 AND cluster_id = $2"
        ))
        .bind(token_id)
        .bind(cluster_id)
        .fetch_optional(pool)
        .await?;
        return Ok(existing.map(AuditIngestionToken::from));
    };
    let token = AuditIngestionToken::from(row);
    audit_token_change(
        &mut tx,
        actor,
        "cluster.audit_token.revoke",
        workspace_id,
        &token,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(token))
}

/// The cluster a live (unrevoked) token belongs to, noting its use.
pub async fn cluster_of_token(pool: &PgPool, token_sha256: &[u8; 32]) -> Result<Option<Uuid>> {
    let found: Option<(Uuid, Uuid, bool)> = sqlx::query_as(
        "SELECT id, cluster_id,
                last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2)
           FROM cluster_audit_tokens
          WHERE token_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(token_sha256.as_slice())
    .bind(LAST_USED_RESOLUTION_SECONDS)
    .fetch_optional(pool)
    .await?;
    let Some((id, cluster_id, stale)) = found else {
        return Ok(None);
    };
    if stale {
        sqlx::query("UPDATE cluster_audit_tokens SET last_used_at = now() WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?;
    }
    Ok(Some(cluster_id))
}

/// Stores `events` of `cluster_id` in one statement, each `auditID` once. Returns how many
/// were new; the rest were already stored. Committed when this returns.
pub async fn store_events(pool: &PgPool, cluster_id: Uuid, events: &[KeptEvent]) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut columns = EventColumns::with_capacity(events.len());
    for event in events {
        columns.push(event);
    }
    let inserted = sqlx::query(
        "INSERT INTO k8s_audit_events
            (cluster_id, audit_id, at, level, verb, api_group, resource, namespace, name,
             subresource, username, response_code, dry_run, event)
         SELECT $1, * FROM UNNEST($2::text[], $3::timestamptz[], $4::text[], $5::text[],
                                  $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                                  $11::text[], $12::int4[], $13::bool[], $14::jsonb[])
         ON CONFLICT (cluster_id, audit_id) DO NOTHING",
    )
    .bind(cluster_id)
    .bind(&columns.audit_id)
    .bind(&columns.at)
    .bind(&columns.level)
    .bind(&columns.verb)
    .bind(&columns.api_group)
    .bind(&columns.resource)
    .bind(&columns.namespace)
    .bind(&columns.name)
    .bind(&columns.subresource)
    .bind(&columns.username)
    .bind(&columns.response_code)
    .bind(&columns.dry_run)
    .bind(&columns.event)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(inserted)
}

/// A batch of events, column by column, for `UNNEST`.
#[derive(Default)]
struct EventColumns {
    audit_id: Vec<String>,
    at: Vec<DateTime<Utc>>,
    level: Vec<String>,
    verb: Vec<String>,
    api_group: Vec<String>,
    resource: Vec<String>,
    namespace: Vec<String>,
    name: Vec<String>,
    subresource: Vec<Option<String>>,
    username: Vec<String>,
    response_code: Vec<Option<i32>>,
    dry_run: Vec<bool>,
    event: Vec<Json<Value>>,
}

impl EventColumns {
    fn with_capacity(n: usize) -> EventColumns {
        EventColumns {
            audit_id: Vec::with_capacity(n),
            at: Vec::with_capacity(n),
            event: Vec::with_capacity(n),
            ..EventColumns::default()
        }
    }

    fn push(&mut self, event: &KeptEvent) {
        self.audit_id.push(event.audit_id.clone());
        self.at.push(event.at);
        self.level.push(event.level.as_str().to_owned());
        self.verb.push(event.verb.clone());
        self.api_group.push(event.object.api_group.clone());
        self.resource.push(event.object.resource.clone());
        self.namespace.push(event.object.namespace.clone());
        self.name.push(event.object.name.clone());
        self.subresource.push(event.object.subresource.clone());
        self.username.push(event.user.username.clone());
        self.response_code.push(event.response_code.map(i32::from));
        self.dry_run.push(event.dry_run);
        self.event
            .push(Json(serde_json::to_value(event).unwrap_or(Value::Null)));
    }
}

/// One object, as audit events name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    pub api_group: String,
    /// The plural resource (`deployments`).
    pub resource: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

/// The events of `objects` in `cluster_id` from `since` (when given) to `until`, at most
/// `per_object` of the latest per object, oldest first.
pub async fn events_of_objects(
    pool: &PgPool,
    cluster_id: Uuid,
    objects: &[ObjectKey],
    since: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
    per_object: i64,
) -> Result<Vec<KeptEvent>> {
    if objects.is_empty() {
        return Ok(Vec::new());
    }
    let groups: Vec<&str> = objects.iter().map(|o| o.api_group.as_str()).collect();
    let resources: Vec<&str> = objects.iter().map(|o| o.resource.as_str()).collect();
    let namespaces: Vec<&str> = objects.iter().map(|o| o.namespace.as_str()).collect();
    let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
    let rows: Vec<(Json<KeptEvent>,)> = sqlx::query_as(
        "SELECT e.event FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[])
                              AS o (api_group, resource, namespace, name)
          CROSS JOIN LATERAL (
                SELECT event, at, audit_id FROM k8s_audit_events
                 WHERE cluster_id = $1 AND resource = o.resource AND namespace = o.namespace
                   AND name = o.name AND api_group = o.api_group
                   AND at <= $6 AND ($7::timestamptz IS NULL OR at >= $7)
                 ORDER BY at DESC, audit_id DESC LIMIT $8) e
          ORDER BY e.at, e.audit_id",
    )
    .bind(cluster_id)
    .bind(&groups)
    .bind(&resources)
    .bind(&namespaces)
    .bind(&names)
    .bind(until)
    .bind(since)
    .bind(per_object)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(event,)| event.0).collect())
}

/// Whether any audit event of `cluster_id` was ever stored (and kept).
pub async fn cluster_has_events(pool: &PgPool, cluster_id: Uuid) -> Result<bool> {
    let found: (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM k8s_audit_events WHERE cluster_id = $1)")
            .bind(cluster_id)
            .fetch_one(pool)
            .await?;
    Ok(found.0)
}

/// Deletes events older than `retention_days`, except those the evidence of an open
/// incident's findings names: an investigation keeps its proof.
pub async fn prune(pool: &PgPool, retention_days: u32) -> Result<u64> {
    // The referenced ids are collected once (open incidents only, a small set) and the
    // delete anti-joins against them, instead of searching evidence per event.
    let deleted = sqlx::query(
        "WITH referenced AS (
              SELECT DISTINCT event ->> 'audit_id' AS audit_id
                FROM incidents i
                JOIN findings f ON f.incident_id = i.id
               CROSS JOIN LATERAL jsonb_array_elements(
                        COALESCE(f.evidence -> 'attribution' -> 'events', '[]'::jsonb)) AS event
               WHERE i.status = 'open')
         DELETE FROM k8s_audit_events e
          WHERE e.at < now() - make_interval(days => $1)
            AND NOT EXISTS (SELECT 1 FROM referenced r WHERE r.audit_id = e.audit_id)",
    )
    .bind(i32::try_from(retention_days).unwrap_or(i32::MAX))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted)
}

/// A cluster found by name, with its workspace's name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NamedCluster {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub workspace_name: String,
}

/// The clusters called `name` (by id too), in `workspace_id` when given; by workspace name.
pub async fn clusters_named(
    pool: &PgPool,
    name: &str,
    workspace_id: Option<Uuid>,
) -> Result<Vec<NamedCluster>> {
    let by_id = Uuid::parse_str(name.trim()).ok();
    Ok(sqlx::query_as(
        "SELECT c.id, c.workspace_id, w.name AS workspace_name
           FROM clusters c JOIN workspaces w ON w.id = c.workspace_id
          WHERE (c.name = $1 OR c.id = $2) AND ($3::uuid IS NULL OR c.workspace_id = $3)
          ORDER BY w.name, c.id",
    )
    .bind(name)
    .bind(by_id)
    .bind(workspace_id)
    .fetch_all(pool)
    .await?)
}

/// The audit entry of a token created or revoked (the token's public details, never its
/// secret), in the change's transaction.
async fn audit_token_change(
    tx: &mut sqlx::PgConnection,
    actor: &Actor,
    action: &'static str,
    workspace_id: Uuid,
    token: &AuditIngestionToken,
) -> Result<()> {
    audit::append(
        tx,
        actor,
        Entry {
            workspace_id: Some(workspace_id),
            action,
            target_type: "cluster",
            target_id: token.cluster_id,
            before: None,
            after: serde_json::to_value(token).ok(),
        },
    )
    .await
}
