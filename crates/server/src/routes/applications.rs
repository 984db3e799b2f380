//! Applications: the list of a workspace and one application with its open incidents,
//! recent suppressions and applicable ignore rules.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::{Application, ApplicationDetail, Capped, Role};
use statesight_store::keyset::{ByName, ByTimeDesc};

use crate::auth::{Principal, WorkspaceScope};
use crate::error::{ApiError, ApiResult};
use crate::extract::{IdPath, RawQuery};
use crate::response::Envelope;
use crate::state::AppState;

/// How many items each embedded list of the detail shows before pointing at its route.
const EMBEDDED_CAP: i64 = 20;

pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByName>("applications")?;
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
        .ok_or_else(|| ApiError::not_found("application"))?;
    principal
        .authorize(state, application.workspace_id, needed, "application")
        .await?;
    Ok(application)
}

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

/// The rules that apply to an application in the worker's order (workspace rules marked
/// read-only). Rules are few per application, so this list is not paginated.
pub async fn ignore_rules(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    authorized_application(&state, &principal, id, Role::Viewer).await?;
    let rules = statesight_store::rules::applicable_to_application(&state.pool, id).await?;
    Ok(Envelope::ok(rules).into_response())
}

pub async fn suppressed_findings(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByTimeDesc>("suppressed_findings")?;
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
