//! The notification wire types: enum strings are the migration's CHECK lists, the endpoint
//! input's defaults, and which event kinds endpoints may ask for.

use serde_json::json;
use statesight_core::string_enum::StringEnum;
use statesight_core::wire::{
    AttemptOutcome, DeliveryStatus, EventKind, NotificationEndpointInput, NotificationFormat,
    Severity,
};

fn strings<T: StringEnum>() -> Vec<&'static str> {
    T::ALL.iter().map(|variant| variant.as_str()).collect()
}

#[test]
fn enum_strings_are_the_ones_the_database_checks() {
    assert_eq!(strings::<NotificationFormat>(), ["json", "slack"]);
    assert_eq!(
        strings::<DeliveryStatus>(),
        ["pending", "delivered", "dead"]
    );
    assert_eq!(strings::<AttemptOutcome>(), ["delivered", "failed", "dead"]);
}

#[test]
fn endpoint_input_defaults_and_refuses_unknown_fields() {
    let input: NotificationEndpointInput = serde_json::from_value(json!({
        "name": "on-call", "url": "https://hooks.example.com/", "events": ["incident.opened"],
    }))
    .expect("minimal input");
    assert_eq!(input.min_severity, Severity::Low);
    assert_eq!(input.format, NotificationFormat::Json);
    assert!(input.enabled);
    assert_eq!(input.secret, None);
    assert!(
        serde_json::from_value::<NotificationEndpointInput>(json!({
            "name": "x", "url": "https://hooks.example.com/", "events": ["run.failed"], "token": "t",
        }))
        .is_err()
    );
}

#[test]
fn every_kind_but_run_queued_is_notified() {
    let notified: Vec<&str> = EventKind::ALL
        .iter()
        .filter(|kind| kind.is_notified())
        .map(|kind| kind.as_str())
        .collect();
    assert_eq!(
        notified,
        [
            "run.started",
            "run.succeeded",
            "run.failed",
            "incident.opened",
            "incident.changed",
            "incident.resolved"
        ]
    );
}
