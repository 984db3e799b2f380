//! The workspace event log on Redis: one stream, `{prefix}:events`, capped at
//! [`EVENT_BUFFER`] entries, that every server replica reads. Each entry carries the event
//! as JSON and its workspace id; the stream entry id is the event's id, the same on every
//! replica, so a client that reconnects anywhere resumes with `Last-Event-ID`.
//!
//! Events are published after the change they announce has committed. Publishing is best
//! effort: a lost event costs a client a refresh (the stream's gap is visible to it), never
//! a result.

use statesight_core::wire::WorkspaceEvent;

use crate::Result;
use crate::queue::Queue;

/// How many recent events the stream keeps for `Last-Event-ID` resumption (approximately:
/// Redis trims in whole macro nodes).
pub const EVENT_BUFFER: usize = 10_000;

impl Queue {
    pub fn events_key(&self) -> String {
        format!("{}:events", self.prefix())
    }

    /// Appends `events` to the event log in one round trip; returns their ids. Nothing is
    /// sent for an empty slice.
    pub async fn publish_events(&self, events: &[WorkspaceEvent]) -> Result<Vec<String>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.events_key();
        let mut pipeline = redis::pipe();
        for event in events {
            let payload = serde_json::to_string(event).map_err(|error| {
                redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "event serialization",
                    error.to_string(),
                ))
            })?;
            pipeline
                .cmd("XADD")
                .arg(&key)
                .arg("MAXLEN")
                .arg("~")
                .arg(EVENT_BUFFER)
                .arg("*")
                .arg("workspace")
                .arg(event.workspace_id.to_string())
                .arg("event")
                .arg(payload);
        }
        let mut connection = self.connection().await?;
        let ids: Vec<String> = pipeline.query_async(&mut connection).await?;
        Ok(ids)
    }
}
