//! The `:` command palette: the commands, parsing what was typed, and Tab completion of
//! command names and of workspace names after `:ws `.

use super::model::WorkspaceView;
use super::text::fit;

/// What a palette line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Applications,
    Incidents,
    Overview,
    Workspace(String),
    Refresh,
    Help,
    Quit,
}

pub struct CommandSpec {
    /// The first name is the one completion offers; the others are aliases.
    pub names: &'static [&'static str],
    pub argument: Option<&'static str>,
    pub description: &'static str,
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        names: &["apps", "applications"],
        argument: None,
        description: "Applications table",
    },
    CommandSpec {
        names: &["incidents", "inc"],
        argument: None,
        description: "Open incidents of the workspace",
    },
    CommandSpec {
        names: &["overview", "ov"],
        argument: None,
        description: "Workspace overview",
    },
    CommandSpec {
        names: &["ws", "workspace"],
        argument: Some("NAME"),
        description: "Switch workspace (Tab completes the names)",
    },
    CommandSpec {
        names: &["refresh", "reload"],
        argument: None,
        description: "Reload from the server",
    },
    CommandSpec {
        names: &["help"],
        argument: None,
        description: "Keys of this screen",
    },
    CommandSpec {
        names: &["q", "quit"],
        argument: None,
        description: "Quit",
    },
];

/// One completion: the whole line it would make, and what to show for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub line: String,
    pub label: String,
    pub description: String,
}

