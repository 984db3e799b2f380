//! The console's performance targets: (1) frame time with 50,000 findings on the incident
//! screen (≤ 16 ms), (2) the memory those findings take in the app (≤ 100 MB), and (3) the
//! time from `Enter` on an incident to its evidence drawn against a local server
//! (≤ 100 ms).
//!
//! Run with `cargo bench -p statesight-tui --bench console` (`make bench-tui`). (1) and (2)
//! need nothing; (3) serves the real API in process over a fresh database created on the
//! `DATABASE_URL` server (PostgreSQL and Redis on loopback, as the tests use), with the
//! example applications seeded and analysed by the real worker; the database is dropped at
//! the end. A plain `main` rather than criterion: the memory figures need a global
//! allocator and the Enter-to-evidence loop an event loop of its own, and the figures are
//! printed as one table for the release note.

#[allow(dead_code)] // Shared with the integration tests; the bench uses a part of it.
#[path = "../tests/console/fixtures.rs"]
mod fixtures;
#[allow(dead_code)] // Shared with the integration tests; the bench uses a part of it.
#[path = "../tests/console/served.rs"]
mod served;

use std::alloc::System;
use std::time::{Duration, Instant};

use cap::Cap;
use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, PgPool};
use statesight_core::diff::ChangeKind;
use statesight_core::wire::{
    Attribution, AttributionGrade, DesiredEvidence, Evidence, Finding, LiveEvidence, LiveMethod,
    ObservedAtSource, Owner, OwnerRole, Ownership, Recommendation, ResourceIdentity, Severity,
};
use statesight_tui::client::Reply;
use statesight_tui::console::app::{App, Cmd, Msg, Screen, update};
use statesight_tui::console::draw::draw;
use statesight_tui::console::evidence;
use statesight_tui::console::incident::{FindingItem, Shared, body, layout};
use statesight_tui::console::runtime::{Executor, drive};
use statesight_tui::console::theme::Depth;
use tokio::sync::mpsc;
use uuid::Uuid;

use fixtures::{IncidentSpec, applications, incident, key, loaded_app, new_app, text};

/// Every allocation goes through this counter, so the bench can tell the bytes live at a
/// point and the most ever live (the `stats` feature); no limit is set.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const FINDINGS: usize = 50_000;
/// The server's page size for findings (the console asks for `limit=500`).
const PAGE: usize = 500;
/// The sizes the console is drawn at: a roomy terminal (findings and evidence side by
/// side) and the classic 80×24 (stacked).
const SIZES: [(u16, u16); 2] = [(160, 48), (80, 24)];
/// Frames timed per position; the first `WARMUP` frames are drawn but not timed.
const FRAMES: usize = 300;
const WARMUP: usize = 10;
/// Enter→evidence samples against the served API (cycling over every open incident).
const OPENINGS: usize = 40;
/// What the evidence pane draws above the values once a finding is selected.
const EVIDENCE_MARK: &str = "Desired (Git)";

const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once too.
    if std::env::args().any(|arg| arg == "--test" || arg == "--list") {
        return;
    }
    let mut report = Report::default();
    // Memory first: the allocator's peak counts from the start of the process, so the
    // loading must be the first large thing this process does.
    let mut app = incident_app(&mut report);
    frames(&mut app, &mut report);
    breakdown(&app, &mut report);
    drop(app);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(served_bench(&mut report));
    report.print();
}

// ----------------------------------------------------------------------------------------
// The figures

#[derive(Default)]
struct Report {
    frames: Vec<(String, String, Timing)>,
    memory: Vec<(String, f64, String)>,
    evidence: Option<(Duration, Timing)>,
}

/// Median and 99th percentile (nearest rank) of a set of samples.
#[derive(Clone, Copy)]
struct Timing {
    median: Duration,
    p99: Duration,
    max: Duration,
    samples: usize,
}

