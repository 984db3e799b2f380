//! A full analysis of the runnable example on the real PostgreSQL and Redis: the analyze
//! request enqueues a job, the worker reads the example's real Git repository at a
//! resolved commit and its captured snapshot, and writes incidents, findings, evidence and
//! timelines in one transaction. Then re-analysis, suppression by a new rule, and an older
//! revision resolving incidents.

mod e2e;

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::*;
use sqlx::PgPool;
use statesight_core::wire::{LiveMethod, ObservedAtSource, RunStatus, RunTrigger};
use statesight_store::audit::Actor;
use statesight_store::runs::{self, AnalysisRequest};
use statesight_worker::runtime::{Outcome, Worker};

use uuid::Uuid;

async fn analyse(worker: &Worker, revision: Option<&str>) -> (Uuid, Outcome) {
    let actor = Actor::user(EDITOR, "test");
    let run = match runs::request_analysis(
        &worker.pool,
        &worker.queue,
        &actor,
        LEDGER,
        revision.map(str::to_owned),
        RunTrigger::Manual,
    )
    .await
    .expect("request")
    {
        AnalysisRequest::Created(run) => run,
        other => panic!("expected a new run, got {other:?}"),
    };
    let mut connection = consumer_connection(worker).await;
    let delivery = take_job(worker, &mut connection).await;
    assert_eq!(delivery.job.as_ref().map(|job| job.run_id), Some(run.id));
    (run.id, worker.process("test-worker-0", delivery).await)
}

#[derive(Debug, sqlx::FromRow, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct IncidentRow {
    resource_kind: String,
    resource_name: String,
    cause: String,
    recommendation: String,
    severity: String,
    status: String,
    occurrence_count: i32,
    id: Uuid,
}

async fn incidents(pool: &PgPool) -> Vec<IncidentRow> {
    sqlx::query_as(
        "SELECT resource_kind, resource_name, cause, recommendation, severity, status, occurrence_count, id
           FROM incidents WHERE application_id = $1 ORDER BY resource_kind, resource_name, cause",
    )
    .bind(LEDGER)
    .fetch_all(pool)
    .await
    .expect("incidents")
}

