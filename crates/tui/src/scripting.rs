//! `api` and `get`: the console's data for scripts, with documented exit codes.

use std::process::ExitCode;

use crate::cli::{ApiArgs, GetArgs};
use crate::config::Context;

pub async fn api(_context: &Context, _args: &ApiArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("scripting is being built on this branch")
}

pub async fn get(_context: &Context, _args: &GetArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("scripting is being built on this branch")
}
