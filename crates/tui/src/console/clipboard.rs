//! Copying to the system clipboard through the terminal (OSC 52), which works over SSH and
//! inside tmux or screen, where the console has no other way to reach the user's desktop.
//!
//! The sequence is `ESC ] 52 ; c ; <base64 of the text> BEL`. The text (a drift path or a
//! value the user chose to copy) is base64-encoded, so whatever it contains is inert on the
//! way through: the only bytes written are the fixed framing and the base64 alphabet.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The longest text copied, in bytes: its base64 (99,992 bytes) plus the framing
/// `ESC ] 5 2 ; c ;` and `BEL` (8 bytes) make exactly 100,000 bytes, the limit hterm
/// (ChromeOS, the Secure Shell extension) puts on one OSC 52 sequence and the figure other
/// terminals and the usual OSC 52 helper scripts (chromium's `osc52.sh`, `osc52.el`)
/// adopted. A longer sequence is silently dropped, or cut, by many terminals; refusing it
/// lets the console say so instead.
pub const MAX_TEXT_BYTES: usize = 74_994;

/// The longest base64 payload, the encoded size of [`MAX_TEXT_BYTES`].
const MAX_BASE64_BYTES: usize = 99_992;

/// GNU screen drops a string sequence longer than its buffer (256 bytes before 4.2.0, 768
/// since), so inside screen the sequence is sent in DCS pieces of at most this many bytes,
/// as chromium's `osc52.sh` does: 256 less the `ESC P` and `ESC \` around each piece.
const SCREEN_PIECE_BYTES: usize = 252;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipboardError {
    /// The text is longer than terminals accept in one OSC 52 sequence.
    #[error(
        "{bytes} bytes is too much to copy through the terminal (at most {limit} bytes fit in one clipboard sequence)"
    )]
    TooLarge { bytes: usize, limit: usize },
}

