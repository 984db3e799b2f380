//! Normalization rules of the comparison (docs/drift-semantics.md#normalization): numbers by
//! value, quantities by value in quantity positions, strings exact, empty or zero in Git equal
//! to absent live, and the table of keyed lists with their merge keys. Everything here works on
//! borrowed values: nothing is rewritten or cloned.

use serde_json::{Number, Value};

/// String equality that rejects on length, first and last byte before comparing the rest:
/// field names are short and mostly differ early, so this avoids most `memcmp` calls.
#[inline]
pub fn fast_eq(a: &str, b: &str) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    x.len() == y.len()
        && (x.is_empty() || (x[0] == y[0] && x[x.len() - 1] == y[y.len() - 1] && x == y))
}

/// `map.get(key)` without hashing for the small maps objects are made of: a linear scan that
/// compares lengths first is several times faster than SipHash for a handful of keys.
#[inline]
pub fn lookup<'v>(map: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    if map.len() <= 8 {
        map.iter().find(|(k, _)| fast_eq(k, key)).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// [`lookup`] that also returns the entry's position in the map.
#[inline]
pub fn lookup_position<'v>(
    map: &'v serde_json::Map<String, Value>,
    key: &str,
) -> Option<(usize, &'v Value)> {
    map.iter()
        .enumerate()
        .find(|(_, (k, _))| fast_eq(k, key))
        .map(|(i, (_, v))| (i, v))
}

/// [`lookup`] on any value (`None` unless it is an object).
#[inline]
pub fn get<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => lookup(map, key),
        _ => None,
    }
}

/// Deep equality with numbers compared by value (`1` = `1.0`); strings, booleans and map keys
/// exact; lists in order.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| lookup(y, k).is_some_and(|w| json_equal(v, w)))
        }
        _ => false,
    }
}

/// Numbers by value: integers exactly, otherwise as `f64`.
pub fn numbers_equal(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Equality of two values at a position where the desired side is a scalar. In a quantity
/// position both sides are compared as quantities when both parse as one.
pub fn scalar_equal(desired: &Value, live: &Value, quantity_position: bool) -> bool {
    if quantity_position && let Some(same) = crate::quantity::same_quantity(desired, live) {
        return same;
    }
    json_equal(desired, live)
}

/// Whether a value declared in Git is equivalent to the field being absent live: an empty
/// list or map, and (an extension of that rule) the zero values `""`, `0` and `false`, which
/// the API server drops from `omitempty` fields, so they can never be seen live.
pub fn empty_or_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// Whether the value at `field` (inside a map reached through `parent_field`) is a resource
/// quantity: entries of `requests`, `limits`, `hard`, `capacity`, `allocatable`, `overhead`,
/// LimitRange bounds, and the scalar fields `sizeLimit`, `divisor`, `storage`.
pub fn is_quantity_position(parent_field: Option<&str>, field: &str) -> bool {
    matches!(field, "sizeLimit" | "divisor")
        || matches!(
            parent_field,
            Some(
                "requests"
                    | "limits"
                    | "hard"
                    | "used"
                    | "capacity"
                    | "allocatable"
                    | "overhead"
                    | "max"
                    | "min"
                    | "default"
                    | "defaultRequest"
                    | "maxLimitRequestRatio"
            )
        )
}

/// The merge-key values of one item (at most two key fields), with `protocol` defaulted.
pub type KeyValues<'v> = [Option<&'v Value>; 2];

/// Key values of a list's items, inline for the short lists objects are made of.
#[derive(Debug)]
pub enum KeyBuf<'v> {
    Inline {
        len: usize,
        items: [KeyValues<'v>; 8],
    },
    Heap(Vec<KeyValues<'v>>),
}

impl<'v> KeyBuf<'v> {
    fn with_capacity(n: usize) -> Self {
        if n <= 8 {
            KeyBuf::Inline {
                len: 0,
                items: [[None, None]; 8],
            }
        } else {
            KeyBuf::Heap(Vec::with_capacity(n))
        }
    }

    fn push(&mut self, values: KeyValues<'v>) {
        match self {
            KeyBuf::Inline { len, items } if *len < items.len() => {
                items[*len] = values;
                *len += 1;
            }
            KeyBuf::Inline { len, items } => {
                let mut heap = items[..*len].to_vec();
                heap.push(values);
                *self = KeyBuf::Heap(heap);
            }
            KeyBuf::Heap(v) => v.push(values),
        }
    }

    pub fn as_slice(&self) -> &[KeyValues<'v>] {
        match self {
            KeyBuf::Inline { len, items } => &items[..*len],
            KeyBuf::Heap(v) => v,
        }
    }
}

impl<'v> std::ops::Index<usize> for KeyBuf<'v> {
    type Output = KeyValues<'v>;
    fn index(&self, i: usize) -> &KeyValues<'v> {
        &self.as_slice()[i]
    }
}

/// A keyed list pair with every item's key values read once.
#[derive(Debug)]
pub struct KeyedList<'v> {
    pub keys: &'static [&'static str],
    pub desired: KeyBuf<'v>,
    pub live: KeyBuf<'v>,
}

