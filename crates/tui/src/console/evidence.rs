//! The evidence pane: everything one finding rests on, as lines fitted to the pane's width
//! (long values wrap; nothing is cut). Desired against live values, highlighted as YAML,
//! unified or side by side; where the desired value was read in Git; how the live value
//! was observed and whether it can be trusted; who owns the field and why that is not
//! proof of cause; how firmly the drift is attributed; the incident's recommendation and
//! its timeline.
//!
//! Only the selected finding is laid out, so the pane costs the same for one finding or
//! fifty thousand.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use statesight_core::wire::{AttributionGrade, LiveMethod, ObservedAtSource, TimelineKind};

use super::app::App;
use super::incident::{DiffMode, FindingItem, IncidentScreen, Values};
use super::linediff::{self, DiffLine};
use super::text::{age, clean, width, wrap_words};
use super::theme::{Theme, severity_label};

/// The width of the labels of `label  value` lines.
const LABEL: usize = 10;

/// What ownership can and cannot say, shown with every owner list.
pub const OWNERSHIP_CAVEAT: &str =
    "Ownership is evidence of who last wrote the field, not proof of who caused the drift.";

/// The pane's lines for the selected finding of `screen`, `width` cells wide.
pub fn lines(app: &App, screen: &IncidentScreen, width: u16) -> Vec<Line<'static>> {
    let theme = &app.theme;
    let width = usize::from(width.max(10));
    let mut out = Lines {
        lines: Vec::new(),
        width,
        theme,
    };
    match screen.selected() {
        Some(item) => {
            finding_section(&mut out, item);
            values_section(&mut out, screen, item);
            desired_section(&mut out, item, app);
            live_section(&mut out, item, app);
            ownership_section(&mut out, item);
            attribution_section(&mut out, item);
        }
        None if screen.pending.findings.is_some() => out.text("loading findings…", theme.dim),
        None => out.text(
            "no findings in the latest observation of this incident",
            theme.dim,
        ),
    }
    incident_section(&mut out, screen);
    timeline_section(&mut out, screen, app);
    out.lines
}

/// Lines being built, wrapped to a width.
struct Lines<'t> {
    lines: Vec<Line<'static>>,
    width: usize,
    theme: &'t Theme,
}

impl Lines<'_> {
    /// A line of spans, wrapped to the width (continuations indented by two cells).
    fn spans(&mut self, spans: Vec<Span<'static>>) {
        for line in wrap_line(Line::from(spans), self.width, 2) {
            self.lines.push(line);
        }
    }

    /// Prose, wrapped between words.
    fn text(&mut self, text: &str, style: Style) {
        for line in wrap_words(text, self.width) {
            self.lines.push(Line::from(Span::styled(line, style)));
        }
    }

    /// `label  value` with the label dimmed and padded; the value wraps between words
    /// under itself.
    fn field(&mut self, label: &str, value: &str, style: Style) {
        let room = self.width.saturating_sub(LABEL + 1).max(8);
        for (index, line) in wrap_words(value, room).into_iter().enumerate() {
            let label = if index == 0 { label } else { "" };
            self.lines.push(Line::from(vec![
                Span::styled(format!("{label:<LABEL$} "), self.theme.dim),
                Span::styled(line, style),
            ]));
        }
    }

    fn heading(&mut self, text: &str) {
        self.lines.push(Line::default());
        self.lines
            .push(Line::from(Span::styled(text.to_owned(), self.theme.title)));
    }
}

fn finding_section(out: &mut Lines<'_>, finding: &FindingItem) {
    let theme = out.theme;
    if finding.path.is_empty() {
        out.field("Path", "(the whole resource)", theme.dim);
    } else {
        out.field("Path", &clean(&finding.path), theme.code);
    }
    let resource = &finding.resource;
    let place = if resource.namespace.is_empty() {
        clean(&resource.name)
    } else {
        format!("{}/{}", clean(&resource.namespace), clean(&resource.name))
    };
    out.field(
        "Resource",
        &format!(
            "{} {place} ({})",
            clean(&resource.kind),
            clean(&resource.api_version)
        ),
        theme.base,
    );
    out.field(
        "Change",
        super::incident::change_label(finding.change),
        theme.bold,
    );
    if resource.kind == "Secret" && resource.group.is_empty() {
        out.field(
            "Secret",
            "values are digests of the bytes: the Secret's contents never leave the worker",
            theme.warning,
        );
    }
}

