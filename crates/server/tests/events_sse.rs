//! `GET /api/v1/events` over real HTTP on loopback: a router served by `axum::serve` (and,
//! for replicas, two real `statesight-server` processes on one database and one Redis),
//! read frame by frame by a streaming client. Events are published the way the worker and
//! the server publish them: `Queue::publish_events`, and a real analysis request.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::oidc::{TestProvider, settings};
use common::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use statesight_core::wire::{EventKind, WorkspaceEvent};
use statesight_server::auth::{Authenticator, Principal};
use statesight_server::events::StreamSettings;
use statesight_server::oidc::OidcVerifier;
use statesight_server::{AppState, app};
use statesight_store::queue::Queue;
use statesight_store::seed::{CHECKOUT_APPLICATION_ID, INGRESS_APPLICATION_ID};
use uuid::Uuid;

/// Streams that beat fast enough for tests to see heartbeats and membership checks.
fn quick_streams() -> StreamSettings {
    StreamSettings {
        heartbeat: Duration::from_millis(300),
        hub_block: Duration::from_millis(500),
        ..StreamSettings::default()
    }
}

/// Serves `state` on a loopback port; the server lives as long as the test's runtime.
async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback port");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app(state)).await });
    format!("http://{address}")
}

fn injected(pool: &PgPool, principal: Principal, prefix: &RedisPrefix) -> AppState {
    state_with(pool, Authenticator::Injected(principal))
        .with_redis_prefix(&prefix.0)
        .with_stream_settings(quick_streams())
}

fn http() -> reqwest::Client {
    statesight_server::oidc::ensure_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client")
}

fn event(kind: EventKind, workspace_id: Uuid, application_id: Uuid, name: &str) -> WorkspaceEvent {
    WorkspaceEvent {
        kind,
        workspace_id,
        application_id,
        application_name: name.to_owned(),
        run_id: Some(Uuid::new_v4()),
        incident: None,
        error: None,
        at: Utc::now(),
    }
}

async fn publish(queue: &Queue, events: &[WorkspaceEvent]) -> Vec<String> {
    queue.publish_events(events).await.expect("publishing")
}

/// One SSE frame as a client parses it.
#[derive(Debug, Default, Clone, PartialEq)]
struct Frame {
    id: Option<String>,
    event: Option<String>,
    data: String,
    comments: Vec<String>,
    retry: Option<String>,
}

impl Frame {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|_| panic!("JSON data: {self:?}"))
    }
}

/// A streaming reader of an event stream.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

/// How long a test waits for one frame.
const FRAME_WAIT: Duration = Duration::from_secs(10);

impl Stream {
    /// The next frame; `None` when the server closed the stream.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&block));
            }
            let chunk = tokio::time::timeout(FRAME_WAIT, self.response.chunk())
                .await
                .expect("a frame within the wait")
                .expect("reading the stream");
            let chunk = chunk?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next frame that is an event (heartbeats and the opening frame skipped).
    async fn next_event(&mut self) -> Frame {
        loop {
            let frame = self.next().await.expect("the stream is still open");
            if frame.event.is_some() {
                return frame;
            }
        }
    }

    /// Asserts that no event arrives within `wait` (heartbeats may).
    async fn no_event_within(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            let left = deadline - Instant::now();
            match tokio::time::timeout(left, self.next()).await {
                Err(_) => return,
                Ok(Some(frame)) => assert!(frame.event.is_none(), "unexpected event {frame:?}"),
                Ok(None) => panic!("the stream closed"),
            }
        }
    }
}

fn parse(block: &str) -> Frame {
    let mut frame = Frame::default();
    let mut data = Vec::new();
    for line in block.lines().filter(|line| !line.is_empty()) {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "" => frame.comments.push(value.to_owned()),
            "id" => frame.id = Some(value.to_owned()),
            "event" => frame.event = Some(value.to_owned()),
            "data" => data.push(value.to_owned()),
            "retry" => frame.retry = Some(value.to_owned()),
            _ => {}
        }
    }
    frame.data = data.join("\n");
    frame
}

