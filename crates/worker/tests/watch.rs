//! Watch-triggered analysis against a Kubernetes API served by the test (with WATCH):
//! a change to a tracked object is analysed from the watch cache, without a LIST, once per
//! change, at the commit last compared without fetching Git; dropped connections, `410 Gone` and a restart of the API server lose no change
//! and analyse none twice; and a killed watching worker is replaced within the lease.
//! The workers are real `statesight-worker run` processes.

mod e2e;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::processes::{WorkerProcess, request, wait_for_run};
use e2e::*;
use serde_json::Value;
use sqlx::PgPool;
use support::kube_api::TestKubeApi;
use uuid::Uuid;

const LEASE: &str = "3s";

/// The ledger's cluster reads the test API, watched.
async fn watched_cluster(pool: &PgPool, dir: &Path) -> TestKubeApi {
    let api = TestKubeApi::builder()
        .objects(support::load_objects(&support::ledger_snapshot_dir()))
        .namespace("payments")
        .start()
        .await;
    let kubeconfig = api.write_kubeconfig(dir, "test-cluster");
    sqlx::query(
        "UPDATE clusters SET live_source = 'kube-api', snapshot_dir = NULL, kubeconfig_path = $2,
                kube_context = 'test-cluster', watch_enabled = true
          WHERE id = $1",
    )
    .bind(PROD_CLUSTER)
    .bind(kubeconfig.display().to_string())
    .execute(pool)
    .await
    .expect("point the cluster at the test API");
    api
}

