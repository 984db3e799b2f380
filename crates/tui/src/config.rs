//! Where the console connects and how: the server (flag, `STATESIGHT_SERVER`, or a profile of
//! the config file), the workspace, colours, token storage and the credentials for requests.
//!
//! The config file is `config.toml` in the config directory (`--config-dir`,
//! `STATESIGHT_CONFIG_DIR`, `$XDG_CONFIG_HOME/statesight`, else `~/.config/statesight`):
//!
//! ```toml
//! default_profile = "prod"
//!
//! [profiles.prod]
//! server = "https://statesight.acme.example"
//! workspace = "acme-payments"
//! token_storage = "keyring"
//! ca_bundle = "/etc/ssl/certs/acme-root.pem"
//! ```

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use reqwest::Url;
use serde::Deserialize;
use statesight_core::wire::{Me, WorkspaceAccess};
use uuid::Uuid;

use crate::auth::session::Session;
use crate::cli::{ColorMode, GlobalArgs, TokenStorage};
use crate::client::{ApiClient, Credentials, DeviceSignIn, StaticToken, http_client};
use crate::exit::UsageError;
use crate::state::{RememberedWorkspace, StateFile};

/// Everything a command needs, resolved once.
#[derive(Clone)]
pub struct Context {
    pub server: Url,
    /// Holds `config.toml`, `state.json`, the refresh locks and, with file storage, the tokens.
    pub config_dir: PathBuf,
    /// `-w` (else the profile's `workspace`): a workspace name or id the user asked for.
    pub workspace: Option<String>,
    pub color: ColorMode,
    pub token_storage: TokenStorage,
    pub http: reqwest::Client,
    pub client: ApiClient,
    /// How to sign in again from inside the console; `None` when the token comes from
    /// `STATESIGHT_TOKEN`.
    pub sign_in: Option<Arc<dyn DeviceSignIn>>,
    /// The profile of `config.toml` in use, if any.
    pub profile: Option<String>,
    /// Extra CA certificates trusted for the server and the identity provider.
    pub ca_bundle: Option<PathBuf>,
    /// The stored sign-in for this server (device flow, refresh, token storage). Present even
    /// when `STATESIGHT_TOKEN` overrides it, for `login` and `logout`.
    pub session: Arc<Session>,
    /// `STATESIGHT_TOKEN` is set: requests use it, never the stored sign-in.
    pub env_token: bool,
}

