//! Workspace-wide ignore rules from the console. They apply to every application of the
//! workspace, so the API saves one only with a token from its own preview of that exact
//! body (`POST /api/v1/ignore-rules/preview`): the console asks for the preview, shows
//! which open findings of which applications the rule would suppress, and saves only when
//! the user accepts it. Nothing here can skip the step: without the token the server
//! refuses the save. Only the workspace's admins change these rules; the console says so
//! before asking, and the server decides.

use chrono::{DateTime, Utc};
use crossterm::event::KeyCode;
use statesight_core::wire::{
    Finding, IgnoreRule, IgnoreRuleInput, Role, RuleScope, WorkspaceRulePreview,
};
use uuid::Uuid;

use super::app::{App, Cmd, Kind, Overlay};
use super::keys::KeyChord;
use super::rule_editor::finding_label;
use super::text::clean;
use crate::client::{ClientError, Reply};

/// Why the server's preview was asked for: what accepting it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewPurpose {
    /// Save what the editor holds (create, or replace the rule being edited).
    Save,
    /// Enable or disable a rule from the rules tab (`enabled` is the new state).
    Switch { enabled: bool },
}

/// One application in the server's preview, neutralized for the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewApplication {
    pub name: String,
    /// `Kind namespace/name  path` of each open finding the rule suppresses.
    pub suppresses: Vec<String>,
    /// Findings only the next analysis can decide (a `[N]` against a keyed list item).
    pub undecided: Vec<String>,
}

/// The server's preview of a workspace rule, waiting for `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleReview {
    pub workspace: Uuid,
    /// The rule replaced; `None` creates one.
    pub rule: Option<Uuid>,
    pub purpose: ReviewPurpose,
    /// The body as the server normalized it: the token is bound to exactly this.
    pub input: IgnoreRuleInput,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub suppresses_total: usize,
    pub applications: Vec<ReviewApplication>,
    /// The first line of the list in view.
    pub scroll: usize,
}