fn start_worker(pool: &PgPool, prefix: &Prefix, id: &str, dir: &Path) -> WorkerProcess {
    WorkerProcess::start_env(
        &database_url(pool),
        &redis_url(),
        &prefix.0,
        id,
        &dir.join(format!("cache-{id}")),
        &dir.join(format!("{id}.log")),
        "1s",
        &[
            ("WATCH_LEASE", LEASE),
            ("WATCH_DEBOUNCE", "250ms"),
            ("RUST_LOG", "info,statesight_worker=debug,sqlx=warn"),
        ],
    )
}

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for id in ["w1", "w2"] {
        out.push_str(&format!(
            "--- {id}\n{}\n",
            std::fs::read_to_string(dir.join(format!("{id}.log"))).unwrap_or_default()
        ));
    }
    out
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, dir: &Path, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        if Instant::now() > deadline {
            panic!("{what}: not within {timeout:?}\n{}", logs(dir));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (run id, status, live method) of every watch-triggered run, oldest first.
async fn watch_runs(pool: &PgPool) -> Vec<(Uuid, String, Option<String>)> {
    sqlx::query_as(
        "SELECT r.id, r.status, p.method FROM analysis_runs r
           LEFT JOIN live_provenance p ON p.run_id = r.id
          WHERE r.trigger = 'watch' ORDER BY r.queued_at, r.id",
    )
    .fetch_all(pool)
    .await
    .expect("runs")
}

async fn finished_watch_runs(pool: &PgPool) -> usize {
    watch_runs(pool)
        .await
        .iter()
        .filter(|(_, status, _)| status == "succeeded" || status == "failed")
        .count()
}

/// The live image of ledger-worker's first container as the latest succeeded run saw it.
async fn analysed_worker_image(pool: &PgPool) -> Option<String> {
    let row: Option<(Option<Value>,)> = sqlx::query_as(
        "SELECT f.live FROM findings f
           JOIN analysis_runs r ON r.id = f.run_id
          WHERE f.resource_kind = 'Deployment' AND f.resource_name = 'ledger-worker'
            AND f.path LIKE '%image%' AND r.status = 'succeeded'
          ORDER BY r.finished_at DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .expect("findings");
    row.and_then(|(live,)| live)
        .and_then(|live| live.as_str().map(str::to_owned))
}

fn set_worker_image(api: &TestKubeApi, image: &str) -> u64 {
    let mut object = api
        .object("apps", "Deployment", Some("payments"), "ledger-worker")
        .expect("the ledger-worker Deployment");
    object["spec"]["template"]["spec"]["containers"][0]["image"] = Value::String(image.to_owned());
    api.add_object(object)
}

/// Requests that are not watches, discovery or version probes: LISTs and GETs of objects.
fn reads_of_objects(api: &TestKubeApi) -> Vec<String> {
    api.requests()
        .iter()
        .filter(|r| !r.query.as_deref().unwrap_or("").contains("watch=1"))
        .filter(|r| {
            let segments = r.path.trim_matches('/').split('/').count();
            // /api/v1/KIND… or /apis/G/V/KIND… and deeper: resource requests.
            (r.path.starts_with("/api/v1/") && segments >= 3)
                || (r.path.starts_with("/apis/") && segments >= 4)
        })
        .map(|r| {
            format!(
                "{} {}?{}",
                r.method,
                r.path,
                r.query.clone().unwrap_or_default()
            )
        })
        .collect()
}

/// Seeds, runs the first (manual) analysis so the application's objects are tracked, and
/// waits until the watcher has listed them.
async fn tracked_and_watched(
    pool: &PgPool,
    api: &TestKubeApi,
    queue: &statesight_store::queue::Queue,
    dir: &Path,
) {
    let first = request(pool, queue).await;
    let run = wait_for_run(pool, first, Duration::from_secs(60), &dir.join("w1.log")).await;
    assert_eq!(run.status.as_str(), "succeeded", "{:?}", run.error);
    // Deployments, Services, ConfigMaps, … of payments: one watch per kind.
    let (kinds,): (i64,) = sqlx::query_as(
        "SELECT count(DISTINCT (resource_group, kind, namespace)) FROM tracked_resources",
    )
    .fetch_one(pool)
    .await
    .expect("tracked kinds");
    assert!(kinds >= 5, "the ledger declares many kinds: {kinds}");
    let kinds = usize::try_from(kinds).expect("a count");
    wait_until(
        "the watches opened",
        Duration::from_secs(30),
        dir,
        || async { api.open_watches() >= kinds },
    )
    .await;
    wait_until("the cache synced", Duration::from_secs(30), dir, || async {
        let synced: (i64,) =
            sqlx::query_as("SELECT count(*) FROM cluster_watches WHERE synced_at IS NOT NULL")
                .fetch_one(pool)
                .await
                .expect("watches");
        usize::try_from(synced.0).unwrap_or(0) >= kinds
    })
    .await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_watched_change_is_analysed_from_the_cache_once_without_a_list(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path();
    let (repo, _) = ledger_repository(dir);
    seed_ledger(&pool, &repo).await;
    let api = watched_cluster(&pool, dir).await;
    let prefix = Prefix::new();
    let queue = prefix.queue();
    let _worker = start_worker(&pool, &prefix, "w1", dir);
    tracked_and_watched(&pool, &api, &queue, dir).await;
    assert!(
        watch_runs(&pool).await.is_empty(),
        "listing is not a change"
    );
    api.clear_requests();
    // The re-analysis reads the commit the last analysis compared from the worker's mirror:
    // with the remote gone, it still succeeds, because it fetches nothing.
    std::fs::rename(&repo, dir.join("moved-away.git")).expect("move the remote away");

    // A burst of five changes within the debounce window: one analysis, of the last.
    for step in 1..=5 {
        set_worker_image(
            &api,
            &format!("ghcr.io/acme-payments/ledger-worker:burst-{step}"),
        );
    }
    wait_until(
        "the watch-triggered run finished",
        Duration::from_secs(30),
        dir,
        || async { finished_watch_runs(&pool).await >= 1 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let runs = watch_runs(&pool).await;
    assert_eq!(
        runs.len(),
        1,
        "one analysis for one burst: {runs:?}\n{}",
        logs(dir)
    );
    assert_eq!(runs[0].1, "succeeded");
    assert_eq!(
        runs[0].2.as_deref(),
        Some("watch-cache"),
        "read from the cache"
    );
    assert_eq!(
        analysed_worker_image(&pool).await.as_deref(),
        Some("ghcr.io/acme-payments/ledger-worker:burst-5")
    );
    let evidence: (Value,) = sqlx::query_as(
        "SELECT f.evidence FROM findings f WHERE f.run_id = $1 AND f.path LIKE '%image%' LIMIT 1",
    )
    .bind(runs[0].0)
    .fetch_one(&pool)
    .await
    .expect("evidence");
    assert_eq!(evidence.0["live"]["method"], "watch-cache");
    assert_eq!(evidence.0["live"]["observed_at_source"], "watch");
    // Watches only: no LIST or GET of objects for the change or its analysis.
    assert_eq!(reads_of_objects(&api), Vec::<String>::new());

    // An object no application tracks changes: nothing is analysed.
    api.add_object(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "unrelated", "namespace": "payments"}, "data": {"a": "b"}}));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        watch_runs(&pool).await.len(),
        1,
        "an untracked object is not a reason"
    );
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn drops_expiry_and_restarts_lose_no_change_and_repeat_none(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path();
    let (repo, _) = ledger_repository(dir);
    seed_ledger(&pool, &repo).await;
    let mut api = watched_cluster(&pool, dir).await;
    let prefix = Prefix::new();
    let queue = prefix.queue();
    let _worker = start_worker(&pool, &prefix, "w1", dir);
    tracked_and_watched(&pool, &api, &queue, dir).await;
    let watches = api.open_watches();

    let mut expected = 0;
    let mut change = |api: &TestKubeApi, tag: &str| {
        expected += 1;
        set_worker_image(api, &format!("ghcr.io/acme-payments/ledger-worker:{tag}"));
        expected
    };
    let analysed = |tag: &'static str| {
        let pool = pool.clone();
        async move {
            analysed_worker_image(&pool).await.as_deref()
                == Some(&format!("ghcr.io/acme-payments/ledger-worker:{tag}")[..])
        }
    };

    // 1. A change, then the connections drop: resumed from the resourceVersion, nothing
    //    is replayed as a change.
    let n = change(&api, "one");
    wait_until("change one analysed", Duration::from_secs(30), dir, || {
        analysed("one")
    })
    .await;
    wait_until("run one finished", Duration::from_secs(30), dir, || async {
        finished_watch_runs(&pool).await >= n
    })
    .await;
    api.drop_watches();
    wait_until(
        "the watches reopened",
        Duration::from_secs(30),
        dir,
        || async { api.open_watches() >= watches },
    )
    .await;
    // 2. A change right after the drop is seen by the resumed watch.
    let n = change(&api, "two");
    wait_until("change two analysed", Duration::from_secs(30), dir, || {
        analysed("two")
    })
    .await;
    wait_until("run two finished", Duration::from_secs(30), dir, || async {
        finished_watch_runs(&pool).await >= n
    })
    .await;

    // 3. 410 Gone: the watcher lists again; nothing changed, so nothing is analysed.
    api.expire_watches();
    wait_until(
        "the watches reopened after 410",
        Duration::from_secs(30),
        dir,
        || async { api.open_watches() >= watches },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        watch_runs(&pool).await.len(),
        2,
        "a relist of unchanged objects is no change\n{}",
        logs(dir)
    );

    // 4. The API server restarts, compacted, and the object changes while it is down: the
    //    resuming watch gets 410, lists, and finds exactly that change.
    let down = tokio::spawn(async move {
        api.restart(Duration::from_secs(2), true).await;
        api
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let api = down.await.expect("restart");
    let n = change(&api, "three");
    wait_until(
        "change three analysed",
        Duration::from_secs(60),
        dir,
        || analysed("three"),
    )
    .await;
    wait_until(
        "run three finished",
        Duration::from_secs(30),
        dir,
        || async { finished_watch_runs(&pool).await >= n },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let runs = watch_runs(&pool).await;
    assert_eq!(
        runs.len(),
        3,
        "one analysis per change, none twice: {runs:?}\n{}",
        logs(dir)
    );
    assert!(
        runs.iter().all(|(_, status, _)| status == "succeeded"),
        "{runs:?}"
    );
    let relists: (i64,) = sqlx::query_as("SELECT count(*) FROM cluster_watches")
        .fetch_one(&pool)
        .await
        .expect("watches");
    assert!(relists.0 >= 5);
    assert!(
        api.requests()
            .iter()
            .any(|r| r.query.as_deref().is_some_and(|q| q.contains("watch=1"))),
        "watches were made"
    );
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_killed_watcher_is_replaced_within_the_lease_and_nothing_is_missed(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path();
    let (repo, _) = ledger_repository(dir);
    seed_ledger(&pool, &repo).await;
    let api = watched_cluster(&pool, dir).await;
    let prefix = Prefix::new();
    let queue = prefix.queue();
    let first = start_worker(&pool, &prefix, "w1", dir);
    tracked_and_watched(&pool, &api, &queue, dir).await;
    // Only now the second worker: the first holds the lease.
    let _second = start_worker(&pool, &prefix, "w2", dir);
    let lease_key = queue.watch_lease_key(PROD_CLUSTER);
    let holder = lease_holder(&prefix, &lease_key).await.expect("a holder");
    assert!(holder.starts_with("w1/"), "{holder}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        lease_holder(&prefix, &lease_key)
            .await
            .is_some_and(|h| h == holder),
        "one watcher at a time: the second worker does not take a held lease"
    );
    let watches = api.open_watches();

    first.kill_hard();
    let killed = Instant::now();
    // A change while nobody watches is not lost: the new holder resumes from the stored
    // resourceVersion and receives it.
    set_worker_image(
        &api,
        "ghcr.io/acme-payments/ledger-worker:while-nobody-watched",
    );
    wait_until(
        "w2 took the lease",
        Duration::from_secs(10),
        dir,
        || async {
            lease_holder(&prefix, &lease_key)
                .await
                .is_some_and(|h| h.starts_with("w2/"))
        },
    )
    .await;
    let taken_after = killed.elapsed();
    let lease = Duration::from_secs(3);
    assert!(
        taken_after <= lease + lease / 3 + Duration::from_millis(500),
        "taken over after {taken_after:?}, lease {lease:?}"
    );
    wait_until(
        "change analysed by the new holder",
        Duration::from_secs(30),
        dir,
        || async {
            analysed_worker_image(&pool).await.as_deref()
                == Some("ghcr.io/acme-payments/ledger-worker:while-nobody-watched")
        },
    )
    .await;
    wait_until(
        "the new watches are open",
        Duration::from_secs(10),
        dir,
        || async { api.open_watches() >= watches },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let runs = watch_runs(&pool).await;
    assert_eq!(
        runs.len(),
        1,
        "one change, one analysis: {runs:?}\n{}",
        logs(dir)
    );
    // The new holder resumed from the stored position: it listed nothing.
    let lists: Vec<String> = api
        .requests()
        .iter()
        .filter(|r| r.user_agent.is_some() && !r.query.as_deref().unwrap_or("").contains("watch=1"))
        .filter(|r| r.path.ends_with("/deployments"))
        .map(|r| r.line())
        .collect();
    assert!(
        lists.len() <= 1,
        "only the first holder listed deployments: {lists:?}"
    );
    println!("lease taken over {taken_after:?} after the kill (lease {lease:?})");
    prefix.cleanup().await;
}

async fn lease_holder(prefix: &Prefix, key: &str) -> Option<String> {
    let client = statesight_store::redis_conn::client(&redis_url()).expect("redis");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let _ = prefix;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut connection)
        .await
        .expect("GET")
}
