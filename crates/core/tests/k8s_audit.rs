//! Reading audit event bodies and deciding what is kept, against real events (audit2rbac,
//! falco) and synthetic modern ones (`testdata/audit/README.md`).

use serde_json::{Value, json};
use statesight_core::ResourceId;
use statesight_core::k8s_audit::{
    ActorKind, Admission, AuditEventError, AuditLevel, DropReason, KeptEvent, MAX_TEXT, ObjectRef,
    actor_kind, admit, events_in_body, is_object, resource_for_kind,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/audit");

const FILES: &[&str] = &[
    "demo.log",
    "modify_cluster_role_node_problem_detector.json",
    "create_deployment.json",
    "create_configmap.json",
    "delete_deployment.json",
    "some-user_creates_namespace_foo.json",
    "synthetic/ssa_helm_apply.json",
    "synthetic/scale_subresource.json",
    "synthetic/dry_run_patch.json",
    "synthetic/denied_patch.json",
    "synthetic/impersonated_patch.json",
    "synthetic/strategic_merge_patch_containers.json",
    "synthetic/other_namespace_patch.json",
    "synthetic/kubectl_edit_patch.json",
    "synthetic/json_patch.json",
];

fn bytes(file: &str) -> Vec<u8> {
    let path = format!("{DIR}/{file}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn admissions(file: &str) -> Vec<Admission> {
    events_in_body(&bytes(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .iter()
        .map(|event| admit(event).unwrap_or_else(|e| panic!("{file}: {e}")))
        .collect()
}

fn kept(file: &str) -> KeptEvent {
    match admissions(file).as_slice() {
        [Admission::Keep(event)] => (**event).clone(),
        other => panic!("{file}: expected one kept event, got {other:?}"),
    }
}

fn id(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> ResourceId {
    ResourceId {
        group: group.to_owned(),
        kind: kind.to_owned(),
        namespace: namespace.map(str::to_owned),
        name: name.to_owned(),
    }
}

#[test]
fn every_fixture_file_parses_and_is_admitted_or_dropped() {
    let mut kept_count = 0;
    for file in FILES {
        for admission in admissions(file) {
            if matches!(admission, Admission::Keep(_)) {
                kept_count += 1;
            }
        }
    }
    // demo.log keeps nothing; every other file holds one kept event.
    assert_eq!(kept_count, FILES.len() - 1);
}

#[test]
fn demo_log_is_impersonated_metadata_reads_and_all_are_dropped() {
    let events = events_in_body(&bytes("demo.log")).expect("demo.log parses");
    assert_eq!(events.len(), 37);
    assert!(events.iter().all(|e| e.get("impersonatedUser").is_some()));
    let admissions: Vec<Admission> = events.iter().map(|e| admit(e).expect("admit")).collect();
    let count = |reason| {
        admissions
            .iter()
            .filter(|a| **a == Admission::Drop(reason))
            .count()
    };
    assert_eq!(
        count(DropReason::ReadOnly) + count(DropReason::NonResource),
        37
    );
    assert!(count(DropReason::ReadOnly) > 0);
}

#[test]
fn a_mutating_impersonated_request_keeps_both_identities() {
    let event = kept("synthetic/impersonated_patch.json");
    assert_eq!(event.user.username, "system:admin");
    let acted_as = event.impersonated.as_ref().expect("impersonated");
    assert_eq!(acted_as.username, "bob");
    assert_eq!(acted_as.groups, ["developers", "system:authenticated"]);
    assert_eq!(event.field_manager.as_deref(), Some("kubectl-patch"));
    assert_eq!(event.level, AuditLevel::RequestResponse);
}

#[test]
fn falco_events_without_api_version_or_user_agent_are_kept() {
    let raw = &events_in_body(&bytes("modify_cluster_role_node_problem_detector.json"))
        .expect("parses")[0];
    assert!(raw.get("apiVersion").is_none() && raw.get("userAgent").is_none());
    let event = kept("modify_cluster_role_node_problem_detector.json");
    assert_eq!(event.user_agent, None);
    assert_eq!(event.verb, "patch");
    assert_eq!(event.object.api_group, "rbac.authorization.k8s.io");
    assert_eq!(event.object.namespace, "");
    assert_eq!(event.response_code, Some(200));
    assert_eq!(event.at.to_rfc3339(), "2018-10-26T14:11:51.039120+00:00");
    assert!(event.request_object.is_some() && event.response_object.is_some());
}

#[test]
fn a_v1beta1_cluster_scoped_create_is_kept() {
    let event = kept("some-user_creates_namespace_foo.json");
    assert_eq!(event.object.resource, "namespaces");
    assert!(is_object(&event.object, &id("", "Namespace", None, "foo")));
    assert_eq!(event.level, AuditLevel::Request);
    assert_eq!(event.response_object, None);
}

#[test]
fn create_with_a_stale_uid_matches_by_name_not_uid() {
    let event = kept("create_configmap.json");
    assert!(is_object(
        &event.object,
        &id("", "ConfigMap", Some("default"), "my-config")
    ));
    assert!(!is_object(
        &event.object,
        &id("", "ConfigMap", Some("kube-system"), "my-config")
    ));
    assert!(!is_object(
        &event.object,
        &id("", "Secret", Some("default"), "my-config")
    ));
}

#[test]
fn query_parameters_give_dry_run_and_field_manager() {
    let dry = kept("synthetic/dry_run_patch.json");
    assert!(dry.dry_run);
    assert_eq!(dry.field_manager.as_deref(), Some("kubectl-patch"));
    let apply = kept("synthetic/ssa_helm_apply.json");
    assert!(!apply.dry_run);
    assert_eq!(apply.field_manager.as_deref(), Some("helm"));
    let scale = kept("synthetic/scale_subresource.json");
    assert_eq!(scale.object.subresource.as_deref(), Some("scale"));
    assert_eq!(kept("synthetic/denied_patch.json").response_code, Some(403));
}

fn event(extra: Value) -> Value {
    let mut base = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": "x-1", "stage": "ResponseComplete", "verb": "update",
        "requestURI": "/api/v1/namespaces/a/configmaps/c?fieldManager=my%20tool&dryRun=All",
        "user": {"username": "u"},
        "objectRef": {"resource": "configmaps", "namespace": "a", "name": "c", "apiVersion": "v1"},
        "requestObject": {"data": {"k": "v"}}, "responseObject": {"data": {"k": "v"}},
        "stageTimestamp": "2026-01-01T00:00:00.5Z"
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
        base.extend(extra);
    }
    base
}

fn keep(value: &Value) -> KeptEvent {
    match admit(value).expect("admits") {
        Admission::Keep(event) => *event,
        other => panic!("dropped: {other:?}"),
    }
}

#[test]
fn field_manager_is_url_decoded() {
    let kept = keep(&event(json!({})));
    assert_eq!(kept.field_manager.as_deref(), Some("my tool"));
    assert!(kept.dry_run);
}

#[test]
fn stages_verbs_and_objects_decide_drops() {
    let drop = |extra| admit(&event(extra)).expect("admits");
    assert_eq!(
        drop(json!({"stage": "RequestReceived"})),
        Admission::Drop(DropReason::Incomplete)
    );
    assert_eq!(
        drop(json!({"stage": "ResponseStarted"})),
        Admission::Drop(DropReason::Incomplete)
    );
    assert_eq!(
        drop(json!({"verb": "watch"})),
        Admission::Drop(DropReason::ReadOnly)
    );
    assert_eq!(
        drop(json!({"objectRef": null})),
        Admission::Drop(DropReason::NonResource)
    );
    assert_eq!(
        drop(json!({"objectRef": {"namespace": "a"}})),
        Admission::Drop(DropReason::NonResource)
    );
    let mut no_stage = event(json!({}));
    if let Value::Object(map) = &mut no_stage {
        map.remove("stage");
    }
    assert_eq!(
        admit(&no_stage).expect("admits"),
        Admission::Drop(DropReason::Incomplete)
    );
    let legacy = event(json!({"timestamp": "2017-09-11T19:55:05Z"}));
    let mut legacy = legacy;
    if let Value::Object(map) = &mut legacy {
        map.remove("stage");
        map.remove("stageTimestamp");
    }
    assert_eq!(keep(&legacy).at.to_rfc3339(), "2017-09-11T19:55:05+00:00");
}

#[test]
fn missing_audit_id_or_bad_time_is_an_error() {
    let mut no_id = event(json!({}));
    if let Value::Object(map) = &mut no_id {
        map.remove("auditID");
    }
    assert!(matches!(
        admit(&no_id),
        Err(AuditEventError::MissingAuditId)
    ));
    let bad = admit(&event(json!({"stageTimestamp": "yesterday"})));
    assert!(
        matches!(
            &bad,
            Err(AuditEventError::BadTime {
                field: "stageTimestamp",
                ..
            })
        ),
        "{bad:?}"
    );
}

#[test]
fn received_time_is_used_without_a_stage_time() {
    let mut value = event(json!({"requestReceivedTimestamp": "2026-01-01T00:00:03Z"}));
    if let Value::Object(map) = &mut value {
        map.remove("stageTimestamp");
    }
    assert_eq!(keep(&value).at.to_rfc3339(), "2026-01-01T00:00:03+00:00");
}

#[test]
fn secret_bodies_are_never_kept() {
    let secret = keep(&event(json!({
        "objectRef": {"resource": "secrets", "namespace": "a", "name": "db", "apiVersion": "v1"}
    })));
    assert_eq!(secret.request_object, None);
    assert_eq!(secret.response_object, None);
}

#[test]
fn hostile_sizes_are_cut() {
    let long = "x".repeat(100_000);
    let kept = keep(&event(json!({
        "user": {"username": long, "groups": vec!["g"; 10_000]},
        "userAgent": "é".repeat(50_000),
    })));
    assert_eq!(kept.user.username.len(), MAX_TEXT);
    assert!(
        kept.user_agent
            .as_deref()
            .is_some_and(|a| a.len() <= MAX_TEXT)
    );
    assert!(kept.user.groups.len() <= 64);
}

#[test]
fn bodies_event_list_single_event_and_json_lines() {
    let one = event(json!({}));
    let list = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [one, one]});
    assert_eq!(
        events_in_body(list.to_string().as_bytes())
            .expect("list")
            .len(),
        2
    );
    let list_beta =
        json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1beta1", "items": [one]});
    assert_eq!(
        events_in_body(list_beta.to_string().as_bytes())
            .expect("list")
            .len(),
        1
    );
    let bare_list = json!({"kind": "EventList", "items": [one]});
    assert_eq!(
        events_in_body(bare_list.to_string().as_bytes())
            .expect("list")
            .len(),
        1
    );
    let pretty = serde_json::to_string_pretty(&one).expect("prints");
    assert_eq!(events_in_body(pretty.as_bytes()).expect("single").len(), 1);
    let lines = format!("{one}\n\n{one}\n");
    assert_eq!(events_in_body(lines.as_bytes()).expect("lines").len(), 2);
}

#[test]
fn body_errors_name_the_line() {
    let one = event(json!({}));
    let broken = format!("{one}\n{one}\n{{\"auditID\": \n");
    match events_in_body(broken.as_bytes()) {
        Err(AuditEventError::Json { line, .. }) => assert!(line >= 3, "line {line}"),
        other => panic!("{other:?}"),
    }
    let not_object = format!("{one}\n[1,2]\n");
    assert!(matches!(
        events_in_body(not_object.as_bytes()),
        Err(AuditEventError::NotAnObject { line: 2, .. })
    ));
    let wrong_kind = format!("{one}\n{}\n", json!({"kind": "Pod"}));
    assert!(matches!(
        events_in_body(wrong_kind.as_bytes()),
        Err(AuditEventError::UnexpectedKind { line: 2, .. })
    ));
    let wrong_version = json!({"kind": "Event", "apiVersion": "audit.k8s.io/v2"}).to_string();
    assert!(matches!(
        events_in_body(wrong_version.as_bytes()),
        Err(AuditEventError::UnsupportedApiVersion { line: 1, .. })
    ));
    assert!(matches!(
        events_in_body(b"  \n"),
        Err(AuditEventError::Empty)
    ));
    let error = events_in_body(not_object.as_bytes()).expect_err("fails");
    assert!(error.to_string().contains("line 2"), "{error}");
}

#[test]
fn resource_names_are_guessed_as_the_api_server_does() {
    for (kind, resource) in [
        ("Deployment", "deployments"),
        ("Ingress", "ingresses"),
        ("IngressClass", "ingressclasses"),
        ("NetworkPolicy", "networkpolicies"),
        ("PodSecurityPolicy", "podsecuritypolicies"),
        ("Endpoints", "endpoints"),
        ("EndpointSlice", "endpointslices"),
        ("Gateway", "gateways"),
        ("ConfigMap", "configmaps"),
        ("Prometheus", "prometheuses"),
        ("ComponentStatus", "componentstatuses"),
        ("PodMetrics", "pods"),
        ("ClusterRole", "clusterroles"),
    ] {
        assert_eq!(resource_for_kind(kind), resource, "{kind}");
    }
}

#[test]
fn actor_kinds_follow_the_username() {
    for (username, kind) in [
        (
            "system:serviceaccount:kube-system:deployment-controller",
            ActorKind::Controller,
        ),
        (
            "system:serviceaccount:kube-system:generic-garbage-collector",
            ActorKind::Controller,
        ),
        (
            "system:serviceaccount:kube-system:coredns",
            ActorKind::ServiceAccount,
        ),
        (
            "system:serviceaccount:argocd:argocd-application-controller",
            ActorKind::ServiceAccount,
        ),
        ("system:node:ip-10-0-1-7", ActorKind::Node),
        ("system:kube-controller-manager", ActorKind::Controller),
        ("system:kube-scheduler", ActorKind::Controller),
        ("system:admin", ActorKind::System),
        ("system:apiserver", ActorKind::System),
        ("bob", ActorKind::User),
        ("alice@example.com", ActorKind::User),
    ] {
        assert_eq!(actor_kind(username), kind, "{username}");
    }
}

#[test]
fn the_same_name_in_another_namespace_or_group_never_matches() {
    let object = ObjectRef {
        api_group: "apps".to_owned(),
        api_version: "v1".to_owned(),
        resource: "deployments".to_owned(),
        namespace: "staging".to_owned(),
        name: "api".to_owned(),
        subresource: None,
    };
    assert!(is_object(
        &object,
        &id("apps", "Deployment", Some("staging"), "api")
    ));
    assert!(!is_object(
        &object,
        &id("apps", "Deployment", Some("payments"), "api")
    ));
    assert!(!is_object(&object, &id("apps", "Deployment", None, "api")));
    assert!(!is_object(
        &object,
        &id("", "Deployment", Some("staging"), "api")
    ));
    assert!(!is_object(
        &object,
        &id("apps", "StatefulSet", Some("staging"), "api")
    ));
}
