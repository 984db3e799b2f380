//! Wire types of the `/api/v1` JSON API, shared by the server (which produces them) and the
//! console and scripts (which read them). They are plain data: no database or HTTP types.
//!
//! Every closed set of values is an enum whose serialized form is the string the API sends
//! and the database stores (see `string_enum`), so a stored row that decodes today decodes
//! the same way here. Where older stored records lack a field the current writer always
//! sets, the field is optional and says so.

mod audit_ingest;
mod envelope;
mod events;
mod evidence;
mod notifications;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

pub use crate::diff::{ChangeKind, OwnerRole};
pub use crate::incident::Severity;
pub use crate::recommend::Recommendation;
pub use crate::rules::RuleScope;
pub use crate::string_enum::UnknownVariant;
pub use audit_ingest::{AuditIngestReport, AuditIngestionToken, CreatedAuditIngestionToken};
pub use envelope::{
    Data, ErrorBody, ErrorCode, ErrorDetail, ErrorDetails, FieldDetails, Meta, ReferenceDetails,
    SyntaxDetails,
};
pub use events::{EventKind, IncidentEvent, WorkspaceEvent};
pub use evidence::{
    ActorKind, AttributedEvent, Attribution, AttributionGrade, DesiredEvidence, DesiredSince,
    Evidence, LiveEvidence, ObservedAtSource, Owner, Ownership,
};
pub use notifications::{
    AttemptOutcome, CreatedNotificationEndpoint, DeliveryStatus, LastAttempt, NotificationDelivery,
    NotificationEndpoint, NotificationEndpointInput, NotificationFormat,
};

use crate::string_enum::string_enum;

string_enum! {
    /// A workspace role. Ordered: every role can do what the roles before it can.
    pub enum Role {
        Viewer => "viewer",
        Editor => "editor",
        Admin => "admin",
    }
}

string_enum! {
    /// Where an analysis run is: at most one run per application is `queued` and one
    /// `running` at a time.
    pub enum RunStatus {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        /// `error` says why.
        Failed => "failed",
    }
}

string_enum! {
    /// What asked for an analysis run.
    pub enum RunTrigger {
        /// `POST /api/v1/applications/:id/analyze`.
        Manual => "manual",
        /// The worker's periodic schedule.
        Schedule => "schedule",
        Webhook => "webhook",
        /// Demo data loaded by the seed command.
        Seed => "seed",
        /// The cluster's watch saw a tracked object change.
        Watch => "watch",
    }
}

string_enum! {
    /// Whether an incident's drift is still observed.
    pub enum IncidentStatus {
        Open => "open",
        /// The last analysis no longer found its drift; it reopens if the drift returns.
        Resolved => "resolved",
    }
}

string_enum! {
    /// How the worker reads a cluster's live state (a cluster's setting).
    pub enum LiveSource {
        /// The Kubernetes API through a kubeconfig.
        KubeApi => "kube-api",
        /// The Kubernetes API with the worker's own service account.
        InCluster => "in-cluster",
        /// The `kubectl` executable.
        Kubectl => "kubectl",
        /// A directory of captured objects.
        Snapshot => "snapshot",
    }
}

string_enum! {
    /// How a run's live state was actually read: one of the live sources, or `synthetic`
    /// (made up from Git for demos when the worker allows it; never trusted).
    pub enum LiveMethod {
        KubeApi => "kube-api",
        InCluster => "in-cluster",
        Kubectl => "kubectl",
        Snapshot => "snapshot",
        Synthetic => "synthetic",
        /// The cluster's watch cache: objects a worker's watch on the API server (kube-api
        /// or in-cluster) received and kept, read without asking the API server again.
        WatchCache => "watch-cache",
    }
}

string_enum! {
    /// How desired state was produced from the Git tree.
    pub enum RenderedWith {
        /// The manifests as committed.
        Plain => "plain",
        /// The output of `kubectl kustomize` on the source path.
        Kustomize => "kustomize",
    }
}

