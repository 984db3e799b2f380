//! Notification endpoints through the API on a real database: admins create, read, replace
//! and delete them (audited); the secret is answered once; viewers and editors are
//! refused, other workspaces do not see them; bad input is a 422 naming the field.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use statesight_core::wire::{EventKind, NotificationFormat, Severity, WorkspaceEvent};
use statesight_store::audit::Actor;
use statesight_store::notifications::{self as store, EndpointValues};
use uuid::Uuid;

const ENDPOINTS: &str = "/api/v1/notification-endpoints";

fn body(name: &str) -> String {
    json!({
        "name": name,
        "url": "https://hooks.example.com/statesight?team=payments",
        "events": ["incident.opened", "run.failed"],
        "min_severity": "high",
    })
    .to_string()
}

async fn create(pool: &PgPool, name: &str) -> (Uuid, String) {
    let reply = send_json(
        &as_user(pool, ADMIN),
        Method::POST,
        ENDPOINTS,
        Some(PAYMENTS),
        &body(name),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.body["data"]["endpoint"]["id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .expect("endpoint id");
    let secret = reply.body["data"]["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    (id, secret)
}

async fn audit_actions(pool: &PgPool, id: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM operator_audit_log WHERE target_id = $1 ORDER BY seq")
        .bind(id)
        .fetch_all(pool)
        .await
        .expect("audit log")
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn admins_manage_endpoints_and_the_secret_is_shown_once(pool: PgPool) {
    seeded(&pool).await;
    let admin = as_user(&pool, ADMIN);
    let (id, secret) = create(&pool, "on-call").await;
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );

    let reply = get(&admin, &format!("{ENDPOINTS}/{id}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let endpoint = &reply.body["data"];
    assert_eq!(endpoint["name"], "on-call");
    assert_eq!(
        endpoint["url"],
        "https://hooks.example.com/statesight?team=payments"
    );
    assert_eq!(endpoint["events"], json!(["incident.opened", "run.failed"]));
    assert_eq!(endpoint["min_severity"], "high");
    assert_eq!(endpoint["format"], "json");
    assert_eq!(endpoint["enabled"], true);
    assert_eq!(endpoint["last_attempt"], Value::Null);

    let list = get(&admin, ENDPOINTS, Some(PAYMENTS)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1));

    // Replaced without a secret: the old one is kept, and never answered.
    let replaced = send_json(
        &admin,
        Method::PUT,
        &format!("{ENDPOINTS}/{id}"),
        None,
        &json!({ "name": "pager", "url": "http://10.0.0.5:8080/hook", "events": ["incident.resolved"], "format": "slack", "enabled": false }).to_string(),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    assert_eq!(replaced.body["data"]["format"], "slack");
    assert_eq!(replaced.body["data"]["min_severity"], "low");
    let stored: String =
        sqlx::query_scalar("SELECT secret FROM notification_endpoints WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("secret");
    assert_eq!(stored, secret);

    // Replaced with a secret: stored, not answered.
    let rotated = send_json(
        &admin,
        Method::PUT,
        &format!("{ENDPOINTS}/{id}"),
        None,
        &json!({ "name": "pager", "url": "https://hooks.example.com/x", "events": ["run.failed"], "secret": "rotated-secret-0123456789" }).to_string(),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);

    // No answer after the creation carries a secret, old or new.
    for reply in [&reply, &list, &replaced, &rotated] {
        assert!(!reply.text.contains(&secret), "{}", reply.text);
        assert!(!reply.text.contains("rotated-secret"), "{}", reply.text);
        assert!(!reply.text.contains("\"secret\""), "{}", reply.text);
    }
    let deliveries = get(&admin, &format!("{ENDPOINTS}/{id}/deliveries"), None).await;
    assert_eq!(deliveries.status, StatusCode::OK, "{}", deliveries.text);
    assert_eq!(deliveries.body["data"], json!([]));

    let deleted = send_json(
        &admin,
        Method::DELETE,
        &format!("{ENDPOINTS}/{id}"),
        None,
        "",
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_error(
        &get(&admin, &format!("{ENDPOINTS}/{id}"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    assert_eq!(
        audit_actions(&pool, id).await,
        [
            "notification_endpoint.create",
            "notification_endpoint.update",
            "notification_endpoint.update",
            "notification_endpoint.delete"
        ]
    );
    // The audit log says the secret changed, never what it is.
    let entries: Vec<String> = sqlx::query_scalar(
        "SELECT coalesce(before::text, '') || coalesce(after::text, '') FROM operator_audit_log WHERE target_id = $1",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .expect("entries");
    assert!(
        entries
            .iter()
            .all(|entry| !entry.contains(&secret) && !entry.contains("rotated-secret"))
    );
    assert!(
        entries
            .iter()
            .any(|entry| entry.contains("\"secret_changed\": true")),
        "{entries:?}"
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_admin_supplied_secret_is_kept_and_answered_once(pool: PgPool) {
    seeded(&pool).await;
    let reply = send_json(
        &as_user(&pool, ADMIN),
        Method::POST,
        ENDPOINTS,
        Some(PAYMENTS),
        &json!({ "name": "chat", "url": "https://hooks.slack.com/services/T0/B0/x", "events": ["incident.opened"], "format": "slack", "secret": "  my-own-secret-of-24ch  " }).to_string(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["data"]["secret"], "my-own-secret-of-24ch");
    assert_eq!(reply.body["data"]["endpoint"]["format"], "slack");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn viewers_and_editors_are_refused_and_other_workspaces_see_nothing(pool: PgPool) {
    seeded(&pool).await;
    let (id, _) = create(&pool, "on-call").await;
    for user in [VIEWER, EDITOR] {
        let router = as_user(&pool, user);
        assert_error(
            &get(&router, ENDPOINTS, Some(PAYMENTS)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        assert_error(
            &send_json(
                &router,
                Method::POST,
                ENDPOINTS,
                Some(PAYMENTS),
                &body("mine"),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        for uri in [
            format!("{ENDPOINTS}/{id}"),
            format!("{ENDPOINTS}/{id}/deliveries"),
        ] {
            assert_error(
                &get(&router, &uri, None).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            );
        }
        assert_error(
            &send_json(
                &router,
                Method::PUT,
                &format!("{ENDPOINTS}/{id}"),
                None,
                &body("x"),
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        assert_error(
            &send_json(
                &router,
                Method::DELETE,
                &format!("{ENDPOINTS}/{id}"),
                None,
                "",
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    // Another workspace's endpoint: the payments admin is no member there.
    let elsewhere = store::create_endpoint(
        &pool,
        &Actor::system("test"),
        PLATFORM,
        &EndpointValues {
            name: String::from("platform"),
            url: String::from("https://hooks.example.com/platform"),
            events: vec![EventKind::IncidentOpened],
            min_severity: Severity::Low,
            format: NotificationFormat::Json,
            enabled: true,
        },
        "platform-secret-0123456789",
    )
    .await
    .expect("endpoint");
    let admin = as_user(&pool, ADMIN);
    for uri in [
        format!("{ENDPOINTS}/{}", elsewhere.id),
        format!("{ENDPOINTS}/{}/deliveries", elsewhere.id),
    ] {
        assert_error(
            &get(&admin, &uri, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_error(
        &send_json(
            &admin,
            Method::DELETE,
            &format!("{ENDPOINTS}/{}", elsewhere.id),
            None,
            "",
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &get(&admin, ENDPOINTS, Some(PLATFORM)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let outsider = as_user(&pool, OUTSIDER);
    assert_error(
        &get(&outsider, &format!("{ENDPOINTS}/{id}"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        audit_actions(&pool, id).await,
        ["notification_endpoint.create"]
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn invalid_endpoints_are_refused_with_the_field_named(pool: PgPool) {
    seeded(&pool).await;
    let admin = as_user(&pool, ADMIN);
    let valid =
        json!({ "name": "ok", "url": "https://hooks.example.com/", "events": ["run.failed"] });
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body.to_string()
    };
    let cases = [
        ("url", with("url", json!("ftp://hooks.example.com/"))),
        (
            "url",
            with("url", json!("https://user:token@hooks.example.com/")),
        ),
        (
            "url",
            with("url", json!("https://hooks.example.com/\u{1b}[2J")),
        ),
        ("url", with("url", json!("not a url"))),
        (
            "url",
            with(
                "url",
                json!(format!("https://hooks.example.com/{}", "a".repeat(2100))),
            ),
        ),
        ("url", with("url", json!(""))),
        ("name", with("name", json!(""))),
        ("name", with("name", json!("bell\u{7}"))),
        ("name", with("name", json!("n".repeat(101)))),
        ("events", with("events", json!([]))),
        ("events", with("events", json!(["run.queued"]))),
        ("secret", with("secret", json!("short"))),
        ("secret", with("secret", json!("has spaces inside it!"))),
    ];
    for (field, body) in cases {
        let reply = send_json(&admin, Method::POST, ENDPOINTS, Some(PAYMENTS), &body).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(
            reply.body["error"]["details"]["field"], field,
            "{body}: {}",
            reply.text
        );
    }
    // Unknown kinds, severities and formats are refused by the body's types.
    for body in [
        with("events", json!(["incident.exploded"])),
        with("min_severity", json!("urgent")),
        with("format", json!("teams")),
        with("extra", json!(1)),
    ] {
        let reply = send_json(&admin, Method::POST, ENDPOINTS, Some(PAYMENTS), &body).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let first = send_json(
        &admin,
        Method::POST,
        ENDPOINTS,
        Some(PAYMENTS),
        &valid.to_string(),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = send_json(
        &admin,
        Method::POST,
        ENDPOINTS,
        Some(PAYMENTS),
        &valid.to_string(),
    )
    .await;
    assert_error(&again, StatusCode::CONFLICT, "conflict");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_endpoints")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

/// The outbox as the worker fills it, read back through the API: matching by kind and
/// minimum severity, newest first, keyset pages.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn deliveries_are_listed_newest_first_with_their_status(pool: PgPool) {
    seeded(&pool).await;
    let (id, _) = create(&pool, "on-call").await;
    let event = |kind: EventKind, severity: Option<Severity>| -> WorkspaceEvent {
        serde_json::from_value(json!({
            "kind": kind,
            "workspace_id": PAYMENTS,
            "application_id": LEDGER,
            "application_name": "ledger",
            "run_id": Uuid::nil(),
            "incident": severity.map(|severity| json!({
                "id": Uuid::nil(), "title": "drift", "severity": severity,
                "recommendation": "investigate", "resource": "apps/Deployment/payments/ledger-api",
                "finding_count": 1,
            })),
            "error": (kind == EventKind::RunFailed).then_some("git fetch failed"),
            "at": "2026-12-03T10:00:00Z",
        }))
        .expect("event")
    };
    let events = [
        event(EventKind::RunStarted, None),
        event(EventKind::IncidentOpened, Some(Severity::Medium)),
        event(EventKind::IncidentOpened, Some(Severity::Critical)),
        event(EventKind::RunFailed, None),
        event(EventKind::IncidentResolved, Some(Severity::Critical)),
    ];
    // run.started and incident.resolved are not asked for; medium is below high.
    assert_eq!(store::enqueue(&pool, &events).await.expect("enqueue"), 2);
    let admin = as_user(&pool, ADMIN);
    let page = get(
        &admin,
        &format!("{ENDPOINTS}/{id}/deliveries?limit=1"),
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.body["data"][0]["event_kind"], "run.failed");
    assert_eq!(page.body["data"][0]["status"], "pending");
    assert_eq!(page.body["data"][0]["attempts"], 0);
    assert_eq!(page.body["data"][0]["event"]["error"], "git fetch failed");
    let cursor = page.body["meta"]["next_cursor"]
        .as_str()
        .expect("a next page");
    let next = get(
        &admin,
        &format!("{ENDPOINTS}/{id}/deliveries?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    assert_eq!(next.body["data"][0]["event_kind"], "incident.opened");
    assert_eq!(
        next.body["data"][0]["event"]["incident"]["severity"],
        "critical"
    );
    assert_eq!(next.body["meta"]["next_cursor"], Value::Null);
}
