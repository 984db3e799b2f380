//! What the screens show, built once from the API's wire types when a reply arrives: every
//! string neutralized ([`clean`]), plus the lower-cased text the filter searches and the
//! keys the sorts compare. Drawing then only formats the visible rows.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use statesight_core::wire::{
    AnalysisRun, Application, Incident, Me, Overview, Recommendation, Role, RunStatus, Severity,
    SeverityCounts, WorkspaceAccess,
};
use uuid::Uuid;

use super::text::clean;

/// A row of a table: an id to keep the selection on, and the text the filter searches.
pub trait Row {
    fn id(&self) -> Uuid;
    /// Lower-cased, the columns joined by spaces.
    fn haystack(&self) -> &str;
    /// The order of rows a sort column leaves equal, whichever way the column is sorted.
    fn tiebreak(&self, other: &Self) -> Ordering;
}

/// The last analysis of an application.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub status: RunStatus,
    /// When it finished, else when it was queued.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppRow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub cluster: String,
    pub namespace: String,
    /// The default namespace as the API gave it, for matching rules (not for display).
    pub default_namespace: String,
    pub source: String,
    /// The revision of the last analysis.
    pub revision: Option<String>,
    pub run: Option<RunView>,
    pub open_total: i64,
    pub highest: Option<Severity>,
    /// Open incidents by severity, once the workspace's open incidents are all loaded.
    pub counts: Option<SeverityCounts>,
    pub created_at: DateTime<Utc>,
    sort_name: String,
    haystack: String,
}

impl AppRow {
    pub fn new(application: &Application) -> AppRow {
        let name = clean(&application.name);
        let cluster = clean(&application.cluster.name);
        let namespace = clean(&application.default_namespace);
        let source = clean(&application.source.name);
        let revision = application
            .latest_run
            .as_ref()
            .and_then(|run| run.resolved_revision.as_deref())
            .map(clean);
        let run = application.latest_run.as_ref().map(|run| RunView {
            status: run.status,
            at: run.finished_at.unwrap_or(run.queued_at),
        });
        let haystack = [
            name.as_str(),
            cluster.as_str(),
            namespace.as_str(),
            source.as_str(),
            revision.as_deref().unwrap_or(""),
            run.as_ref().map_or("", |run| run.status.as_str()),
            application
                .highest_open_severity
                .map_or("", Severity::as_str),
        ]
        .join(" ")
        .to_lowercase();
        AppRow {
            id: application.id,
            sort_name: name.to_lowercase(),
            description: clean(&application.description),
            name,
            cluster,
            namespace,
            default_namespace: application.default_namespace.clone(),
            source,
            revision,
            run,
            open_total: application.open_incident_count,
            highest: application.highest_open_severity,
            counts: None,
            created_at: application.created_at,
            haystack,
        }
    }

    /// Worst first when sorted descending: by critical, then high, medium, low counts (or,
    /// before the breakdown is known, the total under the highest severity).
    pub fn severity_key(&self) -> [i64; 4] {
        match &self.counts {
            Some(c) => [c.critical, c.high, c.medium, c.low],
            None => {
                let mut key = [0; 4];
                if let Some(highest) = self.highest {
                    key[3 - severity_rank(highest)] = self.open_total;
                }
                key
            }
        }
    }
}

impl Row for AppRow {
    fn id(&self) -> Uuid {
        self.id
    }

    fn haystack(&self) -> &str {
        &self.haystack
    }

    fn tiebreak(&self, other: &Self) -> Ordering {
        self.sort_name
            .cmp(&other.sort_name)
            .then_with(|| self.id.cmp(&other.id))
    }
}

fn severity_rank(severity: Severity) -> usize {
    match severity {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
        Severity::Critical => 3,
    }
}

