//! The incident lifecycle across analyses, decided by pure code: open, re-observe, reopen,
//! resolve and suppress, with the timeline events each produces.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::{run, yaml};
use statesight_core::Analysis;
use statesight_core::lifecycle::{
    IncidentState, KnownIncident, Observation, RunInfo, TimelineKind, plan,
};
use statesight_core::rules::{IgnoreRule, RuleScope};

const DESIRED: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\n  namespace: apps\ndata:\n  MODE: safe\n";

/// A live ConfigMap whose `MODE` was changed by `kubectl-edit` at 2026-11-12T22:17:40Z.
fn live(mode: &str) -> String {
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
  namespace: apps
  managedFields:
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:data:
        f:MODE: {{}}
    manager: kubectl-edit
    operation: Update
    time: \"2026-11-12T22:17:40Z\"
data:
  MODE: {mode}
"
    )
}

fn analyse(live_mode: &str, rules: &[IgnoreRule]) -> Analysis {
    run(
        &yaml("desired.yaml", DESIRED),
        &yaml("live.yaml", &live(live_mode)),
        "apps",
        rules,
    )
}

fn run_info(day: u32) -> RunInfo {
    RunInfo {
        commit_sha: String::from("0123456789abcdef0123456789abcdef01234567"),
        git_ref: String::from("main"),
        committed_at: Some(at(1, 9)),
        analysed_at: at(day, 10),
    }
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
        .single()
        .expect("valid date")
}

fn known(analysis: &Analysis, state: IncidentState) -> Vec<KnownIncident> {
    analysis
        .incidents
        .iter()
        .map(|incident| KnownIncident {
            fingerprint: incident.fingerprint.clone(),
            state,
        })
        .collect()
}

fn kinds(events: &[statesight_core::lifecycle::PlannedEvent]) -> Vec<&'static str> {
    events.iter().map(|event| event.kind.as_str()).collect()
}

#[test]
fn a_new_incident_opens_with_revision_owner_time_and_first_seen_events() {
    let analysis = analyse("unsafe", &[]);
    assert_eq!(analysis.incidents.len(), 1);
    let plan = plan("test", &analysis, &[], &run_info(20));
    assert_eq!(plan.observations, vec![Observation::Opened]);
    assert!(plan.resolutions.is_empty());
    assert_eq!(
        kinds(&plan.events),
        vec!["git_revision", "managed_fields_time", "first_seen"]
    );
    // Each event sits at the time it describes: the commit, the manager's write, the run.
    assert_eq!(plan.events[0].occurred_at, at(1, 9));
    assert_eq!(
        plan.events[1].occurred_at,
        Utc.with_ymd_and_hms(2026, 11, 12, 22, 17, 40)
            .single()
            .expect("valid")
    );
    assert_eq!(
        plan.events[1].summary,
        "managedFields: kubectl-edit (Update) last wrote its fields"
    );
    assert_eq!(plan.events[2].occurred_at, at(20, 10));
    assert!(
        plan.events
            .iter()
            .all(|e| e.fingerprint == analysis.incidents[0].fingerprint)
    );
}

#[test]
fn an_open_incident_seen_again_is_reobserved_only() {
    let analysis = analyse("unsafe", &[]);
    let plan = plan(
        "test",
        &analysis,
        &known(&analysis, IncidentState::Open),
        &run_info(21),
    );
    assert_eq!(plan.observations, vec![Observation::Reobserved]);
    assert_eq!(kinds(&plan.events), vec!["reobserved"]);
    assert_eq!(plan.events[0].details["findings"], 1);
}

#[test]
fn a_resolved_incident_whose_drift_is_back_reopens() {
    let analysis = analyse("unsafe", &[]);
    let plan = plan(
        "test",
        &analysis,
        &known(&analysis, IncidentState::Resolved),
        &run_info(22),
    );
    assert_eq!(plan.observations, vec![Observation::Reopened]);
    assert_eq!(plan.count(Observation::Reopened), 1);
    assert_eq!(kinds(&plan.events), vec!["git_revision", "reopened"]);
}

#[test]
fn an_open_incident_whose_drift_is_gone_resolves() {
    let before = analyse("unsafe", &[]);
    let after = analyse("safe", &[]);
    assert!(after.incidents.is_empty());
    let plan = plan(
        "test",
        &after,
        &known(&before, IncidentState::Open),
        &run_info(23),
    );
    assert!(plan.observations.is_empty());
    assert_eq!(plan.resolutions.len(), 1);
    assert!(plan.resolutions[0].suppressed_by.is_empty());
    assert_eq!(kinds(&plan.events), vec!["resolved"]);
    assert_eq!(plan.events[0].fingerprint, before.incidents[0].fingerprint);
}

#[test]
fn an_already_resolved_incident_that_stays_gone_produces_nothing() {
    let before = analyse("unsafe", &[]);
    let after = analyse("safe", &[]);
    let plan = plan(
        "test",
        &after,
        &known(&before, IncidentState::Resolved),
        &run_info(23),
    );
    assert!(plan.resolutions.is_empty());
    assert!(plan.events.is_empty());
}

#[test]
fn an_open_incident_now_suppressed_names_the_rules() {
    let before = analyse("unsafe", &[]);
    let rule = IgnoreRule {
        name: String::from("mode-is-tuned-by-hand"),
        match_expression: String::from("data.MODE"),
        resource_ref: None,
        managed_by: Some(String::from("kubectl-edit")),
        reason: String::from("operators tune it"),
        scope: RuleScope::Application,
        order: 0,
        enabled: true,
    };
    let after = analyse("unsafe", &[rule]);
    assert!(after.incidents.is_empty());
    assert_eq!(after.suppressed.len(), 1);
    let plan = plan(
        "test",
        &after,
        &known(&before, IncidentState::Open),
        &run_info(24),
    );
    assert_eq!(
        plan.resolutions[0].suppressed_by,
        vec![String::from("mode-is-tuned-by-hand")]
    );
    assert_eq!(kinds(&plan.events), vec!["suppressed"]);
    assert_eq!(
        plan.events[0].summary,
        "Suppressed by ignore rule mode-is-tuned-by-hand"
    );
}

#[test]
fn a_revision_without_commit_time_is_placed_at_the_analysis() {
    let analysis = analyse("unsafe", &[]);
    let mut info = run_info(20);
    info.committed_at = None;
    let plan = plan("test", &analysis, &[], &info);
    assert_eq!(plan.events[0].kind, TimelineKind::GitRevision);
    assert_eq!(plan.events[0].occurred_at, at(20, 10));
}

#[test]
fn timeline_kinds_round_trip_through_their_names() {
    for kind in TimelineKind::ALL {
        assert_eq!(TimelineKind::parse(kind.as_str()), Some(*kind));
    }
    assert_eq!(TimelineKind::parse("exploded"), None);
}
