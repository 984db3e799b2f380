//! Live updates as pure transitions: the subscription a workspace gets, the debounced
//! reload an event causes (selection kept), the toast of a new critical incident, and the
//! fall back to polling while the stream is down.

use chrono::{DateTime, Duration, Utc};
use crossterm::event::KeyCode;
use statesight_core::wire::{EventKind, IncidentEvent, Recommendation, Severity, WorkspaceEvent};
use statesight_tui::console::app::{App, Cmd, Msg, update};
use statesight_tui::console::live::{LiveState, LiveUpdate};
use statesight_tui::console::theme::Depth;
use uuid::Uuid;

use super::fixtures::*;

fn event(kind: EventKind, incident: Option<IncidentEvent>) -> WorkspaceEvent {
    WorkspaceEvent {
        kind,
        workspace_id: PAYMENTS,
        application_id: Uuid::from_u128(0x501),
        application_name: String::from("ledger"),
        run_id: Some(Uuid::from_u128(0x9001)),
        incident,
        error: None,
        at: now(),
    }
}

fn critical(title: &str) -> IncidentEvent {
    IncidentEvent {
        id: Uuid::from_u128(0x7777),
        title: title.to_owned(),
        severity: Severity::Critical,
        recommendation: Recommendation::Investigate,
        resource: String::from("apps/Deployment/payments/ledger-api"),
        finding_count: 2,
        reopened: false,
        previous_severity: None,
    }
}

fn live(app: &mut App, update_: LiveUpdate) -> Vec<Cmd> {
    update(app, Msg::Live(update_))
}

fn tick(app: &mut App, at: DateTime<Utc>) -> Vec<Cmd> {
    update(app, Msg::Tick(at))
}

fn reloads_applications(commands: &[Cmd]) -> bool {
    commands
        .iter()
        .any(|command| matches!(command, Cmd::FetchApplications { .. }))
}

/// Answers the reload among `commands` (applications, incidents, overview) as the server
/// would, with the same rows.
fn answer_applications(app: &mut App, commands: &[Cmd]) {
    let (overview_seq, apps_seq, incidents_seq) = seqs(commands);
    let rows = applications();
    let open = incidents(&rows);
    let summary = overview(&rows, &open);
    update(
        app,
        Msg::Applications {
            seq: apps_seq,
            first: true,
            result: Ok(reply(rows)),
        },
    );
    update(
        app,
        Msg::Incidents {
            seq: incidents_seq,
            first: true,
            result: Ok(reply(open)),
        },
    );
    update(
        app,
        Msg::Overview {
            seq: overview_seq,
            result: Ok(reply(summary)),
        },
    );
}

#[test]
fn opening_a_workspace_subscribes_to_its_events() {
    let mut app = new_app(Depth::TrueColor, (100, 30));
    let start = app.start();
    let Some(Cmd::FetchMe { seq }) = start.first().cloned() else {
        panic!("{start:?}");
    };
    let commands = update(
        &mut app,
        Msg::Me {
            seq,
            result: Ok(reply(me())),
        },
    );
    assert!(
        commands.contains(&Cmd::Subscribe {
            workspace: PAYMENTS
        }),
        "{commands:?}"
    );
    assert_eq!(app.live, LiveState::Off);
}

#[test]
fn events_reload_the_table_once_after_the_debounce_keeping_the_selection() {
    let mut app = loaded_app(Depth::TrueColor, (100, 30));
    live(&mut app, LiveUpdate::Connected);
    assert_eq!(app.live, LiveState::Live);
    // Connecting catches up once on what happened while nobody listened.
    let catch_up = tick(&mut app, now() + Duration::seconds(1));
    assert!(reloads_applications(&catch_up));
    answer_applications(&mut app, &catch_up);

    update(&mut app, key(KeyCode::Char('j')));
    let selected = app
        .apps_view
        .selected_row()
        .map(|row| app.apps[row].name.clone());
    assert!(selected.is_some());
    // A burst of events is one reload, after the debounce.
    for kind in [
        EventKind::RunStarted,
        EventKind::RunSucceeded,
        EventKind::RunQueued,
    ] {
        assert!(live(&mut app, LiveUpdate::Event(Box::new(event(kind, None)))).is_empty());
    }
    assert!(tick(&mut app, now() + Duration::milliseconds(1200)).is_empty());
    let reload = tick(&mut app, now() + Duration::milliseconds(1600));
    assert!(reloads_applications(&reload), "{reload:?}");
    assert!(tick(&mut app, now() + Duration::milliseconds(2500)).is_empty());
    answer_applications(&mut app, &reload);
    let after = app
        .apps_view
        .selected_row()
        .map(|row| app.apps[row].name.clone());
    assert_eq!(after, selected, "the selection survives the reload");
}

#[test]
fn while_live_the_interval_does_not_poll_and_while_down_it_does() {
    let mut app = loaded_app(Depth::TrueColor, (100, 30));
    live(&mut app, LiveUpdate::Connected);
    let catch_up = tick(&mut app, now() + Duration::seconds(1));
    answer_applications(&mut app, &catch_up);
    // The refresh interval (30 s in the fixtures) passes: nothing is polled.
    assert!(!reloads_applications(&tick(
        &mut app,
        now() + Duration::seconds(40)
    )));
    live(&mut app, LiveUpdate::Down);
    assert_eq!(app.live, LiveState::Polling);
    assert!(reloads_applications(&tick(
        &mut app,
        now() + Duration::seconds(80)
    )));
}

