//! `statesight-worker`: `run` consumes analysis jobs; `diff` analyses offline. Parses
//! arguments, runs the command and applies the exit-code policy (for `diff`: 0 no
//! unsuppressed drift, 1 drift, 2 error).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use statesight_worker::cli::{Cli, Command};
use statesight_worker::diff_command;

fn main() -> ExitCode {
    if let Err(error) = dotenvy::dotenv().map(|_| ()).or_else(|error| {
        if error.not_found() {
            Ok(())
        } else {
            Err(error)
        }
    }) {
        eprintln!("error: reading .env: {error}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => match statesight_worker::serve::run(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Diff(args) => {
            let color = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let options = match args.into_options() {
                Ok(options) => options,
                Err(error) => {
                    eprintln!("error: {:#}", anyhow::Error::new(error));
                    return ExitCode::from(2);
                }
            };
            match diff_command::run(&options, color) {
                Ok(outcome) => {
                    for note in &outcome.notes {
                        eprintln!("note: {note}");
                    }
                    for warning in &outcome.warnings {
                        eprintln!("warning: {warning}");
                    }
                    let mut stdout = std::io::stdout().lock();
                    if stdout
                        .write_all(outcome.output.as_bytes())
                        .and_then(|()| stdout.flush())
                        .is_err()
                    {
                        return ExitCode::from(2);
                    }
                    ExitCode::from(outcome.exit_code)
                }
                Err(error) => {
                    eprintln!("error: {error:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
