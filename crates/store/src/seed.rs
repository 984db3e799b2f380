//! Demo seed data: two workspaces, users with every role, clusters, sources, illustrative
//! applications carrying prebuilt incidents (with findings, evidence, timelines,
//! suppressions and ignore rules), and the runnable example application, whose incidents
//! come from real analysis, never from here.
//!
//! Every row has a fixed id and is inserted with `ON CONFLICT DO NOTHING`, so seeding twice
//! changes nothing. Only the example's repository URL and snapshot directory follow the
//! checkout they were seeded from.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::Result;

/// The demo user: admin of every seeded workspace, signed in by demo mode.
pub const DEMO_USER_ID: Uuid = seed_id(0x201);
pub const PAYMENTS_WORKSPACE_ID: Uuid = seed_id(0x101);
pub const PLATFORM_WORKSPACE_ID: Uuid = seed_id(0x102);
/// The runnable example application (analysed for real by the worker).
pub const LEDGER_APPLICATION_ID: Uuid = seed_id(0x501);

/// The identity demo mode resolves to (see the server's auth module).
pub const DEMO_ISSUER: &str = "urn:statesight:demo";
pub const DEMO_SUBJECT: &str = "demo";

const fn seed_id(n: u128) -> Uuid {
    Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000000 | n)
}

/// Where the runnable example lives on this machine.
pub struct ExampleLocation {
    pub ledger_repo_url: String,
    pub ledger_snapshot_dir: String,
}

#[derive(Debug, Default)]
pub struct SeedSummary {
    pub rows_inserted: u64,
    pub rows_updated: u64,
}

impl std::fmt::Display for SeedSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed applied: {} rows inserted, {} rows updated",
            self.rows_inserted, self.rows_updated
        )
    }
}

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

pub async fn run(pool: &PgPool, example: &ExampleLocation) -> Result<SeedSummary> {
    let mut tx = pool.begin().await?;
    let mut summary = SeedSummary::default();
    identities(&mut tx, &mut summary).await?;
    onboarding(&mut tx, example, &mut summary).await?;
    illustrative_history(&mut tx, &mut summary).await?;
    tx.commit().await?;
    Ok(summary)
}

