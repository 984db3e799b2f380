//! Signed pagination cursors.
//!
//! A cursor is the sort key of the last row of a page, with the name of the list that issued
//! it, as JSON in URL-safe base64, followed by an HMAC-SHA256 tag over it:
//! `<payload>.<tag>`. The server only decodes a payload whose tag verifies (compared in
//! constant time), so a client cannot hand the database a key it forged, and every component
//! is checked again after that (a key that was signed by a server with a bug, or with a
//! leaked secret, still never reaches a query out of range).
//!
//! The secret is `CURSOR_SIGNING_KEY`, shared by every replica so a cursor issued by one is
//! accepted by the others. Without it, demo mode signs with a random key of the process
//! (cursors then stop working when the server restarts), and `AUTH_REQUIRED=true` refuses to
//! start.

use std::fmt;
use std::sync::{Arc, OnceLock};

use anyhow::bail;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Datelike;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use statesight_store::keyset::{ByIncidentOrdinal, ByName, ByOrdinal, ByTimeAsc, ByTimeDesc};

/// The environment variable holding the signing secret.
pub const KEY_ENV: &str = "CURSOR_SIGNING_KEY";
/// The shortest secret accepted, in bytes (64 hexadecimal digits).
pub const MIN_KEY_BYTES: usize = 32;
/// Longer cursors are refused before any work: the server never issues one this long.
const MAX_CURSOR_CHARS: usize = 2048;
/// Domain separation: a tag made for anything else with the same key never verifies here.
const CONTEXT: &[u8] = b"statesight pagination cursor v1\0";

type HmacSha256 = Hmac<Sha256>;

/// Signs and verifies cursors with one secret. Cloning shares the secret.
#[derive(Clone)]
pub struct CursorSigner {
    key: Arc<[u8]>,
}

// The secret never appears in logs or panics.
impl fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorSigner(..)")
    }
}

impl CursorSigner {
    /// A signer with `key`, which must hold at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(key: &[u8]) -> anyhow::Result<Self> {
        if key.len() < MIN_KEY_BYTES {
            bail!(
                "{KEY_ENV} must be at least {MIN_KEY_BYTES} bytes ({} hexadecimal digits); \
                 generate one with `openssl rand -hex 32`",
                MIN_KEY_BYTES * 2
            );
        }
        Ok(CursorSigner { key: key.into() })
    }

    /// A signer from the hexadecimal form of the secret (`openssl rand -hex 32`).
    pub fn from_hex(text: &str) -> anyhow::Result<Self> {
        let Ok(key) = hex::decode(text.trim()) else {
            bail!(
                "{KEY_ENV} must be hexadecimal (at least {} digits); generate one with \
                 `openssl rand -hex 32`",
                MIN_KEY_BYTES * 2
            );
        };
        Self::new(&key)
    }

    /// A signer with a fresh random secret.
    pub fn random() -> Self {
        let mut key = [0u8; MIN_KEY_BYTES];
        // The operating system's generator failing is not something to serve through.
        getrandom::fill(&mut key).expect("the operating system's random number generator");
        CursorSigner { key: key.into() }
    }

    /// The random secret of this process, the same for every router built in it (so tests
    /// and a demo server with several routers accept each other's cursors).
    pub fn process_random() -> Self {
        static PROCESS: OnceLock<CursorSigner> = OnceLock::new();
        PROCESS.get_or_init(CursorSigner::random).clone()
    }

    /// The signer the server runs with: the configured secret; else, in demo mode, the
    /// process's random one with a warning; with `AUTH_REQUIRED=true` a missing secret is an
    /// error that says how to make one.
    pub fn from_config(configured: Option<&str>, auth_required: bool) -> anyhow::Result<Self> {
        match configured.map(str::trim).filter(|text| !text.is_empty()) {
            Some(text) => Self::from_hex(text),
            None if auth_required => bail!(
                "{KEY_ENV} is not set: with AUTH_REQUIRED=true every replica must sign \
                 pagination cursors with the same secret. Generate one once with \
                 `openssl rand -hex 32` and give it to every replica as {KEY_ENV}"
            ),
            None => {
                tracing::warn!(
                    "{KEY_ENV} IS NOT SET: pagination cursors are signed with a random key of \
                     this process, so they stop working when it restarts and other replicas \
                     refuse them; set {KEY_ENV} (`openssl rand -hex 32`) to keep them"
                );
                Ok(Self::process_random())
            }
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length; `new` checked the minimum.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(CONTEXT);
        mac
    }

    /// The cursor for the page after `key` in `list`.
    pub fn sign<K: Serialize>(&self, list: &str, key: &K) -> Option<String> {
        let json = serde_json::to_vec(&CursorBody {
            list: list.to_owned(),
            after: key,
        })
        .ok()?;
        let payload = URL_SAFE_NO_PAD.encode(json);
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Some(format!("{payload}.{tag}"))
    }

    /// The key a cursor of `list` holds, or `None` when it was not signed with this secret,
    /// belongs to another list, or holds a key no page could have ended on.
    pub fn verify<K: PageKey>(&self, list: &str, cursor: &str) -> Option<K> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return None;
        }
        let (payload, tag) = cursor.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let body: CursorBody<K> = serde_json::from_slice(&json).ok()?;
        (body.list == list && body.after.is_sound()).then_some(body.after)
    }
}

#[derive(Serialize, serde::Deserialize)]
struct CursorBody<K> {
    list: String,
    after: K,
}

/// A sort key a page can end on, checked component by component before it reaches a query.
pub trait PageKey: Serialize + DeserializeOwned {
    /// Whether every component is one the database could have produced: strings without
    /// NUL and of bounded length, timestamps PostgreSQL can represent.
    fn is_sound(&self) -> bool;
}