/// Findings of one run as comparable text (ids and times excluded).
async fn findings_of(pool: &PgPool, run: Uuid) -> Vec<(String, String, String, String, String)> {
    sqlx::query_as(
        "SELECT resource_kind || '/' || resource_name, path, change,
                coalesce(desired::text, 'null') || ' -> ' || coalesce(live::text, 'null'), owners::text
           FROM findings WHERE run_id = $1 ORDER BY ordinal",
    )
    .bind(run)
    .fetch_all(pool)
    .await
    .expect("findings")
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_ledger_example_is_analysed_for_real(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, commits) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));

    let (first_run, outcome) = analyse(&worker, None).await;
    assert_eq!(outcome, Outcome::Succeeded);
    let run = runs::get(&pool, first_run)
        .await
        .expect("get")
        .expect("run");
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(
        run.resolved_revision.as_deref(),
        Some(commits[3].as_str()),
        "main resolved to HEAD"
    );
    assert_eq!(
        (run.finding_count, run.incident_count, run.suppressed_count),
        (Some(9), Some(8), Some(0))
    );
    let desired = run.desired_provenance.expect("desired provenance");
    assert_eq!(desired.commit_sha, commits[3]);
    assert!(desired.committed_at.is_some());
    let live = run.live_provenance.expect("live provenance");
    assert_eq!(
        (
            live.method.as_str(),
            live.trusted,
            live.observed_at_source.as_str()
        ),
        ("snapshot", true, "capture_file")
    );
    assert_eq!(live.context.as_deref(), Some("prod-eu-1"));

    let first = incidents(&pool).await;
    let summary: Vec<(&str, &str, &str, &str)> = first
        .iter()
        .map(|i| {
            (
                i.resource_name.as_str(),
                i.cause.as_str(),
                i.recommendation.as_str(),
                i.severity.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("ledger-config", "kubectl-edit", "investigate", "medium"),
            ("ledger-config", "removed_from_git", "reconcile", "medium"),
            ("ledger-api", "kube-controller-manager", "ignore", "low"),
            ("ledger-api", "kubectl-patch", "investigate", "critical"),
            ("ledger-worker", "kubectl-edit", "investigate", "high"),
            ("ledger-worker", "kubectl-set", "investigate", "high"),
            ("ledger-default-deny", "missing", "reconcile", "high"),
            ("ledger-api", "kubectl-annotate", "monitor", "low"),
        ]
    );
    let recommendations: BTreeSet<&str> = first.iter().map(|i| i.recommendation.as_str()).collect();
    assert_eq!(
        recommendations,
        BTreeSet::from(["ignore", "investigate", "monitor", "reconcile"])
    );

    // Evidence: provenance on both sides, ownership only where a manager owns the path.
    let evidence: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT path, evidence FROM findings WHERE run_id = $1 ORDER BY ordinal")
            .bind(first_run)
            .fetch_all(&pool)
            .await
            .expect("evidence");
    for (path, evidence) in &evidence {
        assert_eq!(
            evidence["desired"]["revision"],
            commits[3].as_str(),
            "{path}"
        );
        assert!(
            evidence["desired"]["file"]
                .as_str()
                .is_some_and(|f| f.starts_with("deploy/")),
            "{path}: {evidence}"
        );
        assert_eq!(evidence["live"]["method"], "snapshot");
        assert_eq!(evidence["attribution"]["grade"], "not-attributed");
    }
    let missing = evidence
        .iter()
        .find(|(path, _)| path.is_empty())
        .expect("the missing NetworkPolicy");
    assert_eq!(missing.1["ownership"]["owners"], serde_json::json!([]));
    // The console reads the same evidence typed, through the store: every field the worker
    // writes is set, none is left to the optional fields older records need.
    for incident in &first {
        let page = statesight_store::incidents::findings(&pool, incident.id, None, 500)
            .await
            .expect("typed findings");
        for finding in &page.items {
            let desired = &finding.evidence.desired;
            assert!(
                desired.source_path.is_some() && desired.file.is_some(),
                "{finding:?}"
            );
            assert!(desired.document.is_some(), "{finding:?}");
            let live = &finding.evidence.live;
            assert_eq!(live.method, LiveMethod::Snapshot);
            assert_eq!(live.observed_at_source, Some(ObservedAtSource::CaptureFile));
            assert!(live.cluster_id.is_some(), "{finding:?}");
            assert!(
                finding.owners.iter().all(|owner| owner.role.is_some()),
                "{finding:?}"
            );
        }
    }

    // The timeline, in time order: kubectl-patch wrote on 11-16 (the cluster's managedFields
    // time), HEAD was committed on 11-18, the analysis saw it now.
    let patch_incident = first
        .iter()
        .find(|i| i.cause == "kubectl-patch")
        .expect("patch incident");
    let kinds: Vec<(String,)> = sqlx::query_as("SELECT kind FROM incident_timeline_events WHERE incident_id = $1 ORDER BY occurred_at, ordinal")
        .bind(patch_incident.id)
        .fetch_all(&pool)
        .await
        .expect("timeline");
    let kinds: Vec<&str> = kinds.iter().map(|(k,)| k.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["managed_fields_time", "git_revision", "first_seen"]
    );

    // Analysing again changes nothing but the counts: same incidents, same findings.
    let (second_run, outcome) = analyse(&worker, None).await;
    assert_eq!(outcome, Outcome::Succeeded);
    let second = incidents(&pool).await;
    assert_eq!(
        second.iter().map(|i| i.id).collect::<Vec<_>>(),
        first.iter().map(|i| i.id).collect::<Vec<_>>()
    );
    assert!(
        second
            .iter()
            .all(|i| i.occurrence_count == 2 && i.status == "open")
    );
    assert_eq!(
        findings_of(&pool, second_run).await,
        findings_of(&pool, first_run).await,
        "deterministic findings"
    );

    // A managed_by rule now suppresses the autoscaler's replicas: that incident resolves
    // with a 'suppressed' event, and the suppression records the rule as it was.
    sqlx::query(
        "INSERT INTO ignore_rules (id, workspace_id, application_id, name, match_expression, managed_by, reason)
         VALUES ($1, $2, $3, 'hpa-replicas', 'spec.replicas', 'kube-controller-manager', 'the HPA scales ledger-api')",
    )
    .bind(Uuid::now_v7())
    .bind(seed_workspace())
    .bind(LEDGER)
    .execute(&pool)
    .await
    .expect("rule");
    let (third_run, outcome) = analyse(&worker, None).await;
    assert_eq!(outcome, Outcome::Succeeded);
    let third = incidents(&pool).await;
    let replicas = third
        .iter()
        .find(|i| i.cause == "kube-controller-manager")
        .expect("replicas incident");
    assert_eq!(replicas.status, "resolved");
    let (kind, summary): (String, String) = sqlx::query_as(
        "SELECT kind, summary FROM incident_timeline_events WHERE incident_id = $1 ORDER BY occurred_at DESC, ordinal DESC LIMIT 1",
    )
    .bind(replicas.id)
    .fetch_one(&pool)
    .await
    .expect("last event");
    assert_eq!(kind, "suppressed");
    assert!(summary.contains("hpa-replicas"), "{summary}");
    let suppressed: Vec<(String, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT path, rule_name, run_id FROM suppressed_findings WHERE application_id = $1",
    )
    .bind(LEDGER)
    .fetch_all(&pool)
    .await
    .expect("suppressed");
    assert_eq!(
        suppressed,
        vec![(
            String::from("spec.replicas"),
            String::from("hpa-replicas"),
            Some(third_run)
        )]
    );

    // The applied revision (commit 03): the CSV key is still in Git and the NetworkPolicy
    // does not exist yet, so those two incidents resolve.
    let (_, outcome) = analyse(&worker, Some(&commits[2])).await;
    assert_eq!(outcome, Outcome::Succeeded);
    let fourth = incidents(&pool).await;
    let open: BTreeSet<&str> = fourth
        .iter()
        .filter(|i| i.status == "open")
        .map(|i| i.cause.as_str())
        .collect();
    assert_eq!(
        open,
        BTreeSet::from([
            "kubectl-annotate",
            "kubectl-edit",
            "kubectl-patch",
            "kubectl-set"
        ])
    );
    prefix.cleanup().await;
}

