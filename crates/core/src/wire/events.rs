//! What happened in a workspace, as one record: the payload of the live event stream
//! (`GET /api/v1/events`) and of outgoing notifications. Produced by the server (a run
//! queued) and the worker (runs started and finished, incidents opened, changed, resolved)
//! after the change is committed, so an event never announces something a reader cannot
//! then fetch.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Recommendation, Severity};
use crate::string_enum::string_enum;

string_enum! {
    /// What an event announces. The string is the SSE `event:` field.
    pub enum EventKind {
        RunQueued => "run.queued",
        RunStarted => "run.started",
        RunSucceeded => "run.succeeded",
        /// `error` says why.
        RunFailed => "run.failed",
        /// A new incident, or a resolved one whose drift is back (`incident.reopened`).
        IncidentOpened => "incident.opened",
        /// An open incident observed again with another severity, recommendation or number
        /// of findings.
        IncidentChanged => "incident.changed",
        IncidentResolved => "incident.resolved",
    }
}

impl EventKind {
    /// Whether the event is about an incident (and carries one).
    pub fn is_incident(self) -> bool {
        matches!(
            self,
            EventKind::IncidentOpened | EventKind::IncidentChanged | EventKind::IncidentResolved
        )
    }
}

/// One event of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkspaceEvent {
    pub kind: EventKind,
    pub workspace_id: Uuid,
    pub application_id: Uuid,
    pub application_name: String,
    /// The run that caused the event (absent only for events no run caused).
    pub run_id: Option<Uuid>,
    /// For `incident.*` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentEvent>,
    /// For `run.failed`: the run's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it happened (the commit of the change it announces).
    pub at: DateTime<Utc>,
}

/// The incident an `incident.*` event is about, as it is after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentEvent {
    pub id: Uuid,
    pub title: String,
    pub severity: Severity,
    pub recommendation: Recommendation,
    /// `apps/Deployment/payments/ledger-api`.
    pub resource: String,
    pub finding_count: i32,
    /// For `incident.opened`: the incident had been resolved and its drift is back.
    #[serde(default)]
    pub reopened: bool,
    /// For `incident.changed`: the severity before the change, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_severity: Option<Severity>,
}
