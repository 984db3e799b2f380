//! The ignore-rule editor: six fields, a live preview of which open findings of the
//! application the rule would suppress, and the server's verdict when it is saved.
//!
//! The preview runs `statesight_core`'s own matcher (the one the worker applies) over the
//! application's open findings as the API returns them, so what the editor shows and what
//! the next analysis suppresses cannot disagree. Where the finding's text cannot decide
//! (a rule's `[N]` against a keyed list item, whose position only Git knows) the preview
//! says so instead of guessing.
//!
//! A rule is written at one of two levels: for this application, or for the whole
//! workspace (every application inherits it). A workspace rule is saved only after the
//! server's own preview across every application has been shown and accepted (see
//! `rule_actions`); the live preview here covers the application the editor was opened on.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::{CursorMove, TextArea};
use statesight_core::error::Error as CoreError;
use statesight_core::paths::Verdict;
pub use statesight_core::rules::RuleScope;
use statesight_core::rules::{IgnoreRule as CoreRule, MatchTarget};
use statesight_core::wire::{ErrorDetails, Finding, IgnoreRule, IgnoreRuleInput};
use uuid::Uuid;

use super::text::{clean, typed};

/// The editor's fields, in the order `tab` visits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// This application only, or every application of the workspace.
    Level,
    Name,
    Expression,
    /// This resource only, or the whole application.
    Scope,
    ManagedBy,
    Reason,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Level,
        Field::Name,
        Field::Expression,
        Field::Scope,
        Field::ManagedBy,
        Field::Reason,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Field::Level => "Level",
            Field::Name => "Name",
            Field::Expression => "Match",
            Field::Scope => "Applies to",
            Field::ManagedBy => "Managed by",
            Field::Reason => "Reason",
        }
    }

    /// The field of the API's request body, for its validation errors.
    fn from_api(name: &str) -> Option<Field> {
        match name {
            "name" => Some(Field::Name),
            "match_expression" => Some(Field::Expression),
            "resource_ref" => Some(Field::Scope),
            "managed_by" => Some(Field::ManagedBy),
            "reason" => Some(Field::Reason),
            _ => None,
        }
    }

    fn step(self, forward: bool) -> Field {
        let index = Field::ALL.iter().position(|f| *f == self).unwrap_or(0);
        let len = Field::ALL.len();
        let next = if forward {
            (index + 1) % len
        } else {
            (index + len - 1) % len
        };
        Field::ALL[next]
    }
}

/// An error shown under a field: the editor's own (the expression does not parse) or the
/// server's (`422` with its details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Field,
    /// The offending character, as a char index into the field, when known.
    pub at: Option<usize>,
    pub message: String,
}

/// One open finding the preview tries the rule against.
#[derive(Debug, Clone)]
pub struct PreviewTarget {
    pub target: MatchTarget,
    /// `Kind namespace/name  path`, neutralized.
    pub label: String,
}

impl PreviewTarget {
    /// `None` for a finding whose path does not parse (the engine never writes one).
    pub fn new(finding: &Finding) -> Option<PreviewTarget> {
        let target = MatchTarget::from_wire(finding).ok()?;
        Some(PreviewTarget {
            target,
            label: finding_label(finding),
        })
    }
}

/// `Kind namespace/name  path`, neutralized: a finding on one line.
pub fn finding_label(finding: &Finding) -> String {
    let resource = &finding.resource;
    let place = if resource.namespace.is_empty() {
        clean(&resource.name)
    } else {
        format!("{}/{}", clean(&resource.namespace), clean(&resource.name))
    };
    format!(
        "{} {place}  {}",
        clean(&resource.kind),
        clean(&finding.path)
    )
}

/// What the rule as typed would do to the open findings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preview {
    /// Indices into the targets that the rule suppresses.
    pub matched: Vec<usize>,
    /// Indices that only the next analysis can decide.
    pub undecided: Vec<usize>,
    /// The findings tried (all of them once every page arrived).
    pub tried: usize,
}

/// How the editor was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `i` on a finding: the rule is prefilled from it.
    Finding,
    /// `n` on the rules tab.
    Blank,
    /// `e` on a rule: saving replaces it.
    Existing(Uuid),
}

