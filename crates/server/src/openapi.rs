//! The OpenAPI document, generated from the handlers' annotations: routes are registered
//! once, through `utoipa_axum`, so a route cannot exist without its documentation. This
//! module holds the document's frame, the paging parameters and the error answers; the
//! schemas themselves are the wire types of `statesight_core::wire`.

pub use statesight_core::wire::{Data, ErrorBody};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "StateSight API",
        description = "GitOps forensic console: desired state in Git against live cluster state, \
                       drift explained field by field with evidence. Every operator route needs \
                       a bearer token unless the server runs in demo mode. Lists take `limit` \
                       (1–500, default 50) and `cursor` and answer `meta.next_cursor`. String \
                       fields of request bodies are trimmed of surrounding whitespace before \
                       they are checked; the lengths and patterns documented apply to the \
                       trimmed value. Every error of an `/api/v1` route answers the `ErrorBody` \
                       envelope; match on `error.code`, not on the message.",
    ),
    // The error envelope is only named by the `ReadErrors`/`WriteErrors` response sets,
    // which utoipa does not collect schemas from: register it (and what it refers to) here.
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "health", description = "Liveness, readiness, metrics (public)"),
        (name = "identity", description = "Who is calling"),
        (name = "onboarding", description = "Clusters, sources and applications"),
        (name = "analysis", description = "Analysis runs"),
        (name = "incidents", description = "Incidents and their findings"),
        (name = "rules", description = "Ignore rules"),
        (name = "audit", description = "The operator audit log and its hash chain"),
        (name = "events", description = "Live workspace events (Server-Sent Events)"),
        (name = "webhooks", description = "Notifications from Git hosts (signed, outside bearer authentication)"),
        (name = "notifications", description = "Outgoing webhooks of a workspace's events (admin) and their deliveries"),
        (name = "audit-events", description = "Kubernetes audit events of a cluster: the webhook backend's target (per-cluster ingestion tokens) and the tokens"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The paging parameters of list routes (parsed by `RawQuery::paging`, whose limits these
/// repeat: utoipa takes literals only; a test compares them).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documentation only")]
pub struct PageParams {
    /// How many items a page holds.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// `meta.next_cursor` of the previous page; omit it for the first page.
    cursor: Option<String>,
}

/// Errors every operator read route can answer.
#[derive(IntoResponses)]
#[allow(dead_code, reason = "documentation only")]
pub enum ReadErrors {
    #[response(
        status = 400,
        description = "bad_request: malformed id, header, query parameter or cursor"
    )]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "unauthenticated: no valid bearer token")]
    Unauthenticated(ErrorBody),
    #[response(
        status = 403,
        description = "identity_not_provisioned: the identity maps to no user"
    )]
    Forbidden(ErrorBody),
    #[response(
        status = 404,
        description = "not_found: no such row, or not a member of its workspace"
    )]
    NotFound(ErrorBody),
    #[response(
        status = 500,
        description = "internal: a bug; the server log has the cause under the request id"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "unavailable: the database or Redis is unreachable, or the request took too long"
    )]
    Unavailable(ErrorBody),
}

/// Errors every state-changing route can answer, besides those of reads.
#[derive(IntoResponses)]
#[allow(dead_code, reason = "documentation only")]
pub enum WriteErrors {
    #[response(
        status = 400,
        description = "bad_request: malformed JSON, id or header"
    )]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "unauthenticated: no valid bearer token")]
    Unauthenticated(ErrorBody),
    #[response(
        status = 403,
        description = "forbidden: your role in the workspace is not enough"
    )]
    Forbidden(ErrorBody),
    #[response(
        status = 404,
        description = "not_found: no such row, or not a member of its workspace"
    )]
    NotFound(ErrorBody),
    #[response(
        status = 409,
        description = "conflict: the name is taken, the row is still referenced, or a run was requested at the same moment"
    )]
    Conflict(ErrorBody),
    #[response(
        status = 413,
        description = "payload_too_large: the body exceeds 1 MiB"
    )]
    PayloadTooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "unsupported_media_type: the body is not JSON"
    )]
    UnsupportedMediaType(ErrorBody),
    #[response(
        status = 422,
        description = "validation_failed: wrong types, unknown fields or invalid values"
    )]
    Invalid(ErrorBody),
    #[response(
        status = 500,
        description = "internal: a bug; the server log has the cause under the request id"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "unavailable: the database or Redis is unreachable, or the request took too long"
    )]
    Unavailable(ErrorBody),
}

