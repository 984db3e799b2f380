//! What one recorded request says about one field: read from its request body (an object,
//! an apply configuration, a merge or strategic-merge patch, or a JSON patch) and from its
//! response. Everything answers "shown", "not touched" or "cannot be told" — never a guess.

use serde_json::Value;

use crate::k8s_audit::KeptEvent;
use crate::normalize::{get, key_text, key_value};
use crate::paths::{DriftPath, Segment};

/// What a request body says about a field.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyShows {
    /// The request left the field at this value; `Value::Null` means it removed the field
    /// (or, for a full object, left it out).
    Sets(Value),
    /// A patch merged these entries into the field (a map): the other entries are whatever
    /// they were before. Directives (`$patch`, `$setElementOrder/…`) are already left out.
    Merges(Value),
    /// The body does not touch the field.
    Silent,
    /// The body touches the field, but what it left there cannot be read from it.
    Undetermined(&'static str),
    /// No request body was recorded (`Metadata` level, or a Secret).
    NoBody,
}

pub(crate) const POSITIONAL_IN_PATCH: &str = "a positional index ([N]) cannot be resolved against a patch, which does not say which item sits at that position";
const KEYED_IN_POINTER: &str = "a JSON patch addresses list items by position, which cannot be tied to a keyed item ([key=value])";
const WILDCARD: &str = "the path has a wildcard";
const PARENT_NOT_OBJECT: &str =
    "the patch sets a parent of this field to something other than an object";
const NOT_A_LIST: &str = "the patch has something other than a list where the path expects one";
const SHIFTED: &str =
    "a JSON patch operation inserts or removes an earlier list item, shifting positions";
const MOVE_OR_COPY: &str =
    "a JSON patch move or copy operation takes its value from the object, not the patch";
const PART_OF_FIELD: &str = "a JSON patch operation changes only part of this field";
const BAD_OPERATION: &str =
    "a JSON patch operation has no `op` or `path`, or a path that is not a JSON pointer";
const BAD_BODY: &str = "the patch body is neither an object nor a list of operations";
const DIRECTIVE_IN_LIST: &str = "the patch gives the list with strategic-merge directives, which merge into the list rather than replace it";

/// A value found (or not) at a path of a whole object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'v> {
    Found(&'v Value),
    Absent,
    Undetermined(&'static str),
}

/// The value at `path` in a whole object: map keys, `[key=value]` list items by their keys,
/// `[N]` by position.
pub fn value_at<'v>(object: &'v Value, path: &[Segment]) -> Lookup<'v> {
    let mut current = object;
    for segment in path {
        let next = match (segment, current) {
            (Segment::Field(name), Value::Object(_)) => get(current, name),
            (Segment::Keyed { keys, .. }, Value::Array(items)) => {
                items.iter().find(|item| item_has_keys(item, keys))
            }
            (Segment::Index(index), Value::Array(items)) => items.get(*index),
            (Segment::AnyKey | Segment::AnyItem, _) => return Lookup::Undetermined(WILDCARD),
            _ => None,
        };
        match next {
            Some(value) => current = value,
            None => return Lookup::Absent,
        }
    }
    Lookup::Found(current)
}

/// Whether a list item carries the key values of a `[key=value]` segment. Paths leave out
/// `protocol=TCP`, so an item whose port is keyed without a protocol must be TCP.
pub fn item_has_keys(item: &Value, keys: &[(String, String)]) -> bool {
    let keys_match = keys
        .iter()
        .all(|(key, text)| key_value(item, key).is_some_and(|v| key_text(v) == *text));
    let port_keyed = keys
        .iter()
        .any(|(k, _)| k == "containerPort" || k == "port");
    let protocol_given = keys.iter().any(|(k, _)| k == "protocol");
    let tcp = key_value(item, "protocol").is_some_and(|p| key_text(p) == "TCP");
    keys_match && (!port_keyed || protocol_given || tcp)
}

