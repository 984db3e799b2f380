//! docs/drift-semantics.md rule by rule, data-driven: each case is one
//! `check(desired, live, expect)` with YAML in and one line per finding (`change path cause`)
//! out.

mod common;

use common::{assert_lines, lines, run, yaml};
use statesight_core::analysis::{AnalyzeOptions, analyze};
use statesight_core::rules::{IgnoreRule, RuleScope};

fn check(desired: &str, live: &str, expect: &[&str]) {
    check_with_rules(desired, live, &[], expect);
}

fn check_with_rules(desired: &str, live: &str, rules: &[IgnoreRule], expect: &[&str]) {
    let analysis = run(
        &yaml("desired.yaml", desired),
        &yaml("live.yaml", live),
        "apps",
        rules,
    );
    assert_lines(
        &format!("desired:\n{desired}\nlive:\n{live}"),
        &lines(&analysis),
        expect,
    );
}

const DEPLOY_HEAD: &str =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: apps\n";

fn deploy(body: &str) -> String {
    format!("{DEPLOY_HEAD}{body}")
}

#[test]
fn numbers_and_quantities_compare_by_value() {
    check(
        &deploy("spec:\n  replicas: 2\n"),
        &deploy("spec:\n  replicas: 2.0\n"),
        &[],
    );
    let resources = |cpu: &str, mem: &str| {
        deploy(&format!(
            "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        resources:\n          requests: {{cpu: {cpu}, memory: {mem}}}\n          limits: {{cpu: 1}}\n"
        ))
    };
    check(
        &resources("500m", "1Gi"),
        &resources("\"0.5\"", "1024Mi").replace("cpu: 1}", "cpu: \"1000m\"}"),
        &[],
    );
    check(
        &resources("500m", "1Gi"),
        &resources("600m", "1Gi"),
        &["changed spec.template.spec.containers[name=a].resources.requests.cpu unowned"],
    );
}

#[test]
fn strings_stay_strings() {
    check(
        &format!("{DEPLOY_HEAD}  annotations:\n    ratio: \"0.50\"\n"),
        &format!("{DEPLOY_HEAD}  annotations:\n    ratio: \"0.5\"\n"),
        &["changed metadata.annotations.ratio unowned"],
    );
    // int-or-string: 8080 and "8080" are different values to Kubernetes.
    check(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: apps}\nspec:\n  ports: [{port: 80, targetPort: 8080}]\n",
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: apps}\nspec:\n  ports: [{port: 80, protocol: TCP, targetPort: \"8080\"}]\n",
        &["changed spec.ports[port=80].targetPort unowned"],
    );
}

#[test]
fn empty_or_zero_in_git_equals_absent_live() {
    check(
        &deploy(
            "spec:\n  template:\n    spec:\n      hostNetwork: false\n      nodeSelector: {}\n      containers:\n      - name: a\n        env: []\n        args: []\n",
        ),
        &deploy("spec:\n  template:\n    spec:\n      containers:\n      - name: a\n"),
        &[],
    );
}

#[test]
fn octal_file_modes_read_as_kubernetes_reads_them() {
    let volumes = |mode: &str| {
        deploy(&format!(
            "spec:\n  template:\n    spec:\n      volumes:\n      - name: v\n        configMap: {{name: c, defaultMode: {mode}}}\n"
        ))
    };
    check(&volumes("0755"), &volumes("493"), &[]);
    check(
        &volumes("0644"),
        &volumes("493"),
        &["changed spec.template.spec.volumes[name=v].configMap.defaultMode unowned"],
    );
}

#[test]
fn maps_compare_by_key() {
    check(
        &format!("{DEPLOY_HEAD}  labels: {{a: \"1\", b: \"2\"}}\n"),
        &format!("{DEPLOY_HEAD}  labels: {{b: \"2\", a: \"1\"}}\n"),
        &[],
    );
}

