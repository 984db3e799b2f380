//! The `statesight-worker run` binary as a process, against the real PostgreSQL, Redis and
//! a Kubernetes API served by the test: a worker killed with SIGKILL mid-job (held
//! deterministically by the test API) completes the job exactly once after a restart or
//! when another worker takes it over; it survives a restart of a Redis of its own while
//! idle; it shuts down cleanly.

mod e2e;
mod support;

use std::time::{Duration, Instant};

use e2e::processes::*;
use e2e::*;
use sqlx::PgPool;
use statesight_core::wire::RunStatus;
use statesight_store::queue::Queue;
use statesight_store::runs;
use uuid::Uuid;

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
        "statesight_worker_stream_length",
        "statesight_worker_oldest_queued_run_age_seconds",
        "statesight_worker_oldest_running_run_age_seconds",
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

/// Everything a run wrote, to prove it was written exactly once (the only run of the
/// application: its incidents were each seen once).
async fn written_once(pool: &PgPool, run_id: Uuid) {
    run_written_once(pool, run_id).await;
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

/// A run's findings and provenance, each written once.
async fn run_written_once(pool: &PgPool, run_id: Uuid) {
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

/// Fault 2 with real processes: the worker holding a job is killed and Redis is wiped at
/// the same moment, while a newer revision waits. Bound: the orphan is queued again after
/// three lease renewals of silence (here 3 s, plus one sweep) and both runs succeed, each
/// once — it used to stay `running` until the job timeout (10 minutes) passed.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_worker_and_redis_killed_together_recover_within_three_renewals(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, revisions) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let api = ledger_on_test_api(&pool, scratch.path()).await;
    api.hold();
    let redis = OwnRedis::start(free_port(), tempfile::tempdir().expect("redis dir"));
    let redis_url = redis.url();
    let prefix = format!("wipe-{}", Uuid::new_v4());
    let queue = Queue::new(
        statesight_store::redis_conn::client(&redis_url).expect("client"),
        prefix.clone(),
    );
    let log = scratch.path().join("worker.log");
    let doomed = WorkerProcess::start(
        &database_url(&pool),
        &redis_url,
        &prefix,
        "doomed",
        &scratch.path().join("cache-doomed"),
        &log,
    );
    let orphan = request(&pool, &queue).await;
    wait_for_held(&api, &log).await;
    let actor = statesight_store::audit::Actor::user(EDITOR, "test");
    let newer = match runs::request_analysis(
        &pool,
        &queue,
        &actor,
        LEDGER,
        revisions.first().cloned(),
        statesight_core::wire::RunTrigger::Manual,
    )
    .await
    .expect("newer revision")
    {
        runs::AnalysisRequest::Created(run) => run.id,
        other => panic!("expected a follow-up run, got {other:?}"),
    };

    // Both die together: the job, its lease and the follow-up are gone from Redis.
    doomed.kill_hard();
    let (port, dir) = redis.stop();
    let _redis = OwnRedis::start(port, dir);
    api.release();
    let killed = Instant::now();
    let _survivor = WorkerProcess::start(
        &database_url(&pool),
        &redis_url,
        &prefix,
        "survivor",
        &scratch.path().join("cache-survivor"),
        &log,
    );
    for run_id in [orphan, newer] {
        let run = wait_for_run(&pool, run_id, Duration::from_secs(30), &log).await;
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    }
    let recovered = killed.elapsed();
    assert!(
        recovered < Duration::from_secs(15),
        "recovered after {recovered:?}; bound: 3 renewals + a sweep + two analyses"
    );
    run_written_once(&pool, orphan).await;
    run_written_once(&pool, newer).await;
    assert_every_run_terminal_and_written_once(&pool).await;
    eprintln!("worker and Redis killed together: both runs succeeded {recovered:?} later");
}

/// Fault 1 with real processes: the worker finishing a run is killed right after
/// acknowledging it and before releasing the application's lease (a failpoint), while a
/// newer revision waits behind that lease. Bound: the waiting run succeeds within three
/// lease renewals (here 3 s) plus its analysis — it used to wait out the lease's 15 minutes.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_worker_killed_before_releasing_its_lease_holds_up_nothing(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, revisions) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let api = ledger_on_test_api(&pool, scratch.path()).await;
    api.hold();
    let prefix = Prefix::new();
    let queue = prefix.queue();
    let log = scratch.path().join("worker.log");
    let mut doomed = WorkerProcess::start_env(
        &database_url(&pool),
        &redis_url(),
        &prefix.0,
        "dies-after-ack",
        &scratch.path().join("cache-doomed"),
        &log,
        "1s",
        &[("STATESIGHT_FAILPOINT", "exit-after-ack")],
    );
    let first = request(&pool, &queue).await;
    wait_for_held(&api, &log).await;
    let actor = statesight_store::audit::Actor::user(EDITOR, "test");
    let waiting = match runs::request_analysis(
        &pool,
        &queue,
        &actor,
        LEDGER,
        revisions.first().cloned(),
        statesight_core::wire::RunTrigger::Manual,
    )
    .await
    .expect("newer revision")
    {
        runs::AnalysisRequest::Created(run) => run.id,
        other => panic!("expected a follow-up run, got {other:?}"),
    };
    api.release();
    // The first run finishes, then the process dies holding the lease.
    let run = wait_for_run(&pool, first, Duration::from_secs(30), &log).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    let died = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = doomed.0.try_wait() {
            break status;
        }
        assert!(
            died.elapsed() < Duration::from_secs(10),
            "the failpoint did not fire"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(137));
    assert_eq!(
        queue.inflight(LEDGER).await.expect("lease"),
        Some(first),
        "the lease was left behind"
    );

    let _survivor = WorkerProcess::start(
        &database_url(&pool),
        &redis_url(),
        &prefix.0,
        "survivor",
        &scratch.path().join("cache-survivor"),
        &log,
    );
    let run = wait_for_run(&pool, waiting, Duration::from_secs(30), &log).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let recovered = died.elapsed();
    assert!(
        recovered < Duration::from_secs(10),
        "the waiting run finished {recovered:?} after the crash; bound: 3 renewals + an analysis"
    );
    assert_every_run_terminal_and_written_once(&pool).await;
    eprintln!(
        "worker killed before releasing its lease: the waiting run succeeded {recovered:?} later"
    );
    prefix.cleanup().await;
}
