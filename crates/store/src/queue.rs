//! The analysis job queue on Redis Streams: at-least-once delivery to one consumer group.
//!
//! Keys, all under a configurable prefix so parallel tests and deployments never meet:
//! - `{prefix}:jobs` — the stream of jobs, consumed by the group `workers`;
//! - `{prefix}:inflight:{application}` — the run id currently owning the application (a
//!   lease with a TTL that the worker extends while it runs);
//! - `{prefix}:followup:{application}` — at most one job waiting for that lease (a newer
//!   revision asked for while a run was in flight); promoted when the lease is released.
//!
//! PostgreSQL is the source of truth for runs: a job only names its run, and the worker
//! reads everything else from the database when it starts.

use redis::Script;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::Result;

/// How long an in-flight lease lives unless the worker renews it.
pub const INFLIGHT_TTL_SECONDS: u64 = 15 * 60;
pub const CONSUMER_GROUP: &str = "workers";

/// What a job carries: just enough to find its run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub run_id: Uuid,
    pub application_id: Uuid,
    /// When the job was first enqueued (Unix milliseconds). The job is enqueued just before
    /// the run's transaction commits, so a worker may see it before the run exists; it
    /// waits for the run this long after enqueueing before dropping the job.
    #[serde(default)]
    pub enqueued_at_ms: i64,
    /// Failed attempts that ended before the run could be started (so the database's
    /// attempt count did not see them), outages excepted: they count towards parking too.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub early_failures: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// How long a job may wait for its run's transaction to commit.
pub const RUN_VISIBILITY_GRACE_MS: i64 = 30_000;

impl Job {
    pub fn new(run_id: Uuid, application_id: Uuid) -> Self {
        Job {
            run_id,
            application_id,
            enqueued_at_ms: chrono::Utc::now().timestamp_millis(),
            early_failures: 0,
        }
    }

    /// Whether a missing run may still appear (its transaction not yet committed).
    pub fn run_may_still_appear(&self) -> bool {
        chrono::Utc::now().timestamp_millis() - self.enqueued_at_ms < RUN_VISIBILITY_GRACE_MS
    }
}

/// Whether a job went onto the stream now or waits behind the application's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    OnStream,
    Deferred,
}

#[derive(Clone)]
pub struct Queue {
    client: redis::Client,
    connection: std::sync::Arc<OnceCell<ConnectionManager>>,
    prefix: String,
}

/// Puts a job on the stream and takes the application's lease; idempotent for a run that
/// already holds the lease, so a call can be retried safely. In `followup` mode, when
/// the lease is held, the job is parked as the application's single follow-up instead
/// (replacing an older one). In `fresh` mode (the database says nothing is in flight) a
/// stale lease or follow-up left by a crash is overwritten.
const ENQUEUE: &str = r"
local inflight, followup, stream = KEYS[1], KEYS[2], KEYS[3]
local run_id, job, ttl, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
-- Already enqueued (a retried call whose first reply was lost): nothing more to do.
if redis.call('GET', inflight) == run_id then return 'enqueued' end
if mode == 'followup' and redis.call('EXISTS', inflight) == 1 then
  redis.call('SET', followup, job)
  return 'deferred'
end
if mode == 'fresh' then redis.call('DEL', followup) end
-- Going on the stream now: it no longer waits as the follow-up.
local waiting = redis.call('GET', followup)
if waiting and cjson.decode(waiting)['run_id'] == run_id then redis.call('DEL', followup) end
redis.call('SET', inflight, run_id, 'EX', ttl)
redis.call('XADD', stream, '*', 'job', job)
return 'enqueued'
";

