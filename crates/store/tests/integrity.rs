//! Tenant integrity, append-only audit and seed idempotency, enforced by the real database
//! (one fresh database per test). These try to cross workspaces with raw SQL, bypassing
//! every handler, and expect the database itself to refuse.

use sqlx::PgPool;
use statesight_store::seed::{self, ExampleLocation};
use statesight_store::{Constraint, ConstraintKind, StoreError};
use uuid::Uuid;

const PAYMENTS: Uuid = seed::PAYMENTS_WORKSPACE_ID;
const PLATFORM: Uuid = seed::PLATFORM_WORKSPACE_ID;
const PAYMENTS_CLUSTER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000302);
const PAYMENTS_SOURCE: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000402);
const PLATFORM_CLUSTER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000303);
const PLATFORM_SOURCE: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000404);
const PAYMENTS_APP: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000502);
const PLATFORM_APP: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000504);

fn location() -> ExampleLocation {
    ExampleLocation {
        examples_dir: String::from("/srv/statesight/examples"),
        repos_dir: String::from("/srv/statesight/repos"),
    }
}

/// A run and an incident of workspace A, valid in every respect, for the statements that
/// try to point at them from workspace B. (This tests constraints, not analysis results.)
async fn run_and_incident_of_payments(pool: &PgPool) -> (Uuid, Uuid) {
    let (run, incident) = (Uuid::new_v4(), Uuid::new_v4());
    sqlx::query(
        "INSERT INTO analysis_runs (id, workspace_id, application_id, status, started_at, finished_at)
         VALUES ($1, $2, $3, 'succeeded', now(), now())",
    )
    .bind(run)
    .bind(PAYMENTS)
    .bind(PAYMENTS_APP)
    .execute(pool)
    .await
    .expect("run of workspace A");
    sqlx::query(
        "INSERT INTO incidents (id, workspace_id, application_id, fingerprint, resource_api_version, resource_kind,
             resource_name, cause, title, severity, recommendation, rationale, first_seen_at, last_seen_at)
         VALUES ($1, $2, $3, 'fingerprint-a', 'v1', 'ConfigMap', 'x', 'unowned', 't', 'low', 'monitor', 'r', now(), now())",
    )
    .bind(incident)
    .bind(PAYMENTS)
    .bind(PAYMENTS_APP)
    .execute(pool)
    .await
    .expect("incident of workspace A");
    (run, incident)
}

async fn seeded(pool: &PgPool) {
    seed::run(pool, &location()).await.expect("seed");
}

