//! The evidence a finding carries: where the desired value was read in Git, how the live
//! value was observed, who owns the field according to managedFields, and how firmly the
//! drift is attributed to a change. The shape is the one the worker writes with each
//! finding; fields that records written before it lack are optional and say so.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::LiveMethod;
use crate::diff::OwnerRole;
pub use crate::k8s_audit::ActorKind;
use crate::string_enum::string_enum;

string_enum! {
    /// Where a live observation's time comes from.
    pub enum ObservedAtSource {
        /// The collector's clock when it read the cluster.
        Collector => "collector",
        /// The capture time a snapshot's `capture.json` records.
        CaptureFile => "capture_file",
        /// The modification times of a snapshot's files (no capture file).
        FileTimes => "file_times",
        /// The last moment the cluster's watch was known to be connected and in sync (its
        /// latest event, bookmark or successful relist) for every kind the run read.
        Watch => "watch",
    }
}

string_enum! {
    /// How firmly a finding is tied to the change that caused it, strongest first. Only
    /// Kubernetes audit events can give the stronger grades.
    pub enum AttributionGrade {
        /// An audit event records this field changing.
        ObservedChange => "observed-change",
        /// An audit event records a write that set this field.
        ObservedSet => "observed-set",
        /// The owning manager's managedFields time matches a recorded write.
        ManagerTimeMatch => "manager-time-match",
        /// A write in the window between two observations could be the cause.
        WindowCandidate => "window-candidate",
        /// Nothing ties the drift to a particular change.
        NotAttributed => "not-attributed",
    }
}

/// A field manager owning a finding's path, as the object's managedFields recorded it:
/// evidence of who last wrote or asserted the field, not proof of who caused the drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Owner {
    pub manager: String,
    /// `Apply` or `Update`, as Kubernetes records it.
    pub operation: String,
    /// The subresource written through (`status`, `scale`, …), null for the object itself.
    pub subresource: Option<String>,
    /// When the manager last wrote, as the cluster recorded it (RFC 3339 text).
    pub time: Option<String>,
    /// How the manager relates to the application; null in records written before roles
    /// were recorded.
    #[serde(default)]
    pub role: Option<OwnerRole>,
}

impl From<&crate::diff::Owner> for Owner {
    fn from(owner: &crate::diff::Owner) -> Owner {
        Owner {
            manager: owner.manager.clone(),
            operation: owner.operation.clone(),
            subresource: owner.subresource.clone(),
            time: owner.time.clone(),
            role: Some(owner.role),
        }
    }
}

/// Everything a finding rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evidence {
    pub desired: DesiredEvidence,
    pub live: LiveEvidence,
    pub ownership: Ownership,
    pub attribution: Attribution,
}

/// Where in Git the desired value was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DesiredEvidence {
    /// The repository URL, credentials redacted.
    pub repository: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The source's path in the repository; null in older records.
    #[serde(default)]
    pub source_path: Option<String>,
    /// The manifest file (a repository path, or `kustomize:<path>`); null in older records.
    #[serde(default)]
    pub file: Option<String>,
    /// The 1-based YAML document in `file`; null in older records.
    #[serde(default)]
    pub document: Option<u32>,
    /// The commit SHA analysed.
    pub revision: String,
    #[serde(default)]
    pub committed_at: Option<DateTime<Utc>>,
    /// Since when Git wants this value: the commit that last changed the field's desired
    /// value, as of `revision`; absent in records written before it was looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DesiredSince>,
}

/// The commit that set a field's desired value, or why it is not known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DesiredSince {
    /// The oldest commit of the unbroken run of commits, up to `revision`, in which the
    /// field's file declares today's value.
    Determined {
        commit: String,
        author_name: String,
        author_email: String,
        authored_at: DateTime<Utc>,
        /// The commit message's first line.
        subject: String,
    },
    /// Not looked up or not traceable (a rendered source, a history too deep, …).
    NotDetermined { reason: String },
}

/// How the live value was observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveEvidence {
    pub method: LiveMethod,
    /// The cluster's name when the analysis ran.
    pub cluster: String,
    /// Null in older records.
    #[serde(default)]
    pub cluster_id: Option<Uuid>,
    pub observed_at: DateTime<Utc>,
    /// Null in older records.
    #[serde(default)]
    pub observed_at_source: Option<ObservedAtSource>,
    /// The kubeconfig context read, if any.
    #[serde(default)]
    pub context: Option<String>,
    /// False for synthetic live state.
    pub trusted: bool,
}

/// Who owns the drifted field, and how to read that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ownership {
    pub owners: Vec<Owner>,
    /// How far the ownership evidence goes (e.g. that live state without managedFields
    /// makes ownership unknown rather than absent).
    pub note: String,
}

/// How firmly the drift is tied to a change, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attribution {
    pub grade: AttributionGrade,
    pub reason: String,
    /// The Kubernetes audit events the grade rests on, oldest first: the one that set the
    /// field for `observed-*`, the matching write for `manager-time-match`, every mutating
    /// request in the window for `window-candidate`; empty otherwise (and in records
    /// written before attribution read audit events). Left out when empty, so records
    /// written before it existed read back and serialize unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<AttributedEvent>,
}

/// A Kubernetes audit event offered as evidence for a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributedEvent {
    pub audit_id: String,
    /// When the API server completed the request.
    pub at: DateTime<Utc>,
    /// `create`, `update`, `patch`, `delete`, …
    pub verb: String,
    /// The authenticated user that made the request.
    pub username: String,
    pub actor_kind: ActorKind,
    /// The identity the request acted as, when `username` impersonated it.
    pub impersonated: Option<String>,
    pub impersonated_kind: Option<ActorKind>,
    pub user_agent: Option<String>,
    pub source_ips: Vec<String>,
    /// `fieldManager=` of the request, when given.
    pub field_manager: Option<String>,
    /// `scale`, `status`, … when the request wrote a subresource.
    pub subresource: Option<String>,
    /// The value this request set at the finding's path, when its body shows one.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub value_set: Option<serde_json::Value>,
    /// The value the field had before, when known.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub value_before: Option<serde_json::Value>,
}
