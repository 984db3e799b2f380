//! Demo seed data: two workspaces, users with every role, and the example applications of
//! `examples/` with their clusters (captured snapshots), sources (local Git repositories
//! built from each example's history) and ignore rules.
//!
//! The seed writes no analysis results: every incident, finding, suppression and timeline
//! event of the demo comes from real analyses of these applications by the worker, through
//! the same pipeline and writer as production ([`DEMO_ANALYSES`] lists them in order).
//!
//! Every row has a fixed id and is inserted with `ON CONFLICT DO NOTHING`, so seeding twice
//! changes nothing. Only repository URLs and snapshot directories follow the checkout they
//! were seeded from.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::Result;

/// The demo user: admin of every seeded workspace, signed in by demo mode.
pub const DEMO_USER_ID: Uuid = seed_id(0x201);
pub const PAYMENTS_WORKSPACE_ID: Uuid = seed_id(0x101);
pub const PLATFORM_WORKSPACE_ID: Uuid = seed_id(0x102);
pub const LEDGER_APPLICATION_ID: Uuid = seed_id(0x501);
pub const CHECKOUT_APPLICATION_ID: Uuid = seed_id(0x502);
pub const BILLING_APPLICATION_ID: Uuid = seed_id(0x503);
pub const INGRESS_APPLICATION_ID: Uuid = seed_id(0x504);
pub const HOSTILE_APPLICATION_ID: Uuid = seed_id(0x505);

/// The identity demo mode resolves to (see the server's auth module).
pub const DEMO_ISSUER: &str = "urn:statesight:demo";
pub const DEMO_SUBJECT: &str = "demo";

const fn seed_id(n: u128) -> Uuid {
    Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000000 | n)
}

const PROD_CLUSTER: Uuid = seed_id(0x301);
const STAGING_CLUSTER: Uuid = seed_id(0x302);
const PLATFORM_CLUSTER: Uuid = seed_id(0x303);
const SANDBOX_CLUSTER: Uuid = seed_id(0x304);

/// A cluster whose live state is a snapshot captured under `examples/`.
pub struct ExampleCluster {
    pub id: Uuid,
    pub workspace: Uuid,
    pub name: &'static str,
    pub description: &'static str,
    /// The snapshot directory, relative to the examples directory.
    pub snapshot: &'static str,
}

pub const EXAMPLE_CLUSTERS: &[ExampleCluster] = &[
    ExampleCluster {
        id: PROD_CLUSTER,
        workspace: PAYMENTS_WORKSPACE_ID,
        name: "prod-eu-1",
        description: "Production EU (captured snapshot of the payments namespace)",
        snapshot: "ledger/snapshot",
    },
    ExampleCluster {
        id: STAGING_CLUSTER,
        workspace: PAYMENTS_WORKSPACE_ID,
        name: "staging-eu-1",
        description: "Staging EU (captured snapshot of the checkout and billing namespaces)",
        snapshot: "clusters/staging-eu-1",
    },
    ExampleCluster {
        id: PLATFORM_CLUSTER,
        workspace: PLATFORM_WORKSPACE_ID,
        name: "platform-us-1",
        description: "Shared platform cluster (captured snapshot of ingress-nginx)",
        snapshot: "clusters/platform-us-1",
    },
    ExampleCluster {
        id: SANDBOX_CLUSTER,
        workspace: PLATFORM_WORKSPACE_ID,
        name: "sandbox-1",
        description: "Sandbox whose objects carry hostile strings (captured snapshot)",
        snapshot: "clusters/sandbox-1",
    },
];

/// An example application: its source is the Git repository built from
/// `examples/<name>/history`, its cluster one of [`EXAMPLE_CLUSTERS`].
pub struct ExampleApplication {
    pub id: Uuid,
    pub workspace: Uuid,
    pub name: &'static str,
    pub description: &'static str,
    pub cluster: Uuid,
    pub source_id: Uuid,
    pub source_name: &'static str,
    /// The branch the repository's last commit is on, and the source's ref.
    pub git_ref: &'static str,
    pub source_path: &'static str,
    pub namespace: &'static str,
}

pub const EXAMPLE_APPLICATIONS: &[ExampleApplication] = &[
    ExampleApplication {
        id: LEDGER_APPLICATION_ID,
        workspace: PAYMENTS_WORKSPACE_ID,
        name: "ledger",
        description: "Payments ledger API and settlement worker in production",
        cluster: PROD_CLUSTER,
        source_id: seed_id(0x401),
        source_name: "ledger-deploy",
        git_ref: "main",
        source_path: "deploy",
        namespace: "payments",
    },
    ExampleApplication {
        id: CHECKOUT_APPLICATION_ID,
        workspace: PAYMENTS_WORKSPACE_ID,
        name: "checkout-api",
        description: "Checkout service in staging",
        cluster: STAGING_CLUSTER,
        source_id: seed_id(0x402),
        source_name: "checkout-deploy",
        git_ref: "main",
        source_path: "k8s/staging",
        namespace: "checkout",
    },
    ExampleApplication {
        id: BILLING_APPLICATION_ID,
        workspace: PAYMENTS_WORKSPACE_ID,
        name: "billing-worker",
        description: "Billing batch workers in staging",
        cluster: STAGING_CLUSTER,
        source_id: seed_id(0x403),
        source_name: "billing-deploy",
        git_ref: "release",
        source_path: "manifests",
        namespace: "billing",
    },
    ExampleApplication {
        id: INGRESS_APPLICATION_ID,
        workspace: PLATFORM_WORKSPACE_ID,
        name: "ingress-nginx",
        description: "Shared ingress controller of the platform cluster",
        cluster: PLATFORM_CLUSTER,
        source_id: seed_id(0x404),
        source_name: "platform-ingress",
        git_ref: "main",
        source_path: "clusters/platform-us-1/ingress-nginx",
        namespace: "ingress-nginx",
    },
    ExampleApplication {
        id: HOSTILE_APPLICATION_ID,
        workspace: PLATFORM_WORKSPACE_ID,
        name: "hostile-strings",
        description: "Values with terminal escapes, bidi controls and HTML, to test every renderer",
        cluster: SANDBOX_CLUSTER,
        source_id: seed_id(0x405),
        source_name: "hostile-strings-deploy",
        git_ref: "main",
        source_path: "deploy",
        namespace: "sandbox",
    },
];