fn seed_workspace() -> Uuid {
    statesight_store::seed::PAYMENTS_WORKSPACE_ID
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_unknown_revision_fails_the_run_with_a_readable_error(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));
    let (run_id, outcome) = analyse(&worker, Some("no-such-branch")).await;
    assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    let run = runs::get(&pool, run_id).await.expect("get").expect("run");
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("an error");
    assert!(error.contains("no-such-branch"), "{error}");
    // The lease is released on the failure path too.
    assert_eq!(worker.queue.inflight(LEDGER).await.expect("inflight"), None);
    prefix.cleanup().await;
}

/// Analyses the seeded ledger with a worker whose input policy is `policy`; returns the
/// run's error.
async fn error_under_policy(
    pool: &PgPool,
    policy: statesight_worker::settings::InputPolicy,
) -> String {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(pool, &repo).await;
    let prefix = Prefix::new();
    let mut settings = settings(
        &database_url(pool),
        &prefix.0,
        &scratch.path().join("cache"),
    );
    settings.inputs = policy;
    let worker = Worker::new(pool.clone(), prefix.queue(), settings);
    let (run_id, outcome) = analyse(&worker, None).await;
    assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    prefix.cleanup().await;
    let run = runs::get(pool, run_id).await.expect("get").expect("run");
    run.error.expect("an error")
}

/// A cluster row may predate the operator's roots (or be written around the API): the
/// worker checks the path again before reading and fails the run, naming the setting.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_stored_snapshot_dir_outside_the_roots_is_not_read(pool: PgPool) {
    let policy = statesight_worker::settings::InputPolicy::new(
        true,
        "/etc/statesight/kubeconfigs",
        "/var/lib/statesight/snapshots",
        None,
    )
    .expect("policy");
    let error = error_under_policy(&pool, policy).await;
    assert!(
        error.contains("snapshot_dir") && error.contains("/var/lib/statesight/snapshots"),
        "{error}"
    );
}

/// The same for a `file://` repository when the operator has not allowed them.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_stored_file_repository_is_not_read_unless_allowed(pool: PgPool) {
    let policy =
        statesight_worker::settings::InputPolicy::new(false, "/", "/", None).expect("policy");
    let error = error_under_policy(&pool, policy).await;
    assert!(error.contains("ALLOW_FILE_REPOSITORIES"), "{error}");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_job_that_keeps_failing_is_parked_and_its_run_failed(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    // A repository that is not there: unreachable is transient, so it is retried.
    seed_ledger(&pool, &scratch.path().join("missing.git")).await;
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));
    let (run_id, outcome) = analyse(&worker, None).await;
    assert!(
        matches!(outcome, Outcome::RetryScheduled { attempt: 1, .. }),
        "{outcome:?}"
    );
    let mut connection = consumer_connection(&worker).await;
    let mut last = outcome;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(450)).await;
        worker.queue.promote_due_retries().await.expect("promote");
        if let Some(delivery) = worker
            .queue
            .next(&mut connection, "test-worker-0", Duration::from_millis(200))
            .await
            .expect("read")
        {
            last = worker.process("test-worker-0", delivery).await;
            if matches!(last, Outcome::Parked(_)) {
                break;
            }
        }
    }
    let Outcome::Parked(error) = &last else {
        panic!("not parked: {last:?}")
    };
    assert!(error.contains("gave up after 3 attempts"), "{error}");
    let run = runs::get(&pool, run_id).await.expect("get").expect("run");
    assert_eq!((run.status.as_str(), run.attempts), ("failed", 3));
    assert!(
        run.error.as_deref().is_some_and(
            |e| e.contains("ledger.git") && e.contains("not appear to be a git repository")
        ),
        "{:?}",
        run.error
    );
    let stats = worker.queue.stats().await.expect("stats");
    assert_eq!(stats.dead_letters, 1);
    assert_eq!(stats.retries_waiting, 0);
    assert_eq!(
        worker.queue.inflight(LEDGER).await.expect("inflight"),
        None,
        "lease released"
    );
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_malformed_job_is_parked_without_touching_any_run(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, scratch.path());
    worker.queue.ensure_group().await.expect("group");
    let mut connection = worker.queue.connection().await.expect("connection");
    let _: String = redis::cmd("XADD")
        .arg(worker.queue.stream_key())
        .arg("*")
        .arg("job")
        .arg("{not json")
        .query_async(&mut connection)
        .await
        .expect("xadd");
    let mut blocking = consumer_connection(&worker).await;
    let delivery = take_job(&worker, &mut blocking).await;
    let outcome = worker.process("test-worker-0", delivery).await;
    assert!(
        matches!(outcome, Outcome::Parked(ref e) if e.contains("not a job")),
        "{outcome:?}"
    );
    assert_eq!(worker.queue.stats().await.expect("stats").dead_letters, 1);
    prefix.cleanup().await;
}

