//! Server configuration from the environment (and `.env`), parsed in two steps: raw values
//! by clap, then validated into a `ServeConfig` that cannot hold an unsafe combination.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use clap::builder::BoolishValueParser;

use crate::telemetry::LogFormat;

/// Settings shared by every subcommand that talks to the database.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Redis connection URL (the analysis queue).
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,
    /// Prefix of every Redis key (lets deployments share one Redis).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "statesight")]
    pub redis_key_prefix: String,
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,
    /// Require a verified bearer token on operator routes. `false` signs every caller in as
    /// the seeded demo user and is only allowed on loopback.
    #[arg(long, env = "AUTH_REQUIRED", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub auth_required: bool,
    /// Allow AUTH_REQUIRED=false on a non-loopback BIND_ADDR (anyone who can reach the port
    /// gets the demo user's rights).
    #[arg(long, env = "ALLOW_UNAUTHENTICATED_NON_LOOPBACK", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub allow_unauthenticated_non_loopback: bool,
    /// Secret (hex, at least 32 bytes: `openssl rand -hex 32`) signing pagination cursors;
    /// the same on every replica. Required with AUTH_REQUIRED=true; without it, demo mode
    /// uses a random key per process.
    #[arg(long, env = "CURSOR_SIGNING_KEY", hide_env_values = true)]
    pub cursor_signing_key: Option<String>,
    /// OIDC issuer URL (shown to clients by /api/v1/auth/config).
    #[arg(long, env = "OIDC_ISSUER_URL")]
    pub oidc_issuer_url: Option<String>,
    /// Expected `aud` of access tokens.
    #[arg(long, env = "OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// OIDC client id the console uses for device-code sign-in.
    #[arg(long, env = "OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// Log format: `pretty` (default on a terminal) or `json`.
    #[arg(long, env = "LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Maximum PostgreSQL connections.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,
    #[command(flatten)]
    pub inputs: InputArgs,
}

/// What local inputs operators may register (the worker reads the same variables and checks
/// stored rows again before reading).
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Allow `file:///…` repository URLs (local repositories on the worker's machine).
    #[arg(long, env = "ALLOW_FILE_REPOSITORIES", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub allow_file_repositories: bool,
    /// Directories (`:`-separated) a cluster's `kubeconfig_path` must lie under.
    #[arg(long, env = "KUBECONFIG_ROOTS", default_value = statesight_core::source::DEFAULT_KUBECONFIG_ROOTS)]
    pub kubeconfig_roots: String,
    /// Directories (`:`-separated) a cluster's `snapshot_dir` must lie under.
    #[arg(long, env = "SNAPSHOT_ROOTS", default_value = statesight_core::source::DEFAULT_SNAPSHOT_ROOTS)]
    pub snapshot_roots: String,
}

impl InputArgs {
    /// The policy, with `~` kept as written (the server does not know the worker's home).
    pub fn policy(&self) -> anyhow::Result<statesight_core::source::InputPolicy> {
        Ok(statesight_core::source::InputPolicy::new(
            self.allow_file_repositories,
            &self.kubeconfig_roots,
            &self.snapshot_roots,
            None,
        )?)
    }
}

impl ServeArgs {
    /// Refuses unsafe combinations before anything listens.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.auth_required
            && !self.bind_addr.ip().is_loopback()
            && !self.allow_unauthenticated_non_loopback
        {
            bail!(
                "refusing to serve without authentication on {} (not a loopback address): set \
                 AUTH_REQUIRED=true, bind to 127.0.0.1, or set \
                 ALLOW_UNAUTHENTICATED_NON_LOOPBACK=true if you really mean it",
                self.bind_addr
            );
        }
        if self.database_max_connections == 0 {
            bail!("DATABASE_MAX_CONNECTIONS must be at least 1");
        }
        Ok(())
    }
}

/// Loads `.env` from the working directory when present; a malformed file is an error,
/// a missing one is not.
pub fn load_dotenv() -> anyhow::Result<()> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(error) if error.not_found() => Ok(()),
        Err(error) => Err(error).context("reading .env"),
    }
}
