//! The impure edge: the terminal (raw mode, alternate screen, always restored), the event
//! loop, and the [`Executor`] that turns [`Cmd`]s into background requests whose answers
//! come back as [`Msg`]s over a channel. The loop never waits on the network: it waits on
//! the next key, tick, reply or signal, updates, and draws.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Stdout};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, Event, EventStream};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::app::{App, Cmd, Kind, Msg, PAGE_SIZE, Settings, update};
use super::draw::draw;
use super::keys::Keymap;
use super::theme::{Theme, depth};
use crate::client::{ApiClient, DeviceSignIn};
use crate::config::Context;

/// How often the clock (ages, spinner, countdowns) moves.
const TICK: Duration = Duration::from_millis(250);
/// How often the screen in view reloads in the background (the selection and scroll stay).
const REFRESH: Duration = Duration::from_secs(30);

/// Runs the console until the user quits (`Ok`), or a signal ends it (the terminal is
/// restored, then the process exits with 128 + the signal number).
pub async fn run(context: Context) -> anyhow::Result<()> {
    let started = Instant::now();
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        bail!(
            "the console needs a terminal; for scripts use `statesight-tui get …` or \
             `statesight-tui api …`"
        );
    }
    let trace = std::env::var_os("STATESIGHT_TUI_TRACE_FIRST_FRAME")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);
    let (keymap, keymap_error) = Keymap::load(&context.config_dir);
    let theme = Theme::new(depth(context.color, |name| std::env::var(name).ok()));
    let size = crossterm::terminal::size().unwrap_or((80, 24));
    let mut app = App::new(Settings {
        server: context.server.to_string(),
        workspace: context.workspace.clone(),
        remembered_workspace: context.last_workspace().map(|workspace| workspace.id),
        sign_in_available: context.sign_in.is_some(),
        keymap,
        theme,
        now: Utc::now(),
        size,
        refresh: REFRESH,
    });
    if let Some(error) = keymap_error {
        app.set_error(&error, Some(Kind::Keys));
    }
    let (sender, mut replies) = mpsc::unbounded_channel();
    let remembering = context.clone();
    let mut executor = Executor::new(context.client.clone(), context.sign_in.clone(), sender)
        .remembering(Arc::new(move |id, name: &str| {
            // A convenience: a read-only config directory must not disturb the console.
            let _ = remembering.remember_workspace_id(id, name);
        }));
    // The highlighter's syntaxes load while the first screens do.
    tokio::task::spawn_blocking(super::highlight::warm_up);
    // The first request leaves before the terminal is even set up.
    for command in app.start() {
        executor.execute(command);
    }
    let mut terminal = enter().context("setting up the terminal")?;
    let outcome = event_loop(
        &mut terminal,
        &mut app,
        &mut executor,
        &mut replies,
        trace,
        started,
    )
    .await;
    executor.shutdown();
    restore();
    match outcome {
        Ok(Exit::Quit) => Ok(()),
        Ok(Exit::Signal(number)) => std::process::exit(128 + number),
        Err(error) => Err(error),
    }
}

enum Exit {
    Quit,
    /// SIGTERM, SIGHUP (the SSH connection dropped), SIGINT, or the input closing.
    Signal(i32),
}

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    executor: &mut Executor,
    replies: &mut mpsc::UnboundedReceiver<Msg>,
    trace: Option<PathBuf>,
    started: Instant,
) -> anyhow::Result<Exit> {
    let mut events = EventStream::new();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut trace = trace;
    terminal.draw(|frame| draw(frame, app))?;
    loop {
        let message = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => Msg::Key(key),
                Some(Ok(Event::Paste(text))) => Msg::Paste(text),
                Some(Ok(Event::Resize(width, height))) => Msg::Resize(width, height),
                Some(Ok(_)) => continue,
                // The terminal is gone (e.g. the SSH connection dropped before SIGHUP).
                Some(Err(_)) | None => return Ok(Exit::Signal(SIGHUP)),
            },
            Some(message) = replies.recv() => message,
            _ = ticks.tick() => Msg::Tick(Utc::now()),
            _ = terminate.recv() => return Ok(Exit::Signal(SIGTERM)),
            _ = hangup.recv() => return Ok(Exit::Signal(SIGHUP)),
            _ = interrupt.recv() => return Ok(Exit::Signal(SIGINT)),
        };
        let mut commands = update(app, message);
        // Everything else already waiting goes into the same frame.
        while let Ok(message) = replies.try_recv() {
            commands.extend(update(app, message));
        }
        for command in commands {
            if command == Cmd::Quit {
                return Ok(Exit::Quit);
            }
            executor.execute(command);
        }
        terminal.draw(|frame| draw(frame, app))?;
        if app.has_data()
            && let Some(path) = trace.take()
        {
            write_trace(&path, started);
        }
    }
}

