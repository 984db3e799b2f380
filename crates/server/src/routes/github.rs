//! `POST /api/v1/github/webhook`: GitHub push notifications queue analyses of the
//! applications whose source tracks the pushed branch, at the pushed commit.
//!
//! The route stands outside operator authentication: a delivery is authenticated by its
//! `X-Hub-Signature-256` (the shared secret `GITHUB_WEBHOOK_SECRET`), and acts as the
//! system, in every workspace whose sources track the repository. Without a secret the route
//! answers as if it did not exist. Everything in a payload is untrusted: only values that
//! passed validation are logged or echoed, and the body never is.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use statesight_core::source::{
    RepositoryKey, is_full_commit_sha, is_null_sha, repository_key, source_ref_tracks,
};
use statesight_core::wire::{
    ErrorBody, RunTrigger, WebhookAnalysis, WebhookDelivery, WebhookOutcome, WebhookRunState,
};
use statesight_store::runs::AnalysisRequest;
use statesight_store::webhooks::{self, Claim, TrackingApplication};

use crate::error::{ApiError, ApiResult, sanitize_library_message};
use crate::openapi::Data;
use crate::response::Envelope;
use crate::state::AppState;
use crate::webhook::{MAX_WEBHOOK_BODY_BYTES, WebhookSecret};

const EVENT_HEADER: &str = "x-github-event";
const DELIVERY_HEADER: &str = "x-github-delivery";

/// Receives a GitHub webhook delivery.
#[utoipa::path(
    post,
    path = "/api/v1/github/webhook",
    operation_id = "github_webhook",
    tag = "webhooks",
    security(()),
    // GitHub always sends these headers, and a delivery without them is refused (401 without
    // the signature, 400 without the others); they are documented as optional because the
    // route also answers requests lacking them, with those errors or, when the webhook is
    // off, with the 404 of a route that does not exist.
    params(
        ("X-Hub-Signature-256" = Option<String>, Header, description = "needed: `sha256=` and the hex HMAC-SHA256 of the raw body with the webhook's secret (GITHUB_WEBHOOK_SECRET)"),
        ("X-GitHub-Event" = Option<String>, Header, description = "needed: the event; `push` queues analyses, `ping` is answered, others are ignored"),
        ("X-GitHub-Delivery" = Option<String>, Header, description = "needed: the delivery's unique id; a delivery id processed in the last 7 days is not processed again"),
    ),
    request_body(content = Object, content_type = "application/json", description = "the event's payload as GitHub sends it (content type application/json), at most 5 MiB"),
    responses(
        (status = 200, description = "a ping was answered, a push matched no source or deleted its ref, or the delivery id was already processed (`outcome` says which)", body = Data<WebhookDelivery>),
        (status = 202, description = "a push queued analyses (listed with their run ids), or an event this server does not act on was ignored", body = Data<WebhookDelivery>),
        (status = 400, description = "bad_request: a missing or malformed X-GitHub-Event or X-GitHub-Delivery header, or a push payload that is not valid JSON of a push", body = ErrorBody),
        (status = 401, description = "unauthenticated: X-Hub-Signature-256 is missing, malformed or does not match the body", body = ErrorBody),
        (status = 404, description = "not_found: the webhook is not configured (GITHUB_WEBHOOK_SECRET is unset)", body = ErrorBody),
        (status = 409, description = "conflict: another request is processing this delivery id right now; redeliver it if that one fails", body = ErrorBody),
        (status = 413, description = "payload_too_large: the body exceeds 5 MiB", body = ErrorBody),
        (status = 415, description = "unsupported_media_type: the webhook's content type is not application/json", body = ErrorBody),
        (status = 500, description = "internal: a bug; the server log has the cause under the request id", body = ErrorBody),
        (status = 503, description = "unavailable: the database or Redis is unreachable, or the request took too long; GitHub can redeliver", body = ErrorBody),
    )
)]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Response> {
    let Some(secret) = state.github_webhook.clone() else {
        return Err(ApiError::NoRoute);
    };
    let event = event_label(&headers);
    let answer = receive(&state, &secret, &headers, body).await;
    crate::metrics::record_webhook_delivery(event, outcome_label(&answer));
    let (status, delivery) = answer?;
    Ok(Envelope::ok(delivery).with_status(status).into_response())
}

