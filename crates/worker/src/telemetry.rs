//! The worker's logs and metrics. Every log line of a job carries its `run_id` (the job
//! span); metrics are served as Prometheus text on `WORKER_METRICS_ADDR`.

use std::io::IsTerminal;
use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use statesight_store::queue::QueueStats;
use tracing_subscriber::EnvFilter;

pub const JOBS_STARTED: &str = "statesight_worker_jobs_started_total";
pub const JOBS_SUCCEEDED: &str = "statesight_worker_jobs_succeeded_total";
pub const JOBS_FAILED: &str = "statesight_worker_jobs_failed_total";
pub const JOBS_RETRIED: &str = "statesight_worker_jobs_retried_total";
pub const JOBS_REDELIVERED: &str = "statesight_worker_jobs_redelivered_total";
pub const JOBS_PARKED: &str = "statesight_worker_jobs_parked_total";
pub const JOB_DURATION: &str = "statesight_worker_job_duration_seconds";
pub const EVENTS_UNPUBLISHED: &str = "statesight_worker_events_unpublished_total";
pub const WATCH_EVENTS: &str = "statesight_worker_watch_events_total";
pub const WATCH_LISTS: &str = "statesight_worker_watch_lists_total";
pub const WATCH_EXPIRED: &str = "statesight_worker_watch_expired_total";
pub const WATCH_ERRORS: &str = "statesight_worker_watch_errors_total";
pub const WATCH_ANALYSES: &str = "statesight_worker_watch_analyses_requested_total";
pub const WATCHES_OPEN: &str = "statesight_worker_watches";

/// Logs as JSON lines (machines) or pretty (a terminal); `LOG_FORMAT` decides.
pub fn init_logging(format: Option<&str>) {
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = match format {
        Some(format) => format.eq_ignore_ascii_case("json"),
        None => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Installs the metrics recorder (once per process) and returns its handle.
pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(JOB_DURATION.to_owned()),
                    &[
                        0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn record_queue(stats: &QueueStats) {
    metrics::gauge!("statesight_worker_stream_length").set(stats.stream_length as f64);
    metrics::gauge!("statesight_worker_pending_jobs").set(stats.pending as f64);
    metrics::gauge!("statesight_worker_oldest_pending_age_seconds")
        .set(stats.oldest_pending_idle_ms as f64 / 1000.0);
    metrics::gauge!("statesight_worker_dead_letter_length").set(stats.dead_letters as f64);
    metrics::gauge!("statesight_worker_retries_waiting").set(stats.retries_waiting as f64);
}

/// Runs as the database has them: `queue_depth` counts queued runs whether or not their job
/// is still in Redis, and the oldest ages let an alert fire on a stall.
pub fn record_runs(stats: &statesight_store::runs::InFlightStats) {
    metrics::gauge!("statesight_worker_queue_depth").set(stats.queued as f64);
    metrics::gauge!("statesight_worker_running_runs").set(stats.running as f64);
    metrics::gauge!("statesight_worker_oldest_queued_run_age_seconds")
        .set(stats.oldest_queued_seconds);
    metrics::gauge!("statesight_worker_oldest_running_run_age_seconds")
        .set(stats.oldest_running_seconds);
}

/// Serves `/metrics` and `/healthz` until the process ends.
pub async fn serve_metrics(addr: SocketAddr, handle: PrometheusHandle) -> anyhow::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        handle.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| anyhow::anyhow!("binding WORKER_METRICS_ADDR {addr}: {error}"))?;
    axum::serve(listener, app).await?;
    Ok(())
}
