//! The incident lifecycle across analyses of one application: which incidents open, are
//! observed again, reopen or resolve, and the timeline events each decision produces.
//! Pure: the store hands in what it knows about earlier incidents and persists the plan it
//! gets back, assigning row ids; nothing here reads a clock or a database.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::analysis::Analysis;
use crate::diff::Finding;
pub use crate::wire::TimelineKind;

/// Whether an incident is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncidentState {
    Open,
    Resolved,
}

/// What the store knows about one earlier incident of the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownIncident {
    pub fingerprint: String,
    pub state: IncidentState,
}

/// The Git revision an analysis compared against, and when it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub commit_sha: String,
    pub git_ref: String,
    pub committed_at: Option<DateTime<Utc>>,
    /// When the analysis ran: the observation time of every finding and incident.
    pub analysed_at: DateTime<Utc>,
}

/// One timeline event to record, addressed by the incident's fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEvent {
    pub fingerprint: String,
    pub occurred_at: DateTime<Utc>,
    pub kind: TimelineKind,
    pub summary: String,
    pub details: Value,
}

/// What happens to one incident of this analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// Never seen before: a new incident.
    Opened,
    /// Open already; observed again.
    Reobserved,
    /// Was resolved; the drift is back.
    Reopened,
}

/// An earlier open incident this analysis no longer finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub fingerprint: String,
    /// Names of the ignore rules that now suppress its drift (sorted, distinct); empty when
    /// the drift is simply gone.
    pub suppressed_by: Vec<String>,
}

/// The decisions of one analysis, in a stable order: observations in the analysis' incident
/// order, resolutions and events by fingerprint where no other order is given.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecyclePlan {
    /// One per incident of the analysis, at the same index.
    pub observations: Vec<Observation>,
    pub resolutions: Vec<Resolution>,
    /// Events in the order they are to be stored.
    pub events: Vec<PlannedEvent>,
}

impl LifecyclePlan {
    pub fn count(&self, observation: Observation) -> usize {
        self.observations
            .iter()
            .filter(|o| **o == observation)
            .count()
    }
}

/// Decides the lifecycle of every incident an analysis touches.
pub fn plan(
    application_key: &str,
    analysis: &Analysis,
    known: &[KnownIncident],
    run: &RunInfo,
) -> LifecyclePlan {
    let known: BTreeMap<&str, IncidentState> = known
        .iter()
        .map(|incident| (incident.fingerprint.as_str(), incident.state))
        .collect();
    let mut events = Vec::new();
    let mut observations = Vec::with_capacity(analysis.incidents.len());
    let mut seen = BTreeSet::new();
    for incident in &analysis.incidents {
        seen.insert(incident.fingerprint.as_str());
        let members: Vec<&Finding> = incident
            .findings
            .iter()
            .filter_map(|index| analysis.findings.get(*index))
            .collect();
        let observation = match known.get(incident.fingerprint.as_str()) {
            None => Observation::Opened,
            Some(IncidentState::Open) => Observation::Reobserved,
            Some(IncidentState::Resolved) => Observation::Reopened,
        };
        let mut push = |occurred_at, kind, summary: String, details| {
            events.push(PlannedEvent {
                fingerprint: incident.fingerprint.clone(),
                occurred_at,
                kind,
                summary,
                details,
            });
        };
        let counted = json!({ "findings": members.len(), "commit": run.commit_sha });
        match observation {
            Observation::Opened => {
                let (at, summary, details) = revision_event(run);
                push(at, TimelineKind::GitRevision, summary, details);
                for event in owner_time_events(&members) {
                    push(event.0, TimelineKind::ManagedFieldsTime, event.1, event.2);
                }
                push(
                    run.analysed_at,
                    TimelineKind::FirstSeen,
                    String::from("First seen by analysis"),
                    json!({ "findings": members.len() }),
                );
            }
            Observation::Reobserved => push(
                run.analysed_at,
                TimelineKind::Reobserved,
                String::from("Observed again by analysis"),
                counted,
            ),
            Observation::Reopened => {
                let (at, summary, details) = revision_event(run);
                push(at, TimelineKind::GitRevision, summary, details);
                push(
                    run.analysed_at,
                    TimelineKind::Reopened,
                    String::from("Reopened: the drift is back"),
                    counted,
                );
            }
        }
        observations.push(observation);
    }

    let suppressed = suppressing_rules(application_key, analysis);
    let mut resolutions = Vec::new();
    for (fingerprint, state) in &known {
        if seen.contains(fingerprint) || *state != IncidentState::Open {
            continue;
        }
        let rules = suppressed.get(*fingerprint).cloned().unwrap_or_default();
        let (kind, summary, details) = if rules.is_empty() {
            (
                TimelineKind::Resolved,
                String::from("Resolved: the drift is gone"),
                json!({ "commit": run.commit_sha }),
            )
        } else {
            (
                TimelineKind::Suppressed,
                format!("Suppressed by ignore rule {}", rules.join(", ")),
                json!({ "rules": rules }),
            )
        };
        events.push(PlannedEvent {
            fingerprint: (*fingerprint).to_owned(),
            occurred_at: run.analysed_at,
            kind,
            summary,
            details,
        });
        resolutions.push(Resolution {
            fingerprint: (*fingerprint).to_owned(),
            suppressed_by: rules,
        });
    }
    LifecyclePlan {
        observations,
        resolutions,
        events,
    }
}

fn revision_event(run: &RunInfo) -> (DateTime<Utc>, String, Value) {
    let short = run.commit_sha.get(..12).unwrap_or(&run.commit_sha);
    (
        run.committed_at.unwrap_or(run.analysed_at),
        format!("Git revision {short} analysed"),
        json!({
            "commit": run.commit_sha,
            "ref": run.git_ref,
            "committed_at": run.committed_at,
        }),
    )
}

/// The cluster's own record of when each owner of the incident's fields last wrote:
/// evidence of timing, shown as recorded (per manager entry, not per field). Entries
/// without a parseable time are left out rather than guessed.
fn owner_time_events(members: &[&Finding]) -> Vec<(DateTime<Utc>, String, Value)> {
    let mut entries = BTreeSet::new();
    for finding in members {
        for owner in &finding.owners {
            let Some(time) = owner
                .time
                .as_deref()
                .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            else {
                continue;
            };
            entries.insert((
                time.with_timezone(&Utc),
                owner.manager.as_str(),
                owner.operation.as_str(),
                owner.subresource.as_deref(),
            ));
        }
    }
    entries
        .into_iter()
        .map(|(time, manager, operation, subresource)| {
            let via = subresource.map(|s| format!(" via {s}")).unwrap_or_default();
            (
                time,
                format!("managedFields: {manager} ({operation}{via}) last wrote its fields"),
                json!({
                    "manager": manager,
                    "operation": operation,
                    "subresource": subresource,
                    "note": "time of the manager's managedFields entry as the cluster recorded it",
                }),
            )
        })
        .collect()
}

/// For each incident fingerprint the suppressed findings would have had, the names of the
/// rules that suppressed them.
fn suppressing_rules(application_key: &str, analysis: &Analysis) -> BTreeMap<String, Vec<String>> {
    let mut by_fingerprint: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for item in &analysis.suppressed {
        let fingerprint = crate::incident::fingerprint(
            application_key,
            &item.finding.resource,
            &item.finding.cause,
        );
        by_fingerprint
            .entry(fingerprint)
            .or_default()
            .insert(item.rule.name.as_str());
    }
    by_fingerprint
        .into_iter()
        .map(|(fingerprint, rules)| (fingerprint, rules.into_iter().map(str::to_owned).collect()))
        .collect()
}