#[test]
fn keyed_lists_match_by_merge_key() {
    let containers = |items: &str| {
        deploy(&format!(
            "spec:\n  template:\n    spec:\n      containers:\n{items}"
        ))
    };
    let a = "      - name: a\n        image: a:1\n";
    let b = "      - name: b\n        image: b:1\n";
    let c = "      - name: c\n        image: c:1\n";
    check(
        &containers(&format!("{a}{b}")),
        &containers(&format!("{b}{a}")),
        &[],
    );
    check(
        &containers(&format!("{a}{b}")),
        &containers(&format!("{a}{c}")),
        &[
            "missing_in_live spec.template.spec.containers[name=b] unowned",
            "added_in_live spec.template.spec.containers[name=c] unowned",
        ],
    );
    // Container ports: containerPort + protocol, protocol defaulting to TCP.
    check(
        &containers(
            "      - name: dns\n        ports: [{containerPort: 53, protocol: UDP}, {containerPort: 53}]\n",
        ),
        &containers(
            "      - name: dns\n        ports: [{containerPort: 53, protocol: TCP}, {containerPort: 53, protocol: UDP, name: x}]\n",
        ),
        &[],
    );
    check(
        &containers("      - name: dns\n        ports: [{containerPort: 53, protocol: UDP}]\n"),
        &containers("      - name: dns\n        ports: [{containerPort: 53, protocol: TCP}]\n"),
        &[
            "added_in_live spec.template.spec.containers[name=dns].ports[containerPort=53] unowned",
            "missing_in_live spec.template.spec.containers[name=dns].ports[containerPort=53,protocol=UDP] unowned",
        ],
    );
    // volumeMounts by mountPath, env by name.
    check(
        &containers(
            "      - name: a\n        volumeMounts: [{mountPath: /x, name: v1}, {mountPath: /y, name: v2}]\n        env: [{name: A, value: \"1\"}, {name: B, value: \"2\"}]\n",
        ),
        &containers(
            "      - name: a\n        volumeMounts: [{mountPath: /y, name: v2}, {mountPath: /x, name: v9}]\n        env: [{name: B, value: \"2\"}, {name: A, value: \"1\"}]\n",
        ),
        &["changed spec.template.spec.containers[name=a].volumeMounts[mountPath=/x].name unowned"],
    );
}

#[test]
fn service_ports_match_by_port_and_protocol() {
    let svc = |ports: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: s, namespace: apps}}\nspec:\n  ports: {ports}\n"
        )
    };
    check(
        &svc("[{port: 53, protocol: UDP, name: u}, {port: 53, name: t}]"),
        &svc(
            "[{port: 53, protocol: TCP, name: t, targetPort: 53}, {port: 53, protocol: UDP, name: u, targetPort: 53}]",
        ),
        &[],
    );
}

#[test]
fn other_lists_compare_in_order() {
    let role = |rules: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: r, namespace: apps}}\nrules:\n{rules}"
        )
    };
    let pods = "- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, list]\n";
    let secrets = "- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [get]\n";
    check(
        &role(&format!("{pods}{secrets}")),
        &role(&format!("{pods}{secrets}")),
        &[],
    );
    check(
        &role(&format!("{pods}{secrets}")),
        &role(&format!("{secrets}{pods}")),
        &[
            "changed rules[0].resources unowned",
            "changed rules[0].verbs unowned",
            "changed rules[1].resources unowned",
            "changed rules[1].verbs unowned",
        ],
    );
    check(
        &role(pods),
        &role(&format!("{pods}{secrets}")),
        &["added_in_live rules[1] unowned"],
    );
    check(
        &role(&format!("{pods}{secrets}")),
        &role(pods),
        &["missing_in_live rules[1] unowned"],
    );
    // Lists of scalars compare whole.
    check(
        &role("- verbs: [get, list]\n"),
        &role("- verbs: [list, get]\n"),
        &["changed rules[0].verbs unowned"],
    );
}

#[test]
fn identity_ignores_the_version_and_defaults_the_namespace() {
    check(
        "apiVersion: apps/v1beta2\nkind: Deployment\nmetadata: {name: api}\nspec: {replicas: 1}\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: apps}\nspec: {replicas: 1}\n",
        &[],
    );
    check(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n",
        &[],
    );
    check(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: other}\nspec: {replicas: 1}\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: apps}\nspec: {replicas: 1}\n",
        &["missing_resource  missing"],
    );
    // A cluster-scoped custom resource learnt from its CRD.
    check(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, scope: Cluster, names: {kind: Widget}}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1}\n",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, scope: Cluster, names: {kind: Widget}}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1}\n",
        &[],
    );
}

