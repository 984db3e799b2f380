//! The incident screen and the rule editor: their transitions (`update`, pure) and what
//! they look like (`TestBackend` snapshots at 80×24 and 160×48): a synthetic-state
//! incident, a finding without ownership, a Secret finding (digest only), hostile strings,
//! the live preview of a rule as its expression is typed, the server's refusal shown at
//! the field, and the rules tab's confirmations.

use chrono::Duration;
use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use serde_json::{Value, json};
use statesight_core::diff::{ChangeKind, OwnerRole};
use statesight_core::wire::{
    Application, ApplicationRulePreview, Attribution, AttributionGrade, DesiredEvidence, Evidence,
    Finding, IgnoreRuleInput, Incident, LiveEvidence, LiveMethod, ObservedAtSource, Owner,
    Ownership, ResourceIdentity, Role, TimelineEvent, TimelineKind, WorkspaceRulePreview,
};
use statesight_tui::client::ClientError;
use statesight_tui::console::app::{App, Cmd, Confirmed, Msg, Overlay, Screen, update};
use statesight_tui::console::appscreen::Tab;
use statesight_tui::console::incident::{DiffMode, Focus};
use statesight_tui::console::theme::Depth;
use uuid::Uuid;

use super::fixtures::*;

const SMALL: (u16, u16) = (80, 24);
const LARGE: (u16, u16) = (160, 48);

/// How a fixture finding was observed.
#[derive(Clone, Copy, PartialEq)]
enum Observed {
    /// From a cluster, with managedFields.
    Cluster,
    /// A snapshot captured without managedFields: ownership unknown.
    NoManagedFields,
    /// Made up from Git for a demo.
    Synthetic,
}

struct FindingSpec<'a> {
    id: u128,
    kind: &'a str,
    group: &'a str,
    name: &'a str,
    path: &'a str,
    desired: Option<Value>,
    live: Option<Value>,
    owners: &'a [&'a str],
    observed: Observed,
}

fn finding(incident: &Incident, spec: &FindingSpec<'_>) -> Finding {
    let owners: Vec<Owner> = spec
        .owners
        .iter()
        .map(|manager| Owner {
            manager: (*manager).to_owned(),
            operation: String::from("Update"),
            subresource: None,
            time: Some(String::from("2026-11-30T09:15:00Z")),
            role: Some(OwnerRole::Other),
        })
        .collect();
    let note = match (spec.observed, owners.is_empty()) {
        (Observed::NoManagedFields, _) => {
            "the live state carries no managedFields (e.g. a snapshot taken without --show-managed-fields): ownership is unknown, not absent"
        }
        (_, true) => "no managedFields entry owns this path",
        (_, false) => {
            "managedFields ownership is evidence of who last wrote or asserted the field, not proof of causation"
        }
    };
    let synthetic = spec.observed == Observed::Synthetic;
    Finding {
        id: Uuid::from_u128(spec.id),
        incident_id: incident.id,
        run_id: None,
        resource: ResourceIdentity {
            api_version: if spec.group.is_empty() {
                String::from("v1")
            } else {
                format!("{}/v1", spec.group)
            },
            group: spec.group.to_owned(),
            kind: spec.kind.to_owned(),
            namespace: incident.resource.namespace.clone(),
            name: spec.name.to_owned(),
        },
        path: spec.path.to_owned(),
        change: ChangeKind::Changed,
        desired: spec.desired.clone(),
        live: spec.live.clone(),
        owners: owners.clone(),
        evidence: Evidence {
            desired: DesiredEvidence {
                repository: String::from("https://git.example.com/acme/checkout-deploy.git"),
                git_ref: String::from("main"),
                source_path: Some(String::from("k8s/staging")),
                file: Some(String::from("k8s/staging/deployment.yaml")),
                document: Some(1),
                revision: String::from("0bfa65f22a770e361338d22737d1d8a9948e1ec6"),
                committed_at: Some(now() - Duration::days(2)),
                since: None,
            },
            live: LiveEvidence {
                method: if synthetic {
                    LiveMethod::Synthetic
                } else {
                    LiveMethod::Snapshot
                },
                cluster: String::from("staging-eu-1"),
                cluster_id: None,
                observed_at: now() - Duration::minutes(30),
                observed_at_source: Some(if synthetic {
                    ObservedAtSource::Collector
                } else {
                    ObservedAtSource::CaptureFile
                }),
                context: Some(String::from("staging-eu-1")),
                trusted: !synthetic,
            },
            ownership: Ownership {
                owners,
                note: note.to_owned(),
            },
            attribution: Attribution {
                grade: AttributionGrade::NotAttributed,
                reason: String::from("no Kubernetes audit events were ingested for this cluster"),
                events: Vec::new(),
            },
        },
        observed_at: now() - Duration::minutes(30),
    }
}

fn checkout(applications: &[Application]) -> &Application {
    applications
        .iter()
        .find(|a| a.name == "checkout-api")
        .expect("a fixture application")
}

