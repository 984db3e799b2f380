//! Notifications sent by the real sender to receivers served by the test on loopback (so
//! allowed explicitly through `NOTIFY_ALLOWED_NETWORKS`' setting): an analysis's incident
//! arrives signed; failures are retried, then dead-lettered; loopback targets, by address
//! or by name, are refused without being contacted unless allowed.

mod e2e;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use e2e::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;
use statesight_core::wire::{
    DeliveryStatus, EventKind, NotificationDelivery, NotificationFormat, RunTrigger, Severity,
    WorkspaceEvent,
};
use statesight_store::audit::Actor;
use statesight_store::notifications::{self as store, EndpointValues};
use statesight_store::runs;
use statesight_worker::notify::ssrf::AllowedNetworks;
use statesight_worker::runtime::Worker;
use statesight_worker::settings::Settings;
use tokio::sync::watch;
use uuid::Uuid;

const SECRET: &str = "test-notification-secret-0123456789";

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// A webhook receiver on 127.0.0.1 answering the scripted statuses in turn, then 200.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    always: Option<u16>,
}

impl Receiver {
    async fn serve(self) -> (SocketAddr, Receiver) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (address, self)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver
        .received
        .lock()
        .expect("lock")
        .push(Received { headers, body });
    let status = receiver
        .always
        .or_else(|| receiver.script.lock().expect("lock").pop_front())
        .unwrap_or(200);
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

fn notify_settings(allowed: &str, max_attempts: u32) -> statesight_worker::notify::NotifySettings {
    statesight_worker::notify::NotifySettings {
        allowed_networks: AllowedNetworks::parse(allowed).expect("networks"),
        max_attempts,
        retry_base: Duration::from_millis(50),
        poll_interval: Duration::from_millis(50),
        ..Default::default()
    }
}

fn worker_settings(
    pool: &PgPool,
    prefix: &Prefix,
    cache: &std::path::Path,
    allowed: &str,
    max_attempts: u32,
) -> Settings {
    let mut settings = settings(&database_url(pool), &prefix.0, cache);
    settings.notify = notify_settings(allowed, max_attempts);
    settings
}

async fn workspace_of(pool: &PgPool, application: Uuid) -> Uuid {
    sqlx::query_scalar("SELECT workspace_id FROM applications WHERE id = $1")
        .bind(application)
        .fetch_one(pool)
        .await
        .expect("application's workspace")
}

async fn endpoint(
    pool: &PgPool,
    workspace: Uuid,
    url: String,
    events: Vec<EventKind>,
    min_severity: Severity,
    format: NotificationFormat,
) -> Uuid {
    store::create_endpoint(
        pool,
        &Actor::system("test"),
        workspace,
        &EndpointValues {
            name: format!("receiver-{}", Uuid::new_v4()),
            url,
            events,
            min_severity,
            format,
            enabled: true,
        },
        SECRET,
    )
    .await
    .expect("endpoint")
    .id
}

/// Runs the real sender until `done` holds for the endpoint's deliveries (or 30 s pass).
async fn send_until(
    pool: &PgPool,
    settings: Settings,
    endpoint: Uuid,
    done: impl Fn(&[NotificationDelivery]) -> bool,
) -> Vec<NotificationDelivery> {
    let (stop, shutdown) = watch::channel(false);
    let sender = tokio::spawn(statesight_worker::notify::run_sender(
        pool.clone(),
        Arc::new(settings),
        shutdown,
    ));
    let deliveries = wait_for(pool, endpoint, done).await;
    let _ = stop.send(true);
    let _ = sender.await;
    deliveries
}

async fn wait_for(
    pool: &PgPool,
    endpoint: Uuid,
    done: impl Fn(&[NotificationDelivery]) -> bool,
) -> Vec<NotificationDelivery> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let deliveries = store::list_deliveries(pool, endpoint, None, 100)
            .await
            .expect("deliveries")
            .items;
        if done(&deliveries) {
            return deliveries;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries never got there: {deliveries:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn all(status: DeliveryStatus) -> impl Fn(&[NotificationDelivery]) -> bool {
    move |deliveries| !deliveries.is_empty() && deliveries.iter().all(|d| d.status == status)
}

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

fn verify_signature(received: &Received, secret: &str) {
    let timestamp = header(received, "x-statesight-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&received.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header(received, "x-statesight-signature"), expected);
    let sent_at: i64 = timestamp.parse().expect("unix seconds");
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
}

/// A synthetic event of the seeded payments workspace, for the sender's own tests.
fn event(workspace: Uuid, application_name: &str) -> WorkspaceEvent {
    serde_json::from_value(json!({
        "kind": "incident.opened",
        "workspace_id": workspace,
        "application_id": LEDGER,
        "application_name": application_name,
        "run_id": Uuid::nil(),
        "incident": {
            "id": Uuid::nil(), "title": "replicas changed <by hand> & more", "severity": "high",
            "recommendation": "investigate", "resource": "apps/Deployment/payments/ledger-api",
            "finding_count": 2,
        },
        "at": "2026-12-03T10:00:00Z",
    }))
    .expect("event")
}

/// A seeded database with one endpoint receiving `incident.opened` and one such event
/// recorded for it.
async fn one_delivery(pool: &PgPool, url: String, format: NotificationFormat) -> Uuid {
    seed_ledger(pool, std::path::Path::new("/nonexistent/ledger.git")).await;
    let workspace = workspace_of(pool, LEDGER).await;
    let id = endpoint(
        pool,
        workspace,
        url,
        vec![EventKind::IncidentOpened],
        Severity::Low,
        format,
    )
    .await;
    let recorded = store::enqueue(pool, &[event(workspace, "ledger <!channel>")])
        .await
        .expect("enqueue");
    assert_eq!(recorded, 1);
    id
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_analysis_incident_reaches_the_receiver_signed(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (repo, _) = ledger_repository(scratch.path());
    seed_ledger(&pool, &repo).await;
    let (address, receiver) = Receiver::default().serve().await;
    let workspace = workspace_of(&pool, LEDGER).await;
    // Critical only: of the example's eight incidents, one.
    let endpoint_id = endpoint(
        &pool,
        workspace,
        format!("http://{address}/hooks/statesight"),
        vec![EventKind::IncidentOpened, EventKind::RunSucceeded],
        Severity::Critical,
        NotificationFormat::Json,
    )
    .await;
    let prefix = Prefix::new();
    let settings = worker_settings(
        &pool,
        &prefix,
        &scratch.path().join("cache"),
        "127.0.0.0/8",
        8,
    );
    let worker = Worker::new(pool.clone(), prefix.queue(), settings);
    let (stop, shutdown) = watch::channel(false);
    let running = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.run(shutdown).await })
    };
    runs::request_analysis(
        &pool,
        &worker.queue,
        &Actor::user(EDITOR, "test"),
        LEDGER,
        None,
        RunTrigger::Manual,
    )
    .await
    .expect("analysis requested");
    let deliveries = wait_for(&pool, endpoint_id, |deliveries| {
        deliveries.len() == 2
            && deliveries
                .iter()
                .all(|d| d.status == DeliveryStatus::Delivered)
    })
    .await;
    let _ = stop.send(true);
    let _ = running.await;
    prefix.cleanup().await;

    let received = receiver.received();
    assert_eq!(
        received.len(),
        2,
        "one critical incident, one succeeded run"
    );
    let incident = received
        .iter()
        .find(|r| header(r, "x-statesight-event") == "incident.opened")
        .expect("the incident's delivery");
    verify_signature(incident, SECRET);
    assert_eq!(header(incident, "content-type"), "application/json");
    let body: Value = serde_json::from_slice(&incident.body).expect("json body");
    let delivery_id = header(incident, "x-statesight-delivery");
    assert_eq!(body["delivery_id"], delivery_id);
    assert!(deliveries.iter().any(|d| d.id.to_string() == delivery_id));
    let event = &body["event"];
    assert_eq!(event["kind"], "incident.opened");
    assert_eq!(event["application_name"], "ledger");
    assert_eq!(event["incident"]["severity"], "critical");
    assert_eq!(
        event["incident"]["resource"],
        "apps/Deployment/payments/ledger-api"
    );
    let incident_id = event["incident"]["id"].as_str().expect("incident id");
    let status: String = sqlx::query_scalar("SELECT status FROM incidents WHERE id = $1::uuid")
        .bind(incident_id)
        .fetch_one(&pool)
        .await
        .expect("the incident exists");
    assert_eq!(status, "open");
    assert!(!String::from_utf8_lossy(&incident.body).contains(SECRET));
    let endpoint = store::get_endpoint(&pool, endpoint_id)
        .await
        .expect("endpoint")
        .expect("exists");
    let last = endpoint.last_attempt.expect("an attempt was made");
    assert_eq!(
        (last.outcome.as_str(), last.status_code),
        ("delivered", Some(200))
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_failing_receiver_is_retried_until_it_answers(pool: PgPool) {
    let receiver = Receiver::default();
    receiver.script.lock().expect("lock").extend([500, 503]);
    let (address, receiver) = receiver.serve().await;
    let id = one_delivery(
        &pool,
        format!("http://{address}/"),
        NotificationFormat::Json,
    )
    .await;
    let cache = tempfile::tempdir().expect("tempdir");
    let settings = worker_settings(&pool, &Prefix::new(), cache.path(), "127.0.0.1/32", 8);
    let deliveries = send_until(&pool, settings, id, all(DeliveryStatus::Delivered)).await;
    assert_eq!(deliveries[0].attempts, 3);
    assert_eq!(deliveries[0].last_status_code, Some(200));
    assert_eq!(deliveries[0].last_error, None);
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    // Every attempt is the same delivery, signed afresh.
    for attempt in &received {
        assert_eq!(
            header(attempt, "x-statesight-delivery"),
            deliveries[0].id.to_string()
        );
        verify_signature(attempt, SECRET);
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_receiver_that_keeps_failing_is_dead_lettered(pool: PgPool) {
    let (address, receiver) = Receiver {
        always: Some(500),
        ..Receiver::default()
    }
    .serve()
    .await;
    let id = one_delivery(
        &pool,
        format!("http://{address}/"),
        NotificationFormat::Json,
    )
    .await;
    let cache = tempfile::tempdir().expect("tempdir");
    let settings = worker_settings(&pool, &Prefix::new(), cache.path(), "127.0.0.0/8", 3);
    let deliveries = send_until(&pool, settings, id, all(DeliveryStatus::Dead)).await;
    let dead = &deliveries[0];
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.last_status_code, Some(500));
    assert_eq!(dead.last_error.as_deref(), Some("answered HTTP 500"));
    assert_eq!(dead.next_attempt_at, None);
    assert_eq!(receiver.received().len(), 3);
    let endpoint = store::get_endpoint(&pool, id)
        .await
        .expect("read")
        .expect("exists");
    let last = endpoint.last_attempt.expect("attempted");
    assert_eq!(last.outcome.as_str(), "dead");
    assert_eq!(last.error.as_deref(), Some("answered HTTP 500"));
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_loopback_address_is_refused_without_being_contacted(pool: PgPool) {
    let (address, receiver) = Receiver::default().serve().await;
    let id = one_delivery(
        &pool,
        format!("http://{address}/"),
        NotificationFormat::Json,
    )
    .await;
    let cache = tempfile::tempdir().expect("tempdir");
    // Another network allowed, not this one.
    let settings = worker_settings(&pool, &Prefix::new(), cache.path(), "10.0.0.0/8", 8);
    let deliveries = send_until(&pool, settings, id, all(DeliveryStatus::Dead)).await;
    assert_eq!(deliveries[0].attempts, 1, "refusals are not retried");
    assert_eq!(
        deliveries[0].last_error.as_deref(),
        Some("refused: 127.0.0.1 is a loopback address; allow it with NOTIFY_ALLOWED_NETWORKS")
    );
    assert_eq!(deliveries[0].last_status_code, None);
    assert!(
        receiver.received().is_empty(),
        "the receiver was never contacted"
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_name_resolving_to_loopback_is_refused(pool: PgPool) {
    let (address, receiver) = Receiver::default().serve().await;
    let url = format!("http://localhost:{}/hook", address.port());
    let id = one_delivery(&pool, url, NotificationFormat::Json).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let settings = worker_settings(&pool, &Prefix::new(), cache.path(), "", 8);
    let deliveries = send_until(&pool, settings, id, all(DeliveryStatus::Dead)).await;
    let error = deliveries[0].last_error.as_deref().expect("an error");
    assert!(
        error.starts_with("refused: ") && error.contains("is a loopback address"),
        "{error}"
    );
    assert!(
        receiver.received().is_empty(),
        "the receiver was never contacted"
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn slack_endpoints_get_an_escaped_message(pool: PgPool) {
    let (address, receiver) = Receiver::default().serve().await;
    let id = one_delivery(
        &pool,
        format!("http://{address}/slack"),
        NotificationFormat::Slack,
    )
    .await;
    let cache = tempfile::tempdir().expect("tempdir");
    let settings = worker_settings(&pool, &Prefix::new(), cache.path(), "127.0.0.0/8", 8);
    send_until(&pool, settings, id, all(DeliveryStatus::Delivered)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    verify_signature(&received[0], SECRET);
    assert_eq!(
        header(&received[0], "x-statesight-event"),
        "incident.opened"
    );
    let body: Value = serde_json::from_slice(&received[0].body).expect("json");
    let text = body["text"].as_str().expect("text");
    assert!(
        text.contains("*Incident opened* in *ledger &lt;!channel&gt;*"),
        "{text}"
    );
    assert!(
        text.contains("replicas changed &lt;by hand&gt; &amp; more"),
        "{text}"
    );
    assert_eq!(body["blocks"][0]["type"], "section");
    assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn");
    let section = body["blocks"][0]["text"]["text"].as_str().expect("section");
    assert!(section.contains("Severity: *high*"), "{section}");
    assert!(
        section.contains("`apps/Deployment/payments/ledger-api`"),
        "{section}"
    );
    assert_eq!(body["blocks"][1]["type"], "context");
    assert!(!received[0].body.contains(&b'<'), "no unescaped <");
}

/// The same name, its addresses allowed: sent to the addresses checked (the client is
/// pinned to them, not resolving again).
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_name_resolving_to_allowed_addresses_is_sent_to(pool: PgPool) {
    let (address, receiver) = Receiver::default().serve().await;
    let url = format!("http://localhost:{}/hook", address.port());
    let id = one_delivery(&pool, url, NotificationFormat::Json).await;
    let cache = tempfile::tempdir().expect("tempdir");
    let settings = worker_settings(
        &pool,
        &Prefix::new(),
        cache.path(),
        "127.0.0.0/8,::1/128",
        8,
    );
    let deliveries = send_until(&pool, settings, id, all(DeliveryStatus::Delivered)).await;
    assert_eq!(deliveries[0].attempts, 1);
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    verify_signature(&received[0], SECRET);
}
