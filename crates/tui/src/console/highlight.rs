//! YAML syntax highlighting for the evidence pane: syntect parses, and its colours are
//! converted to ratatui styles here for the terminal's colour depth (`syntect-tui` does not
//! build with ratatui 0.30, and it knows nothing of the console's [`Depth`]).
//!
//! Highlighting only ever styles text: the spans of each output line concatenate to exactly
//! the input line, so what the reader sees (already passed through `clean`) is what was
//! checked for safety, and a line syntect cannot handle is shown plain.

use std::sync::LazyLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{self, FontStyle, ThemeSet};
use syntect::parsing::{SyntaxReference, SyntaxSet};

use super::theme::{Depth, Theme};

/// The bundled syntaxes, parsed once: deserialising them takes milliseconds, too long to
/// repeat for every redraw. The `newlines` set is the one Sublime syntaxes are written for.
static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

/// The colour scheme: a dark theme with muted colours, which reads on the usual dark
/// terminal; its default foreground is left to the terminal (see [`span_style`]), so plain
/// text also reads on a light one.
const THEME_NAME: &str = "base16-ocean.dark";

static SCHEME: LazyLock<highlighting::Theme> = LazyLock::new(|| {
    ThemeSet::load_defaults()
        .themes
        .remove(THEME_NAME)
        .unwrap_or_default()
});

fn yaml_syntax() -> Option<&'static SyntaxReference> {
    SYNTAXES.find_syntax_by_extension("yaml")
}

/// Lines of one value highlighted at most: syntect's YAML grammar on pure-Rust regexes
/// costs about a quarter of a millisecond a line, so a huge value shows its first lines in
/// colour and the rest plain (every character is still there).
pub const MAX_HIGHLIGHTED_LINES: usize = 400;

/// Loads the syntaxes and the colour scheme (about 25 ms), so the first evidence pane does
/// not wait for them: the console calls it in the background when it starts.
pub fn warm_up() {
    if let Some(syntax) = yaml_syntax() {
        let mut highlighter = HighlightLines::new(syntax, &SCHEME);
        let _ = highlighter.highlight_line("key: value\n", &SYNTAXES);
    }
}

/// `lines` (one YAML document, already clean) as styled lines for `theme`'s colour depth.
/// Every output line's spans concatenate to the input line exactly.
pub fn highlight_yaml(lines: &[String], theme: &Theme) -> Vec<Line<'static>> {
    let Some(syntax) = yaml_syntax() else {
        return lines.iter().map(|line| plain(line, theme)).collect();
    };
    let scheme = &*SCHEME;
    let mut highlighter = HighlightLines::new(syntax, scheme);
    let (coloured, rest) = lines.split_at(lines.len().min(MAX_HIGHLIGHTED_LINES));
    let mut out: Vec<Line<'static>> = coloured
        .iter()
        .map(|line| {
            highlight_line(&mut highlighter, line, theme, scheme).unwrap_or_else(|| {
                // The parse state may be broken after a failure: start afresh for the rest.
                highlighter = HighlightLines::new(syntax, scheme);
                plain(line, theme)
            })
        })
        .collect();
    out.extend(rest.iter().map(|line| plain(line, theme)));
    out
}

fn plain(line: &str, theme: &Theme) -> Line<'static> {
    Line::from(Span::styled(line.to_owned(), theme.base))
}

/// One line highlighted, or `None` when syntect fails or its ranges do not add up to the
/// line (the caller then shows it plain).
fn highlight_line(
    highlighter: &mut HighlightLines<'_>,
    line: &str,
    theme: &Theme,
    scheme: &highlighting::Theme,
) -> Option<Line<'static>> {
    // A line break inside a "line" would desynchronise the parser; clean lines have none.
    if line.contains(['\n', '\r']) {
        return None;
    }
    // The `newlines` syntaxes expect each line to end in `\n`; it is dropped again below.
    let with_newline = format!("{line}\n");
    let ranges = highlighter.highlight_line(&with_newline, &SYNTAXES).ok()?;
    let default_fg = scheme.settings.foreground;
    let mut spans: Vec<Span<'static>> = Vec::with_capacity(ranges.len());
    let mut rebuilt = String::with_capacity(line.len());
    for (syn_style, piece) in ranges {
        let piece = piece.strip_suffix('\n').unwrap_or(piece);
        if piece.is_empty() {
            continue;
        }
        rebuilt.push_str(piece);
        let style = theme
            .base
            .patch(span_style(syn_style, theme.depth, default_fg));
        // Neighbours in the same style become one span: fewer cells to diff when drawing.
        match spans.last_mut() {
            Some(last) if last.style == style => last.content.to_mut().push_str(piece),
            _ => spans.push(Span::styled(piece.to_owned(), style)),
        }
    }
    (rebuilt == line).then(|| Line::from(spans))
}

