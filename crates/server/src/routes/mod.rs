//! Every URL the server answers, in one place. One module per resource.

mod analyses;
mod applications;
mod health;
mod incidents;
mod me;
mod overview;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/v1/auth/config", get(me::auth_config))
        .route("/api/v1/me", get(me::me))
        .route("/api/v1/overview", get(overview::overview))
        .route("/api/v1/applications", get(applications::list))
        .route("/api/v1/applications/{id}", get(applications::detail))
        .route(
            "/api/v1/applications/{id}/analyses",
            get(analyses::list_for_application),
        )
        .route(
            "/api/v1/applications/{id}/ignore-rules",
            get(applications::ignore_rules),
        )
        .route(
            "/api/v1/applications/{id}/suppressed-findings",
            get(applications::suppressed_findings),
        )
        .route("/api/v1/analyses/{id}", get(analyses::get))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::get))
        .route("/api/v1/incidents/{id}/findings", get(incidents::findings))
}
