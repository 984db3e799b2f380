//! `update` as a pure function: messages in, state and commands out.

use std::path::Path;
use std::time::Duration;

use crossterm::event::KeyCode;
use statesight_core::wire::RunStatus;
use statesight_tui::client::{ClientError, CredentialError};
use statesight_tui::console::app::{Cmd, Connection, Msg, Overlay, Screen, SignInPhase, update};
use statesight_tui::console::keys::Keymap;
use statesight_tui::console::theme::Depth;
use uuid::Uuid;

use super::fixtures::*;

fn names(app: &statesight_tui::console::app::App) -> Vec<String> {
    app.apps_view
        .visible
        .iter()
        .map(|&i| app.apps[i].name.clone())
        .collect()
}

fn workspace_fetches(commands: &[Cmd]) -> Vec<Uuid> {
    commands
        .iter()
        .filter_map(|command| match command {
            Cmd::FetchOverview { workspace, .. }
            | Cmd::FetchApplications { workspace, .. }
            | Cmd::FetchIncidents { workspace, .. } => Some(*workspace),
            _ => None,
        })
        .collect()
}

#[test]
fn start_asks_who_i_am_then_loads_the_first_workspace() {
    let mut app = new_app(Depth::TrueColor, (80, 24));
    let commands = app.start();
    assert_eq!(commands, vec![Cmd::FetchMe { seq: 1 }]);
    assert_eq!(app.connection, Connection::Connecting);
    let commands = update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Ok(reply(me())),
        },
    );
    assert_eq!(app.connection, Connection::Ok);
    assert_eq!(workspace_fetches(&commands), vec![PAYMENTS; 3]);
    assert!(commands.contains(&Cmd::FetchApplications {
        seq: 3,
        workspace: PAYMENTS,
        cursor: None
    }));
    assert_eq!(
        app.workspace.as_ref().map(|w| w.name.as_str()),
        Some("acme-payments")
    );
}

#[test]
fn applications_are_paginated_until_the_last_page() {
    let mut app = new_app(Depth::TrueColor, (80, 24));
    app.start();
    let commands = update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Ok(reply(me())),
        },
    );
    let (_, seq, _) = seqs(&commands);
    let all = applications();
    let commands = update(
        &mut app,
        Msg::Applications {
            seq,
            first: true,
            result: Ok(page(all[..2].to_vec(), "cursor-2")),
        },
    );
    assert_eq!(
        commands,
        vec![Cmd::FetchApplications {
            seq,
            workspace: PAYMENTS,
            cursor: Some(String::from("cursor-2")),
        }]
    );
    assert!(app.apps_load.loading);
    assert!(app.has_data(), "the first page is drawn at once");
    assert_eq!(app.apps.len(), 2);
    let commands = update(
        &mut app,
        Msg::Applications {
            seq,
            first: false,
            result: Ok(reply(all[2..].to_vec())),
        },
    );
    assert!(commands.is_empty());
    assert_eq!(app.apps.len(), 4);
    assert!(app.apps_load.complete);
    assert!(!app.apps_load.loading);
    assert_eq!(
        names(&app),
        ["billing-worker", "checkout-api", "ledger", "payouts"]
    );
}

