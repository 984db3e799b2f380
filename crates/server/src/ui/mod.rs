//! The read-only web view at `/ui`: server-rendered HTML of the same data the API serves,
//! through the same authentication (`Principal`) and authorization (`authorize`) path, for
//! people without a terminal at hand.
//!
//! - No JavaScript and no inline style: one stylesheet at `/ui/static/ui.css`, and a
//!   Content-Security-Policy that allows nothing else.
//! - Every value from a cluster, Git or a user is made visible (controls, escapes and bidi
//!   overrides become `\u{…}` text, as in the console), HTML-escaped by askama, and drawn
//!   inside `<bdi>` so it cannot reorder the text around it.
//! - Errors are the API's own (`ApiError::parts`: the same status and message), as a page.

mod pages;
mod views;

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

/// Allows the stylesheet from this origin and nothing else: no script at all, no inline
/// style, no frames, no form posts elsewhere, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const STYLESHEET: &str = include_str!("ui.css");
/// The pages name it as their icon: without one every browser asks for `/favicon.ico`, gets
/// a 404 and logs it as an error on every page (the browser test forbids logged errors). A
/// `data:` icon would need `img-src data:`, which the policy does not allow.
const FAVICON: &str = include_str!("favicon.svg");

/// The routes of the web view (merged into the application's router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(pages::home))
        .route("/ui/", get(pages::home))
        .route("/ui/static/ui.css", get(stylesheet))
        .route("/ui/static/favicon.svg", get(favicon))
        .route("/ui/w/{workspace}", get(pages::overview))
        .route("/ui/w/{workspace}/applications", get(pages::applications))
        .route(
            "/ui/w/{workspace}/applications/{id}",
            get(pages::application_incidents),
        )
        .route(
            "/ui/w/{workspace}/applications/{id}/suppressed",
            get(pages::application_suppressed),
        )
        .route(
            "/ui/w/{workspace}/applications/{id}/rules",
            get(pages::application_rules),
        )
        .route(
            "/ui/w/{workspace}/applications/{id}/analyses",
            get(pages::application_analyses),
        )
        .route("/ui/w/{workspace}/incidents", get(pages::incidents))
        .route("/ui/w/{workspace}/incidents/{id}", get(pages::incident))
        .route("/ui/{*rest}", get(not_found))
        // Set here, before the application's own (JSON) fallback is merged in, so that a
        // POST to a page is refused as a page too.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(security_headers))
}

/// The headers every `/ui` answer carries, pages and errors alike.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    for (name, value) in set {
        headers.insert(name, value);
    }
    // Pages carry a workspace's data: never kept by shared caches or the browser's
    // history cache. The stylesheet sets its own.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

async fn not_found() -> UiError {
    UiError(ApiError::NoRoute)
}

async fn method_not_allowed() -> UiError {
    UiError(ApiError::MethodNotAllowed)
}

/// An API error answered as a page with the API's status and message.
pub struct UiError(pub ApiError);

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> UiError {
        UiError(error)
    }
}

impl From<statesight_store::StoreError> for UiError {
    fn from(error: statesight_store::StoreError) -> UiError {
        UiError(ApiError::from(error))
    }
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage {
    title: String,
    status: u16,
    message: String,
    request_id: String,
    /// What to do about it, for the errors a reader can act on.
    advice: &'static str,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let parts = self.0.parts();
        let advice = match parts.status {
            StatusCode::UNAUTHORIZED => {
                "This view expects a gateway in front of it that signs you in and forwards an \
                 access token for this server as a bearer token (see docs/web-view.md)."
            }
            StatusCode::NOT_FOUND => {
                "The address may be mistyped, or you are not a member of its workspace."
            }
            StatusCode::SERVICE_UNAVAILABLE => "Reload in a moment.",
            _ => "",
        };
        let page = ErrorPage {
            title: parts
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_owned(),
            status: parts.status.as_u16(),
            message: views::shown(&parts.message),
            request_id: crate::response::current_request_id(),
            advice,
        };
        let mut response = (parts.status, render(&page)).into_response();
        if let Some(challenge) = parts.challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// A template rendered as an HTML answer (a template that fails to render is a bug: 500).
fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "a web view template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(String::from(
                    "<!doctype html><title>Error</title><p>internal error</p>",
                )),
            )
                .into_response()
        }
    }
}
