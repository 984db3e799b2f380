//! The `synthetic` source: refused unless `ALLOW_SYNTHETIC_LIVE_STATE` is on, and then the
//! desired objects themselves, marked untrusted, without ownership evidence.

mod support;

use serde_json::Value;
use statesight_worker::collect::{
    CollectError, CollectOptions, LiveSourceConfig, ResourceKey, collect,
};
use support::fixture;

fn desired() -> Vec<Value> {
    let mut objects = support::load_objects(&fixture("k8s/argo-cd/target-deployment.yaml"));
    objects.extend(support::load_objects(&fixture(
        "k8s/argo-cd/ssd-configmap-config.yaml",
    )));
    objects
}

fn wanted(objects: &[Value]) -> Vec<ResourceKey> {
    objects
        .iter()
        .map(|object| {
            let mut key = ResourceKey::of_object(object).expect("identity");
            key.namespace = key.namespace.or_else(|| Some("default".to_owned()));
            key
        })
        .collect()
}

#[tokio::test]
async fn synthetic_state_is_refused_unless_allowed() {
    let objects = desired();
    let options = CollectOptions {
        desired_objects: objects.clone(),
        ..CollectOptions::default()
    };
    let error = match collect(&LiveSourceConfig::Synthetic, &wanted(&objects), &options).await {
        Ok(observation) => panic!("synthetic state was used without permission: {observation:?}"),
        Err(error) => error,
    };
    assert!(matches!(error, CollectError::SyntheticNotAllowed));
    assert!(!error.is_transient());
    assert!(
        error
            .to_string()
            .contains("ALLOW_SYNTHETIC_LIVE_STATE=true"),
        "{error}"
    );
}

#[tokio::test]
async fn allowed_synthetic_state_is_the_desired_objects_untrusted() {
    let objects = desired();
    let mut keys = wanted(&objects);
    keys.push(ResourceKey::new(
        "v1",
        "Service",
        Some("default"),
        "not-in-git",
    ));
    let options = CollectOptions {
        allow_synthetic: true,
        desired_objects: objects.clone(),
        ..CollectOptions::default()
    };
    let observation = collect(&LiveSourceConfig::Synthetic, &keys, &options)
        .await
        .expect("allowed");
    assert_eq!(observation.method, "synthetic");
    assert!(!observation.trusted);
    assert!(!observation.has_managed_fields);
    assert_eq!(observation.objects.len(), objects.len());
    for object in &objects {
        assert!(observation.objects.contains(object));
    }
    assert_eq!(
        observation.missing,
        [ResourceKey::new(
            "v1",
            "Service",
            Some("default"),
            "not-in-git"
        )]
    );
    assert!(
        observation.notes.iter().any(|n| n.contains("untrusted")),
        "{:?}",
        observation.notes
    );
}
