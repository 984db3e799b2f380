//! A resource the worker may not read is not a failed run and not a missing resource. The
//! ledger application declares a Secret; the Kubernetes API (served by this test) refuses
//! Secrets to the worker, as the shipped least-privilege ClusterRole does. The run
//! succeeds, everything else is analysed as before, and the Secret is named in the run's
//! warnings as not readable with the worker's permissions — never reported missing.

mod e2e;
mod support;

use std::path::Path;

use e2e::*;
use sqlx::PgPool;
use statesight_core::wire::RunStatus;
use statesight_store::audit::Actor;
use statesight_store::runs::{self, AnalysisRequest};
use statesight_worker::runtime::{Outcome, Worker};
use uuid::Uuid;

const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: ledger-db-credentials
  namespace: payments
type: Opaque
stringData:
  username: ledger
";

/// The ledger history with one more commit declaring a Secret; returns the bare repository.
fn repository_with_a_secret(root: &Path) -> std::path::PathBuf {
    let (bare, _) = ledger_repository(root);
    let work = root.join("work");
    std::fs::write(work.join("deploy/secret.yaml"), SECRET).expect("write the Secret");
    git(&work, &["add", "--all"], &[]);
    let who = [
        ("GIT_AUTHOR_NAME", "Test"),
        ("GIT_AUTHOR_EMAIL", "test@example.com"),
        ("GIT_COMMITTER_NAME", "Test"),
        ("GIT_COMMITTER_EMAIL", "test@example.com"),
    ];
    git(&work, &["commit", "-q", "-m", "database credentials"], &who);
    std::fs::remove_dir_all(&bare).expect("remove the old bare copy");
    git(root, &["clone", "-q", "--bare", "work", "ledger.git"], &[]);
    bare
}

/// The ledger's cluster now reads the test API (with the captured ledger objects).
async fn on_test_api(pool: &PgPool, dir: &Path) -> support::kube_api::TestKubeApi {
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

async fn analyse(worker: &Worker) -> (Uuid, Outcome) {
    let actor = Actor::user(EDITOR, "test");
    let run = match runs::request_analysis(
        &worker.pool,
        &worker.queue,
        &actor,
        LEDGER,
        None,
        statesight_core::wire::RunTrigger::Manual,
    )
    .await
    .expect("request")
    {
        AnalysisRequest::Created(run) => run,
        other => panic!("expected a new run, got {other:?}"),
    };
    let mut connection = consumer_connection(worker).await;
    let delivery = take_job(worker, &mut connection).await;
    (run.id, worker.process("test-worker-0", delivery).await)
}

/// (kind, name, cause) of every open incident.
async fn open_incidents(pool: &PgPool) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT resource_kind, resource_name, cause FROM incidents
          WHERE application_id = $1 AND status = 'open' ORDER BY 1, 2, 3",
    )
    .bind(LEDGER)
    .fetch_all(pool)
    .await
    .expect("incidents")
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_secret_the_worker_may_not_read_is_reported_not_missing(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let repo = repository_with_a_secret(scratch.path());
    seed_ledger(&pool, &repo).await;
    let api = on_test_api(&pool, scratch.path()).await;
    api.forbid("secrets", Some("payments"));
    let prefix = Prefix::new();
    let worker = in_process_worker(&pool, &prefix, &scratch.path().join("cache"));

    let (run_id, outcome) = analyse(&worker).await;
    assert_eq!(outcome, Outcome::Succeeded);
    let run = runs::get(&pool, run_id).await.expect("get").expect("run");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    // One line per resource left out, and the API's refusal (per request) as a note.
    let about_secret: Vec<&String> = run
        .warnings
        .iter()
        .filter(|w| w.starts_with("Secret/payments/ledger-db-credentials: "))
        .collect();
    assert_eq!(about_secret.len(), 1, "{:#?}", run.warnings);
    assert!(
        about_secret[0].contains("not readable with the worker's permissions; not compared"),
        "{}",
        about_secret[0]
    );
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("permission denied: cannot get secrets in namespace \"payments\"")),
        "the API's refusal is kept: {:#?}",
        run.warnings
    );
    let with_refusal = open_incidents(&pool).await;
    assert!(
        !with_refusal.iter().any(|(kind, _, _)| kind == "Secret"),
        "the Secret is not claimed missing: {with_refusal:?}"
    );
    assert!(
        with_refusal.len() >= 5,
        "everything else is analysed: {with_refusal:?}"
    );

    // The same run where the worker may read Secrets: the Secret is not in the cluster, so
    // it is missing — the refusal above was what kept it from being claimed so.
    api.clear_failures();
    let (run_id, outcome) = analyse(&worker).await;
    assert_eq!(outcome, Outcome::Succeeded);
    let run = runs::get(&pool, run_id).await.expect("get").expect("run");
    assert!(
        !run.warnings.iter().any(|w| w.contains("not readable")),
        "{:#?}",
        run.warnings
    );
    let readable = open_incidents(&pool).await;
    assert!(
        readable.contains(&(
            String::from("Secret"),
            String::from("ledger-db-credentials"),
            String::from("missing")
        )),
        "{readable:?}"
    );
    assert_eq!(
        readable.len(),
        with_refusal.len() + 1,
        "the only difference is the Secret"
    );
    prefix.cleanup().await;
}