fn values_section(out: &mut Lines<'_>, screen: &IncidentScreen, finding: &FindingItem) {
    let theme = out.theme;
    out.heading("Desired (Git) → Live (cluster)");
    screen.with_values(finding, theme, |values| {
        values_lines(out, values, screen.mode)
    });
}

fn values_lines(out: &mut Lines<'_>, values: &Values, mode: DiffMode) {
    let theme = out.theme;
    let (desired, live) = (&values.desired, &values.live);
    let desired_lit = values.desired_lit.clone();
    let live_lit = values.live_lit.clone();
    let removed = theme.error.remove_modifier(Modifier::BOLD);
    let added = theme.ok;
    match mode {
        DiffMode::Unified => {
            let (mut left, mut right) = (desired_lit.into_iter(), live_lit.into_iter());
            for line in linediff::unified(desired, live) {
                let (mark, style, lit) = match line {
                    DiffLine::Same(_) => {
                        right.next();
                        ("  ", theme.dim, left.next())
                    }
                    DiffLine::Removed(_) => ("- ", removed, left.next()),
                    DiffLine::Added(_) => ("+ ", added, right.next()),
                };
                let mut spans = vec![Span::styled(mark, style)];
                spans.extend(lit.map(|line| line.spans).unwrap_or_default());
                for wrapped in wrap_line(Line::from(spans), out.width, 2) {
                    out.lines.push(wrapped);
                }
            }
        }
        DiffMode::SideBySide => {
            let column = out.width.saturating_sub(3) / 2;
            out.spans(vec![
                Span::styled(pad_to("desired", column), theme.column_header),
                Span::styled(" │ ", theme.border),
                Span::styled("live", theme.column_header),
            ]);
            let (mut left, mut right) = (desired_lit.into_iter(), live_lit.into_iter());
            for (l, r) in linediff::side_by_side(desired, live) {
                let cell = |line: Option<DiffLine>,
                            source: &mut std::vec::IntoIter<Line<'static>>,
                            changed: Style,
                            mark: &'static str| {
                    match line {
                        None => Vec::new(),
                        Some(DiffLine::Same(_)) => {
                            let mut spans = vec![Span::styled("  ", theme.dim)];
                            spans.extend(source.next().map(|l| l.spans).unwrap_or_default());
                            wrap_line(Line::from(spans), column, 2)
                        }
                        Some(_) => {
                            let mut spans = vec![Span::styled(mark, changed)];
                            spans.extend(source.next().map(|l| l.spans).unwrap_or_default());
                            wrap_line(Line::from(spans), column, 2)
                        }
                    }
                };
                let left_lines = cell(l, &mut left, removed, "- ");
                let right_lines = cell(r, &mut right, added, "+ ");
                let height = left_lines.len().max(right_lines.len()).max(1);
                for row in 0..height {
                    let left_line = left_lines.get(row).cloned().unwrap_or_default();
                    let used = left_line.width();
                    let mut spans = left_line.spans;
                    spans.push(Span::raw(" ".repeat(column.saturating_sub(used))));
                    spans.push(Span::styled(" │ ", theme.border));
                    if let Some(right_line) = right_lines.get(row) {
                        spans.extend(right_line.spans.iter().cloned());
                    }
                    out.lines.push(Line::from(spans));
                }
            }
        }
    }
}

