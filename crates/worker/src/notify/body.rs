//! What a delivery sends: its body in the endpoint's format and the signature headers.
//!
//! Bodies carry the workspace event only — names, ids, severities and a run's error —
//! never the endpoint's secret or any evidence value. Every string in a Slack message that
//! came from a cluster, a repository or a user is escaped, so it cannot mention a channel
//! (`<!channel>`), forge a link or break the message's markup.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use statesight_core::wire::{EventKind, NotificationFormat, Severity, WorkspaceEvent};
use uuid::Uuid;

/// A run's error is cut to this many characters in a Slack message (Slack refuses a
/// section longer than 3000).
const MAX_SLACK_ERROR_CHARS: usize = 500;

/// The body of one delivery in `format`.
pub fn render(format: NotificationFormat, delivery_id: Uuid, event: &WorkspaceEvent) -> Vec<u8> {
    let value = match format {
        NotificationFormat::Json => json_body(delivery_id, event),
        NotificationFormat::Slack => slack_body(event),
    };
    // Serializing a `Value` cannot fail; an empty body would fail the receiver's checks.
    serde_json::to_vec(&value).unwrap_or_default()
}

/// `{"delivery_id": …, "event": WorkspaceEvent}`.
fn json_body(delivery_id: Uuid, event: &WorkspaceEvent) -> Value {
    json!({ "delivery_id": delivery_id, "event": event })
}

/// Escapes the three characters Slack's mrkdwn treats as control characters.
pub fn escape_slack(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            // A control character would garble the message; a space keeps the words apart.
            c if c.is_control() && c != '\n' => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

fn severity_mark(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => ":red_circle:",
        Severity::High => ":large_orange_circle:",
        Severity::Medium => ":large_yellow_circle:",
        Severity::Low => ":white_circle:",
    }
}

/// One line saying what happened, already escaped.
fn headline(event: &WorkspaceEvent) -> String {
    let application = escape_slack(&event.application_name);
    match (&event.kind, &event.incident) {
        (kind, Some(incident)) if kind.is_incident() => {
            let what = match kind {
                EventKind::IncidentOpened if incident.reopened => "Incident reopened",
                EventKind::IncidentOpened => "Incident opened",
                EventKind::IncidentChanged => "Incident changed",
                _ => "Incident resolved",
            };
            format!(
                "{} *{what}* in *{application}*: {}",
                severity_mark(incident.severity),
                escape_slack(&incident.title)
            )
        }
        (EventKind::RunStarted, _) => format!("Analysis of *{application}* started"),
        (EventKind::RunSucceeded, _) => format!("Analysis of *{application}* succeeded"),
        (EventKind::RunFailed, _) => format!(":x: Analysis of *{application}* failed"),
        (EventKind::RunQueued, _) => format!("Analysis of *{application}* queued"),
        (kind, _) => format!("{} in *{application}*", kind.as_str()),
    }
}

/// Details under the headline, already escaped.
fn details(event: &WorkspaceEvent) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(incident) = &event.incident {
        let mut severity = format!("Severity: *{}*", incident.severity.as_str());
        if let Some(previous) = incident.previous_severity {
            severity.push_str(&format!(" (was {})", previous.as_str()));
        }
        lines.push(severity);
        lines.push(format!(
            "Recommendation: *{}*",
            incident.recommendation.as_str()
        ));
        lines.push(format!("Resource: `{}`", escape_slack(&incident.resource)));
        lines.push(format!("Findings: {}", incident.finding_count));
    }
    if let Some(error) = &event.error {
        let cut: String = error.chars().take(MAX_SLACK_ERROR_CHARS).collect();
        let ellipsis = if cut.len() < error.len() { "…" } else { "" };
        lines.push(format!("Error: {}{ellipsis}", escape_slack(&cut)));
    }
    lines
}

/// A Slack incoming-webhook message: `text` (notifications, clients without blocks) and
/// `blocks` (a section with the details, a context with the ids).
fn slack_body(event: &WorkspaceEvent) -> Value {
    let headline = headline(event);
    let mut section = headline.clone();
    for line in details(event) {
        section.push('\n');
        section.push_str(&line);
    }
    let mut context = vec![format!("`{}`", event.kind.as_str())];
    if let Some(incident) = &event.incident {
        context.push(format!("incident {}", incident.id));
    }
    if let Some(run) = event.run_id {
        context.push(format!("run {run}"));
    }
    context.push(event.at.to_rfc3339());
    json!({
        "text": headline,
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": section } },
            { "type": "context", "elements": [ { "type": "mrkdwn", "text": context.join(" · ") } ] },
        ],
    })
}

/// `X-StateSight-Signature`'s value: `sha256=` and the hex HMAC-SHA256, keyed with the
/// endpoint's secret, of `<timestamp>.<body>` (the decimal `X-StateSight-Timestamp`, a
/// dot, the body's bytes).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use statesight_core::wire::{IncidentEvent, Recommendation};

    fn incident_event() -> WorkspaceEvent {
        WorkspaceEvent {
            kind: EventKind::IncidentOpened,
            workspace_id: Uuid::nil(),
            application_id: Uuid::nil(),
            application_name: String::from("ledger <!channel> & co"),
            run_id: Some(Uuid::nil()),
            incident: Some(IncidentEvent {
                id: Uuid::nil(),
                title: String::from("replicas <http://evil.example|click>"),
                severity: Severity::Critical,
                recommendation: Recommendation::Investigate,
                resource: String::from("apps/Deployment/payments/ledger-api"),
                finding_count: 2,
                reopened: false,
                previous_severity: None,
            }),
            error: None,
            at: chrono::Utc
                .timestamp_opt(1_700_000_000, 0)
                .single()
                .expect("time"),
        }
    }

    #[test]
    fn slack_strings_are_escaped() {
        let body: Value = serde_json::from_slice(&render(
            NotificationFormat::Slack,
            Uuid::nil(),
            &incident_event(),
        ))
        .expect("json");
        let text = body["text"].as_str().expect("text");
        assert!(text.contains("ledger &lt;!channel&gt; &amp; co"), "{text}");
        assert!(
            text.contains("replicas &lt;http://evil.example|click&gt;"),
            "{text}"
        );
        assert!(!text.contains('<'), "{text}");
        let section = body["blocks"][0]["text"]["text"].as_str().expect("section");
        assert!(section.contains("Severity: *critical*"), "{section}");
        assert!(section.contains("Findings: 2"), "{section}");
    }

    #[test]
    fn json_body_wraps_the_event() {
        let event = incident_event();
        let id = Uuid::from_u128(7);
        let body: Value =
            serde_json::from_slice(&render(NotificationFormat::Json, id, &event)).expect("json");
        assert_eq!(body["delivery_id"], json!(id));
        let back: WorkspaceEvent = serde_json::from_value(body["event"].clone()).expect("event");
        assert_eq!(back, event);
    }

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // printf %s '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test_secret_1234
        assert_eq!(
            signature("whsec_test_secret_1234", 1_700_000_000, br#"{"a":1}"#),
            "sha256=09b3dbd0d037bc391fb094acc8a79acc8199cdce9440582d74d96e9f4688d5e6"
        );
    }
}
