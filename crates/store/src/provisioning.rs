//! What an operator provisions by hand (`statesight-server admin …`): users, workspaces,
//! memberships and the OIDC identities that sign in as a user. Machine clients
//! (client-credentials grant) are users too: their identity is the provider's subject for
//! the client. Membership changes are written to the workspace's audit log.

use serde::Serialize;
use sqlx::PgPool;
use statesight_core::wire::Role;
use uuid::Uuid;

use crate::StoreError;
use crate::audit::{self, Actor, Entry};

/// Why a provisioning command was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Invalid(String),
    #[error("no user has the id or email {0:?}; `statesight-server admin user list` lists them")]
    NoSuchUser(String),
    #[error(
        "no workspace has the id or name {0:?}; `statesight-server admin workspace list` lists them"
    )]
    NoSuchWorkspace(String),
    #[error("a user with the email {email:?} already exists (id {id})")]
    EmailTaken { email: String, id: Uuid },
    #[error("a workspace named {name:?} already exists (id {id})")]
    WorkspaceNameTaken { name: String, id: Uuid },
    #[error(
        "the identity (issuer {issuer:?}, subject {subject:?}) already signs in as {email}; \
         remove it first to map it to someone else"
    )]
    IdentityTaken {
        issuer: String,
        subject: String,
        email: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ProvisionError {
    fn from(error: sqlx::Error) -> Self {
        ProvisionError::Store(StoreError::from(error))
    }
}

impl From<statesight_core::string_enum::UnknownVariant> for ProvisionError {
    fn from(error: statesight_core::string_enum::UnknownVariant) -> Self {
        ProvisionError::Store(StoreError::from(error))
    }
}

pub type Result<T> = std::result::Result<T, ProvisionError>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WorkspaceRecord {
    pub id: Uuid,
    pub name: String,
    pub members: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MembershipRecord {
    pub workspace_id: Uuid,
    pub workspace: String,
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct IdentityRecord {
    pub issuer: String,
    pub subject: String,
    pub user_id: Uuid,
    pub email: String,
}

/// What a membership command changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    Added,
    Changed { from: Role },
    Unchanged,
    Removed { was: Role },
}

fn actor() -> Actor {
    Actor::system("admin-cli")
}

/// Text an operator typed that becomes a key or is shown elsewhere: no surrounding blanks,
/// no control characters, a bounded length.
fn check_text(what: &str, value: &str, max_chars: usize) -> Result<()> {
    if value.is_empty() || value.trim() != value {
        return Err(ProvisionError::Invalid(format!(
            "{what} must not be empty or start or end with blanks"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ProvisionError::Invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    if value.chars().count() > max_chars {
        return Err(ProvisionError::Invalid(format!(
            "{what} is longer than {max_chars} characters"
        )));
    }
    Ok(())
}

pub async fn add_user(pool: &PgPool, email: &str, display_name: &str) -> Result<UserRecord> {
    check_text("the email", email, 254)?;
    check_text("the display name", display_name, 200)?;
    if email
        .find('@')
        .is_none_or(|at| at == 0 || at == email.len() - 1)
    {
        return Err(ProvisionError::Invalid(format!(
            "{email:?} is not an email address"
        )));
    }
    if let Some(existing) = find_user(pool, email).await? {
        return Err(ProvisionError::EmailTaken {
            email: email.to_owned(),
            id: existing.id,
        });
    }
    let user = UserRecord {
        id: Uuid::now_v7(),
        email: email.to_owned(),
        display_name: display_name.to_owned(),
    };
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO users (id, email, display_name) VALUES ($1, $2, $3)")
        .bind(user.id)
        .bind(&user.email)
        .bind(&user.display_name)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &actor(),
        Entry {
            workspace_id: None,
            action: "user.create",
            target_type: "user",
            target_id: user.id,
            before: None,
            after: Some(
                serde_json::json!({"email": user.email, "display_name": user.display_name}),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// A user by id or by email (case-insensitive).
pub async fn find_user(pool: &PgPool, reference: &str) -> Result<Option<UserRecord>> {
    let by_id = Uuid::parse_str(reference.trim()).ok();
    Ok(sqlx::query_as(
        "SELECT id, email, display_name FROM users
          WHERE id = $1 OR lower(email) = lower($2)
          ORDER BY (id = $1) DESC LIMIT 1",
    )
    .bind(by_id)
    .bind(reference.trim())
    .fetch_optional(pool)
    .await?)
}

async fn user(pool: &PgPool, reference: &str) -> Result<UserRecord> {
    find_user(pool, reference)
        .await?
        .ok_or_else(|| ProvisionError::NoSuchUser(reference.to_owned()))
}

pub async fn list_users(pool: &PgPool) -> Result<Vec<UserRecord>> {
    Ok(
        sqlx::query_as("SELECT id, email, display_name FROM users ORDER BY email, id")
            .fetch_all(pool)
            .await?,
    )
}

pub async fn add_workspace(pool: &PgPool, name: &str) -> Result<WorkspaceRecord> {
    check_text("the workspace name", name, 100)?;
    if let Some(existing) = find_workspace(pool, name).await? {
        return Err(ProvisionError::WorkspaceNameTaken {
            name: name.to_owned(),
            id: existing.id,
        });
    }
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO workspaces (id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &actor(),
        Entry {
            workspace_id: Some(id),
            action: "workspace.create",
            target_type: "workspace",
            target_id: id,
            before: None,
            after: Some(serde_json::json!({"name": name})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(WorkspaceRecord {
        id,
        name: name.to_owned(),
        members: 0,
    })
}

/// A workspace by id or by exact name.
pub async fn find_workspace(pool: &PgPool, reference: &str) -> Result<Option<WorkspaceRecord>> {
    let by_id = Uuid::parse_str(reference.trim()).ok();
    Ok(sqlx::query_as(
        "SELECT w.id, w.name,
                (SELECT count(*) FROM workspace_memberships m WHERE m.workspace_id = w.id) AS members
           FROM workspaces w
          WHERE w.id = $1 OR w.name = $2
          ORDER BY (w.id = $1) DESC LIMIT 1",
    )
    .bind(by_id)
    .bind(reference)
    .fetch_optional(pool)
    .await?)
}

async fn workspace(pool: &PgPool, reference: &str) -> Result<WorkspaceRecord> {
    find_workspace(pool, reference)
        .await?
        .ok_or_else(|| ProvisionError::NoSuchWorkspace(reference.to_owned()))
}

pub async fn list_workspaces(pool: &PgPool) -> Result<Vec<WorkspaceRecord>> {
    Ok(sqlx::query_as(
        "SELECT w.id, w.name,
                (SELECT count(*) FROM workspace_memberships m WHERE m.workspace_id = w.id) AS members
           FROM workspaces w ORDER BY w.name, w.id",
    )
    .fetch_all(pool)
    .await?)
}

/// Makes the user a member with `role` (adding them or changing their role).
pub async fn set_membership(
    pool: &PgPool,
    workspace_ref: &str,
    user_ref: &str,
    role: Role,
) -> Result<MembershipChange> {
    let workspace = workspace(pool, workspace_ref).await?;
    let user = user(pool, user_ref).await?;
    let mut tx = pool.begin().await?;
    let before: Option<(String,)> = sqlx::query_as(
        "SELECT role FROM workspace_memberships WHERE workspace_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(workspace.id)
    .bind(user.id)
    .fetch_optional(&mut *tx)
    .await?;
    let before = before.map(|(role,)| Role::try_from(role)).transpose()?;
    if before == Some(role) {
        return Ok(MembershipChange::Unchanged);
    }
    sqlx::query(
        "INSERT INTO workspace_memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role",
    )
    .bind(workspace.id)
    .bind(user.id)
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &actor(),
        Entry {
            workspace_id: Some(workspace.id),
            action: if before.is_some() {
                "membership.update"
            } else {
                "membership.create"
            },
            target_type: "user",
            target_id: user.id,
            before: before.map(|role| membership_json(&user, role)),
            after: Some(membership_json(&user, role)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(match before {
        Some(from) => MembershipChange::Changed { from },
        None => MembershipChange::Added,
    })
}

pub async fn remove_membership(
    pool: &PgPool,
    workspace_ref: &str,
    user_ref: &str,
) -> Result<Option<MembershipChange>> {
    let workspace = workspace(pool, workspace_ref).await?;
    let user = user(pool, user_ref).await?;
    let mut tx = pool.begin().await?;
    let removed: Option<(String,)> = sqlx::query_as(
        "DELETE FROM workspace_memberships WHERE workspace_id = $1 AND user_id = $2 RETURNING role",
    )
    .bind(workspace.id)
    .bind(user.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((was,)) = removed else {
        return Ok(None);
    };
    let was = Role::try_from(was)?;
    audit::append(
        &mut tx,
        &actor(),
        Entry {
            workspace_id: Some(workspace.id),
            action: "membership.delete",
            target_type: "user",
            target_id: user.id,
            before: Some(membership_json(&user, was)),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(MembershipChange::Removed { was }))
}

fn membership_json(user: &UserRecord, role: Role) -> serde_json::Value {
    serde_json::json!({ "user_id": user.id, "email": user.email, "role": role })
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    workspace_id: Uuid,
    workspace: String,
    user_id: Uuid,
    email: String,
    #[sqlx(try_from = "String")]
    role: Role,
}

/// Memberships, of one workspace or of all, by workspace name then email.
pub async fn list_memberships(
    pool: &PgPool,
    workspace_ref: Option<&str>,
) -> Result<Vec<MembershipRecord>> {
    let workspace_id = match workspace_ref {
        Some(reference) => Some(workspace(pool, reference).await?.id),
        None => None,
    };
    let rows: Vec<MembershipRow> = sqlx::query_as(
        "SELECT w.id AS workspace_id, w.name AS workspace, u.id AS user_id, u.email, m.role
           FROM workspace_memberships m
           JOIN workspaces w ON w.id = m.workspace_id
           JOIN users u ON u.id = m.user_id
          WHERE $1::uuid IS NULL OR m.workspace_id = $1
          ORDER BY w.name, w.id, u.email, u.id",
    )
    .bind(workspace_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| MembershipRecord {
            workspace_id: row.workspace_id,
            workspace: row.workspace,
            user_id: row.user_id,
            email: row.email,
            role: row.role,
        })
        .collect())
}

/// Maps a verified `(issuer, subject)` to a user. Both are compared byte for byte with the
/// token's `iss` and `sub`, so they are taken exactly as given.
pub async fn add_identity(
    pool: &PgPool,
    issuer: &str,
    subject: &str,
    user_ref: &str,
) -> Result<IdentityRecord> {
    check_text("the issuer", issuer, 2048)?;
    check_text("the subject", subject, 255)?;
    let user = user(pool, user_ref).await?;
    let existing: Option<(String,)> = sqlx::query_as(
        "SELECT u.email FROM user_identities i JOIN users u ON u.id = i.user_id
          WHERE i.issuer = $1 AND i.subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(pool)
    .await?;
    if let Some((email,)) = existing {
        return Err(ProvisionError::IdentityTaken {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            email,
        });
    }
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO user_identities (issuer, subject, user_id) VALUES ($1, $2, $3)")
        .bind(issuer)
        .bind(subject)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &actor(),
        Entry {
            workspace_id: None,
            action: "identity.create",
            target_type: "user",
            target_id: user.id,
            before: None,
            after: Some(
                serde_json::json!({"issuer": issuer, "subject": subject, "email": user.email}),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(IdentityRecord {
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        user_id: user.id,
        email: user.email,
    })
}

/// Removes an identity mapping; returns whether one existed.
pub async fn remove_identity(pool: &PgPool, issuer: &str, subject: &str) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let removed: Option<(Uuid,)> = sqlx::query_as(
        "DELETE FROM user_identities WHERE issuer = $1 AND subject = $2 RETURNING user_id",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id,)) = removed else {
        return Ok(false);
    };
    audit::append(
        &mut tx,
        &actor(),
        Entry {
            workspace_id: None,
            action: "identity.delete",
            target_type: "user",
            target_id: user_id,
            before: Some(serde_json::json!({"issuer": issuer, "subject": subject})),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Identities, of one user or of all, by issuer then subject.
pub async fn list_identities(pool: &PgPool, user_ref: Option<&str>) -> Result<Vec<IdentityRecord>> {
    let user_id = match user_ref {
        Some(reference) => Some(user(pool, reference).await?.id),
        None => None,
    };
    Ok(sqlx::query_as(
        "SELECT i.issuer, i.subject, i.user_id, u.email
           FROM user_identities i JOIN users u ON u.id = i.user_id
          WHERE $1::uuid IS NULL OR i.user_id = $1
          ORDER BY i.issuer, i.subject",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?)
}