impl PageKey for ByName {
    fn is_sound(&self) -> bool {
        // Names are at most 100 characters (the schema's check); leave room, refuse absurd.
        !self.name.contains('\0') && self.name.chars().count() <= 1000
    }
}

impl PageKey for ByTimeDesc {
    fn is_sound(&self) -> bool {
        // chrono reads years ±262143, PostgreSQL stores 4713 BC to 294276 AD; rows are
        // stamped by now(), so anything outside the common era's four-digit years is forged.
        (1..=9999).contains(&self.at.year())
    }
}

impl PageKey for ByTimeAsc {
    fn is_sound(&self) -> bool {
        (1..=9999).contains(&self.at.year()) && self.ordinal >= 0
    }
}

impl PageKey for ByOrdinal {
    fn is_sound(&self) -> bool {
        self.ordinal >= 0
    }
}

impl PageKey for statesight_store::keyset::BySeqDesc {
    fn is_sound(&self) -> bool {
        // Chain positions start at 1.
        self.seq >= 1
    }
}

impl PageKey for ByIncidentOrdinal {
    fn is_sound(&self) -> bool {
        // Ordinals are never negative (the schema's check).
        self.ordinal >= 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    fn signer() -> CursorSigner {
        CursorSigner::new(&[7u8; 32]).expect("key")
    }

    fn by_name(name: &str) -> ByName {
        ByName {
            name: name.to_owned(),
            id: Uuid::nil(),
        }
    }

    #[test]
    fn a_signed_cursor_round_trips_in_its_own_list_only() {
        let cursor = signer().sign("clusters", &by_name("prod")).expect("cursor");
        assert_eq!(
            signer().verify::<ByName>("clusters", &cursor),
            Some(by_name("prod"))
        );
        assert_eq!(signer().verify::<ByName>("sources", &cursor), None);
    }

    #[test]
    fn a_cursor_of_another_key_or_tampered_is_refused() {
        let cursor = signer().sign("clusters", &by_name("prod")).expect("cursor");
        let other = CursorSigner::new(&[8u8; 32]).expect("key");
        assert_eq!(other.verify::<ByName>("clusters", &cursor), None);
        let (payload, tag) = cursor.split_once('.').expect("two parts");
        let forged = URL_SAFE_NO_PAD.encode(br#"{"list":"clusters","after":{"name":"a","id":"00000000-0000-0000-0000-000000000000"}}"#);
        for bad in [
            format!("{forged}.{tag}"),
            payload.to_owned(),
            format!("{payload}."),
            format!("{payload}.{tag}A"),
            format!("{}.{tag}", &payload[1..]),
        ] {
            assert_eq!(signer().verify::<ByName>("clusters", &bad), None, "{bad}");
        }
    }

    #[test]
    fn signed_keys_out_of_range_are_still_refused() {
        let nul = signer().sign("clusters", &by_name("a\0b")).expect("cursor");
        assert_eq!(signer().verify::<ByName>("clusters", &nul), None);
        let far = ByTimeDesc {
            at: "-262143-01-01T00:00:00Z"
                .parse::<DateTime<Utc>>()
                .expect("chrono reads it"),
            id: Uuid::nil(),
        };
        let cursor = signer().sign("incidents", &far).expect("cursor");
        assert_eq!(signer().verify::<ByTimeDesc>("incidents", &cursor), None);
        let negative = signer()
            .sign(
                "findings",
                &ByOrdinal {
                    ordinal: -1,
                    id: Uuid::nil(),
                },
            )
            .expect("cursor");
        assert_eq!(signer().verify::<ByOrdinal>("findings", &negative), None);
        let across = |ordinal| ByIncidentOrdinal {
            incident_id: Uuid::nil(),
            ordinal,
            id: Uuid::nil(),
        };
        let negative = signer()
            .sign("application_findings", &across(-1))
            .expect("cursor");
        assert_eq!(
            signer().verify::<ByIncidentOrdinal>("application_findings", &negative),
            None
        );
        let sound = signer()
            .sign("application_findings", &across(3))
            .expect("cursor");
        assert_eq!(
            signer().verify::<ByIncidentOrdinal>("application_findings", &sound),
            Some(across(3))
        );
        let timeline = |at: &str, ordinal| ByTimeAsc {
            at: at.parse::<DateTime<Utc>>().expect("chrono reads it"),
            ordinal,
            id: Uuid::nil(),
        };
        for forged in [
            timeline("-262143-01-01T00:00:00Z", 0),
            timeline("2026-11-20T08:30:00Z", -3),
        ] {
            let cursor = signer().sign("timeline", &forged).expect("cursor");
            assert_eq!(signer().verify::<ByTimeAsc>("timeline", &cursor), None);
        }
        let sound = signer()
            .sign("timeline", &timeline("2026-11-20T08:30:00Z", 2))
            .expect("cursor");
        assert!(signer().verify::<ByTimeAsc>("timeline", &sound).is_some());
    }

    #[test]
    fn configuration_requires_a_long_hex_key_and_a_key_with_authentication() {
        assert!(CursorSigner::from_config(Some(&"ab".repeat(32)), true).is_ok());
        for bad in ["ab".repeat(31), "zz".repeat(32), String::from("secret")] {
            let error = CursorSigner::from_config(Some(&bad), false).expect_err("refused");
            assert!(
                error.to_string().contains("openssl rand -hex 32"),
                "{error}"
            );
        }
        let error = CursorSigner::from_config(None, true).expect_err("required");
        assert!(
            error.to_string().contains("openssl rand -hex 32"),
            "{error}"
        );
        assert!(CursorSigner::from_config(None, false).is_ok());
    }
}