/// Releases the application's lease if `run_id` still holds it, promoting the follow-up
/// (if any) to the stream under a new lease.
const RELEASE: &str = r"
local inflight, followup, stream = KEYS[1], KEYS[2], KEYS[3]
local run_id, ttl = ARGV[1], ARGV[2]
if redis.call('GET', inflight) ~= run_id then return 'not_owner' end
local next_job = redis.call('GET', followup)
if next_job then
  redis.call('DEL', followup)
  local next_run = cjson.decode(next_job)['run_id']
  redis.call('SET', inflight, next_run, 'EX', ttl)
  redis.call('XADD', stream, '*', 'job', next_job)
  return 'promoted'
end
redis.call('DEL', inflight)
return 'released'
";

/// Holds the application's marker for a run being processed, for ARGV[2] milliseconds:
/// taken when absent, extended when held, left alone when another run holds it.
const HOLD_LEASE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Deletes KEYS[1] only if ARGV[1] holds it.
const LET_GO: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Makes a job the application's follow-up, giving up the marker if the job held it (it
/// cannot run yet, so it must not block the run that can).
const DEFER: &str = r"
redis.call('SET', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
";

/// What releasing a lease did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The lease is gone; nothing was waiting.
    Released,
    /// The waiting follow-up now holds the lease and is on the stream.
    Promoted,
    /// Another run holds the lease (ours expired and was taken): nothing changed.
    NotOwner,
}

impl Queue {
    /// A queue over `client`. Connecting is deferred to first use, so a server can start
    /// while Redis is down (and say so on `/readyz`).
    pub fn new(client: redis::Client, prefix: impl Into<String>) -> Self {
        Queue {
            client,
            connection: std::sync::Arc::new(OnceCell::new()),
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn stream_key(&self) -> String {
        format!("{}:jobs", self.prefix)
    }

    pub fn inflight_key(&self, application_id: Uuid) -> String {
        format!("{}:inflight:{application_id}", self.prefix)
    }

    pub fn followup_key(&self, application_id: Uuid) -> String {
        format!("{}:followup:{application_id}", self.prefix)
    }

    pub async fn connection(&self) -> Result<ConnectionManager> {
        let manager = self
            .connection
            .get_or_try_init(|| async {
                // Fail fast while Redis is down: callers answer 503 and retry later.
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_number_of_retries(1)
                    .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
                    .set_response_timeout(Some(std::time::Duration::from_secs(5)));
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs an idempotent command, once more if the connection turned out to be dead (Redis
    /// restarted since the last command): the manager reconnects on the failure, and the
    /// caller should not see an error while Redis is in fact back.
    async fn retrying_once<T, F, Fut>(&self, command: F) -> Result<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        match command(connection).await {
            Err(error) if error.is_connection_dropped() || error.is_io_error() => {
                tracing::debug!(%error, "the Redis connection was dead; retrying once");
                let connection = self.connection().await?;
                Ok(command(connection).await?)
            }
            outcome => Ok(outcome?),
        }
    }

    /// One round trip through the shared connection (what requests use), reconnecting once
    /// if it was dead: readiness and the next request agree.
    pub async fn ping(&self) -> Result<()> {
        self.retrying_once(|mut connection| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        })
        .await?;
        Ok(())
    }

    /// `fresh`: the database has no run queued or running for the application.
    /// Otherwise the job is a follow-up behind a running one.
    pub async fn enqueue(&self, job: &Job, fresh: bool) -> Result<Enqueued> {
        let payload = serde_json::to_string(job).map_err(|error| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "job serialization",
                error.to_string(),
            ))
        })?;
        let script = Script::new(ENQUEUE);
        let keys = [
            self.inflight_key(job.application_id),
            self.followup_key(job.application_id),
            self.stream_key(),
        ];
        let run_id = job.run_id.to_string();
        let mode = if fresh { "fresh" } else { "followup" };
        let outcome: String = self
            .retrying_once(|mut connection| {
                let mut invocation = script.prepare_invoke();
                invocation
                    .key(&keys[0])
                    .key(&keys[1])
                    .key(&keys[2])
                    .arg(&run_id)
                    .arg(&payload)
                    .arg(INFLIGHT_TTL_SECONDS)
                    .arg(mode);
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        Ok(if outcome == "deferred" {
            Enqueued::Deferred
        } else {
            Enqueued::OnStream
        })
    }

    /// Releases the lease held by `job` (on success, failure or parking alike).
    pub async fn release(&self, job: &Job) -> Result<Released> {
        let mut connection = self.connection().await?;
        let outcome: String = Script::new(RELEASE)
            .key(self.inflight_key(job.application_id))
            .key(self.followup_key(job.application_id))
            .key(self.stream_key())
            .arg(job.run_id.to_string())
            .arg(INFLIGHT_TTL_SECONDS)
            .invoke_async(&mut connection)
            .await?;
        Ok(match outcome.as_str() {
            "promoted" => Released::Promoted,
            "released" => Released::Released,
            _ => Released::NotOwner,
        })
    }

    /// Jobs on the stream (delivered or not), for tests and metrics.
    pub async fn stream_length(&self) -> Result<u64> {
        let mut connection = self.connection().await?;
        let length: u64 = redis::cmd("XLEN")
            .arg(self.stream_key())
            .query_async(&mut connection)
            .await?;
        Ok(length)
    }

    /// Every job on the stream in order, for tests and diagnostics.
    pub async fn stream_jobs(&self) -> Result<Vec<Job>> {
        let mut connection = self.connection().await?;
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.stream_key())
            .arg("-")
            .arg("+")
            .query_async(&mut connection)
            .await?;
        Ok(reply
            .ids
            .iter()
            .filter_map(|entry| entry.get::<String>("job"))
            .filter_map(|payload| serde_json::from_str(&payload).ok())
            .collect())
    }

    /// The run currently holding the application's lease.
    pub async fn inflight(&self, application_id: Uuid) -> Result<Option<Uuid>> {
        let mut connection = self.connection().await?;
        let value: Option<String> = redis::cmd("GET")
            .arg(self.inflight_key(application_id))
            .query_async(&mut connection)
            .await?;
        Ok(value.and_then(|value| Uuid::parse_str(&value).ok()))
    }
}

/// One job taken from the stream.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The stream entry id (for acknowledgement and lease renewal).
    pub entry_id: String,
    /// `None` when the payload is not a job (it is parked as poison).
    pub job: Option<Job>,
    pub payload: String,
}

/// Queue depth and health, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub stream_length: u64,
    pub pending: u64,
    pub oldest_pending_idle_ms: u64,
    pub dead_letters: u64,
    pub retries_waiting: u64,
}

