//! Drawing: a pure function of the [`App`] onto a ratatui frame. Every string it did not
//! write itself was neutralized when its reply arrived (see `model`); here it is only
//! fitted to its cells with `…`, never wrapped. Tables draw only the rows in view.
//!
//! Layout, top to bottom: the header (brand, workspace, screen, user, server, connection),
//! the screen, the status line (or the filter / palette prompt), the key hints. Overlays
//! (help, palette candidates, the sign-in modal) are drawn last, over the screen.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders, Clear, Widget};
use statesight_core::wire::{RunStatus, Severity, SeverityCounts};

use super::app::{App, Connection, Overlay, Screen, SignInPhase};
use super::appscreen::{RunRow, Tab};
use super::keys::{Action, PROMPT_KEYS, Scope};
use super::model::{APP_SORTS, AppRow, INCIDENT_SORTS, IncidentRow};
use super::table::{TableView, visible_offset};
use super::text::{age, chunk, fit, short_revision, width};
use super::theme::{Theme, severity_label};

/// The mark of the selected row, drawn in every theme (with reverse video in monochrome).
pub const SELECTED_MARK: &str = "▶";
const SPINNER: [&str; 4] = ["◐", "◓", "◑", "◒"];

/// Draws the whole console.
pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    let theme = &app.theme;
    if area.width == 0 || area.height == 0 {
        return;
    }
    if area.width < 30 || area.height < 8 {
        let buf = frame.buffer_mut();
        put(
            buf,
            area.x,
            area.y,
            "StateSight: terminal too small",
            area.width,
            theme.error,
        );
        return;
    }
    let header = Rect::new(area.x, area.y, area.width, 1);
    let body = Rect::new(area.x, area.y + 1, area.width, area.height - 3);
    let status = Rect::new(area.x, area.bottom() - 2, area.width, 1);
    let hints = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    {
        let buf = frame.buffer_mut();
        draw_header(buf, header, app);
        match app.screen() {
            Screen::Overview => draw_overview(buf, body, app),
            Screen::Applications => draw_applications(buf, body, app),
            Screen::Incidents => draw_incidents(buf, body, app),
            Screen::Application(id) => draw_application(buf, body, app, id),
            Screen::Incident(id) => super::investigate_view::draw_incident(buf, body, app, id),
            Screen::RuleEditor => super::investigate_view::draw_rule_editor(buf, body, app),
        }
        draw_hints(buf, hints, app);
    }
    draw_status(frame, status, app);
    match &app.overlay {
        Some(Overlay::Help(help)) => {
            draw_help(frame.buffer_mut(), body, app, &help.filter, help.scroll)
        }
        Some(Overlay::Palette(palette)) => draw_candidates(frame.buffer_mut(), body, app, palette),
        Some(Overlay::Confirm(confirm)) => {
            super::investigate_view::draw_confirm(frame.buffer_mut(), body, app, confirm)
        }
        Some(Overlay::Review(review)) => {
            super::investigate_view::draw_review(frame.buffer_mut(), body, app, review)
        }
        None => {}
    }
    if app.sign_in.is_some() {
        draw_sign_in(frame.buffer_mut(), area, app);
    }
}

/// Writes `text` (already clean) at (x, y), cut to `max` cells with `…`. Returns the cells
/// written.
pub(super) fn put(buf: &mut Buffer, x: u16, y: u16, text: &str, max: u16, style: Style) -> u16 {
    if max == 0 {
        return 0;
    }
    let fitted = fit(text, usize::from(max));
    let (end, _) = buf.set_stringn(x, y, fitted.as_ref(), usize::from(max), style);
    end.saturating_sub(x)
}

/// Writes pieces one after the other within `max` cells; the piece that does not fit is
/// cut with `…` and the rest dropped. Returns the cells written.
pub(super) fn put_spans(
    buf: &mut Buffer,
    x: u16,
    y: u16,
    spans: &[(&str, Style)],
    max: u16,
) -> u16 {
    let mut used = 0u16;
    for (text, style) in spans {
        if used >= max {
            break;
        }
        used += put(buf, x + used, y, text, max - used, *style);
    }
    used
}

/// A line of `─` with a title: `─ Applications 5 ─ sorted by name ▲ ───────`.
pub(super) fn title_line(buf: &mut Buffer, area: Rect, spans: &[(&str, Style)], theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let line = "─".repeat(usize::from(area.width));
    buf.set_stringn(area.x, area.y, &line, usize::from(area.width), theme.border);
    let mut pieces: Vec<(&str, Style)> = vec![("─ ", theme.border)];
    pieces.extend_from_slice(spans);
    pieces.push((" ", theme.border));
    put_spans(buf, area.x, area.y, &pieces, area.width);
}

pub(super) fn spinner(app: &App) -> &'static str {
    SPINNER[(app.ticks % 4) as usize]
}

fn draw_header(buf: &mut Buffer, area: Rect, app: &App) {
    let theme = &app.theme;
    buf.set_style(area, theme.header);
    let mut connection = match app.connection {
        Connection::Connecting => format!("{} connecting", spinner(app)),
        Connection::Ok => String::from("● ok"),
        Connection::Error => String::from("✖ error"),
        Connection::SignedOut => String::from("○ signed out"),
    };
    // Whether screens follow the event stream or poll (nothing before a subscription).
    match app.live {
        super::live::LiveState::Off => {}
        super::live::LiveState::Live => connection.push_str(" · live"),
        super::live::LiveState::Polling => connection.push_str(" · polling"),
    }
    let connection_style = theme.header.patch(match app.connection {
        Connection::Connecting => theme.info,
        Connection::Ok => theme.ok,
        Connection::Error | Connection::SignedOut => theme.error,
    });
    let server = app.server.trim_end_matches('/');
    let user = app
        .me
        .as_ref()
        .map(|me| {
            if me.email.is_empty() {
                me.display_name.clone()
            } else {
                me.email.clone()
            }
        })
        .unwrap_or_default();
    let workspace = match &app.workspace {
        Some(workspace) => format!("{} ({})", workspace.name, workspace.role),
        None => String::from("—"),
    };
    let crumbs = match app.screen() {
        Screen::Application(id) => {
            let name = app
                .application
                .as_ref()
                .filter(|screen| screen.id == id)
                .and_then(|screen| screen.name.as_deref())
                .or_else(|| app.application_name(id))
                .unwrap_or("?");
            format!("Applications › {name}")
        }
        screen => screen.title().to_owned(),
    };
    let brand = " StateSight ";
    let left_full = width(brand) + 1 + width(&workspace) + 3 + width(&crumbs);
    // The right side loses the server, then the user, before the left side is cut.
    let mut right_parts: Vec<String> = Vec::new();
    for parts in [
        vec![user.clone(), server.to_owned()],
        vec![user.clone()],
        vec![],
    ] {
        let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        let total: usize =
            parts.iter().map(|p| width(p) + 3).sum::<usize>() + width(&connection) + 1;
        if left_full + 1 + total <= usize::from(area.width) || parts.is_empty() {
            right_parts = parts;
            break;
        }
    }
    let mut right = String::new();
    for part in &right_parts {
        right.push_str(part);
        right.push_str("   ");
    }
    let right_width = (width(&right) + width(&connection) + 1) as u16;
    let left_max = area.width.saturating_sub(right_width + 1);
    let used = put(buf, area.x, area.y, brand, left_max, theme.header_brand);
    put_spans(
        buf,
        area.x + used,
        area.y,
        &[
            (" ", theme.header),
            (&workspace, theme.header),
            (" › ", theme.header),
            (&crumbs, theme.header_brand),
        ],
        left_max.saturating_sub(used),
    );
    let x = area.right().saturating_sub(right_width);
    let used = put(buf, x, area.y, &right, right_width, theme.header);
    put(
        buf,
        x + used,
        area.y,
        &connection,
        right_width.saturating_sub(used),
        connection_style,
    );
}

