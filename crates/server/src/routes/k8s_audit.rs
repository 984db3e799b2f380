//! Kubernetes audit events, per cluster. `POST /api/v1/clusters/:id/audit-events` is the
//! target of an API server's audit webhook backend: it takes `audit.k8s.io/v1` `EventList`
//! bodies, authenticated by a per-cluster ingestion token (not an operator's sign-in), keeps
//! the completed, mutating requests on objects (Secret bodies removed) and answers only
//! after they are committed, so the API server retries anything not acknowledged. Admins
//! create, list and revoke the tokens; a rotation is a new token, then revoking the old.
//!
//! Ingestion never starves the operator routes: at most [`INGEST_CONCURRENCY`] deliveries
//! write at once, and a delivery that cannot start within [`INGEST_WAIT`] is answered 503
//! (the webhook backend retries with backoff).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use statesight_core::k8s_audit::{Admission, KeptEvent, admit, events_in_body};
use statesight_core::wire::{
    AuditIngestReport, AuditIngestionToken, Cluster, CreatedAuditIngestionToken, ErrorBody, Role,
};
use statesight_store::k8s_audit as store;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Unavailable};
use crate::extract::{IdPair, IdPath};
use crate::openapi::{Data, ReadErrors, WriteErrors};
use crate::response::Envelope;
use crate::state::AppState;

/// The largest delivery taken. The API server's webhook batches hold up to 400 events by
/// default (`--audit-webhook-batch-max-size`); at `RequestResponse` level an event can carry
/// two large bodies.
pub const MAX_AUDIT_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Deliveries written at once, across the server.
pub const INGEST_CONCURRENCY: usize = 4;
/// How long a delivery waits for a turn before it is answered 503.
pub const INGEST_WAIT: Duration = Duration::from_secs(5);
/// What every ingestion token starts with, so a leaked one is recognisable.
const TOKEN_PREFIX: &str = "ssat_";

/// Receives a batch of audit events from a cluster's API server.
#[utoipa::path(
    post,
    path = "/api/v1/clusters/{id}/audit-events",
    operation_id = "ingest_audit_events",
    tag = "audit-events",
    security(()),
    params(
        ("id" = Uuid, Path, description = "the cluster the events come from"),
        ("Authorization" = Option<String>, Header, description = "needed: `Bearer` and one of the cluster's ingestion tokens (POST /api/v1/clusters/{id}/audit-tokens)"),
    ),
    request_body(content = Object, content_type = "application/json", description = "an audit.k8s.io/v1 EventList (as the webhook backend sends), a single Event, or JSON lines of Events; at most 32 MiB"),
    responses(
        (status = 200, description = "stored: what was kept, already known or dropped", body = Data<AuditIngestReport>),
        (status = 400, description = "bad_request: the body is not JSON audit events; the message says where", body = ErrorBody),
        (status = 401, description = "unauthenticated: no ingestion token, or one that is unknown, revoked or of another cluster", body = ErrorBody),
        (status = 413, description = "payload_too_large: the body exceeds 32 MiB", body = ErrorBody),
        (status = 415, description = "unsupported_media_type: the content type is not application/json", body = ErrorBody),
        (status = 500, description = "internal: a bug; the server log has the cause under the request id", body = ErrorBody),
        (status = 503, description = "unavailable: the database is unreachable or ingestion is at capacity; nothing was stored, send again", body = ErrorBody),
    )
)]
pub async fn ingest(
    State(state): State<AppState>,
    IdPath(cluster_id): IdPath,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    // The token is checked before a byte of the body is read: without one, nobody makes the
    // server buffer a 32 MiB body.
    authenticate(&state, request.headers(), cluster_id).await?;
    require_json(request.headers())?;
    let body = read_body(request).await?;
    let (report, kept) = sort_events(&body)?;
    let _turn = tokio::time::timeout(INGEST_WAIT, state.audit_ingest.acquire())
        .await
        .map_err(|_| ApiError::Unavailable(Unavailable::Busy))?
        .map_err(|_| ApiError::Internal)?;
    let report = store_sorted(&state.pool, cluster_id, report, &kept).await?;
    crate::metrics::record_audit_ingest(&report);
    Ok(Envelope::ok(report).into_response())
}

/// The body, at most [`MAX_AUDIT_BODY_BYTES`].
async fn read_body(request: axum::extract::Request) -> ApiResult<Bytes> {
    axum::body::to_bytes(request.into_body(), MAX_AUDIT_BODY_BYTES)
        .await
        .map_err(|error| {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::PayloadTooLarge(MAX_AUDIT_BODY_BYTES)
            } else {
                ApiError::BadRequest(String::from("the request body could not be read"))
            }
        })
}

/// The token in `Authorization: Bearer …` must be a live token of `cluster_id`.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    cluster_id: uuid::Uuid,
) -> ApiResult<()> {
    let refused = || {
        ApiError::BadSignature(String::from(
            "an ingestion token of this cluster is required in the Authorization header \
             (Bearer); admins create one with POST /api/v1/clusters/{id}/audit-tokens",
        ))
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| token.starts_with(TOKEN_PREFIX))
        .ok_or_else(refused)?;
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    match store::cluster_of_token(&state.pool, &digest).await? {
        Some(owner) if owner == cluster_id => Ok(()),
        _ => Err(refused()),
    }
}

