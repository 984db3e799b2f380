//! The wire contract: every type of `statesight_core::wire` survives serialize → deserialize
//! unchanged, every enum serializes to the string the API sends and the database stores
//! (the lists below are the migrations' CHECK constraints), and the evidence the worker
//! writes (and the older shape some stored findings have) loads into the typed `Evidence`.

use std::fmt::Debug;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use statesight_core::string_enum::StringEnum;
use statesight_core::wire::*;
use uuid::Uuid;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000000 + n)
}

/// Serializes `value`, reads it back through JSON text, asserts it is equal, and returns
/// the JSON.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) -> Value {
    let text = serde_json::to_string(value).expect("serializes");
    let back: T = serde_json::from_str(&text).expect("deserializes");
    assert_eq!(&back, value, "{text}");
    serde_json::from_str(&text).expect("JSON")
}

/// Every variant serializes to its expected string (in declaration order), parses back from
/// it, and nothing else parses.
fn assert_strings<T>(expected: &[&str])
where
    T: StringEnum + Serialize + DeserializeOwned + PartialEq + Debug + std::fmt::Display,
{
    let strings: Vec<&str> = T::ALL.iter().map(|variant| variant.as_str()).collect();
    assert_eq!(strings, expected);
    for variant in T::ALL {
        assert_eq!(round_trip(variant), json!(variant.as_str()));
        assert_eq!(variant.to_string(), variant.as_str());
        assert_eq!(T::parse(variant.as_str()), Some(*variant));
    }
    assert_eq!(T::parse("no-such-value"), None);
    assert!(serde_json::from_value::<T>(json!("no-such-value")).is_err());
}

#[test]
fn every_enum_variant_has_the_string_the_api_and_database_use() {
    assert_strings::<Role>(&["viewer", "editor", "admin"]);
    assert_strings::<RunStatus>(&["queued", "running", "succeeded", "failed"]);
    assert_strings::<RunTrigger>(&["manual", "schedule", "webhook", "seed", "watch"]);
    assert_strings::<IncidentStatus>(&["open", "resolved"]);
    assert_strings::<Severity>(&["low", "medium", "high", "critical"]);
    assert_strings::<Recommendation>(&["ignore", "monitor", "investigate", "reconcile"]);
    assert_strings::<ChangeKind>(&[
        "changed",
        "missing_in_live",
        "added_in_live",
        "missing_resource",
    ]);
    assert_strings::<CauseKind>(&["manager", "unowned", "missing", "removed_from_git"]);
    assert_strings::<OwnerRole>(&["applier", "system_controller", "secondary_applier", "other"]);
    assert_strings::<RuleScope>(&["application", "workspace"]);
    assert_strings::<LiveSource>(&["kube-api", "in-cluster", "kubectl", "snapshot"]);
    assert_strings::<LiveMethod>(&[
        "kube-api",
        "in-cluster",
        "kubectl",
        "snapshot",
        "synthetic",
        "watch-cache",
    ]);
    assert_strings::<ObservedAtSource>(&["collector", "capture_file", "file_times", "watch"]);
    assert_strings::<RenderedWith>(&["plain", "kustomize"]);
    assert_strings::<statesight_core::wire::EventKind>(&[
        "run.queued",
        "run.started",
        "run.succeeded",
        "run.failed",
        "incident.opened",
        "incident.changed",
        "incident.resolved",
    ]);
    assert_strings::<AttributionGrade>(&[
        "observed-change",
        "observed-set",
        "manager-time-match",
        "window-candidate",
        "not-attributed",
    ]);
    assert_strings::<statesight_core::wire::ActorKind>(&[
        "user",
        "service-account",
        "controller",
        "node",
        "system",
    ]);
    assert_strings::<TimelineKind>(&[
        "git_revision",
        "managed_fields_time",
        "first_seen",
        "reobserved",
        "suppressed",
        "rule_changed",
        "resolved",
        "reopened",
        "audit_event",
    ]);
    assert_strings::<ErrorCode>(&[
        "bad_request",
        "unauthenticated",
        "forbidden",
        "identity_not_provisioned",
        "not_found",
        "method_not_allowed",
        "conflict",
        "payload_too_large",
        "unsupported_media_type",
        "validation_failed",
        "internal",
        "unavailable",
    ]);
}

