//! Attribution of a drifted field to recorded Kubernetes audit events: every grade and every
//! reason for withholding one, against real events (falco) and the synthetic story of
//! Deployment `payments/api` (`testdata/audit/README.md`).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use statesight_core::attribution::{Coverage, InSync, Question, attribute};
use statesight_core::diff::OwnerRole;
use statesight_core::k8s_audit::{Admission, KeptEvent, admit, events_in_body};
use statesight_core::wire::{Attribution, AttributionGrade};
use statesight_core::{DriftPath, Owner, ResourceId};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/audit");
const COVERED: Coverage = Coverage {
    cluster_has_events: true,
};

const HELM: &str = "synthetic/ssa_helm_apply.json";
const SCALE: &str = "synthetic/scale_subresource.json";
const DRY_RUN: &str = "synthetic/dry_run_patch.json";
const DENIED: &str = "synthetic/denied_patch.json";
const IMPERSONATED: &str = "synthetic/impersonated_patch.json";
const SIDECAR: &str = "synthetic/strategic_merge_patch_containers.json";
const STAGING: &str = "synthetic/other_namespace_patch.json";
const EDIT: &str = "synthetic/kubectl_edit_patch.json";
const JSON_PATCH: &str = "synthetic/json_patch.json";

const IMAGE: &str = "spec.template.spec.containers[name=api].image";

