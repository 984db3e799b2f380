//! Secrets: values of a Secret's `data` and `stringData` (and its last-applied annotation,
//! which repeats them) are never stored, logged or shown. They are compared as decoded bytes
//! and replaced by digests in every finding: `hmac-sha256:<key-id>:<hex>` under a deployment
//! key (a [`SecretDigester`] the caller passes in), or `sha256:<hex>` when there is none (the
//! offline `diff` without a key). An unkeyed digest of a short password is found by hashing a
//! dictionary; a keyed one is not without the key.
//!
//! Both sides of one analysis are digested with the same digester, so comparisons never depend
//! on the key. Incident fingerprints and timeline events carry no values, so a key rotation
//! changes how evidence reads (a new key id) but never opens or resolves an incident.

use std::fmt;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The shortest key accepted, in bytes (the HMAC-SHA256 output size: a shorter key would be
/// the weakest link).
pub const MIN_KEY_BYTES: usize = 32;

/// The longest key id accepted.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Why a digest key was refused. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretKeyError {
    #[error("the key is empty")]
    Empty,
    #[error("the key has no key id: expected <key-id>:<hex>")]
    MissingId,
    #[error(
        "the key id must be 1 to {MAX_KEY_ID_LEN} characters of a-z, 0-9 and '-' (got {len} characters)"
    )]
    BadId { len: usize },
    #[error("the key material is not hexadecimal")]
    NotHex,
    #[error("the key material is {bytes} bytes; at least {MIN_KEY_BYTES} are needed")]
    TooShort { bytes: usize },
}

/// Turns Secret values into digests: keyed (HMAC-SHA256 under a deployment key) or, without a
/// key, plain SHA-256. `Debug` never shows the key.
#[derive(Clone, Default)]
pub struct SecretDigester {
    key: Option<DigestKey>,
}

#[derive(Clone)]
struct DigestKey {
    id: String,
    /// The key padded to the SHA-256 block and XORed with the HMAC pads, computed once.
    inner_pad: [u8; BLOCK],
    outer_pad: [u8; BLOCK],
}

const BLOCK: usize = 64;

impl DigestKey {
    /// The HMAC pads of `key` (RFC 2104: a key longer than the block is hashed first).
    fn new(id: &str, key: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut inner_pad = [0x36u8; BLOCK];
        let mut outer_pad = [0x5cu8; BLOCK];
        for (i, byte) in block.iter().enumerate() {
            inner_pad[i] ^= byte;
            outer_pad[i] ^= byte;
        }
        DigestKey {
            id: id.to_owned(),
            inner_pad,
            outer_pad,
        }
    }
}

impl fmt::Debug for SecretDigester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(
                f,
                "SecretDigester(hmac-sha256, key id {:?}, key ***)",
                key.id
            ),
            None => f.write_str("SecretDigester(sha256, unkeyed)"),
        }
    }
}

impl SecretDigester {
    /// Plain `sha256:<hex>` digests: only where no key is available (the offline `diff`).
    pub fn unkeyed() -> Self {
        SecretDigester { key: None }
    }

