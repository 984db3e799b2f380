//! A finding's desired or live value (JSON from the API) rendered as YAML lines for the
//! evidence pane: deterministic, in the value's own key order, and safe to print.
//!
//! The output is for reading and diffing, not for parsing back, but it is YAML a reader can
//! trust at a glance:
//!
//! - Keys keep the value's order (`serde_json` is built with `preserve_order`).
//! - Numbers and booleans read as JSON writes them, null as `null`, empty containers as `{}`
//!   and `[]`.
//! - A string is written plain unless YAML would misread it (as a number, a boolean, null,
//!   a comment, an indicator...) or it holds something only an escape can show; then it is
//!   double-quoted, with `\\`, `\"`, `\n`, `\t` and `\r` escaped the YAML way.
//! - A multi-line string is a literal block scalar (`|`, `|-` or `|+` as its trailing line
//!   breaks require) when it holds nothing but printable text and line breaks.
//! - Sequences inside a mapping are not indented (`key:` then `- item`), as
//!   `kubectl get -o yaml` writes them, so the pane reads like what operators already know.
//!
//! Every line then goes through [`clean`], so a hostile value can never drive the terminal.
//! Because a string holding anything `clean` escapes is always double-quoted, and literal
//! backslashes inside double quotes are doubled, a `\u{…}` in the output always comes from
//! `clean` and never from the value's own text.

use serde_json::{Map, Value};

use super::text::clean;

/// The single line that stands for an absent value (`None`): the object does not exist on
/// that side. A string value equal to it is written quoted, so the two never look alike.
pub const ABSENT: &str = "(absent)";

/// `value` as YAML, one display line per element, each already passed through [`clean`].
/// `None` (the value does not exist on that side) gives exactly `[ABSENT]`.
pub fn to_yaml_lines(value: Option<&Value>) -> Vec<String> {
    let Some(value) = value else {
        return vec![ABSENT.to_owned()];
    };
    let lines = match node(value) {
        Node::Inline(text) => vec![text],
        Node::BlockScalar { header, lines } => {
            let mut out = vec![header];
            out.extend(indent(lines, "  "));
            out
        }
        Node::Mapping(lines) | Node::Sequence(lines) => lines,
    };
    lines.iter().map(|line| clean(line)).collect()
}

/// A value rendered on its own, before it is placed under a key or a `- `.
enum Node {
    /// Fits after `key: ` or `- `: a scalar, `{}` or `[]`.
    Inline(String),
    /// A literal block scalar: the header (`|`, `|-`, `|+`) goes after `key: ` or `- `, the
    /// content lines go below, indented.
    BlockScalar { header: String, lines: Vec<String> },
    /// A non-empty mapping, lines relative to column 0.
    Mapping(Vec<String>),
    /// A non-empty sequence, lines relative to column 0.
    Sequence(Vec<String>),
}

fn node(value: &Value) -> Node {
    match value {
        Value::Null => Node::Inline(String::from("null")),
        Value::Bool(flag) => Node::Inline(flag.to_string()),
        Value::Number(number) => Node::Inline(number.to_string()),
        Value::String(text) => string_node(text),
        Value::Array(items) if items.is_empty() => Node::Inline(String::from("[]")),
        Value::Object(map) if map.is_empty() => Node::Inline(String::from("{}")),
        Value::Array(items) => Node::Sequence(sequence(items)),
        Value::Object(map) => Node::Mapping(mapping(map)),
    }
}

fn mapping(map: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in map {
        let key = scalar(key);
        match node(value) {
            Node::Inline(text) => out.push(format!("{key}: {text}")),
            Node::BlockScalar { header, lines } => {
                out.push(format!("{key}: {header}"));
                out.extend(indent(lines, "  "));
            }
            Node::Mapping(lines) => {
                out.push(format!("{key}:"));
                out.extend(indent(lines, "  "));
            }
            // kubectl's style: a sequence under a key starts at the key's column.
            Node::Sequence(lines) => {
                out.push(format!("{key}:"));
                out.extend(lines);
            }
        }
    }
    out
}

