//! Text from inputs (manager names, label values, drift paths, field values, incident
//! titles) made safe to print on a terminal.
//!
//! Everything StateSight shows comes from Git, from a cluster or from a snapshot file, and
//! any of those can carry bytes a terminal would act on: `ESC[2J` clears the screen, OSC 52
//! writes the clipboard, OSC 8 injects a hyperlink, the one-byte CSI U+009B does what
//! `ESC[` does on terminals that honour C1 controls, bidi overrides reorder what the reader
//! sees (`invoice-\u{202e}fdp.exe` reads as `invoice-exe.pdf`) and zero-width characters make
//! two different strings look the same. [`escape_for_terminal`] renders all of those
//! visibly instead, so a reader sees that they are there and the terminal acts on none.
//!
//! # Rendering
//!
//! Each character that needs it becomes `\u{HEX}`: a backslash, `u`, `{`, the code point in
//! lower-case hexadecimal without leading zeros, `}` — the notation of Rust's
//! `char::escape_unicode` and `{:?}`. ESC is `\u{1b}`, BEL `\u{7}`, newline `\u{a}`, the
//! C1 CSI `\u{9b}`, RIGHT-TO-LEFT OVERRIDE `\u{202e}`. One notation for every class, newline
//! and tab included, because every field printed with it is meant to be one line: an
//! embedded `\r\n` must not start a fake line of report.
//!
//! An escape sequence is neutralised by escaping its introducer (ESC or a C1 control); its
//! parameters stay as the plain text they are, so `ESC[2J` is shown as `\u{1b}[2J` and the
//! reader sees the whole sequence.
//!
//! Escaped: every C0 control (U+0000–U+001F), DEL, every C1 control (U+0080–U+009F),
//! U+2028/U+2029, the bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069)
//! and the invisible default-ignorable characters: U+00AD, U+115F, U+1160, U+17B4, U+17B5,
//! U+180E, U+200B–U+200D, U+2060–U+206F, U+3164, U+FEFF, U+FFA0, U+FFF0–U+FFFB,
//! U+1BCA0–U+1BCA3, U+1D173–U+1D17A and U+E0000–U+E0FFF except the variation selectors
//! (tag characters included, so emoji subdivision flags are shown decomposed).
//!
//! Kept: everything else, in particular every script, combining marks (a zalgo string stays
//! zalgo: it is visible, if ugly), emoji, variation selectors (U+FE00–U+FE0F, U+E0100–
//! U+E01EF, Mongolian U+180B–U+180D, U+180F; needed by emoji and CJK ideographic variants) and
//! the COMBINING GRAPHEME JOINER. ZERO WIDTH JOINER (U+200D) is kept only inside an emoji
//! sequence (between a pictograph, or VS16 after one, and a pictograph), where it joins
//! `👨‍👩‍👧` into one glyph and cannot hide anything; anywhere else it is escaped.
//!
//! The function is not injective on input that itself contains text like `\u{1b}`: a reader
//! of `\u{1b}` cannot tell a typed backslash sequence from an escaped ESC. Printable ASCII is
//! never changed, which matters more for a report read by people; on input without `\` the
//! output decodes back to the input.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Renders `text` so a terminal shows it literally: controls, escape-sequence introducers,
/// bidi controls, line/paragraph separators and invisible characters become `\u{HEX}` (see
/// the module documentation for the exact set). Borrows when nothing needs escaping.
pub fn escape_for_terminal(text: &str) -> Cow<'_, str> {
    let Some(first) = first_to_escape(text) else {
        return Cow::Borrowed(text);
    };
    // Room for a few escapes; most hostile strings have a handful.
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    let mut previous = text[..first].chars().next_back();
    let mut chars = text[first..].chars().peekable();
    while let Some(c) = chars.next() {
        if must_escape(previous, c, chars.peek().copied()) {
            // Writing into a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
        previous = Some(c);
    }
    Cow::Owned(out)
}

/// Whether `c` is never shown as itself by [`escape_for_terminal`]: a control, a bidi
/// control, a line/paragraph separator or an invisible character. ZERO WIDTH JOINER counts
/// (the escaper keeps it only between emoji). For validators that refuse such characters
/// outright, e.g. in a URL.
pub fn is_control_or_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E00FF}'
                // U+E0100–U+E01EF, between these two, are variation selectors: kept.
                | '\u{E01F0}'..='\u{E0FFF}'
        )
}

/// Byte offset of the first character that must be escaped, if any.
fn first_to_escape(text: &str) -> Option<usize> {
    let mut previous = None;
    let mut iter = text.char_indices().peekable();
    while let Some((index, c)) = iter.next() {
        if must_escape(previous, c, iter.peek().map(|&(_, next)| next)) {
            return Some(index);
        }
        previous = Some(c);
    }
    None
}

fn must_escape(previous: Option<char>, c: char, next: Option<char>) -> bool {
    if c == '\u{200D}' {
        // Inside an emoji ZWJ sequence the joiner is part of one visible glyph.
        let joins_emoji = previous.is_some_and(|p| is_pictographic(p) || p == '\u{FE0F}')
            && next.is_some_and(is_pictographic);
        return !joins_emoji;
    }
    is_control_or_invisible(c)
}

