//! Core benchmarks on 10,000 generated Deployment/Service/ConfigMap pairs with managedFields
//! and ~1% drift: (a) parsing the YAML text of both sides, (b) the engine alone —
//! normalization, diff, ownership, rules and incidents — on already-parsed values.

#[path = "support/synth.rs"]
mod synth;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use statesight_core::analysis::{AnalyzeOptions, analyze};
use statesight_core::manifest::{ManifestObject, Origin, parse_manifests};

const PAIRS: usize = 10_000;

fn objects(values: Vec<serde_json::Value>, file: &str) -> Vec<ManifestObject> {
    values
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| {
            ManifestObject::from_value(
                Origin {
                    file: file.into(),
                    document: i + 1,
                    item: None,
                },
                v,
            )
            .ok()
        })
        .collect()
}

fn yaml_stream(values: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for v in values {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(v).unwrap_or_default());
    }
    out
}

fn bench(c: &mut Criterion) {
    let pairs = synth::pairs(PAIRS, 42);
    let (desired_values, live_values): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    let desired_text = yaml_stream(&desired_values);
    let live_text = yaml_stream(&live_values);
    let desired = objects(desired_values, "desired.yaml");
    let live = objects(live_values, "live.yaml");
    let options = AnalyzeOptions::default();
    let check = analyze(&desired, &live, &options, &[]);
    assert_eq!(check.findings.len(), PAIRS / 100, "expected ~1% drift");

    let mut group = c.benchmark_group("10k_pairs");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PAIRS as u64));
    group.bench_function("a_parse_yaml_both_sides", |b| {
        b.iter(|| {
            let d = parse_manifests("desired.yaml", desired_text.as_bytes())
                .map(|p| p.objects.len())
                .unwrap_or(0);
            let l = parse_manifests("live.yaml", live_text.as_bytes())
                .map(|p| p.objects.len())
                .unwrap_or(0);
            assert_eq!(d + l, 2 * PAIRS);
        })
    });
    group.bench_function("b_engine_on_parsed_values", |b| {
        b.iter(|| {
            let analysis = analyze(&desired, &live, &options, &[]);
            assert_eq!(analysis.findings.len(), PAIRS / 100);
        })
    });
    group.bench_function("b1_ownership_tries_only", |b| {
        b.iter(|| {
            live.iter()
                .map(|o| {
                    statesight_core::fields::FieldOwnership::from_object(&o.value)
                        .0
                        .node_count()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
