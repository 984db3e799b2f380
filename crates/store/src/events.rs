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

// ---------------------------------------------------------------------------------------
// The read side: what `GET /api/v1/events` replays and what each server's hub follows.

/// The id of an entry of the event stream (`<milliseconds>-<sequence>`), ordered the way
/// Redis orders them. It is the SSE `id:` a client sends back as `Last-Event-ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId {
    pub millis: u64,
    pub sequence: u64,
}

impl EventId {
    /// The id before every entry: reading after it reads the whole stream.
    pub const ZERO: EventId = EventId {
        millis: 0,
        sequence: 0,
    };

    /// Parses `<milliseconds>-<sequence>`, both plain decimal numbers that fit in 64 bits.
    /// Anything else (signs, spaces, a missing part, Redis's special ids `$`, `+`, `-`) is
    /// `None`: the id came from a client and is checked before it reaches a command.
    pub fn parse(text: &str) -> Option<EventId> {
        let (millis, sequence) = text.split_once('-')?;
        Some(EventId {
            millis: decimal(millis)?,
            sequence: decimal(sequence)?,
        })
    }
}

fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl std::fmt::Display for EventId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}-{}", self.millis, self.sequence)
    }
}

/// One event read back from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: EventId,
    pub event: WorkspaceEvent,
}

/// What the stream still holds, for deciding whether a client that resumes missed events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamBounds {
    /// The id of the newest entry ever added (`None`: the stream does not exist).
    pub last_generated: Option<EventId>,
    /// The oldest entry still kept (`None`: none is).
    pub first_kept: Option<EventId>,
}

/// How a client resuming after an id is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumption {
    /// Every entry after the id is still kept: replay them.
    Replay,
    /// Entries after the id may be gone (trimmed, or the stream was lost and started again):
    /// the client must refetch what it shows.
    Gap,
}

impl StreamBounds {
    /// Whether everything after `last_seen` can still be replayed. The entry a client saw
    /// last is kept as long as nothing after it was trimmed, so a `last_seen` older than the
    /// oldest kept entry means entries may be gone (trimming keeps no record of which ids it
    /// removed, so this errs towards a refetch).
    pub fn resumption(&self, last_seen: EventId) -> Resumption {
        let Some(last_generated) = self.last_generated else {
            // No stream at all: whatever the client saw came from a stream Redis has lost.
            return if last_seen == EventId::ZERO {
                Resumption::Replay
            } else {
                Resumption::Gap
            };
        };
        if last_seen == last_generated {
            return Resumption::Replay;
        }
        // An id from the future belongs to an earlier life of the stream.
        if last_seen > last_generated {
            return Resumption::Gap;
        }
        match self.first_kept {
            Some(first) if last_seen >= first => Resumption::Replay,
            // Entries newer than `last_seen` were added and are no longer all kept.
            _ => Resumption::Gap,
        }
    }
}

/// Entries whose fields are not an event this build can read are skipped, with a warning:
/// one bad entry must not stop every stream.
fn stored_events(entries: Vec<redis::streams::StreamId>) -> Vec<StoredEvent> {
    entries
        .into_iter()
        .filter_map(|entry| {
            let id = EventId::parse(&entry.id)?;
            let payload: String = entry.get("event")?;
            match serde_json::from_str(&payload) {
                Ok(event) => Some(StoredEvent { id, event }),
                Err(error) => {
                    tracing::warn!(entry = %entry.id, %error, "skipping an unreadable event");
                    None
                }
            }
        })
        .collect()
}

/// `XINFO STREAM` fields as an id (`0-0` means none).
fn info_id(info: &std::collections::HashMap<String, redis::Value>, field: &str) -> Option<EventId> {
    let value = info.get(field)?;
    let text: String = redis::from_redis_value_ref(value).ok()?;
    EventId::parse(&text).filter(|id| *id != EventId::ZERO)
}