string_enum! {
    /// What an incident groups its findings by (see [`Cause`]).
    pub enum CauseKind {
        /// A field manager owns the drifted fields; [`Cause::manager`] names it.
        Manager => "manager",
        /// Drift with no ownership evidence.
        Unowned => "unowned",
        /// The resource does not exist live.
        Missing => "missing",
        /// A string-map entry the applier once set, no longer in Git, still live.
        RemovedFromGit => "removed_from_git",
    }
}

string_enum! {
    /// What happened in one event of an incident's timeline.
    pub enum TimelineKind {
        /// The Git revision an analysis compared against.
        GitRevision => "git_revision",
        /// A manager's last write as the cluster's managedFields recorded it.
        ManagedFieldsTime => "managed_fields_time",
        /// The first analysis that found the drift.
        FirstSeen => "first_seen",
        /// A later analysis found it again.
        Reobserved => "reobserved",
        /// An ignore rule suppressed some of its findings.
        Suppressed => "suppressed",
        /// An ignore rule affecting it was changed.
        RuleChanged => "rule_changed",
        /// An analysis no longer found it.
        Resolved => "resolved",
        /// It was found again after being resolved.
        Reopened => "reopened",
        /// A Kubernetes audit event its findings' attribution cites: who wrote the object,
        /// how, from where.
        AuditEvent => "audit_event",
    }
}

/// Why an incident's findings drifted. `manager` is set exactly when `kind` is `manager`:
/// `{"kind": "manager", "manager": "kubectl-edit"}`, `{"kind": "unowned", "manager": null}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cause {
    pub kind: CauseKind,
    /// The field manager owning the drifted fields; null unless `kind` is `manager`.
    pub manager: Option<String>,
}

impl Cause {
    pub fn manager(name: impl Into<String>) -> Cause {
        Cause {
            kind: CauseKind::Manager,
            manager: Some(name.into()),
        }
    }

    /// A cause without a manager (`unowned`, `missing`, `removed_from_git`).
    pub fn without_manager(kind: CauseKind) -> Cause {
        Cause {
            kind,
            manager: None,
        }
    }

    /// Reads the one-word label the database stores (see [`crate::cause_label`]): a manager
    /// name, or `unowned`, `missing` or `removed_from_git`. The label cannot tell a manager
    /// literally named `unowned` from the cause; the engine's fingerprint can, the label
    /// reads as the cause.
    pub fn from_label(label: &str) -> Cause {
        match CauseKind::parse(label) {
            Some(CauseKind::Manager) | None => Cause::manager(label),
            Some(kind) => Cause::without_manager(kind),
        }
    }

    /// The label the database stores: the manager name, or the kind.
    pub fn label(&self) -> &str {
        match (&self.kind, &self.manager) {
            (CauseKind::Manager, Some(manager)) => manager,
            (kind, _) => kind.as_str(),
        }
    }
}

impl From<&crate::diff::Cause> for Cause {
    fn from(cause: &crate::diff::Cause) -> Cause {
        match cause {
            crate::diff::Cause::Manager(name) => Cause::manager(name.clone()),
            crate::diff::Cause::Unowned => Cause::without_manager(CauseKind::Unowned),
            crate::diff::Cause::Missing => Cause::without_manager(CauseKind::Missing),
            crate::diff::Cause::RemovedFromGit => Cause::without_manager(CauseKind::RemovedFromGit),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
}

/// A workspace as seen by one member: with that member's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkspaceAccess {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
}

/// `GET /api/v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub user: User,
    pub workspaces: Vec<WorkspaceAccess>,
}

string_enum! {
    /// How a client asks this provider for an access token meant for the API's audience.
    /// Providers differ: RFC 8707 resource indicators (`resource=<audience>`), Auth0-style
    /// `audience=<audience>`, or a provider-specific scope listed in `scopes` (Entra ID's
    /// `api://…/.default`, Keycloak audience mappers bound to a client scope).
    pub enum AudienceParameter {
        Resource => "resource",
        Audience => "audience",
        Scope => "scope",
    }
}

