//! How firmly a drifted field is tied to a recorded change: the grade and its reason,
//! read from Kubernetes audit events (`k8s_audit`), the field's managedFields owners and the
//! last analysis that saw the field in sync with Git. Every reason says what was observed
//! and no more: a request body that sets the field is shown, a matching manager time is a
//! coincidence of names and seconds, a window lists what could have done it.
//!
//! Values compare as JSON with numbers by value, and as quantities (`512Mi` = `0.5Gi`) only
//! when the path itself ends in a quantity position; a quantity nested inside an object
//! value (a whole container) compares as text, so `3Gi` and `3072Mi` there stay unequal and
//! can only weaken the grade, never strengthen it.
//!
//! Values "set to absent" (removed, or left out of a whole-object update) are given as
//! `null` in `value_set` / `value_before`, as in a merge patch; `None` means not shown.

mod body;
mod timeline;

pub use timeline::audit_timeline;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

pub use body::{BodyShows, Lookup, item_has_keys, request_sets, response_shows, value_at};

use crate::diff::Owner;
use crate::identity::ResourceId;
use crate::k8s_audit::{ActorKind, AuditLevel, KeptEvent, actor_kind, is_object};
use crate::normalize::{is_quantity_position, scalar_equal};
use crate::paths::{DriftPath, Segment};
use crate::wire::{AttributedEvent, Attribution, AttributionGrade};
use body::is_delete;

/// The last analysis that saw the field equal to Git, and the field's value then (`None`:
/// absent then).
#[derive(Debug, Clone, Copy)]
pub struct InSync<'a> {
    pub at: DateTime<Utc>,
    pub value: Option<&'a Value>,
}

/// One drifted field to attribute.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub resource: &'a ResourceId,
    pub path: &'a DriftPath,
    /// The live value now (`None`: absent live).
    pub live: Option<&'a Value>,
    /// The managedFields owners of the path.
    pub owners: &'a [Owner],
    pub in_sync: Option<InSync<'a>>,
    /// When the live state was observed.
    pub observed_at: DateTime<Utc>,
}

/// What the event store holds for the cluster.
#[derive(Debug, Clone, Copy)]
pub struct Coverage {
    pub cluster_has_events: bool,
}

/// Most events a `window-candidate` lists; the reason gives the full count.
pub const MAX_WINDOW_EVENTS: usize = 20;

/// Grades how firmly the drift at `question.path` is tied to one of `events` (of any
/// objects, in any order).
pub fn attribute(question: &Question<'_>, events: &[KeptEvent], coverage: Coverage) -> Attribution {
    if !coverage.cluster_has_events {
        return graded(
            AttributionGrade::NotAttributed,
            "No Kubernetes audit events have been ingested for this cluster, so no recorded \
             change can be tied to this drift."
                .to_owned(),
            Vec::new(),
        );
    }
    let mut notes = Vec::new();
    let writes = evidence_events(question, events, &mut notes);
    let found = observed(question, &writes, &mut notes)
        .or_else(|| manager_time_match(question, &writes))
        .or_else(|| window(question, &writes));
    let (grade, reason, listed) = match found {
        Some(found) => found,
        None => (
            AttributionGrade::NotAttributed,
            not_attributed_reason(question, &writes),
            Vec::new(),
        ),
    };
    graded(grade, with_notes(reason, &notes), listed)
}

type Graded = (AttributionGrade, String, Vec<AttributedEvent>);

fn graded(grade: AttributionGrade, reason: String, events: Vec<AttributedEvent>) -> Attribution {
    Attribution {
        grade,
        reason,
        events,
    }
}

fn with_notes(reason: String, notes: &[String]) -> String {
    notes.iter().fold(reason, |mut text, note| {
        text.push(' ');
        text.push_str(note);
        text
    })
}

