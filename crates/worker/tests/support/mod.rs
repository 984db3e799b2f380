//! Test support shared by the worker's integration tests: a Kubernetes-API-compatible HTTP
//! server (`kube_api`) that kube-rs and the real `kubectl` can talk to, and helpers locating
//! and loading the fixtures in `testdata/` and the ledger example.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the shared support"
)]

pub mod kube_api;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository's `testdata/` (real captures from public projects; see its README).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata"))
}

/// A file or directory under `testdata/`.
pub fn fixture(relative: &str) -> PathBuf {
    fixtures_dir().join(relative)
}

/// The captured live state of the ledger example (`examples/ledger/snapshot`).
pub fn ledger_snapshot_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/ledger/snapshot"
    ))
}

/// The objects of a manifest file or of every `.yaml`/`.yml`/`.json` file of a directory
/// (not recursive, byte order of names, `capture.json` skipped), parsed the way the engine
/// parses them. Panics with the path on unreadable or invalid input: fixtures are trusted.
pub fn load_objects(path: &Path) -> Vec<Value> {
    let mut files = Vec::new();
    if path.is_dir() {
        let entries =
            std::fs::read_dir(path).unwrap_or_else(|e| panic!("listing {}: {e}", path.display()));
        for entry in entries {
            let entry = entry
                .unwrap_or_else(|e| panic!("listing {}: {e}", path.display()))
                .path();
            let name = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name != "capture.json"
                && [".yaml", ".yml", ".json"]
                    .iter()
                    .any(|ext| name.ends_with(ext))
            {
                files.push(entry);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut objects = Vec::new();
    for file in files {
        let bytes =
            std::fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let parsed = statesight_core::parse_manifests(&file.display().to_string(), &bytes)
            .unwrap_or_else(|e| panic!("parsing {}: {e}", file.display()));
        objects.extend(parsed.objects.into_iter().map(|object| object.value));
    }
    objects
}
