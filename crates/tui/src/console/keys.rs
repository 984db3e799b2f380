//! Key bindings: one table of defaults ([`DEFAULTS`]) that the console dispatches on, the
//! help overlay lists and `docs/console.md` documents, with the user's
//! `<config dir>/keys.toml` applied on top:
//!
//! ```toml
//! [global]
//! quit = ["q", "ctrl-q"]
//! help = "f1"
//!
//! [applications]
//! sort = ["s", "o"]
//! ```
//!
//! Sections are scopes (`global`, `applications`, `incidents`, `application`); a screen's own section is
//! looked up before `global`. Naming an action replaces all its default keys; a key given to
//! one action is taken from any other action of the same section that the file does not
//! name. A file with any error (unknown section, action or key name, one key bound twice in
//! a section, bad TOML) is not applied at all: the defaults stay and the error names the file.
//!
//! Two things are fixed and cannot be remapped: `ctrl-c` quits from anywhere, and the line
//! editor keys of prompts (see [`PROMPT_KEYS`]).

use std::fmt;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// A key with its modifiers, normalized so that a binding and a key press compare equal
/// (`S` is `Char('S')` without SHIFT; shift-tab is `BackTab`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

const MODIFIER_MASK: KeyModifiers = KeyModifiers::CONTROL
    .union(KeyModifiers::ALT)
    .union(KeyModifiers::SHIFT);

impl KeyChord {
    pub const fn new(code: KeyCode, modifiers: KeyModifiers) -> KeyChord {
        KeyChord { code, modifiers }
    }

    pub const fn plain(code: KeyCode) -> KeyChord {
        KeyChord::new(code, KeyModifiers::NONE)
    }

    pub const fn ctrl(c: char) -> KeyChord {
        KeyChord::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    /// The chord of a key press; `None` for releases.
    pub fn from_event(event: &KeyEvent) -> Option<KeyChord> {
        if event.kind == KeyEventKind::Release {
            return None;
        }
        let mut modifiers = event.modifiers & MODIFIER_MASK;
        let code = match event.code {
            // The character already says whether shift was held.
            KeyCode::Char(c) => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c)
            }
            KeyCode::BackTab => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::Tab if modifiers.contains(KeyModifiers::SHIFT) => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Some(KeyChord { code, modifiers })
    }