/// `STATESIGHT_TUI_TRACE_FIRST_FRAME`: how long after the process started (and after the
/// console started) the first frame with data from the server was drawn.
fn write_trace(path: &std::path::Path, console_started: Instant) {
    let console_ms = console_started.elapsed().as_secs_f64() * 1000.0;
    let process_ms = process_age()
        .map(|age| format!("{:.0}", age.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| String::from("unknown"));
    let text = format!("first_frame_ms={process_ms}\nconsole_first_frame_ms={console_ms:.1}\n");
    let _ = std::fs::write(path, text);
}

/// How long this process has run, from `/proc` (10 ms resolution on Linux).
fn process_age() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain anything.
    let rest = &stat[stat.rfind(')')? + 2..];
    // `starttime` is field 22 overall, the 20th after the name.
    let start_ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // USER_HZ is 100 on every Linux architecture the console runs on.
    let age = uptime - start_ticks / 100.0;
    (age >= 0.0).then(|| Duration::from_secs_f64(age))
}

fn enter() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    // The theme handles NO_COLOR; crossterm's own handling would also drop bold and
    // reverse video, which the monochrome theme relies on.
    crossterm::style::force_color_output(true);
    install_panic_hook();
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    if let Err(error) = crossterm::execute!(stdout, EnterAlternateScreen, EnableBracketedPaste) {
        restore();
        return Err(error);
    }
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout))?;
    terminal.hide_cursor()?;
    terminal.clear()?;
    Ok(terminal)
}

/// Puts the terminal back as the shell had it. Safe to call twice and when the terminal is
/// gone (errors are ignored: there is nobody to tell).
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = crossterm::execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// A panic anywhere (the loop or a background task) restores the terminal before the
/// message is printed, then ends the process: a half-drawn console is worse than none.
fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
            std::process::exit(101);
        }));
    });
}

/// What a background task is doing; a new command of a kind cancels the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Me,
    Overview,
    Applications,
    Incidents,
    SignIn,
    Application,
    OpenIncidents,
    ResolvedIncidents,
    Analyses,
    Rules,
    Suppressed,
    Analyze,
    Poll,
    Incident,
    Findings,
    Timeline,
    OpenFindings,
    RuleWrite,
    /// The workspace's event stream (one at a time: a new workspace replaces it).
    Events,
}

/// Runs [`Cmd`]s as tokio tasks that send their answer back as a [`Msg`].
/// Stores the last workspace used (its id and name).
pub type RememberWorkspace = dyn Fn(uuid::Uuid, &str) + Send + Sync;

pub struct Executor {
    client: ApiClient,
    sign_in: Option<Arc<dyn DeviceSignIn>>,
    sender: mpsc::UnboundedSender<Msg>,
    tasks: HashMap<Slot, AbortHandle>,
    remember: Option<Arc<RememberWorkspace>>,
}

impl Executor {
    pub fn new(
        client: ApiClient,
        sign_in: Option<Arc<dyn DeviceSignIn>>,
        sender: mpsc::UnboundedSender<Msg>,
    ) -> Executor {
        Executor {
            client,
            sign_in,
            sender,
            tasks: HashMap::new(),
            remember: None,
        }
    }

    /// Where `Cmd::RememberWorkspace` goes (the config directory's state file).
    pub fn remembering(mut self, remember: Arc<RememberWorkspace>) -> Executor {
        self.remember = Some(remember);
        self
    }