/// One column of a table.
pub(super) struct Column {
    title: &'static str,
    min: u16,
    /// 0: no maximum.
    max: u16,
    /// Share of the spare width; 0 keeps `min`.
    weight: u16,
    /// Columns of the lowest priority are dropped first when the terminal is narrow.
    priority: u8,
    right: bool,
    /// When the cell is too wide, cut its first piece and keep the others whole (the
    /// revision of `source@revision`).
    keep_last: bool,
}

pub(super) const fn column(
    title: &'static str,
    min: u16,
    max: u16,
    weight: u16,
    priority: u8,
) -> Column {
    Column {
        title,
        min,
        max,
        weight,
        priority,
        right: false,
        keep_last: false,
    }
}

pub(super) const fn right(column: Column) -> Column {
    Column {
        right: true,
        ..column
    }
}

/// Where each column goes (`None`: dropped), given the width after the selection mark and
/// each column's natural width (its widest value; empty when unknown). Columns below their
/// minimum are dropped, least important first; then the columns closest to their natural
/// width get it first (so short values are shown whole and the long ones are cut); what is
/// left is shared by weight up to each column's maximum.
pub(super) fn layout_columns(
    columns: &[Column],
    natural: &[u16],
    width: u16,
) -> Vec<Option<(u16, u16)>> {
    let mut shown: Vec<bool> = vec![true; columns.len()];
    loop {
        let count = shown.iter().filter(|s| **s).count() as u16;
        let need: u16 = columns
            .iter()
            .zip(&shown)
            .filter(|(_, s)| **s)
            .map(|(c, _)| c.min)
            .sum::<u16>()
            + count.saturating_sub(1);
        if need <= width || count <= 1 {
            break;
        }
        let drop = columns
            .iter()
            .enumerate()
            .filter(|(i, _)| shown[*i])
            .min_by_key(|(_, c)| c.priority)
            .map(|(i, _)| i);
        match drop {
            Some(i) => shown[i] = false,
            None => break,
        }
    }
    let mut widths: Vec<u16> = columns.iter().map(|c| c.min).collect();
    let count = shown.iter().filter(|s| **s).count() as u16;
    let need: u16 = (0..columns.len())
        .filter(|i| shown[*i])
        .map(|i| widths[i])
        .sum::<u16>()
        + count.saturating_sub(1);
    let mut spare = width.saturating_sub(need);
    // Water-filling towards the natural widths: every column short of its natural width
    // grows by the same amount, so short columns are whole first and only the longest ones
    // stay cut; a last odd cell goes to the most important column.
    let wanted: Vec<u16> = (0..columns.len())
        .map(|i| {
            let mut wanted = natural.get(i).copied().unwrap_or(0).max(columns[i].min);
            if columns[i].max > 0 {
                wanted = wanted.min(columns[i].max);
            }
            wanted
        })
        .collect();
    loop {
        let mut open: Vec<usize> = (0..columns.len())
            .filter(|&i| shown[i] && widths[i] < wanted[i])
            .collect();
        if open.is_empty() || spare == 0 {
            break;
        }
        let count = open.len() as u16;
        let step = open
            .iter()
            .map(|&i| wanted[i] - widths[i])
            .min()
            .unwrap_or(0)
            .min(spare / count);
        if step == 0 {
            open.sort_by_key(|&i| std::cmp::Reverse(columns[i].priority));
            for i in open.into_iter().take(usize::from(spare)) {
                widths[i] += 1;
                spare -= 1;
            }
            break;
        }
        for i in open {
            widths[i] += step;
        }
        spare -= step * count;
    }
    // Hand out the spare width by weight, up to each column's maximum.
    while spare > 0 {
        let open: Vec<usize> = (0..columns.len())
            .filter(|&i| {
                shown[i]
                    && columns[i].weight > 0
                    && (columns[i].max == 0 || widths[i] < columns[i].max)
            })
            .collect();
        if open.is_empty() {
            break;
        }
        let total: u16 = open.iter().map(|&i| columns[i].weight).sum();
        let mut given = 0u16;
        for &i in &open {
            let share = (u32::from(spare) * u32::from(columns[i].weight) / u32::from(total)) as u16;
            let share = share.max(1).min(spare - given);
            let room = if columns[i].max == 0 {
                share
            } else {
                share.min(columns[i].max - widths[i])
            };
            widths[i] += room;
            given += room;
            if given >= spare {
                break;
            }
        }
        if given == 0 {
            break;
        }
        spare -= given;
    }
    let mut x = 0u16;
    let mut out = Vec::with_capacity(columns.len());
    for (i, column_width) in widths.iter().enumerate() {
        if shown[i] {
            out.push(Some((x, (*column_width).min(width.saturating_sub(x)))));
            x = x.saturating_add(*column_width + 1);
        } else {
            out.push(None);
        }
    }
    out
}

/// A cell: pieces of text with their styles.
pub(super) type Cell<'a> = Vec<(std::borrow::Cow<'a, str>, Style)>;

pub(super) fn cell(text: impl Into<std::borrow::Cow<'static, str>>, style: Style) -> Cell<'static> {
    vec![(text.into(), style)]
}

/// How a table looks: its columns, the sorted one, and what to say when it is empty.
pub(super) struct Grid<'a> {
    pub(super) theme: &'a Theme,
    pub(super) columns: &'a [Column],
    /// The widest value of each column, when known.
    pub(super) natural: &'a [u16],
    pub(super) sorted: Option<(&'a str, bool)>,
    pub(super) empty: &'a str,
}

/// The rows of a table in display order: a list of indices (a sorted or filtered view), or
/// every row in its own order (no list is built, whatever the row count).
#[derive(Clone, Copy)]
pub(super) enum Rows<'a> {
    Listed(&'a [usize]),
    All(usize),
}

impl Rows<'_> {
    fn len(self) -> usize {
        match self {
            Rows::Listed(rows) => rows.len(),
            Rows::All(count) => count,
        }
    }

    fn index(self, position: usize) -> usize {
        match self {
            Rows::Listed(rows) => rows[position],
            Rows::All(_) => position,
        }
    }
}