    /// Parses `q`, `S`, `?`, `ctrl-c`, `alt-x`, `shift-tab`, `enter`, `pgdn`, `f1`, `space`…
    pub fn parse(text: &str) -> Result<KeyChord, String> {
        let original = text;
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(String::from("an empty key name"));
        }
        let mut modifiers = KeyModifiers::NONE;
        loop {
            // A single character left is the key itself, even `-`.
            if rest.chars().count() == 1 {
                break;
            }
            let lower = rest.to_ascii_lowercase();
            let stripped = ["ctrl-", "control-", "c-"]
                .iter()
                .find(|prefix| lower.starts_with(*prefix))
                .map(|prefix| (KeyModifiers::CONTROL, prefix.len()))
                .or_else(|| {
                    ["alt-", "meta-", "m-"]
                        .iter()
                        .find(|prefix| lower.starts_with(*prefix))
                        .map(|prefix| (KeyModifiers::ALT, prefix.len()))
                })
                .or_else(|| {
                    lower
                        .starts_with("shift-")
                        .then_some((KeyModifiers::SHIFT, 6))
                });
            match stripped {
                Some((modifier, length)) if rest.len() > length => {
                    modifiers |= modifier;
                    rest = &rest[length..];
                }
                _ => break,
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() && c != ' ' => {
                if modifiers.contains(KeyModifiers::CONTROL) && c.is_ascii_alphabetic() {
                    // Terminals send ctrl-r and ctrl-R alike.
                    KeyCode::Char(c.to_ascii_lowercase())
                } else if modifiers.contains(KeyModifiers::SHIFT) {
                    modifiers.remove(KeyModifiers::SHIFT);
                    KeyCode::Char(c.to_uppercase().next().unwrap_or(c))
                } else {
                    KeyCode::Char(c)
                }
            }
            _ => {
                let name = rest.to_ascii_lowercase();
                let code = match name.as_str() {
                    "enter" | "return" => KeyCode::Enter,
                    "esc" | "escape" => KeyCode::Esc,
                    "tab" if modifiers.contains(KeyModifiers::SHIFT) => {
                        modifiers.remove(KeyModifiers::SHIFT);
                        KeyCode::BackTab
                    }
                    "tab" => KeyCode::Tab,
                    "backtab" => KeyCode::BackTab,
                    "backspace" => KeyCode::Backspace,
                    "delete" | "del" => KeyCode::Delete,
                    "insert" | "ins" => KeyCode::Insert,
                    "home" => KeyCode::Home,
                    "end" => KeyCode::End,
                    "pgup" | "pageup" => KeyCode::PageUp,
                    "pgdn" | "pagedown" => KeyCode::PageDown,
                    "up" => KeyCode::Up,
                    "down" => KeyCode::Down,
                    "left" => KeyCode::Left,
                    "right" => KeyCode::Right,
                    "space" => KeyCode::Char(' '),
                    _ => match name.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
                        Some(n) if (1..=12).contains(&n) => KeyCode::F(n),
                        _ => {
                            return Err(format!(
                                "unknown key {original:?} (a key is one character, or one of \
                                 enter, esc, tab, shift-tab, backspace, delete, insert, home, \
                                 end, pgup, pgdn, up, down, left, right, space, f1…f12, with \
                                 optional ctrl-, alt- or shift- before it)"
                            ));
                        }
                    },
                };
                if modifiers.contains(KeyModifiers::SHIFT) && code == KeyCode::Char(' ') {
                    modifiers.remove(KeyModifiers::SHIFT);
                }
                code
            }
        };
        Ok(KeyChord { code, modifiers })
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Insert => f.write_str("insert"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Up => f.write_str("up"),
            KeyCode::Down => f.write_str("down"),
            KeyCode::Left => f.write_str("left"),
            KeyCode::Right => f.write_str("right"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A section of `keys.toml`: the keys of every screen, or of one screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Global,
    Applications,
    Incidents,
    Application,
    Incident,
    /// The ignore-rule editor: only its own keys, everything else is typed.
    RuleEditor,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Global,
        Scope::Applications,
        Scope::Incidents,
        Scope::Application,
        Scope::Incident,
        Scope::RuleEditor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Applications => "applications",
            Scope::Incidents => "incidents",
            Scope::Application => "application",
            Scope::Incident => "incident",
            Scope::RuleEditor => "rule_editor",
        }
    }

    /// Whether the global keys apply too (not in the editor, where letters are typed).
    pub fn inherits_global(self) -> bool {
        self != Scope::RuleEditor
    }

    fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.name() == name)
    }
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Back,
    Help,
    Palette,
    Filter,
    Refresh,
    Overview,
    Applications,
    Incidents,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Sort,
    ReverseSort,
    NextTab,
    PreviousTab,
    IncidentsTab,
    SuppressedTab,
    RulesTab,
    AnalysesTab,
    ToggleResolved,
    Analyze,
    ToggleRule,
    DeleteRule,
    EditRule,
    NewRule,
    SwitchFocus,
    ToggleDiff,
    EvidenceDown,
    EvidenceUp,
    CopyPath,
    CopyValue,
    IgnoreFinding,
    Save,
    NextField,
    PreviousField,
}

impl Action {
    /// The name used in `keys.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Back => "back",
            Action::Help => "help",
            Action::Palette => "palette",
            Action::Filter => "filter",
            Action::Refresh => "refresh",
            Action::Overview => "overview",
            Action::Applications => "applications",
            Action::Incidents => "incidents",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Open => "open",
            Action::Sort => "sort",
            Action::ReverseSort => "reverse_sort",
            Action::NextTab => "next_tab",
            Action::PreviousTab => "previous_tab",
            Action::IncidentsTab => "incidents_tab",
            Action::SuppressedTab => "suppressed_tab",
            Action::RulesTab => "rules_tab",
            Action::AnalysesTab => "analyses_tab",
            Action::ToggleResolved => "toggle_resolved",
            Action::Analyze => "analyze",
            Action::ToggleRule => "toggle_rule",
            Action::DeleteRule => "delete_rule",
            Action::EditRule => "edit_rule",
            Action::NewRule => "new_rule",
            Action::SwitchFocus => "switch_focus",
            Action::ToggleDiff => "toggle_diff",
            Action::EvidenceDown => "evidence_down",
            Action::EvidenceUp => "evidence_up",
            Action::CopyPath => "copy_path",
            Action::CopyValue => "copy_value",
            Action::IgnoreFinding => "ignore_finding",
            Action::Save => "save",
            Action::NextField => "next_field",
            Action::PreviousField => "previous_field",
        }
    }
}

