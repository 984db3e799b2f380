//! Workspace-wide ignore rules: they apply to every application of the workspace, after the
//! applications' own rules. Viewers list them; admins change them, and only after a preview:
//! `POST /api/v1/ignore-rules/preview` shows, per application, the open findings the rule
//! would suppress (computed by the engine's own matcher) and returns a token bound to that
//! exact rule body; creating or changing a rule requires a valid, unexpired token for the
//! same body in `X-Rule-Preview-Token`. Deleting needs no preview (it only stops
//! suppressing). Every change is in the audit chain.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use statesight_core::rules::MatchTarget;
use statesight_core::wire::{
    ApplicationRulePreview, IgnoreRule, IgnoreRuleInput, IgnoreRulePatch, Role,
    WorkspaceRulePreview,
};
use statesight_store::rules::RuleValues;
use uuid::Uuid;

use crate::auth::{Principal, WorkspaceScope};
use crate::cursor::PageKey;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, IdPath};
use crate::openapi::{Data, ReadErrors, WriteErrors};
use crate::response::Envelope;
use crate::state::AppState;
use crate::validate;

/// The header a create or change carries its preview token in.
pub const PREVIEW_TOKEN_HEADER: &str = "x-rule-preview-token";
/// How long a preview stays good: long enough to read it, short enough that it still
/// describes the workspace's findings.
const PREVIEW_LIFETIME_MINUTES: i64 = 15;
/// What the servers' shared key signs previews under (never a valid pagination cursor).
const PREVIEW_PURPOSE: &str = "workspace-rule-preview";

/// What a preview token vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PreviewClaims {
    workspace_id: Uuid,
    /// SHA-256 of the normalized rule body.
    body: String,
    expires_at: DateTime<Utc>,
}

