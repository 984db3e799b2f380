//! A JSON Schema validator for the subset of OpenAPI 3.1 that utoipa emits, so tests can
//! check real answers (and request bodies) against the served document. A keyword it does
//! not know fails validation instead of being skipped, so the subset cannot silently shrink.

use serde_json::{Map, Value};

/// Keywords that describe rather than constrain.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "example",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "discriminator",
];

/// Validates `value` against `schema`, resolving `$ref`s in `document`. Returns every
/// mismatch, each with the JSON path where it was found.
pub fn validate(document: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(document, schema, value, "$", &mut errors);
    errors
}

fn check(document: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        if schema != &Value::Bool(true) {
            errors.push(format!("{at}: schema is not an object: {schema}"));
        }
        return;
    };
    for (keyword, argument) in schema {
        if ANNOTATIONS.contains(&keyword.as_str()) {
            continue;
        }
        check_keyword(document, schema, keyword, argument, value, at, errors);
    }
}

fn check_keyword(
    document: &Value,
    schema: &Map<String, Value>,
    keyword: &str,
    argument: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    match keyword {
        "$ref" => check_ref(document, argument, value, at, errors),
        "type" => check_type(argument, value, at, errors),
        "format" => check_format(argument, value, at, errors),
        "enum" => {
            if !argument
                .as_array()
                .is_some_and(|allowed| allowed.contains(value))
            {
                errors.push(format!("{at}: {value} is not one of {argument}"));
            }
        }
        "properties" | "required" | "additionalProperties" => {
            if let Some(object) = value.as_object() {
                check_object_keyword(document, schema, keyword, argument, object, at, errors);
            }
        }
        "items" => {
            if let Some(items) = value.as_array() {
                for (index, item) in items.iter().enumerate() {
                    check(document, argument, item, &format!("{at}[{index}]"), errors);
                }
            }
        }
        "allOf" => {
            for part in argument.as_array().into_iter().flatten() {
                check(document, part, value, at, errors);
            }
        }
        "oneOf" | "anyOf" => check_alternatives(document, keyword, argument, value, at, errors),
        "minLength" | "maxLength" | "pattern" => check_string(keyword, argument, value, at, errors),
        "minimum" | "maximum" => check_number(keyword, argument, value, at, errors),
        other => errors.push(format!("{at}: the validator does not know `{other}`")),
    }
}

fn check_ref(
    document: &Value,
    reference: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    let target = reference
        .as_str()
        .and_then(|reference| reference.strip_prefix('#'))
        .and_then(|pointer| document.pointer(pointer));
    match target {
        Some(target) => check(document, target, value, at, errors),
        None => errors.push(format!("{at}: unresolved $ref {reference}")),
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        _ => false,
    }
}

fn check_type(argument: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let matches = match argument {
        Value::String(name) => type_matches(name, value),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .any(|name| type_matches(name, value)),
        _ => false,
    };
    if !matches {
        errors.push(format!("{at}: {value} is not of type {argument}"));
    }
}

fn check_format(argument: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(text) = value.as_str() else {
        return;
    };
    let valid = match argument.as_str() {
        Some("uuid") => uuid::Uuid::parse_str(text).is_ok(),
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        // Numeric formats (int32, int64, …) constrain numbers, not strings.
        _ => true,
    };
    if !valid {
        errors.push(format!("{at}: {text:?} is not a {argument}"));
    }
}

fn check_object_keyword(
    document: &Value,
    schema: &Map<String, Value>,
    keyword: &str,
    argument: &Value,
    object: &Map<String, Value>,
    at: &str,
    errors: &mut Vec<String>,
) {
    match keyword {
        "properties" => {
            for (name, property) in argument.as_object().into_iter().flatten() {
                if let Some(field) = object.get(name) {
                    check(document, property, field, &format!("{at}.{name}"), errors);
                }
            }
        }
        "required" => {
            for name in argument
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(name) {
                    errors.push(format!("{at}: required property `{name}` is missing"));
                }
            }
        }
        _ => {
            let declared = schema.get("properties").and_then(Value::as_object);
            for (name, field) in object {
                if declared.is_some_and(|declared| declared.contains_key(name)) {
                    continue;
                }
                match argument {
                    Value::Bool(false) => {
                        errors.push(format!("{at}: property `{name}` is not allowed"))
                    }
                    Value::Bool(true) => {}
                    additional => {
                        check(document, additional, field, &format!("{at}.{name}"), errors)
                    }
                }
            }
        }
    }
}

fn check_alternatives(
    document: &Value,
    keyword: &str,
    argument: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    let alternatives = argument.as_array().map(Vec::as_slice).unwrap_or_default();
    let matching = alternatives
        .iter()
        .filter(|alternative| validate_at(document, alternative, value, at).is_empty())
        .count();
    let fine = if keyword == "oneOf" {
        matching == 1
    } else {
        matching >= 1
    };
    if !fine {
        errors.push(format!(
            "{at}: {value} matches {matching} of the {} `{keyword}` alternatives",
            alternatives.len()
        ));
    }
}

fn validate_at(document: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut errors = Vec::new();
    check(document, schema, value, at, &mut errors);
    errors
}

fn check_string(
    keyword: &str,
    argument: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    let Some(text) = value.as_str() else {
        return;
    };
    let length = text.chars().count() as u64;
    let fine = match keyword {
        "minLength" => argument.as_u64().is_some_and(|min| length >= min),
        "maxLength" => argument.as_u64().is_some_and(|max| length <= max),
        _ => argument
            .as_str()
            .and_then(|pattern| regex::Regex::new(pattern).ok())
            .is_some_and(|pattern| pattern.is_match(text)),
    };
    if !fine {
        errors.push(format!("{at}: {text:?} breaks {keyword} {argument}"));
    }
}

fn check_number(
    keyword: &str,
    argument: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    let (Some(number), Some(limit)) = (value.as_f64(), argument.as_f64()) else {
        return;
    };
    let fine = if keyword == "minimum" {
        number >= limit
    } else {
        number <= limit
    };
    if !fine {
        errors.push(format!("{at}: {number} breaks {keyword} {limit}"));
    }
}

/// The schema of the JSON answer `operation` documents for `status`, if any.
pub fn response_schema<'d>(
    document: &'d Value,
    path: &str,
    method: &str,
    status: u16,
) -> Option<&'d Value> {
    let response = &document["paths"][path][method]["responses"][status.to_string()];
    let response = match response.get("$ref").and_then(Value::as_str) {
        Some(reference) => document.pointer(reference.strip_prefix('#')?)?,
        None => response,
    };
    response.pointer("/content/application~1json/schema")
}
