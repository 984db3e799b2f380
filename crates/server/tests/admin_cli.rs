//! `statesight-server admin user|workspace|member|identity …`, the real binary against a
//! fresh database: provisioning from nothing to a signed-in user, scripted output, and the
//! refusals an operator can run into.

mod common;

use std::process::{Command, Output};

use common::*;
use serde_json::Value;
use sqlx::PgPool;

fn admin(pool: &PgPool, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_statesight-server"))
        .arg("admin")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url(pool))
        .output()
        .expect("running statesight-server admin")
}

fn ok(pool: &PgPool, args: &[&str]) -> String {
    let output = admin(pool, args);
    assert!(
        output.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn refused(pool: &PgPool, args: &[&str]) -> String {
    let output = admin(pool, args);
    assert!(!output.status.success(), "admin {args:?} should fail");
    String::from_utf8(output.stderr).expect("UTF-8")
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_operator_provisions_a_user_from_nothing(pool: PgPool) {
    let user = ok(
        &pool,
        &[
            "user",
            "add",
            "--email",
            "ada@acme.example",
            "--name",
            "Ada Lovelace",
        ],
    );
    let user_id = user.trim();
    assert!(uuid::Uuid::parse_str(user_id).is_ok(), "{user}");
    let workspace = ok(&pool, &["workspace", "add", "--name", "acme-payments"]);
    assert_eq!(
        ok(
            &pool,
            &[
                "member",
                "set",
                "--workspace",
                "acme-payments",
                "--user",
                "ada@acme.example",
                "--role",
                "editor"
            ]
        )
        .trim(),
        "added ada@acme.example to acme-payments as editor"
    );
    // By id works as well as by name; a second set changes the role.
    assert_eq!(
        ok(
            &pool,
            &[
                "member",
                "set",
                "--workspace",
                workspace.trim(),
                "--user",
                user_id,
                "--role",
                "admin"
            ]
        )
        .trim(),
        format!(
            "changed {user_id} in {} from editor to admin",
            workspace.trim()
        )
    );
    ok(
        &pool,
        &[
            "identity",
            "add",
            "--issuer",
            "https://login.acme.example",
            "--subject",
            "0f3c-ada",
            "--user",
            "ADA@acme.example",
        ],
    );

    // What the server resolves for that identity is exactly this user and role.
    let resolved = statesight_store::access::user_for_identity(
        &pool,
        "https://login.acme.example",
        "0f3c-ada",
    )
    .await
    .expect("lookup");
    assert_eq!(resolved.map(|id| id.to_string()).as_deref(), Some(user_id));
    let me = statesight_store::access::me(&pool, resolved.expect("user"))
        .await
        .expect("me")
        .expect("me");
    assert_eq!(me.workspaces.len(), 1);
    assert_eq!(me.workspaces[0].role.as_str(), "admin");

    // Lists, for people and for scripts.
    let table = ok(&pool, &["member", "list"]);
    assert_eq!(
        table,
        "WORKSPACE      USER              ROLE\nacme-payments  ada@acme.example  admin\n"
    );
    let json: Value =
        serde_json::from_str(&ok(&pool, &["identity", "list", "--output", "json"])).expect("JSON");
    assert_eq!(json[0]["issuer"], "https://login.acme.example");
    assert_eq!(json[0]["subject"], "0f3c-ada");
    assert_eq!(json[0]["email"], "ada@acme.example");
    let workspaces: Value =
        serde_json::from_str(&ok(&pool, &["workspace", "list", "-o", "json"])).expect("JSON");
    assert_eq!(workspaces[0]["members"], 1);

    // Every membership change is in the workspace's audit log, after its creation.
    let workspace_id = uuid::Uuid::parse_str(workspace.trim()).expect("uuid");
    let audit = statesight_store::audit::recent(&pool, workspace_id, 10)
        .await
        .expect("audit");
    let actions: Vec<&str> = audit.iter().map(|record| record.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["membership.update", "membership.create", "workspace.create"]
    );
    assert!(
        audit
            .iter()
            .all(|record| record.request_id == "system:admin-cli")
    );

    // Removing the identity and the membership takes the access away again.
    ok(
        &pool,
        &[
            "identity",
            "remove",
            "--issuer",
            "https://login.acme.example",
            "--subject",
            "0f3c-ada",
        ],
    );
    assert!(
        statesight_store::access::user_for_identity(
            &pool,
            "https://login.acme.example",
            "0f3c-ada"
        )
        .await
        .expect("lookup")
        .is_none()
    );
    assert_eq!(
        ok(
            &pool,
            &[
                "member",
                "remove",
                "--workspace",
                "acme-payments",
                "--user",
                user_id
            ]
        )
        .trim(),
        format!("removed {user_id} (admin) from acme-payments")
    );
    assert_eq!(
        ok(&pool, &["member", "list", "--workspace", "acme-payments"]),
        "WORKSPACE  USER  ROLE\n"
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn refusals_say_what_is_wrong_and_change_nothing(pool: PgPool) {
    ok(
        &pool,
        &[
            "user",
            "add",
            "--email",
            "ada@acme.example",
            "--name",
            "Ada",
        ],
    );
    ok(&pool, &["workspace", "add", "--name", "acme-payments"]);
    ok(
        &pool,
        &[
            "identity",
            "add",
            "--issuer",
            "https://login.acme.example",
            "--subject",
            "ada",
            "--user",
            "ada@acme.example",
        ],
    );
    ok(
        &pool,
        &[
            "user",
            "add",
            "--email",
            "bob@acme.example",
            "--name",
            "Bob",
        ],
    );

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "user",
                "add",
                "--email",
                "Ada@acme.example",
                "--name",
                "Ada again",
            ],
            "already exists",
        ),
        (
            vec!["user", "add", "--email", "not-an-email", "--name", "X"],
            "not an email address",
        ),
        (
            vec![
                "user",
                "add",
                "--email",
                "x@acme.example",
                "--name",
                " padded ",
            ],
            "blanks",
        ),
        (
            vec!["workspace", "add", "--name", "acme-payments"],
            "already exists",
        ),
        (
            vec!["workspace", "add", "--name", "bell\u{7}"],
            "control characters",
        ),
        (
            vec![
                "member",
                "set",
                "--workspace",
                "nowhere",
                "--user",
                "ada@acme.example",
                "--role",
                "viewer",
            ],
            "admin workspace list",
        ),
        (
            vec![
                "member",
                "set",
                "--workspace",
                "acme-payments",
                "--user",
                "nobody@acme.example",
                "--role",
                "viewer",
            ],
            "admin user list",
        ),
        (
            vec![
                "member",
                "set",
                "--workspace",
                "acme-payments",
                "--user",
                "ada@acme.example",
                "--role",
                "owner",
            ],
            "viewer, editor, admin",
        ),
        (
            vec![
                "identity",
                "add",
                "--issuer",
                "https://login.acme.example",
                "--subject",
                "ada",
                "--user",
                "bob@acme.example",
            ],
            "already signs in as ada@acme.example",
        ),
        (
            vec![
                "identity",
                "add",
                "--issuer",
                "https://login.acme.example ",
                "--subject",
                "bob",
                "--user",
                "bob@acme.example",
            ],
            "blanks",
        ),
        (
            vec![
                "identity",
                "remove",
                "--issuer",
                "https://login.acme.example",
                "--subject",
                "nobody",
            ],
            "no identity",
        ),
    ];
    for (args, expect) in cases {
        let stderr = refused(&pool, &args);
        assert!(
            stderr.contains(expect),
            "admin {args:?}: expected {expect:?} in {stderr}"
        );
    }
    let users: Value =
        serde_json::from_str(&ok(&pool, &["user", "list", "-o", "json"])).expect("JSON");
    assert_eq!(users.as_array().map(Vec::len), Some(2));
    let identities: Value =
        serde_json::from_str(&ok(&pool, &["identity", "list", "-o", "json"])).expect("JSON");
    assert_eq!(identities.as_array().map(Vec::len), Some(1));
    assert_eq!(identities[0]["email"], "ada@acme.example");

    // Values stored earlier are shown escaped, never interpreted by the terminal.
    sqlx::query(
        "UPDATE users SET display_name = 'Bob \u{1b}[31mred' WHERE email = 'bob@acme.example'",
    )
    .execute(&pool)
    .await
    .expect("update");
    let table = ok(&pool, &["user", "list"]);
    assert!(!table.contains('\u{1b}'), "{table:?}");
}

/// `admin k8s-audit import`: a log file (plain and gzipped) stored as the webhook route would
/// store it, once per auditID; unusable lines are named and make the exit status 1 while the
/// rest is stored.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_audit_log_is_imported_once_and_bad_lines_are_named(pool: PgPool) {
    use std::io::Write as _;
    seeded(&pool).await;
    let log = repo_root().join("examples/audit/staging-eu-1.jsonl");
    let log = log.to_str().expect("a UTF-8 path");
    let args = [
        "k8s-audit",
        "import",
        "--cluster",
        "staging-eu-1",
        "--workspace",
        "acme-payments",
    ];
    let first = ok(&pool, &[&args[..], &[log]].concat());
    assert!(
        first.contains("10 events read: 7 stored, 0 already stored, 3 dropped"),
        "{first}"
    );
    // Again, gzipped: nothing new.
    let dir = tempfile::tempdir().expect("temp dir");
    let gz = dir.path().join("audit.log.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create"),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(&std::fs::read(log).expect("read"))
        .expect("write");
    encoder.finish().expect("finish");
    let again = ok(&pool, &[&args[..], &[gz.to_str().expect("path")]].concat());
    assert!(again.contains("0 stored, 7 already stored"), "{again}");
    // A broken line (line 2) and an event without an auditID (line 3): named, exit 1; the
    // good event on line 1 is stored.
    let broken = dir.path().join("broken.log");
    std::fs::write(
        &broken,
        concat!(
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"new-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/checkout/configmaps/x","verb":"delete","user":{"username":"bob"},"objectRef":{"resource":"configmaps","namespace":"checkout","name":"x","apiVersion":"v1"},"responseStatus":{"code":200},"stageTimestamp":"2026-11-20T10:00:00.000000Z"}"#,
            "\n{\"kind\":\"Event\", \"trunc\n",
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"ResponseComplete","verb":"delete","user":{"username":"bob"},"objectRef":{"resource":"configmaps","namespace":"checkout","name":"y"},"stageTimestamp":"2026-11-20T10:00:00.000000Z"}"#,
            "\n"
        ),
    )
    .expect("write");
    let output = admin(
        &pool,
        &[&args[..], &[broken.to_str().expect("path")]].concat(),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2:"), "{stderr}");
    assert!(stderr.contains("line 3:"), "{stderr}");
    assert!(stderr.contains("2 lines of"), "{stderr}");
    let (stored,): (i64,) = sqlx::query_as("SELECT count(*) FROM k8s_audit_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 8);
    // An unknown cluster is a clear refusal.
    let refusal = refused(&pool, &["k8s-audit", "import", "--cluster", "nowhere", log]);
    assert!(refusal.contains("no cluster \"nowhere\""), "{refusal}");
}
