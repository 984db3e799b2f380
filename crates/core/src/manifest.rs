//! Manifest ingestion: multi-document YAML (comments, anchors, block scalars, YAML 1.1 octals
//! such as `0755` read as Kubernetes reads them, empty documents), JSON (one value or a stream)
//! and `kind: List` / `*List` wrappers. Every object keeps its origin (file, 1-based document,
//! list item). Pure: the caller passes `(origin_name, bytes)`; reading files is its business.

use std::fmt;

use serde_json::Value;

use crate::error::{Error, Result};

/// Where an object came from: file (as named by the caller), 1-based document index and, for
/// objects inside a `kind: List`, the 0-based item index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Origin {
    pub file: String,
    pub document: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, document {}", self.file, self.document)?;
        if let Some(item) = self.item {
            write!(f, ", items[{item}]")?;
        }
        Ok(())
    }
}

/// One Kubernetes object read from a manifest or a live dump, with the identity fields it
/// declares (the namespace as written; defaulting happens in the analysis).
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestObject {
    pub origin: Origin,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub value: Value,
}

impl ManifestObject {
    /// Builds an object from an already-parsed value, or says which identity field is missing.
    pub fn from_value(origin: Origin, value: Value) -> std::result::Result<Self, (Origin, String)> {
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let api_version = text(value.get("apiVersion"));
        let kind = text(value.get("kind"));
        let metadata = value.get("metadata");
        let name = text(metadata.and_then(|m| m.get("name")));
        let namespace = text(metadata.and_then(|m| m.get("namespace")));
        match (api_version, kind, name) {
            (Some(api_version), Some(kind), Some(name)) => Ok(ManifestObject {
                origin,
                api_version,
                kind,
                name,
                namespace,
                value,
            }),
            (api_version, kind, name) => {
                let mut missing = Vec::new();
                if api_version.is_none() {
                    missing.push("apiVersion");
                }
                if kind.is_none() {
                    missing.push("kind");
                }
                if name.is_none() {
                    missing.push("metadata.name");
                }
                Err((
                    origin,
                    format!("object without {} cannot be identified", missing.join(", ")),
                ))
            }
        }
    }
}

/// A document or object that was read but cannot be analysed, reported instead of dropped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "{origin}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The objects of one input plus the documents that could not become objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedManifests {
    pub objects: Vec<ManifestObject>,
    pub problems: Vec<Problem>,
}

/// Parses one file's bytes. JSON is recognised by a `.json` name or a leading `{`/`[`;
/// everything else is YAML. A syntax error in any document fails the whole input with an
/// error naming the file and the document.
pub fn parse_manifests(origin_name: &str, bytes: &[u8]) -> Result<ParsedManifests> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| Error::InvalidDocument {
        origin: origin_name.to_owned(),
        document: 1,
        message: format!("not UTF-8 text ({e})"),
    })?;
    let mut out = ParsedManifests::default();
    let first = text.trim_start().as_bytes().first().copied();
    if origin_name.ends_with(".json") || matches!(first, Some(b'{' | b'[')) {
        match parse_json_stream(origin_name, text, &mut out) {
            Ok(()) => return Ok(out),
            Err(e) if origin_name.ends_with(".json") => return Err(e),
            Err(_) => out = ParsedManifests::default(),
        }
    }
    for (document, chunk) in yaml_documents(text) {
        if is_blank_document(chunk) {
            continue;
        }
        let options = serde_saphyr::options! {
            legacy_octal_numbers: true,
            with_snippet: false,
            emit_comments: false,
        };
        let value: Value = serde_saphyr::from_str_with_options(chunk, options).map_err(|e| {
            Error::InvalidDocument {
                origin: origin_name.to_owned(),
                document,
                message: e.to_string(),
            }
        })?;
        add_document(origin_name, document, value, &mut out);
    }
    Ok(out)
}

fn parse_json_stream(origin_name: &str, text: &str, out: &mut ParsedManifests) -> Result<()> {
    let stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    for (i, value) in stream.enumerate() {
        let value = value.map_err(|e| Error::InvalidDocument {
            origin: origin_name.to_owned(),
            document: i + 1,
            message: e.to_string(),
        })?;
        add_document(origin_name, i + 1, value, out);
    }
    Ok(())
}