/// The JSON document served at `/api/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut openapi) = crate::routes::router().split_for_parts();
    add_links(&mut openapi);
    add_examples(&mut openapi);
    openapi
}

/// Where the id of a created or listed row is in an answer.
const CREATED_ID: &str = "$response.body#/data/id";
const FIRST_LISTED_ID: &str = "$response.body#/data/0/id";

/// OpenAPI links: which answer supplies the ids other operations take, so a client (and a
/// stateful fuzzer) can follow a created cluster to its `GET`, `PUT` and `DELETE`. Each is
/// `(operation, status, [(link target, [(parameter, expression)])])`; a test checks every
/// target and parameter exists.
type LinkTable = &'static [(
    &'static str,
    &'static str,
    &'static [(&'static str, &'static [(&'static str, &'static str)])],
)];

pub const LINKS: LinkTable = &[
    (
        "create_cluster",
        "201",
        &[
            ("get_cluster", &[("id", CREATED_ID)]),
            ("replace_cluster", &[("id", CREATED_ID)]),
            ("delete_cluster", &[("id", CREATED_ID)]),
        ],
    ),
    (
        "list_clusters",
        "200",
        &[
            ("get_cluster", &[("id", FIRST_LISTED_ID)]),
            ("list_audit_tokens", &[("id", FIRST_LISTED_ID)]),
            ("create_audit_token", &[("id", FIRST_LISTED_ID)]),
            ("ingest_audit_events", &[("id", FIRST_LISTED_ID)]),
        ],
    ),
    (
        "create_audit_token",
        "201",
        &[(
            "revoke_audit_token",
            &[
                ("id", "$request.path.id"),
                ("token_id", "$response.body#/data/details/id"),
            ],
        )],
    ),
    (
        "create_notification_endpoint",
        "201",
        &[
            (
                "get_notification_endpoint",
                &[("id", "$response.body#/data/endpoint/id")],
            ),
            (
                "replace_notification_endpoint",
                &[("id", "$response.body#/data/endpoint/id")],
            ),
            (
                "delete_notification_endpoint",
                &[("id", "$response.body#/data/endpoint/id")],
            ),
            (
                "list_notification_deliveries",
                &[("id", "$response.body#/data/endpoint/id")],
            ),
        ],
    ),
    (
        "list_notification_endpoints",
        "200",
        &[("get_notification_endpoint", &[("id", FIRST_LISTED_ID)])],
    ),
    (
        "create_source",
        "201",
        &[
            ("get_source", &[("id", CREATED_ID)]),
            ("replace_source", &[("id", CREATED_ID)]),
            ("delete_source", &[("id", CREATED_ID)]),
        ],
    ),
    (
        "list_sources",
        "200",
        &[("get_source", &[("id", FIRST_LISTED_ID)])],
    ),
    (
        "create_application",
        "201",
        &[
            ("get_application", &[("id", CREATED_ID)]),
            ("replace_application", &[("id", CREATED_ID)]),
            ("delete_application", &[("id", CREATED_ID)]),
            ("analyze_application", &[("id", CREATED_ID)]),
            ("list_analyses", &[("id", CREATED_ID)]),
            ("list_ignore_rules", &[("id", CREATED_ID)]),
            ("create_ignore_rule", &[("id", CREATED_ID)]),
            ("list_suppressed_findings", &[("id", CREATED_ID)]),
            ("list_application_findings", &[("id", CREATED_ID)]),
        ],
    ),
    (
        "list_applications",
        "200",
        &[
            ("get_application", &[("id", FIRST_LISTED_ID)]),
            ("list_analyses", &[("id", FIRST_LISTED_ID)]),
            ("list_ignore_rules", &[("id", FIRST_LISTED_ID)]),
            ("list_suppressed_findings", &[("id", FIRST_LISTED_ID)]),
            ("list_application_findings", &[("id", FIRST_LISTED_ID)]),
        ],
    ),
    (
        "analyze_application",
        "202",
        &[("get_analysis", &[("id", CREATED_ID)])],
    ),
    (
        "analyze_application",
        "200",
        &[("get_analysis", &[("id", CREATED_ID)])],
    ),
    (
        "list_analyses",
        "200",
        &[("get_analysis", &[("id", FIRST_LISTED_ID)])],
    ),
    (
        "create_ignore_rule",
        "201",
        &[
            (
                "replace_ignore_rule",
                &[("id", "$request.path.id"), ("rule_id", CREATED_ID)],
            ),
            (
                "patch_ignore_rule",
                &[("id", "$request.path.id"), ("rule_id", CREATED_ID)],
            ),
            (
                "delete_ignore_rule",
                &[("id", "$request.path.id"), ("rule_id", CREATED_ID)],
            ),
        ],
    ),
    (
        "create_workspace_rule",
        "201",
        &[
            ("replace_workspace_rule", &[("id", CREATED_ID)]),
            ("patch_workspace_rule", &[("id", CREATED_ID)]),
            ("delete_workspace_rule", &[("id", CREATED_ID)]),
        ],
    ),
    (
        "list_workspace_rules",
        "200",
        &[
            ("replace_workspace_rule", &[("id", FIRST_LISTED_ID)]),
            ("patch_workspace_rule", &[("id", FIRST_LISTED_ID)]),
            ("delete_workspace_rule", &[("id", FIRST_LISTED_ID)]),
        ],
    ),
    (
        "list_incidents",
        "200",
        &[
            ("get_incident", &[("id", FIRST_LISTED_ID)]),
            ("list_incident_findings", &[("id", FIRST_LISTED_ID)]),
            ("get_incident_timeline", &[("id", FIRST_LISTED_ID)]),
        ],
    ),
];