impl Context {
    pub async fn resolve(global: &GlobalArgs) -> anyhow::Result<Context> {
        let config_dir = match &global.config_dir {
            Some(dir) => dir.clone(),
            None => default_config_dir()?,
        };
        let file = ConfigFile::load(&config_dir)?;
        let (profile_name, profile) = file.select(global.profile.as_deref())?;
        let server = match (
            global.server.as_deref(),
            profile.and_then(|p| p.server.as_deref()),
        ) {
            (Some(server), _) | (None, Some(server)) => parse_server(server)?,
            (None, None) => {
                return Err(UsageError(format!(
                    "no server: pass --server https://statesight.example.com, set \
                     STATESIGHT_SERVER, or add a profile to {}",
                    config_dir.join(CONFIG_FILE).display()
                ))
                .into());
            }
        };
        let token_storage = match (global.token_storage, profile.and_then(|p| p.token_storage)) {
            (Some(storage), _) | (None, Some(storage)) => storage,
            (None, None) => TokenStorage::Keyring,
        };
        let ca_bundle = match (
            &global.ca_bundle,
            profile.and_then(|p| p.ca_bundle.as_deref()),
        ) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(path)) => Some(expand_path(path, &config_dir)),
            (None, None) => None,
        };
        let workspace = global
            .workspace
            .clone()
            .or_else(|| profile.and_then(|p| p.workspace.clone()));
        let http =
            http_client(ca_bundle.as_deref()).map_err(|error| UsageError(format!("{error:#}")))?;
        let session = Arc::new(Session::new(
            server.clone(),
            config_dir.clone(),
            token_storage,
            ca_bundle.as_deref(),
        )?);
        let token = std::env::var("STATESIGHT_TOKEN")
            .ok()
            .map(|token| token.trim().to_owned())
            .filter(|token| !token.is_empty());
        let env_token = token.is_some();
        let (credentials, sign_in): (Arc<dyn Credentials>, Option<Arc<dyn DeviceSignIn>>) =
            match token {
                Some(token) => (Arc::new(StaticToken(Some(token))), None),
                None => (session.clone(), Some(session.clone())),
            };
        Ok(Context {
            client: ApiClient::new(http.clone(), server.clone(), credentials),
            server,
            config_dir,
            workspace,
            color: global.color,
            token_storage,
            http,
            sign_in,
            profile: profile_name,
            ca_bundle,
            session,
            env_token,
        })
    }

    /// The workspace last used with this server (from `state.json`), if any.
    pub fn last_workspace(&self) -> Option<RememberedWorkspace> {
        StateFile::new(&self.config_dir)
            .read()
            .ok()?
            .workspace_for(&self.server)
    }

    /// Remembers `workspace` as the last one used with this server.
    pub fn remember_workspace(&self, workspace: &WorkspaceAccess) -> anyhow::Result<()> {
        self.remember_workspace_id(workspace.id, &workspace.name)
    }

    /// Remembers the workspace `id` (shown as `name`) as the last one used with this server.
    pub fn remember_workspace_id(&self, id: Uuid, name: &str) -> anyhow::Result<()> {
        StateFile::new(&self.config_dir).update(|state| {
            state.remember_workspace(
                &self.server,
                RememberedWorkspace {
                    id,
                    name: name.to_owned(),
                },
            );
        })
    }

    /// Whether to colour what goes to stdout: `--color`, `NO_COLOR`, and whether stdout is a
    /// terminal.
    pub fn color_stdout(&self) -> bool {
        match self.color {
            ColorMode::Never => false,
            ColorMode::Ansi16 | ColorMode::Ansi256 => true,
            ColorMode::Auto => no_color_unset() && std::io::stdout().is_terminal(),
        }
    }
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// The workspace to use: `wanted` (else `-w` / the profile's `workspace`), else the one last
/// used with this server, else the first of `/api/v1/me`. A name or id that is not one of the
/// caller's workspaces is an error listing those. The choice is remembered for next time.
pub async fn resolve_workspace(
    context: &Context,
    wanted: Option<&str>,
) -> anyhow::Result<WorkspaceAccess> {
    let me = context.client.get::<Me>("/api/v1/me", None).await?.data;
    let chosen = choose_workspace(
        &me.workspaces,
        wanted.or(context.workspace.as_deref()),
        context.last_workspace().as_ref(),
        &context.server,
    )?;
    // Remembering is a convenience: a read-only config directory must not fail the command.
    let _ = context.remember_workspace(&chosen);
    Ok(chosen)
}

/// The pure part of [`resolve_workspace`].
pub fn choose_workspace(
    available: &[WorkspaceAccess],
    wanted: Option<&str>,
    remembered: Option<&RememberedWorkspace>,
    server: &Url,
) -> anyhow::Result<WorkspaceAccess> {
    let list = || {
        if available.is_empty() {
            String::from("you belong to no workspace there")
        } else {
            let names: Vec<String> = available
                .iter()
                .map(|w| format!("{} ({}, {})", w.name, w.role, w.id))
                .collect();
            format!("yours: {}", names.join(", "))
        }
    };
    if let Some(wanted) = wanted.map(str::trim) {
        let found = find_workspace(available, wanted, |w| (w.id, w.name.as_str()));
        return match found {
            Some(workspace) => Ok(workspace.clone()),
            None => {
                Err(UsageError(format!("no workspace {wanted:?} on {server}; {}", list())).into())
            }
        };
    }
    if let Some(remembered) = remembered
        && let Some(workspace) = available.iter().find(|w| w.id == remembered.id)
    {
        return Ok(workspace.clone());
    }
    match available.first() {
        Some(first) => Ok(first.clone()),
        None => Err(UsageError(format!(
            "you belong to no workspace on {server}: ask an administrator to add you to one"
        ))
        .into()),
    }
}

/// The workspace `wanted` names among `available`: by id, else by exact name, else by the
/// one name equal ignoring case. Shared by the commands (`-w`) and the console (`-w`,
/// `:ws NAME`), whatever type each lists workspaces as (`key` gives id and name).
pub fn find_workspace<'a, T>(
    available: &'a [T],
    wanted: &str,
    key: impl Fn(&T) -> (Uuid, &str),
) -> Option<&'a T> {
    let by_id = Uuid::parse_str(wanted).ok();
    available
        .iter()
        .find(|w| Some(key(w).0) == by_id)
        .or_else(|| available.iter().find(|w| key(w).1 == wanted))
        .or_else(|| {
            let mut folded = available
                .iter()
                .filter(|w| key(w).1.eq_ignore_ascii_case(wanted));
            match (folded.next(), folded.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        })
}