/// The editor's state.
#[derive(Debug, Clone)]
pub struct RuleEditor {
    pub application: Uuid,
    pub origin: Origin,
    /// Application or workspace: chosen for a new rule, fixed for a saved one.
    pub level: RuleScope,
    pub field: Field,
    pub name: TextArea<'static>,
    pub expression: TextArea<'static>,
    pub managed_by: TextArea<'static>,
    pub reason: TextArea<'static>,
    /// The resource the rule may be narrowed to (`[group/]Kind/[namespace/]name`).
    pub resource_ref: Option<String>,
    /// Whether the rule is narrowed to `resource_ref` (else the whole application).
    pub this_resource: bool,
    pub enabled: bool,
    /// Owners of the finding the editor was opened from, offered for `managed_by`.
    pub owners: Vec<String>,
    pub default_namespace: String,
    pub targets: Vec<PreviewTarget>,
    /// Every page of open findings arrived.
    pub targets_complete: bool,
    pub preview: Preview,
    /// The expression or resource reference does not parse (the preview is then empty).
    pub invalid: Option<FieldError>,
    /// The server refused the last save.
    pub refused: Option<FieldError>,
    /// The request saving the rule, while it is in flight.
    pub saving: Option<u64>,
    /// The request loading open findings, while pages arrive.
    pub loading: Option<u64>,
    pub dirty: bool,
    /// The server's preview the user accepted, as (open findings suppressed,
    /// applications): said again when the workspace rule is saved.
    pub reviewed: Option<(usize, usize)>,
}

fn field_area(text: &str) -> TextArea<'static> {
    let mut area = TextArea::new(vec![text.to_owned()]);
    area.move_cursor(CursorMove::End);
    area
}

impl RuleEditor {
    fn empty(application: Uuid, origin: Origin, default_namespace: &str) -> RuleEditor {
        RuleEditor {
            application,
            origin,
            level: RuleScope::Application,
            field: Field::Expression,
            name: field_area(""),
            expression: field_area(""),
            managed_by: field_area(""),
            reason: field_area(""),
            resource_ref: None,
            this_resource: false,
            enabled: true,
            owners: Vec::new(),
            default_namespace: default_namespace.to_owned(),
            targets: Vec::new(),
            targets_complete: false,
            preview: Preview::default(),
            invalid: None,
            refused: None,
            saving: None,
            loading: None,
            dirty: false,
            reviewed: None,
        }
    }

    /// A new rule for exactly this finding: its path, its resource.
    pub fn for_finding(
        application: Uuid,
        finding: &super::incident::FindingItem,
        default_namespace: &str,
    ) -> Self {
        let mut editor = RuleEditor::empty(application, Origin::Finding, default_namespace);
        let resource = finding.resource.id();
        let name = format!(
            "{}-{}",
            resource.name,
            finding
                .path
                .rsplit('.')
                .next()
                .unwrap_or(finding.path.as_str())
        );
        editor.name = field_area(&typed(&name).chars().take(100).collect::<String>());
        editor.expression = field_area(&finding.path);
        editor.resource_ref = Some(resource.to_string());
        editor.this_resource = true;
        editor.owners = finding.owners.iter().map(|o| o.manager.clone()).collect();
        editor.field = Field::Reason;
        editor.recompute();
        editor
    }

    /// A new rule from nothing.
    pub fn blank(application: Uuid, default_namespace: &str) -> Self {
        let mut editor = RuleEditor::empty(application, Origin::Blank, default_namespace);
        editor.field = Field::Name;
        editor.recompute();
        editor
    }

    /// An existing rule, to change it.
    pub fn for_rule(application: Uuid, rule: &IgnoreRule, default_namespace: &str) -> Self {
        let mut editor =
            RuleEditor::empty(application, Origin::Existing(rule.id), default_namespace);
        editor.name = field_area(&rule.name);
        editor.expression = field_area(&rule.match_expression);
        editor.managed_by = field_area(rule.managed_by.as_deref().unwrap_or(""));
        editor.reason = field_area(&rule.reason);
        editor.resource_ref = rule.resource_ref.clone().filter(|r| !r.trim().is_empty());
        editor.this_resource = editor.resource_ref.is_some();
        editor.enabled = rule.enabled;
        editor.level = rule.scope;
        editor.recompute();
        editor
    }

    pub fn text(&self, field: Field) -> &str {
        let area = match field {
            Field::Name => &self.name,
            Field::Expression => &self.expression,
            Field::ManagedBy => &self.managed_by,
            Field::Reason => &self.reason,
            Field::Scope => return self.scope_text(),
            Field::Level => return self.level.as_str(),
        };
        area.lines().first().map_or("", String::as_str)
    }