impl Timing {
    fn of(mut samples: Vec<Duration>) -> Timing {
        assert!(!samples.is_empty(), "no samples");
        samples.sort();
        let rank = |q: f64| {
            let index = (q * samples.len() as f64).ceil() as usize;
            samples[index.clamp(1, samples.len()) - 1]
        };
        Timing {
            median: rank(0.5),
            p99: rank(0.99),
            max: samples[samples.len() - 1],
            samples: samples.len(),
        }
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1000.0)
}

impl Report {
    fn print(&self) {
        println!();
        println!("## Console benchmark ({FINDINGS} findings in {PAGE}-finding pages)");
        println!();
        println!("Frame time (draw onto ratatui's TestBackend, release build; target <= 16 ms)");
        println!();
        println!(
            "| {:<7} | {:<40} | {:>10} | {:>10} | {:>10} | {:>7} |",
            "size", "what", "median ms", "p99 ms", "max ms", "frames"
        );
        println!(
            "|{:-<9}|{:-<42}|{:->12}|{:->12}|{:->12}|{:->9}|",
            "", "", "", "", "", ""
        );
        for (size, what, t) in &self.frames {
            println!(
                "| {size:<7} | {what:<40} | {:>10} | {:>10} | {:>10} | {:>7} |",
                ms(t.median),
                ms(t.p99),
                ms(t.max),
                t.samples
            );
        }
        println!();
        println!("Memory (bytes live per the counting allocator; target <= 100 MB)");
        println!();
        println!("| {:<58} | {:>9} | {:<28} |", "what", "MiB", "note");
        println!("|{:-<60}|{:->11}|{:-<30}|", "", "", "");
        for (what, mib, note) in &self.memory {
            println!("| {what:<58} | {mib:>9.1} | {note:<28} |");
        }
        println!();
        if let Some((cold, t)) = &self.evidence {
            println!(
                "Enter -> evidence drawn, real Executor + ApiClient against the API served on \
                 loopback (target <= 100 ms)"
            );
            println!();
            println!(
                "| {:<28} | {:>10} | {:>10} | {:>10} | {:>7} |",
                "what", "median ms", "p99 ms", "max ms", "samples"
            );
            println!(
                "|{:-<30}|{:->12}|{:->12}|{:->12}|{:->9}|",
                "", "", "", "", ""
            );
            println!(
                "| {:<28} | {:>10} | {:>10} | {:>10} | {:>7} |",
                "first opening (cold)",
                ms(*cold),
                "",
                "",
                1
            );
            println!(
                "| {:<28} | {:>10} | {:>10} | {:>10} | {:>7} |",
                "following openings",
                ms(t.median),
                ms(t.p99),
                ms(t.max),
                t.samples
            );
        }
    }
}

// ----------------------------------------------------------------------------------------
// 50,000 findings on the incident screen

const INCIDENT: u128 = 0x5eed_0000_0000_4000_8000_0000_0000_b1e5;

/// The fixed time of the generated findings (the draw tests' "now" less an hour).
fn observed() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0)
        .single()
        .expect("a valid time")
}

fn owner(manager: &str, operation: &str, role: OwnerRole) -> Owner {
    Owner {
        manager: manager.to_owned(),
        operation: operation.to_owned(),
        subresource: None,
        time: Some(String::from("2026-11-30T09:15:00Z")),
        role: Some(role),
    }
}

