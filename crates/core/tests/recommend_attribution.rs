//! A finding's attribution refines its incident's advice: a change an audit event shows a
//! person making is investigated (critical on a security-sensitive field) and the rationale
//! names the event; weaker grades and service accounts change nothing.

mod common;

use chrono::{TimeZone, Utc};
use common::{run, yaml};
use serde_json::json;
use statesight_core::recommend::refine_with_attribution;
use statesight_core::wire::{ActorKind, AttributedEvent, Attribution, AttributionGrade};
use statesight_core::{Analysis, Recommendation, Severity};

const DESIRED: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: apps\n  labels:\n    team: a\ndata:\n  a: \"1\"\n";
const LIVE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: apps\n  labels:\n    team: b\ndata:\n  a: \"1\"\n";

fn labels_only() -> Analysis {
    let analysis = run(
        &yaml("git.yaml", DESIRED),
        &yaml("live.yaml", LIVE),
        "apps",
        &[],
    );
    assert_eq!(analysis.incidents.len(), 1);
    assert_eq!(
        analysis.incidents[0].recommendation,
        Recommendation::Monitor
    );
    analysis
}

fn observed(
    grade: AttributionGrade,
    actor: ActorKind,
    impersonated: Option<ActorKind>,
) -> Attribution {
    Attribution {
        grade,
        reason: String::from("test"),
        events: vec![AttributedEvent {
            audit_id: String::from("e-1"),
            at: Utc
                .with_ymd_and_hms(2026, 11, 18, 2, 17, 44)
                .single()
                .expect("time"),
            verb: String::from("patch"),
            username: String::from(match actor {
                ActorKind::User => "alice@acme.example",
                _ => "system:serviceaccount:ci:deployer",
            }),
            actor_kind: actor,
            impersonated: impersonated.map(|_| String::from("bob")),
            impersonated_kind: impersonated,
            user_agent: None,
            source_ips: Vec::new(),
            field_manager: None,
            subresource: None,
            value_set: Some(json!("b")),
            value_before: None,
        }],
    }
}

#[test]
fn a_change_observed_from_a_person_is_investigated_and_named() {
    let mut analysis = labels_only();
    let attribution = observed(AttributionGrade::ObservedSet, ActorKind::User, None);
    refine_with_attribution(&mut analysis, |_| Some(attribution.clone()));
    let incident = &analysis.incidents[0];
    assert_eq!(incident.recommendation, Recommendation::Investigate);
    assert!(incident.severity >= Severity::Medium);
    assert!(
        incident
            .rationale
            .contains("shows a person, alice@acme.example, setting metadata.labels.team"),
        "{}",
        incident.rationale
    );
}

#[test]
fn service_accounts_and_weaker_grades_change_nothing() {
    for attribution in [
        observed(
            AttributionGrade::ObservedChange,
            ActorKind::ServiceAccount,
            None,
        ),
        observed(AttributionGrade::WindowCandidate, ActorKind::User, None),
        observed(AttributionGrade::ManagerTimeMatch, ActorKind::User, None),
        // A service account impersonating one: it acted as the service account.
        observed(
            AttributionGrade::ObservedChange,
            ActorKind::User,
            Some(ActorKind::ServiceAccount),
        ),
    ] {
        let mut analysis = labels_only();
        let before = analysis.incidents[0].clone();
        refine_with_attribution(&mut analysis, |_| Some(attribution.clone()));
        assert_eq!(analysis.incidents[0], before, "{attribution:?}");
    }
    let mut analysis = labels_only();
    let before = analysis.incidents[0].clone();
    refine_with_attribution(&mut analysis, |_| None);
    assert_eq!(analysis.incidents[0], before);
}
