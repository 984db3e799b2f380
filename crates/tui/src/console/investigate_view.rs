//! Drawing the incident screen (findings table and evidence pane), the rule editor with its
//! preview, the server's preview of a workspace rule, and the confirmation of destructive
//! actions.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders, Clear, Widget};

use super::app::{App, Confirm};
use super::draw::{
    Cell, Column, Grid, Rows, cell, column, draw_grid, popup, put, put_spans, spinner, title_line,
};
use super::evidence;
use super::incident::{DiffMode, Focus, IncidentScreen, layout};
use super::rule_editor::{Field, Origin, RuleEditor, RuleScope};
use super::text::{fit, width};
use super::theme::severity_label;
use super::workspace_rules::{ReviewLine, RuleReview};

/// An incident is about one resource, so its column goes first when the pane is narrow;
/// the path stays longest.
const FINDING_COLUMNS: [Column; 6] = [
    column("RESOURCE", 10, 0, 1, 4),
    column("PATH", 20, 0, 6, 10),
    column("CHANGE", 7, 16, 0, 8),
    column("DESIRED", 7, 24, 1, 6),
    column("LIVE", 7, 24, 1, 7),
    column("OWNERS", 6, 0, 1, 5),
];

pub(super) fn draw_incident(buf: &mut Buffer, area: Rect, app: &App, id: uuid::Uuid) {
    let theme = &app.theme;
    let Some(screen) = app.incident.as_ref().filter(|screen| screen.id == id) else {
        title_line(
            buf,
            Rect::new(area.x, area.y, area.width, 1),
            &[("Incident", theme.title)],
            theme,
        );
        return;
    };
    let parts = layout(area);
    draw_incident_header(buf, parts.header, app, screen);
    draw_findings(buf, parts.findings, app, screen);
    draw_evidence(buf, parts.evidence, app, screen);
    if parts.evidence.x > parts.findings.right() {
        for y in parts.findings.y..parts.findings.bottom() {
            put(buf, parts.findings.right(), y, "│", 1, theme.border);
        }
    }
}

fn draw_incident_header(buf: &mut Buffer, area: Rect, app: &App, screen: &IncidentScreen) {
    let theme = &app.theme;
    if area.height == 0 {
        return;
    }
    let loading = if screen.loading() {
        format!(" {}", spinner(app))
    } else {
        String::new()
    };
    let mut spans: Vec<(&str, Style)> = Vec::new();
    let state;
    if let Some(incident) = &screen.incident {
        spans.push((
            severity_label(incident.severity),
            theme.severity(incident.severity),
        ));
        spans.push((" ", theme.base));
        state = format!(
            " · {} · {}",
            incident.status.as_str(),
            incident.recommendation.as_str()
        );
    } else {
        state = String::new();
    }
    spans.push((&screen.title, theme.title));
    spans.push((&state, theme.dim));
    spans.push((&loading, theme.info));
    title_line(buf, Rect::new(area.x, area.y, area.width, 1), &spans, theme);
    if area.height > 1
        && let Some(incident) = &screen.incident
    {
        let rationale = super::text::clean(&incident.rationale);
        put_spans(
            buf,
            area.x,
            area.y + 1,
            &[("why ", theme.dim), (&rationale, theme.base)],
            area.width,
        );
    }
}

fn draw_findings(buf: &mut Buffer, area: Rect, app: &App, screen: &IncidentScreen) {
    let theme = &app.theme;
    if area.height == 0 {
        return;
    }
    let count = if screen.findings_complete {
        format!("{}", screen.findings.len())
    } else {
        format!("{}+", screen.findings.len())
    };
    let focused = screen.focus == Focus::Findings;
    let title_style = if focused { theme.title } else { theme.dim };
    title_line(
        buf,
        Rect::new(area.x, area.y, area.width, 1),
        &[("Findings ", title_style), (&count, theme.bold)],
        theme,
    );
    let table = Rect::new(
        area.x,
        area.y + 1,
        area.width,
        area.height.saturating_sub(1),
    );
    let grid = Grid {
        theme,
        columns: &FINDING_COLUMNS,
        natural: &screen.natural,
        sorted: None,
        empty: if screen.pending.findings.is_some() {
            "loading findings…"
        } else {
            "no findings"
        },
    };
    let findings = &screen.findings;
    draw_grid(
        buf,
        table,
        &grid,
        Rows::All(findings.len()),
        screen.cursor.offset,
        Some(screen.cursor.position),
        |index| -> Vec<Cell<'_>> {
            let [resource, path, change, desired, live, owners] = findings[index].cells();
            vec![
                cell(resource, theme.dim),
                cell(path, theme.code),
                cell(change, theme.bold),
                cell(desired, theme.base),
                cell(live, theme.base),
                cell(owners, theme.dim),
            ]
        },
    );
}

