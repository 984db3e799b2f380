//! Ignore rules as the worker applies them and the console shows them.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use statesight_core::wire::{IgnoreRule, RuleScope};
use uuid::Uuid;

use crate::Result;

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: Uuid,
    workspace_id: Uuid,
    application_id: Option<Uuid>,
    name: String,
    match_expression: String,
    resource_ref: Option<String>,
    managed_by: Option<String>,
    reason: String,
    enabled: bool,
    created_by: Option<Uuid>,
    updated_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl RuleRow {
    fn into_wire(self, viewed_from_application: bool) -> IgnoreRule {
        let scope = if self.application_id.is_some() {
            RuleScope::Application
        } else {
            RuleScope::Workspace
        };
        IgnoreRule {
            id: self.id,
            workspace_id: self.workspace_id,
            read_only: viewed_from_application && self.application_id.is_none(),
            application_id: self.application_id,
            scope,
            name: self.name,
            match_expression: self.match_expression,
            resource_ref: self.resource_ref,
            managed_by: self.managed_by,
            reason: self.reason,
            enabled: self.enabled,
            created_by: self.created_by,
            updated_by: self.updated_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Every rule that applies to an application, in the order the worker applies them:
/// resource-specific application rules, then application-wide rules, then inherited
/// workspace rules; oldest first within each group. Disabled rules are listed too (the
/// console shows them) but placed by the same order.
pub async fn applicable_to_application(
    pool: &PgPool,
    application_id: Uuid,
) -> Result<Vec<IgnoreRule>> {
    let rows: Vec<RuleRow> = sqlx::query_as(
        "SELECT r.id, r.workspace_id, r.application_id, r.name, r.match_expression,
                r.resource_ref, r.managed_by, r.reason, r.enabled, r.created_by, r.updated_by,
                r.created_at, r.updated_at
           FROM ignore_rules r
           JOIN applications a ON a.workspace_id = r.workspace_id
          WHERE a.id = $1
            AND (r.application_id = a.id OR r.application_id IS NULL)
          ORDER BY CASE WHEN r.application_id IS NOT NULL AND r.resource_ref IS NOT NULL THEN 0
                        WHEN r.application_id IS NOT NULL THEN 1
                        ELSE 2 END,
                   r.created_at, r.id",
    )
    .bind(application_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| row.into_wire(true)).collect())
}

/// Validated rule fields.
#[derive(Debug, Clone)]
pub struct RuleValues {
    pub name: String,
    pub match_expression: String,
    pub resource_ref: Option<String>,
    pub managed_by: Option<String>,
    pub reason: String,
    pub enabled: bool,
}

macro_rules! rule_columns {
    () => {
        "id, workspace_id, application_id, name, match_expression, resource_ref, managed_by, reason,
         enabled, created_by, updated_by, created_at, updated_at"
    };
}

/// An application-scoped rule, looked up through its application (a rule id from
/// another application is not found).
pub async fn get_application_rule(
    pool: &PgPool,
    application_id: Uuid,
    rule_id: Uuid,
) -> Result<Option<IgnoreRule>> {
    let row: Option<RuleRow> = sqlx::query_as(concat!(
        "SELECT ",
        rule_columns!(),
        " FROM ignore_rules WHERE id = $1 AND application_id = $2"
    ))
    .bind(rule_id)
    .bind(application_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| row.into_wire(false)))
}

pub async fn create_application_rule(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    workspace_id: Uuid,
    application_id: Uuid,
    values: &RuleValues,
) -> Result<IgnoreRule> {
    create_rule(pool, actor, workspace_id, Some(application_id), values).await
}

/// A workspace-wide rule: it applies to every application of the workspace, after their own.
pub async fn create_workspace_rule(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    workspace_id: Uuid,
    values: &RuleValues,
) -> Result<IgnoreRule> {
    create_rule(pool, actor, workspace_id, None, values).await
}

async fn create_rule(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    workspace_id: Uuid,
    application_id: Option<Uuid>,
    values: &RuleValues,
) -> Result<IgnoreRule> {
    let mut tx = pool.begin().await?;
    let row: RuleRow = sqlx::query_as(concat!(
        "INSERT INTO ignore_rules (id, workspace_id, application_id, name, match_expression, resource_ref,
             managed_by, reason, enabled, created_by, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ",
        rule_columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(workspace_id)
    .bind(application_id)
    .bind(&values.name)
    .bind(&values.match_expression)
    .bind(&values.resource_ref)
    .bind(&values.managed_by)
    .bind(&values.reason)
    .bind(values.enabled)
    .bind(actor.user_id)
    .fetch_one(&mut *tx)
    .await?;
    let rule = row.into_wire(false);
    crate::audit::append(
        &mut tx,
        actor,
        crate::audit::Entry {
            workspace_id: Some(workspace_id),
            action: "ignore_rule.create",
            target_type: "ignore_rule",
            target_id: rule.id,
            before: None,
            after: serde_json::to_value(&rule).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(rule)
}

/// Replaces an application rule's fields. Findings already suppressed keep the name and
/// reason they captured; only future analyses see the change.
pub async fn update_application_rule(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    application_id: Uuid,
    rule_id: Uuid,
    values: &RuleValues,
    action: &str,
) -> Result<Option<IgnoreRule>> {
    update_rule(
        pool,
        actor,
        Owner::Application(application_id),
        rule_id,
        values,
        action,
    )
    .await
}

/// Replaces a workspace-wide rule's fields (`workspace_id` is the rule's own workspace).
pub async fn update_workspace_rule(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    workspace_id: Uuid,
    rule_id: Uuid,
    values: &RuleValues,
    action: &str,
) -> Result<Option<IgnoreRule>> {
    update_rule(
        pool,
        actor,
        Owner::Workspace(workspace_id),
        rule_id,
        values,
        action,
    )
    .await
}

/// Whose rule a change addresses: a rule id of another owner is not found.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Application(Uuid),
    Workspace(Uuid),
}

async fn locked_rule(
    tx: &mut sqlx::PgConnection,
    owner: Owner,
    rule_id: Uuid,
) -> Result<Option<RuleRow>> {
    let query = match owner {
        Owner::Application(id) => sqlx::query_as(concat!(
            "SELECT ",
            rule_columns!(),
            " FROM ignore_rules WHERE id = $1 AND application_id = $2 FOR UPDATE"
        ))
        .bind(rule_id)
        .bind(id),
        Owner::Workspace(id) => sqlx::query_as(concat!(
            "SELECT ",
            rule_columns!(),
            " FROM ignore_rules WHERE id = $1 AND workspace_id = $2 AND application_id IS NULL
              FOR UPDATE"
        ))
        .bind(rule_id)
        .bind(id),
    };
    Ok(query.fetch_optional(&mut *tx).await?)
}

async fn update_rule(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    owner: Owner,
    rule_id: Uuid,
    values: &RuleValues,
    action: &str,
) -> Result<Option<IgnoreRule>> {
    let mut tx = pool.begin().await?;
    let before = locked_rule(&mut tx, owner, rule_id).await?;
    let Some(before) = before.map(|row| row.into_wire(false)) else {
        return Ok(None);
    };
    let row: RuleRow = sqlx::query_as(concat!(
        "UPDATE ignore_rules SET name = $2, match_expression = $3, resource_ref = $4, managed_by = $5,
                reason = $6, enabled = $7, updated_by = $8, updated_at = now()
          WHERE id = $1 RETURNING ",
        rule_columns!()
    ))
    .bind(rule_id)
    .bind(&values.name)
    .bind(&values.match_expression)
    .bind(&values.resource_ref)
    .bind(&values.managed_by)
    .bind(&values.reason)
    .bind(values.enabled)
    .bind(actor.user_id)
    .fetch_one(&mut *tx)
    .await?;
    let after = row.into_wire(false);
    crate::audit::append(
        &mut tx,
        actor,
        crate::audit::Entry {
            workspace_id: Some(after.workspace_id),
            action,
            target_type: "ignore_rule",
            target_id: rule_id,
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(after))
}

/// Deletes an application rule; `false` when it was not there.
pub async fn delete_application_rule(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    application_id: Uuid,
    rule_id: Uuid,
) -> Result<bool> {
    delete_rule(pool, actor, Owner::Application(application_id), rule_id).await
}

/// Deletes a workspace-wide rule; `false` when it was not there.
pub async fn delete_workspace_rule(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    workspace_id: Uuid,
    rule_id: Uuid,
) -> Result<bool> {
    delete_rule(pool, actor, Owner::Workspace(workspace_id), rule_id).await
}

async fn delete_rule(
    pool: &PgPool,
    actor: &crate::audit::Actor,
    owner: Owner,
    rule_id: Uuid,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let before = locked_rule(&mut tx, owner, rule_id).await?;
    if before.is_some() {
        sqlx::query("DELETE FROM ignore_rules WHERE id = $1")
            .bind(rule_id)
            .execute(&mut *tx)
            .await?;
    }
    let Some(before) = before.map(|row| row.into_wire(false)) else {
        return Ok(false);
    };
    crate::audit::append(
        &mut tx,
        actor,
        crate::audit::Entry {
            workspace_id: Some(before.workspace_id),
            action: "ignore_rule.delete",
            target_type: "ignore_rule",
            target_id: rule_id,
            before: serde_json::to_value(&before).ok(),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A workspace's own rules (not its applications'), oldest first: the order the worker
/// applies them in.
pub async fn list_workspace_rules(pool: &PgPool, workspace_id: Uuid) -> Result<Vec<IgnoreRule>> {
    let rows: Vec<RuleRow> = sqlx::query_as(concat!(
        "SELECT ",
        rule_columns!(),
        " FROM ignore_rules WHERE workspace_id = $1 AND application_id IS NULL
          ORDER BY created_at, id"
    ))
    .bind(workspace_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| row.into_wire(false)).collect())
}

/// A workspace-wide rule by id, whatever its workspace (the caller authorizes on it).
pub async fn get_workspace_rule(pool: &PgPool, rule_id: Uuid) -> Result<Option<IgnoreRule>> {
    let row: Option<RuleRow> = sqlx::query_as(concat!(
        "SELECT ",
        rule_columns!(),
        " FROM ignore_rules WHERE id = $1 AND application_id IS NULL"
    ))
    .bind(rule_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| row.into_wire(false)))
}