#[test]
fn stale_replies_are_dropped() {
    let mut app = new_app(Depth::TrueColor, (80, 24));
    app.start();
    let first = update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Ok(reply(me())),
        },
    );
    let (old_overview, old_apps, old_incidents) = seqs(&first);
    // The user switches to the platform workspace before the payments answers arrive.
    update(&mut app, key(KeyCode::Char(':')));
    type_text(&mut app, "ws acme-platform");
    let switched = press(&mut app, KeyCode::Enter);
    assert_eq!(workspace_fetches(&switched), vec![PLATFORM; 3]);
    let (overview_seq, apps_seq, _) = seqs(&switched);
    assert!(apps_seq > old_apps && overview_seq > old_overview);

    // The old answers arrive late: ignored, including a next page they would ask for.
    let late = update(
        &mut app,
        Msg::Applications {
            seq: old_apps,
            first: true,
            result: Ok(page(applications(), "more")),
        },
    );
    assert!(late.is_empty());
    assert!(app.apps.is_empty());
    let late = update(
        &mut app,
        Msg::Overview {
            seq: old_overview,
            result: Ok(reply(overview(&applications(), &[]))),
        },
    );
    assert!(late.is_empty());
    assert!(app.overview.is_none());
    update(
        &mut app,
        Msg::Incidents {
            seq: old_incidents,
            first: true,
            result: Err(ClientError::Unreachable {
                server: String::from("http://127.0.0.1:8080/"),
                reason: String::from("connection refused"),
            }),
        },
    );
    assert!(
        app.status.as_ref().is_none_or(|s| !s.error),
        "a stale failure says nothing"
    );
    assert_eq!(app.connection, Connection::Ok);

    // The current answer is taken.
    let platform_apps = applications()[..1].to_vec();
    update(
        &mut app,
        Msg::Applications {
            seq: apps_seq,
            first: true,
            result: Ok(reply(platform_apps)),
        },
    );
    assert_eq!(names(&app), ["billing-worker"]);
    // A reply to an already finished load (e.g. a duplicate) is dropped too.
    let again = update(
        &mut app,
        Msg::Applications {
            seq: apps_seq,
            first: true,
            result: Ok(reply(applications())),
        },
    );
    assert!(again.is_empty());
    assert_eq!(app.apps.len(), 1);
}

#[test]
fn filter_narrows_rows_and_esc_clears_it() {
    let mut app = loaded_app(Depth::TrueColor, (80, 24));
    press(&mut app, KeyCode::Char('/'));
    assert!(app.apps_view.editing);
    type_text(&mut app, "staging");
    assert_eq!(names(&app), ["billing-worker", "checkout-api"]);
    type_text(&mut app, " check");
    assert_eq!(names(&app), ["checkout-api"]);
    // Keys typed into the filter are text, not commands.
    assert_eq!(app.screen(), Screen::Applications);
    press(&mut app, KeyCode::Enter);
    assert!(!app.apps_view.editing);
    assert_eq!(app.apps_view.filter, "staging check");
    // Esc first clears the filter; the selection stays on its row.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.apps_view.filter, "");
    assert_eq!(names(&app).len(), 4);
    let selected = app
        .apps_view
        .selected_row()
        .map(|i| app.apps[i].name.clone());
    assert_eq!(selected.as_deref(), Some("checkout-api"));
    // Filters match the cleaned text of every column, case-insensitively.
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "PROD-EU");
    assert_eq!(names(&app), ["ledger", "payouts"]);
    update(&mut app, ctrl('w'));
    assert_eq!(names(&app).len(), 4);
    type_text(&mut app, "failed");
    assert_eq!(names(&app), ["checkout-api"]);
    press(&mut app, KeyCode::Esc);
    assert!(!app.apps_view.editing);
    assert_eq!(names(&app).len(), 4);
}

#[test]
fn sort_cycles_columns_and_reverses() {
    let mut app = loaded_app(Depth::TrueColor, (80, 24));
    assert_eq!(
        names(&app),
        ["billing-worker", "checkout-api", "ledger", "payouts"]
    );
    press(&mut app, KeyCode::Char('s')); // cluster, then name
    assert_eq!(
        names(&app),
        ["ledger", "payouts", "billing-worker", "checkout-api"]
    );
    press(&mut app, KeyCode::Char('S')); // ties stay by name whichever way
    assert_eq!(
        names(&app),
        ["billing-worker", "checkout-api", "ledger", "payouts"]
    );
    assert!(app.apps_view.descending);
    press(&mut app, KeyCode::Char('s')); // namespace
    press(&mut app, KeyCode::Char('s')); // source@rev
    press(&mut app, KeyCode::Char('s')); // analysis: newest first, never analysed last
    assert_eq!(
        names(&app),
        ["checkout-api", "billing-worker", "ledger", "payouts"]
    );
    press(&mut app, KeyCode::Char('s')); // incidents: worst first
    // billing: 1 critical, 1 low; ledger: 1 critical, 1 high, 1 medium; checkout: 1 high…
    assert_eq!(
        names(&app),
        ["ledger", "billing-worker", "checkout-api", "payouts"]
    );
    assert!(
        app.status
            .as_ref()
            .is_some_and(|s| s.text == "sorted by incidents ▼")
    );
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.apps_view.sort, 0, "back to the name");
}

