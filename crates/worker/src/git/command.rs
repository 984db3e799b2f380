//! Running `git` and `kubectl`: never through a shell, with stdin closed, prompts off and a
//! deadline on every invocation. Each command gets its own process group so a timeout kills
//! what it started too (`ssh`, `git-remote-https`, a script's `sleep`), not only the parent.
//! Credentials are left to the environment exactly as git finds them: `HOME`, credential
//! helpers, SSH agents and `GIT_*` settings pass through untouched.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use super::error::{GitError, Result};
use super::settings::GitSettings;

/// Variables that tell git which repository to work on. The worker always names its mirror
/// with `--git-dir`; a stray value inherited from the worker's environment must not redirect
/// git to another repository or object store. None of them carries credentials.
const REPOSITORY_LOCATION_VARIABLES: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_GRAFT_FILE",
    "GIT_REPLACE_REF_BASE",
    "GIT_NO_REPLACE_OBJECTS",
];

/// Which executable a command runs, for messages that say which setting to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    Git,
    Kubectl,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Git => "git",
            Tool::Kubectl => "kubectl",
        }
    }

    fn variable(self) -> &'static str {
        match self {
            Tool::Git => "GIT_BIN",
            Tool::Kubectl => "KUBECTL_BIN",
        }
    }

    fn program(self, settings: &GitSettings) -> &Path {
        match self {
            Tool::Git => &settings.git_bin,
            Tool::Kubectl => &settings.kubectl_bin,
        }
    }
}

/// A git command on `git_dir` (or none, for commands that need no repository). `-c
/// protocol.ext.allow=never` refuses the `ext::` transport even if validation were
/// bypassed; `GIT_PROTOCOL_FROM_USER=0` refuses every transport git does not know to be
/// safe unless a caller allows it explicitly (see [`allow_file_protocol`]).
pub(crate) fn git(settings: &GitSettings, git_dir: Option<&Path>) -> Command {
    let mut command = base(Tool::Git.program(settings));
    command.args(["-c", "protocol.ext.allow=never"]);
    if let Some(git_dir) = git_dir {
        let mut flag = OsString::from("--git-dir=");
        flag.push(git_dir);
        command.arg(flag);
    }
    for variable in REPOSITORY_LOCATION_VARIABLES {
        command.env_remove(variable);
    }
    command.env("GIT_TERMINAL_PROMPT", "0");
    command.env("GIT_PROTOCOL_FROM_USER", "0");
    // Git Credential Manager would otherwise open a window or wait for a device login.
    command.env("GCM_INTERACTIVE", "never");
    command
}

/// `file://` sources are legitimate (the demo's repository is one). With
/// `GIT_PROTOCOL_FROM_USER=0` git would refuse them, so a fetch from such a URL allows that
/// one protocol; this must come before the subcommand.
pub(crate) fn allow_file_protocol(command: &mut Command, url: &str) {
    let is_file = url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("file://"));
    if is_file {
        command.args(["-c", "protocol.file.allow=always"]);
    }
}

/// A kubectl command. Kustomize may fetch remote bases with git, so the same prompt-free
/// settings apply.
pub(crate) fn kubectl(settings: &GitSettings) -> Command {
    let mut command = base(Tool::Kubectl.program(settings));
    command.env("GIT_TERMINAL_PROMPT", "0");
    command.env("GCM_INTERACTIVE", "never");
    command
}

fn base(program: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    command
}

/// Starts the command, mapping "executable not found" to a message naming the setting.
pub(crate) fn spawn(settings: &GitSettings, tool: Tool, command: &mut Command) -> Result<Child> {
    command.spawn().map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            GitError::ToolNotFound {
                tool: tool.name(),
                variable: tool.variable(),
                program: tool.program(settings).to_path_buf(),
                reason: error.to_string(),
            }
        }
        _ => GitError::io(
            format!("starting {}", tool.program(settings).display()),
            error,
        ),
    })
}

/// Kills the process group a command was started in. The child itself is also killed
/// when its handle is dropped (`kill_on_drop`); this reaches its descendants. Call it only
/// while the child has not been waited for, so the group id still belongs to it.
pub(crate) fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        // The group may already be gone; there is nothing useful to do about an error.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Runs a command to completion within `limit` and returns its output whatever the exit
/// status; callers decide what a failure means. On timeout the process group is killed and
/// [`GitError::Timeout`] names `what`.
pub(crate) async fn output(
    settings: &GitSettings,
    tool: Tool,
    mut command: Command,
    what: &str,
    limit: Duration,
) -> Result<Output> {
    let child = spawn(settings, tool, &mut command)?;
    let pid = child.id();
    // Pinned here rather than moved into `timeout`, so that on a timeout the child is
    // still unreaped while its group is killed: its id cannot have been reused yet.
    let mut waiting = std::pin::pin!(child.wait_with_output());
    match tokio::time::timeout(limit, &mut waiting).await {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => Err(GitError::io(format!("waiting for {what}"), error)),
        Err(_elapsed) => {
            kill_group(pid);
            tracing::warn!(
                what,
                limit_seconds = limit.as_secs_f64(),
                "command timed out and was killed"
            );
            Err(GitError::Timeout {
                what: what.to_owned(),
                after: limit,
            })
        }
    }
}

/// The last lines of a command's stderr, at most about 1 000 characters: enough to say
/// what failed without pasting a page of hints.
pub(crate) fn trimmed_stderr(stderr: &[u8]) -> String {
    const MAX: usize = 1000;
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("hint:"))
        .collect();
    let mut joined = lines.join("; ");
    if joined.len() > MAX {
        let mut start = joined.len() - MAX;
        while !joined.is_char_boundary(start) {
            start += 1;
        }
        joined = format!("…{}", &joined[start..]);
    }
    if joined.is_empty() {
        String::from("no message")
    } else {
        joined
    }
}
