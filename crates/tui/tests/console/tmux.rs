//! The real `statesight-tui` binary in a real terminal (tmux, private server, fixed size)
//! against a real server in process on seeded, analysed data. Waits poll the screen every
//! 50 ms (10 ms for the first frame) up to a timeout and print the screen when it passes;
//! nothing sleeps a fixed time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use super::served::{Server, seeded, seeded_and_analysed};

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
    let screen = tmux
        .wait("the overview", |s| s.contains("Most severe open incidents"))
        .await;
    assert!(screen.contains("Recent analyses"), "{screen}");
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
    assert!(
        screen.contains("billing-worker") || screen.contains("loading"),
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