/// Regression: the job is enqueued just before its run's transaction commits, and a fast
/// worker read it before the run existed, dropped it, and left the run queued forever.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_job_seen_before_its_run_commits_waits_for_it(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));
    let run_id = Uuid::now_v7();
    let job = statesight_store::queue::Job::new(run_id, LEDGER);
    worker.queue.enqueue(&job, true).await.expect("enqueue");
    let mut connection = consumer_connection(&worker).await;
    let delivery = take_job(&worker, &mut connection).await;
    let outcome = worker.process("test-worker-0", delivery).await;
    assert!(
        matches!(outcome, Outcome::RetryScheduled { attempt: 0, .. }),
        "{outcome:?}"
    );
    // The request's transaction commits now.
    sqlx::query("INSERT INTO analysis_runs (id, workspace_id, application_id) VALUES ($1, $2, $3)")
        .bind(run_id)
        .bind(seed_workspace())
        .bind(LEDGER)
        .execute(&pool)
        .await
        .expect("run");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        worker.queue.promote_due_retries().await.expect("promote"),
        1
    );
    let delivery = take_job(&worker, &mut connection).await;
    assert_eq!(
        worker.process("test-worker-0", delivery).await,
        Outcome::Succeeded
    );

    // A job whose run never appears (its request rolled back) is dropped after the grace.
    let stale = statesight_store::queue::Job {
        enqueued_at_ms: 0,
        ..statesight_store::queue::Job::new(Uuid::now_v7(), LEDGER)
    };
    worker.queue.enqueue(&stale, true).await.expect("enqueue");
    let delivery = take_job(&worker, &mut connection).await;
    assert_eq!(
        worker.process("test-worker-0", delivery).await,
        Outcome::AlreadyFinished
    );
    assert_eq!(worker.queue.inflight(LEDGER).await.expect("inflight"), None);
    prefix.cleanup().await;
}

/// A run whose job was lost (Redis restarted without persistence) is enqueued again by
/// the sweeper and then analysed; one whose job still holds the lease is left alone.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn runs_that_lost_their_job_are_enqueued_again(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));
    let run_id = Uuid::now_v7();
    sqlx::query("INSERT INTO analysis_runs (id, workspace_id, application_id, queued_at) VALUES ($1, $2, $3, now() - interval '5 minutes')")
        .bind(run_id)
        .bind(seed_workspace())
        .bind(LEDGER)
        .execute(&pool)
        .await
        .expect("orphaned run");
    worker.sweep_lost_jobs().await;
    let jobs = worker.queue.stream_jobs().await.expect("jobs");
    assert_eq!(
        jobs.iter().map(|job| job.run_id).collect::<Vec<_>>(),
        vec![run_id]
    );
    let mut connection = consumer_connection(&worker).await;
    let delivery = take_job(&worker, &mut connection).await;
    assert_eq!(
        worker.process("test-worker-0", delivery).await,
        Outcome::Succeeded
    );
    assert_eq!(
        runs::get(&pool, run_id)
            .await
            .expect("get")
            .map(|run| run.status),
        Some(RunStatus::Succeeded)
    );
    prefix.cleanup().await;
}

