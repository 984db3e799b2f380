//! Live workspace events for `GET /api/v1/events`: one hub per server process follows the
//! Redis event stream (`statesight_store::events`) and fans each event out to the open
//! streams of this process through a broadcast channel; each stream keeps its caller's
//! workspace's events, replays what a reconnecting client missed, sends heartbeats, and
//! ends when the caller's token expires or their membership goes.
//!
//! Every replica follows the same stream and event ids are the stream's, so a client may
//! reconnect to any replica with `Last-Event-ID`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::response::sse::Event;
use chrono::{DateTime, Utc};
use statesight_store::events::{EventId, Resumption, StoredEvent};
use statesight_store::queue::Queue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, Unavailable};

/// The gauge of streams open on this process.
pub const OPEN_STREAMS: &str = "statesight_event_streams_open";
/// Events the hub could not hand to a stream fast enough (the stream was told to refetch).
pub const LAGGED_STREAMS: &str = "statesight_event_streams_lagged_total";

/// How the event streams of one process behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    /// A comment line is sent this often (and the caller's membership checked again), so
    /// proxies see traffic and clients notice a dead connection.
    pub heartbeat: Duration,
    /// Streams open at once on this process; the next one is answered 503.
    pub max_streams: usize,
    /// The reconnection delay suggested to clients (`retry:`).
    pub retry: Duration,
    /// How long one blocking read of the hub waits on Redis.
    pub hub_block: Duration,
    /// Events buffered per stream before a slow stream is told it lagged.
    pub buffer: usize,
    /// How long a new stream waits for the hub to follow Redis before it is answered 503.
    pub hub_wait: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            heartbeat: Duration::from_secs(15),
            max_streams: 1000,
            retry: Duration::from_secs(3),
            hub_block: Duration::from_secs(5),
            buffer: 1024,
            hub_wait: Duration::from_secs(5),
        }
    }
}

/// What the hub hands to streams.
#[derive(Debug, Clone)]
enum HubMessage {
    Event(Arc<StoredEvent>),
    /// The stream restarted behind the hub's back (Redis lost it): events may be missing.
    Gap,
}

/// The per-process fan-out. Started on the first stream, then runs for the process.
pub struct EventHub {
    settings: StreamSettings,
    sender: broadcast::Sender<HubMessage>,
    slots: Arc<Semaphore>,
    started: AtomicBool,
    /// Whether the hub follows Redis right now.
    following: watch::Sender<bool>,
}

impl EventHub {
    pub fn new(settings: StreamSettings) -> Self {
        let (sender, _) = broadcast::channel(settings.buffer.max(1));
        let (following, _) = watch::channel(false);
        EventHub {
            settings,
            sender,
            slots: Arc::new(Semaphore::new(settings.max_streams)),
            started: AtomicBool::new(false),
            following,
        }
    }

    pub fn settings(&self) -> &StreamSettings {
        &self.settings
    }

    /// Starts following `queue`'s event stream, once per hub.
    fn ensure_following(&self, queue: &Queue) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let follower = Follower {
            queue: queue.clone(),
            sender: self.sender.clone(),
            following: self.following.clone(),
            block: self.settings.hub_block,
        };
        tokio::spawn(follower.run());
    }

    /// Waits until the hub follows Redis (at most `hub_wait`).
    async fn wait_following(&self) -> ApiResult<()> {
        let mut following = self.following.subscribe();
        let ready = tokio::time::timeout(
            self.settings.hub_wait,
            following.wait_for(|following| *following),
        )
        .await;
        match ready {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ApiError::Unavailable(Unavailable::EventSource)),
        }
    }

    fn take_slot(&self) -> ApiResult<OwnedSemaphorePermit> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Unavailable(Unavailable::EventStreams))
    }
}

/// The hub's task: follows the stream with its own blocking connection, reconnecting with
/// jittered backoff, and broadcasts every event. A slow stream never holds it up: the
/// broadcast channel drops the oldest messages for a receiver that fell behind.
struct Follower {
    queue: Queue,
    sender: broadcast::Sender<HubMessage>,
    following: watch::Sender<bool>,
    block: Duration,
}

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
const READ_COUNT: usize = 512;

