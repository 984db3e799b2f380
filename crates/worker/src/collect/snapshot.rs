//! The `snapshot` collector: a directory of captured `kubectl get -o yaml|json` output (any
//! file names, `kind: List` or single objects, multi-document YAML), walked recursively in
//! byte order of names and parsed with `statesight_core::parse_manifests`. `capture.json`
//! gives the capture time and context; without it the newest file time stands in, marked as
//! such. Snapshots taken without `--show-managed-fields` carry no ownership evidence, and the
//! observation says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde_json::Value;
use statesight_core::identity::Scopes;
use statesight_core::{ResourceId, parse_manifests};

use super::error::{CollectError, Result};
use super::{CollectOptions, LiveObservation, ResourceKey, has_managed_fields, sort_output};

/// The file a capture script writes next to the objects.
pub const CAPTURE_FILE: &str = "capture.json";

#[derive(Debug, serde::Deserialize)]
struct Capture {
    captured_at: String,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    kubectl_version: Option<String>,
}

pub(crate) async fn collect(
    dir: &Path,
    wanted: &[ResourceKey],
    options: &CollectOptions,
) -> Result<LiveObservation> {
    let dir = dir.to_path_buf();
    let wanted = wanted.to_vec();
    let default_namespace = options
        .default_namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let task_dir = dir.clone();
    tokio::task::spawn_blocking(move || read_snapshot(&task_dir, &wanted, &default_namespace))
        .await
        .map_err(|e| CollectError::Snapshot {
            path: dir,
            message: format!("reading the snapshot stopped: {e}"),
        })?
}

struct SnapshotFile {
    path: PathBuf,
    /// The path relative to the snapshot directory, as shown in messages.
    name: String,
}