fn add_links(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::link::LinkBuilder;
    for (operation_id, status, links) in LINKS {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.operation_id.as_deref() != Some(operation_id) {
                    continue;
                }
                let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status)
                else {
                    continue;
                };
                for (target, parameters) in *links {
                    let link = parameters
                        .iter()
                        .fold(
                            LinkBuilder::new().operation_id(*target),
                            |link, (name, value)| link.parameter(*name, *value),
                        )
                        .build();
                    response.links.insert((*target).to_owned(), RefOr::T(link));
                }
            }
        }
    }
}

/// A valid example of each request body. Clients copy them; the fuzzer's first requests are
/// these, so creations succeed and the links above have rows to follow. The application's
/// cluster and source are those of the demo workspace `acme-payments` (`make seed`).
fn add_examples(openapi: &mut utoipa::openapi::OpenApi) {
    use serde_json::json;
    use statesight_store::seed::{CHECKOUT_APPLICATION_ID, EXAMPLE_APPLICATIONS};
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    // checkout-api's cluster and source: an application may share both.
    let (cluster_id, source_id) = EXAMPLE_APPLICATIONS
        .iter()
        .find(|application| application.id == CHECKOUT_APPLICATION_ID)
        .map(|application| (application.cluster, application.source_id))
        .unwrap_or_default();
    let examples = [
        (
            "ClusterInput",
            json!({ "name": "prod-us-1", "description": "Production US", "live_source": "kubectl", "context": "prod-us-1" }),
        ),
        (
            "SourceInput",
            json!({ "name": "shop-deploy", "repo_url": "https://git.example.com/acme/shop-deploy.git", "ref": "main", "path": "k8s/prod" }),
        ),
        (
            "ApplicationInput",
            json!({ "name": "shop", "description": "The shop front end", "cluster_id": cluster_id, "source_id": source_id, "default_namespace": "shop" }),
        ),
        (
            "IgnoreRuleInput",
            json!({ "name": "mesh-annotations", "match_expression": "spec.template.metadata.annotations.*", "reason": "injected by the service mesh", "enabled": true }),
        ),
        ("IgnoreRulePatch", json!({ "enabled": false })),
        (
            "NotificationEndpointInput",
            json!({ "name": "on-call", "url": "https://hooks.example.com/statesight", "events": ["incident.opened", "run.failed"], "min_severity": "high", "format": "json" }),
        ),
        ("AnalyzeRequest", json!({ "revision": "main" })),
    ];
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for (name, example) in examples {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
            object.examples = vec![example];
        }
    }
}