fn require_json(headers: &HeaderMap) -> ApiResult<()> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Parses a body and sorts its events into kept ones and counted drops.
pub fn sort_events(body: &[u8]) -> ApiResult<(AuditIngestReport, Vec<KeptEvent>)> {
    let events = events_in_body(body)
        .map_err(|error| ApiError::BadRequest(format!("not audit events: {error}")))?;
    let mut report = AuditIngestReport {
        received: events.len() as u64,
        ..AuditIngestReport::default()
    };
    let mut kept = Vec::new();
    for (index, event) in events.iter().enumerate() {
        match admit(event) {
            Ok(Admission::Keep(event)) => kept.push(*event),
            Ok(Admission::Drop(reason)) => report.dropped(reason),
            Err(error) => {
                return Err(ApiError::BadRequest(format!(
                    "event {} of {} is not a usable audit event: {error}",
                    index + 1,
                    events.len()
                )));
            }
        }
    }
    Ok((report, kept))
}

/// Stores what [`sort_events`] kept and completes the report.
pub async fn store_sorted(
    pool: &sqlx::PgPool,
    cluster_id: uuid::Uuid,
    mut report: AuditIngestReport,
    kept: &[KeptEvent],
) -> ApiResult<AuditIngestReport> {
    let stored = store::store_events(pool, cluster_id, kept).await?;
    report.stored = stored;
    report.duplicates = kept.len() as u64 - stored;
    Ok(report)
}

async fn admin_cluster(
    state: &AppState,
    principal: &Principal,
    id: uuid::Uuid,
) -> ApiResult<Cluster> {
    let cluster = statesight_store::onboarding::get_cluster(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("cluster"))?;
    principal
        .authorize(state, cluster.workspace_id, Role::Admin, "cluster")
        .await?;
    Ok(cluster)
}

#[utoipa::path(get, path = "/api/v1/clusters/{id}/audit-tokens", operation_id = "list_audit_tokens", tag = "audit-events", params(("id" = Uuid, Path, description = "cluster id")), responses((status = 200, description = "the cluster's ingestion tokens, oldest first, revoked ones included (admin)", body = Data<Vec<AuditIngestionToken>>), ReadErrors))]
pub async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    admin_cluster(&state, &principal, id).await?;
    let tokens = store::list_tokens(&state.pool, id).await?;
    Ok(Envelope::ok(tokens).into_response())
}

#[utoipa::path(post, path = "/api/v1/clusters/{id}/audit-tokens", operation_id = "create_audit_token", tag = "audit-events", params(("id" = Uuid, Path, description = "cluster id")), responses((status = 201, description = "a new ingestion token, shown this once, with a webhook kubeconfig for the API server (admin)", body = Data<CreatedAuditIngestionToken>), WriteErrors))]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let cluster = admin_cluster(&state, &principal, id).await?;
    let token = new_token()?;
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let prefix: String = token.chars().take(12).collect();
    let details = store::create_token(
        &state.pool,
        &principal.actor(),
        cluster.workspace_id,
        cluster.id,
        &digest,
        &prefix,
    )
    .await?;
    let webhook_kubeconfig = webhook_kubeconfig(&headers, &cluster, &token);
    let created = CreatedAuditIngestionToken {
        token,
        details,
        webhook_kubeconfig,
    };
    Ok(Envelope::ok(created)
        .with_status(StatusCode::CREATED)
        .into_response())
}

#[utoipa::path(delete, path = "/api/v1/clusters/{id}/audit-tokens/{token_id}", operation_id = "revoke_audit_token", tag = "audit-events", params(("id" = Uuid, Path, description = "cluster id"), ("token_id" = Uuid, Path, description = "token id")), responses((status = 200, description = "revoked (admin): refused from now on", body = Data<AuditIngestionToken>), WriteErrors))]
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    IdPair(id, token_id): IdPair,
) -> ApiResult<Response> {
    let cluster = admin_cluster(&state, &principal, id).await?;
    let token = store::revoke_token(
        &state.pool,
        &principal.actor(),
        cluster.workspace_id,
        cluster.id,
        token_id,
    )
    .await?
    .ok_or(ApiError::NotFound("ingestion token"))?;
    Ok(Envelope::ok(token).into_response())
}

/// 256 random bits, URL-safe.
fn new_token() -> ApiResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::Internal)?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The `--audit-webhook-config-file` an API server needs to post to this cluster's route.
/// The server URL is the one the admin reached this server at (check it when the API
/// server reaches it by another name).
fn webhook_kubeconfig(headers: &HeaderMap, cluster: &Cluster, token: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("statesight.example.com");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
    {
        Some("http") => "http",
        Some("https") => "https",
        _ if host.starts_with("127.0.0.1") || host.starts_with("localhost") => "http",
        _ => "https",
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n  - name: statesight\n    cluster:\n      server: {scheme}://{host}/api/v1/clusters/{id}/audit-events\ncontexts:\n  - name: statesight\n    context:\n      cluster: statesight\n      user: statesight\ncurrent-context: statesight\nusers:\n  - name: statesight\n    user:\n      token: {token}\n",
        id = cluster.id
    )
}
