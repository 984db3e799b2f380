//! Secrets: values of a Secret's `data` and `stringData` (and its last-applied annotation,
//! which repeats them) are never stored, logged or shown. They are compared as decoded bytes
//! and replaced by `sha256:<hex>` digests in every finding.

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Whether an object of this group/kind is a core Secret.
pub fn is_secret(group: &str, kind: &str) -> bool {
    group.is_empty() && kind == "Secret"
}

/// `sha256:<hex>` of some bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The bytes a `data` value stands for (base64-decoded; the text itself when it is not valid
/// base64, so a malformed value still compares and digests deterministically).
pub fn data_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .unwrap_or_else(|_| s.as_bytes().to_vec()),
        other => other.to_string().into_bytes(),
    }
}

/// The bytes a `stringData` value stands for.
pub fn string_data_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    }
}

/// Replaces every scalar inside `value` by its digest (`data` values digested as decoded bytes
/// when `is_data`).
pub fn redact(value: &Value, is_data: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact(v, is_data)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact(v, is_data)).collect()),
        Value::Null => Value::Null,
        scalar if is_data => Value::String(digest(&data_bytes(scalar))),
        scalar => Value::String(digest(&string_data_bytes(scalar))),
    }
}

/// A whole Secret object with `data`, `stringData` and the last-applied annotation digested.
pub fn redact_object(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Value::Object(map) = &mut copy {
        for (field, is_data) in [("data", true), ("binaryData", true), ("stringData", false)] {
            if let Some(v) = map.get_mut(field) {
                *v = redact(v, is_data);
            }
        }
        if let Some(Value::Object(annotations)) = map
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
            && let Some(v) = annotations.get_mut(crate::diff::LAST_APPLIED)
        {
            *v = redact(v, false);
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digests_never_show_the_value() {
        let secret = json!({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "hunter2"},
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}}});
        let text = redact_object(&secret).to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("aHVudGVyMg"),
            "{text}"
        );
        // `data` is digested as decoded bytes, so it equals the digest of the same stringData.
        assert_eq!(
            redact(&json!("aHVudGVyMg=="), true),
            redact(&json!("hunter2"), false)
        );
    }
}
