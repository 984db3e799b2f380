//! The OpenAPI document against the router and the README: every documented operation
//! answers with a status it documents and a body its schema admits, every reference in the
//! document resolves, the documented limits are the enforced ones, and every route in the
//! README's route table is documented and vice versa.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{Value, json};
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
    // The GitHub webhook is configured, so its route answers (401 without a signature)
    // rather than the 404 of an installation without GITHUB_WEBHOOK_SECRET.
    let webhook =
        statesight_server::webhook::WebhookSecret::from_config(Some("openapi-test-webhook-secret"))
            .expect("a valid secret");
    let router = statesight_server::app(
        state_with(
            &pool,
            statesight_server::auth::Authenticator::Injected(
                statesight_server::auth::Principal::user(ADMIN),
            ),
        )
        .with_redis_prefix(&prefix.0)
        .with_github_webhook(webhook),
    );
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
        if is_event_stream(&document, path, method) {
            assert_event_stream_opens(&router, request).await;
            continue;
        }
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
        assert_documented_body(&document, path, method, &reply);
    }
    prefix.cleanup().await;
}

/// Whether the operation answers an event stream, whose body never ends: reading it whole
/// would wait forever.
fn is_event_stream(document: &Value, path: &str, method: &str) -> bool {
    document["paths"][path][method.to_lowercase()]["responses"]["200"]["content"]
        .get("text/event-stream")
        .is_some()
}

/// The stream answers 200 as `text/event-stream`; its frames are tested in events_sse.rs.
async fn assert_event_stream_opens(router: &axum::Router, request: Request<Body>) {
    use tower::ServiceExt;
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "the event stream's content type"
    );
}

/// Asserts that `reply`'s body is what the document says `path` answers with its status.
fn assert_documented_body(document: &Value, path: &str, method: &str, reply: &Reply) {
    let method = method.to_lowercase();
    let status = reply.status.as_u16();
    let Some(schema) = schema::response_schema(document, path, &method, status) else {
        // Only answers without a JSON body (204, the metrics text) document no schema.
        assert!(
            reply.text.is_empty() || path == "/metrics",
            "{method} {path} answered {status} with a body it does not document: {}",
            reply.text
        );
        return;
    };
    let errors = schema::validate(document, schema, &reply.body);
    assert!(
        errors.is_empty(),
        "{method} {path} answered {status} with a body its schema refuses:\n{}\n{}",
        errors.join("\n"),
        reply.text
    );
}

fn served_document() -> Value {
    serde_json::to_value(statesight_server::openapi::document()).expect("json")
}

fn references<'v>(value: &'v Value, found: &mut BTreeSet<&'v str>) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(reference)) => {
                        found.insert(reference);
                    }
                    _ => references(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_to_a_defined_component() {
    let document = served_document();
    let mut found = BTreeSet::new();
    references(&document, &mut found);
    assert!(
        found.contains("#/components/schemas/ErrorBody"),
        "{found:?}"
    );
    let unresolved: Vec<&&str> = found
        .iter()
        .filter(|reference| {
            reference
                .strip_prefix('#')
                .and_then(|pointer| document.pointer(pointer))
                .is_none()
        })
        .collect();
    assert!(unresolved.is_empty(), "unresolved: {unresolved:?}");
}

#[test]
fn the_documented_page_limits_are_the_enforced_ones() {
    use statesight_server::extract::{DEFAULT_LIMIT, MAX_LIMIT};
    let document = served_document();
    let mut lists = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        let parameters = item["get"]["parameters"].as_array().into_iter().flatten();
        for parameter in parameters.filter(|parameter| parameter["name"] == "limit") {
            let schema = &parameter["schema"];
            assert_eq!(schema["minimum"], 1, "{path}");
            assert_eq!(schema["maximum"], MAX_LIMIT, "{path}");
            assert_eq!(schema["default"], DEFAULT_LIMIT, "{path}");
            lists += 1;
        }
    }
    assert!(lists >= 7, "only {lists} paginated lists documented");
}

