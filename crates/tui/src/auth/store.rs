//! Where sign-in tokens are kept, per server (the key is the normalized server URL):
//!
//! - `keyring`: the Secret Service (GNOME Keyring, KWallet…) over the D-Bus session bus,
//!   through keyring-core. Used only when `DBUS_SESSION_BUS_ADDRESS` is set; when it is
//!   missing, or the keyring does not answer within 3 s, or fails, the tokens go to the file
//!   below instead, and the first time this happens for a config directory a notice says so.
//! - `kernel-keyring`: the Linux kernel keyring (keyutils), only when asked; same fallback.
//! - `file`: `<config dir>/tokens.json`, mode 0600 in a 0700 directory, written atomically.
//! - `none`: memory only, gone when the process exits.
//!
//! Every keyring call runs on a blocking thread with a 3-second timeout, so a keyring that
//! hangs (a locked collection waiting for a password prompt nobody sees) never hangs a
//! command.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use keyring_core::{CredentialStore, Entry};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::cli::TokenStorage;
use crate::fsutil;
use crate::state::StateFile;

pub const TOKEN_FILE: &str = "tokens.json";
/// The keyring service name entries are stored under (the user name is the server URL).
pub const KEYRING_SERVICE: &str = "statesight-tui";
/// The longest a keyring call may take before the file is used instead.
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(3);

/// One server's sign-in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    /// The normalized server URL these tokens are for.
    pub server: String,
    pub issuer: String,
    pub client_id: String,
    /// The user's subject at the issuer (from the verified ID token), when known.
    #[serde(default)]
    pub subject: Option<String>,
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// When the access token expires; `None` when the provider did not say.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the access token was obtained.
    pub obtained_at: DateTime<Utc>,
}

impl fmt::Debug for StoredSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSession")
            .field("server", &self.server)
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("access_token", &"…")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "…"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The longest a token may have left and still be refreshed: 60 s, or half its lifetime
/// for tokens that live less than two minutes (else a fresh token would count as expiring).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

impl StoredSession {
    /// Whether the access token can be used as it is for a while yet.
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        let Some(expires_at) = self.expires_at else {
            return true;
        };
        let lifetime = expires_at - self.obtained_at;
        let margin = chrono::Duration::from_std(REFRESH_MARGIN)
            .unwrap_or_default()
            .min(lifetime / 2);
        expires_at - now > margin
    }
}

