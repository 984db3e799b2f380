//! The human-readable report: findings per resource, then incidents with their
//! recommendation, then suppressions and a summary. ANSI colour only when asked (a TTY
//! without NO_COLOR); the words carry the meaning, colour only helps.

use std::fmt::Write as _;

use serde_json::Value;
use statesight_core::analysis::Analysis;
use statesight_core::diff::{ChangeKind, Finding, cause_label};
use statesight_core::incident::Severity;

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

fn short(value: Option<&Value>) -> String {
    let text = match value {
        None => return "(absent)".to_owned(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(v) => v.to_string(),
    };
    if text.chars().count() > 72 {
        let cut: String = text.chars().take(69).collect();
        format!("{cut}...")
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
            let mut s = format!("{} ({}", o.manager, o.operation);
            if let Some(sub) = &o.subresource {
                let _ = write!(s, " {sub}");
            }
            if let Some(t) = &o.time {
                let _ = write!(s, " {t}");
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
                    &format!("{} {}", f.api_version, f.resource.short_label())
                ),
                f.origin
            );
            current = Some((&f.resource, &f.api_version));
        }
        let path = if f.path_text.is_empty() {
            "(whole resource)"
        } else {
            &f.path_text
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
                i.title
            );
            let _ = writeln!(out, "      {}", i.rationale);
            if let Some(rule) = &i.suggested_rule {
                let _ = writeln!(out, "      suggested ignore rule: {rule}");
            }
            let _ = writeln!(
                out,
                "      cause: {}, fingerprint {}",
                cause_label(&i.cause),
                &i.fingerprint[..16.min(i.fingerprint.len())]
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
                "(whole resource)"
            } else {
                &f.path_text
            };
            let _ = writeln!(
                out,
                "  {} {}: {} — rule {:?}: {}",
                f.resource,
                path,
                f.change.as_str(),
                s.rule.name,
                s.rule.reason
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
            let _ = writeln!(out, "  {p}");
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