#[test]
fn navigation_moves_and_clamps() {
    let mut app = loaded_app(Depth::TrueColor, (80, 24));
    let selected = |app: &statesight_tui::console::app::App| app.apps_view.selected;
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Down);
    assert_eq!(selected(&app), 2);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(selected(&app), 1);
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(selected(&app), 3);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(selected(&app), 3);
    press(&mut app, KeyCode::Char('g'));
    assert_eq!(selected(&app), 0);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(selected(&app), 0);
}

#[test]
fn thousands_of_rows_scroll_by_pages() {
    let mut app = new_app(Depth::TrueColor, (80, 24));
    app.start();
    let commands = update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Ok(reply(me())),
        },
    );
    let (_, seq, _) = seqs(&commands);
    let many: Vec<_> = (0..5000u128)
        .map(|i| {
            let name = format!("app-{i:05}");
            application(&AppSpec {
                id: 0x10000 + i,
                name: &name,
                cluster: "c",
                namespace: "n",
                source: "s",
                revision: None,
                status: Some(RunStatus::Succeeded),
                minutes_ago: 1,
                open: 0,
                highest: None,
            })
        })
        .collect();
    update(
        &mut app,
        Msg::Applications {
            seq,
            first: true,
            result: Ok(reply(many)),
        },
    );
    let rows = app.table_rows();
    assert_eq!(rows, 19, "80×24 shows 19 rows");
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.apps_view.selected, rows);
    assert_eq!(app.apps_view.offset, 1);
    press(&mut app, KeyCode::End);
    assert_eq!(app.apps_view.selected, 4999);
    assert_eq!(app.apps_view.offset, 4999 + 1 - rows);
    // Drawing touches only the visible rows; a frame stays cheap.
    let started = std::time::Instant::now();
    for _ in 0..50 {
        render(&app);
    }
    let per_frame = started.elapsed() / 50;
    assert!(
        per_frame < Duration::from_millis(20),
        "{per_frame:?} per frame"
    );
}

#[test]
fn palette_completes_commands_and_workspace_names() {
    let mut app = loaded_app(Depth::TrueColor, (80, 24));
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "w");
    press(&mut app, KeyCode::Tab);
    let input = |app: &statesight_tui::console::app::App| match &app.overlay {
        Some(Overlay::Palette(palette)) => palette.input.clone(),
        other => panic!("the palette is closed: {other:?}"),
    };
    assert_eq!(input(&app), "ws ");
    type_text(&mut app, "acme-pl");
    press(&mut app, KeyCode::Tab);
    assert_eq!(input(&app), "ws acme-platform");
    let commands = press(&mut app, KeyCode::Enter);
    assert!(app.overlay.is_none());
    assert_eq!(workspace_fetches(&commands), vec![PLATFORM; 3]);
    assert_eq!(app.workspace.as_ref().map(|w| w.id), Some(PLATFORM));
    assert!(app.apps.is_empty(), "the old workspace's rows are gone");

    // Screens by name; unknown commands are errors in the status line.
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "inc");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen(), Screen::Incidents);
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "ov");
    press(&mut app, KeyCode::Tab);
    assert_eq!(input(&app), "overview");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen(), Screen::Overview);
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "pods");
    press(&mut app, KeyCode::Enter);
    let status = app.status.clone().expect("an error");
    assert!(
        status.error && status.text.starts_with("unknown command :pods"),
        "{status:?}"
    );
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "ws nope");
    press(&mut app, KeyCode::Enter);
    let status = app.status.clone().expect("an error");
    assert!(status.text.contains("no workspace \"nope\""), "{status:?}");
    assert_eq!(app.workspace.as_ref().map(|w| w.id), Some(PLATFORM));
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "q");
    assert_eq!(press(&mut app, KeyCode::Enter), vec![Cmd::Quit]);
}

#[test]
fn quitting_and_going_back() {
    let mut app = loaded_app(Depth::TrueColor, (80, 24));
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.screen(), Screen::Application(_)));
    // q leaves a pushed screen, quits on the top one; Esc goes back too.
    assert!(press(&mut app, KeyCode::Char('q')).is_empty());
    assert_eq!(app.screen(), Screen::Applications);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen(), Screen::Applications);
    assert_eq!(press(&mut app, KeyCode::Char('q')), vec![Cmd::Quit]);
    // Ctrl-C quits from anywhere, even while typing a filter or in the palette.
    press(&mut app, KeyCode::Char('/'));
    assert_eq!(update(&mut app, ctrl('c')), vec![Cmd::Quit]);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char(':'));
    assert_eq!(update(&mut app, ctrl('c')), vec![Cmd::Quit]);
    // Screen keys.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('1'));
    assert_eq!(app.screen(), Screen::Overview);
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(app.screen(), Screen::Incidents);
    press(&mut app, KeyCode::Char('2'));
    assert_eq!(app.screen(), Screen::Applications);
}