/// `ANALYSIS_INTERVAL`: one tick per interval queues every application once, whichever
/// worker gets there first; a second tick in the same interval queues nothing.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn scheduled_analysis_happens_once_per_interval_across_workers(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    seed_ledger(&pool, &scratch.path().join("repo.git")).await;
    let prefix = Prefix::new();
    let (first, second) = (prefix.queue(), prefix.queue());
    let interval = Duration::from_secs(3600);
    statesight_worker::schedule::tick(&pool, &first, interval).await;
    statesight_worker::schedule::tick(&pool, &second, interval).await;
    let triggers: Vec<(String, i64)> = sqlx::query_as(
        "SELECT trigger, count(*) FROM analysis_runs WHERE status = 'queued' GROUP BY trigger",
    )
    .fetch_all(&pool)
    .await
    .expect("runs");
    let (applications,): (i64,) = sqlx::query_as("SELECT count(*) FROM applications")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(triggers, vec![(String::from("schedule"), applications)]);
    assert_eq!(
        first.stream_length().await.expect("xlen"),
        u64::try_from(applications).expect("count")
    );
    prefix.cleanup().await;
}

/// Retention: finished runs older than `RETENTION_DAYS` go, except each application's
/// latest run and runs that open incidents point at; findings of open incidents stay.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn old_runs_are_pruned_but_open_incidents_keep_their_evidence(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, commits) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));
    // Two real analyses: the applied commit, then HEAD (which observes every incident again).
    let (older, _) = analyse(&worker, Some(&commits[2])).await;
    let (latest, outcome) = analyse(&worker, None).await;
    assert_eq!(outcome, Outcome::Succeeded);
    // The first analysis and its findings age past the retention period.
    sqlx::query(
        "UPDATE analysis_runs SET queued_at = now() - interval '90 days', finished_at = now() - interval '90 days' WHERE id = $1",
    )
    .bind(older)
    .execute(&pool)
    .await
    .expect("age the run");
    sqlx::query("UPDATE findings SET observed_at = now() - interval '90 days' WHERE run_id = $1")
        .bind(older)
        .execute(&pool)
        .await
        .expect("age its findings");
    // Another application's only run is as old, but it is that application's latest.
    let checkout = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000502);
    let lone = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO analysis_runs (id, workspace_id, application_id, status, error, queued_at, finished_at)
         VALUES ($1, $2, $3, 'failed', 'repository unreachable', now() - interval '90 days', now() - interval '90 days')",
    )
    .bind(lone)
    .bind(seed_workspace())
    .bind(checkout)
    .execute(&pool)
    .await
    .expect("old run");
    let (latest_findings,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM findings WHERE run_id = $1")
            .bind(latest)
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(latest_findings, 9);

    let deleted = statesight_store::analysis::prune(&pool, 30)
        .await
        .expect("prune");
    assert_eq!(deleted, 1, "only the superseded 90-day-old run goes");
    let remaining: Vec<(Uuid,)> =
        sqlx::query_as("SELECT id FROM analysis_runs ORDER BY queued_at, id")
            .fetch_all(&pool)
            .await
            .expect("runs");
    assert_eq!(remaining, vec![(lone,), (latest,)]);
    let (aged, kept): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE observed_at < now() - interval '30 days'), count(*) FROM findings",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(
        (aged, kept),
        (0, 9),
        "old findings go, the latest observation stays"
    );
    let (orphans,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM incidents i WHERE i.status = 'open' AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.incident_id = i.id)",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(orphans, 0, "open incidents keep their findings");
    prefix.cleanup().await;
}

/// An application rule and a workspace rule may share a name: each suppression record
/// names the rule that matched, with its scope and id.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn suppressions_name_the_rule_that_matched_even_when_names_repeat(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let (workspace_rule, application_rule) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO ignore_rules (id, workspace_id, application_id, name, match_expression, managed_by, reason)
         VALUES ($1, $3, NULL, 'expected-drift', 'spec.replicas', 'kube-controller-manager', 'autoscaled everywhere'),
                ($2, $3, $4, 'expected-drift', 'metadata.annotations.ops.acme.io/incident', NULL, 'incident tags')",
    )
    .bind(workspace_rule)
    .bind(application_rule)
    .bind(seed_workspace())
    .bind(LEDGER)
    .execute(&pool)
    .await
    .expect("rules");
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));
    let (_, outcome) = analyse(&worker, None).await;
    assert_eq!(outcome, Outcome::Succeeded);
    let records: Vec<(String, String, Option<Uuid>)> =
        sqlx::query_as("SELECT path, rule_scope, rule_id FROM suppressed_findings WHERE application_id = $1 ORDER BY path")
            .bind(LEDGER)
            .fetch_all(&pool)
            .await
            .expect("suppressed");
    assert_eq!(
        records,
        vec![
            (
                String::from("metadata.annotations.ops.acme.io/incident"),
                String::from("application"),
                Some(application_rule)
            ),
            (
                String::from("spec.replicas"),
                String::from("workspace"),
                Some(workspace_rule)
            ),
        ]
    );
    prefix.cleanup().await;
}

