//! Who the caller is and which workspaces they can see.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::openapi::{Data, ReadErrors};
use crate::response::Envelope;
use crate::state::{AppState, PublicAuthConfig};
use statesight_core::wire::Me;

#[utoipa::path(get, path = "/api/v1/me", operation_id = "get_me", tag = "identity", responses((status = 200, description = "the caller and their workspaces", body = Data<Me>), ReadErrors))]
pub async fn me(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    let me = statesight_store::access::me(&state.pool, principal.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::Unauthenticated(String::from("the signed-in user no longer exists"))
        })?;
    Ok(Envelope::ok(me).into_response())
}

/// Public: what a client needs to start signing in.
#[utoipa::path(get, path = "/api/v1/auth/config", operation_id = "get_auth_config", tag = "identity", security(()), responses((status = 200, description = "how to sign in", body = Data<PublicAuthConfig>)))]
pub async fn auth_config(State(state): State<AppState>) -> Response {
    Envelope::ok(state.public.as_ref().clone()).into_response()
}
