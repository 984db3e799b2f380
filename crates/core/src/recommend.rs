//! Recommendations: the default table of docs/drift-semantics.md#recommendations (first match
//! wins), each with a severity and a one-sentence rationale naming the evidence it rests on. It
//! never recommends `reconcile` for untrusted live state, and it reads ownership as evidence,
//! not proof.

use crate::diff::{Cause, ChangeKind, Finding, OwnerRole};
use crate::incident::Severity;
use crate::string_enum::string_enum;

string_enum! {
    /// The one action an incident recommends.
    pub enum Recommendation {
        Ignore => "ignore",
        Monitor => "monitor",
        Investigate => "investigate",
        Reconcile => "reconcile",
    }
}

/// A recommendation with its severity and reasoning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub recommendation: Recommendation,
    pub severity: Severity,
    pub rationale: String,
    /// For autoscaler-owned replicas: the `managed_by` ignore rule to add.
    pub suggested_rule: Option<String>,
}

const SECURITY_FIELDS: &[&str] = &[
    "securityContext",
    "privileged",
    "allowPrivilegeEscalation",
    "capabilities",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "hostPath",
    "hostPort",
    "hostUsers",
    "serviceAccount",
    "serviceAccountName",
    "automountServiceAccountToken",
];

const RBAC_KINDS: &[&str] = &["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"];

fn is_security_sensitive(finding: &Finding) -> bool {
    let rbac = finding.resource.group == "rbac.authorization.k8s.io"
        && RBAC_KINDS.contains(&finding.resource.kind.as_str())
        && finding
            .path
            .field_names()
            .next()
            .is_some_and(|f| matches!(f, "rules" | "subjects" | "roleRef" | "aggregationRule"));
    rbac || finding
        .path
        .field_names()
        .any(|f| SECURITY_FIELDS.contains(&f))
}

fn in_container(finding: &Finding, fields: &[&str]) -> bool {
    let names: Vec<&str> = finding.path.field_names().collect();
    names.windows(2).any(|w| {
        matches!(
            w[0],
            "containers" | "initContainers" | "ephemeralContainers"
        ) && fields.contains(&w[1])
    })
}

/// A whole container added or removed: its image and command change with it.
fn is_whole_container(finding: &Finding) -> bool {
    let segments = &finding.path.segments;
    segments.len() >= 2
        && matches!(
            segments[segments.len() - 1],
            crate::paths::Segment::Keyed { .. } | crate::paths::Segment::Index(_)
        )
        && finding.path.last_field().is_none()
        && matches!(
            segments[segments.len() - 2],
            crate::paths::Segment::Field(ref f) if matches!(f.as_str(), "containers" | "initContainers" | "ephemeralContainers")
        )
}

fn is_replicas(finding: &Finding) -> bool {
    finding.path_text == "spec.replicas"
}

fn is_resources(finding: &Finding) -> bool {
    in_container(finding, &["resources"])
}

fn is_metadata_map(finding: &Finding) -> bool {
    let names: Vec<&str> = finding.path.field_names().collect();
    names
        .windows(2)
        .any(|w| w[0] == "metadata" && matches!(w[1], "labels" | "annotations"))
}

/// Whether a manager name is a person's tool: kubectl and its plugins, k9s, Lens, Headlamp,
/// the dashboard. Unknown (unowned) changes count as a person's too.
pub fn is_human_tool(manager: &str) -> bool {
    let m = manager.to_ascii_lowercase();
    m.starts_with("kubectl")
        || m == "k9s"
        || m.contains("lens")
        || m.contains("headlamp")
        || m.contains("dashboard")
        || m == "mozilla"
}

fn is_autoscaler(finding: &Finding) -> bool {
    finding.owners.iter().any(|o| {
        let m = o.manager.to_ascii_lowercase();
        (o.manager == "kube-controller-manager" && o.subresource.as_deref() == Some("scale"))
            || m.contains("keda")
            || m.contains("vpa")
            || m.contains("vertical-pod-autoscaler")
            || m.contains("horizontal-pod-autoscaler")
    })
}

