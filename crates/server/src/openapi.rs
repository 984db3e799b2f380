//! The OpenAPI document, generated from the handlers' annotations: routes are registered
//! once, through `utoipa_axum`, so a route cannot exist without its documentation. This
//! module holds the document's frame, the paging parameters and the error answers; the
//! schemas themselves are the wire types of `statesight_core::wire`.

pub use statesight_core::wire::{Data, ErrorBody};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "StateSight API",
        description = "GitOps forensic console: desired state in Git against live cluster state, \
                       drift explained field by field with evidence. Every operator route needs \
                       a bearer token unless the server runs in demo mode. Lists take `limit` \
                       (1–500, default 50) and `cursor` and answer `meta.next_cursor`. String \
                       fields of request bodies are trimmed of surrounding whitespace before \
                       they are checked; the lengths and patterns documented apply to the \
                       trimmed value. Every error of an `/api/v1` route answers the `ErrorBody` \
                       envelope; match on `error.code`, not on the message.",
    ),
    // The error envelope is only named by the `ReadErrors`/`WriteErrors` response sets,
    // which utoipa does not collect schemas from: register it (and what it refers to) here.
    components(schemas(ErrorBody)),
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

/// The paging parameters of list routes (parsed by `RawQuery::paging`, whose limits these
/// repeat: utoipa takes literals only; a test compares them).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documentation only")]
pub struct PageParams {
    /// How many items a page holds.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// `meta.next_cursor` of the previous page; omit it for the first page.
    cursor: Option<String>,
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
        status = 500,
        description = "internal: a bug; the server log has the cause under the request id"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "unavailable: the database or Redis is unreachable, or the request took too long"
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
        description = "conflict: the name is taken, the row is still referenced, or a run was requested at the same moment"
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
        status = 500,
        description = "internal: a bug; the server log has the cause under the request id"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "unavailable: the database or Redis is unreachable, or the request took too long"
    )]
    Unavailable(ErrorBody),
}

/// The JSON document served at `/api/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, openapi) = crate::routes::router().split_for_parts();
    openapi
}