const FIELDS: &str = "  managedFields:\n";

fn entry(manager: &str, operation: &str, fields: &str) -> String {
    format!(
        "  - manager: {manager}\n    operation: {operation}\n    time: \"2026-01-01T00:00:00Z\"\n    fieldsType: FieldsV1\n    fieldsV1: {fields}\n"
    )
}

fn applier_entry() -> String {
    entry(
        "argocd-controller",
        "Apply",
        "{\"f:spec\": {\"f:replicas\": {}, \"f:template\": {\"f:spec\": {\"f:containers\": {\"k:{\\\"name\\\":\\\"a\\\"}\": {\".\": {}, \"f:name\": {}, \"f:image\": {}}}}}}}",
    )
}

fn live_deploy(extra_entries: &str, spec_extra: &str) -> String {
    format!(
        "{DEPLOY_HEAD}{FIELDS}{}{extra_entries}spec:\n  replicas: 1\n  template:\n    spec:\n      dnsPolicy: ClusterFirst\n{spec_extra}      containers:\n      - name: a\n        image: a:1\n",
        applier_entry()
    )
}

fn desired_deploy() -> String {
    deploy(
        "spec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: a\n        image: a:1\n",
    )
}

#[test]
fn undeclared_live_fields_need_ownership_evidence() {
    // No owner (a default): not drift.
    check(&desired_deploy(), &live_deploy("", ""), &[]);
    // Owned by someone neither applier nor system controller: drift, attributed.
    check(
        &desired_deploy(),
        &live_deploy(
            &entry(
                "kubectl-edit",
                "Update",
                "{\"f:spec\": {\"f:template\": {\"f:spec\": {\"f:hostNetwork\": {}}}}}",
            ),
            "      hostNetwork: true\n",
        ),
        &["added_in_live spec.template.spec.hostNetwork kubectl-edit"],
    );
    // Owned by a system controller: expected.
    check(
        &desired_deploy(),
        &live_deploy(
            &entry(
                "kube-controller-manager",
                "Update",
                "{\"f:spec\": {\"f:template\": {\"f:spec\": {\"f:hostNetwork\": {}}}}}",
            ),
            "      hostNetwork: true\n",
        ),
        &[],
    );
    // A scalar owned only by an Update applier (a defaulted field it picked up): never drift.
    check(
        &desired_deploy(),
        &live_deploy(
            &entry(
                "argocd-controller",
                "Update",
                "{\"f:spec\": {\"f:template\": {\"f:spec\": {\"f:dnsPolicy\": {}}}}}",
            ),
            "",
        ),
        &[],
    );
    // No managedFields at all: nothing undeclared is drift (keyed items aside).
    check(
        &desired_deploy(),
        &deploy(
            "spec:\n  replicas: 1\n  paused: true\n  template:\n    spec:\n      containers:\n      - {name: a, image: a:1}\n",
        ),
        &[],
    );
}

#[test]
fn undeclared_containers_are_judged_by_their_leaves() {
    // kubectl-edit owns one leaf deep inside an undeclared object: only that leaf is reported.
    check(
        &desired_deploy(),
        &live_deploy(
            &entry(
                "kubectl-edit",
                "Update",
                "{\"f:spec\": {\"f:template\": {\"f:spec\": {\"f:securityContext\": {\"f:runAsUser\": {}}}}}}",
            ),
            "      securityContext:\n        runAsUser: 0\n        fsGroup: 2000\n",
        ),
        &["added_in_live spec.template.spec.securityContext.runAsUser kubectl-edit"],
    );
}

#[test]
fn keyed_items_present_live_are_always_drift() {
    check(
        &desired_deploy(),
        &format!(
            "{DEPLOY_HEAD}spec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - {{name: a, image: a:1}}\n      - {{name: sidecar, image: s:1}}\n"
        ),
        &["added_in_live spec.template.spec.containers[name=sidecar] unowned"],
    );
}