pub const CONFIG_FILE: &str = "config.toml";

/// `config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub default_profile: Option<toml::Spanned<String>>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    #[serde(skip)]
    path: PathBuf,
    #[serde(skip)]
    text: String,
}

/// One `[profiles.NAME]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub server: Option<String>,
    pub workspace: Option<String>,
    #[serde(default, deserialize_with = "token_storage")]
    pub token_storage: Option<TokenStorage>,
    /// Relative paths are relative to the config directory; `~/` is the home directory.
    pub ca_bundle: Option<String>,
}

fn token_storage<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TokenStorage>, D::Error> {
    let text = String::deserialize(deserializer)?;
    TokenStorage::from_name(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "token_storage must be one of keyring, kernel-keyring, file, none (got {text:?})"
        ))
    })
}

impl ConfigFile {
    /// Reads `config.toml` of `dir`; a missing file is an empty configuration.
    pub fn load(dir: &Path) -> anyhow::Result<ConfigFile> {
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile {
                    path,
                    ..ConfigFile::default()
                });
            }
            Err(error) => {
                return Err(UsageError(format!("reading {}: {error}", path.display())).into());
            }
        };
        Self::parse(&path, text)
    }

    pub fn parse(path: &Path, text: String) -> anyhow::Result<ConfigFile> {
        match toml::from_str::<ConfigFile>(&text) {
            Ok(mut file) => {
                file.path = path.to_path_buf();
                file.text = text;
                Ok(file)
            }
            Err(error) => {
                let at = error
                    .span()
                    .map(|span| {
                        let (line, column) = line_and_column(&text, span.start);
                        format!(", line {line}, column {column}")
                    })
                    .unwrap_or_default();
                Err(UsageError(format!(
                    "{}{at}: {}",
                    path.display(),
                    error.message().trim_end()
                ))
                .into())
            }
        }
    }

    /// The profile to use: `wanted` (`--profile`, `STATESIGHT_PROFILE`), else
    /// `default_profile`, else none.
    pub fn select(
        &self,
        wanted: Option<&str>,
    ) -> anyhow::Result<(Option<String>, Option<&Profile>)> {
        let available = || {
            if self.profiles.is_empty() {
                format!("{} defines no profiles", self.path.display())
            } else {
                let names: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                format!(
                    "the profiles of {} are: {}",
                    self.path.display(),
                    names.join(", ")
                )
            }
        };
        if let Some(wanted) = wanted.filter(|name| !name.is_empty()) {
            return match self.profiles.get(wanted) {
                Some(profile) => Ok((Some(wanted.to_owned()), Some(profile))),
                None => Err(UsageError(format!("no profile {wanted:?}: {}", available())).into()),
            };
        }
        match &self.default_profile {
            None => Ok((None, None)),
            Some(name) => match self.profiles.get(name.get_ref()) {
                Some(profile) => Ok((Some(name.get_ref().clone()), Some(profile))),
                None => {
                    let (line, _) = line_and_column(&self.text, name.span().start);
                    Err(UsageError(format!(
                        "{}, line {line}: default_profile names {:?}, which is not defined; {}",
                        self.path.display(),
                        name.get_ref(),
                        available()
                    ))
                    .into())
                }
            },
        }
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|last| last.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// `~/x` is in the home directory; a relative path is relative to the config directory.
fn expand_path(path: &str, config_dir: &Path) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME").filter(|home| !home.is_empty())
    {
        return PathBuf::from(home).join(rest);
    }
    let path = PathBuf::from(path);
    if path.is_absolute() {
        path
    } else {
        config_dir.join(path)
    }
}

