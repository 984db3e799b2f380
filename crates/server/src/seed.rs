//! `statesight-server admin seed`: builds the runnable example's Git repository from
//! `examples/ledger/history` and inserts the demo data.
//!
//! The repository is built with fixed authors and dates and without the user's git
//! configuration, so its commit ids are the same on every machine and every run: seeding
//! twice leaves the repository (and the database) as it was.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;
use sqlx::PgPool;
use statesight_store::seed::{ExampleLocation, SeedSummary};

/// One commit of the example history: `history/NN-slug/commit.json` plus `tree/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitSpec {
    message: String,
    author_name: String,
    author_email: String,
    date: String,
}

pub struct SeedReport {
    pub summary: SeedSummary,
    pub repo_path: PathBuf,
    pub head: String,
    pub repo_rebuilt: bool,
}

impl std::fmt::Display for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.summary)?;
        write!(
            f,
            "example repository {} at {} ({})",
            self.repo_path.display(),
            self.head,
            if self.repo_rebuilt {
                "built"
            } else {
                "unchanged"
            }
        )
    }
}

pub async fn run(
    pool: &PgPool,
    examples_dir: &Path,
    data_dir: &Path,
    git_bin: &Path,
) -> anyhow::Result<SeedReport> {
    let history = examples_dir.join("ledger/history");
    let snapshot = examples_dir.join("ledger/snapshot");
    if !history.is_dir() || !snapshot.is_dir() {
        bail!(
            "{} must hold ledger/history and ledger/snapshot (run from the repository root or pass --examples-dir)",
            examples_dir.display()
        );
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", data_dir.display()))?;
    let snapshot = snapshot
        .canonicalize()
        .with_context(|| format!("resolving {}", snapshot.display()))?;
    let repo_path = data_dir.join("repos/ledger.git");
    let git_bin = git_bin.to_path_buf();
    let (head, repo_rebuilt) = {
        let repo_path = repo_path.clone();
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || {
            build_example_repo(&git_bin, &history, &data_dir, &repo_path)
        })
        .await
        .context("building the example repository")??
    };
    let example = ExampleLocation {
        ledger_repo_url: format!("file://{}", repo_path.display()),
        ledger_snapshot_dir: snapshot.display().to_string(),
    };
    let summary = statesight_store::seed::run(pool, &example)
        .await
        .context("inserting demo data (did `statesight-server migrate` run?)")?;
    Ok(SeedReport {
        summary,
        repo_path,
        head,
        repo_rebuilt,
    })
}

/// Builds the history into a scratch repository and replaces the bare repository only
/// when its `main` differs. Returns the head commit and whether anything was replaced.
fn build_example_repo(
    git: &Path,
    history: &Path,
    data_dir: &Path,
    bare: &Path,
) -> anyhow::Result<(String, bool)> {
    let mut steps: Vec<PathBuf> = std::fs::read_dir(history)
        .with_context(|| format!("reading {}", history.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_dir())
        .collect();
    steps.sort();
    if steps.is_empty() {
        bail!("{} holds no commits", history.display());
    }
    let scratch = data_dir.join(format!("tmp/ledger-build-{}", std::process::id()));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("removing {}", scratch.display()))?;
    }
    std::fs::create_dir_all(&scratch)?;
    let result = (|| {
        git_run(
            git,
            &scratch,
            &["init", "--quiet", "--initial-branch=main", "."],
            &[],
        )?;
        for step in &steps {
            let spec_path = step.join("commit.json");
            let spec: CommitSpec = serde_json::from_slice(
                &std::fs::read(&spec_path)
                    .with_context(|| format!("reading {}", spec_path.display()))?,
            )
            .with_context(|| format!("parsing {}", spec_path.display()))?;
            clear_work_tree(&scratch)?;
            copy_tree(&step.join("tree"), &scratch)?;
            git_run(git, &scratch, &["add", "--all"], &[])?;
            let env = [
                ("GIT_AUTHOR_NAME", spec.author_name.as_str()),
                ("GIT_AUTHOR_EMAIL", spec.author_email.as_str()),
                ("GIT_AUTHOR_DATE", spec.date.as_str()),
                ("GIT_COMMITTER_NAME", spec.author_name.as_str()),
                ("GIT_COMMITTER_EMAIL", spec.author_email.as_str()),
                ("GIT_COMMITTER_DATE", spec.date.as_str()),
            ];
            git_run(
                git,
                &scratch,
                &[
                    "commit",
                    "--quiet",
                    "--allow-empty",
                    "--no-verify",
                    "-m",
                    &spec.message,
                ],
                &env,
            )?;
        }
        let head = git_run(git, &scratch, &["rev-parse", "HEAD"], &[])?;
        let existing = if bare.exists() {
            git_run(
                git,
                bare,
                &["rev-parse", "--verify", "--quiet", "refs/heads/main"],
                &[],
            )
            .ok()
        } else {
            None
        };
        if existing.as_deref() == Some(head.as_str()) {
            return Ok((head, false));
        }
        if bare.exists() {
            std::fs::remove_dir_all(bare)
                .with_context(|| format!("removing stale {}", bare.display()))?;
        }
        if let Some(parent) = bare.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let bare_text = bare
            .to_str()
            .context("the data directory path is not UTF-8")?;
        git_run(
            git,
            &scratch,
            &["clone", "--quiet", "--bare", ".", bare_text],
            &[],
        )?;
        Ok((head, true))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Runs git isolated from the user's and system's configuration (hooks, signing, default
/// branch) so the example builds identically everywhere. Returns trimmed stdout.
fn git_run(git: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let output = Command::new(git)
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.autocrlf=false",
            "-c",
            "core.fileMode=true",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .envs(env.iter().copied())
        .output()
        .with_context(|| {
            format!(
                "running {} (set GIT_BIN if git is elsewhere)",
                git.display()
            )
        })?;
    if !output.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn clear_work_tree(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == ".git" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