    /// The char index of the cursor in a text field.
    pub fn cursor(&self, field: Field) -> usize {
        match field {
            Field::Name => self.name.cursor().1,
            Field::Expression => self.expression.cursor().1,
            Field::ManagedBy => self.managed_by.cursor().1,
            Field::Reason => self.reason.cursor().1,
            Field::Scope | Field::Level => 0,
        }
    }

    fn scope_text(&self) -> &str {
        match (&self.resource_ref, self.this_resource) {
            (Some(reference), true) => reference,
            _ => "",
        }
    }

    fn area_mut(&mut self, field: Field) -> Option<&mut TextArea<'static>> {
        match field {
            Field::Name => Some(&mut self.name),
            Field::Expression => Some(&mut self.expression),
            Field::ManagedBy => Some(&mut self.managed_by),
            Field::Reason => Some(&mut self.reason),
            Field::Scope | Field::Level => None,
        }
    }

    pub fn next_field(&mut self, forward: bool) {
        self.field = self.field.step(forward);
    }

    /// A key typed into the current field. Returns whether anything changed. Newlines and
    /// control characters are not typed: every field is one line.
    pub fn type_key(&mut self, event: &KeyEvent) -> bool {
        let toggle = matches!(
            event.code,
            KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right
        );
        if self.field == Field::Level {
            return toggle && self.switch_level();
        }
        if self.field == Field::Scope {
            if toggle && self.resource_ref.is_some() {
                self.this_resource = !self.this_resource;
                self.changed();
                return true;
            }
            return false;
        }
        match event.code {
            KeyCode::Enter | KeyCode::Tab | KeyCode::BackTab | KeyCode::Esc => return false,
            KeyCode::Char(c)
                if statesight_core::terminal::is_control_or_invisible(c)
                    && !event.modifiers.contains(KeyModifiers::CONTROL) =>
            {
                return false;
            }
            _ => {}
        }
        let field = self.field;
        let Some(area) = self.area_mut(field) else {
            return false;
        };
        let changed = area.input(*event);
        if changed {
            self.changed();
        }
        changed
    }

    /// Pasted text, on one line, controls dropped.
    pub fn paste(&mut self, text: &str) {
        let line = typed(&text.replace(['\n', '\r'], " "));
        let field = self.field;
        if let Some(area) = self.area_mut(field)
            && area.insert_str(line)
        {
            self.changed();
        }
    }

    /// Moves a new rule between the application and the workspace. A saved rule keeps its
    /// level: the API has no route that moves one (write a new rule at the other level).
    fn switch_level(&mut self) -> bool {
        if let Origin::Existing(_) = self.origin {
            self.refused = Some(FieldError {
                field: Field::Level,
                at: None,
                message: String::from(
                    "a saved rule keeps its level: write a new rule at the other level",
                ),
            });
            return false;
        }
        self.level = match self.level {
            RuleScope::Application => RuleScope::Workspace,
            RuleScope::Workspace => RuleScope::Application,
        };
        self.changed();
        true
    }

    pub fn is_workspace_rule(&self) -> bool {
        self.level == RuleScope::Workspace
    }

    fn changed(&mut self) {
        self.dirty = true;
        self.reviewed = None;
        self.refused = None;
        self.recompute();
    }

    /// Findings to preview against: a page of the application's open findings.
    pub fn add_targets(&mut self, findings: &[Finding], first: bool) {
        if first {
            self.targets.clear();
        }
        self.targets
            .extend(findings.iter().filter_map(PreviewTarget::new));
        self.recompute();
    }

    /// The rule as typed, in the engine's form.
    fn core_rule(&self) -> CoreRule {
        CoreRule {
            name: self.text(Field::Name).to_owned(),
            match_expression: self.text(Field::Expression).to_owned(),
            resource_ref: Some(self.scope_text().to_owned()).filter(|r| !r.is_empty()),
            managed_by: Some(self.text(Field::ManagedBy).trim().to_owned())
                .filter(|m| !m.is_empty()),
            reason: self.text(Field::Reason).to_owned(),
            scope: self.level,
            order: 0,
            enabled: true,
        }
    }

    /// Parses the rule and tries it on every target.
    fn recompute(&mut self) {
        self.preview = Preview::default();
        self.invalid = None;
        let rule = self.core_rule();
        if rule.match_expression.trim().is_empty() {
            return;
        }
        let compiled = match rule.compile() {
            Ok(compiled) => compiled,
            Err(error) => {
                self.invalid = Some(self.parse_error(&error));
                return;
            }
        };
        for (index, item) in self.targets.iter().enumerate() {
            match compiled.preview(&item.target, &self.default_namespace) {
                Verdict::Match => self.preview.matched.push(index),
                Verdict::DependsOnPosition => self.preview.undecided.push(index),
                Verdict::NoMatch => {}
            }
        }
        self.preview.tried = self.targets.len();
    }

    fn parse_error(&self, error: &CoreError) -> FieldError {
        match error {
            CoreError::InvalidPath { error, .. } => {
                let text = self.text(Field::Expression);
                FieldError {
                    field: Field::Expression,
                    at: Some(char_index(text, error.offset)),
                    message: describe_syntax(error.expected, error.found),
                }
            }
            CoreError::InvalidResourceRef { error, .. } => FieldError {
                field: Field::Scope,
                at: None,
                message: describe_syntax(error.expected, error.found),
            },
            other => FieldError {
                field: Field::Expression,
                at: None,
                message: clean(&other.to_string()),
            },
        }
    }

    /// The request body that saves the rule.
    pub fn input(&self) -> IgnoreRuleInput {
        let rule = self.core_rule();
        IgnoreRuleInput {
            name: rule.name.trim().to_owned(),
            match_expression: rule.match_expression.trim().to_owned(),
            resource_ref: rule.resource_ref,
            managed_by: rule.managed_by,
            reason: rule.reason.trim().to_owned(),
            enabled: self.enabled,
        }
    }

    /// Why the rule cannot be saved as it is, checked before asking the server.
    pub fn blocker(&self) -> Option<FieldError> {
        let missing = |field: Field, what: &str| FieldError {
            field,
            at: None,
            message: format!("{what} is required"),
        };
        if self.text(Field::Name).trim().is_empty() {
            return Some(missing(Field::Name, "a name"));
        }
        if self.text(Field::Expression).trim().is_empty() {
            return Some(missing(Field::Expression, "a match expression"));
        }
        if let Some(invalid) = &self.invalid {
            return Some(invalid.clone());
        }
        if self.text(Field::Reason).trim().is_empty() {
            return Some(missing(
                Field::Reason,
                "a reason (why this drift is expected)",
            ));
        }
        None
    }

    /// The server refused the rule: show its message at the field it names.
    pub fn refuse(&mut self, message: &str, details: Option<ErrorDetails>) {
        let (field, at) = match details {
            Some(ErrorDetails::Syntax(syntax)) => {
                let field = Field::from_api(&syntax.field).unwrap_or(Field::Expression);
                // The server reads the trimmed text: its offsets start after the blanks.
                let text = self.text(field);
                let lead = text.len() - text.trim_start().len();
                let at = (field != Field::Scope).then(|| char_index(text, lead + syntax.offset));
                (field, at)
            }
            Some(ErrorDetails::Field(detail)) => {
                (Field::from_api(&detail.field).unwrap_or(self.field), None)
            }
            _ => (self.field, None),
        };
        self.refused = Some(FieldError {
            field,
            at,
            message: clean(message),
        });
        self.field = field;
    }

    /// The error to show under `field`, the server's first.
    pub fn error_for(&self, field: Field) -> Option<&FieldError> {
        self.refused
            .as_ref()
            .filter(|e| e.field == field)
            .or_else(|| self.invalid.as_ref().filter(|e| e.field == field))
    }

    pub fn title(&self) -> &'static str {
        match (&self.origin, self.level) {
            (Origin::Existing(_), RuleScope::Workspace) => "Edit workspace ignore rule",
            (Origin::Existing(_), RuleScope::Application) => "Edit ignore rule",
            (_, RuleScope::Workspace) => "New workspace ignore rule",
            (_, RuleScope::Application) => "New ignore rule",
        }
    }
}

/// `expected X, found 'c'` in words.
fn describe_syntax(expected: &str, found: Option<char>) -> String {
    match found {
        Some(c) => format!("expected {expected}, found {}", clean(&format!("{c:?}"))),
        None => format!("expected {expected}, found the end"),
    }
}

/// The char index of a byte offset (clamped to the text).
fn char_index(text: &str, byte: usize) -> usize {
    let byte = byte.min(text.len());
    text.char_indices().take_while(|(at, _)| *at < byte).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_index_counts_characters_not_bytes() {
        assert_eq!(char_index("aé[x", 3), 2);
        assert_eq!(char_index("abc", 10), 3);
        assert_eq!(char_index("", 0), 0);
    }

    #[test]
    fn fields_cycle_both_ways() {
        assert_eq!(Field::Reason.step(true), Field::Level);
        assert_eq!(Field::Level.step(false), Field::Reason);
        assert_eq!(Field::Level.step(true), Field::Name);
    }
}
