//! The one error type of the API and its single mapping to HTTP: handlers and extractors
//! say what went wrong, and `IntoResponse` chooses status and code in one `match`. 5xx
//! causes are logged with the request id and never sent to the caller; neither are
//! database constraint names or SQL.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use statesight_core::source::Invalid;
use statesight_core::wire::{
    ErrorBody, ErrorCode, ErrorDetail, ErrorDetails, FieldDetails, Meta, ReferenceDetails,
    References,
};
use statesight_store::{Constraint, ConstraintKind, StoreError};

use crate::response::current_request_id;

/// Why a request failed. Each variant has one status and one `code`.
#[derive(Debug)]
pub enum ApiError {
    /// 400: a malformed id, header, query parameter, cursor or JSON body.
    BadRequest(String),
    /// 401: no credentials (or not a bearer token).
    Unauthenticated(String),
    /// 401: a bearer token that failed verification; the message says why.
    InvalidToken(String),
    /// 403: the caller's role in the workspace is not enough.
    Forbidden(String),
    /// 403: the caller's identity maps to no user.
    IdentityNotProvisioned(String),
    /// 404: no such row, or the caller is not a member of its workspace (so existence does
    /// not leak). Holds what was looked for: `"application"`, `"ignore rule"`, …
    NotFound(&'static str),
    /// 404: no route matches the URL.
    NoRoute,
    /// 405: the route does not take that method.
    MethodNotAllowed,
    /// 409: a name is taken, a row is still referenced, or a run is already in flight.
    Conflict {
        message: String,
        referenced_by: Option<References>,
    },
    /// 401: a webhook delivery whose signature is missing, malformed or wrong. Unlike the
    /// bearer 401s it carries no `WWW-Authenticate` challenge: no token would help.
    BadSignature(String),
    /// 413: the body is larger than the route's limit (`MAX_BODY_BYTES` on operator
    /// routes), in bytes.
    PayloadTooLarge(usize),
    /// 415: a body without a JSON content type.
    UnsupportedMediaType,
    /// 422: a value the server refuses; `details` says which field (and where) when one
    /// is to blame.
    Validation {
        message: String,
        details: Option<ErrorDetails>,
    },
    /// 503: a dependency is down or the request took too long; retrying may succeed.
    Unavailable(Unavailable),
    /// 500: a bug or an unexpected failure, already logged.
    Internal,
}

/// What made a request fail with 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    Database,
    Queue,
    Timeout,
    /// The OpenID provider's keys were needed and could not be read.
    IdentityProvider,
    /// Audit-event ingestion is at capacity.
    Busy,
    /// This server holds as many event streams as it allows.
    EventStreams,
    /// The event stream's source (Redis) is not being followed right now.
    EventSource,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 422 without details.
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::Validation {
            message: message.into(),
            details: None,
        }
    }

    /// 422 naming the refused field.
    pub fn invalid_field(field: &str, message: impl Into<String>, reason: Option<&str>) -> Self {
        ApiError::Validation {
            message: message.into(),
            details: Some(ErrorDetails::Field(FieldDetails {
                field: field.to_owned(),
                reason: reason.map(str::to_owned),
            })),
        }
    }

    /// 409 naming the applications that still use a cluster or source.
    pub fn referenced(what: &str, references: References) -> Self {
        let names: Vec<&str> = references
            .applications
            .iter()
            .map(|application| application.name.as_str())
            .collect();
        ApiError::Conflict {
            message: format!(
                "the {what} is still used by {} application(s): {}; delete or move them first",
                names.len(),
                names.join(", ")
            ),
            referenced_by: Some(references),
        }
    }
}

