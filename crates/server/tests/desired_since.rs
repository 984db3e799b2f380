//! "Since when, in Git" through real analyses: each finding's evidence names the commit that
//! set its desired value, and the answers are kept per (source, commit, file, field), so a
//! re-analysis of the same commit by another worker takes them from the database instead of
//! reading Git again.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

const CHECKOUT: Uuid = statesight_store::seed::CHECKOUT_APPLICATION_ID;
const TIMEOUT: &str =
    "spec.template.spec.containers[name=checkout-api].env[name=PAYMENT_TIMEOUT_MS].value";

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

fn since_of<'a>(findings: &'a [Value], path: &str) -> &'a Value {
    &findings
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no finding at {path}"))["evidence"]["desired"]["since"]
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn since_is_found_in_git_kept_and_reused_by_another_worker(pool: PgPool) {
    let demo = Demo::analysed(&pool).await;
    let admin = as_user(&pool, ADMIN);
    let findings = open_findings(&admin).await;
    // Determined from the example repository's history: a full commit, its author and time.
    let since = since_of(&findings, TIMEOUT);
    assert_eq!(since["status"], "determined", "{since:#}");
    let commit = since["commit"].as_str().expect("commit");
    assert_eq!(commit.len(), 40, "{since:#}");
    assert!(since["author_name"].as_str().is_some_and(|a| !a.is_empty()));
    assert!(since["authored_at"].is_string());
    // Every finding's answer was kept.
    let (kept,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM desired_since d JOIN applications a ON a.source_id = d.source_id
          WHERE a.id = $1",
    )
    .bind(CHECKOUT)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert!(
        kept >= findings.len() as i64,
        "{kept} kept for {} findings",
        findings.len()
    );
    // Mark the kept answer: a re-analysis (a new worker, its memory cache empty) must give
    // the kept answer back, not read Git again.
    sqlx::query(
        "UPDATE desired_since
            SET since = jsonb_set(since, '{subject}', '\"kept answer\"')
          WHERE path = $1",
    )
    .bind(TIMEOUT)
    .execute(&pool)
    .await
    .expect("mark");
    let runs = demo.analyse_again(&pool, &[CHECKOUT]).await;
    assert!(
        runs.iter()
            .all(|run| run.status == statesight_core::wire::RunStatus::Succeeded),
        "{runs:?}"
    );
    let again = open_findings(&admin).await;
    assert_eq!(since_of(&again, TIMEOUT)["subject"], "kept answer");
    assert_eq!(since_of(&again, TIMEOUT)["commit"], commit);
}
