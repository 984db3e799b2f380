//! The read side of `/api/v1` against a real, seeded PostgreSQL database per test: the
//! role matrix of every route, the envelope, pagination, and bad input that must be 4xx.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use sqlx::PgPool;
use uuid::Uuid;

const CHECKOUT_APP: Uuid = statesight_store::seed::CHECKOUT_APPLICATION_ID;
const INGRESS_APP: Uuid = statesight_store::seed::INGRESS_APPLICATION_ID;

/// Ids of the analysed demo data the tests address.
struct Analysed {
    /// checkout-api's incident caused by kubectl-edit.
    checkout_incident: Uuid,
    /// ingress-nginx's incident for the ConfigMap entry removed from Git.
    ingress_incident: Uuid,
    /// checkout-api's latest analysis.
    checkout_run: Uuid,
}

/// Seeds the demo and has a real worker analyse every example, as `make demo` does.
async fn analysed(pool: &PgPool) -> Analysed {
    seeded_and_analysed(pool).await;
    Analysed {
        checkout_incident: incident_id(pool, CHECKOUT_APP, "kubectl-edit").await,
        ingress_incident: incident_id(pool, INGRESS_APP, "removed_from_git").await,
        checkout_run: latest_run_id(pool, CHECKOUT_APP).await,
    }
}

