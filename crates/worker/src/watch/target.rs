//! One watch: a (group, kind, namespace) of a cluster. It resumes from the stored
//! resourceVersion when the cache was synced (so a worker taking over the lease lists
//! nothing), lists when it has none or the server answers `410 Gone`, and reconnects after
//! disconnects with jittered exponential backoff. Every batch of events is written to the
//! cache before its changed keys are passed on, and the position only advances past what
//! was written, so a crash or a failed write replays events rather than losing them.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;
use sqlx::PgPool;
use statesight_core::wire::Cluster;
use statesight_store::watch::{self, Changed, LiveObject, ObjectKey, WatchTarget};
use tokio::sync::{mpsc, watch as signal};

use crate::collect::{ClusterApi, CollectError, ServedKind, WatchItem, WatchOpen};
use crate::telemetry as metrics_names;

/// How long the server keeps one watch request open (it then ends the stream and the
/// watch resumes from its last resourceVersion); jittered per request like client-go.
const WATCH_TIMEOUT_MIN: Duration = Duration::from_secs(240);
/// A stream silent this much longer than its timeout is treated as dead.
const IDLE_GRACE: Duration = Duration::from_secs(30);
/// Events written to the cache in one transaction, at most.
const BATCH: usize = 512;

pub(super) struct TargetWatch {
    pub pool: PgPool,
    pub cluster: Cluster,
    pub holder: String,
    pub target: WatchTarget,
    pub kind: ServedKind,
    pub api: Arc<ClusterApi>,
    pub changes: mpsc::Sender<Vec<Changed>>,
    /// True while a watch stream is open and the cache is synced: only then may the
    /// cluster watcher tell readers the cache is current.
    pub connected: Arc<AtomicBool>,
}

/// How a stream ended.
enum Ended {
    Stopped,
    /// The resourceVersion is gone: list again.
    Expired,
    /// The server closed the stream (its timeout, a restart) after `lasted`.
    Closed {
        lasted: Duration,
    },
    Failed(String),
}

impl TargetWatch {
    fn namespace(&self) -> Option<&str> {
        self.target
            .namespace
            .as_deref()
            .filter(|_| self.kind.namespaced())
    }

    fn label(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} in {ns}", self.kind.label()),
            None => self.kind.label(),
        }
    }

    pub async fn run(self, mut stop: signal::Receiver<bool>) {
        let mut resume = match watch::position(&self.pool, self.cluster.id, &self.target).await {
            Ok(Some(position)) if position.synced_at.is_some() => position.resource_version,
            _ => None,
        };
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        loop {
            if *stop.borrow() {
                return;
            }
            let Some(from) = resume.clone() else {
                match self.relist().await {
                    Ok(version) => {
                        resume = Some(version);
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(watch = %self.label(), %error, "listing failed; retrying with backoff");
                        if wait(backoff.next(), &mut stop).await {
                            return;
                        }
                        continue;
                    }
                }
            };
            let timeout = jittered(WATCH_TIMEOUT_MIN, WATCH_TIMEOUT_MIN / 4);
            match self
                .api
                .watch(&self.kind, self.namespace(), &from, timeout)
                .await
            {
                Ok(WatchOpen::Expired) => {
                    metrics::counter!(metrics_names::WATCH_EXPIRED).increment(1);
                    tracing::info!(watch = %self.label(), resource_version = %from, "410 Gone: listing again");
                    resume = None;
                }
                Ok(WatchOpen::Stream(stream)) => {
                    self.connected.store(true, Ordering::SeqCst);
                    let ended = self
                        .consume(stream, timeout + IDLE_GRACE, &mut resume, &mut stop)
                        .await;
                    self.connected.store(false, Ordering::SeqCst);
                    match ended {
                        Ended::Stopped => return,
                        Ended::Expired => {
                            metrics::counter!(metrics_names::WATCH_EXPIRED).increment(1);
                            tracing::info!(watch = %self.label(), "the watch expired: listing again");
                            resume = None;
                        }
                        Ended::Closed { lasted } if lasted >= Duration::from_secs(1) => {
                            backoff.reset();
                        }
                        Ended::Closed { .. } => {
                            if wait(backoff.next(), &mut stop).await {
                                return;
                            }
                        }
                        Ended::Failed(error) => {
                            tracing::warn!(watch = %self.label(), %error, "the watch failed; reconnecting with backoff");
                            if wait(backoff.next(), &mut stop).await {
                                return;
                            }
                        }
                    }
                }
                Err(error) => {
                    metrics::counter!(metrics_names::WATCH_ERRORS).increment(1);
                    tracing::warn!(watch = %self.label(), %error, "opening the watch failed; retrying with backoff");
                    if wait(backoff.next(), &mut stop).await {
                        return;
                    }
                }
            }
        }
    }

    /// Lists the target, makes the cache exactly the list, passes on what changed.
    async fn relist(&self) -> Result<String, String> {
        let observed_at = Utc::now();
        let (objects, version) = self
            .api
            .list(&self.kind, self.namespace())
            .await
            .map_err(|e: CollectError| e.to_string())?;
        metrics::counter!(metrics_names::WATCH_LISTS).increment(1);
        let objects: Vec<LiveObject> = objects.into_iter().filter_map(live_object).collect();
        let changed = watch::record_list(
            &self.pool,
            &self.cluster,
            &self.target,
            &self.holder,
            &objects,
            &version,
            observed_at,
        )
        .await
        .map_err(|e| format!("writing the list to the watch cache: {e}"))?;
        tracing::debug!(watch = %self.label(), objects = objects.len(), changed = changed.len(), resource_version = %version, "listed");
        self.pass_on(changed).await;
        Ok(version)
    }

    async fn consume(
        &self,
        stream: BoxStream<'static, crate::collect::Result<WatchItem>>,
        idle_limit: Duration,
        resume: &mut Option<String>,
        stop: &mut signal::Receiver<bool>,
    ) -> Ended {
        let opened = Instant::now();
        let mut chunks = stream.ready_chunks(BATCH);
        loop {
            let next = tokio::select! {
                _ = stop.changed() => return Ended::Stopped,
                next = tokio::time::timeout(idle_limit, chunks.next()) => next,
            };
            let items = match next {
                Err(_idle) => {
                    return Ended::Failed(format!("no data for {}s", idle_limit.as_secs()));
                }
                Ok(None) => {
                    return Ended::Closed {
                        lasted: opened.elapsed(),
                    };
                }
                Ok(Some(items)) => items,
            };
            let mut batch = Batch::default();
            let mut ending = None;
            for item in items {
                match item {
                    Ok(WatchItem::Upsert(object)) => batch.upsert(object),
                    Ok(WatchItem::Delete(object)) => batch.delete(object),
                    Ok(WatchItem::Bookmark(version)) => batch.version = Some(version),
                    Ok(WatchItem::Expired) => {
                        ending = Some(Ended::Expired);
                        break;
                    }
                    Err(error) => {
                        ending = Some(Ended::Failed(error.to_string()));
                        break;
                    }
                }
            }
            if let Err(error) = self.record(batch, resume).await {
                // Not written: the position did not move, so the next watch replays it.
                return Ended::Failed(error);
            }
            if let Some(ending) = ending {
                return ending;
            }
        }
    }

    /// Writes one batch of events and moves the position past it.
    async fn record(&self, batch: Batch, resume: &mut Option<String>) -> Result<(), String> {
        let Some(version) = batch.version else {
            return Ok(());
        };
        let now = Utc::now();
        if batch.upserts.is_empty() && batch.deletes.is_empty() {
            watch::record_bookmark(&self.pool, self.cluster.id, &self.target, &version, now)
                .await
                .map_err(|e| format!("recording a bookmark: {e}"))?;
        } else {
            metrics::counter!(metrics_names::WATCH_EVENTS)
                .increment((batch.upserts.len() + batch.deletes.len()) as u64);
            let changed = watch::record_events(
                &self.pool,
                &self.cluster,
                &self.target,
                &self.holder,
                &batch.upserts,
                &batch.deletes,
                &version,
                now,
            )
            .await
            .map_err(|e| format!("writing events to the watch cache: {e}"))?;
            self.pass_on(changed).await;
        }
        *resume = Some(version);
        Ok(())
    }

    async fn pass_on(&self, changed: Vec<Changed>) {
        if !changed.is_empty() {
            // The cluster watcher only stops after its targets, so a closed channel means
            // this watch is being stopped too.
            let _ = self.changes.send(changed).await;
        }
    }
}

