//! The incident screen's transitions: opening an incident, its replies (the incident, pages
//! of findings, the timeline), moving between findings and through the evidence, the diff
//! view, copying a path or a value, and starting an ignore rule from a finding.

use uuid::Uuid;

use super::app::{App, Cmd, Kind, Screen};
use super::evidence;
use super::incident::{DiffMode, Focus, IncidentScreen, body, findings_rows, layout};
use super::keys::Action;
use super::rule_editor::RuleEditor;
use super::yaml::to_yaml_lines;
use crate::client::{ClientError, Reply};
use statesight_core::wire::{Finding, Incident, TimelineEvent};

impl App {
    /// Opens the incident screen of `id` (`title` shows until the incident arrives).
    pub fn open_incident(&mut self, id: Uuid, title: &str) -> Vec<Cmd> {
        self.incident = Some(IncidentScreen::new(id, title));
        self.screens.push(Screen::Incident(id));
        self.load_incident()
    }

    /// Requests the incident, its findings and its timeline; what is shown stays until the
    /// answers replace it.
    pub(super) fn load_incident(&mut self) -> Vec<Cmd> {
        let seqs = [self.seq(), self.seq(), self.seq()];
        let Some(screen) = self.incident.as_mut() else {
            return Vec::new();
        };
        let id = screen.id;
        screen.pending.incident = Some(seqs[0]);
        screen.pending.findings = Some(seqs[1]);
        screen.pending.timeline = Some(seqs[2]);
        vec![
            Cmd::FetchIncident { seq: seqs[0], id },
            Cmd::FetchFindings {
                seq: seqs[1],
                id,
                cursor: None,
            },
            Cmd::FetchTimeline { seq: seqs[2], id },
        ]
    }

    fn incident_for(&self, pick: impl Fn(&IncidentScreen) -> Option<u64>, seq: u64) -> bool {
        self.incident
            .as_ref()
            .is_some_and(|screen| pick(screen) == Some(seq))
    }

    pub(super) fn on_incident(
        &mut self,
        seq: u64,
        result: Result<Reply<Incident>, ClientError>,
    ) -> Vec<Cmd> {
        if !self.incident_for(|s| s.pending.incident, seq) {
            return Vec::new();
        }
        let Some(screen) = self.incident.as_mut() else {
            return Vec::new();
        };
        screen.pending.incident = None;
        match result {
            Ok(reply) => {
                screen.apply_incident(reply.data);
                self.succeeded(Kind::Incident);
                Vec::new()
            }
            Err(error) => self.failed(Kind::Incident, "loading the incident", error),
        }
    }

    pub(super) fn on_findings(
        &mut self,
        seq: u64,
        first: bool,
        result: Result<Reply<Vec<Finding>>, ClientError>,
    ) -> Vec<Cmd> {
        if !self.incident_for(|s| s.pending.findings, seq) {
            return Vec::new();
        }
        let height = findings_rows(self.size);
        let Some(screen) = self.incident.as_mut() else {
            return Vec::new();
        };
        match result {
            Ok(reply) => {
                let last = reply.next_cursor.is_none();
                screen.apply_findings(reply.data, first, last, height);
                let id = screen.id;
                let next = match reply.next_cursor {
                    // The next page loads while this one is already on screen.
                    Some(cursor) => vec![Cmd::FetchFindings {
                        seq,
                        id,
                        cursor: Some(cursor),
                    }],
                    None => {
                        screen.pending.findings = None;
                        Vec::new()
                    }
                };
                self.succeeded(Kind::Incident);
                next
            }
            Err(error) => {
                screen.pending.findings = None;
                screen.abandon_reload();
                self.failed(Kind::Incident, "loading findings", error)
            }
        }
    }

    pub(super) fn on_timeline(
        &mut self,
        seq: u64,
        result: Result<Reply<Vec<TimelineEvent>>, ClientError>,
    ) -> Vec<Cmd> {
        if !self.incident_for(|s| s.pending.timeline, seq) {
            return Vec::new();
        }
        let Some(screen) = self.incident.as_mut() else {
            return Vec::new();
        };
        screen.pending.timeline = None;
        match result {
            Ok(reply) => {
                screen.timeline = reply
                    .data
                    .iter()
                    .map(super::incident::TimelineRow::new)
                    .collect();
                self.succeeded(Kind::Incident);
                Vec::new()
            }
            Err(error) => self.failed(Kind::Incident, "loading the timeline", error),
        }
    }

    /// The evidence pane's lines for the selected finding at the current size.
    pub fn evidence_line_count(&self) -> usize {
        let Some(screen) = self.incident.as_ref() else {
            return 0;
        };
        let area = layout(body(self.size)).evidence;
        evidence::lines(self, screen, area.width).len()
    }