    /// Starts `command` in the background (`Quit` is the loop's business and ignored here).
    pub fn execute(&mut self, command: Cmd) {
        let client = self.client.clone();
        let sender = self.sender.clone();
        match command {
            Cmd::FetchMe { seq } => self.spawn(Slot::Me, async move {
                let result = client.get("/api/v1/me", None).await;
                let _ = sender.send(Msg::Me { seq, result });
            }),
            Cmd::FetchOverview { seq, workspace } => self.spawn(Slot::Overview, async move {
                let result = client.get("/api/v1/overview", Some(workspace)).await;
                let _ = sender.send(Msg::Overview { seq, result });
            }),
            Cmd::FetchApplications {
                seq,
                workspace,
                cursor,
            } => self.spawn(Slot::Applications, async move {
                let path = list_path("/api/v1/applications?", cursor.as_deref());
                let result = client.get(&path, Some(workspace)).await;
                let first = cursor.is_none();
                let _ = sender.send(Msg::Applications { seq, first, result });
            }),
            Cmd::FetchIncidents {
                seq,
                workspace,
                cursor,
            } => self.spawn(Slot::Incidents, async move {
                let path = list_path("/api/v1/incidents?status=open&", cursor.as_deref());
                let result = client.get(&path, Some(workspace)).await;
                let first = cursor.is_none();
                let _ = sender.send(Msg::Incidents { seq, first, result });
            }),
            Cmd::FetchApplication { seq, id } => self.spawn(Slot::Application, async move {
                let result = client
                    .get(&format!("/api/v1/applications/{id}"), None)
                    .await;
                let _ = sender.send(Msg::ApplicationDetail { seq, result });
            }),
            Cmd::FetchApplicationIncidents {
                seq,
                workspace,
                id,
                resolved,
                cursor,
            } => {
                let slot = if resolved {
                    Slot::ResolvedIncidents
                } else {
                    Slot::OpenIncidents
                };
                self.spawn(slot, async move {
                    let status = if resolved { "resolved" } else { "open" };
                    let path = list_path(
                        &format!("/api/v1/incidents?application_id={id}&status={status}&"),
                        cursor.as_deref(),
                    );
                    let first = cursor.is_none();
                    let result = client.get(&path, Some(workspace)).await;
                    let _ = sender.send(Msg::ApplicationIncidents {
                        seq,
                        resolved,
                        first,
                        result,
                    });
                })
            }
            Cmd::FetchAnalyses { seq, id, cursor } => self.spawn(Slot::Analyses, async move {
                let path = list_path(
                    &format!("/api/v1/applications/{id}/analyses?"),
                    cursor.as_deref(),
                );
                let result = client.get(&path, None).await;
                let first = cursor.is_none();
                let _ = sender.send(Msg::Analyses { seq, first, result });
            }),
            Cmd::FetchSuppressed { seq, id, cursor } => self.spawn(Slot::Suppressed, async move {
                let path = list_path(
                    &format!("/api/v1/applications/{id}/suppressed-findings?"),
                    cursor.as_deref(),
                );
                let result = client.get(&path, None).await;
                let first = cursor.is_none();
                let _ = sender.send(Msg::Suppressed { seq, first, result });
            }),
            Cmd::FetchIgnoreRules { seq, id } => self.spawn(Slot::Rules, async move {
                let path = format!("/api/v1/applications/{id}/ignore-rules");
                let result = client.get(&path, None).await;
                let _ = sender.send(Msg::IgnoreRules { seq, result });
            }),
            Cmd::Analyze { seq, id } => self.spawn(Slot::Analyze, async move {
                let path = format!("/api/v1/applications/{id}/analyze");
                let body = serde_json::json!({});
                let answer = client
                    .send(reqwest::Method::POST, &path, Some(&body), None)
                    .await;
                let (created, result) = match answer {
                    Ok(raw) => (raw.status == 202, crate::client::decode(raw)),
                    Err(error) => (false, Err(error)),
                };
                let _ = sender.send(Msg::Analyzed {
                    seq,
                    created,
                    result,
                });
            }),
            Cmd::PollAnalysis { seq, run, after } => self.spawn(Slot::Poll, async move {
                tokio::time::sleep(after).await;
                let result = client.get(&format!("/api/v1/analyses/{run}"), None).await;
                let _ = sender.send(Msg::Analysis { seq, result });
            }),
            Cmd::BeginSignIn { seq } => {
                let sign_in = self.sign_in.clone();
                self.spawn(Slot::SignIn, async move {
                    let Some(sign_in) = sign_in else {
                        let _ = sender.send(Msg::SignInDone {
                            seq,
                            result: Err(String::from(
                                "signing in is not available here: run `statesight-tui login`",
                            )),
                        });
                        return;
                    };
                    match sign_in.begin().await {
                        Ok(pending) => {
                            let expires_in = pending
                                .expires_at
                                .saturating_duration_since(std::time::Instant::now());
                            let _ = sender.send(Msg::SignInCode {
                                seq,
                                user_code: pending.user_code,
                                verification_uri: pending.verification_uri,
                                verification_uri_complete: pending.verification_uri_complete,
                                expires_in,
                            });
                            let result = pending.completion.await.map_err(|e| e.to_string());
                            let _ = sender.send(Msg::SignInDone { seq, result });
                        }
                        Err(error) => {
                            let _ = sender.send(Msg::SignInDone {
                                seq,
                                result: Err(error.to_string()),
                            });
                        }
                    }
                });
            }
            Cmd::FetchIncident { seq, id } => self.spawn(Slot::Incident, async move {
                let result = client.get(&format!("/api/v1/incidents/{id}"), None).await;
                let _ = sender.send(Msg::Incident { seq, result });
            }),
            Cmd::FetchFindings { seq, id, cursor } => self.spawn(Slot::Findings, async move {
                let path = list_path(
                    &format!("/api/v1/incidents/{id}/findings?"),
                    cursor.as_deref(),
                );
                let first = cursor.is_none();
                let result = client.get(&path, None).await;
                let _ = sender.send(Msg::Findings { seq, first, result });
            }),
            Cmd::FetchTimeline { seq, id } => self.spawn(Slot::Timeline, async move {
                let result = fetch_all(&client, &format!("/api/v1/incidents/{id}/timeline?")).await;
                let _ = sender.send(Msg::Timeline { seq, result });
            }),
            Cmd::FetchOpenFindings { seq, id, cursor } => {
                self.spawn(Slot::OpenFindings, async move {
                    let path = list_path(
                        &format!("/api/v1/applications/{id}/findings?"),
                        cursor.as_deref(),
                    );
                    let first = cursor.is_none();
                    let result = client.get(&path, None).await;
                    let _ = sender.send(Msg::OpenFindings { seq, first, result });
                })
            }
            Cmd::SaveRule {
                seq,
                application,
                rule,
                input,
            } => self.spawn(Slot::RuleWrite, async move {
                let (method, path) = match rule {
                    Some(rule) => (
                        reqwest::Method::PUT,
                        format!("/api/v1/applications/{application}/ignore-rules/{rule}"),
                    ),
                    None => (
                        reqwest::Method::POST,
                        format!("/api/v1/applications/{application}/ignore-rules"),
                    ),
                };
                let result = match serde_json::to_value(&input) {
                    Ok(body) => client
                        .send(method, &path, Some(&body), None)
                        .await
                        .and_then(crate::client::decode),
                    Err(error) => Err(crate::client::ClientError::Protocol(error.to_string())),
                };
                let _ = sender.send(Msg::RuleSaved { seq, result });
            }),
            Cmd::EnableRule {
                seq,
                application,
                rule,
                enabled,
            } => self.spawn(Slot::RuleWrite, async move {
                let path = format!("/api/v1/applications/{application}/ignore-rules/{rule}");
                let body = serde_json::json!({ "enabled": enabled });
                let result = client
                    .send(reqwest::Method::PATCH, &path, Some(&body), None)
                    .await
                    .map(|_| ());
                let done = if enabled {
                    "rule enabled: the next analysis applies it"
                } else {
                    "rule disabled: the next analysis ignores it"
                };
                let _ = sender.send(Msg::RuleChanged {
                    seq,
                    done: done.to_owned(),
                    result,
                });
            }),
            Cmd::DeleteRule {
                seq,
                application,
                rule,
            } => self.spawn(Slot::RuleWrite, async move {
                let path = format!("/api/v1/applications/{application}/ignore-rules/{rule}");
                let result = client
                    .send(reqwest::Method::DELETE, &path, None, None)
                    .await
                    .map(|_| ());
                let _ = sender.send(Msg::RuleChanged {
                    seq,
                    done: String::from("rule deleted: its findings return at the next analysis"),
                    result,
                });
            }),
            Cmd::PreviewWorkspaceRule {
                seq,
                workspace,
                input,
            } => self.spawn(Slot::RuleWrite, async move {
                let result = match serde_json::to_value(&input) {
                    Ok(body) => client
                        .send(
                            reqwest::Method::POST,
                            "/api/v1/ignore-rules/preview",
                            Some(&body),
                            Some(workspace),
                        )
                        .await
                        .and_then(crate::client::decode),
                    Err(error) => Err(crate::client::ClientError::Protocol(error.to_string())),
                };
                let _ = sender.send(Msg::WorkspaceRulePreviewed { seq, result });
            }),
            Cmd::SaveWorkspaceRule {
                seq,
                workspace,
                rule,
                input,
                token,
            } => self.spawn(Slot::RuleWrite, async move {
                let (method, path) = match rule {
                    Some(rule) => (reqwest::Method::PUT, format!("/api/v1/ignore-rules/{rule}")),
                    None => (reqwest::Method::POST, String::from("/api/v1/ignore-rules")),
                };
                let headers = [("x-rule-preview-token", token.as_str())];
                let result = match serde_json::to_value(&input) {
                    Ok(body) => client
                        .send_with(method, &path, Some(&body), Some(workspace), &headers)
                        .await
                        .and_then(crate::client::decode),
                    Err(error) => Err(crate::client::ClientError::Protocol(error.to_string())),
                };
                let _ = sender.send(Msg::RuleSaved { seq, result });
            }),
            Cmd::DeleteWorkspaceRule { seq, rule } => self.spawn(Slot::RuleWrite, async move {
                let path = format!("/api/v1/ignore-rules/{rule}");
                let result = client
                    .send(reqwest::Method::DELETE, &path, None, None)
                    .await
                    .map(|_| ());
                let _ = sender.send(Msg::RuleChanged {
                    seq,
                    done: String::from(
                        "workspace rule deleted: what it suppressed returns at each \
                         application's next analysis",
                    ),
                    result,
                });
            }),
            Cmd::Copy { text, what } => {
                let result = write_clipboard(&text);
                let _ = sender.send(Msg::Copied { what, result });
            }
            Cmd::RememberWorkspace { id, name } => {
                if let Some(remember) = &self.remember {
                    let remember = Arc::clone(remember);
                    // A small file write, off the event loop.
                    tokio::task::spawn_blocking(move || remember(id, &name));
                }
            }
            Cmd::Subscribe { workspace } => {
                self.spawn(
                    Slot::Events,
                    super::subscription::follow(client, workspace, sender),
                );
            }
            Cmd::CancelSignIn => {
                if let Some(task) = self.tasks.remove(&Slot::SignIn) {
                    task.abort();
                }
            }
            Cmd::Quit => {}
        }
    }

