//! Analysis runs: one run with its provenance, and the runs of an application.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::{AnalysisRun, AnalyzeRequest, Role, RunTrigger};
use statesight_store::keyset::ByTimeDesc;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IdPath, RawQuery};
use crate::openapi::{Data, PageParams, ReadErrors, WriteErrors};
use crate::response::Envelope;
use crate::routes::applications::authorized_application;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/analyses/{id}", operation_id = "get_analysis", tag = "analysis", params(("id" = Uuid, Path, description = "analysis run id")), responses((status = 200, description = "the run with its provenance (viewer)", body = Data<AnalysisRun>), ReadErrors))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    let run = statesight_store::runs::get(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("analysis"))?;
    principal
        .authorize(&state, run.workspace_id, Role::Viewer, "analysis")
        .await?;
    Ok(Envelope::ok(run).into_response())
}

#[utoipa::path(get, path = "/api/v1/applications/{id}/analyses", operation_id = "list_analyses", tag = "analysis", params(("id" = Uuid, Path, description = "application id"), PageParams), responses((status = 200, description = "runs, newest first (viewer)", body = Data<Vec<AnalysisRun>>), ReadErrors))]
pub async fn list_for_application(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByTimeDesc>("analyses", &state.cursors)?;
    authorized_application(&state, &principal, id, Role::Viewer).await?;
    let page = statesight_store::runs::list_for_application(
        &state.pool,
        id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}

/// Records an analysis request: 202 with a new run, 200 with the run already queued or
/// running for the same target (or the queued follow-up, retargeted to the newest
/// revision asked for).
#[utoipa::path(post, path = "/api/v1/applications/{id}/analyze", operation_id = "analyze_application", tag = "analysis", params(("id" = Uuid, Path, description = "application id")), request_body(content = Option<AnalyzeRequest>, description = "optional: no body, `null` or `{}` analyse the source's ref; `{\"revision\": \"<sha or ref>\"}` another revision"), responses((status = 202, description = "a new run was queued (editor)", body = Data<AnalysisRun>), (status = 200, description = "a run for that target is already queued or running, or the queued follow-up now targets this revision (editor)", body = Data<AnalysisRun>), WriteErrors))]
pub async fn analyze(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    crate::extract::OptionalJson(request): crate::extract::OptionalJson<
        statesight_core::wire::AnalyzeRequest,
    >,
) -> ApiResult<Response> {
    authorized_application(&state, &principal, id, Role::Editor).await?;
    let revision = crate::validate::revision(request.revision.as_deref())?;
    use statesight_store::runs::AnalysisRequest;
    match statesight_store::runs::request_analysis(
        &state.pool,
        &state.queue,
        &principal.actor(),
        id,
        revision,
        RunTrigger::Manual,
    )
    .await?
    {
        AnalysisRequest::Created(run) => Ok(Envelope::ok(run)
            .with_status(axum::http::StatusCode::ACCEPTED)
            .into_response()),
        AnalysisRequest::Existing(run) | AnalysisRequest::Coalesced(run) => {
            Ok(Envelope::ok(run).into_response())
        }
        AnalysisRequest::NoApplication => Err(ApiError::NotFound("application")),
    }
}
