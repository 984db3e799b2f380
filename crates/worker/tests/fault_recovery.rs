//! Fault injection against real worker processes: what happens to jobs while a dependency
//! is sick, and how fast the queue recovers. Each test names the bound it proves.

mod e2e;
mod support;

use std::time::{Duration, Instant};

use e2e::processes::*;
use e2e::tcp_proxy::TcpProxy;
use e2e::*;
use sqlx::PgPool;
use statesight_core::wire::RunStatus;

fn log_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// A PostgreSQL outage (every connection hangs for 12 s, longer than several pool timeouts)
/// while a job waits: the worker holding it keeps renewing its lease, so the other worker
/// takes nothing over (bound: zero takeovers), nothing is parked, the failed attempts say
/// why in their log lines, and the run succeeds once the database is back (bound: 30 s).
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_database_outage_causes_no_takeovers_and_parks_nothing(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let prefix = Prefix::new();
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let through_proxy =
        database_url(&pool).replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let logs = [scratch.path().join("a.log"), scratch.path().join("b.log")];
    let workers: Vec<WorkerProcess> = ["outage-a", "outage-b"]
        .iter()
        .zip(&logs)
        .map(|(id, log)| {
            WorkerProcess::start_with(
                &through_proxy,
                &redis_url(),
                &prefix.0,
                id,
                &scratch.path().join(format!("cache-{id}")),
                log,
                "1s",
            )
        })
        .collect();

    // Both workers up (they check the database at start) before the outage begins.
    let started = Instant::now();
    while !logs.iter().all(|log| {
        log_lines(log)
            .iter()
            .any(|line| line["message"] == "statesight-worker started")
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the workers did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.stall();
    let queue = prefix.queue();
    let run_id = request(&pool, &queue).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    proxy.resume();
    let restored = Instant::now();
    let run = wait_for_run(&pool, run_id, Duration::from_secs(30), &logs[0]).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert!(restored.elapsed() < Duration::from_secs(30));

    let lines: Vec<serde_json::Value> = logs.iter().flat_map(|log| log_lines(log)).collect();
    let everything = logs
        .iter()
        .map(|log| std::fs::read_to_string(log).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let takeovers = lines
        .iter()
        .filter(|line| line["message"] == "taking over an abandoned job")
        .count();
    assert_eq!(takeovers, 0, "a live job was taken over:\n{everything}");
    let stats = queue.stats().await.expect("stats");
    assert_eq!(stats.dead_letters, 0, "a job was parked:\n{everything}");
    // The outage was met, and every retry line says which run, which attempt and why.
    let retries: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["message"] == "attempt failed; retry scheduled")
        .collect();
    assert!(
        !retries.is_empty(),
        "no attempt met the outage:\n{everything}"
    );
    for line in retries {
        assert_eq!(line["span"]["run_id"], run_id.to_string(), "{line}");
        assert!(line["attempt"].is_number(), "{line}");
        assert!(
            line["error"]
                .as_str()
                .is_some_and(|error| !error.is_empty()),
            "{line}"
        );
    }
    assert_every_run_terminal_and_written_once(&pool).await;
    drop(workers);
    prefix.cleanup().await;
}
