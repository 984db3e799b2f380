//! The console's state and its one state transition, [`update`]: a message in (a key, a
//! tick, an API reply), the state changed, commands out (requests to make, quitting).
//! Nothing here touches the network, the terminal or the clock, so every behaviour is a
//! unit test: `update(&mut app, msg)` and look at the state and the commands.
//!
//! Requests carry a sequence number; the app remembers the latest one per kind and drops
//! any reply that is not for it, so a slow answer for a workspace the user already left
//! never overwrites the current one (the latest request wins).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use statesight_core::wire::{
    AnalysisRun, Application, ApplicationDetail, Finding, IgnoreRule, Incident, Me, Overview,
    SeverityCounts, SuppressedFinding, TimelineEvent, WorkspaceRulePreview,
};
use uuid::Uuid;

use super::application;
use super::appscreen::{AppScreen, Tab};
use super::incident::IncidentScreen;
use super::keys::{Action, KeyChord, Keymap, Scope};
use super::model::{
    self, AppRow, IncidentRow, MeView, OverviewView, WorkspaceView, choose_workspace, compare_apps,
    compare_incidents, counts_by_application,
};
use super::palette::{self, Command, Palette};
use super::rule_editor::RuleEditor;
use super::table::TableView;
use super::text::{clean, typed};
use super::theme::Theme;
use super::workspace_rules::RuleReview;
use crate::client::{ClientError, CredentialError, Reply};

/// Rows of the screen that are not the body: header, status line, key hints.
pub const CHROME_ROWS: u16 = 3;
/// Rows of a table that are not data: its title line and column header.
pub const TABLE_CHROME_ROWS: u16 = 2;
/// How long an informational status message stays.
const INFO_SECONDS: i64 = 6;
/// How often a requested analysis is polled until it ends.
pub const ANALYSIS_POLL: Duration = Duration::from_secs(1);
/// Rows of the application screen's body that are not data: the tab bar, column header.
pub const TAB_CHROME_ROWS: u16 = 2;
/// Rows per request when paginating lists.
pub const PAGE_SIZE: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Applications,
    Incidents,
    /// One application, in tabs: incidents, suppressed findings, ignore rules, analyses.
    Application(Uuid),
    /// One incident: its findings, the evidence of the selected one, its timeline.
    Incident(Uuid),
    /// Writing or changing an ignore rule, with its live preview.
    RuleEditor,
}

impl Screen {
    /// The `keys.toml` section of the screen's own keys.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Screen::Applications => Some(Scope::Applications),
            Screen::Incidents => Some(Scope::Incidents),
            Screen::Application(_) => Some(Scope::Application),
            Screen::Incident(_) => Some(Scope::Incident),
            Screen::RuleEditor => Some(Scope::RuleEditor),
            Screen::Overview => None,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview",
            Screen::Applications => "Applications",
            Screen::Incidents => "Incidents",
            Screen::Application(_) => "Application",
            Screen::Incident(_) => "Incident",
            Screen::RuleEditor => "Ignore rule",
        }
    }
}

/// How the console stands with the server, for the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Ok,
    Error,
    SignedOut,
}

/// What a request is for; a status error remembers it so a later success clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Me,
    Overview,
    Applications,
    Incidents,
    SignIn,
    Palette,
    Keys,
    Application,
    Analyze,
    Incident,
    Rules,
    Clipboard,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    pub request_id: Option<String>,
    pub source: Option<Kind>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelpState {
    pub filter: String,
    pub scroll: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help(HelpState),
    Palette(Palette),
    /// A destructive action waiting for `y`.
    Confirm(Confirm),
    /// The server's preview of a workspace rule, waiting for `y` to save it.
    Review(RuleReview),
}

/// What a confirmation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    DeleteRule {
        application: Uuid,
        rule: Uuid,
    },
    /// `DELETE /api/v1/ignore-rules/:rule`.
    DeleteWorkspaceRule {
        rule: Uuid,
    },
    /// Leave the rule editor, losing what was typed.
    DiscardEdits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// The question, neutralized.
    pub question: String,
    pub action: Confirmed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInPhase {
    /// Asking the identity provider for a code.
    Starting,
    Waiting {
        user_code: String,
        verification_uri: String,
        verification_uri_complete: Option<String>,
        deadline: DateTime<Utc>,
    },
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub seq: u64,
    pub phase: SignInPhase,
}

/// Progress of a paginated list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadState {
    pub loading: bool,
    /// Pages received for the current load.
    pub pages: usize,
    /// Every page of the current load arrived.
    pub complete: bool,
}

