//! Watching clusters: one worker at a time (under a Redis lease) holds one watch per
//! (kind, namespace) the cluster's applications track, keeps what it sees in the cluster's
//! live-state cache, and asks for a re-analysis of each application whose objects changed,
//! debounced. Any worker's analysis may then read the cache instead of the API server.
//!
//! - `supervise` (here): every worker that takes part (`WATCH_CLUSTERS`) tries, every third
//!   of `WATCH_LEASE`, to take or keep the lease of each cluster whose record asks to be
//!   watched; it runs a [`cluster::ClusterWatcher`] for each lease it holds and stops it
//!   when the lease is lost or the record changes.
//! - `cluster`: one cluster's watches, its application index and the debouncer.
//! - `target`: one watch (list, then watch from a resourceVersion; bookmarks, `410 Gone`,
//!   reconnects with jittered backoff).
//! - `cache`: the analysis side, reading the cache.

pub mod cache;
mod cluster;
pub mod debounce;
mod target;

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::PgPool;
use statesight_core::wire::Cluster;
use statesight_store::queue::Queue;
use tokio::sync::watch;
use uuid::Uuid;

use crate::settings::Settings;

struct Running {
    cluster: Cluster,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Watches the clusters this worker holds the lease of, until `shutdown`.
pub async fn supervise(
    pool: PgPool,
    queue: Queue,
    settings: Arc<Settings>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Unique per process: two workers configured with the same WORKER_ID must not both
    // believe they hold a lease.
    let holder = format!("{}/{}", settings.worker_id, Uuid::now_v7());
    let mut running: BTreeMap<Uuid, Running> = BTreeMap::new();
    let every = settings.watch.renew_every();
    tracing::info!(holder = %holder, lease_ms = settings.watch.lease.as_millis() as u64, "cluster watching enabled");
    while !*shutdown.borrow() {
        reconcile(&pool, &queue, &settings, &holder, &mut running).await;
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
    for (cluster_id, watcher) in std::mem::take(&mut running) {
        stop(&queue, &holder, cluster_id, watcher).await;
    }
}

/// One turn: keep or take the lease of every watched cluster, start and stop watchers.
async fn reconcile(
    pool: &PgPool,
    queue: &Queue,
    settings: &Arc<Settings>,
    holder: &str,
    running: &mut BTreeMap<Uuid, Running>,
) {
    let clusters = match statesight_store::watch::watched_clusters(pool).await {
        Ok(clusters) => clusters,
        Err(error) => {
            tracing::warn!(%error, "listing watched clusters failed; keeping the current watches");
            // Without the database the leases are still renewed, so nobody else starts a
            // second watcher while this one keeps its cache.
            renew_all(queue, settings, holder, running).await;
            return;
        }
    };
    let wanted: BTreeMap<Uuid, &Cluster> = clusters.iter().map(|c| (c.id, c)).collect();
    let gone: Vec<Uuid> = running
        .iter()
        .filter(|(id, watcher)| {
            wanted
                .get(id)
                .is_none_or(|cluster| !same_connection(cluster, &watcher.cluster))
                || watcher.task.is_finished()
        })
        .map(|(id, _)| *id)
        .collect();
    for cluster_id in gone {
        if let Some(watcher) = running.remove(&cluster_id) {
            stop(queue, holder, cluster_id, watcher).await;
        }
    }
    for cluster in clusters {
        let key = queue.watch_lease_key(cluster.id);
        match queue.hold(&key, holder, settings.watch.lease).await {
            Ok(true) => {
                if let std::collections::btree_map::Entry::Vacant(slot) = running.entry(cluster.id)
                {
                    tracing::info!(cluster = %cluster.name, cluster_id = %cluster.id, "took the cluster's watch lease; watching");
                    let (stop_tx, stop_rx) = watch::channel(false);
                    let watcher = cluster::ClusterWatcher::new(
                        pool.clone(),
                        queue.clone(),
                        settings.clone(),
                        cluster.clone(),
                        holder.to_owned(),
                    );
                    let task = tokio::spawn(watcher.run(stop_rx));
                    slot.insert(Running {
                        cluster,
                        stop: stop_tx,
                        task,
                    });
                }
            }
            Ok(false) => {
                if let Some(watcher) = running.remove(&cluster.id) {
                    tracing::warn!(cluster_id = %cluster.id, "the cluster's watch lease is held by another worker; stopping this watcher");
                    stop_without_release(watcher).await;
                }
            }
            Err(error) => {
                // Redis is unreachable: the lease will lapse; stop before another worker
                // can take over, so two watchers never write the same cache at once.
                tracing::warn!(%error, cluster_id = %cluster.id, "renewing the watch lease failed; stopping the watcher");
                if let Some(watcher) = running.remove(&cluster.id) {
                    stop_without_release(watcher).await;
                }
            }
        }
    }
}

async fn renew_all(
    queue: &Queue,
    settings: &Settings,
    holder: &str,
    running: &mut BTreeMap<Uuid, Running>,
) {
    let ids: Vec<Uuid> = running.keys().copied().collect();
    for cluster_id in ids {
        let key = queue.watch_lease_key(cluster_id);
        if !matches!(
            queue.hold(&key, holder, settings.watch.lease).await,
            Ok(true)
        ) && let Some(watcher) = running.remove(&cluster_id)
        {
            stop_without_release(watcher).await;
        }
    }
}

/// Whether two records of a cluster connect the same way (a changed kubeconfig, context or
/// live source restarts the watcher).
fn same_connection(a: &Cluster, b: &Cluster) -> bool {
    a.live_source == b.live_source
        && a.kubeconfig_path == b.kubeconfig_path
        && a.context == b.context
}

async fn stop(queue: &Queue, holder: &str, cluster_id: Uuid, watcher: Running) {
    stop_without_release(watcher).await;
    if let Err(error) = queue
        .let_go(&queue.watch_lease_key(cluster_id), holder)
        .await
    {
        tracing::debug!(%error, %cluster_id, "releasing the watch lease failed; it expires on its own");
    }
}

async fn stop_without_release(watcher: Running) {
    let _ = watcher.stop.send(true);
    let mut task = watcher.task;
    if tokio::time::timeout(std::time::Duration::from_secs(5), &mut task)
        .await
        .is_err()
    {
        task.abort();
    }
}
