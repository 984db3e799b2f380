//! The console's one event-stream subscription (the I/O side of [`super::live`]): opens
//! `GET /api/v1/events` for the workspace in view, turns frames into `Msg::Live`, and
//! reconnects with `Last-Event-ID` after jittered, growing pauses. Each connection asks the
//! credentials for a token afresh, so a stream ended by `token_expired` reconnects with a
//! refreshed one; while it is down the console polls.

use std::time::Duration;

use statesight_core::wire::WorkspaceEvent;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::app::Msg;
use super::live::LiveUpdate;
use crate::client::{ApiClient, ClientError};
use crate::sse::Frame;

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Follows `workspace`'s events until the task is aborted (the workspace changes or the
/// console quits) or the console stops listening.
pub async fn follow(client: ApiClient, workspace: Uuid, sender: mpsc::UnboundedSender<Msg>) {
    let mut last_id: Option<String> = None;
    let mut backoff = BACKOFF_START;
    loop {
        match client.events(workspace, last_id.as_deref()).await {
            Ok(mut stream) => {
                backoff = BACKOFF_START;
                if sender.send(Msg::Live(LiveUpdate::Connected)).is_err() {
                    return;
                }
                let outcome = read(&mut stream, &sender).await;
                last_id = stream.last_id().map(str::to_owned);
                if outcome.is_err() {
                    return;
                }
            }
            // 404 after `membership_revoked` or a sign-in needed: the status bar of the next
            // request says why; the stream keeps trying slowly meanwhile.
            Err(error) => {
                if is_permanent(&error) {
                    backoff = BACKOFF_MAX;
                }
            }
        }
        if sender.send(Msg::Live(LiveUpdate::Down)).is_err() {
            return;
        }
        tokio::time::sleep(jittered(backoff)).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Reads frames until the stream ends or fails; `Err` only when the console is gone.
async fn read(
    stream: &mut crate::client::EventStream,
    sender: &mpsc::UnboundedSender<Msg>,
) -> Result<(), ()> {
    loop {
        let frame = match stream.next().await {
            Ok(Some(frame)) => frame,
            // Closed by the server (`end`, a restart) or silent: reconnect.
            Ok(None) | Err(_) => return Ok(()),
        };
        if let Some(update) = update_of(&frame) {
            sender.send(Msg::Live(update)).map_err(|_| ())?;
        }
    }
}

/// What a frame means to the console; `None` for frames it does not act on (`end` is
/// followed by the server closing the stream, which reconnects).
pub fn update_of(frame: &Frame) -> Option<LiveUpdate> {
    match frame.event.as_deref()? {
        "reset" => Some(LiveUpdate::Reset),
        "end" => None,
        _ => serde_json::from_str::<WorkspaceEvent>(&frame.data)
            .ok()
            .map(|event| LiveUpdate::Event(Box::new(event))),
    }
}

fn is_permanent(error: &ClientError) -> bool {
    matches!(error, ClientError::Credentials(_)) || matches!(error.status(), Some(400..=499))
}

/// `base` plus up to half of it again, so consoles do not reconnect in step after a
/// server restart. The clock's nanoseconds are random enough for spreading reconnections.
fn jittered(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    base + base / 2 * (nanos % 1000) / 1000
}
