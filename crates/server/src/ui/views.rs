//! What the pages show, built from the API's wire types: every string that came from a
//! cluster, Git or a user made visible (`shown`), times as dates with their age, enums as
//! the words the API uses. Templates only lay these out.

use chrono::{DateTime, Utc};
use statesight_core::terminal::escape_for_terminal;
use statesight_core::wire::{
    AnalysisRun, Application, AttributionGrade, Finding, IgnoreRule, Incident, LiveMethod,
    ObservedAtSource, ResourceIdentity, RunStatus, Severity, SuppressedFinding, TimelineEvent,
};
use uuid::Uuid;

/// `text` with controls, escape introducers, bidi controls and zero-width characters made
/// visible as `\u{…}`: an HTML page cannot be driven by them, but a bidi override could
/// still disguise what it shows. The template then escapes it for HTML.
pub fn shown(text: &str) -> String {
    escape_for_terminal(text).into_owned()
}

/// `2026-11-30 09:15 UTC`, and how long ago.
pub struct When {
    pub iso: String,
    pub text: String,
    pub ago: String,
}

impl When {
    pub fn new(now: DateTime<Utc>, at: DateTime<Utc>) -> When {
        When {
            iso: at.to_rfc3339(),
            text: at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ago: ago(now, at),
        }
    }
}

fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds().max(0);
    match seconds {
        0..=59 => String::from("just now"),
        60..=3599 => format!("{}m ago", seconds / 60),
        3600..=86_399 => format!("{}h ago", seconds / 3600),
        _ => format!("{}d ago", seconds / 86_400),
    }
}

pub fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
    }
}

pub fn resource_label(resource: &ResourceIdentity) -> String {
    let place = if resource.namespace.is_empty() {
        shown(&resource.name)
    } else {
        format!("{}/{}", shown(&resource.namespace), shown(&resource.name))
    };
    format!("{} {place}", shown(&resource.kind))
}

/// Text of several lines: each line made visible, the line breaks kept (a `<pre>` shows
/// them; a carriage return still shows as `\u{d}`).
fn shown_lines(text: &str) -> String {
    text.split('\n').map(shown).collect::<Vec<_>>().join("\n")
}

/// A JSON value as indented text (pretty JSON), `(absent)` when that side has none.
fn value_text(value: Option<&serde_json::Value>) -> String {
    match value {
        None => String::from("(absent)"),
        Some(serde_json::Value::String(text)) => shown_lines(text),
        Some(other) => shown_lines(&serde_json::to_string_pretty(other).unwrap_or_default()),
    }
}

pub struct ApplicationRow {
    pub id: Uuid,
    pub name: String,
    pub cluster: String,
    pub namespace: String,
    pub source: String,
    pub revision: String,
    pub run: String,
    pub run_class: &'static str,
    pub open: i64,
    pub highest: &'static str,
}

impl ApplicationRow {
    pub fn new(application: &Application, now: DateTime<Utc>) -> ApplicationRow {
        let run = application.latest_run.as_ref();
        ApplicationRow {
            id: application.id,
            name: shown(&application.name),
            cluster: shown(&application.cluster.name),
            namespace: shown(&application.default_namespace),
            source: shown(&application.source.name),
            revision: run
                .and_then(|r| r.resolved_revision.as_deref())
                .map(|r| shown(&r.chars().take(12).collect::<String>()))
                .unwrap_or_default(),
            run: run.map_or_else(
                || String::from("never analysed"),
                |r| {
                    format!(
                        "{} {}",
                        r.status.as_str(),
                        ago(now, r.finished_at.unwrap_or(r.queued_at))
                    )
                },
            ),
            run_class: run.map_or("", |r| run_class(r.status)),
            open: application.open_incident_count,
            highest: application.highest_open_severity.map_or("", severity_word),
        }
    }
}

pub fn run_class(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "ok",
        RunStatus::Failed => "failed",
        RunStatus::Queued | RunStatus::Running => "pending",
    }
}

pub struct IncidentRow {
    pub id: Uuid,
    pub severity: &'static str,
    pub title: String,
    pub application: String,
    pub application_id: Uuid,
    pub recommendation: &'static str,
    pub status: &'static str,
    pub findings: i32,
    pub seen: When,
}

impl IncidentRow {
    pub fn new(incident: &Incident, now: DateTime<Utc>) -> IncidentRow {
        IncidentRow {
            id: incident.id,
            severity: severity_word(incident.severity),
            title: shown(&incident.title),
            application: shown(&incident.application.name),
            application_id: incident.application.id,
            recommendation: incident.recommendation.as_str(),
            status: incident.status.as_str(),
            findings: incident.finding_count,
            seen: When::new(now, incident.last_seen_at),
        }
    }
}

pub struct RunRow {
    pub status: &'static str,
    pub class: &'static str,
    pub revision: String,
    pub trigger: &'static str,
    pub queued: When,
    pub findings: String,
    pub incidents: String,
    pub error: String,
    pub warnings: usize,
}

