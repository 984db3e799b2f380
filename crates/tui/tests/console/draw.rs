//! What the screens look like: `TestBackend` snapshots at 80×24 and 160×48, in colour and
//! monochrome (`NO_COLOR`), with styles checked cell by cell.

use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use statesight_core::wire::{Recommendation, RunStatus, Severity};
use statesight_tui::console::app::{App, Msg, update};
use statesight_tui::console::theme::{Depth, Theme};
use std::time::Duration;

use super::fixtures::*;

const SMALL: (u16, u16) = (80, 24);
const LARGE: (u16, u16) = (160, 48);

fn snapshot(name: &str, app: &App) -> Buffer {
    let terminal = render(app);
    let buffer = terminal.backend().buffer().clone();
    insta::assert_snapshot!(name, text(&buffer));
    assert_inert(&buffer);
    buffer
}

/// No cell carries a control character, an escape introducer, a bidi control or a
/// zero-width character: nothing drawn can drive the terminal or disguise itself.
fn assert_inert(buffer: &Buffer) {
    for (index, cell) in buffer.content.iter().enumerate() {
        for c in cell.symbol().chars() {
            assert!(
                !statesight_core::terminal::is_control_or_invisible(c),
                "cell {index} holds {c:?}"
            );
        }
    }
}

/// Monochrome: no colour anywhere.
fn assert_no_colour(buffer: &Buffer) {
    for cell in &buffer.content {
        assert_eq!(cell.fg, Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, Color::Reset, "{cell:?}");
    }
}

/// The selected row of a table: marked `▶` and styled `selected` across the whole width.
fn assert_selected_row(buffer: &Buffer, row: u16, theme: &Theme) {
    assert_eq!(buffer[(0, row)].symbol(), "▶");
    for x in 0..buffer.area.width {
        let cell = &buffer[(x, row)];
        if let Some(bg) = theme.selected.bg {
            assert_eq!(cell.bg, bg, "x={x}");
        }
        assert!(
            cell.modifier.contains(theme.selected.add_modifier),
            "x={x}: {:?}",
            cell.modifier
        );
    }
}

#[test]
fn applications_80x24_colour() {
    let app = loaded_app(Depth::TrueColor, SMALL);
    let buffer = snapshot("applications_80x24_colour", &app);
    let theme = Theme::new(Depth::TrueColor);
    let row = row_of(&buffer, "billing-worker").expect("the first row");
    assert_selected_row(&buffer, row, &theme);
    // Severity counts are coloured by severity: `1c` of ledger is critical.
    let ledger = row_of(&buffer, "ledger ").expect("ledger");
    let line = text(&buffer)
        .lines()
        .nth(usize::from(ledger))
        .unwrap_or_default()
        .to_owned();
    let at = line.find("1c").expect("a critical count") as u16;
    let x = line[..usize::from(at)].chars().count() as u16;
    assert_eq!(
        buffer[(x, ledger)].fg,
        theme.critical.fg.unwrap_or_default()
    );
    // A failed analysis is drawn in the error style.
    let checkout = row_of(&buffer, "checkout-api").expect("checkout");
    let line = text(&buffer)
        .lines()
        .nth(usize::from(checkout))
        .unwrap_or_default()
        .to_owned();
    let x = line[..line.find("failed").expect("failed")].chars().count() as u16;
    assert_eq!(buffer[(x, checkout)].fg, theme.error.fg.unwrap_or_default());
}