/// A line of the review's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewLine<'a> {
    Application {
        name: &'a str,
        suppresses: usize,
        undecided: usize,
    },
    Suppressed(&'a str),
    Undecided(&'a str),
}

impl RuleReview {
    fn new(
        preview: WorkspaceRulePreview,
        workspace: Uuid,
        rule: Option<Uuid>,
        purpose: ReviewPurpose,
    ) -> RuleReview {
        let labels = |findings: &[Finding]| findings.iter().map(finding_label).collect();
        RuleReview {
            workspace,
            rule,
            purpose,
            input: preview.rule,
            token: preview.token,
            expires_at: preview.expires_at,
            suppresses_total: preview.suppresses_total,
            applications: preview
                .applications
                .iter()
                .map(|application| ReviewApplication {
                    name: clean(&application.application_name),
                    suppresses: labels(&application.suppresses),
                    undecided: labels(&application.undecided),
                })
                .collect(),
            scroll: 0,
        }
    }

    /// Every line of the list: each application, then its findings.
    pub fn lines(&self) -> Vec<ReviewLine<'_>> {
        let mut lines = Vec::new();
        for application in &self.applications {
            lines.push(ReviewLine::Application {
                name: &application.name,
                suppresses: application.suppresses.len(),
                undecided: application.undecided.len(),
            });
            lines.extend(
                application
                    .suppresses
                    .iter()
                    .map(|l| ReviewLine::Suppressed(l)),
            );
            lines.extend(
                application
                    .undecided
                    .iter()
                    .map(|l| ReviewLine::Undecided(l)),
            );
        }
        lines
    }

    /// The question the review asks, in words.
    pub fn question(&self) -> String {
        let name = clean(&self.input.name);
        let applications = self
            .applications
            .iter()
            .filter(|application| !application.suppresses.is_empty())
            .count();
        let effect = format!(
            "{} open finding{} in {applications} application{}",
            self.suppresses_total,
            plural(self.suppresses_total),
            plural(applications)
        );
        match self.purpose {
            ReviewPurpose::Switch { enabled: false } => format!(
                "Disable the workspace rule {name:?}? Every application's next analysis \
                 reports again what it suppressed."
            ),
            ReviewPurpose::Switch { enabled: true } => format!(
                "Enable the workspace rule {name:?}? It suppresses {effect} at their next \
                 analysis."
            ),
            ReviewPurpose::Save if !self.input.enabled => format!(
                "Save the workspace rule {name:?}, disabled? Enabled, it would suppress \
                 {effect}."
            ),
            ReviewPurpose::Save => format!(
                "Save the workspace rule {name:?}? It suppresses {effect} at their next \
                 analysis."
            ),
        }
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The body that saves `rule` as it is, with `enabled` changed.
fn switched(rule: &IgnoreRule, enabled: bool) -> IgnoreRuleInput {
    IgnoreRuleInput {
        name: rule.name.clone(),
        match_expression: rule.match_expression.clone(),
        resource_ref: rule.resource_ref.clone(),
        managed_by: rule.managed_by.clone(),
        reason: rule.reason.clone(),
        enabled,
    }
}

impl App {
    /// The open workspace when the user may change its rules; otherwise says why not (the
    /// server would answer 403) and returns `None`.
    pub(super) fn workspace_rule_admin(&mut self, workspace: Option<Uuid>) -> Option<Uuid> {
        let Some(open) = self.workspace.clone() else {
            self.set_error("no workspace is open", Some(Kind::Rules));
            return None;
        };
        if workspace.is_some_and(|id| id != open.id) {
            self.set_error(
                "this workspace rule belongs to another workspace than the one open",
                Some(Kind::Rules),
            );
            return None;
        }
        if open.role < Role::Admin {
            self.set_error(
                &format!(
                    "workspace rules apply to every application, so only admins of {} change \
                     them (you are {}); ask an admin, or write an application rule",
                    open.name, open.role
                ),
                Some(Kind::Rules),
            );
            return None;
        }
        Some(open.id)
    }

    /// `ctrl-s` in the editor on a workspace rule: ask the server for its preview first.
    pub(super) fn preview_editor_rule(&mut self) -> Vec<Cmd> {
        let existing = self.editor.as_ref().and_then(|editor| match editor.origin {
            super::rule_editor::Origin::Existing(_) => Some(editor.application),
            _ => None,
        });
        let owner = existing.and_then(|_| self.editing_rule_workspace());
        let Some(workspace) = self.workspace_rule_admin(owner) else {
            return Vec::new();
        };
        let seq = self.seq();
        let Some(editor) = self.editor.as_mut() else {
            return Vec::new();
        };
        editor.saving = Some(seq);
        let input = editor.input();
        self.set_info("asking the server what the rule would suppress in every application…");
        vec![Cmd::PreviewWorkspaceRule {
            seq,
            workspace,
            input,
        }]
    }

    /// The workspace of the rule being edited, from the rules tab's rows.
    fn editing_rule_workspace(&self) -> Option<Uuid> {
        let editor = self.editor.as_ref()?;
        let super::rule_editor::Origin::Existing(id) = editor.origin else {
            return None;
        };
        let screen = self.application.as_ref()?;
        screen
            .rules
            .iter()
            .find(|row| row.id == id)
            .map(|row| row.source.workspace_id)
    }

    /// `space` on a workspace rule: preview the rule with `enabled` switched.
    pub(super) fn switch_workspace_rule(&mut self, rule: &IgnoreRule) -> Vec<Cmd> {
        let Some(workspace) = self.workspace_rule_admin(Some(rule.workspace_id)) else {
            return Vec::new();
        };
        let seq = self.seq();
        self.rule_change = Some(seq);
        self.switching = Some((rule.id, !rule.enabled));
        vec![Cmd::PreviewWorkspaceRule {
            seq,
            workspace,
            input: switched(rule, !rule.enabled),
        }]
    }

    /// The server's preview arrived: show it for `y`, or show why it was refused.
    pub(super) fn on_workspace_rule_previewed(
        &mut self,
        seq: u64,
        result: Result<Reply<WorkspaceRulePreview>, ClientError>,
    ) -> Vec<Cmd> {
        if let Some(editor) = self.editor.as_mut().filter(|e| e.saving == Some(seq)) {
            editor.saving = None;
            let rule = match editor.origin {
                super::rule_editor::Origin::Existing(id) => Some(id),
                _ => None,
            };
            return match result {
                Ok(reply) => {
                    let Some(workspace) = self.workspace.as_ref().map(|w| w.id) else {
                        return Vec::new();
                    };
                    let review = RuleReview::new(reply.data, workspace, rule, ReviewPurpose::Save);
                    self.status = None;
                    self.overlay = Some(Overlay::Review(review));
                    Vec::new()
                }
                Err(error) => self.editor_refused(error, "previewing the workspace rule"),
            };
        }
        if self.rule_change != Some(seq) {
            return Vec::new();
        }
        self.rule_change = None;
        let Some((rule, enabled)) = self.switching.take() else {
            return Vec::new();
        };
        match result {
            Ok(reply) => {
                let Some(workspace) = self.workspace.as_ref().map(|w| w.id) else {
                    return Vec::new();
                };
                let review = RuleReview::new(
                    reply.data,
                    workspace,
                    Some(rule),
                    ReviewPurpose::Switch { enabled },
                );
                self.status = None;
                self.overlay = Some(Overlay::Review(review));
                Vec::new()
            }
            Err(error) => self.failed(Kind::Rules, "previewing the workspace rule", error),
        }
    }

    /// A key while the review is open: `y` saves with its token, `j`/`k` scroll, `n` or
    /// `esc` go back without saving.
    pub(super) fn on_review_key(&mut self, mut review: RuleReview, chord: KeyChord) -> Vec<Cmd> {
        match chord.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => self.save_reviewed(review),
            KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                self.set_info(match review.purpose {
                    ReviewPurpose::Save => "not saved (the editor keeps what you typed)",
                    ReviewPurpose::Switch { .. } => "not changed",
                });
                Vec::new()
            }
            KeyCode::Char('j') | KeyCode::Down => {
                let last = review.lines().len().saturating_sub(1);
                review.scroll = (review.scroll + 1).min(last);
                self.overlay = Some(Overlay::Review(review));
                Vec::new()
            }
            KeyCode::Char('k') | KeyCode::Up => {
                review.scroll = review.scroll.saturating_sub(1);
                self.overlay = Some(Overlay::Review(review));
                Vec::new()
            }
            _ => {
                self.overlay = Some(Overlay::Review(review));
                Vec::new()
            }
        }
    }

    fn save_reviewed(&mut self, review: RuleReview) -> Vec<Cmd> {
        let seq = self.seq();
        match review.purpose {
            ReviewPurpose::Save => {
                let Some(editor) = self.editor.as_mut() else {
                    return Vec::new();
                };
                editor.saving = Some(seq);
                let applications = review
                    .applications
                    .iter()
                    .filter(|application| !application.suppresses.is_empty())
                    .count();
                editor.reviewed = Some((review.suppresses_total, applications));
                self.set_info("saving the workspace rule…");
            }
            ReviewPurpose::Switch { enabled } => {
                self.rule_change = Some(seq);
                self.switching = review.rule.map(|rule| (rule, enabled));
            }
        }
        vec![Cmd::SaveWorkspaceRule {
            seq,
            workspace: review.workspace,
            rule: review.rule,
            input: review.input,
            token: review.token,
        }]
    }

    /// A workspace rule enabled or disabled from the rules tab was saved (or refused).
    pub(super) fn on_workspace_rule_switched(
        &mut self,
        seq: u64,
        result: Result<Reply<IgnoreRule>, ClientError>,
    ) -> Vec<Cmd> {
        let enabled = self.switching.take().is_some_and(|(_, enabled)| enabled);
        let done = if enabled {
            "workspace rule enabled: every application's next analysis applies it"
        } else {
            "workspace rule disabled: every application's next analysis ignores it"
        };
        self.on_rule_changed(seq, done, result.map(|_| ()))
    }

    /// Whether `seq` is the save of a workspace rule switched from the rules tab.
    pub(super) fn is_switch(&self, seq: u64) -> bool {
        self.rule_change == Some(seq) && self.switching.is_some()
    }
}

/// The scope a rule row is changed through.
pub fn is_workspace_rule(rule: &IgnoreRule) -> bool {
    rule.scope == RuleScope::Workspace
}
