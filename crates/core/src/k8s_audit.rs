//! Kubernetes audit events (`audit.k8s.io/v1` `Event`) as StateSight keeps them: only
//! completed, mutating requests on objects, with Secret bodies removed. What is kept is
//! evidence for attribution (`attribution`); what is dropped is counted, never stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::string_enum::string_enum;

string_enum! {
    /// How much of a request the API server recorded (the audit policy's level).
    pub enum AuditLevel {
        /// Who, what, when: no request or response body.
        Metadata => "Metadata",
        /// Also the request body.
        Request => "Request",
        /// Also the response body.
        RequestResponse => "RequestResponse",
    }
}

string_enum! {
    /// What kind of identity made a request, as its username shows it.
    pub enum ActorKind {
        /// A person (an OIDC, certificate or token user that is not a system identity).
        User => "user",
        /// `system:serviceaccount:<namespace>:<name>`.
        ServiceAccount => "service-account",
        /// A control-plane component or a controller's service account in `kube-system`.
        Controller => "controller",
        /// `system:node:<name>`.
        Node => "node",
        /// Any other `system:` identity.
        System => "system",
    }
}

string_enum! {
    /// Why an event was not kept.
    pub enum DropReason {
        /// Not the `ResponseComplete` stage (the same request is recorded again when done).
        Incomplete => "incomplete",
        /// `get`, `list`, `watch` and other verbs that change nothing.
        ReadOnly => "read-only",
        /// A request without an object (`/api`, `/healthz`, …).
        NonResource => "non-resource",
    }
}

/// A user as the audit event names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditUser {
    pub username: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
}

/// The object a request was about, as `objectRef` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Empty for the core group.
    pub api_group: String,
    pub api_version: String,
    /// The plural resource (`deployments`), not the kind.
    pub resource: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    /// Empty for a `create` that lets the server generate the name.
    pub name: String,
    pub subresource: Option<String>,
}

/// A completed, mutating request on an object, as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptEvent {
    pub audit_id: String,
    /// When the response completed (`stageTimestamp`; the legacy `timestamp` otherwise).
    pub at: DateTime<Utc>,
    pub level: AuditLevel,
    pub verb: String,
    pub user: AuditUser,
    /// The identity the request acted as, when `user` impersonated another.
    pub impersonated: Option<AuditUser>,
    pub user_agent: Option<String>,
    pub source_ips: Vec<String>,
    pub object: ObjectRef,
    /// The HTTP status of the response, when recorded.
    pub response_code: Option<u16>,
    /// `dryRun=All` in the request: nothing was persisted.
    pub dry_run: bool,
    /// `fieldManager=` in the request, when given.
    pub field_manager: Option<String>,
    /// The request body (an object, a patch or options); `None` at `Metadata` level and for
    /// Secrets.
    pub request_object: Option<Value>,
    /// The response body (usually the object as stored); `None` below `RequestResponse` and
    /// for Secrets.
    pub response_object: Option<Value>,
}

/// Why a body could not be read as audit events, or an event could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum AuditEventError {
    #[error("the body holds no audit event (it is empty)")]
    Empty,
    /// `line` is 1-based and counts from the start of the body.
    #[error("line {line}: not valid JSON: {source}")]
    Json {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line}: expected an audit Event object, found {found}")]
    NotAnObject { line: usize, found: &'static str },
    #[error("line {line}: kind {kind:?} is neither Event nor EventList")]
    UnexpectedKind { line: usize, kind: String },
    #[error(
        "line {line}: apiVersion {api_version:?} is not audit.k8s.io/v1 or audit.k8s.io/v1beta1"
    )]
    UnsupportedApiVersion { line: usize, api_version: String },
    #[error("line {line}: the EventList has no `items` list")]
    ListWithoutItems { line: usize },
    #[error("line {line}: item {index} of the EventList is not an object")]
    ItemNotAnObject { line: usize, index: usize },
    #[error("an event has no auditID")]
    MissingAuditId,
    #[error("event {audit_id}: `{field}` is missing or not a string")]
    MissingField {
        audit_id: String,
        field: &'static str,
    },
    #[error("event {audit_id}: level {level:?} is not Metadata, Request or RequestResponse")]
    UnknownLevel { audit_id: String, level: String },
    #[error("event {audit_id}: `{field}` is not an RFC 3339 time: {value:?}")]
    BadTime {
        audit_id: String,
        field: &'static str,
        value: String,
    },
    #[error(
        "event {audit_id}: no time (none of stageTimestamp, requestReceivedTimestamp, timestamp)"
    )]
    NoTime { audit_id: String },
}

