//! The analysis job queue on Redis Streams (the design in `shared/STACK.md`).
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

/// Puts a job on the stream and takes the application's lease. In `followup` mode, when
/// the lease is held, the job is parked as the application's single follow-up instead
/// (replacing an older one). In `fresh` mode (the database says nothing is in flight) a
/// stale lease or follow-up left by a crash is overwritten.
const ENQUEUE: &str = r"
local inflight, followup, stream = KEYS[1], KEYS[2], KEYS[3]
local run_id, job, ttl, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if mode == 'followup' and redis.call('EXISTS', inflight) == 1 then
  redis.call('SET', followup, job)
  return 'deferred'
end
if mode == 'fresh' then redis.call('DEL', followup) end
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
        let mut connection = self.connection().await?;
        let outcome: String = Script::new(ENQUEUE)
            .key(self.inflight_key(job.application_id))
            .key(self.followup_key(job.application_id))
            .key(self.stream_key())
            .arg(job.run_id.to_string())
            .arg(payload)
            .arg(INFLIGHT_TTL_SECONDS)
            .arg(if fresh { "fresh" } else { "followup" })
            .invoke_async(&mut connection)
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
