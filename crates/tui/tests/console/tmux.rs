//! The real `statesight-tui` binary in a real terminal (tmux, private server, fixed size)
//! against a real server in process on seeded, analysed data (and, where the console
//! requests an analysis, the real worker consuming that server's queue). Waits poll the screen every
//! 50 ms (10 ms for the first frame) up to a timeout and print the screen when it passes;
//! nothing sleeps a fixed time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use super::served::{Server, seeded, seeded_and_analysed, seeded_and_analysed_with_repos};

const BINARY: &str = env!("CARGO_BIN_EXE_statesight-tui");
const TIMEOUT: Duration = Duration::from_secs(15);

/// A private tmux server (its own socket, no configuration), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` in a 120×40 session without a status line. The pane stays after
    /// the command exits, so its final state and exit status can be read.
    async fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("statesight-tui-{}", Uuid::new_v4().simple()),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-s",
            "e2e",
            command,
            ";",
            "set",
            "-g",
            "status",
            "off",
            ";",
            "set",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            // An OSC 52 reaching tmux would then land in a paste buffer: the test checks
            // there is none.
            "set",
            "-g",
            "set-clipboard",
            "on",
        ])
        .await;
        tmux
    }

    async fn run(&self, args: &[&str]) -> String {
        let output = tokio::process::Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .await
            .expect("tmux runs");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    async fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "e2e"]).await
    }

    /// The screen with its attributes as escape sequences (`capture-pane -e`).
    async fn screen_with_escapes(&self) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", "e2e"]).await
    }

    async fn display(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "e2e", format])
            .await
            .trim()
            .to_owned()
    }

    async fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        self.run(&args).await;
    }

    async fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "e2e", "-l", text]).await;
    }

    /// Polls the screen until `ready` holds; fails with the screen after the timeout.
    async fn wait(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        self.wait_every(what, Duration::from_millis(50), ready)
            .await
    }

    async fn wait_every(
        &self,
        what: &str,
        every: Duration,
        ready: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let screen = self.screen().await;
            if ready(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Polls until the console has exited and its wrapper wrote `EXIT=<status>` to `file`.
    async fn wait_exit(&self, file: &Path) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(text) = std::fs::read_to_string(file)
                && text.ends_with('\n')
            {
                return text.trim().to_owned();
            }
            if Instant::now() > deadline {
                panic!(
                    "the console did not exit; the screen:\n{}",
                    self.screen().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The pid of the console: the child of the pane's shell.
    async fn console_pid(&self) -> String {
        let shell = self.display("#{pane_pid}").await;
        let output = tokio::process::Command::new("pgrep")
            .args(["-P", &shell])
            .output()
            .await
            .expect("pgrep");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// `statesight-tui` for `server` with a config dir, with a colour-capable TERM and
/// NO_COLOR removed (the test's environment must not decide the theme).
fn console_command(server: &Server, config: &Path, trace: &Path) -> String {
    console_command_with(server, config, trace, "")
}

/// [`console_command`] with more variables (`NAME=value …`).
fn console_command_with(server: &Server, config: &Path, trace: &Path, variables: &str) -> String {
    format!(
        "env -u NO_COLOR -u COLORTERM TERM=xterm-256color {variables} STATESIGHT_TUI_TRACE_FIRST_FRAME={} {} --server {} --config-dir {}",
        quote(trace),
        quote(Path::new(BINARY)),
        server.url,
        quote(config),
    )
}

/// The console run by the pane's shell, which then writes `EXIT=<status>` to `exit` and
/// stays (so the terminal state after the console is still there to inspect).
fn wrapped(console: &str, exit: &Path) -> String {
    format!("{console}; echo EXIT=$? > {}; read _", quote(exit))
}

fn has_all(screen: &str, needles: &[&str]) -> bool {
    needles.iter().all(|needle| screen.contains(needle))
}

/// Every escape sequence in `text` (from `capture-pane -e`) is an SGR (`ESC[…m`), and none
/// sets a basic ANSI colour (the console's 256-colour theme uses `38;5;N` only, so a basic
/// colour could only come from a value's own escape sequence).
fn only_own_styles(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(at) = rest.find('\u{1b}') {
        let sequence = &rest[at..];
        let Some(body) = sequence.strip_prefix("\u{1b}[") else {
            return Err(format!(
                "a non-CSI escape: {:?}",
                &sequence[..sequence.len().min(12)]
            ));
        };
        let end = body
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .ok_or("an unterminated escape")?;
        if !body[end..].starts_with('m') {
            return Err(format!(
                "a non-SGR escape: {:?}",
                &sequence[..(end + 3).min(sequence.len())]
            ));
        }
        let params: Vec<&str> = body[..end].split(';').collect();
        let mut i = 0;
        while i < params.len() {
            match params[i] {
                "38" | "48" => i += 3,
                p if matches!(p.parse::<u8>(), Ok(30..=37 | 90..=97)) => {
                    return Err(format!("a basic colour: {:?}", &body[..end]));
                }
                _ => i += 1,
            }
        }
        rest = &body[end + 1..];
    }
    for c in text.chars() {
        if c != '\u{1b}' && c != '\n' && (c.is_control() || c == '\u{202e}' || c == '\u{200b}') {
            return Err(format!("{c:?} on the screen"));
        }
    }
    Ok(())
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_real_binary_in_tmux(pool: PgPool) {
    seeded_and_analysed(&pool).await;
    let server = Server::start(&pool).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).expect("config dir");
    // Remapped: sort on `o` only (not `s`); help also on F1.
    std::fs::write(
        config.join("keys.toml"),
        "[applications]\nsort = [\"o\"]\n\n[global]\nhelp = [\"?\", \"f1\"]\n",
    )
    .expect("keys.toml");
    let exit_file: PathBuf = dir.path().join("exit");
    let trace = dir.path().join("first-frame");
    let command = wrapped(&console_command(&server, &config, &trace), &exit_file);
    let started = Instant::now();
    let tmux = Tmux::start(&command).await;

    // The applications table, with data: the first frame with data, measured from the
    // outside (the console also writes its own measure to the trace file).
    let screen = tmux
        .wait_every("the applications table", Duration::from_millis(10), |s| {
            has_all(s, &["billing-worker", "checkout-api", "ledger"])
        })
        .await;
    let outside = started.elapsed();
    assert!(
        screen.contains("acme-payments (admin) › Applications"),
        "{screen}"
    );
    let screen = tmux
        .wait("the analyses and incident counts", |s| {
            has_all(s, &["● ok", "ledger-deploy@", "ok "]) && s.contains("1c")
        })
        .await;
    assert!(!screen.contains("loading"), "{screen}");
    let traced = std::fs::read_to_string(&trace).unwrap_or_default();
    eprintln!(
        "first frame with data: {} ms from spawning tmux; trace: {}",
        outside.as_millis(),
        traced.replace('\n', " ")
    );

    // `/` filters as you type; Esc clears.
    tmux.keys(&["/"]).await;
    tmux.type_text("ledg").await;
    tmux.wait("the filter", |s| {
        s.contains("/ledg") && s.contains("ledger ") && !s.contains("billing-worker")
    })
    .await;
    tmux.keys(&["Enter"]).await;
    tmux.wait("the filter kept", |s| {
        s.contains("filter “ledg”") && !s.contains("/ledg")
    })
    .await;
    tmux.keys(&["Escape"]).await;
    tmux.wait("the filter cleared", |s| {
        s.contains("billing-worker") && !s.contains("filter “")
    })
    .await;

    // `?` shows this screen's keys, the remapped ones; typing filters them.
    tmux.keys(&["?"]).await;
    let help = tmux
        .wait("the help", |s| s.contains("Keys · Applications"))
        .await;
    assert!(
        help.lines()
            .any(|line| line.contains("│ o ") && line.contains("sort")),
        "{help}"
    );
    tmux.type_text("revers").await;
    tmux.wait("the help filtered", |s| {
        s.contains("filter revers") && s.contains("reverse_sort") && !s.contains("palette")
    })
    .await;
    tmux.keys(&["Escape"]).await;
    tmux.wait("the help closed", |s| !s.contains("Keys ·"))
        .await;
    tmux.keys(&["F1"]).await;
    tmux.wait("the help on F1", |s| s.contains("Keys · Applications"))
        .await;
    tmux.keys(&["Escape"]).await;
    tmux.wait("the help closed", |s| !s.contains("Keys ·"))
        .await;

    // The remapped key sorts; the default one no longer does (after `s`, `o` moves from
    // cluster to namespace, not further).
    tmux.type_text("o").await;
    tmux.wait("sorted by cluster", |s| s.contains("sort cluster ▲"))
        .await;
    tmux.type_text("s").await;
    tmux.type_text("o").await;
    tmux.wait("sorted by namespace", |s| s.contains("sort namespace ▲"))
        .await;

    // `:` completes workspace names; Enter switches.
    tmux.keys(&[":"]).await;
    tmux.type_text("ws acme-pl").await;
    tmux.keys(&["Tab"]).await;
    tmux.wait("the completion", |s| s.contains(":ws acme-platform"))
        .await;
    tmux.keys(&["Enter"]).await;
    tmux.wait("the platform workspace", |s| {
        has_all(
            s,
            &["acme-platform (admin)", "hostile-strings", "ingress-nginx"],
        )
    })
    .await;

    // The hostile example: its manager names are shown, escaped, and do nothing.
    tmux.keys(&["3"]).await;
    let screen = tmux
        .wait("the hostile incidents", |s| {
            s.contains("hostile-strings") && s.contains("ops\\u")
        })
        .await;
    // Cut to the column, but visible as text.
    assert!(
        screen.contains("changed by \\u{1b}]52;c;ZWNobyBwd25lZA=="),
        "{screen}"
    );
    assert!(
        screen.contains("changed by ops\\u{200b}-\\u{202e}tob-ecnan"),
        "{screen}"
    );
    assert!(screen.contains("</script><script>alert(1)"), "{screen}");
    assert!(
        screen.contains("StateSight"),
        "the screen was not cleared: {screen}"
    );
    let styled = tmux.screen_with_escapes().await;
    if let Err(problem) = only_own_styles(&styled) {
        panic!("{problem}; the screen with escapes:\n{styled:?}");
    }
    assert_eq!(
        tmux.run(&["list-buffers"]).await.trim(),
        "",
        "an OSC 52 reached the clipboard"
    );
    tmux.keys(&["1"]).await;
    // Its sections arrive from separate requests: wait for both, not the first.
    tmux.wait("the overview", |s| {
        s.contains("Most severe open incidents") && s.contains("Recent analyses")
    })
    .await;
    let styled = tmux.screen_with_escapes().await;
    if let Err(problem) = only_own_styles(&styled) {
        panic!("{problem}; the screen with escapes:\n{styled:?}");
    }

    // `q` on the top screen quits with status 0 and the terminal is restored.
    tmux.keys(&["q"]).await;
    assert_eq!(tmux.wait_exit(&exit_file).await, "EXIT=0");
    assert_eq!(tmux.display("#{alternate_on} #{cursor_flag}").await, "0 1");
    drop(tmux);
    server.stop().await;
}

/// The selected row of a table (the one marked `▶`).
fn selected_row(screen: &str) -> Option<&str> {
    screen
        .lines()
        .find(|line| line.trim_start().starts_with('▶'))
}

/// Moves the selection down (`j`) until the selected row contains `needle`, each step
/// waited for on the screen (the selection moved); fails after `limit` steps.
async fn select_row(tmux: &Tmux, needle: &str, limit: usize) -> String {
    let mut screen = tmux.screen().await;
    for _ in 0..limit {
        let Some(selected) = selected_row(&screen).map(str::to_owned) else {
            panic!("no selected row; the screen:\n{screen}");
        };
        if selected.contains(needle) {
            return screen;
        }
        tmux.keys(&["j"]).await;
        screen = tmux
            .wait("the selection to move", |s| {
                selected_row(s).is_some_and(|row| row != selected)
            })
            .await;
    }
    panic!("no row with {needle:?} selected; the screen:\n{screen}");
}

/// The row and column where `needle` starts on the first line containing it (in
/// characters: everything the console draws here is one cell wide).
fn column_of(screen: &str, needle: &str) -> Option<(usize, usize)> {
    screen.lines().enumerate().find_map(|(row, line)| {
        line.find(needle)
            .map(|at| (row, line[..at].chars().count()))
    })
}

/// The editor's preview rows (`✓ Kind namespace/name  path`, cut to the width) of the
/// checkout-api Deployment that contain `text`.
fn preview_rows(screen: &str, text: &str) -> usize {
    screen
        .lines()
        .filter(|line| {
            line.trim_start()
                .strip_prefix("✓ Deployment checkout/checkout-api  spec.template.spec.containers[")
                .is_some_and(|rest| rest.contains(text))
        })
        .count()
}

/// An SRE's investigation, end to end: the real binary against a real server AND a real
/// worker on the seeded, analysed demo data. Open an application and an incident, read the
/// evidence, copy a path, write an ignore rule from a finding while the preview follows
/// the expression, see the rule through the API, re-analyse with `a` and watch it run, and
/// see the finding suppressed, on screen and through the API.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_investigation_ends_in_a_suppressed_finding(pool: PgPool) {
    use statesight_core::wire::{IgnoreRule, Incident, SuppressedFinding};
    const CHECKOUT: Uuid = statesight_store::seed::CHECKOUT_APPLICATION_ID;
    const PAYMENTS: Uuid = statesight_store::seed::PAYMENTS_WORKSPACE_ID;
    const ENV_PATH: &str =
        "spec.template.spec.containers[name=checkout-api].env[name=PAYMENT_TIMEOUT_MS].value";
    const INCIDENT: &str = "Deployment checkout/checkout-api: 2 fields changed by kubectl-edit";
    const NAME: &str = "checkout-api-containers";
    const EXPRESSION: &str = "spec.template.spec.containers[*]";
    const REASON: &str = "timeout tuned live during INC-42; the PSP fix ships in 1.43";

    // The repositories stay until the end: the re-analysis reads them again.
    let data = seeded_and_analysed_with_repos(&pool).await;
    let server = Server::start_with_worker(&pool, data.path()).await;
    let client = server.client();
    let dir = tempfile::tempdir().expect("temp dir");
    let exit_file = dir.path().join("exit");
    let trace = dir.path().join("first-frame");
    let tmux = Tmux::start(&wrapped(
        &console_command(&server, dir.path(), &trace),
        &exit_file,
    ))
    .await;

    // 1. checkout-api, its kubectl-edit incident, and the evidence of the timeout's
    // finding (the seeded story: `kubectl edit` raised PAYMENT_TIMEOUT_MS from 3000 to
    // 12000 during an incident).
    tmux.wait("the applications", |s| {
        has_all(s, &["checkout-api", "● ok"]) && selected_row(s).is_some()
    })
    .await;
    select_row(&tmux, "checkout-api", 3).await;
    tmux.keys(&["Enter"]).await;
    tmux.wait("the application's incidents", |s| {
        s.contains("Applications › checkout-api") && s.contains(INCIDENT)
    })
    .await;
    select_row(&tmux, "kubectl-edit", 6).await;
    tmux.keys(&["Enter"]).await;
    tmux.wait("the incident with its findings", |s| {
        has_all(
            s,
            &["› Incident", INCIDENT, "Findings 2", "Evidence unified"],
        )
    })
    .await;
    // Two findings (the timeout and the image): the timeout's, whichever row it is.
    select_row(&tmux, "3000", 2).await;
    let screen = tmux
        .wait("the timeout's evidence", |s| {
            has_all(
                s,
                &[
                    "PAYMENT_TIMEOUT_MS].value",
                    "Desired (Git) → Live (cluster)",
                    "- \"3000\"",
                    "+ \"12000\"",
                    "Desired state: where Git declares it",
                    "Live state: how it was observed",
                ],
            )
        })
        .await;
    assert!(
        screen.contains("File       k8s/staging/deployment.yaml"),
        "{screen}"
    );
    assert!(screen.contains("/repos/checkout-api.git"), "{screen}");
    // Read from a snapshot of a real cluster, not made up from Git (the badge's closing
    // blank is at the end of the line, which tmux does not capture).
    assert!(
        screen.contains("│ TRUSTED: read from the cluster"),
        "{screen}"
    );
    assert!(!screen.contains("SYNTHETIC"), "{screen}");
    // `v`: the same values side by side, and back.
    tmux.keys(&["v"]).await;
    tmux.wait("the values side by side", |s| {
        s.contains("Evidence side by side")
            && s.contains("- \"3000\"")
            && s.contains("│ + \"12000\"")
    })
    .await;
    tmux.keys(&["v"]).await;
    tmux.wait("the values unified", |s| {
        s.contains("Evidence unified") && s.contains("+ \"12000\"")
    })
    .await;
    // `tab` focuses the evidence pane: `j` then scrolls it by a line instead of moving
    // the selection to the other finding. `J` scrolls half a pane at a time, to
    // ownership, attribution, the incident and its timeline.
    tmux.keys(&["Tab"]).await;
    tmux.keys(&["j"]).await;
    tmux.wait("the evidence scrolled by a line", |s| {
        s.contains("Evidence unified lines 2–")
            && selected_row(s).is_some_and(|r| r.contains("3000"))
    })
    .await;
    tmux.keys(&["J"]).await;
    let screen = tmux
        .wait("the evidence scrolled to ownership and attribution", |s| {
            !s.contains("Evidence unified lines 2–")
                && has_all(s, &["Ownership (managedFields)", "Attribution", "Grade"])
        })
        .await;
    assert!(
        screen.contains("• kubectl-edit (Update) at 2026-11-18T02:17:44Z"),
        "{screen}"
    );
    // The caveat: ownership is evidence, not proof (the worker's note says it, so the
    // console's own sentence is not repeated).
    assert!(
        screen.contains("managedFields ownership is evidence of who last wrote or asserted")
            && screen.contains("the field, not proof of causation"),
        "{screen}"
    );
    assert!(screen.contains("Grade      not-attributed"), "{screen}");
    assert!(
        screen.contains("No Kubernetes audit events have been ingested for this"),
        "{screen}"
    );
    tmux.keys(&["J"]).await;
    let screen = tmux
        .wait("the evidence scrolled to the timeline", |s| {
            has_all(s, &["Timeline", "first seen", "seen again"])
        })
        .await;
    assert!(screen.contains("Cause      kubectl-edit"), "{screen}");
    // `K` scrolls back up.
    tmux.keys(&["K", "K", "K"]).await;
    tmux.wait("the evidence scrolled back", |s| {
        s.contains("Evidence unified lines 1–")
    })
    .await;

    // 2. `y` copies the path through OSC 52: tmux (`set-clipboard on`) keeps it in a paste
    // buffer, exactly the path, once.
    tmux.keys(&["y"]).await;
    tmux.wait("the copy", |s| {
        s.contains("copied the path to the clipboard (83 bytes, through the terminal)")
    })
    .await;
    assert_eq!(tmux.run(&["show-buffer"]).await, ENV_PATH);
    assert_eq!(
        tmux.run(&["list-buffers", "-F", "#{buffer_name}"])
            .await
            .lines()
            .count(),
        1
    );

    // 3. `i`: a rule for this finding, its preview counted over the application's 5 open
    // findings as the expression is edited.
    tmux.keys(&["i"]).await;
    let screen = tmux
        .wait("the editor with its preview", |s| {
            s.contains("New ignore rule")
                && s.contains("Preview  would suppress 1 of 5 open findings")
        })
        .await;
    assert!(screen.contains("Name       checkout-api-value"), "{screen}");
    assert!(
        screen.contains(&format!("Match      {ENV_PATH}")),
        "{screen}"
    );
    assert!(
        screen.contains("[x] this resource: apps/Deployment/checkout/checkout-api"),
        "{screen}"
    );
    assert!(
        screen.contains("Managed by (any manager; owners: kubectl-edit)"),
        "{screen}"
    );
    assert!(screen.contains("▶ Reason     (required)"), "{screen}");
    assert_eq!(preview_rows(&screen, "PAYMENT_TIMEOUT_MS"), 1, "{screen}");
    assert_eq!(preview_rows(&screen, ""), 1, "{screen}");
    tmux.type_text(REASON).await;
    tmux.wait("the reason typed", |s| {
        s.contains(&format!("▶ Reason     {REASON}"))
    })
    .await;
    // Up four fields (shift-tab) to the name: one rule for the whole container, renamed.
    tmux.keys(&["BTab", "BTab", "BTab", "BTab"]).await;
    tmux.wait("the name focused", |s| {
        s.contains("▶ Name       checkout-api-value")
    })
    .await;
    tmux.keys(&["-N", "5", "BSpace"]).await;
    tmux.type_text("containers").await;
    tmux.wait("the name edited", |s| {
        s.contains(&format!("▶ Name       {NAME}"))
    })
    .await;
    // Down (tab) to the match; the cursor is at its end: erase back to the container list.
    tmux.keys(&["Tab"]).await;
    tmux.wait("the match focused", |s| s.contains("▶ Match      spec."))
        .await;
    let erase = ENV_PATH.len() - "spec.template.spec.containers[".len();
    tmux.keys(&["-N", &erase.to_string(), "BSpace"]).await;
    let screen = tmux
        .wait("the match cut (it does not parse)", |s| {
            s.lines()
                .any(|line| line.trim_end() == "▶ Match      spec.template.spec.containers[")
                && s.contains("Preview  the rule does not parse: nothing to preview")
        })
        .await;
    // The caret just past the end, where a list selector should be.
    let (row, end) = column_of(&screen, "containers[").expect("the match line");
    let end = end + "containers[".len();
    assert_eq!(
        column_of(
            &screen,
            "^ expected `*`, an index, a quoted name or key=value, found the end"
        ),
        Some((row + 1, end)),
        "{screen}"
    );
    // A typo: the caret points at it.
    tmux.type_text("*}").await;
    let screen = tmux
        .wait("the parse error at the typo", |s| {
            s.contains("▶ Match      spec.template.spec.containers[*}")
                && s.contains("^ expected")
                && s.contains("Preview  the rule does not parse")
        })
        .await;
    let (row, typo) = column_of(&screen, "containers[*}").expect("the match line");
    let typo = typo + "containers[*".len();
    let (caret_row, caret) = column_of(&screen, "^ expected").expect("the caret");
    assert_eq!((caret_row, caret), (row + 1, typo), "{screen}");
    assert!(
        screen
            .lines()
            .nth(caret_row)
            .is_some_and(|l| l.contains("found '}'")),
        "{screen}"
    );
    tmux.keys(&["BSpace"]).await;
    tmux.type_text("]").await;
    let screen = tmux
        .wait("the preview of every container field", |s| {
            // All three rows drawn, not a frame captured half-way.
            s.contains(&format!("▶ Match      {EXPRESSION}"))
                && s.contains("Preview  would suppress 3 of 5 open findings")
                && preview_rows(s, "") == 3
                && s.contains("].resources.requests.cpu")
        })
        .await;
    assert!(!screen.contains("^ expected"), "{screen}");
    // The timeout, the image, and the CPU request the namespace's webhook set.
    for field in ["PAYMENT_TIMEOUT_MS", "].image", "].resources.requests.cpu"] {
        assert_eq!(preview_rows(&screen, field), 1, "{field}: {screen}");
    }
    assert_eq!(preview_rows(&screen, ""), 3, "{screen}");
    // ctrl-s saves; the editor closes on the incident.
    tmux.keys(&["C-s"]).await;
    let screen = tmux
        .wait("the rule saved", |s| {
            s.contains(&format!(
                "rule \"{NAME}\" saved: the next analysis applies it"
            )) && !s.contains("New ignore rule")
        })
        .await;
    assert!(screen.contains("› Incident"), "{screen}");

    // 4. The rule through the API, exactly as typed.
    let rules: Vec<IgnoreRule> = client
        .get(
            &format!("/api/v1/applications/{CHECKOUT}/ignore-rules"),
            None,
        )
        .await
        .expect("the rules")
        .data;
    let rule = rules
        .iter()
        .find(|rule| rule.name == NAME)
        .unwrap_or_else(|| panic!("no rule {NAME:?} in {rules:#?}"));
    assert_eq!(rule.match_expression, EXPRESSION);
    assert_eq!(
        rule.resource_ref.as_deref(),
        Some("apps/Deployment/checkout/checkout-api")
    );
    assert_eq!(rule.reason, REASON);
    assert_eq!(rule.managed_by, None);
    assert_eq!(rule.application_id, Some(CHECKOUT));
    assert!(rule.enabled && !rule.read_only, "{rule:#?}");

    // 5. Back on the application, the rule is on its tab; `a` re-analyses, followed live.
    tmux.keys(&["q"]).await;
    tmux.wait("the application", |s| {
        s.contains("Applications › checkout-api") && s.contains(INCIDENT)
    })
    .await;
    tmux.keys(&["3"]).await;
    tmux.wait("the rule on the Ignore Rules tab", |s| {
        has_all(s, &[NAME, EXPRESSION, "timeout tuned live"])
    })
    .await;
    tmux.keys(&["1"]).await;
    tmux.wait("the incidents tab", |s| s.contains(INCIDENT))
        .await;
    tmux.keys(&["a"]).await;
    // The run as the request returned it (queued, or running if the worker was quicker)
    // stays on screen until the next poll, a second later: long enough to be seen.
    tmux.wait("the requested analysis in progress", |s| {
        s.contains("requested analysis queued") || s.contains("requested analysis running")
    })
    .await;
    // The worker applies the new rule: the timeout, the image and the CPU request are
    // suppressed, the ConfigMap and the Service annotation remain.
    tmux.wait("the analysis to succeed", |s| {
        s.contains("requested analysis ok 2 findings, 2 incidents")
            && s.contains("analysis succeeded: 2 findings, 2 incidents")
    })
    .await;
    // The tabs reload: the incident is gone (all its findings are suppressed), and so is
    // the CPU request's.
    let screen = tmux
        .wait("the incident gone", |s| {
            s.contains("1 Incidents 2 · 2 Suppressed 6 ") && !s.contains(INCIDENT)
        })
        .await;
    assert!(
        has_all(
            &screen,
            &[
                "ConfigMap checkout/checkout-flags: missing from the cluster",
                "Service checkout/checkout-api: 1 field changed by kubectl-annotate"
            ]
        ),
        "{screen}"
    );
    assert!(!screen.contains("no recorded owner"), "{screen}");
    // `R` shows it resolved.
    tmux.keys(&["R"]).await;
    tmux.wait("the incident resolved", |s| {
        s.lines()
            .any(|line| line.contains(INCIDENT) && line.contains("resolved"))
    })
    .await;
    tmux.keys(&["R"]).await;
    tmux.wait("the resolved incidents hidden", |s| !s.contains(INCIDENT))
        .await;
    // The Suppressed tab: the new rule's three findings (its name is cut to the column),
    // with the rule's reason as it was when the analysis ran.
    tmux.keys(&["2"]).await;
    let screen = tmux
        .wait("the suppressed findings", |s| {
            s.contains("checkout-api-contain")
        })
        .await;
    let rows: Vec<&str> = screen
        .lines()
        .filter(|line| {
            line.trim_start_matches(['▶', ' '])
                .starts_with("checkout-api-contain")
        })
        .collect();
    assert_eq!(rows.len(), 3, "{screen}");
    assert!(
        rows.iter()
            .all(|row| row.contains("timeout tuned live during INC-")
                && row.contains("Deployment checkout/check")),
        "{screen}"
    );

    // And through the API: the three findings, suppressed by this rule, and no open
    // kubectl-edit incident.
    let suppressed: Vec<SuppressedFinding> = client
        .get(
            &format!("/api/v1/applications/{CHECKOUT}/suppressed-findings?limit=500"),
            None,
        )
        .await
        .expect("the suppressed findings")
        .data;
    let mut paths: Vec<&str> = suppressed
        .iter()
        .filter(|finding| finding.rule.name == NAME)
        .map(|finding| {
            assert_eq!(finding.rule.id, Some(rule.id));
            assert_eq!(finding.rule.reason, REASON);
            assert_eq!(finding.resource.name, "checkout-api");
            finding.path.as_str()
        })
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            ENV_PATH,
            "spec.template.spec.containers[name=checkout-api].image",
            "spec.template.spec.containers[name=checkout-api].resources.requests.cpu",
        ]
    );
    let open: Vec<Incident> = client
        .get(
            &format!("/api/v1/incidents?status=open&application_id={CHECKOUT}&limit=500"),
            Some(PAYMENTS),
        )
        .await
        .expect("the open incidents")
        .data;
    let mut titles: Vec<&str> = open
        .iter()
        .map(|incident| incident.title.as_str())
        .collect();
    titles.sort_unstable();
    assert_eq!(
        titles,
        [
            "ConfigMap checkout/checkout-flags: missing from the cluster",
            "Service checkout/checkout-api: 1 field changed by kubectl-annotate",
        ]
    );

    // 6. `:q` quits from anywhere with status 0.
    tmux.keys(&[":"]).await;
    tmux.type_text("q").await;
    tmux.keys(&["Enter"]).await;
    assert_eq!(tmux.wait_exit(&exit_file).await, "EXIT=0");
    assert_eq!(tmux.display("#{alternate_on} #{cursor_flag}").await, "0 1");
    drop(tmux);
    server.stop().await;
    drop(data);
}

/// A workspace rule written, switched off and deleted from the console, as an admin: each
/// save shows the server's own preview across every application first, the rule the API
/// then holds is exactly what was typed, a re-analysis suppresses exactly what the preview
/// listed, and every change is in the audit chain, which stays intact.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_workspace_rule_is_reviewed_across_applications_then_applies(pool: PgPool) {
    use statesight_core::wire::{
        AuditEntry, IgnoreRule, IgnoreRuleInput, SuppressedFinding, WorkspaceRulePreview,
    };
    const CHECKOUT: Uuid = statesight_store::seed::CHECKOUT_APPLICATION_ID;
    const PAYMENTS: Uuid = statesight_store::seed::PAYMENTS_WORKSPACE_ID;
    const NAME: &str = "images-pinned-by-release";
    const EXPRESSION: &str = "spec.template.spec.containers[*].image";
    const REASON: &str = "images are rolled by the release train, not by Git";

    let data = seeded_and_analysed_with_repos(&pool).await;
    let server = Server::start_with_worker(&pool, data.path()).await;
    let client = server.client();
    // What the server says this rule would suppress, asked independently of the console.
    let body = IgnoreRuleInput {
        name: NAME.to_owned(),
        match_expression: EXPRESSION.to_owned(),
        resource_ref: None,
        managed_by: None,
        reason: REASON.to_owned(),
        enabled: true,
    };
    let expected: WorkspaceRulePreview = statesight_tui::client::decode(
        client
            .send(
                reqwest::Method::POST,
                "/api/v1/ignore-rules/preview",
                Some(&serde_json::to_value(&body).expect("json")),
                Some(PAYMENTS),
            )
            .await
            .expect("the server's preview"),
    )
    .expect("a preview")
    .data;
    assert!(
        expected.applications.len() >= 2 && expected.suppresses_total >= 2,
        "the rule should reach several applications: {expected:#?}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let exit_file = dir.path().join("exit");
    let trace = dir.path().join("first-frame");
    let tmux = Tmux::start(&wrapped(
        &console_command(&server, dir.path(), &trace),
        &exit_file,
    ))
    .await;
    tmux.wait("the applications", |s| {
        has_all(s, &["checkout-api", "● ok"]) && selected_row(s).is_some()
    })
    .await;
    select_row(&tmux, "checkout-api", 3).await;
    tmux.keys(&["Enter"]).await;
    tmux.wait("the application", |s| {
        s.contains("Applications › checkout-api")
    })
    .await;
    tmux.keys(&["3"]).await;
    tmux.wait("the Ignore Rules tab", |s| s.contains("hpa-owns-replicas"))
        .await;

    // 1. `n`: a new rule; up to Level, space: for the whole workspace.
    tmux.keys(&["n"]).await;
    tmux.wait("the editor", |s| s.contains("New ignore rule"))
        .await;
    tmux.keys(&["BTab", "Space"]).await;
    tmux.wait("the workspace level", |s| {
        s.contains("New workspace ignore rule")
            && s.contains("[x] every application in acme-payments")
    })
    .await;
    tmux.keys(&["Tab"]).await;
    tmux.type_text(NAME).await;
    tmux.keys(&["Tab"]).await;
    tmux.type_text(EXPRESSION).await;
    tmux.keys(&["Tab", "Tab", "Tab"]).await;
    tmux.type_text(REASON).await;
    tmux.wait("the rule typed, previewed in this application", |s| {
        s.contains(&format!("▶ Reason     {REASON}"))
            && s.contains("Preview  in this application, would suppress")
    })
    .await;

    // 2. ctrl-s: the server's preview across the workspace, as the API gave it.
    tmux.keys(&["C-s"]).await;
    let screen = tmux
        .wait("the server's preview", |s| {
            s.contains("Server preview: workspace rule")
                && s.contains(&format!("Save the workspace rule \"{NAME}\"?"))
        })
        .await;
    let counted = expected
        .applications
        .iter()
        .filter(|a| !a.suppresses.is_empty())
        .count();
    assert!(
        screen.contains(&format!(
            "It suppresses {} open findings in {counted} applications",
            expected.suppresses_total
        )),
        "{screen}"
    );
    for application in &expected.applications {
        let line = format!(
            "{}  {} suppressed",
            application.application_name,
            application.suppresses.len()
        );
        assert!(screen.contains(&line), "{line:?} missing: {screen}");
    }
    tmux.keys(&["y"]).await;
    tmux.wait("the rule saved", |s| {
        s.contains(&format!("workspace rule \"{NAME}\" saved")) && s.contains(NAME)
    })
    .await;
    let rules: Vec<IgnoreRule> = client
        .get("/api/v1/ignore-rules", Some(PAYMENTS))
        .await
        .expect("the workspace rules")
        .data;
    let rule = rules
        .iter()
        .find(|rule| rule.name == NAME)
        .unwrap_or_else(|| panic!("no rule {NAME:?} in {rules:#?}"))
        .clone();
    assert_eq!(
        (
            rule.match_expression.as_str(),
            rule.reason.as_str(),
            rule.resource_ref.as_deref(),
            rule.managed_by.as_deref(),
            rule.application_id,
            rule.enabled
        ),
        (EXPRESSION, REASON, None, None, None, true)
    );

    // 3. `a` on the incidents tab: the re-analysis suppresses exactly what the preview
    // listed for checkout-api.
    tmux.keys(&["1"]).await;
    tmux.keys(&["a"]).await;
    tmux.wait("the analysis to succeed", |s| {
        s.contains("requested analysis ok") && s.contains("analysis succeeded")
    })
    .await;
    let suppressed: Vec<SuppressedFinding> = client
        .get(
            &format!("/api/v1/applications/{CHECKOUT}/suppressed-findings?limit=500"),
            None,
        )
        .await
        .expect("the suppressed findings")
        .data;
    let mut by_rule: Vec<(String, String)> = suppressed
        .iter()
        .filter(|finding| finding.rule.name == NAME)
        .map(|finding| (finding.resource.name.clone(), finding.path.clone()))
        .collect();
    by_rule.sort();
    let mut previewed: Vec<(String, String)> = expected
        .applications
        .iter()
        .filter(|a| a.application_id == CHECKOUT)
        .flat_map(|a| a.suppresses.iter())
        .map(|finding| (finding.resource.name.clone(), finding.path.clone()))
        .collect();
    previewed.sort();
    assert!(!previewed.is_empty(), "{expected:#?}");
    assert_eq!(by_rule, previewed);

    // 4. `space` on the rule: disabling it goes through a preview too.
    tmux.keys(&["3"]).await;
    tmux.wait("the rule on the tab", |s| s.contains(NAME)).await;
    select_row(&tmux, NAME, 6).await;
    tmux.keys(&["Space"]).await;
    tmux.wait("the preview of disabling it", |s| {
        s.contains(&format!("Disable the workspace rule \"{NAME}\"?"))
    })
    .await;
    tmux.keys(&["y"]).await;
    tmux.wait("the rule disabled", |s| {
        s.contains("workspace rule disabled")
            && s.lines()
                .any(|line| line.contains(NAME) && line.contains("disabled"))
    })
    .await;

    // 5. `d`, `y`: deleted.
    select_row(&tmux, NAME, 6).await;
    tmux.keys(&["d"]).await;
    tmux.wait("the confirmation", |s| {
        s.contains(&format!("Delete the workspace rule \"{NAME}\"?"))
    })
    .await;
    tmux.keys(&["y"]).await;
    tmux.wait("the rule deleted", |s| {
        s.contains("workspace rule deleted") && !s.contains(NAME)
    })
    .await;
    let rules: Vec<IgnoreRule> = client
        .get("/api/v1/ignore-rules", Some(PAYMENTS))
        .await
        .expect("the workspace rules")
        .data;
    assert!(rules.iter().all(|r| r.id != rule.id), "{rules:#?}");

    // Every change is in the audit chain, in order, and the chain is intact.
    let audit: Vec<AuditEntry> = client
        .get("/api/v1/audit?limit=200", Some(PAYMENTS))
        .await
        .expect("the audit log")
        .data;
    let mut actions: Vec<(i64, &str)> = audit
        .iter()
        .filter(|entry| entry.target_id == Some(rule.id))
        .map(|entry| (entry.seq, entry.action.as_str()))
        .collect();
    actions.sort_unstable();
    let actions: Vec<&str> = actions.into_iter().map(|(_, action)| action).collect();
    assert_eq!(
        actions,
        [
            "ignore_rule.create",
            "ignore_rule.replace",
            "ignore_rule.delete"
        ]
    );
    let verification = statesight_store::audit::verify(&pool)
        .await
        .expect("verifying");
    assert!(verification.broken.is_none(), "{verification:?}");

    tmux.keys(&[":"]).await;
    tmux.type_text("q").await;
    tmux.keys(&["Enter"]).await;
    assert_eq!(tmux.wait_exit(&exit_file).await, "EXIT=0");
    drop(tmux);
    server.stop().await;
    drop(data);
}

/// Attribution end to end: the demo's (synthetic) audit events of staging-eu-1 posted to the
/// webhook route with an ingestion token, checkout-api analysed again by the real worker,
/// then `statesight-tui blame` and the console's evidence pane and timeline show who set the
/// timeout, how, from where, and what it replaced — and Git's commit for the desired value.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn attribution_from_audit_events_in_blame_and_the_console(pool: PgPool) {
    use sha2::{Digest, Sha256};
    const CHECKOUT: Uuid = statesight_store::seed::CHECKOUT_APPLICATION_ID;
    const INCIDENT: &str = "Deployment checkout/checkout-api: 2 fields changed by kubectl-edit";

    let data = seeded_and_analysed_with_repos(&pool).await;
    let server = Server::start_with_worker(&pool, data.path()).await;
    let client = server.client();
    // An ingestion token of staging-eu-1, then the events, as the webhook backend sends them.
    let cluster = statesight_store::k8s_audit::clusters_named(
        &pool,
        "staging-eu-1",
        Some(statesight_store::seed::PAYMENTS_WORKSPACE_ID),
    )
    .await
    .expect("clusters")[0]
        .id;
    let token = "ssat_console-test-token-0123456789abcdefghijklmnop";
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    statesight_store::k8s_audit::create_token(
        &pool,
        &statesight_store::audit::Actor::system("test"),
        statesight_store::seed::PAYMENTS_WORKSPACE_ID,
        cluster,
        &digest,
        &token[..12],
    )
    .await
    .expect("a token");
    let lines = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/audit/staging-eu-1.jsonl"),
    )
    .expect("the demo's audit events");
    let items: Vec<serde_json::Value> = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("an event"))
        .collect();
    let body =
        serde_json::json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items});
    let reply = reqwest::Client::new()
        .post(format!(
            "{}api/v1/clusters/{cluster}/audit-events",
            server.url
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the delivery");
    assert!(reply.status().is_success(), "{:?}", reply.text().await);
    // checkout-api analysed again, by the worker.
    let run: serde_json::Value = statesight_tui::client::decode(
        client
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/applications/{CHECKOUT}/analyze"),
                Some(&serde_json::json!({})),
                None,
            )
            .await
            .expect("an analysis"),
    )
    .expect("the run")
    .data;
    let run_id = run["id"].as_str().expect("run id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run: serde_json::Value = client
            .get(&format!("/api/v1/analyses/{run_id}"), None)
            .await
            .expect("the run")
            .data;
        if run["status"] == "succeeded" {
            break;
        }
        assert!(run["status"] != "failed", "{run}");
        assert!(Instant::now() < deadline, "the analysis did not end: {run}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // blame: the timeout's line, with both sides.
    let dir = tempfile::tempdir().expect("temp dir");
    // The server runs on this test's runtime: the binary is awaited, never waited on.
    let blame = tokio::process::Command::new(BINARY)
        .args([
            "--server",
            &server.url,
            "--config-dir",
            dir.path().to_str().expect("path"),
            "--token-storage",
            "none",
            "blame",
            "apps/Deployment/checkout/checkout-api",
            "spec.template.spec.containers",
            "-o",
            "wide",
        ])
        .env_remove("NO_COLOR")
        .output()
        .await
        .expect("statesight-tui blame");
    let stdout = String::from_utf8_lossy(&blame.stdout);
    assert!(
        blame.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&blame.stderr)
    );
    let line = stdout
        .lines()
        .find(|line| line.contains("PAYMENT_TIMEOUT_MS"))
        .unwrap_or_else(|| panic!("no timeout line:\n{stdout}"));
    for part in [
        "checkout-api",
        "\"3000\"",
        "\"12000\"",
        "alice@acme.example (user) update 2026-11-18 02:17:44 (was \"3000\")",
        "observed-change",
        "10.20.0.14",
    ] {
        assert!(line.contains(part), "{part:?} missing in:\n{stdout}");
    }
    // Git's side: a commit, its author and date (the example history's).
    assert!(
        !line.contains(" - ") && !line.contains("not determined"),
        "Git's commit is missing:\n{stdout}"
    );
    // JSON has the whole evidence.
    let json = tokio::process::Command::new(BINARY)
        .args([
            "--server",
            &server.url,
            "--config-dir",
            dir.path().to_str().expect("path"),
            "--token-storage",
            "none",
            "blame",
            "apps/Deployment/checkout/checkout-api",
            "-o",
            "json",
        ])
        .output()
        .await
        .expect("statesight-tui blame -o json");
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let timeout = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| {
            row["path"]
                .as_str()
                .is_some_and(|p| p.contains("PAYMENT_TIMEOUT_MS"))
        })
        .expect("the timeout's row");
    assert_eq!(timeout["since"]["status"], "determined", "{timeout:#}");
    assert_eq!(timeout["attribution"]["grade"], "observed-change");

    // The console: the evidence pane's attribution and the timeline.
    let exit_file = dir.path().join("exit");
    let trace = dir.path().join("first-frame");
    let tmux = Tmux::start(&wrapped(
        &console_command(&server, dir.path(), &trace),
        &exit_file,
    ))
    .await;
    tmux.wait("the applications", |s| {
        has_all(s, &["checkout-api", "● ok"]) && selected_row(s).is_some()
    })
    .await;
    select_row(&tmux, "checkout-api", 3).await;
    tmux.keys(&["Enter"]).await;
    tmux.wait("the application's incidents", |s| s.contains(INCIDENT))
        .await;
    select_row(&tmux, "kubectl-edit", 6).await;
    tmux.keys(&["Enter"]).await;
    tmux.wait("the incident", |s| s.contains("Findings 2"))
        .await;
    select_row(&tmux, "3000", 2).await;
    let screen = tmux
        .wait("Git's commit for the desired value", |s| {
            s.contains("Since")
        })
        .await;
    assert!(!screen.contains("Since      not determined"), "{screen}");
    tmux.keys(&["Tab", "J"]).await;
    tmux.wait("the attribution's grade", |s| {
        s.contains("Grade      observed-change")
    })
    .await;
    // Half a pane further: the audit event it rests on.
    tmux.keys(&["J"]).await;
    let screen = tmux
        .wait("the audit event under the attribution", |s| {
            has_all(
                s,
                &[
                    "alice@acme.example (user) update",
                    "set \"12000\" (was \"3000\")",
                ],
            )
        })
        .await;
    assert!(screen.contains("10.20.0.14"), "{screen}");
    assert!(screen.contains("field manager kubectl-edit"), "{screen}");
    // Down to the timeline (the rationale above it also speaks of an audit event): its row
    // of kind `audit event` names who, how and with what.
    let on_timeline = |s: &str| {
        s.lines().any(|l| {
            l.contains("audit event") && l.contains("alice@acme.example (user) update with")
        })
    };
    for _ in 0..4 {
        let before = tmux.screen().await;
        if on_timeline(&before) {
            break;
        }
        tmux.keys(&["J"]).await;
        tmux.wait("the evidence to scroll", |s| s != before).await;
    }
    tmux.wait("the timeline's audit event", on_timeline).await;
    tmux.keys(&[":"]).await;
    tmux.type_text("q").await;
    tmux.keys(&["Enter"]).await;
    assert_eq!(tmux.wait_exit(&exit_file).await, "EXIT=0");
    drop(tmux);
    server.stop().await;
    drop(data);
}