impl RunRow {
    pub fn new(run: &AnalysisRun, now: DateTime<Utc>) -> RunRow {
        let count = |n: Option<i32>| n.map_or_else(|| String::from("—"), |n| n.to_string());
        RunRow {
            status: run.status.as_str(),
            class: run_class(run.status),
            revision: run
                .resolved_revision
                .as_deref()
                .or(run.requested_revision.as_deref())
                .map(|r| shown(&r.chars().take(12).collect::<String>()))
                .unwrap_or_default(),
            trigger: run.trigger.as_str(),
            queued: When::new(now, run.queued_at),
            findings: count(run.finding_count),
            incidents: count(run.incident_count),
            error: run.error.as_deref().map(shown).unwrap_or_default(),
            warnings: run.warnings.len(),
        }
    }
}

pub struct SuppressedRow {
    pub rule: String,
    pub reason: String,
    pub scope: &'static str,
    pub rule_deleted: bool,
    pub resource: String,
    pub path: String,
    pub live: String,
    pub observed: When,
}

impl SuppressedRow {
    pub fn new(finding: &SuppressedFinding, now: DateTime<Utc>) -> SuppressedRow {
        SuppressedRow {
            rule: shown(&finding.rule.name),
            reason: shown(&finding.rule.reason),
            scope: finding.rule.scope.as_str(),
            rule_deleted: finding.rule.id.is_none(),
            resource: resource_label(&finding.resource),
            path: shown(&finding.path),
            live: value_text(finding.live.as_ref()),
            observed: When::new(now, finding.observed_at),
        }
    }
}

pub struct RuleRow {
    pub name: String,
    pub expression: String,
    pub resource_ref: String,
    pub managed_by: String,
    pub reason: String,
    pub enabled: bool,
    pub read_only: bool,
}

impl RuleRow {
    pub fn new(rule: &IgnoreRule) -> RuleRow {
        RuleRow {
            name: shown(&rule.name),
            expression: shown(&rule.match_expression),
            resource_ref: rule.resource_ref.as_deref().map(shown).unwrap_or_default(),
            managed_by: rule.managed_by.as_deref().map(shown).unwrap_or_default(),
            reason: shown(&rule.reason),
            enabled: rule.enabled,
            read_only: rule.read_only,
        }
    }
}

pub struct OwnerLine {
    pub manager: String,
    pub detail: String,
}

/// One finding with everything it rests on.
pub struct FindingView {
    pub anchor: String,
    pub resource: String,
    pub api_version: String,
    pub path: String,
    pub change: &'static str,
    pub desired: String,
    pub live: String,
    pub secret: bool,
    pub repository: String,
    pub git_ref: String,
    pub source_path: String,
    pub file: String,
    pub revision: String,
    pub committed: Option<When>,
    pub trusted: bool,
    pub method: &'static str,
    pub cluster: String,
    pub context: String,
    pub observed: When,
    pub observed_from: &'static str,
    pub owners: Vec<OwnerLine>,
    pub ownership_note: String,
    /// The worker's note already says ownership is not proof of cause.
    pub note_has_caveat: bool,
    pub grade: &'static str,
    pub attributed: bool,
    pub attribution_reason: String,
    /// The audit events the grade rests on.
    pub audit_events: Vec<AuditEventLine>,
    /// "Since when, in Git": the commit line, or why it is not known; empty when not
    /// looked up.
    pub since: Option<SinceLine>,
}

/// An audit event under a finding's attribution, every string neutralized.
pub struct AuditEventLine {
    pub at: When,
    /// `alice@acme.example (user)`, or `bob (user), impersonated by system:admin (system)`.
    pub who: String,
    pub verb: String,
    pub agent: String,
    pub from: String,
    pub field_manager: String,
    /// `set "12000" (was "3000")`, empty when the request's body shows no value.
    pub set: String,
}

/// The commit that set Git's value.
pub struct SinceLine {
    pub determined: bool,
    pub commit: String,
    pub author: String,
    pub at: Option<When>,
    pub subject: String,
    pub reason: String,
}

impl AuditEventLine {
    fn new(event: &statesight_core::wire::AttributedEvent, now: DateTime<Utc>) -> AuditEventLine {
        let who = match &event.impersonated {
            Some(as_user) => format!(
                "{} ({}), impersonated by {} ({})",
                shown(as_user),
                event.impersonated_kind.map_or("unknown", |k| k.as_str()),
                shown(&event.username),
                event.actor_kind.as_str()
            ),
            None => format!("{} ({})", shown(&event.username), event.actor_kind.as_str()),
        };
        let compact = |value: &serde_json::Value| -> String {
            let text = shown(&value.to_string());
            if text.chars().count() > 120 {
                format!("{}…", text.chars().take(120).collect::<String>())
            } else {
                text
            }
        };
        let set = match (&event.value_set, &event.value_before) {
            (Some(set), Some(before)) => format!("set {} (was {})", compact(set), compact(before)),
            (Some(set), None) => format!("set {}", compact(set)),
            _ => String::new(),
        };
        AuditEventLine {
            at: When::new(now, event.at),
            who,
            verb: match &event.subresource {
                Some(sub) => format!("{} {}", shown(&event.verb), shown(sub)),
                None => shown(&event.verb),
            },
            agent: event.user_agent.as_deref().map(shown).unwrap_or_default(),
            from: event
                .source_ips
                .iter()
                .map(|ip| shown(ip))
                .collect::<Vec<_>>()
                .join(", "),
            field_manager: event
                .field_manager
                .as_deref()
                .map(shown)
                .unwrap_or_default(),
            set,
        }
    }
}