/// Opens the stream of `workspace`; panics unless it is answered 200 as an event stream.
async fn open(
    base: &str,
    workspace: Uuid,
    last_event_id: Option<&str>,
    token: Option<&str>,
) -> Stream {
    let response = request(base, workspace, last_event_id, token).await;
    assert_eq!(response.status(), 200, "opening the stream");
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert!(headers.get("content-encoding").is_none());
    let mut stream = Stream {
        response,
        buffer: String::new(),
    };
    let first = stream.next().await.expect("the opening frame");
    assert_eq!(first.comments, vec![String::from("connected")]);
    assert_eq!(first.retry.as_deref(), Some("3000"));
    stream
}

async fn request(
    base: &str,
    workspace: Uuid,
    last_event_id: Option<&str>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut builder = http()
        .get(format!("{base}/api/v1/events"))
        .header("x-workspace-id", workspace.to_string());
    if let Some(id) = last_event_id {
        builder = builder.header("last-event-id", id);
    }
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    builder.send().await.expect("GET /api/v1/events")
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_viewer_gets_only_the_events_of_their_workspace_and_heartbeats(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let queue = prefix.queue();
    let base = serve(injected(&pool, Principal::user(VIEWER), &prefix)).await;
    let mut stream = open(&base, PAYMENTS, None, None).await;

    let ids = publish(
        &queue,
        &[
            event(
                EventKind::RunQueued,
                PLATFORM,
                INGRESS_APPLICATION_ID,
                "ingress-nginx",
            ),
            event(EventKind::RunQueued, PAYMENTS, LEDGER, "ledger"),
        ],
    )
    .await;
    let frame = stream.next_event().await;
    assert_eq!(frame.id.as_deref(), Some(ids[1].as_str()));
    assert_eq!(frame.event.as_deref(), Some("run.queued"));
    let data = frame.json();
    assert_eq!(data["workspace_id"], PAYMENTS.to_string());
    assert_eq!(data["application_name"], "ledger");

    // More of the other workspace: none arrives, heartbeats do.
    publish(
        &queue,
        &[event(
            EventKind::RunStarted,
            PLATFORM,
            INGRESS_APPLICATION_ID,
            "ingress-nginx",
        )],
    )
    .await;
    let mut heartbeats = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while heartbeats < 2 {
        assert!(Instant::now() < deadline, "no heartbeats");
        let frame = stream.next().await.expect("open");
        assert!(
            frame.event.is_none(),
            "another workspace's event leaked: {frame:?}"
        );
        if frame.comments == [String::from("keep-alive")] {
            heartbeats += 1;
        }
    }
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn outsiders_get_404_and_bad_requests_400_before_any_stream(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let base = serve(injected(&pool, Principal::user(OUTSIDER), &prefix)).await;
    let outsider = request(&base, PAYMENTS, None, None).await;
    assert_eq!(outsider.status(), 404);

    let base = serve(injected(&pool, Principal::user(VIEWER), &prefix)).await;
    for bad in ["12", "abc-1", "1-2-3", "-1-0", "$", "+"] {
        let response = request(&base, PAYMENTS, Some(bad), None).await;
        assert_eq!(response.status(), 400, "{bad:?}");
        let body: Value = response.json().await.expect("error envelope");
        assert_eq!(body["error"]["code"], "bad_request");
        assert!(body["meta"]["request_id"].is_string());
    }
    let query = http()
        .get(format!("{base}/api/v1/events?last_event_id=nope"))
        .header("x-workspace-id", PAYMENTS.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(query.status(), 400);
    let missing_workspace = http()
        .get(format!("{base}/api/v1/events"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing_workspace.status(), 400);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_last_event_id_older_than_the_buffer_gets_a_reset_then_live_events(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let queue = prefix.queue();
    let ids = publish(
        &queue,
        &[
            event(EventKind::RunQueued, PAYMENTS, LEDGER, "ledger"),
            event(EventKind::RunStarted, PAYMENTS, LEDGER, "ledger"),
            event(EventKind::RunSucceeded, PAYMENTS, LEDGER, "ledger"),
        ],
    )
    .await;
    // The buffer rolls over: only the newest entry is kept, as after 10,000 more events.
    let mut connection = queue.connection().await.expect("redis");
    let _: i64 = redis::cmd("XTRIM")
        .arg(queue.events_key())
        .arg("MAXLEN")
        .arg(1)
        .query_async(&mut connection)
        .await
        .expect("XTRIM");

    let base = serve(injected(&pool, Principal::user(VIEWER), &prefix)).await;
    let mut stream = open(&base, PAYMENTS, Some(&ids[0]), None).await;
    let reset = stream.next_event().await;
    assert_eq!(reset.event.as_deref(), Some("reset"));
    assert_eq!(reset.json()["reason"], "events_missed");
    assert_eq!(reset.id.as_deref(), Some(ids[2].as_str()));
    let live = publish(
        &queue,
        &[event(EventKind::RunQueued, PAYMENTS, LEDGER, "ledger")],
    )
    .await;
    let frame = stream.next_event().await;
    assert_eq!(frame.id.as_deref(), Some(live[0].as_str()));

    // Resuming from the kept entry replays exactly what followed it.
    let mut resumed = open(&base, PAYMENTS, Some(&ids[2]), None).await;
    let frame = resumed.next_event().await;
    assert_eq!(frame.id.as_deref(), Some(live[0].as_str()));
    assert_eq!(frame.event.as_deref(), Some("run.queued"));
    // An id from the future (a Redis that lost its data since) is a reset as well.
    let mut future = open(&base, PAYMENTS, Some("99999999999999-0"), None).await;
    assert_eq!(future.next_event().await.event.as_deref(), Some("reset"));
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_revoked_membership_ends_the_stream(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let base = serve(injected(&pool, Principal::user(VIEWER), &prefix)).await;
    let mut stream = open(&base, PAYMENTS, None, None).await;
    stream.no_event_within(Duration::from_millis(400)).await;
    statesight_store::provisioning::remove_membership(
        &pool,
        &PAYMENTS.to_string(),
        &VIEWER.to_string(),
    )
    .await
    .expect("removing the membership")
    .expect("the viewer was a member");
    let end = stream.next_event().await;
    assert_eq!(end.event.as_deref(), Some("end"));
    assert_eq!(end.json(), json!({ "reason": "membership_revoked" }));
    assert_eq!(stream.next().await, None, "the stream closes after `end`");
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_stream_ends_when_the_credentials_expire(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let principal = Principal::user(VIEWER).expiring_at(Utc::now() + Duration::from_secs(1));
    let base = serve(injected(&pool, principal, &prefix)).await;
    let started = Instant::now();
    let mut stream = open(&base, PAYMENTS, None, None).await;
    let end = stream.next_event().await;
    assert_eq!(end.json(), json!({ "reason": "token_expired" }));
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(stream.next().await, None);
    prefix.cleanup().await;
}

/// With `AUTH_REQUIRED=true` against the real test OpenID provider: no token is 401, a
/// viewer's token opens the stream, and the stream ends at the token's own `exp`.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn real_tokens_open_the_stream_and_their_expiry_ends_it(pool: PgPool) {
    seeded(&pool).await;
    let provider = TestProvider::start().await;
    let verifier = Arc::new(
        OidcVerifier::discover(settings(&provider))
            .await
            .expect("discovering the test provider"),
    );
    statesight_store::provisioning::add_identity(
        &pool,
        &provider.issuer,
        "vera",
        &VIEWER.to_string(),
    )
    .await
    .expect("provisioning vera");
    let prefix = RedisPrefix::new();
    let state = state_with(&pool, Authenticator::Oidc(verifier))
        .with_redis_prefix(&prefix.0)
        .with_stream_settings(quick_streams());
    let base = serve(state).await;

    let anonymous = request(&base, PAYMENTS, None, None).await;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));

    let mut claims = provider.claims("vera");
    claims["exp"] = json!(Utc::now().timestamp() + 3);
    let token = provider.sign(json!({ "typ": "at+jwt" }), claims).await;
    let mut stream = open(&base, PAYMENTS, None, Some(&token)).await;
    let ids = publish(
        &prefix.queue(),
        &[event(EventKind::RunQueued, PAYMENTS, LEDGER, "ledger")],
    )
    .await;
    assert_eq!(
        stream.next_event().await.id.as_deref(),
        Some(ids[0].as_str())
    );
    let end = stream.next_event().await;
    assert_eq!(end.json(), json!({ "reason": "token_expired" }));
    assert_eq!(stream.next().await, None);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn streams_beyond_the_limit_are_refused_with_503(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let state = state_with(&pool, Authenticator::Injected(Principal::user(VIEWER)))
        .with_redis_prefix(&prefix.0)
        .with_stream_settings(StreamSettings {
            max_streams: 1,
            ..quick_streams()
        });
    let base = serve(state).await;
    let first = open(&base, PAYMENTS, None, None).await;
    let second = request(&base, PAYMENTS, None, None).await;
    assert_eq!(second.status(), 503);
    let body: Value = second.json().await.expect("error envelope");
    assert_eq!(body["error"]["code"], "unavailable");
    drop(first);
    // The slot is given back when the client goes (the server notices at its next write).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = request(&base, PAYMENTS, None, None).await;
        if again.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    prefix.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// Two replicas: real server processes on one database and one Redis, no sticky routing.

struct Replica {
    child: Child,
    url: String,
    log: std::path::PathBuf,
}

impl Replica {
    fn start(database_url: &str, prefix: &str, log: std::path::PathBuf) -> Replica {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
            probe.local_addr().expect("addr").port()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_statesight-server"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", redis_url())
            .env("REDIS_KEY_PREFIX", prefix)
            .env("AUTH_REQUIRED", "false")
            .env("CURSOR_SIGNING_KEY", "5a".repeat(32))
            .env("LOG_FORMAT", "json")
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("starting statesight-server");
        Replica {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "statesight-server exited ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            let ready = http()
                .get(format!("{}/readyz", self.url))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "{} not ready", self.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_client_resumes_on_another_replica_with_exactly_what_it_missed(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let queue = prefix.queue();
    let logs = tempfile::tempdir().expect("temp dir");
    let database = database_url(&pool);
    let mut a = Replica::start(&database, &prefix.0, logs.path().join("a.log"));
    let mut b = Replica::start(&database, &prefix.0, logs.path().join("b.log"));
    a.wait_ready().await;
    b.wait_ready().await;

    // On replica A: a real analysis request (through replica B, so the event crosses
    // replicas through Redis) and published events.
    let mut on_a = open(&a.url, PAYMENTS, None, None).await;
    let analyze = http()
        .post(format!(
            "{}/api/v1/applications/{CHECKOUT_APPLICATION_ID}/analyze",
            b.url
        ))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("analyze");
    assert_eq!(analyze.status(), 202);
    let queued = on_a.next_event().await;
    assert_eq!(queued.event.as_deref(), Some("run.queued"));
    assert_eq!(
        queued.json()["application_id"],
        CHECKOUT_APPLICATION_ID.to_string()
    );
    let seen = publish(
        &queue,
        &[event(EventKind::RunStarted, PAYMENTS, LEDGER, "ledger")],
    )
    .await;
    let frame = on_a.next_event().await;
    assert_eq!(frame.id.as_deref(), Some(seen[0].as_str()));
    drop(on_a);

    // Offline: events of both workspaces happen.
    let missed_events = [
        event(EventKind::RunSucceeded, PAYMENTS, LEDGER, "ledger"),
        event(
            EventKind::RunQueued,
            PLATFORM,
            INGRESS_APPLICATION_ID,
            "ingress-nginx",
        ),
        event(
            EventKind::RunFailed,
            PAYMENTS,
            CHECKOUT_APPLICATION_ID,
            "checkout-api",
        ),
        event(EventKind::RunQueued, PAYMENTS, LEDGER, "ledger"),
    ];
    let missed = publish(&queue, &missed_events).await;

    // Replica B, resuming after the last frame seen: exactly the missed ones of PAYMENTS,
    // in order, then live ones.
    let mut on_b = open(&b.url, PAYMENTS, frame.id.as_deref(), None).await;
    for expected in [&missed[0], &missed[2], &missed[3]] {
        let frame = on_b.next_event().await;
        assert_eq!(frame.id.as_deref(), Some(expected.as_str()), "{frame:?}");
    }
    let live = publish(
        &queue,
        &[event(EventKind::RunStarted, PAYMENTS, LEDGER, "ledger")],
    )
    .await;
    let frame = on_b.next_event().await;
    assert_eq!(frame.id.as_deref(), Some(live[0].as_str()));
    assert_eq!(frame.event.as_deref(), Some("run.started"));
    on_b.no_event_within(Duration::from_millis(500)).await;
    prefix.cleanup().await;
}
