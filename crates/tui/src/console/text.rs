//! Text the console draws: neutralized (nothing from a cluster, Git, the identity provider
//! or the API can drive the terminal or disguise itself), fitted to a width by display
//! cells with `…`, and the short forms of times and revisions.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use ratatui::buffer::CellWidth;
use ratatui::text::Span;
use statesight_core::terminal::escape_for_terminal;

/// `text` made inert for the terminal: C0/C1 controls, escape-sequence introducers, bidi
/// controls, line separators and zero-width characters become visible `\u{…}` escapes
/// (see `statesight_core::terminal`). Every string the console did not write itself goes
/// through this before it reaches a widget.
pub fn clean(text: &str) -> String {
    escape_for_terminal(text).into_owned()
}

/// Display width in terminal cells.
pub fn width(text: &str) -> usize {
    Span::raw(text).width()
}

/// `text` cut to at most `max` cells, ending in `…` when it was cut. Cuts between
/// graphemes, so a wide character or a letter with combining marks is never split.
pub fn fit(text: &str, max: usize) -> Cow<'_, str> {
    if width(text) <= max {
        return Cow::Borrowed(text);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let span = Span::raw(text);
    let mut out = String::with_capacity(max + 3);
    let mut used = 0usize;
    for grapheme in span.styled_graphemes(ratatui::style::Style::default()) {
        let cells = usize::from(grapheme.symbol.cell_width());
        if used + cells > max - 1 {
            break;
        }
        out.push_str(grapheme.symbol);
        used += cells;
    }
    out.push('…');
    Cow::Owned(out)
}

/// `text` fitted to `max` cells and padded with spaces to exactly `max` (left-aligned) or
/// right-aligned.
pub fn pad(text: &str, max: usize, right: bool) -> String {
    let fitted = fit(text, max);
    let fill = max.saturating_sub(width(&fitted));
    if right {
        format!("{}{fitted}", " ".repeat(fill))
    } else {
        format!("{fitted}{}", " ".repeat(fill))
    }
}

/// How long ago `then` was, in one short unit: `12s`, `5m`, `3h`, `2d`, `6w`, `4mo`, `2y`.
/// A time in the future (clock skew) reads `now`.
pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds();
    if seconds < 1 {
        return String::from("now");
    }
    let (value, unit) = match seconds {
        s if s < 60 => (s, "s"),
        s if s < 3_600 => (s / 60, "m"),
        s if s < 86_400 => (s / 3_600, "h"),
        s if s < 14 * 86_400 => (s / 86_400, "d"),
        s if s < 60 * 86_400 => (s / (7 * 86_400), "w"),
        s if s < 365 * 86_400 => (s / (30 * 86_400), "mo"),
        s => (s / (365 * 86_400), "y"),
    };
    format!("{value}{unit}")
}

/// A commit SHA shortened to 7 characters; other revisions (a tag, a branch) fitted to 12
/// cells. The input is already clean.
pub fn short_revision(revision: &str) -> Cow<'_, str> {
    let is_sha = revision.len() >= 12 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if is_sha {
        Cow::Borrowed(&revision[..7])
    } else {
        fit(revision, 12)
    }
}

/// `text` cut into lines of at most `max` cells, breaking anywhere (for URLs and codes,
/// which have no spaces to break at). Never returns an empty list.
pub fn chunk(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = vec![String::new()];
    let mut used = 0usize;
    for grapheme in Span::raw(text).styled_graphemes(ratatui::style::Style::default()) {
        let cells = usize::from(grapheme.symbol.cell_width());
        if used + cells > max && used > 0 {
            lines.push(String::new());
            used = 0;
        }
        if let Some(line) = lines.last_mut() {
            line.push_str(grapheme.symbol);
        }
        used += cells;
    }
    lines
}

/// Prose cut into lines of at most `max` cells, between words where it can (a word longer
/// than a line is cut between graphemes, see [`chunk`]). Nothing is dropped but the
/// spaces where lines break.
pub fn wrap_words(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = if line.is_empty() {
            width(word)
        } else {
            width(&line) + 1 + width(word)
        };
        if needed <= max {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        let mut pieces = chunk(word, max);
        line = pieces.pop().unwrap_or_default();
        lines.extend(pieces);
    }
    lines.push(line);
    lines
}

/// Text typed or pasted into a prompt: controls dropped (a paste can carry anything),
/// everything else kept.
pub fn typed(text: &str) -> String {
    text.chars()
        .filter(|c| !statesight_core::terminal::is_control_or_invisible(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn wrap_words_breaks_between_words_and_cuts_long_ones() {
        assert_eq!(
            wrap_words("Findings it suppresses come back", 12),
            vec!["Findings it", "suppresses", "come back"]
        );
        assert_eq!(
            wrap_words("sha256:0123456789 ok", 8),
            vec!["sha256:0", "12345678", "9 ok"]
        );
        assert_eq!(wrap_words("", 5), vec![""]);
    }

    #[test]
    fn clean_makes_escapes_and_bidi_visible() {
        let text = clean("a\u{1b}[2Jb\u{202e}c\u{200b}d\u{9b}e");
        assert_eq!(text, "a\\u{1b}[2Jb\\u{202e}c\\u{200b}d\\u{9b}e");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn fit_cuts_by_cells_with_an_ellipsis() {
        assert_eq!(fit("checkout-api", 20), "checkout-api");
        assert_eq!(fit("checkout-api", 12), "checkout-api");
        assert_eq!(fit("checkout-api", 8), "checkou…");
        assert_eq!(fit("checkout-api", 1), "…");
        assert_eq!(fit("checkout-api", 0), "");
        // Wide characters are never split: 你 is two cells.
        assert_eq!(fit("你好世界", 5), "你好…");
        assert_eq!(width(&fit("你好世界", 4)), 3);
        // Combining marks stay with their letter.
        assert_eq!(
            fit("Z\u{351}a\u{334}l\u{336}g\u{337}o", 3),
            "Z\u{351}a\u{334}…"
        );
    }

    #[test]
    fn pad_fills_to_the_width() {
        assert_eq!(pad("ab", 4, false), "ab  ");
        assert_eq!(pad("ab", 4, true), "  ab");
        assert_eq!(pad("abcdef", 4, false), "abc…");
    }

    #[test]
    fn ages_use_one_short_unit() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 1, 12, 0, 0)
            .single()
            .unwrap_or_default();
        let ago = |seconds: i64| age(now, now - chrono::Duration::seconds(seconds));
        assert_eq!(ago(-5), "now");
        assert_eq!(ago(0), "now");
        assert_eq!(ago(12), "12s");
        assert_eq!(ago(300), "5m");
        assert_eq!(ago(3 * 3600 + 5), "3h");
        assert_eq!(ago(2 * 86_400), "2d");
        assert_eq!(ago(20 * 86_400), "2w");
        assert_eq!(ago(100 * 86_400), "3mo");
        assert_eq!(ago(800 * 86_400), "2y");
    }

    #[test]
    fn revisions_are_shortened() {
        assert_eq!(
            short_revision("b5ee0cda96b7c1f9b095afe8fec61cacf0952fcd"),
            "b5ee0cd"
        );
        assert_eq!(short_revision("release-1.9.0"), "release-1.9…");
        assert_eq!(short_revision("main"), "main");
    }

    #[test]
    fn chunks_break_long_words() {
        assert_eq!(chunk("abcdefg", 3), vec!["abc", "def", "g"]);
        assert_eq!(chunk("", 3), vec![""]);
    }

    #[test]
    fn typed_text_loses_controls() {
        assert_eq!(typed("led\u{1b}[31mger\n"), "led[31mger");
    }
}