/// Inserts a run of the ledger application in `status`, queued `queued_ago` seconds ago and
/// (when running) last heard of `silent_for` seconds ago.
async fn insert_run(pool: &PgPool, status: &str, queued_ago: i64, silent_for: i64) -> Uuid {
    let run_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO analysis_runs (id, workspace_id, application_id, status, queued_at, started_at, heartbeat_at, finished_at)
         VALUES ($1, $2, $3, $4, now() - make_interval(secs => $5), CASE WHEN $4 <> 'queued' THEN now() - make_interval(secs => $5) END,
                 CASE WHEN $4 = 'running' THEN now() - make_interval(secs => $6) END,
                 CASE WHEN $4 IN ('succeeded', 'failed') THEN now() END)",
    )
    .bind(run_id)
    .bind(seed_workspace())
    .bind(LEDGER)
    .bind(status)
    .bind(queued_ago as f64)
    .bind(silent_for as f64)
    .execute(pool)
    .await
    .expect("insert run");
    run_id
}

/// Fault 1: a worker killed after acknowledging its job but before releasing the
/// application's lease left the lease behind with a follow-up waiting on it. Bound: one
/// sweep (one lease renewal) — the sweeper sees the holder finished, releases the lease
/// and the follow-up goes on the stream (it used to wait out the lease's 15 minutes).
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_lease_left_by_a_finished_run_is_released_within_one_sweep(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));
    let finished = insert_run(&pool, "succeeded", 120, 0).await;
    let follow_up = insert_run(&pool, "queued", 60, 0).await;
    // The state the crash leaves: the finished run's lease (worst case, the full
    // enqueue-time lifetime) and the follow-up parked behind it.
    let queue = &worker.queue;
    let mut redis = queue.connection().await.expect("redis");
    let _: () = redis::cmd("SET")
        .arg(queue.inflight_key(LEDGER))
        .arg(finished.to_string())
        .arg("PX")
        .arg(600_000)
        .query_async(&mut redis)
        .await
        .expect("stale lease");
    queue
        .defer(&statesight_store::queue::Job::new(follow_up, LEDGER))
        .await
        .expect("follow-up");
    assert!(queue.stream_jobs().await.expect("jobs").is_empty());

    worker.sweep_lost_jobs().await;
    let jobs: Vec<Uuid> = queue
        .stream_jobs()
        .await
        .expect("jobs")
        .iter()
        .map(|job| job.run_id)
        .collect();
    assert_eq!(jobs, vec![follow_up]);
    assert_eq!(
        queue.inflight(LEDGER).await.expect("lease"),
        Some(follow_up)
    );
    let mut connection = consumer_connection(&worker).await;
    let delivery = take_job(&worker, &mut connection).await;
    assert_eq!(
        worker.process("test-worker-0", delivery).await,
        Outcome::Succeeded
    );
    assert_eq!(queue.inflight(LEDGER).await.expect("lease"), None);
    prefix.cleanup().await;
}