#[test]
fn help_lists_the_screen_keys_and_filters_as_you_type() {
    let mut app = loaded_app(Depth::TrueColor, (80, 24));
    press(&mut app, KeyCode::Char('?'));
    let rows = statesight_tui::console::draw::help_rows(&app, "");
    assert!(
        rows.iter()
            .any(|r| r.section == "applications" && r.action == "sort" && r.keys == "s")
    );
    assert!(
        rows.iter()
            .any(|r| r.section == "global" && r.action == "quit" && r.keys == "q")
    );
    type_text(&mut app, "sort");
    let Some(Overlay::Help(help)) = &app.overlay else {
        panic!("help is open");
    };
    assert_eq!(help.filter, "sort");
    let rows = statesight_tui::console::draw::help_rows(&app, &help.filter);
    assert_eq!(
        rows.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
        ["sort", "reverse_sort"]
    );
    // On the overview there is no sort.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('1'));
    assert!(
        statesight_tui::console::draw::help_rows(&app, "sort").is_empty(),
        "no sort on the overview"
    );
}

#[test]
fn a_remapped_key_works_and_the_old_one_is_gone() {
    let keymap = Keymap::from_toml(
        "[global]\nquit = [\"x\"]\n[applications]\nsort = [\"o\"]\n",
        Path::new("/config/keys.toml"),
    )
    .expect("a valid file");
    let mut app = new_app_with(Depth::TrueColor, (80, 24), keymap, false);
    let applications = applications();
    let incidents = incidents(&applications);
    load(&mut app, applications, incidents);
    assert!(press(&mut app, KeyCode::Char('q')).is_empty());
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.apps_view.sort, 0);
    press(&mut app, KeyCode::Char('o'));
    assert_eq!(app.apps_view.sort, 1);
    let rows = statesight_tui::console::draw::help_rows(&app, "quit");
    assert_eq!(rows.first().map(|r| r.keys.as_str()), Some("x"));
    assert_eq!(press(&mut app, KeyCode::Char('x')), vec![Cmd::Quit]);
}

#[test]
fn errors_show_the_request_id_and_clear_on_success() {
    let mut app = new_app(Depth::TrueColor, (80, 24));
    app.start();
    let commands = update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Ok(reply(me())),
        },
    );
    let (overview_seq, _, _) = seqs(&commands);
    update(
        &mut app,
        Msg::Overview {
            seq: overview_seq,
            result: Err(ClientError::Api {
                status: 503,
                code: String::from("unavailable"),
                message: String::from("PostgreSQL does not answer\u{1b}[2J"),
                request_id: Some(String::from("01a22f95-d2b0")),
                body: serde_json::Value::Null,
            }),
        },
    );
    let status = app.status.clone().expect("an error");
    assert!(status.error);
    assert_eq!(
        status.text,
        "loading the overview: PostgreSQL does not answer\\u{1b}[2J (HTTP 503 unavailable)"
    );
    assert_eq!(status.request_id.as_deref(), Some("01a22f95-d2b0"));
    assert_eq!(app.connection, Connection::Error);
    // r reloads; the success clears the error.
    let commands = press(&mut app, KeyCode::Char('r'));
    let (overview_seq, _, _) = seqs(&commands);
    update(
        &mut app,
        Msg::Overview {
            seq: overview_seq,
            result: Ok(reply(overview(&applications(), &[]))),
        },
    );
    assert_eq!(app.connection, Connection::Ok);
    assert!(app.status.as_ref().is_none_or(|s| !s.error));
}

fn signed_out() -> ClientError {
    ClientError::Credentials(CredentialError::SignInRequired(String::from(
        "the refresh token was revoked",
    )))
}