/// A syntect style as a ratatui style for `depth`: the foreground colour (the background is
/// the pane's, never the scheme's) unless it is the scheme's default text colour, and bold,
/// italic and underline. Monochrome keeps only the modifiers.
fn span_style(
    style: highlighting::Style,
    depth: Depth,
    default_fg: Option<highlighting::Color>,
) -> Style {
    let mut out = Style::new();
    if Some(style.foreground) != default_fg
        && let Some(colour) = colour(style.foreground, depth)
    {
        out = out.fg(colour);
    }
    let font = style.font_style;
    for (flag, modifier) in [
        (FontStyle::BOLD, Modifier::BOLD),
        (FontStyle::ITALIC, Modifier::ITALIC),
        (FontStyle::UNDERLINE, Modifier::UNDERLINED),
    ] {
        if font.contains(flag) {
            out = out.add_modifier(modifier);
        }
    }
    out
}

/// An RGB colour at the terminal's depth; `None` means "the terminal's default colour".
fn colour(rgb: highlighting::Color, depth: Depth) -> Option<Color> {
    let (r, g, b) = (rgb.r, rgb.g, rgb.b);
    match depth {
        Depth::TrueColor => Some(Color::Rgb(r, g, b)),
        Depth::Ansi256 => Some(Color::Indexed(xterm256(r, g, b))),
        Depth::Ansi16 => ansi16(r, g, b),
        Depth::Mono => None,
    }
}

/// The channel values of xterm's 6×6×6 colour cube (indices 16–231).
const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// The nearest xterm-256 colour to `(r, g, b)`: the closest of the 6×6×6 cube and the
/// 24-step grey ramp (232–255, values 8, 18, …, 238), by squared RGB distance. Indices 0–15
/// are never picked: terminals redefine them with their own themes.
pub fn xterm256(r: u8, g: u8, b: u8) -> u8 {
    let (ri, gi, bi) = (cube_index(r), cube_index(g), cube_index(b));
    let cube = (CUBE[ri], CUBE[gi], CUBE[bi]);
    // `cube_index` is at most 5, so the index is at most 16 + 215 = 231.
    let cube_colour = 16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8;
    let average = (u16::from(r) + u16::from(g) + u16::from(b)) / 3;
    // The grey step whose value 8 + 10·i is closest to the average, clamped to 0..=23.
    let step = (average.saturating_sub(3) / 10).min(23) as u8;
    let grey_value = 8 + 10 * step;
    let grey = (grey_value, grey_value, grey_value);
    if distance((r, g, b), grey) < distance((r, g, b), cube) {
        232 + step
    } else {
        cube_colour
    }
}

/// The index of the cube level nearest to `value`.
fn cube_index(value: u8) -> usize {
    // Midpoints between consecutive levels 0, 95, 135, 175, 215, 255.
    match value {
        0..=47 => 0,
        48..=114 => 1,
        115..=154 => 2,
        155..=194 => 3,
        195..=234 => 4,
        _ => 5,
    }
}

fn distance(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| u32::from(x.abs_diff(y)).pow(2);
    d(a.0, b.0) + d(a.1, b.1) + d(a.2, b.2)
}

