//! Property tests: an object diffed against its own defaulted live form (defaults added,
//! quantities respelled, keyed lists reordered, server metadata, status, managedFields) gives
//! nothing, and a single injected change gives exactly one finding.

#[path = "../benches/support/synth.rs"]
mod synth;

use proptest::prelude::*;
use statesight_core::analysis::{AnalyzeOptions, analyze};
use statesight_core::manifest::{ManifestObject, Origin};

fn object(value: serde_json::Value, file: &str) -> ManifestObject {
    ManifestObject::from_value(
        Origin {
            file: file.into(),
            document: 1,
            item: None,
        },
        value,
    )
    .unwrap_or_else(|(_, m)| panic!("{m}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn own_defaulted_live_form_gives_nothing(seed in any::<u64>(), kind in 0u64..3) {
        let mut rng = synth::Rng(seed);
        let desired = synth::desired(&mut rng, kind, 7);
        let live = synth::live(&desired, false, 7);
        let analysis = analyze(&[object(desired, "d")], &[object(live, "l")], &AnalyzeOptions::default(), &[]);
        prop_assert!(analysis.findings.is_empty(), "{:#?}", analysis.findings);
        prop_assert!(analysis.problems.is_empty(), "{:?}", analysis.problems);
    }

    #[test]
    fn one_out_of_band_change_gives_one_finding(seed in any::<u64>(), kind in 0u64..3) {
        let mut rng = synth::Rng(seed);
        let desired = synth::desired(&mut rng, kind, 7);
        let live = synth::live(&desired, true, 7);
        let analysis = analyze(&[object(desired, "d")], &[object(live, "l")], &AnalyzeOptions::default(), &[]);
        prop_assert_eq!(analysis.findings.len(), 1, "{:#?}", analysis.findings);
        let f = &analysis.findings[0];
        prop_assert!(matches!(statesight_core::cause_label(&f.cause), "kubectl-edit" | "kubectl-patch"), "{:?}", f);
        prop_assert_eq!(analysis.incidents.len(), 1);
    }
}
