//! Kubernetes audit events against the real database: per-cluster ingestion tokens (created
//! by admins, stored hashed, revoked), the webhook route (authenticated, sorted, stored once
//! per `auditID`, Secret bodies never stored, bad bodies refused without storing anything),
//! and an analysis whose findings are graded from the stored events.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

const PAYMENTS: Uuid = statesight_store::seed::PAYMENTS_WORKSPACE_ID;
const CHECKOUT: Uuid = statesight_store::seed::CHECKOUT_APPLICATION_ID;

/// The demo's synthetic events of staging-eu-1 (`examples/audit/README.md`), as the webhook
/// backend sends them: one `EventList`.
fn fixture() -> String {
    let lines = std::fs::read_to_string(repo_root().join("examples/audit/staging-eu-1.jsonl"))
        .expect("the audit-event fixture");
    let items: Vec<Value> = lines
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("an event per line"))
        .collect();
    serde_json::json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
        .to_string()
}

async fn cluster_id(pool: &PgPool, name: &str) -> Uuid {
    let found = statesight_store::k8s_audit::clusters_named(pool, name, Some(PAYMENTS))
        .await
        .expect("clusters");
    found.first().expect("the seeded cluster").id
}

/// A new ingestion token of `cluster`, created by an admin through the API.
async fn token_of(router: &axum::Router, cluster: Uuid) -> (String, Value) {
    let reply = send_json(
        router,
        Method::POST,
        &format!("/api/v1/clusters/{cluster}/audit-tokens"),
        None,
        "",
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let token = reply.body["data"]["token"]
        .as_str()
        .expect("the token")
        .to_owned();
    (token, reply.body["data"].clone())
}

async fn deliver(
    router: &axum::Router,
    cluster: Uuid,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/clusters/{cluster}/audit-events"))
        .header("content-type", content_type);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    send(router, request.body(Body::from(body)).expect("request")).await
}

async fn stored(pool: &PgPool) -> i64 {
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM k8s_audit_events")
        .fetch_one(pool)
        .await
        .expect("count");
    count
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn tokens_are_shown_once_stored_hashed_and_revoked(pool: PgPool) {
    seeded(&pool).await;
    let staging = cluster_id(&pool, "staging-eu-1").await;
    let admin = as_user(&pool, ADMIN);
    let (token, created) = token_of(&admin, staging).await;
    assert!(token.starts_with("ssat_") && token.len() > 40, "{token}");
    let kubeconfig = created["webhook_kubeconfig"].as_str().expect("kubeconfig");
    assert!(
        kubeconfig.contains(&format!("/api/v1/clusters/{staging}/audit-events"))
            && kubeconfig.contains(&format!("token: {token}")),
        "{kubeconfig}"
    );
    // Only the hash is stored.
    let (hashes, plain): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE token_sha256 = $1),
                count(*) FILTER (WHERE row_to_json(t)::text LIKE '%' || $2 || '%')
           FROM cluster_audit_tokens t",
    )
    .bind(Sha256::digest(token.as_bytes()).as_slice())
    .bind(&token)
    .fetch_one(&pool)
    .await
    .expect("tokens");
    assert_eq!((hashes, plain), (1, 0));
    // Listed without the token.
    let list = get(
        &admin,
        &format!("/api/v1/clusters/{staging}/audit-tokens"),
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(!list.text.contains(&token), "{}", list.text);
    assert_eq!(list.body["data"][0]["prefix"], token[..12]);
    // Only admins.
    for user in [VIEWER, EDITOR] {
        let router = as_user(&pool, user);
        assert_error(
            &send_json(
                &router,
                Method::POST,
                &format!("/api/v1/clusters/{staging}/audit-tokens"),
                None,
                "",
            )
            .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    // Works until revoked; refused after.
    let body = fixture().into_bytes();
    let ok = deliver(
        &admin,
        staging,
        Some(&token),
        "application/json",
        body.clone(),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let id = created["details"]["id"].as_str().expect("id");
    let revoked = send(
        &admin,
        Request::builder()
            .method(Method::DELETE)
            .uri(format!("/api/v1/clusters/{staging}/audit-tokens/{id}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert!(revoked.body["data"]["revoked_at"].is_string());
    assert_error(
        &deliver(&admin, staging, Some(&token), "application/json", body).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    // Both changes are in the audit chain.
    let (actions,): (Vec<String>,) = sqlx::query_as(
        "SELECT array_agg(action ORDER BY seq) FROM operator_audit_log
          WHERE action LIKE 'cluster.audit_token.%'",
    )
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert_eq!(
        actions,
        ["cluster.audit_token.create", "cluster.audit_token.revoke"]
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn deliveries_are_authenticated_sorted_and_stored_once(pool: PgPool) {
    seeded(&pool).await;
    let staging = cluster_id(&pool, "staging-eu-1").await;
    let prod = cluster_id(&pool, "prod-eu-1").await;
    let admin = as_user(&pool, ADMIN);
    let (token, _) = token_of(&admin, staging).await;
    let (prod_token, _) = token_of(&admin, prod).await;
    let body = fixture().into_bytes();

    // Unauthenticated, another cluster's token, a made-up token: refused, nothing stored.
    for bad in [
        None,
        Some(prod_token.as_str()),
        Some("ssat_not-a-real-token"),
    ] {
        assert_error(
            &deliver(&admin, staging, bad, "application/json", body.clone()).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        );
    }
    // Not JSON, not audit events, or not declared as JSON: refused, nothing stored.
    assert_error(
        &deliver(
            &admin,
            staging,
            Some(&token),
            "application/json",
            b"{\"items\": [".to_vec(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let mut broken: Value = serde_json::from_slice(&body).expect("json");
    broken["items"][3]
        .as_object_mut()
        .expect("event")
        .remove("auditID");
    let reply = deliver(
        &admin,
        staging,
        Some(&token),
        "application/json",
        serde_json::to_vec(&broken).expect("json"),
    )
    .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    assert!(reply.text.contains("event 4 of 10"), "{}", reply.text);
    assert_error(
        &deliver(&admin, staging, Some(&token), "text/plain", body.clone()).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    assert_error(
        &deliver(
            &admin,
            staging,
            Some(&token),
            "application/json",
            vec![b' '; 33 * 1024 * 1024],
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert_eq!(stored(&pool).await, 0);

    // Sorted: kept, or counted as dropped.
    let first = deliver(
        &admin,
        staging,
        Some(&token),
        "application/json",
        body.clone(),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let report = &first.body["data"];
    assert_eq!(report["received"], 10, "{report}");
    assert_eq!(report["stored"], 7, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
    assert_eq!(report["dropped_incomplete"], 1, "{report}");
    // The discovery request is a read, counted as such.
    assert_eq!(report["dropped_read_only"], 2, "{report}");
    assert_eq!(report["dropped_non_resource"], 0, "{report}");
    // Again: every auditID is known.
    let second = deliver(&admin, staging, Some(&token), "application/json", body).await;
    assert_eq!(second.body["data"]["stored"], 0, "{}", second.text);
    assert_eq!(second.body["data"]["duplicates"], 7, "{}", second.text);
    assert_eq!(stored(&pool).await, 7);

    // A Secret's bodies are never stored; other bodies are.
    let (secret,): (Value,) = sqlx::query_as(
        "SELECT event FROM k8s_audit_events WHERE resource = 'secrets' AND cluster_id = $1",
    )
    .bind(staging)
    .fetch_one(&pool)
    .await
    .expect("the secret's event");
    assert!(secret["request_object"].is_null(), "{secret}");
    assert!(secret["response_object"].is_null(), "{secret}");
    let text = secret.to_string();
    assert!(!text.contains("c2VjcmV0LXBzcC1rZXk"), "{text}");
    let (edit,): (Value,) = sqlx::query_as(
        "SELECT event FROM k8s_audit_events
          WHERE audit_id = '0b8a3c52-6c1e-4f6a-9a61-2f3e1c4b5d03'",
    )
    .fetch_one(&pool)
    .await
    .expect("the edit");
    assert_eq!(edit["field_manager"], "kubectl-edit");
    assert!(edit["request_object"].is_object(), "{edit}");
}

/// The finding of `path` on the checkout-api Deployment in the latest analysis.
fn finding<'a>(findings: &'a [Value], kind: &str, path: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["resource"]["kind"] == kind && f["path"] == path)
        .unwrap_or_else(|| panic!("no {kind} finding at {path}"))
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_analysis_grades_its_findings_from_the_stored_events(pool: PgPool) {
    let demo = Demo::analysed(&pool).await;
    let staging = cluster_id(&pool, "staging-eu-1").await;
    let admin = as_user(&pool, ADMIN);
    // Before any event: every finding says so.
    let before: Vec<Value> = open_findings(&admin).await;
    assert!(!before.is_empty());
    for f in &before {
        assert_eq!(f["evidence"]["attribution"]["grade"], "not-attributed");
    }
    let (token, _) = token_of(&admin, staging).await;
    let reply = deliver(
        &admin,
        staging,
        Some(&token),
        "application/json",
        fixture().into_bytes(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let runs = demo.analyse_again(&pool, &[CHECKOUT]).await;
    assert!(
        runs.iter()
            .all(|run| run.status == statesight_core::wire::RunStatus::Succeeded),
        "{runs:?}"
    );
    let findings = open_findings(&admin).await;

    // kubectl edit by alice set 12000; Argo CD's earlier response showed 3000.
    let timeout = finding(
        &findings,
        "Deployment",
        "spec.template.spec.containers[name=checkout-api].env[name=PAYMENT_TIMEOUT_MS].value",
    );
    let attribution = &timeout["evidence"]["attribution"];
    assert_eq!(attribution["grade"], "observed-change", "{attribution:#}");
    let events = attribution["events"].as_array().expect("events");
    let edit = events
        .iter()
        .find(|e| e["audit_id"] == "0b8a3c52-6c1e-4f6a-9a61-2f3e1c4b5d03")
        .unwrap_or_else(|| panic!("the edit is not cited: {attribution:#}"));
    assert_eq!(edit["username"], "alice@acme.example");
    assert_eq!(edit["actor_kind"], "user");
    assert_eq!(edit["verb"], "update");
    assert_eq!(edit["value_set"], "12000");
    assert_eq!(edit["value_before"], "3000");
    assert_eq!(edit["source_ips"][0], "10.20.0.14");
    // The image, by the same request.
    let image = finding(
        &findings,
        "Deployment",
        "spec.template.spec.containers[name=checkout-api].image",
    );
    assert_eq!(
        image["evidence"]["attribution"]["grade"], "observed-change",
        "{image:#}"
    );
    // The Service's annotation: only a Metadata-level event, so never observed-*.
    let service = findings
        .iter()
        .find(|f| f["resource"]["kind"] == "Service")
        .expect("the Service's finding");
    let attribution = &service["evidence"]["attribution"];
    assert!(
        !attribution["grade"]
            .as_str()
            .is_some_and(|grade| grade.starts_with("observed")),
        "{attribution:#}"
    );
    // No finding cites the dry run, the denied patch or the other namespace's object.
    let text = serde_json::to_string(&findings).expect("json");
    for never in ["5d05", "5d06", "5d07"] {
        assert!(
            !text.contains(&format!("0b8a3c52-6c1e-4f6a-9a61-2f3e1c4b{never}")),
            "{never} cited"
        );
    }
    // Git's side: the commit that set the desired value.
    assert_eq!(
        timeout["evidence"]["desired"]["since"]["status"], "determined",
        "{timeout:#}"
    );
    // The incident's timeline gains the edit, once, between the Git and analysis events.
    let incident = timeout["incident_id"].as_str().expect("incident id");
    let timeline = get(
        &admin,
        &format!("/api/v1/incidents/{incident}/timeline?limit=500"),
        None,
    )
    .await;
    let audit: Vec<&Value> = timeline.body["data"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|event| event["kind"] == "audit_event")
        .collect();
    assert!(
        audit
            .iter()
            .filter(|e| e["details"]["audit_id"] == "0b8a3c52-6c1e-4f6a-9a61-2f3e1c4b5d03")
            .count()
            == 1,
        "{audit:#?}"
    );
    assert!(
        audit.iter().any(|e| e["summary"]
            .as_str()
            .is_some_and(|s| s.contains("alice@acme.example (user) update with kubectl/"))),
        "{audit:#?}"
    );
    // The incident's advice says a person's change was observed.
    let detail = get(&admin, &format!("/api/v1/incidents/{incident}"), None).await;
    let rationale = detail.body["data"]["rationale"]
        .as_str()
        .expect("rationale");
    assert!(
        rationale.contains("shows a person, alice@acme.example, setting"),
        "{rationale}"
    );
    assert_eq!(detail.body["data"]["recommendation"], "investigate");
    // The web view shows the same evidence.
    let html = get(
        &admin,
        &format!("/ui/w/{PAYMENTS}/incidents/{incident}"),
        None,
    )
    .await;
    assert_eq!(html.status, StatusCode::OK, "{}", html.text);
    assert!(html.text.contains("observed-change"), "{}", html.text);
    assert!(
        html.text.contains("alice@acme.example (user)"),
        "{}",
        html.text
    );
    assert!(
        html.text
            .contains("set &#34;12000&#34; (was &#34;3000&#34;)")
            || html
                .text
                .contains("set &quot;12000&quot; (was &quot;3000&quot;)"),
        "{}",
        html.text
    );
}

/// Every open finding of checkout-api, with its evidence.
async fn open_findings(router: &axum::Router) -> Vec<Value> {
    let reply = get(
        router,
        &format!("/api/v1/applications/{CHECKOUT}/findings?limit=500"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["data"].as_array().expect("findings").clone()
}

/// The level the sample audit policy gives a request: its first matching rule's, as the
/// API server decides (a rule without verbs or resources matches every request).
fn policy_level(rules: &[Value], verb: &str, group: &str, resource: &str) -> String {
    for rule in rules {
        let verbs = rule["verbs"].as_array();
        if verbs.is_some_and(|verbs| !verbs.iter().any(|v| v == verb)) {
            continue;
        }
        let resources = rule["resources"].as_array();
        let matches = resources.is_none_or(|groups| {
            groups.iter().any(|entry| {
                entry["group"].as_str().unwrap_or("") == group
                    && entry["resources"]
                        .as_array()
                        .is_none_or(|names| names.iter().any(|n| n == resource))
            })
        });
        if matches {
            return rule["level"].as_str().unwrap_or("?").to_owned();
        }
    }
    String::from("None")
}

#[test]
fn the_sample_audit_policy_sends_bodies_of_declared_kinds_and_never_secret_values() {
    let text = std::fs::read_to_string(repo_root().join("deploy/kubernetes/audit/policy.yaml"))
        .expect("the sample policy");
    let policy: Value = serde_saphyr::from_str(&text).expect("YAML");
    assert_eq!(policy["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(policy["kind"], "Policy");
    let rules = policy["rules"].as_array().expect("rules");
    for verb in ["create", "update", "patch", "delete"] {
        assert_eq!(
            policy_level(rules, verb, "", "secrets"),
            "Metadata",
            "{verb} secrets"
        );
        for (group, resource) in [
            ("apps", "deployments"),
            ("apps", "deployments/scale"),
            ("", "configmaps"),
            ("", "services"),
            ("rbac.authorization.k8s.io", "clusterroles"),
            ("networking.k8s.io", "networkpolicies"),
        ] {
            assert_eq!(
                policy_level(rules, verb, group, resource),
                "RequestResponse",
                "{verb} {group}/{resource}"
            );
        }
        assert_eq!(
            policy_level(rules, verb, "example.com", "widgets"),
            "Metadata",
            "other writes: who and when"
        );
    }
    for verb in ["get", "list", "watch"] {
        for resource in ["secrets", "deployments", "configmaps"] {
            assert_eq!(policy_level(rules, verb, "", resource), "None", "{verb}");
        }
    }
    assert_eq!(
        policy_level(rules, "update", "coordination.k8s.io", "leases"),
        "None"
    );
    // And the kubeconfig template points at the route with a token placeholder.
    let kubeconfig = std::fs::read_to_string(
        repo_root().join("deploy/kubernetes/audit/webhook-kubeconfig.yaml"),
    )
    .expect("the kubeconfig template");
    assert!(kubeconfig.contains("/api/v1/clusters/CLUSTER_ID/audit-events"));
}

/// Ingestion at capacity answers 503 (nothing stored; the API server sends the batch again)
/// while the operator routes keep answering.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn ingestion_at_capacity_is_refused_and_never_blocks_the_api(pool: PgPool) {
    seeded(&pool).await;
    let staging = cluster_id(&pool, "staging-eu-1").await;
    let (token, _) = token_of(&as_user(&pool, ADMIN), staging).await;
    let state = state_with(
        &pool,
        statesight_server::auth::Authenticator::Injected(statesight_server::auth::Principal::user(
            ADMIN,
        )),
    );
    // Every turn taken, as by deliveries still writing.
    let turns = std::sync::Arc::clone(&state.audit_ingest)
        .acquire_many_owned(
            u32::try_from(statesight_server::routes::k8s_audit::INGEST_CONCURRENCY)
                .expect("a small number"),
        )
        .await
        .expect("the turns");
    let router = statesight_server::app(state);
    let started = std::time::Instant::now();
    let (busy, clusters) = tokio::join!(
        deliver(
            &router,
            staging,
            Some(&token),
            "application/json",
            fixture().into_bytes()
        ),
        async {
            let reply = get(&router, "/api/v1/clusters", Some(PAYMENTS)).await;
            (reply, started.elapsed())
        }
    );
    assert_error(&busy, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(busy.text.contains("at capacity"), "{}", busy.text);
    assert_eq!(clusters.0.status, StatusCode::OK, "{}", clusters.0.text);
    assert!(
        clusters.1 < statesight_server::routes::k8s_audit::INGEST_WAIT,
        "the API waited for ingestion: {:?}",
        clusters.1
    );
    assert_eq!(stored(&pool).await, 0);
    // A turn free again: stored.
    drop(turns);
    let reply = deliver(
        &router,
        staging,
        Some(&token),
        "application/json",
        fixture().into_bytes(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(stored(&pool).await, 7);
}