/// A colour on a 16-colour terminal, by hue rather than by RGB distance: the 16 colours are
/// whatever the user's terminal theme makes them, so only their hues are known. Greys and
/// near-greys become dark grey when dim (comments) and the default colour otherwise; blue is
/// the light variant, since plain blue is barely legible on a black background.
fn ansi16(r: u8, g: u8, b: u8) -> Option<Color> {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let (chroma, sum) = (u16::from(max - min), u16::from(max) + u16::from(min));
    // HSL saturation is chroma / (255 - |max + min - 255|); below 0.15 (or with very
    // little chroma at all) a colour reads as grey. Muted schemes such as base16-ocean keep
    // their hues at about 0.17 and their greys at 0.11–0.13.
    let denominator = 255 - sum.abs_diff(255);
    if chroma < 24 || chroma * 100 < 15 * denominator {
        return (sum < 256).then_some(Color::DarkGray);
    }
    let hue = hue_degrees(r, g, b, max, min);
    Some(match hue {
        30..90 => Color::Yellow,
        90..150 => Color::Green,
        150..210 => Color::Cyan,
        210..270 => Color::LightBlue,
        270..330 => Color::Magenta,
        _ => Color::Red,
    })
}

/// The hue of a non-grey colour in whole degrees, 0..360.
fn hue_degrees(r: u8, g: u8, b: u8, max: u8, min: u8) -> u16 {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let chroma = f32::from(max - min);
    let max = f32::from(max);
    let sector = if max == r {
        (g - b) / chroma
    } else if max == g {
        (b - r) / chroma + 2.0
    } else {
        (r - g) / chroma + 4.0
    };
    let degrees = (sector * 60.0).rem_euclid(360.0);
    // In 0.0..360.0, so the conversion cannot overflow.
    degrees as u16 % 360
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::yaml::to_yaml_lines;
    use serde_json::json;

    fn text_of(line: &Line<'_>) -> String {
        line.spans
            .iter()
            .map(|span| span.content.as_ref())
            .collect()
    }

    fn sample() -> Vec<String> {
        to_yaml_lines(Some(&json!({
            "spec": {
                "replicas": 3,
                "paused": false,
                "image": "ghcr.io/acme/api:1.2",
                "note": "# not a comment",
                "script": "set -e\necho 你好\n",
                "hostile": "\u{1b}]52;c;AAAA\u{7}a\u{202e}b",
                "wide": "日本語テキスト",
                "list": [{"name": "a", "value": "1"}, null]
            }
        })))
    }

    #[test]
    fn text_is_never_changed() {
        let mut lines = sample();
        lines.push(String::from("  broken: [unclosed, {"));
        lines.push(String::from("\"unterminated"));
        lines.push(String::new());
        lines.push(String::from("a\nb"));
        for depth in [Depth::TrueColor, Depth::Ansi256, Depth::Ansi16, Depth::Mono] {
            let highlighted = highlight_yaml(&lines, &Theme::new(depth));
            assert_eq!(highlighted.len(), lines.len());
            for (line, out) in lines.iter().zip(&highlighted) {
                assert_eq!(&text_of(out), line, "{depth:?}");
            }
        }
    }

    #[test]
    fn colours_follow_the_depth() {
        let lines = sample();
        let colours = |depth| -> Vec<Color> {
            highlight_yaml(&lines, &Theme::new(depth))
                .iter()
                .flat_map(|line| line.spans.iter())
                .flat_map(|span| [span.style.fg, span.style.bg])
                .flatten()
                .collect()
        };
        let truecolor = colours(Depth::TrueColor);
        assert!(!truecolor.is_empty(), "keys and values are coloured");
        assert!(truecolor.iter().all(|c| matches!(c, Color::Rgb(..))));
        let indexed = colours(Depth::Ansi256);
        assert!(!indexed.is_empty());
        assert!(
            indexed
                .iter()
                .all(|c| matches!(c, Color::Indexed(16..=255)))
        );
        let named = colours(Depth::Ansi16);
        assert!(!named.is_empty());
        assert!(
            named
                .iter()
                .all(|c| !matches!(c, Color::Rgb(..) | Color::Indexed(_)))
        );
        assert!(
            colours(Depth::Mono).is_empty(),
            "monochrome stays colourless"
        );
    }

    #[test]
    fn keys_and_values_get_different_styles() {
        let lines = vec![String::from("replicas: 3")];
        let out = highlight_yaml(&lines, &Theme::new(Depth::TrueColor));
        let styles: Vec<Style> = out[0].spans.iter().map(|span| span.style).collect();
        assert!(styles.len() >= 2, "{out:?}");
        assert_ne!(styles.first(), styles.last());
    }

    #[test]
    fn xterm256_picks_the_nearest_index() {
        assert_eq!(xterm256(0, 0, 0), 16);
        assert_eq!(xterm256(255, 255, 255), 231);
        assert_eq!(xterm256(255, 0, 0), 196);
        assert_eq!(xterm256(0, 255, 0), 46);
        assert_eq!(xterm256(0, 0, 255), 21);
        assert_eq!(xterm256(95, 135, 175), 67);
        assert_eq!(xterm256(128, 128, 128), 244);
        assert_eq!(xterm256(8, 8, 8), 232);
        assert_eq!(xterm256(238, 238, 238), 255);
        assert_eq!(xterm256(100, 100, 100), 241); // grey 98 beats cube 95
        assert_eq!(xterm256(250, 250, 250), 231); // cube 255 beats the last grey, 238
    }

    #[test]
    fn xterm256_matches_a_brute_force_search() {
        fn palette(index: u8) -> (u8, u8, u8) {
            if index >= 232 {
                let v = 8 + 10 * (index - 232);
                (v, v, v)
            } else {
                let i = usize::from(index - 16);
                (CUBE[i / 36], CUBE[(i / 6) % 6], CUBE[i % 6])
            }
        }
        for r in (0..=255u8).step_by(5) {
            for g in (0..=255u8).step_by(15) {
                for b in (0..=255u8).step_by(15) {
                    let picked = distance((r, g, b), palette(xterm256(r, g, b)));
                    let best = (16..=255u8)
                        .map(|index| distance((r, g, b), palette(index)))
                        .min()
                        .unwrap_or(u32::MAX);
                    assert_eq!(picked, best, "({r}, {g}, {b})");
                }
            }
        }
    }

    #[test]
    fn ansi16_maps_by_hue() {
        assert_eq!(ansi16(0xbf, 0x61, 0x6a), Some(Color::Red));
        assert_eq!(ansi16(0xeb, 0xcb, 0x8b), Some(Color::Yellow));
        assert_eq!(ansi16(0xa3, 0xbe, 0x8c), Some(Color::Green));
        assert_eq!(ansi16(0x96, 0xb5, 0xb4), Some(Color::Cyan));
        assert_eq!(ansi16(0x8f, 0xa1, 0xb3), Some(Color::LightBlue));
        assert_eq!(ansi16(0x20, 0x40, 0xff), Some(Color::LightBlue));
        assert_eq!(ansi16(0xb4, 0x8e, 0xad), Some(Color::Magenta));
        assert_eq!(ansi16(0x65, 0x73, 0x7e), Some(Color::DarkGray));
        assert_eq!(ansi16(0xc0, 0xc5, 0xce), None);
    }

    /// Not a timed assertion: prints the figure (run with `--release --nocapture`).
    #[test]
    fn two_hundred_lines_are_fast() {
        let mut lines = Vec::new();
        while lines.len() < 200 {
            lines.extend(sample());
        }
        lines.truncate(200);
        let theme = Theme::new(Depth::TrueColor);
        // The first call pays for loading the syntaxes and the scheme, and for compiling
        // the regexes the YAML syntax uses (syntect compiles each one on first use).
        let start = std::time::Instant::now();
        let _ = highlight_yaml(&lines[..1], &theme);
        let load = start.elapsed();
        let start = std::time::Instant::now();
        let _ = highlight_yaml(&lines, &theme);
        let cold = start.elapsed();
        let start = std::time::Instant::now();
        let out = highlight_yaml(&lines, &theme);
        let elapsed = start.elapsed();
        assert_eq!(out.len(), 200);
        println!("highlight: load {load:?}, 200 lines first {cold:?}, then {elapsed:?}");
    }
}