fn sequence(items: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for item in items {
        match node(item) {
            Node::Inline(text) => out.push(format!("- {text}")),
            Node::BlockScalar { header, lines } => {
                out.push(format!("- {header}"));
                out.extend(indent(lines, "  "));
            }
            // The compact form: the first line shares the `- `, the rest line up under it.
            Node::Mapping(lines) | Node::Sequence(lines) => {
                for (index, line) in lines.into_iter().enumerate() {
                    let prefix = if index == 0 { "- " } else { "  " };
                    out.push(prefixed(prefix, line));
                }
            }
        }
    }
    out
}

/// `lines` moved right by `by`; empty lines stay empty (no trailing spaces).
fn indent(lines: Vec<String>, by: &str) -> impl Iterator<Item = String> + '_ {
    lines.into_iter().map(move |line| prefixed(by, line))
}

fn prefixed(prefix: &str, line: String) -> String {
    if line.is_empty() {
        line
    } else {
        format!("{prefix}{line}")
    }
}

fn string_node(text: &str) -> Node {
    match block_scalar(text) {
        Some((header, lines)) => Node::BlockScalar { header, lines },
        None => Node::Inline(scalar(text)),
    }
}

/// A multi-line string as a literal block scalar, when that shows it exactly: only
/// printable text and `\n` (a tab or `\r` would be invisible or ambiguous there), some
/// visible content, and no leading space on the first line (which would need an
/// indentation indicator, read differently by different parsers at the top level).
fn block_scalar(text: &str) -> Option<(String, Vec<String>)> {
    if !text.contains('\n') || text.chars().any(|c| c != '\n' && needs_escape(c)) {
        return None;
    }
    let first = text.split('\n').find(|line| !line.is_empty())?;
    if first.starts_with(' ') || text.trim().is_empty() {
        return None;
    }
    // Chomping: `|-` strips a missing final break, `|` keeps exactly one, `|+` keeps all.
    let trailing = text.len() - text.trim_end_matches('\n').len();
    let (header, body) = match trailing {
        0 => ("|-", text),
        1 => ("|", &text[..text.len() - 1]),
        _ => ("|+", &text[..text.len() - 1]),
    };
    let lines = body.split('\n').map(str::to_owned).collect();
    Some((header.to_owned(), lines))
}

/// A string on one line: plain when YAML reads it back as the same string, else
/// double-quoted.
fn scalar(text: &str) -> String {
    if needs_quotes(text) {
        double_quoted(text)
    } else {
        text.to_owned()
    }
}

/// Characters that only an escape can show: line breaks, tabs, other controls, bidi and
/// invisible characters (`clean` turns the last ones into `\u{…}`).
fn needs_escape(c: char) -> bool {
    statesight_core::terminal::is_control_or_invisible(c)
}

/// Words YAML 1.1 or 1.2 resolves to something other than a string (booleans, null,
/// infinities); parsers differ, so all of them are quoted.
const SPECIAL_WORDS: &[&str] = &[
    "true", "false", "yes", "no", "y", "n", "on", "off", "null", "~", ".inf", "-.inf", "+.inf",
    ".nan", "<<",
];

/// Characters that mean something at the start of a plain scalar.
const INDICATORS: &[char] = &[
    '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
];

fn needs_quotes(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    text.is_empty()
        || text == ABSENT
        || SPECIAL_WORDS.contains(&lower.as_str())
        || looks_numeric(text)
        || text.starts_with(INDICATORS)
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
        || text.ends_with(':')
        || text.contains(": ")
        || text.contains(" #")
        // A backslash is literal in a plain scalar; quoting doubles it, so only `clean` ever
        // writes `\u{…}` (see the module documentation).
        || text.contains('\\')
        || text.chars().any(needs_escape)
}