/// One default binding.
pub struct DefaultBinding {
    pub scope: Scope,
    pub action: Action,
    pub keys: &'static [&'static str],
    pub description: &'static str,
    /// Shown in the key-hint bar.
    pub hint: Option<&'static str>,
}

const fn bind(
    scope: Scope,
    action: Action,
    keys: &'static [&'static str],
    description: &'static str,
    hint: Option<&'static str>,
) -> DefaultBinding {
    DefaultBinding {
        scope,
        action,
        keys,
        description,
        hint,
    }
}

/// The defaults, in the order the help and the docs list them.
pub const DEFAULTS: &[DefaultBinding] = &[
    bind(
        Scope::Applications,
        Action::Open,
        &["enter"],
        "Open the application: its incidents, suppressions, ignore rules, analyses",
        Some("open"),
    ),
    bind(
        Scope::Applications,
        Action::Sort,
        &["s"],
        "Sort by the next column",
        Some("sort"),
    ),
    bind(
        Scope::Applications,
        Action::ReverseSort,
        &["S"],
        "Reverse the sort order",
        None,
    ),
    bind(
        Scope::Incidents,
        Action::Sort,
        &["s"],
        "Sort by the next column",
        Some("sort"),
    ),
    bind(
        Scope::Incidents,
        Action::ReverseSort,
        &["S"],
        "Reverse the sort order",
        None,
    ),
    bind(
        Scope::Application,
        Action::NextTab,
        &["tab"],
        "Next tab",
        Some("tabs"),
    ),
    bind(
        Scope::Application,
        Action::PreviousTab,
        &["shift-tab"],
        "Previous tab",
        None,
    ),
    bind(
        Scope::Application,
        Action::IncidentsTab,
        &["1"],
        "Incidents tab",
        None,
    ),
    bind(
        Scope::Application,
        Action::SuppressedTab,
        &["2"],
        "Suppressed tab: findings ignore rules suppressed",
        None,
    ),
    bind(
        Scope::Application,
        Action::RulesTab,
        &["3"],
        "Ignore Rules tab: the application's rules and the workspace's (admins change those)",
        None,
    ),
    bind(
        Scope::Application,
        Action::AnalysesTab,
        &["4"],
        "Analyses tab",
        None,
    ),
    bind(
        Scope::Application,
        Action::ToggleResolved,
        &["R"],
        "Incidents tab: show or hide resolved incidents",
        Some("resolved"),
    ),
    bind(
        Scope::Application,
        Action::Analyze,
        &["a"],
        "Request an analysis and follow it until it ends (editor)",
        Some("analyze"),
    ),
    bind(
        Scope::Application,
        Action::Open,
        &["enter"],
        "Open the selected incident; on Ignore Rules, edit the selected rule",
        Some("open"),
    ),
    bind(
        Scope::Application,
        Action::ToggleRule,
        &["space"],
        "Ignore Rules tab: enable or disable the selected rule (a workspace rule after the server's preview)",
        Some("on/off"),
    ),
    bind(
        Scope::Application,
        Action::EditRule,
        &["e"],
        "Ignore Rules tab: edit the selected rule (editor; workspace rules: admins only)",
        None,
    ),
    bind(
        Scope::Application,
        Action::NewRule,
        &["n"],
        "Ignore Rules tab: write a new rule, for this application or the whole workspace (editor)",
        None,
    ),
    bind(
        Scope::Application,
        Action::DeleteRule,
        &["d"],
        "Ignore Rules tab: delete the selected rule, after confirming (editor)",
        None,
    ),
    bind(
        Scope::Incidents,
        Action::Open,
        &["enter"],
        "Open the incident: findings, evidence, timeline",
        Some("open"),
    ),
    bind(
        Scope::Incident,
        Action::SwitchFocus,
        &["tab"],
        "Move between the findings and the evidence pane",
        Some("pane"),
    ),
    bind(
        Scope::Incident,
        Action::ToggleDiff,
        &["v"],
        "Evidence: unified or side-by-side values",
        Some("diff view"),
    ),
    bind(
        Scope::Incident,
        Action::EvidenceDown,
        &["J", "ctrl-d"],
        "Scroll the evidence pane down",
        None,
    ),
    bind(
        Scope::Incident,
        Action::EvidenceUp,
        &["K", "ctrl-u"],
        "Scroll the evidence pane up",
        None,
    ),
    bind(
        Scope::Incident,
        Action::CopyPath,
        &["y"],
        "Copy the finding's path to the clipboard (OSC 52: over SSH, inside tmux)",
        Some("copy path"),
    ),
    bind(
        Scope::Incident,
        Action::CopyValue,
        &["Y"],
        "Copy the finding's live value (as YAML) to the clipboard",
        None,
    ),
    bind(
        Scope::Incident,
        Action::IgnoreFinding,
        &["i"],
        "Write an ignore rule for the finding, previewed live (editor)",
        Some("ignore"),
    ),
    bind(
        Scope::RuleEditor,
        Action::Save,
        &["ctrl-s"],
        "Save the rule (a workspace rule: after the server's preview across every application)",
        Some("save"),
    ),
    bind(
        Scope::RuleEditor,
        Action::NextField,
        &["tab", "down"],
        "Next field",
        Some("next field"),
    ),
    bind(
        Scope::RuleEditor,
        Action::PreviousField,
        &["shift-tab", "up"],
        "Previous field",
        None,
    ),
    bind(
        Scope::RuleEditor,
        Action::Back,
        &["esc"],
        "Leave the editor (asks first when something was typed)",
        Some("cancel"),
    ),
    bind(
        Scope::Global,
        Action::Help,
        &["?"],
        "Help: the keys of this screen (type to filter)",
        Some("help"),
    ),
    bind(
        Scope::Global,
        Action::Palette,
        &[":"],
        "Command palette: :apps :incidents :overview :ws NAME :q (Tab completes)",
        Some("cmd"),
    ),
    bind(
        Scope::Global,
        Action::Filter,
        &["/"],
        "Filter the rows (every word must match)",
        Some("filter"),
    ),
    bind(
        Scope::Global,
        Action::Back,
        &["esc"],
        "Back: clear the filter, else leave the screen",
        None,
    ),
    bind(
        Scope::Global,
        Action::Quit,
        &["q"],
        "Quit on the top screen; elsewhere go back",
        Some("quit"),
    ),
    bind(
        Scope::Global,
        Action::Refresh,
        &["r", "ctrl-r"],
        "Reload from the server",
        Some("reload"),
    ),
    bind(
        Scope::Global,
        Action::Overview,
        &["1"],
        "Overview screen",
        None,
    ),
    bind(
        Scope::Global,
        Action::Applications,
        &["2"],
        "Applications screen",
        None,
    ),
    bind(
        Scope::Global,
        Action::Incidents,
        &["3"],
        "Open incidents screen",
        None,
    ),
    bind(Scope::Global, Action::Up, &["k", "up"], "Move up", None),
    bind(
        Scope::Global,
        Action::Down,
        &["j", "down"],
        "Move down",
        None,
    ),
    bind(
        Scope::Global,
        Action::PageUp,
        &["pgup", "ctrl-b"],
        "Page up",
        None,
    ),
    bind(
        Scope::Global,
        Action::PageDown,
        &["pgdn", "ctrl-f"],
        "Page down",
        None,
    ),
    bind(
        Scope::Global,
        Action::Top,
        &["g", "home"],
        "First row",
        None,
    ),
    bind(
        Scope::Global,
        Action::Bottom,
        &["G", "end"],
        "Last row",
        None,
    ),
];