/// Requests the runtime makes for the app, each answered by a [`Msg`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    FetchMe {
        seq: u64,
    },
    FetchOverview {
        seq: u64,
        workspace: Uuid,
    },
    FetchApplications {
        seq: u64,
        workspace: Uuid,
        cursor: Option<String>,
    },
    FetchIncidents {
        seq: u64,
        workspace: Uuid,
        cursor: Option<String>,
    },
    /// `GET /api/v1/applications/:id`.
    FetchApplication {
        seq: u64,
        id: Uuid,
    },
    /// A page of an application's incidents of one status (`open`/`resolved`).
    FetchApplicationIncidents {
        seq: u64,
        workspace: Uuid,
        id: Uuid,
        resolved: bool,
        cursor: Option<String>,
    },
    /// `GET /api/v1/applications/:id/analyses`, one page.
    FetchAnalyses {
        seq: u64,
        id: Uuid,
        cursor: Option<String>,
    },
    /// `GET /api/v1/applications/:id/suppressed-findings`, one page.
    FetchSuppressed {
        seq: u64,
        id: Uuid,
        cursor: Option<String>,
    },
    /// `GET /api/v1/applications/:id/ignore-rules` (not paginated).
    FetchIgnoreRules {
        seq: u64,
        id: Uuid,
    },
    /// `POST /api/v1/applications/:id/analyze`.
    Analyze {
        seq: u64,
        id: Uuid,
    },
    /// `GET /api/v1/analyses/:id` after waiting `after`.
    PollAnalysis {
        seq: u64,
        run: Uuid,
        after: Duration,
    },
    /// Start a device sign-in and wait for it (answered by `SignInCode`, then `SignInDone`).
    BeginSignIn {
        seq: u64,
    },
    CancelSignIn,
    /// `GET /api/v1/incidents/:id`.
    FetchIncident {
        seq: u64,
        id: Uuid,
    },
    /// `GET /api/v1/incidents/:id/findings`, one page.
    FetchFindings {
        seq: u64,
        id: Uuid,
        cursor: Option<String>,
    },
    /// `GET /api/v1/incidents/:id/timeline` (every page, oldest first).
    FetchTimeline {
        seq: u64,
        id: Uuid,
    },
    /// `GET /api/v1/applications/:id/findings`, one page: what the rule preview tries.
    FetchOpenFindings {
        seq: u64,
        id: Uuid,
        cursor: Option<String>,
    },
    /// `POST …/ignore-rules`, or `PUT …/ignore-rules/:rule` when `rule` is given.
    SaveRule {
        seq: u64,
        application: Uuid,
        rule: Option<Uuid>,
        input: statesight_core::wire::IgnoreRuleInput,
    },
    /// `PATCH …/ignore-rules/:rule` with `{"enabled": …}`.
    EnableRule {
        seq: u64,
        application: Uuid,
        rule: Uuid,
        enabled: bool,
    },
    /// `DELETE …/ignore-rules/:rule`.
    DeleteRule {
        seq: u64,
        application: Uuid,
        rule: Uuid,
    },
    /// `POST /api/v1/ignore-rules/preview`: what a workspace rule would suppress, and the
    /// token that saves exactly this body.
    PreviewWorkspaceRule {
        seq: u64,
        workspace: Uuid,
        input: statesight_core::wire::IgnoreRuleInput,
    },
    /// `POST /api/v1/ignore-rules`, or `PUT /api/v1/ignore-rules/:rule` when `rule` is
    /// given, with the preview's token.
    SaveWorkspaceRule {
        seq: u64,
        workspace: Uuid,
        rule: Option<Uuid>,
        input: statesight_core::wire::IgnoreRuleInput,
        token: String,
    },
    /// `DELETE /api/v1/ignore-rules/:rule`.
    DeleteWorkspaceRule {
        seq: u64,
        rule: Uuid,
    },
    /// Put `text` on the clipboard of the user's terminal (OSC 52).
    Copy {
        text: String,
        what: String,
    },
    /// Remember the workspace now open as the last one used with this server.
    RememberWorkspace {
        id: Uuid,
        name: String,
    },
    /// Follow the event stream of `workspace` (replacing any earlier subscription).
    Subscribe {
        workspace: Uuid,
    },
    Quit,
}

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Resize(u16, u16),
    Tick(DateTime<Utc>),
    Me {
        seq: u64,
        result: Result<Reply<Me>, ClientError>,
    },
    Overview {
        seq: u64,
        result: Result<Reply<Overview>, ClientError>,
    },
    Applications {
        seq: u64,
        /// The first page of this load (it replaces the rows; later pages append).
        first: bool,
        result: Result<Reply<Vec<Application>>, ClientError>,
    },
    Incidents {
        seq: u64,
        first: bool,
        result: Result<Reply<Vec<Incident>>, ClientError>,
    },
    ApplicationDetail {
        seq: u64,
        result: Result<Reply<ApplicationDetail>, ClientError>,
    },
    ApplicationIncidents {
        seq: u64,
        resolved: bool,
        first: bool,
        result: Result<Reply<Vec<Incident>>, ClientError>,
    },
    Analyses {
        seq: u64,
        first: bool,
        result: Result<Reply<Vec<AnalysisRun>>, ClientError>,
    },
    Suppressed {
        seq: u64,
        first: bool,
        result: Result<Reply<Vec<SuppressedFinding>>, ClientError>,
    },
    IgnoreRules {
        seq: u64,
        result: Result<Reply<Vec<IgnoreRule>>, ClientError>,
    },
    /// The answer to `Analyze`: `created` for a 202 (a new run), else an existing one.
    Analyzed {
        seq: u64,
        created: bool,
        result: Result<Reply<AnalysisRun>, ClientError>,
    },
    Analysis {
        seq: u64,
        result: Result<Reply<AnalysisRun>, ClientError>,
    },
    Incident {
        seq: u64,
        result: Result<Reply<Incident>, ClientError>,
    },
    Findings {
        seq: u64,
        first: bool,
        result: Result<Reply<Vec<Finding>>, ClientError>,
    },
    Timeline {
        seq: u64,
        result: Result<Reply<Vec<TimelineEvent>>, ClientError>,
    },
    OpenFindings {
        seq: u64,
        first: bool,
        result: Result<Reply<Vec<Finding>>, ClientError>,
    },
    RuleSaved {
        seq: u64,
        result: Result<Reply<IgnoreRule>, ClientError>,
    },
    WorkspaceRulePreviewed {
        seq: u64,
        result: Result<Reply<WorkspaceRulePreview>, ClientError>,
    },
    /// A rule was enabled, disabled or deleted (`done` says which, for the status line).
    RuleChanged {
        seq: u64,
        done: String,
        result: Result<(), ClientError>,
    },
    /// The clipboard sequence was written, or why not.
    Copied {
        what: String,
        result: Result<usize, String>,
    },
    SignInCode {
        seq: u64,
        user_code: String,
        verification_uri: String,
        verification_uri_complete: Option<String>,
        expires_in: Duration,
    },
    SignInDone {
        seq: u64,
        result: Result<(), String>,
    },
    /// What the workspace's event stream reports.
    Live(super::live::LiveUpdate),
}

