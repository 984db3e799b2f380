//! Real processes for tests: a Redis of the test's own, `statesight-worker run` as a child
//! process, and waiting on runs.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use statesight_core::wire::{RunStatus, RunTrigger};
use statesight_store::audit::Actor;
use statesight_store::queue::Queue;
use statesight_store::runs::{self, AnalysisRequest};
use uuid::Uuid;

use super::*;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A redis-server of this test's own, on its own port (never the shared one).
pub struct OwnRedis {
    child: Child,
    port: u16,
    dir: Option<tempfile::TempDir>,
}

impl OwnRedis {
    pub fn start(port: u16, dir: tempfile::TempDir) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis {
            child,
            port,
            dir: Some(dir),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(mut self) -> (u16, tempfile::TempDir) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = self
            .dir
            .take()
            .unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        (self.port, dir)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct WorkerProcess(pub Child);

/// A metrics port per worker name, so a test can read the worker's `/metrics`.
pub fn metrics_port_for(worker_id: &str) -> u16 {
    static PORTS: std::sync::Mutex<Vec<(String, u16)>> = std::sync::Mutex::new(Vec::new());
    let mut ports = PORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, port)) = ports.iter().find(|(id, _)| id == worker_id) {
        return *port;
    }
    let port = free_port();
    ports.push((worker_id.to_owned(), port));
    port
}

pub async fn worker_metrics(worker_id: &str) -> String {
    let port = metrics_port_for(worker_id);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("metrics endpoint");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    response
}

impl WorkerProcess {
    pub fn start(
        database_url: &str,
        redis_url: &str,
        prefix: &str,
        worker_id: &str,
        cache: &std::path::Path,
        log: &std::path::Path,
    ) -> Self {
        Self::start_with(database_url, redis_url, prefix, worker_id, cache, log, "1s")
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "a test helper spelling out the worker's environment"
    )]
    pub fn start_with(
        database_url: &str,
        redis_url: &str,
        prefix: &str,
        worker_id: &str,
        cache: &std::path::Path,
        log: &std::path::Path,
        lease_renew: &str,
    ) -> Self {
        Self::start_env(
            database_url,
            redis_url,
            prefix,
            worker_id,
            cache,
            log,
            lease_renew,
            &[],
        )
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "a test helper spelling out the worker's environment"
    )]
    pub fn start_env(
        database_url: &str,
        redis_url: &str,
        prefix: &str,
        worker_id: &str,
        cache: &std::path::Path,
        log: &std::path::Path,
        lease_renew: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_statesight-worker"))
            .arg("run")
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", redis_url)
            .env("REDIS_KEY_PREFIX", prefix)
            .env("WORKER_ID", worker_id)
            .env("WORKER_CONCURRENCY", "1")
            .env("WORKER_LEASE_RENEW", lease_renew)
            .env(
                "WORKER_METRICS_ADDR",
                format!("127.0.0.1:{}", metrics_port_for(worker_id)),
            )
            .env("GIT_CACHE_DIR", cache)
            .env("LOG_FORMAT", "json")
            // The test's repository is local and its kubeconfig lives in a scratch directory.
            .env("ALLOW_FILE_REPOSITORIES", "true")
            .env("KUBECONFIG_ROOTS", std::env::temp_dir())
            .env(
                "SNAPSHOT_ROOTS",
                format!(
                    "{}:{}",
                    std::env::temp_dir().display(),
                    repo_root()
                        .join("examples")
                        .canonicalize()
                        .expect("examples dir")
                        .display()
                ),
            )
            .env("SECRET_DIGEST_KEY", super::TEST_SECRET_DIGEST_KEY)
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("starting statesight-worker");
        WorkerProcess(child)
    }

    /// SIGKILL: no chance to clean up, as when a node dies.
    pub fn kill_hard(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        // Through the kill command: the crate forbids unsafe code, so no libc call.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the worker did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn wait_for_run(
    pool: &PgPool,
    run_id: Uuid,
    timeout: Duration,
    log: &std::path::Path,
) -> statesight_core::wire::AnalysisRun {
    let deadline = Instant::now() + timeout;
    loop {
        let run = runs::get(pool, run_id).await.expect("get").expect("run");
        if matches!(run.status, RunStatus::Succeeded | RunStatus::Failed) {
            return run;
        }
        if Instant::now() > deadline {
            panic!(
                "run {run_id} still {} after {timeout:?}; worker log:\n{}",
                run.status,
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn request(pool: &PgPool, queue: &Queue) -> Uuid {
    let actor = Actor::user(EDITOR, "test");
    match runs::request_analysis(pool, queue, &actor, LEDGER, None, RunTrigger::Manual)
        .await
        .expect("request")
    {
        AnalysisRequest::Created(run) => run.id,
        other => panic!("expected a new run, got {other:?}"),
    }
}

/// The general properties after a fault and its recovery: every run of the database is
/// terminal, and each succeeded run's findings and provenance were written exactly once.
pub async fn assert_every_run_terminal_and_written_once(pool: &PgPool) {
    let unfinished: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, status FROM analysis_runs WHERE status NOT IN ('succeeded', 'failed')",
    )
    .fetch_all(pool)
    .await
    .expect("runs");
    assert!(
        unfinished.is_empty(),
        "runs left unfinished: {unfinished:?}"
    );
    let miscounted: Vec<(Uuid, i64, Option<i32>, i64)> = sqlx::query_as(
        "SELECT r.id, (SELECT count(*) FROM findings f WHERE f.run_id = r.id), r.finding_count,
                (SELECT count(*) FROM desired_provenance p WHERE p.run_id = r.id)
           FROM analysis_runs r WHERE r.status = 'succeeded'",
    )
    .fetch_all(pool)
    .await
    .expect("counts");
    for (run, findings, expected, provenance) in miscounted {
        assert_eq!(
            Some(findings),
            expected.map(i64::from),
            "run {run}: findings"
        );
        assert_eq!(provenance, 1, "run {run}: provenance");
    }
}
