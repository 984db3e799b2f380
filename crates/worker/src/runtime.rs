//! The queue consumer: an explicit lifecycle per job, run by `WORKER_CONCURRENCY` slots.
//!
//! Each slot first resumes its own pending jobs (left by a crash of a worker with the same
//! `WORKER_ID`), then takes over jobs other workers abandoned, then waits for new ones. A
//! job renews its lease while it runs; results are committed (idempotently, keyed by run)
//! before the entry is acknowledged, and the application's lease is released on every
//! path — promoting the follow-up run if one waits. Transient failures retry with backoff;
//! a job that keeps failing, or keeps killing its worker, is parked on the dead-letter
//! stream and its run marked failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use statesight_core::wire::{EventKind, WorkspaceEvent};
use statesight_store::analysis::{self, Persisted, RunResults, Start};
use statesight_store::queue::{Delivery, Queue};
use statesight_store::{Constraint, StoreError};
use tokio::sync::watch;
use tracing::Instrument;

use crate::pipeline::{self, JobError};
use crate::settings::Settings;
use crate::telemetry as metrics_names;

/// A job delivered more often than this without finishing crashed or hung its workers:
/// it is parked rather than tried again.
pub const MAX_DELIVERIES: u64 = 5;
const BLOCK: Duration = Duration::from_secs(5);

/// What happened to one delivery (returned for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Another worker (or an earlier delivery) already finished the run.
    AlreadyFinished,
    RetryScheduled {
        attempt: i32,
        delay: Duration,
        /// Why the attempt failed.
        error: String,
    },
    Failed(String),
    Parked(String),
    /// Another run of the application is running: this one waits as its follow-up.
    Deferred,
}

#[derive(Clone)]
pub struct Worker {
    pub pool: PgPool,
    pub queue: Queue,
    pub settings: Arc<Settings>,
    /// Git history read for "since when" lookups, shared by this worker's jobs.
    pub history: crate::git::HistoryCache,
}

impl Worker {
    pub fn new(pool: PgPool, queue: Queue, settings: Settings) -> Self {
        Worker {
            pool,
            queue,
            settings: Arc::new(settings),
            history: crate::git::HistoryCache::new(),
        }
    }

    /// Runs until `shutdown` turns true; a job in progress finishes first.
    pub async fn run(&self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for slot in 0..self.settings.concurrency {
            let worker = self.clone();
            let shutdown = shutdown.clone();
            let consumer = format!("{}-{slot}", self.settings.worker_id);
            tasks.spawn(async move { worker.slot_loop(consumer, shutdown).await });
        }
        tasks.spawn(crate::notify::run_sender(
            self.pool.clone(),
            self.settings.clone(),
            shutdown.clone(),
        ));
        let worker = self.clone();
        let maintenance_shutdown = shutdown.clone();
        tasks.spawn(async move { worker.maintenance_loop(maintenance_shutdown).await });
        if self.settings.watch.enabled {
            tasks.spawn(crate::watch::supervise(
                self.pool.clone(),
                self.queue.clone(),
                self.settings.clone(),
                shutdown.clone(),
            ));
        }
        while let Some(result) = tasks.join_next().await {
            if let Err(error) = result {
                tracing::error!(%error, "a worker task stopped unexpectedly");
            }
        }
        Ok(())
    }

