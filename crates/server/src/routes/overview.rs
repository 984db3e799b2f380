//! `GET /api/v1/overview`: one workspace at a glance.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::{Overview, Role, WorkspaceAccess};

use crate::auth::{Principal, WorkspaceScope};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Data, ReadErrors};
use crate::response::Envelope;
use crate::state::AppState;

const TOP_INCIDENTS: i64 = 5;
const RECENT_RUNS: i64 = 5;

#[utoipa::path(get, path = "/api/v1/overview", operation_id = "get_overview", tag = "incidents", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace to list or create in")), responses((status = 200, description = "the workspace at a glance", body = Data<Overview>), ReadErrors))]
pub async fn overview(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
) -> ApiResult<Response> {
    let role = principal
        .authorize(&state, workspace_id, Role::Viewer, "workspace")
        .await?;
    let pool = &state.pool;
    let name = statesight_store::access::workspace_name(pool, workspace_id)
        .await?
        .ok_or(ApiError::NotFound("workspace"))?;
    let counts = statesight_store::overview::counts(pool, workspace_id).await?;
    let top_incidents =
        statesight_store::incidents::top_open(pool, workspace_id, TOP_INCIDENTS).await?;
    let recent_runs =
        statesight_store::runs::recent_in_workspace(pool, workspace_id, RECENT_RUNS).await?;
    Ok(Envelope::ok(Overview {
        workspace: WorkspaceAccess {
            id: workspace_id,
            name,
            role,
        },
        applications: counts.applications,
        clusters: counts.clusters,
        sources: counts.sources,
        open_incidents: counts.open_incidents,
        runs: counts.runs,
        top_incidents,
        recent_runs,
    })
    .into_response())
}