/// What `admit` decided about one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Keep(Box<KeptEvent>),
    Drop(DropReason),
}

/// Longest identity, user agent, URI or name kept: real ones are far shorter (names are at
/// most 253 bytes), so anything longer is hostile or broken and is cut, not stored whole.
pub const MAX_TEXT: usize = 1024;
/// Most groups or source IPs kept per event, for the same reason.
pub const MAX_LIST: usize = 64;

/// Reads the audit events in a webhook or log body: an `EventList`, one `Event`, or JSON lines
/// (one event per line; a value spanning lines is accepted too). Every event comes back as
/// it was; [`admit`] decides what is kept.
pub fn events_in_body(body: &[u8]) -> Result<Vec<Value>, AuditEventError> {
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    let mut events = Vec::new();
    loop {
        let start = next_non_space(body, stream.byte_offset());
        let line = line_at(body, start);
        match stream.next() {
            None => break,
            Some(Err(source)) => {
                return Err(AuditEventError::Json {
                    line: source.line(),
                    source,
                });
            }
            Some(Ok(value)) => unpack(value, line, &mut events)?,
        }
    }
    if events.is_empty() {
        return Err(AuditEventError::Empty);
    }
    Ok(events)
}

fn next_non_space(body: &[u8], from: usize) -> usize {
    body.iter()
        .skip(from)
        .position(|b| !b.is_ascii_whitespace())
        .map_or(body.len(), |i| from + i)
}

fn line_at(body: &[u8], offset: usize) -> usize {
    body.iter().take(offset).filter(|&&b| b == b'\n').count() + 1
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One top-level value: an `Event` is pushed, an `EventList`'s items are.
fn unpack(value: Value, line: usize, out: &mut Vec<Value>) -> Result<(), AuditEventError> {
    if !value.is_object() {
        return Err(AuditEventError::NotAnObject {
            line,
            found: json_type(&value),
        });
    }
    check_api_version(&value, line)?;
    match value.get("kind").and_then(Value::as_str) {
        None | Some("Event") => {
            out.push(value);
            Ok(())
        }
        Some("EventList") => unpack_list(value, line, out),
        Some(kind) => Err(AuditEventError::UnexpectedKind {
            line,
            kind: cut(kind),
        }),
    }
}

fn unpack_list(mut list: Value, line: usize, out: &mut Vec<Value>) -> Result<(), AuditEventError> {
    let items = match list.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        // The API server omits `items` from an empty list.
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(AuditEventError::ListWithoutItems { line }),
    };
    for (index, item) in items.into_iter().enumerate() {
        if !item.is_object() {
            return Err(AuditEventError::ItemNotAnObject { line, index });
        }
        check_api_version(&item, line)?;
        out.push(item);
    }
    Ok(())
}

fn check_api_version(value: &Value, line: usize) -> Result<(), AuditEventError> {
    match value.get("apiVersion").and_then(Value::as_str) {
        None | Some("audit.k8s.io/v1" | "audit.k8s.io/v1beta1") => Ok(()),
        Some(other) => Err(AuditEventError::UnsupportedApiVersion {
            line,
            api_version: cut(other),
        }),
    }
}

