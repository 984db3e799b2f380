//! Wire values built in the test (what the API would send), an app fed with them through
//! `update` exactly as the runtime does, and a renderer onto ratatui's `TestBackend`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use statesight_core::diff::ChangeKind;
use statesight_core::rules::RuleScope;
use statesight_core::wire::{
    AnalysisRun, Application, ApplicationDetail, Capped, Cause, CauseKind, IgnoreRule, Incident,
    IncidentStatus, Me, NamedRef, OpenIncidentCounts, Overview, Recommendation,
    RecommendationCounts, ResourceIdentity, Role, RunCounts, RunStatus, RunSummary, RunTrigger,
    Severity, SeverityCounts, SuppressedFinding, SuppressingRule, User, WorkspaceAccess,
};
use statesight_tui::client::Reply;
use statesight_tui::console::app::{App, Cmd, Msg, Settings, update};
use statesight_tui::console::draw::draw;
use statesight_tui::console::keys::Keymap;
use statesight_tui::console::theme::{Depth, Theme};
use uuid::Uuid;

pub const PAYMENTS: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000101);
pub const PLATFORM: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000102);

/// The fixed "now" of every drawing test.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0)
        .single()
        .expect("a valid time")
}

pub fn me() -> Me {
    Me {
        user: User {
            id: Uuid::from_u128(0x201),
            email: String::from("demo@statesight.local"),
            display_name: String::from("Demo Operator"),
        },
        workspaces: vec![
            WorkspaceAccess {
                id: PAYMENTS,
                name: String::from("acme-payments"),
                role: Role::Admin,
            },
            WorkspaceAccess {
                id: PLATFORM,
                name: String::from("acme-platform"),
                role: Role::Viewer,
            },
        ],
    }
}

pub fn reply<T>(data: T) -> Reply<T> {
    Reply {
        data,
        request_id: Some(String::from("req-1")),
        next_cursor: None,
    }
}

pub fn page<T>(data: T, cursor: &str) -> Reply<T> {
    Reply {
        data,
        request_id: None,
        next_cursor: Some(cursor.to_owned()),
    }
}

pub struct AppSpec<'a> {
    pub id: u128,
    pub name: &'a str,
    pub cluster: &'a str,
    pub namespace: &'a str,
    pub source: &'a str,
    pub revision: Option<&'a str>,
    pub status: Option<RunStatus>,
    pub minutes_ago: i64,
    pub open: i64,
    pub highest: Option<Severity>,
}

pub fn application(spec: &AppSpec<'_>) -> Application {
    let at = now() - Duration::minutes(spec.minutes_ago);
    Application {
        id: Uuid::from_u128(spec.id),
        workspace_id: PAYMENTS,
        name: spec.name.to_owned(),
        description: format!("{} in production", spec.name),
        default_namespace: spec.namespace.to_owned(),
        cluster: NamedRef {
            id: Uuid::from_u128(spec.id + 0x1000),
            name: spec.cluster.to_owned(),
        },
        source: NamedRef {
            id: Uuid::from_u128(spec.id + 0x2000),
            name: spec.source.to_owned(),
        },
        open_incident_count: spec.open,
        highest_open_severity: spec.highest,
        latest_run: spec.status.map(|status| RunSummary {
            id: Uuid::from_u128(spec.id + 0x3000),
            status,
            queued_at: at - Duration::seconds(30),
            finished_at: matches!(status, RunStatus::Succeeded | RunStatus::Failed).then_some(at),
            resolved_revision: spec.revision.map(str::to_owned),
        }),
        created_at: at - Duration::days(30),
        updated_at: at,
    }
}