fn draw_evidence(buf: &mut Buffer, area: Rect, app: &App, screen: &IncidentScreen) {
    let theme = &app.theme;
    if area.height == 0 {
        return;
    }
    let lines = evidence::lines(app, screen, area.width);
    let height = usize::from(area.height - 1);
    let start = screen.scroll.min(lines.len().saturating_sub(height));
    let end = (start + height).min(lines.len());
    let mode = match screen.mode {
        DiffMode::Unified => "unified",
        DiffMode::SideBySide => "side by side",
    };
    let position = if lines.len() > height {
        format!(" lines {}–{} of {}", start + 1, end, lines.len())
    } else {
        String::new()
    };
    let focused = screen.focus == Focus::Evidence;
    let title_style = if focused { theme.title } else { theme.dim };
    // Untrusted live state is flagged where it cannot be scrolled away.
    let untrusted = screen
        .selected()
        .is_some_and(|item| !item.live_from.trusted);
    let badge = if untrusted {
        " SYNTHETIC LIVE STATE "
    } else {
        ""
    };
    title_line(
        buf,
        Rect::new(area.x, area.y, area.width, 1),
        &[
            ("Evidence ", title_style),
            (
                badge,
                theme.error.add_modifier(ratatui::style::Modifier::REVERSED),
            ),
            (if untrusted { " " } else { "" }, theme.base),
            (mode, theme.dim),
            (&position, theme.info),
        ],
        theme,
    );
    for (row, line) in lines[start..end].iter().enumerate() {
        let y = area.y + 1 + row as u16;
        buf.set_line(area.x, y, line, area.width);
    }
}

pub(super) fn draw_rule_editor(buf: &mut Buffer, area: Rect, app: &App) {
    let theme = &app.theme;
    let Some(editor) = app.editor.as_ref() else {
        return;
    };
    let saving = if editor.saving.is_some() {
        format!(" saving {}", spinner(app))
    } else {
        String::new()
    };
    title_line(
        buf,
        Rect::new(area.x, area.y, area.width, 1),
        &[(editor.title(), theme.title), (&saving, theme.info)],
        theme,
    );
    let mut y = area.y + 1;
    let bottom = area.bottom();
    for field in Field::ALL {
        if y >= bottom {
            return;
        }
        draw_field(buf, Rect::new(area.x, y, area.width, 1), app, editor, field);
        y += 1;
        if let Some(error) = editor.error_for(field)
            && y < bottom
        {
            let room = usize::from(area.width.saturating_sub(LABEL_WIDTH));
            let text = match error.at {
                Some(at) => {
                    // The caret under the offending character, as the field shows it.
                    let cells = cells_before(editor.text(field), at);
                    let column = cells.saturating_sub(field_skip(editor, field, room));
                    caret_line(column, &error.message, room)
                }
                None => error.message.clone(),
            };
            put(
                buf,
                area.x + LABEL_WIDTH,
                y,
                &text,
                room as u16,
                theme.error,
            );
            y += 1;
        }
    }
    if y < bottom {
        y += 1;
    }
    draw_preview(
        buf,
        Rect::new(area.x, y, area.width, bottom.saturating_sub(y)),
        app,
        editor,
    );
}

const LABEL_WIDTH: u16 = 13;