/// An approximation of Unicode's `Extended_Pictographic` (plus the emoji modifiers, which sit
/// in the U+1F3FB–U+1F3FF block): enough to recognise the ends of an emoji ZWJ sequence.
/// Erring towards "not pictographic" only means a joiner is shown escaped.
fn is_pictographic(c: char) -> bool {
    matches!(
        c,
        '\u{00A9}'
            | '\u{00AE}'
            | '\u{203C}'
            | '\u{2049}'
            | '\u{2122}'
            | '\u{2139}'
            | '\u{2194}'..='\u{21AA}'
            | '\u{231A}'..='\u{23FF}'
            | '\u{24C2}'
            | '\u{25AA}'..='\u{25FE}'
            | '\u{2600}'..='\u{27BF}'
            | '\u{2934}'..='\u{2935}'
            | '\u{2B05}'..='\u{2B55}'
            | '\u{3030}'
            | '\u{303D}'
            | '\u{3297}'
            | '\u{3299}'
            | '\u{1F000}'..='\u{1FAFF}'
            | '\u{1FC00}'..='\u{1FFFD}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn esc(text: &str) -> String {
        escape_for_terminal(text).into_owned()
    }

    /// The characters no output may contain, listed independently of the implementation
    /// (the classes the module promises to neutralise).
    fn forbidden(c: char) -> bool {
        c.is_control()
            || matches!(
                c,
                '\u{061C}'
                    | '\u{200E}'
                    | '\u{200F}'
                    | '\u{202A}'..='\u{202E}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{200B}'
                    | '\u{200C}'
                    | '\u{2060}'
                    | '\u{FEFF}'
                    | '\u{00AD}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{E0000}'..='\u{E007F}'
            )
    }

    /// The inverse of the escaping, for inputs without `\`.
    fn unescape(text: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("\\u{") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 3..];
            let end = after.find('}')?;
            out.push(char::from_u32(
                u32::from_str_radix(&after[..end], 16).ok()?,
            )?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for text in [
            "",
            "kubectl-edit",
            "spec.template.spec.containers[name=echo].env[name=X_</script>]",
            "{\"a\": [1, 2], \"b\": \"c\\\\d\"}",
            "Grüße, Ωμέγα, Привет, שלום, مرحبا, 你好, こんにちは, 안녕하세요, नमस्ते",
            "Z\u{351}\u{315}a\u{334}\u{327}l\u{336}g\u{337}o",
            "✓ 🚀 ❤️ 👍🏽 🇩🇪 👨\u{200d}👩\u{200d}👧 🏳\u{fe0f}\u{200d}🌈",
            "non\u{a0}breaking and\u{3000}ideographic spaces",
            "葛\u{E0100} ideographic variant",
        ] {
            assert!(
                matches!(escape_for_terminal(text), Cow::Borrowed(t) if t == text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn c0_controls_del_and_whitespace_controls_are_escaped() {
        assert_eq!(esc("a\u{1b}b"), "a\\u{1b}b");
        assert_eq!(esc("bell\u{7}"), "bell\\u{7}");
        assert_eq!(esc("\0"), "\\u{0}");
        assert_eq!(esc("a\tb\nc\r\n"), "a\\u{9}b\\u{a}c\\u{d}\\u{a}");
        assert_eq!(esc("\u{1f}\u{7f}"), "\\u{1f}\\u{7f}");
        for c in (0u8..0x20).chain([0x7f]) {
            let escaped = esc(&char::from(c).to_string());
            assert_eq!(escaped, format!("\\u{{{c:x}}}"));
        }
    }

    #[test]
    fn c1_controls_including_the_one_byte_csi_are_escaped() {
        assert_eq!(esc("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(esc("one\u{85}two"), "one\\u{85}two");
        for c in 0x80u32..=0x9f {
            let c = char::from_u32(c).unwrap_or_default();
            assert_eq!(esc(&c.to_string()), format!("\\u{{{:x}}}", u32::from(c)));
        }
    }

    #[test]
    fn escape_sequences_lose_their_introducer_and_stay_readable() {
        assert_eq!(
            esc("\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}"),
            "\\u{1b}]52;c;ZWNobyBwd25lZA==\\u{7}"
        );
        assert_eq!(esc("\u{1b}[2J\u{1b}[H"), "\\u{1b}[2J\\u{1b}[H");
        assert_eq!(
            esc("\u{1b}]8;;https://evil.example/\u{1b}\\link\u{1b}]8;;\u{1b}\\"),
            "\\u{1b}]8;;https://evil.example/\\u{1b}\\link\\u{1b}]8;;\\u{1b}\\"
        );
    }

    #[test]
    fn bidi_controls_are_escaped() {
        assert_eq!(
            esc("invoice-2026-11-\u{202e}fdp.exe"),
            "invoice-2026-11-\\u{202e}fdp.exe"
        );
        for c in [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
            '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            assert_eq!(
                esc(&format!("a{c}b")),
                format!("a\\u{{{:x}}}b", u32::from(c))
            );
        }
        // Right-to-left text itself is not a control: it stays.
        assert_eq!(esc("\u{2066}שלום\u{2069}"), "\\u{2066}שלום\\u{2069}");
    }

    #[test]
    fn zero_width_and_invisible_characters_are_escaped() {
        assert_eq!(
            esc("pay\u{200b}ment\u{200c}-\u{200d}gate\u{feff}way"),
            "pay\\u{200b}ment\\u{200c}-\\u{200d}gate\\u{feff}way"
        );
        for c in [
            '\u{00AD}',
            '\u{2060}',
            '\u{2061}',
            '\u{2064}',
            '\u{206F}',
            '\u{115F}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{180E}',
            '\u{FFF9}',
            '\u{1D173}',
            '\u{E0001}',
            '\u{E0020}',
            '\u{E007F}',
        ] {
            assert_eq!(esc(&format!("x{c}")), format!("x\\u{{{:x}}}", u32::from(c)));
        }
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped() {
        assert_eq!(
            esc("one\u{2028}two\u{2029}three\u{85}four"),
            "one\\u{2028}two\\u{2029}three\\u{85}four"
        );
    }

    #[test]
    fn zero_width_joiner_is_kept_only_inside_emoji() {
        let family = "👨\u{200d}👩\u{200d}👧";
        assert_eq!(esc(family), family);
        assert_eq!(esc("\u{200d}👧"), "\\u{200d}👧");
        assert_eq!(esc("👨\u{200d}"), "👨\\u{200d}");
        assert_eq!(esc("👨\u{200d}a"), "👨\\u{200d}a");
        assert_eq!(esc("a\u{200d}👧"), "a\\u{200d}👧");
        // After an escape the joiner is judged on the original neighbours, not the text.
        assert_eq!(esc("\u{7}\u{200d}👧"), "\\u{7}\\u{200d}👧");
    }

    #[test]
    fn the_hostile_manager_names_become_one_visible_line() {
        let release_bot =
            "\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}\u{1b}[2J\u{1b}[31mrelease-bot\u{1b}[0m";
        assert_eq!(
            esc(release_bot),
            "\\u{1b}]52;c;ZWNobyBwd25lZA==\\u{7}\\u{1b}[2J\\u{1b}[31mrelease-bot\\u{1b}[0m"
        );
        let maintenance = "ops\u{200b}-\u{202e}tob-ecnanetniam\u{202c}";
        assert_eq!(
            esc(maintenance),
            "ops\\u{200b}-\\u{202e}tob-ecnanetniam\\u{202c}"
        );
    }

    #[test]
    fn validators_share_the_classification() {
        for c in [
            '\u{1b}', '\u{9b}', '\u{202e}', '\u{200b}', '\u{200d}', '\u{2028}',
        ] {
            assert!(is_control_or_invisible(c), "{c:?}");
        }
        for c in ['a', 'ש', '\u{351}', '\u{fe0f}', '\u{E0100}', ' ', '\u{a0}'] {
            assert!(!is_control_or_invisible(c), "{c:?}");
        }
    }

    proptest! {
        #[test]
        fn output_never_carries_a_control_or_bidi_character(text in any::<String>()) {
            let escaped = esc(&text);
            let chars: Vec<char> = escaped.chars().collect();
            for (i, &c) in chars.iter().enumerate() {
                prop_assert!(!forbidden(c), "{c:?} survived in {escaped:?}");
                if c == '\u{200d}' {
                    let before = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
                    let after = chars.get(i + 1).copied();
                    prop_assert!(
                        before.is_some_and(|p| is_pictographic(p) || p == '\u{fe0f}')
                            && after.is_some_and(is_pictographic),
                        "a joiner outside an emoji survived in {escaped:?}"
                    );
                }
            }
        }

        #[test]
        fn printable_ascii_is_unchanged(text in "[ -~]*") {
            prop_assert!(matches!(escape_for_terminal(&text), Cow::Borrowed(t) if t == text));
        }

        #[test]
        fn without_backslashes_the_escaping_is_reversible(text in any::<String>()) {
            prop_assume!(!text.contains('\\'));
            let escaped = esc(&text);
            prop_assert_eq!(unescape(&escaped), Some(text));
        }

        #[test]
        fn hostile_mixtures_are_reversible(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("\u{1b}["), Just("\u{9b}"), Just("\u{7}"), Just("\r\n"),
                    Just("\u{202e}"), Just("\u{2066}"), Just("\u{200b}"), Just("\u{200d}"),
                    Just("👨"), Just("\u{fe0f}"), Just("\u{E0041}"), Just("a"), Just("ש"),
                    Just("\u{351}"), Just("2J"),
                ],
                0..24,
            )
        ) {
            let text: String = parts.concat();
            let escaped = esc(&text);
            let survived = escaped.chars().any(|c| c.is_control() || c == '\u{202e}');
            prop_assert!(!survived, "{:?}", escaped);
            prop_assert_eq!(unescape(&escaped), Some(text));
        }
    }
}