/// `GET /api/v1/auth/config`: what a client needs to start signing in, from nothing but
/// the server's URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicAuthConfig {
    /// False only in demo mode: every caller is then the demo user and needs no token.
    pub auth_required: bool,
    /// The OpenID provider (`iss` of accepted tokens); its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: Option<String>,
    /// What accepted access tokens carry in `aud`.
    pub audience: Option<String>,
    /// The public client the console signs in with (device authorization grant).
    pub client_id: Option<String>,
    /// Scopes to request, in order.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How to ask the provider for `audience`; absent when auth is off.
    #[serde(default)]
    pub audience_parameter: Option<AudienceParameter>,
}

/// The Kubernetes object a finding or incident is about. `api_version` is the one Git
/// declares; identity is group/kind/namespace/name (the version is not identity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceIdentity {
    pub api_version: String,
    /// Empty for the core group.
    pub group: String,
    pub kind: String,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub name: String,
}

impl ResourceIdentity {
    /// The engine's identity of the object (an empty namespace is a cluster-scoped object).
    pub fn id(&self) -> crate::identity::ResourceId {
        crate::identity::ResourceId {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: (!self.namespace.is_empty()).then(|| self.namespace.clone()),
            name: self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamedRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSummary {
    pub id: Uuid,
    pub status: RunStatus,
    pub queued_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub resolved_revision: Option<String>,
}

/// An application in lists: with its cluster, source and a digest of its open incidents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Application {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub description: String,
    pub default_namespace: String,
    pub cluster: NamedRef,
    pub source: NamedRef,
    pub open_incident_count: i64,
    /// The highest severity among open incidents, null when there are none.
    pub highest_open_severity: Option<Severity>,
    pub latest_run: Option<RunSummary>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A list embedded in a detail response, capped; `total` counts every item and `href` is
/// the paginated route that lists them all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capped<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub truncated: bool,
    pub href: String,
}

/// `GET /api/v1/applications/:id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationDetail {
    #[serde(flatten)]
    pub application: Application,
    pub open_incidents: Capped<Incident>,
    pub recent_suppressions: Capped<SuppressedFinding>,
    /// Application rules and the workspace rules it inherits (those are `read_only`), in
    /// the order the worker applies them.
    pub ignore_rules: Capped<IgnoreRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incident {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub application: NamedRef,
    /// Stable across runs: a re-analysis finding the same drift updates this incident.
    pub fingerprint: String,
    pub resource: ResourceIdentity,
    pub cause: Cause,
    pub title: String,
    pub severity: Severity,
    pub recommendation: Recommendation,
    /// One sentence naming the evidence the recommendation rests on.
    pub rationale: String,
    pub status: IncidentStatus,
    pub finding_count: i32,
    pub occurrence_count: i32,
    pub recurrence_count: i32,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub last_run_id: Option<Uuid>,
}

/// One drifted field of one resource, with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub run_id: Option<Uuid>,
    pub resource: ResourceIdentity,
    /// The drifted field, in the drift-path grammar `match_expression` uses.
    pub path: String,
    pub change: ChangeKind,
    /// The value Git declares at `path`: any JSON value, null when Git declares none.
    /// Secret values are digests.
    #[cfg_attr(feature = "openapi", schema(value_type = Value, required = true))]
    pub desired: Option<Value>,
    /// The live value at `path`: any JSON value, null when the cluster has none. Secret
    /// values are digests.
    #[cfg_attr(feature = "openapi", schema(value_type = Value, required = true))]
    pub live: Option<Value>,
    /// Managers owning the path, as managedFields recorded them.
    pub owners: Vec<Owner>,
    pub evidence: Evidence,
    pub observed_at: DateTime<Utc>,
}

/// The rule that suppressed a finding, as it was when the analysis ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuppressingRule {
    /// Null once the rule is deleted.
    pub id: Option<Uuid>,
    pub name: String,
    pub reason: String,
    pub scope: RuleScope,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuppressedFinding {
    pub id: Uuid,
    pub run_id: Option<Uuid>,
    /// The rule as it was when the analysis ran; `id` is null once the rule is deleted.
    pub rule: SuppressingRule,
    pub resource: ResourceIdentity,
    pub path: String,
    pub change: ChangeKind,
    /// Any JSON value, null when Git declares none.
    #[cfg_attr(feature = "openapi", schema(value_type = Value, required = true))]
    pub desired: Option<Value>,
    /// Any JSON value, null when the cluster has none.
    #[cfg_attr(feature = "openapi", schema(value_type = Value, required = true))]
    pub live: Option<Value>,
    pub owners: Vec<Owner>,
    pub observed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IgnoreRule {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub application_id: Option<Uuid>,
    pub scope: RuleScope,
    pub name: String,
    pub match_expression: String,
    pub resource_ref: Option<String>,
    pub managed_by: Option<String>,
    pub reason: String,
    pub enabled: bool,
    /// True for workspace rules shown on an application: they are edited elsewhere.
    pub read_only: bool,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a run's desired state came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DesiredProvenance {
    pub repo_url: String,
    pub git_ref: String,
    pub path: String,
    /// The full commit SHA analysed.
    pub commit_sha: String,
    pub committed_at: Option<DateTime<Utc>>,
    pub rendered_with: RenderedWith,
}

/// How a run's live state was observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveProvenance {
    pub cluster_id: Uuid,
    pub method: LiveMethod,
    /// False for synthetic live state: nothing is recommended for reconciliation from it.
    pub trusted: bool,
    pub observed_at: DateTime<Utc>,
    pub observed_at_source: ObservedAtSource,
    pub context: Option<String>,
    pub has_managed_fields: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalysisRun {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub application_id: Uuid,
    pub status: RunStatus,
    pub trigger: RunTrigger,
    pub requested_revision: Option<String>,
    pub resolved_revision: Option<String>,
    pub requested_by: Option<Uuid>,
    pub attempts: i32,
    /// Why the run failed, or the error of an attempt that will be retried.
    pub error: Option<String>,
    pub finding_count: Option<i32>,
    pub suppressed_count: Option<i32>,
    pub incident_count: Option<i32>,
    /// What the analysis noticed but did not turn into findings (unidentifiable
    /// manifests, live state without managedFields, …).
    pub warnings: Vec<String>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub desired_provenance: Option<DesiredProvenance>,
    pub live_provenance: Option<LiveProvenance>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeverityCounts {
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecommendationCounts {
    pub reconcile: i64,
    pub investigate: i64,
    pub monitor: i64,
    pub ignore: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenIncidentCounts {
    pub total: i64,
    pub by_severity: SeverityCounts,
    pub by_recommendation: RecommendationCounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunCounts {
    pub queued: i64,
    pub running: i64,
    pub failed_last_24h: i64,
    pub succeeded_last_24h: i64,
}

/// `GET /api/v1/overview`: the state of one workspace at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overview {
    pub workspace: WorkspaceAccess,
    pub applications: i64,
    pub clusters: i64,
    pub sources: i64,
    pub open_incidents: OpenIncidentCounts,
    pub runs: RunCounts,
    /// The most severe open incidents, most severe and most recent first.
    pub top_incidents: Vec<Incident>,
    pub recent_runs: Vec<AnalysisRun>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cluster {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub description: String,
    pub live_source: LiveSource,
    pub kubeconfig_path: Option<String>,
    pub context: Option<String>,
    pub snapshot_dir: Option<String>,
    /// Whether a worker watches the cluster and re-analyses its applications when a tracked
    /// object changes. Only `kube-api` and `in-cluster` clusters can be watched.
    #[serde(default)]
    pub watch: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

// The limits in the `schema(...)` attributes of the request bodies below are the ones the
// server's validation enforces (`crate::source` and the server's `validate` module), on
// values trimmed of surrounding whitespace. They are literals because utoipa takes only
// literals there; the server's OpenAPI tests send each documented maximum length, and one
// character more, to check that the server draws the line at the same place.

/// Body of `POST /api/v1/clusters` and `PUT /api/v1/clusters/:id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClusterInput {
    /// Unique in the workspace; no control characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub description: String,
    pub live_source: LiveSource,
    /// An absolute (or `~/`) path on the worker's machine, at most 4096 bytes; empty or
    /// null means the worker's default. Not for `in-cluster` or `snapshot`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096, pattern = r"^(/|~/|$)"))]
    pub kubeconfig_path: Option<String>,
    /// A kubeconfig context, not starting with `-`; empty or null means the current one.
    /// Not for `in-cluster` or `snapshot`.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 253, pattern = r"^([^-].*)?$")
    )]
    pub context: Option<String>,
    /// Required for, and only for, `snapshot`: an absolute (or `~/`) directory on the
    /// worker's machine, at most 4096 bytes.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096, pattern = r"^(/|~/|$)"))]
    pub snapshot_dir: Option<String>,
    /// Watch the cluster and re-analyse on change (default false). Only for `kube-api` and
    /// `in-cluster`.
    #[serde(default)]
    pub watch: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Source {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub repo_url: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/sources` and `PUT /api/v1/sources/:id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    /// Unique in the workspace; no control characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// `https://`, `http://`, `ssh://`, `git://`, `file://` or `user@host:path`; at most
    /// 2048 bytes. Remote-helper transports (`name::…`) are refused.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 2048, pattern = r"^[^-\s]\S*$")
    )]
    pub repo_url: String,
    /// A branch, tag, full ref or commit SHA, following `git check-ref-format`; at most
    /// 255 bytes.
    #[serde(rename = "ref", default = "default_ref")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 255,
            pattern = r"^[^-\s~^:?*\[\\][^\s~^:?*\[\\]*$"
        )
    )]
    pub git_ref: String,
    /// Relative to the repository root, without `..`; at most 1024 bytes. Stored
    /// normalized (`./a//b/` becomes `a/b`, empty becomes `.`).
    #[serde(default = "default_path")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 1024, pattern = r"^([^/].*)?$")
    )]
    pub path: String,
}

