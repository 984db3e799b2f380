//! The audit events an incident's findings cite, as timeline events: one per event and
//! incident (however many of its fields the event touched), interleaved by time with the Git
//! and analysis events.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::analysis::Analysis;
use crate::identity::ResourceId;
use crate::lifecycle::PlannedEvent;
use crate::wire::{AttributedEvent, Attribution, TimelineKind};

/// For each incident of `analysis`, the audit events its findings' attributions cite,
/// oldest first; `known` holds `(fingerprint, audit id)` pairs already on a timeline, which
/// are not planned again.
pub fn audit_timeline(
    analysis: &Analysis,
    attributions: &BTreeMap<(ResourceId, String), Attribution>,
    known: &BTreeSet<(String, String)>,
) -> Vec<PlannedEvent> {
    let mut planned = Vec::new();
    for incident in &analysis.incidents {
        // audit id → (event, the paths it is cited for)
        let mut cited: BTreeMap<&str, (&AttributedEvent, BTreeSet<&str>)> = BTreeMap::new();
        for finding in incident
            .findings
            .iter()
            .filter_map(|index| analysis.findings.get(*index))
        {
            let key = (finding.resource.clone(), finding.path_text.clone());
            let Some(attribution) = attributions.get(&key) else {
                continue;
            };
            for event in &attribution.events {
                cited
                    .entry(event.audit_id.as_str())
                    .or_insert_with(|| (event, BTreeSet::new()))
                    .1
                    .insert(finding.path_text.as_str());
            }
        }
        let mut events: Vec<_> = cited
            .into_iter()
            .filter(|(id, _)| !known.contains(&(incident.fingerprint.clone(), (*id).to_owned())))
            .collect();
        events.sort_by(|a, b| (a.1.0.at, a.0).cmp(&(b.1.0.at, b.0)));
        for (_, (event, paths)) in events {
            planned.push(PlannedEvent {
                fingerprint: incident.fingerprint.clone(),
                occurred_at: event.at,
                kind: TimelineKind::AuditEvent,
                summary: summary(event),
                details: json!({
                    "audit_id": event.audit_id,
                    "verb": event.verb,
                    "username": event.username,
                    "actor_kind": event.actor_kind,
                    "impersonated": event.impersonated,
                    "impersonated_kind": event.impersonated_kind,
                    "user_agent": event.user_agent,
                    "source_ips": event.source_ips,
                    "field_manager": event.field_manager,
                    "subresource": event.subresource,
                    "paths": paths,
                }),
            });
        }
    }
    planned
}

/// `alice@acme.example (user) update`, with the impersonator, the subresource, the user
/// agent and the source addresses when recorded.
fn summary(event: &AttributedEvent) -> String {
    let mut text = match &event.impersonated {
        Some(as_user) => format!(
            "{as_user} ({}), impersonated by {} ({})",
            event.impersonated_kind.map_or("unknown", |k| k.as_str()),
            event.username,
            event.actor_kind
        ),
        None => format!("{} ({})", event.username, event.actor_kind),
    };
    text.push(' ');
    text.push_str(&event.verb);
    if let Some(sub) = &event.subresource {
        text.push(' ');
        text.push_str(sub);
    }
    if let Some(agent) = &event.user_agent {
        text.push_str(&format!(" with {agent}"));
    }
    if !event.source_ips.is_empty() {
        text.push_str(&format!(" from {}", event.source_ips.join(", ")));
    }
    text
}
