//! `statesight-worker diff`: load desired and live objects, analyse them with the core engine
//! and render the report. Returns the output and the exit code instead of exiting, so tests
//! and benchmarks run it in-process.

use std::path::PathBuf;

use anyhow::{Context, Result};
use statesight_core::analysis::{AnalyzeOptions, analyze};
use statesight_core::bookkeeping::BookkeepingKey;
use statesight_core::report;
use statesight_core::rules::parse_rules_file;

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
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub output: String,
    /// Input problems, also part of the report; shown on standard error.
    pub warnings: Vec<String>,
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
        ..AnalyzeOptions::default()
    };
    let mut analysis = analyze(&desired.objects, &live.objects, &analyze_options, &rules);
    let mut input_problems = desired.problems;
    input_problems.extend(live.problems);
    input_problems.extend(analysis.problems);
    input_problems.sort();
    analysis.problems = input_problems;
    let output = match options.format {
        OutputFormat::Json => report::to_json_string(&analysis),
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
        exit_code,
    })
}
