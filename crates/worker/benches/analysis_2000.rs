//! End-to-end benchmark of one large application: 2,000 resources in a generated Git
//! repository and a generated snapshot with managedFields (~1% drift). Measures the wall
//! time from the analyze request (enqueue) to the run's `succeeded`, processed by the real
//! `statesight-worker run` binary, and that process's peak RSS (VmHWM).
//!
//! Run with `cargo bench -p statesight-worker --bench analysis_2000` (PostgreSQL and Redis
//! on loopback; `BENCH_DATABASE_URL` and `REDIS_URL` override them). Targets: ≤ 5 s and
//! ≤ 300 MB on a 2-core machine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use statesight_core::wire::{RunStatus, RunTrigger};
use statesight_store::audit::Actor;
use statesight_store::queue::Queue;
use statesight_store::runs::{self, AnalysisRequest};
use statesight_store::seed::{self, ExampleLocation};
use uuid::Uuid;

const RESOURCES: usize = 2_000;
const NAMESPACE: &str = "bench";
const APPLIED_AT: &str = "2026-11-01T10:00:00Z";

fn run(dir: &Path, program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|error| panic!("{program}: {error}"));
    assert!(status.success(), "{program} {args:?} failed");
}

fn managed(fields: Value) -> Value {
    json!([{ "manager": "argocd-controller", "operation": "Apply", "apiVersion": "v1", "time": APPLIED_AT, "fieldsType": "FieldsV1", "fieldsV1": fields }])
}

/// One desired object and its live form (defaults, status, managedFields; drift for 1%).
fn pair(index: usize) -> (Value, Value) {
    let name = format!("svc-{index:04}");
    let drift = index % 100 == 7;
    match index % 3 {
        0 => {
            let image = format!("registry.example.com/app/{name}:1.{index}");
            let desired = json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": name, "namespace": NAMESPACE, "labels": { "app": name } },
                "spec": {
                    "replicas": 2,
                    "selector": { "matchLabels": { "app": name } },
                    "template": {
                        "metadata": { "labels": { "app": name } },
                        "spec": { "containers": [{
                            "name": "app", "image": image,
                            "ports": [{ "containerPort": 8080 }],
                            "env": [{ "name": "MODE", "value": "prod" }],
                            "resources": { "requests": { "cpu": "0.5", "memory": "256Mi" } }
                        }] }
                    }
                }
            });
            let mut live = desired.clone();
            live["metadata"]["uid"] = json!(Uuid::new_v4());
            live["metadata"]["resourceVersion"] = json!(format!("{}", 1000 + index));
            live["metadata"]["generation"] = json!(1);
            live["metadata"]["creationTimestamp"] = json!(APPLIED_AT);
            live["spec"]["progressDeadlineSeconds"] = json!(600);
            live["spec"]["revisionHistoryLimit"] = json!(10);
            live["spec"]["strategy"] = json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" } });
            let container = &mut live["spec"]["template"]["spec"]["containers"][0];
            container["imagePullPolicy"] = json!("IfNotPresent");
            container["terminationMessagePath"] = json!("/dev/termination-log");
            container["ports"][0]["protocol"] = json!("TCP");
            container["resources"]["requests"]["cpu"] = json!("500m");
            live["spec"]["template"]["spec"]["dnsPolicy"] = json!("ClusterFirst");
            live["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
            live["status"] = json!({ "replicas": 2, "readyReplicas": 2, "observedGeneration": 1 });
            let mut fields = json!({
                "f:metadata": { "f:labels": { "f:app": {} } },
                "f:spec": {
                    "f:replicas": {}, "f:selector": {},
                    "f:template": {
                        "f:metadata": { "f:labels": { "f:app": {} } },
                        "f:spec": { "f:containers": { "k:{\"name\":\"app\"}": {
                            ".": {}, "f:name": {}, "f:image": {},
                            "f:ports": { "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": { ".": {}, "f:containerPort": {} } },
                            "f:env": { "k:{\"name\":\"MODE\"}": { ".": {}, "f:name": {}, "f:value": {} } },
                            "f:resources": { "f:requests": { "f:cpu": {}, "f:memory": {} } }
                        } } }
                    }
                }
            });
            let mut entries = managed(fields.take());
            if drift {
                live["spec"]["template"]["spec"]["containers"][0]["image"] =
                    json!(format!("{image}-hotfix"));
                if let Some(list) = entries.as_array_mut() {
                    list.push(json!({
                    "manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-10T08:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": { "f:spec": { "f:template": { "f:spec": { "f:containers": { "k:{\"name\":\"app\"}": { "f:image": {} } } } } } }
                }));
                }
            }
            live["metadata"]["managedFields"] = entries;
            (desired, live)
        }
        1 => {
            let desired = json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": { "name": name, "namespace": NAMESPACE },
                "spec": { "selector": { "app": name }, "ports": [{ "name": "http", "port": 80, "targetPort": 8080 }] }
            });
            let mut live = desired.clone();
            live["metadata"]["uid"] = json!(Uuid::new_v4());
            live["metadata"]["resourceVersion"] = json!(format!("{}", 1000 + index));
            live["spec"]["clusterIP"] = json!(format!("10.96.{}.{}", index / 250, index % 250));
            live["spec"]["clusterIPs"] = json!([live["spec"]["clusterIP"].clone()]);
            live["spec"]["type"] = json!("ClusterIP");
            live["spec"]["sessionAffinity"] = json!("None");
            live["spec"]["ports"][0]["protocol"] = json!("TCP");
            if drift {
                live["metadata"]["annotations"] = json!({ "ops.example.com/note": "manual" });
            }
            let mut entries = managed(json!({
                "f:spec": { "f:selector": {}, "f:ports": { "k:{\"port\":80,\"protocol\":\"TCP\"}": { ".": {}, "f:name": {}, "f:port": {}, "f:targetPort": {} } } }
            }));
            if drift && let Some(list) = entries.as_array_mut() {
                list.push(json!({
                    "manager": "kubectl-annotate", "operation": "Update", "apiVersion": "v1", "time": "2026-11-11T08:00:00Z",
                    "fieldsType": "FieldsV1", "fieldsV1": { "f:metadata": { "f:annotations": { ".": {}, "f:ops.example.com/note": {} } } }
                }));
            }
            live["metadata"]["managedFields"] = entries;
            (desired, live)
        }
        _ => {
            let desired = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": name, "namespace": NAMESPACE },
                "data": { "LOG_LEVEL": "info", "TIMEOUT_MS": "3000", "FEATURE_FLAGS": "a,b,c" }
            });
            let mut live = desired.clone();
            live["metadata"]["uid"] = json!(Uuid::new_v4());
            live["metadata"]["resourceVersion"] = json!(format!("{}", 1000 + index));
            let mut entries = managed(
                json!({ "f:data": { ".": {}, "f:LOG_LEVEL": {}, "f:TIMEOUT_MS": {}, "f:FEATURE_FLAGS": {} } }),
            );
            if drift {
                live["data"]["TIMEOUT_MS"] = json!("9000");
                if let Some(list) = entries.as_array_mut() {
                    list.push(json!({
                    "manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1", "time": "2026-11-12T08:00:00Z",
                    "fieldsType": "FieldsV1", "fieldsV1": { "f:data": { "f:TIMEOUT_MS": {} } }
                }));
                }
            }
            live["metadata"]["managedFields"] = entries;
            (desired, live)
        }
    }
}