#[test]
fn a_revoked_sign_in_opens_the_modal_and_retries_after_it() {
    let mut app = new_app_with(Depth::TrueColor, (80, 24), Keymap::defaults(), true);
    app.start();
    let commands = update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Err(signed_out()),
        },
    );
    let Some(Cmd::BeginSignIn { seq }) = commands.first().cloned() else {
        panic!("a sign-in starts: {commands:?}");
    };
    assert_eq!(app.connection, Connection::SignedOut);
    assert!(matches!(
        app.sign_in.as_ref().map(|s| &s.phase),
        Some(SignInPhase::Starting)
    ));
    // Other requests failing the same way do not start a second sign-in.
    assert!(
        update(
            &mut app,
            Msg::Me {
                seq: 1,
                result: Err(signed_out())
            }
        )
        .is_empty()
    );
    // Keys other than Esc do nothing while the modal is up.
    assert!(press(&mut app, KeyCode::Char('q')).is_empty());
    update(
        &mut app,
        Msg::SignInCode {
            seq,
            user_code: String::from("WDJB-MJHT"),
            verification_uri: String::from("https://id.example/device"),
            verification_uri_complete: Some(String::from(
                "https://id.example/device?user_code=WDJB-MJHT",
            )),
            expires_in: Duration::from_secs(600),
        },
    );
    let Some(SignInPhase::Waiting {
        user_code,
        deadline,
        ..
    }) = app.sign_in.as_ref().map(|s| s.phase.clone())
    else {
        panic!("waiting for the user");
    };
    assert_eq!(user_code, "WDJB-MJHT");
    assert_eq!(deadline, now() + chrono::Duration::seconds(600));
    // Approved: the modal closes and the failed request is made again.
    let commands = update(
        &mut app,
        Msg::SignInDone {
            seq,
            result: Ok(()),
        },
    );
    assert!(app.sign_in.is_none());
    assert!(
        matches!(commands.as_slice(), [Cmd::FetchMe { .. }]),
        "{commands:?}"
    );
}

#[test]
fn a_failed_sign_in_can_be_retried_or_cancelled() {
    let mut app = new_app_with(Depth::TrueColor, (80, 24), Keymap::defaults(), true);
    app.start();
    let commands = update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Err(signed_out()),
        },
    );
    let Some(Cmd::BeginSignIn { seq }) = commands.first().cloned() else {
        panic!("a sign-in starts");
    };
    update(
        &mut app,
        Msg::SignInDone {
            seq,
            result: Err(String::from("access_denied\u{1b}]52;c;x\u{7}")),
        },
    );
    let Some(SignInPhase::Failed(error)) = app.sign_in.as_ref().map(|s| s.phase.clone()) else {
        panic!("failed");
    };
    assert_eq!(error, "access_denied\\u{1b}]52;c;x\\u{7}");
    let commands = press(&mut app, KeyCode::Enter);
    let Some(Cmd::BeginSignIn { seq: again }) = commands.first().cloned() else {
        panic!("Enter tries again: {commands:?}");
    };
    assert!(again > seq);
    // The old attempt's late answer is ignored.
    update(
        &mut app,
        Msg::SignInDone {
            seq,
            result: Ok(()),
        },
    );
    assert!(app.sign_in.is_some());
    assert_eq!(press(&mut app, KeyCode::Esc), vec![Cmd::CancelSignIn]);
    assert!(app.sign_in.is_none());
    assert_eq!(app.connection, Connection::SignedOut);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|s| s.text.contains("sign-in cancelled"))
    );
}

#[test]
fn without_a_way_to_sign_in_the_status_says_what_to_do() {
    let mut app = new_app(Depth::TrueColor, (80, 24));
    app.start();
    let commands = update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Err(signed_out()),
        },
    );
    assert!(commands.is_empty());
    assert!(app.sign_in.is_none());
    assert_eq!(app.connection, Connection::SignedOut);
    let status = app.status.clone().expect("an error");
    assert!(status.text.contains("statesight-tui login"), "{status:?}");
}

#[test]
fn pasted_text_goes_into_prompts_without_controls_and_is_ignored_elsewhere() {
    let mut app = loaded_app(Depth::TrueColor, (80, 24));
    // Outside a prompt a paste must not run keys (q would quit).
    assert!(update(&mut app, Msg::Paste(String::from("qqq"))).is_empty());
    press(&mut app, KeyCode::Char('/'));
    update(&mut app, Msg::Paste(String::from("led\u{1b}[2Jger\n")));
    assert_eq!(app.apps_view.filter, "led[2Jger");
}

