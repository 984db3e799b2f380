//! The OpenAPI document against the router and the README: every documented operation
//! answers (with a status it documents), and every route in the README's route table is
//! documented and vice versa.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::Value;
use sqlx::PgPool;

fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn every_documented_operation_answers_with_a_documented_status(pool: PgPool) {
    seeded(&pool).await;
    let prefix = RedisPrefix::new();
    let router = as_user_with_prefix(&pool, ADMIN, &prefix.0);
    let reply = get(&router, "/api/v1/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let document = reply.body;
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let operations = documented(&document);
    assert!(operations.len() >= 30, "{operations:?}");
    for (method, path) in &operations {
        let uri = path
            .replace("{id}", "5eed0000-0000-4000-8000-000000000502")
            .replace("{rule_id}", "5eed0000-0000-4000-8000-000000000a02");
        let body = if matches!(method.as_str(), "GET" | "DELETE") {
            Body::empty()
        } else {
            Body::from("{}")
        };
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(&uri)
            .header("content-type", "application/json")
            .header("x-workspace-id", PAYMENTS.to_string())
            .body(body)
            .expect("request");
        let reply = send(&router, request).await;
        assert_ne!(
            reply.body["error"]["message"], "no such route",
            "{method} {path} is documented but not routed"
        );
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let operation = &document["paths"][path][method.to_lowercase()];
        assert!(
            operation["responses"].get(reply.status.as_str()).is_some(),
            "{method} {path} answered {} which it does not document: {}",
            reply.status,
            reply.text
        );
        assert!(
            operation["tags"]
                .as_array()
                .is_some_and(|tags| !tags.is_empty()),
            "{method} {path} has no tag"
        );
    }
    prefix.cleanup().await;
}

#[test]
fn the_readme_route_table_and_the_document_list_the_same_routes() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README");
    let mut from_readme = BTreeSet::new();
    for line in readme.lines() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let Some((route, _)) = rest.split_once('`') else {
            continue;
        };
        let Some((methods, path)) = route.split_once(' ') else {
            continue;
        };
        if !path.starts_with('/') {
            continue;
        }
        for method in methods.split('|') {
            // The README writes `:id`, OpenAPI `{id}`.
            let path = path.replace(":id", "{id}").replace(":rule_id", "{rule_id}");
            from_readme.insert((method.to_owned(), path));
        }
    }
    let document = serde_json::to_value(statesight_server::openapi::document()).expect("json");
    let from_document = documented(&document);
    let undocumented: Vec<_> = from_readme.difference(&from_document).collect();
    let unlisted: Vec<_> = from_document.difference(&from_readme).collect();
    assert!(
        undocumented.is_empty(),
        "in the README but not in the OpenAPI document: {undocumented:?}"
    );
    assert!(
        unlisted.is_empty(),
        "in the OpenAPI document but not in the README: {unlisted:?}"
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn unknown_paths_are_not_routed(pool: PgPool) {
    let router = as_user(&pool, ADMIN);
    for uri in ["/api/v1/clusters/x/y", "/api/v2/me", "/ui"] {
        let reply = get(&router, uri, None).await;
        assert_eq!(reply.body["error"]["message"], "no such route", "{uri}");
    }
}