/// A deterministic SHA-256-like digest, as the worker writes for Secret values.
fn digest(index: usize, salt: u64) -> String {
    let mut state = (index as u64 ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = String::from("sha256:");
    for _ in 0..4 {
        state ^= state >> 29;
        state = state.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        out.push_str(&format!("{state:016x}"));
    }
    out
}

/// A long multi-line value (an embedded config file), ~3 KB.
fn long_config(index: usize) -> String {
    (0..60)
        .map(|line| {
            format!(
                "feature.flag_{line:02}.rollout = {}  # ticket OPS-{index}\n",
                line * 7 % 100
            )
        })
        .collect()
}

/// Finding `index` of the incident as the API sends it: 1,000 resources of five kinds in
/// four namespaces, 50 drifted fields each, the paths, values and owners varying with the
/// kind; a long value every 97th finding; full evidence the way the worker writes it.
/// The kind (an index into the kinds of `finding`) whose values are sometimes long.
const LONG_KIND: usize = 2;

fn finding(index: usize) -> Finding {
    let namespace = ["payments", "checkout", "billing", "ledger"][index % 4];
    let workload = index / 50;
    let (kind, group, api_version) = [
        ("Deployment", "apps", "apps/v1"),
        ("Service", "", "v1"),
        ("ConfigMap", "", "v1"),
        ("Secret", "", "v1"),
        ("StatefulSet", "apps", "apps/v1"),
    ][workload % 5];
    debug_assert_eq!(LONG_KIND == workload % 5, kind == "ConfigMap");
    let name = format!("svc-{workload:04}");
    let container = format!("app-{}", index % 3);
    let (path, change, desired, live): (String, ChangeKind, Option<Value>, Option<Value>) =
        match kind {
            "Service" => (
                format!("spec.ports[port={}].targetPort", 8000 + index % 50),
                ChangeKind::Changed,
                Some(json!(8080)),
                Some(json!(9090 + index % 7)),
            ),
            "ConfigMap" if index.is_multiple_of(97) => (
                format!("data.settings-{}.properties", index % 50),
                ChangeKind::Changed,
                Some(json!(long_config(index))),
                Some(json!(long_config(index + 1))),
            ),
            "ConfigMap" => (
                format!("data.settings-{}.level", index % 50),
                ChangeKind::Changed,
                Some(json!("info")),
                Some(json!(format!("debug-{index}"))),
            ),
            "Secret" => (
                format!("data.password-{}", index % 50),
                ChangeKind::Changed,
                Some(json!(digest(index, 1))),
                Some(json!(digest(index, 2))),
            ),
            _ => match index % 5 {
                0 => (
                    format!("spec.template.spec.containers[name={container}].image"),
                    ChangeKind::Changed,
                    Some(json!(format!("registry.example.com/acme/{name}:1.{index}"))),
                    Some(json!(format!(
                        "registry.example.com/acme/{name}:1.{index}-hotfix"
                    ))),
                ),
                1 => (
                    String::from("spec.replicas"),
                    ChangeKind::Changed,
                    Some(json!(3)),
                    Some(json!(5 + index % 4)),
                ),
                2 => (
                    format!("spec.template.spec.containers[name={container}].resources"),
                    ChangeKind::Changed,
                    Some(json!({ "requests": { "cpu": "500m", "memory": "256Mi" } })),
                    Some(json!({
                        "limits": { "cpu": "2", "memory": "1Gi" },
                        "requests": { "cpu": "1", "memory": "512Mi" }
                    })),
                ),
                3 => (
                    format!("spec.template.metadata.annotations.deploy.example.com/rev-{index}"),
                    ChangeKind::AddedInLive,
                    None,
                    Some(json!(format!("rev-{index}"))),
                ),
                _ => (
                    format!(
                        "spec.template.spec.containers[name={container}].env[name=FEATURE_{index}]"
                    ),
                    ChangeKind::MissingInLive,
                    Some(json!({ "name": format!("FEATURE_{index}"), "value": "on" })),
                    None,
                ),
            },
        };
    let intruder = ["kubectl-edit", "hpa-tuner", "flagger", "mesh-injector"][index % 4];
    let owners = match change {
        ChangeKind::MissingInLive => Vec::new(),
        _ => vec![
            owner("argocd-controller", "Apply", OwnerRole::Applier),
            owner(intruder, "Update", OwnerRole::Other),
        ],
    };
    let note = if owners.is_empty() {
        "no managedFields entry owns this path"
    } else {
        "managedFields ownership is evidence of who last wrote or asserted the field, not proof of causation"
    };
    Finding {
        id: Uuid::from_u128(0xf1d0_0000_0000_4000_8000_0000_0000_0000 + index as u128),
        incident_id: Uuid::from_u128(INCIDENT),
        run_id: Some(Uuid::from_u128(0x7e57_0000_0000_4000_8000_0000_0000_0001)),
        resource: ResourceIdentity {
            api_version: api_version.to_owned(),
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.clone(),
        },
        path,
        change,
        desired,
        live,
        owners: owners.clone(),
        evidence: Evidence {
            desired: DesiredEvidence {
                repository: String::from("https://git.example.com/acme/payments-deploy.git"),
                git_ref: String::from("main"),
                source_path: Some(String::from("apps/payments/overlays/prod")),
                file: Some(format!("apps/payments/overlays/prod/{name}.yaml")),
                document: Some(1 + (index % 3) as u32),
                revision: String::from("b5ee0cda96b7c1f9b095afe8fec61cacf0952fcd"),
                committed_at: Some(observed() - chrono::Duration::hours(20)),
                since: None,
            },
            live: LiveEvidence {
                method: LiveMethod::KubeApi,
                cluster: String::from("prod-eu-1"),
                cluster_id: Some(Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0301)),
                observed_at: observed(),
                observed_at_source: Some(ObservedAtSource::Collector),
                context: Some(String::from("prod-eu-1-admin")),
                trusted: true,
            },
            ownership: Ownership {
                owners,
                note: note.to_owned(),
            },
            attribution: Attribution {
                grade: AttributionGrade::NotAttributed,
                reason: String::from("no Kubernetes audit events were ingested for this cluster"),
                events: Vec::new(),
            },
        },
        observed_at: observed(),
    }
}