/// Parses a palette line (without the `:`).
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let (word, argument) = match line.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (line, ""),
    };
    let word_lower = word.to_lowercase();
    let Some(spec) = COMMANDS
        .iter()
        .find(|spec| spec.names.contains(&word_lower.as_str()))
    else {
        return Err(if word.is_empty() {
            String::from("type a command, e.g. :apps (Tab completes)")
        } else {
            format!(
                "unknown command :{} (try {}; Tab completes)",
                fit(word, 24),
                COMMANDS
                    .iter()
                    .map(|spec| match spec.argument {
                        Some(argument) => format!(":{} {argument}", spec.names[0]),
                        None => format!(":{}", spec.names[0]),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        });
    };
    let name = spec.names[0];
    if spec.argument.is_none() && !argument.is_empty() {
        return Err(format!(":{name} takes no argument"));
    }
    Ok(match name {
        "apps" => Command::Applications,
        "incidents" => Command::Incidents,
        "overview" => Command::Overview,
        "ws" => {
            if argument.is_empty() {
                return Err(String::from(
                    "usage: :ws NAME (Tab completes your workspaces)",
                ));
            }
            Command::Workspace(argument.to_owned())
        }
        "refresh" => Command::Refresh,
        "help" => Command::Help,
        _ => Command::Quit,
    })
}

/// What `line` could be completed to.
pub fn candidates(line: &str, workspaces: &[WorkspaceView]) -> Vec<Candidate> {
    let trimmed = line.trim_start();
    if let Some((word, argument)) = trimmed.split_once(char::is_whitespace) {
        let word = word.to_lowercase();
        if word != "ws" && word != "workspace" {
            return Vec::new();
        }
        let argument = argument.trim_start().to_lowercase();
        let make = |workspace: &WorkspaceView| Candidate {
            line: format!("ws {}", workspace.name),
            label: workspace.name.clone(),
            description: workspace.role.to_string(),
        };
        let prefixed: Vec<Candidate> = workspaces
            .iter()
            .filter(|w| w.name.to_lowercase().starts_with(&argument))
            .map(make)
            .collect();
        if !prefixed.is_empty() {
            return prefixed;
        }
        return workspaces
            .iter()
            .filter(|w| w.name.to_lowercase().contains(&argument))
            .map(make)
            .collect();
    }
    let prefix = trimmed.to_lowercase();
    COMMANDS
        .iter()
        .filter(|spec| spec.names.iter().any(|name| name.starts_with(&prefix)))
        .map(|spec| {
            let name = spec.names[0];
            Candidate {
                line: match spec.argument {
                    Some(_) => format!("{name} "),
                    None => name.to_owned(),
                },
                label: match spec.argument {
                    Some(argument) => format!("{name} {argument}"),
                    None => name.to_owned(),
                },
                description: spec.description.to_owned(),
            }
        })
        .collect()
}

/// The palette prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Palette {
    pub input: String,
    pub candidates: Vec<Candidate>,
    /// The candidate Tab last put in the line, while cycling.
    pub cycling: Option<usize>,
}

impl Palette {
    pub fn new(workspaces: &[WorkspaceView]) -> Palette {
        let mut palette = Palette::default();
        palette.set_input(String::new(), workspaces);
        palette
    }

    pub fn set_input(&mut self, input: String, workspaces: &[WorkspaceView]) {
        self.candidates = candidates(&input, workspaces);
        self.input = input;
        self.cycling = None;
    }

    /// Tab (`forward`) or shift-tab: complete the common prefix of the candidates; when
    /// there is nothing more in common, cycle through them.
    pub fn complete(&mut self, forward: bool, workspaces: &[WorkspaceView]) {
        if let Some(index) = self.cycling {
            let count = self.candidates.len();
            if count == 0 {
                self.cycling = None;
                return;
            }
            let next = if forward {
                (index + 1) % count
            } else {
                (index + count - 1) % count
            };
            self.cycling = Some(next);
            self.input = self.candidates[next].line.clone();
            return;
        }
        match self.candidates.len() {
            0 => {}
            1 => {
                let line = self.candidates[0].line.clone();
                self.set_input(line, workspaces);
            }
            count => {
                let common = common_prefix(self.candidates.iter().map(|c| c.line.as_str()));
                if common.chars().count() > self.input.trim_start().chars().count()
                    && !common.is_empty()
                {
                    self.set_input(common, workspaces);
                } else {
                    let index = if forward { 0 } else { count - 1 };
                    self.cycling = Some(index);
                    self.input = self.candidates[index].line.clone();
                }
            }
        }
    }
}

/// The longest common prefix, ignoring case (taken from the first line).
fn common_prefix<'a>(mut lines: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = lines.next() else {
        return String::new();
    };
    let mut length = first.len();
    for line in lines {
        let shared = first
            .char_indices()
            .zip(line.chars())
            .take_while(|((_, a), b)| a.to_lowercase().eq(b.to_lowercase()))
            .last()
            .map_or(0, |((at, a), _)| at + a.len_utf8());
        length = length.min(shared);
    }
    first[..length].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn workspaces() -> Vec<WorkspaceView> {
        ["acme-payments", "acme-platform", "sandbox"]
            .iter()
            .enumerate()
            .map(|(i, name)| WorkspaceView {
                id: Uuid::from_u128(i as u128 + 1),
                name: (*name).to_owned(),
                role: statesight_core::wire::Role::Admin,
            })
            .collect()
    }

    fn lines(palette: &Palette) -> Vec<&str> {
        palette.candidates.iter().map(|c| c.line.as_str()).collect()
    }

    #[test]
    fn commands_parse_with_aliases() {
        assert_eq!(parse("apps"), Ok(Command::Applications));
        assert_eq!(parse(" applications "), Ok(Command::Applications));
        assert_eq!(parse("inc"), Ok(Command::Incidents));
        assert_eq!(parse("ov"), Ok(Command::Overview));
        assert_eq!(parse("q"), Ok(Command::Quit));
        assert_eq!(parse("quit"), Ok(Command::Quit));
        assert_eq!(
            parse("ws acme-platform"),
            Ok(Command::Workspace(String::from("acme-platform")))
        );
        assert!(parse("ws").is_err_and(|e| e.starts_with("usage: :ws NAME")));
        assert!(parse("apps now").is_err_and(|e| e == ":apps takes no argument"));
        assert!(parse("pods").is_err_and(|e| e.starts_with("unknown command :pods (try :apps")));
    }

    #[test]
    fn tab_completes_a_unique_command_then_offers_workspaces() {
        let ws = workspaces();
        let mut palette = Palette::new(&ws);
        assert_eq!(palette.candidates.len(), COMMANDS.len());
        palette.set_input(String::from("w"), &ws);
        assert_eq!(lines(&palette), vec!["ws "]);
        palette.complete(true, &ws);
        assert_eq!(palette.input, "ws ");
        assert_eq!(
            lines(&palette),
            vec!["ws acme-payments", "ws acme-platform", "ws sandbox"]
        );
        palette.set_input(String::from("ws acme-pl"), &ws);
        palette.complete(true, &ws);
        assert_eq!(palette.input, "ws acme-platform");
        assert_eq!(
            parse(&palette.input),
            Ok(Command::Workspace(String::from("acme-platform")))
        );
    }

    #[test]
    fn tab_completes_the_common_prefix_then_cycles() {
        let ws = workspaces();
        let mut palette = Palette::new(&ws);
        palette.set_input(String::from("ws a"), &ws);
        palette.complete(true, &ws);
        assert_eq!(palette.input, "ws acme-p");
        palette.complete(true, &ws);
        assert_eq!(palette.input, "ws acme-payments");
        palette.complete(true, &ws);
        assert_eq!(palette.input, "ws acme-platform");
        palette.complete(true, &ws);
        assert_eq!(palette.input, "ws acme-payments");
        palette.complete(false, &ws);
        assert_eq!(palette.input, "ws acme-platform");
        // Typing again stops the cycle and filters anew.
        palette.set_input(String::from("ws s"), &ws);
        palette.complete(true, &ws);
        assert_eq!(palette.input, "ws sandbox");
    }

    #[test]
    fn a_workspace_name_matches_inside_when_no_prefix_does() {
        let ws = workspaces();
        assert_eq!(
            candidates("ws platform", &ws)
                .iter()
                .map(|c| c.label.as_str())
                .collect::<Vec<_>>(),
            vec!["acme-platform"]
        );
        assert!(candidates("ws zzz", &ws).is_empty());
        assert!(candidates("apps x", &ws).is_empty());
    }

    #[test]
    fn command_prefixes_complete() {
        let ws = workspaces();
        let mut palette = Palette::new(&ws);
        palette.set_input(String::from("a"), &ws);
        assert_eq!(lines(&palette), vec!["apps"]);
        palette.set_input(String::from("i"), &ws);
        assert_eq!(lines(&palette), vec!["incidents"]);
        palette.complete(true, &ws);
        assert_eq!(palette.input, "incidents");
        palette.set_input(String::from("re"), &ws);
        assert_eq!(lines(&palette), vec!["refresh"]);
        palette.set_input(String::from("x"), &ws);
        assert!(palette.candidates.is_empty());
        palette.complete(true, &ws);
        assert_eq!(palette.input, "x");
    }
}