/// The checkout-api incident the screens open, and its findings: a changed env value
/// owned by kubectl-edit, an image, a field without ownership (no managedFields), a
/// Secret digest, and the hostile example's strings.
fn scenario(applications: &[Application], observed: Observed) -> (Incident, Vec<Finding>) {
    let application = checkout(applications);
    let mut incident = incident(&IncidentSpec {
        id: 0x9001,
        application,
        severity: statesight_core::wire::Severity::High,
        title: "Deployment checkout/checkout-api: 2 fields changed by kubectl-edit",
        kind: "Deployment",
        name: "checkout-api",
        manager: "kubectl-edit",
        recommendation: statesight_core::wire::Recommendation::Investigate,
        minutes_ago: 30,
    });
    incident.rationale = String::from(
        "Workload configuration differs from Git and managedFields record kubectl-edit as owner.",
    );
    let specs = [
        FindingSpec {
            id: 0xf001,
            kind: "Deployment",
            group: "apps",
            name: "checkout-api",
            path: "spec.template.spec.containers[name=checkout-api].env[name=PAYMENT_TIMEOUT_MS].value",
            desired: Some(json!("3000")),
            live: Some(json!("12000")),
            owners: &["kubectl-edit"],
            observed,
        },
        FindingSpec {
            id: 0xf002,
            kind: "Deployment",
            group: "apps",
            name: "checkout-api",
            path: "spec.template.spec.containers[name=checkout-api].image",
            desired: Some(json!("registry.example.com/checkout-api:1.4.2")),
            live: Some(json!("registry.example.com/checkout-api:1.4.3-hotfix")),
            owners: &["kubectl-edit"],
            observed,
        },
        FindingSpec {
            id: 0xf003,
            kind: "Deployment",
            group: "apps",
            name: "checkout-api",
            path: "spec.template.spec.containers[name=checkout-api].resources",
            desired: Some(json!({"requests": {"cpu": "250m", "memory": "256Mi"}})),
            live: Some(
                json!({"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"cpu": "2"}}),
            ),
            owners: &[],
            observed: Observed::NoManagedFields,
        },
        FindingSpec {
            id: 0xf004,
            kind: "Secret",
            group: "",
            name: "checkout-credentials",
            path: "data.API_KEY",
            desired: Some(json!(
                "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            )),
            live: Some(json!(
                "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
            )),
            owners: &["helm"],
            observed,
        },
        FindingSpec {
            id: 0xf005,
            kind: "ConfigMap",
            group: "",
            name: "render-fixtures",
            path: "data.sgr-colors",
            desired: Some(json!("plain")),
            live: Some(json!(
                "\u{1b}[31mred\u{1b}[0m \u{1b}]52;c;ZXZpbA==\u{7} a\u{202e}b <script>x</script>"
            )),
            owners: &["ops\u{1b}[2Jtool"],
            observed,
        },
    ];
    let findings = specs.iter().map(|spec| finding(&incident, spec)).collect();
    (incident, findings)
}

fn timeline(incident: &Incident) -> Vec<TimelineEvent> {
    let event = |n: u128, minutes: i64, kind: TimelineKind, summary: &str| TimelineEvent {
        id: Uuid::from_u128(0x7000 + n),
        incident_id: incident.id,
        run_id: None,
        occurred_at: now() - Duration::minutes(minutes),
        kind,
        summary: summary.to_owned(),
        details: serde_json::Map::new(),
    };
    vec![
        event(
            1,
            2880,
            TimelineKind::GitRevision,
            "analysed Git revision 0bfa65f",
        ),
        event(
            2,
            1500,
            TimelineKind::ManagedFieldsTime,
            "kubectl-edit wrote the fields (Update)",
        ),
        event(3, 120, TimelineKind::FirstSeen, "first seen"),
        event(4, 30, TimelineKind::Reobserved, "seen again"),
    ]
}

/// Answers the incident screen's requests with `incident`, `findings` (in pages of
/// `per_page`) and its timeline.
fn answer_incident(
    app: &mut App,
    commands: Vec<Cmd>,
    incident: &Incident,
    findings: &[Finding],
    per_page: usize,
) {
    let mut queue = commands;
    while let Some(command) = queue.pop() {
        let msg = match command {
            Cmd::FetchIncident { seq, .. } => Msg::Incident {
                seq,
                result: Ok(reply(incident.clone())),
            },
            Cmd::FetchTimeline { seq, .. } => Msg::Timeline {
                seq,
                result: Ok(reply(timeline(incident))),
            },
            Cmd::FetchFindings { seq, cursor, .. } => {
                let start: usize = cursor.as_deref().map_or(0, |c| c.parse().expect("cursor"));
                let end = (start + per_page).min(findings.len());
                let data = findings[start..end].to_vec();
                let result = if end < findings.len() {
                    Ok(page(data, &end.to_string()))
                } else {
                    Ok(reply(data))
                };
                Msg::Findings {
                    seq,
                    first: cursor.is_none(),
                    result,
                }
            }
            _ => continue,
        };
        queue.extend(update(app, msg));
    }
}

/// An app on the incident screen of the checkout-api scenario, opened from the workspace's
/// Incidents screen.
fn incident_app(depth: Depth, size: (u16, u16), observed: Observed) -> (App, Vec<Finding>) {
    let mut app = new_app(depth, size);
    let applications = applications();
    let mut incidents = incidents(&applications);
    let (incident, findings) = scenario(&applications, observed);
    incidents.push(incident.clone());
    load(&mut app, applications, incidents);
    let commands = app.open_incident(incident.id, &incident.title);
    answer_incident(&mut app, commands, &incident, &findings, 2);
    (app, findings)
}

fn screen_text(app: &App) -> String {
    text(render(app).backend().buffer())
}

fn snapshot(name: &str, app: &App) -> Buffer {
    let terminal = render(app);
    let buffer = terminal.backend().buffer().clone();
    insta::assert_snapshot!(name, text(&buffer));
    for (index, cell) in buffer.content.iter().enumerate() {
        for c in cell.symbol().chars() {
            assert!(
                !statesight_core::terminal::is_control_or_invisible(c),
                "cell {index} holds {c:?}"
            );
        }
    }
    buffer
}

fn select(app: &mut App, finding: usize) {
    update(app, key(KeyCode::Char('g')));
    for _ in 0..finding {
        update(app, key(KeyCode::Char('j')));
    }
}

#[test]
fn incident_screen_80x24_and_160x48() {
    for (size, label) in [(SMALL, "80x24"), (LARGE, "160x48")] {
        let (app, _) = incident_app(Depth::Ansi256, size, Observed::Cluster);
        let screen = snapshot(&format!("incident_{label}"), &app);
        let text = text(&screen);
        assert!(text.contains("Findings 5"), "{text}");
        assert!(text.contains("Desired (Git) → Live (cluster)"), "{text}");
        assert!(text.contains("- \"3000\""), "{text}");
        assert!(text.contains("+ \"12000\""), "{text}");
    }
}

#[test]
fn stacked_below_100_columns_and_side_by_side_above() {
    let (narrow, _) = incident_app(Depth::Ansi256, (99, 40), Observed::Cluster);
    let text = screen_text(&narrow);
    let findings_row = text
        .lines()
        .position(|l| l.contains("─ Findings"))
        .expect("findings");
    let evidence_row = text
        .lines()
        .position(|l| l.contains("─ Evidence"))
        .expect("evidence");
    assert!(evidence_row > findings_row, "stacked:\n{text}");
    let (wide, _) = incident_app(Depth::Ansi256, (100, 40), Observed::Cluster);
    let text = screen_text(&wide);
    let line = text
        .lines()
        .find(|l| l.contains("─ Findings"))
        .expect("findings");
    assert!(line.contains("─ Evidence"), "side by side:\n{text}");
}

#[test]
fn evidence_shows_provenance_trust_ownership_attribution_and_timeline() {
    let (mut app, _) = incident_app(Depth::Ansi256, (120, 200), Observed::Cluster);
    let text = screen_text(&app);
    for needle in [
        "Repository https://git.example.com/acme/checkout-deploy.git",
        "Commit     0bfa65f22a770e361338d22737d1d8a9948e1ec6",
        "File       k8s/staging/deployment.yaml (document 1)",
        "TRUSTED: read from the cluster",
        "Method     snapshot",
        "capture time the snapshot's capture.json records",
        "kubectl-edit (Update) at 2026-11-30T09:15:00Z",
        "not proof of causation",
        "Grade      not-attributed",
        "no Kubernetes audit events were ingested",
        "Action     investigate",
        "first seen",
        "kubectl-edit wrote the fields",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    assert!(!text.contains("SYNTHETIC"), "{text}");
    // The field without managedFields says ownership is unknown, not absent.
    select(&mut app, 2);
    let text = screen_text(&app);
    assert!(text.contains("no owner recorded for this field"), "{text}");
    assert!(text.contains("ownership is unknown, not absent"), "{text}");
    // The Secret shows digests and says so.
    select(&mut app, 3);
    let text = screen_text(&app);
    // The digest wraps in the pane; both of its parts are there.
    assert!(
        text.contains("- sha256:9f86d081884c7d659a2feaa0c55ad015"),
        "{text}"
    );
    assert!(text.contains("b0f00a08"), "{text}");
    assert!(text.contains("the Secret's contents"), "{text}");
}

#[test]
fn synthetic_state_is_unmistakable_80x24_and_160x48() {
    for (size, label) in [(SMALL, "80x24"), (LARGE, "160x48")] {
        let (mut app, _) = incident_app(Depth::Ansi256, size, Observed::Synthetic);
        // The badge is in the evidence pane: scroll to it.
        update(&mut app, key(KeyCode::Tab));
        for _ in 0..12 {
            update(&mut app, key(KeyCode::Char('j')));
        }
        let screen = snapshot(&format!("incident_synthetic_{label}"), &app);
        let text = text(&screen);
        assert!(
            text.contains("SYNTHETIC — NOT OBSERVED FROM A CLUSTER; NEVER TRUSTED"),
            "{text}"
        );
    }
}

#[test]
fn a_finding_without_ownership_and_a_secret_80x24_and_160x48() {
    for (size, label) in [(SMALL, "80x24"), (LARGE, "160x48")] {
        let (mut app, _) = incident_app(Depth::Mono, size, Observed::Cluster);
        select(&mut app, 2);
        update(&mut app, key(KeyCode::Tab));
        for _ in 0..30 {
            update(&mut app, key(KeyCode::Char('j')));
        }
        snapshot(&format!("incident_no_ownership_{label}"), &app);
        select_in_findings(&mut app, 3);
        snapshot(&format!("incident_secret_{label}"), &app);
    }
}

/// Back to the findings table and onto `finding`.
fn select_in_findings(app: &mut App, finding: usize) {
    if app
        .incident
        .as_ref()
        .is_some_and(|s| s.focus == Focus::Evidence)
    {
        update(app, key(KeyCode::Tab));
    }
    select(app, finding);
}

#[test]
fn hostile_strings_are_drawn_inert_80x24_and_160x48() {
    for (size, label) in [(SMALL, "80x24"), (LARGE, "160x48")] {
        let (mut app, _) = incident_app(Depth::Ansi256, size, Observed::Cluster);
        select(&mut app, 4);
        let screen = snapshot(&format!("incident_hostile_{label}"), &app);
        let text = text(&screen);
        assert!(text.contains("\\u{1b}[31mred"), "{text}");
        update(&mut app, key(KeyCode::Char('v')));
        let text = screen_text(&app);
        assert!(text.contains("side by side"), "{text}");
        assert!(text.contains("\\u{1b}"), "{text}");
    }
}

#[test]
fn findings_page_in_the_background_and_the_cursor_follows_its_finding() {
    let (mut app, findings) = incident_app(Depth::Ansi256, SMALL, Observed::Cluster);
    let screen = app.incident.as_ref().expect("incident screen");
    assert_eq!(screen.findings.len(), 5, "every page arrived");
    assert!(screen.findings_complete);
    select(&mut app, 3);
    let selected = app.incident.as_ref().and_then(|s| s.cursor.id);
    assert_eq!(selected, Some(findings[3].id));
    // A reload where a finding before it is gone keeps the selection on its finding, even
    // though the finding comes on the reload's second page.
    let commands = update(&mut app, key(KeyCode::Char('r')));
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, Cmd::FetchFindings { cursor: None, .. })),
        "{commands:?}"
    );
    let incident = app
        .incident
        .as_ref()
        .and_then(|s| s.incident.clone())
        .expect("incident");
    let mut fewer = findings.clone();
    fewer.remove(0);
    answer_incident(&mut app, commands, &incident, &fewer, 2);
    let screen = app.incident.as_ref().expect("incident screen");
    assert_eq!(screen.findings.len(), 4);
    assert_eq!(screen.cursor.id, Some(findings[3].id));
    assert_eq!(screen.cursor.position, 2);
}

#[test]
fn a_stale_page_for_another_incident_is_dropped() {
    let (mut app, findings) = incident_app(Depth::Ansi256, SMALL, Observed::Cluster);
    let commands = update(&mut app, key(KeyCode::Char('r')));
    let seq = commands
        .iter()
        .find_map(|c| match c {
            Cmd::FetchFindings { seq, .. } => Some(*seq),
            _ => None,
        })
        .expect("a findings request");
    update(&mut app, key(KeyCode::Esc));
    assert!(app.incident.is_none(), "leaving forgets the screen");
    assert!(
        update(
            &mut app,
            Msg::Findings {
                seq,
                first: true,
                result: Ok(reply(findings)),
            },
        )
        .is_empty()
    );
}

#[test]
fn focus_scroll_diff_mode_and_copy() {
    let (mut app, findings) = incident_app(Depth::Ansi256, SMALL, Observed::Cluster);
    update(&mut app, key(KeyCode::Tab));
    assert_eq!(
        app.incident.as_ref().map(|s| s.focus),
        Some(Focus::Evidence)
    );
    update(&mut app, key(KeyCode::Char('j')));
    update(&mut app, key(KeyCode::Char('j')));
    assert_eq!(app.incident.as_ref().map(|s| s.scroll), Some(2));
    // The findings cursor did not move.
    assert_eq!(app.incident.as_ref().map(|s| s.cursor.position), Some(0));
    // The scroll stops at the last page of the pane.
    update(&mut app, key(KeyCode::Char('G')));
    let total = app.evidence_line_count();
    let scroll = app.incident.as_ref().map_or(0, |s| s.scroll);
    assert!(scroll > 0 && scroll < total, "{scroll} of {total}");
    update(&mut app, key(KeyCode::Char('v')));
    assert_eq!(
        app.incident.as_ref().map(|s| s.mode),
        Some(DiffMode::SideBySide)
    );
    assert_eq!(app.incident.as_ref().map(|s| s.scroll), Some(0));
    let commands = update(&mut app, key(KeyCode::Char('y')));
    assert_eq!(
        commands,
        vec![Cmd::Copy {
            text: findings[0].path.clone(),
            what: String::from("path"),
        }]
    );
    let commands = update(&mut app, key(KeyCode::Char('Y')));
    assert_eq!(
        commands,
        vec![Cmd::Copy {
            text: String::from("\"12000\""),
            what: String::from("live value"),
        }]
    );
    update(
        &mut app,
        Msg::Copied {
            what: String::from("path"),
            result: Ok(84),
        },
    );
    assert!(screen_text(&app).contains("copied the path to the clipboard (84 bytes"));
    update(
        &mut app,
        Msg::Copied {
            what: String::from("live value"),
            result: Err(String::from(
                "74996 bytes is over the 74994 bytes terminals accept",
            )),
        },
    );
    assert!(screen_text(&app).contains("copying the live value: 74996 bytes"));
}

#[test]
fn opening_an_incident_from_the_application_screen() {
    let mut app = application_app(Depth::Ansi256, SMALL, "checkout-api");
    let commands = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.screen(), Screen::Incident(_)),
        "{:?}",
        app.screens
    );
    let kinds: Vec<&str> = commands
        .iter()
        .map(|c| match c {
            Cmd::FetchIncident { .. } => "incident",
            Cmd::FetchFindings { .. } => "findings",
            Cmd::FetchTimeline { .. } => "timeline",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["incident", "findings", "timeline"]);
    // Back on the application screen, its tabs are still there.
    press(&mut app, KeyCode::Char('q'));
    assert!(matches!(app.screen(), Screen::Application(_)));
    assert!(app.application.is_some());
    assert!(app.incident.is_none());
}

/// The editor opened with `i` on the first finding, open findings answered.
fn editor_app() -> (App, Vec<Finding>) {
    let (mut app, findings) = incident_app(Depth::Ansi256, LARGE, Observed::Cluster);
    let commands = press(&mut app, KeyCode::Char('i'));
    assert_eq!(app.screen(), Screen::RuleEditor);
    let Some(Cmd::FetchOpenFindings {
        seq,
        id,
        cursor: None,
    }) = commands.first().cloned()
    else {
        panic!("{commands:?}");
    };
    assert_eq!(id, checkout(&applications()).id);
    // Two pages, as the route returns them.
    update(
        &mut app,
        Msg::OpenFindings {
            seq,
            first: true,
            result: Ok(page(findings[..3].to_vec(), "3")),
        },
    );
    update(
        &mut app,
        Msg::OpenFindings {
            seq,
            first: false,
            result: Ok(reply(findings[3..].to_vec())),
        },
    );
    (app, findings)
}

fn preview(app: &App) -> (usize, usize, usize) {
    let editor = app.editor.as_ref().expect("the editor");
    (
        editor.preview.matched.len(),
        editor.preview.undecided.len(),
        editor.preview.tried,
    )
}

fn erase(app: &mut App, count: usize) {
    for _ in 0..count {
        press(app, KeyCode::Backspace);
    }
}

#[test]
fn the_editor_starts_from_the_finding_and_previews_as_the_expression_is_typed() {
    let (mut app, findings) = editor_app();
    let editor = app.editor.as_ref().expect("the editor");
    let input = editor.input();
    assert_eq!(input.match_expression, findings[0].path);
    assert_eq!(
        input.resource_ref.as_deref(),
        Some("apps/Deployment/checkout/checkout-api")
    );
    assert_eq!(preview(&app), (1, 0, 5));
    snapshot("rule_editor_160x48", &app);
    // To the Match field (from Reason: Managed by, Applies to, Match).
    for _ in 0..3 {
        press(&mut app, KeyCode::BackTab);
    }
    // `….value` → `….env` → a parse error → `…[*]`: the count follows every keystroke.
    erase(&mut app, ".value".len());
    assert_eq!(preview(&app), (1, 0, 5));
    erase(&mut app, "[name=PAYMENT_TIMEOUT_MS]".len());
    assert_eq!(
        preview(&app).0,
        1,
        "only the env finding is under the env list"
    );
    erase(&mut app, ".env".len());
    assert_eq!(preview(&app), (3, 0, 5), "the container's three findings");
    erase(&mut app, "[name=checkout-api]".len());
    type_text(&mut app, "[*");
    let editor = app.editor.as_ref().expect("the editor");
    let error = editor.invalid.as_ref().expect("a parse error");
    assert_eq!(
        error.at,
        Some(
            editor
                .text(statesight_tui::console::rule_editor::Field::Expression)
                .chars()
                .count()
        )
    );
    assert!(error.message.contains("expected"), "{}", error.message);
    assert_eq!(preview(&app), (0, 0, 0));
    let text = screen_text(&app);
    assert!(text.contains("the rule does not parse"), "{text}");
    assert!(text.contains('^'), "{text}");
    type_text(&mut app, "]");
    assert_eq!(
        preview(&app),
        (3, 0, 5),
        "three containers findings on this resource"
    );
    // The whole application: the Secret and ConfigMap findings are not under this path.
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(preview(&app), (3, 0, 5));
    press(&mut app, KeyCode::BackTab);
    erase(&mut app, "spec.template.spec.containers[*]".len());
    type_text(&mut app, "data");
    assert_eq!(preview(&app), (2, 0, 5), "the Secret and the ConfigMap");
    // `[0]` on a keyed list: only the next analysis can tell which item is first in Git.
    erase(&mut app, 4);
    type_text(&mut app, "spec.template.spec.containers[0]");
    assert_eq!(preview(&app), (0, 3, 5));
    let text = screen_text(&app);
    assert!(text.contains("depend on list positions in Git"), "{text}");
}

#[test]
fn managed_by_narrows_the_preview_like_the_engine() {
    let (mut app, _) = editor_app();
    for _ in 0..3 {
        press(&mut app, KeyCode::BackTab);
    }
    erase(&mut app, 200);
    type_text(&mut app, "spec");
    assert_eq!(preview(&app), (3, 0, 5));
    // Managed by: two fields below Match.
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "kubectl-edit");
    assert_eq!(
        preview(&app),
        (2, 0, 5),
        "the resources finding has no owner"
    );
}