fn by_person(cause: &Cause) -> bool {
    match cause {
        Cause::Manager(m) => is_human_tool(m),
        Cause::Unowned => true,
        _ => false,
    }
}

fn out_of_band(cause: &Cause, findings: &[&Finding]) -> bool {
    match cause {
        Cause::Unowned => true,
        Cause::Manager(m) => !findings.iter().any(|f| {
            f.owners
                .iter()
                .any(|o| &o.manager == m && o.role == OwnerRole::Applier)
        }),
        Cause::Missing | Cause::RemovedFromGit => false,
    }
}

fn who(cause: &Cause, findings: &[&Finding]) -> String {
    match cause {
        Cause::Manager(m) => {
            let owner = findings
                .iter()
                .flat_map(|f| f.owners.iter())
                .find(|o| &o.manager == m);
            match owner {
                Some(o) => {
                    let sub = o
                        .subresource
                        .as_deref()
                        .map(|s| format!(" via the {s} subresource"))
                        .unwrap_or_default();
                    let time = o
                        .time
                        .as_deref()
                        .map(|t| format!(" at {t}"))
                        .unwrap_or_default();
                    format!(
                        "managedFields record {m} ({}{sub}{time}) as owner",
                        o.operation
                    )
                }
                None => format!("managedFields record {m} as owner"),
            }
        }
        _ => "no managedFields entry owns the drifted values".to_owned(),
    }
}

