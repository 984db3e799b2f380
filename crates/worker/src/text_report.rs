//! The human-readable report: findings per resource, then incidents with their
//! recommendation, then suppressions and a summary. ANSI colour only when asked (a TTY
//! without NO_COLOR); the words carry the meaning, colour only helps.
//!
//! Everything printed that came from the inputs — API versions, kinds, names, file names,
//! drift paths, values, manager names, titles, rationales, causes, rule names and reasons,
//! problems — goes through [`escape_for_terminal`] first: a manifest or a snapshot can carry
//! `ESC[2J`, OSC 52, a one-byte CSI or a bidi override, and a report must show them, never
//! run them. Controls and invisible characters appear as `\u{HEX}`. String values are
//! quoted, with `\` and `"` inside written `\\` and `\"`, so within quotes `\u{1b}` can
//! only mean an escaped ESC. The only escape sequences written are the report's own colours,
//! added after the escaping.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;
use statesight_core::analysis::Analysis;
use statesight_core::diff::{ChangeKind, Finding, cause_label};
use statesight_core::incident::Severity;
use statesight_core::terminal::escape_for_terminal;

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Input text made safe to print (see the module documentation).
fn t(text: &str) -> Cow<'_, str> {
    escape_for_terminal(text)
}

/// A string value between quotes, `\` and `"` escaped first so that every `\u{…}` inside
/// is an escape the report made.
fn quoted(text: &str, out: &mut String) {
    out.push('"');
    let mut plain = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '"') {
            plain.push('\\');
        }
        plain.push(c);
    }
    out.push_str(&escape_for_terminal(&plain));
    out.push('"');
}

/// Compact JSON, except that strings are [`quoted`]: `serde_json` escapes only C0 controls,
/// and C1 controls or bidi overrides inside an array would reach the terminal.
fn value_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => quoted(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value_text(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                quoted(key, out);
                out.push(':');
                value_text(item, out);
            }
            out.push('}');
        }
        // Null, booleans and numbers are ASCII words and digits.
        other => out.push_str(&other.to_string()),
    }
}

fn short(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "(absent)".to_owned();
    };
    let mut text = String::new();
    value_text(value, &mut text);
    if text.chars().count() > 72 {
        let mut cut: String = text.chars().take(69).collect();
        // Never end in half an escape (`\u{1`): drop an unfinished one whole.
        if let Some(start) = cut.rfind("\\u{")
            && !cut[start..].contains('}')
        {
            cut.truncate(start);
        }
        // The cut may separate a kept ZERO WIDTH JOINER from the emoji after it; escaping
        // again shows it instead of leaving it dangling.
        format!("{}...", t(&cut))
    } else {
        text
    }
}

