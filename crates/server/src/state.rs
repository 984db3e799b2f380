//! What every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use statesight_core::source::InputPolicy;

use crate::auth::Authenticator;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub redis: redis::Client,
    pub authenticator: Arc<Authenticator>,
    pub metrics: PrometheusHandle,
    /// Signs and verifies pagination cursors (`CURSOR_SIGNING_KEY`).
    pub cursors: crate::cursor::CursorSigner,
    pub public: Arc<PublicAuthConfig>,
    pub queue: statesight_store::queue::Queue,
    /// Which repository URLs and local paths operators may register.
    pub inputs: Arc<InputPolicy>,
    /// The GitHub webhook's secret (`GITHUB_WEBHOOK_SECRET`); `None` turns the webhook off.
    pub github_webhook: Option<crate::webhook::WebhookSecret>,
    /// Turns for audit-event deliveries writing at once (`routes::k8s_audit`).
    pub audit_ingest: Arc<tokio::sync::Semaphore>,
    /// The live event hub of this process (`GET /api/v1/events`).
    pub events: Arc<crate::events::EventHub>,
}

/// The default prefix of every Redis key StateSight writes.
pub const DEFAULT_REDIS_PREFIX: &str = "statesight";

/// What `GET /api/v1/auth/config` tells clients about signing in.
pub use statesight_core::wire::PublicAuthConfig;

impl AppState {
    pub fn new(
        pool: PgPool,
        redis: redis::Client,
        authenticator: Authenticator,
        public: PublicAuthConfig,
    ) -> Self {
        AppState {
            pool,
            queue: statesight_store::queue::Queue::new(redis.clone(), DEFAULT_REDIS_PREFIX),
            redis,
            authenticator: Arc::new(authenticator),
            metrics: crate::metrics::handle(),
            cursors: crate::cursor::CursorSigner::process_random(),
            public: Arc::new(public),
            inputs: Arc::new(default_inputs()),
            github_webhook: None,
            audit_ingest: Arc::new(tokio::sync::Semaphore::new(
                crate::routes::k8s_audit::INGEST_CONCURRENCY,
            )),
            events: Arc::new(crate::events::EventHub::new(
                crate::events::StreamSettings::default(),
            )),
        }
    }

    /// Uses `inputs` for what operators may register.
    pub fn with_inputs(mut self, inputs: InputPolicy) -> Self {
        self.inputs = Arc::new(inputs);
        self
    }
}

/// The safe defaults: no `file://` repositories, the default kubeconfig and snapshot roots.
fn default_inputs() -> InputPolicy {
    InputPolicy::defaults(None).expect("the built-in roots are valid absolute paths")
}

impl AppState {
    /// Signs pagination cursors with `signer` (the configured `CURSOR_SIGNING_KEY`) instead
    /// of the process's random key.
    pub fn with_cursor_signer(mut self, signer: crate::cursor::CursorSigner) -> Self {
        self.cursors = signer;
        self
    }

    /// Accepts GitHub webhook deliveries signed with `secret` (`None`: the route answers 404).
    pub fn with_github_webhook(mut self, secret: Option<crate::webhook::WebhookSecret>) -> Self {
        self.github_webhook = secret;
        self
    }

    /// Event streams behave as `settings` say (tests shorten the heartbeat). Call before
    /// the first stream opens: the hub is replaced.
    pub fn with_stream_settings(mut self, settings: crate::events::StreamSettings) -> Self {
        self.events = Arc::new(crate::events::EventHub::new(settings));
        self
    }

    /// Uses `prefix` for Redis keys (deployments sharing a Redis, parallel tests).
    pub fn with_redis_prefix(mut self, prefix: &str) -> Self {
        self.queue = statesight_store::queue::Queue::new(self.redis.clone(), prefix);
        self
    }
}