/// Verbs that can change an object.
const MUTATING_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// Decides whether one event is kept, and if so in what form.
pub fn admit(event: &Value) -> Result<Admission, AuditEventError> {
    let audit_id = text(event, "auditID").ok_or(AuditEventError::MissingAuditId)?;
    if !is_complete(event) {
        return Ok(Admission::Drop(DropReason::Incomplete));
    }
    let verb = text(event, "verb").ok_or_else(|| AuditEventError::MissingField {
        audit_id: audit_id.clone(),
        field: "verb",
    })?;
    if !MUTATING_VERBS.contains(&verb.as_str()) {
        return Ok(Admission::Drop(DropReason::ReadOnly));
    }
    let Some(object) = object_ref(event) else {
        return Ok(Admission::Drop(DropReason::NonResource));
    };
    let kept = KeptEvent {
        at: event_time(event, &audit_id)?,
        level: level(event, &audit_id)?,
        user: event.get("user").and_then(audit_user).ok_or_else(|| {
            AuditEventError::MissingField {
                audit_id: audit_id.clone(),
                field: "user.username",
            }
        })?,
        impersonated: event.get("impersonatedUser").and_then(audit_user),
        user_agent: text(event, "userAgent"),
        source_ips: text_list(event.get("sourceIPs")),
        response_code: event
            .get("responseStatus")
            .and_then(|s| s.get("code"))
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok()),
        dry_run: query_values(event, "dryRun").any(|v| v == "All"),
        field_manager: query_values(event, "fieldManager").next().map(|v| cut(&v)),
        request_object: body(event, "requestObject", &object),
        response_object: body(event, "responseObject", &object),
        verb,
        object,
        audit_id,
    };
    Ok(Admission::Keep(Box::new(kept)))
}

/// `ResponseComplete` is the one stage recorded once per finished request. Legacy
/// `v1beta1` events written before stages existed carry a top-level `timestamp` instead.
fn is_complete(event: &Value) -> bool {
    match event.get("stage").and_then(Value::as_str) {
        Some(stage) => stage == "ResponseComplete",
        None => event.get("timestamp").is_some(),
    }
}

fn object_ref(event: &Value) -> Option<ObjectRef> {
    let object = event.get("objectRef")?;
    let resource = text(object, "resource").filter(|r| !r.is_empty())?;
    Some(ObjectRef {
        api_group: text(object, "apiGroup").unwrap_or_default(),
        api_version: text(object, "apiVersion").unwrap_or_default(),
        resource,
        namespace: text(object, "namespace").unwrap_or_default(),
        name: text(object, "name").unwrap_or_default(),
        subresource: text(object, "subresource").filter(|s| !s.is_empty()),
    })
}

fn level(event: &Value, audit_id: &str) -> Result<AuditLevel, AuditEventError> {
    let level = text(event, "level").ok_or_else(|| AuditEventError::MissingField {
        audit_id: audit_id.to_owned(),
        field: "level",
    })?;
    AuditLevel::parse(&level).ok_or_else(|| AuditEventError::UnknownLevel {
        audit_id: audit_id.to_owned(),
        level,
    })
}

/// The completion time: the first of the fields below that is present must parse (a
/// present but broken time is an error, not a reason to trust another field).
fn event_time(event: &Value, audit_id: &str) -> Result<DateTime<Utc>, AuditEventError> {
    for field in ["stageTimestamp", "requestReceivedTimestamp", "timestamp"] {
        let Some(value) = event.get(field) else {
            continue;
        };
        return value
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| AuditEventError::BadTime {
                audit_id: audit_id.to_owned(),
                field,
                value: cut(&value.to_string()),
            });
    }
    Err(AuditEventError::NoTime {
        audit_id: audit_id.to_owned(),
    })
}

fn audit_user(user: &Value) -> Option<AuditUser> {
    Some(AuditUser {
        username: text(user, "username")?,
        uid: text(user, "uid"),
        groups: text_list(user.get("groups")),
    })
}

/// Secret bodies are never kept: they hold the secret values themselves.
fn body(event: &Value, field: &str, object: &ObjectRef) -> Option<Value> {
    if object.resource == "secrets" && object.api_group.is_empty() {
        return None;
    }
    event.get(field).filter(|b| !b.is_null()).cloned()
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(cut)
}

fn text_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .take(MAX_LIST)
                .map(cut)
                .collect()
        })
        .unwrap_or_default()
}

