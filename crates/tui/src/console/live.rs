//! Live updates in the console: what the event stream of the open workspace changes on
//! screen. The runtime keeps one subscription (`Cmd::Subscribe`) and turns what it reads
//! into `Msg::Live`; here, each update is a pure state change: the indicator, a debounced
//! reload of the screen in view when an event concerns it, and a toast for a new critical
//! incident whatever the screen.

use std::time::Duration;

use statesight_core::wire::{EventKind, Severity, WorkspaceEvent};

use super::app::{App, Cmd, Screen};

/// Events arriving within this window after the first cause one reload: a run finishing
/// announces several incidents at once.
pub const LIVE_DEBOUNCE: Duration = Duration::from_millis(500);

/// Whether the screens follow the event stream or poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LiveState {
    /// No subscription yet (no workspace open): nothing is shown.
    #[default]
    Off,
    /// The stream is open: screens reload when an event concerns them.
    Live,
    /// The stream is unavailable: screens reload on the refresh interval until it is back.
    Polling,
}

/// What the subscription reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveUpdate {
    /// The stream of the open workspace is open.
    Connected,
    /// An event of the open workspace.
    Event(Box<WorkspaceEvent>),
    /// Events were missed: everything shown must be fetched again.
    Reset,
    /// The stream is down (the runtime reconnects with backoff); `reason` is for the log
    /// line of the status bar, never shown raw.
    Down,
}

/// The one transition of a live update.
pub(super) fn on_live(app: &mut App, update: LiveUpdate) -> Vec<Cmd> {
    match update {
        LiveUpdate::Connected => {
            let was_polling = app.live != LiveState::Live;
            app.live = LiveState::Live;
            // Whatever happened while the stream was down is fetched once.
            if was_polling {
                schedule_reload(app);
            }
        }
        LiveUpdate::Down => app.live = LiveState::Polling,
        LiveUpdate::Reset => schedule_reload(app),
        LiveUpdate::Event(event) => {
            announce(app, &event);
            if concerns_screen(app, &event) {
                schedule_reload(app);
            }
        }
    }
    Vec::new()
}

/// The debounced reload, when its time has come (called on every tick).
pub(super) fn reload_if_due(app: &mut App) -> Vec<Cmd> {
    let Some(at) = app.live_reload_at else {
        return Vec::new();
    };
    if app.now < at {
        return Vec::new();
    }
    app.live_reload_at = None;
    // Typing or a dialog: the ordinary refresh catches up when it is done.
    if app.overlay.is_some() || app.sign_in.is_some() {
        return Vec::new();
    }
    app.reload_screen()
}

fn schedule_reload(app: &mut App) {
    if app.live_reload_at.is_none() {
        let debounce = chrono::Duration::from_std(LIVE_DEBOUNCE).unwrap_or_default();
        app.live_reload_at = Some(app.now + debounce);
    }
}

/// Whether `event` changes what the screen in view shows.
fn concerns_screen(app: &App, event: &WorkspaceEvent) -> bool {
    match app.screen() {
        Screen::Overview | Screen::Applications | Screen::Incidents => true,
        Screen::Application(id) => event.application_id == id,
        Screen::Incident(id) => event
            .incident
            .as_ref()
            .is_some_and(|incident| incident.id == id),
        // The editor previews the findings it loaded when it opened.
        Screen::RuleEditor => false,
    }
}

/// A new critical incident is announced on any screen (an error status is not hidden).
fn announce(app: &mut App, event: &WorkspaceEvent) {
    let Some(incident) = &event.incident else {
        return;
    };
    if event.kind != EventKind::IncidentOpened || incident.severity != Severity::Critical {
        return;
    }
    if app.status.as_ref().is_some_and(|status| status.error) {
        return;
    }
    let what = if incident.reopened {
        "critical incident reopened"
    } else {
        "new critical incident"
    };
    // `set_info` escapes the whole line: the title and names come from the server.
    app.set_info(&format!(
        "{what} in {}: {} ({})",
        event.application_name, incident.title, incident.resource
    ));
}
