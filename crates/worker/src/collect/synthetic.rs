//! The `synthetic` source: the desired objects stand in for live state, so an analysis can
//! run where no cluster is reachable (demos, CI). It observes nothing — no drift, no
//! ownership — and is therefore refused unless `ALLOW_SYNTHETIC_LIVE_STATE=true`, and always
//! marked untrusted: never attribution, never `reconcile`
//! (docs/evidence.md#synthetic-live-state).

use chrono::Utc;

use super::error::{CollectError, Result};
use super::{CollectOptions, LiveObservation, ResourceKey, sort_output};

pub(crate) fn collect(wanted: &[ResourceKey], options: &CollectOptions) -> Result<LiveObservation> {
    if !options.allow_synthetic {
        return Err(CollectError::SyntheticNotAllowed);
    }
    let mut objects = Vec::new();
    let mut missing = Vec::new();
    for key in wanted {
        let id = key.id();
        // Desired manifests may leave the namespace to the application's default, which the
        // key already carries; an object without one therefore matches any namespace.
        let found = options.desired_objects.iter().find(|object| {
            ResourceKey::of_object(object).is_some_and(|candidate| {
                let candidate = candidate.id();
                candidate.group == id.group
                    && candidate.kind == id.kind
                    && candidate.name == id.name
                    && (candidate.namespace.is_none() || candidate.namespace == id.namespace)
            })
        });
        match found {
            Some(object) => objects.push(object.clone()),
            None => missing.push(key.clone()),
        }
    }
    sort_output(&mut objects, &mut missing);
    objects.dedup();
    Ok(LiveObservation {
        objects,
        missing,
        unreadable: Vec::new(),
        method: "synthetic",
        trusted: false,
        observed_at: Utc::now(),
        observed_at_source: "collector",
        context: None,
        has_managed_fields: false,
        notes: vec![
            "synthetic live state: the desired objects stand in for the cluster, so no drift and no ownership can be observed; untrusted"
                .to_owned(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refused_unless_allowed() {
        let wanted = [ResourceKey::new("v1", "ConfigMap", Some("payments"), "c")];
        let refused = collect(&wanted, &CollectOptions::default());
        assert!(matches!(refused, Err(CollectError::SyntheticNotAllowed)));
        let options = CollectOptions {
            allow_synthetic: true,
            desired_objects: vec![
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            ],
            ..CollectOptions::default()
        };
        let observed = collect(&wanted, &options).expect("allowed");
        assert!(!observed.trusted);
        assert_eq!(observed.objects.len(), 1);
        assert!(observed.missing.is_empty());
    }
}
