//! `statesight-server admin seed`: builds each example application's Git repository from
//! `examples/<application>/history` and inserts the demo data.
//!
//! Repositories are built with fixed authors and dates and without the user's git
//! configuration, so their commit ids are the same on every machine and every run: seeding
//! twice leaves the repositories (and the database) as they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use sqlx::PgPool;
use statesight_core::source::InputPolicy;
use statesight_core::wire::{AnalysisRun, RunStatus, RunTrigger};
use statesight_store::audit::Actor;
use statesight_store::queue::Queue;
use statesight_store::runs::AnalysisRequest;
use statesight_store::seed::{
    DEMO_ANALYSES, EXAMPLE_APPLICATIONS, EXAMPLE_CLUSTERS, ExampleLocation, SeedSummary,
};
use uuid::Uuid;

/// One commit of the example history: `history/NN-slug/commit.json` plus `tree/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitSpec {
    message: String,
    author_name: String,
    author_email: String,
    date: String,
}

/// What seeding did: the database rows and one repository per example application.
pub struct SeedReport {
    pub summary: SeedSummary,
    pub repositories: Vec<RepositoryReport>,
}

pub struct RepositoryReport {
    pub application: &'static str,
    pub path: PathBuf,
    pub head: String,
    pub rebuilt: bool,
}

impl std::fmt::Display for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.summary)?;
        for repo in &self.repositories {
            write!(
                f,
                "\nexample repository {} at {} ({})",
                repo.path.display(),
                repo.head,
                if repo.rebuilt { "built" } else { "unchanged" }
            )?;
        }
        Ok(())
    }
}

