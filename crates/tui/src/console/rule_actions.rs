//! Ignore rules from the console: the editor's keys and replies (open findings for the
//! preview, saving), and the rules tab's actions (enable/disable, delete after a
//! confirmation, edit, new). Workspace rules take the same keys, through the server's
//! preview (`workspace_rules`).

use crossterm::event::KeyEvent;
use statesight_core::wire::{ErrorDetails, Finding, IgnoreRule};
use uuid::Uuid;

use super::app::{App, Cmd, Confirm, Confirmed, Kind, Overlay, Screen};
use super::appscreen::Tab;
use super::keys::{Action, KeyChord, Scope};
use super::rule_editor::RuleEditor;
use super::text::clean;
use super::workspace_rules::is_workspace_rule;
use crate::client::{ClientError, Reply};

impl App {
    /// Opens the editor and loads the application's open findings for its preview.
    pub(super) fn open_editor(&mut self, mut editor: RuleEditor) -> Vec<Cmd> {
        let seq = self.seq();
        editor.loading = Some(seq);
        let id = editor.application;
        self.editor = Some(editor);
        self.screens.push(Screen::RuleEditor);
        vec![Cmd::FetchOpenFindings {
            seq,
            id,
            cursor: None,
        }]
    }

    fn close_editor(&mut self) {
        self.editor = None;
        if self.screen() == Screen::RuleEditor {
            self.screens.pop();
        }
    }

    /// A key while the editor is open: its own bindings, else typed into the field.
    pub(super) fn on_editor_key(&mut self, event: &KeyEvent, chord: KeyChord) -> Vec<Cmd> {
        match self.keymap.action(Some(Scope::RuleEditor), chord) {
            Some(Action::Save) => self.save_rule(),
            Some(Action::NextField) => {
                if let Some(editor) = self.editor.as_mut() {
                    editor.next_field(true);
                }
                Vec::new()
            }
            Some(Action::PreviousField) => {
                if let Some(editor) = self.editor.as_mut() {
                    editor.next_field(false);
                }
                Vec::new()
            }
            Some(Action::Back) => {
                if self.editor.as_ref().is_some_and(|editor| editor.dirty) {
                    self.overlay = Some(Overlay::Confirm(Confirm {
                        question: String::from("Leave the editor and lose what you typed?"),
                        action: Confirmed::DiscardEdits,
                    }));
                } else {
                    self.close_editor();
                }
                Vec::new()
            }
            _ => {
                if let Some(editor) = self.editor.as_mut() {
                    editor.type_key(event);
                }
                Vec::new()
            }
        }
    }

    fn save_rule(&mut self) -> Vec<Cmd> {
        let seq = self.seq();
        let Some(editor) = self.editor.as_mut() else {
            return Vec::new();
        };
        if editor.saving.is_some() {
            return Vec::new();
        }
        if let Some(blocker) = editor.blocker() {
            editor.field = blocker.field;
            let message = format!("{}: {}", blocker.field.label(), blocker.message);
            editor.refused = Some(blocker);
            self.set_error(&message, Some(Kind::Rules));
            return Vec::new();
        }
        if editor.is_workspace_rule() {
            return self.preview_editor_rule();
        }
        editor.saving = Some(seq);
        let rule = match editor.origin {
            super::rule_editor::Origin::Existing(id) => Some(id),
            _ => None,
        };
        let command = Cmd::SaveRule {
            seq,
            application: editor.application,
            rule,
            input: editor.input(),
        };
        self.set_info("saving the rule…");
        vec![command]
    }

    pub(super) fn on_open_findings(
        &mut self,
        seq: u64,
        first: bool,
        result: Result<Reply<Vec<Finding>>, ClientError>,
    ) -> Vec<Cmd> {
        let Some(editor) = self.editor.as_mut().filter(|e| e.loading == Some(seq)) else {
            return Vec::new();
        };
        match result {
            Ok(reply) => {
                editor.add_targets(&reply.data, first);
                let id = editor.application;
                match reply.next_cursor {
                    Some(cursor) => vec![Cmd::FetchOpenFindings {
                        seq,
                        id,
                        cursor: Some(cursor),
                    }],
                    None => {
                        editor.loading = None;
                        editor.targets_complete = true;
                        Vec::new()
                    }
                }
            }
            Err(error) => {
                editor.loading = None;
                self.failed(Kind::Rules, "loading open findings for the preview", error)
            }
        }
    }

    pub(super) fn on_rule_saved(
        &mut self,
        seq: u64,
        result: Result<Reply<IgnoreRule>, ClientError>,
    ) -> Vec<Cmd> {
        if self.is_switch(seq) {
            return self.on_workspace_rule_switched(seq, result);
        }
        let Some(editor) = self.editor.as_mut().filter(|e| e.saving == Some(seq)) else {
            return Vec::new();
        };
        editor.saving = None;
        match result {
            Ok(reply) => {
                let saved = match editor.reviewed {
                    Some((findings, applications)) => format!(
                        "workspace rule {:?} saved: each application's next analysis applies                          it ({findings} open findings in {applications} applications match now)",
                        clean(&reply.data.name)
                    ),
                    None => format!(
                        "rule {:?} saved: the next analysis applies it ({} open findings \
                         match now; a on the application analyses)",
                        clean(&reply.data.name),
                        editor.preview.matched.len()
                    ),
                };
                self.close_editor();
                self.succeeded(Kind::Rules);
                self.set_info(&saved);
                self.after_rule_change()
            }
            Err(error) => self.editor_refused(error, "saving the rule"),
        }
    }

