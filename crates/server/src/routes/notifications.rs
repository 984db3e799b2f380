//! Notification endpoints: the webhooks the worker sends a workspace's events to, and each
//! endpoint's recent deliveries. Admins only, reads included: an endpoint's URL is often a
//! credential itself (a Slack incoming-webhook URL is). The signing secret is answered
//! once, by the creation; the worker checks where an URL leads when it sends (the server
//! does not know the worker's `NOTIFY_ALLOWED_NETWORKS`), so only its form is checked here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use statesight_core::source::{self, Invalid};
use statesight_core::wire::{
    CreatedNotificationEndpoint, EventKind, NotificationDelivery, NotificationEndpoint,
    NotificationEndpointInput, Role,
};
use statesight_store::keyset::{ByName, ByTimeDesc};
use statesight_store::notifications::{self as store, EndpointValues};

use crate::auth::{Principal, WorkspaceScope};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, IdPath, RawQuery};
use crate::openapi::{Data, PageParams, ReadErrors, WriteErrors};
use crate::response::Envelope;
use crate::state::AppState;

/// The longest endpoint URL accepted.
pub const MAX_URL_CHARS: usize = 2048;
/// Secret lengths accepted (printable ASCII without spaces).
pub const SECRET_CHARS: std::ops::RangeInclusive<usize> = 16..=256;

#[utoipa::path(get, path = "/api/v1/notification-endpoints", operation_id = "list_notification_endpoints", tag = "notifications", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace to list or create in"), PageParams), responses((status = 200, description = "the workspace's notification endpoints by name, with each one's latest attempt (admin)", body = Data<Vec<NotificationEndpoint>>), ReadErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByName>("notification_endpoints", &state.cursors)?;
    principal
        .authorize(&state, workspace_id, Role::Admin, "workspace")
        .await?;
    let page = store::list_endpoints(
        &state.pool,
        workspace_id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}

#[utoipa::path(post, path = "/api/v1/notification-endpoints", operation_id = "create_notification_endpoint", tag = "notifications", params(("X-Workspace-ID" = Uuid, Header, description = "the workspace to list or create in")), request_body = NotificationEndpointInput, responses((status = 201, description = "created (admin), with its signing secret: shown this once", body = Data<CreatedNotificationEndpoint>), WriteErrors))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    WorkspaceScope(workspace_id): WorkspaceScope,
    ApiJson(input): ApiJson<NotificationEndpointInput>,
) -> ApiResult<Response> {
    principal
        .authorize(&state, workspace_id, Role::Admin, "workspace")
        .await?;
    let values = endpoint_values(&input)?;
    let secret = match input.secret.as_deref() {
        Some(secret) => checked_secret(secret)?,
        None => new_secret()?,
    };
    let endpoint = store::create_endpoint(
        &state.pool,
        &principal.actor(),
        workspace_id,
        &values,
        &secret,
    )
    .await?;
    Ok(
        Envelope::ok(CreatedNotificationEndpoint { secret, endpoint })
            .with_status(StatusCode::CREATED)
            .into_response(),
    )
}

async fn authorized(
    state: &AppState,
    principal: &Principal,
    id: uuid::Uuid,
) -> ApiResult<NotificationEndpoint> {
    let endpoint = store::get_endpoint(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("notification endpoint"))?;
    principal
        .authorize(
            state,
            endpoint.workspace_id,
            Role::Admin,
            "notification endpoint",
        )
        .await?;
    Ok(endpoint)
}

#[utoipa::path(get, path = "/api/v1/notification-endpoints/{id}", operation_id = "get_notification_endpoint", tag = "notifications", params(("id" = Uuid, Path, description = "notification endpoint id")), responses((status = 200, description = "the endpoint, without its secret (admin)", body = Data<NotificationEndpoint>), ReadErrors))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    let endpoint = authorized(&state, &principal, id).await?;
    Ok(Envelope::ok(endpoint).into_response())
}

#[utoipa::path(put, path = "/api/v1/notification-endpoints/{id}", operation_id = "replace_notification_endpoint", tag = "notifications", params(("id" = Uuid, Path, description = "notification endpoint id")), request_body = NotificationEndpointInput, responses((status = 200, description = "replaced (admin); the secret is replaced only when one is given, and never answered", body = Data<NotificationEndpoint>), WriteErrors))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    ApiJson(input): ApiJson<NotificationEndpointInput>,
) -> ApiResult<Response> {
    authorized(&state, &principal, id).await?;
    let values = endpoint_values(&input)?;
    let secret = input.secret.as_deref().map(checked_secret).transpose()?;
    let endpoint = store::update_endpoint(
        &state.pool,
        &principal.actor(),
        id,
        &values,
        secret.as_deref(),
    )
    .await?
    .ok_or(ApiError::NotFound("notification endpoint"))?;
    Ok(Envelope::ok(endpoint).into_response())
}

