//! What every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::auth::Authenticator;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub redis: redis::Client,
    pub authenticator: Arc<Authenticator>,
    pub metrics: PrometheusHandle,
    pub public: Arc<PublicAuthConfig>,
}

/// What `GET /api/v1/auth/config` tells clients about signing in.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PublicAuthConfig {
    pub auth_required: bool,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub client_id: Option<String>,
}

impl AppState {
    pub fn new(
        pool: PgPool,
        redis: redis::Client,
        authenticator: Authenticator,
        public: PublicAuthConfig,
    ) -> Self {
        AppState {
            pool,
            redis,
            authenticator: Arc::new(authenticator),
            metrics: crate::metrics::handle(),
            public: Arc::new(public),
        }
    }
}
