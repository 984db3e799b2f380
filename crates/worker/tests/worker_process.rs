//! The `statesight-worker run` binary as a process, against the real PostgreSQL, Redis and
//! a Kubernetes API served by the test: a worker killed with SIGKILL mid-job (held
//! deterministically by the test API) completes the job exactly once after a restart or
//! when another worker takes it over; it survives a restart of a Redis of its own while
//! idle; it shuts down cleanly.

mod e2e;
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::*;
use sqlx::PgPool;
use statesight_core::wire::{RunStatus, RunTrigger};
use statesight_store::audit::Actor;
use statesight_store::queue::Queue;
use statesight_store::runs::{self, AnalysisRequest};
use uuid::Uuid;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A redis-server of this test's own, on its own port (never the shared one).
struct OwnRedis {
    child: Child,
    port: u16,
    dir: Option<tempfile::TempDir>,
}

impl OwnRedis {
    fn start(port: u16, dir: tempfile::TempDir) -> Self {
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

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(mut self) -> (u16, tempfile::TempDir) {
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

struct WorkerProcess(Child);

/// A metrics port per worker name, so a test can read the worker's `/metrics`.
fn metrics_port_for(worker_id: &str) -> u16 {
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

async fn worker_metrics(worker_id: &str) -> String {
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
    fn start(
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
    fn start_with(
        database_url: &str,
        redis_url: &str,
        prefix: &str,
        worker_id: &str,
        cache: &std::path::Path,
        log: &std::path::Path,
        lease_renew: &str,
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
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("starting statesight-worker");
        WorkerProcess(child)
    }

    /// SIGKILL: no chance to clean up, as when a node dies.
    fn kill_hard(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    fn terminate(mut self) -> std::process::ExitStatus {
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

async fn wait_for_run(
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

async fn request(pool: &PgPool, queue: &Queue) -> Uuid {
    let actor = Actor {
        user_id: Some(EDITOR),
        request_id: String::from("test"),
    };
    match runs::request_analysis(pool, queue, &actor, LEDGER, None, RunTrigger::Manual)
        .await
        .expect("request")
    {
        AnalysisRequest::Created(run) => run.id,
        other => panic!("expected a new run, got {other:?}"),
    }
}

async fn group_exists(redis_url: &str, prefix: &str) -> bool {
    let Ok(client) = redis::Client::open(redis_url) else {
        return false;
    };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    let groups: redis::RedisResult<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(format!("{prefix}:jobs"))
        .query_async(&mut connection)
        .await;
    matches!(groups, Ok(redis::Value::Array(ref groups)) if !groups.is_empty())
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_worker_survives_a_redis_restart_while_idle(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let redis = OwnRedis::start(free_port(), tempfile::tempdir().expect("redis dir"));
    let redis_url = redis.url();
    let prefix = format!("restart-{}", Uuid::new_v4());
    let log = scratch.path().join("worker.log");
    let worker = WorkerProcess::start(
        &database_url(&pool),
        &redis_url,
        &prefix,
        "restart-test",
        &scratch.path().join("cache"),
        &log,
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    while !group_exists(&redis_url, &prefix).await {
        assert!(
            Instant::now() < deadline,
            "the worker never created its consumer group:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Redis goes away (keeping nothing: the stream and the group are gone) and comes back.
    let (port, dir) = redis.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _redis = OwnRedis::start(port, dir);

    let queue = Queue::new(
        statesight_store::redis_conn::client(&redis_url).expect("client"),
        prefix.clone(),
    );
    let run_id = request(&pool, &queue).await;
    let status = wait_for_run(&pool, run_id, Duration::from_secs(60), &log).await;
    assert_eq!(status.status, RunStatus::Succeeded, "{status:?}");

    // Its metrics: job counters, duration histogram and queue gauges.
    let metrics = worker_metrics("restart-test").await;
    for name in [
        "statesight_worker_jobs_started_total 1",
        "statesight_worker_jobs_succeeded_total 1",
        "statesight_worker_job_duration_seconds_bucket",
        "statesight_worker_queue_depth",
        "statesight_worker_oldest_pending_age_seconds",
        "statesight_worker_dead_letter_length 0",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }

    let exit = worker.terminate();
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log_text.contains(&run_id.to_string()),
        "log lines carry the run id"
    );
    assert!(
        log_text.contains("queue unavailable"),
        "the outage was noticed and retried:\n{log_text}"
    );
}

/// The ledger application now reads a Kubernetes API served by this test, which holds its
/// replies until released.
async fn ledger_on_test_api(
    pool: &PgPool,
    dir: &std::path::Path,
) -> support::kube_api::TestKubeApi {
    let api = support::kube_api::TestKubeApi::builder()
        .objects(support::load_objects(&support::ledger_snapshot_dir()))
        .namespace("payments")
        .start()
        .await;
    let kubeconfig = api.write_kubeconfig(dir, "test-cluster");
    sqlx::query(
        "UPDATE clusters SET live_source = 'kube-api', snapshot_dir = NULL, kubeconfig_path = $2, kube_context = 'test-cluster'
          WHERE id = $1",
    )
    .bind(PROD_CLUSTER)
    .bind(kubeconfig.display().to_string())
    .execute(pool)
    .await
    .expect("point the cluster at the test API");
    api
}

/// Everything a run wrote, to prove it was written exactly once.
async fn written_once(pool: &PgPool, run_id: Uuid) {
    let (findings, expected): (i64, Option<i32>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM findings WHERE run_id = $1), (SELECT finding_count FROM analysis_runs WHERE id = $1)",
    )
    .bind(run_id)
    .fetch_one(pool)
    .await
    .expect("counts");
    assert!(findings > 0);
    assert_eq!(
        Some(findings),
        expected.map(i64::from),
        "findings written once"
    );
    let (provenance,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM desired_provenance WHERE run_id = $1")
            .bind(run_id)
            .fetch_one(pool)
            .await
            .expect("provenance");
    assert_eq!(provenance, 1);
    let occurrences: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT i.occurrence_count, (SELECT count(*) FROM incident_timeline_events e WHERE e.incident_id = i.id AND e.kind = 'first_seen')
           FROM incidents i WHERE i.application_id = $1",
    )
    .bind(LEDGER)
    .fetch_all(pool)
    .await
    .expect("incidents");
    assert!(!occurrences.is_empty());
    assert!(
        occurrences
            .iter()
            .all(|&(count, first_seen)| count == 1 && first_seen == 1),
        "{occurrences:?}"
    );
}

async fn wait_for_held(api: &support::kube_api::TestKubeApi, log: &std::path::Path) {
    if tokio::time::timeout(Duration::from_secs(60), api.wait_for_held(1))
        .await
        .is_err()
    {
        panic!(
            "the worker never reached the cluster; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_worker_killed_mid_job_completes_it_exactly_once_after_restart(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let api = ledger_on_test_api(&pool, scratch.path()).await;
    api.hold();
    let prefix = Prefix::new();
    let log = scratch.path().join("worker.log");
    let cache = scratch.path().join("cache");
    // A long lease: only a restart with the same WORKER_ID can pick the job up quickly.
    let worker = WorkerProcess::start_with(
        &database_url(&pool),
        &redis_url(),
        &prefix.0,
        "kill-test",
        &cache,
        &log,
        "20s",
    );
    let run_id = request(&pool, &prefix.queue()).await;
    wait_for_held(&api, &log).await;
    worker.kill_hard();
    let run = runs::get(&pool, run_id).await.expect("get").expect("run");
    assert_eq!(
        (run.status.as_str(), run.attempts),
        ("running", 1),
        "killed mid-job"
    );

    api.release();
    let restarted = Instant::now();
    let worker = WorkerProcess::start_with(
        &database_url(&pool),
        &redis_url(),
        &prefix.0,
        "kill-test",
        &cache,
        &log,
        "20s",
    );
    let status = wait_for_run(&pool, run_id, Duration::from_secs(30), &log).await;
    assert_eq!(
        (status.status.as_str(), status.attempts),
        ("succeeded", 2),
        "{status:?}"
    );
    assert!(
        restarted.elapsed() < Duration::from_secs(20),
        "resumed at once, not after the lease expired"
    );
    written_once(&pool, run_id).await;
    let queue = prefix.queue();
    let stats = queue.stats().await.expect("stats");
    assert_eq!((stats.pending, stats.dead_letters), (0, 0), "{stats:?}");
    assert_eq!(
        queue.inflight(LEDGER).await.expect("inflight"),
        None,
        "lease released"
    );
    assert!(worker.terminate().success());
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn another_worker_takes_over_a_job_abandoned_by_a_killed_one(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let api = ledger_on_test_api(&pool, scratch.path()).await;
    api.hold();
    let prefix = Prefix::new();
    let log = scratch.path().join("worker.log");
    let first = WorkerProcess::start(
        &database_url(&pool),
        &redis_url(),
        &prefix.0,
        "first",
        &scratch.path().join("cache-1"),
        &log,
    );
    let run_id = request(&pool, &prefix.queue()).await;
    wait_for_held(&api, &log).await;
    first.kill_hard();
    api.release();
    let second = WorkerProcess::start(
        &database_url(&pool),
        &redis_url(),
        &prefix.0,
        "second",
        &scratch.path().join("cache-2"),
        &log,
    );
    let status = wait_for_run(&pool, run_id, Duration::from_secs(30), &log).await;
    assert_eq!(
        (status.status.as_str(), status.attempts),
        ("succeeded", 2),
        "{status:?}"
    );
    written_once(&pool, run_id).await;
    assert!(
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("taking over an abandoned job")
    );
    assert!(second.terminate().success());
    prefix.cleanup().await;
}