/// The sortable columns of the applications table: title, and whether the first sort on
/// it is descending (newest and worst first).
pub const APP_SORTS: &[(&str, bool)] = &[
    ("NAME", false),
    ("CLUSTER", false),
    ("NAMESPACE", false),
    ("SOURCE@REV", false),
    ("ANALYSIS", true),
    ("INCIDENTS", true),
];

/// The order of one sort column (ties are broken by [`Row::tiebreak`]).
pub fn compare_apps(column: usize, a: &AppRow, b: &AppRow) -> Ordering {
    match column {
        0 => a.sort_name.cmp(&b.sort_name),
        1 => a.cluster.cmp(&b.cluster),
        2 => a.namespace.cmp(&b.namespace),
        3 => a
            .source
            .cmp(&b.source)
            .then_with(|| a.revision.cmp(&b.revision)),
        4 => a
            .run
            .as_ref()
            .map(|r| r.at)
            .cmp(&b.run.as_ref().map(|r| r.at)),
        5 => a.severity_key().cmp(&b.severity_key()),
        _ => Ordering::Equal,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: Uuid,
    pub application_id: Uuid,
    pub application: String,
    pub severity: Severity,
    pub title: String,
    /// `Kind namespace/name`.
    pub resource: String,
    /// The manager name or the cause kind.
    pub cause: String,
    pub recommendation: Recommendation,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub finding_count: i32,
    haystack: String,
}

impl IncidentRow {
    pub fn new(incident: &Incident) -> IncidentRow {
        let resource = &incident.resource;
        let place = if resource.namespace.is_empty() {
            clean(&resource.name)
        } else {
            format!("{}/{}", clean(&resource.namespace), clean(&resource.name))
        };
        let resource = format!("{} {place}", clean(&resource.kind));
        let application = clean(&incident.application.name);
        let title = clean(&incident.title);
        let cause = clean(incident.cause.label());
        let haystack = [
            application.as_str(),
            incident.severity.as_str(),
            title.as_str(),
            resource.as_str(),
            cause.as_str(),
            incident.recommendation.as_str(),
        ]
        .join(" ")
        .to_lowercase();
        IncidentRow {
            id: incident.id,
            application_id: incident.application.id,
            application,
            severity: incident.severity,
            title,
            resource,
            cause,
            recommendation: incident.recommendation,
            first_seen: incident.first_seen_at,
            last_seen: incident.last_seen_at,
            finding_count: incident.finding_count,
            haystack,
        }
    }
}

impl Row for IncidentRow {
    fn id(&self) -> Uuid {
        self.id
    }

    fn haystack(&self) -> &str {
        &self.haystack
    }

    /// Most recently seen first.
    fn tiebreak(&self, other: &Self) -> Ordering {
        other
            .last_seen
            .cmp(&self.last_seen)
            .then_with(|| self.id.cmp(&other.id))
    }
}

pub const INCIDENT_SORTS: &[(&str, bool)] = &[
    ("SEV", true),
    ("APPLICATION", false),
    ("TITLE", false),
    ("ACTION", true),
    ("SEEN", true),
];

/// The order of one sort column (ties are broken by [`Row::tiebreak`]).
pub fn compare_incidents(column: usize, a: &IncidentRow, b: &IncidentRow) -> Ordering {
    match column {
        0 => a.severity.cmp(&b.severity),
        1 => a.application.cmp(&b.application),
        2 => a.title.cmp(&b.title),
        3 => a.recommendation.cmp(&b.recommendation),
        4 => a.last_seen.cmp(&b.last_seen),
        _ => Ordering::Equal,
    }
}

fn cells(text: &str) -> u16 {
    u16::try_from(super::text::width(text)).unwrap_or(u16::MAX)
}

/// Cells of `1c 3h 2m 2l` (zeros left out, `—` when all are zero).
fn severity_counts_width(counts: &SeverityCounts) -> u16 {
    let parts: Vec<u16> = [counts.critical, counts.high, counts.medium, counts.low]
        .iter()
        .filter(|n| **n > 0)
        .map(|n| cells(&n.to_string()) + 1)
        .collect();
    if parts.is_empty() {
        1
    } else {
        parts.iter().sum::<u16>() + parts.len() as u16 - 1
    }
}

/// The widest value of each applications column (at least its title and a sort mark), so
/// the table can give short columns their whole width.
pub fn app_widths(rows: &[AppRow]) -> Vec<u16> {
    let mut widths: Vec<u16> = APP_SORTS
        .iter()
        .map(|(title, _)| cells(title) + 1)
        .collect();
    for row in rows {
        let source = cells(&row.source)
            + row
                .revision
                .as_deref()
                .map_or(0, |r| 1 + cells(&super::text::short_revision(r)));
        let incidents = match &row.counts {
            Some(counts) => severity_counts_width(counts),
            None if row.open_total > 0 => cells(&row.open_total.to_string()) + 5,
            None => 1,
        };
        let values = [
            cells(&row.name),
            cells(&row.cluster),
            cells(&row.namespace),
            source,
            // `failed 59m`; `running 12s` may lose a cell while it lasts.
            10,
            incidents,
        ];
        for (width, value) in widths.iter_mut().zip(values) {
            *width = (*width).max(value);
        }
    }
    widths
}

/// The widest value of each incidents column.
pub fn incident_widths(rows: &[IncidentRow]) -> Vec<u16> {
    let mut widths: Vec<u16> = INCIDENT_SORTS
        .iter()
        .map(|(title, _)| cells(title))
        .collect();
    for row in rows {
        let values = [4, cells(&row.application), cells(&row.title), 11, 4];
        for (width, value) in widths.iter_mut().zip(values) {
            *width = (*width).max(value);
        }
    }
    widths
}

/// Open incidents by severity, per application.
pub fn counts_by_application(incidents: &[IncidentRow]) -> HashMap<Uuid, SeverityCounts> {
    let mut counts: HashMap<Uuid, SeverityCounts> = HashMap::new();
    for incident in incidents {
        let entry = counts.entry(incident.application_id).or_default();
        match incident.severity {
            Severity::Critical => entry.critical += 1,
            Severity::High => entry.high += 1,
            Severity::Medium => entry.medium += 1,
            Severity::Low => entry.low += 1,
        }
    }
    counts
}

/// `/me`, cleaned.
#[derive(Debug, Clone, PartialEq)]
pub struct MeView {
    pub display_name: String,
    pub email: String,
    pub workspaces: Vec<WorkspaceView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceView {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
}

impl WorkspaceView {
    pub fn new(access: &WorkspaceAccess) -> WorkspaceView {
        WorkspaceView {
            id: access.id,
            name: clean(&access.name),
            role: access.role,
        }
    }
}

impl MeView {
    pub fn new(me: &Me) -> MeView {
        MeView {
            display_name: clean(&me.user.display_name),
            email: clean(&me.user.email),
            workspaces: me.workspaces.iter().map(WorkspaceView::new).collect(),
        }
    }
}

/// Which workspace to open: the one asked for (`-w` or `:ws`, by id or name; a name is
/// matched exactly, then ignoring case — `config::find_workspace`), else the last one used
/// with this server when it is still yours, else the first.
pub fn choose_workspace(
    workspaces: &[WorkspaceView],
    requested: Option<&str>,
    remembered: Option<Uuid>,
) -> Result<WorkspaceView, String> {
    let names = || {
        workspaces
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match requested.map(str::trim).filter(|r| !r.is_empty()) {
        None => remembered
            .and_then(|id| workspaces.iter().find(|w| w.id == id))
            .or_else(|| workspaces.first())
            .cloned()
            .ok_or_else(|| {
                String::from("you belong to no workspace on this server; ask an admin to add you")
            }),
        Some(wanted) => {
            crate::config::find_workspace(workspaces, wanted, |w| (w.id, w.name.as_str()))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "no workspace {:?} here; yours: {} (:ws NAME switches)",
                        clean(wanted),
                        names()
                    )
                })
        }
    }
}