/// Runs a statement that must be refused by a foreign-key constraint.
async fn assert_foreign_key_violation(
    pool: &PgPool,
    what: &str,
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) {
    let error = StoreError::from(query.execute(pool).await.expect_err(what));
    let StoreError::Violation(constraint) = &error else {
        panic!("{what}: not a constraint error: {error}");
    };
    assert_eq!(
        constraint.kind(),
        ConstraintKind::ForeignKey,
        "{what}: {error}"
    );
    if let Constraint::Other { name, .. } = constraint {
        assert!(!name.is_empty(), "{what}: the constraint is named");
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_application_cannot_use_another_workspaces_cluster_or_source(pool: PgPool) {
    seeded(&pool).await;
    let insert = "INSERT INTO applications (id, workspace_id, name, cluster_id, source_id) VALUES ($1, $2, $3, $4, $5)";
    assert_foreign_key_violation(
        &pool,
        "cluster of workspace B in an application of workspace A",
        sqlx::query(insert)
            .bind(Uuid::new_v4())
            .bind(PAYMENTS)
            .bind("cross-cluster")
            .bind(PLATFORM_CLUSTER)
            .bind(PAYMENTS_SOURCE),
    )
    .await;
    assert_foreign_key_violation(
        &pool,
        "source of workspace B in an application of workspace A",
        sqlx::query(insert)
            .bind(Uuid::new_v4())
            .bind(PAYMENTS)
            .bind("cross-source")
            .bind(PAYMENTS_CLUSTER)
            .bind(PLATFORM_SOURCE),
    )
    .await;
    // Moving an existing application's cluster across workspaces is refused the same way.
    assert_foreign_key_violation(
        &pool,
        "update to a foreign cluster",
        sqlx::query("UPDATE applications SET cluster_id = $1 WHERE id = $2")
            .bind(PLATFORM_CLUSTER)
            .bind(PAYMENTS_APP),
    )
    .await;
    // The same-workspace insert works: the constraint is about tenants, not a typo.
    sqlx::query(insert)
        .bind(Uuid::new_v4())
        .bind(PLATFORM)
        .bind("same-workspace")
        .bind(PLATFORM_CLUSTER)
        .bind(PLATFORM_SOURCE)
        .execute(&pool)
        .await
        .expect("same-workspace application");
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_application_rule_belongs_to_its_applications_workspace(pool: PgPool) {
    seeded(&pool).await;
    assert_foreign_key_violation(
        &pool,
        "rule of workspace A on an application of workspace B",
        sqlx::query(
            "INSERT INTO ignore_rules (id, workspace_id, application_id, name, match_expression, reason)
             VALUES ($1, $2, $3, 'cross', 'spec.replicas', 'test')",
        )
        .bind(Uuid::new_v4())
        .bind(PAYMENTS)
        .bind(PLATFORM_APP),
    )
    .await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn runs_incidents_findings_and_suppressions_stay_in_their_workspace(pool: PgPool) {
    seeded(&pool).await;
    let (payments_run, payments_incident) = run_and_incident_of_payments(&pool).await;
    assert_foreign_key_violation(
        &pool,
        "run of workspace B for an application of workspace A",
        sqlx::query(
            "INSERT INTO analysis_runs (id, workspace_id, application_id) VALUES ($1, $2, $3)",
        )
        .bind(Uuid::new_v4())
        .bind(PLATFORM)
        .bind(PAYMENTS_APP),
    )
    .await;
    assert_foreign_key_violation(
        &pool,
        "incident of workspace B for an application of workspace A",
        sqlx::query(
            "INSERT INTO incidents (id, workspace_id, application_id, fingerprint, resource_api_version, resource_kind,
                 resource_name, cause, title, severity, recommendation, rationale, first_seen_at, last_seen_at)
             VALUES ($1, $2, $3, 'f', 'v1', 'ConfigMap', 'x', 'unowned', 't', 'low', 'monitor', 'r', now(), now())",
        )
        .bind(Uuid::new_v4())
        .bind(PLATFORM)
        .bind(PAYMENTS_APP),
    )
    .await;
    assert_foreign_key_violation(
        &pool,
        "finding of workspace B on an incident of workspace A",
        sqlx::query(
            "INSERT INTO findings (id, workspace_id, incident_id, ordinal, resource_api_version, resource_kind,
                 resource_name, path, change, observed_at)
             VALUES ($1, $2, $3, 0, 'v1', 'ConfigMap', 'x', 'data.a', 'changed', now())",
        )
        .bind(Uuid::new_v4())
        .bind(PLATFORM)
        .bind(payments_incident),
    )
    .await;
    assert_foreign_key_violation(
        &pool,
        "suppressed finding of workspace B from a run of workspace A",
        sqlx::query(
            "INSERT INTO suppressed_findings (id, workspace_id, application_id, run_id, rule_name, rule_reason, rule_scope,
                 resource_api_version, resource_kind, resource_name, path, change, observed_at)
             VALUES ($1, $2, $3, $4, 'r', 'why', 'workspace', 'v1', 'ConfigMap', 'x', 'data.a', 'changed', now())",
        )
        .bind(Uuid::new_v4())
        .bind(PLATFORM)
        .bind(PLATFORM_APP)
        .bind(payments_run),
    )
    .await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn one_queued_and_one_running_analysis_per_application(pool: PgPool) {
    seeded(&pool).await;
    let insert = "INSERT INTO analysis_runs (id, workspace_id, application_id, status) VALUES ($1, $2, $3, $4)";
    for status in ["queued", "running"] {
        sqlx::query(insert)
            .bind(Uuid::new_v4())
            .bind(PAYMENTS)
            .bind(PAYMENTS_APP)
            .bind(status)
            .execute(&pool)
            .await
            .expect(status);
        let error = StoreError::from(
            sqlx::query(insert)
                .bind(Uuid::new_v4())
                .bind(PAYMENTS)
                .bind(PAYMENTS_APP)
                .bind(status)
                .execute(&pool)
                .await
                .expect_err("a second one"),
        );
        let expected = match status {
            "queued" => Constraint::OneQueuedRun,
            _ => Constraint::OneRunningRun,
        };
        assert!(
            matches!(&error, StoreError::Violation(constraint) if *constraint == expected),
            "{error}"
        );
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_operator_audit_log_is_append_only(pool: PgPool) {
    seeded(&pool).await;
    sqlx::query(
        "INSERT INTO operator_audit_log (workspace_id, actor_user_id, action, target_type, target_id, after, request_id)
         VALUES ($1, $2, 'ignore_rule.create', 'ignore_rule', $3, '{\"name\": \"x\"}', 'req-1')",
    )
    .bind(PAYMENTS)
    .bind(seed::DEMO_USER_ID)
    .bind(Uuid::new_v4())
    .execute(&pool)
    .await
    .expect("append");
    for statement in [
        "UPDATE operator_audit_log SET action = 'forged'",
        "UPDATE operator_audit_log SET after = '{}'",
        "DELETE FROM operator_audit_log",
    ] {
        let error = sqlx::query(statement)
            .execute(&pool)
            .await
            .expect_err(statement);
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
    // Deleting a workspace still works: its log rows keep everything but the reference.
    sqlx::query("DELETE FROM workspaces WHERE id = $1")
        .bind(PAYMENTS)
        .execute(&pool)
        .await
        .expect("delete workspace");
    let (count, orphaned): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE workspace_id IS NULL) FROM operator_audit_log",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!((count, orphaned), (1, 1));
}

/// A digest of every row of every table, to prove that a second seed changes nothing.
async fn database_digest(pool: &PgPool) -> String {
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'
          ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    let mut digest = String::new();
    for (table,) in tables {
        let sql = format!(
            "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
        );
        let (row,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .expect("digest");
        digest.push_str(&format!("{table}={row}\n"));
    }
    digest
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn seeding_twice_changes_nothing(pool: PgPool) {
    let first = seed::run(&pool, &location()).await.expect("first seed");
    // 2 workspaces, 5 users, 1 identity, 6 memberships, 4 clusters, 5 sources,
    // 5 applications and 5 ignore rules.
    assert_eq!(first.rows_inserted, 33, "{first}");
    let before = database_digest(&pool).await;
    let second = seed::run(&pool, &location()).await.expect("second seed");
    assert_eq!(
        (second.rows_inserted, second.rows_updated),
        (0, 0),
        "{second}"
    );
    assert_eq!(database_digest(&pool).await, before);
    // A checkout moved elsewhere updates only the example's locations.
    let moved = ExampleLocation {
        examples_dir: String::from("/elsewhere/examples"),
        repos_dir: String::from("/elsewhere/repos"),
    };
    let third = seed::run(&pool, &moved).await.expect("third seed");
    let locations = seed::EXAMPLE_CLUSTERS.len() + seed::EXAMPLE_APPLICATIONS.len();
    assert_eq!(
        (third.rows_inserted, third.rows_updated),
        (0, locations as u64),
        "{third}"
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_seed_covers_every_role_and_both_rule_scopes_and_writes_no_results(pool: PgPool) {
    seeded(&pool).await;
    let roles: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT role FROM workspace_memberships ORDER BY role")
            .fetch_all(&pool)
            .await
            .expect("roles");
    assert_eq!(
        roles,
        vec![
            (String::from("admin"),),
            (String::from("editor"),),
            (String::from("viewer"),)
        ]
    );
    let demo_admin_of: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT workspace_id FROM workspace_memberships WHERE user_id = $1 AND role = 'admin' ORDER BY workspace_id",
    )
    .bind(seed::DEMO_USER_ID)
    .fetch_all(&pool)
    .await
    .expect("memberships");
    assert_eq!(demo_admin_of, vec![(PAYMENTS,), (PLATFORM,)]);
    let (app_rules, workspace_rules): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE application_id IS NOT NULL), count(*) FILTER (WHERE application_id IS NULL)
           FROM ignore_rules",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert!(app_rules >= 2 && workspace_rules >= 2);
    // The seed writes no analysis results: every run, incident, finding, suppression and
    // timeline event comes from a real analysis by the worker.
    let results: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM analysis_runs), (SELECT count(*) FROM incidents),
                (SELECT count(*) FROM findings), (SELECT count(*) FROM suppressed_findings),
                (SELECT count(*) FROM incident_timeline_events)",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!(
        results,
        (0, 0, 0, 0, 0),
        "runs, incidents, findings, suppressions, events"
    );
}

/// The constraint a statement breaks, as the store names it.
async fn violated(pool: &PgPool, sql: &'static str, binds: &[&str]) -> Constraint {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = match Uuid::parse_str(bind) {
            Ok(id) => query.bind(id),
            Err(_) => query.bind(bind.to_string()),
        };
    }
    match StoreError::from(query.execute(pool).await.expect_err(sql)) {
        StoreError::Violation(constraint) => constraint,
        other => panic!("{sql}: not a constraint error: {other}"),
    }
}

/// Each constraint callers answer differently is recognised by the name the migrations
/// give it, so renaming one in a migration fails here rather than turning a 409 into a 500.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn constraint_violations_name_the_rule_they_break(pool: PgPool) {
    seeded(&pool).await;
    let (workspace, cluster, source, app) = (
        PAYMENTS.to_string(),
        PAYMENTS_CLUSTER.to_string(),
        PAYMENTS_SOURCE.to_string(),
        PAYMENTS_APP.to_string(),
    );
    let cluster_name: (String,) = sqlx::query_as("SELECT name FROM clusters WHERE id = $1")
        .bind(PAYMENTS_CLUSTER)
        .fetch_one(&pool)
        .await
        .expect("cluster");
    let source_name: (String,) =
        sqlx::query_as("SELECT name FROM source_definitions WHERE id = $1")
            .bind(PAYMENTS_SOURCE)
            .fetch_one(&pool)
            .await
            .expect("source");
    let app_name: (String,) = sqlx::query_as("SELECT name FROM applications WHERE id = $1")
        .bind(PAYMENTS_APP)
        .fetch_one(&pool)
        .await
        .expect("application");
    let new_id = || Uuid::new_v4().to_string();
    let cases = [
        (
            "INSERT INTO clusters (id, workspace_id, name, live_source) VALUES ($1, $2, $3, 'kubectl')",
            vec![new_id(), workspace.clone(), cluster_name.0.clone()],
            Constraint::ClusterName,
        ),
        (
            "INSERT INTO source_definitions (id, workspace_id, name, repo_url) VALUES ($1, $2, $3, 'https://x/y.git')",
            vec![new_id(), workspace.clone(), source_name.0.clone()],
            Constraint::SourceName,
        ),
        (
            "INSERT INTO applications (id, workspace_id, name, cluster_id, source_id) VALUES ($1, $2, $3, $4, $5)",
            vec![
                new_id(),
                workspace.clone(),
                app_name.0.clone(),
                cluster.clone(),
                source.clone(),
            ],
            Constraint::ApplicationName,
        ),
        (
            "INSERT INTO applications (id, workspace_id, name, cluster_id, source_id) VALUES ($1, $2, 'x', $3, $4)",
            vec![
                new_id(),
                workspace.clone(),
                PLATFORM_CLUSTER.to_string(),
                source.clone(),
            ],
            Constraint::ApplicationCluster,
        ),
        (
            "INSERT INTO applications (id, workspace_id, name, cluster_id, source_id) VALUES ($1, $2, 'x', $3, $4)",
            vec![
                new_id(),
                workspace.clone(),
                cluster.clone(),
                PLATFORM_SOURCE.to_string(),
            ],
            Constraint::ApplicationSource,
        ),
    ];
    for (sql, binds, expected) in cases {
        let binds: Vec<&str> = binds.iter().map(String::as_str).collect();
        assert_eq!(violated(&pool, sql, &binds).await, expected, "{sql}");
    }
    for (application, expected) in [
        (Some(app.as_str()), Constraint::ApplicationRuleName),
        (None, Constraint::WorkspaceRuleName),
    ] {
        let insert = "INSERT INTO ignore_rules (id, workspace_id, application_id, name, match_expression, reason)
                      VALUES ($1, $2, $3, 'same', 'spec.replicas', 'r')";
        let run = |id: Uuid| {
            sqlx::query(insert)
                .bind(id)
                .bind(PAYMENTS)
                .bind(application.map(|a| Uuid::parse_str(a).expect("uuid")))
        };
        run(Uuid::new_v4())
            .execute(&pool)
            .await
            .expect("first rule");
        let error = StoreError::from(
            run(Uuid::new_v4())
                .execute(&pool)
                .await
                .expect_err("a second rule of the same name"),
        );
        assert!(
            matches!(&error, StoreError::Violation(constraint) if *constraint == expected),
            "{error}"
        );
    }
}

/// Regression (fuzzer): a rule created while its application was being deleted broke
/// `ignore_rules_workspace_id_application_id_fkey`, which the server only knew as "some
/// foreign key". Every foreign key of a table the API writes is named by the store, so the
/// server answers what is gone (404 application, workspace) instead of a generic refusal,
/// and a new foreign key added by a migration fails here until it is named too.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn every_foreign_key_an_api_write_can_break_is_named(pool: PgPool) {
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT conrelid::regclass::text, conname::text FROM pg_constraint
          WHERE contype = 'f' AND conrelid::regclass::text IN
                ('clusters', 'source_definitions', 'applications', 'analysis_runs',
                 'ignore_rules', 'operator_audit_log')
          ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .expect("catalogue");
    assert!(keys.len() >= 12, "{keys:?}");
    for (table, name) in keys {
        let constraint = Constraint::named(ConstraintKind::ForeignKey, &name);
        assert!(
            !matches!(constraint, Constraint::Other { .. }),
            "{table}: foreign key {name} is not named by Constraint::named"
        );
        assert_eq!(constraint.kind(), ConstraintKind::ForeignKey, "{name}");
    }
}

/// The store function a handler calls after authorizing, given an application deleted
/// in between: the typed constraint says the application is gone.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_rule_for_a_deleted_application_reports_the_application_missing(pool: PgPool) {
    seeded(&pool).await;
    sqlx::query("DELETE FROM applications WHERE id = $1")
        .bind(PAYMENTS_APP)
        .execute(&pool)
        .await
        .expect("delete");
    let error = statesight_store::rules::create_application_rule(
        &pool,
        &statesight_store::audit::Actor::system("test"),
        PAYMENTS,
        PAYMENTS_APP,
        &statesight_store::rules::RuleValues {
            name: String::from("r"),
            match_expression: String::from("spec.replicas"),
            resource_ref: None,
            managed_by: None,
            reason: String::from("because"),
            enabled: true,
        },
    )
    .await
    .expect_err("the application is gone");
    assert!(
        matches!(error, StoreError::Violation(Constraint::MissingApplication)),
        "{error}"
    );
}