/// How much of a caller's value an error message repeats.
pub const ECHO_CHARS: usize = 64;
/// The longest message an error answers with; longer ones (a validator quoting a large
/// value whole) are cut, so no caller input is ever reflected without bound.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// A caller's value as an error message quotes it: Rust-escaped (control, invisible and
/// bidirectional characters and quotes become escapes, so nothing the caller sent can
/// rewrite a terminal or a log line), cut after [`ECHO_CHARS`] characters with `…` and the
/// total length, so a 10 KB header is not sent back whole.
pub fn echo(input: &str) -> String {
    let total = input.chars().count();
    let mut out = String::from('"');
    for c in input.chars().take(ECHO_CHARS) {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if statesight_core::terminal::is_control_or_invisible(c) => {
                out.extend(c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    if total > ECHO_CHARS {
        out.push_str(&format!("…\" ({total} characters)"));
    } else {
        out.push('"');
    }
    out
}

/// A message written by a library (serde, axum) that may quote caller input between
/// backticks or double quotes: each quoted part is capped like [`echo`], and control
/// characters anywhere become escapes.
pub fn sanitize_library_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS));
    let mut rest = message;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&escape_controls(&rest[..start]));
        let after = &rest[start + 1..];
        let end = if quote == '"' {
            closing_quote(after)
        } else {
            after.find('`')
        };
        let Some(end) = end else {
            // An unbalanced quote: treat the remainder as quoted input.
            out.push(quote);
            out.push_str(&cap_escaped(after));
            return out;
        };
        out.push(quote);
        out.push_str(&cap_escaped(&after[..end]));
        out.push(quote);
        rest = &after[end + 1..];
    }
    out.push_str(&escape_controls(rest));
    out
}

/// The index of the `"` closing a Debug-formatted string, skipping `\"` escapes.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(index),
            _ => escaped = false,
        }
    }
    None
}

/// The inside of a quoted part: control characters escaped, cut after [`ECHO_CHARS`].
fn cap_escaped(text: &str) -> String {
    let total = text.chars().count();
    if total <= ECHO_CHARS {
        return escape_controls(text);
    }
    let shown: String = text.chars().take(ECHO_CHARS).collect();
    format!("{}… ({total} characters)", escape_controls(&shown))
}

fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if statesight_core::terminal::is_control_or_invisible(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The last guard on every message: control and invisible characters a validator quoted
/// from the input are escaped (line breaks stay: some messages point at a character on the
/// next line), and the message is cut at [`MAX_MESSAGE_CHARS`].
fn bounded(message: String) -> String {
    let message: String = if message
        .chars()
        .any(|c| c != '\n' && statesight_core::terminal::is_control_or_invisible(c))
    {
        message
            .split('\n')
            .map(escape_controls)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        message
    };
    let total = message.chars().count();
    if total <= MAX_MESSAGE_CHARS {
        return message;
    }
    let shown: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    format!("{shown}… (message cut at {MAX_MESSAGE_CHARS} of {total} characters)")
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        ApiError::invalid_field(invalid.field, invalid.to_string(), Some(&invalid.message))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Violation(constraint) => violation(constraint),
            // Pool exhaustion or an unreachable database is the caller's cue to retry.
            StoreError::Unavailable(error) => {
                tracing::error!(%error, "database unavailable");
                ApiError::Unavailable(Unavailable::Database)
            }
            StoreError::Redis(error) => {
                tracing::error!(%error, "redis unavailable");
                ApiError::Unavailable(Unavailable::Queue)
            }
            error @ (StoreError::Database(_) | StoreError::Migrate(_)) => {
                tracing::error!(%error, "store error");
                ApiError::Internal
            }
        }
    }
}

/// A write the database refused: a taken name is a 409; a cluster or source of the body
/// that is not (or no longer) in the workspace a 422 naming the field, as the handler's own
/// check answers it; the workspace, application or user the request acts on deleted while
/// it ran a 404 (or 403), as a retry would answer; anything else a 422 or 409 by kind. The
/// constraint's database name is logged, never answered.
fn violation(constraint: Constraint) -> ApiError {
    let name_taken = |what: &str| ApiError::Conflict {
        message: format!("{what} with this name already exists in this scope; choose another name"),
        referenced_by: None,
    };
    match constraint {
        Constraint::ClusterName => name_taken("a cluster"),
        Constraint::SourceName => name_taken("a source"),
        Constraint::ApplicationName => name_taken("an application"),
        Constraint::ApplicationRuleName | Constraint::WorkspaceRuleName => {
            name_taken("an ignore rule")
        }
        Constraint::NotificationEndpointName => name_taken("a notification endpoint"),
        Constraint::OneQueuedRun | Constraint::OneRunningRun => ApiError::Conflict {
            message: String::from(
                "an analysis of this application was requested at the same moment; retry to get its run",
            ),
            referenced_by: None,
        },
        Constraint::ApplicationCluster => ApiError::invalid_field(
            "cluster_id",
            "cluster_id is not a cluster of this workspace",
            Some("is not a cluster of this workspace"),
        ),
        Constraint::ApplicationSource => ApiError::invalid_field(
            "source_id",
            "source_id is not a source of this workspace",
            Some("is not a source of this workspace"),
        ),
        // The request's target vanished between the authorization check and the write
        // (a concurrent delete): answer what a retry would.
        Constraint::MissingWorkspace => ApiError::NotFound("workspace"),
        Constraint::MissingApplication => ApiError::NotFound("application"),
        Constraint::MissingUser => ApiError::IdentityNotProvisioned(String::from(
            "your user was removed while this request ran; it changed nothing",
        )),
        Constraint::Other { kind, name } => {
            tracing::warn!(constraint = %name, ?kind, "write refused by a constraint");
            other_violation(kind)
        }
    }
}