/// The demo's payments applications (three), as the API lists them (by name).
pub fn applications() -> Vec<Application> {
    [
        AppSpec {
            id: 0x503,
            name: "billing-worker",
            cluster: "staging-eu-1",
            namespace: "billing",
            source: "billing-deploy",
            revision: Some("aa2288d5a5213de70501dba9fdf3854fe28e34bb"),
            status: Some(RunStatus::Succeeded),
            minutes_ago: 42,
            open: 2,
            highest: Some(Severity::Critical),
        },
        AppSpec {
            id: 0x502,
            name: "checkout-api",
            cluster: "staging-eu-1",
            namespace: "checkout",
            source: "checkout-deploy",
            revision: Some("0bfa65f22a770e361338d22737d1d8a9948e1ec6"),
            status: Some(RunStatus::Failed),
            minutes_ago: 5,
            open: 4,
            highest: Some(Severity::High),
        },
        AppSpec {
            id: 0x501,
            name: "ledger",
            cluster: "prod-eu-1",
            namespace: "payments",
            source: "ledger-deploy",
            revision: Some("b5ee0cda96b7c1f9b095afe8fec61cacf0952fcd"),
            status: Some(RunStatus::Succeeded),
            minutes_ago: 180,
            open: 3,
            highest: Some(Severity::Critical),
        },
        AppSpec {
            id: 0x506,
            name: "payouts",
            cluster: "prod-eu-1",
            namespace: "payouts",
            source: "payouts-deploy",
            revision: None,
            status: None,
            minutes_ago: 0,
            open: 0,
            highest: None,
        },
    ]
    .iter()
    .map(application)
    .collect()
}

pub struct IncidentSpec<'a> {
    pub id: u128,
    pub application: &'a Application,
    pub severity: Severity,
    pub title: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub manager: &'a str,
    pub recommendation: Recommendation,
    pub minutes_ago: i64,
}

pub fn incident(spec: &IncidentSpec<'_>) -> Incident {
    let seen = now() - Duration::minutes(spec.minutes_ago);
    Incident {
        id: Uuid::from_u128(spec.id),
        workspace_id: spec.application.workspace_id,
        application: NamedRef {
            id: spec.application.id,
            name: spec.application.name.clone(),
        },
        fingerprint: format!("fp-{}", spec.id),
        resource: ResourceIdentity {
            api_version: String::from("apps/v1"),
            group: String::from("apps"),
            kind: spec.kind.to_owned(),
            namespace: spec.application.default_namespace.clone(),
            name: spec.name.to_owned(),
        },
        cause: if spec.manager == "missing" {
            Cause::without_manager(CauseKind::Missing)
        } else {
            Cause::manager(spec.manager)
        },
        title: spec.title.to_owned(),
        severity: spec.severity,
        recommendation: spec.recommendation,
        rationale: String::from("managedFields record the manager as owner."),
        status: IncidentStatus::Open,
        finding_count: 1,
        occurrence_count: 2,
        recurrence_count: 0,
        first_seen_at: seen - Duration::hours(2),
        last_seen_at: seen,
        resolved_at: None,
        last_run_id: None,
    }
}

