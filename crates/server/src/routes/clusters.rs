//! Clusters: how the worker reads a cluster's live state. Viewers list and read; admins
//! create, replace and delete (refused with 409 while applications use the cluster).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::{Cluster, ClusterInput, Role};
use statesight_store::keyset::ByName;
use statesight_store::onboarding::{self, Deleted};

use crate::auth::{Principal, WorkspaceScope};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, IdPath, RawQuery};
use crate::openapi::{Data, PageParams, ReadErrors, WriteErrors};
use crate::response::Envelope;
use crate::state::AppState;
use crate::validate;

#[utoipa::path(get, path = "/api/v1/clusters", operation_id = "list_clusters", tag = "onboarding", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace to list or create in"), PageParams), responses((status = 200, description = "clusters by name (viewer)", body = Data<Vec<Cluster>>), ReadErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByName>("clusters", &state.cursors)?;
    principal
        .authorize(&state, workspace_id, Role::Viewer, "workspace")
        .await?;
    let page = onboarding::list_clusters(
        &state.pool,
        workspace_id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}

#[utoipa::path(post, path = "/api/v1/clusters", operation_id = "create_cluster", tag = "onboarding", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace to list or create in")), request_body = ClusterInput, responses((status = 201, description = "created (admin)", body = Data<Cluster>), WriteErrors))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    ApiJson(input): ApiJson<ClusterInput>,
) -> ApiResult<Response> {
    principal
        .authorize(&state, workspace_id, Role::Admin, "workspace")
        .await?;
    let values = validate::cluster(&input, &state.inputs)?;
    let cluster =
        onboarding::create_cluster(&state.pool, &principal.actor(), workspace_id, &values).await?;
    Ok(Envelope::ok(cluster)
        .with_status(StatusCode::CREATED)
        .into_response())
}

async fn authorized(
    state: &AppState,
    principal: &Principal,
    id: uuid::Uuid,
    needed: Role,
) -> ApiResult<Cluster> {
    let cluster = onboarding::get_cluster(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("cluster"))?;
    principal
        .authorize(state, cluster.workspace_id, needed, "cluster")
        .await?;
    Ok(cluster)
}

#[utoipa::path(get, path = "/api/v1/clusters/{id}", operation_id = "get_cluster", tag = "onboarding", params(("id" = Uuid, Path, description = "cluster id")), responses((status = 200, description = "the cluster (viewer)", body = Data<Cluster>), ReadErrors))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    let cluster = authorized(&state, &principal, id, Role::Viewer).await?;
    Ok(Envelope::ok(cluster).into_response())
}

#[utoipa::path(put, path = "/api/v1/clusters/{id}", operation_id = "replace_cluster", tag = "onboarding", params(("id" = Uuid, Path, description = "cluster id")), request_body = ClusterInput, responses((status = 200, description = "replaced (admin)", body = Data<Cluster>), WriteErrors))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<ClusterInput>,
) -> ApiResult<Response> {
    authorized(&state, &principal, id, Role::Admin).await?;
    let values = validate::cluster(&input, &state.inputs)?;
    let cluster = onboarding::update_cluster(&state.pool, &principal.actor(), id, &values)
        .await?
        .ok_or(ApiError::NotFound("cluster"))?;
    Ok(Envelope::ok(cluster).into_response())
}

#[utoipa::path(delete, path = "/api/v1/clusters/{id}", operation_id = "delete_cluster", tag = "onboarding", params(("id" = Uuid, Path, description = "cluster id")), responses((status = 204, description = "deleted (admin); 409 while applications use it"), WriteErrors))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    authorized(&state, &principal, id, Role::Admin).await?;
    match onboarding::delete_cluster(&state.pool, &principal.actor(), id).await? {
        Deleted::Yes => Ok(StatusCode::NO_CONTENT.into_response()),
        Deleted::NotFound => Err(ApiError::NotFound("cluster")),
        Deleted::Referenced(references) => Err(ApiError::referenced("cluster", references)),
    }
}