/// SIGTERM and SIGHUP (the SSH connection dropping) restore the terminal and exit with
/// 128 + the signal; Ctrl-C quits with 0 even while typing.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn signals_and_ctrl_c_restore_the_terminal(pool: PgPool) {
    seeded(&pool).await;
    let server = Server::start(&pool).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = dir.path().join("trace");
    for (signal, status) in [("TERM", "EXIT=143"), ("HUP", "EXIT=129")] {
        let exit = dir.path().join(format!("exit-{signal}"));
        let tmux = Tmux::start(&wrapped(
            &console_command(&server, dir.path(), &trace),
            &exit,
        ))
        .await;
        tmux.wait("the applications", |s| s.contains("billing-worker"))
            .await;
        assert_eq!(tmux.display("#{alternate_on} #{cursor_flag}").await, "1 0");
        let pid = tmux.console_pid().await;
        let killed = tokio::process::Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .await
            .expect("kill");
        assert!(killed.success());
        assert_eq!(tmux.wait_exit(&exit).await, status, "SIG{signal}");
        assert_eq!(
            tmux.display("#{alternate_on} #{cursor_flag}").await,
            "0 1",
            "SIG{signal}"
        );
    }
    let exit = dir.path().join("exit-ctrl-c");
    let tmux = Tmux::start(&wrapped(
        &console_command(&server, dir.path(), &trace),
        &exit,
    ))
    .await;
    tmux.wait("the applications", |s| s.contains("billing-worker"))
        .await;
    tmux.keys(&["/"]).await;
    tmux.type_text("q").await;
    tmux.wait("q typed into the filter", |s| s.contains("/q"))
        .await;
    tmux.keys(&["C-c"]).await;
    assert_eq!(tmux.wait_exit(&exit).await, "EXIT=0");
    assert_eq!(tmux.display("#{alternate_on} #{cursor_flag}").await, "0 1");
    drop(tmux);
    // NO_COLOR: no colour reaches the terminal, and the selection is still reverse video
    // (crossterm's own NO_COLOR handling would have reset it).
    let tmux = Tmux::start(&format!(
        "exec {}",
        console_command_with(&server, dir.path(), &trace, "NO_COLOR=1")
    ))
    .await;
    tmux.wait("the applications", |s| {
        s.contains("billing-worker") && s.contains("● ok")
    })
    .await;
    let styled = tmux.screen_with_escapes().await;
    let selected = styled
        .lines()
        .find(|line| line.contains("▶"))
        .expect("a selected row");
    // tmux writes reverse video as `ESC[7m` or `ESC[0;7m`.
    assert!(
        selected.contains("\u{1b}[7m") || selected.contains("\u{1b}[0;7m"),
        "{selected:?}"
    );
    for colour in [
        "[38;", "[48;", "[31m", "[32m", "[33m", "[34m", "[36m", "[91m",
    ] {
        assert!(!styled.contains(colour), "{colour} in {styled:?}");
    }
    drop(tmux);
    // A bad keys.toml: the console starts with the default keys and says why.
    std::fs::write(
        dir.path().join("keys.toml"),
        "[applications]\nsort = [\"ctl-s\"]\n",
    )
    .expect("keys.toml");
    let tmux = Tmux::start(&format!(
        "exec {}",
        console_command(&server, dir.path(), &trace)
    ))
    .await;
    let screen = tmux
        .wait("the keys.toml error", |s| {
            s.contains("keys.toml: [applications] sort: unknown key")
        })
        .await;
    // Running with the default keys: connecting, loading or showing the applications.
    assert!(
        screen.contains("billing-worker")
            || screen.contains("loading")
            || screen.contains("waiting for the server"),
        "{screen}"
    );
    tmux.type_text("s").await;
    tmux.wait("the default sort key", |s| s.contains("sort cluster ▲"))
        .await;
    drop(tmux);
    server.stop().await;
}

#[test]
fn the_escape_check_catches_injected_sequences() {
    assert!(only_own_styles("\u{1b}[1m\u{1b}[38;5;203mCRIT\u{1b}[39m\u{1b}[49m ok\n").is_ok());
    assert!(only_own_styles("\u{1b}[31mrelease-bot\u{1b}[0m").is_err());
    assert!(only_own_styles("\u{1b}[1;91mx").is_err());
    assert!(only_own_styles("\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}").is_err());
    assert!(only_own_styles("\u{1b}[2J").is_err());
    assert!(only_own_styles("a\u{202e}b").is_err());
    assert!(only_own_styles("a\u{9b}2Jb").is_err());
}