fn other_violation(kind: ConstraintKind) -> ApiError {
    match kind {
        ConstraintKind::Unique => ApiError::Conflict {
            message: String::from("this conflicts with an existing row"),
            referenced_by: None,
        },
        ConstraintKind::ForeignKey => ApiError::validation(
            "the request refers to a row that does not exist in this workspace",
        ),
        ConstraintKind::Check | ConstraintKind::NotNull => {
            ApiError::validation("the request breaks a rule of the data model")
        }
    }
}

/// What an error answers, whatever the format: the API's JSON envelope or the web view's
/// HTML page are both made from this one map.
pub struct ErrorParts {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<ErrorDetails>,
    /// The `WWW-Authenticate` challenge of a 401.
    pub challenge: Option<HeaderValue>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let parts = self.parts();
        let mut response = error_response(parts.status, parts.code, parts.message, parts.details);
        if let Some(challenge) = parts.challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl ApiError {
    /// The status, code, message and details this error answers with.
    pub fn parts(self) -> ErrorParts {
        let challenge = self.challenge();
        let (status, code, message, details) = match self {
            ApiError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                message,
                None,
            ),
            ApiError::Unauthenticated(message)
            | ApiError::InvalidToken(message)
            | ApiError::BadSignature(message) => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                message,
                None,
            ),
            ApiError::Forbidden(message) => {
                (StatusCode::FORBIDDEN, ErrorCode::Forbidden, message, None)
            }
            ApiError::IdentityNotProvisioned(message) => (
                StatusCode::FORBIDDEN,
                ErrorCode::IdentityNotProvisioned,
                message,
                None,
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                format!("{what} not found (or you are not a member of its workspace)"),
                None,
            ),
            ApiError::NoRoute => (
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                String::from("no such route"),
                None,
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                String::from("this route does not accept that method"),
                None,
            ),
            ApiError::Conflict {
                message,
                referenced_by,
            } => (
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                message,
                referenced_by.map(|referenced_by| {
                    ErrorDetails::References(ReferenceDetails { referenced_by })
                }),
            ),
            ApiError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("the request body is larger than {limit} bytes"),
                None,
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                String::from("send the body as JSON with Content-Type: application/json"),
                None,
            ),
            ApiError::Validation { message, details } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                message,
                details,
            ),
            ApiError::Unavailable(what) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                unavailable_message(what),
                None,
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                String::from("internal error; the server log has the cause under this request id"),
                None,
            ),
        };
        ErrorParts {
            status,
            code,
            message,
            details,
            challenge,
        }
    }

    /// The RFC 6750 challenge of a 401: a bare one when no credentials came, and
    /// `error="invalid_token"` with a description when a token was refused.
    fn challenge(&self) -> Option<HeaderValue> {
        match self {
            ApiError::Unauthenticated(_) => {
                Some(HeaderValue::from_static("Bearer realm=\"statesight\""))
            }
            ApiError::InvalidToken(message) => HeaderValue::from_str(&format!(
                "Bearer realm=\"statesight\", error=\"invalid_token\", error_description=\"{}\"",
                header_safe(message)
            ))
            .ok(),
            _ => None,
        }
    }
}

/// `error_description` allows only printable ASCII without `"` and `\` (RFC 6750, section 3).
fn header_safe(message: &str) -> String {
    message
        .chars()
        .take(300)
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '\'',
        })
        .collect()
}

fn unavailable_message(what: Unavailable) -> String {
    match what {
        Unavailable::Database => "the database is unavailable; retry shortly".into(),
        Unavailable::Queue => "the analysis queue (Redis) is unavailable; retry shortly".into(),
        Unavailable::IdentityProvider => {
            "the identity provider's signing keys could not be read; retry shortly".into()
        }
        Unavailable::Busy => {
            "audit-event ingestion is at capacity; nothing was stored, send the batch again".into()
        }
        Unavailable::EventStreams => String::from(
            "this server holds as many event streams as it allows; retry shortly (another \
             replica may have room) or poll the lists meanwhile",
        ),
        Unavailable::EventSource => String::from(
            "live events cannot be followed right now (Redis does not answer); poll the lists \
             and retry shortly",
        ),
        Unavailable::Timeout => format!(
            "the request took longer than {}s; retry shortly",
            crate::REQUEST_TIMEOUT.as_secs()
        ),
    }
}

