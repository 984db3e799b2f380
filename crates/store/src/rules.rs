//! Ignore rules as the worker applies them and the console shows them.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use statesight_core::wire::IgnoreRule;
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
            "application"
        } else {
            "workspace"
        };
        IgnoreRule {
            id: self.id,
            workspace_id: self.workspace_id,
            read_only: viewed_from_application && self.application_id.is_none(),
            application_id: self.application_id,
            scope: scope.to_owned(),
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