/// The part of `path` a request on the event's subresource can write, read in the body's
/// own terms: `status` writes only `status…`; a `scale` body (an `autoscaling/v1` Scale)
/// shares only `spec.replicas` with the object. `None`: the request cannot write the path.
pub fn path_in_subresource<'p>(event: &KeptEvent, path: &'p DriftPath) -> Option<&'p [Segment]> {
    let segments = path.segments.as_slice();
    let field = |i: usize| match segments.get(i) {
        Some(Segment::Field(name)) => Some(name.as_str()),
        _ => None,
    };
    match event.object.subresource.as_deref() {
        None => Some(segments),
        Some("status") => (field(0) == Some("status")).then_some(segments),
        Some("scale") => {
            (segments.len() == 2 && field(0) == Some("spec") && field(1) == Some("replicas"))
                .then_some(segments)
        }
        Some(_) => None,
    }
}

pub fn is_delete(event: &KeptEvent) -> bool {
    matches!(event.verb.as_str(), "delete" | "deletecollection")
}

/// What the event's request body says about `path`.
pub fn request_sets(event: &KeptEvent, path: &DriftPath) -> BodyShows {
    if is_delete(event) {
        return BodyShows::Silent;
    }
    let Some(segments) = path_in_subresource(event, path) else {
        return BodyShows::Silent;
    };
    let Some(body) = &event.request_object else {
        return BodyShows::NoBody;
    };
    match (event.verb.as_str(), body) {
        ("create", _) => whole_object(body, segments, false),
        // An update replaces the object: a field it leaves out is removed.
        ("update", _) => whole_object(body, segments, true),
        ("patch", Value::Array(operations)) => json_patch(operations, segments),
        ("patch", Value::Object(_)) if is_apply_configuration(body) => {
            whole_object(body, segments, false)
        }
        ("patch", Value::Object(_)) => merge_patch(body, segments),
        ("patch", _) => BodyShows::Undetermined(BAD_BODY),
        _ => BodyShows::Silent,
    }
}

/// Server-side apply sends a whole (partial) object with `apiVersion` and `kind`; merge and
/// strategic-merge patches, including client-side apply's, do not carry them.
fn is_apply_configuration(body: &Value) -> bool {
    get(body, "apiVersion").is_some_and(Value::is_string)
        && get(body, "kind").is_some_and(Value::is_string)
}

fn whole_object(body: &Value, path: &[Segment], absent_removes: bool) -> BodyShows {
    match value_at(body, path) {
        Lookup::Found(value) => BodyShows::Sets(value.clone()),
        Lookup::Absent if absent_removes => BodyShows::Sets(Value::Null),
        Lookup::Absent => BodyShows::Silent,
        Lookup::Undetermined(why) => BodyShows::Undetermined(why),
    }
}

/// A JSON merge patch or strategic-merge patch (the audit event does not say which): map
/// keys as usual, `[key=value]` as the list item a strategic-merge patch names by its merge
/// key, `null` as removal.
fn merge_patch(body: &Value, path: &[Segment]) -> BodyShows {
    let mut current = body;
    for segment in path {
        let next = match (segment, current) {
            (_, Value::Null) => return BodyShows::Sets(Value::Null),
            (Segment::Field(name), Value::Object(_)) => get(current, name),
            (Segment::Keyed { keys, .. }, Value::Array(items)) => {
                items.iter().find(|item| item_has_keys(item, keys))
            }
            (Segment::Index(_), Value::Array(_)) => {
                return BodyShows::Undetermined(POSITIONAL_IN_PATCH);
            }
            (Segment::AnyKey | Segment::AnyItem, _) => return BodyShows::Undetermined(WILDCARD),
            (Segment::Field(_), _) => return BodyShows::Undetermined(PARENT_NOT_OBJECT),
            (Segment::Keyed { .. } | Segment::Index(_), _) => {
                return BodyShows::Undetermined(NOT_A_LIST);
            }
        };
        match next {
            Some(value) => current = value,
            None => return BodyShows::Silent,
        }
    }
    patch_value(current)
}

fn is_directive(key: &str) -> bool {
    key.starts_with('$')
}