#[test]
fn saving_sends_the_rule_and_shows_the_servers_refusal_at_the_field() {
    let (mut app, findings) = editor_app();
    // No reason yet: refused before asking the server.
    assert!(update(&mut app, ctrl('s')).is_empty());
    assert!(screen_text(&app).contains("a reason (why this drift is expected) is required"));
    type_text(&mut app, "timeout raised during INC-42");
    let commands = update(&mut app, ctrl('s'));
    let Some(Cmd::SaveRule {
        seq,
        rule: None,
        input,
        application,
    }) = commands.first().cloned()
    else {
        panic!("{commands:?}");
    };
    assert_eq!(application, checkout(&applications()).id);
    assert_eq!(input.match_expression, findings[0].path);
    assert_eq!(input.reason, "timeout raised during INC-42");
    assert!(input.enabled);
    // 409: the name is taken.
    update(
        &mut app,
        Msg::RuleSaved {
            seq,
            result: Err(ClientError::Api {
                status: 409,
                code: String::from("conflict"),
                message: String::from("an ignore rule named \"checkout-api-value\" already exists"),
                request_id: None,
                body: json!({"error": {"code": "conflict", "message": "taken", "details": {"field": "name"}}}),
            }),
        },
    );
    let editor = app.editor.as_ref().expect("still editing");
    let refused = editor.refused.as_ref().expect("refused");
    assert_eq!(
        refused.field,
        statesight_tui::console::rule_editor::Field::Name
    );
    assert!(screen_text(&app).contains("already exists"));
    // A syntax error from the server points at its character.
    let commands = update(&mut app, ctrl('s'));
    let Some(Cmd::SaveRule { seq, .. }) = commands.first().cloned() else {
        panic!("{commands:?}");
    };
    update(
        &mut app,
        Msg::RuleSaved {
            seq,
            result: Err(ClientError::Api {
                status: 422,
                code: String::from("validation_failed"),
                message: String::from("match_expression: expected a field name"),
                request_id: None,
                body: json!({"error": {"details": {"field": "match_expression", "offset": 4, "expected": "a field name", "found": "["}}}),
            }),
        },
    );
    let refused = app
        .editor
        .as_ref()
        .and_then(|e| e.refused.clone())
        .expect("refused");
    assert_eq!(
        refused.field,
        statesight_tui::console::rule_editor::Field::Expression
    );
    assert_eq!(refused.at, Some(4));
    // Saved: back to the incident, with the count the preview showed.
    let commands = update(&mut app, ctrl('s'));
    let Some(Cmd::SaveRule { seq, .. }) = commands.first().cloned() else {
        panic!("{commands:?}");
    };
    let mut saved = ignore_rule(
        checkout(&applications()),
        0x77,
        "checkout-api-value",
        &findings[0].path,
        false,
    );
    saved.reason = String::from("timeout raised during INC-42");
    update(
        &mut app,
        Msg::RuleSaved {
            seq,
            result: Ok(reply(saved)),
        },
    );
    assert!(matches!(app.screen(), Screen::Incident(_)));
    assert!(app.editor.is_none());
    assert!(screen_text(&app).contains("rule \"checkout-api-value\" saved"));
}