#[test]
fn an_unreachable_server_is_reported_by_its_root_cause() {
    let mut app = new_app(Depth::TrueColor, (80, 24));
    app.start();
    update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Err(ClientError::Unreachable {
                server: String::from("http://127.0.0.1:1/"),
                reason: String::from(
                    "error sending request for url (http://127.0.0.1:1/api/v1/me): client error \
                     (Connect): tcp connect error: Connection refused (os error 111)",
                ),
            }),
        },
    );
    let status = app.status.clone().expect("an error");
    assert_eq!(
        status.text,
        "loading your workspaces: cannot reach http://127.0.0.1:1: tcp connect error: \
         Connection refused (os error 111)"
    );
    assert_eq!(app.connection, Connection::Error);
}

/// The workspace opened is remembered for the next start (`-w` not given): once when the
/// first one opens, again on `:ws`, and a remembered workspace is what opens next time.
#[test]
fn the_workspace_opened_is_remembered_and_reopened() {
    let remembered = |commands: &[Cmd]| -> Vec<Uuid> {
        commands
            .iter()
            .filter_map(|command| match command {
                Cmd::RememberWorkspace { id, .. } => Some(*id),
                _ => None,
            })
            .collect()
    };
    let mut app = new_app(Depth::TrueColor, (80, 24));
    app.start();
    let opened = update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Ok(reply(me())),
        },
    );
    assert_eq!(remembered(&opened), vec![PAYMENTS]);
    update(&mut app, key(KeyCode::Char(':')));
    type_text(&mut app, "ws acme-platform");
    let switched = press(&mut app, KeyCode::Enter);
    assert_eq!(remembered(&switched), vec![PLATFORM]);

    // Next start: the remembered workspace opens, not the first.
    let mut next = new_app_remembering(Depth::TrueColor, (80, 24), Some(PLATFORM));
    next.start();
    let reopened = update(
        &mut next,
        Msg::Me {
            seq: 1,
            result: Ok(reply(me())),
        },
    );
    assert_eq!(workspace_fetches(&reopened), vec![PLATFORM; 3]);
}

fn checkout_screen() -> (
    statesight_tui::console::app::App,
    statesight_core::wire::Application,
) {
    let app = application_app(Depth::Mono, (80, 24), "checkout-api");
    let application = applications()
        .into_iter()
        .find(|a| a.name == "checkout-api")
        .expect("fixture");
    (app, application)
}

#[test]
fn application_tabs_switch_with_tab_shift_tab_and_digits() {
    use statesight_tui::console::appscreen::Tab;
    let (mut app, _) = checkout_screen();
    let tab =
        |app: &statesight_tui::console::app::App| app.application.as_ref().expect("present").tab;
    assert_eq!(tab(&app), Tab::Incidents);
    press(&mut app, KeyCode::Tab);
    assert_eq!(tab(&app), Tab::Suppressed);
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    assert_eq!(tab(&app), Tab::Analyses);
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(tab(&app), Tab::IgnoreRules);
    // On the application screen, 1–4 are tabs, not the global screens.
    press(&mut app, KeyCode::Char('1'));
    assert_eq!(tab(&app), Tab::Incidents);
    assert!(matches!(app.screen(), Screen::Application(_)));
    // Leaving the screen forgets it.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen(), Screen::Applications);
    assert!(app.application.is_none());
}

#[test]
fn application_incidents_sort_by_severity_then_recency() {
    let (app, _) = checkout_screen();
    let screen = app.application.as_ref().expect("present");
    let rows = screen.incidents();
    assert!(!rows.is_empty());
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0].row, &pair[1].row);
        assert!(
            a.severity > b.severity || (a.severity == b.severity && a.last_seen >= b.last_seen),
            "{a:?} before {b:?}"
        );
    }
}