#[test]
fn a_reset_reloads_the_screen() {
    let mut app = loaded_app(Depth::TrueColor, (100, 30));
    live(&mut app, LiveUpdate::Connected);
    let catch_up = tick(&mut app, now() + Duration::seconds(1));
    answer_applications(&mut app, &catch_up);
    live(&mut app, LiveUpdate::Reset);
    assert!(reloads_applications(&tick(
        &mut app,
        now() + Duration::seconds(2)
    )));
}

#[test]
fn a_new_critical_incident_is_announced_escaped_and_others_are_not() {
    let mut app = loaded_app(Depth::TrueColor, (100, 30));
    live(
        &mut app,
        LiveUpdate::Event(Box::new(event(
            EventKind::IncidentChanged,
            Some(critical("replicas drifted")),
        ))),
    );
    assert!(app.status.is_none(), "only openings are announced");
    let mut high = critical("a high one");
    high.severity = Severity::High;
    live(
        &mut app,
        LiveUpdate::Event(Box::new(event(EventKind::IncidentOpened, Some(high)))),
    );
    assert!(
        app.status.is_none(),
        "only critical incidents are announced"
    );

    live(
        &mut app,
        LiveUpdate::Event(Box::new(event(
            EventKind::IncidentOpened,
            Some(critical("image \u{1b}[31mchanged\u{202e}")),
        ))),
    );
    let status = app.status.clone().expect("a toast");
    assert!(!status.error);
    assert!(
        status
            .text
            .starts_with("new critical incident in ledger: image "),
        "{}",
        status.text
    );
    assert!(
        !status
            .text
            .chars()
            .any(|c| c == '\u{1b}' || c == '\u{202e}'),
        "{:?}",
        status.text
    );
    let shown = text(render(&app).backend().buffer());
    assert!(shown.contains("new critical incident in ledger"), "{shown}");
    // A transient message: gone after a few seconds.
    tick(&mut app, now() + Duration::seconds(10));
    assert!(app.status.is_none());
}

#[test]
fn the_header_says_whether_screens_are_live_or_polling() {
    let mut app = loaded_app(Depth::TrueColor, (120, 30));
    let before = text(render(&app).backend().buffer());
    assert!(!before.contains("· live") && !before.contains("· polling"));
    live(&mut app, LiveUpdate::Connected);
    let shown = text(render(&app).backend().buffer());
    insta::assert_snapshot!("header_live", shown.lines().next().unwrap_or_default());
    assert!(
        shown
            .lines()
            .next()
            .is_some_and(|line| line.contains("● ok · live"))
    );
    live(&mut app, LiveUpdate::Down);
    let shown = text(render(&app).backend().buffer());
    assert!(
        shown
            .lines()
            .next()
            .is_some_and(|line| line.contains("● ok · polling"))
    );
}

/// The next frame that is an event, within a few seconds.
async fn next_event(
    stream: &mut statesight_tui::client::EventStream,
) -> statesight_tui::sse::Frame {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("a frame in time")
            .expect("reading the stream")
            .expect("the stream is open");
        if frame.event.is_some() {
            return frame;
        }
    }
}

async fn analyze(client: &statesight_tui::client::ApiClient, application: u128) {
    let path = format!(
        "/api/v1/applications/{}/analyze",
        Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000000 + application)
    );
    client
        .send(
            reqwest::Method::POST,
            &path,
            Some(&serde_json::json!({})),
            None,
        )
        .await
        .expect("requesting an analysis");
}

/// The real client against a real server in process: a real analysis request arrives as
/// `run.queued`, and a stream reopened with the last id received gets what it missed.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_client_reads_real_events_and_resumes_after_the_last_one(pool: sqlx::PgPool) {
    super::served::seeded(&pool).await;
    let server = super::served::Server::start(&pool).await;
    let client = server.client();
    let mut stream = client.events(PAYMENTS, None).await.expect("opening");
    analyze(&client, 0x501).await;
    let queued = next_event(&mut stream).await;
    assert_eq!(queued.event.as_deref(), Some("run.queued"));
    let event: WorkspaceEvent = serde_json::from_str(&queued.data).expect("an event");
    assert_eq!(event.application_name, "ledger");
    let last = stream.last_id().map(str::to_owned).expect("an id");
    drop(stream);

    analyze(&client, 0x502).await;
    let mut resumed = client
        .events(PAYMENTS, Some(&last))
        .await
        .expect("reopening");
    let missed = next_event(&mut resumed).await;
    let event: WorkspaceEvent = serde_json::from_str(&missed.data).expect("an event");
    assert_eq!(event.application_name, "checkout-api");
    assert_ne!(resumed.last_id(), Some(last.as_str()));

    let refused = client.events(Uuid::from_u128(0xdead), None).await;
    assert_eq!(refused.err().and_then(|error| error.status()), Some(404));
    server.stop().await;
}
