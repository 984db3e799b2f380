//! Analysis runs: one run with its provenance, and the runs of an application.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::Role;
use statesight_store::keyset::ByTimeDesc;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{IdPath, RawQuery};
use crate::response::Envelope;
use crate::routes::applications::authorized_application;
use crate::state::AppState;

pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    let run = statesight_store::runs::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("analysis"))?;
    principal
        .authorize(&state, run.workspace_id, Role::Viewer, "analysis")
        .await?;
    Ok(Envelope::ok(run).into_response())
}

pub async fn list_for_application(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByTimeDesc>("analyses")?;
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
