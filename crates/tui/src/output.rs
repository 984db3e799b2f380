//! What scripting commands print: JSON whose strings cannot drive a terminal, and aligned
//! tables whose every cell is neutralized with `escape_for_terminal`.

use ratatui::text::Span;
use serde_json::Value;
use statesight_core::terminal::{escape_for_terminal, is_control_or_invisible};

/// `value` as pretty JSON in which every control, bidi or invisible character inside a string
/// is written as a `\uXXXX` escape. The JSON means exactly the same (a parser reads the same
/// strings back) but a terminal showing it acts on nothing: serde_json escapes only C0
/// controls, and leaves DEL, C1 controls (U+009B is a one-byte CSI), bidi overrides and
/// zero-width characters raw.
pub fn safe_json(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| String::from("null"));
    // Structural JSON is ASCII, so any such character is inside a string, where a `\u`
    // escape stands for the same character.
    if !text.chars().any(is_control_or_invisible) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 32);
    for c in text.chars() {
        // Newlines and indentation between tokens are serde_json's own.
        if is_control_or_invisible(c) && !matches!(c, '\n' | ' ') {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Text as one safe line: see `statesight_core::terminal::escape_for_terminal`.
pub fn cell(text: &str) -> String {
    escape_for_terminal(text).into_owned()
}

/// Display width of already-escaped text (wide characters count 2).
fn width(text: &str) -> usize {
    Span::raw(text).width()
}

/// A table: headers, then rows of cells, columns aligned by display width, separated by
/// three spaces, no trailing spaces.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Table {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    /// Adds a row; every cell is escaped here.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|text| cell(text)).collect());
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (index, text) in row.iter().enumerate().take(columns) {
                widths[index] = widths[index].max(width(text));
            }
        }
        let mut out = String::new();
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (index, text) in row.iter().enumerate().take(columns) {
                if index > 0 {
                    line.push_str("   ");
                }
                line.push_str(text);
                if index + 1 < columns {
                    line.push_str(&" ".repeat(widths[index].saturating_sub(width(text))));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_strings_cannot_drive_a_terminal() {
        let value = json!({"name": "invoice-\u{202e}fdp.exe", "x": "a\u{1b}[2Jb\u{9b}c\u{200b}d"});
        let text = safe_json(&value);
        assert!(
            !text
                .chars()
                .any(|c| is_control_or_invisible(c) && c != '\n' && c != ' '),
            "{text}"
        );
        assert!(text.contains("invoice-\\u202efdp.exe"), "{text}");
        assert!(text.contains("\\u001b[2J"), "{text}");
        let back: Value = serde_json::from_str(&text).expect("still JSON");
        assert_eq!(back, value);
        let astral = json!({"tag": "\u{e0041}"});
        let back: Value = serde_json::from_str(&safe_json(&astral)).expect("JSON");
        assert_eq!(back, astral);
    }

    #[test]
    fn tables_align_by_display_width_and_escape_cells() {
        let mut table = Table::new(vec!["NAME", "NOTE"]);
        table.row(vec![String::from("ledger"), String::from("ok")]);
        table.row(vec![String::from("漢字"), String::from("\u{1b}[2J")]);
        table.row(vec![String::from("x"), String::new()]);
        assert_eq!(
            table.render(),
            "NAME     NOTE\nledger   ok\n漢字     \\u{1b}[2J\nx\n"
        );
    }
}