/// Open incidents of the payments applications (9), most recently seen first.
pub fn incidents(applications: &[Application]) -> Vec<Incident> {
    let by_name = |name: &str| {
        applications
            .iter()
            .find(|a| a.name == name)
            .expect("a fixture application")
    };
    let billing = by_name("billing-worker");
    let checkout = by_name("checkout-api");
    let ledger = by_name("ledger");
    let specs = [
        (
            0x901,
            checkout,
            Severity::High,
            "Deployment checkout/checkout-api: 2 fields changed by kubectl-edit",
            "Deployment",
            "checkout-api",
            "kubectl-edit",
            Recommendation::Reconcile,
            5,
        ),
        (
            0x902,
            checkout,
            Severity::Medium,
            "ConfigMap checkout/checkout-flags: 1 field changed by flagger",
            "ConfigMap",
            "checkout-flags",
            "flagger",
            Recommendation::Investigate,
            5,
        ),
        (
            0x903,
            checkout,
            Severity::Low,
            "Service checkout/checkout-api: 1 annotation changed by mesh-injector",
            "Service",
            "checkout-api",
            "mesh-injector",
            Recommendation::Monitor,
            5,
        ),
        (
            0x904,
            checkout,
            Severity::Medium,
            "HorizontalPodAutoscaler checkout/checkout-api: 1 field changed by hpa-tuner",
            "HorizontalPodAutoscaler",
            "checkout-api",
            "hpa-tuner",
            Recommendation::Investigate,
            6,
        ),
        (
            0x905,
            billing,
            Severity::Critical,
            "CronJob billing/nightly-invoices: missing from the cluster",
            "CronJob",
            "nightly-invoices",
            "missing",
            Recommendation::Reconcile,
            42,
        ),
        (
            0x906,
            billing,
            Severity::Low,
            "Deployment billing/billing-worker: 1 label changed by kubectl-label",
            "Deployment",
            "billing-worker",
            "kubectl-label",
            Recommendation::Monitor,
            42,
        ),
        (
            0x907,
            ledger,
            Severity::Critical,
            "Deployment payments/ledger: 3 fields changed by kubectl-edit",
            "Deployment",
            "ledger",
            "kubectl-edit",
            Recommendation::Reconcile,
            180,
        ),
        (
            0x908,
            ledger,
            Severity::High,
            "Secret payments/ledger-db: 1 field changed by vault-agent",
            "Secret",
            "ledger-db",
            "vault-agent",
            Recommendation::Investigate,
            180,
        ),
        (
            0x909,
            ledger,
            Severity::Medium,
            "ConfigMap payments/ledger-config: 1 entry removed from Git but still live",
            "ConfigMap",
            "ledger-config",
            "kubectl-client-side-apply",
            Recommendation::Investigate,
            185,
        ),
    ];
    specs
        .iter()
        .map(
            |(id, application, severity, title, kind, name, manager, recommendation, minutes)| {
                incident(&IncidentSpec {
                    id: *id,
                    application,
                    severity: *severity,
                    title,
                    kind,
                    name,
                    manager,
                    recommendation: *recommendation,
                    minutes_ago: *minutes,
                })
            },
        )
        .collect()
}

pub fn overview(applications: &[Application], incidents: &[Incident]) -> Overview {
    let mut by_severity = SeverityCounts::default();
    for incident in incidents {
        match incident.severity {
            Severity::Critical => by_severity.critical += 1,
            Severity::High => by_severity.high += 1,
            Severity::Medium => by_severity.medium += 1,
            Severity::Low => by_severity.low += 1,
        }
    }
    let mut top: Vec<Incident> = incidents.to_vec();
    top.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.last_seen_at.cmp(&a.last_seen_at))
    });
    top.truncate(5);
    let recent_runs = applications
        .iter()
        .filter_map(|application| {
            let run = application.latest_run.as_ref()?;
            Some(statesight_core::wire::AnalysisRun {
                id: run.id,
                workspace_id: application.workspace_id,
                application_id: application.id,
                status: run.status,
                trigger: statesight_core::wire::RunTrigger::Seed,
                requested_revision: None,
                resolved_revision: run.resolved_revision.clone(),
                requested_by: None,
                attempts: 1,
                error: (run.status == RunStatus::Failed)
                    .then(|| String::from("kubectl: context \"staging\" does not exist")),
                finding_count: Some(4),
                suppressed_count: Some(1),
                incident_count: Some(3),
                warnings: vec![String::from("snapshot captured with kubectl v1.32.3")],
                queued_at: run.queued_at,
                started_at: Some(run.queued_at),
                finished_at: run.finished_at,
                desired_provenance: None,
                live_provenance: None,
            })
        })
        .collect();
    Overview {
        workspace: me().workspaces[0].clone(),
        applications: applications.len() as i64,
        clusters: 2,
        sources: 4,
        open_incidents: OpenIncidentCounts {
            total: incidents.len() as i64,
            by_severity,
            by_recommendation: RecommendationCounts {
                reconcile: 3,
                investigate: 4,
                monitor: 2,
                ignore: 0,
            },
        },
        runs: RunCounts {
            queued: 0,
            running: 0,
            failed_last_24h: 1,
            succeeded_last_24h: 2,
        },
        top_incidents: top,
        recent_runs,
    }
}

