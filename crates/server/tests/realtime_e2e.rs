//! Real time, end to end: a Kubernetes API served by this test emits a watch event changing
//! an object the ledger application tracks (its ConfigMap is deleted); the watching worker
//! re-analyses from its cache; the incident is then visible through `GET
//! /api/v1/incidents`, arrives on an open `GET /api/v1/events` stream, and a signed
//! notification reaches a receiver served by the test (on loopback, so allowed explicitly).
//! Everything is real: the API server over TCP, the worker and its watcher in process,
//! PostgreSQL, Redis.

mod common;
#[path = "../../worker/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;
use support::kube_api::TestKubeApi;
use uuid::Uuid;

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver.0.lock().expect("lock").push((headers, body));
    StatusCode::NO_CONTENT
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("client")
}

/// Reads `data:` payloads of SSE frames from a response, with their `event:` names.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn next_event(&mut self, wait: Duration) -> (String, Value) {
        let deadline = Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = None;
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = Some(name.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.trim_start().to_owned());
                    }
                }
                if let Some(event) = event {
                    let data = serde_json::from_str(&data.join("\n")).unwrap_or(Value::Null);
                    return (event, data);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .expect("an event within the wait")
                .expect("reading the stream")
                .expect("the stream is open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn worker_settings(prefix: &str, cache: &std::path::Path) -> statesight_worker::settings::Settings {
    statesight_worker::settings::Settings {
        database_url: String::new(),
        redis_url: redis_url(),
        redis_key_prefix: prefix.to_owned(),
        git_bin: "git".into(),
        git_cache_dir: cache.to_path_buf(),
        kubectl_bin: std::env::var("KUBECTL_BIN")
            .unwrap_or_else(|_| String::from("kubectl"))
            .into(),
        allow_synthetic_live_state: false,
        concurrency: 2,
        analysis_interval: None,
        metrics_addr: "127.0.0.1:0".parse().expect("addr"),
        worker_id: format!("realtime-{prefix}"),
        max_attempts: 3,
        retry_base: Duration::from_millis(100),
        job_timeout: Duration::from_secs(60),
        lease_renew: Duration::from_secs(1),
        retention_days: 30,
        watch: statesight_worker::settings::WatchSettings {
            enabled: true,
            debounce: Duration::from_millis(250),
            lease: Duration::from_secs(3),
        },
        notify: statesight_worker::notify::NotifySettings {
            // The receiver is on loopback: allowed explicitly, as an operator would.
            allowed_networks: statesight_worker::notify::ssrf::AllowedNetworks::parse(
                "127.0.0.0/8",
            )
            .expect("networks"),
            poll_interval: Duration::from_millis(50),
            ..Default::default()
        },
        inputs: statesight_worker::settings::InputPolicy::new(true, "/", "/", None)
            .expect("input policy"),
        bookkeeping_keys: statesight_core::bookkeeping::default_bookkeeping_keys(),
        secret_digester: statesight_core::secret::SecretDigester::parse(
            "test:5ec2e7d16e57d16e57d16e57d16e57d16e57d16e57d16e57d16e57d16e57d1ab",
        )
        .expect("test digest key"),
    }
}

async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_watch_event_becomes_an_incident_an_sse_event_and_a_notification(pool: PgPool) {
    let data = tempfile::tempdir().expect("tempdir");
    let examples = repo_root()
        .join("examples")
        .canonicalize()
        .expect("examples");
    let policy =
        statesight_core::source::InputPolicy::new(true, "/", &examples.display().to_string(), None)
            .expect("policy");
    statesight_server::seed::run(
        &pool,
        &examples,
        data.path(),
        std::path::Path::new("git"),
        &policy,
    )
    .await
    .expect("seed with the example repositories");

    // The ledger's cluster: the test's Kubernetes API, watched.
    let api = TestKubeApi::builder()
        .objects(support::load_objects(&support::ledger_snapshot_dir()))
        .namespace("payments")
        .start()
        .await;
    let kubeconfig = api.write_kubeconfig(data.path(), "test-cluster");
    let (cluster,): (Uuid,) = sqlx::query_as("SELECT cluster_id FROM applications WHERE id = $1")
        .bind(LEDGER)
        .fetch_one(&pool)
        .await
        .expect("the ledger's cluster");
    sqlx::query(
        "UPDATE clusters SET live_source = 'kube-api', snapshot_dir = NULL, kubeconfig_path = $2,
                kube_context = 'test-cluster', watch_enabled = true WHERE id = $1",
    )
    .bind(cluster)
    .bind(kubeconfig.display().to_string())
    .execute(&pool)
    .await
    .expect("watch the cluster");

    // The API server over TCP and a worker, sharing a Redis prefix.
    let prefix = RedisPrefix::new();
    let base = format!(
        "http://{}",
        serve(as_user_with_prefix(&pool, ADMIN, &prefix.0)).await
    );
    let worker = statesight_worker::runtime::Worker::new(
        pool.clone(),
        prefix.queue(),
        worker_settings(&prefix.0, &data.path().join("git-cache")),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move { worker.run(stopped).await });
    let client = http();

    // A notification endpoint, through the API, to a receiver served here.
    let receiver = Receiver::default();
    let receiver_address = serve(
        axum::Router::new()
            .fallback(receive)
            .with_state(receiver.clone()),
    )
    .await;
    let created: Value = client
        .post(format!("{base}/api/v1/notification-endpoints"))
        .header("x-workspace-id", PAYMENTS.to_string())
        .json(&json!({"name": "on-call", "url": format!("http://{receiver_address}/hook"),
            "events": ["incident.opened", "incident.changed"], "min_severity": "low", "format": "json"}))
        .send()
        .await
        .expect("create the endpoint")
        .json()
        .await
        .expect("json");
    let secret = created["data"]["secret"]
        .as_str()
        .expect("the secret, shown once")
        .to_owned();

    // The first analysis: the application's objects become tracked and watched.
    let analyze = client
        .post(format!("{base}/api/v1/applications/{LEDGER}/analyze"))
        .send()
        .await
        .expect("analyze");
    assert_eq!(analyze.status(), 202);
    wait_until("the first analysis", Duration::from_secs(60), async || {
        let (done,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM analysis_runs WHERE application_id = $1 AND status = 'succeeded'",
        )
        .bind(LEDGER)
        .fetch_one(&pool)
        .await
        .expect("runs");
        done == 1
    })
    .await;
    wait_until("the watches synced", Duration::from_secs(30), async || {
        let (tracked, synced): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(DISTINCT (resource_group, kind, namespace)) FROM tracked_resources),
                    (SELECT count(*) FROM cluster_watches WHERE synced_at IS NOT NULL)",
        )
        .fetch_one(&pool)
        .await
        .expect("watches");
        tracked > 0 && synced >= tracked && api.open_watches() as i64 >= tracked
    })
    .await;

    // An open event stream.
    let response = client
        .get(format!("{base}/api/v1/events"))
        .header("x-workspace-id", PAYMENTS.to_string())
        .send()
        .await
        .expect("GET /api/v1/events");
    assert_eq!(response.status(), 200);
    let mut events = EventStream {
        response,
        buffer: String::new(),
    };
    let before = receiver.0.lock().expect("lock").len();

    // The watch event: the ConfigMap is deleted in the cluster.
    let changed_at = Instant::now();
    api.remove_object("", "ConfigMap", Some("payments"), "ledger-config");

    // 1. On the stream: the incident of the missing ConfigMap.
    let incident = loop {
        let (kind, event) = events.next_event(Duration::from_secs(20)).await;
        if kind == "incident.opened"
            && event["incident"]["resource"]
                .as_str()
                .is_some_and(|r| r.ends_with("/ledger-config"))
        {
            break event;
        }
    };
    let sse_after = changed_at.elapsed();
    let incident_id = incident["incident"]["id"]
        .as_str()
        .expect("incident id")
        .to_owned();
    assert_eq!(incident["application_id"], LEDGER.to_string());

    // 2. Through the API: the same incident, open, last seen by a watch-triggered run that
    //    read the watch cache.
    let listed: Value = client
        .get(format!("{base}/api/v1/incidents?status=open&limit=100"))
        .header("x-workspace-id", PAYMENTS.to_string())
        .send()
        .await
        .expect("GET /api/v1/incidents")
        .json()
        .await
        .expect("json");
    let found = listed["data"]
        .as_array()
        .expect("incidents")
        .iter()
        .find(|item| item["id"] == incident_id.as_str())
        .unwrap_or_else(|| panic!("incident {incident_id} listed: {listed}"));
    assert_eq!(found["resource"]["name"], "ledger-config");
    assert_eq!(found["status"], "open");
    let run_id = found["last_run_id"].as_str().expect("last run").to_owned();
    let (trigger, method): (String, String) = sqlx::query_as(
        "SELECT r.trigger, p.method FROM analysis_runs r JOIN live_provenance p ON p.run_id = r.id
          WHERE r.id = $1::uuid",
    )
    .bind(&run_id)
    .fetch_one(&pool)
    .await
    .expect("the run");
    assert_eq!(
        (trigger.as_str(), method.as_str()),
        ("watch", "watch-cache")
    );

    // 3. At the receiver: a signed notification of that incident.
    wait_until("the notification", Duration::from_secs(20), async || {
        receiver.0.lock().expect("lock").len() > before
    })
    .await;
    let received = receiver.0.lock().expect("lock").clone();
    let (headers, body) = received
        .iter()
        .skip(before)
        .find(|(headers, _)| headers["x-statesight-event"] == "incident.opened")
        .expect("an incident.opened notification");
    let timestamp = headers["x-statesight-timestamp"]
        .to_str()
        .expect("timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    assert_eq!(
        headers["x-statesight-signature"]
            .to_str()
            .expect("signature"),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    let notified: Value = serde_json::from_slice(body).expect("JSON body");
    assert!(
        notified.to_string().contains(&incident_id),
        "the notification names the incident: {notified}"
    );
    assert!(
        !notified.to_string().contains(&secret),
        "no secret in a notification"
    );
    println!("watch event → SSE incident event in {sse_after:?}");

    let _ = stop.send(true);
    let _ = running.await;
    prefix.cleanup().await;
}
