//! The operator audit log's hash chain against the real database and the real
//! `statesight-server admin audit verify`: an entry edited, deleted or inserted with SQL is
//! named; deleting users and workspaces breaks nothing; concurrent writers keep one chain;
//! `GET /api/v1/audit` shows a workspace's entries to its admins with a proof anyone can
//! recompute.

mod common;

use std::process::{Command, Output};

use axum::http::StatusCode;
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use statesight_core::audit_chain::ChainedEntry;
use statesight_store::audit::{Actor, Identity};
use statesight_store::rules::{RuleValues, create_application_rule};
use uuid::Uuid;

const CHECKOUT: Uuid = statesight_store::seed::CHECKOUT_APPLICATION_ID;
const INGRESS: Uuid = statesight_store::seed::INGRESS_APPLICATION_ID;

fn verify(pool: &PgPool, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_statesight-server"))
        .args(["admin", "audit", "verify"])
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url(pool))
        .output()
        .expect("running statesight-server admin audit verify")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `verify -o json` on an intact chain: its report.
fn intact(pool: &PgPool) -> Value {
    let output = verify(pool, &["-o", "json"]);
    assert!(
        output.status.success(),
        "verify failed: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["valid"], true, "{report}");
    report
}

/// The first problem `verify` names (it must fail).
fn broken(pool: &PgPool) -> String {
    let output = verify(pool, &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "verify should fail: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stderr)
}

fn ada() -> Actor {
    Actor {
        user_id: Some(ADMIN),
        request_id: String::from("req-audit-test"),
        identity: Some(Identity {
            issuer: String::from("https://login.acme.example"),
            subject: String::from("ada-0f3c"),
        }),
    }
}

async fn write_rules(pool: &PgPool, application: Uuid, workspace: Uuid, count: usize) {
    for index in 0..count {
        create_application_rule(
            pool,
            &ada(),
            workspace,
            application,
            &RuleValues {
                name: format!("audit-{}-{index}", Uuid::new_v4().simple()),
                match_expression: String::from("metadata.annotations.audited"),
                resource_ref: None,
                managed_by: None,
                reason: String::from("written by the audit chain test"),
                enabled: true,
            },
        )
        .await
        .expect("creating a rule");
    }
}

async fn sql(pool: &PgPool, statement: &str) {
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|error| panic!("{statement}: {error}"));
}

/// What someone with direct write access to the table can do: switch the guard off.
async fn unguarded(pool: &PgPool, statement: &str) {
    sql(
        pool,
        "ALTER TABLE operator_audit_log DISABLE TRIGGER operator_audit_log_append_only",
    )
    .await;
    sql(pool, statement).await;
    sql(
        pool,
        "ALTER TABLE operator_audit_log ENABLE TRIGGER operator_audit_log_append_only",
    )
    .await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_intact_log_verifies_and_names_its_head_as_an_anchor(pool: PgPool) {
    seeded(&pool).await;
    write_rules(&pool, CHECKOUT, PAYMENTS, 4).await;
    let report = intact(&pool);
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM operator_audit_log")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(report["checked"], count, "{report}");
    assert_eq!(report["head"]["seq"], count, "{report}");
    let anchor = format!(
        "{}:{}",
        report["head"]["seq"],
        report["head"]["hash"].as_str().expect("hash")
    );
    // The anchor holds; a made-up one does not.
    assert!(verify(&pool, &["--anchor", &anchor]).status.success());
    let forged = format!("{}:{}", report["head"]["seq"], "00".repeat(32));
    let output = verify(&pool, &["--anchor", &forged]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("rewritten"),
        "{}",
        text(&output.stderr)
    );
    // A log cut short after the anchor was taken.
    write_rules(&pool, CHECKOUT, PAYMENTS, 1).await;
    let later = intact(&pool);
    let later_anchor = format!(
        "{}:{}",
        later["head"]["seq"],
        later["head"]["hash"].as_str().expect("hash")
    );
    unguarded(
        &pool,
        "DELETE FROM operator_audit_log WHERE seq = (SELECT max(seq) FROM operator_audit_log)",
    )
    .await;
    let output = verify(&pool, &["--anchor", &later_anchor]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("cut short"),
        "{}",
        text(&output.stderr)
    );
    // Table output for people names the head too.
    let output = verify(&pool, &[]);
    assert!(output.status.success());
    assert!(text(&output.stdout).contains("the audit chain is intact"));
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_entry_edited_in_sql_is_named(pool: PgPool) {
    seeded(&pool).await;
    write_rules(&pool, CHECKOUT, PAYMENTS, 5).await;
    intact(&pool);
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM operator_audit_log WHERE seq = 3")
        .fetch_one(&pool)
        .await
        .expect("entry 3");
    unguarded(
        &pool,
        "UPDATE operator_audit_log SET after = jsonb_set(after, '{reason}', '\"nothing to see\"') WHERE seq = 3",
    )
    .await;
    let problem = broken(&pool);
    assert!(
        problem.contains(&format!("entry 3 (row id {id}) was edited")),
        "{problem}"
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_entry_deleted_in_sql_is_named(pool: PgPool) {
    seeded(&pool).await;
    write_rules(&pool, CHECKOUT, PAYMENTS, 5).await;
    unguarded(&pool, "DELETE FROM operator_audit_log WHERE seq = 2").await;
    let problem = broken(&pool);
    assert!(problem.contains("entry 2 was deleted"), "{problem}");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_entry_inserted_in_sql_is_named(pool: PgPool) {
    seeded(&pool).await;
    write_rules(&pool, CHECKOUT, PAYMENTS, 4).await;

    // Put in between with the later entries moved up, linked and hashed as the application
    // would have: it still stands out, written after the entries it claims to precede.
    unguarded(
        &pool,
        "UPDATE operator_audit_log SET seq = -seq WHERE seq >= 3",
    )
    .await;
    unguarded(
        &pool,
        "UPDATE operator_audit_log SET seq = -seq + 1 WHERE seq < 0",
    )
    .await;
    let (prev,): (Vec<u8>,) =
        sqlx::query_as("SELECT entry_hash FROM operator_audit_log WHERE seq = 2")
            .fetch_one(&pool)
            .await
            .expect("entry 2");
    let forged = ChainedEntry {
        seq: 3,
        prev_hash: prev.try_into().expect("32 bytes"),
        occurred_at_micros: chrono::Utc::now().timestamp_micros(),
        workspace_id: Some(PAYMENTS),
        actor_issuer: String::from("https://login.acme.example"),
        actor_subject: String::from("ada-0f3c"),
        action: String::from("ignore_rule.delete"),
        target_type: String::from("ignore_rule"),
        target_id: Some(Uuid::new_v4()),
        before: None,
        after: None,
        request_id: String::from("forged"),
    };
    let at = chrono::DateTime::from_timestamp_micros(forged.occurred_at_micros).expect("time");
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO operator_audit_log (occurred_at, workspace_id, workspace_key, actor_issuer,
             actor_subject, action, target_type, target_id, request_id, seq, prev_hash, entry_hash)
         VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(at)
    .bind(PAYMENTS)
    .bind(&forged.actor_issuer)
    .bind(&forged.actor_subject)
    .bind(&forged.action)
    .bind(&forged.target_type)
    .bind(forged.target_id)
    .bind(&forged.request_id)
    .bind(forged.seq)
    .bind(forged.prev_hash.as_slice())
    .bind(forged.hash().as_slice())
    .fetch_one(&pool)
    .await
    .expect("insert");
    let problem = broken(&pool);
    assert!(
        problem.contains(&format!("entry 3 (row id {id}) was inserted")),
        "{problem}"
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_entry_appended_without_the_chain_is_named(pool: PgPool) {
    seeded(&pool).await;
    write_rules(&pool, CHECKOUT, PAYMENTS, 3).await;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO operator_audit_log (workspace_id, workspace_key, actor_issuer, actor_subject,
             action, target_type, request_id, seq, prev_hash, entry_hash)
         VALUES ($1, $1, 'x', 'y', 'ignore_rule.delete', 'ignore_rule', 'forged',
                 (SELECT max(seq) + 1 FROM operator_audit_log), '\\x00', '\\x00')
         RETURNING id",
    )
    .bind(PAYMENTS)
    .fetch_one(&pool)
    .await
    .expect("insert");
    let problem = broken(&pool);
    assert!(problem.contains(&format!("(row id {id})")), "{problem}");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn deleted_users_and_workspaces_do_not_break_verification(pool: PgPool) {
    seeded(&pool).await;
    write_rules(&pool, CHECKOUT, PAYMENTS, 2).await;
    write_rules(&pool, INGRESS, PLATFORM, 2).await;
    let before = intact(&pool);
    sql(&pool, "DELETE FROM workspaces WHERE name = 'acme-payments'").await;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(ADMIN)
        .execute(&pool)
        .await
        .expect("delete the admin");
    let after = intact(&pool);
    assert_eq!(after["head"], before["head"]);
    // What was recorded stays readable: the workspace and the actor as they were.
    let (workspace, issuer, subject): (Option<Uuid>, String, String) = sqlx::query_as(
        "SELECT workspace_key, actor_issuer, actor_subject FROM operator_audit_log
          WHERE workspace_id IS NULL AND action = 'ignore_rule.create' ORDER BY seq LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("an orphaned entry");
    assert_eq!(workspace, Some(PAYMENTS));
    assert_eq!(
        (issuer.as_str(), subject.as_str()),
        ("https://login.acme.example", "ada-0f3c")
    );
    // And writing goes on from the same chain.
    let mut tx = pool.begin().await.expect("tx");
    statesight_store::audit::append(
        &mut tx,
        &Actor::system("test"),
        statesight_store::audit::Entry {
            workspace_id: None,
            action: "user.delete",
            target_type: "user",
            target_id: ADMIN,
            before: None,
            after: None,
        },
    )
    .await
    .expect("append");
    tx.commit().await.expect("commit");
    let last = intact(&pool);
    assert_eq!(
        last["head"]["seq"].as_i64(),
        before["head"]["seq"].as_i64().map(|seq| seq + 1)
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn twenty_concurrent_writers_keep_one_chain(pool: PgPool) {
    seeded(&pool).await;
    let writers: Vec<_> = (0..20)
        .map(|index| {
            let pool = pool.clone();
            let (application, workspace) = if index % 2 == 0 {
                (CHECKOUT, PAYMENTS)
            } else {
                (INGRESS, PLATFORM)
            };
            tokio::spawn(async move { write_rules(&pool, application, workspace, 1).await })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let report = intact(&pool);
    let seqs: Vec<(i64,)> = sqlx::query_as("SELECT seq FROM operator_audit_log ORDER BY seq")
        .fetch_all(&pool)
        .await
        .expect("seqs");
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(
        seqs.into_iter().map(|(seq,)| seq).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(report["checked"], expected.len());
    assert!(expected.len() >= 20);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn entries_written_before_the_chain_are_chained_by_the_next_write(pool: PgPool) {
    seeded(&pool).await;
    // As the code before the chain wrote them: no position, no hashes.
    sql(
        &pool,
        "INSERT INTO operator_audit_log (workspace_id, actor_user_id, action, target_type, target_id, after, request_id)
         VALUES ('5eed0000-0000-4000-8000-000000000101', '5eed0000-0000-4000-8000-000000000204',
                 'ignore_rule.create', 'ignore_rule', gen_random_uuid(), '{\"name\": \"old\"}', 'req-old')",
    )
    .await;
    let output = verify(&pool, &["-o", "json"]);
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["unsealed"], 1, "{report}");
    write_rules(&pool, CHECKOUT, PAYMENTS, 1).await;
    let report = intact(&pool);
    assert_eq!(report["unsealed"], 0, "{report}");
    let (seq,): (i64,) =
        sqlx::query_as("SELECT seq FROM operator_audit_log WHERE request_id = 'req-old'")
            .fetch_one(&pool)
            .await
            .expect("sealed");
    assert_eq!(seq, 1, "the older entry comes first");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn admins_read_their_workspace_entries_with_a_proof(pool: PgPool) {
    seeded(&pool).await;
    write_rules(&pool, CHECKOUT, PAYMENTS, 3).await;
    write_rules(&pool, INGRESS, PLATFORM, 2).await;
    let admin = as_user(&pool, ADMIN);
    let mut entries: Vec<Value> = Vec::new();
    let mut uri = String::from("/api/v1/audit?limit=2");
    loop {
        let reply = get(&admin, &uri, Some(PAYMENTS)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        entries.extend(reply.body["data"].as_array().expect("page").iter().cloned());
        match reply.body["meta"]["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/api/v1/audit?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let (expected,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM operator_audit_log WHERE workspace_key = $1")
            .bind(PAYMENTS)
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(entries.len() as i64, expected);
    assert!(expected >= 3);
    let seqs: Vec<i64> = entries
        .iter()
        .map(|entry| entry["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|pair| pair[0] > pair[1]), "{seqs:?}");
    for entry in &entries {
        assert_eq!(entry["workspace_id"], PAYMENTS.to_string());
        let proof = &entry["proof"];
        let canonical = proof["canonical"].as_str().expect("canonical");
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            proof["hash"].as_str().expect("hash"),
            "the proof's hash is the SHA-256 of its canonical text"
        );
        assert!(canonical.contains(proof["prev_hash"].as_str().expect("prev")));
        if entry["action"] == "ignore_rule.create" {
            assert_eq!(entry["actor"]["issuer"], "https://login.acme.example");
            assert_eq!(entry["actor"]["subject"], "ada-0f3c");
        }
    }
    // Viewers and editors may not read it; outsiders do not learn the workspace exists.
    assert_error(
        &get(&as_user(&pool, VIEWER), "/api/v1/audit", Some(PAYMENTS)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &get(&as_user(&pool, OUTSIDER), "/api/v1/audit", Some(PAYMENTS)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &get(&admin, "/api/v1/audit", None).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
}
