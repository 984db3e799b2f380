//! Server configuration from the environment (and `.env`), parsed in two steps: raw values
//! by clap, then validated into a `ServeConfig` that cannot hold an unsafe combination.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::builder::BoolishValueParser;

use statesight_core::wire::AudienceParameter;

use crate::oidc::OidcSettings;
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
    #[command(flatten)]
    pub oidc: OidcArgs,
    /// Log format: `pretty` (default on a terminal) or `json`.
    #[arg(long, env = "LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Maximum PostgreSQL connections.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Secret of the GitHub webhook `POST /api/v1/github/webhook` (the value entered as the
    /// webhook's secret in GitHub; at least 16 characters: `openssl rand -hex 32`). Unset or
    /// empty: the route answers 404.
    #[arg(long, env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true)]
    pub github_webhook_secret: Option<String>,
}

/// The OpenID provider that issues the bearer tokens (`AUTH_REQUIRED=true`).
#[derive(Debug, Clone, clap::Args)]
pub struct OidcArgs {
    /// The provider's issuer URL, exactly as its tokens' `iss` (and its discovery document)
    /// spell it. Required with AUTH_REQUIRED=true.
    #[arg(long, env = "OIDC_ISSUER_URL")]
    pub oidc_issuer_url: Option<String>,
    /// What accepted access tokens carry in `aud`: the API, never the console's client id.
    /// Required with AUTH_REQUIRED=true.
    #[arg(long, env = "OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// The public client the console signs in with (device authorization grant).
    #[arg(long, env = "OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// Allow plain-HTTP issuer and key-set URLs (tests and providers on loopback only).
    #[arg(long, env = "OIDC_ALLOW_INSECURE_ISSUER", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub oidc_allow_insecure_issuer: bool,
    /// A PEM bundle of extra CA certificates trusted for the provider's TLS (a private CA).
    #[arg(long, env = "OIDC_CA_BUNDLE")]
    pub oidc_ca_bundle: Option<PathBuf>,
    /// Scopes the console requests, space-separated.
    #[arg(long, env = "OIDC_SCOPES", default_value = "openid offline_access")]
    pub oidc_scopes: String,
    /// How clients ask this provider for the audience: `resource` (RFC 8707), `audience`
    /// (Auth0 and others) or `scope` (put the provider's API scope in OIDC_SCOPES).
    #[arg(long, env = "OIDC_AUDIENCE_PARAMETER", default_value = "resource", value_parser = parse_audience_parameter)]
    pub oidc_audience_parameter: AudienceParameter,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (at most 300).
    #[arg(long, env = "OIDC_LEEWAY_SECS", default_value_t = crate::oidc::DEFAULT_LEEWAY.as_secs())]
    pub oidc_leeway_secs: u64,
}

fn parse_audience_parameter(text: &str) -> Result<AudienceParameter, String> {
    AudienceParameter::parse(text.trim())
        .ok_or_else(|| format!("{text:?} is not one of resource, audience, scope"))
}

