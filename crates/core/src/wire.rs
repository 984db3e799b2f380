//! Wire types of the `/api/v1` JSON API, shared by the server (which produces them) and the
//! console and scripts (which read them). They are plain data: no database or HTTP types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A workspace role. Ordered: every role can do what the roles before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

/// The Kubernetes object a finding or incident is about. `api_version` is the one Git
/// declares; identity is group/kind/namespace/name (the version is not identity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceIdentity {
    pub api_version: String,
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
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
    pub status: String,
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
    /// The highest severity among open incidents, absent when there are none.
    pub highest_open_severity: Option<String>,
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
    pub fingerprint: String,
    pub resource: ResourceIdentity,
    pub cause: String,
    pub title: String,
    pub severity: String,
    pub recommendation: String,
    pub rationale: String,
    pub status: String,
    pub finding_count: i32,
    pub occurrence_count: i32,
    pub recurrence_count: i32,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub last_run_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub run_id: Option<Uuid>,
    pub resource: ResourceIdentity,
    pub path: String,
    pub change: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub desired: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub live: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub owners: Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub evidence: Value,
    pub observed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuppressingRule {
    pub id: Option<Uuid>,
    pub name: String,
    pub reason: String,
    pub scope: String,
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
    pub change: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub desired: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub live: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub owners: Value,
    pub observed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IgnoreRule {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub application_id: Option<Uuid>,
    /// `application` or `workspace`.
    pub scope: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DesiredProvenance {
    pub repo_url: String,
    pub git_ref: String,
    pub path: String,
    pub commit_sha: String,
    pub committed_at: Option<DateTime<Utc>>,
    pub rendered_with: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveProvenance {
    pub cluster_id: Uuid,
    pub method: String,
    pub trusted: bool,
    pub observed_at: DateTime<Utc>,
    pub observed_at_source: String,
    pub context: Option<String>,
    pub has_managed_fields: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalysisRun {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub application_id: Uuid,
    pub status: String,
    pub trigger: String,
    pub requested_revision: Option<String>,
    pub resolved_revision: Option<String>,
    pub requested_by: Option<Uuid>,
    pub attempts: i32,
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

/// How the worker reads a cluster's live state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LiveSource {
    #[serde(rename = "kube-api")]
    KubeApi,
    #[serde(rename = "in-cluster")]
    InCluster,
    #[serde(rename = "kubectl")]
    Kubectl,
    #[serde(rename = "snapshot")]
    Snapshot,
}

impl LiveSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveSource::KubeApi => "kube-api",
            LiveSource::InCluster => "in-cluster",
            LiveSource::Kubectl => "kubectl",
            LiveSource::Snapshot => "snapshot",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "kube-api" => Some(LiveSource::KubeApi),
            "in-cluster" => Some(LiveSource::InCluster),
            "kubectl" => Some(LiveSource::Kubectl),
            "snapshot" => Some(LiveSource::Snapshot),
            _ => None,
        }
    }
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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/clusters` and `PUT /api/v1/clusters/:id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClusterInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub live_source: LiveSource,
    #[serde(default)]
    pub kubeconfig_path: Option<String>,
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub snapshot_dir: Option<String>,
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
    pub name: String,
    pub repo_url: String,
    #[serde(rename = "ref", default = "default_ref")]
    pub git_ref: String,
    #[serde(default = "default_path")]
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
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub cluster_id: Uuid,
    pub source_id: Uuid,
    pub default_namespace: String,
}

/// Body of `POST /api/v1/applications/:id/analyze` (optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    /// A commit SHA or ref to analyse instead of the source's ref.
    #[serde(default)]
    pub revision: Option<String>,
}

/// Body of `POST …/ignore-rules` and `PUT …/ignore-rules/:ruleID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IgnoreRuleInput {
    pub name: String,
    pub match_expression: String,
    #[serde(default)]
    pub resource_ref: Option<String>,
    #[serde(default)]
    pub managed_by: Option<String>,
    pub reason: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// Body of `PATCH …/ignore-rules/:ruleID`: only the fields given change; `null` clears the
/// optional ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IgnoreRulePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    pub managed_by: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    /// `git_revision`, `managed_fields_time`, `first_seen`, `reobserved`, `suppressed`,
    /// `rule_changed`, `resolved` or `reopened`.
    pub kind: String,
    pub summary: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: Value,
}
