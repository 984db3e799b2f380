//! The role × route matrix of every write route, shared by the tests that act as injected
//! principals and the tests that sign in with real tokens.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::*;

pub const CHECKOUT_APP: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000502);
pub const STAGING_CLUSTER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000302);
pub const CHECKOUT_SOURCE: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000402);
pub const PLATFORM_CLUSTER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000303);
pub const PLATFORM_SOURCE: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000404);
pub const HPA_RULE: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000a02);

pub fn cluster_body(name: &str) -> String {
    json!({ "name": name, "live_source": "kube-api", "kubeconfig_path": "/etc/statesight/kubeconfigs/prod-us-1", "context": "prod" })
        .to_string()
}

pub fn source_body(name: &str) -> String {
    json!({ "name": name, "repo_url": "https://git.example.com/acme/deploy.git", "ref": "main", "path": "k8s/prod" })
        .to_string()
}

pub fn application_body(name: &str) -> String {
    json!({ "name": name, "cluster_id": STAGING_CLUSTER, "source_id": CHECKOUT_SOURCE, "default_namespace": "shop" })
        .to_string()
}

pub fn rule_body(name: &str) -> String {
    json!({ "name": name, "match_expression": "spec.template.metadata.annotations.*", "reason": "injected by the mesh" })
        .to_string()
}

