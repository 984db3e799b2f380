//! The application screen's replies: its detail, incidents (paged), analyses, suppressed
//! findings and rules, and the analysis requested with `a`, followed until it ends.

use statesight_core::wire::{
    AnalysisRun, ApplicationDetail, IgnoreRule, Incident, RunStatus, SuppressedFinding,
};

use super::app::{ANALYSIS_POLL, App, Cmd, Kind};
use super::appscreen::{AppScreen, RunRow, SuppressedRow};
use crate::client::{ClientError, Reply};

pub(super) fn on_application_detail(
    app: &mut App,
    seq: u64,
    result: Result<Reply<ApplicationDetail>, ClientError>,
) -> Vec<Cmd> {
    if !app.application_for(|s| s.pending.detail, seq) {
        return Vec::new();
    }
    if let Some(screen) = app.application.as_mut() {
        screen.pending.detail = None;
    }
    match result {
        Ok(reply) => {
            app.succeeded(Kind::Application);
            if let Some(screen) = app.application.as_mut() {
                screen.apply_detail(&reply.data);
            }
            app.sync_application();
            Vec::new()
        }
        Err(error) => app.failed(Kind::Application, "loading the application", error),
    }
}

pub(super) fn on_application_incidents(
    app: &mut App,
    seq: u64,
    resolved: bool,
    first: bool,
    result: Result<Reply<Vec<Incident>>, ClientError>,
) -> Vec<Cmd> {
    let pick = move |s: &AppScreen| {
        if resolved {
            s.pending.resolved
        } else {
            s.pending.open
        }
    };
    if !app.application_for(pick, seq) {
        return Vec::new();
    }
    let workspace = app.workspace.as_ref().map(|w| w.id);
    let Some(screen) = app.application.as_mut() else {
        return Vec::new();
    };
    let done = |screen: &mut AppScreen| {
        if resolved {
            screen.pending.resolved = None;
        } else {
            screen.pending.open = None;
        }
    };
    match result {
        Ok(reply) => {
            let items = AppScreen::incident_items(&reply.data);
            let last = reply.next_cursor.is_none();
            screen.apply_incident_page(resolved, items, first, last);
            let id = screen.id;
            // Later pages load while the first is already usable.
            let next = match (reply.next_cursor, workspace) {
                (Some(cursor), Some(workspace)) => vec![Cmd::FetchApplicationIncidents {
                    seq,
                    workspace,
                    id,
                    resolved,
                    cursor: Some(cursor),
                }],
                _ => {
                    done(screen);
                    Vec::new()
                }
            };
            app.succeeded(Kind::Application);
            app.sync_application();
            next
        }
        Err(error) => {
            done(screen);
            screen.abandon_incident_reload(resolved);
            app.failed(Kind::Application, "loading incidents", error)
        }
    }
}

pub(super) fn on_analyses(
    app: &mut App,
    seq: u64,
    first: bool,
    result: Result<Reply<Vec<AnalysisRun>>, ClientError>,
) -> Vec<Cmd> {
    if !app.application_for(|s| s.pending.analyses, seq) {
        return Vec::new();
    }
    let Some(screen) = app.application.as_mut() else {
        return Vec::new();
    };
    match result {
        Ok(reply) => {
            let rows = reply.data.iter().map(RunRow::new);
            if first {
                screen.runs = rows.collect();
                screen.runs_complete = false;
            } else {
                screen.runs.extend(rows);
            }
            let id = screen.id;
            let next = match reply.next_cursor {
                Some(cursor) => vec![Cmd::FetchAnalyses {
                    seq,
                    id,
                    cursor: Some(cursor),
                }],
                None => {
                    screen.pending.analyses = None;
                    screen.runs_complete = true;
                    Vec::new()
                }
            };
            app.succeeded(Kind::Application);
            app.sync_application();
            next
        }
        Err(error) => {
            screen.pending.analyses = None;
            app.failed(Kind::Application, "loading analyses", error)
        }
    }
}

