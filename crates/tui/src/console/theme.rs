//! Colours: truecolor, 256 or 16 colours as the terminal allows, and a monochrome theme for
//! `NO_COLOR` / `--color never` in which everything that colour says is also said by text,
//! weight or reverse video (the selected row is reversed and marked `▶`).
//!
//! crossterm drops *all* SGR attributes (bold, reverse) when it sees `NO_COLOR`, because it
//! writes an empty colour sequence (`ESC[m`, a full reset) instead of a colour. The console
//! therefore tells crossterm to always write what it is given
//! (`crossterm::style::force_color_output(true)`) and keeps `NO_COLOR` here: the monochrome
//! theme uses no colour at all, only modifiers.

use ratatui::style::{Color, Modifier, Style};
use statesight_core::wire::{RunStatus, Severity};

use crate::cli::ColorMode;

/// What the terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    TrueColor,
    Ansi256,
    Ansi16,
    /// No colour: modifiers only.
    Mono,
}

/// Picks the depth for `--color` and the environment (`env` reads a variable). `auto`:
/// monochrome when `NO_COLOR` is set to anything non-empty or `TERM` is `dumb`, truecolor
/// when `COLORTERM` says `truecolor`/`24bit`, 256 colours when `TERM` contains `256color`,
/// else 16. Only `TERM` reliably crosses SSH, so the fallback is the safe one. An explicit
/// `--color 256|16` wins over `NO_COLOR` (the user asked for colour on the command line).
pub fn depth(mode: ColorMode, env: impl Fn(&str) -> Option<String>) -> Depth {
    match mode {
        ColorMode::Never => Depth::Mono,
        ColorMode::Ansi256 => Depth::Ansi256,
        ColorMode::Ansi16 => Depth::Ansi16,
        ColorMode::Auto => {
            if env("NO_COLOR").is_some_and(|value| !value.is_empty()) {
                return Depth::Mono;
            }
            let term = env("TERM").unwrap_or_default().to_ascii_lowercase();
            if term == "dumb" {
                return Depth::Mono;
            }
            let colorterm = env("COLORTERM").unwrap_or_default().to_ascii_lowercase();
            if colorterm == "truecolor" || colorterm == "24bit" {
                Depth::TrueColor
            } else if term.contains("256color") {
                Depth::Ansi256
            } else {
                Depth::Ansi16
            }
        }
    }
}

/// Every style the console draws with.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub depth: Depth,
    pub base: Style,
    pub dim: Style,
    pub bold: Style,
    pub header: Style,
    pub header_brand: Style,
    pub title: Style,
    pub border: Style,
    pub column_header: Style,
    pub selected: Style,
    pub key: Style,
    pub error: Style,
    pub warning: Style,
    pub ok: Style,
    pub info: Style,
    pub prompt: Style,
    pub code: Style,
    pub critical: Style,
    pub high: Style,
    pub medium: Style,
    pub low: Style,
}

impl Theme {
    pub fn new(depth: Depth) -> Theme {
        if depth == Depth::Mono {
            return Theme::mono();
        }
        // One colour per role, as truecolor, xterm-256 index and ANSI-16 name.
        let pick = |rgb: (u8, u8, u8), indexed: u8, ansi: Color| match depth {
            Depth::TrueColor => Color::Rgb(rgb.0, rgb.1, rgb.2),
            Depth::Ansi256 => Color::Indexed(indexed),
            Depth::Ansi16 | Depth::Mono => ansi,
        };
        let accent = pick((95, 175, 255), 75, Color::LightBlue);
        let header_bg = pick((38, 50, 72), 236, Color::Blue);
        let header_fg = pick((230, 236, 245), 255, Color::White);
        let muted = pick((128, 138, 150), 245, Color::DarkGray);
        let selected_bg = pick((48, 70, 110), 24, Color::Blue);
        let red = pick((255, 85, 85), 203, Color::LightRed);
        let orange = pick((255, 160, 60), 215, Color::Red);
        let yellow = pick((230, 200, 80), 185, Color::Yellow);
        let cyan = pick((110, 200, 220), 116, Color::Cyan);
        let green = pick((120, 210, 120), 114, Color::Green);
        Theme {
            depth,
            base: Style::new(),
            dim: Style::new().fg(muted),
            bold: Style::new().add_modifier(Modifier::BOLD),
            header: Style::new().fg(header_fg).bg(header_bg),
            header_brand: Style::new()
                .fg(header_fg)
                .bg(header_bg)
                .add_modifier(Modifier::BOLD),
            title: Style::new().fg(accent).add_modifier(Modifier::BOLD),
            border: Style::new().fg(muted),
            column_header: Style::new().fg(accent).add_modifier(Modifier::BOLD),
            // Reversed too on 16 colours, where a blue background alone can vanish.
            selected: match depth {
                Depth::Ansi16 => Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
                _ => Style::new()
                    .bg(selected_bg)
                    .fg(header_fg)
                    .add_modifier(Modifier::BOLD),
            },
            key: Style::new().fg(accent).add_modifier(Modifier::BOLD),
            error: Style::new().fg(red).add_modifier(Modifier::BOLD),
            warning: Style::new().fg(yellow),
            ok: Style::new().fg(green),
            info: Style::new().fg(cyan),
            prompt: Style::new().fg(accent).add_modifier(Modifier::BOLD),
            code: Style::new()
                .fg(yellow)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            critical: Style::new().fg(red).add_modifier(Modifier::BOLD),
            high: Style::new().fg(orange).add_modifier(Modifier::BOLD),
            medium: Style::new().fg(yellow),
            low: Style::new().fg(cyan),
        }
    }