/// A body for `schema` with `field` set to `value` (and its other required fields valid).
fn body_with(schema: &str, field: &str, value: &str, unique: usize) -> Value {
    let mut body = match schema {
        "ClusterInput" => json!({ "name": format!("c{unique}"), "live_source": "kubectl" }),
        "SourceInput" => {
            json!({ "name": format!("s{unique}"), "repo_url": "https://git.example.com/x.git" })
        }
        "ApplicationInput" => json!({
            "name": format!("a{unique}"),
            "cluster_id": "5eed0000-0000-4000-8000-000000000302",
            "source_id": "5eed0000-0000-4000-8000-000000000402",
            "default_namespace": "payments",
        }),
        _ => {
            json!({ "name": format!("r{unique}"), "match_expression": "spec.replicas", "reason": "r" })
        }
    };
    body[field] = json!(value);
    body
}

/// Every documented `maxLength` of a request body is where the server starts refusing: a
/// value that long is created, one character more is a 422 naming the field.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_documented_lengths_are_the_enforced_ones(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    let document = served_document();
    let rules = "/api/v1/applications/5eed0000-0000-4000-8000-000000000502/ignore-rules";
    let cases: &[(&str, &str, &str, &str)] = &[
        ("ClusterInput", "/api/v1/clusters", "name", "n"),
        ("ClusterInput", "/api/v1/clusters", "description", "d"),
        ("ClusterInput", "/api/v1/clusters", "context", "x"),
        (
            "ClusterInput",
            "/api/v1/clusters",
            "kubeconfig_path",
            "/etc/statesight/kubeconfigs/",
        ),
        ("SourceInput", "/api/v1/sources", "name", "n"),
        (
            "SourceInput",
            "/api/v1/sources",
            "repo_url",
            "https://git.example.com/",
        ),
        ("SourceInput", "/api/v1/sources", "ref", "r"),
        ("SourceInput", "/api/v1/sources", "path", "p"),
        ("ApplicationInput", "/api/v1/applications", "name", "n"),
        (
            "ApplicationInput",
            "/api/v1/applications",
            "description",
            "d",
        ),
        (
            "ApplicationInput",
            "/api/v1/applications",
            "default_namespace",
            "n",
        ),
        ("IgnoreRuleInput", rules, "name", "n"),
        ("IgnoreRuleInput", rules, "managed_by", "m"),
        ("IgnoreRuleInput", rules, "reason", "r"),
    ];
    for (unique, (schema, uri, field, prefix)) in cases.iter().enumerate() {
        let property = &document["components"]["schemas"][schema]["properties"][field];
        let max = property["maxLength"]
            .as_u64()
            .unwrap_or_else(|| panic!("{schema}.{field} documents no maxLength"))
            as usize;
        let longest = format!("{prefix}{}", "a".repeat(max - prefix.len()));
        let workspace = (!uri.contains("ignore-rules")).then_some(PAYMENTS);
        for (value, accepted) in [(longest.clone(), true), (format!("{longest}a"), false)] {
            let body = body_with(schema, field, &value, unique * 2 + usize::from(accepted));
            let schema_errors = schema::validate(
                &document,
                &json!({ "$ref": format!("#/components/schemas/{schema}") }),
                &body,
            );
            assert_eq!(
                schema_errors.is_empty(),
                accepted,
                "{schema}.{field}: {schema_errors:?}"
            );
            let reply = send_json(&router, Method::POST, uri, workspace, &body.to_string()).await;
            if accepted {
                assert_eq!(
                    reply.status,
                    StatusCode::CREATED,
                    "{schema}.{field}: {}",
                    reply.text
                );
            } else {
                assert_error(
                    &reply,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                );
                assert_eq!(
                    reply.body["error"]["details"]["field"], *field,
                    "{}",
                    reply.text
                );
            }
        }
    }
}