pub(super) fn on_suppressed(
    app: &mut App,
    seq: u64,
    first: bool,
    result: Result<Reply<Vec<SuppressedFinding>>, ClientError>,
) -> Vec<Cmd> {
    if !app.application_for(|s| s.pending.suppressed, seq) {
        return Vec::new();
    }
    let Some(screen) = app.application.as_mut() else {
        return Vec::new();
    };
    match result {
        Ok(reply) => {
            let rows = reply.data.iter().map(SuppressedRow::new);
            if first {
                screen.suppressed = rows.collect();
            } else {
                screen.suppressed.extend(rows);
            }
            let id = screen.id;
            let next = match reply.next_cursor {
                Some(cursor) => vec![Cmd::FetchSuppressed {
                    seq,
                    id,
                    cursor: Some(cursor),
                }],
                None => {
                    screen.pending.suppressed = None;
                    screen.suppressed_total = screen
                        .suppressed_total
                        .max(i64::try_from(screen.suppressed.len()).unwrap_or(i64::MAX));
                    Vec::new()
                }
            };
            app.succeeded(Kind::Application);
            app.sync_application();
            next
        }
        Err(error) => {
            screen.pending.suppressed = None;
            app.failed(Kind::Application, "loading suppressed findings", error)
        }
    }
}

pub(super) fn on_ignore_rules(
    app: &mut App,
    seq: u64,
    result: Result<Reply<Vec<IgnoreRule>>, ClientError>,
) -> Vec<Cmd> {
    if !app.application_for(|s| s.pending.rules, seq) {
        return Vec::new();
    }
    if let Some(screen) = app.application.as_mut() {
        screen.pending.rules = None;
    }
    match result {
        Ok(reply) => {
            app.succeeded(Kind::Application);
            if let Some(screen) = app.application.as_mut() {
                screen.apply_rules(&reply.data);
            }
            app.sync_application();
            Vec::new()
        }
        Err(error) => app.failed(Kind::Application, "loading ignore rules", error),
    }
}

pub(super) fn on_analyzed(
    app: &mut App,
    seq: u64,
    created: bool,
    result: Result<Reply<AnalysisRun>, ClientError>,
) -> Vec<Cmd> {
    if !app.application_for(|s| s.pending.analyze, seq) {
        return Vec::new();
    }
    if let Some(screen) = app.application.as_mut() {
        screen.pending.analyze = None;
    }
    match result {
        Ok(reply) => {
            app.succeeded(Kind::Analyze);
            let run = RunRow::new(&reply.data);
            app.set_info(if created {
                "analysis requested"
            } else {
                "an analysis is already waiting; following it"
            });
            follow_run(app, run)
        }
        Err(error) => app.failed(Kind::Analyze, "requesting an analysis", error),
    }
}

pub(super) fn on_analysis(
    app: &mut App,
    seq: u64,
    result: Result<Reply<AnalysisRun>, ClientError>,
) -> Vec<Cmd> {
    if !app.application_for(|s| s.pending.poll, seq) {
        return Vec::new();
    }
    if let Some(screen) = app.application.as_mut() {
        screen.pending.poll = None;
    }
    match result {
        Ok(reply) => {
            app.succeeded(Kind::Analyze);
            follow_run(app, RunRow::new(&reply.data))
        }
        Err(error) => app.failed(Kind::Analyze, "following the analysis", error),
    }
}

/// Shows a requested run's progress: poll it again while it is queued or running; once it
/// ended, say how and reload the tabs.
fn follow_run(app: &mut App, run: RunRow) -> Vec<Cmd> {
    let seq = app.seq();
    let terminal = run.terminal();
    let id = run.id;
    let (status, findings, incidents, error) = (
        run.status,
        run.findings.unwrap_or(0),
        run.incidents.unwrap_or(0),
        run.error.clone(),
    );
    let Some(screen) = app.application.as_mut() else {
        return Vec::new();
    };
    screen.run = Some(run);
    if !terminal {
        screen.pending.poll = Some(seq);
        app.sync_application();
        return vec![Cmd::PollAnalysis {
            seq,
            run: id,
            after: ANALYSIS_POLL,
        }];
    }
    if status == RunStatus::Failed {
        app.set_error(&format!("analysis failed: {error}"), Some(Kind::Analyze));
    } else {
        app.set_info(&format!(
            "analysis succeeded: {findings} findings, {incidents} incidents"
        ));
    }
    app.sync_application();
    app.load_application()
}
