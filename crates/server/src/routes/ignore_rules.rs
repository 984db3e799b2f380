//! Ignore rules of an application. Viewers list them (with the inherited workspace rules,
//! read-only, in the order the worker applies them); editors create, replace, patch and
//! delete application rules. Changes affect only future analyses: suppressed-finding
//! records keep the rule's name and reason as they were.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::{IgnoreRule, IgnoreRuleInput, IgnoreRulePatch, Role};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, IdPair, IdPath};
use crate::openapi::{Data, ReadErrors, WriteErrors};
use crate::response::Envelope;
use crate::routes::applications::authorized_application;
use crate::state::AppState;
use crate::validate;

/// Rules are few per application, so this list is not paginated.
#[utoipa::path(get, path = "/api/v1/applications/{id}/ignore-rules", operation_id = "list_ignore_rules", tag = "rules", params(("id" = Uuid, Path, description = "application id")), responses((status = 200, description = "application rules then inherited workspace rules (read_only), in the order applied (viewer)", body = Data<Vec<IgnoreRule>>), ReadErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    authorized_application(&state, &principal, id, Role::Viewer).await?;
    let rules = statesight_store::rules::applicable_to_application(&state.pool, id).await?;
    Ok(Envelope::ok(rules).into_response())
}

#[utoipa::path(post, path = "/api/v1/applications/{id}/ignore-rules", operation_id = "create_ignore_rule", tag = "rules", params(("id" = Uuid, Path, description = "application id")), request_body = IgnoreRuleInput, responses((status = 201, description = "created (editor)", body = Data<IgnoreRule>), WriteErrors))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<IgnoreRuleInput>,
) -> ApiResult<Response> {
    let application = authorized_application(&state, &principal, id, Role::Editor).await?;
    let values = validate::rule(&input)?;
    let rule = statesight_store::rules::create_application_rule(
        &state.pool,
        &principal.actor(),
        application.workspace_id,
        id,
        &values,
    )
    .await?;
    Ok(Envelope::ok(rule)
        .with_status(StatusCode::CREATED)
        .into_response())
}

#[utoipa::path(put, path = "/api/v1/applications/{id}/ignore-rules/{rule_id}", operation_id = "replace_ignore_rule", tag = "rules", params(("id" = Uuid, Path, description = "application id"), ("rule_id" = Uuid, Path, description = "rule id")), request_body = IgnoreRuleInput, responses((status = 200, description = "replaced (editor)", body = Data<IgnoreRule>), WriteErrors))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    IdPair(id, rule_id): IdPair,
    ApiJson(input): ApiJson<IgnoreRuleInput>,
) -> ApiResult<Response> {
    authorized_application(&state, &principal, id, Role::Editor).await?;
    let values = validate::rule(&input)?;
    let rule = statesight_store::rules::update_application_rule(
        &state.pool,
        &principal.actor(),
        id,
        rule_id,
        &values,
        "ignore_rule.replace",
    )
    .await?
    .ok_or(ApiError::NotFound("ignore rule"))?;
    Ok(Envelope::ok(rule).into_response())
}

#[utoipa::path(patch, path = "/api/v1/applications/{id}/ignore-rules/{rule_id}", operation_id = "patch_ignore_rule", tag = "rules", params(("id" = Uuid, Path, description = "application id"), ("rule_id" = Uuid, Path, description = "rule id")), request_body = IgnoreRulePatch, responses((status = 200, description = "updated (editor)", body = Data<IgnoreRule>), WriteErrors))]
pub async fn patch(
    State(state): State<AppState>,
    principal: Principal,
    IdPair(id, rule_id): IdPair,
    ApiJson(patch): ApiJson<IgnoreRulePatch>,
) -> ApiResult<Response> {
    authorized_application(&state, &principal, id, Role::Editor).await?;
    let current = statesight_store::rules::get_application_rule(&state.pool, id, rule_id)
        .await?
        .ok_or(ApiError::NotFound("ignore rule"))?;
    let values = validate::patched_rule(&current, &patch)?;
    let rule = statesight_store::rules::update_application_rule(
        &state.pool,
        &principal.actor(),
        id,
        rule_id,
        &values,
        "ignore_rule.patch",
    )
    .await?
    .ok_or(ApiError::NotFound("ignore rule"))?;
    Ok(Envelope::ok(rule).into_response())
}

#[utoipa::path(delete, path = "/api/v1/applications/{id}/ignore-rules/{rule_id}", operation_id = "delete_ignore_rule", tag = "rules", params(("id" = Uuid, Path, description = "application id"), ("rule_id" = Uuid, Path, description = "rule id")), responses((status = 204, description = "deleted (editor)"), WriteErrors))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    IdPair(id, rule_id): IdPair,
) -> ApiResult<Response> {
    authorized_application(&state, &principal, id, Role::Editor).await?;
    let deleted = statesight_store::rules::delete_application_rule(
        &state.pool,
        &principal.actor(),
        id,
        rule_id,
    )
    .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound("ignore rule"))
    }
}