    /// The server refused what the editor sent: a validation error is shown at the field
    /// it names (the editor stays open); anything else on the status line.
    pub(super) fn editor_refused(&mut self, error: ClientError, what: &str) -> Vec<Cmd> {
        match error {
            ClientError::Api {
                status: 400 | 409 | 422,
                message,
                body,
                ..
            } => {
                let details =
                    serde_json::from_value::<ErrorDetails>(body["error"]["details"].clone()).ok();
                if let Some(editor) = self.editor.as_mut() {
                    editor.refuse(&message, details);
                }
                self.set_error(
                    &format!("the server refused the rule: {message}"),
                    Some(Kind::Rules),
                );
                Vec::new()
            }
            error => self.failed(Kind::Rules, what, error),
        }
    }

    /// Reloads whatever shows rules after one changed.
    fn after_rule_change(&mut self) -> Vec<Cmd> {
        if self.application.is_some() {
            return self.load_application();
        }
        Vec::new()
    }

    /// The selected row of the Ignore Rules tab, when that tab is in view.
    fn selected_rule(&self) -> Option<(Uuid, &IgnoreRule)> {
        let screen = self.application.as_ref()?;
        if screen.tab != Tab::IgnoreRules {
            return None;
        }
        let cursor = screen.cursors[Tab::IgnoreRules.index()];
        let row = screen.rules.get(cursor.position)?;
        Some((screen.id, &row.source))
    }

    /// The rules tab's actions; `None` when the action is not one of them or another tab
    /// is in view.
    pub(super) fn on_rules_action(&mut self, action: Action) -> Option<Vec<Cmd>> {
        let in_tab = self
            .application
            .as_ref()
            .is_some_and(|screen| screen.tab == Tab::IgnoreRules);
        if !in_tab {
            return None;
        }
        if action == Action::NewRule {
            let application = self.application.as_ref()?.id;
            let namespace = self.default_namespace(application);
            return Some(self.open_editor(RuleEditor::blank(application, &namespace)));
        }
        if !matches!(
            action,
            Action::Open | Action::EditRule | Action::ToggleRule | Action::DeleteRule
        ) {
            return None;
        }
        let Some((application, rule)) = self.selected_rule() else {
            self.set_info("no rule selected (n writes a new one)");
            return Some(Vec::new());
        };
        let rule = rule.clone();
        if is_workspace_rule(&rule) {
            return Some(self.on_workspace_rule_action(action, application, &rule));
        }
        Some(match action {
            Action::Open | Action::EditRule => {
                let namespace = self.default_namespace(application);
                self.open_editor(RuleEditor::for_rule(application, &rule, &namespace))
            }
            Action::ToggleRule => {
                let seq = self.seq();
                self.rule_change = Some(seq);
                vec![Cmd::EnableRule {
                    seq,
                    application,
                    rule: rule.id,
                    enabled: !rule.enabled,
                }]
            }
            _ => {
                self.overlay = Some(Overlay::Confirm(Confirm {
                    question: format!(
                        "Delete the ignore rule {:?}? Findings it suppresses come back at the \
                         next analysis.",
                        clean(&rule.name)
                    ),
                    action: Confirmed::DeleteRule {
                        application,
                        rule: rule.id,
                    },
                }));
                Vec::new()
            }
        })
    }

    /// The rules tab's actions on a workspace rule: admins only, through the server's
    /// preview (deleting only stops suppressing, so it needs a confirmation, not a preview).
    fn on_workspace_rule_action(
        &mut self,
        action: Action,
        application: Uuid,
        rule: &IgnoreRule,
    ) -> Vec<Cmd> {
        if self.workspace_rule_admin(Some(rule.workspace_id)).is_none() {
            return Vec::new();
        }
        match action {
            Action::Open | Action::EditRule => {
                let namespace = self.default_namespace(application);
                self.open_editor(RuleEditor::for_rule(application, rule, &namespace))
            }
            Action::ToggleRule => self.switch_workspace_rule(rule),
            _ => {
                self.overlay = Some(Overlay::Confirm(Confirm {
                    question: format!(
                        "Delete the workspace rule {:?}? It stops applying to every \
                         application; what it suppresses comes back at each one's next analysis.",
                        clean(&rule.name)
                    ),
                    action: Confirmed::DeleteWorkspaceRule { rule: rule.id },
                }));
                Vec::new()
            }
        }
    }

    /// `y` on a confirmation.
    pub(super) fn confirmed(&mut self, action: Confirmed) -> Vec<Cmd> {
        match action {
            Confirmed::DiscardEdits => {
                self.close_editor();
                Vec::new()
            }
            Confirmed::DeleteRule { application, rule } => {
                let seq = self.seq();
                self.rule_change = Some(seq);
                vec![Cmd::DeleteRule {
                    seq,
                    application,
                    rule,
                }]
            }
            Confirmed::DeleteWorkspaceRule { rule } => {
                let seq = self.seq();
                self.rule_change = Some(seq);
                vec![Cmd::DeleteWorkspaceRule { seq, rule }]
            }
        }
    }

    pub(super) fn on_rule_changed(
        &mut self,
        seq: u64,
        done: &str,
        result: Result<(), ClientError>,
    ) -> Vec<Cmd> {
        if self.rule_change != Some(seq) {
            return Vec::new();
        }
        self.rule_change = None;
        match result {
            Ok(()) => {
                self.succeeded(Kind::Rules);
                self.set_info(done);
                self.after_rule_change()
            }
            Err(error) => self.failed(Kind::Rules, "changing the rule", error),
        }
    }
}
