//! The offline report: the JSON document `statesight-worker diff --format json` prints
//! (docs/drift-semantics.md#json-report), built with a fixed key order so the same analysis is
//! always the same bytes.

use serde_json::{Map, Value, json};

use crate::analysis::Analysis;
use crate::diff::{Finding, cause_label};
use crate::identity::ResourceId;
use crate::incident::Incident;

fn resource_json(resource: &ResourceId, api_version: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": resource.kind,
        "namespace": resource.namespace,
        "name": resource.name,
    })
}

/// One finding: `{resource, origin, path, change, desired, live, owners, cause}`.
pub fn finding_json(f: &Finding) -> Map<String, Value> {
    let owners: Vec<Value> = f
        .owners
        .iter()
        .map(|o| {
            json!({
                "manager": o.manager,
                "operation": o.operation,
                "subresource": o.subresource,
                "time": o.time,
                "role": o.role,
            })
        })
        .collect();
    let mut map = Map::new();
    map.insert(
        "resource".into(),
        resource_json(&f.resource, &f.api_version),
    );
    map.insert(
        "origin".into(),
        json!({"file": f.origin.file, "document": f.origin.document, "item": f.origin.item}),
    );
    map.insert("path".into(), Value::String(f.path_text.clone()));
    map.insert("change".into(), Value::String(f.change.as_str().into()));
    map.insert("desired".into(), f.desired.clone().unwrap_or(Value::Null));
    map.insert("live".into(), f.live.clone().unwrap_or(Value::Null));
    map.insert("owners".into(), Value::Array(owners));
    map.insert("cause".into(), Value::String(cause_label(&f.cause).into()));
    map
}

fn incident_json(i: &Incident) -> Value {
    json!({
        "fingerprint": i.fingerprint,
        "resource": resource_json(&i.resource, &i.api_version),
        "cause": cause_label(&i.cause),
        "title": i.title,
        "severity": i.severity.as_str(),
        "recommendation": i.recommendation.as_str(),
        "rationale": i.rationale,
        "suggested_rule": i.suggested_rule,
        "findings": i.findings,
    })
}

/// The whole report as a JSON value: `{findings, suppressed, incidents, problems}`.
pub fn to_json(analysis: &Analysis) -> Value {
    let findings: Vec<Value> = analysis
        .findings
        .iter()
        .map(|f| Value::Object(finding_json(f)))
        .collect();
    let suppressed: Vec<Value> = analysis
        .suppressed
        .iter()
        .map(|s| {
            let mut map = finding_json(&s.finding);
            map.insert(
                "rule".into(),
                json!({"name": s.rule.name, "reason": s.rule.reason}),
            );
            Value::Object(map)
        })
        .collect();
    let incidents: Vec<Value> = analysis.incidents.iter().map(incident_json).collect();
    let problems: Vec<Value> = analysis
        .problems
        .iter()
        .map(|p| Value::String(p.to_string()))
        .collect();
    json!({
        "findings": findings,
        "suppressed": suppressed,
        "incidents": incidents,
        "problems": problems,
    })
}

/// The report as pretty-printed JSON text ending in a newline.
pub fn to_json_string(analysis: &Analysis) -> String {
    let mut text =
        serde_json::to_string_pretty(&to_json(analysis)).unwrap_or_else(|_| String::from("{}"));
    text.push('\n');
    text
}
