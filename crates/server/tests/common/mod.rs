//! Shared test harness: a router over a fresh, migrated and seeded database (one per test,
//! from `#[sqlx::test]`), acting as an injected principal.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub mod schema;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use statesight_server::auth::{Authenticator, Principal};
use statesight_server::state::PublicAuthConfig;
use statesight_server::{AppState, app};
use statesight_store::seed::{self, ExampleLocation};
use tower::ServiceExt;
use uuid::Uuid;

pub const PAYMENTS: Uuid = seed::PAYMENTS_WORKSPACE_ID;
pub const PLATFORM: Uuid = seed::PLATFORM_WORKSPACE_ID;
pub const LEDGER: Uuid = seed::LEDGER_APPLICATION_ID;

/// Seeded users of the payments workspace, by role.
pub const VIEWER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000202);
pub const EDITOR: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000203);
pub const ADMIN: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000204);
/// A seeded user who belongs to no workspace.
pub const OUTSIDER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000205);
pub const DEMO: Uuid = seed::DEMO_USER_ID;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| String::from("redis://127.0.0.1:6379"))
}

pub async fn seeded(pool: &PgPool) {
    seed::run(
        pool,
        &ExampleLocation {
            ledger_repo_url: String::from("file:///nonexistent/ledger.git"),
            ledger_snapshot_dir: String::from("/nonexistent/snapshot"),
        },
    )
    .await
    .expect("seeding the test database");
}

pub fn state_with(pool: &PgPool, authenticator: Authenticator) -> AppState {
    let redis = statesight_store::redis_conn::client(&redis_url()).expect("redis url");
    AppState::new(
        pool.clone(),
        redis,
        authenticator,
        PublicAuthConfig::default(),
    )
}

pub fn as_user(pool: &PgPool, user_id: Uuid) -> axum::Router {
    app(state_with(
        pool,
        Authenticator::Injected(Principal { user_id }),
    ))
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

pub async fn send(router: &axum::Router, request: Request<Body>) -> Reply {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

pub async fn get(router: &axum::Router, uri: &str, workspace: Option<Uuid>) -> Reply {
    let mut builder = Request::builder().method(Method::GET).uri(uri);
    if let Some(workspace) = workspace {
        builder = builder.header("x-workspace-id", workspace.to_string());
    }
    send(router, builder.body(Body::empty()).expect("request")).await
}

/// Asserts an error envelope with the given status and code.
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        reply.status, status,
        "unexpected status; body: {}",
        reply.text
    );
    assert_eq!(reply.body["error"]["code"], code, "body: {}", reply.text);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error message missing: {}",
        reply.text
    );
    assert!(
        reply.body["meta"]["request_id"].is_string(),
        "request id missing: {}",
        reply.text
    );
}

/// Sends `body` (raw text, so tests can send malformed JSON) with a JSON content type.
pub async fn send_json(
    router: &axum::Router,
    method: Method,
    uri: &str,
    workspace: Option<Uuid>,
    body: &str,
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(workspace) = workspace {
        builder = builder.header("x-workspace-id", workspace.to_string());
    }
    send(
        router,
        builder.body(Body::from(body.to_owned())).expect("request"),
    )
    .await
}

/// A router acting as `user` whose Redis keys live under a prefix of its own.
pub fn as_user_with_prefix(pool: &PgPool, user_id: Uuid, prefix: &str) -> axum::Router {
    app(state_with(pool, Authenticator::Injected(Principal { user_id })).with_redis_prefix(prefix))
}

/// A Redis key prefix unique to one test; `cleanup` removes its keys.
pub struct RedisPrefix(pub String);

impl RedisPrefix {
    pub fn new() -> Self {
        RedisPrefix(format!("statesight-test-{}", Uuid::new_v4()))
    }

    pub fn queue(&self) -> statesight_store::queue::Queue {
        statesight_store::queue::Queue::new(
            statesight_store::redis_conn::client(&redis_url()).expect("redis url"),
            self.0.clone(),
        )
    }

    pub async fn cleanup(&self) {
        let client = statesight_store::redis_conn::client(&redis_url()).expect("redis url");
        let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query_async(&mut connection)
            .await
            .unwrap_or_default();
        for key in keys {
            let _: Result<i64, _> = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut connection)
                .await;
        }
    }
}
