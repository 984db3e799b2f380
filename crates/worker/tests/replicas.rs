//! Several replicas on one PostgreSQL and one Redis, as a headless deployment runs them: two
//! `statesight-server serve` processes and three `statesight-worker run` processes. Analyses
//! requested through either server spread across the workers and none runs twice; every
//! request is answered by either server the same way, pagination cursors included.

mod e2e;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::processes::*;
use e2e::*;
use serde_json::Value;
use sqlx::PgPool;

/// The server binary beside this crate's worker binary: `make test` builds the whole
/// workspace into one target directory.
fn server_binary() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_statesight-worker"))
        .with_file_name(format!("statesight-server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: build the workspace first (cargo build --workspace, or make test)",
        binary.display()
    );
    binary
}

fn examples_dir() -> PathBuf {
    repo_root()
        .join("examples")
        .canonicalize()
        .expect("examples dir")
}

/// The settings every server replica shares; only the listen address differs.
fn server_env(database_url: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("REDIS_URL", redis_url()),
        ("REDIS_KEY_PREFIX", prefix.to_owned()),
        ("AUTH_REQUIRED", String::from("false")),
        // One key for all replicas, as docs/OPERATIONS.md requires: a cursor made by one
        // replica must be accepted by the other.
        ("CURSOR_SIGNING_KEY", "5a".repeat(32)),
        ("LOG_FORMAT", String::from("json")),
        ("ALLOW_FILE_REPOSITORIES", String::from("true")),
        ("SNAPSHOT_ROOTS", examples_dir().display().to_string()),
        (
            "KUBECONFIG_ROOTS",
            std::env::temp_dir().display().to_string(),
        ),
    ]
}

struct ServerProcess {
    child: Child,
    url: String,
    log: PathBuf,
}

