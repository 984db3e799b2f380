//! Extractors whose rejections speak the API's error envelope, and the paging parameters.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use statesight_core::string_enum::StringEnum;
use uuid::Uuid;

use crate::cursor::{CursorSigner, PageKey};
use crate::error::{ApiError, ApiResult, echo, sanitize_library_message};

/// A single UUID path parameter, rejected with 400 when malformed.
pub struct IdPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|error| {
                ApiError::BadRequest(format!(
                    "invalid path parameter: {}",
                    sanitize_library_message(&error.body_text())
                ))
            })?;
        Uuid::parse_str(&raw).map(IdPath).map_err(|_| {
            ApiError::BadRequest(format!(
                "the id in the path must be a UUID, got {}",
                echo(&raw)
            ))
        })
    }
}

/// Query parameters, parsed by hand from the raw pairs so every bad value gets a message
/// naming the parameter.
pub struct RawQuery(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for RawQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> ApiResult<Self> {
        let query = parts.uri.query().unwrap_or("");
        let pairs = form_urlencoded_pairs(query).ok_or_else(|| {
            ApiError::BadRequest(String::from(
                "the query string is not valid percent-encoding",
            ))
        })?;
        Ok(RawQuery(pairs))
    }
}

fn form_urlencoded_pairs(query: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|part| !part.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((percent_decode(key)?, percent_decode(value)?));
    }
    Some(pairs)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(index + 1..index + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                index += 2;
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8(out).ok()
}

impl RawQuery {
    /// The single value of `name`; a repeated parameter is an error, not a silent choice.
    pub fn get(&self, name: &str) -> ApiResult<Option<&str>> {
        let mut values = self.0.iter().filter(|(key, _)| key == name);
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::BadRequest(format!(
                "query parameter `{name}` is given more than once"
            )));
        }
        Ok(first.map(|(_, value)| value.as_str()))
    }

    /// A UUID parameter. Given empty (`?application_id=`) it is refused like any other
    /// non-UUID: the document says UUID, and an empty filter silently meaning "all" would
    /// hide a client's bug.
    pub fn uuid(&self, name: &str) -> ApiResult<Option<Uuid>> {
        match self.get(name)? {
            None => Ok(None),
            Some(value) => Uuid::parse_str(value).map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "query parameter `{name}` must be a UUID, got {}",
                    echo(value)
                ))
            }),
        }
    }

    /// An enum parameter, by its string form (empty is not one of them).
    pub fn one_of<T: StringEnum>(&self, name: &str) -> ApiResult<Option<T>> {
        match self.get(name)? {
            None => Ok(None),
            Some(value) => T::parse(value).map(Some).ok_or_else(|| {
                let allowed: Vec<&str> = T::ALL.iter().map(|variant| variant.as_str()).collect();
                ApiError::BadRequest(format!(
                    "query parameter `{name}` must be one of {}, got {}",
                    allowed.join(", "),
                    echo(value)
                ))
            }),
        }
    }

    /// `limit` and `cursor`, validated. `list` names the list so a cursor from one list is
    /// refused by another; `signer` verifies the cursor and signs the next one.
    pub fn paging<K: PageKey>(
        &self,
        list: &'static str,
        signer: &CursorSigner,
    ) -> ApiResult<Paging<K>> {
        let limit = match self.get("limit")? {
            None => DEFAULT_LIMIT,
            Some(value) => match value.parse::<i64>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "query parameter `limit` must be an integer from 1 to {MAX_LIMIT}, got {}",
                        echo(value)
                    )));
                }
            },
        };
        // An empty cursor is the first page: a cursor is an opaque string, and a client
        // templating `cursor={next}` sends an empty one before it has any.
        let after = match self.get("cursor")? {
            None | Some("") => None,
            Some(cursor) => Some(signer.verify(list, cursor).ok_or_else(|| {
                ApiError::BadRequest(String::from(
                    "query parameter `cursor` is invalid or expired (cursors are signed and \
                     belong to the list that issued them); restart from the first page by \
                     omitting it, then pass meta.next_cursor unchanged",
                ))
            })?),
        };
        Ok(Paging {
            limit,
            after,
            list,
            signer: signer.clone(),
        })
    }
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

pub struct Paging<K> {
    pub limit: i64,
    pub after: Option<K>,
    pub list: &'static str,
    signer: CursorSigner,
}

