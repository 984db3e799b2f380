//! Fuzzing with proptest: the manifest, drift-path, resource-ref and FieldsV1 parsers, and the
//! whole analysis on arbitrary values, never panic. `STATESIGHT_FUZZ_CASES` raises the number
//! of cases per target for a long run (default 1,000 so the suite stays fast).

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use statesight_core::analysis::{AnalyzeOptions, analyze};
use statesight_core::fields::FieldOwnership;
use statesight_core::manifest::{ManifestObject, Origin, parse_manifests};

fn cases() -> u32 {
    std::env::var("STATESIGHT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

const YAML_TOKENS: &[&str] = &[
    "---\n",
    "...\n",
    "--- |\n",
    "apiVersion: v1\n",
    "kind: List\n",
    "kind: ConfigMap\n",
    "items:\n",
    "- ",
    "  ",
    "    ",
    "&a ",
    "*a",
    "<<: *a\n",
    "{",
    "}",
    "[",
    "]",
    ",",
    "0755",
    "0x1F",
    "1e3",
    "yes",
    "~",
    "null",
    "|\n",
    ">-\n",
    "\"",
    "'",
    "\\",
    "#c\n",
    ": ",
    "\n",
    "metadata: {name: x}\n",
    "metadata:\n  name: y\n",
    "\t",
    "%YAML 1.2\n",
    "!!str ",
    "!tag ",
    "? ",
    "\u{feff}",
    "é",
    "data:\n",
    "a: b\n",
];

fn yaml_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(YAML_TOKENS), 0..40).prop_map(|t| t.concat())
}

const FIELD_KEYS: &[&str] = &[
    "f:spec",
    "f:metadata",
    "f:labels",
    "f:a",
    "f:replicas",
    "f:containers",
    "f:ports",
    "f:selector",
    "f:data",
    ".",
    "k:{\"name\":\"a\"}",
    "k:{\"containerPort\":80,\"protocol\":\"TCP\"}",
    "k:{bad",
    "k:[]",
    "v:\"x\"",
    "v:1",
    "v:",
    "i:0",
    "i:-1",
    "i:x",
    "zz",
    "",
];

fn fields_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!({})),
        Just(json!(null)),
        Just(json!(1)),
        Just(json!("s"))
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop::collection::vec((prop::sample::select(FIELD_KEYS), inner), 0..5).prop_map(|pairs| {
            Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Map<String, Value>>(),
            )
        })
    })
}

const VALUE_KEYS: &[&str] = &[
    "spec",
    "metadata",
    "labels",
    "annotations",
    "a",
    "replicas",
    "containers",
    "ports",
    "name",
    "containerPort",
    "protocol",
    "env",
    "selector",
    "matchLabels",
    "data",
    "stringData",
    "resources",
    "requests",
    "cpu",
    "args",
    "status",
    "tolerations",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop::sample::select(
            &[
                "500m", "0.5", "1Gi", "a", "", "TCP", "UDP", "c2VjcmV0", "1e3"
            ][..]
        )
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(VALUE_KEYS), inner), 0..5).prop_map(
                |pairs| Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<String, Value>>()
                )
            ),
        ]
    })
}

fn object(kind: &str, body: Value, managed: Option<Value>) -> ManifestObject {
    let mut value = match body {
        Value::Object(m) => Value::Object(m),
        other => json!({"spec": other}),
    };
    value["apiVersion"] = json!(if kind == "Deployment" {
        "apps/v1"
    } else {
        "v1"
    });
    value["kind"] = json!(kind);
    let mut metadata = value
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    metadata.insert("name".into(), json!("x"));
    if let Some(managed) = managed {
        metadata.insert("managedFields".into(), managed);
    }
    value["metadata"] = Value::Object(metadata);
    match ManifestObject::from_value(
        Origin {
            file: "f".into(),
            document: 1,
            item: None,
        },
        value,
    ) {
        Ok(o) => o,
        Err((_, m)) => panic!("{m}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn manifest_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400), json in any::<bool>()) {
        let _ = parse_manifests(if json { "x.json" } else { "x.yaml" }, &bytes);
    }

    #[test]
    fn manifest_parser_never_panics_on_yaml_soup(text in yaml_soup()) {
        let _ = parse_manifests("soup.yaml", text.as_bytes());
    }

    #[test]
    fn path_and_ref_parsers_never_panic(text in "\\PC{0,60}") {
        let _ = statesight_core::paths::parse(&text);
        let _ = statesight_core::ResourceRef::parse(&text);
    }

    #[test]
    fn fieldsv1_parser_never_panics(fields in fields_value(), manager in prop::option::of("[a-z-]{0,8}")) {
        let object = json!({"metadata": {"managedFields": [
            {"manager": manager, "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": fields},
            {"manager": "b", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
        ]}});
        let (trie, _problems) = FieldOwnership::from_object(&object);
        for i in 0..trie.entries.len() {
            let _ = trie.fields_v1(i);
        }
    }

    #[test]
    fn analysis_never_panics(
        desired in json_value(),
        live in json_value(),
        fields in fields_value(),
        kind in prop::sample::select(&["Deployment", "Secret", "ConfigMap", "Service"][..]),
    ) {
        let managed = json!([{"manager": "m", "operation": "Apply", "fieldsV1": fields}, {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:a": {}}}}]);
        let d = object(kind, desired, None);
        let l = object(kind, live, Some(managed));
        let analysis = analyze(&[d], &[l], &AnalyzeOptions::default(), &[]);
        let _ = statesight_core::report::to_json_string(&analysis);
    }
}
