//! `GET /api/v1/events`: the caller's workspace's events as Server-Sent Events
//! (`crate::events` holds the hub and the stream itself).

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::Sse;
use axum::response::{IntoResponse, Response};
use statesight_core::wire::Role;
use statesight_store::events::EventId;

use crate::auth::{Principal, WorkspaceScope};
use crate::error::{ApiError, ApiResult, echo};
use crate::events::{Subscriber, Subscription};
use crate::extract::RawQuery;
use crate::openapi::ReadErrors;
use crate::state::AppState;

const LAST_EVENT_ID_HEADER: &str = "last-event-id";
const LAST_EVENT_ID_PARAMETER: &str = "last_event_id";

// `get, path = …` stay on the first line: scripts/docs-check.sh finds routes by it.
#[utoipa::path(get, path = "/api/v1/events",
    operation_id = "stream_events",
    tag = "events",
    params(
        ("X-Workspace-ID" = Uuid, Header, description = "the workspace whose events are streamed"),
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event id (`<milliseconds>-<sequence>`, the `id:` of a frame received earlier)"),
        ("last_event_id" = Option<String>, Query, description = "the same, for clients that cannot set headers; the header wins when both are given"),
    ),
    responses(
        (status = 200, description = "a Server-Sent Events stream that stays open (viewer): `event:` is a `WorkspaceEvent` kind (`run.queued`, `incident.opened`, …) with the event as JSON in `data:`, `reset` (events were missed: refetch) or `end` (`token_expired` or `membership_revoked`: the stream closes); `: keep-alive` comments every 15 s", content_type = "text/event-stream", body = String),
        (status = 503, description = "unavailable: this server holds its maximum of open streams, or Redis is unreachable; poll meanwhile"),
        ReadErrors,
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    headers: HeaderMap,
    query: RawQuery,
) -> ApiResult<Response> {
    let last_seen = last_event_id(&headers, &query)?;
    principal
        .authorize(&state, workspace_id, Role::Viewer, "workspace")
        .await?;
    let subscriber = Subscriber {
        user_id: principal.user_id,
        workspace_id,
        expires_at: principal.expires_at,
    };
    let subscription = Subscription::open(
        &state.events,
        &state.queue,
        state.pool.clone(),
        subscriber,
        last_seen,
    )
    .await?;
    let frames = futures::stream::unfold(subscription, |mut subscription| async move {
        let frame = subscription.next_frame().await?;
        Some((Ok::<_, Infallible>(frame), subscription))
    });
    let mut response = Sse::new(frames).into_response();
    // nginx buffers responses unless told not to; every frame must reach the client now.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The id to resume after: the `Last-Event-ID` header (what an EventSource sends when it
/// reconnects, so it is newer than a query parameter fixed in the URL), else the
/// `last_event_id` query parameter.
fn last_event_id(headers: &HeaderMap, query: &RawQuery) -> ApiResult<Option<EventId>> {
    let mut values = headers.get_all(LAST_EVENT_ID_HEADER).iter();
    let from_header = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(String::from(
                "exactly one Last-Event-ID header is allowed",
            )));
        }
        (Some(value), None) => Some(
            value
                .to_str()
                .map_err(|_| malformed("header Last-Event-ID", "(not printable ASCII)"))?,
        ),
    };
    let text = match from_header {
        Some(text) => Some(text),
        None => query.get(LAST_EVENT_ID_PARAMETER)?,
    };
    text.map(|text| {
        EventId::parse(text.trim()).ok_or_else(|| {
            let source = if from_header.is_some() {
                "header Last-Event-ID"
            } else {
                "query parameter `last_event_id`"
            };
            malformed(source, &echo(text))
        })
    })
    .transpose()
}

fn malformed(source: &str, got: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "{source} must be the id of an event received earlier (`<milliseconds>-<sequence>`), \
         got {got}"
    ))
}