impl Queue {
    /// What the event stream holds now.
    pub async fn event_bounds(&self) -> Result<StreamBounds> {
        let mut connection = self.connection().await?;
        let reply: redis::RedisResult<std::collections::HashMap<String, redis::Value>> =
            redis::cmd("XINFO")
                .arg("STREAM")
                .arg(self.events_key())
                .query_async(&mut connection)
                .await;
        let info = match reply {
            Ok(info) => info,
            // XINFO on a missing key is an error, not an empty answer.
            Err(error) if error.to_string().contains("no such key") => {
                return Ok(StreamBounds::default());
            }
            Err(error) => return Err(error.into()),
        };
        let first: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.events_key())
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut connection)
            .await?;
        Ok(StreamBounds {
            last_generated: info_id(&info, "last-generated-id"),
            first_kept: first
                .ids
                .first()
                .and_then(|entry| EventId::parse(&entry.id)),
        })
    }

    /// Up to `count` events after `after`, oldest first (every workspace's: the caller
    /// filters).
    pub async fn events_after(&self, after: EventId, count: usize) -> Result<Vec<StoredEvent>> {
        let mut connection = self.connection().await?;
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.events_key())
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut connection)
            .await?;
        Ok(stored_events(reply.ids))
    }

    /// Waits up to `block` for events after `after` on `connection` (a
    /// [`Queue::blocking_connection`] made for at least that long); up to `count` of them.
    pub async fn read_events_blocking(
        &self,
        connection: &mut redis::aio::MultiplexedConnection,
        after: EventId,
        block: std::time::Duration,
        count: usize,
    ) -> Result<Vec<StoredEvent>> {
        let block_ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1);
        let reply: Option<redis::streams::StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(self.events_key())
            .arg(after.to_string())
            .query_async(connection)
            .await?;
        Ok(reply
            .map(|reply| stored_events(reply.keys.into_iter().flat_map(|key| key.ids).collect()))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(millis: u64, sequence: u64) -> EventId {
        EventId { millis, sequence }
    }

    #[test]
    fn ids_parse_only_as_two_decimal_numbers() {
        assert_eq!(
            EventId::parse("1700000000000-3"),
            Some(id(1_700_000_000_000, 3))
        );
        assert_eq!(EventId::parse("0-0"), Some(EventId::ZERO));
        for bad in [
            "",
            "-",
            "1",
            "1-",
            "-1",
            "+1-2",
            "1-2-3",
            " 1-2",
            "1-x",
            "$",
            "+",
            "99999999999999999999-0",
        ] {
            assert_eq!(EventId::parse(bad), None, "{bad:?}");
        }
        assert_eq!(id(5, 7).to_string(), "5-7");
    }

    #[test]
    fn ids_order_by_time_then_sequence() {
        assert!(id(1, 9) < id(2, 0));
        assert!(id(2, 0) < id(2, 1));
    }

    #[test]
    fn a_resumption_after_trimmed_or_lost_entries_is_a_gap() {
        let bounds = StreamBounds {
            last_generated: Some(id(100, 0)),
            first_kept: Some(id(50, 0)),
        };
        assert_eq!(bounds.resumption(id(60, 0)), Resumption::Replay);
        assert_eq!(bounds.resumption(id(50, 0)), Resumption::Replay);
        assert_eq!(bounds.resumption(id(49, 9)), Resumption::Gap);
        assert_eq!(bounds.resumption(id(100, 0)), Resumption::Replay);
        assert_eq!(bounds.resumption(id(100, 1)), Resumption::Gap);
        // Everything trimmed: only the newest id itself has nothing to replay.
        let emptied = StreamBounds {
            last_generated: Some(id(100, 0)),
            first_kept: None,
        };
        assert_eq!(emptied.resumption(id(100, 0)), Resumption::Replay);
        assert_eq!(emptied.resumption(id(99, 0)), Resumption::Gap);
        let missing = StreamBounds::default();
        assert_eq!(missing.resumption(EventId::ZERO), Resumption::Replay);
        assert_eq!(missing.resumption(id(1, 0)), Resumption::Gap);
    }
}