/// Draws the column header and the rows in view (`rows` in display order; `selected` a
/// position in it); rows out of view are never formatted.
pub(super) fn draw_grid<'r>(
    buf: &mut Buffer,
    area: Rect,
    grid: &Grid<'_>,
    rows: Rows<'_>,
    offset: usize,
    selected: Option<usize>,
    row_cells: impl Fn(usize) -> Vec<Cell<'r>>,
) {
    if area.height == 0 {
        return;
    }
    let theme = grid.theme;
    let mark_width = 2u16;
    let inner = area.width.saturating_sub(mark_width);
    // The sorted column's title also needs its `▲`.
    let natural: Vec<u16> = grid
        .natural
        .iter()
        .zip(grid.columns)
        .map(|(width, column)| match grid.sorted {
            Some((name, _)) if name == column.title => width + 1,
            _ => *width,
        })
        .collect();
    let places = layout_columns(grid.columns, &natural, inner);
    for (column, place) in grid.columns.iter().zip(&places) {
        let Some((x, w)) = *place else { continue };
        let mut title = column.title.to_owned();
        if let Some((name, descending)) = grid.sorted
            && name == column.title
        {
            title.push(if descending { '▼' } else { '▲' });
        }
        let text = if column.right {
            super::text::pad(&title, usize::from(w), true)
        } else {
            title
        };
        put(
            buf,
            area.x + mark_width + x,
            area.y,
            &text,
            w,
            theme.column_header,
        );
    }
    if rows.len() == 0 {
        put(
            buf,
            area.x + mark_width,
            area.y + 1,
            grid.empty,
            inner,
            theme.dim,
        );
        return;
    }
    let height = usize::from(area.height - 1);
    let offset = offset.min(rows.len().saturating_sub(height));
    for (line, position) in (offset..rows.len()).take(height).enumerate() {
        let y = area.y + 1 + line as u16;
        let is_selected = selected == Some(position);
        let row_style = if is_selected {
            theme.selected
        } else {
            theme.base
        };
        if is_selected {
            buf.set_style(Rect::new(area.x, y, area.width, 1), theme.selected);
            put(buf, area.x, y, SELECTED_MARK, 1, theme.selected);
        }
        let cells = row_cells(rows.index(position));
        for ((column, place), pieces) in grid.columns.iter().zip(&places).zip(cells) {
            let Some((x, w)) = *place else { continue };
            let x0 = area.x + mark_width + x;
            let total: usize = pieces.iter().map(|(text, _)| width(text)).sum();
            let start = if column.right {
                x0 + w.saturating_sub(total as u16)
            } else {
                x0
            };
            let mut spans: Vec<(std::borrow::Cow<'_, str>, Style)> = pieces
                .iter()
                .map(|(text, style)| {
                    (
                        std::borrow::Cow::Borrowed(text.as_ref()),
                        row_style.patch(*style),
                    )
                })
                .collect();
            if column.keep_last && total > usize::from(w) && spans.len() > 1 {
                let rest: usize = spans[1..].iter().map(|(text, _)| width(text)).sum();
                let room = usize::from(w).saturating_sub(rest);
                if room >= 2 {
                    spans[0].0 = std::borrow::Cow::Owned(fit(&spans[0].0, room).into_owned());
                }
            }
            let spans: Vec<(&str, Style)> = spans
                .iter()
                .map(|(text, style)| (text.as_ref(), *style))
                .collect();
            put_spans(buf, start, y, &spans, w.saturating_sub(start - x0));
        }
    }
}

/// A table with a selection.
fn draw_table<'r>(
    buf: &mut Buffer,
    area: Rect,
    grid: &Grid<'_>,
    view: &TableView,
    row_cells: impl Fn(usize) -> Vec<Cell<'r>>,
) {
    let height = usize::from(area.height.saturating_sub(1));
    let offset = visible_offset(view.offset, view.selected, height, view.visible.len());
    draw_grid(
        buf,
        area,
        grid,
        Rows::Listed(&view.visible),
        offset,
        Some(view.selected),
        row_cells,
    );
}

/// A read-only list drawn like a table without selection (overview, summary).
fn draw_list<'r>(
    buf: &mut Buffer,
    area: Rect,
    grid: &Grid<'_>,
    rows: usize,
    offset: usize,
    row_cells: impl Fn(usize) -> Vec<Cell<'r>>,
) {
    draw_grid(buf, area, grid, Rows::All(rows), offset, None, row_cells);
}

/// What an empty screen says before any workspace is open.
fn not_loaded(app: &App) -> Option<&'static str> {
    if app.workspace.is_some() {
        return None;
    }
    Some(match app.connection {
        Connection::Connecting => "waiting for the server…",
        Connection::SignedOut => "signed out: nothing to show until you sign in",
        Connection::Ok | Connection::Error => {
            "nothing loaded (the status line says why; r retries)"
        }
    })
}

/// `◐ loading 1500…` while a load runs (with the rows so far, when it is a list).
fn load_note(app: &App, loading: bool, rows: Option<usize>) -> String {
    match (loading, rows) {
        (false, _) => String::new(),
        (true, Some(rows)) => format!("{} loading {rows}…", spinner(app)),
        (true, None) => format!("{} loading…", spinner(app)),
    }
}

/// What a table's title line says.
struct TableTitle<'a> {
    name: &'a str,
    total: usize,
    sorts: &'a [(&'a str, bool)],
    loading: bool,
}

fn table_title(buf: &mut Buffer, area: Rect, app: &App, view: &TableView, title: TableTitle<'_>) {
    let theme = &app.theme;
    let TableTitle {
        name,
        total,
        sorts,
        loading,
    } = title;
    let count = if view.filter.is_empty() {
        format!("{total}")
    } else {
        format!("{}/{total}", view.visible.len())
    };
    let sort = sorts
        .get(view.sort)
        .map(|(title, _)| {
            format!(
                "sort {} {}",
                title.to_lowercase(),
                if view.descending { "▼" } else { "▲" }
            )
        })
        .unwrap_or_default();
    let filter = if view.filter.is_empty() {
        String::new()
    } else {
        format!("filter “{}”", view.filter)
    };
    let note = load_note(app, loading, Some(total));
    let mut spans: Vec<(&str, Style)> =
        vec![(name, theme.title), (" ", theme.base), (&count, theme.bold)];
    for extra in [&sort, &filter] {
        if !extra.is_empty() {
            spans.push((" ─ ", theme.border));
            spans.push((extra, theme.dim));
        }
    }
    if !note.is_empty() {
        spans.push((" ─ ", theme.border));
        spans.push((&note, theme.info));
    }
    title_line(buf, area, &spans, theme);
}

fn severity_cell(counts: &SeverityCounts, theme: &Theme) -> Cell<'static> {
    let mut pieces: Cell<'static> = Vec::new();
    for (count, letter, severity) in [
        (counts.critical, "c", Severity::Critical),
        (counts.high, "h", Severity::High),
        (counts.medium, "m", Severity::Medium),
        (counts.low, "l", Severity::Low),
    ] {
        if count > 0 {
            if !pieces.is_empty() {
                pieces.push((" ".into(), theme.base));
            }
            pieces.push((format!("{count}{letter}").into(), theme.severity(severity)));
        }
    }
    if pieces.is_empty() {
        pieces.push(("—".into(), theme.dim));
    }
    pieces
}

fn run_label(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "ok",
        RunStatus::Failed => "failed",
        RunStatus::Queued => "queued",
        RunStatus::Running => "running",
    }
}

const APP_COLUMNS: [Column; 6] = [
    column("NAME", 10, 40, 3, 10),
    column("CLUSTER", 8, 24, 2, 6),
    column("NAMESPACE", 9, 20, 1, 4),
    Column {
        keep_last: true,
        ..column("SOURCE@REV", 14, 48, 3, 5)
    },
    column("ANALYSIS", 10, 0, 0, 8),
    column("INCIDENTS", 9, 15, 1, 9),
];

fn app_cells(row: &AppRow, app: &App) -> Vec<Cell<'static>> {
    let theme = &app.theme;
    let source = match &row.revision {
        Some(revision) => vec![
            (row.source.clone().into(), theme.base),
            (format!("@{}", short_revision(revision)).into(), theme.dim),
        ],
        None => cell(row.source.clone(), theme.base),
    };
    let analysis = match &row.run {
        Some(run) => cell(
            format!("{} {}", run_label(run.status), age(app.now, run.at)),
            theme.run_status(run.status),
        ),
        None => cell("never", theme.dim),
    };
    let incidents = match &row.counts {
        Some(counts) => severity_cell(counts, theme),
        None => match row.highest {
            Some(highest) if row.open_total > 0 => vec![
                (format!("{} ", row.open_total).into(), theme.base),
                (severity_label(highest).into(), theme.severity(highest)),
            ],
            _ => cell("—", theme.dim),
        },
    };
    vec![
        cell(row.name.clone(), theme.bold),
        cell(row.cluster.clone(), theme.base),
        cell(row.namespace.clone(), theme.base),
        source,
        analysis,
        incidents,
    ]
}