/// The object's writes that can be evidence, oldest first: a dry run persisted nothing and a
/// failed request changed nothing, so both are only counted.
fn evidence_events<'e>(
    question: &Question<'_>,
    events: &'e [KeptEvent],
    notes: &mut Vec<String>,
) -> Vec<&'e KeptEvent> {
    let mut excluded = 0;
    let mut writes: Vec<&KeptEvent> = Vec::new();
    for event in events {
        if !is_object(&event.object, question.resource) || event.at > question.observed_at {
            continue;
        }
        let succeeded = event.response_code.is_none_or(|c| (200..300).contains(&c));
        if event.dry_run || !succeeded {
            excluded += 1;
        } else {
            writes.push(event);
        }
    }
    writes.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.audit_id.cmp(&b.audit_id)));
    if excluded > 0 {
        notes.push(format!(
            "{} recorded request(s) on this object were dry runs or failed, and are not evidence.",
            excluded
        ));
    }
    writes
}

// ---- observed-change / observed-set ----

/// The latest write whose body shows the field set to its live value. A later body that
/// shows another value, or that cannot be read at the path, ends the search: an earlier
/// write would then not be what left the live value.
fn observed(
    question: &Question<'_>,
    writes: &[&KeptEvent],
    notes: &mut Vec<String>,
) -> Option<Graded> {
    let floor = in_sync_floor(question);
    for (i, event) in writes.iter().enumerate().rev() {
        if floor.is_some_and(|floor| event.at <= floor) {
            break;
        }
        match request_sets(event, question.path) {
            BodyShows::Silent => {}
            BodyShows::NoBody => {
                if let Some(found) = changed_between_responses(question, writes, i) {
                    return Some(found);
                }
            }
            BodyShows::Undetermined(why) => {
                notes.push(format!(
                    "The body of {} touches this field, but what it left there cannot be told: {why}.",
                    describe(event)
                ));
                return None;
            }
            BodyShows::Sets(value) if body_matches_live(question, &value) => {
                return Some(observed_grade(question, writes, i, value, Shown::Set));
            }
            BodyShows::Merges(value) if body_matches_live(question, &value) => {
                return Some(observed_grade(question, writes, i, value, Shown::Merged));
            }
            BodyShows::Sets(value) => {
                notes.push(format!(
                    "The latest request body that touches this field, {}, left it at {}, not at \
                     the live value; what changed it afterwards (a write whose body was not \
                     recorded, or the server itself) is not shown.",
                    describe(event),
                    show(&value)
                ));
                return None;
            }
            BodyShows::Merges(value) => {
                notes.push(format!(
                    "The latest request body that touches this field, {}, merged {} into it, \
                     which does not show the live value.",
                    describe(event),
                    show(&value)
                ));
                return None;
            }
        }
    }
    None
}

/// Whether a body gave the field's whole value or merged entries into it.
#[derive(Clone, Copy)]
enum Shown {
    Set,
    Merged,
}

/// When the field was last seen equal to Git with a value other than the live one, no
/// write before that moment can be what left the live value. (When the in-sync value is the
/// live one, Git moved rather than the cluster, and earlier writes still count.)
fn in_sync_floor(question: &Question<'_>) -> Option<DateTime<Utc>> {
    let in_sync = question.in_sync?;
    let then = in_sync.value.cloned().unwrap_or(Value::Null);
    (!same_as_live(question, &then)).then_some(in_sync.at)
}

fn observed_grade(
    question: &Question<'_>,
    writes: &[&KeptEvent],
    i: usize,
    value: Value,
    how: Shown,
) -> Graded {
    let event = writes[i];
    let subject = subject(question);
    let did = match how {
        Shown::Set => format!(
            "{} set {subject} to {}, the live value",
            capitalized(&describe(event)),
            show(&value)
        ),
        Shown::Merged => format!(
            "{} merged {} into {subject}, as the live value shows",
            capitalized(&describe(event)),
            show(&value)
        ),
    };
    let later = later_without_body(writes, i);
    let (grade, before, reason) = match earlier_value(question, writes, i) {
        Some((before, source)) if !same_as_live(question, &before) => (
            AttributionGrade::ObservedChange,
            Some(before.clone()),
            format!("{did}; it was {} {source}.", show(&before)),
        ),
        Some((_, source)) => (
            AttributionGrade::ObservedSet,
            None,
            format!(
                "{did}; it already had that value {source}, so this request asserted it rather than changed it."
            ),
        ),
        None => (
            AttributionGrade::ObservedSet,
            None,
            format!("{did}; its earlier value is not known."),
        ),
    };
    (
        grade,
        format!("{reason}{later}"),
        vec![attributed(event, Some(value), before)],
    )
}