/// Keys that are not remappable: `ctrl-c`, and the line editor of the filter, palette and
/// help prompts. Listed by the help and the docs.
pub const PROMPT_KEYS: &[(&str, &str)] = &[
    ("ctrl-c", "Quit from anywhere, even while typing (fixed)"),
    ("enter", "Prompt: accept (the palette runs the command)"),
    (
        "esc",
        "Prompt: cancel (the filter prompt also clears the filter)",
    ),
    (
        "tab / shift-tab",
        "Palette: complete, then cycle through the candidates",
    ),
    ("backspace", "Prompt: delete a character"),
    ("ctrl-w", "Prompt: delete a word"),
    ("ctrl-u", "Prompt: clear"),
    (
        "up / down",
        "Filter prompt: move the selection while typing",
    ),
    (
        "space / left / right",
        "Rule editor, Level: this application or the whole workspace; Applies to: this resource or all of them",
    ),
    (
        "y / n",
        "Confirmation: do it / do not (enter is yes, esc is no); server preview of a workspace rule: save / back to the editor",
    ),
    (
        "up / down",
        "Server preview of a workspace rule: scroll its applications and findings",
    ),
];

/// A binding in effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub scope: Scope,
    pub action: Action,
    pub keys: Vec<KeyChord>,
    pub description: &'static str,
    pub hint: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::defaults()
    }
}