fn draw_applications(buf: &mut Buffer, area: Rect, app: &App) {
    draw_workspace_table(
        buf,
        area,
        app,
        WorkspaceTable {
            title: TableTitle {
                name: "Applications",
                total: app.apps.len(),
                sorts: APP_SORTS,
                loading: app.apps_load.loading,
            },
            view: &app.apps_view,
            columns: &APP_COLUMNS,
            natural: &app.apps_natural,
            loading_text: "loading applications…",
            none_text: "no applications in this workspace",
            filtered_text: "no application matches the filter (esc clears it)",
        },
        |index| app_cells(&app.apps[index], app),
    );
}

/// One of the workspace's top-level tables (applications, incidents): its title line, then
/// the sortable, filterable rows, or a line saying why there are none.
struct WorkspaceTable<'a> {
    title: TableTitle<'a>,
    view: &'a TableView,
    columns: &'a [Column],
    natural: &'a [u16],
    loading_text: &'a str,
    none_text: &'a str,
    filtered_text: &'a str,
}

fn draw_workspace_table<'r>(
    buf: &mut Buffer,
    area: Rect,
    app: &App,
    table: WorkspaceTable<'_>,
    cells: impl Fn(usize) -> Vec<Cell<'r>>,
) {
    let WorkspaceTable {
        title,
        view,
        columns,
        natural,
        loading_text,
        none_text,
        filtered_text,
    } = table;
    let (total, loading, sorts) = (title.total, title.loading, title.sorts);
    table_title(
        buf,
        Rect::new(area.x, area.y, area.width, 1),
        app,
        view,
        title,
    );
    let rows = Rect::new(
        area.x,
        area.y + 1,
        area.width,
        area.height.saturating_sub(1),
    );
    let empty = if let Some(waiting) = not_loaded(app) {
        waiting
    } else if loading && total == 0 {
        loading_text
    } else if total == 0 {
        none_text
    } else {
        filtered_text
    };
    let grid = Grid {
        theme: &app.theme,
        columns,
        natural,
        sorted: sorts
            .get(view.sort)
            .map(|(title, _)| (*title, view.descending)),
        empty,
    };
    draw_table(buf, rows, &grid, view, cells);
}

const INCIDENT_COLUMNS: [Column; 5] = [
    column("SEV", 4, 0, 0, 10),
    column("APPLICATION", 10, 24, 1, 7),
    column("TITLE", 20, 0, 5, 9),
    column("ACTION", 11, 0, 0, 5),
    right(column("SEEN", 4, 0, 0, 8)),
];

fn incident_cells(row: &IncidentRow, app: &App) -> Vec<Cell<'static>> {
    let theme = &app.theme;
    vec![
        cell(severity_label(row.severity), theme.severity(row.severity)),
        cell(row.application.clone(), theme.base),
        cell(row.title.clone(), theme.base),
        cell(row.recommendation.as_str(), theme.dim),
        cell(age(app.now, row.last_seen), theme.dim),
    ]
}

fn draw_incidents(buf: &mut Buffer, area: Rect, app: &App) {
    draw_workspace_table(
        buf,
        area,
        app,
        WorkspaceTable {
            title: TableTitle {
                name: "Open incidents",
                total: app.incidents.len(),
                sorts: INCIDENT_SORTS,
                loading: app.incidents_load.loading,
            },
            view: &app.incidents_view,
            columns: &INCIDENT_COLUMNS,
            natural: &app.incidents_natural,
            loading_text: "loading incidents…",
            none_text: "no open incidents: Git and the clusters agree",
            filtered_text: "no incident matches the filter (esc clears it)",
        },
        |index| incident_cells(&app.incidents[index], app),
    );
}

const TOP_INCIDENT_COLUMNS: [Column; 4] = [
    column("SEV", 4, 0, 0, 10),
    column("APPLICATION", 10, 24, 1, 6),
    column("TITLE", 20, 0, 5, 9),
    right(column("SEEN", 4, 0, 0, 8)),
];

const RUN_COLUMNS: [Column; 7] = [
    column("APPLICATION", 10, 24, 1, 10),
    column("STATUS", 7, 0, 0, 9),
    column("REVISION", 8, 14, 1, 6),
    right(column("FINDINGS", 8, 0, 0, 7)),
    right(column("INCIDENTS", 9, 0, 0, 7)),
    right(column("WHEN", 4, 0, 0, 8)),
    column("NOTE", 10, 0, 3, 5),
];

