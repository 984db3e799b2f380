//! Workspace-wide ignore rules through the API, on the analysed demo: no rule is saved
//! without a preview of its exact body, and what the preview lists is exactly what the next
//! analysis suppresses.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use statesight_server::app;
use statesight_server::auth::{Authenticator, Principal};
use uuid::Uuid;

async fn call(
    router: &axum::Router,
    method: Method,
    uri: &str,
    workspace: Option<Uuid>,
    token: Option<&str>,
    body: &Value,
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(workspace) = workspace {
        builder = builder.header("x-workspace-id", workspace.to_string());
    }
    if let Some(token) = token {
        builder = builder.header("x-rule-preview-token", token);
    }
    send(
        router,
        builder.body(Body::from(body.to_string())).expect("request"),
    )
    .await
}

fn rule(name: &str, expression: &str) -> Value {
    json!({
        "name": name,
        "match_expression": expression,
        "reason": "set by the platform team's admission webhook",
    })
}

/// `(application, resource, path)` of each finding in a preview's `suppresses` lists.
fn previewed(preview: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for application in preview["applications"].as_array().expect("applications") {
        for finding in application["suppresses"].as_array().expect("suppresses") {
            out.insert((
                application["application_id"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
                resource_key(&finding["resource"]),
                finding["path"].as_str().expect("path").to_owned(),
            ));
        }
    }
    out
}

fn resource_key(resource: &Value) -> String {
    format!(
        "{}/{}/{}/{}",
        resource["group"].as_str().unwrap_or(""),
        resource["kind"].as_str().unwrap_or(""),
        resource["namespace"].as_str().unwrap_or(""),
        resource["name"].as_str().unwrap_or(""),
    )
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_rule_is_saved_only_after_its_preview_and_suppresses_what_it_showed(pool: PgPool) {
    let demo = Demo::analysed(&pool).await;
    let state = state_with(&pool, Authenticator::Injected(Principal::user(ADMIN)));
    let signer = state.cursors.clone();
    let admin = app(state);

    // A path some open findings of the workspace have, so the rule suppresses something.
    let (open,): (String,) = sqlx::query_as(
        "SELECT f.path FROM findings f JOIN incidents i ON i.id = f.incident_id
          WHERE i.workspace_id = $1 AND i.status = 'open' AND f.observed_at = i.last_seen_at
            AND f.path <> ''
          GROUP BY f.path ORDER BY count(DISTINCT i.application_id) DESC, f.path LIMIT 1",
    )
    .bind(PAYMENTS)
    .fetch_one(&pool)
    .await
    .expect("an open finding");
    let body = rule("hand-set", &open);

    // Without a preview, with a made-up token: refused.
    let reply = call(
        &admin,
        Method::POST,
        "/api/v1/ignore-rules",
        Some(PAYMENTS),
        None,
        &body,
    )
    .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(reply.text.contains("preview"), "{}", reply.text);
    let reply = call(
        &admin,
        Method::POST,
        "/api/v1/ignore-rules",
        Some(PAYMENTS),
        Some("forged"),
        &body,
    )
    .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let reply = call(
        &admin,
        Method::POST,
        "/api/v1/ignore-rules/preview",
        Some(PAYMENTS),
        None,
        &body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let preview = reply.body["data"].clone();
    let token = preview["token"].as_str().expect("token").to_owned();
    let expected = previewed(&preview);
    assert!(!expected.is_empty(), "{preview}");
    assert_eq!(preview["suppresses_total"], expected.len());

    // The token is for this body and this workspace only.
    let other = rule("hand-set-too", &open);
    let reply = call(
        &admin,
        Method::POST,
        "/api/v1/ignore-rules",
        Some(PAYMENTS),
        Some(&token),
        &other,
    )
    .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(reply.text.contains("different rule body"), "{}", reply.text);
    let reply = call(
        &admin,
        Method::POST,
        "/api/v1/ignore-rules",
        Some(PLATFORM),
        Some(&token),
        &body,
    )
    .await;
    assert!(
        reply.status == StatusCode::UNPROCESSABLE_ENTITY
            || reply.status == StatusCode::FORBIDDEN
            || reply.status == StatusCode::NOT_FOUND,
        "{}",
        reply.text
    );
    // A stale token (its time is over) for the very same body.
    let values = statesight_store::rules::RuleValues {
        name: String::from("hand-set"),
        match_expression: open.clone(),
        resource_ref: None,
        managed_by: None,
        reason: String::from("set by the platform team's admission webhook"),
        enabled: true,
    };
    let stale = statesight_server::routes::workspace_rules::preview_token(
        &signer,
        PAYMENTS,
        &values,
        chrono::Utc::now() - chrono::Duration::seconds(1),
    )
    .expect("token");
    let reply = call(
        &admin,
        Method::POST,
        "/api/v1/ignore-rules",
        Some(PAYMENTS),
        Some(&stale),
        &body,
    )
    .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(reply.text.contains("expired"), "{}", reply.text);
    // Editors may not preview or save workspace rules.
    let editor = as_user(&pool, EDITOR);
    let reply = call(
        &editor,
        Method::POST,
        "/api/v1/ignore-rules/preview",
        Some(PAYMENTS),
        None,
        &body,
    )
    .await;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");

    // With the token: saved, listed, audited.
    let reply = call(
        &admin,
        Method::POST,
        "/api/v1/ignore-rules",
        Some(PAYMENTS),
        Some(&token),
        &body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let rule_id = reply.body["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(reply.body["data"]["scope"], "workspace");
    let listed = get(
        &as_user(&pool, VIEWER),
        "/api/v1/ignore-rules",
        Some(PAYMENTS),
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(
        listed.body["data"]
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| r["id"] == rule_id.as_str())
    );
    let (audited,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM operator_audit_log WHERE action = 'ignore_rule.create' AND target_id = $1",
    )
    .bind(Uuid::parse_str(&rule_id).expect("uuid"))
    .fetch_one(&pool)
    .await
    .expect("audit");
    assert_eq!(audited, 1);

    // The next analysis of every application suppresses exactly what the preview showed.
    let applications: Vec<(Uuid,)> =
        sqlx::query_as("SELECT id FROM applications WHERE workspace_id = $1 ORDER BY id")
            .bind(PAYMENTS)
            .fetch_all(&pool)
            .await
            .expect("applications");
    let applications: Vec<Uuid> = applications.into_iter().map(|(id,)| id).collect();
    let runs = demo.analyse_again(&pool, &applications).await;
    let run_ids: Vec<Uuid> = runs.iter().map(|run| run.id).collect();
    let suppressed: Vec<(Uuid, String, String, String, String, String)> = sqlx::query_as(
        "SELECT application_id, resource_group, resource_kind, resource_namespace, resource_name, path
           FROM suppressed_findings WHERE rule_id = $1 AND run_id = ANY($2)",
    )
    .bind(Uuid::parse_str(&rule_id).expect("uuid"))
    .bind(&run_ids)
    .fetch_all(&pool)
    .await
    .expect("suppressed findings");
    let actual: BTreeSet<(String, String, String)> = suppressed
        .into_iter()
        .map(|(application, group, kind, namespace, name, path)| {
            (
                application.to_string(),
                format!("{group}/{kind}/{namespace}/{name}"),
                path,
            )
        })
        .collect();
    assert_eq!(actual, expected);

    // Changing the rule needs a preview of the rule as it will be; deleting does not.
    let uri = format!("/api/v1/ignore-rules/{rule_id}");
    let disable = json!({"enabled": false});
    let reply = call(&admin, Method::PATCH, &uri, None, None, &disable).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let mut disabled = body.clone();
    disabled["enabled"] = json!(false);
    let reply = call(
        &admin,
        Method::POST,
        "/api/v1/ignore-rules/preview",
        Some(PAYMENTS),
        None,
        &disabled,
    )
    .await;
    let token = reply.body["data"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let reply = call(&admin, Method::PATCH, &uri, None, Some(&token), &disable).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["data"]["enabled"], false);
    let reply = call(&admin, Method::DELETE, &uri, None, None, &json!({})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let reply = call(
        &as_user(&pool, OUTSIDER),
        Method::DELETE,
        &uri,
        None,
        None,
        &json!({}),
    )
    .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
}