/// The latest value known from before write `i`: the response to an earlier write, or the
/// in-sync observation, whichever is later. Returns the value and where it was seen.
fn earlier_value(
    question: &Question<'_>,
    writes: &[&KeptEvent],
    i: usize,
) -> Option<(Value, String)> {
    let at = writes[i].at;
    let from_response = writes[..i].iter().rev().find_map(|earlier| {
        response_shows(earlier, question.path).map(|value| {
            let source = format!("in the response to {}", describe(earlier));
            (earlier.at, value, source)
        })
    });
    let from_in_sync = question.in_sync.filter(|s| s.at < at).map(|s| {
        let source = format!("when last seen equal to Git, at {}", time(s.at));
        (s.at, s.value.cloned().unwrap_or(Value::Null), source)
    });
    let latest = match (from_response, from_in_sync) {
        (Some(r), Some(s)) => Some(if s.0 > r.0 { s } else { r }),
        (r, s) => r.or(s),
    };
    latest.map(|(_, value, source)| (value, source))
}

/// A write with no recorded request body whose response shows the live value, right after
/// a write whose response showed another: the change happened in this request. A response
/// alone never proves it, since the field may have had the value already.
fn changed_between_responses(
    question: &Question<'_>,
    writes: &[&KeptEvent],
    i: usize,
) -> Option<Graded> {
    let event = writes[i];
    if !matches!(event.verb.as_str(), "create" | "update" | "patch") {
        return None;
    }
    let after = response_shows(event, question.path).filter(|v| same_as_live(question, v))?;
    let previous = writes[..i].last()?;
    let before = response_shows(previous, question.path).filter(|v| !same_as_live(question, v))?;
    let reason = format!(
        "The request body of {} was not recorded, but its response shows {} at {} (the live \
         value), and the response to the write just before it, {}, showed {}: the change \
         happened in this request.{}",
        describe(event),
        subject(question),
        show(&after),
        describe(previous),
        show(&before),
        later_without_body(writes, i)
    );
    Some((
        AttributionGrade::ObservedChange,
        reason,
        vec![attributed(event, Some(after), Some(before))],
    ))
}

fn later_without_body(writes: &[&KeptEvent], i: usize) -> String {
    let count = writes[i + 1..]
        .iter()
        .filter(|e| e.request_object.is_none())
        .count();
    if count == 0 {
        String::new()
    } else {
        format!(" {count} later write(s) to the object were recorded without a body.")
    }
}

// ---- manager-time-match ----

/// A write by one of the path's managedFields owners (by `fieldManager`, or by the program
/// name of its user agent when it sent none) completed in the second that owner's time
/// records. managedFields times have one-second resolution, so only the second is compared.
fn manager_time_match(question: &Question<'_>, writes: &[&KeptEvent]) -> Option<Graded> {
    let floor = in_sync_floor(question);
    writes
        .iter()
        .rev()
        .filter(|e| !is_delete(e) && floor.is_none_or(|floor| e.at > floor))
        .find_map(|event| {
            question.owners.iter().find_map(|owner| {
                let owner_time = DateTime::parse_from_rfc3339(owner.time.as_deref()?).ok()?;
                let same_second = owner_time.timestamp() == event.at.timestamp();
                let same_subresource = owner.subresource == event.object.subresource;
                if !same_second || !same_subresource {
                    return None;
                }
                let how = manager_matches(event, &owner.manager)?;
                let reason = format!(
                    "No recorded request body shows {} being set, but managedFields says manager \
                 {:?} ({}) last wrote it at {}, and {} — {how} — completed in that same second.",
                    subject(question),
                    owner.manager,
                    owner.operation,
                    time(owner_time.with_timezone(&Utc)),
                    describe(event)
                );
                Some((
                    AttributionGrade::ManagerTimeMatch,
                    reason,
                    vec![attributed(event, None, None)],
                ))
            })
        })
}