fn draw_overview(buf: &mut Buffer, area: Rect, app: &App) {
    let theme = &app.theme;
    let workspace = app
        .workspace
        .as_ref()
        .map(|w| w.name.clone())
        .unwrap_or_default();
    let note = load_note(app, app.overview_loading, None);
    let mut spans: Vec<(&str, Style)> = vec![
        ("Overview", theme.title),
        (" ", theme.base),
        (&workspace, theme.bold),
    ];
    if !note.is_empty() {
        spans.push((" ─ ", theme.border));
        spans.push((&note, theme.info));
    }
    title_line(buf, Rect::new(area.x, area.y, area.width, 1), &spans, theme);
    let Some(overview) = &app.overview else {
        let text = if app.overview_loading || app.workspace.is_none() {
            "loading the overview…"
        } else {
            "the overview could not be loaded (r retries)"
        };
        put(
            buf,
            area.x + 2,
            area.y + 1,
            text,
            area.width.saturating_sub(2),
            theme.dim,
        );
        return;
    };
    let x = area.x + 1;
    let w = area.width.saturating_sub(2);
    let counts = [
        ("Applications ", overview.applications),
        ("Clusters ", overview.clusters),
        ("Sources ", overview.sources),
    ];
    let numbers: Vec<String> = counts.iter().map(|(_, n)| n.to_string()).collect();
    let mut line: Vec<(&str, Style)> = Vec::new();
    for ((label, _), number) in counts.iter().zip(&numbers) {
        line.push((label, theme.dim));
        line.push((number, theme.bold));
        line.push(("    ", theme.base));
    }
    put_spans(buf, x, area.y + 1, &line, w);

    let open = &overview.open;
    let severity = &open.by_severity;
    let values: Vec<String> = [
        open.total,
        severity.critical,
        severity.high,
        severity.medium,
        severity.low,
    ]
    .iter()
    .map(i64::to_string)
    .collect();
    put_spans(
        buf,
        x,
        area.y + 2,
        &[
            ("Open incidents ", theme.dim),
            (&values[0], theme.bold),
            ("    ", theme.base),
            ("CRIT ", theme.critical),
            (&values[1], theme.bold),
            ("  ", theme.base),
            ("HIGH ", theme.high),
            (&values[2], theme.bold),
            ("  ", theme.base),
            ("MED ", theme.medium),
            (&values[3], theme.bold),
            ("  ", theme.base),
            ("LOW ", theme.low),
            (&values[4], theme.bold),
        ],
        w,
    );
    let by = &open.by_recommendation;
    let recommended = format!(
        "reconcile {} · investigate {} · monitor {} · ignore {}",
        by.reconcile, by.investigate, by.monitor, by.ignore
    );
    put_spans(
        buf,
        x,
        area.y + 3,
        &[("Recommended    ", theme.dim), (&recommended, theme.base)],
        w,
    );
    let runs = &overview.runs;
    let analyses = format!(
        "queued {} · running {} · succeeded {} · failed {} (last 24h)",
        runs.queued, runs.running, runs.succeeded_last_24h, runs.failed_last_24h
    );
    let analyses_style = if runs.failed_last_24h > 0 {
        theme.warning
    } else {
        theme.base
    };
    put_spans(
        buf,
        x,
        area.y + 4,
        &[("Analyses       ", theme.dim), (&analyses, analyses_style)],
        w,
    );

    // The rest: top incidents, then recent analyses, splitting the height.
    let top = area.y + 6;
    let rest = area.bottom().saturating_sub(top);
    if rest < 4 {
        return;
    }
    let wanted_incidents = overview.top_incidents.len().max(1) as u16 + 2;
    let wanted_runs = overview.recent_runs.len().max(1) as u16 + 2;
    let incidents_height = if wanted_incidents + wanted_runs <= rest {
        wanted_incidents
    } else {
        (rest / 2).max(3).min(wanted_incidents)
    };
    let runs_height = rest.saturating_sub(incidents_height + 1).min(wanted_runs);

    title_line(
        buf,
        Rect::new(area.x, top, area.width, 1),
        &[("Most severe open incidents", theme.title)],
        theme,
    );
    draw_list(
        buf,
        Rect::new(
            area.x,
            top + 1,
            area.width,
            incidents_height.saturating_sub(1),
        ),
        &Grid {
            theme,
            columns: &TOP_INCIDENT_COLUMNS,
            natural: &[],
            sorted: None,
            empty: "no open incidents",
        },
        overview.top_incidents.len(),
        0,
        |index| {
            let row = &overview.top_incidents[index];
            vec![
                cell(severity_label(row.severity), theme.severity(row.severity)),
                cell(row.application.clone(), theme.base),
                cell(row.title.clone(), theme.base),
                cell(age(app.now, row.last_seen), theme.dim),
            ]
        },
    );
    if runs_height < 3 {
        return;
    }
    let runs_top = top + incidents_height + 1;
    title_line(
        buf,
        Rect::new(area.x, runs_top, area.width, 1),
        &[("Recent analyses", theme.title)],
        theme,
    );
    draw_list(
        buf,
        Rect::new(
            area.x,
            runs_top + 1,
            area.width,
            runs_height.saturating_sub(1),
        ),
        &Grid {
            theme,
            columns: &RUN_COLUMNS,
            natural: &[],
            sorted: None,
            empty: "no analyses yet",
        },
        overview.recent_runs.len(),
        0,
        |index| {
            let run = &overview.recent_runs[index];
            let name = app
                .application_name(run.application_id)
                .map(str::to_owned)
                .unwrap_or_else(|| run.application_id.to_string()[..8].to_owned());
            let count = |value: Option<i32>| {
                value.map_or_else(|| String::from("—"), |value| value.to_string())
            };
            let note = match (&run.error, run.warnings) {
                (Some(error), _) => cell(error.clone(), theme.error),
                (None, 0) => cell("", theme.dim),
                (None, 1) => cell("1 warning", theme.warning),
                (None, n) => cell(format!("{n} warnings"), theme.warning),
            };
            vec![
                cell(name, theme.base),
                cell(run_label(run.status), theme.run_status(run.status)),
                cell(
                    run.revision
                        .as_deref()
                        .map(|r| short_revision(r).into_owned())
                        .unwrap_or_else(|| String::from("—")),
                    theme.base,
                ),
                cell(count(run.finding_count), theme.base),
                cell(count(run.incident_count), theme.base),
                cell(age(app.now, run.at), theme.dim),
                note,
            ]
        },
    );
}

const APP_INCIDENT_COLUMNS: [Column; 5] = [
    column("SEV", 4, 0, 0, 10),
    column("TITLE", 16, 0, 5, 9),
    column("ACTION", 9, 0, 0, 5),
    column("STATE", 8, 0, 0, 7),
    right(column("SEEN", 4, 0, 0, 8)),
];

const SUPPRESSED_COLUMNS: [Column; 5] = [
    column("RULE", 8, 24, 2, 10),
    column("REASON", 10, 0, 3, 9),
    column("RESOURCE", 12, 0, 2, 6),
    column("PATH", 10, 0, 3, 7),
    right(column("SEEN", 4, 0, 0, 8)),
];

const RULE_COLUMNS: [Column; 5] = [
    column("RULE", 8, 24, 2, 10),
    column("MATCH", 12, 0, 3, 9),
    column("REASON", 10, 0, 3, 6),
    column("STATE", 8, 0, 0, 8),
    column("SCOPE", 13, 0, 0, 7),
];

const ANALYSIS_COLUMNS: [Column; 9] = [
    column("STATUS", 9, 0, 0, 10),
    column("REVISION", 8, 12, 0, 8),
    column("TRIGGER", 8, 0, 0, 5),
    right(column("QUEUED", 6, 0, 0, 9)),
    right(column("TOOK", 5, 0, 0, 4)),
    right(column("FIND", 4, 0, 0, 7)),
    right(column("INC", 3, 0, 0, 7)),
    right(column("WARN", 4, 0, 0, 6)),
    column("ERROR", 8, 0, 5, 6),
];

/// Lines of the selected analysis's warnings shown under the Analyses tab, at most.
const WARNING_LINES: usize = 5;

fn count_label(total: i64, shown: usize) -> String {
    if total > i64::try_from(shown).unwrap_or(i64::MAX) {
        format!("{shown} of {total}")
    } else {
        shown.to_string()
    }
}