/// What the console starts with.
pub struct Settings {
    pub server: String,
    /// `-w`: a workspace name or id.
    pub workspace: Option<String>,
    /// The workspace last used with this server (opened when `-w` is not given).
    pub remembered_workspace: Option<Uuid>,
    /// Whether signing in again inside the console is possible.
    pub sign_in_available: bool,
    pub keymap: Keymap,
    pub theme: Theme,
    pub now: DateTime<Utc>,
    pub size: (u16, u16),
    /// How often the screen in view reloads in the background.
    pub refresh: Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pending {
    me: Option<u64>,
    overview: Option<u64>,
    applications: Option<u64>,
    incidents: Option<u64>,
}

pub struct App {
    pub server: String,
    pub theme: Theme,
    pub keymap: Keymap,
    pub now: DateTime<Utc>,
    pub size: (u16, u16),
    pub sign_in_available: bool,
    requested_workspace: Option<String>,
    remembered_workspace: Option<Uuid>,
    pub me: Option<MeView>,
    pub workspace: Option<WorkspaceView>,
    pub connection: Connection,
    pub screens: Vec<Screen>,
    pub overview: Option<OverviewView>,
    pub overview_loading: bool,
    pub apps: Vec<AppRow>,
    pub apps_view: TableView,
    pub apps_load: LoadState,
    /// The widest value of each applications column, for the layout.
    pub apps_natural: Vec<u16>,
    pub incidents: Vec<IncidentRow>,
    pub incidents_view: TableView,
    pub incidents_load: LoadState,
    pub incidents_natural: Vec<u16>,
    counts: Option<HashMap<Uuid, SeverityCounts>>,
    pub overlay: Option<Overlay>,
    pub sign_in: Option<SignIn>,
    pub status: Option<Status>,
    /// The application screen, while one is open.
    pub application: Option<AppScreen>,
    /// The incident screen, while one is open.
    pub incident: Option<IncidentScreen>,
    /// The rule editor, while it is open.
    pub editor: Option<RuleEditor>,
    /// A rule being enabled, disabled or deleted.
    pub(super) rule_change: Option<u64>,
    /// The workspace rule being enabled or disabled, and its new state, while its preview
    /// or save is in flight.
    pub(super) switching: Option<(Uuid, bool)>,
    /// When the screen in view was last loaded, for the background refresh.
    pub(super) loaded_at: DateTime<Utc>,
    pub(super) refresh: Duration,
    /// Ticks seen, for the loading spinner.
    pub ticks: u64,
    /// Whether the screens follow the event stream, and when its debounced reload is due.
    pub live: super::live::LiveState,
    pub(super) live_reload_at: Option<DateTime<Utc>>,
    next_seq: u64,
    pending: Pending,
}

impl App {
    pub fn new(settings: Settings) -> App {
        App {
            server: clean(&settings.server),
            theme: settings.theme,
            keymap: settings.keymap,
            now: settings.now,
            size: settings.size,
            sign_in_available: settings.sign_in_available,
            requested_workspace: settings.workspace,
            remembered_workspace: settings.remembered_workspace,
            me: None,
            workspace: None,
            connection: Connection::Connecting,
            screens: vec![Screen::Applications],
            overview: None,
            overview_loading: false,
            apps: Vec::new(),
            apps_view: TableView::sorted_by(0, false),
            apps_load: LoadState::default(),
            apps_natural: Vec::new(),
            incidents: Vec::new(),
            incidents_view: TableView::sorted_by(0, true),
            incidents_load: LoadState::default(),
            incidents_natural: Vec::new(),
            counts: None,
            overlay: None,
            sign_in: None,
            status: None,
            application: None,
            incident: None,
            editor: None,
            rule_change: None,
            switching: None,
            loaded_at: settings.now,
            refresh: settings.refresh,
            ticks: 0,
            live: super::live::LiveState::Off,
            live_reload_at: None,
            next_seq: 0,
            pending: Pending::default(),
        }
    }

    /// The first requests: who am I, which workspaces.
    pub fn start(&mut self) -> Vec<Cmd> {
        self.connection = Connection::Connecting;
        let seq = self.seq();
        self.pending.me = Some(seq);
        vec![Cmd::FetchMe { seq }]
    }

    pub fn screen(&self) -> Screen {
        self.screens.last().copied().unwrap_or(Screen::Applications)
    }

    /// Whether anything from the server is on screen yet (for the first-frame trace).
    pub fn has_data(&self) -> bool {
        self.apps_load.pages > 0 || self.overview.is_some()
    }

    /// An error to show in the status line (e.g. a bad `keys.toml`).
    pub fn set_error(&mut self, text: &str, source: Option<Kind>) {
        self.status = Some(Status {
            text: clean(text),
            error: true,
            request_id: None,
            source,
            at: self.now,
        });
    }

    pub(super) fn set_info(&mut self, text: &str) {
        self.status = Some(Status {
            text: clean(text),
            error: false,
            request_id: None,
            source: None,
            at: self.now,
        });
    }

    pub(super) fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// How many data rows a table shows at the current size.
    pub fn table_rows(&self) -> usize {
        usize::from(self.size.1.saturating_sub(CHROME_ROWS + TABLE_CHROME_ROWS))
    }

    /// How many data rows a tab of the application screen shows at the current size.
    pub fn tab_rows(&self) -> usize {
        let progress = u16::from(
            self.application
                .as_ref()
                .is_some_and(|screen| screen.run.is_some()),
        );
        usize::from(
            self.size
                .1
                .saturating_sub(CHROME_ROWS + TAB_CHROME_ROWS + progress),
        )
    }

    /// Opens the application screen of `id` and loads its tabs.
    pub fn open_application(&mut self, id: Uuid) -> Vec<Cmd> {
        self.application = Some(AppScreen::new(id));
        self.screens.push(Screen::Application(id));
        self.load_application()
    }

    /// Requests every tab of the open application again; rows stay until replaced.
    pub(super) fn load_application(&mut self) -> Vec<Cmd> {
        let workspace = self.workspace.as_ref().map(|w| w.id);
        let seqs = [
            self.seq(),
            self.seq(),
            self.seq(),
            self.seq(),
            self.seq(),
            self.seq(),
        ];
        self.loaded_at = self.now;
        let Some(screen) = self.application.as_mut() else {
            return Vec::new();
        };
        let id = screen.id;
        screen.pending.detail = Some(seqs[0]);
        screen.pending.analyses = Some(seqs[1]);
        screen.pending.rules = Some(seqs[4]);
        screen.pending.suppressed = Some(seqs[5]);
        let mut commands = vec![
            Cmd::FetchApplication { seq: seqs[0], id },
            Cmd::FetchSuppressed {
                seq: seqs[5],
                id,
                cursor: None,
            },
            Cmd::FetchIgnoreRules { seq: seqs[4], id },
            Cmd::FetchAnalyses {
                seq: seqs[1],
                id,
                cursor: None,
            },
        ];
        if let Some(workspace) = workspace {
            screen.pending.open = Some(seqs[2]);
            commands.push(Cmd::FetchApplicationIncidents {
                seq: seqs[2],
                workspace,
                id,
                resolved: false,
                cursor: None,
            });
            if screen.show_resolved {
                screen.pending.resolved = Some(seqs[3]);
                commands.push(Cmd::FetchApplicationIncidents {
                    seq: seqs[3],
                    workspace,
                    id,
                    resolved: true,
                    cursor: None,
                });
            }
        }
        commands
    }

    /// The open application screen, when a reply is for it.
    pub(super) fn application_for(
        &mut self,
        pick: impl Fn(&AppScreen) -> Option<u64>,
        seq: u64,
    ) -> bool {
        self.application
            .as_ref()
            .is_some_and(|screen| pick(screen) == Some(seq))
    }

    pub(super) fn sync_application(&mut self) {
        let height = self.tab_rows();
        if let Some(screen) = self.application.as_mut() {
            screen.sync(height);
        }
    }

    /// The table of the current screen.
    fn table_mut(&mut self) -> Option<(&mut TableView, TableKind)> {
        match self.screen() {
            Screen::Applications => Some((&mut self.apps_view, TableKind::Applications)),
            Screen::Incidents => Some((&mut self.incidents_view, TableKind::Incidents)),
            _ => None,
        }
    }

    pub fn filter_editing(&self) -> bool {
        match self.screen() {
            Screen::Applications => self.apps_view.editing,
            Screen::Incidents => self.incidents_view.editing,
            _ => false,
        }
    }

