//! `statesight-tui`: the terminal console. This build only answers `--help` and
//! `--version`; the console, sign-in and scripting commands arrive with their own issue.

use std::process::ExitCode;

use clap::Parser;

/// StateSight terminal console.
///
/// This build has no commands yet: the interactive console, `auth login|logout|status|token`,
/// `api` and `get` arrive with the console's issue. Until then, use the HTTP API directly
/// (see the README for curl examples).
#[derive(Parser)]
#[command(name = "statesight-tui", version, about, long_about)]
struct Cli {}

fn main() -> ExitCode {
    let Cli {} = Cli::parse();
    eprintln!(
        "statesight-tui: the console is not part of this build yet; use the HTTP API \
         (see README.md) or run with --help"
    );
    ExitCode::from(2)
}