fn owners(f: &Finding) -> String {
    if f.owners.is_empty() {
        return "no recorded owner".to_owned();
    }
    f.owners
        .iter()
        .map(|o| {
            let mut s = format!("{} ({}", t(&o.manager), t(&o.operation));
            if let Some(sub) = &o.subresource {
                let _ = write!(s, " {}", t(sub));
            }
            if let Some(time) = &o.time {
                let _ = write!(s, " {}", t(time));
            }
            s.push(')');
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders the analysis as text.
pub fn render(analysis: &Analysis, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    let mut current: Option<(&statesight_core::ResourceId, &str)> = None;
    for f in &analysis.findings {
        if current != Some((&f.resource, &f.api_version)) {
            if current.is_some() {
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "{}  ({})",
                st.paint(
                    "1",
                    &t(&format!("{} {}", f.api_version, f.resource.short_label()))
                ),
                t(&f.origin.to_string())
            );
            current = Some((&f.resource, &f.api_version));
        }
        let path = if f.path_text.is_empty() {
            Cow::Borrowed("(whole resource)")
        } else {
            t(&f.path_text)
        };
        let line = match f.change {
            ChangeKind::Changed => format!(
                "~ {path}: {} -> {}",
                short(f.desired.as_ref()),
                short(f.live.as_ref())
            ),
            ChangeKind::MissingInLive => {
                format!("- {path}: {} missing live", short(f.desired.as_ref()))
            }
            ChangeKind::AddedInLive => format!("+ {path}: {} added live", short(f.live.as_ref())),
            ChangeKind::MissingResource => "! missing from the cluster".to_owned(),
        };
        let code = match f.change {
            ChangeKind::Changed => "33",
            ChangeKind::MissingInLive | ChangeKind::MissingResource => "31",
            ChangeKind::AddedInLive => "32",
        };
        let _ = writeln!(out, "  {}", st.paint(code, &line));
        if f.change != ChangeKind::MissingResource {
            let _ = writeln!(out, "      owners: {}", owners(f));
        }
    }
    if !analysis.incidents.is_empty() {
        let _ = writeln!(out, "\n{}", st.paint("1", "Incidents"));
        for i in &analysis.incidents {
            let sev_code = match i.severity {
                Severity::Critical | Severity::High => "31;1",
                Severity::Medium => "33",
                Severity::Low => "36",
            };
            let _ = writeln!(
                out,
                "  [{}] {}: {}",
                st.paint(sev_code, i.severity.as_str()),
                st.paint("1", i.recommendation.as_str()),
                t(&i.title)
            );
            let _ = writeln!(out, "      {}", t(&i.rationale));
            if let Some(rule) = &i.suggested_rule {
                let _ = writeln!(out, "      suggested ignore rule: {}", t(rule));
            }
            let fingerprint: String = i.fingerprint.chars().take(16).collect();
            let _ = writeln!(
                out,
                "      cause: {}, fingerprint {}",
                t(cause_label(&i.cause)),
                t(&fingerprint)
            );
        }
        let _ = writeln!(
            out,
            "  Ownership comes from managedFields: evidence of who owns a field, not proof of who changed it."
        );
    }
    if !analysis.suppressed.is_empty() {
        let _ = writeln!(out, "\n{}", st.paint("1", "Suppressed by ignore rules"));
        for s in &analysis.suppressed {
            let f = &s.finding;
            let path = if f.path_text.is_empty() {
                Cow::Borrowed("(whole resource)")
            } else {
                t(&f.path_text)
            };
            let mut name = String::new();
            quoted(&s.rule.name, &mut name);
            let _ = writeln!(
                out,
                "  {} {}: {} — rule {}: {}",
                t(&f.resource.to_string()),
                path,
                f.change.as_str(),
                name,
                t(&s.rule.reason)
            );
        }
    }
    if !analysis.problems.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            st.paint("31;1", "Problems (the analysis is incomplete)")
        );
        for p in &analysis.problems {
            let _ = writeln!(out, "  {}", t(&p.to_string()));
        }
    }
    let resources = {
        let mut r: Vec<_> = analysis.findings.iter().map(|f| &f.resource).collect();
        r.dedup();
        r.len()
    };
    let _ = writeln!(
        out,
        "\n{} finding(s) in {} resource(s), {} incident(s), {} suppressed.",
        analysis.findings.len(),
        resources,
        analysis.incidents.len(),
        analysis.suppressed.len()
    );
    if analysis.findings.is_empty() && analysis.problems.is_empty() {
        let _ = writeln!(
            out,
            "No drift: the live state matches every field Git declares."
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(value: &Value) -> String {
        short(Some(value))
    }

    #[test]
    fn values_are_quoted_and_escaped_unambiguously() {
        // A typed backslash sequence and a real ESC stay distinct.
        assert_eq!(shown(&Value::from("a\\u{1b}b")), r#""a\\u{1b}b""#);
        assert_eq!(shown(&Value::from("a\u{1b}b")), r#""a\u{1b}b""#);
        assert_eq!(shown(&Value::from("\u{1b}[2J")), r#""\u{1b}[2J""#);
        assert_eq!(shown(&Value::from("say \"hi\"")), r#""say \"hi\"""#);
        assert_eq!(
            shown(&serde_json::json!(["\u{9b}31m", {"k\u{202e}": null}, 1.5, true])),
            r#"["\u{9b}31m",{"k\u{202e}":null},1.5,true]"#
        );
        assert_eq!(shown(&Value::from("Z\u{351}a ש 👍🏽")), "\"Z\u{351}a ש 👍🏽\"");
    }

    #[test]
    fn long_values_are_cut_between_escapes() {
        let long = format!("{}\u{1b}[2J{}", "x".repeat(64), "y".repeat(20));
        let text = shown(&Value::from(long));
        assert_eq!(text, format!("\"{}...", "x".repeat(64)));
        let joined = format!("{}👨\u{200d}👩{}", "x".repeat(66), "y".repeat(20));
        let text = shown(&Value::from(joined));
        assert!(text.ends_with("👨\\u{200d}..."), "{text}");
        assert!(!text.contains('\u{200d}'), "{text}");
    }
}