/// Writes the repository (one file per 50 objects) and the snapshot (a `kind: List` per
/// 100 objects, as `kubectl get -o json` prints them).
fn generate(root: &Path) -> (PathBuf, PathBuf) {
    let work = root.join("work");
    let deploy = work.join("deploy");
    let snapshot = root.join("snapshot");
    std::fs::create_dir_all(&deploy).expect("mkdir");
    std::fs::create_dir_all(&snapshot).expect("mkdir");
    let pairs: Vec<(Value, Value)> = (0..RESOURCES).map(pair).collect();
    for (chunk_index, chunk) in pairs.chunks(50).enumerate() {
        let mut text = String::new();
        for (desired, _) in chunk {
            text.push_str("---\n");
            text.push_str(&serde_json::to_string_pretty(desired).expect("json"));
            text.push('\n');
        }
        std::fs::write(deploy.join(format!("objects-{chunk_index:03}.yaml")), text).expect("write");
    }
    for (chunk_index, chunk) in pairs.chunks(100).enumerate() {
        let list = json!({ "apiVersion": "v1", "kind": "List", "metadata": { "resourceVersion": "" },
                           "items": chunk.iter().map(|(_, live)| live.clone()).collect::<Vec<_>>() });
        std::fs::write(
            snapshot.join(format!("live-{chunk_index:03}.json")),
            serde_json::to_vec(&list).expect("json"),
        )
        .expect("write");
    }
    std::fs::write(snapshot.join("capture.json"), r#"{"captured_at": "2026-11-20T08:30:00Z", "context": "bench", "kubectl_version": "v1.32.3"}"#)
        .expect("capture.json");
    run(&work, "git", &["init", "-q", "--initial-branch=main", "."]);
    run(&work, "git", &["add", "--all"]);
    run(&work, "git", &["commit", "-q", "-m", "2000 objects"]);
    run(root, "git", &["clone", "-q", "--bare", "work", "bench.git"]);
    (root.join("bench.git"), snapshot)
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once too.
    let quick = std::env::args().any(|arg| arg == "--test" || arg == "--list");
    if quick {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let database_url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| {
        String::from("postgres://postgres@127.0.0.1:5432/statesight_bench_worker")
    });
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| String::from("redis://127.0.0.1:6379"));
    let scratch = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let (repo, snapshot) = generate(scratch.path());
    println!(
        "generated {RESOURCES} objects (repo + snapshot) in {:.2?}",
        started.elapsed()
    );

    {
        use sqlx::migrate::MigrateDatabase;
        if sqlx::Postgres::database_exists(&database_url)
            .await
            .expect("postgres answers")
        {
            sqlx::Postgres::drop_database(&database_url)
                .await
                .expect("drop bench database");
        }
    }
    statesight_store::db::create_database_if_missing(&database_url)
        .await
        .expect("create");
    let pool = statesight_store::connect(&database_url, 4).expect("pool");
    statesight_store::migrate(&pool).await.expect("migrate");
    seed::run(
        &pool,
        &ExampleLocation {
            examples_dir: String::from("/nonexistent/examples"),
            repos_dir: String::from("/nonexistent/repos"),
        },
    )
    .await
    .expect("seed");
    // The ledger application analyses the generated repository and snapshot instead.
    sqlx::query("UPDATE source_definitions SET repo_url = $2 WHERE id = (SELECT source_id FROM applications WHERE id = $1)")
        .bind(seed::LEDGER_APPLICATION_ID)
        .bind(format!("file://{}", repo.display()))
        .execute(&pool)
        .await
        .expect("repository");
    sqlx::query("UPDATE clusters SET snapshot_dir = $2 WHERE id = (SELECT cluster_id FROM applications WHERE id = $1)")
        .bind(seed::LEDGER_APPLICATION_ID)
        .bind(snapshot.display().to_string())
        .execute(&pool)
        .await
        .expect("snapshot");
    sqlx::query("UPDATE applications SET default_namespace = $2 WHERE id = $1")
        .bind(seed::LEDGER_APPLICATION_ID)
        .bind(NAMESPACE)
        .execute(&pool)
        .await
        .expect("namespace");

    let prefix = format!("bench-{}", Uuid::new_v4());
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut worker: Child = Command::new(env!("CARGO_BIN_EXE_statesight-worker"))
        .arg("run")
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", &redis_url)
        .env("REDIS_KEY_PREFIX", &prefix)
        .env("WORKER_ID", "bench")
        .env("WORKER_CONCURRENCY", "1")
        .env("WORKER_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("GIT_CACHE_DIR", scratch.path().join("cache"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker");
    let queue = Queue::new(
        statesight_store::redis_conn::client(&redis_url).expect("client"),
        prefix.clone(),
    );
    let actor = Actor::system("bench");
    let mut timings = Vec::new();
    for round in 1..=4 {
        let enqueued = Instant::now();
        let run_id = match runs::request_analysis(
            &pool,
            &queue,
            &actor,
            seed::LEDGER_APPLICATION_ID,
            None,
            RunTrigger::Manual,
        )
        .await
        .expect("request")
        {
            AnalysisRequest::Created(run) => run.id,
            other => panic!("{other:?}"),
        };
        let run = loop {
            let run = runs::get(&pool, run_id).await.expect("get").expect("run");
            if matches!(run.status, RunStatus::Succeeded | RunStatus::Failed) {
                break run;
            }
            assert!(
                enqueued.elapsed() < Duration::from_secs(120),
                "run did not finish"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let wall = enqueued.elapsed();
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
        println!(
            "round {round}{}: enqueue -> succeeded {:>7.0} ms  ({} findings, {} incidents)",
            if round == 1 { " (cold Git cache)" } else { "" },
            wall.as_secs_f64() * 1000.0,
            run.finding_count.unwrap_or(0),
            run.incident_count.unwrap_or(0)
        );
        timings.push(wall);
    }
    let rss = peak_rss_kib(worker.id());
    let _ = worker.kill();
    let _ = worker.wait();
    let warm: Vec<f64> = timings.iter().skip(1).map(Duration::as_secs_f64).collect();
    let median = {
        let mut sorted = warm.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    println!(
        "median warm enqueue -> succeeded: {:.0} ms (target <= 5000 ms)",
        median * 1000.0
    );
    match rss {
        Some(kib) => println!(
            "worker peak RSS (VmHWM): {:.1} MiB (target <= 300 MB)",
            kib as f64 / 1024.0
        ),
        None => println!("worker peak RSS: unavailable (no /proc)"),
    }
    let mut connection = queue.connection().await.expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .unwrap_or_default();
    for key in keys {
        let _: redis::RedisResult<i64> = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut connection)
            .await;
    }
}
