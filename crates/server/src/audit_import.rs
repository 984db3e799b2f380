//! `statesight-server admin k8s-audit import`: a Kubernetes audit log file (JSON lines, as
//! the API server's log backend writes it; gzipped or not) stored for a cluster exactly as
//! the webhook route stores deliveries. Good lines are stored even when others are not
//! usable; the bad ones are listed (line number and why) and make the exit status 1.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};
use sqlx::PgPool;
use statesight_core::k8s_audit::{Admission, KeptEvent, admit, events_in_body};
use statesight_core::wire::AuditIngestReport;

/// Events stored per statement: large enough to be fast, small enough that an interrupted
/// import has stored nearly everything before the interruption (a rerun skips those).
const BATCH: usize = 500;
/// Bad lines listed by line number; the rest are counted.
const LISTED_PROBLEMS: usize = 20;
/// The longest line read (an event with two large bodies); longer lines are refused.
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub totals: AuditIngestReport,
    /// `(line, why)` of the first unusable lines.
    pub problems: Vec<(u64, String)>,
    pub unusable: u64,
}

pub async fn run(
    pool: &PgPool,
    cluster: &str,
    workspace: Option<&str>,
    file: &Path,
) -> anyhow::Result<()> {
    let cluster_id = resolve_cluster(pool, cluster, workspace).await?;
    let reader = open(file)?;
    let report = import(pool, cluster_id, reader).await?;
    let totals = report.totals;
    println!(
        "{} events read: {} stored, {} already stored, {} dropped (incomplete stages {}, \
         read-only {}, without an object {})",
        totals.received,
        totals.stored,
        totals.duplicates,
        totals.dropped_incomplete + totals.dropped_read_only + totals.dropped_non_resource,
        totals.dropped_incomplete,
        totals.dropped_read_only,
        totals.dropped_non_resource,
    );
    if report.unusable > 0 {
        for (line, why) in &report.problems {
            eprintln!("line {line}: {why}");
        }
        if report.unusable > report.problems.len() as u64 {
            eprintln!(
                "… and {} more unusable lines",
                report.unusable - report.problems.len() as u64
            );
        }
        bail!(
            "{} lines of {} are not usable audit events (listed above); everything else was \
             stored, so fixing or removing those lines and importing again stores only them",
            report.unusable,
            file.display()
        );
    }
    Ok(())
}

async fn resolve_cluster(
    pool: &PgPool,
    cluster: &str,
    workspace: Option<&str>,
) -> anyhow::Result<uuid::Uuid> {
    let workspace_id = match workspace {
        Some(reference) => Some(
            statesight_store::provisioning::find_workspace(pool, reference)
                .await?
                .with_context(|| format!("no workspace {reference:?} (name or id)"))?
                .id,
        ),
        None => None,
    };
    let found = statesight_store::k8s_audit::clusters_named(pool, cluster, workspace_id).await?;
    match found.as_slice() {
        [one] => Ok(one.id),
        [] => bail!("no cluster {cluster:?}; `GET /api/v1/clusters` lists a workspace's clusters"),
        many => {
            let workspaces: Vec<&str> = many.iter().map(|c| c.workspace_name.as_str()).collect();
            bail!(
                "clusters named {cluster:?} exist in several workspaces ({}); say which with \
                 --workspace",
                workspaces.join(", ")
            )
        }
    }
}

/// The file, decompressed when it starts with gzip's magic bytes.
fn open(file: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    let mut handle = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut magic = [0u8; 2];
    let read = handle
        .read(&mut magic)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let handle = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    if read == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            handle,
        ))))
    } else {
        Ok(Box::new(BufReader::new(handle)))
    }
}

/// Reads every line, storing kept events in batches.
pub async fn import(
    pool: &PgPool,
    cluster_id: uuid::Uuid,
    mut reader: Box<dyn BufRead>,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut batch: Vec<KeptEvent> = Vec::with_capacity(BATCH);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .context("reading the audit log (is it a complete gzip file?)")?;
        if read == 0 {
            break;
        }
        number += 1;
        if line.len() > MAX_LINE_BYTES {
            report.problem(number, format!("longer than {MAX_LINE_BYTES} bytes"));
            skip_rest_of_line(&mut reader)?;
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        sort_line(&line, number, &mut report, &mut batch);
        if batch.len() >= BATCH {
            flush(pool, cluster_id, &mut batch, &mut report).await?;
        }
    }
    flush(pool, cluster_id, &mut batch, &mut report).await?;
    Ok(report)
}

fn sort_line(line: &[u8], number: u64, report: &mut ImportReport, batch: &mut Vec<KeptEvent>) {
    let events = match events_in_body(line) {
        Ok(events) => events,
        Err(error) => {
            report.problem(number, error.to_string());
            return;
        }
    };
    for event in &events {
        report.totals.received += 1;
        match admit(event) {
            Ok(Admission::Keep(event)) => batch.push(*event),
            Ok(Admission::Drop(reason)) => report.totals.dropped(reason),
            Err(error) => report.problem(number, error.to_string()),
        }
    }
}

async fn flush(
    pool: &PgPool,
    cluster_id: uuid::Uuid,
    batch: &mut Vec<KeptEvent>,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let stored = statesight_store::k8s_audit::store_events(pool, cluster_id, batch)
        .await
        .context("storing audit events (is DATABASE_URL right?)")?;
    report.totals.stored += stored;
    report.totals.duplicates += batch.len() as u64 - stored;
    batch.clear();
    Ok(())
}

fn skip_rest_of_line(reader: &mut Box<dyn BufRead>) -> anyhow::Result<()> {
    loop {
        let buffer = reader.fill_buf().context("reading the audit log")?;
        if buffer.is_empty() {
            return Ok(());
        }
        match buffer.iter().position(|b| *b == b'\n') {
            Some(end) => {
                reader.consume(end + 1);
                return Ok(());
            }
            None => {
                let len = buffer.len();
                reader.consume(len);
            }
        }
    }
}

impl ImportReport {
    fn problem(&mut self, line: u64, why: String) {
        self.unusable += 1;
        if self.problems.len() < LISTED_PROBLEMS {
            let why: String = statesight_core::terminal::escape_for_terminal(&why)
                .chars()
                .take(300)
                .collect();
            self.problems.push((line, why));
        }
    }
}
