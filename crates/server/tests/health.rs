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

/// Counts the distinct series of the request counter.
fn request_series(text: &str) -> usize {
    text.lines()
        .filter(|line| line.starts_with("statesight_http_requests_total{"))
        .count()
}

/// Regression (fuzzer): `/metrics` labelled any method a caller invented, so
/// `curl -X ZZZZ` made a new time series per verb. Unknown methods collapse to `other` and
/// unmatched paths to one route label: 50 invented methods on random paths add nothing
/// after the first.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn invented_methods_and_random_paths_keep_the_metrics_bounded(pool: PgPool) {
    use axum::body::Body;
    use axum::http::{Method, Request};
    let router = as_user(&pool, VIEWER);
    let invent = |n: usize| {
        (
            Method::from_bytes(format!("ZZ{n}X").as_bytes()).expect("method"),
            format!("/no/such/{}/{n}", uuid::Uuid::new_v4()),
        )
    };
    let hit = |method: Method, uri: String| {
        let router = router.clone();
        async move {
            send(
                &router,
                Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
        }
    };
    // One of each kind: an invented method on a route, on no route, and a known method on
    // no route.
    let (method, path) = invent(0);
    hit(method.clone(), String::from("/healthz")).await;
    hit(method, path.clone()).await;
    hit(Method::GET, path).await;
    // The scrape itself is counted once it has answered: scrape once so it is in both.
    get(&router, "/metrics", None).await;
    let before = get(&router, "/metrics", None).await.text;
    for n in 1..=50 {
        let (method, path) = invent(n);
        hit(method.clone(), String::from("/healthz")).await;
        hit(method, path.clone()).await;
        hit(Method::GET, path).await;
    }
    let after = get(&router, "/metrics", None).await.text;
    assert_eq!(
        request_series(&before),
        request_series(&after),
        "new series appeared:\n{after}"
    );
    assert!(after.contains("method=\"other\""), "{after}");
    assert!(after.contains("route=\"unmatched\""), "{after}");
    assert!(!after.contains("ZZ"), "{after}");
    assert!(!after.contains("/no/such"), "{after}");
}
