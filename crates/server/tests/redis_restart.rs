//! The server against a Redis this test owns (its own port), restarted under it: `/readyz`
//! and the first analysis request after the restart must agree, and that request must not
//! answer 503 while Redis is back (fault found by injection: "broken pipe" on the first
//! enqueue after every restart).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::write_matrix::CHECKOUT_APP;
use common::*;
use sqlx::PgPool;

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

/// The real server binary (demo mode) on a fresh seeded database, its Redis killed and
/// started again three times: `/readyz` and the first analysis request after each restart
/// agree, and that request is accepted. Bound: the first request after Redis is back.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_first_request_after_a_redis_restart_succeeds_like_readyz_says(pool: PgPool) {
    seeded(&pool).await;
    let mut redis = OwnRedis::start();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        probe.local_addr().expect("addr").port()
    };
    let logs = tempfile::tempdir().expect("temp dir");
    let log = logs.path().join("server.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_statesight-server"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url(&pool))
        .env("REDIS_URL", redis.url())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("AUTH_REQUIRED", "false")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("starting statesight-server");
    let base = format!("http://127.0.0.1:{port}");
    statesight_server::oidc::ensure_crypto_provider();
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let analyze = || {
        http.post(format!("{base}/api/v1/applications/{CHECKOUT_APP}/analyze"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
    };
    let first = analyze().await.expect("analyze");
    assert_eq!(first.status(), 202);

    for restart in 1..=3 {
        redis.restart();
        // A fresh run each time: the earlier one is finished by hand so this one is new.
        sqlx::query(
            "UPDATE analysis_runs SET status = 'failed', finished_at = now(), error = 'test'
              WHERE status IN ('queued', 'running')",
        )
        .execute(&pool)
        .await
        .expect("finish runs");
        // Readiness and the next request agree, whatever order they come in.
        let ready = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(ready.status(), 200, "restart {restart}");
        let reply = analyze().await.expect("analyze");
        let status = reply.status();
        assert_eq!(
            status,
            202,
            "restart {restart}: the first analyze after the restart: {}",
            reply.text().await.unwrap_or_default()
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