    /// No colour anywhere: weight, underline and reverse video carry the meaning, next to
    /// the words that always say it.
    fn mono() -> Theme {
        let plain = Style::new();
        let bold = Style::new().add_modifier(Modifier::BOLD);
        Theme {
            depth: Depth::Mono,
            base: plain,
            dim: plain,
            bold,
            header: Style::new().add_modifier(Modifier::REVERSED),
            header_brand: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            title: bold,
            border: plain,
            column_header: Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            key: bold,
            error: bold,
            warning: plain,
            ok: plain,
            info: plain,
            prompt: bold,
            code: Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            critical: bold,
            high: bold,
            medium: plain,
            low: plain,
        }
    }

    pub fn severity(&self, severity: Severity) -> Style {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }

    pub fn run_status(&self, status: RunStatus) -> Style {
        match status {
            RunStatus::Succeeded => self.ok,
            RunStatus::Failed => self.error,
            RunStatus::Queued | RunStatus::Running => self.info,
        }
    }
}

/// The short label of a severity, for dense columns.
pub fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "CRIT",
        Severity::High => "HIGH",
        Severity::Medium => "MED",
        Severity::Low => "LOW",
    }
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

    #[test]
    fn auto_follows_colorterm_then_term() {
        let auto = ColorMode::Auto;
        assert_eq!(
            depth(auto, env(&[("COLORTERM", "truecolor"), ("TERM", "xterm")])),
            Depth::TrueColor
        );
        assert_eq!(
            depth(auto, env(&[("COLORTERM", "24bit")])),
            Depth::TrueColor
        );
        assert_eq!(
            depth(auto, env(&[("TERM", "xterm-256color")])),
            Depth::Ansi256
        );
        assert_eq!(
            depth(auto, env(&[("TERM", "tmux-256color")])),
            Depth::Ansi256
        );
        assert_eq!(depth(auto, env(&[("TERM", "xterm")])), Depth::Ansi16);
        assert_eq!(depth(auto, env(&[])), Depth::Ansi16);
        assert_eq!(depth(auto, env(&[("TERM", "dumb")])), Depth::Mono);
    }

    #[test]
    fn no_color_means_monochrome_unless_colour_is_asked_for() {
        let vars = [("NO_COLOR", "1"), ("COLORTERM", "truecolor")];
        assert_eq!(depth(ColorMode::Auto, env(&vars)), Depth::Mono);
        // An empty NO_COLOR does not count.
        assert_eq!(
            depth(
                ColorMode::Auto,
                env(&[("NO_COLOR", ""), ("TERM", "xterm-256color")])
            ),
            Depth::Ansi256
        );
        assert_eq!(depth(ColorMode::Never, env(&[])), Depth::Mono);
        assert_eq!(depth(ColorMode::Ansi16, env(&vars)), Depth::Ansi16);
        assert_eq!(depth(ColorMode::Ansi256, env(&vars)), Depth::Ansi256);
    }

    #[test]
    fn each_depth_uses_only_its_colours() {
        fn colours(theme: &Theme) -> Vec<Color> {
            [
                theme.header,
                theme.selected,
                theme.critical,
                theme.high,
                theme.medium,
                theme.low,
                theme.dim,
                theme.key,
            ]
            .iter()
            .flat_map(|style| [style.fg, style.bg])
            .flatten()
            .collect()
        }
        assert!(colours(&Theme::new(Depth::Mono)).is_empty());
        assert!(
            colours(&Theme::new(Depth::Ansi16))
                .iter()
                .all(|c| !matches!(c, Color::Rgb(..) | Color::Indexed(_)))
        );
        assert!(
            colours(&Theme::new(Depth::Ansi256))
                .iter()
                .all(|c| matches!(c, Color::Indexed(_)))
        );
        assert!(
            colours(&Theme::new(Depth::TrueColor))
                .iter()
                .all(|c| matches!(c, Color::Rgb(..)))
        );
        assert!(
            Theme::new(Depth::Mono)
                .selected
                .add_modifier
                .contains(Modifier::REVERSED)
        );
    }
}
