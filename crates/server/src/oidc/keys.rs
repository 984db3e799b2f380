//! The provider's signing keys (JWKS), cached. A token naming a key the cache does not hold
//! triggers one refresh — concurrent requests share it, and refreshes are at least
//! `min_refresh` apart, so a flood of made-up key ids costs the provider one request per
//! interval, not one per token. Keys older than `max_age` are re-read in the background so a
//! withdrawn key stops verifying.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use serde::Deserialize;

use super::KEY_FETCHES;
use super::http::{FetchError, get_json};

/// One usable verification key from the key set.
#[derive(Clone)]
pub struct VerificationKey {
    pub key: DecodingKey,
    /// The `alg` the provider pinned the key to, when it did.
    pub algorithm: Option<Algorithm>,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct KeySet {
    by_kid: BTreeMap<String, VerificationKey>,
    /// Keys published without a `kid` (allowed by RFC 7517); tried when a token has none.
    without_kid: Vec<VerificationKey>,
    fetched_at: Option<Instant>,
    /// Bumped on every successful fetch, so a waiting request can tell that someone else
    /// refreshed while it waited.
    generation: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("reading the issuer's signing keys from {url} failed: {source}")]
pub struct KeyFetchError {
    url: String,
    #[source]
    source: FetchError,
}

/// What looking a key up can end in.
pub enum Lookup {
    Found(Vec<VerificationKey>),
    /// Not in the key set, even after a refresh (or refreshing was not allowed yet).
    Unknown,
    /// The key was not cached and the refresh failed.
    Unavailable(KeyFetchError),
}

#[derive(Debug)]
pub struct KeyCache {
    client: reqwest::Client,
    url: Url,
    keys: RwLock<Arc<KeySet>>,
    /// Serializes refreshes; holds when the last one was attempted.
    refresh: tokio::sync::Mutex<Option<Instant>>,
    min_refresh: Duration,
    max_age: Duration,
    fetches: AtomicU64,
    background_refresh_running: Arc<AtomicBool>,
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

impl KeyCache {
    /// Fetches the key set once; a failure is returned (startup refuses to go on).
    pub async fn load(
        client: reqwest::Client,
        url: Url,
        min_refresh: Duration,
        max_age: Duration,
    ) -> Result<Self, KeyFetchError> {
        let cache = KeyCache {
            client,
            url,
            keys: RwLock::new(Arc::new(KeySet::default())),
            refresh: tokio::sync::Mutex::new(None),
            min_refresh,
            max_age,
            fetches: AtomicU64::new(0),
            background_refresh_running: Arc::new(AtomicBool::new(false)),
        };
        let set = cache.fetch(0).await?;
        *cache.refresh.lock().await = Some(Instant::now());
        cache.store(set);
        Ok(cache)
    }

    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The keys that may have signed a token with this `kid` (or none).
    pub async fn lookup(self: &Arc<Self>, kid: Option<&str>) -> Lookup {
        let current = self.current();
        if let Some(found) = select(&current, kid) {
            self.refresh_in_background_if_old(&current);
            return Lookup::Found(found);
        }
        let mut last_attempt = self.refresh.lock().await;
        // Someone refreshed while this request waited for the lock: use their result.
        let latest = self.current();
        if latest.generation != current.generation {
            return select(&latest, kid).map_or(Lookup::Unknown, Lookup::Found);
        }
        if last_attempt.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return Lookup::Unknown;
        }
        *last_attempt = Some(Instant::now());
        match self.fetch(latest.generation + 1).await {
            Ok(set) => {
                let found = select(&set, kid);
                self.store(set);
                found.map_or(Lookup::Unknown, Lookup::Found)
            }
            Err(error) => Lookup::Unavailable(error),
        }
    }

    fn current(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn store(&self, set: KeySet) {
        let set = Arc::new(set);
        match self.keys.write() {
            Ok(mut keys) => *keys = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    fn refresh_in_background_if_old(self: &Arc<Self>, current: &KeySet) {
        let old = current
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.max_age);
        if !old || self.background_refresh_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            let mut last_attempt = cache.refresh.lock().await;
            if cache
                .current()
                .fetched_at
                .is_none_or(|at| at.elapsed() >= cache.max_age)
            {
                *last_attempt = Some(Instant::now());
                let generation = cache.current().generation + 1;
                match cache.fetch(generation).await {
                    Ok(set) => cache.store(set),
                    // Keep verifying with the keys we have; the next old-key lookup retries.
                    Err(error) => tracing::warn!(%error, "refreshing the issuer's keys failed"),
                }
            }
            drop(last_attempt);
            cache
                .background_refresh_running
                .store(false, Ordering::Release);
        });
    }

    async fn fetch(&self, generation: u64) -> Result<KeySet, KeyFetchError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let raw: Result<RawKeySet, FetchError> = get_json(&self.client, &self.url).await;
        let outcome = if raw.is_ok() { "ok" } else { "error" };
        metrics::counter!(KEY_FETCHES, "outcome" => outcome).increment(1);
        let raw = raw.map_err(|source| KeyFetchError {
            url: self.url.to_string(),
            source,
        })?;
        let mut set = KeySet {
            fetched_at: Some(Instant::now()),
            generation,
            ..KeySet::default()
        };
        for value in raw.keys {
            match usable_key(value) {
                Ok((Some(kid), key)) => {
                    set.by_kid.insert(kid, key);
                }
                Ok((None, key)) => set.without_kid.push(key),
                Err(reason) => tracing::debug!(reason, "skipping a key of the issuer's key set"),
            }
        }
        tracing::info!(
            keys = set.by_kid.len() + set.without_kid.len(),
            url = %self.url,
            "read the issuer's signing keys"
        );
        Ok(set)
    }
}

fn select(set: &KeySet, kid: Option<&str>) -> Option<Vec<VerificationKey>> {
    match kid {
        Some(kid) => set.by_kid.get(kid).map(|key| vec![key.clone()]),
        None if !set.without_kid.is_empty() => Some(set.without_kid.clone()),
        // A token without `kid` from a provider that names every key: any key may fit.
        None if !set.by_kid.is_empty() => Some(set.by_kid.values().cloned().collect()),
        None => None,
    }
}

/// A signature-verification key from one JWK, or why it is skipped. Symmetric (`oct`) keys
/// are never used: a key set is public, and an HMAC "key" from it would let anyone sign.
fn usable_key(value: serde_json::Value) -> Result<(Option<String>, VerificationKey), String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|error| error.to_string())?;
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return Err(String::from("symmetric key"));
    }
    if let Some(usage) = &jwk.common.public_key_use
        && *usage != PublicKeyUse::Signature
    {
        return Err(String::from("not a signature key"));
    }
    let algorithm = match jwk.common.key_algorithm {
        None => None,
        Some(algorithm) => Some(signature_algorithm(algorithm).ok_or("not a signature algorithm")?),
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|error| error.to_string())?;
    Ok((jwk.common.key_id, VerificationKey { key, algorithm }))
}

fn signature_algorithm(algorithm: KeyAlgorithm) -> Option<Algorithm> {
    Some(match algorithm {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}