/// Events read together, in order.
#[derive(Default)]
struct Batch {
    upserts: Vec<LiveObject>,
    deletes: Vec<ObjectKey>,
    /// The resourceVersion after the last event (or bookmark) of the batch.
    version: Option<String>,
}

impl Batch {
    fn upsert(&mut self, object: Value) {
        if let Some(live) = live_object(object) {
            self.deletes.retain(|key| *key != live.key);
            self.version = Some(live.resource_version.clone());
            self.upserts.push(live);
        }
    }

    fn delete(&mut self, object: Value) {
        if let Some(live) = live_object(object) {
            self.upserts.retain(|upsert| upsert.key != live.key);
            self.version = Some(live.resource_version);
            self.deletes.push(live.key);
        }
    }
}

/// An object's identity and resourceVersion, or `None` for one without a name.
fn live_object(object: Value) -> Option<LiveObject> {
    let key = crate::collect::ResourceKey::of_object(&object)?;
    let resource_version = object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some(LiveObject {
        key: super::cache::object_key(&key),
        resource_version,
        object,
    })
}

/// Waits `delay` unless stopped first; true when stopped.
async fn wait(delay: Duration, stop: &mut signal::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// `base` plus a random part of `spread`.
fn jittered(base: Duration, spread: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let spread_ms = u64::try_from(spread.as_millis()).unwrap_or(u64::MAX).max(1);
    base + Duration::from_millis(random % spread_ms)
}

/// Exponential backoff with full jitter between `min` and the current ceiling.
struct Backoff {
    min: Duration,
    max: Duration,
    ceiling: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            ceiling: min,
        }
    }

    fn next(&mut self) -> Duration {
        let delay = jittered(self.min, self.ceiling.saturating_sub(self.min));
        self.ceiling = (self.ceiling * 2).min(self.max);
        delay
    }

    fn reset(&mut self) {
        self.ceiling = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_ceiling_with_jitter_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        let delays: Vec<Duration> = (0..12).map(|_| backoff.next()).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(200)));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(30)));
        assert_eq!(backoff.ceiling, Duration::from_secs(30));
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(200));
    }

    #[test]
    fn a_batch_keeps_the_last_event_of_each_object() {
        let object = |name: &str, rv: &str| {
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": "shop", "resourceVersion": rv}})
        };
        let mut batch = Batch::default();
        batch.upsert(object("a", "1"));
        batch.delete(object("a", "2"));
        batch.upsert(object("b", "3"));
        assert_eq!(batch.upserts.len(), 1);
        assert_eq!(batch.upserts[0].key.name, "b");
        assert_eq!(batch.deletes.len(), 1);
        assert_eq!(batch.deletes[0].name, "a");
        assert_eq!(batch.version.as_deref(), Some("3"));
        batch.upsert(object("a", "4"));
        assert!(batch.deletes.is_empty());
        assert_eq!(batch.version.as_deref(), Some("4"));
    }
}