#[test]
fn atomic_fields_are_owned_whole() {
    // tolerations is atomic: one finding for the whole list, owned through it.
    check(
        &desired_deploy(),
        &live_deploy(
            &entry(
                "k9s",
                "Update",
                "{\"f:spec\": {\"f:template\": {\"f:spec\": {\"f:tolerations\": {}}}}}",
            ),
            "      tolerations:\n      - {key: a, operator: Exists}\n",
        ),
        &["added_in_live spec.template.spec.tolerations k9s"],
    );
    // args is atomic: a changed argument is attributed to the owner of the whole list.
    let with_args = |args: &str, fields: &str| {
        format!(
            "{DEPLOY_HEAD}{FIELDS}{}spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        args: {args}\n",
            entry("kubectl-edit", "Update", fields)
        )
    };
    let analysis = run(
        &yaml(
            "d",
            &deploy(
                "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        args: [--x]\n",
            ),
        ),
        &yaml(
            "l",
            &with_args(
                "[--y]",
                "{\"f:spec\": {\"f:template\": {\"f:spec\": {\"f:containers\": {\"k:{\\\"name\\\":\\\"a\\\"}\": {\"f:args\": {}}}}}}}",
            ),
        ),
        "apps",
        &[],
    );
    assert_lines(
        "args",
        &lines(&analysis),
        &["changed spec.template.spec.containers[name=a].args kubectl-edit"],
    );
}

#[test]
fn string_map_entries_removed_from_git() {
    let live_cm = |entries: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: apps\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{{\"data\":{{\"a\":\"1\",\"old\":\"x\"}}}}'\n{FIELDS}{entries}data: {{a: \"1\", old: x}}\n"
        )
    };
    let desired =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: apps}\ndata: {a: \"1\"}\n";
    // Owned by the applier through Apply.
    check(
        desired,
        &live_cm(&entry(
            "flux",
            "Apply",
            "{\"f:data\": {\"f:a\": {}, \"f:old\": {}}}",
        )),
        &["added_in_live data.old removed_from_git"],
    );
    // Owned by an Update applier and listed in last-applied.
    check(
        desired,
        &live_cm(&entry(
            "argocd",
            "Update",
            "{\"f:data\": {\"f:a\": {}, \"f:old\": {}}}",
        )),
        &["added_in_live data.old removed_from_git"],
    );
    // The last-applied annotation itself is applier bookkeeping, never drift.
    check(
        desired,
        &live_cm(&entry(
            "argocd",
            "Update",
            "{\"f:metadata\": {\"f:annotations\": {\"f:kubectl.kubernetes.io/last-applied-configuration\": {}}}, \"f:data\": {\"f:a\": {}}}",
        )),
        &[],
    );
}

#[test]
fn status_and_server_metadata_are_never_compared() {
    check(
        &format!(
            "{DEPLOY_HEAD}  uid: x\n  resourceVersion: \"1\"\nspec: {{replicas: 1}}\nstatus: {{replicas: 9}}\n"
        ),
        &format!(
            "{DEPLOY_HEAD}  uid: y\n  resourceVersion: \"2\"\n  generation: 4\nspec: {{replicas: 1}}\nstatus: {{replicas: 1}}\n"
        ),
        &[],
    );
}

#[test]
fn missing_resource() {
    let analysis = run(&yaml("d", &desired_deploy()), &[], "apps", &[]);
    assert_lines("missing", &lines(&analysis), &["missing_resource  missing"]);
    assert_eq!(analysis.incidents.len(), 1);
    assert_eq!(analysis.incidents[0].recommendation.as_str(), "reconcile");
    assert_eq!(analysis.incidents[0].severity.as_str(), "high");
}