/// Real answers of the demo database (every example analysed by a real worker, hostile
/// strings included), read route by read route in both workspaces, fit the document.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn seeded_answers_fit_their_documented_schemas(pool: PgPool) {
    seeded_and_analysed(&pool).await;
    let router = as_user(&pool, DEMO);
    let document = served_document();
    let mut checked = Vec::new();
    let mut check = async |template: &str, uri: String, workspace: Option<uuid::Uuid>| {
        let reply = get(&router, &uri, workspace).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        assert_documented_body(&document, template, "GET", &reply);
        checked.push(uri);
        reply.body
    };
    check("/api/v1/me", String::from("/api/v1/me"), None).await;
    check(
        "/api/v1/auth/config",
        String::from("/api/v1/auth/config"),
        None,
    )
    .await;
    for workspace in [Some(PAYMENTS), Some(PLATFORM)] {
        check(
            "/api/v1/overview",
            String::from("/api/v1/overview"),
            workspace,
        )
        .await;
        for (list, one) in [
            ("/api/v1/clusters", "/api/v1/clusters/{id}"),
            ("/api/v1/sources", "/api/v1/sources/{id}"),
            ("/api/v1/applications", "/api/v1/applications/{id}"),
            ("/api/v1/incidents", "/api/v1/incidents/{id}"),
        ] {
            let items = check(list, list.to_owned(), workspace).await;
            for item in items["data"].as_array().expect("a list") {
                let id = item["id"].as_str().expect("an id");
                check(one, one.replace("{id}", id), None).await;
                for nested in document["paths"].as_object().expect("paths").keys() {
                    let Some(rest) = nested.strip_prefix(one).filter(|rest| !rest.is_empty())
                    else {
                        continue;
                    };
                    if document["paths"][nested].get("get").is_none() {
                        continue;
                    }
                    let nested_items =
                        check(nested, format!("{}{rest}", one.replace("{id}", id)), None).await;
                    if rest == "/analyses" {
                        for run in nested_items["data"].as_array().expect("runs") {
                            let run = run["id"].as_str().expect("an id");
                            check(
                                "/api/v1/analyses/{id}",
                                format!("/api/v1/analyses/{run}"),
                                None,
                            )
                            .await;
                        }
                    }
                }
            }
        }
    }
    assert!(checked.len() > 100, "{checked:?}");
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
            let path = path
                .replace(":id", "{id}")
                .replace(":rule_id", "{rule_id}")
                .replace(":token_id", "{token_id}");
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
    // `/ui` is the web view now (tests/ui_pages.rs); a path beside it is not routed.
    for uri in ["/api/v1/clusters/x/y", "/api/v2/me", "/uix", "/ui.html"] {
        let reply = get(&router, uri, None).await;
        assert_eq!(reply.body["error"]["message"], "no such route", "{uri}");
    }
}

fn documented_enum<T: statesight_core::string_enum::StringEnum>(document: &Value, name: &str) {
    let strings: Vec<&str> = T::ALL.iter().map(|variant| variant.as_str()).collect();
    assert_eq!(
        document["components"]["schemas"][name]["enum"],
        json!(strings),
        "{name}"
    );
}

/// The document lists each enum by the strings the API sends, not by Rust variant names.
#[test]
fn enum_schemas_list_the_strings_the_api_sends() {
    use statesight_core::wire::*;
    let document = served_document();
    documented_enum::<Role>(&document, "Role");
    documented_enum::<RunStatus>(&document, "RunStatus");
    documented_enum::<RunTrigger>(&document, "RunTrigger");
    documented_enum::<IncidentStatus>(&document, "IncidentStatus");
    documented_enum::<Severity>(&document, "Severity");
    documented_enum::<Recommendation>(&document, "Recommendation");
    documented_enum::<ChangeKind>(&document, "ChangeKind");
    documented_enum::<CauseKind>(&document, "CauseKind");
    documented_enum::<OwnerRole>(&document, "OwnerRole");
    documented_enum::<RuleScope>(&document, "RuleScope");
    documented_enum::<LiveSource>(&document, "LiveSource");
    documented_enum::<LiveMethod>(&document, "LiveMethod");
    documented_enum::<ObservedAtSource>(&document, "ObservedAtSource");
    documented_enum::<RenderedWith>(&document, "RenderedWith");
    documented_enum::<AttributionGrade>(&document, "AttributionGrade");
    documented_enum::<TimelineKind>(&document, "TimelineKind");
    documented_enum::<ErrorCode>(&document, "ErrorCode");
}