impl PageKey for PreviewClaims {
    fn is_sound(&self) -> bool {
        self.body.len() == 64 && self.body.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

/// A token vouching that `values` was previewed in `workspace_id`, good until `expires_at`,
/// signed with the servers' shared key.
pub fn preview_token(
    signer: &crate::cursor::CursorSigner,
    workspace_id: Uuid,
    values: &RuleValues,
    expires_at: DateTime<Utc>,
) -> Option<String> {
    signer.sign(
        PREVIEW_PURPOSE,
        &PreviewClaims {
            workspace_id,
            body: body_digest(values),
            expires_at,
        },
    )
}

/// The normalized body a token is bound to: the fields as they will be saved.
fn body_digest(values: &RuleValues) -> String {
    let body = serde_json::json!({
        "name": values.name,
        "match_expression": values.match_expression,
        "resource_ref": values.resource_ref,
        "managed_by": values.managed_by,
        "reason": values.reason,
        "enabled": values.enabled,
    });
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

fn as_input(values: &RuleValues) -> IgnoreRuleInput {
    IgnoreRuleInput {
        name: values.name.clone(),
        match_expression: values.match_expression.clone(),
        resource_ref: values.resource_ref.clone(),
        managed_by: values.managed_by.clone(),
        reason: values.reason.clone(),
        enabled: values.enabled,
    }
}

fn refused(message: &str) -> ApiError {
    ApiError::Validation {
        message: format!(
            "{message}: preview the rule first (POST /api/v1/ignore-rules/preview with the same \
             body) and send the token it returns in the X-Rule-Preview-Token header"
        ),
        details: None,
    }
}

/// Checks that the request carries a valid, unexpired preview token for exactly `values`
/// in `workspace_id`.
fn require_preview(
    state: &AppState,
    headers: &HeaderMap,
    workspace_id: Uuid,
    values: &RuleValues,
) -> ApiResult<()> {
    let mut tokens = headers.get_all(PREVIEW_TOKEN_HEADER).iter();
    let Some(token) = tokens.next() else {
        return Err(refused("a workspace rule is saved only after a preview"));
    };
    if tokens.next().is_some() {
        return Err(ApiError::BadRequest(String::from(
            "exactly one X-Rule-Preview-Token header is allowed",
        )));
    }
    let claims: PreviewClaims = token
        .to_str()
        .ok()
        .and_then(|token| state.cursors.verify(PREVIEW_PURPOSE, token))
        .ok_or_else(|| refused("the preview token is invalid"))?;
    if claims.workspace_id != workspace_id {
        return Err(refused("the preview token belongs to another workspace"));
    }
    if claims.expires_at < Utc::now() {
        return Err(refused("the preview token has expired"));
    }
    if claims.body != body_digest(values) {
        return Err(refused(
            "the preview token was made for a different rule body",
        ));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/ignore-rules", operation_id = "list_workspace_rules", tag = "rules", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace")), responses((status = 200, description = "the workspace's own rules, in the order applied after each application's (viewer)", body = Data<Vec<IgnoreRule>>), ReadErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
) -> ApiResult<Response> {
    principal
        .authorize(&state, workspace_id, Role::Viewer, "workspace")
        .await?;
    let rules = statesight_store::rules::list_workspace_rules(&state.pool, workspace_id).await?;
    Ok(Envelope::ok(rules).into_response())
}

#[utoipa::path(post, path = "/api/v1/ignore-rules/preview", operation_id = "preview_workspace_rule", tag = "rules", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace")), request_body = IgnoreRuleInput, responses((status = 200, description = "the open findings the rule would suppress, per application, and the token to save it with (admin)", body = Data<WorkspaceRulePreview>), WriteErrors))]
pub async fn preview(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    ApiJson(input): ApiJson<IgnoreRuleInput>,
) -> ApiResult<Response> {
    principal
        .authorize(&state, workspace_id, Role::Admin, "workspace")
        .await?;
    let values = validate::rule(&input)?;
    let compiled = as_engine_rule(&values)
        .compile()
        .map_err(|error| ApiError::Validation {
            message: format!("the rule cannot be used: {error}"),
            details: None,
        })?;
    let applications =
        statesight_store::incidents::open_findings_of_workspace(&state.pool, workspace_id).await?;
    let mut previews = Vec::new();
    for application in applications {
        let mut suppresses = Vec::new();
        let mut undecided = Vec::new();
        for finding in application.findings {
            let Ok(target) = MatchTarget::from_wire(&finding) else {
                continue;
            };
            match compiled.preview(&target, &application.default_namespace) {
                statesight_core::paths::Verdict::Match => suppresses.push(finding),
                statesight_core::paths::Verdict::DependsOnPosition => undecided.push(finding),
                statesight_core::paths::Verdict::NoMatch => {}
            }
        }
        if !suppresses.is_empty() || !undecided.is_empty() {
            previews.push(ApplicationRulePreview {
                application_id: application.application_id,
                application_name: application.name,
                suppresses,
                undecided,
            });
        }
    }
    let expires_at = Utc::now() + Duration::minutes(PREVIEW_LIFETIME_MINUTES);
    let token = preview_token(&state.cursors, workspace_id, &values, expires_at)
        .ok_or(ApiError::Internal)?;
    let preview = WorkspaceRulePreview {
        token,
        expires_at,
        rule: as_input(&values),
        suppresses_total: previews.iter().map(|app| app.suppresses.len()).sum(),
        applications: previews,
    };
    Ok(Envelope::ok(preview).into_response())
}

/// The rule as the engine compiles it, so the preview and the next analysis match alike.
fn as_engine_rule(values: &RuleValues) -> statesight_core::rules::IgnoreRule {
    statesight_core::rules::IgnoreRule {
        name: values.name.clone(),
        match_expression: values.match_expression.clone(),
        resource_ref: values.resource_ref.clone(),
        managed_by: values.managed_by.clone(),
        reason: values.reason.clone(),
        scope: statesight_core::wire::RuleScope::Workspace,
        order: 0,
        enabled: true,
    }
}

#[utoipa::path(post, path = "/api/v1/ignore-rules", operation_id = "create_workspace_rule", tag = "rules", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace"), ("X-Rule-Preview-Token" = String, Header, description = "the token of a preview of this exact body")), request_body = IgnoreRuleInput, responses((status = 201, description = "created (admin)", body = Data<IgnoreRule>), WriteErrors))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    headers: HeaderMap,
    ApiJson(input): ApiJson<IgnoreRuleInput>,
) -> ApiResult<Response> {
    principal
        .authorize(&state, workspace_id, Role::Admin, "workspace")
        .await?;
    let values = validate::rule(&input)?;
    require_preview(&state, &headers, workspace_id, &values)?;
    let rule = statesight_store::rules::create_workspace_rule(
        &state.pool,
        &principal.actor(),
        workspace_id,
        &values,
    )
    .await?;
    Ok(Envelope::ok(rule)
        .with_status(StatusCode::CREATED)
        .into_response())
}

async fn authorized_rule(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    needed: Role,
) -> ApiResult<IgnoreRule> {
    let rule = statesight_store::rules::get_workspace_rule(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("ignore rule"))?;
    principal
        .authorize(state, rule.workspace_id, needed, "ignore rule")
        .await?;
    Ok(rule)
}

async fn save(
    state: &AppState,
    principal: &Principal,
    current: &IgnoreRule,
    values: &RuleValues,
    action: &str,
) -> ApiResult<Response> {
    let rule = statesight_store::rules::update_workspace_rule(
        &state.pool,
        &principal.actor(),
        current.workspace_id,
        current.id,
        values,
        action,
    )
    .await?
    .ok_or(ApiError::NotFound("ignore rule"))?;
    Ok(Envelope::ok(rule).into_response())
}

#[utoipa::path(put, path = "/api/v1/ignore-rules/{id}", operation_id = "replace_workspace_rule", tag = "rules", params(("id" = Uuid, Path, description = "rule id"), ("X-Rule-Preview-Token" = String, Header, description = "the token of a preview of this exact body")), request_body = IgnoreRuleInput, responses((status = 200, description = "replaced (admin)", body = Data<IgnoreRule>), WriteErrors))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    headers: HeaderMap,
    ApiJson(input): ApiJson<IgnoreRuleInput>,
) -> ApiResult<Response> {
    let current = authorized_rule(&state, &principal, id, Role::Admin).await?;
    let values = validate::rule(&input)?;
    require_preview(&state, &headers, current.workspace_id, &values)?;
    save(&state, &principal, &current, &values, "ignore_rule.replace").await
}

#[utoipa::path(patch, path = "/api/v1/ignore-rules/{id}", operation_id = "patch_workspace_rule", tag = "rules", params(("id" = Uuid, Path, description = "rule id"), ("X-Rule-Preview-Token" = String, Header, description = "the token of a preview of the rule as it will be after the patch")), request_body = IgnoreRulePatch, responses((status = 200, description = "updated (admin)", body = Data<IgnoreRule>), WriteErrors))]
pub async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<IgnoreRulePatch>,
) -> ApiResult<Response> {
    let current = authorized_rule(&state, &principal, id, Role::Admin).await?;
    let values = validate::patched_rule(&current, &patch)?;
    require_preview(&state, &headers, current.workspace_id, &values)?;
    save(&state, &principal, &current, &values, "ignore_rule.patch").await
}

#[utoipa::path(delete, path = "/api/v1/ignore-rules/{id}", operation_id = "delete_workspace_rule", tag = "rules", params(("id" = Uuid, Path, description = "rule id")), responses((status = 204, description = "deleted (admin)"), WriteErrors))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    let current = authorized_rule(&state, &principal, id, Role::Admin).await?;
    let deleted = statesight_store::rules::delete_workspace_rule(
        &state.pool,
        &principal.actor(),
        current.workspace_id,
        id,
    )
    .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound("ignore rule"))
    }
}
