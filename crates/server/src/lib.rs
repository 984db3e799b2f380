//! `statesight-server` as a library: `app()` builds the router so tests drive it without a
//! socket; `main.rs` only parses configuration and serves it.

pub mod admin;
pub mod audit_import;
pub mod audit_verify;
pub mod auth;
pub mod config;
pub mod cursor;
pub mod error;
pub mod events;
pub mod extract;
pub mod metrics;
pub mod oidc;
pub mod openapi;
pub mod response;
pub mod routes;
pub mod seed;
pub mod state;
pub mod telemetry;
pub mod ui;
pub mod validate;
pub mod webhook;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

pub use state::AppState;

use crate::error::{ApiError, Unavailable};

/// Request bodies above this size are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Requests taking longer are answered 503 `unavailable`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const REQUEST_ID_HEADER: &str = "x-request-id";

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let (router, _) = routes::router().split_for_parts();
    router
        .merge(ui::router())
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                tracing::error!("handler panicked");
                ApiError::Internal.into_response()
            },
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

/// Assigns the request id (the caller's when it is sane, else a new one), runs the request
/// inside it with a time limit, echoes it, logs one line per request and records metrics.
async fn request_context(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_sane_request_id(value))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = metrics::method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| String::from(metrics::UNMATCHED_ROUTE));
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %request_id, method = %request.method(), route = %route);
    // The time limit is applied here rather than by a timeout layer so that an expired
    // request still gets the error envelope with its request id.
    let mut response = response::with_request_id(request_id.clone(), async {
        match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::Unavailable(Unavailable::Timeout).into_response(),
        }
    })
    .instrument(span.clone())
    .await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(
                status,
                elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                "request failed"
            );
        } else {
            tracing::info!(
                status,
                elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                "request"
            );
        }
    });
    metrics::record_request(method, &route, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Request ids end up in logs and headers: accept only short, printable, unambiguous ones.
fn is_sane_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:/".contains(&byte))
}