pub fn new_app(depth: Depth, size: (u16, u16)) -> App {
    new_app_with(depth, size, Keymap::defaults(), false)
}

pub fn new_app_with(depth: Depth, size: (u16, u16), keymap: Keymap, sign_in: bool) -> App {
    app_from(depth, size, keymap, sign_in, None)
}

/// An app that remembers `workspace` as the last one used with the server.
pub fn new_app_remembering(depth: Depth, size: (u16, u16), workspace: Option<Uuid>) -> App {
    app_from(depth, size, Keymap::defaults(), false, workspace)
}

fn app_from(
    depth: Depth,
    size: (u16, u16),
    keymap: Keymap,
    sign_in: bool,
    remembered_workspace: Option<Uuid>,
) -> App {
    App::new(Settings {
        server: String::from("http://127.0.0.1:8080/"),
        workspace: None,
        remembered_workspace,
        sign_in_available: sign_in,
        keymap,
        theme: Theme::new(depth),
        now: now(),
        size,
        refresh: std::time::Duration::from_secs(30),
    })
}

/// The seqs of the fetches among `commands`: (overview, applications, incidents).
pub fn seqs(commands: &[Cmd]) -> (u64, u64, u64) {
    let mut out = (0, 0, 0);
    for command in commands {
        match command {
            Cmd::FetchOverview { seq, .. } => out.0 = *seq,
            Cmd::FetchApplications { seq, .. } => out.1 = *seq,
            Cmd::FetchIncidents { seq, .. } => out.2 = *seq,
            _ => {}
        }
    }
    out
}

/// Starts `app` and answers its requests with these values, as the server would.
pub fn load(app: &mut App, applications: Vec<Application>, incidents: Vec<Incident>) {
    let start = app.start();
    let Some(Cmd::FetchMe { seq }) = start.first().cloned() else {
        panic!("the app starts with /me: {start:?}");
    };
    let commands = update(
        app,
        Msg::Me {
            seq,
            result: Ok(reply(me())),
        },
    );
    let (overview_seq, apps_seq, incidents_seq) = seqs(&commands);
    let overview_value = overview(&applications, &incidents);
    update(
        app,
        Msg::Applications {
            seq: apps_seq,
            first: true,
            result: Ok(reply(applications)),
        },
    );
    update(
        app,
        Msg::Incidents {
            seq: incidents_seq,
            first: true,
            result: Ok(reply(incidents)),
        },
    );
    update(
        app,
        Msg::Overview {
            seq: overview_seq,
            result: Ok(reply(overview_value)),
        },
    );
}

/// An app showing the payments fixtures.
pub fn loaded_app(depth: Depth, size: (u16, u16)) -> App {
    let mut app = new_app(depth, size);
    let applications = applications();
    let incidents = incidents(&applications);
    load(&mut app, applications, incidents);
    app
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Sends each character as a key press; returns every command.
pub fn type_text(app: &mut App, text: &str) -> Vec<Cmd> {
    text.chars()
        .flat_map(|c| update(app, key(KeyCode::Char(c))))
        .collect()
}

pub fn press(app: &mut App, code: KeyCode) -> Vec<Cmd> {
    update(app, key(code))
}

/// Draws `app` on a `TestBackend` of its size.
pub fn render(app: &App) -> Terminal<TestBackend> {
    let (width, height) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal.draw(|frame| draw(frame, app)).expect("draw");
    terminal
}

/// The buffer's text, one line per row (multi-width symbols once).
pub fn text(buffer: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut skip = 0u16;
        for x in 0..buffer.area.width {
            let cell = &buffer[(x, y)];
            if skip > 0 {
                skip -= 1;
                continue;
            }
            out.push_str(cell.symbol());
            skip = ratatui::text::Span::raw(cell.symbol())
                .width()
                .saturating_sub(1) as u16;
        }
        out.push('\n');
    }
    out
}

