//! The incident screen's state: the incident, its findings (paged in the background, one
//! cursor that follows its finding by id), the timeline, and how the evidence pane shows
//! the selected finding (unified or side-by-side, scrolled).
//!
//! Rows keep the wire finding next to its neutralized table cells: the evidence pane
//! needs the values and provenance, the table only short text. Cells are built once per
//! page, never per frame, so a 50,000-finding incident costs what the screen shows.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui::text::Line;
use serde_json::Value;
use statesight_core::diff::ChangeKind;
use statesight_core::wire::{
    Attribution, DesiredEvidence, Finding, Incident, LiveEvidence, Owner, ResourceIdentity,
    TimelineEvent, TimelineKind,
};
use uuid::Uuid;

use super::appscreen::Cursor;
use super::highlight::highlight_yaml;
use super::text::{clean, width};
use super::theme::{Depth, Theme};
use super::yaml::to_yaml_lines;

/// How long a value may be in a table cell before it is cut (the evidence pane shows it
/// whole, so the cut is never silent).
const CELL_CHARS: usize = 160;

/// Which part of the screen the movement keys act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Findings,
    Evidence,
}

/// How desired and live values are compared in the evidence pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffMode {
    Unified,
    SideBySide,
}

/// One finding as the screen keeps it: the wire finding, with what every finding of a run
/// shares (the resource, where Git and the cluster were read, the ownership note, the
/// attribution) held once for all of them. The table's cells are made from it for the rows
/// in view only, so 50,000 findings cost their data and nothing per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingItem {
    pub id: Uuid,
    pub resource: Arc<ResourceIdentity>,
    pub path: String,
    pub change: ChangeKind,
    /// Any JSON value, `None` when that side has none (Secret values are digests).
    pub desired: Option<Value>,
    pub live: Option<Value>,
    /// The managers managedFields record for the path (the evidence's owners are these).
    pub owners: Vec<Owner>,
    pub desired_from: Arc<DesiredEvidence>,
    pub live_from: Arc<LiveEvidence>,
    pub ownership_note: Arc<str>,
    pub attribution: Arc<Attribution>,
}

/// The last value of each shared part, so consecutive findings of a run point at one copy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shared {
    resource: Option<Arc<ResourceIdentity>>,
    desired: Option<Arc<DesiredEvidence>>,
    live: Option<Arc<LiveEvidence>>,
    note: Option<Arc<str>>,
    attribution: Option<Arc<Attribution>>,
}

/// `value` as the shared copy in `slot` when they are equal, else as the new shared copy.
fn share<T: PartialEq>(slot: &mut Option<Arc<T>>, value: T) -> Arc<T> {
    match slot {
        Some(kept) if **kept == value => Arc::clone(kept),
        _ => Arc::clone(slot.insert(Arc::new(value))),
    }
}

fn share_str(slot: &mut Option<Arc<str>>, value: String) -> Arc<str> {
    match slot {
        Some(kept) if **kept == *value => Arc::clone(kept),
        _ => Arc::clone(slot.insert(Arc::from(value))),
    }
}

impl FindingItem {
    /// A finding on its own (nothing shared with others).
    pub fn new(finding: Finding) -> FindingItem {
        FindingItem::sharing(finding, &mut Shared::default())
    }

    /// A finding whose run-wide parts are shared with the findings before it.
    pub fn sharing(finding: Finding, shared: &mut Shared) -> FindingItem {
        let evidence = finding.evidence;
        FindingItem {
            id: finding.id,
            resource: share(&mut shared.resource, finding.resource),
            path: finding.path,
            change: finding.change,
            desired: finding.desired,
            live: finding.live,
            owners: finding.owners,
            desired_from: share(&mut shared.desired, evidence.desired),
            live_from: share(&mut shared.live, evidence.live),
            ownership_note: share_str(&mut shared.note, evidence.ownership.note),
            attribution: share(&mut shared.attribution, evidence.attribution),
        }
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The table's cells: resource, path, change, desired, live, owners (neutralized).
    pub fn cells(&self) -> [String; FINDING_COLUMN_COUNT] {
        let resource = &self.resource;
        let place = if resource.namespace.is_empty() {
            clean(&resource.name)
        } else {
            format!("{}/{}", clean(&resource.namespace), clean(&resource.name))
        };
        let owners = if self.owners.is_empty() {
            String::from("—")
        } else {
            self.owners
                .iter()
                .map(|owner| clean(&owner.manager))
                .collect::<Vec<_>>()
                .join(", ")
        };
        [
            format!("{} {place}", clean(&resource.kind)),
            clean(&self.path),
            change_label(self.change).to_owned(),
            cell_value(self.desired.as_ref()),
            cell_value(self.live.as_ref()),
            owners,
        ]
    }
}

pub fn change_label(change: ChangeKind) -> &'static str {
    match change {
        ChangeKind::Changed => "changed",
        ChangeKind::MissingInLive => "missing live",
        ChangeKind::AddedInLive => "added live",
        ChangeKind::MissingResource => "missing resource",
    }
}