#[utoipa::path(delete, path = "/api/v1/notification-endpoints/{id}", operation_id = "delete_notification_endpoint", tag = "notifications", params(("id" = Uuid, Path, description = "notification endpoint id")), responses((status = 204, description = "deleted (admin), with its deliveries: pending ones are never sent"), WriteErrors))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> ApiResult<Response> {
    authorized(&state, &principal, id).await?;
    if store::delete_endpoint(&state.pool, &principal.actor(), id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound("notification endpoint"))
    }
}

#[utoipa::path(get, path = "/api/v1/notification-endpoints/{id}/deliveries", operation_id = "list_notification_deliveries", tag = "notifications", params(("id" = Uuid, Path, description = "notification endpoint id"), PageParams), responses((status = 200, description = "the endpoint's deliveries, newest first, with status, attempts and last error (admin)", body = Data<Vec<NotificationDelivery>>), ReadErrors))]
pub async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    query: RawQuery,
) -> ApiResult<Response> {
    let paging = query.paging::<ByTimeDesc>("notification_deliveries", &state.cursors)?;
    authorized(&state, &principal, id).await?;
    let page = store::list_deliveries(&state.pool, id, paging.after.as_ref(), paging.limit).await?;
    let next = paging.cursor_after(page.next.as_ref());
    Ok(Envelope::page(page.items, next).into_response())
}

fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    Invalid {
        field,
        message: message.into(),
    }
    .into()
}

/// The endpoint's settings as typed, checked (the secret separately).
fn endpoint_values(input: &NotificationEndpointInput) -> ApiResult<EndpointValues> {
    Ok(EndpointValues {
        name: source::display_name("name", &input.name)?,
        url: endpoint_url(&input.url)?,
        events: event_kinds(&input.events)?,
        min_severity: input.min_severity,
        format: input.format,
        enabled: input.enabled,
    })
}

/// An `http(s)://` URL with a host, without credentials or a fragment; stored as parsed
/// (normalized), so what is shown is what the worker sends to.
pub fn endpoint_url(text: &str) -> ApiResult<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid("url", "must not be empty"));
    }
    if text.chars().count() > MAX_URL_CHARS {
        return Err(invalid(
            "url",
            format!("must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            "url",
            "must not contain spaces or control characters",
        ));
    }
    let url = reqwest::Url::parse(text)
        .map_err(|error| invalid("url", format!("is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("url", "must start with https:// or http://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url", "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "url",
            "must not carry credentials (user:password@); the receiver verifies the X-StateSight-Signature header instead",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid(
            "url",
            "must not have a #fragment (it is never sent)",
        ));
    }
    let normalized = url.to_string();
    if normalized.chars().count() > MAX_URL_CHARS {
        return Err(invalid(
            "url",
            format!("must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    Ok(normalized)
}

/// At least one kind, each once, each one the worker sends.
fn event_kinds(events: &[EventKind]) -> ApiResult<Vec<EventKind>> {
    if events.is_empty() {
        return Err(invalid("events", "must name at least one event kind"));
    }
    let mut kinds: Vec<EventKind> = Vec::with_capacity(events.len());
    for kind in events {
        if !kind.is_notified() {
            return Err(invalid(
                "events",
                format!(
                    "{} is not sent as a notification: choose among run.started, run.succeeded, run.failed, incident.opened, incident.changed, incident.resolved",
                    kind.as_str()
                ),
            ));
        }
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    Ok(kinds)
}

/// An admin-supplied secret: printable ASCII without spaces, of a usable length.
fn checked_secret(secret: &str) -> ApiResult<String> {
    let secret = secret.trim();
    let length = secret.chars().count();
    if !SECRET_CHARS.contains(&length) {
        return Err(invalid(
            "secret",
            format!(
                "must be {} to {} characters (omit it to have one made)",
                SECRET_CHARS.start(),
                SECRET_CHARS.end()
            ),
        ));
    }
    if !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(
            "secret",
            "must be printable ASCII without spaces (e.g. openssl rand -hex 32)",
        ));
    }
    Ok(secret.to_owned())
}

/// 256 random bits as hex, recognisable by its prefix.
fn new_secret() -> ApiResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| ApiError::Internal)?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            endpoint_url(" https://hooks.example.com/x?a=1 ")
                .ok()
                .as_deref(),
            Some("https://hooks.example.com/x?a=1")
        );
        assert!(
            endpoint_url("http://127.0.0.1:9000/hook").is_ok(),
            "decided by the worker"
        );
        for bad in [
            "",
            "ftp://example.com/",
            "https://user:pass@example.com/",
            "https://token@example.com/",
            "https://example.com/a b",
            "https://example.com/\u{7}",
            "https://example.com/#x",
            "file:///etc/passwd",
            "example.com/hook",
        ] {
            assert!(endpoint_url(bad).is_err(), "{bad:?}");
        }
        assert!(endpoint_url(&format!("https://example.com/{}", "a".repeat(2100))).is_err());
    }

    #[test]
    fn secrets() {
        assert!(checked_secret("0123456789abcdef").is_ok());
        assert!(checked_secret("short").is_err());
        assert!(checked_secret("0123456789 abcdef").is_err());
        assert!(checked_secret(&"x".repeat(257)).is_err());
        let made = new_secret().expect("secret");
        assert!(checked_secret(&made).is_ok());
    }
}
