//! The pages. Each one authenticates and authorizes exactly as its API route does (the
//! `Principal` extractor, `Principal::authorize`, 404 for workspaces the caller is not a
//! member of), reads through the same store functions, and pages its lists with the same
//! signed cursors (`?cursor=`, `?limit=`).

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use statesight_core::wire::{Application, Incident, IncidentStatus, Role};
use statesight_store::incidents::IncidentFilter;
use statesight_store::keyset::{ByName, ByOrdinal, ByTimeAsc, ByTimeDesc};
use uuid::Uuid;

use super::views::{
    ApplicationRow, FindingView, IncidentRow, RuleRow, RunRow, SuppressedRow, TimelineRow,
    resource_label, severity_word, shown,
};
use super::{UiError, render};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{IdPair, IdPath, RawQuery};
use crate::state::AppState;

type Page = Result<Response, UiError>;

/// The timeline shows at most this many events (the API pages the rest).
const TIMELINE_LIMIT: i64 = 500;

/// What every page's frame shows: where you are and who you are.
pub struct Layout {
    pub title: String,
    pub workspace_id: Uuid,
    pub workspace: String,
    pub role: &'static str,
    pub user: String,
    /// Which main section is current: `overview`, `applications`, `incidents`.
    pub section: &'static str,
    pub workspaces: Vec<(Uuid, String)>,
}

impl Layout {
    async fn load(
        state: &AppState,
        principal: &Principal,
        workspace_id: Uuid,
        section: &'static str,
        title: String,
    ) -> Result<Layout, UiError> {
        let role = principal
            .authorize(state, workspace_id, Role::Viewer, "workspace")
            .await?;
        let me = statesight_store::access::me(&state.pool, principal.user_id)
            .await?
            .ok_or_else(|| {
                ApiError::Unauthenticated(String::from("the signed-in user no longer exists"))
            })?;
        let workspace = me
            .workspaces
            .iter()
            .find(|w| w.id == workspace_id)
            .map(|w| shown(&w.name))
            .ok_or(ApiError::NotFound("workspace"))?;
        Ok(Layout {
            title: shown(&title),
            workspace_id,
            workspace,
            role: role.as_str(),
            user: shown(&me.user.email),
            section,
            workspaces: me
                .workspaces
                .iter()
                .map(|w| (w.id, shown(&w.name)))
                .collect(),
        })
    }
}

