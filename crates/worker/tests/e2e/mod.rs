//! Shared harness of the worker's end-to-end tests: the seeded database, the ledger
//! example as a real Git repository, a Redis key prefix per test, and worker settings.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub mod processes;
pub mod tcp_proxy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sqlx::PgPool;
use statesight_store::queue::Queue;
use statesight_store::seed::{self, ExampleLocation};
use statesight_worker::settings::Settings;
use uuid::Uuid;

pub const LEDGER: Uuid = seed::LEDGER_APPLICATION_ID;
pub const PROD_CLUSTER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000301);
pub const LEDGER_SOURCE: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000401);
pub const EDITOR: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000203);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn examples() -> PathBuf {
    repo_root().join("examples/ledger")
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| String::from("redis://127.0.0.1:6379"))
}

pub fn git(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .envs(env.iter().copied())
        .output()
        .expect("running git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The example history as a bare repository; returns its path and the commit of each step.
pub fn ledger_repository(root: &Path) -> (PathBuf, Vec<String>) {
    let work = root.join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    git(&work, &["init", "-q", "--initial-branch=main", "."], &[]);
    let mut steps: Vec<PathBuf> = std::fs::read_dir(examples().join("history"))
        .expect("history")
        .map(|entry| entry.expect("entry").path())
        .collect();
    steps.sort();
    let mut commits = Vec::new();
    for step in steps {
        for entry in std::fs::read_dir(&work).expect("read") {
            let entry = entry.expect("entry");
            if entry.file_name() != ".git" {
                let path = entry.path();
                if path.is_dir() {
                    std::fs::remove_dir_all(path).expect("rm");
                } else {
                    std::fs::remove_file(path).expect("rm");
                }
            }
        }
        copy_tree(&step.join("tree"), &work);
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(step.join("commit.json")).expect("commit.json"))
                .expect("json");
        let text = |key: &str| spec[key].as_str().unwrap_or("x").to_owned();
        git(&work, &["add", "--all"], &[]);
        let (name, email, date) = (text("author_name"), text("author_email"), text("date"));
        git(
            &work,
            &["commit", "-q", "-m", &text("message")],
            &[
                ("GIT_AUTHOR_NAME", &name),
                ("GIT_AUTHOR_EMAIL", &email),
                ("GIT_AUTHOR_DATE", &date),
                ("GIT_COMMITTER_NAME", &name),
                ("GIT_COMMITTER_EMAIL", &email),
                ("GIT_COMMITTER_DATE", &date),
            ],
        );
        commits.push(git(&work, &["rev-parse", "HEAD"], &[]));
    }
    let bare = root.join("ledger.git");
    git(root, &["clone", "-q", "--bare", "work", "ledger.git"], &[]);
    (bare, commits)
}

/// Seeds the database; the ledger application's source is `ledger.git` in the directory
/// holding `repo` (a repository elsewhere is never found: an unreachable source), and its
/// cluster the example snapshot.
pub async fn seed_ledger(pool: &PgPool, repo: &Path) {
    let examples = repo_root()
        .join("examples")
        .canonicalize()
        .expect("examples dir");
    let repos = repo
        .parent()
        .expect("the repository has a parent directory");
    seed::run(
        pool,
        &ExampleLocation {
            examples_dir: examples.display().to_string(),
            repos_dir: repos.display().to_string(),
        },
    )
    .await
    .expect("seed");
}

/// A Redis key prefix unique to one test.
pub struct Prefix(pub String);

impl Prefix {
    pub fn new() -> Self {
        Prefix(format!("statesight-wtest-{}", Uuid::new_v4()))
    }

    pub fn queue(&self) -> Queue {
        Queue::new(
            statesight_store::redis_conn::client(&redis_url()).expect("redis"),
            self.0.clone(),
        )
    }

    pub async fn cleanup(&self) {
        let client = statesight_store::redis_conn::client(&redis_url()).expect("redis");
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

/// The Secret digest key of test workers (in-process and child processes alike).
pub const TEST_SECRET_DIGEST_KEY: &str =
    "test:5ec2e7d16e57d16e57d16e57d16e57d16e57d16e57d16e57d16e57d16e57d1ab";

/// Settings for an in-process worker in tests.
pub fn settings(database_url: &str, prefix: &str, cache: &Path) -> Settings {
    Settings {
        database_url: database_url.to_owned(),
        redis_url: redis_url(),
        redis_key_prefix: prefix.to_owned(),
        git_bin: PathBuf::from("git"),
        git_cache_dir: cache.to_path_buf(),
        kubectl_bin: PathBuf::from(
            std::env::var("KUBECTL_BIN").unwrap_or_else(|_| String::from("kubectl")),
        ),
        allow_synthetic_live_state: false,
        concurrency: 1,
        analysis_interval: None,
        metrics_addr: "127.0.0.1:0".parse().expect("addr"),
        worker_id: String::from("test-worker"),
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
        secret_digester: statesight_core::secret::SecretDigester::parse(TEST_SECRET_DIGEST_KEY)
            .expect("test digest key"),
        notify: statesight_worker::notify::NotifySettings::default(),
    }
}

/// The URL of the database a `#[sqlx::test]` pool points at (for child processes).
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

/// A worker in this process over the test's database and Redis prefix.
pub fn in_process_worker(
    pool: &PgPool,
    prefix: &Prefix,
    cache: &Path,
) -> statesight_worker::runtime::Worker {
    statesight_worker::runtime::Worker::new(
        pool.clone(),
        prefix.queue(),
        settings(&database_url(pool), &prefix.0, cache),
    )
}

/// A consumer-group connection for reading jobs the way a worker slot does.
pub async fn consumer_connection(
    worker: &statesight_worker::runtime::Worker,
) -> redis::aio::MultiplexedConnection {
    worker.queue.ensure_group().await.expect("consumer group");
    worker
        .queue
        .blocking_connection(Duration::from_secs(2))
        .await
        .expect("redis connection")
}

/// The next job on the stream, as the test worker's slot would take it.
pub async fn take_job(
    worker: &statesight_worker::runtime::Worker,
    connection: &mut redis::aio::MultiplexedConnection,
) -> statesight_store::queue::Delivery {
    worker
        .queue
        .next(connection, "test-worker-0", Duration::from_secs(2))
        .await
        .expect("reading the stream")
        .expect("a job on the stream")
}