fn draw_application(buf: &mut Buffer, area: Rect, app: &App, id: uuid::Uuid) {
    let theme = &app.theme;
    let Some(screen) = app.application.as_ref().filter(|screen| screen.id == id) else {
        title_line(
            buf,
            Rect::new(area.x, area.y, area.width, 1),
            &[("Application", theme.title)],
            theme,
        );
        return;
    };
    let incidents = screen.incidents();
    let counts = [
        incidents.len().to_string(),
        count_label(screen.suppressed_total, screen.suppressed.len()),
        screen.rules.len().to_string(),
        if screen.runs_complete {
            screen.runs.len().to_string()
        } else {
            format!("{}+", screen.runs.len())
        },
    ];
    let numbers = ["1", "2", "3", "4"];
    let mut spans: Vec<(&str, Style)> = Vec::new();
    for (index, tab) in Tab::ALL.into_iter().enumerate() {
        if index > 0 {
            spans.push((" · ", theme.border));
        }
        let style = if tab == screen.tab {
            theme.selected
        } else {
            theme.dim
        };
        spans.push((numbers[index], theme.key));
        spans.push((" ", theme.base));
        spans.push((tab.title(), style));
        spans.push((" ", theme.base));
        spans.push((&counts[index], theme.bold));
    }
    let loading = if screen.loading() {
        format!(" {}", spinner(app))
    } else {
        String::new()
    };
    spans.push((&loading, theme.info));
    title_line(buf, Rect::new(area.x, area.y, area.width, 1), &spans, theme);
    let progress = u16::from(screen.run.is_some());
    let table = Rect::new(
        area.x,
        area.y + 1,
        area.width,
        area.height.saturating_sub(1 + progress),
    );
    let cursor = screen.cursors[screen.tab.index()];
    let grid = |columns: &'static [Column], empty: &'static str| Grid {
        theme,
        columns,
        natural: &[],
        sorted: None,
        empty,
    };
    let when = |at: chrono::DateTime<chrono::Utc>| age(app.now, at);
    match screen.tab {
        Tab::Incidents => {
            let empty = if screen.show_resolved {
                "no incidents"
            } else {
                "no open incidents (R shows resolved ones)"
            };
            draw_grid(
                buf,
                table,
                &grid(&APP_INCIDENT_COLUMNS, empty),
                Rows::All(incidents.len()),
                cursor.offset,
                Some(cursor.position),
                |index| {
                    let item = incidents[index];
                    let row = &item.row;
                    let dim = item.resolved;
                    let style = |style: Style| if dim { theme.dim } else { style };
                    vec![
                        cell(
                            severity_label(row.severity),
                            style(theme.severity(row.severity)),
                        ),
                        cell(row.title.clone(), style(theme.base)),
                        cell(row.recommendation.as_str(), theme.dim),
                        cell(
                            if item.resolved { "resolved" } else { "open" },
                            style(theme.base),
                        ),
                        cell(when(row.last_seen), theme.dim),
                    ]
                },
            );
        }
        Tab::Suppressed => {
            draw_grid(
                buf,
                table,
                &grid(&SUPPRESSED_COLUMNS, "no suppressed findings"),
                Rows::All(screen.suppressed.len()),
                cursor.offset,
                Some(cursor.position),
                |index| {
                    let row = &screen.suppressed[index];
                    vec![
                        cell(row.rule.clone(), theme.bold),
                        cell(row.reason.clone(), theme.base),
                        cell(row.resource.clone(), theme.dim),
                        cell(row.path.clone(), theme.code),
                        cell(when(row.observed_at), theme.dim),
                    ]
                },
            );
        }
        Tab::IgnoreRules => {
            draw_grid(
                buf,
                table,
                &grid(&RULE_COLUMNS, "no ignore rules apply"),
                Rows::All(screen.rules.len()),
                cursor.offset,
                Some(cursor.position),
                |index| {
                    let row = &screen.rules[index];
                    vec![
                        cell(row.name.clone(), theme.bold),
                        cell(row.expression.clone(), theme.code),
                        cell(row.reason.clone(), theme.base),
                        if row.enabled {
                            cell("enabled", theme.ok)
                        } else {
                            cell("disabled", theme.dim)
                        },
                        if row.read_only {
                            cell("workspace", theme.info)
                        } else {
                            cell("application", theme.base)
                        },
                    ]
                },
            );
        }
        Tab::Analyses => {
            // The selected analysis's warnings (unreadable resources, missing ownership
            // data, …) under the table, so they are read, not just counted.
            let warnings = screen
                .runs
                .get(cursor.position)
                .map_or(&[][..], |run| run.warnings.as_slice());
            let panel = if warnings.is_empty() || table.height < 8 {
                0
            } else {
                (warnings.len().min(WARNING_LINES) + 1) as u16
            };
            let rows = Rect::new(table.x, table.y, table.width, table.height - panel);
            let offset = visible_offset(
                cursor.offset,
                cursor.position,
                usize::from(rows.height.saturating_sub(1)),
                screen.runs.len(),
            );
            draw_grid(
                buf,
                rows,
                &grid(&ANALYSIS_COLUMNS, "never analysed (a requests an analysis)"),
                Rows::All(screen.runs.len()),
                offset,
                Some(cursor.position),
                |index| run_cells(&screen.runs[index], app),
            );
            if panel > 0 {
                draw_warnings(
                    buf,
                    Rect::new(table.x, rows.bottom(), table.width, panel),
                    app,
                    warnings,
                );
            }
        }
    }
    if let Some(run) = &screen.run {
        let y = area.bottom().saturating_sub(1);
        let state = match run.status {
            RunStatus::Queued | RunStatus::Running => {
                format!("{} {}", run_label(run.status), spinner(app))
            }
            _ => run_label(run.status).to_owned(),
        };
        let detail = match run.status {
            RunStatus::Failed => run.error.clone(),
            RunStatus::Succeeded => format!(
                "{} findings, {} incidents",
                run.findings.unwrap_or(0),
                run.incidents.unwrap_or(0)
            ),
            _ => match age(app.now, run.queued_at).as_str() {
                "now" => String::from("queued just now"),
                ago => format!("queued {ago} ago"),
            },
        };
        let separator = if run.status == RunStatus::Failed {
            ": "
        } else {
            " "
        };
        put_spans(
            buf,
            area.x,
            y,
            &[
                ("requested analysis ", theme.dim),
                (&state, theme.run_status(run.status)),
                (separator, theme.base),
                (&detail, theme.base),
            ],
            area.width,
        );
    }
}

fn draw_warnings(buf: &mut Buffer, area: Rect, app: &App, warnings: &[String]) {
    let theme = &app.theme;
    let count = warnings.len().to_string();
    title_line(
        buf,
        Rect::new(area.x, area.y, area.width, 1),
        &[
            ("Warnings of this analysis ", theme.warning),
            (&count, theme.bold),
        ],
        theme,
    );
    let shown = usize::from(area.height.saturating_sub(1));
    for (line, warning) in warnings.iter().take(shown).enumerate() {
        let last = line + 1 == shown && warnings.len() > shown;
        let text = if last {
            format!(
                "… and {} more (`statesight-tui api /api/v1/analyses/<id>` lists them all)",
                warnings.len() - line
            )
        } else {
            format!("• {warning}")
        };
        put(
            buf,
            area.x,
            area.y + 1 + line as u16,
            &text,
            area.width,
            theme.base,
        );
    }
}

fn run_cells(row: &RunRow, app: &App) -> Vec<Cell<'static>> {
    let theme = &app.theme;
    let took = row
        .finished_at
        .map(|end| {
            let seconds = (end - row.queued_at).num_seconds().max(0);
            if seconds < 60 {
                format!("{seconds}s")
            } else {
                format!("{}m", seconds / 60)
            }
        })
        .unwrap_or_else(|| String::from("—"));
    let number = |n: Option<i32>| n.map_or_else(|| String::from("—"), |n| n.to_string());
    vec![
        cell(run_label(row.status), theme.run_status(row.status)),
        cell(short_revision(&row.revision).into_owned(), theme.code),
        cell(row.trigger.as_str(), theme.dim),
        cell(age(app.now, row.queued_at), theme.dim),
        cell(took, theme.dim),
        cell(number(row.findings), theme.base),
        cell(number(row.incidents), theme.base),
        if row.warnings.is_empty() {
            cell("—", theme.dim)
        } else {
            cell(row.warnings.len().to_string(), theme.warning)
        },
        cell(row.error.clone(), theme.error),
    ]
}

fn draw_status(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let theme = &app.theme;
    // Prompts take the status line, with the terminal's cursor at the end of the input.
    let prompt = match (&app.overlay, app.screen()) {
        (Some(Overlay::Palette(palette)), _) => Some((":", palette.input.as_str())),
        (None, Screen::Applications) if app.apps_view.editing => {
            Some(("/", app.apps_view.filter.as_str()))
        }
        (None, Screen::Incidents) if app.incidents_view.editing => {
            Some(("/", app.incidents_view.filter.as_str()))
        }
        _ => None,
    };
    let buf = frame.buffer_mut();
    if let Some((sigil, input)) = prompt {
        put(buf, area.x, area.y, sigil, 1, theme.prompt);
        // The end of a long input stays visible.
        let room = usize::from(area.width.saturating_sub(3));
        let shown = if width(input) > room {
            let skip = width(input) - room;
            let mut cut = 0;
            let mut cells = 0;
            for (at, c) in input.char_indices() {
                if cells >= skip {
                    cut = at;
                    break;
                }
                cells += width(c.encode_utf8(&mut [0; 4]));
                cut = at + c.len_utf8();
            }
            &input[cut..]
        } else {
            input
        };
        let used = put(
            buf,
            area.x + 1,
            area.y,
            shown,
            area.width.saturating_sub(2),
            theme.base,
        );
        if app.sign_in.is_none() {
            frame.set_cursor_position(Position::new(area.x + 1 + used, area.y));
        }
        return;
    }
    match &app.status {
        Some(status) => {
            let (mark, style) = if status.error {
                ("✖ ", theme.error)
            } else {
                ("", theme.info)
            };
            // The request id, if any, is on the hints line below.
            put_spans(
                buf,
                area.x,
                area.y,
                &[(mark, style), (&status.text, style)],
                area.width,
            );
        }
        None => {
            let text = match app.connection {
                Connection::Connecting => {
                    format!("connecting to {}…", app.server.trim_end_matches('/'))
                }
                _ => String::new(),
            };
            put(buf, area.x, area.y, &text, area.width, theme.dim);
        }
    }
}