impl ServerProcess {
    fn start(env: &[(&'static str, String)], log: PathBuf) -> Self {
        let port = free_port();
        let log_file = std::fs::File::create(&log).expect("server log");
        let child = Command::new(server_binary())
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("starting statesight-server");
        ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "statesight-server exited ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            let ready = client
                .get(format!("{}/readyz", self.url))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "statesight-server at {} not ready:\n{}",
                self.url,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seeds the database and builds every example repository, the way `make seed` does.
fn seed_examples(database_url: &str, data_dir: &Path) {
    let output = Command::new(server_binary())
        .args(["admin", "seed", "--examples-dir"])
        .arg(examples_dir())
        .arg("--data-dir")
        .arg(data_dir)
        .env("DATABASE_URL", database_url)
        .env("ALLOW_FILE_REPOSITORIES", "true")
        .env("SNAPSHOT_ROOTS", examples_dir())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("running statesight-server admin seed");
    assert!(
        output.status.success(),
        "admin seed failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A response as a client compares it: status and body, without the per-request id.
async fn answer(
    client: &reqwest::Client,
    request: reqwest::RequestBuilder,
) -> (reqwest::StatusCode, Value) {
    let response = client
        .execute(request.build().expect("request"))
        .await
        .expect("the server answers");
    let status = response.status();
    let mut body: Value = response.json().await.expect("a JSON body");
    if let Some(meta) = body.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("request_id");
    }
    (status, body)
}

fn terminal_lines(log: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| {
            let message = line["message"].as_str()?;
            if message != "analysis succeeded" && message != "analysis failed" {
                return None;
            }
            Some((
                line["span"]["run_id"].as_str()?.to_owned(),
                message.to_owned(),
            ))
        })
        .collect()
}

async fn wait_for_terminal(pool: &PgPool, runs: &BTreeSet<String>, logs: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let unfinished: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM analysis_runs WHERE status IN ('queued', 'running')",
        )
        .fetch_one(pool)
        .await
        .expect("runs");
        if unfinished == 0 {
            return;
        }
        if Instant::now() > deadline {
            let everything: String = logs
                .iter()
                .map(|log| std::fs::read_to_string(log).unwrap_or_default())
                .collect();
            panic!(
                "{unfinished} of {runs:?} still unfinished after 180 s; worker logs:\n{everything}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn two_servers_and_three_workers_share_one_database_and_queue(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let scratch = tempfile::tempdir().expect("tempdir");
    let database = database_url(&pool);
    seed_examples(&database, &scratch.path().join("data"));
    let prefix = Prefix::new();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");

    let env = server_env(&database, &prefix.0);
    let mut servers = [
        ServerProcess::start(&env, scratch.path().join("server-a.log")),
        ServerProcess::start(&env, scratch.path().join("server-b.log")),
    ];
    let logs: Vec<PathBuf> = (0..3)
        .map(|index| scratch.path().join(format!("worker-{index}.log")))
        .collect();
    let workers: Vec<WorkerProcess> = logs
        .iter()
        .enumerate()
        .map(|(index, log)| {
            let id = format!("replica-{index}-{}", &prefix.0[prefix.0.len() - 8..]);
            WorkerProcess::start(
                &database,
                &redis_url(),
                &prefix.0,
                &id,
                &scratch.path().join(format!("git-cache-{index}")),
                log,
            )
        })
        .collect();
    for server in &mut servers {
        server.wait_ready(&client).await;
    }
    let urls: Vec<String> = servers.iter().map(|server| server.url.clone()).collect();

    // Every application of every workspace the demo user belongs to.
    let (_, me) = answer(&client, client.get(format!("{}/api/v1/me", urls[0]))).await;
    let mut applications: Vec<(String, String)> = Vec::new();
    for workspace in me["data"]["workspaces"].as_array().expect("workspaces") {
        let workspace_id = workspace["id"].as_str().expect("workspace id").to_owned();
        let (_, list) = answer(
            &client,
            client
                .get(format!("{}/api/v1/applications?limit=500", urls[1]))
                .header("X-Workspace-ID", &workspace_id),
        )
        .await;
        for application in list["data"].as_array().expect("applications") {
            let id = application["id"].as_str().expect("id").to_owned();
            applications.push((workspace_id.clone(), id));
        }
    }
    assert!(applications.len() >= 5, "{applications:?}");

    // Three waves: each application asked for through both servers at once. One request
    // records the run (202), the other is answered with that same run (200), whichever
    // server took which.
    let mut requested = BTreeSet::new();
    for wave in 0..3 {
        let mut asks = Vec::new();
        for (index, (_, application)) in applications.iter().enumerate() {
            for server in [index % 2, (index + 1) % 2] {
                let request = client
                    .post(format!(
                        "{}/api/v1/applications/{application}/analyze",
                        urls[server]
                    ))
                    .json(&serde_json::json!({}));
                asks.push(answer(&client, request));
            }
        }
        let answers = futures::future::join_all(asks).await;
        for pair in answers.chunks(2) {
            let statuses: BTreeSet<u16> = pair.iter().map(|(status, _)| status.as_u16()).collect();
            let ids: BTreeSet<&str> = pair
                .iter()
                .map(|(_, body)| body["data"]["id"].as_str().expect("run id"))
                .collect();
            assert_eq!(
                ids.len(),
                1,
                "wave {wave}: both servers must answer with one run: {pair:?}"
            );
            assert!(
                statuses == BTreeSet::from([200, 202]) || statuses == BTreeSet::from([202]),
                "wave {wave}: {pair:?}"
            );
            requested.extend(ids.into_iter().map(str::to_owned));
        }
        wait_for_terminal(&pool, &requested, &logs).await;
    }
    assert_eq!(requested.len(), applications.len() * 3);

    // None ran twice: each run reached its end in exactly one worker, once; the database
    // holds exactly the requested runs, each finished and its results written once.
    let mut finished_by: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (worker, log) in logs.iter().enumerate() {
        for (run_id, _) in terminal_lines(log) {
            finished_by.entry(run_id).or_default().push(worker);
        }
    }
    let ran: BTreeSet<String> = finished_by.keys().cloned().collect();
    assert_eq!(ran, requested, "every requested run, and only those, ran");
    for (run, by) in &finished_by {
        assert_eq!(by.len(), 1, "run {run} was finished {} times", by.len());
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM analysis_runs")
        .fetch_one(&pool)
        .await
        .expect("runs");
    assert_eq!(stored as usize, requested.len());
    assert_every_run_terminal_and_written_once(&pool).await;
    let succeeded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM analysis_runs WHERE status = 'succeeded'")
            .fetch_one(&pool)
            .await
            .expect("runs");
    assert!(
        succeeded as usize >= applications.len() * 2,
        "the example applications analyse: {succeeded} of {}",
        requested.len()
    );

    // The work spread: every worker finished some of it.
    let per_worker: Vec<usize> = (0..3)
        .map(|worker| {
            finished_by
                .values()
                .filter(|by| by.contains(&worker))
                .count()
        })
        .collect();
    assert!(
        per_worker.iter().all(|count| *count > 0),
        "analyses per worker: {per_worker:?}"
    );

    // Either server answers every read the same way.
    let (workspace, application) = applications[0].clone();
    let (_, incidents) = answer(
        &client,
        client
            .get(format!("{}/api/v1/incidents?limit=500", urls[0]))
            .header("X-Workspace-ID", &workspace),
    )
    .await;
    let incident = incidents["data"][0]["id"]
        .as_str()
        .expect("the examples have incidents")
        .to_owned();
    let run = finished_by.keys().next().expect("a run").clone();
    let missing = uuid::Uuid::new_v4();
    let scoped = [
        "/api/v1/overview",
        "/api/v1/applications",
        "/api/v1/clusters",
        "/api/v1/sources",
        "/api/v1/incidents?status=open",
    ];
    let addressed = [
        String::from("/api/v1/me"),
        format!("/api/v1/applications/{application}"),
        format!("/api/v1/applications/{application}/analyses"),
        format!("/api/v1/applications/{application}/findings?limit=500"),
        format!("/api/v1/applications/{application}/ignore-rules"),
        format!("/api/v1/applications/{application}/suppressed-findings"),
        format!("/api/v1/incidents/{incident}"),
        format!("/api/v1/incidents/{incident}/findings"),
        format!("/api/v1/incidents/{incident}/timeline"),
        format!("/api/v1/analyses/{run}"),
        format!("/api/v1/incidents/{missing}"),
        String::from("/api/v1/openapi.json"),
    ];
    for path in scoped {
        let a = answer(
            &client,
            client
                .get(format!("{}{path}", urls[0]))
                .header("X-Workspace-ID", &workspace),
        )
        .await;
        let b = answer(
            &client,
            client
                .get(format!("{}{path}", urls[1]))
                .header("X-Workspace-ID", &workspace),
        )
        .await;
        assert_eq!(a, b, "{path}");
    }
    for path in &addressed {
        let a = answer(&client, client.get(format!("{}{path}", urls[0]))).await;
        let b = answer(&client, client.get(format!("{}{path}", urls[1]))).await;
        assert_eq!(a, b, "{path}");
    }

    // A list paged one item at a time, alternating servers, is the same list.
    let (_, whole) = answer(
        &client,
        client
            .get(format!("{}/api/v1/incidents?limit=500", urls[1]))
            .header("X-Workspace-ID", &workspace),
    )
    .await;
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        let mut url = format!("{}/api/v1/incidents?limit=1", urls[page % 2]);
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let (status, body) = answer(
            &client,
            client.get(url).header("X-Workspace-ID", &workspace),
        )
        .await;
        assert_eq!(status, 200, "page {page}: {body}");
        paged.extend(body["data"].as_array().expect("page").iter().cloned());
        match body["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(page < 1000, "paging does not end");
    }
    assert_eq!(&Value::Array(paged), &whole["data"]);

    // A write through one server is read back through the other.
    let (status, created) = answer(
        &client,
        client
            .post(format!(
                "{}/api/v1/applications/{application}/ignore-rules",
                urls[0]
            ))
            .json(&serde_json::json!({
                "name": "replica-check",
                "match_expression": "metadata.annotations.replica-check",
                "reason": "written through one replica, read through the other"
            })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let rule = created["data"]["id"].as_str().expect("rule id");
    let (_, rules) = answer(
        &client,
        client.get(format!(
            "{}/api/v1/applications/{application}/ignore-rules",
            urls[1]
        )),
    )
    .await;
    assert!(
        rules["data"]
            .as_array()
            .expect("rules")
            .iter()
            .any(|listed| listed["id"] == rule),
        "{rules}"
    );

    drop(workers);
    drop(servers);
    prefix.cleanup().await;
}