/// Fault 2: a worker and Redis killed together leave a run `running` with no job and no
/// lease, and a newer run queued with nothing in Redis. Bound: three lease renewals of
/// silence — the sweeper queues the orphan again (it used to wait for the job timeout),
/// parks the newer run as its follow-up, leaves a live run alone, and a newer run that
/// reached the stream anyway waits instead of retrying against the database forever.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_running_run_that_lost_its_worker_is_queued_again_after_three_renewals(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));
    let queue = &worker.queue;
    let stale_after = worker.settings.abandoned_after().as_secs() as i64;

    // Still within three renewals of silence: presumed alive, left alone.
    let orphan = insert_run(&pool, "running", 60, stale_after - 1).await;
    let newer = insert_run(&pool, "queued", 30, 0).await;
    worker.sweep_lost_jobs().await;
    assert!(queue.stream_jobs().await.expect("jobs").is_empty());

    // Silent for longer: its worker is gone. It goes back on the stream, the newer run
    // waits behind it.
    sqlx::query(
        "UPDATE analysis_runs SET heartbeat_at = now() - make_interval(secs => $2) WHERE id = $1",
    )
    .bind(orphan)
    .bind((stale_after + 1) as f64)
    .execute(&pool)
    .await
    .expect("silence");
    worker.sweep_lost_jobs().await;
    let jobs: Vec<Uuid> = queue
        .stream_jobs()
        .await
        .expect("jobs")
        .iter()
        .map(|job| job.run_id)
        .collect();
    assert_eq!(jobs, vec![orphan]);
    assert_eq!(queue.inflight(LEDGER).await.expect("lease"), Some(orphan));

    // The newer run reaching the stream while the orphan runs waits as the follow-up
    // (it used to fail on the one-running-run index, retried forever with 0 attempts).
    let mut connection = consumer_connection(&worker).await;
    let orphan_delivery = take_job(&worker, &mut connection).await;
    sqlx::query("UPDATE analysis_runs SET heartbeat_at = now() WHERE id = $1")
        .bind(orphan)
        .execute(&pool)
        .await
        .expect("alive again");
    queue
        .enqueue(&statesight_store::queue::Job::new(newer, LEDGER), true)
        .await
        .expect("newer on the stream");
    let newer_delivery = take_job(&worker, &mut connection).await;
    assert_eq!(
        worker.process("test-worker-0", newer_delivery).await,
        Outcome::Deferred
    );
    let attempts: (i32, String) =
        sqlx::query_as("SELECT attempts, status FROM analysis_runs WHERE id = $1")
            .bind(newer)
            .fetch_one(&pool)
            .await
            .expect("newer run");
    assert_eq!(attempts, (0, String::from("queued")));

    // The orphan finishes; releasing its lease promotes the newer run, which finishes too.
    assert_eq!(
        worker.process("test-worker-0", orphan_delivery).await,
        Outcome::Succeeded
    );
    let delivery = take_job(&worker, &mut connection).await;
    assert_eq!(delivery.job.as_ref().map(|job| job.run_id), Some(newer));
    assert_eq!(
        worker.process("test-worker-0", delivery).await,
        Outcome::Succeeded
    );
    for run in [orphan, newer] {
        assert_eq!(
            runs::get(&pool, run)
                .await
                .expect("get")
                .map(|run| run.status),
            Some(RunStatus::Succeeded)
        );
    }
    prefix.cleanup().await;
}

/// Fault 2's other half: an error from PostgreSQL that is not an outage (here the
/// database refuses the worker's query) before the run can even start used to be retried
/// forever with 0 attempts. It now counts: after `WORKER_MAX_ATTEMPTS` (3 here) the job is
/// parked, with the database's error, and no further delivery happens.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn database_errors_before_the_start_count_as_attempts_and_park(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));
    let actor = Actor::user(EDITOR, "test");
    let run_id = match runs::request_analysis(
        &pool,
        &worker.queue,
        &actor,
        LEDGER,
        None,
        RunTrigger::Manual,
    )
    .await
    .expect("request")
    {
        AnalysisRequest::Created(run) => run.id,
        other => panic!("expected a new run, got {other:?}"),
    };
    // The worker's query now fails in the database (a refused statement, not an outage).
    sqlx::query("ALTER TABLE applications RENAME COLUMN default_namespace TO namespace_default")
        .execute(&pool)
        .await
        .expect("break the worker's query");
    let mut connection = consumer_connection(&worker).await;
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let delivery = loop {
            worker.queue.promote_due_retries().await.expect("promote");
            if let Some(delivery) = worker
                .queue
                .next(&mut connection, "test-worker-0", Duration::from_millis(200))
                .await
                .expect("stream")
            {
                break delivery;
            }
        };
        let outcome = worker.process("test-worker-0", delivery).await;
        let parked = matches!(outcome, Outcome::Parked(_));
        outcomes.push(outcome);
        if parked {
            break;
        }
    }
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(
        matches!(&outcomes[2], Outcome::Parked(error) if error.contains("gave up after 3 attempts") && error.contains("namespace")),
        "{outcomes:?}"
    );
    let stats = worker.queue.stats().await.expect("stats");
    assert_eq!((stats.dead_letters, stats.retries_waiting), (1, 0));
    sqlx::query("ALTER TABLE applications RENAME COLUMN namespace_default TO default_namespace")
        .execute(&pool)
        .await
        .expect("repair");
    let run = runs::get(&pool, run_id).await.expect("get").expect("run");
    assert_eq!(run.status, RunStatus::Failed);
    prefix.cleanup().await;
}

