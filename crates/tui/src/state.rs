//! `state.json` in the config directory: what the console remembers between runs (the last
//! workspace used with each server, whether the plain-text token notice was shown). Keys this
//! version does not know are kept as they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::fsutil;

pub const STATE_FILE: &str = "state.json";

/// A workspace remembered for a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedWorkspace {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// By normalized server URL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workspaces: BTreeMap<String, RememberedWorkspace>,
    /// Set once the "tokens are stored in plain text" notice was printed for this directory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plaintext_token_notice_shown: bool,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl State {
    pub fn workspace_for(&self, server: &Url) -> Option<RememberedWorkspace> {
        self.workspaces.get(server.as_str()).cloned()
    }

    pub fn remember_workspace(&mut self, server: &Url, workspace: RememberedWorkspace) {
        self.workspaces
            .insert(server.as_str().to_owned(), workspace);
    }
}

/// `state.json` of one config directory.
pub struct StateFile {
    path: PathBuf,
    dir: PathBuf,
}

impl StateFile {
    pub fn new(config_dir: &Path) -> StateFile {
        StateFile {
            path: config_dir.join(STATE_FILE),
            dir: config_dir.to_path_buf(),
        }
    }

    /// The state; a missing file is the empty state, an unreadable one an error.
    pub fn read(&self) -> anyhow::Result<State> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not valid state JSON", self.path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(error) => Err(error).with_context(|| format!("reading {}", self.path.display())),
        }
    }

    /// Read, change, write back atomically, under the directory's state lock. An unreadable
    /// file is replaced.
    pub fn update<T>(&self, change: impl FnOnce(&mut State) -> T) -> anyhow::Result<T> {
        fsutil::ensure_private_dir(&self.dir)?;
        let _lock = fsutil::lock_blocking(&self.dir.join("state.lock"))?;
        let mut state = self.read().unwrap_or_default();
        let result = change(&mut state);
        let bytes = serde_json::to_vec_pretty(&state)?;
        fsutil::write_private_atomic(&self.path, &bytes)?;
        Ok(result)
    }
}