fn default_ref() -> String {
    String::from("HEAD")
}

fn default_path() -> String {
    String::from(".")
}

/// Body of `POST /api/v1/applications` and `PUT /api/v1/applications/:id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplicationInput {
    /// Unique in the workspace; no control characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub description: String,
    /// A cluster of the same workspace.
    pub cluster_id: Uuid,
    /// A source of the same workspace.
    pub source_id: Uuid,
    /// A Kubernetes namespace name, for manifests that name none.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 63,
            pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
        )
    )]
    pub default_namespace: String,
}

/// Body of `POST /api/v1/applications/:id/analyze`. The body is optional: no body, `null`
/// and `{}` all analyse the source's ref.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    /// A commit SHA or ref to analyse instead of the source's ref (ref rules as for a
    /// source's `ref`); empty or null means the source's ref.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 255, pattern = r"^([^-\s~^:?*\[\\][^\s~^:?*\[\\]*)?$")
    )]
    pub revision: Option<String>,
}

/// Body of `POST …/ignore-rules` and `PUT …/ignore-rules/:ruleID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IgnoreRuleInput {
    /// Unique among the application's rules; no control characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// One drift path, e.g. `spec.replicas` or `spec.template.spec.containers[name=api].image`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub match_expression: String,
    /// `[group/]Kind/[namespace/]name`; empty or null matches every resource.
    #[serde(default)]
    pub resource_ref: Option<String>,
    /// Suppress only when this field manager owns the field; at most 128 bytes, no control
    /// characters; empty or null matches any manager.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 128))]
    pub managed_by: Option<String>,
    /// Why the drift is expected.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub reason: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// Body of `PATCH …/ignore-rules/:ruleID`: only the fields given change; `null` clears the