#[test]
fn secrets_are_compared_as_bytes_and_shown_as_digests() {
    let desired = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: apps}\nstringData: {password: hunter2, token: abc}\ndata: {key: c2VjcmV0}\n";
    let live = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: apps}\ndata: {password: aHVudGVyMg==, token: eHl6, key: c2VjcmV0}\ntype: Opaque\n";
    let analysis = run(&yaml("d", desired), &yaml("l", live), "apps", &[]);
    assert_lines(
        "secret",
        &lines(&analysis),
        &["changed stringData.token unowned"],
    );
    let json = statesight_core::report::to_json_string(&analysis);
    for plain in ["abc", "xyz", "eHl6", "hunter2", "c2VjcmV0"] {
        assert!(!json.contains(plain), "{plain} leaked: {json}");
    }
    assert!(json.contains("sha256:"), "{json}");
    let missing = run(&yaml("d", desired), &[], "apps", &[]);
    let json = statesight_core::report::to_json_string(&missing);
    assert!(
        !json.contains("hunter2") && !json.contains("c2VjcmV0"),
        "{json}"
    );
}

#[test]
fn applier_is_detected_or_named() {
    let live = live_deploy(
        &entry("kubectl-edit", "Update", "{\"f:spec\": {\"f:paused\": {}}}"),
        "",
    )
    .replace(
        "spec:\n  replicas: 1\n",
        "spec:\n  replicas: 1\n  paused: true\n",
    );
    check(
        &desired_deploy(),
        &live,
        &["added_in_live spec.paused kubectl-edit"],
    );
    // Naming kubectl-edit as the applier makes argocd-controller the out-of-band writer.
    let options = AnalyzeOptions {
        default_namespace: "apps".into(),
        applier: Some("kubectl-edit".into()),
        ..AnalyzeOptions::default()
    };
    let analysis = analyze(
        &yaml("d", &desired_deploy()),
        &yaml("l", &live),
        &options,
        &[],
    );
    assert_lines("named applier", &lines(&analysis), &[]);
}

#[test]
fn invalid_and_duplicate_inputs_are_reported() {
    let parsed = statesight_core::parse_manifests(
        "x.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n---\n# only a comment\n---\n- 1\n",
    )
    .unwrap_or_default();
    let problems: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "x.yaml, document 1: object without metadata.name cannot be identified",
            "x.yaml, document 3, items[0]: item is a number, not a Kubernetes object"
        ]
    );
    match statesight_core::parse_manifests("bad.yaml", b"a: 1\n---\nb: [\n") {
        Err(statesight_core::Error::InvalidDocument {
            origin, document, ..
        }) => assert_eq!((origin.as_str(), document), ("bad.yaml", 2)),
        other => panic!("{other:?}"),
    }
    let twice = format!("{}---\n{}", desired_deploy(), desired_deploy());
    let analysis = run(
        &yaml("d", &twice),
        &yaml("l", &desired_deploy()),
        "apps",
        &[],
    );
    assert_lines(
        "dup",
        &lines(&analysis),
        &[
            "problem desired object apps/Deployment/apps/api is declared twice (first at d, document 1); this copy is ignored",
        ],
    );
}

/// Whatever order the inputs come in, the same copy of a duplicated object is analysed and
/// the same findings and problems come out.
#[test]
fn analysis_is_independent_of_input_order() {
    let mut desired = yaml(
        "a.yaml",
        &desired_deploy().replace("image: a:1", "image: a:2"),
    );
    desired.extend(yaml("b.yaml", &desired_deploy()));
    desired.extend(yaml(
        "c.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: apps}\ndata: {k: v}\n",
    ));
    let live = yaml("l.yaml", &desired_deploy());
    let forward = run(&desired, &live, "apps", &[]);
    desired.reverse();
    let backward = run(&desired, &live, "apps", &[]);
    assert_eq!(
        statesight_core::report::to_json_string(&forward),
        statesight_core::report::to_json_string(&backward)
    );
    assert_lines(
        "order",
        &lines(&forward),
        &[
            "missing_resource  missing",
            "changed spec.template.spec.containers[name=a].image unowned",
            "problem desired object apps/Deployment/apps/api is declared twice (first at a.yaml, document 1); this copy is ignored",
        ],
    );
}

fn rule(
    name: &str,
    expr: &str,
    resource_ref: Option<&str>,
    managed_by: Option<&str>,
    scope: RuleScope,
    order: i64,
) -> IgnoreRule {
    IgnoreRule {
        name: name.into(),
        match_expression: expr.into(),
        resource_ref: resource_ref.map(Into::into),
        managed_by: managed_by.map(Into::into),
        reason: format!("because {name}"),
        scope,
        order,
        enabled: true,
    }
}