/// Every read route of the payments workspace, with the workspace header where the route
/// is scoped by it.
fn payments_routes(ids: &Analysed) -> Vec<(String, Option<Uuid>)> {
    let (incident, run) = (ids.checkout_incident, ids.checkout_run);
    vec![
        (String::from("/api/v1/overview"), Some(PAYMENTS)),
        (String::from("/api/v1/applications"), Some(PAYMENTS)),
        (format!("/api/v1/applications/{CHECKOUT_APP}"), None),
        (
            format!("/api/v1/applications/{CHECKOUT_APP}/analyses"),
            None,
        ),
        (
            format!("/api/v1/applications/{CHECKOUT_APP}/ignore-rules"),
            None,
        ),
        (
            format!("/api/v1/applications/{CHECKOUT_APP}/suppressed-findings"),
            None,
        ),
        (
            format!("/api/v1/applications/{CHECKOUT_APP}/findings"),
            None,
        ),
        (String::from("/api/v1/incidents"), Some(PAYMENTS)),
        (format!("/api/v1/incidents/{incident}"), None),
        (format!("/api/v1/incidents/{incident}/findings"), None),
        (format!("/api/v1/incidents/{incident}/timeline"), None),
        (format!("/api/v1/analyses/{run}"), None),
    ]
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn every_read_route_admits_every_member_role(pool: PgPool) {
    let ids = analysed(&pool).await;
    for user in [VIEWER, EDITOR, ADMIN] {
        let router = as_user(&pool, user);
        for (uri, workspace) in payments_routes(&ids) {
            let reply = get(&router, &uri, workspace).await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{uri} as {user}: {}",
                reply.text
            );
            assert!(!reply.body["data"].is_null(), "{uri}: data missing");
            assert!(
                reply.body["meta"]["request_id"].is_string(),
                "{uri}: request id missing"
            );
        }
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn non_members_get_not_found_on_every_read_route(pool: PgPool) {
    let ids = analysed(&pool).await;
    let router = as_user(&pool, OUTSIDER);
    for (uri, workspace) in payments_routes(&ids) {
        let reply = get(&router, &uri, workspace).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn members_of_one_workspace_cannot_see_another(pool: PgPool) {
    let ids = analysed(&pool).await;
    let ingress_incident = ids.ingress_incident;
    // EDITOR belongs to payments only.
    let router = as_user(&pool, EDITOR);
    for (uri, workspace) in [
        (format!("/api/v1/incidents/{ingress_incident}"), None),
        (
            format!("/api/v1/incidents/{ingress_incident}/findings"),
            None,
        ),
        (format!("/api/v1/applications/{INGRESS_APP}"), None),
        (format!("/api/v1/applications/{INGRESS_APP}/findings"), None),
        (String::from("/api/v1/incidents"), Some(PLATFORM)),
        (String::from("/api/v1/applications"), Some(PLATFORM)),
        (String::from("/api/v1/overview"), Some(PLATFORM)),
    ] {
        let reply = get(&router, &uri, workspace).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    }
    // The same answer for an id that exists nowhere: existence does not leak.
    let unknown = get(
        &router,
        &format!("/api/v1/incidents/{}", Uuid::new_v4()),
        None,
    )
    .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "not_found");
    let hidden = get(
        &router,
        &format!("/api/v1/incidents/{ingress_incident}"),
        None,
    )
    .await;
    assert_eq!(
        unknown.body["error"]["message"],
        hidden.body["error"]["message"]
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn me_lists_the_callers_workspaces_with_roles(pool: PgPool) {
    seeded(&pool).await;
    let reply = get(&as_user(&pool, VIEWER), "/api/v1/me", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body["data"]["user"]["email"],
        "vera.viewer@acme.example"
    );
    let workspaces = reply.body["data"]["workspaces"]
        .as_array()
        .expect("workspaces");
    let summary: Vec<(String, String)> = workspaces
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap_or("").to_owned(),
                w["role"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (String::from("acme-payments"), String::from("viewer")),
            (String::from("acme-platform"), String::from("editor")),
        ]
    );
    for workspace in workspaces {
        assert!(Uuid::parse_str(workspace["id"].as_str().unwrap_or("")).is_ok());
    }
    let outsider = get(&as_user(&pool, OUTSIDER), "/api/v1/me", None).await;
    assert_eq!(outsider.status, StatusCode::OK);
    assert_eq!(outsider.body["data"]["workspaces"], serde_json::json!([]));
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn demo_mode_resolves_the_seeded_demo_user_through_the_same_path(pool: PgPool) {
    seeded(&pool).await;
    let router = statesight_server::app(state_with(
        &pool,
        statesight_server::auth::Authenticator::Demo,
    ));
    let me = get(&router, "/api/v1/me", None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["data"]["user"]["id"], DEMO.to_string());
    let roles: Vec<&str> = me.body["data"]["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .filter_map(|w| w["role"].as_str())
        .collect();
    assert_eq!(roles, vec!["admin", "admin"]);
    let overview = get(&router, "/api/v1/overview", Some(PLATFORM)).await;
    assert_eq!(overview.status, StatusCode::OK);
    // Membership still decides: an unknown workspace is not found even in demo mode.
    let unknown = get(&router, "/api/v1/overview", Some(Uuid::new_v4())).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn demo_mode_without_a_seeded_demo_user_says_what_to_do(pool: PgPool) {
    let router = statesight_server::app(state_with(
        &pool,
        statesight_server::auth::Authenticator::Demo,
    ));
    let reply = get(&router, "/api/v1/me", None).await;
    assert_error(&reply, StatusCode::FORBIDDEN, "identity_not_provisioned");
    assert!(reply.text.contains("make seed"));
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn auth_required_refuses_every_operator_route_without_a_token(pool: PgPool) {
    seeded(&pool).await;
    let provider = common::oidc::TestProvider::start().await;
    let verifier =
        statesight_server::oidc::OidcVerifier::discover(common::oidc::settings(&provider))
            .await
            .expect("discovering the test provider");
    let router = statesight_server::app(state_with(
        &pool,
        statesight_server::auth::Authenticator::Oidc(std::sync::Arc::new(verifier)),
    ));
    // Authentication is refused before anything is looked up, so any ids do.
    let mut routes = payments_routes(&Analysed {
        checkout_incident: Uuid::new_v4(),
        ingress_incident: Uuid::new_v4(),
        checkout_run: Uuid::new_v4(),
    });
    routes.push((String::from("/api/v1/me"), None));
    for (uri, workspace) in routes {
        let reply = get(&router, &uri, workspace).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthenticated");
        assert_eq!(
            reply.headers.get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer realm=\"statesight\""[..])
        );
    }
    // Identity headers are never authentication inputs.
    let spoofed = send(
        &router,
        Request::get("/api/v1/me")
            .header("x-user-id", DEMO.to_string())
            .header("x-user-email", "demo@statesight.local")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_error(&spoofed, StatusCode::UNAUTHORIZED, "unauthenticated");
    // Public routes stay public.
    for uri in ["/healthz", "/api/v1/auth/config", "/metrics"] {
        assert_eq!(
            get(&router, uri, None).await.status,
            StatusCode::OK,
            "{uri}"
        );
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn missing_or_malformed_workspace_header_is_bad_request(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    for uri in [
        "/api/v1/overview",
        "/api/v1/applications",
        "/api/v1/incidents",
    ] {
        let missing = get(&router, uri, None).await;
        assert_error(&missing, StatusCode::BAD_REQUEST, "bad_request");
        assert!(missing.text.contains("X-Workspace-ID"), "{}", missing.text);
        for bad in ["not-a-uuid", "", "5eed0000-0000-4000-8000", "' OR 1=1 --"] {
            let reply = send(
                &router,
                Request::get(uri)
                    .header("x-workspace-id", bad)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
            assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        }
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn malformed_path_ids_are_bad_request_and_unknown_ids_not_found(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    for template in [
        "/api/v1/applications/{}",
        "/api/v1/applications/{}/analyses",
        "/api/v1/applications/{}/ignore-rules",
        "/api/v1/applications/{}/suppressed-findings",
        "/api/v1/applications/{}/findings",
        "/api/v1/incidents/{}",
        "/api/v1/incidents/{}/findings",
        "/api/v1/analyses/{}",
    ] {
        for bad in [
            "nope",
            "123",
            "5eed0000-0000-4000-8000-00000000050Z",
            "%E2%98%83",
        ] {
            let reply = get(&router, &template.replace("{}", bad), None).await;
            assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        }
        let unknown = get(
            &router,
            &template.replace("{}", &Uuid::new_v4().to_string()),
            None,
        )
        .await;
        assert_error(&unknown, StatusCode::NOT_FOUND, "not_found");
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn malformed_query_parameters_are_bad_request(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    for query in [
        "limit=abc",
        "limit=0",
        "limit=-5",
        "limit=501",
        "limit=1.5",
        "limit=99999999999999999999",
        "limit=1&limit=2",
        "status=bogus",
        "status=OPEN",
        "application_id=not-a-uuid",
        "cursor=%%%",
        "cursor=not-base64!",
        "cursor=eyJmb28iOiJiYXIifQ",
    ] {
        let reply = get(
            &router,
            &format!("/api/v1/incidents?{query}"),
            Some(PAYMENTS),
        )
        .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
    // Unknown parameters are ignored, the way most HTTP APIs treat them.
    let reply = get(&router, "/api/v1/incidents?colour=blue", Some(PAYMENTS)).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_cursor_from_one_list_is_refused_by_another(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    let first = get(&router, "/api/v1/applications?limit=1", Some(PAYMENTS)).await;
    let cursor = first.body["meta"]["next_cursor"]
        .as_str()
        .expect("a next cursor")
        .to_owned();
    let reply = get(
        &router,
        &format!("/api/v1/incidents?cursor={cursor}"),
        Some(PAYMENTS),
    )
    .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    assert!(reply.text.contains("cursor"));
}

/// Walks a list one page at a time and returns the ids in order.
async fn walk(
    router: &axum::Router,
    uri: &str,
    workspace: Option<Uuid>,
    limit: usize,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let separator = if uri.contains('?') { '&' } else { '?' };
    for _ in 0..100 {
        let mut page_uri = format!("{uri}{separator}limit={limit}");
        if let Some(cursor) = &cursor {
            page_uri.push_str(&format!("&cursor={cursor}"));
        }
        let reply = get(router, &page_uri, workspace).await;
        assert_eq!(reply.status, StatusCode::OK, "{page_uri}: {}", reply.text);
        let items = reply.body["data"].as_array().expect("list data");
        assert!(items.len() <= limit);
        ids.extend(
            items
                .iter()
                .map(|item| item["id"].as_str().unwrap_or("").to_owned()),
        );
        match reply.body["meta"]["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit, "a page with a next cursor is full");
                cursor = Some(next.to_owned());
            }
            None => return ids,
        }
    }
    panic!("pagination of {uri} did not end");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn pages_cover_every_item_exactly_once_in_a_stable_order(pool: PgPool) {
    let ids = analysed(&pool).await;
    let incident = ids.checkout_incident;
    let router = as_user(&pool, ADMIN);
    for (uri, workspace) in [
        (String::from("/api/v1/applications"), Some(PAYMENTS)),
        (String::from("/api/v1/incidents"), Some(PAYMENTS)),
        (
            String::from("/api/v1/incidents?status=open"),
            Some(PAYMENTS),
        ),
        (
            format!("/api/v1/incidents?application_id={CHECKOUT_APP}"),
            Some(PAYMENTS),
        ),
        (
            format!("/api/v1/applications/{CHECKOUT_APP}/analyses"),
            None,
        ),
        (
            format!("/api/v1/applications/{CHECKOUT_APP}/suppressed-findings"),
            None,
        ),
        (format!("/api/v1/incidents/{incident}/findings"), None),
        (
            format!("/api/v1/applications/{CHECKOUT_APP}/findings"),
            None,
        ),
        (format!("/api/v1/applications/{LEDGER}/findings"), None),
    ] {
        let all = walk(&router, &uri, workspace, 500).await;
        assert!(!all.is_empty(), "{uri} is empty in the seed");
        for limit in [1, 2] {
            assert_eq!(
                walk(&router, &uri, workspace, limit).await,
                all,
                "{uri} with limit {limit}"
            );
        }
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "{uri} repeats items");
    }
    // Filters really filter.
    let open = walk(&router, "/api/v1/incidents?status=open", Some(PAYMENTS), 50).await;
    let resolved = walk(
        &router,
        "/api/v1/incidents?status=resolved",
        Some(PAYMENTS),
        50,
    )
    .await;
    let all = walk(&router, "/api/v1/incidents", Some(PAYMENTS), 50).await;
    assert_eq!(open.len() + resolved.len(), all.len());
    // Git caught up with checkout-api's HPA patch and billing-worker's memory limit.
    assert_eq!(resolved.len(), 2);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn application_detail_embeds_capped_lists_with_links(pool: PgPool) {
    let ids = analysed(&pool).await;
    let reply = get(
        &as_user(&pool, VIEWER),
        &format!("/api/v1/applications/{CHECKOUT_APP}"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let data = &reply.body["data"];
    assert_eq!(data["name"], "checkout-api");
    assert_eq!(data["cluster"]["name"], "staging-eu-1");
    assert_eq!(data["open_incidents"]["total"], 4);
    assert_eq!(
        data["open_incidents"]["href"],
        format!("/api/v1/incidents?application_id={CHECKOUT_APP}&status=open")
    );
    // Most severe first.
    let severities: Vec<&str> = data["open_incidents"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["severity"].as_str())
        .collect();
    assert_eq!(severities, vec!["high", "high", "medium", "low"]);
    assert_eq!(data["recent_suppressions"]["total"], 2);
    assert_eq!(
        data["recent_suppressions"]["items"][0]["rule"]["name"],
        "hpa-owns-replicas"
    );
    // Resource-specific application rule first, then inherited workspace rules, read-only.
    let rules: Vec<(String, bool)> = data["ignore_rules"]["items"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_owned(),
                r["read_only"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        rules,
        vec![
            (String::from("hpa-owns-replicas"), false),
            (String::from("istio-sidecar-status"), true)
        ]
    );
    assert_eq!(data["latest_run"]["id"], ids.checkout_run.to_string());
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn incident_findings_carry_evidence_of_the_latest_observation(pool: PgPool) {
    let ids = analysed(&pool).await;
    let incident_id = ids.checkout_incident;
    let router = as_user(&pool, VIEWER);
    let incident = get(&router, &format!("/api/v1/incidents/{incident_id}"), None).await;
    assert_eq!(incident.body["data"]["occurrence_count"], 2);
    let findings = get(
        &router,
        &format!("/api/v1/incidents/{incident_id}/findings"),
        None,
    )
    .await;
    let items = findings.body["data"].as_array().expect("findings");
    assert_eq!(
        items.len(),
        2,
        "only the latest observation: {}",
        findings.text
    );
    for finding in items {
        assert_eq!(
            finding["observed_at"],
            incident.body["data"]["last_seen_at"]
        );
        assert_eq!(
            finding["evidence"]["attribution"]["grade"],
            "not-attributed"
        );
        assert_eq!(
            finding["evidence"]["ownership"]["owners"][0]["manager"],
            "kubectl-edit"
        );
    }
    // Findings in path order, with the raw values Git and the cluster hold.
    assert_eq!(
        items[0]["path"],
        "spec.template.spec.containers[name=checkout-api].env[name=PAYMENT_TIMEOUT_MS].value"
    );
    assert_eq!(items[0]["desired"], "3000");
    assert_eq!(items[0]["live"], "12000");
    assert_eq!(
        items[1]["path"],
        "spec.template.spec.containers[name=checkout-api].image"
    );
    assert!(
        items[1]["live"]
            .as_str()
            .is_some_and(|image| image.ends_with("-hotfix2")),
        "{}",
        items[1]
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn analysis_shows_its_provenance(pool: PgPool) {
    let ids = analysed(&pool).await;
    let run = ids.checkout_run;
    let reply = get(
        &as_user(&pool, VIEWER),
        &format!("/api/v1/analyses/{run}"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let data = &reply.body["data"];
    assert_eq!(data["status"], "succeeded");
    // The example repository is built with fixed authors and dates: the same commit everywhere.
    assert_eq!(
        data["desired_provenance"]["commit_sha"],
        "0bfa65f22a770e361338d22737d1d8a9948e1ec6"
    );
    assert_eq!(
        data["desired_provenance"]["committed_at"],
        "2026-11-20T09:45:00Z"
    );
    assert_eq!(data["desired_provenance"]["path"], "k8s/staging");
    // Live state from the captured snapshot, at the time its capture.json records.
    assert_eq!(data["live_provenance"]["method"], "snapshot");
    assert_eq!(data["live_provenance"]["trusted"], true);
    assert_eq!(
        data["live_provenance"]["observed_at"],
        "2026-11-21T07:00:00Z"
    );
    assert_eq!(data["live_provenance"]["has_managed_fields"], true);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn overview_counts_open_incidents_by_severity_and_recommendation(pool: PgPool) {
    analysed(&pool).await;
    let reply = get(&as_user(&pool, VIEWER), "/api/v1/overview", Some(PAYMENTS)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let data = &reply.body["data"];
    assert_eq!(data["workspace"]["role"], "viewer");
    // ledger, checkout-api and billing-worker, analysed as the demo does (their READMEs
    // list the incidents): 8 + 4 + 2 open.
    assert_eq!(data["applications"], 3);
    let open = &data["open_incidents"];
    assert_eq!(open["total"], 14);
    assert_eq!(
        open["by_severity"],
        serde_json::json!({"critical": 2, "high": 5, "medium": 4, "low": 3})
    );
    assert_eq!(
        open["by_recommendation"],
        serde_json::json!({"reconcile": 3, "investigate": 8, "monitor": 2, "ignore": 1})
    );
    assert_eq!(data["top_incidents"][0]["severity"], "critical");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn request_ids_are_echoed_or_generated(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, VIEWER);
    let mine = send(
        &router,
        Request::get("/api/v1/me")
            .header("x-request-id", "trace-abc_123")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(mine.headers["x-request-id"], "trace-abc_123");
    assert_eq!(mine.body["meta"]["request_id"], "trace-abc_123");
    // An error carries it too.
    let error = send(
        &router,
        Request::get("/api/v1/incidents/nope")
            .header("x-request-id", "trace-err")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(error.body["meta"]["request_id"], "trace-err");
    // Unsafe ids (log injection, absurd length) are replaced with a fresh one.
    for bad in ["a\tb", &"x".repeat(500)] {
        let reply = send(
            &router,
            Request::get("/api/v1/me")
                .header("x-request-id", bad)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        let echoed = reply.headers["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert_ne!(echoed, bad);
        assert_eq!(reply.body["meta"]["request_id"], echoed);
    }
    let fresh = get(&router, "/api/v1/me", None).await;
    let id = fresh.headers["x-request-id"].to_str().expect("ascii");
    assert!(Uuid::parse_str(id).is_ok());
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn unknown_routes_and_methods_answer_in_the_envelope(pool: PgPool) {
    let router = as_user(&pool, VIEWER);
    assert_error(
        &get(&router, "/api/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let reply = send(
        &router,
        Request::delete("/api/v1/incidents")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn incident_timeline_is_in_time_order(pool: PgPool) {
    let ids = analysed(&pool).await;
    let incident = ids.checkout_incident;
    let reply = get(
        &as_user(&pool, VIEWER),
        &format!("/api/v1/incidents/{incident}/timeline"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let events = reply.body["data"].as_array().expect("events");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "git_revision",
            "managed_fields_time",
            "first_seen",
            "reobserved"
        ]
    );
    let times: Vec<&str> = events
        .iter()
        .filter_map(|e| e["occurred_at"].as_str())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted);
}

/// Regression (fuzzer): two `X-Workspace-ID` headers were resolved to the first. The scope
/// of a request is never a guess: exactly one is allowed.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn two_workspace_headers_are_a_bad_request(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    for second in [PAYMENTS, PLATFORM] {
        let reply = send(
            &router,
            Request::get("/api/v1/applications")
                .header("x-workspace-id", PAYMENTS.to_string())
                .header("x-workspace-id", second.to_string())
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("exactly one X-Workspace-ID")),
            "{}",
            reply.text
        );
    }
}

/// Regression (fuzzer): a 10 KB `X-Workspace-ID` came back whole in the error message.
/// Every message quoting caller input (headers, path segments, query values, JSON field
/// names) shows at most 64 characters, then `…` and the total length, with control and
/// invisible characters escaped.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_long_workspace_header_is_echoed_capped_and_escaped(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    let long = "x".repeat(10 * 1024);
    let reply = send(
        &router,
        Request::get("/api/v1/applications")
            .header("x-workspace-id", &long)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    let message = reply.body["error"]["message"].as_str().expect("message");
    assert!(message.len() < 300, "{message}");
    assert!(
        message.contains(&format!("\"{}…\" (10240 characters)", "x".repeat(64))),
        "{message}"
    );

    // Path segments, query values and JSON field names are capped and escaped the same way.
    let long_segment = format!("%1B%5B31m{}", "y".repeat(5000));
    let long_value = format!("%E2%80%AE{}", "z".repeat(5000));
    let long_field = format!("\u{1b}[2J{}", "f".repeat(5000));
    let replies = [
        get(&router, &format!("/api/v1/incidents/{long_segment}"), None).await,
        get(
            &router,
            &format!("/api/v1/incidents?status={long_value}"),
            Some(PAYMENTS),
        )
        .await,
        get(
            &router,
            &format!("/api/v1/incidents?application_id={long_value}"),
            Some(PAYMENTS),
        )
        .await,
        get(
            &router,
            &format!("/api/v1/incidents?limit={long_value}"),
            Some(PAYMENTS),
        )
        .await,
        send_json(
            &router,
            axum::http::Method::POST,
            "/api/v1/clusters",
            Some(PAYMENTS),
            &serde_json::json!({ long_field.clone(): 1 }).to_string(),
        )
        .await,
    ];
    for reply in replies {
        assert!(reply.status.is_client_error(), "{}", reply.text);
        let message = reply.body["error"]["message"].as_str().expect("message");
        assert!(message.chars().count() < 400, "{message}");
        assert!(message.contains("characters)"), "{message}");
        for raw in ['\u{1b}', '\u{202e}'] {
            assert!(!message.contains(raw), "unescaped {raw:?} in {message:?}");
        }
    }
}

/// A router as `ADMIN` whose cursors are signed with `signer` (a replica with that key).
fn replica(pool: &PgPool, signer: &statesight_server::cursor::CursorSigner) -> axum::Router {
    statesight_server::app(
        state_with(
            pool,
            statesight_server::auth::Authenticator::Injected(
                statesight_server::auth::Principal::user(ADMIN),
            ),
        )
        .with_cursor_signer(signer.clone()),
    )
}

fn fixed_signer(byte: u8) -> statesight_server::cursor::CursorSigner {
    statesight_server::cursor::CursorSigner::new(&[byte; 32]).expect("key")
}

/// A cursor as the server used to issue them: unsigned base64 JSON anyone could write.
fn unsigned_cursor(json: &serde_json::Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
}

fn assert_bad_cursor(reply: &Reply) {
    assert_error(reply, StatusCode::BAD_REQUEST, "bad_request");
    let message = reply.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("invalid or expired") && message.contains("first page"),
        "{message}"
    );
}

/// Regression (fuzzer): a cursor whose name held a NUL reached PostgreSQL and answered
/// 500. Cursors are signed now: a forged one is refused before decoding, and a signed one
/// holding a NUL (a server bug, a leaked key) is refused after.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_forged_cursor_with_a_nul_in_its_name_is_a_bad_request(pool: PgPool) {
    seeded(&pool).await;
    let signer = fixed_signer(1);
    let router = replica(&pool, &signer);
    let key = serde_json::json!({ "name": "ledger\u{0}", "id": Uuid::nil() });
    let forged = unsigned_cursor(&serde_json::json!({ "list": "applications", "after": key }));
    let signed = signer
        .sign(
            "applications",
            &statesight_store::keyset::ByName {
                name: String::from("ledger\u{0}"),
                id: Uuid::nil(),
            },
        )
        .expect("cursor");
    for cursor in [forged, signed] {
        let reply = get(
            &router,
            &format!("/api/v1/applications?cursor={cursor}"),
            Some(PAYMENTS),
        )
        .await;
        assert_bad_cursor(&reply);
    }
}

/// Regression (fuzzer): a cursor timestamped `-262143-01-01T00:00:00Z` (chrono reads it,
/// PostgreSQL cannot store it) answered 500.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_cursor_with_an_out_of_range_timestamp_is_a_bad_request(pool: PgPool) {
    seeded(&pool).await;
    let signer = fixed_signer(2);
    let router = replica(&pool, &signer);
    let far = "-262143-01-01T00:00:00Z";
    let forged = unsigned_cursor(&serde_json::json!({
        "list": "incidents",
        "after": { "at": far, "id": Uuid::nil() },
    }));
    let signed = signer
        .sign(
            "incidents",
            &statesight_store::keyset::ByTimeDesc {
                at: far
                    .parse::<chrono::DateTime<chrono::Utc>>()
                    .expect("chrono reads it"),
                id: Uuid::nil(),
            },
        )
        .expect("cursor");
    for cursor in [forged, signed] {
        for uri in [
            format!("/api/v1/incidents?cursor={cursor}"),
            format!("/api/v1/applications/{CHECKOUT_APP}/analyses?cursor={cursor}"),
        ] {
            let reply = get(&router, &uri, Some(PAYMENTS)).await;
            assert_bad_cursor(&reply);
        }
    }
}

/// Replicas sharing CURSOR_SIGNING_KEY accept each other's cursors; a server with another
/// key (another deployment, or a demo server restarted with a new random key) refuses
/// them with a message saying to start over; a tampered cursor is refused.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn cursors_are_signed_and_accepted_by_replicas_sharing_the_key(pool: PgPool) {
    seeded(&pool).await;
    let (first, second, other) = (
        replica(&pool, &fixed_signer(3)),
        replica(&pool, &fixed_signer(3)),
        replica(&pool, &fixed_signer(4)),
    );
    let page = get(&first, "/api/v1/applications?limit=1", Some(PAYMENTS)).await;
    let cursor = page.body["meta"]["next_cursor"]
        .as_str()
        .expect("a next cursor")
        .to_owned();
    let next = format!("/api/v1/applications?limit=1&cursor={cursor}");
    let reply = get(&second, &next, Some(PAYMENTS)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_ne!(reply.body["data"][0]["id"], page.body["data"][0]["id"]);
    assert_bad_cursor(&get(&other, &next, Some(PAYMENTS)).await);
    let (payload, tag) = cursor.split_once('.').expect("payload.tag");
    let flipped = if payload.ends_with('A') { 'B' } else { 'A' };
    let tampered = format!("{}{flipped}.{tag}", &payload[..payload.len() - 1]);
    assert_bad_cursor(
        &get(
            &second,
            &format!("/api/v1/applications?limit=1&cursor={tampered}"),
            Some(PAYMENTS),
        )
        .await,
    );
}

/// Regression (fuzzer): `?application_id=` (and an empty `limit` or `status`) was taken as
/// absent, so a request the document calls invalid (not a UUID, not an integer, not a
/// status) listed everything. Empty values of typed parameters are a 400 naming them; an
/// empty `cursor` still means the first page.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn empty_typed_query_parameters_are_bad_request(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    for (query, parameter) in [
        ("application_id=", "application_id"),
        ("status=", "status"),
        ("limit=", "limit"),
        ("limit=&cursor=", "limit"),
    ] {
        let reply = get(
            &router,
            &format!("/api/v1/incidents?{query}"),
            Some(PAYMENTS),
        )
        .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert!(reply.text.contains(parameter), "{query}: {}", reply.text);
    }
    let first_page = get(&router, "/api/v1/clusters?cursor=", Some(PAYMENTS)).await;
    assert_eq!(first_page.status, StatusCode::OK, "{}", first_page.text);
}

/// Every item of a list, following `next_cursor` with the largest page.
async fn every_item(
    router: &axum::Router,
    uri: &str,
    workspace: Option<Uuid>,
) -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let separator = if uri.contains('?') { '&' } else { '?' };
    for _ in 0..100 {
        let mut page_uri = format!("{uri}{separator}limit=500");
        if let Some(cursor) = &cursor {
            page_uri.push_str(&format!("&cursor={cursor}"));
        }
        let reply = get(router, &page_uri, workspace).await;
        assert_eq!(reply.status, StatusCode::OK, "{page_uri}: {}", reply.text);
        items.extend(
            reply.body["data"]
                .as_array()
                .expect("list data")
                .iter()
                .cloned(),
        );
        match reply.body["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
    panic!("pagination of {uri} did not end");
}

/// The ids of an application's incidents with this status, ascending (the order the
/// application's findings are grouped in).
async fn incident_ids(
    router: &axum::Router,
    workspace: Uuid,
    application: Uuid,
    status: &str,
) -> Vec<String> {
    let uri = format!("/api/v1/incidents?application_id={application}&status={status}");
    let mut ids: Vec<String> = every_item(router, &uri, Some(workspace))
        .await
        .iter()
        .map(|incident| incident["id"].as_str().expect("an id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// The application's findings are exactly its open incidents' findings as each incident's
/// own route lists them (same objects, same order within an incident), grouped by incident
/// id; resolved incidents contribute nothing though their route still lists findings.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn application_findings_are_the_open_incidents_findings(pool: PgPool) {
    analysed(&pool).await;
    let router = as_user(&pool, DEMO);
    let mut resolved_findings = 0;
    for workspace in [PAYMENTS, PLATFORM] {
        let applications = every_item(&router, "/api/v1/applications", Some(workspace)).await;
        for application in applications {
            let application: Uuid = application["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("an application id");
            let mut expected = Vec::new();
            for incident in incident_ids(&router, workspace, application, "open").await {
                let uri = format!("/api/v1/incidents/{incident}/findings");
                expected.extend(every_item(&router, &uri, None).await);
            }
            let uri = format!("/api/v1/applications/{application}/findings");
            let actual = every_item(&router, &uri, None).await;
            assert_eq!(actual, expected, "{uri}");
            for incident in incident_ids(&router, workspace, application, "resolved").await {
                let uri = format!("/api/v1/incidents/{incident}/findings");
                let findings = every_item(&router, &uri, None).await;
                resolved_findings += findings.len();
                for finding in findings {
                    assert!(!actual.contains(&finding), "resolved {incident}: {finding}");
                }
            }
        }
    }
    // The demo resolves incidents (checkout-api's HPA patch, billing-worker's memory
    // limit) whose routes still list findings, so the exclusion above was exercised.
    assert!(resolved_findings > 0);
    let checkout = every_item(
        &router,
        &format!("/api/v1/applications/{CHECKOUT_APP}/findings"),
        None,
    )
    .await;
    let incidents: std::collections::BTreeSet<&str> = checkout
        .iter()
        .filter_map(|finding| finding["incident_id"].as_str())
        .collect();
    assert_eq!(incidents.len(), 4, "checkout-api's open incidents");
}

/// The application's findings refuse what its siblings refuse: bad limits, cursors that are
/// not this list's (another list's, forged, mangled), exactly as the incident findings do.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn application_findings_refuse_bad_paging_like_their_siblings(pool: PgPool) {
    let ids = analysed(&pool).await;
    let router = as_user(&pool, VIEWER);
    let application = format!("/api/v1/applications/{CHECKOUT_APP}/findings");
    let incident = format!("/api/v1/incidents/{}/findings", ids.checkout_incident);
    let next_cursor = |reply: &Reply| {
        reply.body["meta"]["next_cursor"]
            .as_str()
            .expect("a next cursor")
            .to_owned()
    };
    let own = next_cursor(&get(&router, &format!("{application}?limit=1"), None).await);
    let incidents = next_cursor(&get(&router, &format!("{incident}?limit=1"), None).await);
    for query in [
        String::from("limit=abc"),
        String::from("limit=0"),
        String::from("limit=-5"),
        String::from("limit=501"),
        String::from("limit="),
        String::from("limit=1&limit=2"),
        String::from("cursor=%%%"),
        String::from("cursor=not-base64!"),
        String::from("cursor=eyJmb28iOiJiYXIifQ"),
    ] {
        for uri in [&application, &incident] {
            let reply = get(&router, &format!("{uri}?{query}"), None).await;
            assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        }
    }
    // Each cursor belongs to the list that issued it only.
    assert_bad_cursor(&get(&router, &format!("{incident}?cursor={own}"), None).await);
    assert_bad_cursor(&get(&router, &format!("{application}?cursor={incidents}"), None).await);
    for uri in [
        format!("{application}?cursor={own}"),
        format!("{incident}?cursor={incidents}"),
    ] {
        let reply = get(&router, &uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
    }
    // The default page is 50 and the largest 500, as everywhere.
    let reply = get(&router, &format!("{application}?limit=500"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.body["meta"].get("next_cursor").is_none(),
        "{}",
        reply.text
    );
}
