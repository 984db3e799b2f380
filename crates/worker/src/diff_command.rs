//! `statesight-worker diff`: load desired and live objects, analyse them with the core engine
//! and render the report. Returns the output and the exit code instead of exiting, so tests
//! and benchmarks run it in-process.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;
use statesight_core::analysis::{Analysis, AnalyzeOptions, analyze};
use statesight_core::bookkeeping::BookkeepingKey;
use statesight_core::report;
use statesight_core::rules::parse_rules_file;
use statesight_core::secret::SecretDigester;

use crate::{inputs, text_report};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Validated options of one run.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    pub desired: Vec<PathBuf>,
    pub live: Vec<PathBuf>,
    pub namespace: String,
    pub rules: Option<PathBuf>,
    pub applier: Option<String>,
    pub format: OutputFormat,
    /// Labels and annotations GitOps tools add to what they apply (never drift when Git
    /// does not declare them; see `statesight_core::bookkeeping`).
    pub bookkeeping_keys: Vec<BookkeepingKey>,
    /// Digests Secret values: keyed when a key was given, unkeyed `sha256:` otherwise.
    pub secret_digester: SecretDigester,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub output: String,
    /// Input problems, also part of the report; shown on standard error.
    pub warnings: Vec<String>,
    /// Remarks about how the run was made (an unkeyed digest fallback); shown on standard
    /// error, never part of the exit status.
    pub notes: Vec<String>,
    /// 0 no unsuppressed drift, 1 drift, 2 the analysis is incomplete (problems in the input).
    pub exit_code: u8,
}

/// Runs the offline diff. Errors (unreadable or invalid input) map to exit code 2 in `main`.
pub fn run(options: &DiffOptions, color: bool) -> Result<Outcome> {
    let desired = inputs::load(&options.desired).context("loading desired manifests")?;
    let live = inputs::load(&options.live).context("loading live objects")?;
    let rules = match &options.rules {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            parse_rules_file(&path.display().to_string(), &bytes)?
        }
        None => Vec::new(),
    };
    let analyze_options = AnalyzeOptions {
        application_key: "offline".into(),
        default_namespace: options.namespace.clone(),
        applier: options.applier.clone(),
        bookkeeping_keys: options.bookkeeping_keys.clone(),
        secret_digester: options.secret_digester.clone(),
        ..AnalyzeOptions::default()
    };
    let mut analysis = analyze(&desired.objects, &live.objects, &analyze_options, &rules);
    let mut input_problems = desired.problems;
    input_problems.extend(live.problems);
    input_problems.extend(analysis.problems);
    input_problems.sort();
    analysis.problems = input_problems;
    let output = match options.format {
        OutputFormat::Json => json_report(&analysis, &options.secret_digester),
        OutputFormat::Text => text_report::render(&analysis, color),
    };
    let exit_code = if !analysis.problems.is_empty() {
        2
    } else if analysis.has_drift() {
        1
    } else {
        0
    };
    Ok(Outcome {
        output,
        warnings: analysis.problems.iter().map(ToString::to_string).collect(),
        notes: digest_notes(&options.secret_digester),
        exit_code,
    })
}

/// Says plainly when Secret values are digested without a key: such digests of weak values
/// can be reversed with a dictionary.
fn digest_notes(digester: &SecretDigester) -> Vec<String> {
    match digester.key_id() {
        Some(_) => Vec::new(),
        None => vec![format!(
            "no Secret digest key ({} or --secret-digest-key-file): falling back to unkeyed sha256 digests of Secret values, which a dictionary can reverse for weak values",
            crate::digest_key::KEY_ENV
        )],
    }
}

/// The core report plus `secret_digest`: the scheme and key id the Secret digests were made
/// with, so a reader knows whether two reports' digests are comparable.
fn json_report(analysis: &Analysis, digester: &SecretDigester) -> String {
    let mut value = report::to_json(analysis);
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "secret_digest".into(),
            json!({"scheme": digester.scheme(), "key_id": digester.key_id()}),
        );
    }
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| String::from("{}"));
    text.push('\n');
    text
}
