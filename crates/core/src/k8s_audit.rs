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