#[test]
fn application_stale_replies_are_dropped() {
    let (mut app, application) = checkout_screen();
    let first = press(&mut app, KeyCode::Char('r'));
    let second = press(&mut app, KeyCode::Char('r'));
    let old_seq = first
        .iter()
        .find_map(|c| match c {
            Cmd::FetchAnalyses { seq, .. } => Some(*seq),
            _ => None,
        })
        .expect("present");
    // The older reload answers last with nothing: it is ignored.
    update(
        &mut app,
        Msg::Analyses {
            seq: old_seq,
            first: true,
            result: Ok(reply(Vec::new())),
        },
    );
    assert_eq!(app.application.as_ref().expect("present").runs.len(), 3);
    answer_application(&mut app, second, &application, &[]);
    assert!(!app.application.as_ref().expect("present").loading());
    assert!(app.application.as_ref().expect("present").open.is_empty());
}

#[test]
fn application_refresh_keeps_the_selection_by_id() {
    let (mut app, application) = checkout_screen();
    press(&mut app, KeyCode::Char('4'));
    press(&mut app, KeyCode::Down);
    let screen = app.application.as_ref().expect("present");
    let selected = screen.cursors[3].id.expect("present");
    assert_eq!(screen.cursors[3].position, 1);
    let commands = press(&mut app, KeyCode::Char('r'));
    // A new run arrived on top: the selection stays on its run, one row lower.
    for command in commands {
        if let Cmd::FetchAnalyses { seq, .. } = command {
            let mut runs = runs(&application);
            runs.insert(0, run(&application, 0x7ff, RunStatus::Queued, 0));
            update(
                &mut app,
                Msg::Analyses {
                    seq,
                    first: true,
                    result: Ok(reply(runs)),
                },
            );
        }
    }
    let screen = app.application.as_ref().expect("present");
    assert_eq!(screen.cursors[3].id, Some(selected));
    assert_eq!(screen.cursors[3].position, 2);
}

#[test]
fn application_analyses_follow_the_next_cursor() {
    let (mut app, application) = checkout_screen();
    let commands = press(&mut app, KeyCode::Char('r'));
    let seq = commands
        .iter()
        .find_map(|c| match c {
            Cmd::FetchAnalyses { seq, .. } => Some(*seq),
            _ => None,
        })
        .expect("present");
    let next = update(
        &mut app,
        Msg::Analyses {
            seq,
            first: true,
            result: Ok(page(runs(&application), "c2")),
        },
    );
    assert_eq!(
        next,
        vec![Cmd::FetchAnalyses {
            seq,
            id: application.id,
            cursor: Some(String::from("c2")),
        }]
    );
    // The first page is usable meanwhile.
    assert_eq!(app.application.as_ref().expect("present").runs.len(), 3);
    update(
        &mut app,
        Msg::Analyses {
            seq,
            first: false,
            result: Ok(reply(vec![run(
                &application,
                0x7aa,
                RunStatus::Succeeded,
                900,
            )])),
        },
    );
    let screen = app.application.as_ref().expect("present");
    assert_eq!(screen.runs.len(), 4);
    assert!(screen.runs_complete);
}

