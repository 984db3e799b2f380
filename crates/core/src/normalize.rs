//! Normalization rules of the comparison (DESIGN §7): numbers by value, quantities by value in
//! quantity positions, strings exact, empty or zero in Git equal to absent live, and the table
//! of keyed lists with their merge keys. Everything here works on borrowed values: nothing is
//! rewritten or cloned.

use serde_json::{Number, Value};

/// String equality that rejects on length, first and last byte before comparing the rest:
/// field names are short and mostly differ early, so this avoids most `memcmp` calls.
#[inline]
pub fn fast_eq(a: &str, b: &str) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    x.len() == y.len() && (x.is_empty() || (x[0] == y[0] && x[x.len() - 1] == y[y.len() - 1] && x == y))
}

/// `map.get(key)` without hashing for the small maps objects are made of: a linear scan that
/// compares lengths first is several times faster than SipHash for a handful of keys.
#[inline]
pub fn lookup<'v>(map: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    if map.len() <= 16 {
        map.iter().find(|(k, _)| fast_eq(k, key)).map(|(_, v)| v)
    } else {
        map.get(key)
    }
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
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| lookup(y, k).is_some_and(|w| json_equal(v, w)))
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
    if quantity_position {
        if let Some(same) = crate::quantity::same_quantity(desired, live) {
            return same;
        }
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

/// Merge keys of the keyed lists of DESIGN §7, chosen by the list's field name (and, for
/// `ports`, by whether items carry `containerPort` or `port`). Returns `None` when the list
/// is not keyed or some item (desired or live) lacks the key or repeats one: such lists are
/// compared item by item in order instead.
pub fn list_keys(field: &str, desired: &[Value], live: &[Value]) -> Option<&'static [&'static str]> {
    const NAME: &[&str] = &["name"];
    const MOUNT_PATH: &[&str] = &["mountPath"];
    const CONTAINER_PORT: &[&str] = &["containerPort", "protocol"];
    const SERVICE_PORT: &[&str] = &["port", "protocol"];
    let keys: &'static [&'static str] = match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => NAME,
        "volumeMounts" => MOUNT_PATH,
        "ports" => {
            let all_have = |f: &str| desired.iter().chain(live).all(|item| get(item, f).is_some());
            if all_have("containerPort") {
                CONTAINER_PORT
            } else if all_have("port") {
                SERVICE_PORT
            } else {
                return None;
            }
        }
        _ => return None,
    };
    let primary = keys[0];
    let valid = |items: &[Value]| {
        items.iter().all(|item| get(item, primary).is_some_and(|v| !v.is_null()))
            && (0..items.len()).all(|i| (0..i).all(|j| !same_key(keys, &items[i], &items[j])))
    };
    if valid(desired) && valid(live) { Some(keys) } else { None }
}

/// Whether two items of a keyed list have the same key (`protocol` defaults to `TCP`).
pub fn same_key(keys: &[&str], a: &Value, b: &Value) -> bool {
    keys.iter().all(|k| match (key_value(a, k), key_value(b, k)) {
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
        let ports = [json!({"containerPort": 53, "protocol": "UDP"}), json!({"containerPort": 53})];
        assert_eq!(list_keys("ports", &ports, &[]), Some(&["containerPort", "protocol"][..]));
        let dup = [json!({"name": "a"}), json!({"name": "a"})];
        assert_eq!(list_keys("env", &dup, &[]), None);
        assert_eq!(list_keys("ports", &[json!({"port": 80})], &[json!({"port": 80, "protocol": "TCP"})]), Some(&["port", "protocol"][..]));
        assert_eq!(list_keys("rules", &[json!({"name": "a"})], &[]), None);
    }
}
