//! Shared test harness: a router over a fresh, migrated and seeded database (one per test,
//! from `#[sqlx::test]`), acting as an injected principal.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub mod oidc;
pub mod schema;
pub mod write_matrix;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use statesight_server::auth::{Authenticator, Principal};
use statesight_server::state::PublicAuthConfig;
use statesight_server::{AppState, app};
use statesight_store::seed::{self, ExampleLocation};
use tower::ServiceExt;
use uuid::Uuid;

pub const PAYMENTS: Uuid = seed::PAYMENTS_WORKSPACE_ID;
pub const PLATFORM: Uuid = seed::PLATFORM_WORKSPACE_ID;
pub const LEDGER: Uuid = seed::LEDGER_APPLICATION_ID;

/// Seeded users of the payments workspace, by role.
pub const VIEWER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000202);
pub const EDITOR: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000203);
pub const ADMIN: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000204);
/// A seeded user who belongs to no workspace.
pub const OUTSIDER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000205);
pub const DEMO: Uuid = seed::DEMO_USER_ID;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| String::from("redis://127.0.0.1:6379"))
}

/// Seeds the rows only (no repositories, no analyses): for tests of what the API does
/// with workspaces, users, clusters, sources, applications and rules.
pub async fn seeded(pool: &PgPool) {
    seed::run(
        pool,
        &ExampleLocation {
            examples_dir: String::from("/nonexistent/examples"),
            repos_dir: String::from("/nonexistent/repos"),
        },
    )
    .await
    .expect("seeding the test database");
}