impl KeyedList<'_> {
    /// The live item with the same key as desired item `i`.
    pub fn live_match(&self, i: usize) -> Option<usize> {
        self.live
            .as_slice()
            .iter()
            .position(|k| same_key_values(&self.desired[i], k))
    }

    /// Whether live item `j` has no desired counterpart.
    pub fn live_only(&self, j: usize) -> bool {
        !self
            .desired
            .as_slice()
            .iter()
            .any(|k| same_key_values(k, &self.live[j]))
    }
}

/// Whether two items' key values are equal (numbers by value).
pub fn same_key_values(a: &KeyValues<'_>, b: &KeyValues<'_>) -> bool {
    a.iter().zip(b).all(|(x, y)| match (x, y) {
        (Some(x), Some(y)) => json_equal(x, y),
        (None, None) => true,
        _ => false,
    })
}

/// The merge keys of a list by its field name (docs/drift-semantics.md#keyed-lists-and-merge-keys),
/// chosen for `ports` by whether items carry `containerPort` or `port`.
fn merge_keys(field: &str, desired: &[Value], live: &[Value]) -> Option<&'static [&'static str]> {
    const NAME: &[&str] = &["name"];
    const MOUNT_PATH: &[&str] = &["mountPath"];
    const CONTAINER_PORT: &[&str] = &["containerPort", "protocol"];
    const SERVICE_PORT: &[&str] = &["port", "protocol"];
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => Some(NAME),
        "volumeMounts" => Some(MOUNT_PATH),
        "ports" => {
            let all_have = |f: &str| {
                desired
                    .iter()
                    .chain(live)
                    .all(|item| get(item, f).is_some())
            };
            if all_have("containerPort") {
                Some(CONTAINER_PORT)
            } else if all_have("port") {
                Some(SERVICE_PORT)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Reads a list pair as keyed (docs/drift-semantics.md#keyed-lists-and-merge-keys: containers,
/// initContainers, ephemeralContainers, env, volumes, imagePullSecrets by `name`; volumeMounts
/// by `mountPath`; container ports by `containerPort`+`protocol`; Service ports by
/// `port`+`protocol`). `None` when the list is not keyed or some item (desired or live) lacks
/// the key or repeats one: such lists are compared item by item in order instead.
pub fn keyed_list<'v>(
    field: &str,
    desired: &'v [Value],
    live: &'v [Value],
) -> Option<KeyedList<'v>> {
    let keys = merge_keys(field, desired, live)?;
    let read = |items: &'v [Value]| -> Option<KeyBuf<'v>> {
        let mut out = KeyBuf::with_capacity(items.len());
        for item in items {
            let mut values: KeyValues<'v> = [None, None];
            for (slot, key) in values.iter_mut().zip(keys) {
                *slot = key_value(item, key);
            }
            if values[0].is_none_or(Value::is_null)
                || out
                    .as_slice()
                    .iter()
                    .any(|seen| same_key_values(seen, &values))
            {
                return None;
            }
            out.push(values);
        }
        Some(out)
    };
    Some(KeyedList {
        keys,
        desired: read(desired)?,
        live: read(live)?,
    })
}

/// The merge keys of a list pair if it is keyed (see [`keyed_list`]).
pub fn list_keys(
    field: &str,
    desired: &[Value],
    live: &[Value],
) -> Option<&'static [&'static str]> {
    keyed_list(field, desired, live).map(|k| k.keys)
}

/// Whether two items of a keyed list have the same key (`protocol` defaults to `TCP`).
pub fn same_key(keys: &[&str], a: &Value, b: &Value) -> bool {
    keys.iter()
        .all(|k| match (key_value(a, k), key_value(b, k)) {
            (Some(x), Some(y)) => json_equal(x, y),
            (None, None) => true,
            _ => false,
        })
}

/// The value of key field `key` of an item; a missing `protocol` is `TCP`.
pub fn key_value<'v>(item: &'v Value, key: &str) -> Option<&'v Value> {
    match get(item, key) {
        Some(v) => Some(v),
        None if key == "protocol" => Some(tcp()),
        None => None,
    }
}

fn tcp() -> &'static Value {
    use std::sync::OnceLock;
    static VALUE: OnceLock<Value> = OnceLock::new();
    VALUE.get_or_init(|| Value::String("TCP".to_owned()))
}

/// The text of a key value as printed in paths: strings verbatim, other scalars as JSON.
pub fn key_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_by_value_strings_exact() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(json_equal(&json!({"a": [1, 2]}), &json!({"a": [1.0, 2]})));
        assert!(!json_equal(&json!("0.50"), &json!("0.5")));
        assert!(!json_equal(&json!(2), &json!("2")));
        assert!(scalar_equal(&json!("500m"), &json!("0.5"), true));
        assert!(!scalar_equal(&json!("500m"), &json!("0.5"), false));
    }

    #[test]
    fn keyed_list_detection() {
        let ports = [
            json!({"containerPort": 53, "protocol": "UDP"}),
            json!({"containerPort": 53}),
        ];
        assert_eq!(
            list_keys("ports", &ports, &[]),
            Some(&["containerPort", "protocol"][..])
        );
        let dup = [json!({"name": "a"}), json!({"name": "a"})];
        assert_eq!(list_keys("env", &dup, &[]), None);
        assert_eq!(
            list_keys(
                "ports",
                &[json!({"port": 80})],
                &[json!({"port": 80, "protocol": "TCP"})]
            ),
            Some(&["port", "protocol"][..])
        );
        assert_eq!(list_keys("rules", &[json!({"name": "a"})], &[]), None);
    }
}
