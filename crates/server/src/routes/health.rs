//! Liveness, readiness and metrics. These are public: they reveal nothing about tenants.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process answers.
#[derive(Serialize, ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    #[schema(value_type = String, pattern = "^ok$")]
    status: &'static str,
}

/// `GET /readyz`: whether every dependency answers, and which does not.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    status: ReadinessStatus,
    checks: Checks,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessStatus {
    Ready,
    NotReady,
}

#[derive(Serialize, ToSchema)]
pub struct Checks {
    postgres: Check,
    redis: Check,
}

/// One dependency: `ok`, or `unavailable` with the error.
#[derive(Serialize, ToSchema)]
pub struct Check {
    status: CheckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Unavailable,
}

impl Check {
    fn of(result: Result<(), String>) -> Check {
        match result {
            Ok(()) => Check {
                status: CheckStatus::Ok,
                error: None,
            },
            Err(error) => Check {
                status: CheckStatus::Unavailable,
                error: Some(error),
            },
        }
    }
}

#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "health", security(()), responses((status = 200, description = "the process is alive", body = Liveness)))]
pub async fn healthz() -> impl IntoResponse {
    axum::Json(Liveness { status: "ok" })
}

/// 200 when PostgreSQL and Redis both answer, else 503 naming what is down.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "health", security(()), responses((status = 200, description = "PostgreSQL and Redis answer", body = Readiness), (status = 503, description = "a dependency is down; the body names it", body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (postgres, redis) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, statesight_store::db::ping(&state.pool)),
        tokio::time::timeout(CHECK_TIMEOUT, state.queue.ping()),
    );
    let postgres = match postgres {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(String::from("timed out")),
    };
    let redis = match redis {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(String::from("timed out")),
    };
    let ready = postgres.is_ok() && redis.is_ok();
    let body = Readiness {
        status: if ready {
            ReadinessStatus::Ready
        } else {
            ReadinessStatus::NotReady
        },
        checks: Checks {
            postgres: Check::of(postgres),
            redis: Check::of(redis),
        },
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "health", security(()), responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    crate::metrics::record_pool(&state.pool);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// The OpenAPI document of this server, generated from the handlers.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "get_openapi_document", tag = "health", security(()), responses((status = 200, description = "this document", body = Object)))]
pub async fn openapi_json() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| {
        crate::openapi::document()
            .to_pretty_json()
            .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
    });
    ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
}