fn draw_field(buf: &mut Buffer, area: Rect, app: &App, editor: &RuleEditor, field: Field) {
    let theme = &app.theme;
    let focused = editor.field == field;
    let label_style = if focused { theme.prompt } else { theme.dim };
    let marker = if focused { "▶ " } else { "  " };
    put_spans(
        buf,
        area.x,
        area.y,
        &[(marker, label_style), (field.label(), label_style)],
        LABEL_WIDTH,
    );
    let x = area.x + LABEL_WIDTH;
    let room = usize::from(area.width.saturating_sub(LABEL_WIDTH));
    if field == Field::Scope {
        draw_scope(buf, x, area.y, room, app, editor);
        return;
    }
    if field == Field::Level {
        draw_level(buf, x, area.y, room, app, editor);
        return;
    }
    let text = editor.text(field);
    let shown = super::text::clean(text);
    let skip = field_skip(editor, field, room);
    let hint = match field {
        Field::ManagedBy if text.is_empty() => owners_hint(editor),
        Field::Name | Field::Reason | Field::Expression if text.is_empty() => {
            String::from("(required)")
        }
        _ => String::new(),
    };
    if shown.is_empty() {
        put(buf, x, area.y, &hint, room as u16, theme.dim);
    } else {
        let visible: String = skip_cells(&shown, skip);
        put(
            buf,
            x,
            area.y,
            &fit(&visible, room),
            room as u16,
            theme.code,
        );
    }
    if focused {
        let cells = cells_before(text, editor.cursor(field));
        let column = cells.saturating_sub(skip).min(room.saturating_sub(1));
        let at = x + column as u16;
        let cell_style = theme.selected;
        if let Some(cell) = buf.cell_mut((at, area.y)) {
            cell.set_style(cell_style);
            if cell.symbol().trim().is_empty() {
                cell.set_symbol(" ");
            }
        }
    }
}

/// The display cells of the first `chars` characters of a field, as drawn (neutralized).
fn cells_before(text: &str, chars: usize) -> usize {
    let before: String = text.chars().take(chars).collect();
    width(&super::text::clean(&before))
}

/// How many cells of a field scroll out on the left: the focused field keeps its cursor
/// in view (the end of a long value while typing there); the others show their start.
fn field_skip(editor: &RuleEditor, field: Field, room: usize) -> usize {
    if editor.field != field || matches!(field, Field::Scope | Field::Level) {
        return 0;
    }
    cells_before(editor.text(field), editor.cursor(field)).saturating_sub(room.saturating_sub(2))
}

/// `^ message` with the caret at `column`, or `message ^` when the message does not fit
/// after it.
fn caret_line(column: usize, message: &str, room: usize) -> String {
    let message_cells = width(message);
    if column + 2 + message_cells <= room || column < message_cells + 1 {
        format!("{}^ {message}", " ".repeat(column))
    } else {
        format!("{}{message} ^", " ".repeat(column - message_cells - 1))
    }
}

fn skip_cells(text: &str, cells: usize) -> String {
    let mut skipped = 0usize;
    let mut out = String::new();
    for c in text.chars() {
        if skipped < cells {
            skipped += width(c.encode_utf8(&mut [0u8; 4]));
            continue;
        }
        out.push(c);
    }
    out
}

fn owners_hint(editor: &RuleEditor) -> String {
    if editor.owners.is_empty() {
        String::from("(any manager; the field has no owner)")
    } else {
        let owners: Vec<String> = editor
            .owners
            .iter()
            .map(|o| super::text::clean(o))
            .collect();
        format!("(any manager; owners: {})", owners.join(", "))
    }
}

/// `[x] this application  [ ] the whole workspace`: a saved rule's level is shown, not
/// offered.
fn draw_level(buf: &mut Buffer, x: u16, y: u16, room: usize, app: &App, editor: &RuleEditor) {
    let theme = &app.theme;
    let workspace = app
        .workspace
        .as_ref()
        .map_or_else(|| String::from("the workspace"), |w| w.name.clone());
    let fixed = matches!(editor.origin, Origin::Existing(_));
    let application_label = "this application";
    let workspace_label = format!("every application in {workspace}");
    if fixed {
        let text = match editor.level {
            RuleScope::Application => String::from(application_label),
            RuleScope::Workspace => workspace_label,
        };
        put(buf, x, y, &text, room as u16, theme.base);
        return;
    }
    let workspace_rule = editor.is_workspace_rule();
    let (this, all) = if workspace_rule {
        (theme.dim, theme.selected)
    } else {
        (theme.selected, theme.dim)
    };
    let mark = |on: bool| if on { "[x]" } else { "[ ]" };
    let this_label = format!("{} {application_label}", mark(!workspace_rule));
    let all_label = format!("{} {workspace_label}", mark(workspace_rule));
    put_spans(
        buf,
        x,
        y,
        &[
            (&this_label, this),
            ("  ", theme.base),
            (&all_label, all),
            ("  (space switches)", theme.dim),
        ],
        room as u16,
    );
}

