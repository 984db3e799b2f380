//! The one authorization path. Every operator route resolves a principal (who is calling),
//! derives the workspace (the `X-Workspace-ID` header for lists, the stored row otherwise)
//! and checks membership and role. Non-members get 404 so existence does not leak; members
//! without the role get 403.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use statesight_core::wire::Role;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, Unavailable, echo};
use crate::oidc::{OidcVerifier, TokenError, VerifiedIdentity};
use crate::state::AppState;

use statesight_store::audit::Identity;
/// The identity the demo mode signs everyone in as; the seed provisions it for the demo
/// user, so demo requests resolve through `user_identities` like any verified token.
pub use statesight_store::seed::{DEMO_ISSUER, DEMO_SUBJECT};

/// How callers are authenticated.
#[derive(Debug, Clone)]
pub enum Authenticator {
    /// `AUTH_REQUIRED=false`: every caller is the seeded demo identity.
    Demo,
    /// `AUTH_REQUIRED=true`: a bearer access token verified against the OpenID provider,
    /// whose `(iss, sub)` must be provisioned in `user_identities`.
    Oidc(Arc<OidcVerifier>),
    /// A principal fixed by Rust code that builds the router (tests acting as viewer,
    /// editor, admin or non-member). No configuration, header or variable produces it.
    Injected(Principal),
}

/// A resolved caller: a local user, and the identity that signed in as them (what the audit
/// log records, so it stays readable after the user is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub identity: Option<Identity>,
    /// When the credentials that resolved this caller expire (a bearer token's `exp`);
    /// `None` for the demo identity and injected principals, which do not expire.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Principal {
    /// A local user with no sign-in identity: what tests inject.
    pub fn user(user_id: Uuid) -> Principal {
        Principal {
            user_id,
            identity: None,
            expires_at: None,
        }
    }

    /// The same caller, whose credentials expire at `expires_at` (tests of long-lived
    /// answers that end with the credentials).
    pub fn expiring_at(mut self, expires_at: chrono::DateTime<chrono::Utc>) -> Principal {
        self.expires_at = Some(expires_at);
        self
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        match state.authenticator.as_ref() {
            Authenticator::Injected(principal) => Ok(principal.clone()),
            Authenticator::Demo => {
                let user = statesight_store::access::user_for_identity(
                    &state.pool,
                    DEMO_ISSUER,
                    DEMO_SUBJECT,
                )
                .await?;
                match user {
                    Some(user_id) => Ok(Principal {
                        user_id,
                        identity: Some(Identity {
                            issuer: String::from(DEMO_ISSUER),
                            subject: String::from(DEMO_SUBJECT),
                        }),
                        expires_at: None,
                    }),
                    None => Err(ApiError::IdentityNotProvisioned(String::from(
                        "demo mode is on but the demo user is not provisioned; run `make seed`",
                    ))),
                }
            }
            Authenticator::Oidc(verifier) => {
                let token = bearer_token(&parts.headers)?;
                let identity = verifier.verify(token).await.map_err(|error| match error {
                    TokenError::KeysUnavailable => {
                        ApiError::Unavailable(Unavailable::IdentityProvider)
                    }
                    error => ApiError::InvalidToken(error.to_string()),
                })?;
                principal_for(state, &identity).await
            }
        }
    }
}

/// The local user a verified identity was provisioned as.
async fn principal_for(state: &AppState, identity: &VerifiedIdentity) -> ApiResult<Principal> {
    let user = statesight_store::access::user_for_identity(
        &state.pool,
        &identity.issuer,
        &identity.subject,
    )
    .await?;
    match user {
        Some(user_id) => Ok(Principal {
            user_id,
            identity: Some(Identity {
                issuer: identity.issuer.clone(),
                subject: identity.subject.clone(),
            }),
            expires_at: chrono::DateTime::from_timestamp(identity.expires_at, 0),
        }),
        None => Err(ApiError::IdentityNotProvisioned(format!(
            "your identity (issuer {}, subject {}) is not provisioned in StateSight; ask an \
             operator to map it to a user: statesight-server admin identity add --issuer \
             <issuer> --subject <subject> --user <email> (docs/authentication.md)",
            echo(&identity.issuer),
            echo(&identity.subject),
        ))),
    }
}

/// The token of the one `Authorization: Bearer …` header.
fn bearer_token(headers: &HeaderMap) -> ApiResult<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(ApiError::Unauthenticated(String::from(
            "this route needs a bearer access token (Authorization: Bearer <token>); \
             `statesight-tui auth login` signs in, and GET /api/v1/auth/config names the \
             provider",
        )));
    };
    if values.next().is_some() {
        return Err(ApiError::BadRequest(String::from(
            "exactly one Authorization header is allowed",
        )));
    }
    // Never echo the header: it is a credential.
    let text = value.to_str().map_err(|_| {
        ApiError::InvalidToken(String::from(
            "the Authorization header is not printable ASCII",
        ))
    })?;
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthenticated(String::from(
            "only bearer tokens are accepted: send Authorization: Bearer <access token>",
        )));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::InvalidToken(String::from(
            "the Authorization header holds no token after Bearer",
        )));
    }
    Ok(token)
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
            identity: self.identity.clone(),
        }
    }
}
