//! `POST /api/v1/github/webhook` against a real, seeded PostgreSQL database per test and the
//! real Redis (a key prefix per test): signatures, delivery deduplication (also across two
//! server replicas), body limits, events, repository URL and ref matching, and analyses
//! queued at the pushed commit through the same path as `POST …/analyze`.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use statesight_server::auth::{Authenticator, Principal};
use statesight_server::webhook::{MAX_WEBHOOK_BODY_BYTES, WebhookSecret};
use statesight_store::seed::{
    BILLING_APPLICATION_ID, CHECKOUT_APPLICATION_ID, HOSTILE_APPLICATION_ID,
    INGRESS_APPLICATION_ID, LEDGER_APPLICATION_ID,
};
use uuid::Uuid;

const WEBHOOK: &str = "/api/v1/github/webhook";
const SECRET: &str = "webhook-test-secret-5f1c0e";
/// The commit every test push delivers.
const AFTER: &str = "4a1d2c3b4a1d2c3b4a1d2c3b4a1d2c3b4a1d2c3b";
const NULL_SHA: &str = "0000000000000000000000000000000000000000";

fn secret() -> WebhookSecret {
    WebhookSecret::from_config(Some(SECRET))
        .expect("a valid secret")
        .expect("configured")
}

/// A router with the webhook configured, acting as `authenticator` on operator routes.
fn router_with(pool: &PgPool, prefix: &RedisPrefix, authenticator: Authenticator) -> axum::Router {
    statesight_server::app(
        state_with(pool, authenticator)
            .with_redis_prefix(&prefix.0)
            .with_github_webhook(Some(secret())),
    )
}

fn webhook_router(pool: &PgPool, prefix: &RedisPrefix) -> axum::Router {
    router_with(
        pool,
        prefix,
        Authenticator::Injected(Principal::user(ADMIN)),
    )
}

/// A delivery as GitHub sends it; `signature` `None` signs the body with the secret.
struct Delivery<'a> {
    event: &'a str,
    id: &'a str,
    body: Vec<u8>,
    signature: Option<String>,
    content_type: &'a str,
}

impl<'a> Delivery<'a> {
    fn new(event: &'a str, id: &'a str, body: &Value) -> Self {
        Delivery {
            event,
            id,
            body: body.to_string().into_bytes(),
            signature: None,
            content_type: "application/json",
        }
    }

    fn request(&self) -> Request<Body> {
        let signature = self
            .signature
            .clone()
            .unwrap_or_else(|| secret().sign(&self.body));
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(WEBHOOK)
            .header("content-type", self.content_type)
            .header("user-agent", "GitHub-Hookshot/test")
            .header("x-github-event", self.event)
            .header("x-github-delivery", self.id)
            .header("x-github-hook-id", "12345");
        if !signature.is_empty() {
            builder = builder.header("x-hub-signature-256", signature);
        }
        builder
            .body(Body::from(self.body.clone()))
            .expect("request")
    }

    async fn send(&self, router: &axum::Router) -> Reply {
        send(router, self.request()).await
    }
}

/// A push payload shaped like GitHub's (the fields the server reads, and some it skips).
fn push(full_name: &str, git_ref: &str, after: &str) -> Value {
    let (owner, name) = full_name.split_once('/').expect("owner/name");
    json!({
        "ref": git_ref,
        "before": "9f8e7d6c5b4a9f8e7d6c5b4a9f8e7d6c5b4a9f8e",
        "after": after,
        "created": false,
        "deleted": after == NULL_SHA,
        "forced": false,
        "base_ref": null,
        "compare": format!("https://github.com/{full_name}/compare/9f8e7d6c5b4a...4a1d2c3b4a1d"),
        "commits": [{
            "id": after,
            "message": "Scale the ledger to 3 replicas\n\n\u{1b}[31mhostile\u{202e} text",
            "author": { "name": "Dev", "email": "dev@example.com" },
            "added": [], "removed": [], "modified": ["deploy/deployment.yaml"],
        }],
        "head_commit": { "id": after },
        "repository": {
            "id": 1296269,
            "name": name,
            "full_name": full_name,
            "owner": { "login": owner },
            "private": true,
            "html_url": format!("https://github.com/{full_name}"),
            "url": format!("https://github.com/{full_name}"),
            "git_url": format!("git://github.com/{full_name}.git"),
            "ssh_url": format!("git@github.com:{full_name}.git"),
            "clone_url": format!("https://github.com/{full_name}.git"),
            "svn_url": format!("https://github.com/{full_name}"),
            "default_branch": "main",
            "master_branch": "main",
        },
        "pusher": { "name": "dev", "email": "dev@example.com" },
        "sender": { "login": "dev", "id": 1 },
    })
}

