//! One watched cluster while this worker holds its lease: which applications track which
//! objects (re-read every few seconds, since each successful analysis replaces its
//! application's list), one [`TargetWatch`] per (group, kind, namespace) they need, the
//! debouncer, and the re-analysis requests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use statesight_core::wire::{Cluster, RunTrigger};
use statesight_store::audit::Actor;
use statesight_store::queue::Queue;
use statesight_store::watch::{self, Changed, ObjectKey, Tracking, WatchTarget};
use tokio::sync::{mpsc, watch as signal};
use uuid::Uuid;

use super::debounce::Debouncer;
use super::target::TargetWatch;
use crate::collect::ClusterApi;
use crate::settings::Settings;
use crate::telemetry as metrics_names;

/// How often the tracked objects are re-read.
const REFRESH: Duration = Duration::from_secs(3);
/// Longest wait for one discovery or list request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

struct RunningTarget {
    stop: signal::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    connected: Arc<AtomicBool>,
}

/// Which applications track each object (with the resourceVersion each one's last
/// analysis saw), and the revision each compared last.
#[derive(Default)]
struct Index {
    by_object: BTreeMap<ObjectKey, Vec<(Uuid, Option<String>)>>,
    revisions: BTreeMap<Uuid, String>,
}

impl Index {
    fn build(tracking: &[Tracking]) -> Self {
        let mut index = Index::default();
        for entry in tracking {
            let object = &entry.object;
            index
                .by_object
                .entry(object.key())
                .or_default()
                .push((entry.application_id, object.resource_version.clone()));
            index
                .revisions
                .insert(entry.application_id, entry.revision.clone());
        }
        index
    }

    /// The applications a change concerns: those tracking the object whose last analysis
    /// saw another version of it (a version already analysed is not analysed again).
    fn concerned<'a>(&'a self, change: &'a Changed) -> impl Iterator<Item = Uuid> + 'a {
        self.by_object
            .get(&change.key)
            .into_iter()
            .flatten()
            .filter(|(_, seen)| {
                // An object without a resourceVersion is cached with an empty one.
                let known = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
                known(seen) != known(&change.resource_version)
            })
            .map(|(application, _)| *application)
    }
}

pub(super) struct ClusterWatcher {
    pool: PgPool,
    queue: Queue,
    settings: Arc<Settings>,
    cluster: Cluster,
    holder: String,
}

impl ClusterWatcher {
    pub fn new(
        pool: PgPool,
        queue: Queue,
        settings: Arc<Settings>,
        cluster: Cluster,
        holder: String,
    ) -> Self {
        ClusterWatcher {
            pool,
            queue,
            settings,
            cluster,
            holder,
        }
    }