/// optional ones. The result is checked as a whole, as for `IgnoreRuleInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IgnoreRulePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub match_expression: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub resource_ref: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    #[cfg_attr(feature = "openapi", schema(max_length = 128))]
    pub managed_by: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `Option<Option<T>>` that tells an absent field (`None`) from an explicit `null`
/// (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// What still uses a cluster or source that someone tries to delete (409 details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct References {
    pub applications: Vec<NamedRef>,
}

/// One event of an incident's timeline (`GET /api/v1/incidents/:id/timeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineEvent {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub run_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    pub kind: TimelineKind,
    pub summary: String,
    /// What the event is about; its keys depend on `kind` (a revision, a manager and its
    /// operation, the rules involved, …).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Map<String, Value>,
}

/// Who made an operator change, as the audit log recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditActor {
    /// The issuer of the token the change was made with (`statesight:system` for the admin
    /// CLI and other StateSight processes).
    pub issuer: String,
    /// The token's subject (for the system: what acted, e.g. `admin-cli`).
    pub subject: String,
    /// The local user, while it exists.
    pub user_id: Option<Uuid>,
}

/// What an entry's place in the hash chain rests on: `hash` is the hex SHA-256 of
/// `canonical`, and `canonical` holds `prev_hash`, so anyone can recompute the link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditProof {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    /// The exact text hashed.
    pub canonical: String,
}