/// A Secret that drifted (Git says one password, the cluster holds another, written by
/// `kubectl edit`), added to the ledger's history and to a copy of its snapshot.
async fn ledger_with_a_drifted_secret(pool: &PgPool, root: &std::path::Path) {
    let (repo, _) = ledger_repository(root);
    let work = root.join("work");
    std::fs::write(
        work.join("deploy/secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ledger-db\n  namespace: payments\nstringData:\n  password: hunter2\n",
    )
    .expect("write the Secret");
    git(&work, &["add", "--all"], &[]);
    git(
        &work,
        &["commit", "-q", "-m", "ledger: database password"],
        &[
            ("GIT_AUTHOR_NAME", "t"),
            ("GIT_AUTHOR_EMAIL", "t@example.com"),
            ("GIT_COMMITTER_NAME", "t"),
            ("GIT_COMMITTER_EMAIL", "t@example.com"),
        ],
    );
    let work_path = work.display().to_string();
    git(&repo, &["fetch", "-q", &work_path, "+main:main"], &[]);

    let snapshot = root.join("snapshot");
    std::fs::create_dir_all(&snapshot).expect("snapshot dir");
    copy_tree(&examples().join("snapshot"), &snapshot);
    // "aHVudGVyMw==" is "hunter3": the live value differs from Git's.
    std::fs::write(
        snapshot.join("secret-ledger-db.yaml"),
        r#"apiVersion: v1
kind: Secret
type: Opaque
metadata:
  name: ledger-db
  namespace: payments
  creationTimestamp: "2026-10-02T09:31:47Z"
  managedFields:
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:password: {}
    manager: kubectl-edit
    operation: Update
    time: "2026-11-19T10:00:00Z"
data:
  password: aHVudGVyMw==
"#,
    )
    .expect("write the live Secret");

    seed_ledger(pool, &repo).await;
    sqlx::query(
        "UPDATE clusters SET snapshot_dir = $1
          WHERE id = (SELECT cluster_id FROM applications WHERE id = $2)",
    )
    .bind(snapshot.display().to_string())
    .bind(LEDGER)
    .execute(pool)
    .await
    .expect("point the cluster at the copied snapshot");
}

/// The Secret's findings of one run: (path, desired, live) as stored.
async fn secret_findings(pool: &PgPool, run: Uuid) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT path, coalesce(desired::text, 'null'), coalesce(live::text, 'null')
           FROM findings WHERE run_id = $1 AND resource_kind = 'Secret' ORDER BY ordinal",
    )
    .bind(run)
    .fetch_all(pool)
    .await
    .expect("secret findings")
}

/// Rotating the Secret digest key between two analyses changes the key id the evidence
/// shows, and nothing else: no incident opens, resolves or reopens, and the second run only
/// re-observes what the first found.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_secret_digest_key_rotation_opens_and_resolves_nothing(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    ledger_with_a_drifted_secret(&pool, scratch.path()).await;
    let prefix = Prefix::new();
    let cache = scratch.path().join("cache");
    let worker_with = |key: &str| {
        let mut settings = settings(&database_url(&pool), &prefix.0, &cache);
        settings.secret_digester =
            statesight_core::secret::SecretDigester::parse(key).expect("test key");
        Worker::new(pool.clone(), prefix.queue(), settings)
    };
    let material = "0f".repeat(32);
    let first_worker = worker_with(&format!("k1:{material}"));
    let (first_run, outcome) = analyse(&first_worker, None).await;
    assert_eq!(outcome, Outcome::Succeeded);
    let before = incidents(&pool).await;
    assert!(
        before
            .iter()
            .any(|i| i.resource_kind == "Secret" && i.cause == "kubectl-edit"),
        "{before:?}"
    );
    let first_secret = secret_findings(&pool, first_run).await;
    assert_eq!(first_secret.len(), 1, "{first_secret:?}");
    let (path, desired, live) = &first_secret[0];
    assert_eq!(path, "stringData.password");
    assert!(desired.contains("hmac-sha256:k1:") && live.contains("hmac-sha256:k1:"));
    assert_ne!(desired, live, "different values keep different digests");
    assert!(!format!("{first_secret:?}").contains("hunter"));

    // The same material under a new key id: what a rotation looks like to the worker.
    let second_worker = worker_with(&format!("k2:{material}"));
    let (second_run, outcome) = analyse(&second_worker, None).await;
    assert_eq!(outcome, Outcome::Succeeded);
    let after = incidents(&pool).await;
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((a.id, &a.status), (b.id, &b.status), "{a:?}");
        assert_eq!(a.occurrence_count, b.occurrence_count + 1, "{a:?}");
    }
    let second_secret = secret_findings(&pool, second_run).await;
    assert_eq!(second_secret.len(), 1);
    assert_eq!(second_secret[0].0, "stringData.password");
    assert!(second_secret[0].1.contains("hmac-sha256:k2:"));
    assert!(second_secret[0].2.contains("hmac-sha256:k2:"));
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT kind FROM incident_timeline_events WHERE run_id = $1")
            .bind(second_run)
            .fetch_all(&pool)
            .await
            .expect("timeline");
    let kinds: BTreeSet<String> = kinds.into_iter().collect();
    assert_eq!(kinds, BTreeSet::from([String::from("reobserved")]));
}
