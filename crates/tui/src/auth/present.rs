//! Showing a device sign-in in a terminal: a QR code of the verification URL, the user code
//! copied with OSC 52, and a browser opened only where there is one.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};
use reqwest::Url;

/// The QR code of `text` as lines of half-block characters (light modules drawn, for dark
/// terminal backgrounds), or `None` when it would not fit `columns` × `rows`.
pub fn qr_lines(text: &str, columns: u16, rows: u16) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L).ok()?;
    let image = code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    let width = image.lines().map(|line| line.chars().count()).max()?;
    let height = image.lines().count();
    // Leave a few rows for the code and the messages around it.
    if width > usize::from(columns) || height + 6 > usize::from(rows) {
        return None;
    }
    Some(image)
}

/// The QR code for a terminal on stdout, if stdout is one and the code fits.
pub fn qr_for_stdout(text: &str) -> Option<String> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let (columns, rows) = crossterm::terminal::size().ok()?;
    qr_lines(text, columns, rows)
}

/// The OSC 52 sequence that puts `text` on the clipboard, wrapped for tmux (when `TMUX` is
/// set) or GNU screen (when `TERM` starts with `screen`) so it reaches the outer terminal.
pub fn osc52(text: &str, tmux: bool, screen: bool) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(text);
    let sequence = format!("\x1b]52;c;{payload}\x07");
    if tmux {
        // tmux passthrough: every ESC inside is doubled.
        format!("\x1bPtmux;{}\x1b\\", sequence.replace('\x1b', "\x1b\x1b"))
    } else if screen {
        format!("\x1bP{sequence}\x1b\\")
    } else {
        sequence
    }
}

/// Copies `text` to the clipboard of the terminal (stdout's, else stderr's). `false` when
/// neither is a terminal.
pub fn copy_to_clipboard(text: &str) -> bool {
    let tmux = std::env::var_os("TMUX").is_some_and(|value| !value.is_empty());
    let screen = std::env::var("TERM").is_ok_and(|term| term.starts_with("screen"));
    let sequence = osc52(text, tmux, screen);
    if std::io::stdout().is_terminal() {
        let mut out = std::io::stdout();
        out.write_all(sequence.as_bytes()).is_ok() && out.flush().is_ok()
    } else if std::io::stderr().is_terminal() {
        let mut err = std::io::stderr();
        err.write_all(sequence.as_bytes()).is_ok() && err.flush().is_ok()
    } else {
        false
    }
}

/// The command that opens a browser on this machine, if there is one to open: on Linux only
/// with a graphical display (`DISPLAY` or `WAYLAND_DISPLAY`) and `xdg-open`; on macOS with
/// `open`, unless in an SSH session. Never over SSH without a display.
pub fn browser_command() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    if cfg!(target_os = "macos") {
        if set("SSH_CONNECTION") || set("SSH_TTY") {
            return None;
        }
        return find_in_path("open");
    }
    if !(set("DISPLAY") || set("WAYLAND_DISPLAY")) {
        return None;
    }
    find_in_path("xdg-open")
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        path.metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Opens `url` (http or https only) in the local browser, detached. `false` when there is no
/// browser here or it could not be started.
pub fn open_browser(url: &str) -> bool {
    let Ok(parsed) = Url::parse(url) else {
        return false;
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return false;
    }
    let Some(command) = browser_command() else {
        return false;
    };
    std::process::Command::new(command)
        .arg(parsed.as_str())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_plain_tmux_and_screen() {
        assert_eq!(osc52("AB-CD", false, false), "\x1b]52;c;QUItQ0Q=\x07");
        assert_eq!(
            osc52("AB-CD", true, false),
            "\x1bPtmux;\x1b\x1b]52;c;QUItQ0Q=\x07\x1b\\"
        );
        assert_eq!(
            osc52("AB-CD", false, true),
            "\x1bP\x1b]52;c;QUItQ0Q=\x07\x1b\\"
        );
    }

    #[test]
    fn qr_codes_only_when_they_fit() {
        let url = "https://login.example.com/device?user_code=WDJB-MJHT";
        let qr = qr_lines(url, 120, 60).expect("fits a large terminal");
        let width = qr
            .lines()
            .map(|line| line.chars().count())
            .max()
            .unwrap_or(0);
        assert!(width >= 21 + 8, "a QR code with its quiet zone: {width}");
        assert!(
            qr.chars()
                .all(|c| matches!(c, ' ' | '\u{2580}' | '\u{2584}' | '\u{2588}' | '\n'))
        );
        assert!(qr_lines(url, 20, 60).is_none());
        assert!(qr_lines(url, 120, 10).is_none());
    }
}
