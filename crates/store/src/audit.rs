//! The operator audit log: who changed what, with before/after and the request id. Written
//! in the same transaction as the change it describes, so neither exists without the other.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// Who is acting, for the audit log: a user, or the system itself (`user_id` none, e.g.
/// the scheduler).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub request_id: String,
}

impl Actor {
    /// The worker's scheduler acting on its own.
    pub fn system(what: &str) -> Self {
        Actor {
            user_id: None,
            request_id: format!("system:{what}"),
        }
    }
}

pub struct Entry<'a> {
    pub workspace_id: Uuid,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Uuid,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

pub async fn append(conn: &mut PgConnection, actor: &Actor, entry: Entry<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO operator_audit_log (workspace_id, actor_user_id, action, target_type, target_id, before, after, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.workspace_id)
    .bind(actor.user_id)
    .bind(entry.action)
    .bind(entry.target_type)
    .bind(entry.target_id)
    .bind(entry.before)
    .bind(entry.after)
    .bind(&actor.request_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// One audit record as read back (tests and, later, the console).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Record {
    pub id: i64,
    pub workspace_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: String,
}

/// The most recent records of a workspace, newest first.
pub async fn recent(pool: &sqlx::PgPool, workspace_id: Uuid, limit: i64) -> Result<Vec<Record>> {
    Ok(sqlx::query_as(
        "SELECT id, workspace_id, actor_user_id, action, target_type, target_id, before, after, request_id
           FROM operator_audit_log WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(workspace_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