impl<K: Serialize> Paging<K> {
    /// The signed, opaque cursor for the page after `key`.
    pub fn cursor_after(&self, key: Option<&K>) -> Option<String> {
        key.and_then(|key| self.signer.sign(self.list, key))
    }
}

/// A JSON request body whose every refusal speaks the error envelope: malformed JSON is
/// 400, wrong types, missing or unknown fields 422, a missing content type 415, an
/// oversize body 413.
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> ApiResult<Self> {
        use axum::extract::rejection::JsonRejection;
        use axum::http::StatusCode;
        match axum::Json::<serde_json::Value>::from_request(request, state).await {
            Ok(axum::Json(value)) => from_object(value).map(ApiJson),
            Err(JsonRejection::JsonSyntaxError(error)) => Err(ApiError::BadRequest(format!(
                "the request body is not valid JSON: {}",
                sanitize_library_message(&error.body_text())
            ))),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge(crate::MAX_BODY_BYTES))
            }
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "the request body could not be read: {}",
                sanitize_library_message(&rejection.body_text())
            ))),
        }
    }
}

/// An optional JSON body: an empty body or `null` is `T::default()`, anything else must be
/// JSON (with a JSON content type), refused the way `ApiJson` refuses it.
pub struct OptionalJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> ApiResult<Self> {
        use axum::http::StatusCode;
        let is_json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                let essence = value.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
                    || essence.to_ascii_lowercase().ends_with("+json")
            });
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(crate::MAX_BODY_BYTES)
                } else {
                    ApiError::BadRequest(format!(
                        "the request body could not be read: {}",
                        sanitize_library_message(&rejection.body_text())
                    ))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|error| {
            ApiError::BadRequest(format!(
                "the request body is not valid JSON: {}",
                sanitize_library_message(&error.to_string())
            ))
        })?;
        // `null` is "no body" too: a client serializing an absent optional body sends it.
        if value.is_null() {
            return Ok(OptionalJson(T::default()));
        }
        from_object(value).map(OptionalJson)
    }
}

/// A body's JSON as `T`, which must be given as an object: serde would also read a struct
/// from an array of its fields, which the API does not document.
fn from_object<T: DeserializeOwned>(value: serde_json::Value) -> ApiResult<T> {
    if !value.is_object() {
        return Err(ApiError::validation(
            "the request body does not fit this route: it must be a JSON object",
        ));
    }
    refuse_nul(&value, &mut String::new())?;
    serde_json::from_value(value).map_err(|error| {
        ApiError::validation(format!(
            "the request body does not fit this route: {}",
            sanitize_library_message(&error.to_string())
        ))
    })
}

/// Refuses a body holding the NUL character (`\u0000`) in any string or key, naming its
/// JSON path (`reason`, `items[2].name`). JSON allows it, but PostgreSQL `text` cannot
/// store it, so it would otherwise fail at the database as a 500; no field of the API
/// has a use for it. Checked once here, so every route and field is covered, including
/// ones added later.
fn refuse_nul(value: &serde_json::Value, path: &mut String) -> ApiResult<()> {
    use serde_json::Value;
    let refuse = |path: &str| {
        let field = if path.is_empty() { "(body)" } else { path };
        ApiError::invalid_field(
            field,
            format!("{field} must not contain the NUL character (\\u0000)"),
            Some("must not contain the NUL character (\\u0000)"),
        )
    };
    match value {
        Value::String(text) if text.contains('\0') => Err(refuse(path)),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let before = path.len();
                path.push_str(&format!("[{index}]"));
                refuse_nul(item, path)?;
                path.truncate(before);
            }
            Ok(())
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let before = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                if key.contains('\0') {
                    // The key itself is the caller's text: quote it escaped and capped.
                    path.push_str(&echo(key));
                    return Err(refuse(path));
                }
                path.push_str(key);
                refuse_nul(item, path)?;
                path.truncate(before);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Two UUID path parameters (`/applications/{id}/ignore-rules/{rule_id}`).
pub struct IdPair(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdPair {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let Path((first, second)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|error| {
                ApiError::BadRequest(format!(
                    "invalid path parameters: {}",
                    sanitize_library_message(&error.body_text())
                ))
            })?;
        let parse = |raw: &str| {
            Uuid::parse_str(raw).map_err(|_| {
                ApiError::BadRequest(format!(
                    "the ids in the path must be UUIDs, got {}",
                    echo(raw)
                ))
            })
        };
        Ok(IdPair(parse(&first)?, parse(&second)?))
    }
}
