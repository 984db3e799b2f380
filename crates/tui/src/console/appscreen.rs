//! The application screen's state: four tabs (incidents, suppressed findings, ignore rules,
//! analyses) of rows built from the API's wire types, every string neutralized, and one
//! cursor per tab that follows its row by id when a reload adds or removes rows.

use chrono::{DateTime, Utc};
use statesight_core::wire::{
    AnalysisRun, ApplicationDetail, IgnoreRule, Incident, IncidentStatus, RunStatus, RunTrigger,
    SuppressedFinding,
};
use uuid::Uuid;

use super::model::IncidentRow;
use super::text::clean;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Incidents,
    Suppressed,
    IgnoreRules,
    Analyses,
}

impl Tab {
    pub const ALL: [Tab; 4] = [
        Tab::Incidents,
        Tab::Suppressed,
        Tab::IgnoreRules,
        Tab::Analyses,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Incidents => "Incidents",
            Tab::Suppressed => "Suppressed",
            Tab::IgnoreRules => "Ignore Rules",
            Tab::Analyses => "Analyses",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Tab::Incidents => 0,
            Tab::Suppressed => 1,
            Tab::IgnoreRules => 2,
            Tab::Analyses => 3,
        }
    }

    /// The next tab (or the previous one), wrapping around.
    pub fn step(self, forward: bool) -> Tab {
        let shift = if forward { 1 } else { Tab::ALL.len() - 1 };
        Tab::ALL[(self.index() + shift) % Tab::ALL.len()]
    }
}

/// A selection that follows its row by id, and the first row in view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub id: Option<Uuid>,
    pub position: usize,
    pub offset: usize,
}

impl Cursor {
    /// After the rows changed: keep the selected row when it is still there (else the same
    /// position), and keep the scroll unless the selection left the view.
    pub fn sync(&mut self, ids: &[Uuid], height: usize) {
        if let Some(position) = self
            .id
            .and_then(|id| ids.iter().position(|other| *other == id))
        {
            self.position = position;
        } else {
            self.position = self.position.min(ids.len().saturating_sub(1));
        }
        self.id = ids.get(self.position).copied();
        self.scroll(ids.len(), height);
    }

    pub fn move_by(&mut self, ids: &[Uuid], delta: isize, height: usize) {
        if ids.is_empty() {
            return;
        }
        let last = ids.len() - 1;
        self.position = self.position.saturating_add_signed(delta).min(last);
        self.id = ids.get(self.position).copied();
        self.scroll(ids.len(), height);
    }