/// The overview, cleaned; recent runs name their application when it is known.
#[derive(Debug, Clone, PartialEq)]
pub struct OverviewView {
    pub applications: i64,
    pub clusters: i64,
    pub sources: i64,
    pub open: statesight_core::wire::OpenIncidentCounts,
    pub runs: statesight_core::wire::RunCounts,
    pub top_incidents: Vec<IncidentRow>,
    pub recent_runs: Vec<RecentRun>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecentRun {
    pub application_id: Uuid,
    pub status: RunStatus,
    pub revision: Option<String>,
    pub at: DateTime<Utc>,
    pub finding_count: Option<i32>,
    pub incident_count: Option<i32>,
    pub error: Option<String>,
    pub warnings: usize,
}

impl RecentRun {
    fn new(run: &AnalysisRun) -> RecentRun {
        RecentRun {
            application_id: run.application_id,
            status: run.status,
            revision: run
                .resolved_revision
                .as_deref()
                .or(run.requested_revision.as_deref())
                .map(clean),
            at: run.finished_at.or(run.started_at).unwrap_or(run.queued_at),
            finding_count: run.finding_count,
            incident_count: run.incident_count,
            error: run.error.as_deref().map(clean),
            warnings: run.warnings.len(),
        }
    }
}

impl OverviewView {
    pub fn new(overview: &Overview) -> OverviewView {
        OverviewView {
            applications: overview.applications,
            clusters: overview.clusters,
            sources: overview.sources,
            open: overview.open_incidents.clone(),
            runs: overview.runs.clone(),
            top_incidents: overview
                .top_incidents
                .iter()
                .map(IncidentRow::new)
                .collect(),
            recent_runs: overview.recent_runs.iter().map(RecentRun::new).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(id: u128, name: &str) -> WorkspaceView {
        WorkspaceView {
            id: Uuid::from_u128(id),
            name: name.to_owned(),
            role: Role::Viewer,
        }
    }

    #[test]
    fn the_workspace_is_the_one_asked_for_else_the_first() {
        let all = [workspace(1, "acme-payments"), workspace(2, "acme-platform")];
        assert_eq!(
            choose_workspace(&all, None, None).map(|w| w.id),
            Ok(Uuid::from_u128(1))
        );
        assert_eq!(
            choose_workspace(&all, Some("acme-platform"), None).map(|w| w.id),
            Ok(Uuid::from_u128(2))
        );
        assert_eq!(
            choose_workspace(&all, Some("ACME-Platform"), None).map(|w| w.id),
            Ok(Uuid::from_u128(2))
        );
        assert_eq!(
            choose_workspace(&all, Some(&Uuid::from_u128(2).to_string()), None).map(|w| w.id),
            Ok(Uuid::from_u128(2))
        );
        let error = choose_workspace(&all, Some("prod\u{1b}[2J"), None).expect_err("unknown");
        assert!(error.contains("\\u{1b}[2J"), "{error}");
        assert!(error.contains("acme-payments, acme-platform"), "{error}");
        assert!(choose_workspace(&[], None, None).is_err());
        // Without -w: the last workspace used, while it is still yours; else the first.
        assert_eq!(
            choose_workspace(&all, None, Some(Uuid::from_u128(2))).map(|w| w.id),
            Ok(Uuid::from_u128(2))
        );
        assert_eq!(
            choose_workspace(&all, None, Some(Uuid::from_u128(9))).map(|w| w.id),
            Ok(Uuid::from_u128(1))
        );
        // -w wins over the remembered one.
        assert_eq!(
            choose_workspace(&all, Some("acme-payments"), Some(Uuid::from_u128(2))).map(|w| w.id),
            Ok(Uuid::from_u128(1))
        );
    }
}