#[test]
fn leaving_an_edited_rule_asks_first() {
    let (mut app, _) = editor_app();
    // Untouched: esc leaves at once.
    press(&mut app, KeyCode::Esc);
    assert!(matches!(app.screen(), Screen::Incident(_)));
    let (mut app, _) = editor_app();
    type_text(&mut app, "why");
    press(&mut app, KeyCode::Esc);
    assert!(matches!(app.overlay, Some(Overlay::Confirm(_))));
    assert!(screen_text(&app).contains("lose what you typed"));
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.screen(), Screen::RuleEditor);
    assert_eq!(
        app.editor.as_ref().map(|e| e
            .text(statesight_tui::console::rule_editor::Field::Reason)
            .to_owned()),
        Some(String::from("why"))
    );
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('y'));
    assert!(matches!(app.screen(), Screen::Incident(_)));
    assert!(app.editor.is_none());
}

#[test]
fn letters_are_typed_in_the_editor_not_taken_as_keys() {
    let (mut app, _) = editor_app();
    // `q`, `r`, `?`, `:` would quit, reload, help and open the palette elsewhere.
    let commands = type_text(&mut app, "q r?:j");
    assert!(commands.is_empty(), "{commands:?}");
    assert!(app.overlay.is_none());
    assert_eq!(app.screen(), Screen::RuleEditor);
    let reason = app.editor.as_ref().map(|e| {
        e.text(statesight_tui::console::rule_editor::Field::Reason)
            .to_owned()
    });
    assert_eq!(reason.as_deref(), Some("q r?:j"));
    // A paste is one line with its controls dropped.
    update(&mut app, Msg::Paste(String::from(" and\n\u{1b}[2Jmore")));
    let reason = app.editor.as_ref().map(|e| {
        e.text(statesight_tui::console::rule_editor::Field::Reason)
            .to_owned()
    });
    assert_eq!(reason.as_deref(), Some("q r?:j and [2Jmore"));
}