fn live_mib() -> f64 {
    ALLOCATOR.allocated() as f64 / MIB
}

/// `VmRSS` and `VmHWM` of this process in MiB (what the kernel sees, allocator overhead
/// and fragmentation included), when `/proc` tells.
fn rss_mib() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The payments fixtures loaded, the incident screen opened, and the 50,000 findings
/// delivered through `update` page by page as the runtime would (each page is built just
/// before it is delivered, like a reply deserialized off the wire, so the bench holds no
/// copy of its own). Records the memory figures.
fn incident_app(report: &mut Report) -> App {
    let (width, height) = SIZES[0];
    let mut app = loaded_app(Depth::TrueColor, (width, height));
    let apps = applications();
    let ledger = apps
        .iter()
        .find(|a| a.name == "ledger")
        .expect("the ledger fixture");
    let mut wire = incident(&IncidentSpec {
        id: INCIDENT,
        application: ledger,
        severity: Severity::High,
        title: "Deployment payments/ledger: 50,000 fields changed by kubectl-edit",
        kind: "Deployment",
        name: "ledger",
        manager: "kubectl-edit",
        recommendation: Recommendation::Reconcile,
        minutes_ago: 5,
    });
    wire.finding_count = FINDINGS as i32;
    let commands = app.open_incident(wire.id, &wire.title.clone());
    let mut findings_seq = None;
    for command in commands {
        match command {
            Cmd::FetchIncident { seq, .. } => {
                update(
                    &mut app,
                    Msg::Incident {
                        seq,
                        result: Ok(fixtures::reply(wire.clone())),
                    },
                );
            }
            Cmd::FetchTimeline { seq, .. } => {
                update(
                    &mut app,
                    Msg::Timeline {
                        seq,
                        result: Ok(fixtures::reply(Vec::new())),
                    },
                );
            }
            Cmd::FetchFindings { seq, .. } => findings_seq = Some(seq),
            _ => {}
        }
    }
    let seq = findings_seq.expect("opening an incident asks for its findings");

    let baseline = ALLOCATOR.allocated();
    let started = Instant::now();
    for page in 0..FINDINGS / PAGE {
        let data: Vec<Finding> = (page * PAGE..(page + 1) * PAGE).map(finding).collect();
        let last = page + 1 == FINDINGS / PAGE;
        let next = update(
            &mut app,
            Msg::Findings {
                seq,
                first: page == 0,
                result: Ok(Reply {
                    data,
                    request_id: None,
                    next_cursor: (!last).then(|| format!("cursor-{page}")),
                }),
            },
        );
        // The app asks for the next page exactly while there is one.
        assert_eq!(
            next.iter().any(|c| matches!(
                c,
                Cmd::FetchFindings {
                    cursor: Some(_),
                    ..
                }
            )),
            !last,
            "page {page}: {next:?}"
        );
    }
    let loading = started.elapsed();
    let screen = app.incident.as_ref().expect("the incident screen");
    assert_eq!(screen.findings.len(), FINDINGS);
    assert!(screen.findings_complete && !screen.loading());

    let live = ALLOCATOR.allocated().saturating_sub(baseline);
    let peak = ALLOCATOR.max_allocated().saturating_sub(baseline);
    let verdict = |mib: f64| {
        if mib * MIB <= 100e6 {
            String::from("within 100 MB")
        } else {
            format!("{:.1} MB over 100 MB", (mib * MIB - 100e6) / 1e6)
        }
    };
    let loaded_mib = live as f64 / MIB;
    let peak_mib = peak as f64 / MIB;
    report.memory.push((
        format!("{FINDINGS} findings live in the App after loading"),
        loaded_mib,
        verdict(loaded_mib),
    ));
    report.memory.push((
        String::from("peak above that baseline while loading"),
        peak_mib,
        verdict(peak_mib),
    ));
    report.memory.push((
        String::from("the whole process, for reference (allocator)"),
        live_mib(),
        String::new(),
    ));
    if let Some((rss, hwm)) = rss_mib() {
        report.memory.push((
            String::from("process RSS after loading"),
            rss,
            String::new(),
        ));
        report.memory.push((
            String::from("process peak RSS (VmHWM) so far"),
            hwm,
            String::new(),
        ));
    }
    println!(
        "loaded {FINDINGS} findings through update() in {:.0} ms",
        loading.as_secs_f64() * 1000.0
    );
    app
}

