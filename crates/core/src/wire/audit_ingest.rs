//! Kubernetes audit-event ingestion: the per-cluster tokens an API server's webhook backend
//! authenticates with, and what one delivery did.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A token that lets one cluster's API server post its audit events. Only its hash is
/// stored; `prefix` tells tokens apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditIngestionToken {
    pub id: Uuid,
    pub cluster_id: Uuid,
    /// The token's first characters.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// The last delivery it authenticated (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set when revoked: the token is refused from then on.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/clusters/:id/audit-tokens`: the token, shown this once, and a webhook
/// kubeconfig for the API server that uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedAuditIngestionToken {
    pub token: String,
    pub details: AuditIngestionToken,
    /// `--audit-webhook-config-file` content for the API server, pointing at this server.
    pub webhook_kubeconfig: String,
}

/// What one delivery (or one import batch) of audit events did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditIngestReport {
    /// Events in the body.
    pub received: u64,
    /// Completed, mutating requests on objects, newly stored.
    pub stored: u64,
    /// Kept kinds of events already stored (the same `auditID`).
    pub duplicates: u64,
    /// Earlier stages of a request (`RequestReceived`, `ResponseStarted`): the completed
    /// stage records it again.
    pub dropped_incomplete: u64,
    /// `get`, `list`, `watch`, …
    pub dropped_read_only: u64,
    /// Requests without an object (`/healthz`, discovery).
    pub dropped_non_resource: u64,
}

impl AuditIngestReport {
    /// Counts an event that was not kept.
    pub fn dropped(&mut self, reason: crate::k8s_audit::DropReason) {
        use crate::k8s_audit::DropReason;
        match reason {
            DropReason::Incomplete => self.dropped_incomplete += 1,
            DropReason::ReadOnly => self.dropped_read_only += 1,
            DropReason::NonResource => self.dropped_non_resource += 1,
        }
    }

    /// Adds another batch's counts.
    pub fn add(&mut self, other: &AuditIngestReport) {
        self.received += other.received;
        self.stored += other.stored;
        self.duplicates += other.duplicates;
        self.dropped_incomplete += other.dropped_incomplete;
        self.dropped_read_only += other.dropped_read_only;
        self.dropped_non_resource += other.dropped_non_resource;
    }
}
