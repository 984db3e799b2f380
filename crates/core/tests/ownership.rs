//! FieldsV1 ownership against real managedFields: every fixture's field sets survive the trip
//! into the merged trie and back unchanged, and "who owns this path" answers as the captures
//! say (keyed items, set members, atomic ancestors, defaulted key fields).

mod common;

use common::{FIXTURES, load};
use serde_json::json;
use statesight_core::fields::{FieldOwnership, Step};

fn fixtures_with_managed_fields() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [
        "k8s/argo-cd",
        "k8s/gitops-engine",
        "k8s/kubectl-blame",
        "managedfields",
    ] {
        let Ok(entries) = std::fs::read_dir(format!("{FIXTURES}/{dir}")) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let relative = format!("{dir}/{name}");
            if (name.ends_with(".yaml") || name.ends_with(".json"))
                && String::from_utf8_lossy(&common::fixture_bytes(&relative))
                    .contains("managedFields")
            {
                files.push(relative);
            }
        }
    }
    files
}

#[test]
fn every_fieldsv1_set_round_trips_through_the_trie() {
    let files = fixtures_with_managed_fields();
    assert!(files.len() >= 10, "{files:?}");
    let mut entries_checked = 0;
    for file in &files {
        let Ok(parsed) = statesight_core::parse_manifests(file, &common::fixture_bytes(file))
        else {
            continue;
        };
        for object in &parsed.objects {
            let (trie, problems) = FieldOwnership::from_object_with_status(&object.value);
            assert!(problems.is_empty(), "{file}: {problems:?}");
            let raw = object
                .value
                .pointer("/metadata/managedFields")
                .and_then(|m| m.as_array())
                .cloned()
                .unwrap_or_default();
            for (i, entry) in raw.iter().enumerate() {
                let original = entry.get("fieldsV1").cloned().unwrap_or(json!({}));
                assert_eq!(
                    trie.fields_v1(i),
                    original,
                    "{file} {} entry {i} ({})",
                    object.name,
                    trie.entries[i].manager
                );
                entries_checked += 1;
            }
        }
    }
    assert!(entries_checked >= 30, "only {entries_checked} entries");
}

#[test]
fn multi_manager_list_item_owners() {
    // A trimmed object without a name: read it as a plain value.
    let text = String::from_utf8_lossy(&common::fixture_bytes(
        "managedfields/multi-manager-list-item.yaml",
    ))
    .into_owned();
    let value: serde_json::Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let (trie, problems) = FieldOwnership::from_object(&value);
    assert!(problems.is_empty(), "{problems:?}");
    let names = |set: statesight_core::fields::ManagerSet| -> Vec<String> {
        set.iter()
            .map(|i| trie.entries[i].manager.to_owned())
            .collect()
    };
    let nginx = json!({"name": "nginx"});
    let containers = [
        Step::Field("spec"),
        Step::Field("template"),
        Step::Field("spec"),
        Step::Field("containers"),
        Step::Item(&nginx, 0),
    ];
    // `me` owns only the item itself.
    assert!(
        names(trie.owners_at(&containers)).contains(&"me".to_owned()),
        "{:?}",
        names(trie.owners_at(&containers))
    );
    let barx = json!({"name": "barx"});
    let mut env = containers.to_vec();
    env.extend([
        Step::Field("env"),
        Step::Item(&barx, 0),
        Step::Field("value"),
    ]);
    assert_eq!(names(trie.owners_at(&env)), ["envpatcher"]);
    let finalizer = json!("example.com/foo");
    assert_eq!(
        names(trie.owners_at(&[
            Step::Field("metadata"),
            Step::Field("finalizers"),
            Step::Item(&finalizer, 0)
        ])),
        ["finalizerpatcher"]
    );
    assert!(trie.entries.iter().any(|e| e.subresource == Some("status")));
}

#[test]
fn atomic_ancestors_and_defaulted_keys() {
    let objects = load("k8s/kubectl-blame/deploy.yaml");
    let coredns = objects
        .iter()
        .find(|o| o.name == "coredns")
        .unwrap_or_else(|| panic!("coredns"));
    let (trie, _) = FieldOwnership::from_object_with_status(&coredns.value);
    let names = |set: statesight_core::fields::ManagerSet| -> Vec<String> {
        set.iter()
            .map(|i| trie.entries[i].manager.to_owned())
            .collect()
    };
    // `f:selector: {}` is atomic: matchLabels inside it belongs to its owner.
    let owners = trie.owners_at(&[
        Step::Field("spec"),
        Step::Field("selector"),
        Step::Field("matchLabels"),
        Step::Field("k8s-app"),
    ]);
    assert_eq!(names(owners), ["kubeadm"]);
    // Ports keyed by containerPort+protocol (53/UDP and 53/TCP are different items).
    let container = json!({"name": "coredns"});
    let udp = json!({"containerPort": 53, "protocol": "UDP"});
    let tcp = json!({"containerPort": 53});
    let port = |p| {
        [
            Step::Field("spec"),
            Step::Field("template"),
            Step::Field("spec"),
            Step::Field("containers"),
            Step::Item(&container, 0),
            Step::Field("ports"),
            Step::Item(p, 0),
            Step::Field("protocol"),
        ]
    };
    assert_eq!(names(trie.owners_at(&port(&udp))), ["kubeadm"]);
    assert_eq!(names(trie.owners_at(&port(&tcp))), ["kubeadm"]);
    // Status is kube-controller-manager's.
    assert_eq!(
        names(trie.owners_at(&[Step::Field("status"), Step::Field("replicas")])),
        ["kube-controller-manager"]
    );
}

#[test]
fn malformed_fieldsv1_is_reported_not_fatal() {
    let object = json!({"metadata": {"managedFields": [
        {"manager": "a", "operation": "Update", "fieldsV1": {"x:bad": {}, "f:spec": {"f:replicas": {}}, "k:{not json": {}}},
        {"operation": "Update", "fieldsV1": {}},
        {"manager": "b", "operation": "Apply", "fieldsV1": "nope"},
    ]}});
    let (trie, problems) = FieldOwnership::from_object(&object);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert_eq!(
        trie.owners_at(&[Step::Field("spec"), Step::Field("replicas")])
            .iter()
            .count(),
        1
    );
}