/// What the findings' bytes are made of: the same 50,000 findings built again outside
/// the app and measured piece by piece (clones allocate what the originals hold, give or
/// take spare capacity).
fn breakdown(app: &App, report: &mut Report) {
    let screen = app.incident.as_ref().expect("the incident screen");
    let measure = |build: &dyn Fn() -> Box<dyn std::any::Any>| {
        let before = ALLOCATOR.allocated();
        let value = build();
        let bytes = ALLOCATOR.allocated().saturating_sub(before);
        drop(value);
        bytes as f64 / MIB
    };
    let wire: Vec<Finding> = (0..FINDINGS).map(finding).collect();
    let wire_mib = measure(&|| Box::new((0..FINDINGS).map(finding).collect::<Vec<_>>()));
    let evidence_mib = measure(&|| {
        Box::new(
            wire.iter()
                .map(|f| f.evidence.clone())
                .collect::<Vec<Evidence>>(),
        )
    });
    let values_mib = measure(&|| {
        Box::new(
            wire.iter()
                .map(|f| (f.desired.clone(), f.live.clone()))
                .collect::<Vec<_>>(),
        )
    });
    let owners_mib = measure(&|| {
        Box::new(
            wire.iter()
                .map(|f| f.owners.clone())
                .collect::<Vec<Vec<Owner>>>(),
        )
    });
    let items_mib = measure(&|| {
        let mut shared = Shared::default();
        Box::new(
            wire.iter()
                .cloned()
                .map(|finding| FindingItem::sharing(finding, &mut shared))
                .collect::<Vec<FindingItem>>(),
        )
    });
    drop(wire);
    let item_size = std::mem::size_of::<FindingItem>();
    let spare = (screen.findings.capacity() - screen.findings.len()) * item_size;
    report.memory.push((
        String::from("  the wire Findings alone"),
        wire_mib,
        format!("{} B inline each", std::mem::size_of::<Finding>()),
    ));
    report.memory.push((
        String::from("    of which Evidence (its owners repeat the finding's)"),
        evidence_mib,
        format!("{} B inline; same per run", std::mem::size_of::<Evidence>()),
    ));
    report.memory.push((
        String::from("    of which desired/live values"),
        values_mib,
        String::new(),
    ));
    report.memory.push((
        String::from("    of which owners"),
        owners_mib,
        String::new(),
    ));
    report.memory.push((
        format!("  FindingItems as kept (run evidence shared, {item_size} B inline)"),
        items_mib,
        String::from("cells are made for the rows in view"),
    ));
    report.memory.push((
        format!(
            "  spare capacity of the findings Vec ({} of {})",
            screen.findings.capacity() - screen.findings.len(),
            screen.findings.capacity()
        ),
        spare as f64 / MIB,
        String::from("Vec doubling"),
    ));
}

