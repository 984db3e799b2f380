//! Attribution at analysis time: for every finding, the cluster's stored Kubernetes audit
//! events on its object and the field's last in-sync analysis are read, and
//! `statesight_core::attribution` grades them. The grading is pure; this module only reads
//! what it needs, in a few statements per run (not per finding).

use std::collections::{BTreeMap, BTreeSet};

use sqlx::PgPool;
use statesight_core::ResourceId;
use statesight_core::attribution::{Coverage, InSync, Question, attribute};
use statesight_core::k8s_audit::resource_for_kind;
use statesight_core::wire::Attribution;
use statesight_store::StoreError;
use statesight_store::analysis::JobContext;
use statesight_store::field_history::{self, FieldKey};
use statesight_store::k8s_audit::{self as audit_events, ObjectKey};

use crate::pipeline::JobOutput;

/// The latest events read per object: enough for any real window, bounded for a hot one.
const EVENTS_PER_OBJECT: i64 = 500;

/// Each finding's attribution, by (resource, path).
pub async fn attribute_findings(
    pool: &PgPool,
    context: &JobContext,
    output: &JobOutput,
) -> Result<BTreeMap<(ResourceId, String), Attribution>, StoreError> {
    let findings = &output.analysis.findings;
    if findings.is_empty() {
        return Ok(BTreeMap::new());
    }
    let coverage = Coverage {
        cluster_has_events: audit_events::cluster_has_events(pool, context.cluster.id).await?,
    };
    let fields: Vec<FieldKey> = findings.iter().map(FieldKey::of_finding).collect();
    let in_sync = if coverage.cluster_has_events {
        field_history::last_in_sync(pool, context.application_id, context.run_id, &fields).await?
    } else {
        Default::default()
    };
    let events = if coverage.cluster_has_events {
        let objects: BTreeSet<ObjectKey> =
            findings.iter().map(|f| object_key(&f.resource)).collect();
        let objects: Vec<ObjectKey> = objects.into_iter().collect();
        // Events before the earliest in-sync observation cannot matter, unless some field
        // has none (then its window is open-ended).
        let since = if in_sync.len() == fields.len() {
            in_sync.values().map(|sync| sync.at).min()
        } else {
            None
        };
        audit_events::events_of_objects(
            pool,
            context.cluster.id,
            &objects,
            since,
            output.live.observed_at,
            EVENTS_PER_OBJECT,
        )
        .await?
    } else {
        Vec::new()
    };
    let mut attributions = BTreeMap::new();
    for (finding, field) in findings.iter().zip(&fields) {
        let sync = in_sync.get(field).map(|sync| InSync {
            at: sync.at,
            // The field equalled Git then; Git's value then is today's only when the same
            // revision was analysed.
            value: (sync.revision.as_deref() == Some(output.desired.commit_sha.as_str()))
                .then_some(finding.desired.as_ref())
                .flatten(),
        });
        let question = Question {
            resource: &finding.resource,
            path: &finding.path,
            live: finding.live.as_ref(),
            owners: &finding.owners,
            in_sync: sync,
            observed_at: output.live.observed_at,
        };
        attributions.insert(
            (finding.resource.clone(), finding.path_text.clone()),
            attribute(&question, &events, coverage),
        );
    }
    Ok(attributions)
}

fn object_key(resource: &ResourceId) -> ObjectKey {
    ObjectKey {
        api_group: resource.group.clone(),
        resource: resource_for_kind(&resource.kind),
        namespace: resource.namespace.clone().unwrap_or_default(),
        name: resource.name.clone(),
    }
}