    pub fn workspaces(&self) -> &[WorkspaceView] {
        self.me.as_ref().map_or(&[], |me| me.workspaces.as_slice())
    }

    /// The open incidents of one application, in the incidents table's order.
    pub fn incidents_of(&self, application: Uuid) -> impl Iterator<Item = &IncidentRow> {
        let mut rows: Vec<&IncidentRow> = self
            .incidents
            .iter()
            .filter(|row| row.application_id == application)
            .collect();
        rows.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| b.last_seen.cmp(&a.last_seen))
                .then_with(|| a.id.cmp(&b.id))
        });
        rows.into_iter()
    }

    /// The name of an application of this workspace, by id.
    pub fn application_name(&self, id: Uuid) -> Option<&str> {
        self.apps
            .iter()
            .find(|row| row.id == id)
            .map(|row| row.name.as_str())
    }

    fn rebuild_apps(&mut self) {
        let height = self.table_rows();
        self.apps_natural = model::app_widths(&self.apps);
        self.apps_view.rebuild(&self.apps, compare_apps);
        self.apps_view.scroll(height);
    }

    fn rebuild_incidents(&mut self) {
        let height = self.table_rows();
        self.incidents_natural = model::incident_widths(&self.incidents);
        self.incidents_view
            .rebuild(&self.incidents, compare_incidents);
        self.incidents_view.scroll(height);
    }

    fn rebuild(&mut self, kind: TableKind) {
        match kind {
            TableKind::Applications => self.rebuild_apps(),
            TableKind::Incidents => self.rebuild_incidents(),
        }
    }

    fn apply_counts(&mut self) {
        for row in &mut self.apps {
            row.counts = self
                .counts
                .as_ref()
                .map(|counts| counts.get(&row.id).cloned().unwrap_or_default());
        }
    }

    /// Requests everything of the current workspace again; what is shown stays until the
    /// answers replace it.
    fn load_workspace(&mut self) -> Vec<Cmd> {
        let Some(workspace) = self.workspace.as_ref().map(|w| w.id) else {
            return Vec::new();
        };
        self.loaded_at = self.now;
        let overview = self.seq();
        let applications = self.seq();
        let incidents = self.seq();
        self.pending.overview = Some(overview);
        self.pending.applications = Some(applications);
        self.pending.incidents = Some(incidents);
        self.overview_loading = true;
        self.apps_load = LoadState {
            loading: true,
            ..LoadState::default()
        };
        self.incidents_load = LoadState {
            loading: true,
            ..LoadState::default()
        };
        vec![
            Cmd::FetchApplications {
                seq: applications,
                workspace,
                cursor: None,
            },
            Cmd::FetchOverview {
                seq: overview,
                workspace,
            },
            Cmd::FetchIncidents {
                seq: incidents,
                workspace,
                cursor: None,
            },
        ]
    }

    /// Opens `workspace`: forgets the previous one's data and loads this one's.
    fn switch_workspace(&mut self, workspace: WorkspaceView) -> Vec<Cmd> {
        let changed = self.workspace.as_ref().map(|w| w.id) != Some(workspace.id);
        self.workspace = Some(workspace);
        if changed {
            self.overview = None;
            self.apps.clear();
            self.incidents.clear();
            self.counts = None;
            let (apps_sort, apps_descending) = (self.apps_view.sort, self.apps_view.descending);
            let (incidents_sort, incidents_descending) =
                (self.incidents_view.sort, self.incidents_view.descending);
            self.apps_view = TableView::sorted_by(apps_sort, apps_descending);
            self.incidents_view = TableView::sorted_by(incidents_sort, incidents_descending);
            let root = self
                .screens
                .first()
                .copied()
                .unwrap_or(Screen::Applications);
            self.screens = vec![root];
            self.application = None;
        }
        let mut commands = self.load_workspace();
        if changed && let Some(workspace) = &self.workspace {
            commands.push(Cmd::RememberWorkspace {
                id: workspace.id,
                name: workspace.name.clone(),
            });
            self.live_reload_at = None;
            commands.push(Cmd::Subscribe {
                workspace: workspace.id,
            });
        }
        commands
    }

    /// `r`: everything again (and who am I, when that failed).
    fn reload(&mut self) -> Vec<Cmd> {
        if self.me.is_none() {
            return self.start();
        }
        if self.workspace.is_none() {
            return match choose_workspace(
                self.workspaces(),
                self.requested_workspace.as_deref(),
                self.remembered_workspace,
            ) {
                Ok(workspace) => self.switch_workspace(workspace),
                Err(error) => {
                    self.set_error(&error, Some(Kind::Me));
                    Vec::new()
                }
            };
        }
        self.load_workspace()
    }

    /// A request failed: say so, and start signing in again when that is what it needs.
    pub(super) fn failed(&mut self, kind: Kind, what: &str, error: ClientError) -> Vec<Cmd> {
        let signed_out = match &error {
            ClientError::Credentials(CredentialError::SignInRequired(message)) => {
                Some(message.clone())
            }
            ClientError::Api {
                status: 401,
                message,
                ..
            } => Some(message.clone()),
            _ => None,
        };
        if let Some(message) = signed_out {
            self.connection = Connection::SignedOut;
            if self.sign_in_available {
                if self.sign_in.is_none() {
                    let seq = self.seq();
                    self.sign_in = Some(SignIn {
                        seq,
                        phase: SignInPhase::Starting,
                    });
                    return vec![Cmd::BeginSignIn { seq }];
                }
                return Vec::new();
            }
            self.set_error(
                &format!(
                    "signed out: {message} (sign in with `statesight-tui login`, or set \
                     STATESIGHT_TOKEN, then press r)"
                ),
                Some(kind),
            );
            return Vec::new();
        }
        self.connection = Connection::Error;
        let (text, request_id) = match error {
            ClientError::Api {
                status,
                code,
                message,
                request_id,
                ..
            } => (
                format!("{what}: {message} (HTTP {status} {code})"),
                request_id,
            ),
            ClientError::Unreachable { server, reason } => (
                format!(
                    "{what}: cannot reach {}: {}",
                    server.trim_end_matches('/'),
                    root_cause(&reason)
                ),
                None,
            ),
            other => (format!("{what}: {other}"), None),
        };
        self.status = Some(Status {
            text: clean(&text),
            error: true,
            request_id: request_id.as_deref().map(clean),
            source: Some(kind),
            at: self.now,
        });
        Vec::new()
    }

    /// A request of `kind` succeeded: the connection is fine and its old error is moot.
    pub(super) fn succeeded(&mut self, kind: Kind) {
        self.connection = Connection::Ok;
        if self
            .status
            .as_ref()
            .is_some_and(|status| status.error && status.source == Some(kind))
        {
            self.status = None;
        }
    }
}