/// Moves a due retry back onto the stream exactly once, whichever worker gets there first.
const PROMOTE_RETRY: &str = r"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('XADD', KEYS[2], '*', 'job', ARGV[1])
  return 1
end
return 0
";

fn entries(reply: redis::streams::StreamReadReply) -> Vec<Delivery> {
    reply
        .keys
        .into_iter()
        .flat_map(|key| key.ids)
        .map(|entry| {
            let payload: String = entry.get("job").unwrap_or_default();
            Delivery {
                job: serde_json::from_str(&payload).ok(),
                entry_id: entry.id,
                payload,
            }
        })
        .collect()
}

impl Queue {
    pub fn dead_letter_key(&self) -> String {
        format!("{}:dead", self.prefix)
    }

    pub fn retry_key(&self) -> String {
        format!("{}:retry", self.prefix)
    }

    /// A dedicated connection for blocking reads: the shared connection's response
    /// timeout is short, a `BLOCK` read needs a longer one.
    pub async fn blocking_connection(
        &self,
        block: std::time::Duration,
    ) -> Result<redis::aio::MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
            .set_response_timeout(Some(block + std::time::Duration::from_secs(5)));
        Ok(self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// Creates the consumer group (from the start of the stream, so jobs enqueued before
    /// the first worker are not skipped). Idempotent.
    pub async fn ensure_group(&self) -> Result<()> {
        let mut connection = self.connection().await?;
        let created: redis::RedisResult<String> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.stream_key())
            .arg(CONSUMER_GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut connection)
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some("BUSYGROUP") => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// This consumer's own pending jobs (delivered before a crash or restart), oldest first.
    pub async fn own_pending(
        &self,
        connection: &mut redis::aio::MultiplexedConnection,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Delivery>> {
        let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(CONSUMER_GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(self.stream_key())
            .arg("0")
            .query_async(connection)
            .await?;
        Ok(entries(reply))
    }

    /// Waits up to `block` for a new job.
    pub async fn next(
        &self,
        connection: &mut redis::aio::MultiplexedConnection,
        consumer: &str,
        block: std::time::Duration,
    ) -> Result<Option<Delivery>> {
        let reply: Option<redis::streams::StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(CONSUMER_GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX))
            .arg("STREAMS")
            .arg(self.stream_key())
            .arg(">")
            .query_async(connection)
            .await?;
        Ok(reply.and_then(|reply| entries(reply).into_iter().next()))
    }

    /// Takes over one job another consumer left idle for at least `min_idle` (a worker
    /// that died mid-job).
    pub async fn claim_abandoned(
        &self,
        consumer: &str,
        min_idle: std::time::Duration,
    ) -> Result<Option<Delivery>> {
        let mut connection = self.connection().await?;
        let reply: redis::Value = redis::cmd("XAUTOCLAIM")
            .arg(self.stream_key())
            .arg(CONSUMER_GROUP)
            .arg(consumer)
            .arg(u64::try_from(min_idle.as_millis()).unwrap_or(u64::MAX))
            .arg("0-0")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut connection)
            .await?;
        // Reply: [next-cursor, [[id, [field, value, …]], …], [deleted ids]].
        let redis::Value::Array(parts) = reply else {
            return Ok(None);
        };
        let Some(redis::Value::Array(claimed)) = parts.get(1) else {
            return Ok(None);
        };
        for item in claimed {
            let redis::Value::Array(pair) = item else {
                continue;
            };
            let (Some(id), Some(redis::Value::Array(fields))) = (pair.first(), pair.get(1)) else {
                continue;
            };
            let Ok(entry_id) = redis::from_redis_value_ref::<String>(id) else {
                continue;
            };
            let mut payload = String::new();
            for chunk in fields.chunks(2) {
                if let [name, value] = chunk
                    && redis::from_redis_value_ref::<String>(name).ok().as_deref() == Some("job")
                {
                    payload = redis::from_redis_value_ref::<String>(value).unwrap_or_default();
                }
            }
            return Ok(Some(Delivery {
                job: serde_json::from_str(&payload).ok(),
                entry_id,
                payload,
            }));
        }
        Ok(None)
    }

    /// How many times the entry was delivered (1 on first delivery).
    pub async fn delivery_count(&self, entry_id: &str) -> Result<u64> {
        let mut connection = self.connection().await?;
        let reply: redis::Value = redis::cmd("XPENDING")
            .arg(self.stream_key())
            .arg(CONSUMER_GROUP)
            .arg(entry_id)
            .arg(entry_id)
            .arg(1)
            .query_async(&mut connection)
            .await?;
        // Reply: [[id, consumer, idle-ms, deliveries]].
        if let redis::Value::Array(rows) = reply
            && let Some(redis::Value::Array(row)) = rows.first()
            && let Some(count) = row.get(3)
        {
            return Ok(redis::from_redis_value_ref::<u64>(count).unwrap_or(1));
        }
        Ok(1)
    }

    /// Renews the lease of a job being processed: resets the entry's idle time (without
    /// counting a delivery) and holds the application's in-flight marker for `ttl` — short,
    /// so a marker outlives a dead worker by at most `ttl`. A marker that vanished (Redis
    /// restarted) is taken again; one another run holds is left alone. Returns whether this
    /// run holds the marker.
    pub async fn renew(
        &self,
        consumer: &str,
        delivery: &Delivery,
        ttl: std::time::Duration,
    ) -> Result<bool> {
        let mut connection = self.connection().await?;
        let _: redis::Value = redis::cmd("XCLAIM")
            .arg(self.stream_key())
            .arg(CONSUMER_GROUP)
            .arg(consumer)
            .arg(0)
            .arg(&delivery.entry_id)
            .arg("JUSTID")
            .query_async(&mut connection)
            .await?;
        let Some(job) = &delivery.job else {
            return Ok(false);
        };
        let held: i64 = Script::new(HOLD_LEASE)
            .key(self.inflight_key(job.application_id))
            .arg(job.run_id.to_string())
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .invoke_async(&mut connection)
            .await?;
        Ok(held == 1)
    }

    /// Parks `job` as its application's follow-up (it cannot start while another run of
    /// the application runs); it goes on the stream when that run's lease is released.
    /// Idempotent.
    pub async fn defer(&self, job: &Job) -> Result<()> {
        let payload = serde_json::to_string(job).map_err(|error| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "job serialization",
                error.to_string(),
            ))
        })?;
        let mut connection = self.connection().await?;
        let _: redis::Value = Script::new(DEFER)
            .key(self.followup_key(job.application_id))
            .key(self.inflight_key(job.application_id))
            .arg(payload)
            .arg(job.run_id.to_string())
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    /// The run holding the application's marker and how long the marker still lives.
    pub async fn lease(&self, application_id: Uuid) -> Result<Option<(Uuid, std::time::Duration)>> {
        let mut connection = self.connection().await?;
        let (holder, ttl_ms): (Option<String>, i64) = redis::pipe()
            .cmd("GET")
            .arg(self.inflight_key(application_id))
            .cmd("PTTL")
            .arg(self.inflight_key(application_id))
            .query_async(&mut connection)
            .await?;
        Ok(holder
            .and_then(|holder| Uuid::parse_str(&holder).ok())
            .map(|holder| {
                (
                    holder,
                    std::time::Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
                )
            }))
    }

    /// Acknowledges and deletes a finished entry.
    pub async fn finish(&self, delivery: &Delivery) -> Result<()> {
        let mut connection = self.connection().await?;
        let _: redis::Value = redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(self.stream_key())
            .arg(CONSUMER_GROUP)
            .arg(&delivery.entry_id)
            .cmd("XDEL")
            .arg(self.stream_key())
            .arg(&delivery.entry_id)
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    /// Parks a job that keeps failing (or is not a job at all) on the dead-letter stream
    /// with its error, then acknowledges it.
    pub async fn park(&self, delivery: &Delivery, error: &str) -> Result<()> {
        let mut connection = self.connection().await?;
        let _: redis::Value = redis::cmd("XADD")
            .arg(self.dead_letter_key())
            .arg("*")
            .arg("job")
            .arg(&delivery.payload)
            .arg("error")
            .arg(error)
            .arg("entry")
            .arg(&delivery.entry_id)
            .query_async(&mut connection)
            .await?;
        self.finish(delivery).await
    }

    /// Schedules another attempt of a job after `delay` (as `job` says, when given: its
    /// counters may have changed), and acknowledges this delivery.
    pub async fn retry_later(
        &self,
        delivery: &Delivery,
        job: Option<&Job>,
        delay: std::time::Duration,
    ) -> Result<()> {
        let payload = match job {
            Some(job) => serde_json::to_string(job).unwrap_or_else(|_| delivery.payload.clone()),
            None => delivery.payload.clone(),
        };
        let mut connection = self.connection().await?;
        let due = chrono::Utc::now().timestamp_millis()
            + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        let _: redis::Value = redis::cmd("ZADD")
            .arg(self.retry_key())
            .arg(due)
            .arg(&payload)
            .query_async(&mut connection)
            .await?;
        self.finish(delivery).await
    }

    /// Moves retries that are due back onto the stream. Returns how many moved.
    pub async fn promote_due_retries(&self) -> Result<usize> {
        let mut connection = self.connection().await?;
        let now = chrono::Utc::now().timestamp_millis();
        let due: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.retry_key())
            .arg("-inf")
            .arg(now)
            .arg("LIMIT")
            .arg(0)
            .arg(100)
            .query_async(&mut connection)
            .await?;
        let mut moved = 0;
        for payload in due {
            let promoted: i64 = Script::new(PROMOTE_RETRY)
                .key(self.retry_key())
                .key(self.stream_key())
                .arg(&payload)
                .invoke_async(&mut connection)
                .await?;
            moved += usize::from(promoted == 1);
        }
        Ok(moved)
    }

    /// Takes a named lock for `ttl` if nobody holds it (scheduling and pruning run once
    /// across all workers).
    pub async fn try_lock(&self, name: &str, ttl: std::time::Duration) -> Result<bool> {
        let mut connection = self.connection().await?;
        let taken: Option<String> = redis::cmd("SET")
            .arg(format!("{}:lock:{name}", self.prefix))
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
            .query_async(&mut connection)
            .await?;
        Ok(taken.is_some())
    }

    /// The key of a cluster's watch lease.
    pub fn watch_lease_key(&self, cluster_id: Uuid) -> String {
        format!("{}:watch:{cluster_id}", self.prefix)
    }

    /// Takes `key` for `holder` for `ttl` when nobody holds it, or extends it when `holder`
    /// does; `false` when someone else holds it.
    pub async fn hold(&self, key: &str, holder: &str, ttl: std::time::Duration) -> Result<bool> {
        let script = Script::new(HOLD_LEASE);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let held: i64 = self
            .retrying_once(|mut connection| {
                let mut invocation = script.prepare_invoke();
                invocation.key(key).arg(holder).arg(ttl_ms);
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        Ok(held == 1)
    }

    /// Gives up `key` if `holder` still holds it (so another worker takes over at once).
    pub async fn let_go(&self, key: &str, holder: &str) -> Result<()> {
        let script = Script::new(LET_GO);
        let _: i64 = self
            .retrying_once(|mut connection| {
                let mut invocation = script.prepare_invoke();
                invocation.key(key).arg(holder);
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        Ok(())
    }

    /// Releases a lock taken with [`Queue::try_lock`].
    pub async fn unlock(&self, name: &str) -> Result<()> {
        let mut connection = self.connection().await?;
        let _: redis::Value = redis::cmd("DEL")
            .arg(format!("{}:lock:{name}", self.prefix))
            .query_async(&mut connection)
            .await?;
        Ok(())
    }

    pub async fn stats(&self) -> Result<QueueStats> {
        let mut connection = self.connection().await?;
        let (stream_length, dead_letters, retries_waiting): (u64, u64, u64) = redis::pipe()
            .cmd("XLEN")
            .arg(self.stream_key())
            .cmd("XLEN")
            .arg(self.dead_letter_key())
            .cmd("ZCARD")
            .arg(self.retry_key())
            .query_async(&mut connection)
            .await?;
        let pending: redis::RedisResult<redis::Value> = redis::cmd("XPENDING")
            .arg(self.stream_key())
            .arg(CONSUMER_GROUP)
            .arg("IDLE")
            .arg(0)
            .arg("-")
            .arg("+")
            .arg(1000)
            .query_async(&mut connection)
            .await;
        let mut stats = QueueStats {
            stream_length,
            dead_letters,
            retries_waiting,
            ..QueueStats::default()
        };
        // No group yet (no worker ever started) means nothing is pending.
        if let Ok(redis::Value::Array(rows)) = pending {
            stats.pending = rows.len() as u64;
            for row in rows {
                if let redis::Value::Array(fields) = row
                    && let Some(idle) = fields.get(2)
                {
                    let idle = redis::from_redis_value_ref::<u64>(idle).unwrap_or(0);
                    stats.oldest_pending_idle_ms = stats.oldest_pending_idle_ms.max(idle);
                }
            }
        }
        Ok(stats)
    }
}