/// The application screen on its Ignore Rules tab with an application rule selected.
fn rules_tab() -> App {
    let mut app = application_app(Depth::Ansi256, SMALL, "checkout-api");
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(
        app.application.as_ref().map(|s| s.tab),
        Some(Tab::IgnoreRules)
    );
    app
}

fn selected_rule(app: &App) -> (Uuid, bool, bool) {
    let screen = app.application.as_ref().expect("application");
    let row = &screen.rules[screen.cursors[Tab::IgnoreRules.index()].position];
    (row.id, row.enabled, row.read_only)
}

#[test]
fn rules_tab_toggles_and_deletes_after_confirming() {
    let mut app = rules_tab();
    let rows = app.application.as_ref().map_or(0, |s| s.rules.len());
    assert!(
        rows >= 2,
        "the fixture has an application rule and an inherited one"
    );
    let (id, enabled, read_only) = selected_rule(&app);
    assert!(!read_only);
    let commands = press(&mut app, KeyCode::Char(' '));
    let Some(Cmd::EnableRule {
        seq,
        rule,
        enabled: wanted,
        ..
    }) = commands.first().cloned()
    else {
        panic!("{commands:?}");
    };
    assert_eq!((rule, wanted), (id, !enabled));
    let reload = update(
        &mut app,
        Msg::RuleChanged {
            seq,
            done: String::from("rule disabled: the next analysis ignores it"),
            result: Ok(()),
        },
    );
    assert!(
        reload
            .iter()
            .any(|c| matches!(c, Cmd::FetchIgnoreRules { .. })),
        "{reload:?}"
    );
    // `d` asks first; `n` keeps the rule.
    assert!(press(&mut app, KeyCode::Char('d')).is_empty());
    let Some(Overlay::Confirm(confirm)) = app.overlay.clone() else {
        panic!("no confirmation");
    };
    assert_eq!(
        confirm.action,
        Confirmed::DeleteRule {
            application: app.application.as_ref().map(|s| s.id).expect("id"),
            rule: id
        }
    );
    assert!(screen_text(&app).contains("Delete the ignore rule"));
    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app.overlay.is_none());
    press(&mut app, KeyCode::Char('d'));
    let commands = press(&mut app, KeyCode::Char('y'));
    assert!(
        matches!(commands.first(), Some(Cmd::DeleteRule { rule, .. }) if *rule == id),
        "{commands:?}"
    );
}