#[test]
fn application_analyze_polls_until_terminal_then_refreshes() {
    let (mut app, application) = checkout_screen();
    let commands = press(&mut app, KeyCode::Char('a'));
    let [Cmd::Analyze { seq, id }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(*id, application.id);
    let queued = run(&application, 0x800, RunStatus::Queued, 0);
    let poll = update(
        &mut app,
        Msg::Analyzed {
            seq: *seq,
            created: true,
            result: Ok(reply(queued.clone())),
        },
    );
    let [
        Cmd::PollAnalysis {
            seq, run: polled, ..
        },
    ] = poll.as_slice()
    else {
        panic!("{poll:?}")
    };
    assert_eq!(*polled, queued.id);
    let mut running = queued.clone();
    running.status = RunStatus::Running;
    let poll = update(
        &mut app,
        Msg::Analysis {
            seq: *seq,
            result: Ok(reply(running)),
        },
    );
    let [Cmd::PollAnalysis { seq: last, .. }] = poll.as_slice() else {
        panic!("{poll:?}")
    };
    assert_eq!(
        app.application
            .as_ref()
            .expect("present")
            .run
            .as_ref()
            .expect("present")
            .status,
        RunStatus::Running
    );
    // A stale poll answer (the first one, again) changes nothing.
    assert!(
        update(
            &mut app,
            Msg::Analysis {
                seq: *seq,
                result: Ok(reply(queued.clone())),
            },
        )
        .is_empty()
    );
    let mut failed = queued.clone();
    failed.status = RunStatus::Failed;
    failed.error = Some(String::from("cluster unreachable\u{1b}[2J"));
    let refresh = update(
        &mut app,
        Msg::Analysis {
            seq: *last,
            result: Ok(reply(failed)),
        },
    );
    assert!(
        refresh
            .iter()
            .any(|c| matches!(c, Cmd::FetchApplication { .. }))
    );
    assert!(
        refresh
            .iter()
            .any(|c| matches!(c, Cmd::FetchAnalyses { .. }))
    );
    let status = app.status.as_ref().expect("present");
    assert!(status.error);
    assert_eq!(
        status.text,
        "analysis failed: cluster unreachable\\u{1b}[2J"
    );
}

#[test]
fn application_analyze_forbidden_shows_the_servers_message() {
    let (mut app, _) = checkout_screen();
    let commands = press(&mut app, KeyCode::Char('a'));
    let [Cmd::Analyze { seq, .. }] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    let next = update(
        &mut app,
        Msg::Analyzed {
            seq: *seq,
            created: false,
            result: Err(ClientError::Api {
                status: 403,
                code: String::from("forbidden"),
                message: String::from("this needs the editor role"),
                request_id: None,
                body: serde_json::Value::Null,
            }),
        },
    );
    assert!(next.is_empty());
    let status = app.status.as_ref().expect("present");
    assert!(status.error);
    assert!(
        status.text.contains("this needs the editor role"),
        "{}",
        status.text
    );
    assert!(app.application.as_ref().expect("present").run.is_none());
}

#[test]
fn application_resolved_incidents_show_on_r_and_hide_again() {
    let (mut app, application) = checkout_screen();
    let open = app.application.as_ref().expect("present").open.len();
    let commands = press(&mut app, KeyCode::Char('R'));
    let [
        Cmd::FetchApplicationIncidents {
            seq,
            resolved: true,
            ..
        },
    ] = commands.as_slice()
    else {
        panic!("{commands:?}")
    };
    let mut gone = incident(&IncidentSpec {
        id: 0x9001,
        application: &application,
        severity: statesight_core::wire::Severity::Critical,
        title: "Deployment checkout/old: drift that went away",
        kind: "Deployment",
        name: "old",
        manager: "kubectl-edit",
        recommendation: statesight_core::wire::Recommendation::Reconcile,
        minutes_ago: 600,
    });
    gone.status = statesight_core::wire::IncidentStatus::Resolved;
    update(
        &mut app,
        Msg::ApplicationIncidents {
            seq: *seq,
            resolved: true,
            first: true,
            result: Ok(reply(vec![gone])),
        },
    );
    let screen = app.application.as_ref().expect("present");
    let rows = screen.incidents();
    assert_eq!(rows.len(), open + 1);
    // Critical sorts first even though resolved.
    assert!(rows[0].resolved);
    assert!(press(&mut app, KeyCode::Char('R')).is_empty());
    assert_eq!(
        app.application.as_ref().expect("present").incidents().len(),
        open
    );
}

#[test]
fn application_suppressed_findings_follow_the_next_cursor() {
    let (mut app, application) = checkout_screen();
    let commands = press(&mut app, KeyCode::Char('r'));
    let Some(seq) = commands.iter().find_map(|c| match c {
        Cmd::FetchSuppressed {
            seq, cursor: None, ..
        } => Some(*seq),
        _ => None,
    }) else {
        panic!("{commands:?}")
    };
    let first = vec![suppressed(&application, 0xa01, "one", "why", "spec.a")];
    let next = update(
        &mut app,
        Msg::Suppressed {
            seq,
            first: true,
            result: Ok(page(first, "s2")),
        },
    );
    assert_eq!(
        next,
        vec![Cmd::FetchSuppressed {
            seq,
            id: application.id,
            cursor: Some(String::from("s2")),
        }]
    );
    assert_eq!(
        app.application.as_ref().expect("present").suppressed.len(),
        1
    );
    update(
        &mut app,
        Msg::Suppressed {
            seq,
            first: false,
            result: Ok(reply(vec![suppressed(
                &application,
                0xa02,
                "two",
                "why",
                "spec.b",
            )])),
        },
    );
    let screen = app.application.as_ref().expect("present");
    assert_eq!(screen.suppressed.len(), 2);
    assert_eq!(screen.pending.suppressed, None);
}