/// Authenticates, deduplicates and acts on one delivery.
async fn receive(
    state: &AppState,
    secret: &WebhookSecret,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, WebhookDelivery)> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(MAX_WEBHOOK_BODY_BYTES)
        } else {
            ApiError::BadRequest(format!(
                "the request body could not be read: {}",
                sanitize_library_message(&rejection.body_text())
            ))
        }
    })?;
    secret
        .verify(headers, &body)
        .map_err(|error| ApiError::BadSignature(error.to_string()))?;
    require_json(headers)?;
    let event = single_header(headers, EVENT_HEADER, "X-GitHub-Event", is_event_name)?;
    let delivery_id = single_header(
        headers,
        DELIVERY_HEADER,
        "X-GitHub-Delivery",
        is_delivery_id,
    )?;
    match webhooks::claim_delivery(&state.pool, &delivery_id, &event).await? {
        Claim::Claimed => {}
        Claim::Done => {
            tracing::info!(delivery = %delivery_id, event = %event, "github webhook delivery already processed");
            return Ok((
                StatusCode::OK,
                delivery(
                    &delivery_id,
                    &event,
                    WebhookOutcome::Duplicate,
                    String::from("this delivery id was already processed; nothing was done again"),
                ),
            ));
        }
        Claim::InProgress => {
            return Err(ApiError::Conflict {
                message: String::from(
                    "this delivery id is being processed by another request right now; \
                     redeliver it if that one fails",
                ),
                referenced_by: None,
            });
        }
    }
    // Only a delivery that was acted on counts as processed: when acting fails, the claim
    // is given up so that GitHub's redelivery is processed afresh (analyses it already
    // requested are then found queued, not requested twice).
    let answer = match act(state, &delivery_id, &event, &body).await {
        Ok(answer) => answer,
        Err(error) => {
            release(state, &delivery_id).await;
            return Err(error);
        }
    };
    if let Err(error) = webhooks::complete_delivery(&state.pool, &delivery_id).await {
        release(state, &delivery_id).await;
        return Err(error.into());
    }
    tracing::info!(
        delivery = %delivery_id,
        event = %event,
        outcome = %answer.1.outcome,
        analyses = answer.1.analyses.len(),
        "github webhook delivery"
    );
    prune_old_deliveries(state).await;
    Ok(answer)
}

/// Acts on a claimed delivery by its event.
async fn act(
    state: &AppState,
    delivery_id: &str,
    event: &str,
    body: &[u8],
) -> ApiResult<(StatusCode, WebhookDelivery)> {
    Ok(match event {
        "ping" => (
            StatusCode::OK,
            delivery(
                delivery_id,
                event,
                WebhookOutcome::Pong,
                String::from("pong: the webhook's secret matches"),
            ),
        ),
        "push" => push(state, delivery_id, event, body).await?,
        _ => (
            StatusCode::ACCEPTED,
            delivery(
                delivery_id,
                event,
                WebhookOutcome::Ignored,
                String::from("this event is not acted on; only push (and ping) are"),
            ),
        ),
    })
}

/// Gives up a delivery's claim after a failure. Best effort: a claim that cannot be
/// released goes stale and is taken over by a later copy of the delivery.
async fn release(state: &AppState, delivery_id: &str) {
    if let Err(error) = webhooks::release_delivery(&state.pool, delivery_id).await {
        tracing::warn!(delivery = %delivery_id, %error, "releasing a github webhook delivery claim failed");
    }
}

/// The parts of a push payload the webhook reads; everything else is skipped unread.
#[derive(Debug, Deserialize)]
struct PushEvent {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: PushRepository,
}