    fn scroll(&mut self, rows: usize, height: usize) {
        let height = height.max(1);
        if self.position < self.offset {
            self.offset = self.position;
        } else if self.position >= self.offset + height {
            self.offset = self.position + 1 - height;
        }
        self.offset = self.offset.min(rows.saturating_sub(height));
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentItem {
    pub row: IncidentRow,
    pub resolved: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressedRow {
    pub id: Uuid,
    /// The rule's name and reason as they were when the analysis ran.
    pub rule: String,
    pub reason: String,
    pub resource: String,
    pub path: String,
    pub observed_at: DateTime<Utc>,
}

impl SuppressedRow {
    pub fn new(finding: &SuppressedFinding) -> SuppressedRow {
        SuppressedRow {
            id: finding.id,
            rule: clean(&finding.rule.name),
            reason: clean(&finding.rule.reason),
            resource: resource_label(
                &finding.resource.kind,
                &finding.resource.namespace,
                &finding.resource.name,
            ),
            path: clean(&finding.path),
            observed_at: finding.observed_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    pub id: Uuid,
    pub name: String,
    pub expression: String,
    pub reason: String,
    pub enabled: bool,
    /// An inherited workspace rule: edited elsewhere.
    pub read_only: bool,
    /// The rule as the API returned it, for the editor.
    pub source: IgnoreRule,
}

impl RuleRow {
    pub fn new(rule: &IgnoreRule) -> RuleRow {
        RuleRow {
            id: rule.id,
            name: clean(&rule.name),
            expression: clean(&rule.match_expression),
            reason: clean(&rule.reason),
            enabled: rule.enabled,
            read_only: rule.read_only,
            source: rule.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    pub id: Uuid,
    pub status: RunStatus,
    pub trigger: RunTrigger,
    /// The resolved revision, else the requested one.
    pub revision: String,
    pub queued_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub findings: Option<i32>,
    pub incidents: Option<i32>,
    pub error: String,
    /// What the analysis noticed but did not turn into findings (unreadable resources,
    /// live state without managedFields, …), neutralized.
    pub warnings: Vec<String>,
}

impl RunRow {
    pub fn new(run: &AnalysisRun) -> RunRow {
        RunRow {
            id: run.id,
            status: run.status,
            trigger: run.trigger,
            revision: run
                .resolved_revision
                .as_deref()
                .or(run.requested_revision.as_deref())
                .map(clean)
                .unwrap_or_default(),
            queued_at: run.queued_at,
            finished_at: run.finished_at,
            findings: run.finding_count,
            incidents: run.incident_count,
            error: run.error.as_deref().map(clean).unwrap_or_default(),
            warnings: run.warnings.iter().map(|w| clean(w)).collect(),
        }
    }

    pub fn terminal(&self) -> bool {
        matches!(self.status, RunStatus::Succeeded | RunStatus::Failed)
    }
}

fn resource_label(kind: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{} {}", clean(kind), clean(name))
    } else {
        format!("{} {}/{}", clean(kind), clean(namespace), clean(name))
    }
}

/// Sequence numbers of the screen's requests in flight (the latest of each kind wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppPending {
    pub detail: Option<u64>,
    pub open: Option<u64>,
    pub resolved: Option<u64>,
    pub analyses: Option<u64>,
    pub rules: Option<u64>,
    pub suppressed: Option<u64>,
    pub analyze: Option<u64>,
    pub poll: Option<u64>,
}

/// Everything the application screen shows.
#[derive(Debug, Clone, PartialEq)]
pub struct AppScreen {
    pub id: Uuid,
    pub tab: Tab,
    pub name: Option<String>,
    pub open: Vec<IncidentItem>,
    pub resolved: Vec<IncidentItem>,
    /// Pages of a reload of `open` / `resolved`, swapped in whole with the last one so a
    /// selection on a later page is not lost meanwhile.
    incoming: [Option<Vec<IncidentItem>>; 2],
    pub show_resolved: bool,
    pub suppressed: Vec<SuppressedRow>,
    pub suppressed_total: i64,
    pub rules: Vec<RuleRow>,
    pub runs: Vec<RunRow>,
    /// Every page of analyses arrived.
    pub runs_complete: bool,
    /// The analysis requested with `a`, while it is followed.
    pub run: Option<RunRow>,
    pub cursors: [Cursor; 4],
    pub pending: AppPending,
}

impl AppScreen {
    pub fn new(id: Uuid) -> AppScreen {
        AppScreen {
            id,
            tab: Tab::Incidents,
            name: None,
            open: Vec::new(),
            resolved: Vec::new(),
            incoming: [None, None],
            show_resolved: false,
            suppressed: Vec::new(),
            suppressed_total: 0,
            rules: Vec::new(),
            runs: Vec::new(),
            runs_complete: false,
            run: None,
            cursors: [Cursor::default(); 4],
            pending: AppPending::default(),
        }
    }

    pub fn loading(&self) -> bool {
        let p = &self.pending;
        p.detail.is_some()
            || p.open.is_some()
            || p.resolved.is_some()
            || p.analyses.is_some()
            || p.rules.is_some()
            || p.suppressed.is_some()
    }

    /// The incidents tab's rows: by severity (worst first), then the most recently seen.
    pub fn incidents(&self) -> Vec<&IncidentItem> {
        let mut rows: Vec<&IncidentItem> = self.open.iter().collect();
        if self.show_resolved {
            rows.extend(self.resolved.iter().filter(|item| {
                // An incident may move between the lists between two requests.
                !self.open.iter().any(|open| open.row.id == item.row.id)
            }));
        }
        rows.sort_by(|a, b| {
            b.row
                .severity
                .cmp(&a.row.severity)
                .then_with(|| b.row.last_seen.cmp(&a.row.last_seen))
                .then_with(|| a.row.id.cmp(&b.row.id))
        });
        rows
    }

    /// The ids of a tab's rows, in display order.
    pub fn ids(&self, tab: Tab) -> Vec<Uuid> {
        match tab {
            Tab::Incidents => self.incidents().iter().map(|item| item.row.id).collect(),
            Tab::Suppressed => self.suppressed.iter().map(|row| row.id).collect(),
            Tab::IgnoreRules => self.rules.iter().map(|row| row.id).collect(),
            Tab::Analyses => self.runs.iter().map(|row| row.id).collect(),
        }
    }

    /// Re-anchors every tab's cursor after rows changed.
    pub fn sync(&mut self, height: usize) {
        for tab in Tab::ALL {
            let ids = self.ids(tab);
            self.cursors[tab.index()].sync(&ids, height);
        }
    }

    pub fn move_by(&mut self, delta: isize, height: usize) {
        let ids = self.ids(self.tab);
        self.cursors[self.tab.index()].move_by(&ids, delta, height);
    }

    pub fn apply_detail(&mut self, detail: &ApplicationDetail) {
        self.name = Some(clean(&detail.application.name));
        // The rows come whole from their own routes (the detail caps them); its total
        // counts them meanwhile.
        self.suppressed_total = detail.recent_suppressions.total;
    }

    pub fn apply_rules(&mut self, rules: &[IgnoreRule]) {
        self.rules = rules.iter().map(RuleRow::new).collect();
    }

    /// A page of open (or resolved) incidents: the first load shows each page as it
    /// arrives; a reload of a list already shown is swapped in whole with its last page.
    pub fn apply_incident_page(
        &mut self,
        resolved: bool,
        items: Vec<IncidentItem>,
        first: bool,
        last: bool,
    ) {
        let slot = usize::from(resolved);
        let list = if resolved {
            &mut self.resolved
        } else {
            &mut self.open
        };
        let reloading = first && !list.is_empty() || self.incoming[slot].is_some();
        if !reloading {
            list.extend(items);
            return;
        }
        let incoming = self.incoming[slot].get_or_insert_with(Vec::new);
        if first {
            incoming.clear();
        }
        incoming.extend(items);
        if last {
            *list = self.incoming[slot].take().unwrap_or_default();
        }
    }

    /// A load of incidents failed part way: what is shown stays.
    pub fn abandon_incident_reload(&mut self, resolved: bool) {
        self.incoming[usize::from(resolved)] = None;
    }

    pub fn incident_items(incidents: &[Incident]) -> Vec<IncidentItem> {
        incidents
            .iter()
            .map(|incident| IncidentItem {
                row: IncidentRow::new(incident),
                resolved: incident.status == IncidentStatus::Resolved,
            })
            .collect()
    }
}
