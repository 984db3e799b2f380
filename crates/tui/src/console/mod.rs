//! The interactive console.

use crate::config::Context;

pub async fn run(_context: Context) -> anyhow::Result<()> {
    anyhow::bail!("the console is being built on this branch")
}