async fn identities(tx: &mut PgConnection, summary: &mut SeedSummary) -> Result<()> {
    for (id, name) in [
        (PAYMENTS_WORKSPACE_ID, "acme-payments"),
        (PLATFORM_WORKSPACE_ID, "acme-platform"),
    ] {
        summary.rows_inserted += sqlx::query(
            "INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(at(1, 9, 0))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    let users = [
        (DEMO_USER_ID, "demo@statesight.local", "Demo Operator"),
        (seed_id(0x202), "vera.viewer@acme.example", "Vera Viewer"),
        (seed_id(0x203), "ed.editor@acme.example", "Ed Editor"),
        (seed_id(0x204), "ada.admin@acme.example", "Ada Admin"),
        (
            seed_id(0x205),
            "nora.outsider@acme.example",
            "Nora Outsider",
        ),
    ];
    for (id, email, name) in users {
        summary.rows_inserted += sqlx::query(
            "INSERT INTO users (id, email, display_name, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(email)
        .bind(name)
        .bind(at(1, 9, 0))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    summary.rows_inserted += sqlx::query(
        "INSERT INTO user_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (issuer, subject) DO NOTHING",
    )
    .bind(DEMO_ISSUER)
    .bind(DEMO_SUBJECT)
    .bind(DEMO_USER_ID)
    .bind(at(1, 9, 0))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let memberships = [
        (PAYMENTS_WORKSPACE_ID, DEMO_USER_ID, "admin"),
        (PLATFORM_WORKSPACE_ID, DEMO_USER_ID, "admin"),
        (PAYMENTS_WORKSPACE_ID, seed_id(0x202), "viewer"),
        (PAYMENTS_WORKSPACE_ID, seed_id(0x203), "editor"),
        (PAYMENTS_WORKSPACE_ID, seed_id(0x204), "admin"),
        (PLATFORM_WORKSPACE_ID, seed_id(0x202), "editor"),
    ];
    for (workspace, user, role) in memberships {
        summary.rows_inserted += sqlx::query(
            "INSERT INTO workspace_memberships (workspace_id, user_id, role, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, user_id) DO NOTHING",
        )
        .bind(workspace)
        .bind(user)
        .bind(role)
        .bind(at(1, 9, 0))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(())
}

struct SeedCluster {
    id: Uuid,
    workspace: Uuid,
    name: &'static str,
    description: &'static str,
    live_source: &'static str,
    kubeconfig_path: Option<&'static str>,
    context: Option<&'static str>,
}

struct SeedSource {
    id: Uuid,
    workspace: Uuid,
    name: &'static str,
    repo_url: &'static str,
    git_ref: &'static str,
    path: &'static str,
}

struct SeedApplication {
    id: Uuid,
    workspace: Uuid,
    name: &'static str,
    description: &'static str,
    cluster: Uuid,
    source: Uuid,
    namespace: &'static str,
}

const PROD_CLUSTER: Uuid = seed_id(0x301);
const STAGING_CLUSTER: Uuid = seed_id(0x302);
const PLATFORM_CLUSTER: Uuid = seed_id(0x303);
const LEDGER_SOURCE: Uuid = seed_id(0x401);
const CHECKOUT_SOURCE: Uuid = seed_id(0x402);
const BILLING_SOURCE: Uuid = seed_id(0x403);
const INGRESS_SOURCE: Uuid = seed_id(0x404);
const CHECKOUT_APP: Uuid = seed_id(0x502);
const BILLING_APP: Uuid = seed_id(0x503);
const INGRESS_APP: Uuid = seed_id(0x504);

async fn onboarding(
    tx: &mut PgConnection,
    example: &ExampleLocation,
    summary: &mut SeedSummary,
) -> Result<()> {
    // The runnable example's cluster is a captured snapshot; its directory follows the
    // checkout the seed ran from.
    summary.rows_inserted += sqlx::query(
        "INSERT INTO clusters (id, workspace_id, name, description, live_source, snapshot_dir, created_at, updated_at)
         VALUES ($1, $2, 'prod-eu-1', 'Production EU (captured snapshot of the ledger namespace)', 'snapshot', $3, $4, $4)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(PROD_CLUSTER)
    .bind(PAYMENTS_WORKSPACE_ID)
    .bind(&example.ledger_snapshot_dir)
    .bind(at(1, 9, 5))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    summary.rows_updated += sqlx::query(
        "UPDATE clusters SET snapshot_dir = $2, updated_at = now()
          WHERE id = $1 AND snapshot_dir IS DISTINCT FROM $2",
    )
    .bind(PROD_CLUSTER)
    .bind(&example.ledger_snapshot_dir)
    .execute(&mut *tx)
    .await?
    .rows_affected();

    let clusters = [
        SeedCluster {
            id: STAGING_CLUSTER,
            workspace: PAYMENTS_WORKSPACE_ID,
            name: "staging-eu-1",
            description: "Staging EU (illustrative: no cluster is reachable from the demo)",
            live_source: "kube-api",
            kubeconfig_path: Some("~/.kube/config"),
            context: Some("staging-eu-1"),
        },
        SeedCluster {
            id: PLATFORM_CLUSTER,
            workspace: PLATFORM_WORKSPACE_ID,
            name: "platform-us-1",
            description: "Shared platform cluster (illustrative)",
            live_source: "kubectl",
            kubeconfig_path: None,
            context: Some("platform-us-1"),
        },
    ];
    for cluster in clusters {
        summary.rows_inserted += sqlx::query(
            "INSERT INTO clusters (id, workspace_id, name, description, live_source, kubeconfig_path, kube_context, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(cluster.id)
        .bind(cluster.workspace)
        .bind(cluster.name)
        .bind(cluster.description)
        .bind(cluster.live_source)
        .bind(cluster.kubeconfig_path)
        .bind(cluster.context)
        .bind(at(1, 9, 5))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    summary.rows_inserted += sqlx::query(
        "INSERT INTO source_definitions (id, workspace_id, name, repo_url, git_ref, path, created_at, updated_at)
         VALUES ($1, $2, 'ledger-deploy', $3, 'main', 'deploy', $4, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(LEDGER_SOURCE)
    .bind(PAYMENTS_WORKSPACE_ID)
    .bind(&example.ledger_repo_url)
    .bind(at(1, 9, 10))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    summary.rows_updated += sqlx::query(
        "UPDATE source_definitions SET repo_url = $2, updated_at = now()
          WHERE id = $1 AND repo_url IS DISTINCT FROM $2",
    )
    .bind(LEDGER_SOURCE)
    .bind(&example.ledger_repo_url)
    .execute(&mut *tx)
    .await?
    .rows_affected();

    let sources = [
        SeedSource {
            id: CHECKOUT_SOURCE,
            workspace: PAYMENTS_WORKSPACE_ID,
            name: "checkout-deploy",
            repo_url: "https://git.acme.example/payments/checkout-deploy.git",
            git_ref: "main",
            path: "k8s/staging",
        },
        SeedSource {
            id: BILLING_SOURCE,
            workspace: PAYMENTS_WORKSPACE_ID,
            name: "billing-deploy",
            repo_url: "https://git.acme.example/payments/billing-deploy.git",
            git_ref: "release",
            path: "manifests",
        },
        SeedSource {
            id: INGRESS_SOURCE,
            workspace: PLATFORM_WORKSPACE_ID,
            name: "platform-ingress",
            repo_url: "https://git.acme.example/platform/ingress.git",
            git_ref: "main",
            path: "clusters/platform-us-1/ingress-nginx",
        },
    ];
    for source in sources {
        summary.rows_inserted += sqlx::query(
            "INSERT INTO source_definitions (id, workspace_id, name, repo_url, git_ref, path, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(source.id)
        .bind(source.workspace)
        .bind(source.name)
        .bind(source.repo_url)
        .bind(source.git_ref)
        .bind(source.path)
        .bind(at(1, 9, 10))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    let applications = [
        SeedApplication {
            id: LEDGER_APPLICATION_ID,
            workspace: PAYMENTS_WORKSPACE_ID,
            name: "ledger",
            description: "Runnable example: a real Git repository and a captured cluster snapshot",
            cluster: PROD_CLUSTER,
            source: LEDGER_SOURCE,
            namespace: "payments",
        },
        SeedApplication {
            id: CHECKOUT_APP,
            workspace: PAYMENTS_WORKSPACE_ID,
            name: "checkout-api",
            description: "Illustrative: checkout service in staging",
            cluster: STAGING_CLUSTER,
            source: CHECKOUT_SOURCE,
            namespace: "checkout",
        },
        SeedApplication {
            id: BILLING_APP,
            workspace: PAYMENTS_WORKSPACE_ID,
            name: "billing-worker",
            description: "Illustrative: billing batch workers",
            cluster: STAGING_CLUSTER,
            source: BILLING_SOURCE,
            namespace: "billing",
        },
        SeedApplication {
            id: INGRESS_APP,
            workspace: PLATFORM_WORKSPACE_ID,
            name: "ingress-nginx",
            description: "Illustrative: shared ingress controller",
            cluster: PLATFORM_CLUSTER,
            source: INGRESS_SOURCE,
            namespace: "ingress-nginx",
        },
    ];
    for application in applications {
        summary.rows_inserted += sqlx::query(
            "INSERT INTO applications (id, workspace_id, name, description, cluster_id, source_id, default_namespace, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(application.id)
        .bind(application.workspace)
        .bind(application.name)
        .bind(application.description)
        .bind(application.cluster)
        .bind(application.source)
        .bind(application.namespace)
        .bind(at(1, 9, 15))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(())
}

struct SeedRun {
    id: Uuid,
    workspace: Uuid,
    application: Uuid,
    cluster: Uuid,
    cluster_name: &'static str,
    method: &'static str,
    repo_url: &'static str,
    git_ref: &'static str,
    path: &'static str,
    commit: &'static str,
    committed_at: DateTime<Utc>,
    at: DateTime<Utc>,
    findings: i32,
    suppressed: i32,
    incidents: i32,
}

struct SeedOwner {
    manager: &'static str,
    operation: &'static str,
    subresource: Option<&'static str>,
    time: DateTime<Utc>,
}

struct SeedFinding {
    path: &'static str,
    change: &'static str,
    desired: Value,
    live: Value,
    owners: Vec<SeedOwner>,
    file: &'static str,
}

struct SeedResource {
    api_version: &'static str,
    group: &'static str,
    kind: &'static str,
    namespace: &'static str,
    name: &'static str,
}

/// (occurred at, kind, summary, run, details) of one timeline event.
type TimelineEvent = (DateTime<Utc>, &'static str, String, Option<Uuid>, Value);

struct SeedIncident {
    id: Uuid,
    run: usize,
    first_run: usize,
    resource: SeedResource,
    cause: &'static str,
    title: &'static str,
    severity: &'static str,
    recommendation: &'static str,
    rationale: &'static str,
    resolved_by_run: Option<usize>,
    findings: Vec<SeedFinding>,
}

fn owners_json(owners: &[SeedOwner]) -> Value {
    Value::Array(
        owners
            .iter()
            .map(|owner| {
                json!({
                    "manager": owner.manager,
                    "operation": owner.operation,
                    "subresource": owner.subresource,
                    "time": owner.time,
                })
            })
            .collect(),
    )
}

fn evidence_json(run: &SeedRun, finding: &SeedFinding) -> Value {
    let ownership = if finding.owners.is_empty() {
        json!({ "owners": [], "note": "no managedFields entry owns this path" })
    } else {
        json!({
            "owners": owners_json(&finding.owners),
            "note": "managedFields ownership is evidence of who last wrote or asserted the field, not proof of causation",
        })
    };
    json!({
        "desired": {
            "repository": run.repo_url,
            "ref": run.git_ref,
            "path": format!("{}/{}", run.path, finding.file),
            "revision": run.commit,
        },
        "live": {
            "method": run.method,
            "cluster": run.cluster_name,
            "observed_at": run.at,
            "trusted": true,
        },
        "ownership": ownership,
        "attribution": {
            "grade": "not-attributed",
            "reason": "no Kubernetes audit events were ingested for this cluster",
        },
    })
}

fn seed_runs() -> Vec<SeedRun> {
    let checkout = |n: u128,
                    commit: &'static str,
                    committed: DateTime<Utc>,
                    when: DateTime<Utc>,
                    counts: (i32, i32, i32)| SeedRun {
        id: seed_id(n),
        workspace: PAYMENTS_WORKSPACE_ID,
        application: CHECKOUT_APP,
        cluster: STAGING_CLUSTER,
        cluster_name: "staging-eu-1",
        method: "kube-api",
        repo_url: "https://git.acme.example/payments/checkout-deploy.git",
        git_ref: "main",
        path: "k8s/staging",
        commit,
        committed_at: committed,
        at: when,
        findings: counts.0,
        suppressed: counts.1,
        incidents: counts.2,
    };
    let billing = |n: u128,
                   commit: &'static str,
                   committed: DateTime<Utc>,
                   when: DateTime<Utc>,
                   counts: (i32, i32, i32)| SeedRun {
        id: seed_id(n),
        workspace: PAYMENTS_WORKSPACE_ID,
        application: BILLING_APP,
        cluster: STAGING_CLUSTER,
        cluster_name: "staging-eu-1",
        method: "kube-api",
        repo_url: "https://git.acme.example/payments/billing-deploy.git",
        git_ref: "release",
        path: "manifests",
        commit,
        committed_at: committed,
        at: when,
        findings: counts.0,
        suppressed: counts.1,
        incidents: counts.2,
    };
    vec![
        // 0, 1: checkout-api, first and latest observation.
        checkout(
            0x601,
            "3f9c2b7e1a4d5c6b8e9f0a1b2c3d4e5f60718293",
            at(17, 8, 30),
            at(18, 10, 0),
            (4, 1, 3),
        ),
        checkout(
            0x602,
            "3f9c2b7e1a4d5c6b8e9f0a1b2c3d4e5f60718293",
            at(17, 8, 30),
            at(21, 10, 0),
            (5, 1, 4),
        ),
        // 2, 3: billing-worker.
        billing(
            0x603,
            "a17e4c90b2d35f6e7a8b9c0d1e2f3a4b5c6d7e8f",
            at(15, 16, 45),
            at(16, 11, 0),
            (2, 0, 2),
        ),
        billing(
            0x604,
            "a17e4c90b2d35f6e7a8b9c0d1e2f3a4b5c6d7e8f",
            at(15, 16, 45),
            at(21, 11, 0),
            (1, 1, 1),
        ),
        // 4: ingress-nginx on the platform workspace.
        SeedRun {
            id: seed_id(0x605),
            workspace: PLATFORM_WORKSPACE_ID,
            application: INGRESS_APP,
            cluster: PLATFORM_CLUSTER,
            cluster_name: "platform-us-1",
            method: "kubectl",
            repo_url: "https://git.acme.example/platform/ingress.git",
            git_ref: "main",
            path: "clusters/platform-us-1/ingress-nginx",
            commit: "c0ffee5a1d2e3f405162738495a6b7c8d9e0f1a2",
            committed_at: at(19, 13, 5),
            at: at(20, 7, 45),
            findings: 3,
            suppressed: 0,
            incidents: 2,
        },
    ]
}

fn seed_incidents() -> Vec<SeedIncident> {
    let deployment = |namespace, name| SeedResource {
        api_version: "apps/v1",
        group: "apps",
        kind: "Deployment",
        namespace,
        name,
    };
    vec![
        SeedIncident {
            id: seed_id(0x701),
            run: 1,
            first_run: 0,
            resource: deployment("checkout", "checkout-api"),
            cause: "kubectl-edit",
            title: "Deployment checkout/checkout-api: 2 fields changed by kubectl-edit",
            severity: "high",
            recommendation: "investigate",
            rationale: "The container image and an env value differ from Git and managedFields show kubectl-edit (a human tool) as their owner.",
            resolved_by_run: None,
            findings: vec![
                SeedFinding {
                    path: "spec.template.spec.containers[name=checkout-api].image",
                    change: "changed",
                    desired: json!("registry.acme.example/checkout-api:1.42.0"),
                    live: json!("registry.acme.example/checkout-api:1.42.0-hotfix2"),
                    owners: vec![SeedOwner {
                        manager: "kubectl-edit",
                        operation: "Update",
                        subresource: None,
                        time: at(18, 2, 17),
                    }],
                    file: "deployment.yaml",
                },
                SeedFinding {
                    path: "spec.template.spec.containers[name=checkout-api].env[name=PAYMENT_TIMEOUT_MS].value",
                    change: "changed",
                    desired: json!("3000"),
                    live: json!("12000"),
                    owners: vec![SeedOwner {
                        manager: "kubectl-edit",
                        operation: "Update",
                        subresource: None,
                        time: at(18, 2, 17),
                    }],
                    file: "deployment.yaml",
                },
            ],
        },
        SeedIncident {
            id: seed_id(0x702),
            run: 1,
            first_run: 1,
            resource: SeedResource {
                api_version: "v1",
                group: "",
                kind: "ConfigMap",
                namespace: "checkout",
                name: "checkout-flags",
            },
            cause: "missing",
            title: "ConfigMap checkout/checkout-flags: missing from the cluster",
            severity: "high",
            recommendation: "reconcile",
            rationale: "Git declares this ConfigMap but the cluster does not have it; the workload reading it runs without its flags.",
            resolved_by_run: None,
            findings: vec![SeedFinding {
                path: "",
                change: "missing_resource",
                desired: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "checkout-flags", "namespace": "checkout"}}),
                live: Value::Null,
                owners: vec![],
                file: "flags.yaml",
            }],
        },
        SeedIncident {
            id: seed_id(0x703),
            run: 1,
            first_run: 0,
            resource: SeedResource {
                api_version: "v1",
                group: "",
                kind: "Service",
                namespace: "checkout",
                name: "checkout-api",
            },
            cause: "kubectl-annotate",
            title: "Service checkout/checkout-api: 1 field changed by kubectl-annotate",
            severity: "low",
            recommendation: "monitor",
            rationale: "Only an annotation differs from Git, owned by kubectl-annotate; it does not change how the Service routes traffic.",
            resolved_by_run: None,
            findings: vec![SeedFinding {
                path: "metadata.annotations.prometheus.io/scrape",
                change: "added_in_live",
                desired: Value::Null,
                live: json!("true"),
                owners: vec![SeedOwner {
                    manager: "kubectl-annotate",
                    operation: "Update",
                    subresource: None,
                    time: at(16, 14, 2),
                }],
                file: "service.yaml",
            }],
        },
        SeedIncident {
            id: seed_id(0x704),
            run: 1,
            first_run: 1,
            resource: deployment("checkout", "checkout-api"),
            cause: "unowned",
            title: "Deployment checkout/checkout-api: 1 field differs with no recorded owner",
            severity: "medium",
            recommendation: "investigate",
            rationale: "A declared field differs from Git and no managedFields entry owns it, so nothing observed explains the change.",
            resolved_by_run: None,
            findings: vec![SeedFinding {
                path: "spec.template.spec.containers[name=checkout-api].resources.requests.cpu",
                change: "changed",
                desired: json!("500m"),
                live: json!("250m"),
                owners: vec![],
                file: "deployment.yaml",
            }],
        },
        SeedIncident {
            id: seed_id(0x705),
            run: 3,
            first_run: 2,
            resource: deployment("billing", "billing-worker"),
            cause: "kubectl-patch",
            title: "Deployment billing/billing-worker: 1 field changed by kubectl-patch",
            severity: "critical",
            recommendation: "investigate",
            rationale: "A security-sensitive field (securityContext.privileged) was set out of band; managedFields name kubectl-patch as its owner.",
            resolved_by_run: None,
            findings: vec![SeedFinding {
                path: "spec.template.spec.containers[name=worker].securityContext.privileged",
                change: "changed",
                desired: json!(false),
                live: json!(true),
                owners: vec![SeedOwner {
                    manager: "kubectl-patch",
                    operation: "Update",
                    subresource: None,
                    time: at(16, 3, 41),
                }],
                file: "worker.yaml",
            }],
        },
        SeedIncident {
            id: seed_id(0x706),
            run: 2,
            first_run: 2,
            resource: deployment("billing", "billing-worker"),
            cause: "kubectl-edit",
            title: "Deployment billing/billing-worker: 1 field changed by kubectl-edit",
            severity: "medium",
            recommendation: "investigate",
            rationale: "A memory limit differs from Git and managedFields name kubectl-edit as its owner.",
            resolved_by_run: Some(3),
            findings: vec![SeedFinding {
                path: "spec.template.spec.containers[name=worker].resources.limits.memory",
                change: "changed",
                desired: json!("1Gi"),
                live: json!("3Gi"),
                owners: vec![SeedOwner {
                    manager: "kubectl-edit",
                    operation: "Update",
                    subresource: None,
                    time: at(15, 22, 10),
                }],
                file: "worker.yaml",
            }],
        },
        SeedIncident {
            id: seed_id(0x707),
            run: 4,
            first_run: 4,
            resource: SeedResource {
                api_version: "v1",
                group: "",
                kind: "ConfigMap",
                namespace: "ingress-nginx",
                name: "ingress-nginx-controller",
            },
            cause: "removed_from_git",
            title: "ConfigMap ingress-nginx/ingress-nginx-controller: 1 field removed from Git, still live",
            severity: "medium",
            recommendation: "reconcile",
            rationale: "The key is no longer in Git but the applier (argocd-controller, Apply) still owns it live, so the next sync is expected to remove it.",
            resolved_by_run: None,
            findings: vec![SeedFinding {
                path: "data.use-forwarded-headers",
                change: "added_in_live",
                desired: Value::Null,
                live: json!("true"),
                owners: vec![SeedOwner {
                    manager: "argocd-controller",
                    operation: "Apply",
                    subresource: None,
                    time: at(12, 9, 30),
                }],
                file: "configmap.yaml",
            }],
        },
        SeedIncident {
            id: seed_id(0x708),
            run: 4,
            first_run: 4,
            resource: SeedResource {
                api_version: "rbac.authorization.k8s.io/v1",
                group: "rbac.authorization.k8s.io",
                kind: "ClusterRole",
                namespace: "",
                name: "ingress-nginx",
            },
            cause: "kubectl-client-side-apply",
            title: "ClusterRole ingress-nginx: 2 fields changed by kubectl-client-side-apply",
            severity: "critical",
            recommendation: "investigate",
            rationale: "RBAC rules were widened out of band; managedFields name kubectl-client-side-apply as the owner of the changed rules.",
            resolved_by_run: None,
            findings: vec![
                SeedFinding {
                    path: "rules[2].verbs",
                    change: "changed",
                    desired: json!(["get", "list", "watch"]),
                    live: json!(["get", "list", "watch", "create", "delete"]),
                    owners: vec![SeedOwner {
                        manager: "kubectl-client-side-apply",
                        operation: "Update",
                        subresource: None,
                        time: at(19, 23, 48),
                    }],
                    file: "rbac.yaml",
                },
                SeedFinding {
                    path: "rules[2].resources",
                    change: "changed",
                    desired: json!(["configmaps"]),
                    live: json!(["configmaps", "secrets"]),
                    owners: vec![SeedOwner {
                        manager: "kubectl-client-side-apply",
                        operation: "Update",
                        subresource: None,
                        time: at(19, 23, 48),
                    }],
                    file: "rbac.yaml",
                },
            ],
        },
    ]
}

async fn illustrative_history(tx: &mut PgConnection, summary: &mut SeedSummary) -> Result<()> {
    let runs = seed_runs();
    for run in &runs {
        summary.rows_inserted += sqlx::query(
            "INSERT INTO analysis_runs (id, workspace_id, application_id, status, trigger, resolved_revision,
                 attempts, finding_count, suppressed_count, incident_count, queued_at, started_at, finished_at)
             VALUES ($1, $2, $3, 'succeeded', 'seed', $4, 1, $5, $6, $7, $8, $8 + interval '2 seconds', $8 + interval '9 seconds')
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(run.id)
        .bind(run.workspace)
        .bind(run.application)
        .bind(run.commit)
        .bind(run.findings)
        .bind(run.suppressed)
        .bind(run.incidents)
        .bind(run.at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        summary.rows_inserted += sqlx::query(
            "INSERT INTO desired_provenance (run_id, workspace_id, repo_url, git_ref, path, commit_sha, committed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(run.id)
        .bind(run.workspace)
        .bind(run.repo_url)
        .bind(run.git_ref)
        .bind(run.path)
        .bind(run.commit)
        .bind(run.committed_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        summary.rows_inserted += sqlx::query(
            "INSERT INTO live_provenance (run_id, workspace_id, cluster_id, method, trusted, observed_at, observed_at_source, context, has_managed_fields)
             VALUES ($1, $2, $3, $4, true, $5 + interval '4 seconds', 'collector', $6, true) ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(run.id)
        .bind(run.workspace)
        .bind(run.cluster)
        .bind(run.method)
        .bind(run.at)
        .bind(run.cluster_name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    let mut timeline_id = 0x900_u128;
    let mut finding_id = 0x800_u128;
    for incident in seed_incidents() {
        let last = &runs[incident.run];
        let first = &runs[incident.first_run];
        let resolved = incident.resolved_by_run.map(|index| &runs[index]);
        // A resolved incident was last seen by the run before the one that resolved it.
        let seen_runs: Vec<&SeedRun> = runs
            .iter()
            .filter(|run| {
                run.application == last.application && run.at >= first.at && run.at <= last.at
            })
            .collect();
        let occurrences = i32::try_from(seen_runs.len()).unwrap_or(1);
        summary.rows_inserted += sqlx::query(
            "INSERT INTO incidents (id, workspace_id, application_id, fingerprint, resource_api_version, resource_group,
                 resource_kind, resource_namespace, resource_name, cause, title, severity, recommendation, rationale,
                 status, finding_count, occurrence_count, recurrence_count, first_seen_at, last_seen_at, resolved_at,
                 first_run_id, last_run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 0, $18, $19, $20, $21, $22)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(incident.id)
        .bind(last.workspace)
        .bind(last.application)
        .bind(fingerprint(last.application, &incident.resource, incident.cause))
        .bind(incident.resource.api_version)
        .bind(incident.resource.group)
        .bind(incident.resource.kind)
        .bind(incident.resource.namespace)
        .bind(incident.resource.name)
        .bind(incident.cause)
        .bind(incident.title)
        .bind(incident.severity)
        .bind(incident.recommendation)
        .bind(incident.rationale)
        .bind(if resolved.is_some() { "resolved" } else { "open" })
        .bind(i32::try_from(incident.findings.len()).unwrap_or(0))
        .bind(occurrences)
        .bind(first.at)
        .bind(last.at)
        .bind(resolved.map(|run| run.at))
        .bind(first.id)
        .bind(last.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();

        for (ordinal, finding) in incident.findings.iter().enumerate() {
            for seen in &seen_runs {
                finding_id += 1;
                summary.rows_inserted += sqlx::query(
                    "INSERT INTO findings (id, workspace_id, incident_id, run_id, ordinal, resource_api_version,
                         resource_group, resource_kind, resource_namespace, resource_name, path, change, desired,
                         live, owners, evidence, observed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(seed_id(finding_id))
                .bind(seen.workspace)
                .bind(incident.id)
                .bind(seen.id)
                .bind(i32::try_from(ordinal).unwrap_or(0))
                .bind(incident.resource.api_version)
                .bind(incident.resource.group)
                .bind(incident.resource.kind)
                .bind(incident.resource.namespace)
                .bind(incident.resource.name)
                .bind(finding.path)
                .bind(finding.change)
                .bind(nullable(&finding.desired))
                .bind(nullable(&finding.live))
                .bind(owners_json(&finding.owners))
                .bind(evidence_json(seen, finding))
                .bind(seen.at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
        }

        let mut events: Vec<TimelineEvent> = vec![(
            first.committed_at,
            "git_revision",
            format!("Git revision {} analysed", &first.commit[..12]),
            Some(first.id),
            json!({ "commit": first.commit, "ref": first.git_ref }),
        )];
        let mut owner_times: Vec<(DateTime<Utc>, &str, &str)> = incident
            .findings
            .iter()
            .flat_map(|finding| {
                finding
                    .owners
                    .iter()
                    .map(|owner| (owner.time, owner.manager, owner.operation))
            })
            .collect();
        owner_times.sort();
        owner_times.dedup();
        for (time, manager, operation) in owner_times {
            events.push((
                time,
                "managed_fields_time",
                format!("managedFields: {manager} ({operation}) last wrote its fields"),
                None,
                json!({ "manager": manager, "operation": operation, "source": "managedFields time as recorded by the cluster" }),
            ));
        }
        for (index, seen) in seen_runs.iter().enumerate() {
            let (kind, summary_text) = if index == 0 {
                ("first_seen", String::from("First seen by analysis"))
            } else {
                ("reobserved", String::from("Observed again by analysis"))
            };
            events.push((
                seen.at,
                kind,
                summary_text,
                Some(seen.id),
                json!({ "findings": incident.findings.len() }),
            ));
        }
        if let Some(run) = resolved {
            events.push((
                run.at,
                "resolved",
                String::from("Resolved: the drift is gone"),
                Some(run.id),
                json!({}),
            ));
        }
        for (ordinal, (occurred_at, kind, text, run_id, details)) in events.into_iter().enumerate()
        {
            timeline_id += 1;
            summary.rows_inserted += sqlx::query(
                "INSERT INTO incident_timeline_events (id, workspace_id, incident_id, run_id, occurred_at, kind, summary, details, ordinal)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(seed_id(timeline_id))
            .bind(last.workspace)
            .bind(incident.id)
            .bind(run_id)
            .bind(occurred_at)
            .bind(kind)
            .bind(text)
            .bind(details)
            .bind(i32::try_from(ordinal).unwrap_or(0))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
    }

    ignore_rules_and_suppressions(tx, &runs, summary).await
}

async fn ignore_rules_and_suppressions(
    tx: &mut PgConnection,
    runs: &[SeedRun],
    summary: &mut SeedSummary,
) -> Result<()> {
    struct Rule {
        id: Uuid,
        workspace: Uuid,
        application: Option<Uuid>,
        name: &'static str,
        match_expression: &'static str,
        resource_ref: Option<&'static str>,
        managed_by: Option<&'static str>,
        reason: &'static str,
        enabled: bool,
        created: DateTime<Utc>,
    }
    let rules = [
        Rule {
            id: seed_id(0xa01),
            workspace: PAYMENTS_WORKSPACE_ID,
            application: None,
            name: "istio-sidecar-status",
            match_expression: "metadata.annotations.sidecar.istio.io/status",
            resource_ref: None,
            managed_by: None,
            reason: "Written by the Istio injector on every pod template; never declared in Git.",
            enabled: true,
            created: at(2, 10, 0),
        },
        Rule {
            id: seed_id(0xa02),
            workspace: PAYMENTS_WORKSPACE_ID,
            application: Some(CHECKOUT_APP),
            name: "hpa-owns-replicas",
            match_expression: "spec.replicas",
            resource_ref: Some("apps/Deployment/checkout/checkout-api"),
            managed_by: Some("kube-controller-manager"),
            reason: "The HorizontalPodAutoscaler scales checkout-api; replicas in Git are only the starting point.",
            enabled: true,
            created: at(3, 15, 20),
        },
        Rule {
            id: seed_id(0xa03),
            workspace: PAYMENTS_WORKSPACE_ID,
            application: Some(BILLING_APP),
            name: "vault-agent-annotations",
            match_expression: "spec.template.metadata.annotations.*",
            resource_ref: None,
            managed_by: Some("vault-agent-injector"),
            reason: "Vault's injector annotates pod templates with its status.",
            enabled: true,
            created: at(4, 9, 40),
        },
        Rule {
            id: seed_id(0xa04),
            workspace: PAYMENTS_WORKSPACE_ID,
            application: Some(BILLING_APP),
            name: "legacy-batch-size",
            match_expression: "data.BATCH_SIZE",
            resource_ref: Some("ConfigMap/billing/billing-settings"),
            managed_by: None,
            reason: "Tuned by hand during the October migration; disabled now that Git carries it.",
            enabled: false,
            created: at(5, 17, 5),
        },
        Rule {
            id: seed_id(0xa05),
            workspace: PLATFORM_WORKSPACE_ID,
            application: None,
            name: "cert-manager-ca-bundle",
            match_expression: "webhooks[*].clientConfig.caBundle",
            resource_ref: None,
            managed_by: Some("cert-manager-cainjector"),
            reason: "cert-manager injects CA bundles into webhook configurations.",
            enabled: true,
            created: at(2, 11, 0),
        },
    ];
    for rule in &rules {
        summary.rows_inserted += sqlx::query(
            "INSERT INTO ignore_rules (id, workspace_id, application_id, name, match_expression, resource_ref,
                 managed_by, reason, enabled, created_by, updated_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $11) ON CONFLICT (id) DO NOTHING",
        )
        .bind(rule.id)
        .bind(rule.workspace)
        .bind(rule.application)
        .bind(rule.name)
        .bind(rule.match_expression)
        .bind(rule.resource_ref)
        .bind(rule.managed_by)
        .bind(rule.reason)
        .bind(rule.enabled)
        .bind(DEMO_USER_ID)
        .bind(rule.created)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }

    // (run index, rule, resource, path, desired, live, owner)
    let suppressions = [
        (
            0,
            &rules[1],
            deployment_identity("checkout", "checkout-api"),
            "spec.replicas",
            json!(2),
            json!(6),
            (
                "kube-controller-manager",
                "Update",
                Some("scale"),
                at(17, 19, 2),
            ),
        ),
        (
            1,
            &rules[1],
            deployment_identity("checkout", "checkout-api"),
            "spec.replicas",
            json!(2),
            json!(4),
            (
                "kube-controller-manager",
                "Update",
                Some("scale"),
                at(20, 6, 12),
            ),
        ),
        (
            3,
            &rules[2],
            deployment_identity("billing", "billing-worker"),
            "spec.template.metadata.annotations.vault.hashicorp.com/agent-inject-status",
            Value::Null,
            json!("injected"),
            ("vault-agent-injector", "Update", None, at(16, 3, 40)),
        ),
    ];
    for (index, (run_index, rule, resource, path, desired, live, owner)) in
        suppressions.into_iter().enumerate()
    {
        let run = &runs[run_index];
        let owners = json!([{ "manager": owner.0, "operation": owner.1, "subresource": owner.2, "time": owner.3 }]);
        summary.rows_inserted += sqlx::query(
            "INSERT INTO suppressed_findings (id, workspace_id, application_id, run_id, rule_id, rule_name, rule_reason,
                 rule_scope, resource_api_version, resource_group, resource_kind, resource_namespace, resource_name,
                 path, change, desired, live, owners, observed_at, ordinal)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'apps/v1', 'apps', 'Deployment', $9, $10, $11, $12, $13, $14, $15, $16, 0)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(seed_id(0xb01 + index as u128))
        .bind(run.workspace)
        .bind(run.application)
        .bind(run.id)
        .bind(rule.id)
        .bind(rule.name)
        .bind(rule.reason)
        .bind(if rule.application.is_some() { "application" } else { "workspace" })
        .bind(resource.0)
        .bind(resource.1)
        .bind(path)
        .bind(if desired.is_null() { "added_in_live" } else { "changed" })
        .bind(nullable(&desired))
        .bind(live)
        .bind(owners)
        .bind(run.at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(())
}

fn deployment_identity(
    namespace: &'static str,
    name: &'static str,
) -> (&'static str, &'static str) {
    (namespace, name)
}

fn nullable(value: &Value) -> Option<&Value> {
    if value.is_null() { None } else { Some(value) }
}

/// The engine's incident fingerprint, so seeded incidents have the identity real analyses
/// would give them.
fn fingerprint(application: Uuid, resource: &SeedResource, cause: &str) -> String {
    use statesight_core::Cause;
    let cause = match cause {
        "missing" => Cause::Missing,
        "unowned" => Cause::Unowned,
        "removed_from_git" => Cause::RemovedFromGit,
        manager => Cause::Manager(manager.to_owned()),
    };
    let resource = statesight_core::ResourceId {
        group: resource.group.to_owned(),
        kind: resource.kind.to_owned(),
        namespace: (!resource.namespace.is_empty()).then(|| resource.namespace.to_owned()),
        name: resource.name.to_owned(),
    };
    statesight_core::incident::fingerprint(&application.to_string(), &resource, &cause)
}
