//! The write side of `/api/v1` against a real, seeded PostgreSQL database per test and the
//! real Redis (a key prefix per test): the role matrix of every write route, hostile input,
//! conflicts, the audit log, ignore-rule lifecycle and analyze coalescing under concurrency.

mod common;

use axum::http::{Method, StatusCode};
use common::write_matrix::*;
use common::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn every_write_route_enforces_its_role(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    assert_write_role_matrix(&pool, |user| as_user_with_prefix(&pool, user, &prefix.0)).await;
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn malformed_bodies_get_clear_errors(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    let cases: &[(&str, StatusCode, &str)] = &[
        ("{", StatusCode::BAD_REQUEST, "bad_request"),
        ("not json", StatusCode::BAD_REQUEST, "bad_request"),
        ("", StatusCode::BAD_REQUEST, "bad_request"),
        ("[]", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (
            r#"{"name": 42, "live_source": "kube-api"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            r#"{"name": "x"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            r#"{"name": "x", "live_source": "telepathy"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            r#"{"name": "x", "live_source": "kube-api", "admin": true}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            r#"{"name": "", "live_source": "kube-api"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            r#"{"name": "x", "live_source": "snapshot"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            r#"{"name": "x", "live_source": "snapshot", "snapshot_dir": "relative/dir"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            r#"{"name": "x", "live_source": "in-cluster", "context": "prod"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            r#"{"name": "x", "live_source": "kubectl", "context": "--kubeconfig=/root/.kube/config"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let reply = send_json(
            &router,
            Method::POST,
            "/api/v1/clusters",
            Some(PAYMENTS),
            body,
        )
        .await;
        assert_error(&reply, *status, code);
    }
    // Unknown fields are named in the message.
    let unknown = send_json(
        &router,
        Method::POST,
        "/api/v1/clusters",
        Some(PAYMENTS),
        r#"{"name": "x", "live_source": "kube-api", "admin": true}"#,
    )
    .await;
    assert!(unknown.text.contains("admin"), "{}", unknown.text);
    // A body without a JSON content type.
    let plain = send(
        &router,
        axum::http::Request::post("/api/v1/clusters")
            .header("x-workspace-id", PAYMENTS.to_string())
            .body(axum::body::Body::from(cluster_body("plain")))
            .expect("request"),
    )
    .await;
    assert_error(
        &plain,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    // Nothing was created by any of it.
    let list = get(&router, "/api/v1/clusters", Some(PAYMENTS)).await;
    assert_eq!(
        list.body["data"].as_array().map(Vec::len),
        Some(2),
        "{}",
        list.text
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn oversize_bodies_are_refused_with_413(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    let huge = json!({ "name": "x", "live_source": "kube-api", "description": "d".repeat(2 * 1024 * 1024) }).to_string();
    let reply = send_json(
        &router,
        Method::POST,
        "/api/v1/clusters",
        Some(PAYMENTS),
        &huge,
    )
    .await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let rule =
        json!({ "name": "x", "match_expression": "a".repeat(2 * 1024 * 1024), "reason": "r" })
            .to_string();
    let reply = send_json(
        &router,
        Method::POST,
        &format!("/api/v1/applications/{CHECKOUT_APP}/ignore-rules"),
        None,
        &rule,
    )
    .await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn git_urls_and_refs_that_git_could_misread_are_refused(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    let bodies = [
        json!({ "name": "a", "repo_url": "ext::sh -c touch% /tmp/pwned", "ref": "main" }),
        json!({ "name": "b", "repo_url": "ext::sh", "ref": "main" }),
        json!({ "name": "c", "repo_url": "--upload-pack=touch /tmp/pwned", "ref": "main" }),
        json!({ "name": "d", "repo_url": "-uhttps://example.com/x.git", "ref": "main" }),
        json!({ "name": "e", "repo_url": "fd::17", "ref": "main" }),
        json!({ "name": "f", "repo_url": "https://-oProxyCommand=touch/x.git", "ref": "main" }),
        json!({ "name": "g", "repo_url": "https://git.example.com/x.git", "ref": "--output=/tmp/pwned" }),
        json!({ "name": "h", "repo_url": "https://git.example.com/x.git", "ref": "-b" }),
        json!({ "name": "i", "repo_url": "https://git.example.com/x.git", "ref": "main..evil" }),
        json!({ "name": "j", "repo_url": "https://git.example.com/x.git", "ref": "main", "path": "../../etc" }),
        json!({ "name": "k", "repo_url": "https://git.example.com/x.git", "ref": "main", "path": "/etc" }),
        json!({ "name": "l", "repo_url": "https://git.example.com/x.git", "ref": "main", "path": "-rf" }),
    ];
    for body in bodies {
        let reply = send_json(
            &router,
            Method::POST,
            "/api/v1/sources",
            Some(PAYMENTS),
            &body.to_string(),
        )
        .await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            reply.body["error"]["details"]["field"].is_string(),
            "{}",
            reply.text
        );
    }
    // The revision of an analyze request is a ref too.
    let reply = send_json(
        &router,
        Method::POST,
        &format!("/api/v1/applications/{CHECKOUT_APP}/analyze"),
        None,
        r#"{"revision": "--upload-pack=x"}"#,
    )
    .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    // A sane source is accepted and normalized.
    let ok = send_json(&router, Method::POST, "/api/v1/sources", Some(PAYMENTS), r#"{"name": "ok", "repo_url": "git@github.com:acme/deploy.git", "ref": "refs/tags/v1.2.3", "path": "./k8s//prod/"}"#).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    assert_eq!(ok.body["data"]["path"], "k8s/prod");
    assert_eq!(ok.body["data"]["ref"], "refs/tags/v1.2.3");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn cross_workspace_ids_in_bodies_are_refused(pool: PgPool) {
    seeded(&pool).await;
    // The demo user is admin of both workspaces, so only the tenant rule can refuse this.
    let router = as_user(&pool, DEMO);
    for (cluster, source, field) in [
        (PLATFORM_CLUSTER, CHECKOUT_SOURCE, "cluster_id"),
        (STAGING_CLUSTER, PLATFORM_SOURCE, "source_id"),
        (Uuid::new_v4(), CHECKOUT_SOURCE, "cluster_id"),
    ] {
        let body = json!({ "name": "cross", "cluster_id": cluster, "source_id": source, "default_namespace": "x" });
        let created = send_json(
            &router,
            Method::POST,
            "/api/v1/applications",
            Some(PAYMENTS),
            &body.to_string(),
        )
        .await;
        assert_error(
            &created,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(created.body["error"]["details"]["field"], field);
        let replaced = send_json(
            &router,
            Method::PUT,
            &format!("/api/v1/applications/{CHECKOUT_APP}"),
            None,
            &body.to_string(),
        )
        .await;
        assert_error(
            &replaced,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    // The database refuses it on its own (bypassing the handler's check).
    let error = sqlx::query("UPDATE applications SET cluster_id = $1 WHERE id = $2")
        .bind(PLATFORM_CLUSTER)
        .bind(CHECKOUT_APP)
        .execute(&pool)
        .await
        .expect_err("the composite foreign key refuses a foreign cluster");
    assert!(error.to_string().contains("foreign key"), "{error}");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn names_are_unique_and_referenced_rows_cannot_be_deleted(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    let duplicate = send_json(
        &router,
        Method::POST,
        "/api/v1/clusters",
        Some(PAYMENTS),
        &cluster_body("staging-eu-1"),
    )
    .await;
    assert_error(&duplicate, StatusCode::CONFLICT, "conflict");
    // The same name in another workspace is fine (the demo user administers both).
    let elsewhere = send_json(
        &as_user(&pool, DEMO),
        Method::POST,
        "/api/v1/clusters",
        Some(PLATFORM),
        &cluster_body("staging-eu-1"),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.text);

    let in_use = send_json(
        &router,
        Method::DELETE,
        &format!("/api/v1/clusters/{STAGING_CLUSTER}"),
        None,
        "",
    )
    .await;
    assert_error(&in_use, StatusCode::CONFLICT, "conflict");
    let names: Vec<&str> = in_use.body["error"]["details"]["referenced_by"]["applications"]
        .as_array()
        .expect("referencing applications")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, vec!["billing-worker", "checkout-api"]);
    let source_in_use = send_json(
        &router,
        Method::DELETE,
        &format!("/api/v1/sources/{CHECKOUT_SOURCE}"),
        None,
        "",
    )
    .await;
    assert_error(&source_in_use, StatusCode::CONFLICT, "conflict");
    assert!(source_in_use.text.contains("checkout-api"));
    // Still there.
    assert_eq!(
        get(
            &router,
            &format!("/api/v1/clusters/{STAGING_CLUSTER}"),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn every_change_is_in_the_audit_log_with_its_request_id(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    let created = send(
        &router,
        axum::http::Request::post("/api/v1/clusters")
            .header("content-type", "application/json")
            .header("x-workspace-id", PAYMENTS.to_string())
            .header("x-request-id", "audit-trail-1")
            .body(axum::body::Body::from(cluster_body("audited")))
            .expect("request"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["data"]["id"].as_str().expect("id").to_owned();
    send_json(
        &router,
        Method::PUT,
        &format!("/api/v1/clusters/{id}"),
        None,
        &cluster_body("audited-2"),
    )
    .await;
    send_json(
        &router,
        Method::DELETE,
        &format!("/api/v1/clusters/{id}"),
        None,
        "",
    )
    .await;
    let records = statesight_store::audit::recent(&pool, PAYMENTS, 10)
        .await
        .expect("audit");
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["cluster.delete", "cluster.update", "cluster.create"]
    );
    let create = &records[2];
    assert_eq!(create.request_id, "audit-trail-1");
    assert_eq!(create.actor_user_id, Some(ADMIN));
    assert_eq!(create.before, None);
    assert_eq!(
        create.after.as_ref().map(|a| a["name"].clone()),
        Some(json!("audited"))
    );
    let update = &records[1];
    assert_eq!(
        update.before.as_ref().map(|b| b["name"].clone()),
        Some(json!("audited"))
    );
    assert_eq!(
        update.after.as_ref().map(|a| a["name"].clone()),
        Some(json!("audited-2"))
    );
    assert!(records[0].after.is_none());
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn ignore_rule_lifecycle_and_captured_suppressions(pool: PgPool) {
    // Suppressions exist only where a real analysis recorded them.
    seeded_and_analysed(&pool).await;
    let router = as_user(&pool, EDITOR);
    let base = format!("/api/v1/applications/{CHECKOUT_APP}/ignore-rules");
    let created = send_json(
        &router,
        Method::POST,
        &base,
        None,
        &json!({
            "name": "mesh-annotations",
            "match_expression": "  spec.template.metadata.annotations.*  ",
            "resource_ref": "apps/Deployment/checkout/checkout-api",
            "managed_by": "istio-injector",
            "reason": "the mesh annotates pod templates",
        })
        .to_string(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let rule = &created.body["data"];
    assert_eq!(
        rule["match_expression"], "spec.template.metadata.annotations.*",
        "trimmed"
    );
    assert_eq!(rule["enabled"], true);
    assert_eq!(rule["scope"], "application");
    let rule_id = rule["id"].as_str().expect("id").to_owned();

    let same_name = send_json(
        &router,
        Method::POST,
        &base,
        None,
        &rule_body("mesh-annotations"),
    )
    .await;
    assert_error(&same_name, StatusCode::CONFLICT, "conflict");

    let disabled = send_json(
        &router,
        Method::PATCH,
        &format!("{base}/{rule_id}"),
        None,
        r#"{"enabled": false}"#,
    )
    .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    assert_eq!(disabled.body["data"]["enabled"], false);
    assert_eq!(
        disabled.body["data"]["managed_by"], "istio-injector",
        "untouched by the patch"
    );
    let cleared = send_json(
        &router,
        Method::PATCH,
        &format!("{base}/{rule_id}"),
        None,
        r#"{"managed_by": null}"#,
    )
    .await;
    assert_eq!(cleared.body["data"]["managed_by"], Value::Null);
    assert_eq!(
        cleared.body["data"]["resource_ref"],
        "apps/Deployment/checkout/checkout-api"
    );

    let replaced = send_json(
        &router,
        Method::PUT,
        &format!("{base}/{rule_id}"),
        None,
        &rule_body("mesh-v2"),
    )
    .await;
    assert_eq!(replaced.body["data"]["name"], "mesh-v2");
    assert_eq!(
        replaced.body["data"]["resource_ref"],
        Value::Null,
        "PUT replaces every field"
    );

    // Ordered as applied: resource-specific rule, application-wide, inherited workspace rule.
    let listed = get(&router, &base, None).await;
    let names: Vec<&str> = listed.body["data"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec!["hpa-owns-replicas", "mesh-v2", "istio-sidecar-status"]
    );

    // A rule of another application is not reachable through this one.
    let other = format!(
        "/api/v1/applications/{}/ignore-rules/{HPA_RULE}",
        Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000503)
    );
    assert_error(
        &send_json(&router, Method::DELETE, &other, None, "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Renaming a rule leaves the suppressions it made as they were recorded.
    let renamed = send_json(
        &router,
        Method::PATCH,
        &format!("{base}/{HPA_RULE}"),
        None,
        r#"{"name": "autoscaler-replicas", "reason": "new reason"}"#,
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let deleted = send_json(
        &router,
        Method::DELETE,
        &format!("{base}/{HPA_RULE}"),
        None,
        "",
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let suppressed = get(
        &router,
        &format!("/api/v1/applications/{CHECKOUT_APP}/suppressed-findings"),
        None,
    )
    .await;
    let items = suppressed.body["data"].as_array().expect("suppressions");
    assert!(!items.is_empty(), "the analyses recorded suppressions");
    for item in items {
        assert_eq!(item["rule"]["name"], "hpa-owns-replicas");
        assert!(
            item["rule"]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("The HorizontalPodAutoscaler"))
        );
        assert_eq!(item["rule"]["id"], Value::Null, "the rule is gone");
    }
    assert_error(
        &send_json(
            &router,
            Method::DELETE,
            &format!("{base}/{HPA_RULE}"),
            None,
            "",
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn path_grammar_errors_point_at_the_bad_character(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, EDITOR);
    let base = format!("/api/v1/applications/{CHECKOUT_APP}/ignore-rules");
    for (field, value) in [
        ("match_expression", "spec.containers[name=api"),
        ("match_expression", "spec..replicas"),
        ("match_expression", "spec.containers[]"),
        ("match_expression", ""),
        ("resource_ref", "deployment/payments/api"),
        ("resource_ref", "apps/Deployment//api"),
        ("resource_ref", "Deployment"),
    ] {
        let mut body = json!({ "name": "bad", "match_expression": "spec.replicas", "reason": "r" });
        body[field] = json!(value);
        let reply = send_json(&router, Method::POST, &base, None, &body.to_string()).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(
            reply.body["error"]["details"]["field"], field,
            "{}",
            reply.text
        );
        if !value.is_empty() {
            let offset = reply.body["error"]["details"]["offset"]
                .as_u64()
                .expect("an offset");
            assert!(offset as usize <= value.len(), "{}", reply.text);
            assert!(
                reply.text.contains('^'),
                "a caret under the character: {}",
                reply.text
            );
        }
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn twenty_simultaneous_analyze_requests_make_exactly_one_run(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let router = as_user_with_prefix(&pool, EDITOR, &prefix.0);
    let uri = format!("/api/v1/applications/{CHECKOUT_APP}/analyze");
    let requests = (0..20).map(|_| {
        let router = router.clone();
        let uri = uri.clone();
        tokio::spawn(async move { send_json(&router, Method::POST, &uri, None, "").await })
    });
    let mut replies = Vec::new();
    for request in requests {
        replies.push(request.await.expect("request task"));
    }
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED)
        .count();
    let existing = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        (created, existing),
        (1, 19),
        "{:?}",
        replies.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let run_ids: std::collections::BTreeSet<&str> = replies
        .iter()
        .filter_map(|r| r.body["data"]["id"].as_str())
        .collect();
    assert_eq!(run_ids.len(), 1, "every reply names the same run");
    let (queued,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM analysis_runs WHERE application_id = $1 AND status = 'queued'",
    )
    .bind(CHECKOUT_APP)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(queued, 1);
    let queue = prefix.queue();
    assert_eq!(
        queue.stream_length().await.expect("xlen"),
        1,
        "exactly one job enqueued"
    );
    let run_id = Uuid::parse_str(run_ids.iter().next().expect("one")).expect("uuid");
    assert_eq!(
        queue.inflight(CHECKOUT_APP).await.expect("get"),
        Some(run_id)
    );
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_newer_revision_while_running_queues_one_coalesced_follow_up(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let router = as_user_with_prefix(&pool, EDITOR, &prefix.0);
    let uri = format!("/api/v1/applications/{CHECKOUT_APP}/analyze");
    let first = send_json(&router, Method::POST, &uri, None, "").await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    let first_id = Uuid::parse_str(first.body["data"]["id"].as_str().expect("id")).expect("uuid");
    // A worker takes it.
    sqlx::query("UPDATE analysis_runs SET status = 'running', started_at = now() WHERE id = $1")
        .bind(first_id)
        .execute(&pool)
        .await
        .expect("start");
    // Asking again for the same target finds the running run.
    let again = send_json(&router, Method::POST, &uri, None, "{}").await;
    assert_eq!(
        (again.status, again.body["data"]["id"].as_str()),
        (StatusCode::OK, Some(first_id.to_string().as_str()))
    );
    // A newer revision queues one follow-up, deferred behind the running run's lease.
    let follow = send_json(
        &router,
        Method::POST,
        &uri,
        None,
        r#"{"revision": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
    )
    .await;
    assert_eq!(follow.status, StatusCode::ACCEPTED, "{}", follow.text);
    let follow_id = follow.body["data"]["id"].as_str().expect("id").to_owned();
    assert_ne!(follow_id, first_id.to_string());
    // Newer still: the same follow-up, retargeted.
    let newer = send_json(
        &router,
        Method::POST,
        &uri,
        None,
        r#"{"revision": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}"#,
    )
    .await;
    assert_eq!(newer.status, StatusCode::OK, "{}", newer.text);
    assert_eq!(newer.body["data"]["id"], follow_id.as_str());
    assert_eq!(
        newer.body["data"]["requested_revision"],
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    );
    let statuses: Vec<(String,)> = sqlx::query_as("SELECT status FROM analysis_runs WHERE application_id = $1 AND status IN ('queued', 'running') ORDER BY status")
        .bind(CHECKOUT_APP)
        .fetch_all(&pool)
        .await
        .expect("runs");
    assert_eq!(
        statuses,
        vec![(String::from("queued"),), (String::from("running"),)]
    );
    let queue = prefix.queue();
    assert_eq!(
        queue.stream_length().await.expect("xlen"),
        1,
        "the follow-up waits for the lease"
    );
    // The running job finishes and releases its lease: the follow-up is promoted.
    let job = statesight_store::queue::Job::new(first_id, CHECKOUT_APP);
    assert_eq!(
        queue.release(&job).await.expect("release"),
        statesight_store::queue::Released::Promoted
    );
    let jobs = queue.stream_jobs().await.expect("jobs");
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].run_id.to_string(), follow_id);
    assert_eq!(
        queue
            .inflight(CHECKOUT_APP)
            .await
            .expect("get")
            .map(|id| id.to_string()),
        Some(follow_id.clone())
    );
    // Releasing with a stale run id changes nothing.
    assert_eq!(
        queue.release(&job).await.expect("release"),
        statesight_store::queue::Released::NotOwner
    );
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn analyze_answers_503_and_records_nothing_while_redis_is_down(pool: PgPool) {
    seeded(&pool).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let redis =
        statesight_store::redis_conn::client(&format!("redis://127.0.0.1:{port}")).expect("url");
    let state = statesight_server::AppState::new(
        pool.clone(),
        redis,
        statesight_server::auth::Authenticator::Injected(statesight_server::auth::Principal::user(
            EDITOR,
        )),
        statesight_server::state::PublicAuthConfig::default(),
    );
    let router = statesight_server::app(state);
    let reply = send_json(
        &router,
        Method::POST,
        &format!("/api/v1/applications/{CHECKOUT_APP}/analyze"),
        None,
        "",
    )
    .await;
    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let (queued,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM analysis_runs WHERE application_id = $1 AND status = 'queued'",
    )
    .bind(CHECKOUT_APP)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(queued, 0, "no run without a job");
}

/// The analyze body is optional: no body, `null` and `{}` all mean "the source's ref", as
/// the OpenAPI document says; anything else must be the request object.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn analyze_takes_no_body_null_or_an_empty_object_alike(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let router = as_user_with_prefix(&pool, EDITOR, &prefix.0);
    let uri = format!("/api/v1/applications/{CHECKOUT_APP}/analyze");
    let first = send_json(&router, Method::POST, &uri, None, "null").await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    assert_eq!(first.body["data"]["requested_revision"], Value::Null);
    for body in ["", "{}", "null", " null "] {
        let again = send_json(&router, Method::POST, &uri, None, body).await;
        assert_eq!(again.status, StatusCode::OK, "{body:?}: {}", again.text);
        assert_eq!(
            again.body["data"]["id"], first.body["data"]["id"],
            "{body:?}"
        );
    }
    for body in ["[]", "42", r#"{"revision": 7}"#] {
        let refused = send_json(&router, Method::POST, &uri, None, body).await;
        assert_error(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    prefix.cleanup().await;
}

/// Regression (fuzzer): `\u0000` in a string of a JSON body reached PostgreSQL, which
/// cannot store it in `text`, and answered 500. Every string of every body is refused with
/// a 422 naming where the NUL is, before any handler or database sees it.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn nul_in_reason_or_description_is_a_validation_error_naming_the_field(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    let rules = format!("/api/v1/applications/{CHECKOUT_APP}/ignore-rules");
    let rule = |field: &str, value: &str| {
        let mut body: Value = serde_json::from_str(&rule_body("nulcase")).expect("json");
        body[field] = json!(value);
        body.to_string()
    };
    let cluster = |field: &str, value: &str| {
        let mut body: Value = serde_json::from_str(&cluster_body("nulcase")).expect("json");
        body[field] = json!(value);
        body.to_string()
    };
    let cases: Vec<(Method, String, Option<Uuid>, String, &str)> = vec![
        (Method::POST, rules.clone(), None, rule("reason", "mesh\u{0}sidecar"), "reason"),
        (Method::POST, rules.clone(), None, rule("name", "a\u{0}"), "name"),
        (
            Method::POST,
            rules.clone(),
            None,
            rule("match_expression", "spec.\u{0}"),
            "match_expression",
        ),
        (Method::POST, rules.clone(), None, rule("managed_by", "\u{0}"), "managed_by"),
        (
            Method::PATCH,
            format!("{rules}/{HPA_RULE}"),
            None,
            json!({ "reason": "\u{0}" }).to_string(),
            "reason",
        ),
        (
            Method::POST,
            "/api/v1/clusters".into(),
            Some(PAYMENTS),
            cluster("description", "prod\u{0}"),
            "description",
        ),
        (
            Method::PUT,
            format!("/api/v1/clusters/{STAGING_CLUSTER}"),
            None,
            cluster("description", "\u{0}"),
            "description",
        ),
        (
            Method::POST,
            "/api/v1/sources".into(),
            Some(PAYMENTS),
            json!({ "name": "s", "repo_url": "https://git.example.com/a.git", "ref": "main", "path": "k8s\u{0}" }).to_string(),
            "path",
        ),
        (
            Method::POST,
            "/api/v1/applications".into(),
            Some(PAYMENTS),
            json!({ "name": "app", "description": "\u{0}", "cluster_id": STAGING_CLUSTER, "source_id": CHECKOUT_SOURCE, "default_namespace": "shop" }).to_string(),
            "description",
        ),
        (
            Method::POST,
            format!("/api/v1/applications/{CHECKOUT_APP}/analyze"),
            None,
            json!({ "revision": "main\u{0}" }).to_string(),
            "revision",
        ),
    ];
    for (method, uri, workspace, body, field) in cases {
        assert!(
            body.contains("\\u0000"),
            "the body carries an escaped NUL: {body}"
        );
        let reply = send_json(&router, method.clone(), &uri, workspace, &body).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(
            reply.body["error"]["details"]["field"], field,
            "{method} {uri}: {}",
            reply.text
        );
        assert!(reply.text.contains("NUL"), "{}", reply.text);
    }
    // Nested values and keys are named by their JSON path.
    let reply = send_json(
        &router,
        Method::POST,
        &rules,
        None,
        &json!({ "name": "n", "match_expression": "a", "reason": "r", "extra": [{ "k\u{0}": 1 }] })
            .to_string(),
    )
    .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        reply.body["error"]["details"]["field"],
        "extra[0].\"k\\u{0}\""
    );
    // Nothing was written.
    let rules_now = get(&router, &rules, None).await;
    assert!(!rules_now.text.contains("nulcase"), "{}", rules_now.text);
}

/// Runs a request while `delete` (one uuid bind) is done but not committed by another
/// transaction: the handler's reads still see the row and its authorization passes, its
/// write waits on the row lock, then the delete commits and the write finds the row gone.
/// The race of a concurrent DELETE, made deterministic (and asserted: the request must be
/// seen waiting on the lock, else the answer came from an earlier check).
async fn racing_a_delete(
    pool: &PgPool,
    router: &axum::Router,
    delete: &'static str,
    id: Uuid,
    request: (Method, String, Option<Uuid>, String),
) -> Reply {
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query(delete)
        .bind(id)
        .execute(&mut *tx)
        .await
        .expect("delete");
    let (method, uri, workspace, body) = request;
    let router = router.clone();
    let task =
        tokio::spawn(async move { send_json(&router, method, &uri, workspace, &body).await });
    // Wait until the request blocks on the deleted row (or has already answered).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .expect("pg_stat_activity");
        if waiting > 0 {
            break;
        }
        assert!(
            !task.is_finished() && std::time::Instant::now() < deadline,
            "the request never waited for the deleted row: the race was not reproduced"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tx.commit().await.expect("commit");
    task.await.expect("request task")
}

/// One creation racing a delete: (router, what is deleted, its id, the request, expected
/// status, code, what the message or field names).
type Race<'a> = (
    &'a axum::Router,
    &'static str,
    Uuid,
    (Method, String, Option<Uuid>, String),
    StatusCode,
    &'static str,
    &'static str,
);

/// Regression (fuzzer): a rule created while its application was being deleted answered
/// 422 quoting the constraint `ignore_rules_workspace_id_application_id_fkey`. Every
/// creation racing the delete of a row it depends on answers as a retry would: 404 naming
/// what is gone (the workspace, the application), 422 naming the field for a cluster or
/// source of the body (as the handler's own check does), 403 when the acting user itself
/// was removed, and never a constraint name.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_rule_created_while_its_application_is_deleted_is_not_found(pool: PgPool) {
    seeded(&pool).await;
    let admin = as_user(&pool, ADMIN);
    let editor = as_user(&pool, EDITOR);
    let mut applications = Vec::new();
    for name in ["race-rule", "race-analyze", "race-user"] {
        applications.push(
            create_as_admin(
                &pool,
                "/api/v1/applications",
                Some(PAYMENTS),
                &application_body(name),
            )
            .await,
        );
    }
    let (rule_app, analyze_app, user_app) = (applications[0], applications[1], applications[2]);
    let demo = as_user(&pool, DEMO);
    let cluster = create_as_admin(
        &pool,
        "/api/v1/clusters",
        Some(PAYMENTS),
        &cluster_body("race-cluster"),
    )
    .await;
    let source = create_as_admin(
        &pool,
        "/api/v1/sources",
        Some(PAYMENTS),
        &source_body("race-source"),
    )
    .await;
    let app_with = |cluster: Uuid, source: Uuid| {
        json!({ "name": "race-app", "cluster_id": cluster, "source_id": source, "default_namespace": "shop" })
            .to_string()
    };
    const DELETE_APPLICATION: &str = "DELETE FROM applications WHERE id = $1";
    const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";
    let cases: Vec<Race> = vec![
        (
            &editor,
            DELETE_APPLICATION,
            rule_app,
            (
                Method::POST,
                format!("/api/v1/applications/{rule_app}/ignore-rules"),
                None,
                rule_body("r"),
            ),
            StatusCode::NOT_FOUND,
            "not_found",
            "application",
        ),
        (
            &editor,
            DELETE_APPLICATION,
            analyze_app,
            (
                Method::POST,
                format!("/api/v1/applications/{analyze_app}/analyze"),
                None,
                String::from("{}"),
            ),
            StatusCode::NOT_FOUND,
            "not_found",
            "application",
        ),
        (
            &admin,
            "DELETE FROM clusters WHERE id = $1",
            cluster,
            (
                Method::POST,
                "/api/v1/applications".into(),
                Some(PAYMENTS),
                app_with(cluster, CHECKOUT_SOURCE),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "cluster_id",
        ),
        (
            &admin,
            "DELETE FROM source_definitions WHERE id = $1",
            source,
            (
                Method::POST,
                "/api/v1/applications".into(),
                Some(PAYMENTS),
                app_with(STAGING_CLUSTER, source),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "source_id",
        ),
        (
            &editor,
            DELETE_USER,
            EDITOR,
            (
                Method::POST,
                format!("/api/v1/applications/{user_app}/ignore-rules"),
                None,
                rule_body("by-a-removed-user"),
            ),
            StatusCode::FORBIDDEN,
            "identity_not_provisioned",
            "removed",
        ),
        (
            &admin,
            DELETE_USER,
            ADMIN,
            (
                Method::POST,
                "/api/v1/clusters".into(),
                Some(PAYMENTS),
                cluster_body("by-a-removed-user"),
            ),
            StatusCode::FORBIDDEN,
            "identity_not_provisioned",
            "removed",
        ),
        // Last: this removes the whole workspace.
        (
            &demo,
            "DELETE FROM workspaces WHERE id = $1",
            PAYMENTS,
            (
                Method::POST,
                "/api/v1/sources".into(),
                Some(PAYMENTS),
                source_body("in-a-removed-workspace"),
            ),
            StatusCode::NOT_FOUND,
            "not_found",
            "workspace",
        ),
    ];
    for (router, delete, id, request, status, code, names) in cases {
        let what = format!("{} {} racing {delete}", request.0, request.1);
        let reply = racing_a_delete(&pool, router, delete, id, request).await;
        assert_eq!(reply.status, status, "{what}: {}", reply.text);
        assert_error(&reply, status, code);
        let field = reply.body["error"]["details"]["field"]
            .as_str()
            .unwrap_or("");
        let message = reply.body["error"]["message"].as_str().unwrap_or("");
        assert!(
            field == names || message.contains(names),
            "{what}: {}",
            reply.text
        );
        assert!(
            !reply.text.contains("fkey") && !reply.text.contains("constraint"),
            "{what}: {}",
            reply.text
        );
    }
}

/// A syntax error used to quote the whole rule input under its caret: a long or hostile
/// `match_expression` flooded the message and control characters shifted the caret.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn syntax_errors_quote_a_short_escaped_window_with_the_caret_in_place(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, EDITOR);
    let base = format!("/api/v1/applications/{CHECKOUT_APP}/ignore-rules");
    // 3,000 characters, an ESC sequence just before the error (a `]` with no `[`).
    let value = format!("{}\u{1b}[2Jx]{}", "a".repeat(1500), "b".repeat(1500));
    let body = json!({ "name": "bad", "match_expression": value, "reason": "r" });
    let reply = send_json(&router, Method::POST, &base, None, &body.to_string()).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let message = reply.body["error"]["message"].as_str().expect("message");
    assert!(message.chars().count() < 300, "{message}");
    assert!(!message.contains('\u{1b}'), "{message:?}");
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 3, "{message}");
    let caret = lines[2].find('^').expect("a caret");
    let offset = reply.body["error"]["details"]["offset"]
        .as_u64()
        .expect("offset") as usize;
    // The caret sits under the character the parser stopped at, shown escaped.
    let stopped_at = value[offset..]
        .chars()
        .next()
        .expect("a character")
        .to_string();
    let shown = statesight_core::terminal::escape_for_terminal(&stopped_at).into_owned();
    let under_caret: String = lines[1]
        .chars()
        .skip(lines[2][..caret].chars().count())
        .collect();
    assert!(under_caret.starts_with(&shown), "{message}");
    assert_eq!(shown, "\\u{1b}");
}