/// Where tokens are (or would be) kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    SecretService,
    KernelKeyring,
    File(PathBuf),
    Memory,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::SecretService => f.write_str("the system keyring (Secret Service)"),
            Location::KernelKeyring => f.write_str("the Linux kernel keyring"),
            Location::File(path) => {
                write!(f, "{} (plain text, readable only by you)", path.display())
            }
            Location::Memory => f.write_str("memory only (nothing is stored)"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keyring {
    SecretService,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Kernel,
}

impl Keyring {
    fn location(self) -> Location {
        match self {
            Keyring::SecretService => Location::SecretService,
            Keyring::Kernel => Location::KernelKeyring,
        }
    }
}

/// The token store of one server.
pub struct TokenStore {
    server: String,
    config_dir: PathBuf,
    /// The keyring asked for, if any.
    keyring: Option<Keyring>,
    /// `none`.
    memory_only: bool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The keyring's store once connected; `Some(Err)` once it proved unusable in this
    /// process (the file is used from then on).
    connection: Option<Result<Arc<CredentialStore>, String>>,
    /// With `none`: the session of this process.
    memory: Option<StoredSession>,
    /// Where the session was last found or put by this process.
    source: Option<Location>,
}

impl TokenStore {
    pub fn new(server: &Url, config_dir: &Path, storage: TokenStorage) -> TokenStore {
        let keyring = match storage {
            TokenStorage::Keyring => Some(Keyring::SecretService),
            TokenStorage::KernelKeyring => Some(Keyring::Kernel),
            TokenStorage::File | TokenStorage::None => None,
        };
        TokenStore {
            server: server.as_str().to_owned(),
            config_dir: config_dir.to_path_buf(),
            keyring,
            memory_only: storage == TokenStorage::None,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn token_file(&self) -> PathBuf {
        self.config_dir.join(TOKEN_FILE)
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The keyring's store, connecting on first use (in a blocking thread, with a timeout).
    /// `Err` says why it cannot be used; it is remembered for the rest of the process.
    async fn keyring(&self) -> Option<Result<Arc<CredentialStore>, String>> {
        let kind = self.keyring?;
        if let Some(known) = self.inner().connection.clone() {
            return Some(known);
        }
        let connected = connect(kind).await;
        self.inner().connection = Some(connected.clone());
        Some(connected)
    }

    fn keyring_failed(&self, reason: String) {
        self.inner().connection = Some(Err(reason));
    }

    /// Where tokens go now: the keyring asked for unless it proved unusable in this process.
    pub async fn location(&self) -> Location {
        if self.memory_only {
            return Location::Memory;
        }
        match (self.keyring, self.keyring().await) {
            (Some(kind), Some(Ok(_))) => kind.location(),
            _ => Location::File(self.token_file()),
        }
    }

    /// Where this server's tokens are: where this process last found or put them, else
    /// where they would go.
    pub async fn current_location(&self) -> Location {
        if let Some(source) = self.inner().source.clone() {
            return source;
        }
        self.location().await
    }

    fn found(&self, location: Location) {
        self.inner().source = Some(location);
    }

    /// The stored session, if any: from the keyring (when asked for and usable), else from
    /// the file.
    pub async fn load(&self) -> anyhow::Result<Option<StoredSession>> {
        let (session, location) = self.load_from().await?;
        if session.is_some() {
            self.found(location);
        }
        Ok(session)
    }

    async fn load_from(&self) -> anyhow::Result<(Option<StoredSession>, Location)> {
        if self.memory_only {
            return Ok((self.inner().memory.clone(), Location::Memory));
        }
        if let (Some(kind), Some(Ok(store))) = (self.keyring, self.keyring().await) {
            let server = self.server.clone();
            match keyring_call(move || {
                let entry = Entry::new_in_store(&store, KEYRING_SERVICE, &server)?;
                match entry.get_password() {
                    Ok(secret) => Ok(Some(secret)),
                    Err(keyring_core::Error::NoEntry) => Ok(None),
                    Err(error) => Err(error),
                }
            })
            .await
            {
                Ok(Some(secret)) => {
                    // Unreadable (another version wrote it): as if signed out.
                    let session = serde_json::from_str::<StoredSession>(&secret).ok();
                    return Ok((session, kind.location()));
                }
                // Nothing in the keyring: tokens may be in the file from a time the keyring
                // was unavailable.
                Ok(None) => {}
                Err(reason) => self.keyring_failed(reason),
            }
        }
        Ok((self.load_file().await?, Location::File(self.token_file())))
    }

    /// Stores `session`, replacing what was stored for this server. Returns where it went.
    pub async fn save(&self, session: &StoredSession) -> anyhow::Result<Location> {
        let location = self.save_somewhere(session).await?;
        self.found(location.clone());
        Ok(location)
    }

    async fn save_somewhere(&self, session: &StoredSession) -> anyhow::Result<Location> {
        if self.memory_only {
            self.inner().memory = Some(session.clone());
            return Ok(Location::Memory);
        }
        let secret = serde_json::to_string(session)?;
        if let (Some(kind), Some(Ok(store))) = (self.keyring, self.keyring().await) {
            let server = self.server.clone();
            let label = format!("StateSight sign-in for {}", self.server);
            let stored = keyring_call(move || {
                let modifiers = std::collections::HashMap::from([("label", label.as_str())]);
                let entry = match kind {
                    Keyring::SecretService => Entry::new_in_store_with_modifiers(
                        &store,
                        KEYRING_SERVICE,
                        &server,
                        &modifiers,
                    )?,
                    Keyring::Kernel => Entry::new_in_store(&store, KEYRING_SERVICE, &server)?,
                };
                entry.set_password(&secret)
            })
            .await;
            match stored {
                Ok(()) => {
                    // A copy left in the file from a time the keyring was unavailable would
                    // be stale from now on.
                    self.remove_from_file().await?;
                    return Ok(kind.location());
                }
                Err(reason) => self.keyring_failed(reason),
            }
        }
        self.save_file(session).await?;
        if self.keyring.is_some() {
            self.fallback_notice();
        }
        Ok(Location::File(self.token_file()))
    }

    /// Forgets this server's tokens everywhere they may be (keyring and file). Returns
    /// whether anything was removed.
    pub async fn delete(&self) -> anyhow::Result<bool> {
        self.inner().source = None;
        if self.memory_only {
            return Ok(self.inner().memory.take().is_some());
        }
        let mut removed = false;
        if let Some(Ok(store)) = self.keyring().await {
            let server = self.server.clone();
            match keyring_call(move || {
                let entry = Entry::new_in_store(&store, KEYRING_SERVICE, &server)?;
                match entry.delete_credential() {
                    Ok(()) => Ok(true),
                    Err(keyring_core::Error::NoEntry) => Ok(false),
                    Err(error) => Err(error),
                }
            })
            .await
            {
                Ok(deleted) => removed |= deleted,
                Err(reason) => self.keyring_failed(reason),
            }
        }
        removed |= self.remove_from_file().await?;
        Ok(removed)
    }

    /// Why the keyring asked for is not used in this process, if it is not.
    pub async fn keyring_problem(&self) -> Option<String> {
        match self.keyring().await {
            Some(Err(reason)) => Some(reason),
            _ => None,
        }
    }

    /// Once per config directory (remembered in `state.json`): tokens went to the plain-text
    /// file because the keyring is unusable.
    fn fallback_notice(&self) {
        let reason = match &self.inner().connection {
            Some(Err(reason)) => reason.clone(),
            _ => String::from("it did not answer"),
        };
        let keyring = match self.keyring {
            Some(Keyring::Kernel) => "the Linux kernel keyring",
            _ => "the system keyring",
        };
        let first = StateFile::new(&self.config_dir)
            .update(|state| !std::mem::replace(&mut state.plaintext_token_notice_shown, true))
            .unwrap_or(true);
        if first {
            let text = format!(
                "note: {keyring} is not available ({reason}), so sign-in tokens are \
                 stored in plain text in {} (readable only by you). To choose otherwise, pass \
                 --token-storage keyring|kernel-keyring|file|none, set STATESIGHT_TOKEN_STORAGE, \
                 or set token_storage in a profile of {}. This note is shown once.",
                self.token_file().display(),
                self.config_dir.join(crate::config::CONFIG_FILE).display()
            );
            eprintln!("{}", statesight_core::terminal::escape_for_terminal(&text));
        }
    }

    async fn load_file(&self) -> anyhow::Result<Option<StoredSession>> {
        let path = self.token_file();
        let server = self.server.clone();
        blocking(move || Ok(read_token_file(&path)?.sessions.remove(&server))).await
    }

    async fn save_file(&self, session: &StoredSession) -> anyhow::Result<()> {
        let path = self.token_file();
        let session = session.clone();
        blocking(move || {
            update_token_file(&path, |file| {
                file.sessions.insert(session.server.clone(), session);
                true
            })
            .map(|_| ())
        })
        .await
    }

    async fn remove_from_file(&self) -> anyhow::Result<bool> {
        let path = self.token_file();
        if !path.exists() {
            return Ok(false);
        }
        let server = self.server.clone();
        blocking(move || update_token_file(&path, |file| file.sessions.remove(&server).is_some()))
            .await
    }
}

/// `tokens.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    #[serde(default)]
    sessions: BTreeMap<String, StoredSession>,
}

fn read_token_file(path: &Path) -> anyhow::Result<TokenFile> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a token file: delete it and sign in again",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Read-modify-write of the token file under its lock; writes only when `change` says it
/// changed something, and removes the file once it holds no session.
fn update_token_file(
    path: &Path,
    change: impl FnOnce(&mut TokenFile) -> bool,
) -> anyhow::Result<bool> {
    let lock = path.with_extension("json.lock");
    let _held = fsutil::lock_blocking(&lock)?;
    let mut file = read_token_file(path)?;
    if !change(&mut file) {
        return Ok(false);
    }
    if file.sessions.is_empty() {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("removing {}", path.display()));
            }
        }
    } else {
        fsutil::write_private_atomic(path, &serde_json::to_vec_pretty(&file)?)?;
    }
    Ok(true)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| anyhow::anyhow!("a file operation failed: {error}"))?
}

