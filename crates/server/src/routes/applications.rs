//! Applications: the list of a workspace and one application with its open incidents,
//! recent suppressions and applicable ignore rules.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::{
    Application, ApplicationDetail, ApplicationInput, Capped, Finding, Role, SuppressedFinding,
};
use statesight_store::keyset::{ByIncidentOrdinal, ByName, ByTimeDesc};

use crate::auth::{Principal, WorkspaceScope};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, IdPath, RawQuery};
use crate::openapi::{Data, PageParams, ReadErrors, WriteErrors};
use crate::response::Envelope;
use crate::state::AppState;

/// How many items each embedded list of the detail shows before pointing at its route.
const EMBEDDED_CAP: i64 = 20;

#[utoipa::path(get, path = "/api/v1/applications", operation_id = "list_applications", tag = "onboarding", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace to list or create in"), PageParams), responses((status = 200, description = "applications by name (viewer)", body = Data<Vec<Application>>), ReadErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByName>("applications", &state.cursors)?;
    principal
        .authorize(&state, workspace_id, Role::Viewer, "workspace")
        .await?;
    let page = statesight_store::applications::list(
        &state.pool,
        workspace_id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}

/// Loads an application and checks the caller may see it (404 otherwise).
pub(crate) async fn authorized_application(
    state: &AppState,
    principal: &Principal,
    id: uuid::Uuid,
    needed: Role,
) -> ApiResult<Application> {
    let application = statesight_store::applications::get(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    principal
        .authorize(state, application.workspace_id, needed, "application")
        .await?;
    Ok(application)
}

#[utoipa::path(get, path = "/api/v1/applications/{id}", operation_id = "get_application", tag = "onboarding", params(("id" = Uuid, Path, description = "application id")), responses((status = 200, description = "the application with open incidents, recent suppressions and applicable rules (viewer)", body = Data<ApplicationDetail>), ReadErrors))]
pub async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    let application = authorized_application(&state, &principal, id, Role::Viewer).await?;
    let pool = &state.pool;
    let (incidents, incident_total) =
        statesight_store::incidents::open_for_application(pool, id, EMBEDDED_CAP).await?;
    let suppressions =
        statesight_store::incidents::suppressions(pool, id, None, EMBEDDED_CAP).await?;
    let suppression_total = statesight_store::incidents::count_suppressions(pool, id).await?;
    let rules = statesight_store::rules::applicable_to_application(pool, id).await?;
    let rule_total = i64::try_from(rules.len()).unwrap_or(i64::MAX);
    Ok(Envelope::ok(ApplicationDetail {
        open_incidents: capped(
            incidents,
            incident_total,
            format!("/api/v1/incidents?application_id={id}&status=open"),
        ),
        recent_suppressions: capped(
            suppressions.items,
            suppression_total,
            format!("/api/v1/applications/{id}/suppressed-findings"),
        ),
        ignore_rules: capped(
            rules.into_iter().take(EMBEDDED_CAP as usize).collect(),
            rule_total,
            format!("/api/v1/applications/{id}/ignore-rules"),
        ),
        application,
    })
    .into_response())
}

fn capped<T>(items: Vec<T>, total: i64, href: String) -> Capped<T> {
    let shown = i64::try_from(items.len()).unwrap_or(i64::MAX);
    Capped {
        truncated: total > shown,
        items,
        total,
        href,
    }
}