/// The row of the buffer whose text contains `needle`.
pub fn row_of(buffer: &Buffer, needle: &str) -> Option<u16> {
    text(buffer)
        .lines()
        .position(|line| line.contains(needle))
        .map(|row| row as u16)
}

/// A suppressed finding of `application`, its rule as it was when the analysis ran.
pub fn suppressed(
    application: &Application,
    id: u128,
    rule: &str,
    reason: &str,
    path: &str,
) -> SuppressedFinding {
    SuppressedFinding {
        id: Uuid::from_u128(id),
        run_id: None,
        rule: SuppressingRule {
            id: None,
            name: rule.to_owned(),
            reason: reason.to_owned(),
            scope: RuleScope::Application,
        },
        resource: ResourceIdentity {
            api_version: String::from("apps/v1"),
            group: String::from("apps"),
            kind: String::from("Deployment"),
            namespace: application.default_namespace.clone(),
            name: application.name.clone(),
        },
        path: path.to_owned(),
        change: ChangeKind::Changed,
        desired: None,
        live: None,
        owners: Vec::new(),
        observed_at: now() - Duration::minutes(30),
    }
}

/// An ignore rule; `inherited` ones are workspace rules, read-only on the application.
pub fn ignore_rule(
    application: &Application,
    id: u128,
    name: &str,
    expression: &str,
    inherited: bool,
) -> IgnoreRule {
    IgnoreRule {
        id: Uuid::from_u128(id),
        workspace_id: application.workspace_id,
        application_id: (!inherited).then_some(application.id),
        scope: if inherited {
            RuleScope::Workspace
        } else {
            RuleScope::Application
        },
        name: name.to_owned(),
        match_expression: expression.to_owned(),
        resource_ref: None,
        managed_by: None,
        reason: format!("{name} is expected"),
        enabled: true,
        read_only: inherited,
        created_by: None,
        updated_by: None,
        created_at: now() - Duration::days(3),
        updated_at: now() - Duration::days(3),
    }
}

/// An analysis run of `application`, queued `minutes_ago`.
pub fn run(
    application: &Application,
    id: u128,
    status: RunStatus,
    minutes_ago: i64,
) -> AnalysisRun {
    let queued = now() - Duration::minutes(minutes_ago);
    let done = matches!(status, RunStatus::Succeeded | RunStatus::Failed);
    AnalysisRun {
        id: Uuid::from_u128(id),
        workspace_id: application.workspace_id,
        application_id: application.id,
        status,
        trigger: RunTrigger::Manual,
        requested_revision: None,
        resolved_revision: done.then(|| String::from("3f9c2a1b7d4e5f60718293a4b5c6d7e8f9012345")),
        requested_by: None,
        attempts: 1,
        error: (status == RunStatus::Failed)
            .then(|| String::from("cluster unreachable: connection refused")),
        finding_count: (status == RunStatus::Succeeded).then_some(4),
        suppressed_count: (status == RunStatus::Succeeded).then_some(2),
        incident_count: (status == RunStatus::Succeeded).then_some(2),
        warnings: Vec::new(),
        queued_at: queued,
        started_at: done.then(|| queued + Duration::seconds(2)),
        finished_at: done.then(|| queued + Duration::seconds(14)),
        desired_provenance: None,
        live_provenance: None,
    }
}