fn desired_section(out: &mut Lines<'_>, finding: &FindingItem, app: &App) {
    let theme = out.theme;
    let desired = &finding.desired_from;
    out.heading("Desired state: where Git declares it");
    out.field("Repository", &clean(&desired.repository), theme.base);
    out.field("Ref", &clean(&desired.git_ref), theme.base);
    if let Some(path) = &desired.source_path {
        out.field("Path", &clean(path), theme.base);
    }
    if let Some(file) = &desired.file {
        let document = desired
            .document
            .map(|d| format!(" (document {d})"))
            .unwrap_or_default();
        out.field("File", &format!("{}{document}", clean(file)), theme.base);
    }
    out.field("Commit", &clean(&desired.revision), theme.code);
    let committed = match desired.committed_at {
        Some(at) => format!("{} ({} ago)", at.to_rfc3339(), age(app.now, at)),
        None => String::from("not recorded"),
    };
    out.field("Committed", &committed, theme.base);
    match &desired.since {
        Some(statesight_core::wire::DesiredSince::Determined {
            commit,
            author_name,
            author_email,
            authored_at,
            subject,
        }) => {
            let short: String = commit.chars().take(12).collect();
            out.field(
                "Since",
                &format!(
                    "{} by {} <{}>, {} ({} ago)",
                    clean(&short),
                    clean(author_name),
                    clean(author_email),
                    authored_at.to_rfc3339(),
                    age(app.now, *authored_at)
                ),
                theme.base,
            );
            out.field("", &format!("\"{}\"", clean(subject)), theme.dim);
        }
        Some(statesight_core::wire::DesiredSince::NotDetermined { reason }) => {
            out.field(
                "Since",
                &format!("not determined: {}", clean(reason)),
                theme.dim,
            );
        }
        None => {}
    }
}

fn live_section(out: &mut Lines<'_>, finding: &FindingItem, app: &App) {
    let theme = out.theme;
    let live = &finding.live_from;
    out.heading("Live state: how it was observed");
    let synthetic = live.method == LiveMethod::Synthetic;
    if synthetic || !live.trusted {
        out.spans(vec![Span::styled(
            " SYNTHETIC — NOT OBSERVED FROM A CLUSTER; NEVER TRUSTED ".to_owned(),
            theme.error.add_modifier(Modifier::REVERSED),
        )]);
        out.text(
            "The live values were made up from Git for a demonstration: they prove nothing \
             about any cluster, and nothing is recommended for reconciliation from them.",
            theme.warning,
        );
    } else {
        out.spans(vec![Span::styled(
            " TRUSTED: read from the cluster ".to_owned(),
            theme.ok.add_modifier(Modifier::REVERSED),
        )]);
    }
    out.field("Method", live.method.as_str(), theme.bold);
    out.field("Cluster", &clean(&live.cluster), theme.base);
    if let Some(context) = &live.context {
        out.field("Context", &clean(context), theme.base);
    }
    let source = match live.observed_at_source {
        Some(ObservedAtSource::Collector) => "the collector's clock when it read the cluster",
        Some(ObservedAtSource::CaptureFile) => {
            "the capture time the snapshot's capture.json records"
        }
        Some(ObservedAtSource::FileTimes) => {
            "the snapshot files' modification times (no capture.json): approximate"
        }
        Some(ObservedAtSource::Watch) => {
            "the last moment the cluster's watch was known connected and in sync (read from \
             the watch cache, not asked of the API server at analysis time)"
        }
        None => "not recorded",
    };
    out.field(
        "Observed",
        &format!(
            "{} ({} ago)",
            live.observed_at.to_rfc3339(),
            age(app.now, live.observed_at)
        ),
        theme.base,
    );
    out.field("Time from", source, theme.dim);
}

fn ownership_section(out: &mut Lines<'_>, finding: &FindingItem) {
    let theme = out.theme;
    out.heading("Ownership (managedFields)");
    let owners = &finding.owners;
    if owners.is_empty() {
        out.text("no owner recorded for this field", theme.bold);
    }
    for owner in owners {
        let mut text = format!("{} ({}", clean(&owner.manager), clean(&owner.operation));
        if let Some(subresource) = &owner.subresource {
            text.push_str(&format!(", subresource {}", clean(subresource)));
        }
        text.push(')');
        if let Some(time) = &owner.time {
            text.push_str(&format!(" at {}", clean(time)));
        }
        if let Some(role) = owner.role {
            text.push_str(&format!(" · {}", role.as_str()));
        }
        out.spans(vec![
            Span::styled("• ", theme.dim),
            Span::styled(text, theme.base),
        ]);
    }
    let note = clean(&finding.ownership_note);
    if !note.is_empty() {
        out.text(&note, theme.warning);
    }
    // The worker's note usually says it already; records that do not still get it.
    if !note.contains("not proof") {
        out.text(OWNERSHIP_CAVEAT, theme.dim);
    }
}

