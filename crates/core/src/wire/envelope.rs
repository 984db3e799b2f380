//! The envelopes every `/api/v1` answer comes in: `{"data": …, "meta": …}` on success and
//! `{"error": …, "meta": …}` on failure, with the stable error codes a client can match on.

use serde::{Deserialize, Serialize};

use super::References;
use crate::string_enum::string_enum;

/// Metadata of every answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Meta {
    /// The caller's `X-Request-ID` when it is sane, else a new one; the server log names
    /// it too.
    pub request_id: String,
    /// Present on list pages that have a next page: pass it as `cursor` to get that page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The success envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Data<T> {
    pub data: T,
    pub meta: Meta,
}

/// The error envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
    pub meta: Meta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A sentence for people; do not match on it.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

string_enum! {
    /// What went wrong, for programs to match on. Each code comes with one HTTP status.
    pub enum ErrorCode {
        /// 400: a malformed id, header, query parameter, cursor or JSON body.
        BadRequest => "bad_request",
        /// 401: no valid credentials.
        Unauthenticated => "unauthenticated",
        /// 403: the caller's role in the workspace is not enough.
        Forbidden => "forbidden",
        /// 403: the caller's identity maps to no user.
        IdentityNotProvisioned => "identity_not_provisioned",
        /// 404: no such row (or the caller is not a member of its workspace), or no such route.
        NotFound => "not_found",
        /// 405: the route does not take that method.
        MethodNotAllowed => "method_not_allowed",
        /// 409: the name is taken, the row is still referenced, or a run is already queued.
        Conflict => "conflict",
        /// 413: the body is larger than the server accepts.
        PayloadTooLarge => "payload_too_large",
        /// 415: the body is not JSON.
        UnsupportedMediaType => "unsupported_media_type",
        /// 422: wrong types, unknown or missing fields, or values the server refuses.
        ValidationFailed => "validation_failed",
        /// 500: a bug; the server log has the cause under the request id.
        Internal => "internal",
        /// 503: the database or Redis is unreachable, or the request took too long; retry.
        Unavailable => "unavailable",
    }
}

/// Machine-readable details of some errors: which field was refused (and, for drift paths
/// and resource references, where), or what still uses a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ErrorDetails {
    Field(FieldDetails),
    Syntax(SyntaxDetails),
    References(ReferenceDetails),
}

/// A refused field of the request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldDetails {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A drift path or resource reference that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SyntaxDetails {
    pub field: String,
    /// The byte offset of the bad character.
    pub offset: usize,
    /// What the grammar expected there.
    pub expected: String,
    /// The character found, null at the end of the input.
    pub found: Option<String>,
}

/// What still uses a row someone tried to delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReferenceDetails {
    pub referenced_by: References,
}
