//! The operator audit log of a workspace, for its admins: who changed what, newest first,
//! each entry with what its place in the hash chain rests on.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::{AuditEntry, Role};
use statesight_store::keyset::BySeqDesc;

use crate::auth::{Principal, WorkspaceScope};
use crate::error::ApiResult;
use crate::extract::RawQuery;
use crate::openapi::{Data, PageParams, ReadErrors};
use crate::response::Envelope;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit_entries", tag = "audit", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace whose entries to list"), PageParams), responses((status = 200, description = "the workspace's audit entries, newest first, each with its hash-chain proof (admin)", body = Data<Vec<AuditEntry>>), ReadErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<BySeqDesc>("audit", &state.cursors)?;
    principal
        .authorize(&state, workspace_id, Role::Admin, "workspace")
        .await?;
    let page = statesight_store::audit::page(
        &state.pool,
        workspace_id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}