/// Draws `app` `WARMUP + FRAMES` times onto `terminal`; the times of the last `FRAMES`.
fn time_frames(app: &App, terminal: &mut Terminal<TestBackend>) -> Timing {
    for _ in 0..WARMUP {
        terminal.draw(|frame| draw(frame, app)).expect("draw");
    }
    let samples = (0..FRAMES)
        .map(|_| {
            let started = Instant::now();
            terminal.draw(|frame| draw(frame, app)).expect("draw");
            started.elapsed()
        })
        .collect();
    Timing::of(samples)
}

fn position(app: &App) -> usize {
    app.incident
        .as_ref()
        .map(|screen| screen.cursor.position)
        .unwrap_or_default()
}

/// Frame times at both sizes with the selection at the top, in the middle and at the
/// bottom, and one `j` keypress plus the redraw.
fn frames(app: &mut App, report: &mut Report) {
    for (width, height) in SIZES {
        update(app, Msg::Resize(width, height));
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
        let size = format!("{width}x{height}");
        update(app, key(KeyCode::Char('g')));
        assert_eq!(position(app), 0, "g selects the first finding");
        let timing = time_frames(app, &mut terminal);
        report.frames.push((
            size.clone(),
            String::from("selection at the top (row 1)"),
            timing,
        ));

        // The middle, the way a user gets there: PageDown until half way, then `j`s.
        let mut presses = 0;
        while position(app) + 1000 < FINDINGS / 2 {
            update(app, key(KeyCode::PageDown));
            presses += 1;
        }
        while position(app) < FINDINGS / 2 {
            update(app, key(KeyCode::Char('j')));
            presses += 1;
        }
        let middle = position(app);
        let timing = time_frames(app, &mut terminal);
        report.frames.push((
            size.clone(),
            format!("selection in the middle (row {})", middle + 1),
            timing,
        ));
        println!(
            "{size}: {presses} keys (PageDown, then j) to reach row {}",
            middle + 1
        );

        // One `j` and the frame after it, as the event loop does per key.
        let samples = (0..FRAMES)
            .map(|_| {
                let started = Instant::now();
                update(app, key(KeyCode::Char('j')));
                terminal.draw(|frame| draw(frame, app)).expect("draw");
                started.elapsed()
            })
            .collect();
        report.frames.push((
            size.clone(),
            format!("j + redraw (rows {}..{})", middle + 2, middle + 1 + FRAMES),
            Timing::of(samples),
        ));

        // A finding whose values are ~3 KB of 60 lines each: the evidence pane highlights
        // and diffs them on every frame.
        let long = (FINDINGS / 2..FINDINGS)
            .find(|&i| LONG_KIND == (i / 50) % 5 && i.is_multiple_of(97))
            .expect("a long value past the middle");
        while position(app) != long {
            let code = if position(app) < long { 'j' } else { 'k' };
            update(app, key(KeyCode::Char(code)));
        }
        let timing = time_frames(app, &mut terminal);
        report.frames.push((
            size.clone(),
            format!("selection on a 3 KB value (row {})", long + 1),
            timing,
        ));
        // Where that frame goes: building the evidence pane's lines (highlighting and
        // diffing the values), which the draw does on every frame.
        let screen = app.incident.as_ref().expect("the incident screen");
        let pane = layout(body(app.size)).evidence.width;
        let samples = (0..FRAMES / 10)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(evidence::lines(app, screen, pane));
                started.elapsed()
            })
            .collect();
        report.frames.push((
            size.clone(),
            String::from("  of which evidence::lines (no drawing)"),
            Timing::of(samples),
        ));

        update(app, key(KeyCode::Char('G')));
        assert_eq!(position(app), FINDINGS - 1, "G selects the last finding");
        let timing = time_frames(app, &mut terminal);
        report.frames.push((
            size,
            format!("selection at the bottom (row {FINDINGS})"),
            timing,
        ));
    }
    // Back to the size the app was loaded at.
    update(app, Msg::Resize(SIZES[0].0, SIZES[0].1));
}

