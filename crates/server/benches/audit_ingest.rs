//! `make bench-audit`: Kubernetes audit-event ingestion under load. A real server (release
//! build, in process, on loopback TCP) on its own database takes 1,000,000 events in
//! `EventList` batches of 100 from concurrent senders, each batch acknowledged only after its
//! commit. The mix: 80 % reads (dropped at the door); of all events 70 % at `Metadata` level
//! and 30 % at `RequestResponse` with 2–8 KB request and response bodies. Prints events/s
//! sustained, the route's p50/p95/p99/max latency, and the table's size per million kept
//! events.
//!
//! Knobs (environment): `BENCH_DATABASE_URL` (default a `statesight_bench_audit` database on
//! the local PostgreSQL, recreated), `AUDIT_BENCH_EVENTS` (1000000),
//! `AUDIT_BENCH_CONNECTIONS` (8), `REDIS_URL`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use statesight_server::auth::Authenticator;
use statesight_server::state::{AppState, PublicAuthConfig};

const BATCH: usize = 100;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift), so every run sends the same mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One event's JSON after its `auditID`, ready to be concatenated into batches: templates are
/// built once, so sending costs a copy, not a serialization.
fn event_tail(rng: &mut Rng, index: u64) -> String {
    let read = rng.below(100) < 80;
    let bodies = rng.below(100) < 30;
    let verb = if read {
        ["get", "list", "watch"][rng.below(3) as usize]
    } else {
        ["update", "patch", "create"][rng.below(3) as usize]
    };
    let object = rng.below(500);
    let (level, bodies_json) = if bodies {
        let size = 2048 + rng.below(6 * 1024) as usize;
        let body = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": format!("app-{object}"), "namespace": "bench",
                          "annotations": {"bench/padding": "x".repeat(size)}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "app", "image": format!("registry.example/app:{index}")}]}}}
        })
        .to_string();
        (
            "RequestResponse",
            format!(r#","requestObject":{body},"responseObject":{body}"#),
        )
    } else {
        ("Metadata", String::new())
    };
    format!(
        r#""kind":"Event","apiVersion":"audit.k8s.io/v1","level":"{level}","stage":"ResponseComplete","requestURI":"/apis/apps/v1/namespaces/bench/deployments/app-{object}?fieldManager=kubectl-edit","verb":"{verb}","user":{{"username":"user-{user}@example.com","groups":["system:authenticated"]}},"sourceIPs":["10.0.{a}.{b}"],"userAgent":"kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46","objectRef":{{"resource":"deployments","namespace":"bench","name":"app-{object}","apiGroup":"apps","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}}{bodies_json},"requestReceivedTimestamp":"2026-11-30T10:00:00.000000Z","stageTimestamp":"2026-11-30T10:00:00.010000Z"}}"#,
        user = rng.below(40),
        a = rng.below(250),
        b = rng.below(250),
    )
}

async fn database(url: &str) -> anyhow::Result<PgPool> {
    use sqlx::migrate::MigrateDatabase;
    if sqlx::Postgres::database_exists(url).await? {
        sqlx::Postgres::drop_database(url).await?;
    }
    sqlx::Postgres::create_database(url).await?;
    let pool = statesight_store::connect(url, 16)?;
    statesight_store::migrate(&pool).await?;
    Ok(pool)
}