impl App {
    /// Loads the screen in view again (`r`, and the background refresh).
    pub(super) fn reload_screen(&mut self) -> Vec<Cmd> {
        self.loaded_at = self.now;
        match self.screen() {
            Screen::Application(_) if self.application.is_some() => self.load_application(),
            Screen::Incident(_) if self.incident.is_some() => self.load_incident(),
            // The editor's preview works on the findings it loaded when it opened.
            Screen::RuleEditor => Vec::new(),
            _ => self.reload(),
        }
    }

    /// The background refresh: the screen in view reloads every `refresh`, unless a load
    /// is still running, something is being typed or asked, or the connection is down
    /// (then `r` retries; an interval would only repeat the error).
    fn refresh_if_due(&mut self) -> Vec<Cmd> {
        let due = (self.now - self.loaded_at)
            .to_std()
            .is_ok_and(|elapsed| elapsed >= self.refresh);
        if !due {
            return Vec::new();
        }
        self.loaded_at = self.now;
        // While the stream is live, events reload what changed; the interval is the
        // fallback for when it is not.
        let busy = self.live == super::live::LiveState::Live
            || self.overlay.is_some()
            || self.sign_in.is_some()
            || self.filter_editing()
            || self.connection != Connection::Ok
            || self.loading_screen();
        if busy {
            return Vec::new();
        }
        self.reload_screen()
    }

    fn loading_screen(&self) -> bool {
        match self.screen() {
            Screen::Application(_) => self.application.as_ref().is_some_and(AppScreen::loading),
            Screen::Incident(_) => self.incident.as_ref().is_some_and(IncidentScreen::loading),
            _ => self.apps_load.loading || self.incidents_load.loading || self.overview_loading,
        }
    }
}