// ----------------------------------------------------------------------------------------
// Enter → evidence against the API served in process

/// A fresh database on the `DATABASE_URL` server, dropped by `drop_database`.
async fn create_database() -> (PgConnectOptions, String) {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| String::from("postgres://postgres@127.0.0.1:5432/postgres"));
    let admin: PgConnectOptions = url.parse().expect("DATABASE_URL is a PostgreSQL URL");
    let name = format!("statesight_bench_tui_{}", Uuid::new_v4().simple());
    let mut connection = admin.connect().await.expect("connecting to DATABASE_URL");
    // The name is ours (a prefix and a UUID's hex digits), nothing to escape.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("creating the bench database");
    (admin, name)
}

async fn drop_database(admin: &PgConnectOptions, name: &str) {
    match admin.connect().await {
        Ok(mut connection) => {
            if let Err(error) = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut connection)
            .await
            {
                eprintln!("dropping the bench database {name}: {error}");
            }
        }
        Err(error) => eprintln!("dropping the bench database {name}: {error}"),
    }
}

async fn served_bench(report: &mut Report) {
    let (admin, name) = create_database().await;
    let options = admin.clone().database(&name);
    // Everything that can fail runs in a task so the database is dropped either way.
    let outcome = tokio::spawn(async move {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .expect("connecting to the bench database");
        statesight_store::migrate(&pool)
            .await
            .expect("migrating the bench database");
        let started = Instant::now();
        served::seeded_and_analysed(&pool).await;
        println!(
            "seeded and analysed the examples in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let figures = openings(&pool).await;
        pool.close().await;
        figures
    })
    .await;
    drop_database(&admin, &name).await;
    match outcome {
        Ok(figures) => report.evidence = Some(figures),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => panic!("the served bench was cancelled: {error}"),
    }
}

/// The console as the runtime runs it, with a `TestBackend` for a terminal and no key
/// events but the ones the bench sends.
struct Console {
    app: App,
    executor: Executor,
    replies: mpsc::UnboundedReceiver<Msg>,
    terminal: Terminal<TestBackend>,
}

impl Console {
    fn execute(&mut self, commands: Vec<Cmd>) {
        for command in commands {
            self.executor.execute(command);
        }
    }

    fn draw(&mut self) {
        let app = &self.app;
        self.terminal.draw(|frame| draw(frame, app)).expect("draw");
    }

    /// The event loop of the runtime, without the terminal's events: waits for the next
    /// reply, updates with it and everything else already waiting, executes the commands,
    /// draws; until `done` says so after a frame. The time of that frame's end.
    async fn run_until(&mut self, done: impl Fn(&Console) -> bool) -> Instant {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let drawn = Instant::now();
            if done(self) {
                return drawn;
            }
            let message = tokio::time::timeout_at(deadline, self.replies.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "the console did not get there in 20 s:\n{}",
                        text(self.terminal.backend().buffer())
                    )
                })
                .expect("the executor's channel is open");
            let mut commands = update(&mut self.app, message);
            while let Ok(message) = self.replies.try_recv() {
                commands.extend(update(&mut self.app, message));
            }
            self.execute(commands);
            self.draw();
        }
    }
}

