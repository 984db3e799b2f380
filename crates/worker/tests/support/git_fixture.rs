//! Real Git repositories for the `git_*` tests, built in temporary directories with fixed
//! authors and dates and without the user's or the system's git configuration, plus the
//! worker settings that point at them. Failures panic with git's own message.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the fixture"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use statesight_worker::git::GitSettings;
use tempfile::TempDir;

/// Runs git in `dir` isolated from any configuration, returning trimmed stdout.
pub fn git(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new("git")
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.com")
        .envs(env.iter().copied())
        .output()
        .expect("git runs (it is installed on every machine of this project)");
    assert!(
        output.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A source repository with a work tree, on branch `main`.
pub struct SourceRepo {
    _dir: TempDir,
    pub path: PathBuf,
}

impl SourceRepo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("source");
        std::fs::create_dir(&path).expect("creating the source directory");
        git(
            &path,
            &["init", "--quiet", "--initial-branch=main", "."],
            &[],
        );
        SourceRepo { _dir: dir, path }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    pub fn write(&self, relative: &str, contents: &str) {
        let target = self.path.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).expect("creating a directory in the source");
        }
        std::fs::write(&target, contents).expect("writing a file in the source");
    }

    pub fn remove(&self, relative: &str) {
        std::fs::remove_file(self.path.join(relative)).expect("removing a file in the source");
    }

    /// Commits everything with author and committer `date` (RFC 3339); returns the id.
    pub fn commit(&self, message: &str, date: &str) -> String {
        git(&self.path, &["add", "--all"], &[]);
        git(
            &self.path,
            &[
                "commit",
                "--quiet",
                "--allow-empty",
                "--no-verify",
                "-m",
                message,
            ],
            &[("GIT_AUTHOR_DATE", date), ("GIT_COMMITTER_DATE", date)],
        );
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.path, args, &[])
    }
}

/// Settings with a fresh cache under `cache`, the real git and kubectl, short timeouts.
pub fn settings(cache: &Path) -> GitSettings {
    let mut settings = GitSettings::new(
        PathBuf::from("git"),
        cache.to_path_buf(),
        PathBuf::from("/usr/bin/kubectl"),
    );
    settings.fetch_timeout = std::time::Duration::from_secs(30);
    settings.command_timeout = std::time::Duration::from_secs(30);
    // The test repositories are local (`file://`).
    settings.with_file_repositories(true)
}

/// A small Deployment manifest.
pub fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: {name}\n          image: {image}\n"
    )
}

/// The `*.git` mirrors and anything else left in `<cache>/mirrors`, lock files excepted.
pub fn mirror_entries(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache.join("mirrors"))
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| !name.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Writes an executable script (for fake `git` and `kubectl` binaries).
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("writing a script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("making a script executable");
    path
}
