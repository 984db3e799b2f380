//! The response envelope and the per-request context (request id) it carries.
//!
//! The request id lives in a task-local for the duration of a request, so every response
//! body, including extractor rejections and panics, can name it without threading it
//! through each handler.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use statesight_core::wire::{Data, Meta};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `future` with `request_id` as the current request id.
pub async fn with_request_id<F: std::future::Future>(request_id: String, future: F) -> F::Output {
    REQUEST_ID.scope(request_id, future).await
}

pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| String::from("unknown"))
}

/// `{"data": …, "meta": {"request_id", "next_cursor"?}}`.
pub struct Envelope<T> {
    status: StatusCode,
    data: T,
    next_cursor: Option<String>,
}

impl<T: Serialize> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Envelope {
            status: StatusCode::OK,
            data,
            next_cursor: None,
        }
    }

    pub fn page(data: T, next_cursor: Option<String>) -> Self {
        Envelope {
            status: StatusCode::OK,
            data,
            next_cursor,
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        let body = Data {
            data: self.data,
            meta: Meta {
                request_id: current_request_id(),
                next_cursor: self.next_cursor,
            },
        };
        match serde_json::to_vec(&body) {
            Ok(bytes) => (
                self.status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                bytes,
            )
                .into_response(),
            Err(error) => {
                tracing::error!(%error, "response serialization failed");
                crate::error::ApiError::Internal.into_response()
            }
        }
    }
}