    /// HMAC-SHA256 digests under `key`, labelled with `key_id`.
    pub fn keyed(key_id: &str, key: &[u8]) -> Result<Self, SecretKeyError> {
        if key_id.is_empty()
            || key_id.len() > MAX_KEY_ID_LEN
            || !key_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(SecretKeyError::BadId {
                len: key_id.chars().count(),
            });
        }
        if key.len() < MIN_KEY_BYTES {
            return Err(SecretKeyError::TooShort { bytes: key.len() });
        }
        Ok(SecretDigester {
            key: Some(DigestKey::new(key_id, key)),
        })
    }

    /// Parses `<key-id>:<hex>` (surrounding whitespace, such as a file's final newline, is
    /// ignored).
    pub fn parse(text: &str) -> Result<Self, SecretKeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SecretKeyError::Empty);
        }
        let (id, material) = text.split_once(':').ok_or(SecretKeyError::MissingId)?;
        let key = hex::decode(material.trim()).map_err(|_| SecretKeyError::NotHex)?;
        Self::keyed(id.trim(), &key)
    }

    /// The digest scheme: `hmac-sha256` or `sha256`.
    pub fn scheme(&self) -> &'static str {
        match self.key {
            Some(_) => "hmac-sha256",
            None => "sha256",
        }
    }

    /// The id of the key, when keyed.
    pub fn key_id(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.id.as_str())
    }

    /// The digest of some bytes: `hmac-sha256:<key-id>:<hex>` or `sha256:<hex>`.
    pub fn digest(&self, bytes: &[u8]) -> String {
        match &self.key {
            Some(key) => format!(
                "hmac-sha256:{}:{}",
                key.id,
                hex::encode(hmac_sha256(key, bytes))
            ),
            None => format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        }
    }

    /// Replaces every scalar inside `value` by its digest (`data` values digested as decoded
    /// bytes when `is_data`).
    pub fn redact(&self, value: &Value, is_data: bool) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.redact(v, is_data)))
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.redact(v, is_data)).collect())
            }
            Value::Null => Value::Null,
            scalar if is_data => Value::String(self.digest(&data_bytes(scalar))),
            scalar => Value::String(self.digest(&string_data_bytes(scalar))),
        }
    }

    /// A whole Secret object with `data`, `stringData` and the last-applied annotation
    /// digested.
    pub fn redact_object(&self, object: &Value) -> Value {
        let mut copy = object.clone();
        if let Value::Object(map) = &mut copy {
            for (field, is_data) in [("data", true), ("binaryData", true), ("stringData", false)] {
                if let Some(v) = map.get_mut(field) {
                    *v = self.redact(v, is_data);
                }
            }
            if let Some(Value::Object(annotations)) = map
                .get_mut("metadata")
                .and_then(|m| m.get_mut("annotations"))
                && let Some(v) = annotations.get_mut(crate::diff::LAST_APPLIED)
            {
                *v = self.redact(v, false);
            }
        }
        copy
    }
}

