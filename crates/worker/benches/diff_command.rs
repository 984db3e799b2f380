//! Benchmarks of the offline command on 10,000 generated pairs written to disk as YAML (desired
//! as multi-document files, live as `kind: List` dumps like `kubectl get -o yaml`):
//! (a) reading and parsing the files only, (c) the whole `diff` command, files → JSON.

#[path = "../../core/benches/support/synth.rs"]
mod synth;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use statesight_worker::diff_command::{DiffOptions, OutputFormat, run};
use statesight_worker::inputs;

const PAIRS: usize = 10_000;
const PER_FILE: usize = 500;

fn write_inputs(dir: &std::path::Path) {
    let pairs = synth::pairs(PAIRS, 42);
    std::fs::create_dir_all(dir.join("desired")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.join("live")).unwrap_or_else(|e| panic!("{e}"));
    for (n, chunk) in pairs.chunks(PER_FILE).enumerate() {
        let mut desired = String::new();
        for (d, _) in chunk {
            desired.push_str("---\n");
            desired.push_str(&serde_saphyr::to_string(d).unwrap_or_default());
        }
        std::fs::write(dir.join(format!("desired/part-{n:03}.yaml")), desired)
            .unwrap_or_else(|e| panic!("{e}"));
        let items: Vec<serde_json::Value> = chunk.iter().map(|(_, l)| l.clone()).collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}});
        std::fs::write(
            dir.join(format!("live/part-{n:03}.yaml")),
            serde_saphyr::to_string(&list).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_inputs(dir.path());
    let options = DiffOptions {
        desired: vec![dir.path().join("desired")],
        live: vec![dir.path().join("live")],
        namespace: "default".into(),
        rules: None,
        applier: None,
        format: OutputFormat::Json,
        bookkeeping_keys: statesight_core::bookkeeping::default_bookkeeping_keys(),
        secret_digester: statesight_core::secret::SecretDigester::unkeyed(),
    };
    let check = run(&options, false).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(check.exit_code, 1);

    let mut group = c.benchmark_group("10k_pairs_on_disk");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PAIRS as u64));
    group.bench_function("a_read_and_parse_files", |b| {
        b.iter(|| {
            let d = inputs::load(&options.desired)
                .map(|p| p.objects.len())
                .unwrap_or(0);
            let l = inputs::load(&options.live)
                .map(|p| p.objects.len())
                .unwrap_or(0);
            assert_eq!(d + l, 2 * PAIRS);
        })
    });
    group.bench_function("c_whole_diff_command_to_json", |b| {
        b.iter(|| {
            let outcome = run(&options, false).unwrap_or_else(|e| panic!("{e:#}"));
            assert_eq!(outcome.exit_code, 1);
            outcome.output.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
