//! A real StateSight API for the console's tests: `statesight_server::app` served over a
//! loopback TCP port in this process (demo authentication), on a database from
//! `#[sqlx::test]` that is seeded and, when asked, analysed by the real worker running in
//! this process over the example repositories.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use statesight_server::auth::Authenticator;
use statesight_server::state::PublicAuthConfig;
use statesight_server::{AppState, app};
use statesight_tui::client::{ApiClient, StaticToken, http_client};
use uuid::Uuid;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| String::from("redis://127.0.0.1:6379"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Redis keys under a prefix of one test, removed on `cleanup`.
pub struct RedisPrefix(pub String);

impl RedisPrefix {
    pub fn new() -> Self {
        RedisPrefix(format!("statesight-tui-test-{}", Uuid::new_v4()))
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

/// Seeded rows only (workspaces, users, clusters, sources, applications, rules).
pub async fn seeded(pool: &PgPool) {
    statesight_store::seed::run(
        pool,
        &statesight_store::seed::ExampleLocation {
            examples_dir: String::from("/nonexistent/examples"),
            repos_dir: String::from("/nonexistent/repos"),
        },
    )
    .await
    .expect("seeding the test database");
}

/// The demo as `make demo` builds it: seeded rows, the example repositories, and every demo
/// analysis performed by the real worker in this process, through the queue.
pub async fn seeded_and_analysed(pool: &PgPool) {
    // The repositories are only read by these analyses: they can go at once.
    drop(seeded_and_analysed_with_repos(pool).await);
}

/// [`seeded_and_analysed`], keeping the data dir: the seeded sources point at the example
/// repositories under it (`repos/`), so a later analysis (the console's `a`) needs them.
/// They are removed when the returned dir is dropped.
pub async fn seeded_and_analysed_with_repos(pool: &PgPool) -> tempfile::TempDir {
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
    let prefix = RedisPrefix::new();
    let worker = statesight_worker::runtime::Worker::new(
        pool.clone(),
        prefix.queue(),
        worker_settings(&prefix.0, &data.path().join("git-cache")),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move { worker.run(stopped).await });
    let outcome =
        statesight_server::seed::analyse_examples(pool, &prefix.queue(), Duration::from_secs(120))
            .await;
    let _ = stop.send(true);
    let _ = running.await;
    prefix.cleanup().await;
    outcome.expect("every demo analysis succeeds");
    data
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
        worker_id: format!("tui-test-{prefix}"),
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

/// The API served on a loopback port until dropped.
pub struct Server {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
    prefix: RedisPrefix,
    worker: Option<RunningWorker>,
}

/// A real worker consuming a [`Server`]'s queue, until told to stop.
struct RunningWorker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Serves `pool` as the demo user (`AUTH_REQUIRED=false`).
    pub async fn start(pool: &PgPool) -> Server {
        let prefix = RedisPrefix::new();
        let redis = statesight_store::redis_conn::client(&redis_url()).expect("redis url");
        let state = AppState::new(
            pool.clone(),
            redis,
            Authenticator::Demo,
            PublicAuthConfig::default(),
        )
        .with_redis_prefix(&prefix.0);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("the port");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app(state)).await;
        });
        Server {
            url: format!("http://{address}/"),
            task,
            prefix,
            worker: None,
        }
    }

    /// [`Server::start`] with the real worker consuming the server's queue (the same Redis
    /// key prefix), so that an analysis requested through the API runs and ends. `data` is
    /// the dir [`seeded_and_analysed_with_repos`] returned: the worker clones the example
    /// repositories from it and keeps its Git cache there.
    pub async fn start_with_worker(pool: &PgPool, data: &Path) -> Server {
        let mut server = Server::start(pool).await;
        let worker = statesight_worker::runtime::Worker::new(
            pool.clone(),
            server.prefix.queue(),
            worker_settings(&server.prefix.0, &data.join("git-cache")),
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move { worker.run(stopped).await });
        server.worker = Some(RunningWorker { stop, task });
        server
    }

    pub fn client(&self) -> ApiClient {
        statesight_tui::client::ensure_crypto_provider();
        ApiClient::new(
            http_client(None).expect("an HTTP client"),
            self.url.parse().expect("the server URL"),
            Arc::new(StaticToken(None)),
        )
    }

    pub async fn stop(self) {
        // The worker first (it finishes a job in progress), then the router; the keys go
        // last so that neither writes them again after the cleanup.
        let worker = match self.worker {
            Some(worker) => {
                let _ = worker.stop.send(true);
                Some(worker.task.await)
            }
            None => None,
        };
        self.task.abort();
        self.prefix.cleanup().await;
        match worker {
            Some(Ok(Err(error))) => panic!("the worker failed: {error:#}"),
            Some(Err(error)) => panic!("the worker panicked: {error}"),
            _ => {}
        }
    }
}
