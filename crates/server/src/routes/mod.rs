//! Every URL the server answers, in one place, registered through `utoipa_axum` so each
//! route carries its OpenAPI description. One module per resource.

mod analyses;
pub(crate) mod applications;
mod audit;
mod clusters;
mod events;
mod github;
mod health;
mod ignore_rules;
mod incidents;
pub mod k8s_audit;
mod me;
mod notifications;
mod overview;
mod sources;
pub mod workspace_rules;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::ApiDoc;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(me::auth_config))
        .routes(routes!(health::openapi_json))
        .routes(routes!(me::me))
        .routes(routes!(overview::overview))
        .routes(routes!(clusters::list, clusters::create))
        .routes(routes!(clusters::get, clusters::replace, clusters::delete))
        .routes(routes!(sources::list, sources::create))
        .routes(routes!(sources::get, sources::replace, sources::delete))
        .routes(routes!(applications::list, applications::create))
        .routes(routes!(
            applications::detail,
            applications::replace,
            applications::delete
        ))
        .routes(routes!(analyses::analyze))
        .routes(routes!(analyses::list_for_application))
        .routes(routes!(ignore_rules::list, ignore_rules::create))
        .routes(routes!(
            ignore_rules::replace,
            ignore_rules::patch,
            ignore_rules::delete
        ))
        .routes(routes!(applications::suppressed_findings))
        .routes(routes!(applications::open_findings))
        .routes(routes!(analyses::get))
        .routes(routes!(incidents::list))
        .routes(routes!(incidents::get))
        .routes(routes!(incidents::findings))
        .routes(routes!(incidents::timeline))
        .routes(routes!(audit::list))
        .routes(routes!(events::stream))
        .routes(routes!(workspace_rules::list, workspace_rules::create))
        .routes(routes!(workspace_rules::preview))
        .routes(routes!(
            workspace_rules::replace,
            workspace_rules::patch,
            workspace_rules::delete
        ))
        .routes(github_webhook())
        // Reads its own body, within its own limit, after checking the token.
        .routes(routes!(k8s_audit::ingest))
        .routes(routes!(k8s_audit::list_tokens, k8s_audit::create_token))
        .routes(routes!(k8s_audit::revoke_token))
        .routes(routes!(notifications::list, notifications::create))
        .routes(routes!(
            notifications::get,
            notifications::replace,
            notifications::delete
        ))
        .routes(routes!(notifications::deliveries))
}

/// The webhook with its own body limit: GitHub's payloads outgrow the operator routes'
/// 1 MiB (the innermost limit wins).
fn github_webhook() -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    let (schemas, paths, method_router) = routes!(github::webhook);
    let limit = axum::extract::DefaultBodyLimit::max(crate::webhook::MAX_WEBHOOK_BODY_BYTES);
    (schemas, paths, method_router.layer(limit))
}