fn shows_evidence(console: &Console) -> bool {
    text(console.terminal.backend().buffer()).contains(EVIDENCE_MARK)
}

/// The demo loaded as `make demo` serves it, then `OPENINGS` times: an application's
/// Incidents tab, `Enter` on one of its incidents, the loop run until a frame shows the
/// evidence (timed), then `Esc` back once the incident screen has every reply.
async fn openings(pool: &PgPool) -> (Duration, Timing) {
    let server = served::Server::start(pool).await;
    let (width, height) = SIZES[0];
    let mut app = new_app(Depth::TrueColor, (width, height));
    app.now = Utc::now();
    let start = app.start();
    let loaded = drive(
        &mut app,
        server.client(),
        None,
        start,
        Duration::from_secs(20),
        |app| app.overview.is_some() && app.apps_load.complete && app.incidents_load.complete,
    )
    .await;
    assert!(loaded, "the console did not load the demo");
    // The applications list, from where an application opens as Enter on its row would.
    update(&mut app, key(KeyCode::Char('2')));
    assert_eq!(app.screen(), Screen::Applications);
    let targets: Vec<Uuid> = app
        .apps
        .iter()
        .filter(|row| row.open_total > 0)
        .map(|row| row.id)
        .collect();
    assert!(!targets.is_empty(), "the demo has open incidents");

    let (sender, replies) = mpsc::unbounded_channel();
    let mut console = Console {
        app,
        executor: Executor::new(server.client(), None, sender),
        replies,
        terminal: Terminal::new(TestBackend::new(width, height)).expect("a test terminal"),
    };
    let mut samples = Vec::new();
    'rounds: for _round in 0.. {
        for &application_id in &targets {
            // Applications list → application (its Incidents tab is the first).
            let commands = console.app.open_application(application_id);
            console.execute(commands);
            console.draw();
            console
                .run_until(|c| {
                    c.app
                        .application
                        .as_ref()
                        .is_some_and(|screen| !screen.loading())
                })
                .await;
            let rows = console
                .app
                .application
                .as_ref()
                .map(|screen| screen.incidents().len())
                .unwrap_or_default();
            for row in 0..rows {
                update(&mut console.app, key(KeyCode::Char('g')));
                for _ in 0..row {
                    update(&mut console.app, key(KeyCode::Char('j')));
                }
                console.draw();

                let pressed = Instant::now();
                let commands = update(&mut console.app, key(KeyCode::Enter));
                assert!(
                    matches!(console.app.screen(), Screen::Incident(_)),
                    "Enter opens the incident"
                );
                console.execute(commands);
                console.draw();
                let drawn = console.run_until(shows_evidence).await;
                samples.push(drawn - pressed);

                // Let the rest of the incident's replies land before leaving it, so they
                // do not fall into the next sample.
                console
                    .run_until(|c| c.app.incident.as_ref().is_some_and(|s| !s.loading()))
                    .await;
                update(&mut console.app, key(KeyCode::Esc));
                if samples.len() > OPENINGS {
                    break 'rounds;
                }
            }
            update(&mut console.app, key(KeyCode::Esc));
            assert!(
                console.app.screen() == Screen::Applications,
                "Esc leaves the application"
            );
        }
    }
    console.executor.shutdown();
    server.stop().await;
    let cold = samples.remove(0);
    (cold, Timing::of(samples))
}