/// Seeds the demo. The rows point at `file://` repositories and snapshots under the
/// examples directory, so `policy` (the server's and worker's settings) must allow them:
/// refusing here says which setting to change, instead of every analysis failing later.
pub async fn run(
    pool: &PgPool,
    examples_dir: &Path,
    data_dir: &Path,
    git_bin: &Path,
    policy: &InputPolicy,
) -> anyhow::Result<SeedReport> {
    let examples_dir = examples_dir.canonicalize().with_context(|| {
        format!(
            "resolving the examples directory {} (run from the repository root or pass --examples-dir)",
            examples_dir.display()
        )
    })?;
    check_examples(&examples_dir)?;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", data_dir.display()))?;
    let repos_dir = data_dir.join("repos");
    let repositories = {
        let (git_bin, examples_dir, data_dir, repos_dir) = (
            git_bin.to_path_buf(),
            examples_dir.clone(),
            data_dir.clone(),
            repos_dir.clone(),
        );
        tokio::task::spawn_blocking(move || {
            EXAMPLE_APPLICATIONS
                .iter()
                .map(|application| {
                    let history = examples_dir.join(application.name).join("history");
                    let bare = repos_dir.join(format!("{}.git", application.name));
                    let (head, rebuilt) = build_example_repo(
                        &git_bin,
                        &history,
                        &data_dir,
                        &bare,
                        application.git_ref,
                    )
                    .with_context(|| {
                        format!("building the {} example repository", application.name)
                    })?;
                    Ok(RepositoryReport {
                        application: application.name,
                        path: bare,
                        head,
                        rebuilt,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .await
        .context("building the example repositories")??
    };
    let location = ExampleLocation {
        examples_dir: examples_dir.display().to_string(),
        repos_dir: repos_dir.display().to_string(),
    };
    check_policy(&location, policy)?;
    let summary = statesight_store::seed::run(pool, &location)
        .await
        .context("inserting demo data (did `statesight-server migrate` run?)")?;
    Ok(SeedReport {
        summary,
        repositories,
    })
}

/// Refuses to seed rows the installation's own settings would refuse to read.
fn check_policy(location: &ExampleLocation, policy: &InputPolicy) -> anyhow::Result<()> {
    for application in EXAMPLE_APPLICATIONS {
        policy.repo_url(&location.repo_url(application)).context(
            "the examples are local Git repositories: set ALLOW_FILE_REPOSITORIES=true for the seed, the server and the worker (make demo does)",
        )?;
    }
    for cluster in EXAMPLE_CLUSTERS {
        policy
            .snapshot_roots
            .check("snapshot_dir", &location.snapshot_dir(cluster))
            .with_context(|| {
                format!(
                    "the example snapshots lie under {}: add it to SNAPSHOT_ROOTS for the seed, the server and the worker (make demo does)",
                    location.examples_dir
                )
            })?;
    }
    Ok(())
}

/// Refuses an examples directory that lacks a history or snapshot the seed refers to.
fn check_examples(examples_dir: &Path) -> anyhow::Result<()> {
    let histories = EXAMPLE_APPLICATIONS
        .iter()
        .map(|application| examples_dir.join(application.name).join("history"));
    let snapshots = EXAMPLE_CLUSTERS
        .iter()
        .map(|cluster| examples_dir.join(cluster.snapshot));
    for dir in histories.chain(snapshots) {
        if !dir.is_dir() {
            bail!(
                "{} is missing: the examples directory must hold every example's history and snapshot (run from the repository root or pass --examples-dir)",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Builds the history into a scratch repository, one commit per directory in name order,
/// each tagged with its directory name, the last on `branch`. The bare repository is
/// replaced only when its refs differ. Returns the head commit and whether anything was
/// replaced.
fn build_example_repo(
    git: &Path,
    history: &Path,
    data_dir: &Path,
    bare: &Path,
    branch: &str,
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
    let name = bare
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("example");
    let scratch = data_dir.join(format!("tmp/{name}-build-{}", std::process::id()));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("removing {}", scratch.display()))?;
    }
    std::fs::create_dir_all(&scratch)?;
    let result = (|| {
        git_run(
            git,
            &scratch,
            &[
                "init",
                "--quiet",
                &format!("--initial-branch={branch}"),
                ".",
            ],
            &[],
        )?;
        for step in &steps {
            commit_step(git, &scratch, step)?;
        }
        let head = git_run(git, &scratch, &["rev-parse", "HEAD"], &[])?;
        let refs = git_run(git, &scratch, &["show-ref"], &[])?;
        let existing = if bare.exists() {
            git_run(git, bare, &["show-ref"], &[]).ok()
        } else {
            None
        };
        if existing.as_deref() == Some(refs.as_str()) {
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

/// Commits one history directory (`commit.json` + `tree/`) and tags it with its name.
fn commit_step(git: &Path, scratch: &Path, step: &Path) -> anyhow::Result<()> {
    let spec_path = step.join("commit.json");
    let spec: CommitSpec = serde_json::from_slice(
        &std::fs::read(&spec_path).with_context(|| format!("reading {}", spec_path.display()))?,
    )
    .with_context(|| format!("parsing {}", spec_path.display()))?;
    clear_work_tree(scratch)?;
    copy_tree(&step.join("tree"), scratch)?;
    git_run(git, scratch, &["add", "--all"], &[])?;
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
        scratch,
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
    let tag = step
        .file_name()
        .and_then(|name| name.to_str())
        .with_context(|| format!("{} has no UTF-8 name", step.display()))?;
    git_run(git, scratch, &["tag", "--end-of-options", tag], &[])?;
    Ok(())
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

/// One demo analysis and how it ended.
pub struct ExampleRun {
    pub application: &'static str,
    pub revision: String,
    pub run: AnalysisRun,
}

impl std::fmt::Display for ExampleRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let run = &self.run;
        write!(
            f,
            "{} @ {}: {}",
            self.application, self.revision, run.status
        )?;
        match (&run.error, run.finding_count, run.incident_count) {
            (Some(error), _, _) => write!(f, " ({error})"),
            (None, Some(findings), Some(incidents)) => write!(
                f,
                ", {findings} finding{} in {incidents} incident{}, {} suppressed",
                if findings == 1 { "" } else { "s" },
                if incidents == 1 { "" } else { "s" },
                run.suppressed_count.unwrap_or(0)
            ),
            _ => Ok(()),
        }
    }
}

/// Requests the demo analyses ([`DEMO_ANALYSES`]) through the queue, exactly as
/// `POST /api/v1/applications/:id/analyze` does, and waits for a worker to finish them.
/// The n-th analysis of every application runs in wave n, so each application's revisions
/// are analysed in order while applications proceed in parallel. Fails when a run fails or
/// does not finish within `timeout`.
pub async fn analyse_examples(
    pool: &PgPool,
    queue: &Queue,
    timeout: Duration,
) -> anyhow::Result<Vec<ExampleRun>> {
    let mut waves: Vec<Vec<(Uuid, Option<&'static str>)>> = Vec::new();
    let mut seen: BTreeMap<Uuid, usize> = BTreeMap::new();
    for (application, revision) in DEMO_ANALYSES {
        let wave = seen.entry(*application).or_default();
        if waves.len() <= *wave {
            waves.push(Vec::new());
        }
        waves[*wave].push((*application, *revision));
        *wave += 1;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let actor = Actor::system("seed");
    let mut finished = Vec::new();
    for wave in waves {
        let mut pending = Vec::new();
        for (application_id, revision) in wave {
            let application = EXAMPLE_APPLICATIONS
                .iter()
                .find(|example| example.id == application_id)
                .context("a demo analysis names an application the seed does not create")?;
            let request = statesight_store::runs::request_analysis(
                pool,
                queue,
                &actor,
                application_id,
                revision.map(str::to_owned),
                RunTrigger::Seed,
            )
            .await
            .with_context(|| format!("requesting the analysis of {}", application.name))?;
            let run = match request {
                AnalysisRequest::Created(run)
                | AnalysisRequest::Existing(run)
                | AnalysisRequest::Coalesced(run) => run,
                AnalysisRequest::NoApplication => {
                    bail!(
                        "application {} is not seeded (run `statesight-server admin seed` first)",
                        application.name
                    )
                }
            };
            let revision = revision.unwrap_or(application.git_ref).to_owned();
            pending.push((application.name, revision, run.id));
        }
        for (application, revision, run_id) in pending {
            let run = wait_for_run(pool, run_id, deadline).await.with_context(|| {
                format!("waiting for the analysis of {application} at {revision} (is statesight-worker running?)")
            })?;
            let outcome = ExampleRun {
                application,
                revision,
                run,
            };
            if outcome.run.status != RunStatus::Succeeded {
                bail!("{outcome}");
            }
            finished.push(outcome);
        }
    }
    Ok(finished)
}

async fn wait_for_run(
    pool: &PgPool,
    run_id: Uuid,
    deadline: tokio::time::Instant,
) -> anyhow::Result<AnalysisRun> {
    loop {
        let run = statesight_store::runs::get(pool, run_id)
            .await?
            .context("the run disappeared (was its application deleted?)")?;
        if matches!(run.status, RunStatus::Succeeded | RunStatus::Failed) {
            return Ok(run);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("still {} when the time allowed ran out", run.status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