/// The first key of `action` on this screen, for the hints.
fn first_key(app: &App, action: Action) -> Option<String> {
    app.keymap
        .keys(app.screen().scope(), action)
        .first()
        .map(|key| match key.to_string().as_str() {
            "enter" => String::from("⏎"),
            other => other.to_owned(),
        })
}

/// The order of the key hints.
const HINT_ORDER: [Action; 18] = [
    Action::Save,
    Action::NextField,
    Action::Back,
    Action::Help,
    Action::Palette,
    Action::Filter,
    Action::Sort,
    Action::Open,
    Action::SwitchFocus,
    Action::ToggleDiff,
    Action::CopyPath,
    Action::IgnoreFinding,
    Action::NextTab,
    Action::ToggleResolved,
    Action::ToggleRule,
    Action::Analyze,
    Action::Refresh,
    Action::Quit,
];

fn draw_hints(buf: &mut Buffer, area: Rect, app: &App) {
    let theme = &app.theme;
    let fixed = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, l)| ((*k).to_owned(), (*l).to_owned()))
            .collect()
    };
    let pairs: Vec<(String, String)> = if app.sign_in.is_some() {
        fixed(&[
            ("esc", "cancel"),
            ("⏎", "retry after a failure"),
            ("ctrl-c", "quit"),
        ])
    } else {
        match &app.overlay {
            Some(Overlay::Palette(_)) => {
                fixed(&[("tab", "complete"), ("⏎", "run"), ("esc", "cancel")])
            }
            Some(Overlay::Help(_)) => {
                fixed(&[("a-z", "filter"), ("↑↓", "scroll"), ("esc", "close")])
            }
            Some(Overlay::Confirm(_)) => fixed(&[("y", "yes"), ("n/esc", "no")]),
            Some(Overlay::Review(_)) => {
                fixed(&[("y", "save"), ("↑↓", "scroll"), ("n/esc", "back")])
            }
            None if app.filter_editing() => fixed(&[
                ("⏎", "keep filter"),
                ("esc", "clear"),
                ("↑↓", "move"),
                ("ctrl-u", "erase"),
            ]),
            None => {
                let scope = app.screen().scope();
                let bindings = app.keymap.for_screen(scope);
                let mut pairs = Vec::new();
                let tab = app.application.as_ref().map(|screen| screen.tab);
                for action in HINT_ORDER {
                    // The filter needs a table; some keys of the application screen work
                    // on one tab.
                    let irrelevant = match action {
                        Action::Filter => {
                            !matches!(scope, Some(Scope::Applications | Scope::Incidents))
                        }
                        Action::ToggleRule => {
                            scope == Some(Scope::Application) && tab != Some(Tab::IgnoreRules)
                        }
                        Action::ToggleResolved => {
                            scope == Some(Scope::Application) && tab != Some(Tab::Incidents)
                        }
                        Action::Open => {
                            scope == Some(Scope::Application)
                                && !matches!(tab, Some(Tab::Incidents | Tab::IgnoreRules))
                        }
                        _ => false,
                    };
                    if irrelevant {
                        continue;
                    }
                    let Some(label) = bindings
                        .iter()
                        .find(|binding| binding.action == action)
                        .and_then(|binding| binding.hint)
                    else {
                        continue;
                    };
                    if let Some(key) = first_key(app, action) {
                        let label = if action == Action::Quit && app.screens.len() > 1 {
                            "back"
                        } else {
                            label
                        };
                        pairs.push((key, label.to_owned()));
                    }
                }
                pairs
            }
        }
    };
    // An error's request id (what a bug report needs) takes the right of the line.
    let request = app
        .status
        .as_ref()
        .filter(|status| status.error)
        .and_then(|status| status.request_id.as_ref())
        .map(|id| format!("request {id}"));
    let mut end = area.right();
    if let Some(request) = &request {
        let request_width = (width(request) as u16).min(area.width);
        end = area.right() - request_width;
        put(buf, end, area.y, request, request_width, theme.dim);
        end = end.saturating_sub(1);
    }
    let mut x = area.x;
    for (key, label) in &pairs {
        let needed = (width(key) + 1 + width(label) + 2) as u16;
        if x + needed > end {
            break;
        }
        x += put(buf, x, area.y, key, area.right() - x, theme.key);
        x += put(buf, x, area.y, " ", 1, theme.base);
        x += put(buf, x, area.y, label, area.right() - x, theme.dim);
        x += put(
            buf,
            x,
            area.y,
            "  ",
            area.right().saturating_sub(x),
            theme.base,
        );
    }
}

/// A line of the help: the section, the keys, the action and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    pub section: String,
    pub keys: String,
    pub action: String,
    pub description: String,
}