fn attribution_section(out: &mut Lines<'_>, finding: &FindingItem) {
    let theme = out.theme;
    let attribution = &finding.attribution;
    out.heading("Attribution");
    let style = match attribution.grade {
        AttributionGrade::NotAttributed => theme.dim,
        _ => theme.bold,
    };
    out.field("Grade", attribution.grade.as_str(), style);
    out.field("Why", &clean(&attribution.reason), theme.base);
    for event in attribution.events.iter().take(AUDIT_EVENTS_SHOWN) {
        audit_event_lines(out, event);
    }
    if attribution.events.len() > AUDIT_EVENTS_SHOWN {
        out.text(
            &format!(
                "… and {} more audit events (statesight-tui blame lists them all)",
                attribution.events.len() - AUDIT_EVENTS_SHOWN
            ),
            theme.dim,
        );
    }
}

/// Audit events listed under a finding's attribution; the rest are counted.
const AUDIT_EVENTS_SHOWN: usize = 8;
/// A value set by an event is shown on one line, cut to this many characters.
const VALUE_CHARS: usize = 60;

/// `• time  who (kind) verb [subresource]` then where from and what it set.
fn audit_event_lines(out: &mut Lines<'_>, event: &statesight_core::wire::AttributedEvent) {
    let theme = out.theme;
    let who = match (&event.impersonated, event.impersonated_kind) {
        (Some(as_user), kind) => format!(
            "{} ({}), impersonated by {} ({})",
            clean(as_user),
            kind.map_or("unknown", |k| k.as_str()),
            clean(&event.username),
            event.actor_kind.as_str()
        ),
        (None, _) => format!("{} ({})", clean(&event.username), event.actor_kind.as_str()),
    };
    let verb = match &event.subresource {
        Some(sub) => format!("{} {}", event.verb, clean(sub)),
        None => event.verb.clone(),
    };
    out.spans(vec![
        Span::styled("• ", theme.dim),
        Span::styled(
            event.at.format("%Y-%m-%dT%H:%M:%SZ ").to_string(),
            theme.base,
        ),
        Span::styled(who, theme.bold),
        Span::styled(format!(" {}", clean(&verb)), theme.base),
    ]);
    let mut from = Vec::new();
    if let Some(agent) = &event.user_agent {
        from.push(format!("agent {}", clean(agent)));
    }
    if !event.source_ips.is_empty() {
        let ips: Vec<String> = event.source_ips.iter().map(|ip| clean(ip)).collect();
        from.push(format!("from {}", ips.join(", ")));
    }
    if let Some(manager) = &event.field_manager {
        from.push(format!("field manager {}", clean(manager)));
    }
    if !from.is_empty() {
        out.field("", &from.join(" · "), theme.dim);
    }
    if let Some(value) = &event.value_set {
        let mut text = format!("set {}", one_line(value));
        if let Some(before) = &event.value_before {
            text.push_str(&format!(" (was {})", one_line(before)));
        }
        out.field("", &text, theme.code);
    }
}

