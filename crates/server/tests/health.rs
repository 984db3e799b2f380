//! Health, readiness and metrics against the real PostgreSQL and Redis, and against
//! endpoints where nothing listens.

mod common;

use axum::http::StatusCode;
use common::*;
use sqlx::PgPool;
use statesight_server::auth::Authenticator;
use statesight_server::state::PublicAuthConfig;
use statesight_server::{AppState, app};

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn ready_when_postgres_and_redis_answer(pool: PgPool) {
    let router = as_user(&pool, VIEWER);
    assert_eq!(get(&router, "/healthz", None).await.status, StatusCode::OK);
    let ready = get(&router, "/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body["checks"]["postgres"]["status"], "ok");
    assert_eq!(ready.body["checks"]["redis"]["status"], "ok");
}

/// A port where nothing listens (bound, then released).
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn not_ready_while_redis_is_unreachable(pool: PgPool) {
    let redis = statesight_store::redis_conn::client(&format!("redis://127.0.0.1:{}", dead_port()))
        .expect("url");
    let state = AppState::new(
        pool,
        redis,
        Authenticator::Demo,
        PublicAuthConfig::default(),
    );
    let reply = get(&app(state), "/readyz", None).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert_eq!(reply.body["checks"]["postgres"]["status"], "ok");
    assert_eq!(reply.body["checks"]["redis"]["status"], "unavailable");
}

#[tokio::test]
async fn not_ready_while_postgres_is_unreachable() {
    let pool = statesight_store::connect(
        &format!("postgres://postgres@127.0.0.1:{}/none", dead_port()),
        1,
    )
    .expect("lazy pool");
    let redis = statesight_store::redis_conn::client(&redis_url()).expect("url");
    let state = AppState::new(
        pool,
        redis,
        Authenticator::Demo,
        PublicAuthConfig::default(),
    );
    let router = app(state);
    let reply = get(&router, "/readyz", None).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert_eq!(reply.body["checks"]["postgres"]["status"], "unavailable");
    assert_eq!(reply.body["checks"]["redis"]["status"], "ok");
    // An operator route whose database is down is 503, not a 500 or a hang.
    let me = get(&router, "/api/v1/me", None).await;
    assert_eq!(me.status, StatusCode::SERVICE_UNAVAILABLE, "{}", me.text);
    assert_eq!(me.body["error"]["code"], "unavailable");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn metrics_count_requests_by_route_and_status_and_report_the_pool(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, VIEWER);
    for _ in 0..3 {
        get(
            &router,
            "/api/v1/incidents/00000000-0000-4000-8000-000000000000",
            None,
        )
        .await;
    }
    get(&router, "/api/v1/applications", Some(PAYMENTS)).await;
    let metrics = get(&router, "/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.text;
    let incident_404 = text
        .lines()
        .find(|line| {
            line.starts_with("statesight_http_requests_total{")
                && line.contains("route=\"/api/v1/incidents/{id}\"")
                && line.contains("status=\"404\"")
        })
        .unwrap_or_else(|| panic!("no counter for the incident route in:\n{text}"));
    let count: f64 = incident_404
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    // Other tests in this process may add to the same counter; never fewer than ours.
    assert!(count >= 3.0, "{incident_404}");
    assert!(
        text.contains("statesight_http_request_duration_seconds_bucket{"),
        "no latency histogram"
    );
    assert!(text.contains("route=\"/api/v1/applications\""));
    assert!(text.contains("statesight_db_pool_connections{state=\"idle\"}"));
    assert!(text.contains("statesight_db_pool_max_connections"));
}
