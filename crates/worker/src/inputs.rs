//! Reading inputs for the offline diff: files, directories (recursive, hidden entries skipped,
//! `.yaml`/`.yml`/`.json` files in byte order of their names; a snapshot's `capture.json`
//! metadata is not an object and is skipped) and standard input. Directories that need
//! rendering (kustomize, Helm) are refused with a clear message.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use statesight_core::manifest::{ParsedManifests, parse_manifests};

/// Reads and parses every input path, in the order given.
pub fn load(paths: &[PathBuf]) -> Result<ParsedManifests> {
    let mut all = ParsedManifests::default();
    for path in paths {
        let mut files = Vec::new();
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("reading standard input")?;
            files.push(("-".to_owned(), bytes));
        } else {
            collect(path, &mut files)?;
        }
        for (name, bytes) in files {
            let parsed = parse_manifests(&name, &bytes)?;
            all.objects.extend(parsed.objects);
            all.problems.extend(parsed.problems);
        }
    }
    Ok(all)
}

fn collect(path: &Path, files: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_file() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        files.push((path.display().to_string(), bytes));
        return Ok(());
    }
    for marker in ["kustomization.yaml", "kustomization.yml", "Kustomization"] {
        if path.join(marker).is_file() {
            bail!(
                "{} holds a {marker}: the offline diff reads plain manifests; render it first with `kubectl kustomize {}` and pass the output",
                path.display(),
                path.display()
            );
        }
    }
    if path.join("Chart.yaml").is_file() {
        bail!(
            "{} is a Helm chart: Helm charts are not supported yet; render it with `helm template` and pass the output",
            path.display()
        );
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("listing {}", path.display()))?;
    entries.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    for entry in entries {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // `capture.json` describes a snapshot (docs/evidence.md#capturejson); it is not a
        // Kubernetes object.
        if name.starts_with('.') || name == "capture.json" {
            continue;
        }
        if entry.is_dir() {
            collect(&entry, files)?;
        } else if [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            let bytes =
                std::fs::read(&entry).with_context(|| format!("reading {}", entry.display()))?;
            files.push((entry.display().to_string(), bytes));
        }
    }
    Ok(())
}