fn draw_scope(buf: &mut Buffer, x: u16, y: u16, room: usize, app: &App, editor: &RuleEditor) {
    let theme = &app.theme;
    let everything = if editor.is_workspace_rule() {
        "every application"
    } else {
        "the whole application"
    };
    let Some(reference) = editor.resource_ref.as_deref() else {
        put(buf, x, y, everything, room as u16, theme.base);
        return;
    };
    let reference = super::text::clean(reference);
    let (this, whole) = if editor.this_resource {
        (theme.selected, theme.dim)
    } else {
        (theme.dim, theme.selected)
    };
    let this_label = format!(
        "[{}] this resource: {reference}",
        if editor.this_resource { "x" } else { " " }
    );
    let whole_label = format!(
        "[{}] {everything}",
        if editor.this_resource { " " } else { "x" }
    );
    put_spans(
        buf,
        x,
        y,
        &[
            (&this_label, this),
            ("  ", theme.base),
            (&whole_label, whole),
            ("  (space switches)", theme.dim),
        ],
        room as u16,
    );
}

fn draw_preview(buf: &mut Buffer, area: Rect, app: &App, editor: &RuleEditor) {
    let theme = &app.theme;
    if area.height == 0 {
        return;
    }
    let preview = &editor.preview;
    let loading = editor.loading.is_some();
    let of = if editor.targets_complete {
        format!("{}", editor.targets.len())
    } else {
        format!("{}+ (loading {})", editor.targets.len(), spinner(app))
    };
    let summary = if editor.targets.is_empty() && loading {
        format!("loading the application's open findings {}", spinner(app))
    } else if editor.invalid.is_some() {
        String::from("the rule does not parse: nothing to preview")
    } else if editor.text(Field::Expression).trim().is_empty() {
        String::from("type a match expression to see what it suppresses")
    } else {
        let mut text = format!(
            "would suppress {} of {of} open findings",
            preview.matched.len()
        );
        if !preview.undecided.is_empty() {
            text.push_str(&format!(
                "; {} more depend on list positions in Git (the analysis decides; [name=…] is exact)",
                preview.undecided.len()
            ));
        }
        if editor.is_workspace_rule() {
            text = format!(
                "in this application, {text}; ctrl-s shows every application's before saving"
            );
        }
        text
    };
    put_spans(
        buf,
        area.x,
        area.y,
        &[("Preview  ", theme.title), (&summary, theme.bold)],
        area.width,
    );
    let mut y = area.y + 1;
    let rows = preview
        .matched
        .iter()
        .map(|index| ("✓ ", *index, theme.ok))
        .chain(
            preview
                .undecided
                .iter()
                .map(|index| ("? ", *index, theme.warning)),
        );
    for (mark, index, style) in rows {
        if y >= area.bottom() {
            break;
        }
        let Some(target) = editor.targets.get(index) else {
            continue;
        };
        put_spans(
            buf,
            area.x + 2,
            y,
            &[(mark, style), (&target.label, theme.base)],
            area.width.saturating_sub(2),
        );
        y += 1;
    }
    let shown = usize::from(y - (area.y + 1));
    let total = preview.matched.len() + preview.undecided.len();
    if total > shown && area.height > 1 {
        let more = format!("… and {} more", total - shown + 1);
        put(
            buf,
            area.x + 2,
            area.bottom() - 1,
            &more,
            area.width,
            theme.dim,
        );
    }
    if let Origin::Existing(_) = editor.origin
        && y < area.bottom()
        && total == 0
        && !editor.targets.is_empty()
    {
        put(
            buf,
            area.x + 2,
            y,
            "(findings this rule already suppresses are not open: see the Suppressed tab)",
            area.width.saturating_sub(2),
            theme.dim,
        );
    }
}