impl Follower {
    async fn run(self) {
        let mut position = None;
        let mut backoff = BACKOFF_START;
        loop {
            let outcome = self.follow(&mut position, &mut backoff).await;
            self.following.send_replace(false);
            if let Err(error) = outcome {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "following the event stream failed; reconnecting");
            }
            tokio::time::sleep(jittered(backoff)).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Connects, finds where to read from, and reads until the connection fails. The
    /// position survives reconnections, so events added meanwhile are still broadcast.
    async fn follow(
        &self,
        position: &mut Option<EventId>,
        backoff: &mut Duration,
    ) -> statesight_store::Result<()> {
        let mut connection = self.queue.blocking_connection(self.block).await?;
        let newest = self
            .queue
            .event_bounds()
            .await?
            .last_generated
            .unwrap_or(EventId::ZERO);
        let mut after = match *position {
            None => newest,
            // The stream is older than what the hub last saw: it was lost and started again.
            Some(seen) if seen > newest => {
                let _ = self.sender.send(HubMessage::Gap);
                newest
            }
            Some(seen) => seen,
        };
        *position = Some(after);
        self.following.send_replace(true);
        *backoff = BACKOFF_START;
        loop {
            let events = self
                .queue
                .read_events_blocking(&mut connection, after, self.block, READ_COUNT)
                .await?;
            for event in events {
                after = event.id;
                *position = Some(after);
                // No receivers is not an error: nobody listens on this replica right now.
                let _ = self.sender.send(HubMessage::Event(Arc::new(event)));
            }
        }
    }
}

/// `base` plus up to half of it again, so replicas do not reconnect in step.
fn jittered(base: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let spread = getrandom::fill(&mut byte).map_or(0, |()| u32::from(byte[0]));
    base + base / 2 * spread / 255
}

/// Why a stream ended (the `reason` of its `end` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    TokenExpired,
    MembershipRevoked,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::TokenExpired => "token_expired",
            EndReason::MembershipRevoked => "membership_revoked",
        }
    }
}

/// Why a stream told its client to refetch (the `reason` of a `reset` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The `Last-Event-ID` is older than what the server keeps.
    EventsMissed,
    /// The stream fell behind the events of the server.
    Lagged,
    /// The event log was lost and started again (Redis restarted without its data).
    StreamRestarted,
}

impl ResetReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::EventsMissed => "events_missed",
            ResetReason::Lagged => "lagged",
            ResetReason::StreamRestarted => "stream_restarted",
        }
    }
}