/// How the event's client matches a manager name, or `None`. Without `fieldManager` the API
/// server names the manager after the user agent's program (`kubectl`), and kubectl's own
/// managers extend it (`kubectl-edit`, `kubectl-client-side-apply`).
fn manager_matches(event: &KeptEvent, manager: &str) -> Option<String> {
    if let Some(field_manager) = &event.field_manager {
        return (field_manager == manager).then(|| format!("fieldManager {field_manager:?}"));
    }
    let agent = event.user_agent.as_deref()?;
    let program = agent.split('/').next().unwrap_or_default().trim();
    let matches = !program.is_empty()
        && (manager == program
            || manager
                .strip_prefix(program)
                .is_some_and(|rest| rest.starts_with('-')));
    matches.then(|| format!("no fieldManager, user agent {agent:?}"))
}

// ---- window-candidate ----

fn window(question: &Question<'_>, writes: &[&KeptEvent]) -> Option<Graded> {
    let in_sync = question.in_sync?;
    let in_window: Vec<&KeptEvent> = writes
        .iter()
        .copied()
        .filter(|e| e.at > in_sync.at)
        .collect();
    if in_window.is_empty() {
        return None;
    }
    let without_body = in_window
        .iter()
        .filter(|e| e.level == AuditLevel::Metadata)
        .count();
    let mut reason = format!(
        "{} recorded write(s) to {} between {} (last seen equal to Git) and {} (seen drifted); \
         no recorded body shows {} set to its live value, so each is only a candidate.",
        in_window.len(),
        question.resource.short_label(),
        time(in_sync.at),
        time(question.observed_at),
        subject(question)
    );
    if without_body > 0 {
        reason.push_str(&format!(
            " {without_body} of them were recorded at Metadata level, without bodies."
        ));
    }
    if in_window.len() > MAX_WINDOW_EVENTS {
        reason.push_str(&format!(" The first {MAX_WINDOW_EVENTS} are listed."));
    }
    let listed = in_window
        .iter()
        .take(MAX_WINDOW_EVENTS)
        .map(|e| attributed(e, None, None))
        .collect();
    Some((AttributionGrade::WindowCandidate, reason, listed))
}

// ---- not-attributed ----

fn not_attributed_reason(question: &Question<'_>, writes: &[&KeptEvent]) -> String {
    let label = question.resource.short_label();
    let bounds = match question.in_sync {
        Some(s) => format!(
            "between {} (last seen equal to Git) and {}",
            time(s.at),
            time(question.observed_at)
        ),
        None => format!(
            "at or before {} (no earlier analysis saw this field equal to Git)",
            time(question.observed_at)
        ),
    };
    if writes.is_empty() || question.in_sync.is_some() {
        return format!("No recorded write to {label} {bounds}.");
    }
    if writes.iter().all(|e| e.level == AuditLevel::Metadata) {
        return format!(
            "{} write(s) to {label} were recorded, all at Metadata level: request and response \
             bodies were not recorded, so none shows what this field was set to; and no \
             earlier analysis saw the field equal to Git to bound a window.",
            writes.len()
        );
    }
    format!(
        "{} write(s) to {label} were recorded, but no recorded body shows {} set to its live \
         value, and no earlier analysis saw the field equal to Git to bound a window.",
        writes.len(),
        subject(question)
    )
}

// ---- values ----

/// Whether a value a request left equals the live one: numbers by value, quantities by
/// value where the path is a quantity position (`3Gi` = `3072Mi` there, not elsewhere),
/// `null` as absent.
fn same_as_live(question: &Question<'_>, value: &Value) -> bool {
    match (question.live.filter(|l| !l.is_null()), value) {
        (None, Value::Null) => true,
        (Some(live), value) => scalar_equal(value, live, quantity_position(question.path)),
        (None, _) => false,
    }
}