    async fn slot_loop(&self, consumer: String, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(500);
        let mut resumed = false;
        while !*shutdown.borrow() {
            match self.poll_once(&consumer, &mut resumed, &mut shutdown).await {
                Ok(()) => backoff = Duration::from_millis(500),
                Err(error) => {
                    tracing::warn!(consumer = %consumer, %error, retry_in_ms = backoff.as_millis() as u64, "queue unavailable; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        tracing::info!(consumer = %consumer, "slot stopped");
    }

    /// One turn of a slot: its own pending jobs (once), an abandoned job, or a new one.
    async fn poll_once(
        &self,
        consumer: &str,
        resumed: &mut bool,
        shutdown: &mut watch::Receiver<bool>,
    ) -> statesight_store::Result<()> {
        self.queue.ensure_group().await?;
        let mut connection = self.queue.blocking_connection(BLOCK).await?;
        if !*resumed {
            let pending = self
                .queue
                .own_pending(&mut connection, consumer, 100)
                .await?;
            if !pending.is_empty() {
                tracing::info!(
                    consumer,
                    jobs = pending.len(),
                    "resuming this worker's unfinished jobs"
                );
            }
            for delivery in pending {
                self.process(consumer, delivery).await;
            }
            *resumed = true;
        }
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            if let Some(delivery) = self
                .queue
                .claim_abandoned(consumer, self.settings.abandoned_after())
                .await?
            {
                tracing::info!(consumer, entry = %delivery.entry_id, "taking over an abandoned job");
                self.process(consumer, delivery).await;
                continue;
            }
            let next = tokio::select! {
                next = self.queue.next(&mut connection, consumer, BLOCK) => next?,
                _ = shutdown.changed() => return Ok(()),
            };
            if let Some(delivery) = next {
                self.process(consumer, delivery).await;
            }
        }
    }

    /// Handles one delivery end to end and never panics on bad input.
    pub async fn process(&self, consumer: &str, delivery: Delivery) -> Outcome {
        let run_id = delivery
            .job
            .as_ref()
            .map(|job| job.run_id.to_string())
            .unwrap_or_default();
        // `attempt` and `delivery` are recorded once known, so every line of the job —
        // the retry, failure or park line included — says which attempt it was.
        let span = tracing::info_span!(
            "job",
            run_id = %run_id,
            entry = %delivery.entry_id,
            consumer,
            attempt = tracing::field::Empty,
            delivery = tracing::field::Empty,
        );
        // The lease is kept for the whole handling of the delivery — reading the run,
        // retrying, recording a failure — not only while the analysis runs: a store call
        // waiting out a sick database must not let another worker take the job over.
        let lease = LeaseKeeper::start(
            self.queue.clone(),
            self.pool.clone(),
            consumer.to_owned(),
            delivery.clone(),
            self.settings.lease_renew,
            self.settings.abandoned_after(),
        );
        let outcome = self.process_inner(&delivery).instrument(span.clone()).await;
        lease.stop().await;
        span.in_scope(|| log_outcome(&outcome));
        outcome
    }

    async fn process_inner(&self, delivery: &Delivery) -> Outcome {
        let Some(job) = delivery.job.clone() else {
            let error = format!("not a job: {:?}", truncate(&delivery.payload, 200));
            metrics::counter!(metrics_names::JOBS_PARKED).increment(1);
            if let Err(park_error) = self.queue.park(delivery, &error).await {
                tracing::error!(error = %park_error, "could not park a malformed job");
            }
            return Outcome::Parked(error);
        };
        let deliveries = self
            .queue
            .delivery_count(&delivery.entry_id)
            .await
            .unwrap_or(1);
        tracing::Span::current().record("delivery", deliveries);
        if deliveries > 1 {
            metrics::counter!(metrics_names::JOBS_REDELIVERED).increment(1);
        }
        if deliveries > MAX_DELIVERIES {
            let error = format!(
                "the job was delivered {deliveries} times without finishing (its workers crashed or hung); parked"
            );
            return self.park_and_fail(delivery, &job, &error).await;
        }
        let context = match analysis::load_job(&self.pool, job.run_id).await {
            Ok(Some(context)) => context,
            Ok(None) if job.run_may_still_appear() => {
                // Enqueued just before its run's transaction committed: look again shortly.
                return match self
                    .queue
                    .retry_later(delivery, None, Duration::from_millis(500))
                    .await
                {
                    Ok(()) => Outcome::RetryScheduled {
                        attempt: 0,
                        delay: Duration::from_millis(500),
                        error: String::from(
                            "the run is not visible yet (its request may still be committing)",
                        ),
                    },
                    Err(error) => {
                        Outcome::Failed(format!("waiting for the run to appear: {error}"))
                    }
                };
            }
            Ok(None) => {
                // The run never appeared (its request rolled back) or was deleted with its
                // application: nothing to do.
                self.acknowledge(delivery, &job).await;
                return Outcome::AlreadyFinished;
            }
            Err(error) => {
                let error = JobError::store("reading the run")(error);
                return self.settle(delivery, &job, 0, error).await;
            }
        };
        let attempt = match analysis::start_run(&self.pool, job.run_id).await {
            Ok(Start::Started { attempt }) => attempt,
            Ok(Start::AlreadyFinished) => {
                self.acknowledge(delivery, &job).await;
                return Outcome::AlreadyFinished;
            }
            // Another run of the application is running (this job reached the stream while
            // its lease was lost): it waits as the follow-up instead of retrying against
            // the database's one-running-run rule.
            Err(StoreError::Violation(Constraint::OneRunningRun)) => {
                return match self.queue.defer(&job).await {
                    Ok(()) => {
                        if let Err(error) = self.queue.finish(delivery).await {
                            tracing::warn!(%error, "acknowledging a deferred job failed");
                        }
                        Outcome::Deferred
                    }
                    Err(error) => Outcome::Failed(format!(
                        "another run of the application is running and deferring behind it failed: {error}"
                    )),
                };
            }
            Err(error) => {
                let error = JobError::store("starting the run")(error);
                return self.settle(delivery, &job, 0, error).await;
            }
        };
        tracing::Span::current().record("attempt", attempt);
        // Started again and again without ever finishing: its workers crash or hang on it
        // (each takeover or reclaim starts it once more).
        if attempt > i32::try_from(self.settings.max_attempts).unwrap_or(i32::MAX) {
            let error = format!(
                "the run was started {attempt} times without finishing (its workers crashed or hung); parked"
            );
            return self.park_and_fail(delivery, &job, &error).await;
        }
        metrics::counter!(metrics_names::JOBS_STARTED).increment(1);
        self.announce(vec![analysis::run_event(
            &context,
            EventKind::RunStarted,
            None,
        )])
        .await;
        let started = Instant::now();

        let result = match tokio::time::timeout(
            self.settings.job_timeout,
            pipeline::execute(&context, &self.settings, Some(&self.pool)),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(JobError::Timeout {
                after: self.settings.job_timeout,
            }),
        };
        metrics::histogram!(metrics_names::JOB_DURATION).record(started.elapsed().as_secs_f64());

        let result = match result {
            Ok(mut output) => {
                match crate::attribution::attribute_findings(&self.pool, &context, &output).await {
                    Ok(attributions) => {
                        // A change observed from a person changes what is recommended.
                        statesight_core::recommend::refine_with_attribution(
                            &mut output.analysis,
                            |finding| {
                                attributions
                                    .get(&(finding.resource.clone(), finding.path_text.clone()))
                                    .cloned()
                            },
                        );
                        let since = crate::since::lookup(
                            &self.pool,
                            &context,
                            &pipeline::git_settings(&self.settings),
                            &output.desired.commit_sha,
                            &output.analysis.findings,
                            &self.history,
                        )
                        .await;
                        Ok((output, attributions, since))
                    }
                    Err(error) => Err(JobError::store(
                        "reading audit events to attribute findings",
                    )(error)),
                }
            }
            Err(error) => Err(error),
        };
        match result {
            Ok((output, attributions, since)) => {
                let results = RunResults {
                    analysis: &output.analysis,
                    desired: output.desired,
                    live: output.live,
                    analysed_at: chrono::Utc::now(),
                    warnings: output.warnings,
                    attributions,
                    since,
                    tracked: output.tracked,
                };
                match analysis::persist_success(&self.pool, &context, &results).await {
                    Ok(Persisted::Written(written)) => {
                        // Counted as soon as the commit is visible, before anything slower.
                        metrics::counter!(metrics_names::JOBS_SUCCEEDED).increment(1);
                        let counts = written.counts;
                        tracing::info!(
                            findings = counts.findings,
                            suppressed = counts.suppressed,
                            incidents = counts.incidents,
                            opened = counts.opened,
                            resolved = counts.resolved,
                            "results written"
                        );
                        self.announce(written.events).await;
                        self.acknowledge(delivery, &job).await;
                        Outcome::Succeeded
                    }
                    Ok(Persisted::AlreadyFinished) => {
                        self.acknowledge(delivery, &job).await;
                        Outcome::AlreadyFinished
                    }
                    Err(error) => {
                        let error = JobError::store("writing the results")(error);
                        self.settle(delivery, &job, attempt, error).await
                    }
                }
            }
            Err(error) => self.settle(delivery, &job, attempt, error).await,
        }
    }

    /// Retries a transient failure (parking the job once it has used its attempts) and
    /// fails the run at once otherwise, with the error's message.
    async fn settle(
        &self,
        delivery: &Delivery,
        job: &statesight_store::queue::Job,
        attempt: i32,
        error: JobError,
    ) -> Outcome {
        let message = error.to_string();
        if error.is_transient() {
            return self
                .retry_or_park(delivery, job, attempt, &message, error.is_outage())
                .await;
        }
        match analysis::fail_run(&self.pool, job.run_id, &message).await {
            Ok(event) => {
                metrics::counter!(metrics_names::JOBS_FAILED).increment(1);
                self.announce(event.into_iter().collect()).await;
            }
            Err(source) => {
                // The failure could not be recorded: retrying is the only way to record it
                // later, whatever the store's error, so this does not ask `is_transient`.
                let error = JobError::store("recording the failure")(source);
                return self
                    .retry_or_park(
                        delivery,
                        job,
                        attempt,
                        &error.to_string(),
                        error.is_outage(),
                    )
                    .await;
            }
        }
        self.acknowledge(delivery, job).await;
        Outcome::Failed(message)
    }

    /// `attempt` is the database's count (0 when the run could not be started); failures
    /// before the start count in the job itself, except outages, which never park a job.
    async fn retry_or_park(
        &self,
        delivery: &Delivery,
        job: &statesight_store::queue::Job,
        attempt: i32,
        error: &str,
        outage: bool,
    ) -> Outcome {
        let mut next = job.clone();
        let attempt_number = if attempt > 0 {
            u32::try_from(attempt).unwrap_or(u32::MAX)
        } else if outage {
            1
        } else {
            next.early_failures = next.early_failures.saturating_add(1);
            next.early_failures
        };
        let counted = attempt > 0 || !outage;
        if counted && attempt_number >= self.settings.max_attempts {
            let error = format!("gave up after {attempt_number} attempts: {error}");
            return self.park_and_fail(delivery, job, &error).await;
        }
        let _ = analysis::note_attempt_error(&self.pool, job.run_id, error).await;
        let delay = self.settings.retry_delay(attempt_number);
        match self.queue.retry_later(delivery, Some(&next), delay).await {
            Ok(()) => {
                metrics::counter!(metrics_names::JOBS_RETRIED).increment(1);
                Outcome::RetryScheduled {
                    attempt,
                    delay,
                    error: error.to_owned(),
                }
            }
            // Redis is gone: the entry stays pending and is redelivered later.
            Err(queue_error) => {
                Outcome::Failed(format!("{error}; scheduling a retry failed: {queue_error}"))
            }
        }
    }

    async fn park_and_fail(
        &self,
        delivery: &Delivery,
        job: &statesight_store::queue::Job,
        error: &str,
    ) -> Outcome {
        metrics::counter!(metrics_names::JOBS_PARKED).increment(1);
        metrics::counter!(metrics_names::JOBS_FAILED).increment(1);
        match analysis::fail_run(&self.pool, job.run_id, error).await {
            Ok(event) => self.announce(event.into_iter().collect()).await,
            Err(store_error) => {
                tracing::error!(error = %store_error, "could not mark the parked run failed");
            }
        }
        if let Err(queue_error) = self.queue.park(delivery, error).await {
            tracing::error!(error = %queue_error, "could not park the job");
        }
        self.release(job).await;
        Outcome::Parked(error.to_owned())
    }

    /// Publishes events about committed changes to the workspace event log. Best effort: a
    /// lost event costs clients a refresh, so a failure is logged and counted, not retried.
    async fn announce(&self, events: Vec<WorkspaceEvent>) {
        if events.is_empty() {
            return;
        }
        if let Err(error) = self.queue.publish_events(&events).await {
            metrics::counter!(metrics_names::EVENTS_UNPUBLISHED).increment(events.len() as u64);
            tracing::warn!(%error, events = events.len(), "publishing workspace events failed");
        }
        crate::notify::record(&self.pool, &events).await;
    }

    /// Acknowledges the entry and releases the application's lease.
    async fn acknowledge(&self, delivery: &Delivery, job: &statesight_store::queue::Job) {
        if let Err(error) = self.queue.finish(delivery).await {
            tracing::warn!(%error, "acknowledging the job failed; it may be redelivered (harmless: results are written once)");
        }
        if failpoint("exit-after-ack") {
            tracing::error!("failpoint exit-after-ack: exiting before releasing the lease");
            std::process::exit(137);
        }
        self.release(job).await;
    }

    async fn release(&self, job: &statesight_store::queue::Job) {
        match self.queue.release(job).await {
            Ok(statesight_store::queue::Released::Promoted) => {
                tracing::info!("the waiting follow-up run was queued")
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "releasing the application's lease failed; it expires on its own")
            }
        }
    }

    /// Retries coming due, queue gauges, retention and the optional schedule.
    async fn maintenance_loop(&self, mut shutdown: watch::Receiver<bool>) {
        let mut last_prune: Option<Instant> = None;
        let mut last_sweep: Option<Instant> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(error) = self.queue.promote_due_retries().await {
                tracing::debug!(%error, "promoting due retries failed");
            }
            if let Ok(stats) = self.queue.stats().await {
                crate::telemetry::record_queue(&stats);
            }
            // Bounded, so a sick database does not hold up retries and sweeps.
            if let Ok(Ok(stats)) = tokio::time::timeout(
                Duration::from_secs(2),
                statesight_store::runs::in_flight_stats(&self.pool),
            )
            .await
            {
                crate::telemetry::record_runs(&stats);
            }
            if last_prune.is_none_or(|at| at.elapsed() > Duration::from_secs(3600)) {
                last_prune = Some(Instant::now());
                if self
                    .queue
                    .try_lock("prune", Duration::from_secs(3000))
                    .await
                    .unwrap_or(false)
                {
                    match analysis::prune(&self.pool, self.settings.retention_days).await {
                        Ok(deleted) => tracing::info!(
                            deleted,
                            retention_days = self.settings.retention_days,
                            "pruned old analysis runs"
                        ),
                        Err(error) => tracing::warn!(%error, "pruning old runs failed"),
                    }
                    match statesight_store::k8s_audit::prune(
                        &self.pool,
                        self.settings.retention_days,
                    )
                    .await
                    {
                        Ok(deleted) => tracing::info!(
                            deleted,
                            retention_days = self.settings.retention_days,
                            "pruned old Kubernetes audit events (those open incidents cite stay)"
                        ),
                        Err(error) => tracing::warn!(%error, "pruning old audit events failed"),
                    }
                    if let Err(error) = statesight_store::desired_since::prune(
                        &self.pool,
                        self.settings.retention_days,
                    )
                    .await
                    {
                        tracing::warn!(%error, "pruning kept since-when answers failed");
                    }
                    match statesight_store::watch::prune(&self.pool).await {
                        Ok(deleted) if deleted > 0 => {
                            tracing::info!(deleted, "pruned watch caches no watch keeps any more")
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(%error, "pruning watch caches failed"),
                    }
                }
            }
            if last_sweep.is_none_or(|at| at.elapsed() >= self.settings.lease_renew) {
                last_sweep = Some(Instant::now());
                self.sweep_lost_jobs().await;
            }
            if let Some(interval) = self.settings.analysis_interval {
                crate::schedule::tick(&self.pool, &self.queue, interval).await;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

impl Worker {
    /// Puts every queued or running run back where it belongs when Redis lost track of it,
    /// per application, oldest first (once across all workers, every lease renewal):
    /// - a running run whose application marker is gone and whose heartbeat stopped for
    ///   three renewals lost its worker: it is queued again at once;
    /// - a queued run behind a running one is (again) that application's follow-up;
    /// - a queued run with no marker, or behind a marker left by a run that already
    ///   finished (its worker died before releasing it), goes on the stream now.
    pub async fn sweep_lost_jobs(&self) {
        // One sweeper at a time across all workers (each sweeps every renewal; the lock's
        // lifetime only bounds a sweeper that died holding it).
        if !self
            .queue
            .try_lock("sweep", Duration::from_secs(30))
            .await
            .unwrap_or(false)
        {
            return;
        }
        self.sweep().await;
        if let Err(error) = self.queue.unlock("sweep").await {
            tracing::debug!(%error, "releasing the sweep lock failed; it expires on its own");
        }
    }

    async fn sweep(&self) {
        let runs = match statesight_store::runs::in_flight(&self.pool).await {
            Ok(runs) => runs,
            Err(error) => {
                tracing::warn!(%error, "looking for runs without a job failed");
                return;
            }
        };
        let mut start = 0;
        while start < runs.len() {
            let application_id = runs[start].application_id;
            let end = runs[start..]
                .iter()
                .position(|run| run.application_id != application_id)
                .map_or(runs.len(), |offset| start + offset);
            if let Err(error) = self
                .sweep_application(application_id, &runs[start..end])
                .await
            {
                tracing::warn!(%error, %application_id, "putting an application's runs back on the queue failed");
            }
            start = end;
        }
    }

    async fn sweep_application(
        &self,
        application_id: uuid::Uuid,
        runs: &[statesight_store::runs::InFlightRun],
    ) -> statesight_store::Result<()> {
        use statesight_store::queue::Job;
        let lease = self.queue.lease(application_id).await?;
        let stale_after = self.settings.abandoned_after().as_secs_f64();
        let running = runs.iter().find(|run| run.running);
        let queued = runs.iter().find(|run| !run.running);
        if let Some(running) = running {
            if lease.is_none() && running.silent_for_seconds > stale_after {
                self.queue
                    .enqueue(&Job::new(running.run_id, application_id), true)
                    .await?;
                tracing::warn!(
                    run_id = %running.run_id,
                    silent_for_s = running.silent_for_seconds,
                    "a running run lost its worker (no lease, no heartbeat); queued it again"
                );
            }
            if let Some(queued) = queued {
                self.queue
                    .defer(&Job::new(queued.run_id, application_id))
                    .await?;
            }
            return Ok(());
        }
        let Some(queued) = queued else {
            return Ok(());
        };
        match lease {
            Some((holder, _)) if holder == queued.run_id => {}
            // A marker set by a request whose run is not committed yet looks like this
            // for a moment: fresh markers (enqueue gives 15 minutes) are left alone.
            Some((_, ttl))
                if ttl
                    > Duration::from_secs(statesight_store::queue::INFLIGHT_TTL_SECONDS)
                        .saturating_sub(Duration::from_millis(
                            statesight_store::queue::RUN_VISIBILITY_GRACE_MS.unsigned_abs(),
                        )) => {}
            Some((holder, _)) => {
                // The holder is neither queued nor running: it finished and its worker
                // died before releasing the marker. Release it, promoting the follow-up.
                let released = self
                    .queue
                    .release(&Job::new(holder, application_id))
                    .await?;
                if released != statesight_store::queue::Released::Promoted {
                    self.queue
                        .enqueue(&Job::new(queued.run_id, application_id), false)
                        .await?;
                }
                tracing::warn!(
                    run_id = %queued.run_id,
                    stale_holder = %holder,
                    "released a lease left by a finished run; the waiting run is queued"
                );
            }
            None => {
                self.queue
                    .enqueue(&Job::new(queued.run_id, application_id), false)
                    .await?;
                tracing::warn!(run_id = %queued.run_id, "a queued run had no job; queued it again");
            }
        }
        Ok(())
    }
}

/// Fault injection for the recovery tests, off unless `STATESIGHT_FAILPOINT` names one:
/// `exit-after-ack` ends the process (as a kill would) right after a job is acknowledged and
/// before its application's lease is released — the one moment a crash leaves a lease
/// behind a finished run.
fn failpoint(name: &str) -> bool {
    static FAILPOINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    FAILPOINT
        .get_or_init(|| std::env::var("STATESIGHT_FAILPOINT").ok())
        .as_deref()
        == Some(name)
}

/// One line per delivery, with the run (from the span), the attempt and the error.
fn log_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Succeeded => tracing::info!("analysis succeeded"),
        Outcome::AlreadyFinished => tracing::info!("run already finished; acknowledged"),
        Outcome::RetryScheduled {
            attempt,
            delay,
            error,
        } => tracing::warn!(
            attempt,
            delay_ms = delay.as_millis() as u64,
            %error,
            "attempt failed; retry scheduled"
        ),
        Outcome::Failed(error) => tracing::warn!(%error, "analysis failed"),
        Outcome::Parked(error) => tracing::error!(%error, "job parked on the dead-letter stream"),
        Outcome::Deferred => tracing::info!(
            "another run of the application is running; this one waits as its follow-up"
        ),
    }
}

/// Renews a delivery's lease at once and then every `every` until stopped: resets the
/// entry's idle time so no other worker takes it over, holds the application's marker for
/// `ttl` (three renewals: a dead worker's marker is gone that soon), and touches the run's
/// heartbeat in the database (best effort, bounded, so a sick database never delays the
/// Redis renewal).
struct LeaseKeeper {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    fn start(
        queue: Queue,
        pool: PgPool,
        consumer: String,
        delivery: Delivery,
        every: Duration,
        ttl: Duration,
    ) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                if let Err(error) = queue.renew(&consumer, &delivery, ttl).await {
                    tracing::warn!(%error, entry = %delivery.entry_id, "lease renewal failed");
                }
                if let Some(job) = &delivery.job {
                    let _ = tokio::time::timeout(
                        every.min(Duration::from_secs(2)),
                        statesight_store::runs::heartbeat(&pool, job.run_id),
                    )
                    .await;
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        LeaseKeeper { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn truncate(text: &str, limit: usize) -> &str {
    match text.char_indices().nth(limit) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
