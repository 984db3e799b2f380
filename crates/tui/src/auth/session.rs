//! A server's sign-in: the stored tokens, refreshed safely across processes, as the
//! [`Credentials`] of the API client and the [`DeviceSignIn`] of the console.
//!
//! Refresh tokens rotate, and the provider revokes the whole grant when a spent one is used
//! again. Two processes refreshing at the same time with the same refresh token would do
//! exactly that, so refreshes are serialized: within a process by a mutex, across processes
//! by an exclusive lock on `<config dir>/refresh-<server hash>.lock`. After taking the lock the
//! stored tokens are read again — another process may have refreshed meanwhile, and then its
//! result is used — and the new refresh token is stored before the new access token is used.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use reqwest::Url;
use statesight_core::wire::PublicAuthConfig;
use tokio::sync::{Mutex, OnceCell};

use crate::auth::oidc::{self, PollEvent, Provider, SignInError, Tokens};
use crate::auth::store::{Location, StoredSession, TokenStore};
use crate::cli::TokenStorage;
use crate::client::{CredentialError, Credentials, DeviceSignIn, PendingSignIn, http_client_with};
use crate::fsutil;

/// How long a process waits for another one's refresh before giving up.
const REFRESH_LOCK_PATIENCE: Duration = Duration::from_secs(60);

/// A device authorization waiting for the user, as the `login` command shows it.
pub struct DeviceStart {
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: Duration,
    pub interval: Duration,
    /// Completes once the user approved and the tokens are stored (where: the location).
    pub completion: BoxFuture<'static, Result<(StoredSession, Location), SignInError>>,
}

#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    server: Url,
    config_dir: PathBuf,
    /// For `GET /api/v1/auth/config` (the server's client: its CA bundle, proxies).
    http: reqwest::Client,
    /// For the provider: the same, following no redirects.
    provider_http: reqwest::Client,
    store: TokenStore,
    /// The tokens this process uses; also serializes refreshes within the process.
    current: Mutex<Current>,
    auth_config: OnceCell<PublicAuthConfig>,
    provider: OnceCell<Provider>,
}

#[derive(Default)]
struct Current {
    loaded: bool,
    session: Option<StoredSession>,
    /// An access token the server refused: never used again, even if it looks valid.
    refused: Option<String>,
}

impl Session {
    pub fn new(
        server: Url,
        config_dir: PathBuf,
        storage: TokenStorage,
        ca_bundle: Option<&Path>,
    ) -> anyhow::Result<Session> {
        let http = http_client_with(ca_bundle, true)?;
        let provider_http = http_client_with(ca_bundle, false)?;
        Ok(Session {
            inner: Arc::new(Inner {
                store: TokenStore::new(&server, &config_dir, storage),
                server,
                config_dir,
                http,
                provider_http,
                current: Mutex::new(Current::default()),
                auth_config: OnceCell::new(),
                provider: OnceCell::new(),
            }),
        })
    }

    pub fn server(&self) -> &Url {
        &self.inner.server
    }

    pub fn store(&self) -> &TokenStore {
        &self.inner.store
    }

    /// The server's `GET /api/v1/auth/config` (once per process).
    pub async fn auth_config(&self) -> Result<PublicAuthConfig, SignInError> {
        self.inner
            .auth_config
            .get_or_try_init(|| oidc::fetch_auth_config(&self.inner.http, &self.inner.server))
            .await
            .cloned()
    }

    /// The provider the server names, discovered (once per process).
    pub async fn provider(&self) -> Result<Provider, SignInError> {
        let config = self.auth_config().await?;
        self.inner
            .provider
            .get_or_try_init(|| {
                Provider::discover(
                    &config,
                    &self.inner.server,
                    self.inner.provider_http.clone(),
                )
            })
            .await
            .cloned()
    }

    /// The stored sign-in, as last read or written by this process.
    pub async fn stored(&self) -> anyhow::Result<Option<StoredSession>> {
        let mut current = self.inner.current.lock().await;
        self.load(&mut current).await?;
        Ok(current.session.clone())
    }