/// Points the seeded application's source at `repo_url` tracking `git_ref`.
async fn set_source(pool: &PgPool, application: Uuid, repo_url: &str, git_ref: &str) {
    let updated = sqlx::query(
        "UPDATE source_definitions s SET repo_url = $2, git_ref = $3
           FROM applications a WHERE a.id = $1 AND s.id = a.source_id",
    )
    .bind(application)
    .bind(repo_url)
    .bind(git_ref)
    .execute(pool)
    .await
    .expect("updating the source")
    .rows_affected();
    assert_eq!(updated, 1, "the application {application} has a source");
}

/// The webhook's runs of an application: (id, requested revision, requested_by).
async fn webhook_runs(
    pool: &PgPool,
    application: Uuid,
) -> Vec<(Uuid, Option<String>, Option<Uuid>)> {
    sqlx::query_as(
        "SELECT id, requested_revision, requested_by FROM analysis_runs
          WHERE application_id = $1 AND trigger = 'webhook' ORDER BY queued_at, id",
    )
    .bind(application)
    .fetch_all(pool)
    .await
    .expect("runs")
}

async fn all_runs(pool: &PgPool) -> i64 {
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM analysis_runs")
        .fetch_one(pool)
        .await
        .expect("count");
    count
}

async fn deliveries_recorded(pool: &PgPool) -> i64 {
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM github_webhook_deliveries")
        .fetch_one(pool)
        .await
        .expect("count");
    count
}