#[test]
fn ordered_enums_order_by_rank() {
    assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
    assert!(Severity::Low < Severity::Medium && Severity::High < Severity::Critical);
}

#[test]
fn an_unknown_string_names_the_enum_and_the_value() {
    let error = "urgent".parse::<Severity>().expect_err("unknown");
    assert_eq!(error.to_string(), r#""urgent" is not a known Severity"#);
    assert!(RunStatus::try_from(String::from("paused")).is_err());
}

#[test]
fn causes_are_objects_with_a_manager_only_for_manager_causes() {
    let edit = Cause::manager("kubectl-edit");
    assert_eq!(
        round_trip(&edit),
        json!({ "kind": "manager", "manager": "kubectl-edit" })
    );
    let unowned = Cause::without_manager(CauseKind::Unowned);
    assert_eq!(
        round_trip(&unowned),
        json!({ "kind": "unowned", "manager": null })
    );
    for (label, cause) in [
        ("kubectl-edit", edit),
        ("unowned", unowned),
        ("missing", Cause::without_manager(CauseKind::Missing)),
        (
            "removed_from_git",
            Cause::without_manager(CauseKind::RemovedFromGit),
        ),
    ] {
        assert_eq!(Cause::from_label(label), cause);
        assert_eq!(cause.label(), label);
    }
    // The stored label `manager` is a manager of that name, not a kind without one.
    assert_eq!(Cause::from_label("manager"), Cause::manager("manager"));
    let engine = statesight_core::Cause::Manager(String::from("hpa-controller"));
    assert_eq!(Cause::from(&engine), Cause::manager("hpa-controller"));
    assert_eq!(
        Cause::from(&statesight_core::Cause::RemovedFromGit).kind,
        CauseKind::RemovedFromGit
    );
}

fn resource() -> ResourceIdentity {
    ResourceIdentity {
        api_version: String::from("apps/v1"),
        group: String::from("apps"),
        kind: String::from("Deployment"),
        namespace: String::from("payments"),
        name: String::from("checkout-api"),
    }
}

fn named(n: u128, name: &str) -> NamedRef {
    NamedRef {
        id: id(n),
        name: name.to_owned(),
    }
}

fn owner() -> Owner {
    Owner {
        manager: String::from("kubectl-edit"),
        operation: String::from("Update"),
        subresource: None,
        time: Some(String::from("2026-11-20T09:12:44Z")),
        role: Some(OwnerRole::Other),
    }
}

/// The JSON the worker writes as a finding's evidence (`evidence_json` in the store's
/// analysis module), field for field.
fn worker_evidence() -> Value {
    json!({
        "desired": {
            "repository": "https://git.acme.example/payments/checkout-deploy.git",
            "ref": "main",
            "source_path": "k8s/staging",
            "file": "k8s/staging/deployment.yaml",
            "document": 1,
            "revision": "3f9c2b7e1a4d5c6b8e9f0a1b2c3d4e5f60718293",
            "committed_at": "2026-11-19T17:02:11Z",
        },
        "live": {
            "method": "kube-api",
            "cluster": "staging-eu-1",
            "cluster_id": "5eed0000-0000-4000-8000-000000000302",
            "observed_at": "2026-11-20T09:30:00Z",
            "observed_at_source": "collector",
            "context": "staging-eu-1",
            "trusted": true,
        },
        "ownership": {
            "owners": [{
                "manager": "kubectl-edit",
                "operation": "Update",
                "subresource": null,
                "time": "2026-11-20T09:12:44Z",
                "role": "other",
            }],
            "note": "managedFields ownership is evidence of who last wrote or asserted the field, not proof of causation",
        },
        "attribution": {
            "grade": "not-attributed",
            "reason": "no Kubernetes audit events were ingested for this cluster",
        },
    })
}

fn evidence() -> Evidence {
    serde_json::from_value(worker_evidence()).expect("the worker's evidence")
}

#[test]
fn the_workers_evidence_loads_typed_and_serializes_back_unchanged() {
    let evidence = evidence();
    assert_eq!(evidence.live.method, LiveMethod::KubeApi);
    assert_eq!(
        evidence.live.observed_at_source,
        Some(ObservedAtSource::Collector)
    );
    assert_eq!(
        evidence.desired.file.as_deref(),
        Some("k8s/staging/deployment.yaml")
    );
    assert_eq!(evidence.ownership.owners, vec![owner()]);
    assert_eq!(evidence.attribution.grade, AttributionGrade::NotAttributed);
    assert_eq!(round_trip(&evidence), worker_evidence());
}

#[test]
fn evidence_without_managed_fields_or_commit_time_loads() {
    let mut json = worker_evidence();
    json["desired"]["committed_at"] = Value::Null;
    json["live"]["context"] = Value::Null;
    json["ownership"] = json!({ "owners": [], "note": "no managedFields entry owns this path" });
    let evidence: Evidence = serde_json::from_value(json.clone()).expect("evidence");
    assert!(evidence.ownership.owners.is_empty());
    assert_eq!(round_trip(&evidence), json);
}

/// Findings stored before the worker wrote this shape (the demo seed's) name the file as
/// one `path` and lack the cluster id, observation source and owner roles: they still load,
/// with those fields null.
#[test]
fn evidence_of_the_older_stored_shape_still_loads() {
    let older = json!({
        "desired": {
            "repository": "https://git.acme.example/payments/checkout-deploy.git",
            "ref": "main",
            "path": "k8s/staging/deployment.yaml",
            "revision": "3f9c2b7e1a4d5c6b8e9f0a1b2c3d4e5f60718293",
        },
        "live": {
            "method": "kube-api",
            "cluster": "staging-eu-1",
            "observed_at": "2026-11-20T09:30:00Z",
            "trusted": true,
        },
        "ownership": {
            "owners": [{ "manager": "kubectl-edit", "operation": "Update", "subresource": null, "time": null }],
            "note": "managedFields ownership is evidence of who last wrote or asserted the field, not proof of causation",
        },
        "attribution": { "grade": "not-attributed", "reason": "no Kubernetes audit events were ingested for this cluster" },
    });
    let evidence: Evidence = serde_json::from_value(older).expect("older evidence");
    assert_eq!(evidence.desired.file, None);
    assert_eq!(evidence.live.cluster_id, None);
    assert_eq!(evidence.ownership.owners[0].role, None);
    round_trip(&evidence);
}

#[test]
fn owners_convert_from_the_engines_and_round_trip() {
    let engine = statesight_core::Owner {
        manager: String::from("kube-controller-manager"),
        operation: String::from("Update"),
        subresource: Some(String::from("scale")),
        time: Some(String::from("2026-11-20T09:12:44Z")),
        role: OwnerRole::SystemController,
    };
    let wire = Owner::from(&engine);
    assert_eq!(wire.role, Some(OwnerRole::SystemController));
    // The engine's own serialization is what the worker stores: it reads as the wire type.
    let stored = serde_json::to_value(&engine).expect("engine owner");
    assert_eq!(
        serde_json::from_value::<Owner>(stored).expect("owner"),
        wire
    );
    round_trip(&wire);
}

fn run() -> AnalysisRun {
    AnalysisRun {
        id: id(0x601),
        workspace_id: id(0x101),
        application_id: id(0x502),
        status: RunStatus::Succeeded,
        trigger: RunTrigger::Manual,
        requested_revision: Some(String::from("main")),
        resolved_revision: Some(String::from("3f9c2b7e1a4d5c6b8e9f0a1b2c3d4e5f60718293")),
        requested_by: Some(id(0x203)),
        attempts: 1,
        error: None,
        finding_count: Some(9),
        suppressed_count: Some(1),
        incident_count: Some(8),
        warnings: vec![String::from(
            "live state of apps/v1 Deployment payments/checkout-api carries no managedFields",
        )],
        queued_at: at("2026-11-20T09:29:58Z"),
        started_at: Some(at("2026-11-20T09:29:59Z")),
        finished_at: Some(at("2026-11-20T09:30:02Z")),
        desired_provenance: Some(DesiredProvenance {
            repo_url: String::from("https://git.acme.example/payments/checkout-deploy.git"),
            git_ref: String::from("main"),
            path: String::from("k8s/staging"),
            commit_sha: String::from("3f9c2b7e1a4d5c6b8e9f0a1b2c3d4e5f60718293"),
            committed_at: Some(at("2026-11-19T17:02:11Z")),
            rendered_with: RenderedWith::Kustomize,
        }),
        live_provenance: Some(LiveProvenance {
            cluster_id: id(0x302),
            method: LiveMethod::Snapshot,
            trusted: true,
            observed_at: at("2026-11-20T09:30:00Z"),
            observed_at_source: ObservedAtSource::CaptureFile,
            context: Some(String::from("prod-eu-1")),
            has_managed_fields: true,
        }),
    }
}

fn incident() -> Incident {
    Incident {
        id: id(0x701),
        workspace_id: id(0x101),
        application: named(0x502, "checkout-api"),
        fingerprint: String::from("9b1f0c3e"),
        resource: resource(),
        cause: Cause::manager("kubectl-edit"),
        title: String::from("kubectl-edit changed spec.replicas of Deployment checkout-api"),
        severity: Severity::High,
        recommendation: Recommendation::Reconcile,
        rationale: String::from("an out-of-band writer owns a field Git declares"),
        status: IncidentStatus::Open,
        finding_count: 1,
        occurrence_count: 3,
        recurrence_count: 1,
        first_seen_at: at("2026-11-18T08:00:00Z"),
        last_seen_at: at("2026-11-20T09:30:00Z"),
        resolved_at: None,
        last_run_id: Some(id(0x601)),
    }
}

fn finding(desired: Option<Value>, live: Option<Value>) -> Finding {
    Finding {
        id: id(0x801),
        incident_id: id(0x701),
        run_id: Some(id(0x601)),
        resource: resource(),
        path: String::from("spec.replicas"),
        change: ChangeKind::Changed,
        desired,
        live,
        owners: vec![owner()],
        evidence: evidence(),
        observed_at: at("2026-11-20T09:30:00Z"),
    }
}

fn rule(scope: RuleScope) -> IgnoreRule {
    IgnoreRule {
        id: id(0xa02),
        workspace_id: id(0x101),
        application_id: (scope == RuleScope::Application).then(|| id(0x502)),
        scope,
        name: String::from("hpa-owns-replicas"),
        match_expression: String::from("spec.replicas"),
        resource_ref: Some(String::from("apps/Deployment/payments/checkout-api")),
        managed_by: Some(String::from("horizontal-pod-autoscaler")),
        reason: String::from("the autoscaler sets replicas"),
        enabled: true,
        read_only: scope == RuleScope::Workspace,
        created_by: Some(id(0x203)),
        updated_by: None,
        created_at: at("2026-11-01T10:00:00Z"),
        updated_at: at("2026-11-02T10:00:00Z"),
    }
}

fn suppressed() -> SuppressedFinding {
    SuppressedFinding {
        id: id(0x901),
        run_id: Some(id(0x601)),
        rule: SuppressingRule {
            id: None,
            name: String::from("hpa-owns-replicas"),
            reason: String::from("the autoscaler sets replicas"),
            scope: RuleScope::Workspace,
        },
        resource: resource(),
        path: String::from("spec.replicas"),
        change: ChangeKind::Changed,
        desired: Some(json!(2)),
        live: Some(json!(5)),
        owners: vec![owner()],
        observed_at: at("2026-11-20T09:30:00Z"),
    }
}

fn application() -> Application {
    Application {
        id: id(0x502),
        workspace_id: id(0x101),
        name: String::from("checkout-api"),
        description: String::from("Checkout API of the payments team"),
        default_namespace: String::from("payments"),
        cluster: named(0x302, "staging-eu-1"),
        source: named(0x402, "checkout-deploy"),
        open_incident_count: 3,
        highest_open_severity: Some(Severity::High),
        latest_run: Some(RunSummary {
            id: id(0x601),
            status: RunStatus::Running,
            queued_at: at("2026-11-20T09:29:58Z"),
            finished_at: None,
            resolved_revision: None,
        }),
        created_at: at("2026-11-01T10:00:00Z"),
        updated_at: at("2026-11-01T10:00:00Z"),
    }
}

fn capped<T>(items: Vec<T>, href: &str) -> Capped<T> {
    Capped {
        total: 21,
        truncated: true,
        items,
        href: href.to_owned(),
    }
}

#[test]
fn findings_carry_any_json_value_or_null() {
    for (desired, live) in [
        (Some(json!(3)), Some(json!(5))),
        (Some(json!("nginx:1.27")), None),
        (None, Some(json!({ "cpu": "500m" }))),
        (Some(json!(["--verbose"])), Some(json!(true))),
        (Some(json!(0.5)), Some(json!("sha256:5f1e…"))),
    ] {
        let json = round_trip(&finding(desired.clone(), live.clone()));
        assert_eq!(json["desired"], desired.unwrap_or(Value::Null));
        assert_eq!(json["live"], live.unwrap_or(Value::Null));
    }
    round_trip(&suppressed());
}

#[test]
fn incidents_runs_and_applications_round_trip() {
    round_trip(&incident());
    round_trip(&run());
    let mut failed = run();
    failed.status = RunStatus::Failed;
    failed.error = Some(String::from("path \"k8s/prod\" does not exist"));
    failed.desired_provenance = None;
    failed.live_provenance = None;
    round_trip(&failed);
    round_trip(&application());
    let detail = ApplicationDetail {
        application: application(),
        open_incidents: capped(vec![incident()], "/api/v1/incidents?status=open"),
        recent_suppressions: capped(vec![suppressed()], "/api/v1/applications/x/suppressed"),
        ignore_rules: capped(
            vec![rule(RuleScope::Application), rule(RuleScope::Workspace)],
            "/api/v1/applications/x/ignore-rules",
        ),
    };
    // The application's fields are flattened into the detail.
    assert_eq!(round_trip(&detail)["name"], "checkout-api");
}

#[test]
fn the_overview_and_identity_round_trip() {
    let access = WorkspaceAccess {
        id: id(0x101),
        name: String::from("acme-payments"),
        role: Role::Editor,
    };
    round_trip(&Me {
        user: User {
            id: id(0x203),
            email: String::from("eve.editor@acme.example"),
            display_name: String::from("Eve Editor"),
        },
        workspaces: vec![access.clone()],
    });
    round_trip(&PublicAuthConfig {
        auth_required: true,
        issuer: Some(String::from("https://login.acme.example")),
        audience: Some(String::from("statesight")),
        client_id: None,
        scopes: vec![
            String::from("openid"),
            String::from("api://statesight/.default"),
        ],
        audience_parameter: Some(AudienceParameter::Scope),
    });
    round_trip(&Overview {
        workspace: access,
        applications: 2,
        clusters: 2,
        sources: 2,
        open_incidents: OpenIncidentCounts {
            total: 4,
            by_severity: SeverityCounts {
                critical: 1,
                high: 1,
                medium: 1,
                low: 1,
            },
            by_recommendation: RecommendationCounts {
                reconcile: 2,
                investigate: 1,
                monitor: 1,
                ignore: 0,
            },
        },
        runs: RunCounts {
            queued: 1,
            running: 0,
            failed_last_24h: 1,
            succeeded_last_24h: 3,
        },
        top_incidents: vec![incident()],
        recent_runs: vec![run()],
    });
}

#[test]
fn onboarding_records_and_inputs_round_trip() {
    round_trip(&Cluster {
        id: id(0x302),
        workspace_id: id(0x101),
        name: String::from("staging-eu-1"),
        description: String::new(),
        live_source: LiveSource::KubeApi,
        kubeconfig_path: Some(String::from("~/.kube/config")),
        context: Some(String::from("staging-eu-1")),
        snapshot_dir: None,
        watch: true,
        created_at: at("2026-11-01T10:00:00Z"),
        updated_at: at("2026-11-01T10:00:00Z"),
    });
    round_trip(&ClusterInput {
        name: String::from("prod-snapshot"),
        description: String::from("nightly capture"),
        live_source: LiveSource::Snapshot,
        kubeconfig_path: None,
        context: None,
        snapshot_dir: Some(String::from("/srv/snapshots/prod")),
        watch: false,
    });
    let source = round_trip(&Source {
        id: id(0x402),
        workspace_id: id(0x101),
        name: String::from("checkout-deploy"),
        repo_url: String::from("git@github.com:acme/checkout-deploy.git"),
        git_ref: String::from("main"),
        path: String::from("k8s/staging"),
        created_at: at("2026-11-01T10:00:00Z"),
        updated_at: at("2026-11-01T10:00:00Z"),
    });
    assert_eq!(source["ref"], "main");
    round_trip(&SourceInput {
        name: String::from("checkout-deploy"),
        repo_url: String::from("https://git.acme.example/payments/checkout-deploy.git"),
        git_ref: String::from("refs/tags/v1.2.3"),
        path: String::from("."),
    });
    round_trip(&ApplicationInput {
        name: String::from("checkout-api"),
        description: String::new(),
        cluster_id: id(0x302),
        source_id: id(0x402),
        default_namespace: String::from("payments"),
    });
    round_trip(&AnalyzeRequest {
        revision: Some(String::from("3f9c2b7")),
    });
    round_trip(&AnalyzeRequest::default());
    round_trip(&References {
        applications: vec![named(0x502, "checkout-api"), named(0x503, "billing-worker")],
    });
}

#[test]
fn rules_and_rule_inputs_round_trip() {
    round_trip(&rule(RuleScope::Application));
    round_trip(&rule(RuleScope::Workspace));
    round_trip(&IgnoreRuleInput {
        name: String::from("hpa-owns-replicas"),
        match_expression: String::from("spec.replicas"),
        resource_ref: None,
        managed_by: Some(String::from("horizontal-pod-autoscaler")),
        reason: String::from("the autoscaler sets replicas"),
        enabled: false,
    });
}

#[test]
fn a_patch_tells_an_absent_field_from_null() {
    let clears = IgnoreRulePatch {
        managed_by: Some(None),
        reason: Some(String::from("any manager")),
        ..IgnoreRulePatch::default()
    };
    assert_eq!(
        round_trip(&clears),
        json!({ "managed_by": null, "reason": "any manager" })
    );
    assert_eq!(round_trip(&IgnoreRulePatch::default()), json!({}));
    round_trip(&IgnoreRulePatch {
        name: Some(String::from("renamed")),
        match_expression: Some(String::from(
            "spec.template.spec.containers[name=api].image",
        )),
        resource_ref: Some(Some(String::from("Deployment/payments/checkout-api"))),
        managed_by: Some(Some(String::from("kubectl-edit"))),
        reason: None,
        enabled: Some(true),
    });
}

#[test]
fn timeline_events_round_trip() {
    let mut details = serde_json::Map::new();
    details.insert(String::from("manager"), json!("kubectl-edit"));
    details.insert(String::from("operation"), json!("Update"));
    round_trip(&TimelineEvent {
        id: id(0xb01),
        incident_id: id(0x701),
        run_id: None,
        occurred_at: at("2026-11-20T09:12:44Z"),
        kind: TimelineKind::ManagedFieldsTime,
        summary: String::from("kubectl-edit last wrote the object (managedFields)"),
        details,
    });
}

#[test]
fn envelopes_and_errors_round_trip() {
    let meta = Meta {
        request_id: String::from("01a22f17-6a3d-70b3-8c06-410c313fee92"),
        next_cursor: Some(String::from("eyJsaXN0IjoiaW5jaWRlbnRzIn0")),
    };
    round_trip(&Data {
        data: vec![incident()],
        meta: meta.clone(),
    });
    let last_page = Meta {
        next_cursor: None,
        ..meta.clone()
    };
    // No cursor on the last page: the key is absent, not null.
    assert_eq!(
        round_trip(&last_page),
        json!({ "request_id": last_page.request_id })
    );
    let error = |code, details| ErrorBody {
        error: ErrorDetail {
            code,
            message: String::from("something was refused"),
            details,
        },
        meta: last_page.clone(),
    };
    round_trip(&error(ErrorCode::NotFound, None));
    for details in [
        ErrorDetails::Field(FieldDetails {
            field: String::from("cluster_id"),
            reason: Some(String::from("is not a cluster of this workspace")),
        }),
        ErrorDetails::Field(FieldDetails {
            field: String::from("source_id"),
            reason: None,
        }),
        ErrorDetails::Syntax(SyntaxDetails {
            field: String::from("match_expression"),
            offset: 24,
            expected: String::from("`]`"),
            found: None,
        }),
        ErrorDetails::References(ReferenceDetails {
            referenced_by: References {
                applications: vec![named(0x502, "checkout-api")],
            },
        }),
    ] {
        round_trip(&error(ErrorCode::ValidationFailed, Some(details)));
    }
}