#[derive(Debug, Deserialize)]
struct PushRepository {
    clone_url: Option<String>,
    ssh_url: Option<String>,
    html_url: Option<String>,
    git_url: Option<String>,
    default_branch: Option<String>,
}

/// Queues an analysis at the pushed commit for every application whose source tracks the
/// pushed repository and ref.
async fn push(
    state: &AppState,
    delivery_id: &str,
    event: &str,
    body: &[u8],
) -> ApiResult<(StatusCode, WebhookDelivery)> {
    let push: PushEvent = serde_json::from_slice(body).map_err(|error| {
        ApiError::BadRequest(format!(
            "the push payload is not valid JSON of a push event: {}",
            sanitize_library_message(&error.to_string())
        ))
    })?;
    let pushed_ref = statesight_core::source::git_ref("ref", &push.git_ref)
        .ok()
        .filter(|pushed| pushed.starts_with("refs/"))
        .ok_or_else(|| {
            ApiError::BadRequest(String::from(
                "the push's `ref` is not a full Git ref name (refs/heads/<branch>)",
            ))
        })?;
    let mut answer = delivery(delivery_id, event, WebhookOutcome::NoMatch, String::new());
    answer.git_ref = Some(pushed_ref.clone());
    if push.deleted || is_null_sha(&push.after) {
        answer.outcome = WebhookOutcome::RefDeleted;
        answer.note = String::from("the push deleted this ref; nothing to analyse");
        return Ok((StatusCode::OK, answer));
    }
    if !is_full_commit_sha(&push.after) {
        return Err(ApiError::BadRequest(String::from(
            "the push's `after` is not a full commit SHA (40 or 64 lowercase hexadecimal digits)",
        )));
    }
    answer.revision = Some(push.after.clone());
    let keys = repository_keys(&push.repository);
    if keys.is_empty() {
        return Err(ApiError::BadRequest(String::from(
            "the push names no repository URL (clone_url, ssh_url, html_url or git_url) this server can read",
        )));
    }
    let default_branch = push.repository.default_branch.as_deref();
    let tracking = tracking_applications(state, &keys, &pushed_ref, default_branch).await?;
    let actor = statesight_store::audit::Actor::system(&format!("github-webhook:{delivery_id}"));
    for application in tracking {
        let requested = statesight_store::runs::request_analysis(
            &state.pool,
            &state.queue,
            &actor,
            application.application_id,
            Some(push.after.clone()),
            RunTrigger::Webhook,
        )
        .await?;
        let (run, run_state) = match requested {
            AnalysisRequest::Created(run) => (run, WebhookRunState::Created),
            AnalysisRequest::Existing(run) => (run, WebhookRunState::Existing),
            AnalysisRequest::Coalesced(run) => (run, WebhookRunState::Coalesced),
            // Deleted since it was listed: nothing to analyse.
            AnalysisRequest::NoApplication => continue,
        };
        answer.analyses.push(WebhookAnalysis {
            workspace_id: application.workspace_id,
            application_id: application.application_id,
            application_name: application.application_name,
            run_id: run.id,
            state: run_state,
        });
    }
    if answer.analyses.is_empty() {
        answer.note = String::from("no application's source tracks this repository and ref");
        return Ok((StatusCode::OK, answer));
    }
    answer.outcome = WebhookOutcome::Queued;
    answer.note = format!(
        "analyses of {} application(s) at the pushed commit",
        answer.analyses.len()
    );
    Ok((StatusCode::ACCEPTED, answer))
}