impl OidcArgs {
    /// The verifier's settings, or `None` when no issuer is configured. With
    /// `auth_required`, an issuer and an audience are mandatory.
    pub fn settings(&self, auth_required: bool) -> anyhow::Result<Option<OidcSettings>> {
        let issuer = self
            .oidc_issuer_url
            .as_deref()
            .map(str::trim)
            .filter(|issuer| !issuer.is_empty());
        let audience = self
            .oidc_audience
            .as_deref()
            .map(str::trim)
            .filter(|audience| !audience.is_empty());
        let (issuer, audience) = match (issuer, audience) {
            (Some(issuer), Some(audience)) => (issuer, audience),
            (None, _) if !auth_required => return Ok(None),
            (None, _) => bail!(
                "AUTH_REQUIRED=true needs OIDC_ISSUER_URL (the OpenID provider's issuer) and \
                 OIDC_AUDIENCE (the `aud` of this API's access tokens); for a local demo set \
                 AUTH_REQUIRED=false and bind to loopback"
            ),
            (Some(_), None) => bail!(
                "OIDC_ISSUER_URL is set but OIDC_AUDIENCE is not: name the audience this API's \
                 access tokens carry (e.g. https://statesight.example.com/api)"
            ),
        };
        let client_id = self
            .oidc_client_id
            .as_deref()
            .map(str::trim)
            .filter(|client_id| !client_id.is_empty())
            .map(str::to_owned);
        if client_id.as_deref() == Some(audience) {
            bail!(
                "OIDC_AUDIENCE equals OIDC_CLIENT_ID ({audience}): ID tokens carry the client id \
                 as their audience, so they would pass as access tokens; give the API its own \
                 audience (a resource URI or API identifier at the provider)"
            );
        }
        let url = crate::oidc::discovery_url(issuer)?;
        if url.scheme() == "http" && !self.oidc_allow_insecure_issuer {
            bail!(
                "OIDC_ISSUER_URL {issuer} is plain HTTP: the provider must use HTTPS (set \
                 OIDC_ALLOW_INSECURE_ISSUER=true only for tests or a provider on loopback)"
            );
        }
        let leeway = Duration::from_secs(self.oidc_leeway_secs);
        if leeway > crate::oidc::MAX_LEEWAY {
            bail!(
                "OIDC_LEEWAY_SECS is {}: at most {} seconds are allowed (more keeps expired \
                 tokens alive)",
                self.oidc_leeway_secs,
                crate::oidc::MAX_LEEWAY.as_secs()
            );
        }
        let scopes: Vec<String> = self
            .oidc_scopes
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        Ok(Some(OidcSettings {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            client_id,
            allow_insecure: self.oidc_allow_insecure_issuer,
            ca_bundle: self.oidc_ca_bundle.clone(),
            leeway,
            min_key_refresh: crate::oidc::DEFAULT_MIN_KEY_REFRESH,
            key_max_age: crate::oidc::DEFAULT_KEY_MAX_AGE,
            scopes,
            audience_parameter: self.oidc_audience_parameter,
        }))
    }
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
    /// The GitHub webhook's secret, refused at startup when weak or mistyped.
    pub fn github_webhook_secret(&self) -> anyhow::Result<Option<crate::webhook::WebhookSecret>> {
        Ok(crate::webhook::WebhookSecret::from_config(
            self.github_webhook_secret.as_deref(),
        )?)
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(issuer: Option<&str>, audience: Option<&str>, client: Option<&str>) -> OidcArgs {
        OidcArgs {
            oidc_issuer_url: issuer.map(str::to_owned),
            oidc_audience: audience.map(str::to_owned),
            oidc_client_id: client.map(str::to_owned),
            oidc_allow_insecure_issuer: false,
            oidc_ca_bundle: None,
            oidc_scopes: String::from("openid  offline_access api://x/.default"),
            oidc_audience_parameter: AudienceParameter::Resource,
            oidc_leeway_secs: 30,
        }
    }

    fn refusal(args: &OidcArgs, auth_required: bool) -> String {
        format!(
            "{:#}",
            args.settings(auth_required)
                .expect_err("the configuration is refused")
        )
    }

    #[test]
    fn auth_required_needs_an_issuer_and_an_audience() {
        assert!(refusal(&args(None, None, None), true).contains("OIDC_ISSUER_URL"));
        assert!(
            refusal(&args(Some("https://login.example"), None, None), true)
                .contains("OIDC_AUDIENCE")
        );
        // Demo mode needs neither.
        assert!(
            args(None, None, None)
                .settings(false)
                .expect("demo mode")
                .is_none()
        );
    }

    #[test]
    fn unsafe_provider_settings_are_refused() {
        assert!(
            refusal(&args(Some("http://login.example"), Some("api"), None), true)
                .contains("OIDC_ALLOW_INSECURE_ISSUER")
        );
        assert!(
            refusal(
                &args(
                    Some("https://login.example"),
                    Some("console"),
                    Some("console")
                ),
                true
            )
            .contains("ID tokens")
        );
        assert!(
            refusal(
                &args(Some("https://login.example?tenant=a"), Some("api"), None),
                true
            )
            .contains("query")
        );
        assert!(refusal(&args(Some("login.example"), Some("api"), None), true).contains("URL"));
        let mut lenient = args(Some("https://login.example"), Some("api"), None);
        lenient.oidc_leeway_secs = 301;
        assert!(refusal(&lenient, true).contains("OIDC_LEEWAY_SECS"));
    }

    #[test]
    fn settings_keep_the_issuer_exact_and_split_scopes() {
        let settings = args(
            Some("https://login.example/realms/ops/"),
            Some(" api "),
            Some("console"),
        )
        .settings(true)
        .expect("valid")
        .expect("configured");
        assert_eq!(settings.issuer, "https://login.example/realms/ops/");
        assert_eq!(settings.audience, "api");
        assert_eq!(
            settings.scopes,
            ["openid", "offline_access", "api://x/.default"]
        );
        assert_eq!(settings.leeway, Duration::from_secs(30));
    }
}