/// Regression (fuzzer): five operation ids (`get`, `list`, `create`, `replace`, `delete`)
/// were shared by several operations, which OpenAPI forbids and which left links nothing
/// to point at. Every operation has its own id.
#[test]
fn operation_ids_are_unique() {
    let document = served_document();
    let mut seen = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                seen.insert(id.to_owned()),
                "{id} is used twice ({method} {path})"
            );
        }
    }
}

/// Every OpenAPI link names an existing operation and only parameters it takes, and every
/// operation addressed by an id is reachable from the answer of one that supplies it.
#[test]
fn links_lead_to_existing_operations_and_parameters() {
    let document = served_document();
    let mut operations = std::collections::BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for operation in item.as_object().expect("path item").values() {
            let parameters: BTreeSet<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|parameter| parameter["in"] == "path")
                .map(|parameter| parameter["name"].as_str().unwrap_or("").to_owned())
                .collect();
            operations.insert(
                operation["operationId"].as_str().unwrap_or("").to_owned(),
                (path.clone(), parameters),
            );
        }
    }
    let mut targets = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for operation in item.as_object().expect("path item").values() {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    let target = link["operationId"].as_str().unwrap_or("");
                    let (_, parameters) = operations
                        .get(target)
                        .unwrap_or_else(|| panic!("{path} {status}: link {name} to {target}"));
                    let given: BTreeSet<String> = link["parameters"]
                        .as_object()
                        .expect("link parameters")
                        .keys()
                        .cloned()
                        .collect();
                    assert_eq!(&given, parameters, "{path} {status}: link {name}");
                    targets.insert(target.to_owned());
                }
            }
        }
    }
    for (id, (path, parameters)) in &operations {
        if !parameters.is_empty() {
            assert!(targets.contains(id), "no link leads to {id} ({path})");
        }
    }
}

/// Each request body's example is accepted as it is (clients copy them; the fuzzer starts
/// from them).
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn request_body_examples_are_accepted(pool: PgPool) {
    seeded(&pool).await;
    let router = as_user(&pool, ADMIN);
    let document = served_document();
    let example = |schema: &str| {
        document["components"]["schemas"][schema]["examples"][0]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has no example"))
            .clone()
    };
    let checkout = "/api/v1/applications/5eed0000-0000-4000-8000-000000000502";
    for (method, uri, workspace, schema, expected) in [
        (
            Method::POST,
            "/api/v1/clusters".to_owned(),
            Some(PAYMENTS),
            "ClusterInput",
            StatusCode::CREATED,
        ),
        (
            Method::POST,
            "/api/v1/sources".to_owned(),
            Some(PAYMENTS),
            "SourceInput",
            StatusCode::CREATED,
        ),
        (
            Method::POST,
            "/api/v1/applications".to_owned(),
            Some(PAYMENTS),
            "ApplicationInput",
            StatusCode::CREATED,
        ),
        (
            Method::POST,
            format!("{checkout}/ignore-rules"),
            None,
            "IgnoreRuleInput",
            StatusCode::CREATED,
        ),
        (
            Method::PATCH,
            format!("{checkout}/ignore-rules/5eed0000-0000-4000-8000-000000000a02"),
            None,
            "IgnoreRulePatch",
            StatusCode::OK,
        ),
    ] {
        let body = serde_json::Value::Object(example(schema)).to_string();
        let reply = send_json(&router, method, &uri, workspace, &body).await;
        assert_eq!(reply.status, expected, "{schema}: {}", reply.text);
    }
    assert_eq!(example("AnalyzeRequest")["revision"], "main");
}
