//! Sources: the Git repository, ref and path holding desired state. Viewers list and read;
//! admins create, replace and delete (refused with 409 while applications use the source).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::{Role, Source, SourceInput};
use statesight_store::keyset::ByName;
use statesight_store::onboarding::{self, Deleted};

use crate::auth::{Principal, WorkspaceScope};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, IdPath, RawQuery};
use crate::openapi::{Data, PageParams, ReadErrors, WriteErrors};
use crate::response::Envelope;
use crate::state::AppState;
use crate::validate;

#[utoipa::path(get, path = "/api/v1/sources", operation_id = "list_sources", tag = "onboarding", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace to list or create in"), PageParams), responses((status = 200, description = "sources by name (viewer)", body = Data<Vec<Source>>), ReadErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByName>("sources", &state.cursors)?;
    principal
        .authorize(&state, workspace_id, Role::Viewer, "workspace")
        .await?;
    let page = onboarding::list_sources(
        &state.pool,
        workspace_id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}

#[utoipa::path(post, path = "/api/v1/sources", operation_id = "create_source", tag = "onboarding", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace to list or create in")), request_body = SourceInput, responses((status = 201, description = "created (admin)", body = Data<Source>), WriteErrors))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    ApiJson(input): ApiJson<SourceInput>,
) -> ApiResult<Response> {
    principal
        .authorize(&state, workspace_id, Role::Admin, "workspace")
        .await?;
    let values = validate::source_definition(&input, &state.inputs)?;
    let source =
        onboarding::create_source(&state.pool, &principal.actor(), workspace_id, &values).await?;
    Ok(Envelope::ok(source)
        .with_status(StatusCode::CREATED)
        .into_response())
}

async fn authorized(
    state: &AppState,
    principal: &Principal,
    id: uuid::Uuid,
    needed: Role,
) -> ApiResult<Source> {
    let source = onboarding::get_source(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("source"))?;
    principal
        .authorize(state, source.workspace_id, needed, "source")
        .await?;
    Ok(source)
}

#[utoipa::path(get, path = "/api/v1/sources/{id}", operation_id = "get_source", tag = "onboarding", params(("id" = Uuid, Path, description = "source id")), responses((status = 200, description = "the source (viewer)", body = Data<Source>), ReadErrors))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    let source = authorized(&state, &principal, id, Role::Viewer).await?;
    Ok(Envelope::ok(source).into_response())
}

#[utoipa::path(put, path = "/api/v1/sources/{id}", operation_id = "replace_source", tag = "onboarding", params(("id" = Uuid, Path, description = "source id")), request_body = SourceInput, responses((status = 200, description = "replaced (admin)", body = Data<Source>), WriteErrors))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<SourceInput>,
) -> ApiResult<Response> {
    authorized(&state, &principal, id, Role::Admin).await?;
    let values = validate::source_definition(&input, &state.inputs)?;
    let source = onboarding::update_source(&state.pool, &principal.actor(), id, &values)
        .await?
        .ok_or(ApiError::NotFound("source"))?;
    Ok(Envelope::ok(source).into_response())
}

#[utoipa::path(delete, path = "/api/v1/sources/{id}", operation_id = "delete_source", tag = "onboarding", params(("id" = Uuid, Path, description = "source id")), responses((status = 204, description = "deleted (admin); 409 while applications use it"), WriteErrors))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    authorized(&state, &principal, id, Role::Admin).await?;
    match onboarding::delete_source(&state.pool, &principal.actor(), id).await? {
        Deleted::Yes => Ok(StatusCode::NO_CONTENT.into_response()),
        Deleted::NotFound => Err(ApiError::NotFound("source")),
        Deleted::Referenced(references) => Err(ApiError::referenced("source", references)),
    }
}