/// Whether a YAML 1.1 or 1.2 parser might read `text` as a number or a timestamp: it
/// starts (after a sign) with a digit or `.digit` and uses only characters that numbers
/// (hex, octal, exponents, `1_000`, sexagesimal `1:30`) and dates (`2024-01-02T03:04:05Z`)
/// use. Errs towards quoting: `1.2.3` is quoted although it is a string either way.
fn looks_numeric(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let mut chars = unsigned.chars();
    let starts_like_number = match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('.') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    starts_like_number
        && unsigned
            .chars()
            .all(|c| c.is_ascii_hexdigit() || "xXoO_.+-:eEtTzZ ".contains(c))
}

/// `text` in double quotes with YAML's escapes for the characters that would break the
/// quoting or the line; every other character is left for `clean`.
fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(value: Value) -> Vec<String> {
        to_yaml_lines(Some(&value))
    }

    fn one(value: Value) -> String {
        let lines = yaml(value);
        assert_eq!(lines.len(), 1, "{lines:?}");
        lines.concat()
    }

    #[test]
    fn absent_is_one_recognisable_line() {
        assert_eq!(to_yaml_lines(None), vec![ABSENT]);
        // A string that happens to read `(absent)` is quoted, so it cannot pass for absence.
        assert_eq!(one(json!("(absent)")), "\"(absent)\"");
        assert_eq!(one(json!({"a": "(absent)"})), "a: \"(absent)\"");
    }

    #[test]
    fn scalars_of_each_kind() {
        assert_eq!(one(json!(null)), "null");
        assert_eq!(one(json!(true)), "true");
        assert_eq!(one(json!(false)), "false");
        assert_eq!(one(json!(42)), "42");
        assert_eq!(one(json!(-7)), "-7");
        assert_eq!(one(json!(1.5)), "1.5");
        assert_eq!(one(json!(18446744073709551615u64)), "18446744073709551615");
        assert_eq!(one(json!("nginx:1.27")), "nginx:1.27");
        assert_eq!(one(json!("hello world")), "hello world");
        assert_eq!(one(json!("你好")), "你好");
        assert_eq!(one(json!({})), "{}");
        assert_eq!(one(json!([])), "[]");
    }

    #[test]
    fn strings_yaml_would_misread_are_quoted() {
        let quoted = [
            "",
            "true",
            "False",
            "NULL",
            "~",
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "123",
            "-1",
            "+1",
            "1.5",
            ".5",
            "1e3",
            "0x1F",
            "0o17",
            "0755",
            "1_000",
            "1:30",
            "2024-01-02",
            "2024-01-02T03:04:05Z",
            ".inf",
            ".NaN",
            "<<",
            " lead",
            "trail ",
            "a: b",
            "a #b",
            "key:",
            "- item",
            "? q",
            ": x",
            ",",
            "[a]",
            "]",
            "{a}",
            "}",
            "#c",
            "&anchor",
            "*alias",
            "!tag",
            "|",
            ">",
            "'s",
            "%d",
            "@at",
            "`tick",
        ];
        for text in quoted {
            assert_eq!(one(json!(text)), format!("\"{text}\""), "{text:?}");
        }
        let plain = [
            "a:b",
            "a#b",
            "sha256:abcd",
            "v1.2.3",
            "3Gi",
            "x-1",
            "ab-",
            "100Mi",
            "http://x/y",
        ];
        for text in plain {
            assert_eq!(one(json!(text)), text, "{text:?}");
        }
        // Escapes inside the quotes.
        assert_eq!(one(json!("say \"hi\"")), r#"say "hi""#);
        assert_eq!(one(json!("\"hi\"")), r#""\"hi\"""#);
        assert_eq!(one(json!(r"C:\dir")), r#""C:\\dir""#);
        assert_eq!(one(json!("a\tb")), r#""a\tb""#);
        assert_eq!(one(json!("a\r\nb")), r#""a\r\nb""#);
    }

    #[test]
    fn keys_are_quoted_like_values() {
        assert_eq!(
            yaml(json!({"true": 1, "app.kubernetes.io/name": "api", "": "e", "a: b": 2})),
            vec![
                "\"true\": 1",
                "app.kubernetes.io/name: api",
                "\"\": e",
                "\"a: b\": 2"
            ]
        );
    }

    #[test]
    fn nested_maps_and_lists_keep_the_value_order() {
        let value = json!({
            "spec": {
                "replicas": 3,
                "paused": false,
                "selector": {"matchLabels": {"app": "web"}},
                "ports": [80, 443],
                "matrix": [[1, 2], []],
                "empty": {},
                "none": null
            },
            "apiVersion": "apps/v1"
        });
        assert_eq!(
            yaml(value),
            vec![
                "spec:",
                "  replicas: 3",
                "  paused: false",
                "  selector:",
                "    matchLabels:",
                "      app: web",
                "  ports:",
                "  - 80",
                "  - 443",
                "  matrix:",
                "  - - 1",
                "    - 2",
                "  - []",
                "  empty: {}",
                "  none: null",
                "apiVersion: apps/v1",
            ]
        );
    }

    #[test]
    fn lists_of_maps_use_the_compact_form() {
        let value = json!({
            "containers": [
                {"name": "api", "image": "ghcr.io/x/api:1.2", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "args": ["--v", "2"]}
            ]
        });
        assert_eq!(
            yaml(value),
            vec![
                "containers:",
                "- name: api",
                "  image: ghcr.io/x/api:1.2",
                "  env:",
                "  - name: A",
                "    value: \"1\"",
                "- name: sidecar",
                "  args:",
                "  - \"--v\"",
                "  - \"2\"",
            ]
        );
        assert_eq!(yaml(json!([{"a": 1}, 2])), vec!["- a: 1", "- 2"]);
    }

    #[test]
    fn multi_line_strings_are_block_scalars() {
        assert_eq!(
            yaml(json!({"script": "set -e\necho hi\n"})),
            vec!["script: |", "  set -e", "  echo hi"]
        );
        assert_eq!(
            yaml(json!({"data": "a\n\nb"})),
            vec!["data: |-", "  a", "", "  b"]
        );
        assert_eq!(yaml(json!({"keep": "a\n\n"})), vec!["keep: |+", "  a", ""]);
        assert_eq!(yaml(json!("x\ny")), vec!["|-", "  x", "  y"]);
        assert_eq!(yaml(json!(["one\ntwo\n"])), vec!["- |", "  one", "  two"]);
        assert_eq!(
            yaml(json!([{"k": "one\ntwo"}])),
            vec!["- k: |-", "    one", "    two"]
        );
        // Not expressible exactly as a literal block: quoted with escapes instead.
        assert_eq!(one(json!("  indented\nnext")), r#""  indented\nnext""#);
        assert_eq!(one(json!("\n")), r#""\n""#);
        assert_eq!(one(json!("a\tb\nc")), r#""a\tb\nc""#);
    }

    #[test]
    fn hostile_strings_never_reach_the_terminal_raw() {
        let osc52 = "\u{1b}]52;c;AAAA\u{7}";
        assert_eq!(one(json!(osc52)), r#""\u{1b}]52;c;AAAA\u{7}""#);
        assert_eq!(one(json!("a\u{202e}b")), r#""a\u{202e}b""#);
        assert_eq!(one(json!("a\u{200b}b")), r#""a\u{200b}b""#);
        assert_eq!(one(json!("\u{9b}2J")), r#""\u{9b}2J""#);
        // A typed backslash sequence stays distinguishable from an escaped control.
        assert_eq!(one(json!(r"\u{1b}")), r#""\\u{1b}""#);
        // In keys, and inside what would otherwise be a block scalar.
        assert_eq!(
            yaml(json!({"k\u{1b}[2J": "line\n\u{1b}[31mred"})),
            vec![r#""k\u{1b}[2J": "line\n\u{1b}[31mred""#]
        );
        for line in yaml(json!({"a": [osc52, "x\u{85}y", {"b\u{2066}": "c\u{feff}"}]})) {
            assert!(
                !line
                    .chars()
                    .any(statesight_core::terminal::is_control_or_invisible),
                "{line:?}"
            );
        }
    }

    #[test]
    fn secret_digests_stay_plain() {
        assert_eq!(
            yaml(
                json!({"data": {"password": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}})
            ),
            vec![
                "data:",
                "  password: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            ]
        );
    }
}