/// A server URL: http(s), no query or fragment; a trailing slash is added so relative
/// joins keep any path prefix (`https://ops.example.com/statesight/`). The result is also the
/// key tokens are stored under (scheme and host lower-cased, default port dropped).
pub fn parse_server(text: &str) -> anyhow::Result<Url> {
    let parsed = Url::parse(text.trim()).map_err(|error| {
        UsageError(format!(
            "{text:?} is not a server URL (e.g. https://statesight.example.com): {error}"
        ))
    });
    let mut url = parsed?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(UsageError(format!(
            "the server URL must start with https:// (or http:// on loopback), got {text:?}"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!(UsageError(format!(
            "the server URL must not have a query or fragment: {text:?}"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!(UsageError(String::from(
            "the server URL must not hold credentials: sign in with `statesight-tui login`"
        )));
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
        None => Err(UsageError(String::from(
            "neither XDG_CONFIG_HOME nor HOME is set: pass --config-dir",
        )))
        .context("finding the config directory"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statesight_core::wire::Role;

    fn parse(text: &str) -> anyhow::Result<ConfigFile> {
        ConfigFile::parse(Path::new("/cfg/config.toml"), text.to_owned())
    }

    #[test]
    fn profiles_and_the_default() {
        let file = parse(
            "default_profile = \"prod\"\n\n[profiles.prod]\nserver = \"https://a.example\"\n\
             workspace = \"acme\"\ntoken_storage = \"kernel-keyring\"\nca_bundle = \"ca.pem\"\n\
             [profiles.dev]\nserver = \"http://127.0.0.1:8080\"\n",
        )
        .expect("valid config");
        let (name, profile) = file.select(None).expect("default profile");
        assert_eq!(name.as_deref(), Some("prod"));
        let profile = profile.expect("profile");
        assert_eq!(profile.server.as_deref(), Some("https://a.example"));
        assert_eq!(profile.token_storage, Some(TokenStorage::KernelKeyring));
        let (name, _) = file.select(Some("dev")).expect("dev profile");
        assert_eq!(name.as_deref(), Some("dev"));
        let error = file.select(Some("qa")).expect_err("unknown profile");
        assert!(error.to_string().contains("dev, prod"), "{error}");
    }

    #[test]
    fn malformed_files_name_file_and_line() {
        let error = parse("[profiles.prod]\nserver = \"https://a\"\nsrever = \"x\"\n")
            .expect_err("unknown key");
        let text = error.to_string();
        assert!(
            text.starts_with("/cfg/config.toml, line 3, column 1:"),
            "{text}"
        );
        let error = parse("[profiles.prod]\nserver = https://a\n").expect_err("bad value");
        assert!(error.to_string().contains("line 2"), "{error}");
        let error = parse("[profiles.prod]\ntoken_storage = \"vault\"\n").expect_err("storage");
        assert!(error.to_string().contains("line 2"), "{error}");
        assert!(
            error.to_string().contains("keyring, kernel-keyring"),
            "{error}"
        );
        let file = parse("\n\ndefault_profile = \"nope\"\n").expect("parses");
        let error = file.select(None).expect_err("undefined default");
        assert!(error.to_string().contains("line 3"), "{error}");
    }

    #[test]
    fn server_urls_are_normalized() {
        let url = parse_server("HTTPS://Ops.Example.com:443/statesight").expect("url");
        assert_eq!(url.as_str(), "https://ops.example.com/statesight/");
        assert!(parse_server("ftp://x").is_err());
        assert!(parse_server("https://user:pw@x").is_err());
    }

    #[test]
    fn workspaces_by_id_name_remembered_or_first() {
        let server = parse_server("https://s.example").expect("url");
        let a = WorkspaceAccess {
            id: Uuid::from_u128(1),
            name: String::from("acme-payments"),
            role: Role::Admin,
        };
        let b = WorkspaceAccess {
            id: Uuid::from_u128(2),
            name: String::from("acme-platform"),
            role: Role::Viewer,
        };
        let all = [a.clone(), b.clone()];
        let by_name = choose_workspace(&all, Some("acme-platform"), None, &server);
        assert_eq!(by_name.expect("by name"), b);
        let by_id = choose_workspace(&all, Some(&b.id.to_string()), None, &server);
        assert_eq!(by_id.expect("by id"), b);
        let remembered = RememberedWorkspace {
            id: b.id,
            name: b.name.clone(),
        };
        let chosen = choose_workspace(&all, None, Some(&remembered), &server);
        assert_eq!(chosen.expect("remembered"), b);
        assert_eq!(
            choose_workspace(&all, None, None, &server).expect("first"),
            a
        );
        let error = choose_workspace(&all, Some("nope"), None, &server).expect_err("unknown");
        assert!(
            error.to_string().contains("acme-payments (admin"),
            "{error}"
        );
        assert!(
            error.to_string().contains("acme-platform (viewer"),
            "{error}"
        );
    }
}
