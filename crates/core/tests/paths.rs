//! The drift path grammar: printing, parsing, error positions, rule matching, and the
//! round-trip property (print → parse gives the same path; parse → print the same text).

use proptest::prelude::*;
use statesight_core::paths::{DriftPath, Segment, parse};

fn check(input: &str, expect: &str) {
    let got = match parse(input) {
        Ok(path) => {
            let segments: Vec<String> = path
                .segments
                .iter()
                .map(|s| match s {
                    Segment::Field(f) => format!("F({f})"),
                    Segment::Keyed { keys, .. } => format!(
                        "K({})",
                        keys.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    Segment::Index(i) => format!("I({i})"),
                    Segment::AnyKey => "*".into(),
                    Segment::AnyItem => "[*]".into(),
                })
                .collect();
            format!("{} | {}", segments.join(" "), path)
        }
        Err(statesight_core::Error::InvalidPath { error, .. }) => format!("error {error}"),
        Err(e) => format!("other {e}"),
    };
    assert_eq!(got, expect, "input {input:?}");
}

#[test]
fn grammar_table() {
    check("spec.replicas", "F(spec) F(replicas) | spec.replicas");
    check(
        "spec.containers[name=ledger-api]",
        "F(spec) F(containers) K(name=ledger-api) | spec.containers[name=ledger-api]",
    );
    check(
        "ports[containerPort=53,protocol=UDP]",
        "F(ports) K(containerPort=53,protocol=UDP) | ports[containerPort=53,protocol=UDP]",
    );
    check(
        "ports[protocol=UDP,containerPort=53]",
        "F(ports) K(containerPort=53,protocol=UDP) | ports[containerPort=53,protocol=UDP]",
    );
    check(
        "ports[containerPort=53,protocol=TCP]",
        "F(ports) K(containerPort=53) | ports[containerPort=53]",
    );
    check("rules[0].verbs", "F(rules) I(0) F(verbs) | rules[0].verbs");
    check(
        "metadata.labels.app.kubernetes.io/name",
        "F(metadata) F(labels) F(app.kubernetes.io/name) | metadata.labels.app.kubernetes.io/name",
    );
    check(
        "spec.template.metadata.annotations.a.b[c]",
        "F(spec) F(template) F(metadata) F(annotations) F(a.b[c]) | spec.template.metadata.annotations.a.b[c]",
    );
    check(
        "data.ui.properties",
        "F(data) F(ui.properties) | data.ui.properties",
    );
    check(
        "spec.data.ui.properties",
        "F(spec) F(data) F(ui) F(properties) | spec.data.ui.properties",
    );
    check(
        "spec.values[\"a.b\"]",
        "F(spec) F(values) F(a.b) | spec.values[\"a.b\"]",
    );
    check(
        "spec.selector.app.kubernetes.io/name",
        "F(spec) F(selector) F(app.kubernetes.io/name) | spec.selector.app.kubernetes.io/name",
    );
    check(
        "spec.selector.matchLabels.app.kubernetes.io/name",
        "F(spec) F(selector) F(matchLabels) F(app.kubernetes.io/name) | spec.selector.matchLabels.app.kubernetes.io/name",
    );
    check(
        "spec.containers[name=a].resources.limits.nvidia.com/gpu",
        "F(spec) F(containers) K(name=a) F(resources) F(limits) F(nvidia.com/gpu) | spec.containers[name=a].resources.limits.nvidia.com/gpu",
    );
    check("", " | ");
    check("   spec.replicas  ", "F(spec) F(replicas) | spec.replicas");
    check(
        "metadata.annotations.*",
        "F(metadata) F(annotations) * | metadata.annotations.*",
    );
    check(
        "spec.containers[*].image",
        "F(spec) F(containers) [*] F(image) | spec.containers[*].image",
    );
    check("spec.*.x", "F(spec) * F(x) | spec.*.x");
    check("a[name=\"x,y\"]", "F(a) K(name=x,y) | a[name=\"x,y\"]");
    check("[\"weird key\"].x", "F(weird key) F(x) | [\"weird key\"].x");
}

#[test]
fn errors_point_at_the_bad_character() {
    check(
        "spec..replicas",
        "error at byte 5: expected a field name, found '.'",
    );
    check(
        "spec.containers[name=a",
        "error at byte 22: expected `,` or `]` after a key value, found the end of the input",
    );
    check(
        "spec.containers[=a]",
        "error at byte 16: expected a key name (letters, digits, `_`, `-`), found '='",
    );
    check(
        "spec.containers[name]",
        "error at byte 20: expected `=` after a key name, found ']'",
    );
    check(
        "spec.x[name=a,name=b]",
        "error at byte 14: expected a key not already given, found 'n'",
    );
    check(
        "spec.x[1",
        "error at byte 8: expected `]` after an index, found the end of the input",
    );
    check(
        "spec.x[*",
        "error at byte 8: expected `]` after `[*`, found the end of the input",
    );
    check(
        "spec x",
        "error at byte 4: expected a field name character (quote the name as [\"…\"]), found ' '",
    );
    check(
        "spec]",
        "error at byte 4: expected a field name character (quote the name as [\"…\"]), found ']'",
    );
    check(
        "metadata.labels.",
        "error at byte 16: expected a map key, found the end of the input",
    );
    check(
        "  spec[\"a",
        "error at byte 9: expected a closing `\"`, found the end of the input",
    );
    check(".spec", "error at byte 0: expected a field name, found '.'");
    check(
        "spec[0]x",
        "error at byte 7: expected `.` or `[`, found 'x'",
    );
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        "[a-z.\\[\\]\" /*=,-]{0,6}",
        Just("labels".to_owned()),
        Just("annotations".to_owned()),
        Just("metadata".to_owned()),
        Just("selector".to_owned()),
        Just("matchLabels".to_owned()),
        Just("data".to_owned()),
        Just("resources".to_owned()),
        Just("limits".to_owned()),
        Just("*".to_owned()),
    ]
}

fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        4 => field().prop_map(Segment::Field),
        1 => prop::collection::vec(("[a-zA-Z][a-zA-Z0-9]{0,5}", "[a-zA-Z0-9 ,=\\]\".:/-]{0,6}"), 1..3).prop_map(|keys| {
            let mut seen = std::collections::BTreeSet::new();
            let keys: Vec<(String, String)> = keys.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
            Segment::keyed(keys, None)
        }),
        1 => (0usize..1000).prop_map(Segment::Index),
        1 => Just(Segment::AnyKey),
        1 => Just(Segment::AnyItem),
    ]
}

/// Paths as the engine and rules produce them: a field first (objects are maps).
fn drift_path() -> impl Strategy<Value = DriftPath> {
    (field(), prop::collection::vec(segment(), 0..6)).prop_map(|(first, rest)| {
        let mut segments = vec![Segment::Field(first)];
        segments.extend(rest);
        DriftPath::new(segments)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn print_then_parse_round_trips(path in drift_path()) {
        let printed = path.to_string();
        let parsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
        prop_assert_eq!(&parsed, &path, "printed as {:?}", printed);
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn parse_never_panics_and_reparses(text in "\\PC{0,40}") {
        if let Ok(path) = parse(&text) {
            let printed = path.to_string();
            let again = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
            prop_assert_eq!(again, path);
        }
    }

    #[test]
    fn parse_errors_point_inside_the_input(text in "[a-z.\\[\\]=,*\"0-9 ]{0,24}") {
        if let Err(statesight_core::Error::InvalidPath { error, .. }) = parse(&text) {
            prop_assert!(error.offset <= text.len());
        }
    }
}

#[test]
fn rules_match_at_or_beneath() {
    let rule = |r: &str| parse(r).unwrap_or_default();
    let finding = |f: &str| parse(f).unwrap_or_default();
    assert!(rule("spec.template").matches(&finding("spec.template.spec.containers[name=a].image")));
    assert!(
        rule("spec.template.spec.containers[name=a]")
            .matches(&finding("spec.template.spec.containers[name=a].image"))
    );
    assert!(
        !rule("spec.template.spec.containers[name=a].image")
            .matches(&finding("spec.template.spec.containers[name=a]"))
    );
    assert!(!rule("spec.replica").matches(&finding("spec.replicas")));
    assert!(rule("metadata.annotations.*").matches(&finding("metadata.annotations.a.b/c")));
    assert!(rule("").matches(&finding("spec.replicas")));
    assert!(!rule("Spec").matches(&finding("spec")));
}