fn paths(findings: &[&Finding]) -> String {
    let mut list: Vec<&str> = findings.iter().map(|f| f.path_text.as_str()).collect();
    list.dedup();
    let shown: Vec<String> = list
        .iter()
        .take(3)
        .map(|p| {
            if p.is_empty() {
                "(whole resource)".to_owned()
            } else {
                (*p).to_owned()
            }
        })
        .collect();
    let more = list.len().saturating_sub(3);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Applies the default recommendation table to one incident's findings.
pub fn recommend(findings: &[&Finding], cause: &Cause, live_trusted: bool) -> Advice {
    let mut advice = table(findings, cause);
    if !live_trusted {
        advice.recommendation = Recommendation::Monitor;
        advice.suggested_rule = None;
        advice.rationale = format!(
            "Live state is untrusted (synthetic), so nothing is attributed or reconciled from it; otherwise: {}",
            advice.rationale
        );
    }
    advice
}

fn table(findings: &[&Finding], cause: &Cause) -> Advice {
    let advise = |recommendation, severity, rationale: String| Advice {
        recommendation,
        severity,
        rationale,
        suggested_rule: None,
    };
    let evidence = who(cause, findings);
    let where_ = paths(findings);
    if findings
        .iter()
        .any(|f| f.change == ChangeKind::MissingResource)
    {
        return advise(
            Recommendation::Reconcile,
            Severity::High,
            "The resource is declared in Git but was not found in the live state, so the cluster is missing it.".into(),
        );
    }
    if out_of_band(cause, findings) && findings.iter().any(|f| is_security_sensitive(f)) {
        return advise(
            Recommendation::Investigate,
            Severity::Critical,
            format!(
                "Security-sensitive fields ({where_}) differ from Git outside the applier, and {evidence}."
            ),
        );
    }
    if findings.iter().all(|f| is_replicas(f)) && findings.iter().all(|f| is_autoscaler(f)) {
        let manager = match cause {
            Cause::Manager(m) => m.clone(),
            _ => String::new(),
        };
        let mut a = advise(
            Recommendation::Ignore,
            Severity::Low,
            format!(
                "spec.replicas is owned by an autoscaler ({evidence}), which is expected to change it."
            ),
        );
        a.suggested_rule = Some(format!("match: spec.replicas, managed_by: {manager}"));
        return a;
    }
    if by_person(cause)
        && findings
            .iter()
            .any(|f| in_container(f, &["image", "command", "args", "env"]) || is_whole_container(f))
    {
        return advise(
            Recommendation::Investigate,
            Severity::High,
            format!(
                "Workload code or configuration ({where_}) differs from Git and {evidence}, a person's tool or no recorded owner."
            ),
        );
    }
    if by_person(cause) && findings.iter().any(|f| is_replicas(f) || is_resources(f)) {
        return advise(
            Recommendation::Investigate,
            Severity::Medium,
            format!(
                "Capacity settings ({where_}) differ from Git and {evidence}, a person's tool or no recorded owner."
            ),
        );
    }
    if *cause == Cause::RemovedFromGit {
        return advise(
            Recommendation::Reconcile,
            Severity::Medium,
            format!(
                "Entries ({where_}) are no longer in Git but are still live, and the applier still owns them, so they were removed from Git without being pruned."
            ),
        );
    }
    if findings.iter().all(|f| is_metadata_map(f)) {
        return advise(
            Recommendation::Monitor,
            Severity::Low,
            format!("Only labels or annotations differ ({where_}), and {evidence}."),
        );
    }
    advise(
        Recommendation::Investigate,
        Severity::Medium,
        format!("Fields ({where_}) differ from Git and {evidence}."),
    )
}

/// Refines each incident's advice with its findings' attribution, once audit events graded
/// it: a change observed from a person (an `observed-*` grade whose request acted as a
/// user, not a service account, controller or node) is worth investigating, critical on a
/// security-sensitive field, and the rationale says which event showed it. Nothing changes
/// for weaker grades: a window or a time match is not an observed change.
pub fn refine_with_attribution(
    analysis: &mut crate::analysis::Analysis,
    attribution_of: impl Fn(&Finding) -> Option<crate::wire::Attribution>,
) {
    let crate::analysis::Analysis {
        findings,
        incidents,
        ..
    } = analysis;
    for incident in incidents.iter_mut() {
        let mut observed: Option<(&Finding, crate::wire::AttributedEvent)> = None;
        for finding in incident.findings.iter().filter_map(|i| findings.get(*i)) {
            let Some(event) = attribution_of(finding).and_then(person_observed) else {
                continue;
            };
            // A security-sensitive field is the one worth naming.
            let better = observed
                .as_ref()
                .is_none_or(|(f, _)| !is_security_sensitive(f) && is_security_sensitive(finding));
            if better {
                observed = Some((finding, event));
            }
        }
        let Some((finding, event)) = observed else {
            continue;
        };
        let sensitive = is_security_sensitive(finding);
        if matches!(
            incident.recommendation,
            Recommendation::Ignore | Recommendation::Monitor
        ) {
            incident.recommendation = Recommendation::Investigate;
            incident.suggested_rule = None;
        }
        let floor = if sensitive {
            Severity::Critical
        } else {
            Severity::Medium
        };
        if incident.severity < floor {
            incident.severity = floor;
        }
        let person = match &event.impersonated {
            Some(as_user) => format!("{as_user} (impersonated by {})", event.username),
            None => event.username.clone(),
        };
        incident.rationale = format!(
            "{} A Kubernetes audit event shows a person, {person}, setting {}{} with {} at {}, so \
             it is investigated{}.",
            incident.rationale,
            finding.path_text,
            if sensitive {
                " (security-sensitive)"
            } else {
                ""
            },
            event.verb,
            event.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            if sensitive { " as critical" } else { "" }
        );
    }
}

/// The event an `observed-*` attribution rests on, when the request acted as a person.
fn person_observed(attribution: crate::wire::Attribution) -> Option<crate::wire::AttributedEvent> {
    use crate::wire::{ActorKind, AttributionGrade};
    if !matches!(
        attribution.grade,
        AttributionGrade::ObservedChange | AttributionGrade::ObservedSet
    ) {
        return None;
    }
    let event = attribution.events.into_iter().last()?;
    let acted_as = event.impersonated_kind.unwrap_or(event.actor_kind);
    (acted_as == ActorKind::User).then_some(event)
}