/// The most specific part of a transport error chain (`…: tcp connect error: Connection
/// refused (os error 111)`), which is what a one-line status has room for.
fn root_cause(reason: &str) -> String {
    let parts: Vec<&str> = reason
        .split(": ")
        .filter(|part| !part.starts_with("error sending request"))
        .collect();
    let start = parts.len().saturating_sub(2);
    let tail = parts[start..].join(": ");
    if tail.is_empty() {
        reason.to_owned()
    } else {
        tail
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableKind {
    Applications,
    Incidents,
}

/// The one state transition.
pub fn update(app: &mut App, msg: Msg) -> Vec<Cmd> {
    match msg {
        Msg::Key(event) => on_key(app, &event),
        Msg::Paste(text) => {
            on_paste(app, &text);
            Vec::new()
        }
        Msg::Resize(width, height) => {
            app.size = (width, height);
            let rows = app.table_rows();
            app.apps_view.scroll(rows);
            app.incidents_view.scroll(rows);
            app.sync_application();
            let findings = super::incident::findings_rows(app.size);
            if let Some(screen) = app.incident.as_mut() {
                let ids = screen.ids();
                screen.cursor.sync(&ids, findings);
            }
            Vec::new()
        }
        Msg::Tick(now) => {
            app.now = now;
            app.ticks = app.ticks.wrapping_add(1);
            if app
                .status
                .as_ref()
                .is_some_and(|s| !s.error && (now - s.at).num_seconds() >= INFO_SECONDS)
            {
                app.status = None;
            }
            let mut commands = super::live::reload_if_due(app);
            if commands.is_empty() {
                commands = app.refresh_if_due();
            }
            commands
        }
        Msg::Me { seq, result } => on_me(app, seq, result),
        Msg::Overview { seq, result } => on_overview(app, seq, result),
        Msg::Applications { seq, first, result } => on_applications(app, seq, first, result),
        Msg::Incidents { seq, first, result } => on_incidents(app, seq, first, result),
        Msg::ApplicationDetail { seq, result } => {
            application::on_application_detail(app, seq, result)
        }
        Msg::ApplicationIncidents {
            seq,
            resolved,
            first,
            result,
        } => application::on_application_incidents(app, seq, resolved, first, result),
        Msg::Analyses { seq, first, result } => application::on_analyses(app, seq, first, result),
        Msg::Suppressed { seq, first, result } => {
            application::on_suppressed(app, seq, first, result)
        }
        Msg::IgnoreRules { seq, result } => application::on_ignore_rules(app, seq, result),
        Msg::Analyzed {
            seq,
            created,
            result,
        } => application::on_analyzed(app, seq, created, result),
        Msg::Analysis { seq, result } => application::on_analysis(app, seq, result),
        Msg::Incident { seq, result } => app.on_incident(seq, result),
        Msg::Findings { seq, first, result } => app.on_findings(seq, first, result),
        Msg::Timeline { seq, result } => app.on_timeline(seq, result),
        Msg::OpenFindings { seq, first, result } => app.on_open_findings(seq, first, result),
        Msg::RuleSaved { seq, result } => app.on_rule_saved(seq, result),
        Msg::WorkspaceRulePreviewed { seq, result } => app.on_workspace_rule_previewed(seq, result),
        Msg::RuleChanged { seq, done, result } => app.on_rule_changed(seq, &done, result),
        Msg::Copied { what, result } => {
            app.on_copied(&what, result);
            Vec::new()
        }
        Msg::SignInCode {
            seq,
            user_code,
            verification_uri,
            verification_uri_complete,
            expires_in,
        } => on_sign_in_code(
            app,
            seq,
            user_code,
            verification_uri,
            verification_uri_complete,
            expires_in,
        ),
        Msg::SignInDone { seq, result } => on_sign_in_done(app, seq, result),
        Msg::Live(update) => super::live::on_live(app, update),
    }
}

fn on_me(app: &mut App, seq: u64, result: Result<Reply<Me>, ClientError>) -> Vec<Cmd> {
    if app.pending.me != Some(seq) {
        return Vec::new();
    }
    app.pending.me = None;
    match result {
        Ok(reply) => {
            app.succeeded(Kind::Me);
            let me = MeView::new(&reply.data);
            app.me = Some(me);
            if let Some(current) = app.workspace.clone() {
                // Signed in again: the workspace may be gone for this user.
                if app.workspaces().iter().any(|w| w.id == current.id) {
                    return app.load_workspace();
                }
            }
            match choose_workspace(
                app.workspaces(),
                app.requested_workspace.as_deref(),
                app.remembered_workspace,
            ) {
                Ok(workspace) => app.switch_workspace(workspace),
                Err(error) => {
                    app.set_error(&error, Some(Kind::Me));
                    Vec::new()
                }
            }
        }
        Err(error) => app.failed(Kind::Me, "loading your workspaces", error),
    }
}

fn on_overview(app: &mut App, seq: u64, result: Result<Reply<Overview>, ClientError>) -> Vec<Cmd> {
    if app.pending.overview != Some(seq) {
        return Vec::new();
    }
    app.pending.overview = None;
    app.overview_loading = false;
    match result {
        Ok(reply) => {
            app.succeeded(Kind::Overview);
            app.overview = Some(OverviewView::new(&reply.data));
            Vec::new()
        }
        Err(error) => app.failed(Kind::Overview, "loading the overview", error),
    }
}

fn on_applications(
    app: &mut App,
    seq: u64,
    first: bool,
    result: Result<Reply<Vec<Application>>, ClientError>,
) -> Vec<Cmd> {
    if app.pending.applications != Some(seq) {
        return Vec::new();
    }
    match result {
        Ok(reply) => {
            app.succeeded(Kind::Applications);
            let rows = reply.data.iter().map(AppRow::new);
            if first {
                app.apps = rows.collect();
            } else {
                app.apps.extend(rows);
            }
            app.apply_counts();
            app.rebuild_apps();
            app.apps_load.pages += 1;
            let next = reply.next_cursor.zip(app.workspace.as_ref().map(|w| w.id));
            match next {
                Some((cursor, workspace)) => vec![Cmd::FetchApplications {
                    seq,
                    workspace,
                    cursor: Some(cursor),
                }],
                None => {
                    app.pending.applications = None;
                    app.apps_load.loading = false;
                    app.apps_load.complete = true;
                    Vec::new()
                }
            }
        }
        Err(error) => {
            app.pending.applications = None;
            app.apps_load.loading = false;
            app.failed(Kind::Applications, "loading applications", error)
        }
    }
}

fn on_incidents(
    app: &mut App,
    seq: u64,
    first: bool,
    result: Result<Reply<Vec<Incident>>, ClientError>,
) -> Vec<Cmd> {
    if app.pending.incidents != Some(seq) {
        return Vec::new();
    }
    match result {
        Ok(reply) => {
            app.succeeded(Kind::Incidents);
            let rows = reply.data.iter().map(IncidentRow::new);
            if first {
                app.incidents = rows.collect();
            } else {
                app.incidents.extend(rows);
            }
            app.rebuild_incidents();
            app.incidents_load.pages += 1;
            let next = reply.next_cursor.zip(app.workspace.as_ref().map(|w| w.id));
            match next {
                Some((cursor, workspace)) => vec![Cmd::FetchIncidents {
                    seq,
                    workspace,
                    cursor: Some(cursor),
                }],
                None => {
                    app.pending.incidents = None;
                    app.incidents_load.loading = false;
                    app.incidents_load.complete = true;
                    app.counts = Some(counts_by_application(&app.incidents));
                    app.apply_counts();
                    app.rebuild_apps();
                    Vec::new()
                }
            }
        }
        Err(error) => {
            app.pending.incidents = None;
            app.incidents_load.loading = false;
            app.failed(Kind::Incidents, "loading incidents", error)
        }
    }
}

fn on_sign_in_code(
    app: &mut App,
    seq: u64,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: Duration,
) -> Vec<Cmd> {
    let now = app.now;
    if let Some(sign_in) = app.sign_in.as_mut().filter(|s| s.seq == seq) {
        sign_in.phase = SignInPhase::Waiting {
            user_code: clean(&user_code),
            verification_uri: clean(&verification_uri),
            verification_uri_complete: verification_uri_complete.as_deref().map(clean),
            deadline: now
                + chrono::Duration::from_std(expires_in)
                    .unwrap_or_else(|_| chrono::Duration::minutes(10)),
        };
    }
    Vec::new()
}

fn on_sign_in_done(app: &mut App, seq: u64, result: Result<(), String>) -> Vec<Cmd> {
    if app.sign_in.as_ref().is_none_or(|s| s.seq != seq) {
        return Vec::new();
    }
    match result {
        Ok(()) => {
            app.sign_in = None;
            app.connection = Connection::Connecting;
            app.set_info("signed in");
            // Retry: who am I (the user may have changed), then the workspace.
            app.start()
        }
        Err(error) => {
            if let Some(sign_in) = app.sign_in.as_mut() {
                sign_in.phase = SignInPhase::Failed(clean(&error));
            }
            Vec::new()
        }
    }
}

fn on_paste(app: &mut App, text: &str) {
    if app.overlay.is_none()
        && app.screen() == Screen::RuleEditor
        && let Some(editor) = app.editor.as_mut()
    {
        editor.paste(text);
        return;
    }
    let text = typed(text);
    let workspaces = app.workspaces().to_vec();
    match app.overlay.as_mut() {
        Some(Overlay::Palette(palette)) => {
            let input = format!("{}{text}", palette.input);
            palette.set_input(input, &workspaces);
        }
        Some(Overlay::Help(help)) => {
            help.filter.push_str(&text);
            help.scroll = 0;
        }
        Some(Overlay::Confirm(_) | Overlay::Review(_)) => {}
        None => {
            if let Some((view, kind)) = app.table_mut().filter(|(view, _)| view.editing) {
                view.filter.push_str(&text);
                app.rebuild(kind);
            }
        }
    }
}

/// How a prompt's line changed.
enum Edit {
    Changed,
    Unchanged,
    NotHandled,
}

/// The line editor shared by the prompts: characters, backspace, ctrl-w, ctrl-u.
fn edit_line(line: &mut String, chord: KeyChord) -> Edit {
    let plain = chord.modifiers == KeyModifiers::NONE;
    match chord.code {
        KeyCode::Char(c) if plain || chord.modifiers == KeyModifiers::SHIFT => {
            if statesight_core::terminal::is_control_or_invisible(c) {
                return Edit::Unchanged;
            }
            line.push(c);
            Edit::Changed
        }
        KeyCode::Backspace => {
            if line.pop().is_some() {
                Edit::Changed
            } else {
                Edit::Unchanged
            }
        }
        KeyCode::Char('w') if chord.modifiers == KeyModifiers::CONTROL => {
            let trimmed = line.trim_end().len();
            line.truncate(trimmed);
            let cut = line.rfind(char::is_whitespace).map_or(0, |at| at + 1);
            line.truncate(cut);
            Edit::Changed
        }
        KeyCode::Char('u') if chord.modifiers == KeyModifiers::CONTROL => {
            line.clear();
            Edit::Changed
        }
        _ => Edit::NotHandled,
    }
}

fn on_key(app: &mut App, event: &KeyEvent) -> Vec<Cmd> {
    let Some(chord) = KeyChord::from_event(event) else {
        return Vec::new();
    };
    if chord == KeyChord::ctrl('c') {
        return vec![Cmd::Quit];
    }
    if app.sign_in.is_some() {
        return on_sign_in_key(app, chord);
    }
    match app.overlay.take() {
        Some(Overlay::Palette(palette)) => return on_palette_key(app, palette, chord),
        Some(Overlay::Help(help)) => {
            on_help_key(app, help, chord);
            return Vec::new();
        }
        Some(Overlay::Confirm(confirm)) => return on_confirm_key(app, confirm, chord),
        Some(Overlay::Review(review)) => return app.on_review_key(review, chord),
        None => {}
    }
    if app.screen() == Screen::RuleEditor && app.editor.is_some() {
        return app.on_editor_key(event, chord);
    }
    if app.filter_editing() {
        return on_filter_key(app, chord);
    }
    match app.keymap.action(app.screen().scope(), chord) {
        Some(action) => on_action(app, action),
        None => Vec::new(),
    }
}

/// A destructive action asks first: `y` (or enter) does it, `n` or esc does not.
fn on_confirm_key(app: &mut App, confirm: Confirm, chord: KeyChord) -> Vec<Cmd> {
    match chord.code {
        KeyCode::Char('y' | 'Y') | KeyCode::Enter => app.confirmed(confirm.action),
        KeyCode::Char('n' | 'N') | KeyCode::Esc => {
            app.set_info("cancelled");
            Vec::new()
        }
        _ => {
            app.overlay = Some(Overlay::Confirm(confirm));
            Vec::new()
        }
    }
}

fn on_sign_in_key(app: &mut App, chord: KeyChord) -> Vec<Cmd> {
    match chord.code {
        KeyCode::Esc => {
            app.sign_in = None;
            app.set_error(
                "sign-in cancelled; press r to try again",
                Some(Kind::SignIn),
            );
            vec![Cmd::CancelSignIn]
        }
        KeyCode::Enter
            if app
                .sign_in
                .as_ref()
                .is_some_and(|s| matches!(s.phase, SignInPhase::Failed(_))) =>
        {
            let seq = app.seq();
            app.sign_in = Some(SignIn {
                seq,
                phase: SignInPhase::Starting,
            });
            vec![Cmd::BeginSignIn { seq }]
        }
        _ => Vec::new(),
    }
}

fn on_palette_key(app: &mut App, mut palette: Palette, chord: KeyChord) -> Vec<Cmd> {
    let workspaces = app.workspaces().to_vec();
    match chord.code {
        KeyCode::Esc => return Vec::new(),
        KeyCode::Enter => {
            return match palette::parse(&palette.input) {
                Ok(command) => run_command(app, command),
                Err(error) => {
                    app.set_error(&error, Some(Kind::Palette));
                    Vec::new()
                }
            };
        }
        KeyCode::Tab | KeyCode::Down => palette.complete(true, &workspaces),
        KeyCode::BackTab | KeyCode::Up => palette.complete(false, &workspaces),
        _ => {
            let mut line = palette.input.clone();
            if let Edit::Changed = edit_line(&mut line, chord) {
                palette.set_input(line, &workspaces);
            }
        }
    }
    app.overlay = Some(Overlay::Palette(palette));
    Vec::new()
}

fn run_command(app: &mut App, command: Command) -> Vec<Cmd> {
    match command {
        Command::Applications => go(app, Screen::Applications),
        Command::Incidents => go(app, Screen::Incidents),
        Command::Overview => go(app, Screen::Overview),
        Command::Refresh => app.reload(),
        Command::Help => {
            app.overlay = Some(Overlay::Help(HelpState::default()));
            Vec::new()
        }
        Command::Quit => vec![Cmd::Quit],
        Command::Workspace(name) => {
            if app.me.is_none() {
                app.set_error(
                    "your workspaces are not loaded yet; press r to retry",
                    Some(Kind::Palette),
                );
                return Vec::new();
            }
            match choose_workspace(app.workspaces(), Some(&name), None) {
                Ok(workspace) => {
                    app.set_info(&format!("workspace {}", workspace.name));
                    app.switch_workspace(workspace)
                }
                Err(error) => {
                    app.set_error(&error, Some(Kind::Palette));
                    Vec::new()
                }
            }
        }
    }
}

fn go(app: &mut App, screen: Screen) -> Vec<Cmd> {
    app.screens = vec![screen];
    forget_closed_screens(app);
    Vec::new()
}

/// Leaves the current screen; leaving the application screen forgets it (replies still in
/// flight for it are then dropped).
fn pop_screen(app: &mut App) {
    app.screens.pop();
    forget_closed_screens(app);
}

/// Drops the state of screens no longer on the stack (replies still in flight for them
/// are then dropped).
fn forget_closed_screens(app: &mut App) {
    let open = |wanted: fn(&Screen) -> bool| app.screens.iter().any(wanted);
    if !open(|screen| matches!(screen, Screen::Application(_))) {
        app.application = None;
    }
    if !open(|screen| matches!(screen, Screen::Incident(_))) {
        app.incident = None;
    }
    if !open(|screen| matches!(screen, Screen::RuleEditor)) {
        app.editor = None;
    }
}

fn on_help_key(app: &mut App, mut help: HelpState, chord: KeyChord) {
    let page = app.table_rows().max(1);
    match chord.code {
        KeyCode::Esc | KeyCode::Enter => return,
        KeyCode::Char('?') if help.filter.is_empty() && chord.modifiers.is_empty() => return,
        KeyCode::Up => help.scroll = help.scroll.saturating_sub(1),
        KeyCode::Down => help.scroll = help.scroll.saturating_add(1),
        KeyCode::PageUp => help.scroll = help.scroll.saturating_sub(page),
        KeyCode::PageDown => help.scroll = help.scroll.saturating_add(page),
        _ => {
            if let Edit::Changed = edit_line(&mut help.filter, chord) {
                help.scroll = 0;
            }
        }
    }
    app.overlay = Some(Overlay::Help(help));
}

fn on_filter_key(app: &mut App, chord: KeyChord) -> Vec<Cmd> {
    let height = app.table_rows();
    let Some((view, kind)) = app.table_mut() else {
        return Vec::new();
    };
    match chord.code {
        KeyCode::Enter => view.editing = false,
        KeyCode::Esc => {
            view.editing = false;
            view.filter.clear();
            app.rebuild(kind);
        }
        KeyCode::Up => move_selection(app, kind, -1, height),
        KeyCode::Down => move_selection(app, kind, 1, height),
        KeyCode::PageUp => move_selection(app, kind, -(height.max(1) as isize), height),
        KeyCode::PageDown => move_selection(app, kind, height.max(1) as isize, height),
        _ => {
            if let Edit::Changed = edit_line(&mut view.filter, chord) {
                app.rebuild(kind);
            }
        }
    }
    Vec::new()
}

fn move_selection(app: &mut App, kind: TableKind, delta: isize, height: usize) {
    match kind {
        TableKind::Applications => app.apps_view.move_by(&app.apps, delta, height),
        TableKind::Incidents => app.incidents_view.move_by(&app.incidents, delta, height),
    }
}

fn select(app: &mut App, kind: TableKind, position: usize, height: usize) {
    match kind {
        TableKind::Applications => app.apps_view.select(&app.apps, position, height),
        TableKind::Incidents => app.incidents_view.select(&app.incidents, position, height),
    }
}

fn on_action(app: &mut App, action: Action) -> Vec<Cmd> {
    if matches!(app.screen(), Screen::Incident(_))
        && let Some(commands) = app.on_incident_action(action)
    {
        return commands;
    }
    if matches!(app.screen(), Screen::Application(_))
        && let Some(commands) = app.on_rules_action(action)
    {
        return commands;
    }
    let height = app.table_rows();
    let page = height.max(1) as isize;
    let table = app.table_mut().map(|(_, kind)| kind);
    match action {
        Action::Quit => {
            if app.screens.len() > 1 {
                pop_screen(app);
                Vec::new()
            } else {
                vec![Cmd::Quit]
            }
        }
        Action::Back => {
            if let Some((view, kind)) = app.table_mut().filter(|(view, _)| !view.filter.is_empty())
            {
                view.filter.clear();
                app.rebuild(kind);
            } else if app.screens.len() > 1 {
                pop_screen(app);
            } else {
                app.status = None;
            }
            Vec::new()
        }
        Action::Help => {
            app.overlay = Some(Overlay::Help(HelpState::default()));
            Vec::new()
        }
        Action::Palette => {
            app.overlay = Some(Overlay::Palette(Palette::new(app.workspaces())));
            Vec::new()
        }
        Action::Filter => {
            if let Some((view, _)) = app.table_mut() {
                view.editing = true;
            }
            Vec::new()
        }
        Action::Refresh => {
            app.set_info("reloading…");
            app.reload_screen()
        }
        Action::Overview => go(app, Screen::Overview),
        Action::Applications => go(app, Screen::Applications),
        Action::Incidents => go(app, Screen::Incidents),
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => {
            let delta = match action {
                Action::Up => -1,
                Action::Down => 1,
                Action::PageUp => -page,
                Action::PageDown => page,
                Action::Top => isize::MIN / 2,
                _ => isize::MAX / 2,
            };
            match table {
                Some(kind) => match action {
                    Action::Top => select(app, kind, 0, height),
                    Action::Bottom => select(app, kind, usize::MAX, height),
                    _ => move_selection(app, kind, delta, height),
                },
                None => {
                    let height = app.tab_rows();
                    if let Some(screen) = app.application.as_mut()
                        && matches!(app.screens.last(), Some(Screen::Application(_)))
                    {
                        screen.move_by(delta, height);
                    }
                }
            }
            Vec::new()
        }
        Action::Open => match app.screen() {
            Screen::Applications => match app.apps_view.selected_id() {
                Some(id) => app.open_application(id),
                None => Vec::new(),
            },
            Screen::Incidents => {
                let selected = app
                    .incidents_view
                    .selected_id()
                    .and_then(|id| app.incidents.iter().find(|row| row.id == id))
                    .map(|row| (row.id, row.title.clone()));
                match selected {
                    Some((id, title)) => app.open_incident(id, &title),
                    None => Vec::new(),
                }
            }
            Screen::Application(_) => {
                let selected = app.application.as_ref().and_then(|screen| {
                    let cursor = screen.cursors[Tab::Incidents.index()];
                    (screen.tab == Tab::Incidents)
                        .then(|| screen.incidents())
                        .and_then(|rows| {
                            rows.get(cursor.position)
                                .map(|item| (item.row.id, item.row.title.clone()))
                        })
                });
                match selected {
                    Some((id, title)) => app.open_incident(id, &title),
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        },
        Action::NextTab
        | Action::PreviousTab
        | Action::IncidentsTab
        | Action::SuppressedTab
        | Action::RulesTab
        | Action::AnalysesTab => {
            if let Some(screen) = app.application.as_mut() {
                screen.tab = match action {
                    Action::NextTab => screen.tab.step(true),
                    Action::PreviousTab => screen.tab.step(false),
                    Action::IncidentsTab => Tab::Incidents,
                    Action::SuppressedTab => Tab::Suppressed,
                    Action::RulesTab => Tab::IgnoreRules,
                    _ => Tab::Analyses,
                };
            }
            Vec::new()
        }
        Action::ToggleResolved => {
            let Some(screen) = app.application.as_mut() else {
                return Vec::new();
            };
            screen.tab = Tab::Incidents;
            screen.show_resolved = !screen.show_resolved;
            let shown = screen.show_resolved;
            let id = screen.id;
            app.sync_application();
            if !shown {
                app.set_info("resolved incidents hidden");
                return Vec::new();
            }
            app.set_info("resolved incidents shown");
            let Some(workspace) = app.workspace.as_ref().map(|w| w.id) else {
                return Vec::new();
            };
            let seq = app.seq();
            if let Some(screen) = app.application.as_mut() {
                screen.pending.resolved = Some(seq);
            }
            vec![Cmd::FetchApplicationIncidents {
                seq,
                workspace,
                id,
                resolved: true,
                cursor: None,
            }]
        }
        Action::Analyze => {
            let seq = app.seq();
            let Some(screen) = app.application.as_mut() else {
                return Vec::new();
            };
            screen.pending.analyze = Some(seq);
            let id = screen.id;
            app.set_info("requesting an analysis…");
            vec![Cmd::Analyze { seq, id }]
        }
        Action::Sort | Action::ReverseSort => {
            let Some((view, kind)) = app.table_mut() else {
                return Vec::new();
            };
            let sorts = match kind {
                TableKind::Applications => model::APP_SORTS,
                TableKind::Incidents => model::INCIDENT_SORTS,
            };
            if action == Action::Sort {
                view.sort = (view.sort + 1) % sorts.len();
                view.descending = sorts[view.sort].1;
            } else {
                view.descending = !view.descending;
            }
            let (column, descending) = (sorts[view.sort].0, view.descending);
            app.rebuild(kind);
            app.set_info(&format!(
                "sorted by {} {}",
                column.to_lowercase(),
                if descending { "▼" } else { "▲" }
            ));
            Vec::new()
        }
        // Keys of screens other than the one in view.
        Action::ToggleRule
        | Action::DeleteRule
        | Action::EditRule
        | Action::NewRule
        | Action::SwitchFocus
        | Action::ToggleDiff
        | Action::EvidenceDown
        | Action::EvidenceUp
        | Action::CopyPath
        | Action::CopyValue
        | Action::IgnoreFinding
        | Action::Save
        | Action::NextField
        | Action::PreviousField => Vec::new(),
    }
}