/// Creates a row as the seeded admin and returns its id.
pub async fn create_as_admin(
    pool: &PgPool,
    uri: &str,
    workspace: Option<Uuid>,
    body: &str,
) -> Uuid {
    let reply = send_json(&as_user(pool, ADMIN), Method::POST, uri, workspace, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{uri}: {}", reply.text);
    Uuid::parse_str(reply.body["data"]["id"].as_str().expect("id")).expect("uuid")
}

/// One write route: how to address a fresh target, and the least role that may call it.
pub struct WriteRoute {
    pub method: Method,
    pub needed: &'static str,
    pub name: &'static str,
}

/// Builds the request for `route` against targets created fresh for this call, so each
/// role acts on an untouched row. Returns (uri, workspace header, body, expected success).
pub async fn prepare(
    pool: &PgPool,
    route: &WriteRoute,
    tag: &str,
) -> (String, Option<Uuid>, String, StatusCode) {
    let fresh_cluster = || async {
        create_as_admin(
            pool,
            "/api/v1/clusters",
            Some(PAYMENTS),
            &cluster_body(&format!("c-{tag}")),
        )
        .await
    };
    let fresh_source = || async {
        create_as_admin(
            pool,
            "/api/v1/sources",
            Some(PAYMENTS),
            &source_body(&format!("s-{tag}")),
        )
        .await
    };
    let fresh_application = || async {
        create_as_admin(
            pool,
            "/api/v1/applications",
            Some(PAYMENTS),
            &application_body(&format!("a-{tag}")),
        )
        .await
    };
    match route.name {
        "POST /clusters" => (
            "/api/v1/clusters".into(),
            Some(PAYMENTS),
            cluster_body(&format!("new-{tag}")),
            StatusCode::CREATED,
        ),
        "PUT /clusters/:id" => (
            format!("/api/v1/clusters/{}", fresh_cluster().await),
            None,
            cluster_body(&format!("renamed-{tag}")),
            StatusCode::OK,
        ),
        "DELETE /clusters/:id" => (
            format!("/api/v1/clusters/{}", fresh_cluster().await),
            None,
            String::new(),
            StatusCode::NO_CONTENT,
        ),
        "POST /sources" => (
            "/api/v1/sources".into(),
            Some(PAYMENTS),
            source_body(&format!("new-{tag}")),
            StatusCode::CREATED,
        ),
        "PUT /sources/:id" => (
            format!("/api/v1/sources/{}", fresh_source().await),
            None,
            source_body(&format!("renamed-{tag}")),
            StatusCode::OK,
        ),
        "DELETE /sources/:id" => (
            format!("/api/v1/sources/{}", fresh_source().await),
            None,
            String::new(),
            StatusCode::NO_CONTENT,
        ),
        "POST /applications" => (
            "/api/v1/applications".into(),
            Some(PAYMENTS),
            application_body(&format!("new-{tag}")),
            StatusCode::CREATED,
        ),
        "PUT /applications/:id" => (
            format!("/api/v1/applications/{}", fresh_application().await),
            None,
            application_body(&format!("renamed-{tag}")),
            StatusCode::OK,
        ),
        "DELETE /applications/:id" => (
            format!("/api/v1/applications/{}", fresh_application().await),
            None,
            String::new(),
            StatusCode::NO_CONTENT,
        ),
        "POST /applications/:id/analyze" => (
            format!("/api/v1/applications/{}/analyze", fresh_application().await),
            None,
            String::from("{}"),
            StatusCode::ACCEPTED,
        ),
        "POST /applications/:id/ignore-rules" => (
            format!(
                "/api/v1/applications/{}/ignore-rules",
                fresh_application().await
            ),
            None,
            rule_body("r"),
            StatusCode::CREATED,
        ),
        other => {
            let application = fresh_application().await;
            let rule = create_as_admin(
                pool,
                &format!("/api/v1/applications/{application}/ignore-rules"),
                None,
                &rule_body("r"),
            )
            .await;
            let uri = format!("/api/v1/applications/{application}/ignore-rules/{rule}");
            match other {
                "PUT /applications/:id/ignore-rules/:rule_id" => {
                    (uri, None, rule_body("r2"), StatusCode::OK)
                }
                "PATCH /applications/:id/ignore-rules/:rule_id" => (
                    uri,
                    None,
                    String::from(r#"{"enabled": false}"#),
                    StatusCode::OK,
                ),
                _ => (uri, None, String::new(), StatusCode::NO_CONTENT),
            }
        }
    }
}

pub fn write_routes() -> Vec<WriteRoute> {
    let route = |method: Method, needed, name| WriteRoute {
        method,
        needed,
        name,
    };
    vec![
        route(Method::POST, "admin", "POST /clusters"),
        route(Method::PUT, "admin", "PUT /clusters/:id"),
        route(Method::DELETE, "admin", "DELETE /clusters/:id"),
        route(Method::POST, "admin", "POST /sources"),
        route(Method::PUT, "admin", "PUT /sources/:id"),
        route(Method::DELETE, "admin", "DELETE /sources/:id"),
        route(Method::POST, "admin", "POST /applications"),
        route(Method::PUT, "admin", "PUT /applications/:id"),
        route(Method::DELETE, "admin", "DELETE /applications/:id"),
        route(Method::POST, "editor", "POST /applications/:id/analyze"),
        route(
            Method::POST,
            "editor",
            "POST /applications/:id/ignore-rules",
        ),
        route(
            Method::PUT,
            "editor",
            "PUT /applications/:id/ignore-rules/:rule_id",
        ),
        route(
            Method::PATCH,
            "editor",
            "PATCH /applications/:id/ignore-rules/:rule_id",
        ),
        route(
            Method::DELETE,
            "editor",
            "DELETE /applications/:id/ignore-rules/:rule_id",
        ),
    ]
}

/// Calls every write route as an outsider, a viewer, an editor and an admin of the
/// payments workspace, each through the router `caller` builds for that seeded user, and
/// checks 404 for the outsider, 403 below the needed role and success at or above it.
pub async fn assert_write_role_matrix(pool: &PgPool, caller: impl Fn(Uuid) -> axum::Router) {
    let mut serial = 0;
    for route in write_routes() {
        for (user, role) in [
            (OUTSIDER, "outsider"),
            (VIEWER, "viewer"),
            (EDITOR, "editor"),
            (ADMIN, "admin"),
        ] {
            serial += 1;
            let (uri, workspace, body, success) = prepare(pool, &route, &serial.to_string()).await;
            let router = caller(user);
            let reply = send_json(&router, route.method.clone(), &uri, workspace, &body).await;
            let allowed = matches!((role, route.needed), ("admin", _) | ("editor", "editor"));
            let context = format!("{} as {role}: {}", route.name, reply.text);
            if role == "outsider" {
                assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
            } else if allowed {
                assert_eq!(reply.status, success, "{context}");
            } else {
                assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
            }
        }
    }
}
