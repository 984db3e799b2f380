//! Prometheus metrics: request counts and latency by route and status, and DB pool gauges.
//! One recorder per process, installed on first use.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const REQUESTS: &str = "statesight_http_requests_total";
pub const LATENCY: &str = "statesight_http_request_duration_seconds";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(LATENCY.to_owned()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (several routers in one test
            // process share this one); the handle still renders what this recorder sees.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The `route` label of a request no route matched. Paths are the caller's; only route
/// templates (`/api/v1/incidents/{id}`) and this value become label values.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `method` label: the standard methods by name, anything a caller invents as
/// `other`. Every distinct label value is a new time series kept for the life of the
/// process, so no caller-chosen text may become one.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Records one answered request. `method` comes from [`method_label`] and `route` is a
/// route template or [`UNMATCHED_ROUTE`], so the series are bounded by the router.
pub fn record_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(LATENCY, &labels).record(elapsed.as_secs_f64());
}

/// Counts GitHub webhook deliveries by `event` (`push`, `ping`, `other`, `none`) and
/// `outcome` (a `WebhookOutcome`, or the error refusing the delivery): both label sets are
/// fixed, never the caller's text.
pub const WEBHOOK_DELIVERIES: &str = "statesight_github_webhook_deliveries_total";

pub fn record_webhook_delivery(event: &'static str, outcome: &'static str) {
    metrics::counter!(WEBHOOK_DELIVERIES, "event" => event, "outcome" => outcome).increment(1);
}

/// Kubernetes audit events received, by what became of them (`stored`, `duplicate`,
/// `dropped_incomplete`, `dropped_read_only`, `dropped_non_resource`).
pub const AUDIT_EVENTS: &str = "statesight_k8s_audit_events_total";

pub fn record_audit_ingest(report: &statesight_core::wire::AuditIngestReport) {
    for (outcome, count) in [
        ("stored", report.stored),
        ("duplicate", report.duplicates),
        ("dropped_incomplete", report.dropped_incomplete),
        ("dropped_read_only", report.dropped_read_only),
        ("dropped_non_resource", report.dropped_non_resource),
    ] {
        metrics::counter!(AUDIT_EVENTS, "outcome" => outcome).increment(count);
    }
}

pub fn record_pool(pool: &sqlx::PgPool) {
    let size = f64::from(pool.size());
    let idle = f64::from(u32::try_from(pool.num_idle()).unwrap_or(u32::MAX));
    metrics::gauge!("statesight_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("statesight_db_pool_connections", "state" => "in_use")
        .set((size - idle).max(0.0));
    metrics::gauge!("statesight_db_pool_max_connections")
        .set(f64::from(pool.options().get_max_connections()));
}