/// A cluster to post to, and a token of it.
async fn cluster_and_token(pool: &PgPool) -> anyhow::Result<(uuid::Uuid, String)> {
    let workspace = uuid::Uuid::now_v7();
    let cluster = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO workspaces (id, name) VALUES ($1, 'bench')")
        .bind(workspace)
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO clusters (id, workspace_id, name, live_source, snapshot_dir)
         VALUES ($1, $2, 'bench', 'snapshot', '/nonexistent')",
    )
    .bind(cluster)
    .bind(workspace)
    .execute(pool)
    .await?;
    let token = format!("ssat_bench{}", uuid::Uuid::new_v4().simple());
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    statesight_store::k8s_audit::create_token(
        pool,
        &statesight_store::audit::Actor::system("bench"),
        workspace,
        cluster,
        &digest,
        &token[..12],
    )
    .await?;
    Ok((cluster, token))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = env_or("AUDIT_BENCH_EVENTS", 1_000_000);
    let connections = env_or("AUDIT_BENCH_CONNECTIONS", 8).max(1);
    let url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| {
        String::from("postgres://postgres@127.0.0.1:5432/statesight_bench_audit")
    });
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| String::from("redis://127.0.0.1:6379"));
    let pool = database(&url).await?;
    let (cluster, token) = cluster_and_token(&pool).await?;
    let state = AppState::new(
        pool.clone(),
        statesight_store::redis_conn::client(&redis_url)?,
        Authenticator::Demo,
        PublicAuthConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, statesight_server::app(state)).await });

    // 2,000 event templates, cycled; each sent event gets a fresh auditID.
    let mut rng = Rng(0x5eed_a0d1_7e57_0001);
    let templates: Arc<Vec<String>> =
        Arc::new((0..2000).map(|i| event_tail(&mut rng, i)).collect());
    let endpoint = format!("http://{address}/api/v1/clusters/{cluster}/audit-events");
    let batches = events.div_ceil(BATCH as u64);
    let next_batch = Arc::new(AtomicU64::new(0));
    // reqwest 0.13 is built without a default TLS provider: ring, as the server uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections as usize)
        .build()?;
    println!(
        "audit ingestion: {events} events in batches of {BATCH}, {connections} connections, \
         release server in process on {address}"
    );
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (client, endpoint, token) = (client.clone(), endpoint.clone(), token.clone());
        let (templates, next_batch) = (Arc::clone(&templates), Arc::clone(&next_batch));
        senders.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let batch = next_batch.fetch_add(1, Ordering::Relaxed);
                if batch >= batches {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let mut body = String::with_capacity(BATCH * 4096);
                body.push_str(r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":["#);
                for slot in 0..BATCH as u64 {
                    let n = batch * BATCH as u64 + slot;
                    if slot > 0 {
                        body.push(',');
                    }
                    body.push_str(&format!(r#"{{"auditID":"bench-{n:012}","#));
                    body.push_str(&templates[(n % templates.len() as u64) as usize]);
                }
                body.push_str("]}");
                let sent = Instant::now();
                let reply = client
                    .post(&endpoint)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                let status = reply.status();
                let text = reply.text().await?;
                latencies.push(sent.elapsed());
                anyhow::ensure!(status.is_success(), "batch {batch}: HTTP {status}: {text}");
            }
        });
    }
    let mut latencies = Vec::new();
    while let Some(result) = senders.join_next().await {
        latencies.extend(result??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let (kept,): (i64,) = sqlx::query_as("SELECT count(*) FROM k8s_audit_events")
        .fetch_one(&pool)
        .await?;
    let (bytes,): (i64,) = sqlx::query_as("SELECT pg_total_relation_size('k8s_audit_events')")
        .fetch_one(&pool)
        .await?;
    let per_million = if kept > 0 {
        bytes as f64 / kept as f64 * 1e6 / (1024.0 * 1024.0 * 1024.0)
    } else {
        0.0
    };
    println!(
        "{events} events in {:.1} s: {:.0} events/s received and acknowledged after commit \
         ({:.0} batches/s)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        batches as f64 / elapsed.as_secs_f64()
    );
    println!(
        "route latency per batch: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&latencies, 95.0).as_secs_f64() * 1e3,
        percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "kept {kept} events ({:.1} %); table with indexes and TOAST: {:.1} MiB, {per_million:.2} GiB per million kept events",
        kept as f64 / events as f64 * 100.0,
        bytes as f64 / (1024.0 * 1024.0)
    );
    pool.close().await;
    Ok(())
}
