//! The server against a Redis this test owns (its own port), restarted under it: `/readyz`
//! and the first analysis request after the restart must agree, and that request must not
//! answer 503 while Redis is back (fault found by injection: "broken pipe" on the first
//! enqueue after every restart).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::write_matrix::CHECKOUT_APP;
use common::*;
use sqlx::PgPool;
use statesight_server::auth::{Authenticator, Principal};
use statesight_server::{AppState, app};

/// A redis-server on a free port, killed on drop.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
            probe.local_addr().expect("addr").port()
        };
        let mut redis = OwnRedis { port, child: None };
        redis.spawn();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server (install Redis: apt-get install redis-server)");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, then the same port again: every connection breaks, nothing survives.
    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_first_request_after_a_redis_restart_succeeds_like_readyz_says(pool: PgPool) {
    seeded(&pool).await;
    let mut redis = OwnRedis::start();
    let client = statesight_store::redis_conn::client(&redis.url()).expect("redis url");
    let state = AppState::new(
        pool.clone(),
        client,
        Authenticator::Injected(Principal { user_id: ADMIN }),
        Default::default(),
    );
    let router = app(state);
    let analyze = |application: uuid::Uuid| {
        let router = router.clone();
        async move {
            send_json(
                &router,
                Method::POST,
                &format!("/api/v1/applications/{application}/analyze"),
                None,
                "{}",
            )
            .await
        }
    };
    let first = analyze(CHECKOUT_APP).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);

    for restart in 1..=3 {
        redis.restart();
        // Readiness and the next request agree, whatever order they come in.
        let ready = get(&router, "/readyz", None).await;
        assert_eq!(
            ready.status,
            StatusCode::OK,
            "restart {restart}: {}",
            ready.text
        );
        // A fresh run each time: the earlier run is finished by hand so this one is new.
        sqlx::query("UPDATE analysis_runs SET status = 'failed', finished_at = now(), error = 'test' WHERE status IN ('queued', 'running')")
            .execute(&pool)
            .await
            .expect("finish runs");
        let reply = analyze(CHECKOUT_APP).await;
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "restart {restart}: the first analyze after the restart: {}",
            reply.text
        );
    }
}
