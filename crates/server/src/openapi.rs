//! The OpenAPI document, generated from the handlers' annotations: routes are registered
//! once, through `utoipa_axum`, so a route cannot exist without its documentation. This
//! module holds the document's frame and the schemas of the envelope and errors.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "StateSight API",
        description = "GitOps forensic console: desired state in Git against live cluster state, \
                       drift explained field by field with evidence. Every operator route needs \
                       a bearer token unless the server runs in demo mode. Lists take `limit` \
                       (1–500, default 50) and `cursor` and answer `meta.next_cursor`.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "health", description = "Liveness, readiness, metrics (public)"),
        (name = "identity", description = "Who is calling"),
        (name = "onboarding", description = "Clusters, sources and applications"),
        (name = "analysis", description = "Analysis runs"),
        (name = "incidents", description = "Incidents and their findings"),
        (name = "rules", description = "Ignore rules"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(Serialize, ToSchema)]
pub struct Meta {
    pub request_id: String,
    /// Present on list pages that have a next page.
    pub next_cursor: Option<String>,
}

/// The success envelope.
#[derive(Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
    pub meta: Meta,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code: `bad_request`, `validation_failed`, `not_found`,
    /// `forbidden`, `unauthenticated`, `identity_not_provisioned`, `conflict`,
    /// `payload_too_large`, `unsupported_media_type`, `unavailable`, `internal`.
    pub code: String,
    pub message: String,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// The error envelope.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    pub meta: Meta,
}

/// Errors every operator read route can answer.
#[derive(IntoResponses)]
#[allow(dead_code, reason = "documentation only")]
pub enum ReadErrors {
    #[response(
        status = 400,
        description = "bad_request: malformed id, header, query parameter or cursor"
    )]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "unauthenticated: no valid bearer token")]
    Unauthenticated(ErrorBody),
    #[response(
        status = 403,
        description = "identity_not_provisioned: the identity maps to no user"
    )]
    Forbidden(ErrorBody),
    #[response(
        status = 404,
        description = "not_found: no such row, or not a member of its workspace"
    )]
    NotFound(ErrorBody),
    #[response(
        status = 503,
        description = "unavailable: the database or Redis is unreachable"
    )]
    Unavailable(ErrorBody),
}

/// Errors every state-changing route can answer, besides those of reads.
#[derive(IntoResponses)]
#[allow(dead_code, reason = "documentation only")]
pub enum WriteErrors {
    #[response(
        status = 400,
        description = "bad_request: malformed JSON, id or header"
    )]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "unauthenticated: no valid bearer token")]
    Unauthenticated(ErrorBody),
    #[response(
        status = 403,
        description = "forbidden: your role in the workspace is not enough"
    )]
    Forbidden(ErrorBody),
    #[response(
        status = 404,
        description = "not_found: no such row, or not a member of its workspace"
    )]
    NotFound(ErrorBody),
    #[response(
        status = 409,
        description = "conflict: the name is taken, or the row is still referenced"
    )]
    Conflict(ErrorBody),
    #[response(
        status = 413,
        description = "payload_too_large: the body exceeds 1 MiB"
    )]
    PayloadTooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "unsupported_media_type: the body is not JSON"
    )]
    UnsupportedMediaType(ErrorBody),
    #[response(
        status = 422,
        description = "validation_failed: wrong types, unknown fields or invalid values"
    )]
    Invalid(ErrorBody),
    #[response(
        status = 503,
        description = "unavailable: the database or Redis is unreachable"
    )]
    Unavailable(ErrorBody),
}

/// The JSON document served at `/api/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, openapi) = crate::routes::router().split_for_parts();
    openapi
}
