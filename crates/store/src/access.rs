//! Users, identities and workspace memberships: what the authorization path reads.

use sqlx::PgPool;
use statesight_core::wire::{Me, Role, User, WorkspaceAccess};
use uuid::Uuid;

use crate::Result;

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
}

pub async fn user(pool: &PgPool, user_id: Uuid) -> Result<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as("SELECT id, email, display_name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|row| User {
        id: row.id,
        email: row.email,
        display_name: row.display_name,
    }))
}

/// The local user a verified `(issuer, subject)` maps to, if it was provisioned.
pub async fn user_for_identity(pool: &PgPool, issuer: &str, subject: &str) -> Result<Option<Uuid>> {
    let id: Option<(Uuid,)> =
        sqlx::query_as("SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2")
            .bind(issuer)
            .bind(subject)
            .fetch_optional(pool)
            .await?;
    Ok(id.map(|(id,)| id))
}

/// The caller's role in a workspace, or `None` when they are not a member (or the
/// workspace does not exist: callers must not be able to tell the two apart).
pub async fn role_in_workspace(
    pool: &PgPool,
    user_id: Uuid,
    workspace_id: Uuid,
) -> Result<Option<Role>> {
    let role: Option<(String,)> = sqlx::query_as(
        "SELECT role FROM workspace_memberships WHERE user_id = $1 AND workspace_id = $2",
    )
    .bind(user_id)
    .bind(workspace_id)
    .fetch_optional(pool)
    .await?;
    Ok(role.and_then(|(role,)| Role::parse(&role)))
}

#[derive(sqlx::FromRow)]
struct AccessRow {
    id: Uuid,
    name: String,
    role: String,
}

pub async fn workspaces_of(pool: &PgPool, user_id: Uuid) -> Result<Vec<WorkspaceAccess>> {
    let rows: Vec<AccessRow> = sqlx::query_as(
        "SELECT w.id, w.name, m.role
           FROM workspace_memberships m JOIN workspaces w ON w.id = m.workspace_id
          WHERE m.user_id = $1
          ORDER BY w.name, w.id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Role::parse(&row.role).map(|role| WorkspaceAccess {
                id: row.id,
                name: row.name,
                role,
            })
        })
        .collect())
}

pub async fn me(pool: &PgPool, user_id: Uuid) -> Result<Option<Me>> {
    let Some(user) = user(pool, user_id).await? else {
        return Ok(None);
    };
    let workspaces = workspaces_of(pool, user_id).await?;
    Ok(Some(Me { user, workspaces }))
}

pub async fn workspace_name(pool: &PgPool, workspace_id: Uuid) -> Result<Option<String>> {
    let name: Option<(String,)> = sqlx::query_as("SELECT name FROM workspaces WHERE id = $1")
        .bind(workspace_id)
        .fetch_optional(pool)
        .await?;
    Ok(name.map(|(name,)| name))
}