fn snapshot_error(path: &Path, message: impl Into<String>) -> CollectError {
    CollectError::Snapshot {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_snapshot(
    dir: &Path,
    wanted: &[ResourceKey],
    default_namespace: &str,
) -> Result<LiveObservation> {
    let meta = std::fs::metadata(dir)
        .map_err(|e| snapshot_error(dir, format!("cannot read the directory: {e}")))?;
    if !meta.is_dir() {
        return Err(snapshot_error(dir, "is not a directory"));
    }
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    walk(dir, dir, &mut files, &mut skipped)?;
    if files.is_empty() {
        return Err(snapshot_error(
            dir,
            "holds no .yaml, .yml or .json files of captured objects",
        ));
    }

    let mut notes = Vec::new();
    if !skipped.is_empty() {
        notes.push(format!(
            "snapshot files ignored (not .yaml, .yml or .json): {}",
            skipped.join(", ")
        ));
    }
    let mut newest_file_time: Option<SystemTime> = None;
    // Identity → (file it came from, object).
    let mut by_id: BTreeMap<ResourceId, (String, Value)> = BTreeMap::new();
    let mut scopes = Scopes::default();
    for file in &files {
        let bytes = std::fs::read(&file.path)
            .map_err(|e| snapshot_error(&file.path, format!("cannot read: {e}")))?;
        if let Ok(modified) = std::fs::metadata(&file.path).and_then(|m| m.modified()) {
            newest_file_time = Some(newest_file_time.map_or(modified, |t| t.max(modified)));
        }
        let parsed =
            parse_manifests(&file.name, &bytes).map_err(|e| snapshot_error(dir, e.to_string()))?;
        for problem in parsed.problems {
            notes.push(format!("snapshot {problem}"));
        }
        for object in parsed.objects {
            scopes.learn_from(&object.value);
            let id = ResourceId {
                group: statesight_core::identity::group_of(&object.api_version).to_owned(),
                kind: object.kind.clone(),
                namespace: object.namespace.clone(),
                name: object.name.clone(),
            };
            match by_id.get(&id) {
                Some((first_file, first)) if *first != object.value => {
                    return Err(snapshot_error(
                        dir,
                        format!(
                            "holds two different versions of {id} ({first_file} and {})",
                            object.origin
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    by_id.insert(id, (object.origin.to_string(), object.value));
                }
            }
        }
    }

    let capture_path = dir.join(CAPTURE_FILE);
    let capture = read_capture(&capture_path)?;

    let mut objects = Vec::new();
    let mut missing = Vec::new();
    for key in wanted {
        let mut id = key.id();
        if id.namespace.is_none() && !scopes.is_cluster_scoped(&id.group, &id.kind) {
            id.namespace = Some(default_namespace.to_owned());
        }
        // A live object of a namespaced kind always carries its namespace, so an object
        // without one is cluster-scoped and matches whatever namespace Git wrote.
        let cluster_scoped = ResourceId {
            namespace: None,
            ..id.clone()
        };
        match by_id.get(&id).or_else(|| by_id.get(&cluster_scoped)) {
            Some((_, object)) => objects.push(object.clone()),
            None => missing.push(key.clone()),
        }
    }
    sort_output(&mut objects, &mut missing);
    objects.dedup();

    if !missing.is_empty() {
        notes.push(format!(
            "{} wanted resource{} not in the snapshot, treated as missing (the capture may simply not include {})",
            missing.len(),
            if missing.len() == 1 { " is" } else { "s are" },
            if missing.len() == 1 { "it" } else { "them" }
        ));
    }
    let with_fields = objects.iter().filter(|o| has_managed_fields(o)).count();
    let has_fields = with_fields > 0;
    if !objects.is_empty() && !has_fields {
        notes.push(
            "snapshot captured without --show-managed-fields: no ownership evidence (no object carries metadata.managedFields)"
                .to_owned(),
        );
    } else if with_fields < objects.len() {
        let lacking: Vec<String> = objects
            .iter()
            .filter(|o| !has_managed_fields(o))
            .filter_map(ResourceKey::of_object)
            .map(|k| k.to_string())
            .collect();
        notes.push(format!(
            "no ownership evidence for objects captured without managedFields: {}",
            lacking.join(", ")
        ));
    }

    let (observed_at, observed_at_source, context) = match capture {
        Some((captured_at, capture)) => {
            if let Some(version) = &capture.kubectl_version {
                notes.push(format!("snapshot captured with kubectl {version}"));
            }
            (captured_at, "capture_file", capture.context)
        }
        None => {
            notes.push(format!(
                "no {CAPTURE_FILE} in the snapshot: the observation time is the newest file modification time, an approximation"
            ));
            let time = newest_file_time
                .map(DateTime::<Utc>::from)
                .unwrap_or_else(Utc::now);
            (time, "file_times", None)
        }
    };

    Ok(LiveObservation {
        objects,
        missing,
        unreadable: Vec::new(),
        method: "snapshot",
        trusted: true,
        observed_at,
        observed_at_source,
        context,
        has_managed_fields: has_fields,
        notes,
    })
}

/// Reads `capture.json` when present: `captured_at` (RFC 3339) is required, `context` and
/// `kubectl_version` are optional.
fn read_capture(path: &Path) -> Result<Option<(DateTime<Utc>, Capture)>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(snapshot_error(path, format!("cannot read: {e}"))),
    };
    let capture: Capture = serde_json::from_slice(&bytes).map_err(|e| {
        snapshot_error(
            path,
            format!("is not {{\"captured_at\", \"context\", \"kubectl_version\"}} JSON: {e}"),
        )
    })?;
    let captured_at = DateTime::parse_from_rfc3339(&capture.captured_at)
        .map_err(|e| {
            snapshot_error(
                path,
                format!(
                    "captured_at {:?} is not an RFC 3339 time: {e}",
                    capture.captured_at
                ),
            )
        })?
        .with_timezone(&Utc);
    Ok(Some((captured_at, capture)))
}

/// Lists the object files under `dir` in byte order of names, recursively, skipping hidden
/// entries and the top-level `capture.json`; other files are recorded as skipped.
fn walk(
    root: &Path,
    dir: &Path,
    files: &mut Vec<SnapshotFile>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<_>>()
        })
        .map_err(|e| snapshot_error(dir, format!("cannot list: {e}")))?;
    entries.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    for entry in entries {
        let file_name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name.starts_with('.') {
            continue;
        }
        let name = entry
            .strip_prefix(root)
            .unwrap_or(&entry)
            .display()
            .to_string();
        if entry.is_dir() {
            walk(root, &entry, files, skipped)?;
        } else if dir == root && file_name == CAPTURE_FILE {
            continue;
        } else if [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| file_name.ends_with(ext))
        {
            files.push(SnapshotFile { path: entry, name });
        } else {
            skipped.push(name);
        }
    }
    Ok(())
}