/// A JSON value on one line, neutralized and cut.
fn one_line(value: &serde_json::Value) -> String {
    let text = clean(&value.to_string());
    if text.chars().count() > VALUE_CHARS {
        let cut: String = text.chars().take(VALUE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn incident_section(out: &mut Lines<'_>, screen: &IncidentScreen) {
    let theme = out.theme;
    let Some(incident) = &screen.incident else {
        return;
    };
    out.heading("Incident");
    out.spans(vec![
        Span::styled(format!("{:<10} ", "Severity"), theme.dim),
        Span::styled(
            severity_label(incident.severity),
            theme.severity(incident.severity),
        ),
    ]);
    out.field("Action", incident.recommendation.as_str(), theme.bold);
    out.field("Rationale", &clean(&incident.rationale), theme.base);
    out.field("Cause", &clean(incident.cause.label()), theme.base);
    out.field(
        "Seen",
        &format!(
            "{} times, recurred {} times",
            incident.occurrence_count, incident.recurrence_count
        ),
        theme.base,
    );
}

fn timeline_section(out: &mut Lines<'_>, screen: &IncidentScreen, app: &App) {
    let theme = out.theme;
    out.heading("Timeline");
    if screen.timeline.is_empty() {
        let text = if screen.pending.timeline.is_some() {
            "loading…"
        } else {
            "no events"
        };
        out.text(text, theme.dim);
    }
    for event in &screen.timeline {
        let kind = match event.kind {
            TimelineKind::GitRevision => "git",
            TimelineKind::ManagedFieldsTime => "managedFields",
            TimelineKind::FirstSeen => "first seen",
            TimelineKind::Reobserved => "seen again",
            TimelineKind::Suppressed => "suppressed",
            TimelineKind::RuleChanged => "rule changed",
            TimelineKind::Resolved => "resolved",
            TimelineKind::Reopened => "reopened",
            TimelineKind::AuditEvent => "audit event",
        };
        out.spans(vec![
            Span::styled(format!("{:>5} ago ", age(app.now, event.at)), theme.dim),
            Span::styled(format!("{kind:<13} "), theme.bold),
            Span::styled(event.summary.clone(), theme.base),
        ]);
    }
}

fn pad_to(text: &str, cells: usize) -> String {
    let used = width(text);
    format!("{text}{}", " ".repeat(cells.saturating_sub(used)))
}

/// A styled line cut into lines of at most `max` cells, between graphemes, keeping each
/// piece's style; continuations start with `indent` spaces. Long values wrap: the pane
/// never hides part of a value.
pub fn wrap_line(line: Line<'static>, max: usize, indent: usize) -> Vec<Line<'static>> {
    let max = max.max(indent + 2);
    if line.width() <= max {
        return vec![line];
    }
    let mut out: Vec<Line<'static>> = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;
    for span in line.spans {
        let style = span.style;
        let mut piece = String::new();
        for grapheme in Span::raw(span.content.into_owned())
            .styled_graphemes(Style::default())
            .map(|g| g.symbol.to_owned())
            .collect::<Vec<_>>()
        {
            let cells = width(&grapheme);
            if used + cells > max && used > indent {
                if !piece.is_empty() {
                    current.push(Span::styled(std::mem::take(&mut piece), style));
                }
                out.push(Line::from(std::mem::take(&mut current)));
                current.push(Span::raw(" ".repeat(indent)));
                used = indent;
            }
            piece.push_str(&grapheme);
            used += cells;
        }
        if !piece.is_empty() {
            current.push(Span::styled(piece, style));
        }
    }
    if !current.is_empty() {
        out.push(Line::from(current));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn wrapping_keeps_every_character_and_styles() {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let line = Line::from(vec![
            Span::styled("key: ", bold),
            Span::raw("sha256:0123456789abcdef0123456789abcdef"),
        ]);
        let wrapped = wrap_line(line, 16, 2);
        assert!(wrapped.iter().all(|l| l.width() <= 16), "{wrapped:?}");
        let joined: String = wrapped
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let t = text(l);
                if i == 0 { t } else { t[2..].to_owned() }
            })
            .collect();
        assert_eq!(joined, "key: sha256:0123456789abcdef0123456789abcdef");
        assert_eq!(wrapped[0].spans[0].style, bold);
    }

    #[test]
    fn wide_characters_are_never_split() {
        let wrapped = wrap_line(Line::raw("你好世界你好世界"), 7, 2);
        assert!(wrapped.iter().all(|l| l.width() <= 7), "{wrapped:?}");
        let joined: String = wrapped
            .iter()
            .map(text)
            .collect::<String>()
            .replace(' ', "");
        assert_eq!(joined, "你好世界你好世界");
    }
}