/// Whether a value a request body gave for the field is what is live. A map (a patch's
/// merged entries, or an object the server then defaulted) matches when every entry it
/// gives is live (`null`: absent); the live map may hold more.
fn body_matches_live(question: &Question<'_>, value: &Value) -> bool {
    match (value, question.live) {
        (Value::Object(_), Some(live)) => merge_consistent(value, live),
        _ => same_as_live(question, value),
    }
}

fn merge_consistent(given: &Value, live: &Value) -> bool {
    match (given, live) {
        (Value::Object(entries), Value::Object(live_map)) => entries
            .iter()
            .filter(|(key, _)| !key.starts_with('$'))
            .all(|(key, value)| match (value, live_map.get(key)) {
                (Value::Null, None) => true,
                (value, Some(live_value)) => merge_consistent(value, live_value),
                (_, None) => false,
            }),
        // Items the server defaulted (a port's `protocol`) are still the same items: a list
        // matches item by item, in order, with the same length.
        (Value::Array(items), Value::Array(live_items)) => {
            items.len() == live_items.len()
                && items
                    .iter()
                    .zip(live_items)
                    .all(|(item, live_item)| merge_consistent(item, live_item))
        }
        (given, live) => crate::normalize::json_equal(given, live),
    }
}

fn quantity_position(path: &DriftPath) -> bool {
    let n = path.segments.len();
    let name = |i: Option<usize>| match i.and_then(|i| path.segments.get(i)) {
        Some(Segment::Field(f)) => Some(f.as_str()),
        _ => None,
    };
    match name(n.checked_sub(1)) {
        Some(field) => is_quantity_position(name(n.checked_sub(2)), field),
        None => false,
    }
}

// ---- wording ----

fn subject(question: &Question<'_>) -> String {
    format!("{} of {}", question.path, question.resource.short_label())
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A value as a reason shows it: compact JSON, cut so a large object cannot swamp the text.
fn show(value: &Value) -> String {
    const MAX: usize = 200;
    if value.is_null() {
        return "absent".to_owned();
    }
    let text = value.to_string();
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `patch of /scale by bob, impersonated by system:admin, at … (audit ID …)`.
fn describe(event: &KeptEvent) -> String {
    let subresource = event
        .object
        .subresource
        .as_deref()
        .map(|s| format!(" of /{s}"))
        .unwrap_or_default();
    let manager = event
        .field_manager
        .as_deref()
        .map(|m| format!(", fieldManager {m:?}"))
        .unwrap_or_default();
    format!(
        "request {} ({}{subresource} by {}{manager}, at {})",
        event.audit_id,
        event.verb,
        actor(event),
        time(event.at)
    )
}

/// Who made a request, naming both identities when one impersonated the other.
pub fn actor(event: &KeptEvent) -> String {
    match &event.impersonated {
        Some(acted_as) => format!(
            "{}, impersonated by {}",
            identity(&acted_as.username),
            identity(&event.user.username)
        ),
        None => identity(&event.user.username),
    }
}

fn identity(username: &str) -> String {
    match actor_kind(username) {
        ActorKind::ServiceAccount => match username.strip_prefix("system:serviceaccount:") {
            Some(account) => format!("service account {}", account.replacen(':', "/", 1)),
            None => username.to_owned(),
        },
        ActorKind::Controller => format!("controller {username}"),
        ActorKind::Node => format!("node {}", username.trim_start_matches("system:node:")),
        ActorKind::System | ActorKind::User => username.to_owned(),
    }
}

fn attributed(
    event: &KeptEvent,
    value_set: Option<Value>,
    value_before: Option<Value>,
) -> AttributedEvent {
    AttributedEvent {
        audit_id: event.audit_id.clone(),
        at: event.at,
        verb: event.verb.clone(),
        username: event.user.username.clone(),
        actor_kind: actor_kind(&event.user.username),
        impersonated: event.impersonated.as_ref().map(|u| u.username.clone()),
        impersonated_kind: event.impersonated.as_ref().map(|u| actor_kind(&u.username)),
        user_agent: event.user_agent.clone(),
        source_ips: event.source_ips.clone(),
        field_manager: event.field_manager.clone(),
        subresource: event.object.subresource.clone(),
        value_set,
        value_before,
    }
}