/// `signature` with its last hex digit changed.
fn flip_last(signature: &str) -> String {
    let (head, last) = signature.split_at(signature.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

fn analysed_applications(reply: &Reply) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = reply.body["data"]["analyses"]
        .as_array()
        .expect("analyses")
        .iter()
        .map(|analysis| {
            analysis["application_id"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok())
                .expect("application id")
        })
        .collect();
    ids.sort();
    ids
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_signed_ping_is_answered(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let reply = Delivery::new(
        "ping",
        "ping-1",
        &json!({ "zen": "Keep it logically awesome.", "hook_id": 1 }),
    )
    .send(&router)
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["data"]["outcome"], "pong");
    assert_eq!(reply.body["data"]["delivery_id"], "ping-1");
    assert_eq!(reply.body["data"]["event"], "ping");
    assert!(reply.body["meta"]["request_id"].is_string());
    assert_eq!(all_runs(&pool).await, 0);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn missing_wrong_and_malformed_signatures_are_refused(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy.git",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let body = push("acme/ledger-deploy", "refs/heads/main", AFTER);
    let good = secret().sign(body.to_string().as_bytes());
    let other_secret = WebhookSecret::from_config(Some("another-secret-of-16+"))
        .expect("valid")
        .expect("configured")
        .sign(body.to_string().as_bytes());
    let cases = [
        ("missing", String::new()),
        ("other secret", other_secret),
        ("bit flipped", flip_last(&good)),
        ("no prefix", good.trim_start_matches("sha256=").to_owned()),
        ("sha1", good.replace("sha256=", "sha1=")),
        ("short", good[..good.len() - 2].to_owned()),
        ("not hex", format!("{}zz", &good[..good.len() - 2])),
        ("empty digest", String::from("sha256=")),
    ];
    for (name, signature) in cases {
        let mut delivery = Delivery::new("push", "refused-1", &body);
        delivery.signature = Some(signature);
        let reply = delivery.send(&router).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthenticated");
        assert!(
            reply.headers.get("www-authenticate").is_none(),
            "{name}: a signature failure is no bearer challenge"
        );
        assert!(!reply.text.contains(SECRET), "{name}");
    }
    // A body changed after signing.
    let mut tampered = Delivery::new("push", "refused-2", &body);
    tampered.signature = Some(good.clone());
    tampered.body = push("acme/ledger-deploy", "refs/heads/evil", AFTER)
        .to_string()
        .into_bytes();
    assert_error(
        &tampered.send(&router).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    // Nothing was queued or recorded by any of them; the genuine delivery still works.
    assert_eq!(all_runs(&pool).await, 0);
    assert_eq!(deliveries_recorded(&pool).await, 0);
    let reply = Delivery::new("push", "refused-1", &body)
        .send(&router)
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_push_to_a_tracked_branch_queues_one_analysis_at_the_pushed_commit(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy.git",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let delivery_id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let reply = Delivery::new(
        "push",
        delivery_id,
        &push("acme/ledger-deploy", "refs/heads/main", AFTER),
    )
    .send(&router)
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let data = &reply.body["data"];
    assert_eq!(data["outcome"], "queued");
    assert_eq!(data["ref"], "refs/heads/main");
    assert_eq!(data["revision"], AFTER);
    assert_eq!(analysed_applications(&reply), [LEDGER_APPLICATION_ID]);
    let analysis = &data["analyses"][0];
    assert_eq!(analysis["state"], "created");
    assert_eq!(analysis["application_name"], "ledger");
    assert_eq!(analysis["workspace_id"], PAYMENTS.to_string());

    // Exactly one run, at the pushed commit, by the system, with the webhook trigger.
    let runs = webhook_runs(&pool, LEDGER_APPLICATION_ID).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let (run_id, revision, requested_by) = &runs[0];
    assert_eq!(analysis["run_id"], run_id.to_string());
    assert_eq!(revision.as_deref(), Some(AFTER));
    assert_eq!(*requested_by, None);
    assert_eq!(all_runs(&pool).await, 1);
    // The run is readable through the API like any other, and its job is on the queue.
    let run = get(&router, &format!("/api/v1/analyses/{run_id}"), None).await;
    assert_eq!(run.body["data"]["trigger"], "webhook", "{}", run.text);
    assert_eq!(run.body["data"]["requested_revision"], AFTER);
    let jobs = prefix.queue().stream_jobs().await.expect("jobs");
    assert_eq!(
        jobs.iter().map(|job| job.run_id).collect::<Vec<_>>(),
        [*run_id]
    );
    // The audit log names the system actor and the delivery.
    let audit = statesight_store::audit::recent(&pool, PAYMENTS, 5)
        .await
        .expect("audit");
    let entry = audit
        .iter()
        .find(|record| record.action == "analysis.request")
        .expect("an audit record of the request");
    assert_eq!(entry.actor_user_id, None);
    assert_eq!(
        entry.request_id,
        format!("system:github-webhook:{delivery_id}")
    );
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_replayed_delivery_is_answered_and_enqueues_nothing(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let delivery = Delivery::new(
        "push",
        "replayed-1",
        &push("acme/ledger-deploy", "refs/heads/main", AFTER),
    );
    let first = delivery.send(&router).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    let second = delivery.send(&router).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.body["data"]["outcome"], "duplicate");
    assert!(
        second.body["data"]["note"]
            .as_str()
            .is_some_and(|note| note.contains("already processed"))
    );
    assert_eq!(second.body["data"]["analyses"], json!([]));
    assert_eq!(webhook_runs(&pool, LEDGER_APPLICATION_ID).await.len(), 1);
    assert_eq!(prefix.queue().stream_length().await.expect("length"), 1);
    // Another replica (another router, same database) sees the same delivery as processed.
    let replica = webhook_router(&pool, &prefix);
    let third = delivery.send(&replica).await;
    assert_eq!(third.body["data"]["outcome"], "duplicate", "{}", third.text);
    // A new delivery of the same push is coalesced with the run already queued.
    let again = Delivery::new(
        "push",
        "replayed-2",
        &push("acme/ledger-deploy", "refs/heads/main", AFTER),
    )
    .send(&router)
    .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
    assert_eq!(again.body["data"]["analyses"][0]["state"], "existing");
    assert_eq!(webhook_runs(&pool, LEDGER_APPLICATION_ID).await.len(), 1);
    assert_eq!(prefix.queue().stream_length().await.expect("length"), 1);
    prefix.cleanup().await;
}

/// Two replicas receiving the same delivery at the same moment (GitHub retrying while the
/// first is still being answered): exactly one acts on it.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn concurrent_copies_of_a_delivery_on_two_replicas_act_once(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "git@github.com:acme/ledger-deploy.git",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let replicas = [
        webhook_router(&pool, &prefix),
        webhook_router(&pool, &prefix),
    ];
    let delivery = Arc::new(Delivery {
        event: "push",
        id: "concurrent-1",
        body: push("acme/ledger-deploy", "refs/heads/main", AFTER)
            .to_string()
            .into_bytes(),
        signature: None,
        content_type: "application/json",
    });
    let mut tasks = Vec::new();
    for round in 0..8 {
        let router = replicas[round % 2].clone();
        let request = delivery.request();
        tasks.push(tokio::spawn(async move { send(&router, request).await }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        let reply = task.await.expect("task");
        // A copy arriving while the first is processed is told to retry (409); one arriving
        // after it is a duplicate (200).
        let outcome = match reply.status {
            StatusCode::CONFLICT => String::from("in_progress"),
            _ => reply.body["data"]["outcome"]
                .as_str()
                .unwrap_or(&reply.text)
                .to_owned(),
        };
        outcomes.push(outcome);
    }
    let queued = outcomes.iter().filter(|o| *o == "queued").count();
    let others = outcomes
        .iter()
        .filter(|o| *o == "duplicate" || *o == "in_progress")
        .count();
    assert_eq!((queued, others), (1, 7), "{outcomes:?}");
    // Once settled, every copy is a duplicate.
    let late = send(&replicas[1], delivery.request()).await;
    assert_eq!(late.body["data"]["outcome"], "duplicate", "{}", late.text);
    assert_eq!(webhook_runs(&pool, LEDGER_APPLICATION_ID).await.len(), 1);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_oversize_body_is_refused_and_a_large_push_is_not(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let mut oversize = Delivery::new("push", "big-1", &json!({}));
    oversize.body = vec![b' '; MAX_WEBHOOK_BODY_BYTES + 1];
    let reply = oversize.send(&router).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(
        reply.text.contains(&MAX_WEBHOOK_BODY_BYTES.to_string()),
        "{}",
        reply.text
    );
    // A push of many commits, over the operator routes' 1 MiB, is read whole.
    let mut large = push("acme/ledger-deploy", "refs/heads/main", AFTER);
    let commit = large["commits"][0].clone();
    large["commits"] = Value::Array(vec![commit; 6000]);
    let delivery = Delivery::new("push", "big-2", &large);
    assert!(
        delivery.body.len() > statesight_server::MAX_BODY_BYTES,
        "{}",
        delivery.body.len()
    );
    let reply = delivery.send(&router).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(webhook_runs(&pool, LEDGER_APPLICATION_ID).await.len(), 1);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn unknown_events_are_accepted_and_ignored(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    // Even with a push-like body: only the event header decides.
    let reply = Delivery::new(
        "pull_request",
        "pr-1",
        &push("acme/ledger-deploy", "refs/heads/main", AFTER),
    )
    .send(&router)
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.body["data"]["outcome"], "ignored");
    assert_eq!(reply.body["data"]["event"], "pull_request");
    assert_eq!(all_runs(&pool).await, 0);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_push_to_an_untracked_branch_or_repository_enqueues_nothing(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    for (id, body) in [
        (
            "untracked-1",
            push("acme/ledger-deploy", "refs/heads/feature/x", AFTER),
        ),
        (
            "untracked-2",
            push("acme/ledger-deploy-old", "refs/heads/main", AFTER),
        ),
        (
            "untracked-3",
            push("other/ledger-deploy", "refs/heads/main", AFTER),
        ),
        // The tag `main` is not the branch `main`.
        (
            "untracked-4",
            push("acme/ledger-deploy", "refs/tags/main", AFTER),
        ),
    ] {
        let reply = Delivery::new("push", id, &body).send(&router).await;
        assert_eq!(reply.status, StatusCode::OK, "{id}: {}", reply.text);
        assert_eq!(reply.body["data"]["outcome"], "no_match", "{id}");
        assert_eq!(reply.body["data"]["analyses"], json!([]), "{id}");
    }
    assert_eq!(all_runs(&pool).await, 0);
    prefix.cleanup().await;
}

/// Sources onboarded with any spelling of the repository (ssh, scp-like, https, `.git`,
/// trailing slash, other case), in two workspaces, all track a push of it.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn every_url_form_of_the_pushed_repository_matches(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "git@github.com:acme/shop-deploy.git",
        "main",
    )
    .await;
    set_source(
        &pool,
        CHECKOUT_APPLICATION_ID,
        "https://github.com/Acme/Shop-Deploy/",
        "refs/heads/main",
    )
    .await;
    set_source(
        &pool,
        BILLING_APPLICATION_ID,
        "ssh://git@github.com:22/acme/shop-deploy",
        "main",
    )
    .await;
    set_source(
        &pool,
        INGRESS_APPLICATION_ID,
        "https://GitHub.com/acme/shop-deploy.git",
        "HEAD",
    )
    .await;
    // Same name, other owner and other host: not the pushed repository.
    set_source(
        &pool,
        HOSTILE_APPLICATION_ID,
        "https://gitlab.com/acme/shop-deploy.git",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let reply = Delivery::new(
        "push",
        "forms-1",
        &push("acme/shop-deploy", "refs/heads/main", AFTER),
    )
    .send(&router)
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let mut expected = vec![
        LEDGER_APPLICATION_ID,
        CHECKOUT_APPLICATION_ID,
        BILLING_APPLICATION_ID,
        INGRESS_APPLICATION_ID,
    ];
    expected.sort();
    assert_eq!(analysed_applications(&reply), expected);
    for application in &expected {
        let runs = webhook_runs(&pool, *application).await;
        assert_eq!(runs.len(), 1, "{application}");
        assert_eq!(runs[0].1.as_deref(), Some(AFTER));
    }
    assert!(webhook_runs(&pool, HOSTILE_APPLICATION_ID).await.is_empty());
    assert_eq!(all_runs(&pool).await, 4);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_tag_push_is_analysed_only_where_a_source_tracks_that_tag(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "refs/tags/v1.2.0",
    )
    .await;
    set_source(
        &pool,
        CHECKOUT_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "main",
    )
    .await;
    set_source(
        &pool,
        BILLING_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "v1.2.0",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let reply = Delivery::new(
        "push",
        "tag-1",
        &push("acme/ledger-deploy", "refs/tags/v1.2.0", AFTER),
    )
    .send(&router)
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(analysed_applications(&reply), [LEDGER_APPLICATION_ID]);
    assert_eq!(all_runs(&pool).await, 1);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_branch_deletion_enqueues_nothing(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let reply = Delivery::new(
        "push",
        "deleted-1",
        &push("acme/ledger-deploy", "refs/heads/main", NULL_SHA),
    )
    .send(&router)
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["data"]["outcome"], "ref_deleted");
    assert_eq!(reply.body["data"]["revision"], Value::Null);
    // `deleted: true` alone is enough.
    let mut flagged = push("acme/ledger-deploy", "refs/heads/main", AFTER);
    flagged["deleted"] = json!(true);
    let reply = Delivery::new("push", "deleted-2", &flagged)
        .send(&router)
        .await;
    assert_eq!(
        reply.body["data"]["outcome"], "ref_deleted",
        "{}",
        reply.text
    );
    assert_eq!(all_runs(&pool).await, 0);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn malformed_payloads_and_headers_with_a_valid_signature_are_bad_requests(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let mut not_json = Delivery::new("push", "bad-1", &json!({}));
    not_json.body = b"{\"ref\": \"refs/heads/main\", ".to_vec();
    assert_error(
        &not_json.send(&router).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let mut bad_sha = push("acme/ledger-deploy", "refs/heads/main", AFTER);
    bad_sha["after"] = json!("--upload-pack=touch /tmp/x");
    let mut bad_ref = push("acme/ledger-deploy", "refs/heads/main", AFTER);
    bad_ref["ref"] = json!("main\u{1b}[2J");
    let mut no_urls = push("acme/ledger-deploy", "refs/heads/main", AFTER);
    no_urls["repository"] = json!({ "name": "ledger-deploy", "clone_url": "ext::sh -c evil" });
    for (id, body) in [
        ("bad-2", json!([])),
        ("bad-3", json!({ "ref": "refs/heads/main" })),
        ("bad-4", bad_sha),
        ("bad-5", bad_ref),
        ("bad-6", no_urls),
    ] {
        let reply = Delivery::new("push", id, &body).send(&router).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert!(!reply.text.contains('\u{1b}'), "{id}: {}", reply.text);
    }
    let body = push("acme/ledger-deploy", "refs/heads/main", AFTER);
    for (event, id) in [
        ("", "bad-7"),
        ("Push", "bad-8"),
        ("push", ""),
        ("push", "a b"),
    ] {
        let delivery = Delivery::new(event, id, &body);
        let mut request = delivery.request();
        if event.is_empty() {
            request.headers_mut().remove("x-github-event");
        }
        if id.is_empty() {
            request.headers_mut().remove("x-github-delivery");
        }
        assert_error(
            &send(&router, request).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        );
    }
    // The form encoding GitHub also offers is refused with the fix.
    let mut form = Delivery::new("push", "bad-9", &body);
    form.content_type = "application/x-www-form-urlencoded";
    assert_error(
        &form.send(&router).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    assert_eq!(all_runs(&pool).await, 0);
    // A refused delivery is not remembered: its redelivery, once fixed, is processed.
    assert_eq!(deliveries_recorded(&pool).await, 0);
    let reply = Delivery::new("push", "bad-1", &body).send(&router).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn without_a_secret_the_route_is_absent(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let body = push("acme/ledger-deploy", "refs/heads/main", AFTER);
    for secret in [None, Some("")] {
        let configured = WebhookSecret::from_config(secret).expect("unset or empty is valid");
        assert!(configured.is_none());
        let router = statesight_server::app(
            state_with(&pool, Authenticator::Injected(Principal::user(ADMIN)))
                .with_redis_prefix(&prefix.0)
                .with_github_webhook(configured),
        );
        let reply = Delivery::new("push", "absent-1", &body).send(&router).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(reply.body["error"]["message"], "no such route");
    }
    assert_eq!(all_runs(&pool).await, 0);
    assert_eq!(deliveries_recorded(&pool).await, 0);
    prefix.cleanup().await;
}

/// With AUTH_REQUIRED=true (a real OpenID provider verifying bearer tokens), the webhook
/// needs no token: its signature is its authentication.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn deliveries_need_no_bearer_token_when_authentication_is_required(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "main",
    )
    .await;
    let provider = oidc::TestProvider::start().await;
    let verifier = statesight_server::oidc::OidcVerifier::discover(oidc::settings(&provider))
        .await
        .expect("the test provider is discovered");
    let prefix = RedisPrefix::new();
    let router = router_with(&pool, &prefix, Authenticator::Oidc(Arc::new(verifier)));
    // Operator routes refuse a caller without a token...
    let me = get(&router, "/api/v1/me", None).await;
    assert_error(&me, StatusCode::UNAUTHORIZED, "unauthenticated");
    // ...the webhook takes a signed delivery without one...
    let reply = Delivery::new(
        "push",
        "auth-1",
        &push("acme/ledger-deploy", "refs/heads/main", AFTER),
    )
    .send(&router)
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(webhook_runs(&pool, LEDGER_APPLICATION_ID).await.len(), 1);
    // ...and a bearer token is no substitute for the signature.
    let mut unsigned = Delivery::new(
        "push",
        "auth-2",
        &push("acme/ledger-deploy", "refs/heads/main", AFTER),
    );
    unsigned.signature = Some(String::new());
    let mut request = unsigned.request();
    let token = provider.client_credentials().await;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    assert_error(
        &send(&router, request).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn delivery_ids_are_pruned_after_their_retention(pool: PgPool) {
    seeded(&pool).await;
    sqlx::query(
        "INSERT INTO github_webhook_deliveries (delivery_id, event, state, received_at)
         VALUES ('old-1', 'push', 'done', now() - interval '8 days'),
                ('recent-1', 'push', 'done', now() - interval '6 days')",
    )
    .execute(&pool)
    .await
    .expect("old deliveries");
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let reply = Delivery::new("ping", "prune-1", &json!({ "zen": "x" }))
        .send(&router)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        !statesight_store::webhooks::delivery_done(&pool, "old-1")
            .await
            .expect("read")
    );
    assert!(
        statesight_store::webhooks::delivery_done(&pool, "recent-1")
            .await
            .expect("read")
    );
    assert!(
        statesight_store::webhooks::delivery_done(&pool, "prune-1")
            .await
            .expect("read")
    );
    // An expired id is a new delivery again.
    let reply = Delivery::new("ping", "old-1", &json!({ "zen": "x" }))
        .send(&router)
        .await;
    assert_eq!(reply.body["data"]["outcome"], "pong", "{}", reply.text);
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn deliveries_are_counted_by_event_and_outcome(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    Delivery::new("ping", "metrics-1", &json!({}))
        .send(&router)
        .await;
    let mut unsigned = Delivery::new("ping", "metrics-2", &json!({}));
    unsigned.signature = Some(String::new());
    unsigned.send(&router).await;
    let metrics = send(
        &router,
        Request::get("/metrics")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    for series in [
        r#"statesight_github_webhook_deliveries_total{event="ping",outcome="pong"}"#,
        r#"statesight_github_webhook_deliveries_total{event="ping",outcome="unauthenticated"}"#,
    ] {
        assert!(
            metrics.text.contains(series),
            "{series} missing:\n{}",
            metrics.text
        );
    }
    prefix.cleanup().await;
}

/// A claim whose request is still processing is answered 409 (retry later); one left by a
/// server that died is taken over once stale.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn claims_in_progress_are_conflicts_until_they_go_stale(pool: PgPool) {
    seeded(&pool).await;
    sqlx::query(
        "INSERT INTO github_webhook_deliveries (delivery_id, event, state, received_at)
         VALUES ('busy-1', 'ping', 'processing', now()),
                ('dead-1', 'ping', 'processing', now() - interval '10 minutes')",
    )
    .execute(&pool)
    .await
    .expect("claims");
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let busy = Delivery::new("ping", "busy-1", &json!({}))
        .send(&router)
        .await;
    assert_error(&busy, StatusCode::CONFLICT, "conflict");
    let dead = Delivery::new("ping", "dead-1", &json!({}))
        .send(&router)
        .await;
    assert_eq!(dead.body["data"]["outcome"], "pong", "{}", dead.text);
    assert!(
        statesight_store::webhooks::delivery_done(&pool, "dead-1")
            .await
            .expect("read")
    );
    prefix.cleanup().await;
}

/// Every answer of the webhook, successes and refusals, is what the OpenAPI document says.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn answers_fit_the_documented_schemas(pool: PgPool) {
    seeded(&pool).await;
    set_source(
        &pool,
        LEDGER_APPLICATION_ID,
        "https://github.com/acme/ledger-deploy",
        "main",
    )
    .await;
    let prefix = RedisPrefix::new();
    let router = webhook_router(&pool, &prefix);
    let document = serde_json::to_value(statesight_server::openapi::document()).expect("document");
    let queued = push("acme/ledger-deploy", "refs/heads/main", AFTER);
    let mut unsigned = Delivery::new("push", "schema-9", &queued);
    unsigned.signature = Some(String::new());
    let replies = [
        Delivery::new("ping", "schema-1", &json!({}))
            .send(&router)
            .await,
        Delivery::new("push", "schema-2", &queued)
            .send(&router)
            .await,
        Delivery::new("push", "schema-2", &queued)
            .send(&router)
            .await,
        Delivery::new("issues", "schema-3", &json!({}))
            .send(&router)
            .await,
        Delivery::new("push", "schema-4", &json!([]))
            .send(&router)
            .await,
        unsigned.send(&router).await,
    ];
    let mut statuses = Vec::new();
    for reply in &replies {
        let status = reply.status.as_u16();
        statuses.push(status);
        let schema = schema::response_schema(&document, WEBHOOK, "post", status)
            .unwrap_or_else(|| panic!("{status} is not documented"));
        let errors = schema::validate(&document, schema, &reply.body);
        assert!(errors.is_empty(), "{status}: {errors:?}\n{}", reply.text);
    }
    assert_eq!(statuses, [200, 202, 200, 202, 400, 401]);
    prefix.cleanup().await;
}