fn error_response(
    status: StatusCode,
    code: ErrorCode,
    message: String,
    details: Option<ErrorDetails>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message: bounded(message),
            details,
        },
        meta: Meta {
            request_id: current_request_id(),
            next_cursor: None,
        },
    };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(error: ApiError) -> (StatusCode, serde_json::Value, String) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).expect("JSON");
        (status, body, text)
    }

    #[tokio::test]
    async fn constraint_names_never_reach_the_client() {
        for (kind, status, code) in [
            (ConstraintKind::Unique, StatusCode::CONFLICT, "conflict"),
            (
                ConstraintKind::ForeignKey,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                ConstraintKind::Check,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                ConstraintKind::NotNull,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
        ] {
            let error = StoreError::Violation(Constraint::Other {
                kind,
                name: String::from("applications_internal_name_fkey"),
            });
            let (answered, body, text) = answer(ApiError::from(error)).await;
            assert_eq!(
                (answered, body["error"]["code"].as_str()),
                (status, Some(code))
            );
            assert!(!text.contains("applications_internal_name_fkey"), "{text}");
        }
    }

    #[tokio::test]
    async fn a_foreign_cluster_refused_by_the_database_names_the_field() {
        let error = StoreError::Violation(Constraint::ApplicationCluster);
        let (status, body, _) = answer(ApiError::from(error)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["details"]["field"], "cluster_id");
    }

    #[test]
    fn echoed_input_is_escaped_and_capped_with_its_length() {
        assert_eq!(echo("abc"), "\"abc\"");
        assert_eq!(
            echo("a\u{1b}[2J\u{202e}\"\0"),
            "\"a\\u{1b}[2J\\u{202e}\\\"\\u{0}\""
        );
        let long = "x".repeat(10_000);
        assert_eq!(
            echo(&long),
            format!("\"{}…\" (10000 characters)", "x".repeat(ECHO_CHARS))
        );
    }

    #[test]
    fn library_messages_quote_caller_input_capped_and_escaped() {
        let field = format!("\u{1b}]8;;{}", "f".repeat(500));
        let message = format!("unknown field `{field}`, expected one of `name`, `reason`");
        let cleaned = sanitize_library_message(&message);
        assert!(!cleaned.contains('\u{1b}'), "{cleaned}");
        assert!(cleaned.contains("… (505 characters)`"), "{cleaned}");
        assert!(
            cleaned.ends_with("expected one of `name`, `reason`"),
            "{cleaned}"
        );
        let debug = format!(
            "invalid type: string {:?}, expected a UUID",
            "q\"".repeat(300)
        );
        let cleaned = sanitize_library_message(&debug);
        assert!(cleaned.chars().count() < 200, "{cleaned}");
        assert!(cleaned.ends_with(", expected a UUID"), "{cleaned}");
    }

    #[tokio::test]
    async fn control_characters_quoted_by_a_validator_are_escaped() {
        let (_, body, _) = answer(ApiError::validation(
            "found '\u{9c}'\n  a\u{f}\u{202e}b\n   ^",
        ))
        .await;
        assert_eq!(
            body["error"]["message"],
            "found '\\u{9c}'\n  a\\u{f}\\u{202e}b\n   ^"
        );
    }

    #[tokio::test]
    async fn messages_are_cut_at_the_maximum_length() {
        let (_, body, _) = answer(ApiError::validation("m".repeat(50_000))).await;
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.chars().count() < MAX_MESSAGE_CHARS + 100,
            "{message}"
        );
        assert!(message.ends_with("of 50000 characters)"), "{message}");
    }

    #[tokio::test]
    async fn unauthenticated_answers_carry_the_bearer_challenge() {
        let response = ApiError::Unauthenticated(String::from("no token")).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"statesight\""
        );
        let response =
            ApiError::InvalidToken(String::from("kid \"x\u{7}\" is unknown")).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"statesight\", error=\"invalid_token\", error_description=\"kid 'x'' is unknown\""
        );
    }
}