/// A value on one line for a table cell: compact JSON, `—` when absent.
fn cell_value(value: Option<&serde_json::Value>) -> String {
    let Some(value) = value else {
        return String::from("—");
    };
    let text = match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let short: String = text.chars().take(CELL_CHARS).collect();
    let mut cleaned = clean(&short);
    if short.len() < text.len() {
        cleaned.push('…');
    }
    cleaned
}

/// One timeline event, neutralized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRow {
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    pub summary: String,
}

impl TimelineRow {
    pub fn new(event: &TimelineEvent) -> TimelineRow {
        TimelineRow {
            at: event.occurred_at,
            kind: event.kind,
            summary: clean(&event.summary),
        }
    }
}

/// Sequence numbers of the screen's requests in flight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentPending {
    pub incident: Option<u64>,
    pub findings: Option<u64>,
    pub timeline: Option<u64>,
}

/// Everything the incident screen shows.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentScreen {
    pub id: Uuid,
    pub incident: Option<Incident>,
    /// The incident's title, neutralized (known from the row it was opened from).
    pub title: String,
    pub findings: Vec<FindingItem>,
    /// The pages of a reload and their columns' widths, until its last page arrives.
    incoming: Option<(Vec<FindingItem>, Vec<u16>)>,
    shared: Shared,
    /// Every page of findings arrived.
    pub findings_complete: bool,
    /// The widest value of each findings column, for the layout.
    pub natural: Vec<u16>,
    pub timeline: Vec<TimelineRow>,
    pub cursor: Cursor,
    pub focus: Focus,
    pub mode: DiffMode,
    /// The evidence pane's first line in view.
    pub scroll: usize,
    pub pending: IncidentPending,
    values: ValuesCache,
}

/// The selected finding's values as YAML lines and highlighted: highlighting is the
/// costly part of a frame, so it is done once per finding and colour depth, not per draw.
#[derive(Debug, Clone, Default)]
struct ValuesCache(RefCell<Option<Values>>);

/// A cache is not part of what the screen shows: two screens differing only in it are equal.
impl PartialEq for ValuesCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A finding's desired and live values, as plain YAML lines and highlighted.
#[derive(Debug, Clone)]
pub struct Values {
    finding: Uuid,
    depth: Depth,
    pub desired: Vec<String>,
    pub live: Vec<String>,
    pub desired_lit: Vec<Line<'static>>,
    pub live_lit: Vec<Line<'static>>,
}

impl IncidentScreen {
    pub fn new(id: Uuid, title: &str) -> IncidentScreen {
        IncidentScreen {
            id,
            incident: None,
            title: title.to_owned(),
            findings: Vec::new(),
            incoming: None,
            shared: Shared::default(),
            findings_complete: false,
            natural: Vec::new(),
            timeline: Vec::new(),
            cursor: Cursor::default(),
            focus: Focus::Findings,
            mode: DiffMode::Unified,
            scroll: 0,
            pending: IncidentPending::default(),
            values: ValuesCache::default(),
        }
    }

    pub fn loading(&self) -> bool {
        let p = &self.pending;
        p.incident.is_some() || p.findings.is_some() || p.timeline.is_some()
    }

    pub fn selected(&self) -> Option<&FindingItem> {
        self.findings.get(self.cursor.position)
    }

    /// Calls `use_values` with `finding`'s values, highlighting them only when they are not
    /// the ones kept from the last call.
    pub fn with_values<R>(
        &self,
        finding: &FindingItem,
        theme: &Theme,
        use_values: impl FnOnce(&Values) -> R,
    ) -> R {
        let mut cache = self.values.0.borrow_mut();
        let fresh = cache
            .as_ref()
            .is_some_and(|v| v.finding == finding.id && v.depth == theme.depth);
        let values = match cache.as_mut() {
            Some(values) if fresh => values,
            _ => {
                let desired = to_yaml_lines(finding.desired.as_ref());
                let live = to_yaml_lines(finding.live.as_ref());
                cache.insert(Values {
                    finding: finding.id,
                    depth: theme.depth,
                    desired_lit: highlight_yaml(&desired, theme),
                    live_lit: highlight_yaml(&live, theme),
                    desired,
                    live,
                })
            }
        };
        use_values(values)
    }

    pub fn ids(&self) -> Vec<Uuid> {
        self.findings.iter().map(FindingItem::id).collect()
    }