    async fn load(&self, current: &mut Current) -> anyhow::Result<()> {
        if !current.loaded {
            current.session = self.inner.store.load().await?;
            current.loaded = true;
        }
        Ok(())
    }

    /// A usable access token: the stored one, or a refreshed one. `Ok(None)` when this server
    /// needs none.
    pub async fn access_token(&self) -> Result<Option<String>, CredentialError> {
        let mut current = self.inner.current.lock().await;
        self.load(&mut current)
            .await
            .map_err(|error| CredentialError::Unavailable(format!("{error:#}")))?;
        let usable = |session: &StoredSession, refused: &Option<String>| {
            session.is_fresh(Utc::now()) && refused.as_deref() != Some(&session.access_token)
        };
        match &current.session {
            Some(session) if usable(session, &current.refused) => {
                return Ok(Some(session.access_token.clone()));
            }
            Some(_) => {}
            None => {
                let config = self.auth_config().await.map_err(credential_error)?;
                if !config.auth_required {
                    return Ok(None);
                }
                return Err(CredentialError::SignInRequired(format!(
                    "not signed in to {}: run `statesight-tui login`",
                    self.inner.server
                )));
            }
        }
        // Refresh, one process at a time.
        let lock_path = self.refresh_lock_path();
        let _lock = fsutil::lock_async(&lock_path, REFRESH_LOCK_PATIENCE)
            .await
            .map_err(|error| CredentialError::Unavailable(format!("{error:#}")))?;
        let latest = self
            .inner
            .store
            .load()
            .await
            .map_err(|error| CredentialError::Unavailable(format!("{error:#}")))?;
        let Some(latest) = latest else {
            current.session = None;
            return Err(CredentialError::SignInRequired(format!(
                "not signed in to {} (signed out meanwhile): run `statesight-tui login`",
                self.inner.server
            )));
        };
        if usable(&latest, &current.refused) {
            // Another process refreshed (or signed in) meanwhile: use its result.
            let token = latest.access_token.clone();
            current.session = Some(latest);
            return Ok(Some(token));
        }
        let Some(refresh_token) = latest.refresh_token.clone() else {
            return Err(CredentialError::SignInRequired(format!(
                "your sign-in to {} expired and cannot be renewed (the provider gave no refresh \
                 token): run `statesight-tui login`",
                self.inner.server
            )));
        };
        let provider = self.provider().await.map_err(credential_error)?;
        let tokens = provider
            .refresh(&refresh_token, &self.inner.server)
            .await
            .map_err(credential_error)?;
        let renewed = StoredSession {
            access_token: tokens.access_token,
            // A provider that does not rotate keeps the refresh token valid.
            refresh_token: tokens.refresh_token.or(Some(refresh_token)),
            expires_at: tokens.expires_at,
            obtained_at: Utc::now(),
            ..latest
        };
        // Persist the new refresh token before anything uses the new access token: the old
        // one is spent, and another process must find the new one.
        if let Err(error) = self.inner.store.save(&renewed).await {
            let text = format!(
                "warning: the renewed sign-in could not be stored ({error:#}); other \
                 statesight-tui processes will have to sign in again"
            );
            eprintln!("{}", statesight_core::terminal::escape_for_terminal(&text));
        }
        let token = renewed.access_token.clone();
        current.session = Some(renewed);
        Ok(Some(token))
    }

    /// Starts a device authorization; the completion stores the tokens.
    pub async fn start_device(
        &self,
        observe: Arc<dyn Fn(PollEvent) + Send + Sync>,
    ) -> Result<DeviceStart, SignInError> {
        let provider = self.provider().await?;
        let details = provider.start_device().await?;
        let session = self.clone();
        let start = DeviceStart {
            user_code: details.user_code().secret().clone(),
            verification_uri: details.verification_uri().to_string(),
            verification_uri_complete: details
                .verification_uri_complete()
                .map(|uri| uri.secret().clone()),
            expires_in: details.expires_in(),
            interval: details.interval(),
            completion: async move {
                let tokens = provider.poll(&details, observe).await?;
                session.signed_in(&provider, tokens).await
            }
            .boxed(),
        };
        Ok(start)
    }

