//! `statesight-tui`: parse the command line, resolve the connection, dispatch.

use std::process::ExitCode;

use clap::Parser;
use statesight_tui::cli::{AuthCommand, Cli, Command};
use statesight_tui::{auth, blame, config, console, key_listing, scripting};

fn main() -> ExitCode {
    let cli = Cli::parse();
    statesight_tui::client::ensure_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(run(cli));
    // A keyring call that timed out may still hold a blocking thread: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match outcome {
        Ok(code) => code,
        Err(error) => {
            let text =
                statesight_core::terminal::escape_for_terminal(&format!("{error:#}")).into_owned();
            eprintln!("error: {text}");
            ExitCode::from(statesight_tui::exit::code_for(&error))
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Needs no server, profile or sign-in: only the config directory's keys.toml.
    if let Some(Command::Keys(args)) = &cli.command {
        let config_dir = match &cli.global.config_dir {
            Some(dir) => dir.clone(),
            None => config::default_config_dir()?,
        };
        return key_listing::run(args, &config_dir);
    }
    let context = config::Context::resolve(&cli.global).await?;
    match cli.command {
        None => console::run(context).await.map(|()| ExitCode::SUCCESS),
        Some(Command::Login(args)) | Some(Command::Auth(AuthCommand::Login(args))) => {
            auth::commands::login(&context, &args).await
        }
        Some(Command::Logout) | Some(Command::Auth(AuthCommand::Logout)) => {
            auth::commands::logout(&context).await
        }
        Some(Command::Auth(AuthCommand::Status)) => auth::commands::status(&context).await,
        Some(Command::Auth(AuthCommand::Token)) => auth::commands::token(&context).await,
        Some(Command::Api(args)) => scripting::api(&context, &args).await,
        Some(Command::Get(args)) => scripting::get(&context, &args).await,
        Some(Command::Blame(args)) => blame::run(&context, &args).await,
        Some(Command::Keys(args)) => key_listing::run(&args, &context.config_dir),
    }
}