/// The analyses the demo runs, in order: (application, revision). A revision is a tag
/// named after a history directory, or `None` for the source's ref. Analysing an older
/// revision first gives incidents a real history (re-observed, resolved when Git caught up).
pub const DEMO_ANALYSES: &[(Uuid, Option<&str>)] = &[
    (LEDGER_APPLICATION_ID, Some("03-release-1.9.0")),
    (LEDGER_APPLICATION_ID, None),
    (CHECKOUT_APPLICATION_ID, Some("01-initial")),
    (CHECKOUT_APPLICATION_ID, None),
    (BILLING_APPLICATION_ID, Some("01-initial")),
    (BILLING_APPLICATION_ID, None),
    (INGRESS_APPLICATION_ID, Some("01-initial")),
    (INGRESS_APPLICATION_ID, None),
    (HOSTILE_APPLICATION_ID, None),
];

/// Where the examples live on this machine.
pub struct ExampleLocation {
    /// The `examples/` directory (absolute).
    pub examples_dir: String,
    /// The directory holding one bare repository per example application (absolute).
    pub repos_dir: String,
}

impl ExampleLocation {
    pub fn repo_url(&self, application: &ExampleApplication) -> String {
        format!("file://{}/{}.git", self.repos_dir, application.name)
    }

    pub fn snapshot_dir(&self, cluster: &ExampleCluster) -> String {
        format!("{}/{}", self.examples_dir, cluster.snapshot)
    }
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

pub async fn run(pool: &PgPool, location: &ExampleLocation) -> Result<SeedSummary> {
    let mut tx = pool.begin().await?;
    let mut summary = SeedSummary::default();
    identities(&mut tx, &mut summary).await?;
    clusters(&mut tx, location, &mut summary).await?;
    applications(&mut tx, location, &mut summary).await?;
    ignore_rules(&mut tx, &mut summary).await?;
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

async fn clusters(
    tx: &mut PgConnection,
    location: &ExampleLocation,
    summary: &mut SeedSummary,
) -> Result<()> {
    for cluster in EXAMPLE_CLUSTERS {
        let snapshot_dir = location.snapshot_dir(cluster);
        summary.rows_inserted += sqlx::query(
            "INSERT INTO clusters (id, workspace_id, name, description, live_source, snapshot_dir, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'snapshot', $5, $6, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(cluster.id)
        .bind(cluster.workspace)
        .bind(cluster.name)
        .bind(cluster.description)
        .bind(&snapshot_dir)
        .bind(at(1, 9, 5))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        summary.rows_updated += sqlx::query(
            "UPDATE clusters SET snapshot_dir = $2, updated_at = now()
              WHERE id = $1 AND snapshot_dir IS DISTINCT FROM $2",
        )
        .bind(cluster.id)
        .bind(&snapshot_dir)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(())
}

async fn applications(
    tx: &mut PgConnection,
    location: &ExampleLocation,
    summary: &mut SeedSummary,
) -> Result<()> {
    for application in EXAMPLE_APPLICATIONS {
        let repo_url = location.repo_url(application);
        summary.rows_inserted += sqlx::query(
            "INSERT INTO source_definitions (id, workspace_id, name, repo_url, git_ref, path, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(application.source_id)
        .bind(application.workspace)
        .bind(application.source_name)
        .bind(&repo_url)
        .bind(application.git_ref)
        .bind(application.source_path)
        .bind(at(1, 9, 10))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        summary.rows_updated += sqlx::query(
            "UPDATE source_definitions SET repo_url = $2, updated_at = now()
              WHERE id = $1 AND repo_url IS DISTINCT FROM $2",
        )
        .bind(application.source_id)
        .bind(&repo_url)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        summary.rows_inserted += sqlx::query(
            "INSERT INTO applications (id, workspace_id, name, description, cluster_id, source_id, default_namespace, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(application.id)
        .bind(application.workspace)
        .bind(application.name)
        .bind(application.description)
        .bind(application.cluster)
        .bind(application.source_id)
        .bind(application.namespace)
        .bind(at(1, 9, 15))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(())
}

async fn ignore_rules(tx: &mut PgConnection, summary: &mut SeedSummary) -> Result<()> {
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
            application: Some(CHECKOUT_APPLICATION_ID),
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
            application: Some(BILLING_APPLICATION_ID),
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
            application: Some(BILLING_APPLICATION_ID),
            name: "legacy-batch-size",
            match_expression: "data.BATCH_SIZE",
            resource_ref: Some("ConfigMap/billing/billing-settings"),
            managed_by: None,
            reason: "Tuned by hand during the November migration; disabled now that Git carries it.",
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
    Ok(())
}