    /// Stores the tokens of a completed sign-in (under the refresh lock, so that no refresh
    /// of the previous sign-in overwrites them).
    async fn signed_in(
        &self,
        provider: &Provider,
        tokens: Tokens,
    ) -> Result<(StoredSession, Location), SignInError> {
        let session = StoredSession {
            server: self.inner.server.as_str().to_owned(),
            issuer: provider.issuer.clone(),
            client_id: provider.client_id.clone(),
            subject: tokens.subject,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_at,
            obtained_at: Utc::now(),
        };
        let mut current = self.inner.current.lock().await;
        let stored = async {
            let _lock =
                fsutil::lock_async(&self.refresh_lock_path(), REFRESH_LOCK_PATIENCE).await?;
            self.inner.store.save(&session).await
        }
        .await
        .map_err(|error| {
            SignInError::Misconfigured(format!(
                "signed in, but the tokens could not be stored: {error:#}"
            ))
        })?;
        current.session = Some(session.clone());
        current.loaded = true;
        current.refused = None;
        Ok((session, stored))
    }

    /// Forgets the stored tokens (after revoking the refresh token at the provider when it
    /// offers revocation). Returns whether anything was stored, and a warning when the
    /// revocation failed.
    pub async fn sign_out(&self) -> anyhow::Result<(bool, Option<String>)> {
        let mut current = self.inner.current.lock().await;
        let _lock = fsutil::lock_async(&self.refresh_lock_path(), REFRESH_LOCK_PATIENCE).await?;
        let stored = self.inner.store.load().await?;
        let mut warning = None;
        if let Some(refresh_token) = stored.as_ref().and_then(|s| s.refresh_token.clone()) {
            let revoked = match self.provider().await {
                Ok(provider) => provider.revoke(&refresh_token).await.map(|_| ()),
                Err(error) => Err(error),
            };
            if let Err(error) = revoked {
                warning = Some(format!(
                    "the refresh token could not be revoked at the identity provider ({error}); \
                     it was forgotten here anyway"
                ));
            }
        }
        let removed = self.inner.store.delete().await?;
        current.session = None;
        current.loaded = true;
        Ok((stored.is_some() || removed, warning))
    }

    fn refresh_lock_path(&self) -> PathBuf {
        self.inner.config_dir.join(format!(
            "refresh-{}.lock",
            fsutil::short_hash(self.inner.server.as_str())
        ))
    }
}

fn credential_error(error: SignInError) -> CredentialError {
    match error {
        SignInError::Revoked { .. } | SignInError::Denied(_) | SignInError::Expired(_) => {
            CredentialError::SignInRequired(error.to_string())
        }
        SignInError::NotRequired { .. }
        | SignInError::Unreachable { .. }
        | SignInError::Provider(_)
        | SignInError::Misconfigured(_) => CredentialError::Unavailable(error.to_string()),
    }
}

impl Credentials for Session {
    fn bearer(&self) -> BoxFuture<'_, Result<Option<String>, CredentialError>> {
        self.access_token().boxed()
    }

    fn refused(&self, token: &str) -> BoxFuture<'_, ()> {
        let token = token.to_owned();
        async move {
            self.inner.current.lock().await.refused = Some(token);
        }
        .boxed()
    }
}

impl DeviceSignIn for Session {
    fn begin(&self) -> BoxFuture<'_, Result<PendingSignIn, CredentialError>> {
        async move {
            let quiet: Arc<dyn Fn(PollEvent) + Send + Sync> = Arc::new(|_| {});
            let start = self.start_device(quiet).await.map_err(credential_error)?;
            Ok(PendingSignIn {
                user_code: start.user_code,
                verification_uri: start.verification_uri,
                verification_uri_complete: start.verification_uri_complete,
                expires_at: Instant::now() + start.expires_in,
                completion: start
                    .completion
                    .map(|done| done.map(|_| ()).map_err(credential_error))
                    .boxed(),
            })
        }
        .boxed()
    }
}