#[test]
fn applications_80x24_no_color() {
    let mut app = loaded_app(Depth::Mono, SMALL);
    press(&mut app, KeyCode::Char('j'));
    let buffer = snapshot("applications_80x24_no_color", &app);
    assert_no_colour(&buffer);
    let row = row_of(&buffer, "checkout-api").expect("the selected row");
    assert_selected_row(&buffer, row, &Theme::new(Depth::Mono));
    assert!(
        buffer[(2, row)].modifier.contains(Modifier::REVERSED),
        "the selection is reverse video"
    );
    // Other rows are not reversed.
    let other = row_of(&buffer, "ledger ").expect("ledger");
    assert!(!buffer[(2, other)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn applications_160x48_colour_256() {
    let mut app = loaded_app(Depth::Ansi256, LARGE);
    press(&mut app, KeyCode::Char('s'));
    let buffer = snapshot("applications_160x48_colour_256", &app);
    for cell in &buffer.content {
        assert!(
            !matches!(cell.fg, Color::Rgb(..)) && !matches!(cell.bg, Color::Rgb(..)),
            "256 colours only"
        );
    }
}

#[test]
fn applications_160x48_no_color_filtered() {
    let mut app = loaded_app(Depth::Mono, LARGE);
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "staging");
    let buffer = snapshot("applications_160x48_no_color_filtered", &app);
    assert_no_colour(&buffer);
    assert!(text(&buffer).contains("filter “staging”"));
}

#[test]
fn applications_16_colours_use_named_colours_and_reverse_the_selection() {
    let app = loaded_app(Depth::Ansi16, SMALL);
    let buffer = render(&app).backend().buffer().clone();
    for cell in &buffer.content {
        assert!(!matches!(cell.fg, Color::Rgb(..) | Color::Indexed(_)));
        assert!(!matches!(cell.bg, Color::Rgb(..) | Color::Indexed(_)));
    }
    let row = row_of(&buffer, "billing-worker").expect("the first row");
    assert!(buffer[(5, row)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn overview_80x24_colour() {
    let mut app = loaded_app(Depth::TrueColor, SMALL);
    press(&mut app, KeyCode::Char('1'));
    let buffer = snapshot("overview_80x24_colour", &app);
    let theme = Theme::new(Depth::TrueColor);
    let row = row_of(&buffer, "CRIT ").expect("the severity line");
    let line = text(&buffer)
        .lines()
        .nth(usize::from(row))
        .unwrap_or_default()
        .to_owned();
    let x = line[..line.find("CRIT").expect("CRIT")].chars().count() as u16;
    assert_eq!(buffer[(x, row)].fg, theme.critical.fg.unwrap_or_default());
}

#[test]
fn overview_160x48_no_color() {
    let mut app = loaded_app(Depth::Mono, LARGE);
    press(&mut app, KeyCode::Char('1'));
    let buffer = snapshot("overview_160x48_no_color", &app);
    assert_no_colour(&buffer);
}

#[test]
fn incidents_80x24_colour() {
    let mut app = loaded_app(Depth::TrueColor, SMALL);
    press(&mut app, KeyCode::Char('3'));
    snapshot("incidents_80x24_colour", &app);
}

/// Each tab of the application screen, at both sizes, in colour and without.
#[test]
fn application_tabs_80x24_and_160x48() {
    for (key, tab) in [
        ('1', "incidents"),
        ('2', "suppressed"),
        ('3', "rules"),
        ('4', "analyses"),
    ] {
        for (size, label) in [(SMALL, "80x24"), (LARGE, "160x48")] {
            let mut colour = application_app(Depth::TrueColor, size, "checkout-api");
            press(&mut colour, KeyCode::Char(key));
            let buffer = snapshot(&format!("application_{tab}_{label}"), &colour);
            assert!(text(&buffer).contains("Applications › checkout-api"));
            let mut mono = application_app(Depth::Mono, size, "checkout-api");
            press(&mut mono, KeyCode::Char(key));
            let buffer = render(&mono).backend().buffer().clone();
            assert_no_colour(&buffer);
            assert_inert(&buffer);
        }
    }
}

/// The selected analysis's warnings are listed under the table (an unreadable Secret
/// among them), not only counted.
#[test]
fn application_analysis_warnings_80x24_and_160x48() {
    for (size, label) in [(SMALL, "80x24"), (LARGE, "160x48")] {
        let mut app = application_app(Depth::TrueColor, size, "checkout-api");
        press(&mut app, KeyCode::Char('4'));
        let before = text(render(&app).backend().buffer());
        assert!(!before.contains("Warnings of this analysis"), "{before}");
        press(&mut app, KeyCode::Down);
        let buffer = snapshot(&format!("application_analysis_warnings_{label}"), &app);
        let text = text(&buffer);
        assert!(text.contains("Warnings of this analysis 2"), "{text}");
        assert!(
            text.contains("• Secret/payments/db-credentials: not readable with the worker"),
            "{text}"
        );
        // The selected run stays in view above the panel.
        assert!(text.contains("▶ ok"), "{text}");
    }
}

/// The run `a` requested, followed on a line under the table until it ends.
#[test]
fn application_analysis_progress_80x24() {
    let mut app = application_app(Depth::TrueColor, SMALL, "checkout-api");
    let application = applications()
        .into_iter()
        .find(|a| a.name == "checkout-api")
        .expect("fixture");
    let commands = press(&mut app, KeyCode::Char('a'));
    let Some(statesight_tui::console::app::Cmd::Analyze { seq, .. }) = commands.first() else {
        panic!("{commands:?}")
    };
    let poll = update(
        &mut app,
        Msg::Analyzed {
            seq: *seq,
            created: true,
            result: Ok(reply(run(&application, 0x800, RunStatus::Queued, 0))),
        },
    );
    let buffer = snapshot("application_analysis_queued_80x24", &app);
    assert!(text(&buffer).contains("requested analysis queued"));
    let Some(statesight_tui::console::app::Cmd::PollAnalysis { seq, .. }) = poll.first() else {
        panic!("{poll:?}")
    };
    update(
        &mut app,
        Msg::Analysis {
            seq: *seq,
            result: Ok(reply(run(&application, 0x800, RunStatus::Failed, 0))),
        },
    );
    let buffer = snapshot("application_analysis_failed_80x24", &app);
    assert!(text(&buffer).contains("cluster unreachable: connection refused"));
}

#[test]
fn application_rules_name_their_level() {
    let mut app = application_app(Depth::Mono, LARGE, "checkout-api");
    press(&mut app, KeyCode::Char('3'));
    let screen = text(render(&app).backend().buffer());
    let inherited = screen
        .lines()
        .find(|line| line.contains("mesh sidecar"))
        .expect("the inherited rule");
    assert!(inherited.trim_end().ends_with("workspace"), "{inherited}");
    let own = screen
        .lines()
        .find(|line| line.contains("hpa replicas"))
        .expect("the application rule");
    assert!(own.trim_end().ends_with("application"), "{own}");
}

#[test]
fn help_overlay_80x24() {
    let mut app = loaded_app(Depth::TrueColor, SMALL);
    press(&mut app, KeyCode::Char('?'));
    snapshot("help_80x24", &app);
    type_text(&mut app, "page");
    let buffer = snapshot("help_80x24_filtered", &app);
    assert!(!text(&buffer).contains("Sort by"));
}

#[test]
fn help_overlay_160x48_no_color() {
    let mut app = loaded_app(Depth::Mono, LARGE);
    press(&mut app, KeyCode::Char('?'));
    let buffer = snapshot("help_160x48_no_color", &app);
    assert_no_colour(&buffer);
}

#[test]
fn palette_with_completion_80x24() {
    let mut app = loaded_app(Depth::TrueColor, SMALL);
    press(&mut app, KeyCode::Char(':'));
    snapshot("palette_80x24_commands", &app);
    type_text(&mut app, "ws ");
    press(&mut app, KeyCode::Tab);
    snapshot("palette_80x24_common_prefix", &app);
    press(&mut app, KeyCode::Tab);
    let buffer = snapshot("palette_80x24_workspaces", &app);
    let theme = Theme::new(Depth::TrueColor);
    let row = row_of(&buffer, "▶ acme-payments").expect("the cycled candidate");
    assert_eq!(buffer[(3, row)].bg, theme.selected.bg.unwrap_or_default());
    // The prompt line shows what Tab put in.
    assert!(text(&buffer).contains(":ws acme-payments"));
}

#[test]
fn palette_160x48_no_color() {
    let mut app = loaded_app(Depth::Mono, LARGE);
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "ws acme-p");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    let buffer = snapshot("palette_160x48_no_color", &app);
    assert_no_colour(&buffer);
    let row = row_of(&buffer, "▶ acme-platform").expect("the cycled candidate");
    assert!(buffer[(3, row)].modifier.contains(Modifier::REVERSED));
}

/// Values that try to drive the terminal or disguise themselves, as a hostile cluster or
/// Git repository could put them in names, titles and manager names.
fn hostile_app(depth: Depth, size: (u16, u16)) -> App {
    let mut app = new_app(depth, size);
    let mut applications = applications();
    let mut incidents = incidents(&applications);
    applications[0].name = String::from("pay\u{202e}exe.fdp\u{200b}");
    for incident in &mut incidents {
        if incident.application.id == applications[0].id {
            incident.application.name = applications[0].name.clone();
        }
    }
    applications[0].cluster.name =
        String::from("\u{1b}]8;;https://evil.example/\u{1b}\\prod\u{1b}]8;;\u{1b}\\");
    applications[1].source.name = String::from("\u{9b}2Jsrc\u{7}");
    incidents.push(incident(&IncidentSpec {
        id: 0x999,
        application: &applications[2],
        severity: Severity::Critical,
        title: "Deployment sandbox/echo: 1 field changed by \u{1b}]52;c;ZWNobyBwd25lZA==\u{7}\u{1b}[2J\u{1b}[31mrelease-bot\u{1b}[0m",
        kind: "Deployment",
        name: "echo",
        manager: "\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}\u{1b}[2J\u{1b}[31mrelease-bot\u{1b}[0m",
        recommendation: Recommendation::Investigate,
        minutes_ago: 1,
    }));
    incidents.push(incident(&IncidentSpec {
        id: 0x998,
        application: &applications[2],
        severity: Severity::Critical,
        title: "Deployment sandbox/echo: 1 field changed by ops\u{200b}-\u{202e}tob-ecnanetniam\u{202c}",
        kind: "Deployment",
        name: "echo",
        manager: "ops\u{200b}-\u{202e}tob-ecnanetniam\u{202c}",
        recommendation: Recommendation::Investigate,
        minutes_ago: 2,
    }));
    load(&mut app, applications, incidents);
    app
}

#[test]
fn hostile_strings_are_drawn_inert_80x24() {
    let mut app = hostile_app(Depth::TrueColor, SMALL);
    let buffer = snapshot("hostile_applications_80x24", &app);
    let screen = text(&buffer);
    assert!(screen.contains("pay\\u{202e}"), "{screen}");
    assert!(screen.contains("\\u{1b}]8;;"), "{screen}");
    assert!(screen.contains("\\u{9b}2J"), "{screen}");
    press(&mut app, KeyCode::Char('1'));
    let buffer = snapshot("hostile_overview_80x24", &app);
    let screen = text(&buffer);
    // Cut to 80 columns, but what is there is visible, not acted on.
    assert!(screen.contains("changed by \\u{1b"), "{screen}");
    assert!(screen.contains("changed by ops\\u"), "{screen}");
}

#[test]
fn hostile_strings_are_drawn_inert_160x48_no_color() {
    let mut app = hostile_app(Depth::Mono, LARGE);
    press(&mut app, KeyCode::Char('3'));
    let buffer = snapshot("hostile_incidents_160x48_no_color", &app);
    assert_no_colour(&buffer);
    let screen = text(&buffer);
    assert!(
        screen.contains("\\u{1b}]52;c;ZWNobyBwd25lZA==\\u{7}\\u{1b}[2J\\u{1b}[31mrelease-bot"),
        "{screen}"
    );
}

#[test]
fn sign_in_modal_80x24() {
    let mut app = new_app_with(
        Depth::TrueColor,
        SMALL,
        statesight_tui::console::keys::Keymap::defaults(),
        true,
    );
    let applications = applications();
    let incidents = incidents(&applications);
    load(&mut app, applications, incidents);
    let commands = press(&mut app, KeyCode::Char('r'));
    let (_, seq, _) = seqs(&commands);
    let commands = update(
        &mut app,
        Msg::Applications {
            seq,
            first: true,
            result: Err(statesight_tui::client::ClientError::Credentials(
                statesight_tui::client::CredentialError::SignInRequired(String::from("signed out")),
            )),
        },
    );
    let Some(statesight_tui::console::app::Cmd::BeginSignIn { seq }) = commands.first().cloned()
    else {
        panic!("a sign-in starts");
    };
    update(
        &mut app,
        Msg::SignInCode {
            seq,
            user_code: String::from("WDJB-MJHT"),
            verification_uri: String::from("https://id.example.com/realms/ops/device"),
            verification_uri_complete: Some(String::from(
                "https://id.example.com/realms/ops/device?user_code=WDJB-MJHT&client=statesight-console",
            )),
            expires_in: Duration::from_secs(599),
        },
    );
    let buffer = snapshot("sign_in_80x24", &app);
    let theme = Theme::new(Depth::TrueColor);
    let row = row_of(&buffer, "WDJB-MJHT").expect("the code");
    let line = text(&buffer)
        .lines()
        .nth(usize::from(row))
        .unwrap_or_default()
        .to_owned();
    let x = line[..line.find("WDJB").expect("code")].chars().count() as u16;
    assert!(buffer[(x, row)].modifier.contains(theme.code.add_modifier));
}

#[test]
fn loading_and_errors_80x24() {
    let mut app = new_app(Depth::TrueColor, SMALL);
    app.start();
    snapshot("connecting_80x24", &app);
    update(
        &mut app,
        Msg::Me {
            seq: 1,
            result: Err(statesight_tui::client::ClientError::Api {
                status: 503,
                code: String::from("unavailable"),
                message: String::from("PostgreSQL does not answer; retry shortly"),
                request_id: Some(String::from("01a22f95-d2b0-75b7-89ca-567fe807c908")),
                body: serde_json::Value::Null,
            }),
        },
    );
    let buffer = snapshot("error_80x24", &app);
    assert!(text(&buffer).contains("request 01a22f95-d2b0-75b7-89ca-567fe807c908"));
}

#[test]
fn narrow_and_tiny_terminals_degrade() {
    let app = loaded_app(Depth::TrueColor, (60, 16));
    snapshot("applications_60x16", &app);
    let app = loaded_app(Depth::TrueColor, (20, 5));
    snapshot("tiny_20x5", &app);
}

#[test]
fn every_run_status_has_a_word() {
    let mut app = new_app(Depth::Mono, SMALL);
    let mut applications = applications();
    for (application, status) in applications.iter_mut().zip([
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Failed,
        RunStatus::Succeeded,
    ]) {
        if let Some(run) = application.latest_run.as_mut() {
            run.status = status;
        }
    }
    load(&mut app, applications, Vec::new());
    let buffer = render(&app).backend().buffer().clone();
    let screen = text(&buffer);
    for word in ["queued", "running", "failed", "never"] {
        assert!(screen.contains(word), "{word}: {screen}");
    }
}

#[test]
fn every_size_draws_without_panicking() {
    let setups: [&dyn Fn(&mut App); 7] = [
        &|_| {},
        &|app| {
            press(app, KeyCode::Char('1'));
        },
        &|app| {
            press(app, KeyCode::Char('3'));
        },
        &|app| {
            press(app, KeyCode::Enter);
        },
        &|app| {
            press(app, KeyCode::Char('?'));
        },
        &|app| {
            press(app, KeyCode::Char(':'));
            type_text(app, "ws ");
        },
        &|app| {
            press(app, KeyCode::Char('G'));
        },
    ];
    for setup in setups {
        let mut app = hostile_app(Depth::TrueColor, SMALL);
        setup(&mut app);
        for height in [0u16, 1, 3, 7, 8, 9, 10, 12, 17, 24, 48] {
            for width in (0u16..=170).step_by(3) {
                app.size = (width, height);
                update(&mut app, Msg::Resize(width, height));
                let buffer = render(&app).backend().buffer().clone();
                assert_inert(&buffer);
            }
        }
    }
}

/// Thousands of keys in a pseudo-random order, from every mode: nothing panics, whatever
/// is drawn stays inert.
#[test]
fn random_keys_never_break_the_console() {
    let keys = [
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Backspace,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::F(1),
        KeyCode::Char(':'),
        KeyCode::Char('/'),
        KeyCode::Char('?'),
        KeyCode::Char('j'),
        KeyCode::Char('k'),
        KeyCode::Char('s'),
        KeyCode::Char('S'),
        KeyCode::Char('g'),
        KeyCode::Char('G'),
        KeyCode::Char('1'),
        KeyCode::Char('2'),
        KeyCode::Char('3'),
        KeyCode::Char('w'),
        KeyCode::Char(' '),
        KeyCode::Char('a'),
        KeyCode::Char('e'),
        KeyCode::Char('é'),
        KeyCode::Char('你'),
        KeyCode::Char('q'),
        KeyCode::Char('r'),
    ];
    let mut app = hostile_app(Depth::Mono, SMALL);
    let mut state: u64 = 0x5eed;
    for step in 0..6000u32 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let code = keys[(state >> 33) as usize % keys.len()];
        let message = if (state >> 20).is_multiple_of(53) {
            ctrl('w')
        } else if (state >> 20).is_multiple_of(59) {
            Msg::Paste(String::from("pa\u{1b}[2Jste"))
        } else {
            key(code)
        };
        // Quitting and reloading are the runtime's business; the state must stay usable.
        let _ = update(&mut app, message);
        if step.is_multiple_of(40) {
            assert_inert(render(&app).backend().buffer());
        }
    }
}