    fn spawn(&mut self, slot: Slot, task: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task).abort_handle();
        if let Some(previous) = self.tasks.insert(slot, handle) {
            previous.abort();
        }
    }

    /// Cancels everything still running.
    pub fn shutdown(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
    }
}

/// Every page of a list route (`base` ends in `?` or `&`), for lists read whole.
async fn fetch_all<T: serde::de::DeserializeOwned>(
    client: &ApiClient,
    base: &str,
) -> Result<crate::client::Reply<Vec<T>>, crate::client::ClientError> {
    let mut reply: crate::client::Reply<Vec<T>> = client.get(&list_path(base, None), None).await?;
    while let Some(cursor) = reply.next_cursor.take() {
        let page: crate::client::Reply<Vec<T>> =
            client.get(&list_path(base, Some(&cursor)), None).await?;
        reply.data.extend(page.data);
        reply.next_cursor = page.next_cursor;
    }
    Ok(reply)
}

/// Writes the OSC 52 sequence that puts `text` on the terminal's clipboard (through tmux
/// or screen when the console runs inside one); the byte count on success.
fn write_clipboard(text: &str) -> Result<usize, String> {
    use std::io::Write as _;
    let sequence = super::clipboard::osc52(text, |name| std::env::var(name).ok())
        .map_err(|error| error.to_string())?;
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(sequence.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| format!("writing to the terminal: {error}"))?;
    Ok(text.len())
}

