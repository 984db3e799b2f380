//! `make bench-realtime`: real time, end to end, on one watched test cluster. A Kubernetes
//! API served by this process (with WATCH), the API server (release build, in process, on
//! loopback TCP, demo mode) and real workers in process, on their own database and Redis
//! prefix. Two measurements:
//!
//! 1. **Watch event → SSE event.** With one `GET /api/v1/events` stream open, 50 changes
//!    are made one at a time to tracked objects, each waiting for the incident event it
//!    causes; reports the p50/p95/max time from the change (the API server's write) to the
//!    SSE frame, `WATCH_DEBOUNCE` (250 ms) included. Target: p95 ≤ 1 s.
//! 2. **Sustained load.** 100 applications × 50 resources on the cluster; 20 changes per
//!    second for 60 s, each to a random tracked object. Reports analyses per second, the
//!    p50/p95 time from a change to the end of the first analysis that read it, and the
//!    API-server requests per change besides watches (target: none — no LIST per change).
//!
//! Knobs (environment): `BENCH_DATABASE_URL` (default a `statesight_bench_realtime`
//! database on the local PostgreSQL, recreated), `REDIS_URL`, `REALTIME_BENCH_SECONDS`
//! (60), `REALTIME_BENCH_RATE` (20 changes/s), `REALTIME_BENCH_WORKERS` (2 in-process
//! workers, each `WORKER_CONCURRENCY` 2), `REALTIME_BENCH_PARTS` (`sse,load`: which
//! measurements to make).

#[path = "../../worker/tests/support/kube_api.rs"]
#[allow(dead_code)]
mod kube_api;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube_api::TestKubeApi;
use serde_json::{Value, json};
use sqlx::PgPool;
use statesight_core::wire::{RunTrigger, WorkspaceEvent};
use statesight_server::auth::Authenticator;
use statesight_server::state::{AppState, PublicAuthConfig};
use statesight_store::audit::Actor;
use statesight_store::seed::{self, ExampleLocation, PAYMENTS_WORKSPACE_ID};
use uuid::Uuid;

const APPLICATIONS: usize = 100;
const RESOURCES: usize = 50;
const NAMESPACES: usize = 10;
const SSE_CHANGES: usize = 50;

type At = chrono::DateTime<chrono::Utc>;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|error| panic!("git: {error}"));
    assert!(status.success(), "git {args:?} failed");
}

fn namespace_of(app: usize) -> String {
    format!("bench-{:02}", app % NAMESPACES)
}

/// One tracked object: a ConfigMap for most, a Service for every fifth.
fn object(app: usize, index: usize, value: &str) -> Value {
    let name = format!("app-{app:03}-obj-{index:02}");
    let namespace = namespace_of(app);
    if index % 5 == 4 {
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": format!("app-{app:03}")}},
            "spec": {"selector": {"app": format!("app-{app:03}")},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
    } else {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": format!("app-{app:03}")}},
            "data": {"mode": value}})
    }
}

