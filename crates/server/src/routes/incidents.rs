//! Incidents of a workspace, one incident, and the findings of its latest observation.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::{Finding, Incident, IncidentStatus, Role, TimelineEvent};
use statesight_store::incidents::IncidentFilter;
use statesight_store::keyset::{ByOrdinal, ByTimeAsc, ByTimeDesc};

use crate::auth::{Principal, WorkspaceScope};
use crate::error::{ApiError, ApiResult};
use crate::extract::{IdPath, RawQuery};
use crate::openapi::{Data, PageParams, ReadErrors};
use crate::response::Envelope;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/incidents", operation_id = "list_incidents", tag = "incidents", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace to list or create in"), ("application_id" = Option<Uuid>, Query, description = "only this application"), ("status" = Option<IncidentStatus>, Query, description = "only incidents with this status"), PageParams), responses((status = 200, description = "incidents, most recently seen first (viewer)", body = Data<Vec<Incident>>), ReadErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByTimeDesc>("incidents", &state.cursors)?;
    let filter = IncidentFilter {
        application_id: query.uuid("application_id")?,
        status: query.one_of::<IncidentStatus>("status")?,
    };
    principal
        .authorize(&state, workspace_id, Role::Viewer, "workspace")
        .await?;
    let page = statesight_store::incidents::list(
        &state.pool,
        workspace_id,
        &filter,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}

async fn authorized_incident(
    state: &AppState,
    principal: &Principal,
    id: uuid::Uuid,
) -> ApiResult<Incident> {
    let incident = statesight_store::incidents::get(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("incident"))?;
    principal
        .authorize(state, incident.workspace_id, Role::Viewer, "incident")
        .await?;
    Ok(incident)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", operation_id = "get_incident", tag = "incidents", params(("id" = Uuid, Path, description = "incident id")), responses((status = 200, description = "the incident (viewer)", body = Data<Incident>), ReadErrors))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    let incident = authorized_incident(&state, &principal, id).await?;
    Ok(Envelope::ok(incident).into_response())
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/findings", operation_id = "list_incident_findings", tag = "incidents", params(("id" = Uuid, Path, description = "incident id"), PageParams), responses((status = 200, description = "findings of the latest observation with evidence (viewer)", body = Data<Vec<Finding>>), ReadErrors))]
pub async fn findings(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByOrdinal>("findings", &state.cursors)?;
    authorized_incident(&state, &principal, id).await?;
    let page =
        statesight_store::incidents::findings(&state.pool, id, paging.after.as_ref(), paging.limit)
            .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", operation_id = "get_incident_timeline", tag = "incidents", params(("id" = Uuid, Path, description = "incident id"), PageParams), responses((status = 200, description = "what happened, in time order: Git revisions analysed, managedFields times as the cluster recorded them, first seen, re-observations, suppressions, resolution (viewer)", body = Data<Vec<TimelineEvent>>), ReadErrors))]
pub async fn timeline(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByTimeAsc>("timeline", &state.cursors)?;
    authorized_incident(&state, &principal, id).await?;
    let page =
        statesight_store::incidents::timeline(&state.pool, id, paging.after.as_ref(), paging.limit)
            .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}