/// `?cursor=…` for the next page, keeping the page's other parameters.
fn next_link(next: Option<String>, keep: &[(&str, &str)]) -> Option<String> {
    let cursor = next?;
    let mut query: Vec<String> = keep
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    query.push(format!("cursor={}", encode(&cursor)));
    Some(format!("?{}", query.join("&")))
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/ui`: the caller's first workspace.
pub async fn home(State(state): State<AppState>, principal: Result<Principal, ApiError>) -> Page {
    let principal = principal?;
    let workspaces =
        statesight_store::access::workspaces_of(&state.pool, principal.user_id).await?;
    let first = workspaces.first().ok_or_else(|| {
        ApiError::Forbidden(String::from(
            "you are not a member of any workspace; ask an administrator to add you",
        ))
    })?;
    Ok(Redirect::to(&format!("/ui/w/{}", first.id)).into_response())
}

#[derive(Template)]
#[template(path = "ui/overview.html")]
struct OverviewPage {
    layout: Layout,
    applications: i64,
    clusters: i64,
    sources: i64,
    open_total: i64,
    severities: Vec<(&'static str, i64)>,
    recommendations: Vec<(&'static str, i64)>,
    runs_queued: i64,
    runs_running: i64,
    runs_failed: i64,
    runs_succeeded: i64,
    top: Vec<IncidentRow>,
    recent: Vec<(String, Uuid, RunRow)>,
}

pub async fn overview(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    workspace: Result<IdPath, ApiError>,
) -> Page {
    let (principal, IdPath(workspace_id)) = (principal?, workspace?);
    let layout = Layout::load(
        &state,
        &principal,
        workspace_id,
        "overview",
        "Overview".into(),
    )
    .await?;
    let pool = &state.pool;
    let now = Utc::now();
    let counts = statesight_store::overview::counts(pool, workspace_id).await?;
    let top = statesight_store::incidents::top_open(pool, workspace_id, 10).await?;
    let recent = statesight_store::runs::recent_in_workspace(pool, workspace_id, 10).await?;
    let names = application_names(&state, workspace_id).await?;
    let open = &counts.open_incidents;
    let page = OverviewPage {
        layout,
        applications: counts.applications,
        clusters: counts.clusters,
        sources: counts.sources,
        open_total: open.total,
        severities: vec![
            ("critical", open.by_severity.critical),
            ("high", open.by_severity.high),
            ("medium", open.by_severity.medium),
            ("low", open.by_severity.low),
        ],
        recommendations: vec![
            ("reconcile", open.by_recommendation.reconcile),
            ("investigate", open.by_recommendation.investigate),
            ("monitor", open.by_recommendation.monitor),
            ("ignore", open.by_recommendation.ignore),
        ],
        runs_queued: counts.runs.queued,
        runs_running: counts.runs.running,
        runs_failed: counts.runs.failed_last_24h,
        runs_succeeded: counts.runs.succeeded_last_24h,
        top: top.iter().map(|i| IncidentRow::new(i, now)).collect(),
        recent: recent
            .iter()
            .map(|run| {
                let name = names
                    .iter()
                    .find(|(id, _)| *id == run.application_id)
                    .map(|(_, name)| name.clone())
                    .unwrap_or_default();
                (name, run.application_id, RunRow::new(run, now))
            })
            .collect(),
    };
    Ok(render(&page))
}

/// The workspace's application names by id (for the recent analyses).
async fn application_names(
    state: &AppState,
    workspace_id: Uuid,
) -> Result<Vec<(Uuid, String)>, UiError> {
    let mut names = Vec::new();
    let mut after: Option<ByName> = None;
    loop {
        let page =
            statesight_store::applications::list(&state.pool, workspace_id, after.as_ref(), 500)
                .await?;
        names.extend(page.items.iter().map(|a| (a.id, shown(&a.name))));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(names),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/applications.html")]
struct ApplicationsPage {
    layout: Layout,
    rows: Vec<ApplicationRow>,
    next: Option<String>,
}

pub async fn applications(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    workspace: Result<IdPath, ApiError>,
    query: Result<RawQuery, ApiError>,
) -> Page {
    let (principal, IdPath(workspace_id), query) = (principal?, workspace?, query?);
    let paging = query.paging::<ByName>("applications", &state.cursors)?;
    let layout = Layout::load(
        &state,
        &principal,
        workspace_id,
        "applications",
        "Applications".into(),
    )
    .await?;
    let page = statesight_store::applications::list(
        &state.pool,
        workspace_id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let now = Utc::now();
    Ok(render(&ApplicationsPage {
        layout,
        rows: page
            .items
            .iter()
            .map(|a| ApplicationRow::new(a, now))
            .collect(),
        next: next_link(paging.cursor_after(page.next.as_ref()), &[]),
    }))
}

/// The tabs of the application page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Incidents,
    Suppressed,
    Rules,
    Analyses,
}

/// The application page's frame: the application and its tabs.
pub struct ApplicationFrame {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub cluster: String,
    pub namespace: String,
    pub source: String,
    pub tab: Tab,
}

async fn application_frame(
    state: &AppState,
    principal: &Principal,
    workspace_id: Uuid,
    id: Uuid,
    tab: Tab,
) -> Result<(Layout, ApplicationFrame, Application), UiError> {
    let application =
        crate::routes::applications::authorized_application(state, principal, id, Role::Viewer)
            .await?;
    // The workspace in the address must be the application's: anything else is not here.
    if application.workspace_id != workspace_id {
        return Err(ApiError::NotFound("application").into());
    }
    let layout = Layout::load(
        state,
        principal,
        workspace_id,
        "applications",
        application.name.clone(),
    )
    .await?;
    let frame = ApplicationFrame {
        id,
        name: shown(&application.name),
        description: shown(&application.description),
        cluster: shown(&application.cluster.name),
        namespace: shown(&application.default_namespace),
        source: shown(&application.source.name),
        tab,
    };
    Ok((layout, frame, application))
}

#[derive(Template)]
#[template(path = "ui/application.html")]
struct ApplicationPage {
    layout: Layout,
    app: ApplicationFrame,
    resolved: bool,
    incidents: Vec<IncidentRow>,
    suppressed: Vec<SuppressedRow>,
    rules: Vec<RuleRow>,
    runs: Vec<RunRow>,
    next: Option<String>,
}

impl ApplicationPage {
    fn new(layout: Layout, app: ApplicationFrame) -> ApplicationPage {
        ApplicationPage {
            layout,
            app,
            resolved: false,
            incidents: Vec::new(),
            suppressed: Vec::new(),
            rules: Vec::new(),
            runs: Vec::new(),
            next: None,
        }
    }
}

pub async fn application_incidents(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    ids: Result<IdPair, ApiError>,
    query: Result<RawQuery, ApiError>,
) -> Page {
    let (principal, IdPair(workspace_id, id), query) = (principal?, ids?, query?);
    let paging = query.paging::<ByTimeDesc>("incidents", &state.cursors)?;
    let status = query
        .one_of::<IncidentStatus>("status")?
        .unwrap_or(IncidentStatus::Open);
    let (layout, frame, _) =
        application_frame(&state, &principal, workspace_id, id, Tab::Incidents).await?;
    let filter = IncidentFilter {
        application_id: Some(id),
        status: Some(status),
    };
    let page = statesight_store::incidents::list(
        &state.pool,
        workspace_id,
        &filter,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let now = Utc::now();
    let mut view = ApplicationPage::new(layout, frame);
    view.resolved = status == IncidentStatus::Resolved;
    view.incidents = page
        .items
        .iter()
        .map(|i| IncidentRow::new(i, now))
        .collect();
    view.next = next_link(
        paging.cursor_after(page.next.as_ref()),
        &[("status", status.as_str())],
    );
    Ok(render(&view))
}

pub async fn application_suppressed(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    ids: Result<IdPair, ApiError>,
    query: Result<RawQuery, ApiError>,
) -> Page {
    let (principal, IdPair(workspace_id, id), query) = (principal?, ids?, query?);
    let paging = query.paging::<ByTimeDesc>("suppressed_findings", &state.cursors)?;
    let (layout, frame, _) =
        application_frame(&state, &principal, workspace_id, id, Tab::Suppressed).await?;
    let page = statesight_store::incidents::suppressions(
        &state.pool,
        id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let now = Utc::now();
    let mut view = ApplicationPage::new(layout, frame);
    view.suppressed = page
        .items
        .iter()
        .map(|s| SuppressedRow::new(s, now))
        .collect();
    view.next = next_link(paging.cursor_after(page.next.as_ref()), &[]);
    Ok(render(&view))
}

pub async fn application_rules(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    ids: Result<IdPair, ApiError>,
) -> Page {
    let (principal, IdPair(workspace_id, id)) = (principal?, ids?);
    let (layout, frame, _) =
        application_frame(&state, &principal, workspace_id, id, Tab::Rules).await?;
    let rules = statesight_store::rules::applicable_to_application(&state.pool, id).await?;
    let mut view = ApplicationPage::new(layout, frame);
    view.rules = rules.iter().map(RuleRow::new).collect();
    Ok(render(&view))
}

pub async fn application_analyses(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    ids: Result<IdPair, ApiError>,
    query: Result<RawQuery, ApiError>,
) -> Page {
    let (principal, IdPair(workspace_id, id), query) = (principal?, ids?, query?);
    let paging = query.paging::<ByTimeDesc>("analyses", &state.cursors)?;
    let (layout, frame, _) =
        application_frame(&state, &principal, workspace_id, id, Tab::Analyses).await?;
    let page = statesight_store::runs::list_for_application(
        &state.pool,
        id,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let now = Utc::now();
    let mut view = ApplicationPage::new(layout, frame);
    view.runs = page.items.iter().map(|r| RunRow::new(r, now)).collect();
    view.next = next_link(paging.cursor_after(page.next.as_ref()), &[]);
    Ok(render(&view))
}

#[derive(Template)]
#[template(path = "ui/incidents.html")]
struct IncidentsPage {
    layout: Layout,
    resolved: bool,
    rows: Vec<IncidentRow>,
    next: Option<String>,
}

pub async fn incidents(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    workspace: Result<IdPath, ApiError>,
    query: Result<RawQuery, ApiError>,
) -> Page {
    let (principal, IdPath(workspace_id), query) = (principal?, workspace?, query?);
    let paging = query.paging::<ByTimeDesc>("incidents", &state.cursors)?;
    let status = query
        .one_of::<IncidentStatus>("status")?
        .unwrap_or(IncidentStatus::Open);
    let layout = Layout::load(
        &state,
        &principal,
        workspace_id,
        "incidents",
        "Incidents".into(),
    )
    .await?;
    let filter = IncidentFilter {
        application_id: None,
        status: Some(status),
    };
    let page = statesight_store::incidents::list(
        &state.pool,
        workspace_id,
        &filter,
        paging.after.as_ref(),
        paging.limit,
    )
    .await?;
    let now = Utc::now();
    Ok(render(&IncidentsPage {
        layout,
        resolved: status == IncidentStatus::Resolved,
        rows: page
            .items
            .iter()
            .map(|i| IncidentRow::new(i, now))
            .collect(),
        next: next_link(
            paging.cursor_after(page.next.as_ref()),
            &[("status", status.as_str())],
        ),
    }))
}

#[derive(Template)]
#[template(path = "ui/incident.html")]
struct IncidentPage {
    layout: Layout,
    application_id: Uuid,
    application: String,
    title: String,
    severity: &'static str,
    status: &'static str,
    recommendation: &'static str,
    rationale: String,
    resource: String,
    cause: String,
    occurrences: i32,
    recurrences: i32,
    findings: Vec<FindingView>,
    next: Option<String>,
    timeline: Vec<TimelineRow>,
    timeline_more: bool,
}

pub async fn incident(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    ids: Result<IdPair, ApiError>,
    query: Result<RawQuery, ApiError>,
) -> Page {
    let (principal, IdPair(workspace_id, id), query) = (principal?, ids?, query?);
    let paging = query.paging::<ByOrdinal>("findings", &state.cursors)?;
    let incident: Incident = statesight_store::incidents::get(&state.pool, id)
        .await?
        .ok_or(ApiError::NotFound("incident"))?;
    principal
        .authorize(&state, incident.workspace_id, Role::Viewer, "incident")
        .await?;
    if incident.workspace_id != workspace_id {
        return Err(ApiError::NotFound("incident").into());
    }
    let layout = Layout::load(
        &state,
        &principal,
        workspace_id,
        "incidents",
        incident.title.clone(),
    )
    .await?;
    let pool = &state.pool;
    let findings =
        statesight_store::incidents::findings(pool, id, paging.after.as_ref(), paging.limit)
            .await?;
    let timeline =
        statesight_store::incidents::timeline(pool, id, None::<&ByTimeAsc>, TIMELINE_LIMIT).await?;
    let now = Utc::now();
    Ok(render(&IncidentPage {
        layout,
        application_id: incident.application.id,
        application: shown(&incident.application.name),
        title: shown(&incident.title),
        severity: severity_word(incident.severity),
        status: incident.status.as_str(),
        recommendation: incident.recommendation.as_str(),
        rationale: shown(&incident.rationale),
        resource: resource_label(&incident.resource),
        cause: shown(incident.cause.label()),
        occurrences: incident.occurrence_count,
        recurrences: incident.recurrence_count,
        findings: findings
            .items
            .iter()
            .map(|f| FindingView::new(f, now))
            .collect(),
        next: next_link(paging.cursor_after(findings.next.as_ref()), &[]),
        timeline: timeline
            .items
            .iter()
            .map(|e| TimelineRow::new(e, now))
            .collect(),
        timeline_more: timeline.next.is_some(),
    }))
}