/// `GET /api/v1/applications/:id` for `application`.
pub fn detail(application: &Application, incidents: &[Incident]) -> ApplicationDetail {
    fn capped<T>(application: &Application, items: Vec<T>, total: i64, route: &str) -> Capped<T> {
        Capped {
            total,
            truncated: total > i64::try_from(items.len()).unwrap_or(0),
            items,
            href: format!("/api/v1/applications/{}/{route}", application.id),
        }
    }
    let open: Vec<Incident> = incidents
        .iter()
        .filter(|i| i.application.id == application.id)
        .cloned()
        .collect();
    let total = open.len() as i64;
    ApplicationDetail {
        application: application.clone(),
        open_incidents: capped(application, open, total, "incidents"),
        recent_suppressions: capped(
            application,
            vec![
                suppressed(
                    application,
                    0x501,
                    "mesh sidecar",
                    "injected by the mesh",
                    "spec.template.metadata.annotations.sidecar",
                ),
                suppressed(
                    application,
                    0x502,
                    "hpa replicas",
                    "the autoscaler owns replicas",
                    "spec.replicas",
                ),
            ],
            7,
            "suppressed-findings",
        ),
        ignore_rules: capped(
            application,
            vec![
                ignore_rule(application, 0x601, "hpa replicas", "spec.replicas", false),
                ignore_rule(
                    application,
                    0x602,
                    "mesh sidecar",
                    "spec.template.metadata.annotations.*",
                    true,
                ),
            ],
            2,
            "ignore-rules",
        ),
    }
}

/// The analyses of `application`, newest first.
pub fn runs(application: &Application) -> Vec<AnalysisRun> {
    let mut partial = run(application, 0x702, RunStatus::Succeeded, 70);
    partial.warnings = vec![
        String::from(
            "Secret/payments/db-credentials: not readable with the worker's permissions; not compared (grant get and list on it to the worker's identity to compare it)",
        ),
        String::from(
            "the API returned no managedFields for any of the 4 objects: no ownership evidence",
        ),
    ];
    vec![
        run(application, 0x701, RunStatus::Failed, 10),
        partial,
        run(application, 0x703, RunStatus::Succeeded, 190),
    ]
}

/// Answers the requests of the application screen (as the commands asked them).
pub fn answer_application(
    app: &mut App,
    commands: Vec<Cmd>,
    application: &Application,
    incidents: &[Incident],
) {
    for command in commands {
        let msg = match command {
            Cmd::FetchApplication { seq, .. } => Msg::ApplicationDetail {
                seq,
                result: Ok(reply(detail(application, incidents))),
            },
            Cmd::FetchApplicationIncidents {
                seq,
                resolved,
                cursor,
                ..
            } => Msg::ApplicationIncidents {
                seq,
                resolved,
                first: cursor.is_none(),
                result: Ok(reply(if resolved {
                    Vec::new()
                } else {
                    incidents
                        .iter()
                        .filter(|i| i.application.id == application.id)
                        .cloned()
                        .collect()
                })),
            },
            Cmd::FetchSuppressed { seq, cursor, .. } => Msg::Suppressed {
                seq,
                first: cursor.is_none(),
                result: Ok(reply(
                    detail(application, incidents).recent_suppressions.items,
                )),
            },
            Cmd::FetchIgnoreRules { seq, .. } => Msg::IgnoreRules {
                seq,
                result: Ok(reply(detail(application, incidents).ignore_rules.items)),
            },
            Cmd::FetchAnalyses { seq, cursor, .. } => Msg::Analyses {
                seq,
                first: cursor.is_none(),
                result: Ok(reply(runs(application))),
            },
            _ => continue,
        };
        update(app, msg);
    }
}

/// A loaded app on the application screen of `name`, every tab answered.
pub fn application_app(depth: Depth, size: (u16, u16), name: &str) -> App {
    let mut app = new_app(depth, size);
    let applications = applications();
    let incidents = incidents(&applications);
    load(&mut app, applications.clone(), incidents.clone());
    let application = applications
        .iter()
        .find(|a| a.name == name)
        .expect("a fixture application");
    let commands = app.open_application(application.id);
    answer_application(&mut app, commands, application, &incidents);
    app
}
