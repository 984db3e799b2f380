//! Helpers shared by the integration tests: fixture loading and a compact, readable rendering
//! of an analysis (one line per finding) that tests compare against expectations.
#![allow(dead_code)] // each test binary uses a different subset

use statesight_core::analysis::{Analysis, AnalyzeOptions, analyze};
use statesight_core::cause_label;
use statesight_core::manifest::{ManifestObject, Origin, parse_manifests};
use statesight_core::rules::IgnoreRule;

/// The repository's `testdata/` (real captures from public projects; see its README).
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");

pub fn fixture_bytes(relative: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{relative}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {path}: {e}"))
}

pub fn load(relative: &str) -> Vec<ManifestObject> {
    let parsed =
        parse_manifests(relative, &fixture_bytes(relative)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        parsed.problems.is_empty(),
        "{relative}: {:?}",
        parsed.problems
    );
    parsed.objects
}

pub fn yaml(name: &str, text: &str) -> Vec<ManifestObject> {
    let parsed = parse_manifests(name, text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.problems.is_empty(), "{name}: {:?}", parsed.problems);
    parsed.objects
}

/// One line per finding: `change path cause [owners]`, then `suppressed …` lines.
pub fn summary(analysis: &Analysis) -> Vec<String> {
    let mut lines: Vec<String> = analysis
        .findings
        .iter()
        .map(|f| {
            let owners: Vec<&str> = f.owners.iter().map(|o| o.manager.as_str()).collect();
            format!(
                "{} {} {} cause={} owners={}",
                f.change.as_str(),
                f.resource,
                f.path_text,
                cause_label(&f.cause),
                owners.join(",")
            )
        })
        .collect();
    lines.extend(
        analysis
            .suppressed
            .iter()
            .map(|s| format!("suppressed {} by {}", s.finding.path_text, s.rule.name)),
    );
    lines
}

pub fn run(
    desired: &[ManifestObject],
    live: &[ManifestObject],
    namespace: &str,
    rules: &[IgnoreRule],
) -> Analysis {
    let options = AnalyzeOptions {
        default_namespace: namespace.into(),
        application_key: "test".into(),
        ..AnalyzeOptions::default()
    };
    analyze(desired, live, &options, rules)
}

/// The desired object a live object's `last-applied-configuration` annotation records.
pub fn last_applied(live: &ManifestObject) -> Option<ManifestObject> {
    let text = live
        .value
        .pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")?
        .as_str()?;
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    // The annotation sits on this very object, so it names the same resource even where a
    // fixture was captured after a rename (kubectl-blame's `foo` records `iperf`).
    if let Some(metadata) = value
        .get_mut("metadata")
        .and_then(serde_json::Value::as_object_mut)
    {
        metadata.insert("name".into(), live.name.clone().into());
        if let Some(ns) = &live.namespace {
            metadata.insert("namespace".into(), ns.clone().into());
        }
    }
    let origin = Origin {
        file: format!("{} (last-applied)", live.origin.file),
        ..live.origin.clone()
    };
    ManifestObject::from_value(origin, value).ok()
}

/// Compares lines with expectations, printing both in full on mismatch.
pub fn assert_lines(context: &str, got: &[String], expect: &[&str]) {
    let got_ref: Vec<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(
        got_ref,
        expect,
        "\n{context}: got\n  {}\n",
        got.join("\n  ")
    );
}

/// One line per finding (`change path cause`), then `suppressed …` and `problem …` lines:
/// the form data-driven tests compare.
pub fn lines(analysis: &statesight_core::Analysis) -> Vec<String> {
    let mut out: Vec<String> = analysis
        .findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f.change.as_str(),
                f.path_text,
                statesight_core::cause_label(&f.cause)
            )
        })
        .collect();
    out.extend(
        analysis
            .suppressed
            .iter()
            .map(|s| format!("suppressed {} by {}", s.finding.path_text, s.rule.name)),
    );
    out.extend(
        analysis
            .problems
            .iter()
            .map(|p| format!("problem {}", p.message)),
    );
    out
}