fn patch_value(value: &Value) -> BodyShows {
    match value {
        Value::Object(map) => BodyShows::Merges(Value::Object(
            map.iter()
                .filter(|(k, _)| !is_directive(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )),
        Value::Array(items)
            if items.iter().any(|item| {
                item.as_object()
                    .is_some_and(|m| m.keys().any(|k| is_directive(k)))
            }) =>
        {
            BodyShows::Undetermined(DIRECTIVE_IN_LIST)
        }
        other => BodyShows::Sets(other.clone()),
    }
}

/// How a JSON patch operation's pointer relates to the path.
enum Relation<'p> {
    Unrelated,
    /// The operation writes the path itself or a parent of it; the rest of the path is
    /// read inside its value.
    AtOrAbove(&'p [Segment]),
    /// The operation writes inside the field.
    Below,
    Undetermined(&'static str),
}

fn json_patch(operations: &[Value], path: &[Segment]) -> BodyShows {
    let mut shows = BodyShows::Silent;
    // Operations apply in order, so the last one that touches the field decides.
    for operation in operations {
        if let Some(found) = operation_shows(operation, path) {
            shows = found;
        }
    }
    shows
}

fn operation_shows(operation: &Value, path: &[Segment]) -> Option<BodyShows> {
    let kind = get(operation, "op").and_then(Value::as_str);
    let pointer = get(operation, "path").and_then(Value::as_str);
    let (Some(kind), Some(pointer)) = (kind, pointer) else {
        return Some(BodyShows::Undetermined(BAD_OPERATION));
    };
    if kind == "test" {
        return None;
    }
    if kind == "move"
        && let Some(from) = get(operation, "from").and_then(Value::as_str)
        && !matches!(relate(from, path, kind), Relation::Unrelated)
    {
        return Some(BodyShows::Undetermined(MOVE_OR_COPY));
    }
    match relate(pointer, path, kind) {
        Relation::Unrelated => None,
        Relation::Undetermined(why) => Some(BodyShows::Undetermined(why)),
        Relation::Below => Some(BodyShows::Undetermined(PART_OF_FIELD)),
        Relation::AtOrAbove(rest) => Some(match kind {
            "add" | "replace" => match get(operation, "value").map(|v| value_at(v, rest)) {
                Some(Lookup::Found(value)) => BodyShows::Sets(value.clone()),
                Some(Lookup::Absent) => BodyShows::Sets(Value::Null),
                Some(Lookup::Undetermined(why)) => BodyShows::Undetermined(why),
                None => BodyShows::Undetermined(BAD_OPERATION),
            },
            "remove" => BodyShows::Sets(Value::Null),
            "move" | "copy" => BodyShows::Undetermined(MOVE_OR_COPY),
            _ => BodyShows::Undetermined(BAD_OPERATION),
        }),
    }
}

fn pointer_tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

fn relate<'p>(pointer: &str, path: &'p [Segment], kind: &str) -> Relation<'p> {
    let Some(tokens) = pointer_tokens(pointer) else {
        return Relation::Undetermined(BAD_OPERATION);
    };
    for (i, token) in tokens.iter().enumerate() {
        let Some(segment) = path.get(i) else {
            return Relation::Below;
        };
        match segment {
            Segment::Field(name) if name == token => {}
            Segment::Field(_) => return Relation::Unrelated,
            Segment::Index(index) if token == &index.to_string() => {}
            Segment::Index(index) => {
                return other_position(token, *index, i + 1 == tokens.len(), kind);
            }
            Segment::Keyed { .. } => return Relation::Undetermined(KEYED_IN_POINTER),
            Segment::AnyKey | Segment::AnyItem => return Relation::Undetermined(WILDCARD),
        }
    }
    Relation::AtOrAbove(&path[tokens.len()..])
}

/// An operation on another item of the same unkeyed list: harmless unless it inserts or
/// removes an item before ours, which moves ours to another position.
fn other_position<'p>(token: &str, index: usize, item_level: bool, kind: &str) -> Relation<'p> {
    let inserts_or_removes = matches!(kind, "add" | "remove" | "move" | "copy");
    let earlier = token.parse::<usize>().is_ok_and(|other| other < index);
    if item_level && inserts_or_removes && earlier {
        Relation::Undetermined(SHIFTED)
    } else {
        Relation::Unrelated
    }
}

/// What the event's response (the object as stored, or a Scale) shows at `path`: `None`
/// when it shows nothing usable (no response, a `Status`, a delete, a subresource that does
/// not carry the path); `Some(Value::Null)` when the field is absent in it.
pub fn response_shows(event: &KeptEvent, path: &DriftPath) -> Option<Value> {
    if is_delete(event) {
        return None;
    }
    let segments = path_in_subresource(event, path)?;
    let response = event.response_object.as_ref()?;
    if get(response, "kind").and_then(Value::as_str) == Some("Status") {
        return None;
    }
    match value_at(response, segments) {
        Lookup::Found(value) => Some(value.clone()),
        Lookup::Absent => Some(Value::Null),
        Lookup::Undetermined(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shows(body: Value, path: &str) -> BodyShows {
        let path: DriftPath = path.parse().expect("path");
        match body {
            Value::Array(operations) => json_patch(&operations, &path.segments),
            body => merge_patch(&body, &path.segments),
        }
    }

    #[test]
    fn json_patch_remove_and_whole_parent_replace() {
        let remove = json!([{"op": "remove", "path": "/spec/replicas"}]);
        assert_eq!(shows(remove, "spec.replicas"), BodyShows::Sets(Value::Null));
        let parent = json!([{"op": "replace", "path": "/spec", "value": {"replicas": 2}}]);
        assert_eq!(
            shows(parent.clone(), "spec.replicas"),
            BodyShows::Sets(json!(2))
        );
        assert_eq!(shows(parent, "spec.paused"), BodyShows::Sets(Value::Null));
        let whole = json!([{"op": "replace", "path": "", "value": {"spec": {"paused": true}}}]);
        assert_eq!(shows(whole, "spec.paused"), BodyShows::Sets(json!(true)));
    }

    #[test]
    fn json_patch_positions_that_shift_or_sit_below() {
        let insert = json!([{"op": "add", "path": "/spec/args/0", "value": "-v"}]);
        assert_eq!(
            shows(insert, "spec.args[2]"),
            BodyShows::Undetermined(SHIFTED)
        );
        let later = json!([{"op": "remove", "path": "/spec/args/5"}]);
        assert_eq!(shows(later, "spec.args[2]"), BodyShows::Silent);
        let same = json!([{"op": "replace", "path": "/spec/args/2", "value": "-q"}]);
        assert_eq!(shows(same, "spec.args[2]"), BodyShows::Sets(json!("-q")));
        let below = json!([{"op": "replace", "path": "/spec/template/x", "value": 1}]);
        assert_eq!(
            shows(below, "spec.template"),
            BodyShows::Undetermined(PART_OF_FIELD)
        );
        let moved = json!([{"op": "move", "from": "/spec/a", "path": "/spec/b"}]);
        assert_eq!(
            shows(moved, "spec.a"),
            BodyShows::Undetermined(MOVE_OR_COPY)
        );
        let tested = json!([{"op": "test", "path": "/spec/a", "value": 1}]);
        assert_eq!(shows(tested, "spec.a"), BodyShows::Silent);
        let escaped = json!([{"op": "add", "path": "/metadata/labels/a~1b~0c", "value": "v"}]);
        assert_eq!(
            shows(escaped, "metadata.labels.a/b~c"),
            BodyShows::Sets(json!("v"))
        );
    }

    #[test]
    fn merge_patch_null_parents_directives_and_lists() {
        let null_parent = json!({"spec": {"template": null}});
        assert_eq!(
            shows(null_parent, "spec.template.spec.hostname"),
            BodyShows::Sets(Value::Null)
        );
        let merged = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        assert_eq!(
            shows(merged, "spec.strategy"),
            BodyShows::Merges(json!({"type": "Recreate"}))
        );
        let directive_list = json!({"spec": {"ports": [{"$patch": "replace"}, {"port": 80}]}});
        assert_eq!(
            shows(directive_list, "spec.ports"),
            BodyShows::Undetermined(DIRECTIVE_IN_LIST)
        );
        let other_container = json!({"spec": {"containers": [{"name": "b", "image": "x"}]}});
        assert_eq!(
            shows(other_container, "spec.containers[name=a].image"),
            BodyShows::Silent
        );
        let udp =
            json!({"spec": {"ports": [{"containerPort": 53, "protocol": "UDP", "name": "dns"}]}});
        assert_eq!(
            shows(udp.clone(), "spec.ports[containerPort=53].name"),
            BodyShows::Silent
        );
        assert_eq!(
            shows(udp, "spec.ports[containerPort=53,protocol=UDP].name"),
            BodyShows::Sets(json!("dns"))
        );
    }
}
