//! Incidents: one run's unsuppressed findings grouped by resource and cause (the manager owning
//! the drifted fields, `unowned`, `missing` or `removed_from_git`), with a stable fingerprint
//! (so a re-analysis updates the same incident), a title, and the recommendation for it.

use sha2::{Digest, Sha256};

use crate::diff::{Cause, ChangeKind, Finding, cause_label};
use crate::identity::ResourceId;
use crate::recommend::{Recommendation, recommend};
use crate::string_enum::string_enum;

string_enum! {
    /// How urgent an incident is. Ordered: `Low < Medium < High < Critical`.
    pub enum Severity {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
}

/// A group of findings of one resource sharing a cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Hex SHA-256 of (application key, group, kind, namespace, name, cause).
    pub fingerprint: String,
    pub resource: ResourceId,
    /// `apiVersion` as written in Git.
    pub api_version: String,
    pub cause: Cause,
    pub title: String,
    pub severity: Severity,
    pub recommendation: Recommendation,
    pub rationale: String,
    /// A `managed_by` ignore rule worth adding, when the recommendation is to ignore.
    pub suggested_rule: Option<String>,
    /// Indexes into the analysis' (unsuppressed) findings.
    pub findings: Vec<usize>,
}

/// The stable identity of an incident across runs. Fields are length-prefixed so no two
/// different tuples hash alike; manager causes are tagged so a manager named `unowned` does not
/// collide with the `unowned` cause.
pub fn fingerprint(application_key: &str, resource: &ResourceId, cause: &Cause) -> String {
    let cause_text = match cause {
        Cause::Manager(m) => format!("manager:{m}"),
        other => cause_label(other).to_owned(),
    };
    let mut hasher = Sha256::new();
    for part in [
        application_key,
        &resource.group,
        &resource.kind,
        resource.namespace.as_deref().unwrap_or(""),
        &resource.name,
        &cause_text,
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn plural(n: usize, one: &str) -> String {
    match (n, one.strip_suffix('y')) {
        (1, _) => format!("1 {one}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {one}s"),
    }
}

/// The incident title, e.g. "Deployment payments/ledger-api: 2 fields changed by kubectl-edit".
pub fn title(resource: &ResourceId, cause: &Cause, findings: &[&Finding]) -> String {
    let label = resource.short_label();
    let n = findings.len();
    match cause {
        Cause::Missing => format!("{label}: missing from the cluster"),
        Cause::RemovedFromGit => format!(
            "{label}: {} removed from Git but still live",
            plural(n, "entry")
        ),
        Cause::Unowned => {
            let missing = findings
                .iter()
                .filter(|f| f.change == ChangeKind::MissingInLive)
                .count();
            if missing == n {
                format!(
                    "{label}: {} declared in Git missing live",
                    plural(n, "field")
                )
            } else {
                let verb = if n == 1 { "differs" } else { "differ" };
                format!(
                    "{label}: {} {verb} from Git (no recorded owner)",
                    plural(n, "field")
                )
            }
        }
        Cause::Manager(m) => format!("{label}: {} changed by {m}", plural(n, "field")),
    }
}

/// Groups findings (already sorted by resource and path) into incidents, in the order of
/// their first finding.
pub fn group(findings: &[Finding], application_key: &str, live_trusted: bool) -> Vec<Incident> {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let found = groups.iter_mut().find(|(first, _)| {
            let g = &findings[*first];
            g.resource == f.resource && g.cause == f.cause
        });
        match found {
            Some((_, members)) => members.push(i),
            None => groups.push((i, vec![i])),
        }
    }
    groups
        .into_iter()
        .map(|(first, members)| {
            let lead = &findings[first];
            let refs: Vec<&Finding> = members.iter().map(|&i| &findings[i]).collect();
            let advice = recommend(&refs, &lead.cause, live_trusted);
            Incident {
                fingerprint: fingerprint(application_key, &lead.resource, &lead.cause),
                resource: lead.resource.clone(),
                api_version: lead.api_version.clone(),
                cause: lead.cause.clone(),
                title: title(&lead.resource, &lead.cause, &refs),
                severity: advice.severity,
                recommendation: advice.recommendation,
                rationale: advice.rationale,
                suggested_rule: advice.suggested_rule,
                findings: members,
            }
        })
        .collect()
}