/// One entry of the operator audit log (`GET /api/v1/audit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub workspace_id: Option<Uuid>,
    pub actor: AuditActor,
    /// `ignore_rule.create`, `application.update`, `analysis.request`, …
    pub action: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<Value>,
    pub request_id: String,
    pub proof: AuditProof,
}

/// The open findings of one application that a previewed workspace rule would suppress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplicationRulePreview {
    pub application_id: Uuid,
    pub application_name: String,
    /// Suppressed by the rule at the next analysis.
    pub suppresses: Vec<Finding>,
    /// Matched only if a list item's position in Git is what the rule's `[N]` names: the next
    /// analysis, which reads Git, decides.
    pub undecided: Vec<Finding>,
}

/// `POST /api/v1/ignore-rules/preview`: what a workspace rule would suppress, and the token
/// that lets exactly this rule body be saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkspaceRulePreview {
    /// Send as `X-Rule-Preview-Token` when creating or changing the rule to this body.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The rule as it will be saved (trimmed and normalized).
    pub rule: IgnoreRuleInput,
    /// Open findings suppressed, across every application.
    pub suppresses_total: usize,
    /// Applications with at least one finding suppressed or undecided, by name.
    pub applications: Vec<ApplicationRulePreview>,
}

string_enum! {
    /// What `POST /api/v1/github/webhook` did with a delivery.
    pub enum WebhookOutcome {
        /// A `ping` (sent when the webhook is created): answered, nothing else.
        Pong => "pong",
        /// A push some sources track: their applications' analyses are listed.
        Queued => "queued",
        /// A push no source tracks (another repository or branch): nothing was requested.
        NoMatch => "no_match",
        /// A push that deleted its branch or tag: nothing to analyse.
        RefDeleted => "ref_deleted",
        /// An event this server does not act on.
        Ignored => "ignored",
        /// A delivery id already processed (a redelivery or a replay): nothing was done again.
        Duplicate => "duplicate",
    }
}

string_enum! {
    /// How an application's analysis request of a webhook delivery was recorded (the
    /// coalescing of `POST /api/v1/applications/:id/analyze`).
    pub enum WebhookRunState {
        /// A new run was queued.
        Created => "created",
        /// A run at that commit was already queued or running.
        Existing => "existing",
        /// The queued follow-up run now targets this commit.
        Coalesced => "coalesced",
    }
}

/// One application a webhook delivery asked to analyse, and the run that will.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookAnalysis {
    pub workspace_id: Uuid,
    pub application_id: Uuid,
    pub application_name: String,
    pub run_id: Uuid,
    pub state: WebhookRunState,
}

/// The answer to a GitHub webhook delivery: what was done, for the sender's delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    /// The `X-GitHub-Delivery` id.
    pub delivery_id: String,
    /// The `X-GitHub-Event` name.
    pub event: String,
    pub outcome: WebhookOutcome,
    /// One sentence on the outcome.
    pub note: String,
    /// The pushed ref (`refs/heads/main`), for pushes.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The pushed commit (`after`), for pushes: the revision every listed run analyses.
    pub revision: Option<String>,
    pub analyses: Vec<WebhookAnalysis>,
}