#[utoipa::path(get, path = "/api/v1/applications/{id}/suppressed-findings", operation_id = "list_suppressed_findings", tag = "rules", params(("id" = Uuid, Path, description = "application id"), PageParams), responses((status = 200, description = "suppressed findings, newest first (viewer)", body = Data<Vec<SuppressedFinding>>), ReadErrors))]
pub async fn suppressed_findings(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByTimeDesc>("suppressed_findings", &state.cursors)?;
    authorized_application(&state, &principal, id, Role::Viewer).await?;
    let page = statesight_store::incidents::suppressions(
        &state.pool,
        id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}

/// Every open incident's current findings in one list, so a client can try an ignore rule
/// against all of them (the console's rule preview) without a request per incident.
#[utoipa::path(get, path = "/api/v1/applications/{id}/findings", operation_id = "list_application_findings", tag = "incidents", params(("id" = Uuid, Path, description = "application id"), PageParams), responses((status = 200, description = "findings of the latest observation of each open incident, as the incident's findings route lists them; grouped by incident id, then in report order (viewer)", body = Data<Vec<Finding>>), ReadErrors))]
pub async fn open_findings(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByIncidentOrdinal>("application_findings", &state.cursors)?;
    authorized_application(&state, &principal, id, Role::Viewer).await?;
    let page = statesight_store::incidents::open_findings_of_application(
        &state.pool,
        id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}

/// Checks that the cluster and source named in a body belong to `workspace_id`; a 422
/// that says which one does not (the database refuses it too).
async fn check_references(
    state: &AppState,
    workspace_id: uuid::Uuid,
    input: &ApplicationInput,
) -> ApiResult<()> {
    let cluster = statesight_store::onboarding::get_cluster(&state.pool, input.cluster_id).await?;
    if cluster.is_none_or(|cluster| cluster.workspace_id != workspace_id) {
        return Err(ApiError::invalid_field(
            "cluster_id",
            format!(
                "cluster_id {} is not a cluster of this workspace",
                input.cluster_id
            ),
            Some("is not a cluster of this workspace"),
        ));
    }
    let source = statesight_store::onboarding::get_source(&state.pool, input.source_id).await?;
    if source.is_none_or(|source| source.workspace_id != workspace_id) {
        return Err(ApiError::invalid_field(
            "source_id",
            format!(
                "source_id {} is not a source of this workspace",
                input.source_id
            ),
            Some("is not a source of this workspace"),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/applications", operation_id = "create_application", tag = "onboarding", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace to list or create in")), request_body = ApplicationInput, responses((status = 201, description = "created (admin); cluster and source must belong to the workspace", body = Data<Application>), WriteErrors))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    ApiJson(input): ApiJson<ApplicationInput>,
) -> ApiResult<Response> {
    principal
        .authorize(&state, workspace_id, Role::Admin, "workspace")
        .await?;
    let values = crate::validate::application(&input)?;
    check_references(&state, workspace_id, &input).await?;
    let id = statesight_store::onboarding::create_application(
        &state.pool,
        &principal.actor(),
        workspace_id,
        &values,
    )
    .await?;
    let application = statesight_store::applications::get(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    Ok(Envelope::ok(application)
        .with_status(axum::http::StatusCode::CREATED)
        .into_response())
}

#[utoipa::path(put, path = "/api/v1/applications/{id}", operation_id = "replace_application", tag = "onboarding", params(("id" = Uuid, Path, description = "application id")), request_body = ApplicationInput, responses((status = 200, description = "replaced (admin)", body = Data<Application>), WriteErrors))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<ApplicationInput>,
) -> ApiResult<Response> {
    let current = authorized_application(&state, &principal, id, Role::Admin).await?;
    let values = crate::validate::application(&input)?;
    check_references(&state, current.workspace_id, &input).await?;
    let updated = statesight_store::onboarding::update_application(
        &state.pool,
        &principal.actor(),
        id,
        &values,
    )
    .await?;
    if !updated {
        return Err(ApiError::NotFound("application"));
    }
    let application = statesight_store::applications::get(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("application"))?;
    Ok(Envelope::ok(application).into_response())
}

#[utoipa::path(delete, path = "/api/v1/applications/{id}", operation_id = "delete_application", tag = "onboarding", params(("id" = Uuid, Path, description = "application id")), responses((status = 204, description = "deleted with its runs, incidents and rules (admin)"), WriteErrors))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    authorized_application(&state, &principal, id, Role::Admin).await?;
    match statesight_store::onboarding::delete_application(&state.pool, &principal.actor(), id)
        .await?
    {
        statesight_store::onboarding::Deleted::Yes => {
            Ok(axum::http::StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(ApiError::NotFound("application")),
    }
}