#[test]
fn ignore_rules_match_at_or_beneath_with_precedence() {
    let desired = deploy(
        "spec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - {name: a, image: a:1}\n      - {name: b, image: b:1}\n",
    );
    let live = deploy(
        "spec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - {name: b, image: b:2}\n      - {name: a, image: a:2}\n",
    );
    let app = RuleScope::Application;
    // `[1]` is the second desired item (b), whatever its live position.
    check_with_rules(
        &desired,
        &live,
        &[rule(
            "second",
            "spec.template.spec.containers[1]",
            None,
            None,
            app,
            0,
        )],
        &[
            "changed spec.replicas unowned",
            "changed spec.template.spec.containers[name=a].image unowned",
            "suppressed spec.template.spec.containers[name=b].image by second",
        ],
    );
    check_with_rules(
        &desired,
        &live,
        &[rule(
            "images",
            "  spec.template.spec.containers[*].image ",
            None,
            None,
            app,
            0,
        )],
        &[
            "changed spec.replicas unowned",
            "suppressed spec.template.spec.containers[name=a].image by images",
            "suppressed spec.template.spec.containers[name=b].image by images",
        ],
    );
    // Resource-specific application rules win over application-wide ones, then workspace rules.
    let rules = [
        rule("workspace", "spec", None, None, RuleScope::Workspace, 0),
        rule("app-wide", "spec.replicas", None, None, app, 0),
        rule(
            "specific",
            "spec",
            Some("apps/Deployment/apps/api"),
            None,
            app,
            5,
        ),
    ];
    check_with_rules(
        &desired,
        &live,
        &rules,
        &[
            "suppressed spec.replicas by specific",
            "suppressed spec.template.spec.containers[name=a].image by specific",
            "suppressed spec.template.spec.containers[name=b].image by specific",
        ],
    );
    // A rule for another resource does not apply; managed_by needs that owner.
    check_with_rules(
        &desired,
        &live,
        &[
            rule("other", "spec", Some("Deployment/apps/web"), None, app, 0),
            rule(
                "hpa",
                "spec.replicas",
                None,
                Some("kube-controller-manager"),
                app,
                1,
            ),
        ],
        &[
            "changed spec.replicas unowned",
            "changed spec.template.spec.containers[name=a].image unowned",
            "changed spec.template.spec.containers[name=b].image unowned",
        ],
    );
}

#[test]
fn managed_by_rule_suppresses_autoscaler_replicas() {
    let live = format!(
        "{DEPLOY_HEAD}{FIELDS}{}{}spec:\n  replicas: 5\n  template:\n    spec:\n      containers:\n      - {{name: a, image: a:1}}\n",
        applier_entry().replace("\"f:replicas\": {}, ", ""),
        entry(
            "kube-controller-manager",
            "Update",
            "{\"f:spec\": {\"f:replicas\": {}}}"
        )
        .replace("    fieldsType", "    subresource: scale\n    fieldsType")
    );
    let analysis = run(
        &yaml("d", &desired_deploy()),
        &yaml("l", &live),
        "apps",
        &[],
    );
    assert_lines(
        "hpa",
        &lines(&analysis),
        &["changed spec.replicas kube-controller-manager"],
    );
    let incident = &analysis.incidents[0];
    assert_eq!(
        (incident.recommendation.as_str(), incident.severity.as_str()),
        ("ignore", "low"),
        "{incident:?}"
    );
    assert!(
        incident
            .suggested_rule
            .as_deref()
            .is_some_and(|r| r.contains("managed_by: kube-controller-manager"))
    );
    let rules = [rule(
        "hpa",
        "spec.replicas",
        None,
        Some("kube-controller-manager"),
        RuleScope::Application,
        0,
    )];
    check_with_rules(
        &desired_deploy(),
        &live,
        &rules,
        &["suppressed spec.replicas by hpa"],
    );
}