impl Keymap {
    pub fn defaults() -> Keymap {
        let bindings = DEFAULTS
            .iter()
            .map(|default| Binding {
                scope: default.scope,
                action: default.action,
                // The defaults are parsed by a test (`defaults_parse`); a name that did not
                // parse would only lose that key.
                keys: default
                    .keys
                    .iter()
                    .filter_map(|key| KeyChord::parse(key).ok())
                    .collect(),
                description: default.description,
                hint: default.hint,
            })
            .collect();
        Keymap { bindings }
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The action of `chord` on a screen whose section is `scope` (then `global`).
    pub fn action(&self, scope: Option<Scope>, chord: KeyChord) -> Option<Action> {
        let find = |wanted: Scope| {
            self.bindings
                .iter()
                .find(|binding| binding.scope == wanted && binding.keys.contains(&chord))
                .map(|binding| binding.action)
        };
        match scope {
            Some(scope) if !scope.inherits_global() => find(scope),
            _ => scope.and_then(find).or_else(|| find(Scope::Global)),
        }
    }

    /// The keys of `action` on a screen whose section is `scope`, the screen's own first.
    pub fn keys(&self, scope: Option<Scope>, action: Action) -> Vec<KeyChord> {
        let in_scope = |wanted: Scope| {
            self.bindings
                .iter()
                .filter(move |binding| binding.scope == wanted && binding.action == action)
                .flat_map(|binding| binding.keys.iter().copied())
        };
        let mut keys: Vec<KeyChord> = scope.into_iter().flat_map(in_scope).collect();
        if keys.is_empty() && scope.is_none_or(Scope::inherits_global) {
            keys.extend(in_scope(Scope::Global));
        }
        keys
    }

    /// The bindings that apply on a screen whose section is `scope`: its own, then the
    /// global ones it does not shadow completely.
    pub fn for_screen(&self, scope: Option<Scope>) -> Vec<&Binding> {
        let mut out: Vec<&Binding> = Vec::new();
        if let Some(scope) = scope {
            out.extend(self.bindings.iter().filter(|b| b.scope == scope));
            if !scope.inherits_global() {
                return out;
            }
        }
        out.extend(self.bindings.iter().filter(|b| b.scope == Scope::Global));
        out
    }

    /// Reads `<config_dir>/keys.toml`: the keymap to use, and the error to show when the
    /// file exists but cannot be used (the defaults are then used).
    pub fn load(config_dir: &Path) -> (Keymap, Option<String>) {
        let path = config_dir.join("keys.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => match Keymap::from_toml(&text, &path) {
                Ok(keymap) => (keymap, None),
                Err(error) => (Keymap::defaults(), Some(error)),
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                (Keymap::defaults(), None)
            }
            Err(error) => (
                Keymap::defaults(),
                Some(format!(
                    "{}: cannot read it ({error}); using the default keys",
                    path.display()
                )),
            ),
        }
    }