/// The keys of every URL the payload gives for its repository (GitHub sends several forms
/// of one repository; sources may have been onboarded with any of them).
fn repository_keys(repository: &PushRepository) -> Vec<RepositoryKey> {
    let mut keys: Vec<RepositoryKey> = [
        &repository.clone_url,
        &repository.ssh_url,
        &repository.html_url,
        &repository.git_url,
    ]
    .into_iter()
    .flatten()
    .filter_map(|url| repository_key(url))
    .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The applications whose source's repository has one of `keys` and whose ref tracks
/// `pushed_ref`.
async fn tracking_applications(
    state: &AppState,
    keys: &[RepositoryKey],
    pushed_ref: &str,
    default_branch: Option<&str>,
) -> ApiResult<Vec<TrackingApplication>> {
    let mut names: Vec<&str> = keys.iter().map(RepositoryKey::name).collect();
    names.sort_unstable();
    names.dedup();
    let mut found = Vec::new();
    for name in names {
        for application in webhooks::applications_for_repository_name(&state.pool, name).await? {
            let tracks = repository_key(&application.repo_url)
                .is_some_and(|key| keys.contains(&key))
                && source_ref_tracks(&application.git_ref, pushed_ref, default_branch);
            if tracks
                && !found
                    .iter()
                    .any(|f: &TrackingApplication| f.application_id == application.application_id)
            {
                found.push(application);
            }
        }
    }
    Ok(found)
}

fn delivery(
    delivery_id: &str,
    event: &str,
    outcome: WebhookOutcome,
    note: String,
) -> WebhookDelivery {
    WebhookDelivery {
        delivery_id: delivery_id.to_owned(),
        event: event.to_owned(),
        outcome,
        note,
        git_ref: None,
        revision: None,
        analyses: Vec::new(),
    }
}

/// Deletes expired delivery ids. Best effort: a failure is logged and the delivery's answer
/// stands (the next delivery tries again).
async fn prune_old_deliveries(state: &AppState) {
    match webhooks::prune_deliveries(&state.pool, webhooks::DELIVERY_RETENTION).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(pruned, "pruned expired github webhook delivery ids"),
        Err(error) => tracing::warn!(%error, "pruning expired github webhook delivery ids failed"),
    }
}

/// GitHub sends `application/json` when the webhook is set up that way; the form encoding it
/// also offers is refused, with the fix.
fn require_json(headers: &HeaderMap) -> ApiResult<()> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|text| text.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// The one value of a required header, checked by `valid`.
fn single_header(
    headers: &HeaderMap,
    name: &str,
    shown: &str,
    valid: fn(&str) -> bool,
) -> ApiResult<String> {
    let mut values = headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ApiError::BadRequest(format!(
            "exactly one {shown} header is required"
        )));
    };
    value
        .to_str()
        .ok()
        .filter(|text| valid(text))
        .map(str::to_owned)
        .ok_or_else(|| ApiError::BadRequest(format!("the {shown} header is malformed")))
}

/// GitHub's event names: lowercase words joined by `_` (`push`, `pull_request`).
fn is_event_name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// GitHub's delivery ids are GUIDs; anything printable and short enough to key on and log
/// safely is accepted.
fn is_delivery_id(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The `event` label of the delivery counter: a fixed set, never the caller's text.
fn event_label(headers: &HeaderMap) -> &'static str {
    match headers
        .get(EVENT_HEADER)
        .and_then(|value| value.to_str().ok())
    {
        Some("push") => "push",
        Some("ping") => "ping",
        Some(_) => "other",
        None => "none",
    }
}

/// The `outcome` label of the delivery counter.
fn outcome_label(answer: &ApiResult<(StatusCode, WebhookDelivery)>) -> &'static str {
    match answer {
        Ok((_, delivery)) => delivery.outcome.as_str(),
        Err(ApiError::BadSignature(_)) => "unauthenticated",
        Err(ApiError::PayloadTooLarge(_)) => "payload_too_large",
        Err(ApiError::UnsupportedMediaType) => "unsupported_media_type",
        Err(ApiError::BadRequest(_)) => "bad_request",
        Err(ApiError::Conflict { .. }) => "in_progress",
        Err(ApiError::Unavailable(_)) => "unavailable",
        Err(_) => "error",
    }
}