/// The server's preview of a workspace rule: one application with two findings, the other
/// with one undecided.
fn workspace_preview(input: IgnoreRuleInput, findings: &[Finding]) -> WorkspaceRulePreview {
    let applications = applications();
    WorkspaceRulePreview {
        token: String::from("preview-token-1"),
        expires_at: now() + Duration::minutes(15),
        rule: input,
        suppresses_total: 2,
        applications: vec![
            ApplicationRulePreview {
                application_id: checkout(&applications).id,
                application_name: String::from("checkout-api"),
                suppresses: findings[..2].to_vec(),
                undecided: Vec::new(),
            },
            ApplicationRulePreview {
                application_id: Uuid::from_u128(0xabc),
                application_name: String::from("ledger\u{1b}[31m"),
                suppresses: Vec::new(),
                undecided: findings[2..3].to_vec(),
            },
        ],
    }
}

#[test]
fn workspace_rules_change_only_through_the_servers_preview() {
    let mut app = rules_tab();
    press(&mut app, KeyCode::Char('G'));
    let (id, enabled, read_only) = selected_rule(&app);
    assert!(read_only && enabled);
    // `space` asks the server what the rule, disabled, would do; nothing is saved yet.
    let commands = press(&mut app, KeyCode::Char(' '));
    let Some(Cmd::PreviewWorkspaceRule {
        seq,
        workspace,
        input,
    }) = commands.first().cloned()
    else {
        panic!("{commands:?}");
    };
    assert_eq!(workspace, checkout(&applications()).workspace_id);
    assert!(!input.enabled);
    assert_eq!(input.name, "mesh sidecar");
    let (_, findings) = scenario(&applications(), Observed::Cluster);
    update(
        &mut app,
        Msg::WorkspaceRulePreviewed {
            seq,
            result: Ok(reply(workspace_preview(input.clone(), &findings))),
        },
    );
    assert!(matches!(app.overlay, Some(Overlay::Review(_))));
    let screen = screen_text(&app);
    assert!(
        screen.contains("Disable the workspace rule \"mesh sidecar\""),
        "{screen}"
    );
    // `n` goes back; nothing was sent.
    assert!(press(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app.overlay.is_none());
    // Again, and `y` saves with the preview's token and body.
    let commands = press(&mut app, KeyCode::Char(' '));
    let Some(Cmd::PreviewWorkspaceRule { seq, input, .. }) = commands.first().cloned() else {
        panic!("{commands:?}");
    };
    update(
        &mut app,
        Msg::WorkspaceRulePreviewed {
            seq,
            result: Ok(reply(workspace_preview(input.clone(), &findings))),
        },
    );
    let commands = press(&mut app, KeyCode::Char('y'));
    let Some(Cmd::SaveWorkspaceRule {
        seq,
        rule,
        input: saved,
        token,
        ..
    }) = commands.first().cloned()
    else {
        panic!("{commands:?}");
    };
    assert_eq!((rule, token.as_str()), (Some(id), "preview-token-1"));
    assert_eq!(saved, input);
    let mut disabled = ignore_rule(
        checkout(&applications()),
        0x602,
        "mesh sidecar",
        "spec.template.metadata.annotations.*",
        true,
    );
    disabled.enabled = false;
    let reload = update(
        &mut app,
        Msg::RuleSaved {
            seq,
            result: Ok(reply(disabled)),
        },
    );
    assert!(
        reload
            .iter()
            .any(|c| matches!(c, Cmd::FetchIgnoreRules { .. })),
        "{reload:?}"
    );
    assert!(screen_text(&app).contains("workspace rule disabled"));
    // `d` asks, then deletes through the workspace route.
    press(&mut app, KeyCode::Char('d'));
    assert!(screen_text(&app).contains("Delete the workspace rule"));
    let commands = press(&mut app, KeyCode::Char('y'));
    assert!(
        matches!(commands.first(), Some(Cmd::DeleteWorkspaceRule { rule, .. }) if *rule == id),
        "{commands:?}"
    );
    // `e` edits it; saving asks for the server's preview instead of saving.
    let commands = press(&mut app, KeyCode::Char('e'));
    assert!(matches!(
        commands.first(),
        Some(Cmd::FetchOpenFindings { .. })
    ));
    assert!(screen_text(&app).contains("Edit workspace ignore rule"));
    let commands = update(&mut app, ctrl('s'));
    assert!(
        matches!(commands.first(), Some(Cmd::PreviewWorkspaceRule { .. })),
        "{commands:?}"
    );
}

#[test]
fn the_review_lists_every_application_inert_80x24() {
    let mut app = rules_tab();
    press(&mut app, KeyCode::Char('G'));
    let commands = press(&mut app, KeyCode::Char(' '));
    let Some(Cmd::PreviewWorkspaceRule { seq, input, .. }) = commands.first().cloned() else {
        panic!("{commands:?}");
    };
    let (_, findings) = scenario(&applications(), Observed::Cluster);
    update(
        &mut app,
        Msg::WorkspaceRulePreviewed {
            seq,
            result: Ok(reply(workspace_preview(input, &findings))),
        },
    );
    let buffer = snapshot("workspace_rule_review_80x24", &app);
    let screen = text(&buffer);
    assert!(screen.contains("checkout-api  2 suppressed"), "{screen}");
    assert!(
        screen.contains("1 decided by the next analysis"),
        "{screen}"
    );
    // The escape from the application's name is drawn inert.
    assert!(!screen.contains('\u{1b}'), "{screen}");
}

#[test]
fn only_admins_change_workspace_rules() {
    let mut app = rules_tab();
    if let Some(workspace) = app.workspace.as_mut() {
        workspace.role = Role::Editor;
    }
    press(&mut app, KeyCode::Char('G'));
    for key_code in [KeyCode::Char(' '), KeyCode::Char('d'), KeyCode::Char('e')] {
        assert!(press(&mut app, key_code).is_empty());
        assert!(app.overlay.is_none());
        assert_ne!(app.screen(), Screen::RuleEditor);
        let screen = screen_text(&app);
        assert!(screen.contains("only admins of acme-payments"), "{screen}");
    }
    // An application rule is still theirs to change.
    press(&mut app, KeyCode::Char('g'));
    assert!(matches!(
        press(&mut app, KeyCode::Char(' ')).first(),
        Some(Cmd::EnableRule { .. })
    ));
}

#[test]
fn a_rule_from_a_finding_can_cover_the_whole_workspace() {
    let (mut app, findings) = editor_app();
    // The editor opens on Reason; Level is the next field (around).
    type_text(&mut app, "mesh injects it everywhere");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char(' '));
    let editor = app.editor.as_ref().expect("the editor");
    assert!(editor.is_workspace_rule());
    assert!(screen_text(&app).contains("New workspace ignore rule"));
    assert!(
        screen_text(&app).contains("ctrl-s shows every application's before saving"),
        "{}",
        screen_text(&app)
    );
    let commands = update(&mut app, ctrl('s'));
    let Some(Cmd::PreviewWorkspaceRule { seq, input, .. }) = commands.first().cloned() else {
        panic!("{commands:?}");
    };
    assert_eq!(input.match_expression, findings[0].path);
    // A refused preview (here: the workspace has a rule of that name) is shown at the field.
    update(
        &mut app,
        Msg::WorkspaceRulePreviewed {
            seq,
            result: Err(ClientError::Api {
                status: 409,
                code: String::from("conflict"),
                message: String::from("a workspace rule named \"checkout-api-value\" exists"),
                request_id: None,
                body: json!({"error": {"code": "conflict", "message": "taken", "details": {"field": "name"}}}),
            }),
        },
    );
    assert_eq!(app.screen(), Screen::RuleEditor);
    let refused = app.editor.as_ref().and_then(|e| e.refused.clone());
    assert_eq!(
        refused.map(|r| r.field),
        Some(statesight_tui::console::rule_editor::Field::Name)
    );
    assert!(screen_text(&app).contains("the server refused the rule"));
    // Accepted: created with the token; a stale token is refused and the editor stays.
    let commands = update(&mut app, ctrl('s'));
    let Some(Cmd::PreviewWorkspaceRule { seq, input, .. }) = commands.first().cloned() else {
        panic!("{commands:?}");
    };
    update(
        &mut app,
        Msg::WorkspaceRulePreviewed {
            seq,
            result: Ok(reply(workspace_preview(input, &findings))),
        },
    );
    let commands = press(&mut app, KeyCode::Char('y'));
    let Some(Cmd::SaveWorkspaceRule {
        seq, rule: None, ..
    }) = commands.first().cloned()
    else {
        panic!("{commands:?}");
    };
    update(
        &mut app,
        Msg::RuleSaved {
            seq,
            result: Err(ClientError::Api {
                status: 422,
                code: String::from("validation_failed"),
                message: String::from("the preview token has expired: preview the rule first"),
                request_id: None,
                body: json!({"error": {"message": "the preview token has expired"}}),
            }),
        },
    );
    assert_eq!(app.screen(), Screen::RuleEditor);
    assert!(screen_text(&app).contains("the preview token has expired"));
    let commands = update(&mut app, ctrl('s'));
    let Some(Cmd::PreviewWorkspaceRule { seq, input, .. }) = commands.first().cloned() else {
        panic!("{commands:?}");
    };
    update(
        &mut app,
        Msg::WorkspaceRulePreviewed {
            seq,
            result: Ok(reply(workspace_preview(input, &findings))),
        },
    );
    let commands = press(&mut app, KeyCode::Char('y'));
    let Some(Cmd::SaveWorkspaceRule { seq, .. }) = commands.first().cloned() else {
        panic!("{commands:?}");
    };
    let saved = ignore_rule(
        checkout(&applications()),
        0x603,
        "checkout-api-value",
        &findings[0].path,
        true,
    );
    update(
        &mut app,
        Msg::RuleSaved {
            seq,
            result: Ok(reply(saved)),
        },
    );
    assert!(app.editor.is_none());
    let screen = screen_text(&app);
    assert!(
        screen.contains("workspace rule \"checkout-api-value\" saved"),
        "{screen}"
    );
}