/// `text` cut to at most [`MAX_TEXT`] bytes, on a character boundary.
fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The URL-decoded values of query parameter `name` in the event's `requestURI`.
fn query_values<'e>(event: &'e Value, name: &'e str) -> impl Iterator<Item = String> + 'e {
    let query = event
        .get("requestURI")
        .and_then(Value::as_str)
        .and_then(|uri| uri.split_once('?'))
        .map_or("", |(_, query)| query);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query.split('&').filter_map(move |pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

/// Decodes `%XX` escapes and `+` (a space in query strings); a malformed escape is kept
/// as written rather than rejected, since it only ever reaches a comparison.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let Some(byte) = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Service accounts in `kube-system` that kube-controller-manager and the cloud
/// controller manager run controllers as, whose names do not end in `-controller`.
const CONTROL_PLANE_ACCOUNTS: &[&str] = &[
    "generic-garbage-collector",
    "horizontal-pod-autoscaler",
    "persistent-volume-binder",
    "pod-garbage-collector",
    "root-ca-cert-publisher",
    "bootstrap-signer",
    "token-cleaner",
    "legacy-service-account-token-cleaner",
    "cloud-provider",
    "kube-controller-manager",
    "kube-scheduler",
];

/// What kind of identity a username is.
pub fn actor_kind(username: &str) -> ActorKind {
    if let Some(account) = username.strip_prefix("system:serviceaccount:") {
        return match account.strip_prefix("kube-system:") {
            Some(name)
                if name.ends_with("-controller") || CONTROL_PLANE_ACCOUNTS.contains(&name) =>
            {
                ActorKind::Controller
            }
            _ => ActorKind::ServiceAccount,
        };
    }
    if username.starts_with("system:node:") {
        return ActorKind::Node;
    }
    match username {
        "system:kube-controller-manager" | "system:kube-scheduler" => ActorKind::Controller,
        _ if username.starts_with("system:") => ActorKind::System,
        _ => ActorKind::User,
    }
}

/// Kinds whose names already end in a plural, left as they are (upstream's
/// `unpluralizedSuffixes`): `Endpoints` is served as `endpoints`.
const UNPLURALIZED_SUFFIXES: &[&str] = &["endpoints"];

/// Kinds served under a resource name the guess does not give: the metrics API serves
/// `PodMetrics` as `pods`; OpenShift's `SecurityContextConstraints` is already plural.
const IRREGULAR_RESOURCES: &[(&str, &str)] = &[
    ("podmetrics", "pods"),
    ("nodemetrics", "nodes"),
    ("securitycontextconstraints", "securitycontextconstraints"),
];

/// The plural resource name the API server serves a kind under, guessed as Kubernetes'
/// `UnsafeGuessKindToResource` does, except that a `y` after a vowel takes a plain `s`
/// (`Gateway` is served as `gateways`, not the `gatewaies` upstream's guess would give).
pub fn resource_for_kind(kind: &str) -> String {
    let singular = kind.to_lowercase();
    if let Some((_, resource)) = IRREGULAR_RESOURCES.iter().find(|(k, _)| singular == *k) {
        return (*resource).to_owned();
    }
    if singular.is_empty() || UNPLURALIZED_SUFFIXES.iter().any(|s| singular.ends_with(s)) {
        return singular;
    }
    if singular.ends_with('s') {
        return format!("{singular}es");
    }
    match singular.strip_suffix('y') {
        Some(stem) if !stem.is_empty() && !stem.ends_with(['a', 'e', 'i', 'o', 'u']) => {
            format!("{stem}ies")
        }
        _ => format!("{singular}s"),
    }
}

/// Whether an event's object is `resource`: same group, plural resource, namespace and name.
/// The uid is deliberately not compared: on `create` it is whatever the client sent.
pub fn is_object(object: &ObjectRef, resource: &crate::identity::ResourceId) -> bool {
    object.api_group == resource.group
        && !object.name.is_empty()
        && object.name == resource.name
        && object.namespace == resource.namespace.as_deref().unwrap_or("")
        && object.resource == resource_for_kind(&resource.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(percent_decode("kubectl%2Dedit"), "kubectl-edit");
        assert_eq!(percent_decode("a+b%20c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let text = "é".repeat(MAX_TEXT);
        let kept = cut(&text);
        assert!(kept.len() <= MAX_TEXT && kept.chars().all(|c| c == 'é'));
        assert_eq!(cut("short"), "short");
    }
}