    /// Watches until `stop`; connection failures are retried with backoff.
    pub async fn run(self, mut stop: signal::Receiver<bool>) {
        let mut delay = Duration::from_millis(500);
        loop {
            match self.watch(&mut stop).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(cluster = %self.cluster.name, cluster_id = %self.cluster.id, %error, retry_in_ms = delay.as_millis() as u64, "cannot watch the cluster; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => return,
                    }
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    async fn watch(&self, stop: &mut signal::Receiver<bool>) -> Result<(), String> {
        let source = crate::pipeline::live_source_config(&self.cluster, &self.settings)
            .map_err(|e| format!("the cluster's {e}"))?;
        let api = Arc::new(
            ClusterApi::connect(&source, REQUEST_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?,
        );
        let (changes_tx, mut changes_rx) = mpsc::channel::<Vec<Changed>>(1024);
        let mut targets: BTreeMap<WatchTarget, RunningTarget> = BTreeMap::new();
        let mut unserved: BTreeSet<WatchTarget> = BTreeSet::new();
        let mut index = Index::default();
        let mut debouncer = Debouncer::new(self.settings.watch.debounce);
        let mut refresh = tokio::time::interval(REFRESH);
        let mut touch = tokio::time::interval(self.settings.watch.renew_every());
        let outcome = loop {
            let next_due = debouncer
                .next_due()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = stop.changed() => break Ok(()),
                _ = refresh.tick() => {
                    match watch::tracking(&self.pool, self.cluster.id).await {
                        Ok(tracking) => {
                            index = Index::build(&tracking);
                            let wanted = watch::targets_of(&tracking);
                            if let Err(error) = self
                                .adjust(&api, &wanted, &mut targets, &mut unserved, &changes_tx)
                                .await
                            {
                                break Err(error);
                            }
                        }
                        Err(error) => tracing::warn!(%error, "reading the tracked objects failed; keeping the current watches"),
                    }
                }
                _ = touch.tick() => self.touch(&targets).await,
                Some(changed) = changes_rx.recv() => {
                    let now = Instant::now();
                    for change in &changed {
                        for application in index.concerned(change) {
                            debouncer.changed(application, now);
                        }
                    }
                }
                () = tokio::time::sleep_until(next_due) => {
                    for application in debouncer.due(Instant::now()) {
                        if !self.request(application, &index).await {
                            // Retried after another window rather than lost.
                            debouncer.changed(application, Instant::now());
                        }
                    }
                }
            }
        };
        for (_, running) in std::mem::take(&mut targets) {
            stop_target(running).await;
        }
        metrics::gauge!(metrics_names::WATCHES_OPEN).set(0.0);
        outcome
    }

    /// Starts watches for new targets and stops those no application tracks any more.
    async fn adjust(
        &self,
        api: &Arc<ClusterApi>,
        wanted: &[WatchTarget],
        targets: &mut BTreeMap<WatchTarget, RunningTarget>,
        unserved: &mut BTreeSet<WatchTarget>,
        changes: &mpsc::Sender<Vec<Changed>>,
    ) -> Result<(), String> {
        let wanted_set: BTreeSet<&WatchTarget> = wanted.iter().collect();
        let obsolete: Vec<WatchTarget> = targets
            .keys()
            .filter(|target| !wanted_set.contains(target))
            .cloned()
            .collect();
        for target in obsolete {
            if let Some(running) = targets.remove(&target) {
                stop_target(running).await;
            }
        }
        let new: Vec<&WatchTarget> = wanted
            .iter()
            .filter(|target| !targets.contains_key(*target) && !unserved.contains(*target))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let kinds: Vec<(String, String, String)> = new
            .iter()
            .map(|target| {
                let version = target
                    .api_version
                    .rsplit_once('/')
                    .map_or(target.api_version.as_str(), |(_, v)| v);
                (
                    target.group.clone(),
                    version.to_owned(),
                    target.kind.clone(),
                )
            })
            .collect();
        let resolved = api.resolve(&kinds).await.map_err(|e| e.to_string())?;
        for (target, kind) in new.into_iter().zip(resolved) {
            let Some(kind) = kind else {
                tracing::warn!(cluster = %self.cluster.name, kind = %target.kind, group = %target.group, "the cluster does not serve this kind: not watched (its applications are analysed by asking the API server)");
                unserved.insert(target.clone());
                continue;
            };
            let (stop_tx, stop_rx) = signal::channel(false);
            let connected = Arc::new(AtomicBool::new(false));
            let watch = TargetWatch {
                pool: self.pool.clone(),
                cluster: self.cluster.clone(),
                holder: self.holder.clone(),
                target: target.clone(),
                kind,
                api: api.clone(),
                changes: changes.clone(),
                connected: connected.clone(),
            };
            let task = tokio::spawn(watch.run(stop_rx));
            targets.insert(
                target.clone(),
                RunningTarget {
                    stop: stop_tx,
                    task,
                    connected,
                },
            );
        }
        metrics::gauge!(metrics_names::WATCHES_OPEN).set(targets.len() as f64);
        Ok(())
    }

    /// Tells readers the cache of every connected watch is current as of now.
    async fn touch(&self, targets: &BTreeMap<WatchTarget, RunningTarget>) {
        let connected: Vec<WatchTarget> = targets
            .iter()
            .filter(|(_, running)| running.connected.load(Ordering::SeqCst))
            .map(|(target, _)| target.clone())
            .collect();
        if connected.is_empty() {
            return;
        }
        if let Err(error) = watch::touch(
            &self.pool,
            self.cluster.id,
            &connected,
            &self.holder,
            Utc::now(),
        )
        .await
        {
            tracing::warn!(%error, "noting the watches as current failed");
        }
    }

    /// Asks for a re-analysis of `application` at the revision it compared last; false
    /// when the request could not be recorded (it is tried again later).
    async fn request(&self, application: Uuid, index: &Index) -> bool {
        let revision = index.revisions.get(&application).cloned();
        let outcome = statesight_store::runs::request_analysis(
            &self.pool,
            &self.queue,
            &Actor::system("watch"),
            application,
            revision,
            RunTrigger::Watch,
        )
        .await;
        match outcome {
            Ok(request) => {
                metrics::counter!(metrics_names::WATCH_ANALYSES).increment(1);
                tracing::debug!(%application, outcome = ?std::mem::discriminant(&request), "re-analysis requested after a watched change");
                true
            }
            Err(error) => {
                tracing::warn!(%application, %error, "requesting a re-analysis after a watched change failed; trying again");
                false
            }
        }
    }
}

async fn stop_target(running: RunningTarget) {
    let _ = running.stop.send(true);
    let mut task = running.task;
    if tokio::time::timeout(Duration::from_secs(5), &mut task)
        .await
        .is_err()
    {
        task.abort();
    }
}