/// The exact bytes to write to the terminal so that the system clipboard holds `text`.
/// `env` reads an environment variable (`TMUX`, `TERM`, `STY`), so tests need no process
/// environment.
///
/// - Directly on a terminal: `ESC ] 52 ; c ; <base64> BEL`.
/// - Inside tmux (`TMUX` set): that sequence, which tmux with `set-clipboard on` (the
///   default `external` does not accept it from applications) stores in a paste buffer
///   and forwards to the outer terminal, followed by the same sequence in tmux's DCS
///   passthrough, `ESC P tmux; <sequence with every ESC doubled> ESC \`, which reaches the
///   outer terminal when `allow-passthrough` is on. Either setting is enough; with both
///   the clipboard is simply set twice to the same text.
/// - Inside GNU screen (`TERM` starting with `screen` and `STY` set): the sequence wrapped
///   in DCS, `ESC P <sequence> ESC \`, in pieces screen's buffer can hold.
///
/// Refuses a text longer than [`MAX_TEXT_BYTES`] with [`ClipboardError::TooLarge`].
pub fn osc52(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<String, ClipboardError> {
    // Checked before encoding, so that a huge value costs nothing; `encoded_len` is exact.
    let encoded_len = base64::encoded_len(text.len(), true).unwrap_or(usize::MAX);
    if encoded_len > MAX_BASE64_BYTES {
        return Err(ClipboardError::TooLarge {
            bytes: text.len(),
            limit: MAX_TEXT_BYTES,
        });
    }
    let sequence = format!("\x1b]52;c;{}\x07", STANDARD.encode(text));
    Ok(if env("TMUX").is_some() {
        format!("{sequence}{}", tmux_passthrough(&sequence))
    } else if in_screen(&env) {
        screen_pieces(&sequence)
    } else {
        sequence
    })
}

fn in_screen(env: &impl Fn(&str) -> Option<String>) -> bool {
    env("TERM").is_some_and(|term| term.starts_with("screen")) && env("STY").is_some()
}

/// tmux's passthrough: the inner sequence's ESCs are doubled so that tmux does not end the
/// DCS string at the first one.
fn tmux_passthrough(sequence: &str) -> String {
    format!("\x1bPtmux;{}\x1b\\", sequence.replace('\x1b', "\x1b\x1b"))
}

/// The sequence cut into DCS strings screen passes on one after the other; the outer
/// terminal sees the pieces joined back into one OSC 52. The sequence is ASCII, so cutting
/// at byte offsets is safe.
fn screen_pieces(sequence: &str) -> String {
    sequence
        .as_bytes()
        .chunks(SCREEN_PIECE_BYTES)
        .map(|piece| format!("\x1bP{}\x1b\\", String::from_utf8_lossy(piece)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    /// The text an OSC 52 sequence carries.
    fn decode(sequence: &str) -> String {
        let payload = sequence
            .strip_prefix("\x1b]52;c;")
            .and_then(|rest| rest.strip_suffix('\x07'))
            .expect("an OSC 52 sequence");
        let bytes = STANDARD.decode(payload).expect("base64");
        String::from_utf8(bytes).expect("UTF-8")
    }

    #[test]
    fn plain_terminal() {
        let out = osc52("hello", env(&[("TERM", "xterm-256color")])).expect("fits");
        assert_eq!(out, "\x1b]52;c;aGVsbG8=\x07");
        assert_eq!(osc52("", env(&[])).expect("fits"), "\x1b]52;c;\x07");
    }

    #[test]
    fn tmux_gets_the_plain_sequence_then_the_passthrough() {
        let vars = [
            ("TMUX", "/tmp/tmux-1000/default,1234,0"),
            ("TERM", "tmux-256color"),
        ];
        let out = osc52("hello", env(&vars)).expect("fits");
        assert_eq!(
            out,
            "\x1b]52;c;aGVsbG8=\x07\x1bPtmux;\x1b\x1b]52;c;aGVsbG8=\x07\x1b\\"
        );
        // tmux wins over screen variables (tmux started from inside screen).
        let nested = [("TMUX", "x"), ("TERM", "screen"), ("STY", "1.pts")];
        assert_eq!(osc52("hello", env(&nested)).expect("fits"), out);
    }

    #[test]
    fn screen_gets_dcs_pieces() {
        let vars = [
            ("TERM", "screen.xterm-256color"),
            ("STY", "1234.pts-0.host"),
        ];
        assert_eq!(
            osc52("hello", env(&vars)).expect("fits"),
            "\x1bP\x1b]52;c;aGVsbG8=\x07\x1b\\"
        );
        // A long text is cut into pieces of at most 252 bytes that join back up.
        let text = "x".repeat(600);
        let out = osc52(&text, env(&vars)).expect("fits");
        let pieces: Vec<&str> = out
            .split("\x1bP")
            .filter(|piece| !piece.is_empty())
            .map(|piece| piece.strip_suffix("\x1b\\").expect("each piece ends in ST"))
            .collect();
        assert_eq!(pieces.len(), 4); // 7 + 800 + 1 = 808 bytes
        assert!(pieces.iter().all(|piece| piece.len() <= SCREEN_PIECE_BYTES));
        assert_eq!(decode(&pieces.concat()), text);
        // TERM=screen without STY (screen's terminfo used elsewhere) is a plain terminal.
        let plain = osc52("hello", env(&[("TERM", "screen")])).expect("fits");
        assert_eq!(plain, "\x1b]52;c;aGVsbG8=\x07");
    }

    #[test]
    fn any_text_round_trips_and_stays_inert() {
        for text in [
            "spec.template.spec.containers[0].image",
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "multi\nline\r\nvalue\t",
            "\x1b]52;c;AAAA\x07\x1b[2J\u{9b}a\u{202e}b",
            "你好 🎉 e\u{301}",
        ] {
            let out = osc52(text, env(&[])).expect("fits");
            assert_eq!(decode(&out), text);
            // Only the framing's ESC and BEL: the payload is the base64 alphabet.
            assert_eq!(out.matches('\x1b').count(), 1);
            assert_eq!(out.matches('\x07').count(), 1);
        }
    }

    #[test]
    fn the_size_limit_is_exact() {
        let fits = "a".repeat(MAX_TEXT_BYTES);
        let out = osc52(&fits, env(&[])).expect("fits");
        assert_eq!(out.len(), 100_000);
        assert_eq!(decode(&out), fits);
        let too_big = "a".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            osc52(&too_big, env(&[])),
            Err(ClipboardError::TooLarge {
                bytes: MAX_TEXT_BYTES + 1,
                limit: MAX_TEXT_BYTES
            })
        );
        assert_eq!(
            base64::encoded_len(MAX_TEXT_BYTES, true),
            Some(MAX_BASE64_BYTES)
        );
    }
}