    /// A key of the incident screen; `None` when the action is not the screen's.
    pub(super) fn on_incident_action(&mut self, action: Action) -> Option<Vec<Cmd>> {
        let height = findings_rows(self.size);
        let evidence_height = usize::from(layout(body(self.size)).evidence.height)
            .saturating_sub(1)
            .max(1);
        let focus = self.incident.as_ref()?.focus;
        let step = |action: Action, page: usize| -> Option<isize> {
            let page = page.max(1) as isize;
            Some(match action {
                Action::Up => -1,
                Action::Down => 1,
                Action::PageUp => -page,
                Action::PageDown => page,
                Action::Top => isize::MIN / 2,
                Action::Bottom => isize::MAX / 2,
                _ => return None,
            })
        };
        match action {
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => {
                if focus == Focus::Evidence {
                    let delta = step(action, evidence_height)?;
                    self.scroll_evidence(delta, evidence_height);
                } else {
                    let delta = step(action, height)?;
                    self.incident.as_mut()?.move_by(delta, height);
                }
                Some(Vec::new())
            }
            Action::EvidenceDown | Action::EvidenceUp => {
                let half = (evidence_height / 2).max(1) as isize;
                let delta = if action == Action::EvidenceDown {
                    half
                } else {
                    -half
                };
                self.scroll_evidence(delta, evidence_height);
                Some(Vec::new())
            }
            Action::SwitchFocus => {
                let screen = self.incident.as_mut()?;
                screen.focus = match screen.focus {
                    Focus::Findings => Focus::Evidence,
                    Focus::Evidence => Focus::Findings,
                };
                Some(Vec::new())
            }
            Action::ToggleDiff => {
                let screen = self.incident.as_mut()?;
                screen.mode = match screen.mode {
                    DiffMode::Unified => DiffMode::SideBySide,
                    DiffMode::SideBySide => DiffMode::Unified,
                };
                screen.scroll = 0;
                let label = match screen.mode {
                    DiffMode::Unified => "unified",
                    DiffMode::SideBySide => "side by side",
                };
                self.set_info(&format!("values shown {label}"));
                Some(Vec::new())
            }
            Action::CopyPath | Action::CopyValue => Some(self.copy(action == Action::CopyPath)),
            Action::IgnoreFinding => Some(self.ignore_selected_finding()),
            _ => None,
        }
    }

    fn scroll_evidence(&mut self, delta: isize, height: usize) {
        let total = self.evidence_line_count();
        if let Some(screen) = self.incident.as_mut() {
            screen.scroll_by(delta);
            screen.scroll = screen.scroll.min(total.saturating_sub(height));
        }
    }

    fn copy(&mut self, path: bool) -> Vec<Cmd> {
        let Some(item) = self.incident.as_ref().and_then(IncidentScreen::selected) else {
            self.set_info("no finding selected");
            return Vec::new();
        };
        let (text, what) = if path {
            (item.path.clone(), String::from("path"))
        } else {
            // What the pane shows: YAML, neutralized (a value from the cluster must not
            // carry control characters into whatever the user pastes it into).
            (
                to_yaml_lines(item.live.as_ref()).join("\n"),
                String::from("live value"),
            )
        };
        vec![Cmd::Copy { text, what }]
    }

    pub(super) fn on_copied(&mut self, what: &str, result: Result<usize, String>) {
        match result {
            Ok(bytes) => self.set_info(&format!(
                "copied the {what} to the clipboard ({bytes} bytes, through the terminal)"
            )),
            Err(error) => self.set_error(
                &format!("copying the {what}: {error}"),
                Some(Kind::Clipboard),
            ),
        }
    }

    fn ignore_selected_finding(&mut self) -> Vec<Cmd> {
        let Some(screen) = self.incident.as_ref() else {
            return Vec::new();
        };
        let Some(item) = screen.selected() else {
            self.set_info("no finding selected");
            return Vec::new();
        };
        let application = screen
            .incident
            .as_ref()
            .map(|incident| incident.application.id)
            .or_else(|| {
                self.incidents
                    .iter()
                    .find(|row| row.id == screen.id)
                    .map(|row| row.application_id)
            });
        let Some(application) = application else {
            self.set_info("the incident is still loading; try again in a moment");
            return Vec::new();
        };
        let namespace = self.default_namespace(application);
        let editor = RuleEditor::for_finding(application, item, &namespace);
        self.open_editor(editor)
    }

    /// The default namespace of an application of this workspace (empty when unknown:
    /// rules typed without a namespace then match cluster-scoped objects only).
    pub(super) fn default_namespace(&self, application: Uuid) -> String {
        self.apps
            .iter()
            .find(|row| row.id == application)
            .map(|row| row.default_namespace.clone())
            .unwrap_or_default()
    }
}
