//! `auth login|logout|status|token` (`login`/`logout` also top-level).

use std::process::ExitCode;

use crate::cli::LoginArgs;
use crate::config::Context;

pub async fn login(_context: &Context, _args: &LoginArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sign-in is being built on this branch")
}

pub async fn logout(_context: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sign-in is being built on this branch")
}

pub async fn status(_context: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sign-in is being built on this branch")
}

pub async fn token(_context: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sign-in is being built on this branch")
}