#[test]
fn a_saved_rule_keeps_its_level() {
    let mut app = rules_tab();
    press(&mut app, KeyCode::Char('e'));
    // Opened on Match: Level is two fields up.
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::Char(' '));
    let editor = app.editor.as_ref().expect("the editor");
    assert!(!editor.is_workspace_rule());
    assert!(screen_text(&app).contains("a saved rule keeps its level"));
}

#[test]
fn editing_a_rule_replaces_it() {
    let mut app = rules_tab();
    let (id, _, _) = selected_rule(&app);
    let commands = press(&mut app, KeyCode::Char('e'));
    assert_eq!(app.screen(), Screen::RuleEditor);
    assert!(matches!(
        commands.first(),
        Some(Cmd::FetchOpenFindings { .. })
    ));
    // The editor opens on Match; Reason is three fields back (Name, Level, then around).
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    type_text(&mut app, " (reviewed)");
    let commands = update(&mut app, ctrl('s'));
    let Some(Cmd::SaveRule { rule, input, .. }) = commands.first().cloned() else {
        panic!("{commands:?}");
    };
    assert_eq!(rule, Some(id));
    assert!(input.reason.ends_with("(reviewed)"), "{}", input.reason);
}

#[test]
fn the_screen_in_view_reloads_in_the_background_and_keeps_its_selection() {
    let (mut app, findings) = incident_app(Depth::Ansi256, SMALL, Observed::Cluster);
    select(&mut app, 2);
    // Not due yet.
    assert!(update(&mut app, Msg::Tick(now() + Duration::seconds(10))).is_empty());
    let commands = update(&mut app, Msg::Tick(now() + Duration::seconds(31)));
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, Cmd::FetchFindings { cursor: None, .. })),
        "{commands:?}"
    );
    let incident = app
        .incident
        .as_ref()
        .and_then(|s| s.incident.clone())
        .expect("incident");
    let mut more = findings.clone();
    let mut added = findings[0].clone();
    added.id = Uuid::from_u128(0xf000);
    more.insert(0, added);
    answer_incident(&mut app, commands, &incident, &more, 10);
    let screen = app.incident.as_ref().expect("incident screen");
    assert_eq!(
        screen.cursor.id,
        Some(findings[2].id),
        "the selection follows its finding"
    );
    assert_eq!(screen.findings.len(), 6);
    // Not while an overlay is open.
    update(&mut app, key(KeyCode::Char('?')));
    assert!(update(&mut app, Msg::Tick(now() + Duration::seconds(90))).is_empty());
}

#[test]
fn rule_editor_and_confirmation_80x24() {
    let (mut app, _) = incident_app(Depth::Ansi256, SMALL, Observed::Cluster);
    let commands = press(&mut app, KeyCode::Char('i'));
    let Some(Cmd::FetchOpenFindings { seq, .. }) = commands.first().cloned() else {
        panic!("{commands:?}");
    };
    let (_, findings) = scenario(&applications(), Observed::Cluster);
    update(
        &mut app,
        Msg::OpenFindings {
            seq,
            first: true,
            result: Ok(reply(findings)),
        },
    );
    type_text(&mut app, "raised during INC-42");
    for _ in 0..3 {
        press(&mut app, KeyCode::BackTab);
    }
    erase(&mut app, ".value".len() + 3);
    snapshot("rule_editor_error_80x24", &app);
    press(&mut app, KeyCode::Esc);
    let buffer = snapshot("rule_editor_confirm_80x24", &app);
    assert!(text(&buffer).contains("lose what you typed"));
}