pub(super) fn draw_confirm(buf: &mut Buffer, body: Rect, app: &App, confirm: &Confirm) {
    let theme = &app.theme;
    let width = body.width.saturating_sub(4).clamp(20, 72);
    let lines = super::text::wrap_words(&confirm.question, usize::from(width.saturating_sub(4)));
    let height = (lines.len() as u16 + 4).min(body.height);
    let area = popup(body, width, height);
    Clear.render(area, buf);
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.warning)
        .title(" Confirm ")
        .render(area, buf);
    for (row, line) in lines.iter().enumerate() {
        let y = area.y + 1 + row as u16;
        if y + 1 >= area.bottom() {
            break;
        }
        put(
            buf,
            area.x + 2,
            y,
            line,
            area.width.saturating_sub(4),
            theme.bold,
        );
    }
    put_spans(
        buf,
        area.x + 2,
        area.bottom().saturating_sub(2),
        &[
            ("y", theme.key),
            (" yes   ", theme.base),
            ("n", theme.key),
            ("/", theme.dim),
            ("esc", theme.key),
            (" no", theme.base),
        ],
        area.width.saturating_sub(4),
    );
}

/// The server's preview of a workspace rule: the question, then each application with the
/// open findings the rule suppresses there, scrolled with ↑↓.
pub(super) fn draw_review(buf: &mut Buffer, body: Rect, app: &App, review: &RuleReview) {
    let theme = &app.theme;
    let width = body.width.saturating_sub(4).clamp(20, 110);
    let room = usize::from(width.saturating_sub(4));
    let question = super::text::wrap_words(&review.question(), room);
    let lines = review.lines();
    let wanted = question.len() + lines.len().max(1) + 6;
    let height = u16::try_from(wanted).unwrap_or(u16::MAX).min(body.height);
    let area = popup(body, width, height);
    Clear.render(area, buf);
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.warning)
        .title(" Server preview: workspace rule ")
        .render(area, buf);
    let x = area.x + 2;
    let text_width = area.width.saturating_sub(4);
    let footer = area.bottom().saturating_sub(2);
    let mut y = area.y + 1;
    for line in &question {
        if y >= footer {
            return;
        }
        put(buf, x, y, line, text_width, theme.bold);
        y += 1;
    }
    let expiry = format!(
        "preview valid until {}; the server refuses a save after that",
        review.expires_at.format("%H:%M:%S UTC")
    );
    if y < footer {
        put(buf, x, y, &expiry, text_width, theme.dim);
        y += 2;
    }
    if lines.is_empty() && y < footer {
        put(
            buf,
            x,
            y,
            "no open finding of any application matches it now",
            text_width,
            theme.dim,
        );
    }
    let room_rows = usize::from(footer.saturating_sub(y));
    let start = review
        .scroll
        .min(lines.len().saturating_sub(room_rows.max(1)));
    for line in lines.iter().skip(start).take(room_rows) {
        match line {
            ReviewLine::Application {
                name,
                suppresses,
                undecided,
            } => {
                let mut counts = format!("  {suppresses} suppressed");
                if *undecided > 0 {
                    counts.push_str(&format!(", {undecided} decided by the next analysis"));
                }
                put_spans(
                    buf,
                    x,
                    y,
                    &[(name, theme.title), (&counts, theme.dim)],
                    text_width,
                );
            }
            ReviewLine::Suppressed(label) => {
                put_spans(
                    buf,
                    x + 2,
                    y,
                    &[("✓ ", theme.ok), (label, theme.base)],
                    text_width.saturating_sub(2),
                );
            }
            ReviewLine::Undecided(label) => {
                put_spans(
                    buf,
                    x + 2,
                    y,
                    &[("? ", theme.warning), (label, theme.base)],
                    text_width.saturating_sub(2),
                );
            }
        }
        y += 1;
    }
    let hidden = lines.len().saturating_sub(start + room_rows);
    let more = if hidden > 0 {
        format!("   ({hidden} more lines: ↓)")
    } else {
        String::new()
    };
    put_spans(
        buf,
        x,
        footer,
        &[
            ("y", theme.key),
            (" save   ", theme.base),
            ("n", theme.key),
            ("/", theme.dim),
            ("esc", theme.key),
            (" back", theme.base),
            (&more, theme.dim),
        ],
        text_width,
    );
}