impl SinceLine {
    fn new(since: &statesight_core::wire::DesiredSince, now: DateTime<Utc>) -> SinceLine {
        match since {
            statesight_core::wire::DesiredSince::Determined {
                commit,
                author_name,
                author_email,
                authored_at,
                subject,
            } => SinceLine {
                determined: true,
                commit: shown(commit),
                author: format!("{} <{}>", shown(author_name), shown(author_email)),
                at: Some(When::new(now, *authored_at)),
                subject: shown(subject),
                reason: String::new(),
            },
            statesight_core::wire::DesiredSince::NotDetermined { reason } => SinceLine {
                determined: false,
                commit: String::new(),
                author: String::new(),
                at: None,
                subject: String::new(),
                reason: shown(reason),
            },
        }
    }
}

impl FindingView {
    pub fn new(finding: &Finding, now: DateTime<Utc>) -> FindingView {
        let evidence = &finding.evidence;
        let desired = &evidence.desired;
        let live = &evidence.live;
        let note = shown(&evidence.ownership.note);
        FindingView {
            anchor: format!("f-{}", finding.id.simple()),
            resource: resource_label(&finding.resource),
            api_version: shown(&finding.resource.api_version),
            path: if finding.path.is_empty() {
                String::from("(the whole resource)")
            } else {
                shown(&finding.path)
            },
            change: finding.change.as_str(),
            desired: value_text(finding.desired.as_ref()),
            live: value_text(finding.live.as_ref()),
            secret: finding.resource.kind == "Secret" && finding.resource.group.is_empty(),
            repository: shown(&desired.repository),
            git_ref: shown(&desired.git_ref),
            source_path: desired
                .source_path
                .as_deref()
                .map(shown)
                .unwrap_or_default(),
            file: match (&desired.file, desired.document) {
                (Some(file), Some(document)) => format!("{} (document {document})", shown(file)),
                (Some(file), None) => shown(file),
                _ => String::new(),
            },
            revision: shown(&desired.revision),
            committed: desired.committed_at.map(|at| When::new(now, at)),
            trusted: live.trusted && live.method != LiveMethod::Synthetic,
            method: live.method.as_str(),
            cluster: shown(&live.cluster),
            context: live.context.as_deref().map(shown).unwrap_or_default(),
            observed: When::new(now, live.observed_at),
            observed_from: match live.observed_at_source {
                Some(ObservedAtSource::Collector) => {
                    "the collector's clock when it read the cluster"
                }
                Some(ObservedAtSource::CaptureFile) => "the snapshot's capture.json",
                Some(ObservedAtSource::FileTimes) => {
                    "the snapshot files' modification times (approximate)"
                }
                Some(ObservedAtSource::Watch) => {
                    "the cluster's watch: the last moment it was known connected and in sync"
                }
                None => "not recorded",
            },
            owners: finding
                .owners
                .iter()
                .map(|owner| {
                    let mut detail = shown(&owner.operation);
                    if let Some(subresource) = &owner.subresource {
                        detail.push_str(&format!(", subresource {}", shown(subresource)));
                    }
                    if let Some(time) = &owner.time {
                        detail.push_str(&format!(", at {}", shown(time)));
                    }
                    if let Some(role) = owner.role {
                        detail.push_str(&format!(", {}", role.as_str()));
                    }
                    OwnerLine {
                        manager: shown(&owner.manager),
                        detail,
                    }
                })
                .collect(),
            note_has_caveat: note.contains("not proof"),
            ownership_note: note,
            grade: evidence.attribution.grade.as_str(),
            attributed: evidence.attribution.grade != AttributionGrade::NotAttributed,
            attribution_reason: shown(&evidence.attribution.reason),
            audit_events: evidence
                .attribution
                .events
                .iter()
                .map(|event| AuditEventLine::new(event, now))
                .collect(),
            since: desired
                .since
                .as_ref()
                .map(|since| SinceLine::new(since, now)),
        }
    }
}

pub struct TimelineRow {
    pub at: When,
    pub kind: &'static str,
    pub summary: String,
}

impl TimelineRow {
    pub fn new(event: &TimelineEvent, now: DateTime<Utc>) -> TimelineRow {
        TimelineRow {
            at: When::new(now, event.occurred_at),
            kind: event.kind.as_str(),
            summary: shown(&event.summary),
        }
    }
}