/// Runs one keyring call on a blocking thread, giving up after [`KEYRING_TIMEOUT`]. The error
/// says why, for the fallback notice.
async fn keyring_call<T: Send + 'static>(
    call: impl FnOnce() -> keyring_core::Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::time::timeout(KEYRING_TIMEOUT, tokio::task::spawn_blocking(call)).await {
        Err(_) => Err(format!(
            "it did not answer within {} s",
            KEYRING_TIMEOUT.as_secs()
        )),
        Ok(Err(error)) => Err(format!("it failed: {error}")),
        Ok(Ok(Err(error))) => Err(format!("it failed: {}", keyring_error(&error))),
        Ok(Ok(Ok(value))) => Ok(value),
    }
}

fn keyring_error(error: &keyring_core::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn connect(kind: Keyring) -> Result<Arc<CredentialStore>, String> {
    match kind {
        Keyring::SecretService => {
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none_or(|bus| bus.is_empty()) {
                return Err(String::from(
                    "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set",
                ));
            }
            connect_secret_service().await
        }
        Keyring::Kernel => connect_kernel().await,
    }
}

#[cfg(target_os = "linux")]
async fn connect_secret_service() -> Result<Arc<CredentialStore>, String> {
    keyring_call(|| {
        zbus_secret_service_keyring_store::Store::new()
            .map(|store| -> Arc<CredentialStore> { store })
    })
    .await
}

#[cfg(not(target_os = "linux"))]
async fn connect_secret_service() -> Result<Arc<CredentialStore>, String> {
    Err(String::from(
        "this build has no keyring support for this system",
    ))
}

#[cfg(target_os = "linux")]
async fn connect_kernel() -> Result<Arc<CredentialStore>, String> {
    keyring_call(|| {
        linux_keyutils_keyring_store::Store::new().map(|store| -> Arc<CredentialStore> { store })
    })
    .await
}

#[cfg(not(target_os = "linux"))]
async fn connect_kernel() -> Result<Arc<CredentialStore>, String> {
    Err(String::from("the kernel keyring exists only on Linux"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(obtained: i64, expires: i64) -> StoredSession {
        let at = |seconds| DateTime::<Utc>::from_timestamp(seconds, 0).expect("time");
        StoredSession {
            server: String::from("https://s/"),
            issuer: String::from("https://i"),
            client_id: String::from("c"),
            subject: None,
            access_token: String::from("a"),
            refresh_token: Some(String::from("r")),
            expires_at: Some(at(expires)),
            obtained_at: at(obtained),
        }
    }

    #[test]
    fn refresh_a_minute_before_expiry_or_at_half_life() {
        let at = |seconds| DateTime::<Utc>::from_timestamp(seconds, 0).expect("time");
        // A 5-minute token: fresh until 60 s before it expires.
        let long = session(0, 300);
        assert!(long.is_fresh(at(239)));
        assert!(!long.is_fresh(at(240)));
        // A 4-second token: fresh for its first half.
        let short = session(0, 4);
        assert!(short.is_fresh(at(1)));
        assert!(!short.is_fresh(at(2)));
    }

    #[test]
    fn debug_hides_tokens() {
        let text = format!("{:?}", session(0, 1));
        assert!(!text.contains("\"a\"") && !text.contains("\"r\""), "{text}");
    }
}