fn kept(file: &str) -> KeptEvent {
    let path = format!("{DIR}/{file}");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let events = events_in_body(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    match events.as_slice() {
        [event] => match admit(event).unwrap_or_else(|e| panic!("{file}: {e}")) {
            Admission::Keep(event) => *event,
            Admission::Drop(reason) => panic!("{file}: dropped ({reason})"),
        },
        _ => panic!("{file}: expected one event"),
    }
}

fn all(files: &[&str]) -> Vec<KeptEvent> {
    files.iter().map(|f| kept(f)).collect()
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn path(text: &str) -> DriftPath {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn api() -> ResourceId {
    deployment("payments", "api")
}

fn deployment(namespace: &str, name: &str) -> ResourceId {
    ResourceId {
        group: "apps".to_owned(),
        kind: "Deployment".to_owned(),
        namespace: Some(namespace.to_owned()),
        name: name.to_owned(),
    }
}

fn image(tag: &str) -> Value {
    json!(format!("registry.example.com/api:{tag}"))
}

/// The parts of a question a test varies; the rest defaults.
struct Ask<'a> {
    resource: ResourceId,
    path: &'a str,
    live: Option<Value>,
    owners: Vec<Owner>,
    in_sync: Option<(&'a str, Option<Value>)>,
    observed_at: &'a str,
}

impl<'a> Ask<'a> {
    fn new(path: &'a str, live: Value) -> Self {
        Ask {
            resource: api(),
            path,
            live: Some(live),
            owners: Vec::new(),
            in_sync: None,
            observed_at: "2026-11-30T12:00:00Z",
        }
    }

    fn in_sync(mut self, time: &'a str, value: Option<Value>) -> Self {
        self.in_sync = Some((time, value));
        self
    }

    fn observed_at(mut self, time: &'a str) -> Self {
        self.observed_at = time;
        self
    }

    fn attribute(&self, events: &[KeptEvent], coverage: Coverage) -> Attribution {
        let drift_path = path(self.path);
        let question = Question {
            resource: &self.resource,
            path: &drift_path,
            live: self.live.as_ref(),
            owners: &self.owners,
            in_sync: self.in_sync.as_ref().map(|(time, value)| InSync {
                at: at(time),
                value: value.as_ref(),
            }),
            observed_at: at(self.observed_at),
        };
        let attribution = attribute(&question, events, coverage);
        assert!(!attribution.reason.is_empty());
        attribution
    }

    fn ask(&self, events: &[KeptEvent]) -> Attribution {
        self.attribute(events, COVERED)
    }
}

fn ids(attribution: &Attribution) -> Vec<&str> {
    attribution
        .events
        .iter()
        .map(|e| e.audit_id.as_str())
        .collect()
}

fn assert_reason(attribution: &Attribution, parts: &[&str]) {
    for part in parts {
        assert!(
            attribution.reason.contains(part),
            "reason lacks {part:?}: {}",
            attribution.reason
        );
    }
}

// ---- observed-set and observed-change ----

#[test]
fn server_side_apply_with_field_manager_is_observed_set() {
    let got = Ask::new(IMAGE, image("1.4.2")).ask(&all(&[HELM]));
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
    assert_eq!(ids(&got), ["2f0c9a31-6d47-4f1e-b8a2-6c1d3e5f7a90"]);
    let event = &got.events[0];
    assert_eq!(event.field_manager.as_deref(), Some("helm"));
    assert_eq!(event.value_set, Some(image("1.4.2")));
    assert_eq!(event.value_before, None);
    assert_reason(&got, &["service account ci/deployer", "not known"]);
}

#[test]
fn an_earlier_response_makes_it_an_observed_change_by_the_impersonated_user() {
    let events = all(&[
        EDIT,
        SIDECAR,
        DENIED,
        IMPERSONATED,
        HELM,
        DRY_RUN,
        STAGING,
        SCALE,
    ]);
    let got = Ask::new(IMAGE, image("1.4.3-hotfix"))
        .observed_at("2026-11-30T10:55:00Z")
        .ask(&events);
    assert_eq!(
        got.grade,
        AttributionGrade::ObservedChange,
        "{}",
        got.reason
    );
    assert_eq!(ids(&got), ["7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"]);
    let event = &got.events[0];
    assert_eq!(event.username, "system:admin");
    assert_eq!(event.impersonated.as_deref(), Some("bob"));
    assert_eq!(event.value_before, Some(image("1.4.2")));
    assert_eq!(event.value_set, Some(image("1.4.3-hotfix")));
    assert_reason(
        &got,
        &[
            "bob, impersonated by system:admin",
            // The Scale returned at 10:20 does not carry the image; helm's response does.
            "in the response to request 2f0c9a31",
            "1 later write(s) to the object were recorded without a body",
            "2 recorded request(s) on this object were dry runs or failed",
        ],
    );
}

#[test]
fn the_in_sync_value_makes_it_an_observed_change() {
    let ask = Ask::new(IMAGE, image("1.4.3-hotfix"));
    let got = ask
        .in_sync("2026-11-30T10:00:00Z", Some(image("1.4.2")))
        .ask(&all(&[IMPERSONATED]));
    assert_eq!(
        got.grade,
        AttributionGrade::ObservedChange,
        "{}",
        got.reason
    );
    assert_eq!(got.events[0].value_before, Some(image("1.4.2")));
    assert_reason(
        &got,
        &["when last seen equal to Git, at 2026-11-30T10:00:00Z"],
    );
}

#[test]
fn an_in_sync_observation_after_the_write_says_nothing_about_before_it() {
    // Git held the hotfix at 10:41 and has moved on since: the cluster did not change.
    let got = Ask::new(IMAGE, image("1.4.3-hotfix"))
        .in_sync("2026-11-30T10:41:00Z", Some(image("1.4.3-hotfix")))
        .ask(&all(&[IMPERSONATED]));
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
    assert_eq!(got.events[0].value_before, None);
}

#[test]
fn an_earlier_response_with_the_same_value_is_a_set_not_a_change() {
    let mut again = kept(HELM);
    again.audit_id = "again".to_owned();
    again.at = at("2026-11-30T11:00:00Z");
    let got = Ask::new(IMAGE, image("1.4.2")).ask(&[kept(HELM), again]);
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
    assert_eq!(ids(&got), ["again"]);
    assert_reason(&got, &["already had that value"]);
}

#[test]
fn the_scale_subresource_sets_replicas_and_changes_them_from_the_applied_value() {
    let got = Ask::new("spec.replicas", json!(5)).ask(&all(&[SCALE, HELM]));
    assert_eq!(
        got.grade,
        AttributionGrade::ObservedChange,
        "{}",
        got.reason
    );
    assert_eq!(ids(&got), ["a41e7b09-1c53-4e2a-9f6d-2b8c0d4e6f13"]);
    assert_eq!(got.events[0].subresource.as_deref(), Some("scale"));
    assert_eq!(got.events[0].value_before, Some(json!(3)));
    assert_reason(&got, &["patch of /scale by alice@example.com"]);
}

#[test]
fn a_strategic_merge_patch_names_a_container_by_its_merge_key() {
    let memory = "spec.template.spec.containers[name=sidecar].resources.limits.memory";
    // 0.5Gi is 512Mi: a quantity position compares by value.
    let got = Ask::new(memory, json!("0.5Gi"))
        .in_sync("2026-11-30T10:00:00Z", Some(json!("256Mi")))
        .ask(&all(&[HELM, IMPERSONATED, SIDECAR]));
    assert_eq!(
        got.grade,
        AttributionGrade::ObservedChange,
        "{}",
        got.reason
    );
    assert_eq!(ids(&got), ["91a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8"]);
    assert_eq!(got.events[0].value_set, Some(json!("512Mi")));
    // The response to the 10:40 patch is later than the in-sync observation.
    assert_eq!(got.events[0].value_before, Some(json!("256Mi")));
    assert_reason(&got, &["in the response to request 7b8c9d0e"]);
}

#[test]
fn a_string_that_is_not_in_a_quantity_position_compares_exactly() {
    let mut patch = kept(SIDECAR);
    patch.request_object = Some(json!({"metadata": {"labels": {"size": "512Mi"}}}));
    let got = Ask::new("metadata.labels.size", json!("0.5Gi")).ask(&[patch]);
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
}

#[test]
fn a_falco_client_side_apply_patch_sets_the_annotation_it_carries() {
    let resource = ResourceId {
        group: "rbac.authorization.k8s.io".to_owned(),
        kind: "ClusterRole".to_owned(),
        namespace: None,
        name: "system:node-problem-detector".to_owned(),
    };
    let event = kept("modify_cluster_role_node_problem_detector.json");
    let live = event
        .response_object
        .as_ref()
        .and_then(|r| {
            r.pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
        })
        .cloned()
        .expect("the response carries the annotation");
    let mut ask = Ask::new(
        "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
        live,
    );
    ask.resource = resource.clone();
    let got = ask.ask(std::slice::from_ref(&event));
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
    assert_eq!(ids(&got), ["0eaf743e-1668-4de5-940b-0bb5d79aa4c9"]);
    assert_eq!(got.events[0].user_agent, None);

    // The patch does not carry this annotation: the response alone does not prove it was set.
    let mut untouched = Ask::new(
        "metadata.annotations.rbac.authorization.kubernetes.io/autoupdate",
        json!("true"),
    );
    untouched.resource = resource.clone();
    let got = untouched.ask(std::slice::from_ref(&event));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);

    // A positional index cannot be resolved against a patch.
    let mut positional = Ask::new("rules[1].verbs", json!(["patch"]));
    positional.resource = resource;
    let got = positional.ask(&[event]);
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
    assert_reason(&got, &["cannot be told", "positional index"]);
}

#[test]
fn a_create_with_a_stale_uid_is_matched_by_name_and_sets_the_data() {
    let resource = ResourceId {
        group: String::new(),
        kind: "ConfigMap".to_owned(),
        namespace: Some("default".to_owned()),
        name: "my-config".to_owned(),
    };
    let mut ask = Ask::new(
        "data.ui.properties",
        json!("color.good=purple\ncolor.bad=yellow\nallow.textmode=true\n"),
    );
    ask.resource = resource;
    let got = ask.ask(&all(&["create_configmap.json"]));
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
    assert_eq!(ids(&got), ["155b887c-c27c-4fdb-9667-999f74512d0a"]);
}

#[test]
fn json_patch_operations_set_the_fields_they_name() {
    let events = all(&[JSON_PATCH]);
    let got = Ask::new("spec.replicas", json!(4)).ask(&events);
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
    assert_eq!(got.events[0].value_set, Some(json!(4)));
    let got = Ask::new(
        "metadata.annotations.example.com/change-ticket",
        json!("CHG-1234"),
    )
    .ask(&events);
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
}

#[test]
fn a_json_patch_index_is_not_tied_to_a_keyed_container() {
    let got = Ask::new(IMAGE, image("1.5.0-rc1")).ask(&all(&[HELM, JSON_PATCH]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
    assert_reason(
        &got,
        &["cannot be told", "addresses list items by position"],
    );
}

#[test]
fn a_merge_patch_null_removes_the_field() {
    let mut patch = kept(SIDECAR);
    patch.request_object = Some(json!({"metadata": {"annotations": {"example.com/owner": null}}}));
    let got = Ask {
        live: None,
        ..Ask::new("metadata.annotations.example.com/owner", Value::Null)
    }
    .ask(&[patch]);
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
    assert_eq!(got.events[0].value_set, Some(Value::Null));
}

#[test]
fn the_latest_body_wins_and_an_older_one_does_not_stand_in_for_it() {
    // helm set 1.4.2, then bob's patch set the hotfix; live is 1.4.2 again without a record.
    let got = Ask::new(IMAGE, image("1.4.2")).ask(&all(&[HELM, IMPERSONATED]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
    assert_reason(&got, &["request 7b8c9d0e", "not at the live value"]);
}

#[test]
fn a_response_alone_does_not_prove_the_request_set_the_field() {
    let mut no_body = kept(IMPERSONATED);
    no_body.request_object = None;
    let got = Ask::new(IMAGE, image("1.4.3-hotfix")).ask(std::slice::from_ref(&no_body));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);

    // After a write whose response showed another value, it does: the change was this request.
    let got = Ask::new(IMAGE, image("1.4.3-hotfix")).ask(&[kept(HELM), no_body]);
    assert_eq!(
        got.grade,
        AttributionGrade::ObservedChange,
        "{}",
        got.reason
    );
    assert_eq!(ids(&got), ["7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"]);
    assert_eq!(got.events[0].value_before, Some(image("1.4.2")));
    assert_reason(&got, &["was not recorded, but its response shows"]);
}

// ---- never evidence ----

#[test]
fn a_dry_run_is_never_evidence() {
    let got = Ask::new(IMAGE, image("9.9.9")).ask(&all(&[DRY_RUN]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
    assert!(got.events.is_empty());
    assert_reason(&got, &["dry runs or failed"]);
    let got = Ask::new(IMAGE, image("9.9.9"))
        .in_sync("2026-11-30T10:00:00Z", Some(image("1.4.2")))
        .ask(&all(&[DRY_RUN]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
}

#[test]
fn a_denied_request_is_never_evidence() {
    let got = Ask::new(IMAGE, image("6.6.6"))
        .in_sync("2026-11-30T10:00:00Z", Some(image("1.4.2")))
        .ask(&all(&[DENIED]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
    assert!(got.events.is_empty());
}

#[test]
fn the_same_name_in_another_namespace_never_matches() {
    let events = all(&[STAGING]);
    let got = Ask::new(IMAGE, image("1.4.3-hotfix"))
        .in_sync("2026-11-30T10:00:00Z", Some(image("1.4.2")))
        .ask(&events);
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
    assert_reason(
        &got,
        &["No recorded write to Deployment payments/api between"],
    );
    // The same event does count for its own object.
    let mut staging = Ask::new(IMAGE, image("1.4.3-hotfix"));
    staging.resource = deployment("staging", "api");
    assert_eq!(staging.ask(&events).grade, AttributionGrade::ObservedSet);
}

#[test]
fn deletes_never_set_a_field() {
    let resource = ResourceId {
        group: "extensions".to_owned(),
        kind: "Deployment".to_owned(),
        namespace: Some("default".to_owned()),
        name: "nginx-deployment".to_owned(),
    };
    let mut ask = Ask::new("spec.replicas", json!(1));
    ask.resource = resource;
    let got = ask.ask(&all(&["delete_deployment.json", "create_deployment.json"]));
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
    assert_eq!(ids(&got), ["c5be68f4-80b8-4159-adc4-76ddb195334e"]);
    let mut delete_only = Ask::new("propagationPolicy", json!("Background"));
    delete_only.resource = ask.resource.clone();
    let got = delete_only.ask(&all(&["delete_deployment.json"]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
}

#[test]
fn events_after_the_observation_are_not_evidence() {
    let got = Ask::new(IMAGE, image("1.4.3-hotfix"))
        .observed_at("2026-11-30T10:30:00Z")
        .ask(&all(&[IMPERSONATED]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
}

// ---- manager-time-match ----

fn owner(manager: &str, time: &str) -> Owner {
    Owner {
        manager: manager.to_owned(),
        operation: "Update".to_owned(),
        subresource: None,
        time: Some(time.to_owned()),
        role: OwnerRole::Other,
    }
}

#[test]
fn a_metadata_level_edit_matches_its_managed_fields_time() {
    let mut ask = Ask::new(IMAGE, image("1.4.9"));
    ask.owners = vec![
        owner("helm", "2026-11-30T10:15:02Z"),
        owner("kubectl-edit", "2026-11-30T10:52:09Z"),
    ];
    let got = ask.ask(&all(&[HELM, EDIT]));
    assert_eq!(
        got.grade,
        AttributionGrade::ManagerTimeMatch,
        "{}",
        got.reason
    );
    assert_eq!(ids(&got), ["3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"]);
    assert_reason(
        &got,
        &["\"kubectl-edit\"", "2026-11-30T10:52:09Z", "fieldManager"],
    );

    ask.owners = vec![owner("kubectl-edit", "2026-11-30T10:52:10Z")];
    let got = ask.ask(&all(&[EDIT]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
}

#[test]
fn without_a_field_manager_the_user_agent_program_names_the_manager() {
    let mut edit = kept(EDIT);
    edit.field_manager = None;
    let mut ask = Ask::new(IMAGE, image("1.4.9"));
    ask.owners = vec![owner("kubectl-edit", "2026-11-30T10:52:09Z")];
    let got = ask.ask(std::slice::from_ref(&edit));
    assert_eq!(
        got.grade,
        AttributionGrade::ManagerTimeMatch,
        "{}",
        got.reason
    );
    assert_reason(&got, &["user agent \"kubectl/v1.31.0"]);

    ask.owners = vec![owner("kubectlx", "2026-11-30T10:52:09Z")];
    assert_eq!(
        ask.ask(std::slice::from_ref(&edit)).grade,
        AttributionGrade::NotAttributed
    );
    // A request that names another manager is not matched by its user agent.
    edit.field_manager = Some("kubectl-patch".to_owned());
    ask.owners = vec![owner("kubectl-edit", "2026-11-30T10:52:09Z")];
    assert_eq!(ask.ask(&[edit]).grade, AttributionGrade::NotAttributed);
}

// ---- window-candidate ----

#[test]
fn writes_between_in_sync_and_observation_are_window_candidates() {
    let events = all(&[
        JSON_PATCH,
        EDIT,
        SIDECAR,
        STAGING,
        DENIED,
        DRY_RUN,
        IMPERSONATED,
        SCALE,
        HELM,
    ]);
    let got = Ask::new("spec.minReadySeconds", json!(30))
        .in_sync("2026-11-30T10:00:00Z", None)
        .ask(&events);
    assert_eq!(
        got.grade,
        AttributionGrade::WindowCandidate,
        "{}",
        got.reason
    );
    assert_eq!(
        ids(&got),
        [
            "2f0c9a31-6d47-4f1e-b8a2-6c1d3e5f7a90",
            "a41e7b09-1c53-4e2a-9f6d-2b8c0d4e6f13",
            "7b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",
            "91a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8",
            "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
            "d4e5f607-1829-4a3b-9c4d-5e6f708192a3",
        ]
    );
    assert!(got.events.iter().all(|e| e.value_set.is_none()));
    assert_reason(
        &got,
        &[
            "6 recorded write(s)",
            "1 of them were recorded at Metadata level",
        ],
    );

    let got = Ask::new("spec.minReadySeconds", json!(30))
        .in_sync("2026-11-30T10:50:00Z", None)
        .ask(&events);
    assert_eq!(ids(&got).len(), 2);
}

#[test]
fn a_long_window_lists_the_oldest_twenty_and_counts_all() {
    let template = kept(SIDECAR);
    let events: Vec<KeptEvent> = (0..25)
        .map(|i| {
            let mut event = template.clone();
            event.audit_id = format!("w-{i:02}");
            event.at = at("2026-11-30T11:00:00Z") + chrono::Duration::seconds(i);
            event
        })
        .rev()
        .collect();
    let got = Ask::new("spec.minReadySeconds", json!(30))
        .in_sync("2026-11-30T10:00:00Z", None)
        .ask(&events);
    assert_eq!(got.grade, AttributionGrade::WindowCandidate);
    assert_eq!(got.events.len(), 20);
    assert_eq!(got.events[0].audit_id, "w-00");
    assert_eq!(got.events[19].audit_id, "w-19");
    assert_reason(&got, &["25 recorded write(s)", "first 20"]);
}

// ---- not-attributed ----

#[test]
fn without_ingested_events_nothing_is_attributed() {
    let got = Ask::new(IMAGE, image("1.4.2")).attribute(
        &all(&[HELM]),
        Coverage {
            cluster_has_events: false,
        },
    );
    assert_eq!(got.grade, AttributionGrade::NotAttributed);
    assert!(got.events.is_empty());
    assert_reason(
        &got,
        &["No Kubernetes audit events have been ingested for this cluster"],
    );
}

#[test]
fn metadata_level_events_never_give_an_observed_grade() {
    let got = Ask::new(IMAGE, image("1.4.9")).ask(&all(&[EDIT]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
    assert!(got.events.is_empty());
    assert_reason(&got, &["all at Metadata level", "bodies were not recorded"]);
}

#[test]
fn no_write_to_the_object_in_the_window() {
    let got = Ask::new(IMAGE, image("1.4.9"))
        .in_sync("2026-11-30T11:30:00Z", Some(image("1.4.2")))
        .ask(&all(&[HELM, EDIT, JSON_PATCH]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
    assert_reason(
        &got,
        &["No recorded write to Deployment payments/api between 2026-11-30T11:30:00Z"],
    );
    let got = Ask::new(IMAGE, image("1.4.9")).ask(&[]);
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
    assert_reason(
        &got,
        &["No recorded write to Deployment payments/api at or before"],
    );
}

#[test]
fn a_created_container_matches_live_even_after_the_server_defaulted_it() {
    let mut live = kept(HELM)
        .response_object
        .and_then(|r| r.pointer("/spec/template/spec/containers/0").cloned())
        .expect("the response has the api container");
    let got = Ask::new("spec.template.spec.containers[name=api]", live.clone()).ask(&all(&[HELM]));
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
    // A live entry the body gave differently is not a match.
    live["ports"] = json!([{"containerPort": 9090, "protocol": "TCP"}]);
    let got = Ask::new("spec.template.spec.containers[name=api]", live).ask(&all(&[HELM]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
}

#[test]
fn a_write_before_the_last_in_sync_observation_did_not_leave_the_live_value() {
    // In sync (1.4.1) at 10:30, after helm's 10:15 apply of 1.4.2: helm's write was undone.
    let got = Ask::new(IMAGE, image("1.4.2"))
        .in_sync("2026-11-30T10:30:00Z", Some(image("1.4.1")))
        .ask(&all(&[HELM]));
    assert_eq!(got.grade, AttributionGrade::NotAttributed, "{}", got.reason);
    let mut ask =
        Ask::new(IMAGE, image("1.4.2")).in_sync("2026-11-30T10:30:00Z", Some(image("1.4.1")));
    ask.owners = vec![owner("helm", "2026-11-30T10:15:02Z")];
    assert_eq!(
        ask.ask(&all(&[HELM])).grade,
        AttributionGrade::NotAttributed
    );
    // Equal to Git with the live value: Git moved, and helm's write still shows the value.
    let got = Ask::new(IMAGE, image("1.4.2"))
        .in_sync("2026-11-30T10:30:00Z", Some(image("1.4.2")))
        .ask(&all(&[HELM]));
    assert_eq!(got.grade, AttributionGrade::ObservedSet, "{}", got.reason);
}