/// HMAC-SHA256 (RFC 2104) with the pads precomputed; checked against RFC 4231's vectors.
fn hmac_sha256(key: &DigestKey, message: &[u8]) -> [u8; 32] {
    let inner = Sha256::new()
        .chain_update(key.inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(key.outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// The key id of a keyed digest (`hmac-sha256:<key-id>:<hex>`); `None` for unkeyed digests and
/// any other text. Lets a reader tell "digested under another key" from "a different value".
pub fn digest_key_id(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("hmac-sha256:")?;
    let (id, hex) = rest.split_once(':')?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Whether an object of this group/kind is a core Secret.
pub fn is_secret(group: &str, kind: &str) -> bool {
    group.is_empty() && kind == "Secret"
}

/// The bytes a `data` value stands for (base64-decoded; the text itself when it is not valid
/// base64, so a malformed value still compares and digests deterministically).
pub fn data_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .unwrap_or_else(|_| s.as_bytes().to_vec()),
        other => other.to_string().into_bytes(),
    }
}

/// The bytes a `stringData` value stands for.
pub fn string_data_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY_A: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY_B: &str = "k2:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn keyed(text: &str) -> SecretDigester {
        SecretDigester::parse(text).expect("test key parses")
    }

    #[test]
    fn digests_never_show_the_value() {
        let secret = json!({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "hunter2"},
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}}});
        for digester in [SecretDigester::unkeyed(), keyed(KEY_A)] {
            let text = digester.redact_object(&secret).to_string();
            assert!(
                !text.contains("hunter2") && !text.contains("aHVudGVyMg"),
                "{text}"
            );
            // `data` is digested as decoded bytes, so it equals the digest of the same stringData.
            assert_eq!(
                digester.redact(&json!("aHVudGVyMg=="), true),
                digester.redact(&json!("hunter2"), false)
            );
        }
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, message, want) in cases {
            assert_eq!(
                hex::encode(hmac_sha256(&DigestKey::new("t", key), message)),
                want
            );
        }
    }

    #[test]
    fn same_value_digests_equal_under_one_key_and_differ_across_keys() {
        let (a, b) = (keyed(KEY_A), keyed(KEY_B));
        assert_eq!(a.digest(b"hunter2"), keyed(KEY_A).digest(b"hunter2"));
        assert_ne!(a.digest(b"hunter2"), a.digest(b"hunter3"));
        let (da, db) = (a.digest(b"hunter2"), b.digest(b"hunter2"));
        assert_ne!(da, db);
        assert!(da.starts_with("hmac-sha256:k1:"), "{da}");
        assert!(db.starts_with("hmac-sha256:k2:"), "{db}");
        assert_eq!(digest_key_id(&da), Some("k1"));
        assert_eq!(digest_key_id(&db), Some("k2"));
        assert_eq!(digest_key_id(&SecretDigester::unkeyed().digest(b"x")), None);
        // Same material under another key id still differs in text: the id is part of it.
        let other_material =
            keyed("k1:ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        assert_ne!(
            a.digest(b"hunter2"),
            other_material.digest(b"hunter2"),
            "a different key gives a different digest"
        );
        assert_eq!(
            SecretDigester::unkeyed().digest(b"hunter2"),
            "sha256:f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7"
        );
    }

    /// The attack keyed digests exist for: hash a dictionary of common passwords and look
    /// for the digest. It must find the unkeyed digest (so this test can fail) and must not
    /// find the keyed one, neither with plain SHA-256 nor with HMAC under guessed keys.
    #[test]
    fn dictionary_attack_recovers_unkeyed_but_not_keyed_digests() {
        let dictionary = [
            "123456", "password", "12345678", "qwerty", "letmein", "admin", "welcome", "monkey",
            "dragon", "hunter2", "iloveyou", "trustno1", "changeme", "secret", "postgres",
        ];
        let real = "hunter2";
        let attack = |target: &str, guesses: &[SecretDigester]| -> Option<&str> {
            dictionary.iter().copied().find(|word| {
                guesses.iter().any(|g| {
                    let guess = g.digest(word.as_bytes());
                    // Compare the hex part only: an attacker strips any prefix.
                    guess.rsplit(':').next() == target.rsplit(':').next()
                })
            })
        };
        let wrong_keys = [
            SecretDigester::unkeyed(),
            keyed(&format!("k1:{}", "00".repeat(32))),
            keyed(&format!("k1:{}", "ff".repeat(32))),
            keyed(&format!(
                "k1:{}",
                hex::encode("k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1")
            )),
            keyed(KEY_B),
        ];

        let unkeyed = SecretDigester::unkeyed().digest(real.as_bytes());
        assert_eq!(attack(&unkeyed, &wrong_keys), Some(real));

        let secret_key =
            keyed("k1:9c1f44e0a7d35b6e2f80c4d19a7be3605d2f8e11c47a93b0e65d0f2a8c3b7e41");
        let keyed_digest = secret_key.digest(real.as_bytes());
        assert_eq!(attack(&keyed_digest, &wrong_keys), None);
        // Only with the key itself does the dictionary find it.
        assert_eq!(attack(&keyed_digest, &[secret_key]), Some(real));
    }

    #[test]
    fn malformed_keys_are_refused_without_showing_material() {
        let material = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let cases = [
            ("".to_owned(), SecretKeyError::Empty),
            (material.to_owned(), SecretKeyError::MissingId),
            (format!("K1:{material}"), SecretKeyError::BadId { len: 2 }),
            (format!(":{material}"), SecretKeyError::BadId { len: 0 }),
            (format!("k1:{material}zz"), SecretKeyError::NotHex),
            (
                "k1:00112233".to_owned(),
                SecretKeyError::TooShort { bytes: 4 },
            ),
        ];
        for (text, want) in cases {
            let err = SecretDigester::parse(&text).expect_err(&text);
            assert_eq!(err, want, "{text}");
            assert!(!err.to_string().contains("00112233"), "{err}");
        }
        assert!(SecretDigester::parse(&format!(" rotated-2026:{material}\n")).is_ok());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let text = format!("{:?}", keyed(KEY_A));
        assert!(text.contains("k1") && !text.contains("0102"), "{text}");
        let pads = format!("{:?}", keyed(KEY_A).digest(b""));
        assert!(!pads.contains("000102030405"), "{pads}");
    }
}
