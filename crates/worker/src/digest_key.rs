//! The deployment key Secret values are digested with (`SECRET_DIGEST_KEY`, or a mounted file
//! named by `SECRET_DIGEST_KEY_FILE`), written `<key-id>:<hex of at least 32 bytes>`. The
//! engine stays pure: this module reads the key and hands a `SecretDigester` to it. Key
//! material never reaches a message or `Debug` output.

use std::fmt;
use std::path::{Path, PathBuf};

use statesight_core::secret::{SecretDigester, SecretKeyError};

/// The environment variable holding the key itself.
pub const KEY_ENV: &str = "SECRET_DIGEST_KEY";
/// The environment variable naming a file that holds the key (a mounted Secret).
pub const KEY_FILE_ENV: &str = "SECRET_DIGEST_KEY_FILE";

/// How to make a key, quoted by every "no key" message.
pub const GENERATE_HINT: &str = "generate one with: echo \"k1:$(openssl rand -hex 32)\"";

/// The key as given, before parsing: a string whose `Debug` is redacted, so the clap
/// argument structs can derive `Debug` safely.
#[derive(Clone)]
pub struct KeyText(String);

impl From<String> for KeyText {
    fn from(text: String) -> Self {
        KeyText(text)
    }
}

impl fmt::Debug for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyText(***)")
    }
}

/// Why no usable key was found. Messages name the variable or file, never the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no Secret digest key: set {KEY_ENV}=<key-id>:<hex of at least 32 bytes> or {KEY_FILE_ENV}=<file holding it>; {GENERATE_HINT}"
    )]
    Missing,
    #[error("both {KEY_ENV} and {KEY_FILE_ENV} are set; set only one")]
    Both,
    #[error("reading {KEY_FILE_ENV} {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{from} is malformed (expected <key-id>:<hex of at least 32 bytes>; {GENERATE_HINT})")]
    Malformed {
        from: String,
        #[source]
        source: SecretKeyError,
    },
}

/// The key given by text or by file, if any (`Ok(None)` when neither is set).
pub fn load(
    text: Option<&KeyText>,
    file: Option<&Path>,
) -> Result<Option<SecretDigester>, KeyError> {
    let (raw, from) = match (text, file) {
        (Some(_), Some(_)) => return Err(KeyError::Both),
        (None, None) => return Ok(None),
        (Some(text), None) => (text.0.clone(), KEY_ENV.to_owned()),
        (None, Some(path)) => {
            let raw = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                path: path.to_owned(),
                source,
            })?;
            (raw, format!("{KEY_FILE_ENV} {}", path.display()))
        }
    };
    SecretDigester::parse(&raw)
        .map(Some)
        .map_err(|source| KeyError::Malformed { from, source })
}

/// The key the worker must have: `run` refuses to start without one.
pub fn require(text: Option<&KeyText>, file: Option<&Path>) -> Result<SecretDigester, KeyError> {
    load(text, file)?.ok_or(KeyError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATERIAL: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn missing_and_malformed_keys_say_what_to_set_without_the_material() {
        let missing = require(None, None).expect_err("no key").to_string();
        assert!(
            missing.contains(KEY_ENV) && missing.contains("openssl rand -hex 32"),
            "{missing}"
        );
        let short = KeyText::from(format!("k1:{}", &MATERIAL[..20]));
        let malformed = require(Some(&short), None).expect_err("short").to_string();
        assert!(
            malformed.contains(KEY_ENV) && !malformed.contains(&MATERIAL[..20]),
            "{malformed}"
        );
        assert!(!format!("{short:?}").contains("0011"));
    }

    #[test]
    fn a_key_file_is_read_and_its_newline_ignored() {
        let dir = std::env::temp_dir().join(format!("statesight-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("key");
        std::fs::write(&path, format!("k7:{MATERIAL}\n")).expect("write key");
        let digester = require(None, Some(&path)).expect("key file");
        assert_eq!(digester.key_id(), Some("k7"));
        let both = require(Some(&KeyText::from(format!("k1:{MATERIAL}"))), Some(&path));
        assert!(matches!(both, Err(KeyError::Both)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
