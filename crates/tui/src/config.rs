//! Where the console connects and how: the server (flag, `STATESIGHT_SERVER`, or a profile of
//! the config file), the workspace, colours, and the credentials for requests.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use reqwest::Url;

use crate::cli::{ColorMode, GlobalArgs, TokenStorage};
use crate::client::{ApiClient, Credentials, DeviceSignIn, StaticToken, http_client};

/// Everything a command needs, resolved once.
#[derive(Clone)]
pub struct Context {
    pub server: Url,
    /// Holds `config.toml`, `keys.toml`, `state.json` and, with file storage, the tokens.
    pub config_dir: PathBuf,
    /// `-w`: a workspace name or id the user asked for.
    pub workspace: Option<String>,
    pub color: ColorMode,
    pub token_storage: TokenStorage,
    pub http: reqwest::Client,
    pub client: ApiClient,
    /// How to sign in again from inside the console; `None` when the token comes from
    /// `STATESIGHT_TOKEN` or the server needs none.
    pub sign_in: Option<Arc<dyn DeviceSignIn>>,
}

impl Context {
    pub async fn resolve(global: &GlobalArgs) -> anyhow::Result<Context> {
        let config_dir = match &global.config_dir {
            Some(dir) => dir.clone(),
            None => default_config_dir()?,
        };
        let Some(server) = global.server.as_deref() else {
            bail!(
                "no server: pass --server https://statesight.example.com, set \
                 STATESIGHT_SERVER, or add a profile to {}",
                config_dir.join("config.toml").display()
            );
        };
        let server = parse_server(server)?;
        let http = http_client(global.ca_bundle.as_deref())?;
        let token = std::env::var("STATESIGHT_TOKEN")
            .ok()
            .filter(|token| !token.trim().is_empty());
        let credentials: Arc<dyn Credentials> = Arc::new(StaticToken(token));
        Ok(Context {
            client: ApiClient::new(http.clone(), server.clone(), credentials),
            server,
            config_dir,
            workspace: global.workspace.clone(),
            color: global.color,
            token_storage: global.token_storage.unwrap_or(TokenStorage::Keyring),
            http,
            sign_in: None,
        })
    }
}

/// A server URL: http(s), no query or fragment; a trailing slash is added so relative
/// joins keep any path prefix (`https://ops.example.com/statesight/`).
pub fn parse_server(text: &str) -> anyhow::Result<Url> {
    let mut url = Url::parse(text.trim())
        .with_context(|| format!("{text:?} is not a server URL (e.g. https://statesight.example.com)"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("the server URL must start with https:// (or http:// on loopback), got {text:?}");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("the server URL must not have a query or fragment: {text:?}");
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// `$XDG_CONFIG_HOME/statesight`, else `~/.config/statesight`.
pub fn default_config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir).join("statesight"));
    }
    match std::env::var_os("HOME").filter(|home| !home.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".config/statesight")),
        None => bail!("neither XDG_CONFIG_HOME nor HOME is set: pass --config-dir"),
    }
}
