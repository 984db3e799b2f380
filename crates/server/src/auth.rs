//! The one authorization path. Every operator route resolves a principal (who is calling),
//! derives the workspace (the `X-Workspace-ID` header for lists, the stored row otherwise)
//! and checks membership and role. Non-members get 404 so existence does not leak; members
//! without the role get 403.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use statesight_core::wire::Role;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, echo};
use crate::state::AppState;

/// The identity the demo mode signs everyone in as; the seed provisions it for the demo
/// user, so demo requests resolve through `user_identities` like any verified token.
pub use statesight_store::seed::{DEMO_ISSUER, DEMO_SUBJECT};

/// How callers are authenticated.
#[derive(Debug, Clone)]
pub enum Authenticator {
    /// `AUTH_REQUIRED=false`: every caller is the seeded demo identity.
    Demo,
    /// `AUTH_REQUIRED=true`. Bearer-token verification against the issuer's JWKS is not
    /// built yet, so every operator request is refused as unauthenticated.
    TokenRequired,
    /// A principal fixed by Rust code that builds the router (tests acting as viewer,
    /// editor, admin or non-member). No configuration, header or variable produces it.
    Injected(Principal),
}

/// A resolved caller: a local user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        match state.authenticator.as_ref() {
            Authenticator::Injected(principal) => Ok(*principal),
            Authenticator::Demo => {
                let user = statesight_store::access::user_for_identity(
                    &state.pool,
                    DEMO_ISSUER,
                    DEMO_SUBJECT,
                )
                .await?;
                match user {
                    Some(user_id) => Ok(Principal { user_id }),
                    None => Err(ApiError::IdentityNotProvisioned(String::from(
                        "demo mode is on but the demo user is not provisioned; run `make seed`",
                    ))),
                }
            }
            Authenticator::TokenRequired => Err(ApiError::Unauthenticated(String::from(
                "authentication is required (AUTH_REQUIRED=true) and bearer-token verification \
                 is not available in this build; for a local demo run the server on loopback \
                 with AUTH_REQUIRED=false",
            ))),
        }
    }
}

impl Principal {
    /// Checks that the caller holds at least `needed` in `workspace_id`. Returns their role.
    pub async fn authorize(
        &self,
        state: &AppState,
        workspace_id: Uuid,
        needed: Role,
        what: &'static str,
    ) -> ApiResult<Role> {
        let role =
            statesight_store::access::role_in_workspace(&state.pool, self.user_id, workspace_id)
                .await?;
        match role {
            None => Err(ApiError::NotFound(what)),
            Some(role) if role < needed => Err(ApiError::Forbidden(format!(
                "this needs the {needed} role in the workspace; you are {role}"
            ))),
            Some(role) => Ok(role),
        }
    }
}

/// The `X-Workspace-ID` header: the scope of list and create routes.
#[derive(Debug, Clone, Copy)]
pub struct WorkspaceScope(pub Uuid);

pub const WORKSPACE_HEADER: &str = "x-workspace-id";

impl<S: Send + Sync> FromRequestParts<S> for WorkspaceScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> ApiResult<Self> {
        let mut values = parts.headers.get_all(WORKSPACE_HEADER).iter();
        let Some(value) = values.next() else {
            return Err(ApiError::BadRequest(String::from(
                "the X-Workspace-ID header is required on this route: the id of a workspace \
                 you belong to (see GET /api/v1/me)",
            )));
        };
        // Two headers (or a proxy appending one) must not be resolved by picking one: the
        // scope of a request is never a guess.
        let count = 1 + values.count();
        if count > 1 {
            return Err(ApiError::BadRequest(format!(
                "exactly one X-Workspace-ID header is allowed; this request has {count}"
            )));
        }
        let text = value.to_str().map_err(|_| {
            ApiError::BadRequest(String::from("X-Workspace-ID must be a workspace UUID"))
        })?;
        let id = Uuid::parse_str(text.trim()).map_err(|_| {
            ApiError::BadRequest(format!(
                "X-Workspace-ID must be a workspace UUID, got {}",
                echo(text)
            ))
        })?;
        Ok(WorkspaceScope(id))
    }
}

impl Principal {
    /// The caller as the audit log records them, with this request's id.
    pub fn actor(&self) -> statesight_store::audit::Actor {
        statesight_store::audit::Actor {
            user_id: Some(self.user_id),
            request_id: crate::response::current_request_id(),
        }
    }
}