    /// The defaults with the bindings of `text` (the contents of `file`) on top. The error
    /// names the file and every problem found.
    pub fn from_toml(text: &str, file: &Path) -> Result<Keymap, String> {
        let fail = |problems: Vec<String>| {
            format!(
                "{}: {}; using the default keys",
                file.display(),
                problems.join("; ")
            )
        };
        let table: toml::Table = toml::from_str(text).map_err(|error| {
            let place = error
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
                    format!("line {line}, column {column}: ")
                })
                .unwrap_or_default();
            fail(vec![format!(
                "not valid TOML: {place}{}",
                error.message().trim()
            )])
        })?;
        let mut keymap = Keymap::defaults();
        let mut problems = Vec::new();
        // (scope, action) pairs the file names, with their keys.
        let mut explicit: Vec<(Scope, Action, Vec<KeyChord>)> = Vec::new();
        for (section, value) in &table {
            let Some(scope) = Scope::parse(section) else {
                problems.push(format!(
                    "unknown section [{section}] (sections: {})",
                    Scope::ALL.map(Scope::name).join(", ")
                ));
                continue;
            };
            let Some(entries) = value.as_table() else {
                problems.push(format!(
                    "{section} must be a section ([{section}]), not a value"
                ));
                continue;
            };
            let actions: Vec<Action> = keymap
                .bindings
                .iter()
                .filter(|binding| binding.scope == scope)
                .map(|binding| binding.action)
                .collect();
            for (name, value) in entries {
                let Some(action) = actions.iter().copied().find(|a| a.name() == name) else {
                    problems.push(format!(
                        "[{section}] unknown action {name:?} (actions here: {})",
                        actions
                            .iter()
                            .map(|a| a.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    continue;
                };
                let names: Vec<&str> = match value {
                    toml::Value::String(key) => vec![key.as_str()],
                    toml::Value::Array(keys) => {
                        let strings: Option<Vec<&str>> =
                            keys.iter().map(toml::Value::as_str).collect();
                        match strings {
                            Some(strings) => strings,
                            None => {
                                problems.push(format!(
                                    "[{section}] {name}: give a key name or a list of key names, e.g. [\"s\", \"ctrl-s\"]"
                                ));
                                continue;
                            }
                        }
                    }
                    _ => {
                        problems.push(format!(
                            "[{section}] {name}: give a key name or a list of key names, e.g. [\"s\", \"ctrl-s\"]"
                        ));
                        continue;
                    }
                };
                let mut chords = Vec::new();
                for key in names {
                    match KeyChord::parse(key) {
                        Ok(chord) if chord == KeyChord::ctrl('c') && scope != Scope::Global => {
                            problems.push(format!(
                                "[{section}] {name}: ctrl-c always quits and cannot be bound here"
                            ));
                        }
                        Ok(chord) if chord == KeyChord::ctrl('c') && action != Action::Quit => {
                            problems.push(format!(
                                "[{section}] {name}: ctrl-c always quits and cannot be bound to {name}"
                            ));
                        }
                        Ok(chord) => {
                            if !chords.contains(&chord) {
                                chords.push(chord);
                            }
                        }
                        Err(error) => problems.push(format!("[{section}] {name}: {error}")),
                    }
                }
                explicit.push((scope, action, chords));
            }
        }
        // One key, two actions the file names, in one section.
        for (i, (scope, action, chords)) in explicit.iter().enumerate() {
            for (other_scope, other_action, other_chords) in &explicit[i + 1..] {
                if scope != other_scope {
                    continue;
                }
                for chord in chords.iter().filter(|c| other_chords.contains(c)) {
                    problems.push(format!(
                        "[{}] {chord} is bound to both {} and {}",
                        scope.name(),
                        action.name(),
                        other_action.name()
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        for (scope, action, chords) in &explicit {
            for binding in keymap.bindings.iter_mut() {
                if binding.scope != *scope {
                    continue;
                }
                if binding.action == *action {
                    binding.keys = chords.clone();
                } else if !explicit
                    .iter()
                    .any(|(s, a, _)| s == scope && *a == binding.action)
                {
                    binding.keys.retain(|key| !chords.contains(key));
                }
            }
        }
        Ok(keymap)
    }
}

/// The markdown table of the default keys that `docs/console.md` carries (a test checks
/// they match).
pub fn defaults_markdown() -> String {
    let mut out = String::from("| section | action | keys | what it does |\n|---|---|---|---|\n");
    for default in DEFAULTS {
        let keys = default
            .keys
            .iter()
            .map(|key| format!("`{key}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            default.scope.name(),
            default.action.name(),
            keys,
            default.description.replace('|', "\\|")
        ));
    }
    out.push_str("\nFixed keys (not remappable):\n\n| keys | what they do |\n|---|---|\n");
    for (keys, description) in PROMPT_KEYS {
        let keys = keys
            .split(" / ")
            .map(|key| format!("`{key}`"))
            .collect::<Vec<_>>()
            .join(" / ");
        out.push_str(&format!("| {keys} | {description} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chord(text: &str) -> KeyChord {
        KeyChord::parse(text).expect("a key name")
    }

    fn file() -> &'static Path {
        Path::new("/home/op/.config/statesight/keys.toml")
    }

    #[test]
    fn defaults_parse() {
        for default in DEFAULTS {
            for key in default.keys {
                assert!(KeyChord::parse(key).is_ok(), "{key}");
            }
        }
    }

    #[test]
    fn key_names_parse_and_print_back() {
        let cases = [
            ("q", KeyChord::plain(KeyCode::Char('q')), "q"),
            ("S", KeyChord::plain(KeyCode::Char('S')), "S"),
            ("shift-s", KeyChord::plain(KeyCode::Char('S')), "S"),
            ("?", KeyChord::plain(KeyCode::Char('?')), "?"),
            ("-", KeyChord::plain(KeyCode::Char('-')), "-"),
            ("ctrl-c", KeyChord::ctrl('c'), "ctrl-c"),
            ("Ctrl-R", KeyChord::ctrl('r'), "ctrl-r"),
            ("ctrl--", KeyChord::ctrl('-'), "ctrl--"),
            (
                "alt-x",
                KeyChord::new(KeyCode::Char('x'), KeyModifiers::ALT),
                "alt-x",
            ),
            ("enter", KeyChord::plain(KeyCode::Enter), "enter"),
            ("Escape", KeyChord::plain(KeyCode::Esc), "esc"),
            ("shift-tab", KeyChord::plain(KeyCode::BackTab), "shift-tab"),
            ("pagedown", KeyChord::plain(KeyCode::PageDown), "pgdn"),
            ("f1", KeyChord::plain(KeyCode::F(1)), "f1"),
            ("space", KeyChord::plain(KeyCode::Char(' ')), "space"),
            (
                "ctrl-up",
                KeyChord::new(KeyCode::Up, KeyModifiers::CONTROL),
                "ctrl-up",
            ),
        ];
        for (text, expected, printed) in cases {
            let parsed = chord(text);
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(parsed.to_string(), printed, "{text}");
            assert_eq!(chord(printed), expected, "{printed}");
        }
        for bad in ["", "ctl-c", "f13", "pgdown2", "ctrl-", "enterr", "  "] {
            assert!(KeyChord::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_events_are_normalized() {
        let event = |code, modifiers| KeyEvent::new(code, modifiers);
        assert_eq!(
            KeyChord::from_event(&event(KeyCode::Char('S'), KeyModifiers::SHIFT)),
            Some(chord("S"))
        );
        assert_eq!(
            KeyChord::from_event(&event(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(chord("shift-tab"))
        );
        assert_eq!(
            KeyChord::from_event(&event(KeyCode::Tab, KeyModifiers::SHIFT)),
            Some(chord("shift-tab"))
        );
        assert_eq!(
            KeyChord::from_event(&event(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(chord("ctrl-c"))
        );
        let mut release = event(KeyCode::Char('q'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(KeyChord::from_event(&release), None);
    }

    #[test]
    fn screen_keys_come_before_global_keys() {
        let keymap = Keymap::defaults();
        assert_eq!(
            keymap.action(Some(Scope::Applications), chord("s")),
            Some(Action::Sort)
        );
        assert_eq!(keymap.action(None, chord("s")), None);
        assert_eq!(
            keymap.action(Some(Scope::Applications), chord("j")),
            Some(Action::Down)
        );
        assert_eq!(keymap.action(None, chord("q")), Some(Action::Quit));
    }

    #[test]
    fn a_file_remaps_and_adds_keys() {
        let keymap = Keymap::from_toml(
            r#"
            [global]
            quit = ["x", "ctrl-c"]
            help = "f1"

            [applications]
            sort = ["o", "s"]
            "#,
            file(),
        )
        .expect("a valid file");
        assert_eq!(keymap.action(None, chord("x")), Some(Action::Quit));
        assert_eq!(keymap.action(None, chord("q")), None);
        assert_eq!(keymap.action(None, chord("f1")), Some(Action::Help));
        assert_eq!(keymap.action(None, chord("?")), None);
        assert_eq!(
            keymap.action(Some(Scope::Applications), chord("o")),
            Some(Action::Sort)
        );
        assert_eq!(
            keymap.keys(Some(Scope::Applications), Action::Sort),
            vec![chord("o"), chord("s")]
        );
        // Untouched sections keep their defaults.
        assert_eq!(
            keymap.action(Some(Scope::Incidents), chord("s")),
            Some(Action::Sort)
        );
    }

    #[test]
    fn a_key_taken_by_another_action_leaves_its_default() {
        let keymap = Keymap::from_toml("[global]\nhelp = [\"q\"]\n", file()).expect("valid");
        assert_eq!(keymap.action(None, chord("q")), Some(Action::Help));
        assert!(keymap.keys(None, Action::Quit).is_empty());
        // An empty list unbinds.
        let keymap = Keymap::from_toml("[applications]\nopen = []\n", file()).expect("valid");
        assert_eq!(
            keymap.action(Some(Scope::Applications), chord("enter")),
            None
        );
    }

    #[test]
    fn mistakes_name_the_file_and_keep_the_defaults() {
        let error = Keymap::from_toml(
            "[global]\nquitt = [\"q\"]\n[applications]\nsort = [\"ctl-s\"]\n[aplications]\nsort = \"s\"\n",
            file(),
        )
        .expect_err("mistakes");
        assert!(
            error.starts_with("/home/op/.config/statesight/keys.toml: "),
            "{error}"
        );
        assert!(
            error.contains("[global] unknown action \"quitt\""),
            "{error}"
        );
        assert!(
            error.contains("actions here: help, palette, filter"),
            "{error}"
        );
        assert!(
            error.contains("[applications] sort: unknown key \"ctl-s\""),
            "{error}"
        );
        assert!(error.contains("unknown section [aplications]"), "{error}");
        assert!(error.ends_with("using the default keys"), "{error}");

        let error = Keymap::from_toml("[global]\nquit = 3\n", file()).expect_err("a number");
        assert!(error.contains("[global] quit: give a key name"), "{error}");

        let error = Keymap::from_toml("[global]\nquit = [\"x\"]\nhelp = [\"x\"]\n", file())
            .expect_err("twice");
        assert!(error.contains("[global] x is bound to both"), "{error}");

        let error = Keymap::from_toml("[global\nquit = 1", file()).expect_err("bad toml");
        assert!(error.contains("not valid TOML: line 1, column"), "{error}");

        let error =
            Keymap::from_toml("[applications]\nsort = [\"ctrl-c\"]\n", file()).expect_err("ctrl-c");
        assert!(error.contains("ctrl-c always quits"), "{error}");
    }

    #[test]
    fn load_without_a_file_uses_the_defaults_silently() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (keymap, error) = Keymap::load(dir.path());
        assert_eq!(keymap, Keymap::defaults());
        assert_eq!(error, None);
        std::fs::write(dir.path().join("keys.toml"), "[nope]\n").expect("write");
        let (keymap, error) = Keymap::load(dir.path());
        assert_eq!(keymap, Keymap::defaults());
        assert!(error.is_some_and(|e| e.contains("keys.toml: unknown section [nope]")));
    }
}