/// `base` (ending in `?` or `&`) with the page size and, after the first page, the cursor.
fn list_path(base: &str, cursor: Option<&str>) -> String {
    match cursor {
        Some(cursor) => format!("{base}limit={PAGE_SIZE}&cursor={}", percent_encode(cursor)),
        None => format!("{base}limit={PAGE_SIZE}"),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Drives the app headless (no terminal): executes its commands with a real client and
/// feeds the replies back until `done` says so or `timeout` passes. For tests and tools.
pub async fn drive(
    app: &mut App,
    client: ApiClient,
    sign_in: Option<Arc<dyn DeviceSignIn>>,
    commands: Vec<Cmd>,
    timeout: Duration,
    done: impl Fn(&App) -> bool,
) -> bool {
    let (sender, mut replies) = mpsc::unbounded_channel();
    let mut executor = Executor::new(client, sign_in, sender);
    for command in commands {
        executor.execute(command);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    while !done(app) {
        let message = tokio::select! {
            message = replies.recv() => match message {
                Some(message) => message,
                None => return false,
            },
            _ = tokio::time::sleep_until(deadline) => return false,
        };
        for command in update(app, message) {
            executor.execute(command);
        }
    }
    executor.shutdown();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_percent_encoded() {
        assert_eq!(percent_encode("abc-_.~XYZ09"), "abc-_.~XYZ09");
        assert_eq!(percent_encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
        assert_eq!(list_path("/x?", None), "/x?limit=500");
        assert_eq!(
            list_path("/x?s=1&", Some("q r")),
            "/x?s=1&limit=500&cursor=q%20r"
        );
    }

    #[test]
    fn the_process_age_is_known_on_linux() {
        let age = process_age().expect("/proc is readable");
        assert!(age < Duration::from_secs(3600));
    }
}