/// Who a stream is for.
pub struct Subscriber {
    pub user_id: Uuid,
    pub workspace_id: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One open stream: the frames it still has to send, then live events.
pub struct Subscription {
    pool: sqlx::PgPool,
    subscriber: Subscriber,
    receiver: broadcast::Receiver<HubMessage>,
    pending: VecDeque<Event>,
    /// Live events at or before this id were replayed already (or precede a reset).
    sent_through: Option<EventId>,
    heartbeat: Interval,
    expires: Option<Instant>,
    ended: bool,
    _slot: OwnedSemaphorePermit,
    _gauge: OpenStreamGauge,
}

/// Counts the stream in [`OPEN_STREAMS`] while it lives.
struct OpenStreamGauge;

impl OpenStreamGauge {
    fn open() -> Self {
        metrics::gauge!(OPEN_STREAMS).increment(1.0);
        OpenStreamGauge
    }
}

impl Drop for OpenStreamGauge {
    fn drop(&mut self) {
        metrics::gauge!(OPEN_STREAMS).decrement(1.0);
    }
}

/// Events replayed per Redis round trip.
const REPLAY_PAGE: usize = 500;

impl Subscription {
    /// Opens a stream for `subscriber`, resuming after `last_seen` when given. Taken in
    /// this order so that nothing falls between the replay and the live events: a slot,
    /// the hub, a receiver, then the replay (live events it already holds are skipped).
    pub async fn open(
        hub: &EventHub,
        queue: &Queue,
        pool: sqlx::PgPool,
        subscriber: Subscriber,
        last_seen: Option<EventId>,
    ) -> ApiResult<Subscription> {
        let slot = hub.take_slot()?;
        hub.ensure_following(queue);
        hub.wait_following().await?;
        let receiver = hub.sender.subscribe();
        let settings = hub.settings;
        let mut pending = VecDeque::new();
        // The first frame suggests the reconnection delay and shows the stream is open.
        pending.push_back(Event::default().retry(settings.retry).comment("connected"));
        let mut sent_through = None;
        if let Some(last_seen) = last_seen {
            let bounds = queue.event_bounds().await?;
            match bounds.resumption(last_seen) {
                Resumption::Gap => {
                    let newest = bounds.last_generated.unwrap_or(EventId::ZERO);
                    pending.push_back(reset_frame(ResetReason::EventsMissed, Some(newest)));
                    sent_through = Some(newest);
                }
                Resumption::Replay => {
                    let (frames, through) =
                        replay(queue, subscriber.workspace_id, last_seen).await?;
                    pending.extend(frames);
                    sent_through = Some(through);
                }
            }
        }
        let start = Instant::now() + settings.heartbeat;
        let mut heartbeat = tokio::time::interval_at(start, settings.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let expires = subscriber.expires_at.map(|at| {
            let left = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            Instant::now() + left
        });
        Ok(Subscription {
            pool,
            subscriber,
            receiver,
            pending,
            sent_through,
            heartbeat,
            expires,
            ended: false,
            _slot: slot,
            _gauge: OpenStreamGauge::open(),
        })
    }

    /// The next frame to send; `None` once the stream is over.
    pub async fn next_frame(&mut self) -> Option<Event> {
        if let Some(frame) = self.pending.pop_front() {
            return Some(frame);
        }
        if self.ended {
            return None;
        }
        let expiry = self.expires;
        loop {
            tokio::select! {
                biased;
                () = sleep_until(expiry) => return Some(self.end(EndReason::TokenExpired)),
                _ = self.heartbeat.tick() => return Some(self.heartbeat_frame().await),
                message = self.receiver.recv() => {
                    if let Some(frame) = self.on_message(message) {
                        return Some(frame);
                    }
                }
            }
        }
    }

    fn end(&mut self, reason: EndReason) -> Event {
        self.ended = true;
        Event::default()
            .event("end")
            .data(serde_json::json!({ "reason": reason.as_str() }).to_string())
    }

    /// A keep-alive comment, or the end when the caller is no longer a member. A database
    /// that does not answer keeps the stream open: the next heartbeat checks again.
    async fn heartbeat_frame(&mut self) -> Event {
        let role = statesight_store::access::role_in_workspace(
            &self.pool,
            self.subscriber.user_id,
            self.subscriber.workspace_id,
        )
        .await;
        match role {
            // Viewer is the lowest role: any membership may read the stream.
            Ok(Some(_)) => Event::default().comment("keep-alive"),
            Ok(None) => self.end(EndReason::MembershipRevoked),
            Err(error) => {
                tracing::warn!(%error, "could not check an event stream's membership; keeping it open");
                Event::default().comment("keep-alive")
            }
        }
    }

    fn on_message(
        &mut self,
        message: Result<HubMessage, broadcast::error::RecvError>,
    ) -> Option<Event> {
        match message {
            Ok(HubMessage::Event(stored)) => {
                if stored.event.workspace_id != self.subscriber.workspace_id
                    || self
                        .sent_through
                        .is_some_and(|through| stored.id <= through)
                {
                    return None;
                }
                self.sent_through = Some(stored.id);
                Some(event_frame(&stored))
            }
            Ok(HubMessage::Gap) => Some(reset_frame(ResetReason::StreamRestarted, None)),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                metrics::counter!(LAGGED_STREAMS).increment(1);
                tracing::debug!(missed, "an event stream lagged behind the hub");
                Some(reset_frame(ResetReason::Lagged, None))
            }
            // The hub never drops its sender while the process runs.
            Err(broadcast::error::RecvError::Closed) => {
                self.ended = true;
                None
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The workspace's events after `last_seen`, as frames, and the newest id read (of any
/// workspace), through which live events are then skipped.
async fn replay(
    queue: &Queue,
    workspace_id: Uuid,
    last_seen: EventId,
) -> ApiResult<(Vec<Event>, EventId)> {
    let mut frames = Vec::new();
    let mut through = last_seen;
    loop {
        let page = queue.events_after(through, REPLAY_PAGE).await?;
        let full = page.len() == REPLAY_PAGE;
        for stored in &page {
            through = stored.id;
            if stored.event.workspace_id == workspace_id {
                frames.push(event_frame(stored));
            }
        }
        if !full {
            return Ok((frames, through));
        }
    }
}

fn event_frame(stored: &StoredEvent) -> Event {
    // The event was read from JSON, so writing it back cannot fail; an empty object keeps
    // the frame well-formed if it ever did.
    let data = serde_json::to_string(&stored.event).unwrap_or_else(|_| String::from("{}"));
    Event::default()
        .id(stored.id.to_string())
        .event(stored.event.kind.as_str())
        .data(data)
}

/// `event: reset`: the client must refetch what it shows. `id` (when known) is where the
/// stream continues from, so a client reconnecting after it is not told again.
fn reset_frame(reason: ResetReason, id: Option<EventId>) -> Event {
    let data = serde_json::json!({
        "reason": reason.as_str(),
        "message": "events were missed; refetch what you show",
    });
    let frame = Event::default().event("reset").data(data.to_string());
    match id {
        Some(id) => frame.id(id.to_string()),
        None => frame,
    }
}