fn add_document(origin_name: &str, document: usize, value: Value, out: &mut ParsedManifests) {
    let origin = Origin {
        file: origin_name.to_owned(),
        document,
        item: None,
    };
    match value {
        Value::Null => {}
        Value::Object(_) => {
            let kind = value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind.ends_with("List") && value.get("items").is_some_and(Value::is_array) {
                add_list(origin, value, out);
            } else {
                push_object(origin, value, out);
            }
        }
        Value::Array(items) => {
            // A bare JSON/YAML array of objects: treat like the items of a List.
            for (i, item) in items.into_iter().enumerate() {
                push_object(
                    Origin {
                        item: Some(i),
                        ..origin.clone()
                    },
                    item,
                    out,
                );
            }
        }
        other => out.problems.push(Problem {
            origin: Some(origin),
            message: format!(
                "document is a {}, not a Kubernetes object",
                json_type(&other)
            ),
        }),
    }
}

fn add_list(origin: Origin, mut list: Value, out: &mut ParsedManifests) {
    let list_kind = list
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let list_api_version = list
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // `kind: List` items carry their own apiVersion/kind; typed lists (`DeploymentList`) from
    // the API do not, so the item kind is the list kind without `List`.
    let item_kind = list_kind
        .strip_suffix("List")
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let items = match list.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    for (i, mut item) in items.into_iter().enumerate() {
        if let Value::Object(map) = &mut item {
            if !map.contains_key("kind")
                && let Some(kind) = &item_kind
            {
                map.insert("kind".into(), Value::String(kind.clone()));
            }
            if !map.contains_key("apiVersion")
                && let Some(api_version) = &list_api_version
            {
                map.insert("apiVersion".into(), Value::String(api_version.clone()));
            }
        }
        push_object(
            Origin {
                item: Some(i),
                ..origin.clone()
            },
            item,
            out,
        );
    }
}

fn push_object(origin: Origin, value: Value, out: &mut ParsedManifests) {
    if !value.is_object() {
        out.problems.push(Problem {
            origin: Some(origin),
            message: format!("item is a {}, not a Kubernetes object", json_type(&value)),
        });
        return;
    }
    match ManifestObject::from_value(origin, value) {
        Ok(object) => out.objects.push(object),
        Err((origin, message)) => out.problems.push(Problem {
            origin: Some(origin),
            message,
        }),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// A line that starts a new document: `---` at column 0 followed by the end or whitespace.
/// YAML forbids such a line inside any scalar, so splitting on it is exact.
fn is_document_start(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

/// A line that ends a document: `...` at column 0 followed by the end or whitespace.
fn is_document_end(line: &str) -> bool {
    line.strip_prefix("...")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

/// Splits YAML text into `(1-based document number, text)`. A leading part holding only
/// comments or whitespace before the first `---` is not counted as a document.
fn yaml_documents(text: &str) -> Vec<(usize, &str)> {
    let mut chunks: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    let mut after_end_marker = false;
    for line in text.split_inclusive('\n') {
        let starts = is_document_start(line);
        if (starts || after_end_marker) && offset > start {
            let chunk = &text[start..offset];
            chunks.push(chunk);
            start = offset;
        }
        // A `...` line closes the current document; the next line starts a new one.
        after_end_marker = is_document_end(line);
        offset += line.len();
    }
    if offset > start {
        chunks.push(&text[start..offset]);
    }
    let mut documents = Vec::with_capacity(chunks.len());
    let mut number = 0;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let leading_blank =
            i == 0 && is_blank_document(chunk) && !chunk.lines().any(is_document_start);
        if leading_blank {
            continue;
        }
        number += 1;
        documents.push((number, chunk));
    }
    documents
}

fn is_blank_document(chunk: &str) -> bool {
    chunk.lines().all(|line| {
        let t = line.trim();
        t.is_empty()
            || t.starts_with('#')
            || ((is_document_start(line) || is_document_end(line)) && {
                let rest = t[3..].trim_start();
                rest.is_empty() || rest.starts_with('#')
            })
    })
}
