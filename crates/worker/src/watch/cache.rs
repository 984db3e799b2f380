//! Reading an analysis' live state from the cluster's watch cache instead of the API server.
//! The cache is used only when it can be trusted as complete: the cluster is watched, every
//! (kind, namespace) the analysis needs has been listed by the watcher, and the watcher was
//! heard from within the watch lease. The observation says where it came from (`watch-cache`)
//! and the time it is known current as of (the oldest of those watches' latest contact).

use chrono::Utc;
use sqlx::PgPool;
use statesight_core::wire::LiveSource;
use statesight_store::analysis::JobContext;
use statesight_store::watch::{self, ObjectKey};

use crate::collect::{LiveObservation, ResourceKey, has_managed_fields};
use crate::settings::Settings;

/// The method recorded in the run's live provenance.
pub const METHOD: &str = "watch-cache";

/// The cached live state of `wanted`, or `None` when the cluster is not watched or the
/// cache is not complete and current for all of it.
pub async fn read(
    pool: &PgPool,
    context: &JobContext,
    settings: &Settings,
    wanted: &[ResourceKey],
) -> statesight_store::Result<Option<LiveObservation>> {
    let cluster = &context.cluster;
    if !cluster.watch
        || !matches!(
            cluster.live_source,
            LiveSource::KubeApi | LiveSource::InCluster
        )
    {
        return Ok(None);
    }
    let keys: Vec<ObjectKey> = wanted.iter().map(object_key).collect();
    let lease = chrono::Duration::from_std(settings.watch.lease)
        .unwrap_or_else(|_| chrono::Duration::seconds(15));
    let Some(cached) = watch::read_cache(pool, cluster.id, &keys, Utc::now() - lease).await? else {
        return Ok(None);
    };
    let found: std::collections::BTreeSet<statesight_core::ResourceId> = cached
        .objects
        .iter()
        .filter_map(ResourceKey::of_object)
        .map(|key| key.id())
        .collect();
    let mut missing: Vec<ResourceKey> = wanted
        .iter()
        .filter(|key| !found.contains(&key.id()))
        .cloned()
        .collect();
    let mut objects = cached.objects;
    crate::collect::sort_output(&mut objects, &mut missing);
    let has_managed_fields = objects.iter().any(has_managed_fields);
    let mut notes = vec![format!(
        "live state read from the cluster's watch cache (the watching worker's copy of what the API server sent), current as of {}",
        cached
            .observed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )];
    if !objects.is_empty() && !has_managed_fields {
        notes.push(format!(
            "the cached objects carry no managedFields ({} objects): no ownership evidence",
            objects.len()
        ));
    }
    Ok(Some(LiveObservation {
        objects,
        missing,
        unreadable: Vec::new(),
        method: METHOD,
        trusted: true,
        observed_at: cached.observed_at,
        observed_at_source: "watch",
        context: cluster.context.clone(),
        has_managed_fields,
        notes,
    }))
}

/// The store's key of a wanted resource.
pub fn object_key(key: &ResourceKey) -> ObjectKey {
    ObjectKey {
        group: key.group().to_owned(),
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    }
}
