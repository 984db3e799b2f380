//! The command line: global connection options, then the console (no subcommand), sign-in,
//! and the scripting commands. Exit codes are in `docs/console-cli.md`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// StateSight terminal console: investigate drift between Git and your clusters.
///
/// With no command it opens the interactive console. `auth login` signs in with a device
/// code (no local browser needed); `api`, `get` and `blame` are for scripts.
#[derive(Debug, Parser)]
#[command(name = "statesight-tui", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Server URL (else STATESIGHT_SERVER, else the profile's `server`).
    #[arg(long, global = true, env = "STATESIGHT_SERVER")]
    pub server: Option<String>,
    /// Profile of the config file to use (else its `default_profile`).
    #[arg(long, global = true, env = "STATESIGHT_PROFILE")]
    pub profile: Option<String>,
    /// Workspace name or id (else the last one used with this server, else your first).
    #[arg(short = 'w', long, global = true)]
    pub workspace: Option<String>,
    /// Where sign-in tokens are kept: the OS keyring, a 0600 file, or nowhere (memory only).
    #[arg(long, global = true, value_enum, env = "STATESIGHT_TOKEN_STORAGE")]
    pub token_storage: Option<TokenStorage>,
    /// Extra CA certificates (PEM) trusted for the server and the identity provider.
    #[arg(long, global = true, env = "STATESIGHT_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// Colours: `auto` follows the terminal and NO_COLOR.
    #[arg(long, global = true, value_enum, default_value_t = ColorMode::Auto)]
    pub color: ColorMode,
    /// Directory of `config.toml`, `state.json` and the token file (default:
    /// `$XDG_CONFIG_HOME/statesight`, else `~/.config/statesight`).
    #[arg(long, global = true, env = "STATESIGHT_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenStorage {
    /// The OS keyring (Secret Service over D-Bus; on Linux without a session bus, use `file`).
    Keyring,
    /// The Linux kernel keyring (per-session, lost at reboot).
    KernelKeyring,
    /// A file readable only by you (0600) in the config directory.
    File,
    /// Memory only: sign in again in every process (containers, CI).
    None,
}

impl TokenStorage {
    /// `keyring`, `kernel-keyring`, `file` or `none` (as on the command line).
    pub fn from_name(name: &str) -> Option<TokenStorage> {
        <TokenStorage as ValueEnum>::from_str(name.trim(), false).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorMode {
    Auto,
    /// 256 colours.
    #[value(name = "256")]
    Ansi256,
    /// The 16 ANSI colours.
    #[value(name = "16")]
    Ansi16,
    /// No colour: a monochrome theme (also when NO_COLOR is set).
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in, sign out, show the sign-in, print a token.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Same as `auth login`.
    Login(LoginArgs),
    /// Same as `auth logout`.
    Logout,
    /// Call any API route and print the JSON answer.
    Api(ApiArgs),
    /// List applications or incidents, or show one incident.
    Get(GetArgs),
    /// Per open drifted field of one object: Git's value and the commit that set it, the
    /// live value and who set it (from Kubernetes audit events), and the attribution grade.
    Blame(BlameArgs),
    /// Print the console's key bindings: those in effect (the defaults with `keys.toml`
    /// applied), or with `--defaults` the built-in ones.
    Keys(KeysArgs),
}

#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    /// The built-in bindings, ignoring `keys.toml`.
    #[arg(long)]
    pub defaults: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Sign in with a device code: open the shown URL on any device and enter the code.
    Login(LoginArgs),
    /// Forget the tokens stored for this server (and revoke them at the provider).
    Logout,
    /// Who you are on this server, your workspaces, when the token expires, where it is kept.
    Status,
    /// Print a valid access token (refreshing it if needed), for other tools.
    Token,
}

#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Copy the user code to the clipboard (OSC 52: works over SSH and inside tmux).
    #[arg(long)]
    pub clipboard: bool,
    /// Never try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// The route, e.g. `/api/v1/incidents?status=open`.
    pub path: String,
    /// HTTP method (default GET, or POST with --data).
    #[arg(short = 'X', long)]
    pub method: Option<String>,
    /// JSON body, or `@file` (`@-` for standard input).
    #[arg(long, short = 'd')]
    pub data: Option<String>,
    /// Follow `meta.next_cursor` and print every page's items as one JSON array.
    #[arg(long)]
    pub paginate: bool,
}

#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    #[command(subcommand)]
    pub what: GetWhat,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Subcommand)]
pub enum GetWhat {
    Applications,
    Incidents {
        /// Only incidents of this application (name or id).
        #[arg(long)]
        application: Option<String>,
        /// open, resolved or all.
        #[arg(long, default_value = "open")]
        status: String,
    },
    Incident {
        id: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct BlameArgs {
    /// The object, as `[group/]Kind/[namespace/]name` (`apps/Deployment/checkout/checkout-api`;
    /// without a namespace, each application's default namespace).
    pub resource: String,
    /// Only this drift path and what lies beneath it (`spec.template.spec.containers`).
    pub path: Option<String>,
    /// Only this application (name or id); by default every application of the workspace.
    #[arg(long)]
    pub application: Option<String>,
    /// Output format (`wide` adds the user agent, source addresses and the grade's reason).
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
    Table,
    Wide,
}