    pub fn apply_incident(&mut self, incident: Incident) {
        self.title = clean(&incident.title);
        self.incident = Some(incident);
    }

    /// A page of findings. The first load shows each page as it arrives (the first is
    /// usable at once); a reload of findings already shown collects its pages aside and
    /// swaps them in whole with the last one, so the selection stays on its finding even
    /// when that finding is on a later page.
    pub fn apply_findings(&mut self, page: Vec<Finding>, first: bool, last: bool, height: usize) {
        let shared = &mut self.shared;
        let items: Vec<FindingItem> = page
            .into_iter()
            .map(|finding| FindingItem::sharing(finding, shared))
            .collect();
        let page_widths = natural_widths(&items);
        let reloading = first && !self.findings.is_empty() || self.incoming.is_some();
        if reloading {
            let (incoming, widths) = self
                .incoming
                .get_or_insert_with(|| (Vec::new(), Vec::new()));
            if first {
                incoming.clear();
                widths.clear();
            }
            incoming.extend(items);
            *widths = widest(widths, page_widths);
            if !last {
                return;
            }
            let (findings, widths) = self.incoming.take().unwrap_or_default();
            self.findings = findings;
            self.natural = widths;
        } else {
            self.findings.extend(items);
            self.natural = widest(&self.natural, page_widths);
        }
        self.findings_complete = last;
        if last {
            // Pages grew the list by doubling; what is left over is freed.
            self.findings.shrink_to_fit();
        }
        let before = self.cursor.id;
        let ids = self.ids();
        self.cursor.sync(&ids, height);
        if self.cursor.id != before {
            self.scroll = 0;
        }
    }

    /// A reload failed part way: what is shown stays.
    pub fn abandon_reload(&mut self) {
        self.incoming = None;
    }

    pub fn move_by(&mut self, delta: isize, height: usize) {
        let before = self.cursor.id;
        let ids = self.ids();
        self.cursor.move_by(&ids, delta, height);
        if self.cursor.id != before {
            self.scroll = 0;
        }
    }

    pub fn scroll_by(&mut self, delta: isize) {
        self.scroll = self.scroll.saturating_add_signed(delta);
    }
}

/// Column order of the findings table.
pub const FINDING_COLUMN_COUNT: usize = 6;

/// The wider of two sets of column widths (an empty set is none yet).
fn widest(a: &[u16], b: Vec<u16>) -> Vec<u16> {
    if a.is_empty() {
        return b;
    }
    a.iter().zip(b).map(|(x, y)| (*x).max(y)).collect()
}

fn natural_widths(rows: &[FindingItem]) -> Vec<u16> {
    let mut widths = [0usize; FINDING_COLUMN_COUNT];
    for row in rows {
        for (slot, text) in widths.iter_mut().zip(row.cells()) {
            *slot = (*slot).max(width(&text));
        }
    }
    widths
        .iter()
        .map(|w| u16::try_from(*w).unwrap_or(u16::MAX))
        .collect()
}

/// Where the incident screen's parts go in the body (everything between the header line
/// and the status line): two lines about the incident, then the findings table and the
/// evidence pane, side by side from 100 columns, stacked below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentLayout {
    pub header: Rect,
    pub findings: Rect,
    pub evidence: Rect,
}

/// Below this width the findings and the evidence are stacked.
pub const SIDE_BY_SIDE_WIDTH: u16 = 100;
const HEADER_ROWS: u16 = 2;

pub fn layout(body: Rect) -> IncidentLayout {
    let header = Rect::new(body.x, body.y, body.width, HEADER_ROWS.min(body.height));
    let rest = Rect::new(
        body.x,
        body.y + header.height,
        body.width,
        body.height - header.height,
    );
    if body.width >= SIDE_BY_SIDE_WIDTH {
        let left = rest.width * 9 / 20;
        IncidentLayout {
            header,
            findings: Rect::new(rest.x, rest.y, left, rest.height),
            evidence: Rect::new(
                rest.x + left + 1,
                rest.y,
                rest.width - left - 1,
                rest.height,
            ),
        }
    } else {
        // A third for the findings (at least the column header and three rows).
        let top = (rest.height / 3).max(4).min(rest.height);
        IncidentLayout {
            header,
            findings: Rect::new(rest.x, rest.y, rest.width, top),
            evidence: Rect::new(rest.x, rest.y + top, rest.width, rest.height - top),
        }
    }
}

/// The body of a terminal of `size` (header line above, status and hints below).
pub fn body(size: (u16, u16)) -> Rect {
    Rect::new(0, 1, size.0, size.1.saturating_sub(3))
}

/// How many findings the table shows at `size` (its title and column header aside).
pub fn findings_rows(size: (u16, u16)) -> usize {
    usize::from(layout(body(size)).findings.height.saturating_sub(2))
}
