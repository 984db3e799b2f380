//! The one error type of the API and its single mapping to HTTP. 5xx causes are logged
//! with the request id and never sent to the caller.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use statesight_store::StoreError;

use crate::response::current_request_id;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found (or you are not a member of its workspace)"),
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the cause under this request id",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        // Pool exhaustion or an unreachable database is the caller's cue to retry, not a bug.
        if let StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) = &error {
            tracing::error!(error = %error, "database unavailable");
            return ApiError::unavailable("the database is unavailable; retry shortly");
        }
        if let StoreError::Redis(_) = &error {
            tracing::error!(error = %error, "redis unavailable");
            return ApiError::unavailable(
                "the analysis queue (Redis) is unavailable; retry shortly",
            );
        }
        tracing::error!(error = %error, "store error");
        ApiError::internal()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(details) = self.details {
            error["details"] = details;
        }
        let body = json!({
            "error": error,
            "meta": { "request_id": current_request_id() },
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Maps a store error from a write: uniqueness is a 409 naming what clashed, a foreign-key
/// refusal a 422 (a referenced row of another workspace or gone meanwhile), anything else
/// the usual mapping.
pub fn write_error(error: StoreError, what: &str) -> ApiError {
    match error.violated_constraint() {
        Some(("unique", _)) => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("{what} with this name already exists in this scope; choose another name"),
        ),
        Some(("foreign_key", constraint)) => ApiError::validation(format!(
            "{what} refers to a row that does not exist in this workspace ({constraint})"
        ))
        .with_details(json!({ "constraint": constraint })),
        Some(("check", constraint)) => ApiError::validation(format!(
            "{what} breaks a rule of the data model ({constraint})"
        ))
        .with_details(json!({ "constraint": constraint })),
        _ => ApiError::from(error),
    }
}