/// The help of the current screen, from the keymap in effect, filtered by `filter` (every
/// word must appear in the keys, the action, the description or the section).
pub fn help_rows(app: &App, filter: &str) -> Vec<HelpRow> {
    let scope = app.screen().scope();
    let mut rows = Vec::new();
    for binding in app.keymap.for_screen(scope) {
        let keys = if binding.keys.is_empty() {
            String::from("(unbound)")
        } else {
            binding
                .keys
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        rows.push(HelpRow {
            section: binding.scope.name().to_owned(),
            keys,
            action: binding.action.name().to_owned(),
            description: binding.description.to_owned(),
        });
    }
    for (keys, description) in PROMPT_KEYS {
        rows.push(HelpRow {
            section: String::from("fixed"),
            keys: (*keys).to_owned(),
            action: String::new(),
            description: (*description).to_owned(),
        });
    }
    let terms: Vec<String> = filter.split_whitespace().map(str::to_lowercase).collect();
    rows.retain(|row| {
        let haystack = format!(
            "{} {} {} {}",
            row.section, row.keys, row.action, row.description
        )
        .to_lowercase();
        terms.iter().all(|term| haystack.contains(term.as_str()))
    });
    rows
}

pub(super) fn popup(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

fn draw_help(buf: &mut Buffer, body: Rect, app: &App, filter: &str, scroll: usize) {
    let theme = &app.theme;
    Clear.render(body, buf);
    let area = popup(body, body.width.min(100), body.height);
    let title = format!(" Keys · {} · ? or esc closes ", app.screen().title());
    Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(title.as_str())
        .title_style(theme.title)
        .render(area, buf);
    let inner = Rect::new(
        area.x + 1,
        area.y + 1,
        area.width.saturating_sub(2),
        area.height.saturating_sub(2),
    );
    if inner.height < 2 {
        return;
    }
    let line = if filter.is_empty() {
        vec![("type to filter", theme.dim)]
    } else {
        vec![
            ("filter ", theme.dim),
            (filter, theme.prompt),
            ("▏", theme.prompt),
        ]
    };
    put_spans(
        buf,
        inner.x + 1,
        inner.y,
        &line,
        inner.width.saturating_sub(1),
    );
    // Section headings between the rows of each section.
    let mut lines: Vec<HelpLine<'_>> = Vec::new();
    let rows = help_rows(app, filter);
    for row in &rows {
        if lines.last().is_none_or(|line| match line {
            HelpLine::Row(previous) => previous.section != row.section,
            HelpLine::Heading(_) => false,
        }) {
            if !lines.is_empty() {
                lines.push(HelpLine::Heading(""));
            }
            lines.push(HelpLine::Heading(section_title(&row.section)));
        }
        lines.push(HelpLine::Row(row));
    }
    let height = usize::from(inner.height - 1);
    let scroll = scroll.min(lines.len().saturating_sub(height));
    if rows.is_empty() {
        put(
            buf,
            inner.x + 1,
            inner.y + 1,
            "no key matches",
            inner.width,
            theme.dim,
        );
    }
    let keys_width = 16u16.min(inner.width / 3);
    let show_action = inner.width > 60;
    let action_width = 13u16;
    for (line, item) in lines.iter().skip(scroll).take(height).enumerate() {
        let y = inner.y + 1 + line as u16;
        let mut x = inner.x + 1;
        let row = match item {
            HelpLine::Heading(title) => {
                put(buf, x, y, title, inner.width.saturating_sub(1), theme.title);
                continue;
            }
            HelpLine::Row(row) => row,
        };
        put(buf, x, y, &row.keys, keys_width, theme.key);
        x += keys_width + 1;
        if show_action {
            put(buf, x, y, &row.action, action_width, theme.dim);
            x += action_width + 1;
        }
        put(
            buf,
            x,
            y,
            &row.description,
            inner.right().saturating_sub(x),
            theme.base,
        );
    }
}

enum HelpLine<'a> {
    Heading(&'static str),
    Row(&'a HelpRow),
}

fn section_title(section: &str) -> &'static str {
    match section {
        "global" => "Every screen",
        "applications" => "Applications",
        "incidents" => "Incidents",
        "application" => "Application",
        _ => "Fixed keys",
    }
}

fn draw_candidates(buf: &mut Buffer, body: Rect, app: &App, palette: &super::palette::Palette) {
    let theme = &app.theme;
    if palette.candidates.is_empty() {
        return;
    }
    let shown = palette.candidates.len().min(8) as u16;
    let height = (shown + 2).min(body.height);
    let width = body.width.min(64);
    let area = Rect::new(body.x, body.bottom().saturating_sub(height), width, height);
    Clear.render(area, buf);
    Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(" tab completes ")
        .title_style(theme.dim)
        .render(area, buf);
    let selected = palette.cycling.unwrap_or(usize::MAX);
    let first = if selected != usize::MAX && selected >= usize::from(shown) {
        selected + 1 - usize::from(shown)
    } else {
        0
    };
    for (line, (index, candidate)) in palette
        .candidates
        .iter()
        .enumerate()
        .skip(first)
        .take(usize::from(shown))
        .enumerate()
    {
        let y = area.y + 1 + line as u16;
        let inner = Rect::new(area.x + 1, y, area.width.saturating_sub(2), 1);
        let style = if index == selected {
            buf.set_style(inner, theme.selected);
            put(buf, inner.x, y, SELECTED_MARK, 1, theme.selected);
            theme.selected
        } else {
            theme.base
        };
        put(
            buf,
            inner.x + 2,
            y,
            &candidate.label,
            22,
            style.patch(theme.bold),
        );
        put(
            buf,
            inner.x + 25,
            y,
            &candidate.description,
            inner.width.saturating_sub(25),
            style.patch(theme.dim),
        );
    }
}

fn draw_sign_in(buf: &mut Buffer, screen: Rect, app: &App) {
    let theme = &app.theme;
    let Some(sign_in) = &app.sign_in else { return };
    let width = screen.width.saturating_sub(4).min(68);
    let inner_width = usize::from(width.saturating_sub(4));
    let mut lines: Vec<Vec<(String, Style)>> = Vec::new();
    let plain = |text: &str, style: Style| vec![(text.to_owned(), style)];
    lines.push(plain(
        &format!(
            "The server needs you to sign in again ({}).",
            app.server.trim_end_matches('/')
        ),
        theme.base,
    ));
    lines.push(Vec::new());
    match &sign_in.phase {
        SignInPhase::Starting => {
            lines.push(plain(
                &format!("{} asking the identity provider for a code…", spinner(app)),
                theme.info,
            ));
        }
        SignInPhase::Waiting {
            user_code,
            verification_uri,
            verification_uri_complete,
            deadline,
        } => {
            lines.push(vec![
                (String::from("Code  "), theme.dim),
                (format!(" {user_code} "), theme.code),
            ]);
            lines.push(Vec::new());
            lines.push(plain("On any device, open", theme.base));
            for part in chunk(verification_uri, inner_width) {
                lines.push(vec![(part, theme.key)]);
            }
            lines.push(plain("and enter the code.", theme.base));
            if let Some(complete) = verification_uri_complete {
                lines.push(plain("Or open, code included:", theme.dim));
                for part in chunk(complete, inner_width) {
                    lines.push(vec![(part, theme.dim)]);
                }
            }
            lines.push(Vec::new());
            let left = (*deadline - app.now).num_seconds();
            if left > 0 {
                lines.push(plain(
                    &format!(
                        "{} waiting for approval · the code expires in {}:{:02}",
                        spinner(app),
                        left / 60,
                        left % 60
                    ),
                    theme.info,
                ));
            } else {
                lines.push(plain("the code has expired", theme.error));
            }
        }
        SignInPhase::Failed(error) => {
            lines.push(plain(&format!("Sign-in failed: {error}"), theme.error));
            lines.push(plain("Enter tries again.", theme.base));
        }
    }
    lines.push(Vec::new());
    lines.push(plain(
        "Esc cancels (the console stays signed out).",
        theme.dim,
    ));
    let height = (lines.len() as u16 + 2).min(screen.height);
    let area = popup(screen, width, height);
    Clear.render(area, buf);
    Block::new()
        .borders(Borders::ALL)
        .border_style(theme.title)
        .title(" Sign in again ")
        .title_style(theme.title)
        .render(area, buf);
    for (index, line) in lines
        .iter()
        .enumerate()
        .take(usize::from(area.height.saturating_sub(2)))
    {
        let spans: Vec<(&str, Style)> = line
            .iter()
            .map(|(text, style)| (text.as_str(), *style))
            .collect();
        put_spans(
            buf,
            area.x + 2,
            area.y + 1 + index as u16,
            &spans,
            area.width.saturating_sub(4),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fill_the_width_and_the_least_important_go_first() {
        let places = layout_columns(&APP_COLUMNS, &[], 78);
        assert!(places.iter().all(Option::is_some));
        let last = places
            .iter()
            .flatten()
            .map(|(x, w)| x + w)
            .max()
            .unwrap_or_default();
        assert!(last <= 78, "{places:?}");
        let places = layout_columns(&APP_COLUMNS, &[], 50);
        // NAMESPACE (priority 4) goes first, then SOURCE@REV (5).
        assert_eq!(places[2], None);
        assert!(places[0].is_some());
        let places = layout_columns(&APP_COLUMNS, &[], 158);
        assert_eq!(places[0].map(|(_, w)| w), Some(40));
    }
}