/// The Git repository: `apps/app-NNN/` holds each application's objects.
fn repository(root: &Path) -> PathBuf {
    let work = root.join("work");
    for app in 0..APPLICATIONS {
        let dir = work.join(format!("apps/app-{app:03}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for index in 0..RESOURCES {
            let text = serde_json::to_string_pretty(&object(app, index, "steady")).expect("json");
            std::fs::write(dir.join(format!("obj-{index:02}.json")), text).expect("write");
        }
    }
    git(&work, &["init", "-q", "--initial-branch=main", "."]);
    git(&work, &["add", "--all"]);
    git(&work, &["commit", "-q", "-m", "bench applications"]);
    git(root, &["clone", "-q", "--bare", "work", "bench.git"]);
    root.join("bench.git")
}

async fn database(url: &str) -> PgPool {
    use sqlx::migrate::MigrateDatabase;
    if sqlx::Postgres::database_exists(url)
        .await
        .expect("postgres answers")
    {
        sqlx::Postgres::drop_database(url).await.expect("drop");
    }
    sqlx::Postgres::create_database(url).await.expect("create");
    let pool = statesight_store::connect(url, 24).expect("pool");
    statesight_store::migrate(&pool).await.expect("migrate");
    seed::run(
        &pool,
        &ExampleLocation {
            examples_dir: String::from("/nonexistent/examples"),
            repos_dir: String::from("/nonexistent/repos"),
        },
    )
    .await
    .expect("seed");
    pool
}

/// The watched cluster, its source and the applications; returns the application ids.
async fn onboard(pool: &PgPool, kubeconfig: &Path, repo: &Path) -> Vec<Uuid> {
    let cluster = Uuid::now_v7();
    let source = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO clusters (id, workspace_id, name, live_source, kubeconfig_path, kube_context, watch_enabled)
         VALUES ($1, $2, 'bench-watched', 'kube-api', $3, 'bench', true)",
    )
    .bind(cluster)
    .bind(PAYMENTS_WORKSPACE_ID)
    .bind(kubeconfig.display().to_string())
    .execute(pool)
    .await
    .expect("cluster");
    sqlx::query(
        "INSERT INTO source_definitions (id, workspace_id, name, repo_url, git_ref, path)
         VALUES ($1, $2, 'bench', $3, 'main', 'apps')",
    )
    .bind(source)
    .bind(PAYMENTS_WORKSPACE_ID)
    .bind(format!("file://{}", repo.display()))
    .execute(pool)
    .await
    .expect("source");
    let mut applications = Vec::new();
    for app in 0..APPLICATIONS {
        // One source per application (its own path).
        let own_source = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO source_definitions (id, workspace_id, name, repo_url, git_ref, path)
             VALUES ($1, $2, $3, $4, 'main', $5)",
        )
        .bind(own_source)
        .bind(PAYMENTS_WORKSPACE_ID)
        .bind(format!("bench-{app:03}"))
        .bind(format!("file://{}", repo.display()))
        .bind(format!("apps/app-{app:03}"))
        .execute(pool)
        .await
        .expect("source");
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO applications (id, workspace_id, name, cluster_id, source_id, default_namespace)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(PAYMENTS_WORKSPACE_ID)
        .bind(format!("bench-app-{app:03}"))
        .bind(cluster)
        .bind(own_source)
        .bind(namespace_of(app))
        .execute(pool)
        .await
        .expect("application");
        applications.push(id);
    }
    applications
}

fn settings(
    database_url: &str,
    prefix: &str,
    cache: &Path,
    id: &str,
) -> statesight_worker::settings::Settings {
    statesight_worker::settings::Settings {
        database_url: database_url.to_owned(),
        redis_url: std::env::var("REDIS_URL")
            .unwrap_or_else(|_| String::from("redis://127.0.0.1:6379")),
        redis_key_prefix: prefix.to_owned(),
        git_bin: PathBuf::from("git"),
        git_cache_dir: cache.to_path_buf(),
        kubectl_bin: PathBuf::from("kubectl"),
        allow_synthetic_live_state: false,
        concurrency: 2,
        analysis_interval: None,
        metrics_addr: "127.0.0.1:0".parse().expect("addr"),
        worker_id: id.to_owned(),
        max_attempts: 5,
        retry_base: Duration::from_millis(200),
        job_timeout: Duration::from_secs(120),
        lease_renew: Duration::from_secs(2),
        retention_days: 30,
        watch: statesight_worker::settings::WatchSettings {
            enabled: true,
            debounce: Duration::from_millis(250),
            lease: Duration::from_secs(15),
        },
        inputs: statesight_worker::settings::InputPolicy::new(true, "/", "/", None)
            .expect("policy"),
        bookkeeping_keys: statesight_core::bookkeeping::default_bookkeeping_keys(),
        secret_digester: statesight_core::secret::SecretDigester::parse(
            "bench:5ec2e7d16e57d16e57d16e57d16e57d16e57d16e57d16e57d16e57d16e57d1ab",
        )
        .expect("key"),
        notify: statesight_worker::notify::NotifySettings::default(),
    }
}