/// A live object that cannot be identified (no kind, apiVersion or name) used to be dropped,
/// and the desired object it was then got reported missing from the cluster: a false claim.
#[test]
fn an_unidentifiable_live_object_is_a_problem_not_a_missing_resource() {
    use statesight_core::Origin;
    use statesight_core::analysis::UnidentifiedLive;
    let desired = common::yaml(
        "desired.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  A: b\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
    );
    let malformed = serde_json::json!({ "metadata": { "name": "flags", "namespace": "apps" }, "data": { "A": "b" } });
    let origin = Origin {
        file: String::from("live:kube-api"),
        document: 1,
        item: None,
    };
    let options = AnalyzeOptions {
        default_namespace: "apps".into(),
        application_key: "test".into(),
        unidentified_live: vec![UnidentifiedLive::new(
            origin,
            &malformed,
            String::from("object without apiVersion, kind cannot be identified"),
        )],
        ..AnalyzeOptions::default()
    };
    let analysis = analyze(&desired, &[], &options, &[]);
    // `flags` could be the malformed object: not compared, and said so.
    assert_eq!(
        lines(&analysis),
        vec![
            "missing_resource  missing",
            "problem desired object ConfigMap/apps/flags was not compared: no identified live copy, but the live object at live:kube-api, document 1 could be it (object without apiVersion, kind cannot be identified); it is not reported missing",
        ],
        "{:#?}",
        analysis.findings
    );
    assert_eq!(analysis.findings[0].resource.name, "other");
}

/// The console previews a rule against findings read back from the API, whose paths are
/// text: the verdict must be the engine's own wherever the text decides it, and say
/// "depends on the position in Git" exactly where it does not (`[N]` on a keyed item).
#[test]
fn a_preview_from_finding_text_agrees_with_the_engine() {
    use statesight_core::paths::{self, Verdict};
    use statesight_core::rules::MatchTarget;
    let desired = deploy(
        "spec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - {name: a, image: a:1}\n      - {name: b, image: b:1}\n",
    );
    let live = deploy(
        "spec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - {name: b, image: b:2}\n      - {name: a, image: a:2}\n",
    );
    let analysis = run(&yaml("d", &desired), &yaml("l", &live), "apps", &[]);
    assert_eq!(analysis.findings.len(), 3, "{:?}", lines(&analysis));
    let app = RuleScope::Application;
    let rules = [
        rule("replicas", "spec.replicas", None, None, app, 0),
        rule("spec", "spec", Some("apps/Deployment/api"), None, app, 0),
        rule("other", "spec", Some("Deployment/apps/web"), None, app, 0),
        rule(
            "images",
            "spec.template.spec.containers[*].image",
            None,
            None,
            app,
            0,
        ),
        rule(
            "by-name",
            "spec.template.spec.containers[name=b]",
            None,
            None,
            app,
            0,
        ),
        rule(
            "hpa",
            "spec.replicas",
            None,
            Some("kube-controller-manager"),
            app,
            0,
        ),
        rule(
            "second",
            "spec.template.spec.containers[1]",
            None,
            None,
            app,
            0,
        ),
    ];
    for rule in &rules {
        let compiled = rule.compile().expect("valid rule");
        for finding in &analysis.findings {
            let target = MatchTarget {
                resource: finding.resource.clone(),
                path: paths::parse(&finding.path_text).expect("finding paths parse"),
                managers: finding.owners.iter().map(|o| o.manager.clone()).collect(),
            };
            let engine = compiled.matches(finding, "apps");
            let preview = compiled.preview(&target, "apps");
            let context = format!("rule {} on {}", rule.name, finding.path_text);
            if rule.name == "second" && finding.path_text.contains("containers[") {
                assert_eq!(preview, Verdict::DependsOnPosition, "{context}");
            } else {
                assert_eq!(preview, Verdict::from(engine), "{context}");
            }
        }
    }
    // And the verdicts are not all alike: the cases above cover both answers.
    let images = rules[3].compile().expect("valid");
    let replicas = &analysis.findings[0];
    assert!(!images.matches(replicas, "apps"));
    assert!(images.matches(&analysis.findings[1], "apps"));
}
