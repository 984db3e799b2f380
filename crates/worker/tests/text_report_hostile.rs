//! The text report of `statesight-worker diff` on real hostile data: the `hostile-strings`
//! example's Git tree against the `sandbox-1` snapshot, whose values and manager names carry
//! OSC 52, `ESC[2J`, the one-byte CSI U+009B, bidi overrides and zero-width characters (so
//! the incident titles and causes do too). The report must show every one of them escaped
//! and write none; the JSON report must keep carrying the exact strings.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use statesight_worker::diff_command::{self, DiffOptions, OutputFormat};

fn example(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(relative)
}

const DESIRED: &str = "hostile-strings/history/01-initial/tree/deploy";
const LIVE: &str = "clusters/sandbox-1";

fn worker_diff(format: &str) -> Output {
    let desired = example(DESIRED);
    let live = example(LIVE);
    Command::new(env!("CARGO_BIN_EXE_statesight-worker"))
        .args([
            "diff",
            "--desired",
            desired.to_str().unwrap_or_default(),
            "--live",
            live.to_str().unwrap_or_default(),
            "--namespace",
            "sandbox",
            "--format",
            format,
        ])
        .env_remove("NO_COLOR")
        .output()
        .unwrap_or_else(|e| panic!("running the worker: {e}"))
}

/// Characters a terminal would act on, or that hide or reorder text, listed here rather than
/// taken from the implementation under test.
fn dangerous(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{00AD}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

fn assert_inert(text: &str) {
    for (number, line) in text.lines().enumerate() {
        if let Some(c) = line.chars().find(|&c| dangerous(c)) {
            panic!(
                "line {}: U+{:04X} printed raw: {}",
                number + 1,
                u32::from(c),
                line.escape_debug()
            );
        }
    }
}

#[test]
fn the_text_report_of_hostile_strings_writes_no_control_or_bidi_character() {
    let out = worker_diff("text");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Bytes first: ESC and BEL never leave the process, whatever the encoding.
    for byte in [0x1b_u8, 0x07, 0x00, b'\r'] {
        assert!(
            !out.stdout.contains(&byte),
            "byte {byte:#04x} in the report"
        );
    }
    let text = String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("not UTF-8: {e}"));
    assert_inert(&text);
    assert!(!text.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)));

    // Still shown, escaped: values…
    for shown in [
        r#"~ data.osc52-clipboard: "\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}" -> "\u{1b}]52;c;"#,
        r#"~ data.clear-screen: "\u{1b}[2J\u{1b}[Hscreen cleared""#,
        r#"~ data.c1-csi: "\u{9b}2J\u{9b}31mone-byte CSI\u{9b}0m""#,
        r#""invoice-2026-11-\u{202e}fdp.exe" -> "invoice-2026-11-\u{202e}slx.exe""#,
        r#""pay\u{200b}ment\u{200c}-\u{200d}gate\u{feff}way""#,
        r#""HTTP/1.1 200 OK\u{d}\u{a}Set-Cookie: session=attacker"#,
        r#"-> "\u{202e}dlrow olleh\u{202c} \u{9b}2J\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}""#,
        r#"["--listen=:8080","--banner=\u{1b}[1mecho\u{1b}[0m ready ✓","#,
    ] {
        assert!(text.contains(shown), "{shown} missing from\n{text}");
    }
    // …manager names in owners, titles, rationales and causes…
    let release_bot = r"\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}\u{1b}[2J\u{1b}[31mrelease-bot\u{1b}[0m";
    let maintenance_bot = r"ops\u{200b}-\u{202e}tob-ecnanetniam\u{202c}";
    for manager in [release_bot, maintenance_bot] {
        assert!(
            text.contains(&format!("owners: {manager} (Update ")),
            "{manager}"
        );
        assert!(
            text.contains(&format!("1 field changed by {manager}\n")),
            "{manager}"
        );
        assert!(
            text.contains(&format!("managedFields record {manager} (Update at")),
            "{manager}"
        );
        assert!(
            text.contains(&format!("cause: {manager}, fingerprint")),
            "{manager}"
        );
    }
    // …while ordinary text of any script is left alone: combining marks, Hebrew, HTML.
    assert!(text.contains("1 field changed by Z\u{351}a\u{334}l\u{336}g\u{337}o-config-sync"));
    assert!(text.contains(r"\u{2066}שלום\u{2069}"));
    assert!(text.contains("owners: </script><script>alert(1)</script> (Update"));
    // Every finding is still there: one line per finding, nothing split by a raw newline.
    assert!(
        text.contains("18 finding(s) in 4 resource(s), 7 incident(s), 0 suppressed."),
        "{text}"
    );
}

/// With colour on, the only escape sequences are the report's own SGR codes around its own
/// words; removing them gives exactly the uncoloured report.
#[test]
fn coloured_text_report_writes_only_its_own_colours() {
    let options = DiffOptions {
        desired: vec![example(DESIRED)],
        live: vec![example(LIVE)],
        namespace: String::from("sandbox"),
        rules: None,
        applier: None,
        format: OutputFormat::Text,
        bookkeeping_keys: statesight_core::bookkeeping::default_bookkeeping_keys(),
        secret_digester: statesight_core::secret::SecretDigester::unkeyed(),
    };
    let coloured = diff_command::run(&options, true)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .output;
    let plain = diff_command::run(&options, false)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .output;
    assert!(coloured.contains("\u{1b}[1m"), "colour was asked for");
    let mut stripped = String::new();
    let mut rest = coloured.as_str();
    while let Some(at) = rest.find('\u{1b}') {
        stripped.push_str(&rest[..at]);
        let sequence = &rest[at..];
        let end = sequence
            .char_indices()
            .skip(2)
            .find(|&(_, c)| !(c.is_ascii_digit() || c == ';'))
            .map(|(i, _)| i)
            .unwrap_or(sequence.len());
        assert!(
            sequence.starts_with("\u{1b}[") && sequence[end..].starts_with('m'),
            "not an SGR sequence: {}",
            sequence.chars().take(24).collect::<String>().escape_debug()
        );
        rest = &sequence[end + 1..];
    }
    stripped.push_str(rest);
    assert_eq!(stripped, plain);
    assert_inert(&plain);
}

/// The JSON report is untouched by the terminal escaping: decoded, its strings are the exact
/// strings of the inputs, and its bytes need no escaping to be inert.
#[test]
fn the_json_report_keeps_the_exact_hostile_strings() {
    let out = worker_diff("json");
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stdout.contains(&0x1b), "JSON escapes ESC itself");
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let managers: Vec<&str> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["owners"].as_array().into_iter().flatten())
        .filter_map(|o| o["manager"].as_str())
        .collect();
    assert!(
        managers
            .contains(&"\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}\u{1b}[2J\u{1b}[31mrelease-bot\u{1b}[0m"),
        "{managers:?}"
    );
    assert!(managers.contains(&"ops\u{200b}-\u{202e}tob-ecnanetniam\u{202c}"));
    let c1 = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["path"] == "data.c1-csi")
        .map(|f| f["desired"].clone());
    assert_eq!(
        c1,
        Some(serde_json::json!("\u{9b}2J\u{9b}31mone-byte CSI\u{9b}0m"))
    );
    // Byte-identical across runs (the format is a contract).
    assert_eq!(out.stdout, worker_diff("json").stdout);
}