/// Milliseconds, for the report.
fn ms(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Object reads besides watches and discovery: LISTs and GETs.
fn object_reads(api: &TestKubeApi) -> usize {
    api.requests()
        .iter()
        .filter(|r| !r.query.as_deref().unwrap_or("").contains("watch=1"))
        .filter(|r| {
            let segments = r.path.trim_matches('/').split('/').count();
            (r.path.starts_with("/api/v1/") && segments >= 3)
                || (r.path.starts_with("/apis/") && segments >= 4)
        })
        .count()
}

/// Reads SSE frames from `response`, sending each `data:` payload with its arrival time.
fn sse_frames(
    mut response: reqwest::Response,
) -> tokio::sync::mpsc::UnboundedReceiver<(Instant, WorkspaceEvent)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let data: String = frame
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect::<Vec<_>>()
                    .join("\n");
                if let Ok(event) = serde_json::from_str::<WorkspaceEvent>(&data) {
                    let _ = tx.send((Instant::now(), event));
                }
            }
        }
    });
    rx
}

fn main() {
    if std::env::args().any(|arg| arg == "--test" || arg == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| {
        String::from("postgres://postgres@127.0.0.1:5432/statesight_bench_realtime")
    });
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| String::from("redis://127.0.0.1:6379"));
    let seconds = env_or("REALTIME_BENCH_SECONDS", 60);
    let rate = env_or("REALTIME_BENCH_RATE", 20).max(1);
    let workers = env_or("REALTIME_BENCH_WORKERS", 2).max(1);
    let prefix = format!("statesight-bench-rt-{}", Uuid::now_v7());
    let scratch = tempfile::tempdir().expect("tempdir");

    let started = Instant::now();
    let repo = repository(scratch.path());
    let mut objects = Vec::new();
    for app in 0..APPLICATIONS {
        for index in 0..RESOURCES {
            objects.push(object(app, index, "steady"));
        }
    }
    let mut builder = TestKubeApi::builder().objects(objects);
    for ns in 0..NAMESPACES {
        builder = builder.namespace(&format!("bench-{ns:02}"));
    }
    let api = builder.start().await;
    let kubeconfig = api.write_kubeconfig(scratch.path(), "bench");
    let pool = database(&url).await;
    let applications = onboard(&pool, &kubeconfig, &repo).await;
    println!(
        "{APPLICATIONS} applications × {RESOURCES} resources in {NAMESPACES} namespaces, generated in {:.1?}",
        started.elapsed()
    );

    // The API server, in process.
    let state = AppState::new(
        pool.clone(),
        statesight_store::redis_conn::client(&redis_url).expect("redis"),
        Authenticator::Demo,
        PublicAuthConfig::default(),
    )
    .with_redis_prefix(&prefix);
    let queue = state.queue.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, statesight_server::app(state)).await });

    // The workers, in process.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    for n in 0..workers {
        let worker = statesight_worker::runtime::Worker::new(
            pool.clone(),
            queue.clone(),
            settings(
                &url,
                &prefix,
                &scratch.path().join(format!("cache-{n}")),
                &format!("bench-{n}"),
            ),
        );
        let stopped = stopped.clone();
        tokio::spawn(async move { worker.run(stopped).await });
    }

    // First analyses: every application tracked.
    let first = Instant::now();
    for application in &applications {
        statesight_store::runs::request_analysis(
            &pool,
            &queue,
            &Actor::system("bench"),
            *application,
            None,
            RunTrigger::Manual,
        )
        .await
        .expect("request");
    }
    wait_for("the first analyses", Duration::from_secs(600), async || {
        let (done,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM analysis_runs WHERE status = 'succeeded'")
                .fetch_one(&pool)
                .await
                .expect("count");
        done as usize >= APPLICATIONS
    })
    .await;
    let first_took = first.elapsed();
    let watches = NAMESPACES * 2;
    wait_for("the watches synced", Duration::from_secs(120), async || {
        let (synced,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM cluster_watches WHERE synced_at IS NOT NULL")
                .fetch_one(&pool)
                .await
                .expect("count");
        synced as usize >= watches && api.open_watches() >= watches
    })
    .await;
    println!(
        "first analyses of {APPLICATIONS} applications: {first_took:.1?} ({:.1}/s); {} watches open",
        APPLICATIONS as f64 / first_took.as_secs_f64(),
        api.open_watches()
    );

    let parts = std::env::var("REALTIME_BENCH_PARTS").unwrap_or_else(|_| String::from("sse,load"));
    if parts.split(',').any(|part| part.trim() == "sse") {
        sse_latency(&api, address, &pool).await;
    }
    if parts.split(',').any(|part| part.trim() == "load") {
        sustained(&api, &pool, seconds, rate).await;
    }
    let _ = stop.send(true);
}

/// Part 1: change → SSE incident event, one change at a time.
async fn sse_latency(api: &TestKubeApi, address: std::net::SocketAddr, pool: &PgPool) {
    let part_started = chrono::Utc::now();
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{address}/api/v1/events"))
        .header("X-Workspace-ID", PAYMENTS_WORKSPACE_ID.to_string())
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("GET /api/v1/events");
    assert!(
        response.status().is_success(),
        "GET /api/v1/events: {}",
        response.status()
    );
    let mut frames = sse_frames(response);
    let mut latencies = Vec::new();
    for change in 0..SSE_CHANGES {
        let app = (change * 7) % APPLICATIONS;
        let index = (change * 3) % RESOURCES;
        let index = if index % 5 == 4 { index - 1 } else { index };
        let name = format!("app-{app:03}-obj-{index:02}");
        let made = Instant::now();
        api.add_object(object(app, index, &format!("sse-{change}")));
        let deadline = made + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(Some((at, event))) = tokio::time::timeout(left, frames.recv()).await else {
                panic!("no incident event for change {change} ({name}) within 30 s");
            };
            let about_it = event.kind.is_incident()
                && event
                    .incident
                    .as_ref()
                    .is_some_and(|incident| incident.resource.ends_with(&format!("/{name}")));
            if about_it && at >= made {
                latencies.push(at - made);
                break;
            }
        }
        // Put it back, and let that settle before the next change.
        api.add_object(object(app, index, "steady"));
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    latencies.sort();
    println!(
        "watch event → SSE incident event over {SSE_CHANGES} changes (debounce 250 ms included): p50 {}  p95 {}  max {}  (target p95 ≤ 1 s)",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 95.0)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    // Where the time goes: waiting in the queue, and running.
    let runs: Vec<(f64, f64)> = sqlx::query_as(
        "SELECT extract(epoch FROM started_at - queued_at)::float8,
                extract(epoch FROM finished_at - started_at)::float8
           FROM analysis_runs WHERE trigger = 'watch' AND queued_at >= $1 AND status = 'succeeded'",
    )
    .bind(part_started)
    .fetch_all(pool)
    .await
    .expect("runs");
    let mut waits: Vec<Duration> = runs
        .iter()
        .map(|(w, _)| Duration::from_secs_f64(w.max(0.0)))
        .collect();
    let mut took: Vec<Duration> = runs
        .iter()
        .map(|(_, t)| Duration::from_secs_f64(t.max(0.0)))
        .collect();
    waits.sort();
    took.sort();
    println!(
        "  its {} watch-triggered runs: queued → started p50 {}  p95 {}; started → finished p50 {}  p95 {}",
        runs.len(),
        ms(percentile(&waits, 50.0)),
        ms(percentile(&waits, 95.0)),
        ms(percentile(&took, 50.0)),
        ms(percentile(&took, 95.0)),
    );
}

/// Part 2: `rate` changes per second for `seconds` to random tracked objects.
async fn sustained(api: &TestKubeApi, pool: &PgPool, seconds: u64, rate: u64) {
    // Let part 1's runs drain.
    wait_for("the queue drained", Duration::from_secs(120), async || {
        idle(pool).await
    })
    .await;
    let reads_before = object_reads(api);
    let (runs_before,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM analysis_runs WHERE status = 'succeeded'")
            .fetch_one(pool)
            .await
            .expect("count");
    let total = (seconds * rate) as usize;
    let mut changes: Vec<(usize, chrono::DateTime<chrono::Utc>)> = Vec::with_capacity(total);
    let mut random = 0x5eed_0000_7a11_0001_u64;
    let load_started = Instant::now();
    let load_started_at = chrono::Utc::now();
    let tick = Duration::from_secs_f64(1.0 / rate as f64);
    for change in 0..total {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let app = (random % APPLICATIONS as u64) as usize;
        let index = ((random >> 20) % RESOURCES as u64) as usize;
        let index = if index % 5 == 4 { index - 1 } else { index };
        changes.push((app, chrono::Utc::now()));
        api.add_object(object(app, index, &format!("load-{change}")));
        let next = load_started + tick * (change as u32 + 1);
        tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
    }
    let load_took = load_started.elapsed();
    wait_for(
        "the analyses caught up",
        Duration::from_secs(600),
        async || idle(pool).await,
    )
    .await;
    let drained = load_started.elapsed();

    // The first analysis of each change's application that started after the change.
    let runs: Vec<(String, At, At)> = sqlx::query_as(
        "SELECT a.name, r.started_at, r.finished_at FROM analysis_runs r
           JOIN applications a ON a.id = r.application_id
          WHERE r.trigger = 'watch' AND r.status = 'succeeded' AND r.started_at >= $1
          ORDER BY r.started_at",
    )
    .bind(load_started_at)
    .fetch_all(pool)
    .await
    .expect("runs");
    let mut by_app: BTreeMap<String, Vec<(At, At)>> = BTreeMap::new();
    for (name, started, finished) in &runs {
        by_app
            .entry(name.clone())
            .or_default()
            .push((*started, *finished));
    }
    let mut latencies = Vec::new();
    let mut unanalysed = 0;
    for (app, at) in &changes {
        let name = format!("bench-app-{app:03}");
        match by_app
            .get(&name)
            .and_then(|runs| runs.iter().find(|(started, _)| started >= at))
        {
            Some((_, finished)) => latencies.push((*finished - *at).to_std().unwrap_or_default()),
            None => unanalysed += 1,
        }
    }
    latencies.sort();
    let (runs_after,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM analysis_runs WHERE status = 'succeeded'")
            .fetch_one(pool)
            .await
            .expect("count");
    let analyses = (runs_after - runs_before) as f64;
    let reads = object_reads(api) - reads_before;
    println!(
        "sustained: {total} changes at {rate}/s over {load_took:.1?} ({} watches open)",
        api.open_watches()
    );
    println!(
        "  analyses: {analyses} in {drained:.1?} = {:.1}/s ({:.2} changes per analysis, debounced and coalesced)",
        analyses / drained.as_secs_f64(),
        total as f64 / analyses.max(1.0)
    );
    println!(
        "  change → end of the first analysis that read it: p50 {}  p95 {}  max {}; changes never analysed: {unanalysed}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 95.0)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    println!(
        "  API-server object reads (LIST/GET) during the load: {reads} = {:.3} per change (target 0: watches only)",
        reads as f64 / total as f64
    );
}

async fn idle(pool: &PgPool) -> bool {
    let (busy,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM analysis_runs WHERE status IN ('queued', 'running')")
            .fetch_one(pool)
            .await
            .expect("count");
    busy == 0
}