/// The URL of the database a `#[sqlx::test]` pool points at (for the real binary).
pub fn database_url(pool: &PgPool) -> String {
    let options = pool.connect_options();
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| String::from("postgres://postgres@127.0.0.1:5432/postgres"));
    let database = options.get_database().unwrap_or("postgres");
    match base.rfind('/') {
        Some(at) => format!("{}/{database}", &base[..at]),
        None => base,
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The demo as `make demo` builds it: seeded rows, the example repositories, and every
/// demo analysis performed by a real worker running in this process, requested through the
/// queue (so incidents, findings, suppressions and timelines are the engine's own output,
/// written by the worker's writer). Returns how each analysis ended.
pub async fn seeded_and_analysed(pool: &PgPool) -> Vec<statesight_server::seed::ExampleRun> {
    Demo::analysed(pool).await.runs
}

/// The analysed demo, with its example repositories kept so it can be analysed again.
pub struct Demo {
    pub runs: Vec<statesight_server::seed::ExampleRun>,
    data: tempfile::TempDir,
}

impl Demo {
    pub async fn analysed(pool: &PgPool) -> Demo {
        let data = tempfile::tempdir().expect("temporary data dir");
        let examples = repo_root()
            .join("examples")
            .canonicalize()
            .expect("examples dir");
        let policy = statesight_core::source::InputPolicy::new(
            true,
            "/etc/statesight/kubeconfigs",
            &examples.display().to_string(),
            None,
        )
        .expect("input policy");
        statesight_server::seed::run(pool, &examples, data.path(), Path::new("git"), &policy)
            .await
            .expect("seeding the examples");
        let runs = with_worker(pool, data.path(), |queue| async move {
            statesight_server::seed::analyse_examples(pool, &queue, Duration::from_secs(120))
                .await
                .expect("every demo analysis succeeds")
        })
        .await;
        Demo { runs, data }
    }

    /// Analyses `applications` again at their source's ref, through the queue and a real
    /// worker, and waits until every run has ended; returns the runs.
    pub async fn analyse_again(
        &self,
        pool: &PgPool,
        applications: &[Uuid],
    ) -> Vec<statesight_core::wire::AnalysisRun> {
        with_worker(pool, self.data.path(), |queue| async move {
            let actor = statesight_store::audit::Actor::system("test");
            let mut ids = Vec::new();
            for application in applications {
                match statesight_store::runs::request_analysis(
                    pool,
                    &queue,
                    &actor,
                    *application,
                    None,
                    statesight_core::wire::RunTrigger::Manual,
                )
                .await
                .expect("requesting an analysis")
                {
                    statesight_store::runs::AnalysisRequest::Created(run)
                    | statesight_store::runs::AnalysisRequest::Existing(run)
                    | statesight_store::runs::AnalysisRequest::Coalesced(run) => ids.push(run.id),
                    statesight_store::runs::AnalysisRequest::NoApplication => {
                        panic!("no application {application}")
                    }
                }
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            let mut finished = Vec::new();
            for id in ids {
                loop {
                    let run = statesight_store::runs::get(pool, id)
                        .await
                        .expect("run")
                        .expect("the run exists");
                    if matches!(
                        run.status,
                        statesight_core::wire::RunStatus::Succeeded
                            | statesight_core::wire::RunStatus::Failed
                    ) {
                        finished.push(run);
                        break;
                    }
                    assert!(std::time::Instant::now() < deadline, "run {id} did not end");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            finished
        })
        .await
    }
}

/// Runs `work` while a real worker consumes the queue of a Redis prefix of its own.
async fn with_worker<T, F, Fut>(pool: &PgPool, data: &Path, work: F) -> T
where
    F: FnOnce(statesight_store::queue::Queue) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let prefix = RedisPrefix::new();
    let worker = statesight_worker::runtime::Worker::new(
        pool.clone(),
        prefix.queue(),
        worker_settings(&prefix.0, &data.join("git-cache")),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move { worker.run(stopped).await });
    let outcome = work(prefix.queue()).await;
    let _ = stop.send(true);
    let _ = running.await;
    prefix.cleanup().await;
    outcome
}

fn worker_settings(prefix: &str, cache: &Path) -> statesight_worker::settings::Settings {
    statesight_worker::settings::Settings {
        database_url: String::new(),
        redis_url: redis_url(),
        redis_key_prefix: prefix.to_owned(),
        git_bin: PathBuf::from("git"),
        git_cache_dir: cache.to_path_buf(),
        kubectl_bin: PathBuf::from(
            std::env::var("KUBECTL_BIN").unwrap_or_else(|_| String::from("kubectl")),
        ),
        allow_synthetic_live_state: false,
        concurrency: 2,
        analysis_interval: None,
        metrics_addr: "127.0.0.1:0".parse().expect("addr"),
        worker_id: format!("server-test-{prefix}"),
        max_attempts: 3,
        retry_base: Duration::from_millis(100),
        job_timeout: Duration::from_secs(60),
        lease_renew: Duration::from_secs(1),
        retention_days: 30,
        watch: statesight_worker::settings::WatchSettings {
            enabled: false,
            debounce: std::time::Duration::from_millis(250),
            lease: std::time::Duration::from_secs(15),
        },
        // Local example repositories and snapshots; the policy itself is tested elsewhere.
        inputs: statesight_worker::settings::InputPolicy::new(true, "/", "/", None)
            .expect("input policy"),
        bookkeeping_keys: statesight_core::bookkeeping::default_bookkeeping_keys(),
        secret_digester: statesight_core::secret::SecretDigester::parse(
            "test:5ec2e7d16e57d16e57d16e57d16e57d16e57d16e57d16e57d16e57d16e57d1ab",
        )
        .expect("test digest key"),
        notify: statesight_worker::notify::NotifySettings::default(),
    }
}

pub fn state_with(pool: &PgPool, authenticator: Authenticator) -> AppState {
    let redis = statesight_store::redis_conn::client(&redis_url()).expect("redis url");
    AppState::new(
        pool.clone(),
        redis,
        authenticator,
        PublicAuthConfig::default(),
    )
}

pub fn as_user(pool: &PgPool, user_id: Uuid) -> axum::Router {
    app(state_with(
        pool,
        Authenticator::Injected(Principal::user(user_id)),
    ))
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

pub async fn send(router: &axum::Router, request: Request<Body>) -> Reply {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

pub async fn get(router: &axum::Router, uri: &str, workspace: Option<Uuid>) -> Reply {
    let mut builder = Request::builder().method(Method::GET).uri(uri);
    if let Some(workspace) = workspace {
        builder = builder.header("x-workspace-id", workspace.to_string());
    }
    send(router, builder.body(Body::empty()).expect("request")).await
}

/// Asserts an error envelope with the given status and code.
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        reply.status, status,
        "unexpected status; body: {}",
        reply.text
    );
    assert_eq!(reply.body["error"]["code"], code, "body: {}", reply.text);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error message missing: {}",
        reply.text
    );
    assert!(
        reply.body["meta"]["request_id"].is_string(),
        "request id missing: {}",
        reply.text
    );
}

/// Sends `body` (raw text, so tests can send malformed JSON) with a JSON content type.
pub async fn send_json(
    router: &axum::Router,
    method: Method,
    uri: &str,
    workspace: Option<Uuid>,
    body: &str,
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(workspace) = workspace {
        builder = builder.header("x-workspace-id", workspace.to_string());
    }
    send(
        router,
        builder.body(Body::from(body.to_owned())).expect("request"),
    )
    .await
}

/// A router acting as `user` whose Redis keys live under a prefix of its own.
pub fn as_user_with_prefix(pool: &PgPool, user_id: Uuid, prefix: &str) -> axum::Router {
    app(
        state_with(pool, Authenticator::Injected(Principal::user(user_id)))
            .with_redis_prefix(prefix),
    )
}

/// A Redis key prefix unique to one test; `cleanup` removes its keys.
pub struct RedisPrefix(pub String);

impl RedisPrefix {
    pub fn new() -> Self {
        RedisPrefix(format!("statesight-test-{}", Uuid::new_v4()))
    }

    pub fn queue(&self) -> statesight_store::queue::Queue {
        statesight_store::queue::Queue::new(
            statesight_store::redis_conn::client(&redis_url()).expect("redis url"),
            self.0.clone(),
        )
    }

    pub async fn cleanup(&self) {
        let client = statesight_store::redis_conn::client(&redis_url()).expect("redis url");
        let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query_async(&mut connection)
            .await
            .unwrap_or_default();
        for key in keys {
            let _: Result<i64, _> = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut connection)
                .await;
        }
    }
}

/// The id of the application's incident with this cause (a manager name, `missing`,
/// `unowned` or `removed_from_git`): ids of analysed data are not fixed, causes are.
pub async fn incident_id(pool: &PgPool, application: Uuid, cause: &str) -> Uuid {
    let row: Option<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM incidents WHERE application_id = $1 AND cause = $2 ORDER BY first_seen_at, id LIMIT 1",
    )
    .bind(application)
    .bind(cause)
    .fetch_optional(pool)
    .await
    .expect("incident lookup");
    row.unwrap_or_else(|| panic!("application {application} has no incident caused by {cause}"))
        .0
}

/// The id of the application's most recent analysis.
pub async fn latest_run_id(pool: &PgPool, application: Uuid) -> Uuid {
    let row: (Uuid,) = sqlx::query_as(
        "SELECT id FROM analysis_runs WHERE application_id = $1 ORDER BY queued_at DESC, id DESC LIMIT 1",
    )
    .bind(application)
    .fetch_one(pool)
    .await
    .expect("the application has been analysed");
    row.0
}
