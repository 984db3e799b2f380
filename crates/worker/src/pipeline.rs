//! One analysis, from a job's context to results ready to persist: desired state from Git
//! at a resolved commit, live state from the cluster's collector, then the engine with the
//! application's ignore rules. Pure of queue concerns; errors say whether retrying can help.

use std::path::PathBuf;
use std::time::Duration;

use statesight_core::analysis::UnidentifiedLive;
use statesight_core::identity::{Scopes, group_of};
use statesight_core::source::Invalid;
use statesight_core::wire::{IgnoreRule as WireRule, LiveSource};
use statesight_core::{Analysis, AnalyzeOptions, ManifestObject, Origin, RuleScope, analyze};
use statesight_store::StoreError;
use statesight_store::analysis::{DesiredRecord, JobContext, LiveRecord};

use crate::collect::{self, CollectError, CollectOptions, LiveSourceConfig, ResourceKey};
use crate::git::{self, GitError, GitSettings};
use crate::settings::Settings;

/// Why an analysis job failed. The Git and collector errors keep their own variants (and
/// messages, which land in `analysis_runs.error`); [`JobError::is_transient`] is the one
/// place that decides whether the queue retries (with backoff) or the run fails at once
/// until someone changes something.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Reading desired state from Git failed, or its manifests are invalid.
    #[error(transparent)]
    Git(#[from] GitError),
    /// Reading live state from the cluster failed.
    #[error(transparent)]
    Collect(#[from] CollectError),
    /// The source path holds no Kubernetes objects. `problems` is empty or ` (<why each
    /// document was skipped>)`.
    #[error("no Kubernetes objects under {path:?} at {commit} in {repo}{problems}")]
    NoObjects {
        path: String,
        commit: String,
        repo: String,
        problems: String,
    },
    /// The cluster record names a path outside the roots the operator allows
    /// (`KUBECONFIG_ROOTS`, `SNAPSHOT_ROOTS`).
    #[error("the cluster's {0}")]
    Refused(#[from] Invalid),
    /// The whole analysis took longer than `WORKER_JOB_TIMEOUT`.
    #[error("the analysis took longer than {}s (WORKER_JOB_TIMEOUT)", .after.as_secs())]
    Timeout { after: Duration },
    /// Reading or writing the run's records failed; `during` says what the worker was doing.
    #[error("{during}: {source}")]
    Store {
        during: &'static str,
        #[source]
        source: StoreError,
    },
}

impl JobError {
    /// Whether retrying the same job later may succeed without anyone changing anything:
    /// the network, a slow server or cluster, the database. Git and the collectors decide
    /// for their own errors; a write the data model refuses would be refused again.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::Git(error) => error.is_transient(),
            JobError::Collect(error) => error.is_transient(),
            JobError::NoObjects { .. } | JobError::Refused(_) => false,
            JobError::Timeout { .. } => true,
            JobError::Store { source, .. } => !matches!(source, StoreError::Violation(_)),
        }
    }

    /// The database (or the pool) could not be reached: an outage, not a fault of the job.
    /// Outages are retried without counting towards parking.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            JobError::Store {
                source: StoreError::Unavailable(_),
                ..
            }
        )
    }

    /// A store error met while `during` (e.g. "writing the results").
    pub fn store(during: &'static str) -> impl FnOnce(StoreError) -> JobError {
        move |source| JobError::Store { during, source }
    }
}

/// What a successful analysis produced.
pub struct JobOutput {
    pub analysis: Analysis,
    pub desired: DesiredRecord,
    pub live: LiveRecord,
    /// Inputs that could not be analysed and caveats of the live source, shown with the run.
    pub warnings: Vec<String>,
    /// Every object compared, for the cluster's watch.
    pub tracked: Vec<statesight_store::watch::TrackedObject>,
}

/// How to read the cluster's live state, from its record. Paths are checked against the
/// operator's roots again here (a row may predate the rule), `~` expanded to the worker's
/// home.
pub fn live_source_config(
    cluster: &statesight_core::wire::Cluster,
    settings: &Settings,
) -> Result<LiveSourceConfig, Invalid> {
    let kubeconfig = cluster
        .kubeconfig_path
        .as_deref()
        .map(|path| {
            settings
                .inputs
                .kubeconfig_roots
                .check("kubeconfig_path", path)
        })
        .transpose()?
        .map(PathBuf::from);
    Ok(match cluster.live_source {
        LiveSource::KubeApi => LiveSourceConfig::KubeApi {
            kubeconfig_path: kubeconfig,
            context: cluster.context.clone(),
        },
        LiveSource::InCluster => LiveSourceConfig::InCluster,
        LiveSource::Kubectl => LiveSourceConfig::Kubectl {
            kubectl_bin: settings.kubectl_bin.clone(),
            kubeconfig_path: kubeconfig,
            context: cluster.context.clone(),
        },
        LiveSource::Snapshot => LiveSourceConfig::Snapshot {
            dir: PathBuf::from(settings.inputs.snapshot_roots.check(
                "snapshot_dir",
                cluster.snapshot_dir.as_deref().unwrap_or_default(),
            )?),
        },
    })
}

/// The collected objects the engine can pair, and the ones it cannot because they lack the
/// apiVersion, kind or name that identify them. Those are kept (not dropped) so that no
/// desired object they could be is claimed missing from the cluster.
fn identify_live(
    objects: &[serde_json::Value],
    method: &str,
) -> (Vec<ManifestObject>, Vec<UnidentifiedLive>) {
    let mut live = Vec::with_capacity(objects.len());
    let mut unidentified = Vec::new();
    for (index, value) in objects.iter().enumerate() {
        let origin = Origin {
            file: format!("live:{method}"),
            document: index + 1,
            item: None,
        };
        match ManifestObject::from_value(origin, value.clone()) {
            Ok(object) => live.push(object),
            Err((origin, reason)) => {
                unidentified.push(UnidentifiedLive::new(origin, value, reason));
            }
        }
    }
    (live, unidentified)
}

/// `desired` without the objects whose live counterpart the worker may not read, and the
/// keys of those objects. `wanted[i]` is the key of `desired[i]`.
fn without_unreadable(
    desired: Vec<ManifestObject>,
    wanted: &[ResourceKey],
    unreadable: &[ResourceKey],
) -> (Vec<ManifestObject>, Vec<ResourceKey>) {
    if unreadable.is_empty() {
        return (desired, Vec::new());
    }
    let refused: std::collections::BTreeSet<statesight_core::ResourceId> =
        unreadable.iter().map(ResourceKey::id).collect();
    let mut kept = Vec::with_capacity(desired.len());
    let mut left_out = Vec::new();
    for (object, key) in desired.into_iter().zip(wanted) {
        if refused.contains(&key.id()) {
            left_out.push(key.clone());
        } else {
            kept.push(object);
        }
    }
    (kept, left_out)
}

/// The engine's form of the application's rules, keeping the database's precedence.
fn engine_rules(rules: &[WireRule]) -> Vec<statesight_core::IgnoreRule> {
    rules
        .iter()
        .enumerate()
        .map(|(order, rule)| statesight_core::IgnoreRule {
            name: rule.name.clone(),
            match_expression: rule.match_expression.clone(),
            resource_ref: rule.resource_ref.clone(),
            managed_by: rule.managed_by.clone(),
            reason: rule.reason.clone(),
            scope: if rule.application_id.is_some() {
                RuleScope::Application
            } else {
                RuleScope::Workspace
            },
            order: i64::try_from(order).unwrap_or(i64::MAX),
            enabled: rule.enabled,
        })
        .collect()
}

/// How the worker runs git, from its settings.
pub fn git_settings(settings: &Settings) -> GitSettings {
    GitSettings::new(
        settings.git_bin.clone(),
        settings.git_cache_dir.clone(),
        settings.kubectl_bin.clone(),
    )
    .with_file_repositories(settings.inputs.allow_file_repositories)
}

/// Runs one analysis. With `pool`, a watched cluster's live state is read from its watch
/// cache when the cache is complete and current for every kind the analysis needs
/// (`crate::watch::cache`); otherwise, and without `pool`, the cluster is asked.
pub async fn execute(
    context: &JobContext,
    settings: &Settings,
    pool: Option<&sqlx::PgPool>,
) -> Result<JobOutput, JobError> {
    let source = &context.source;
    let git_settings = git_settings(settings);
    let desired_state = git::desired_state(
        &git_settings,
        &source.repo_url,
        &source.git_ref,
        context.requested_revision.as_deref(),
        &source.path,
    )
    .await?;

    // A syntax error names file, document and commit; unidentifiable objects are problems.
    let parsed = desired_state.parse()?;
    let (desired, problems) = (parsed.objects, parsed.problems);
    if desired.is_empty() {
        return Err(JobError::NoObjects {
            path: source.path.clone(),
            commit: desired_state.commit_sha.clone(),
            repo: source.repo_url.clone(),
            problems: if problems.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            },
        });
    }

    let mut scopes = Scopes::default();
    for object in &desired {
        scopes.learn_from(&object.value);
    }
    let wanted: Vec<ResourceKey> = desired
        .iter()
        .map(|object| ResourceKey {
            api_version: object.api_version.clone(),
            kind: object.kind.clone(),
            namespace: if scopes.is_cluster_scoped(group_of(&object.api_version), &object.kind) {
                None
            } else {
                Some(
                    object
                        .namespace
                        .clone()
                        .unwrap_or_else(|| context.default_namespace.clone()),
                )
            },
            name: object.name.clone(),
        })
        .collect();
    let options = CollectOptions {
        allow_synthetic: settings.allow_synthetic_live_state,
        desired_objects: desired.iter().map(|object| object.value.clone()).collect(),
        ..CollectOptions::default()
    };
    let live_source = live_source_config(&context.cluster, settings)?;
    let cached = match pool {
        Some(pool) => crate::watch::cache::read(pool, context, settings, &wanted)
            .await
            .map_err(JobError::store("reading the cluster's watch cache"))?,
        None => None,
    };
    let observation = match cached {
        Some(observation) => observation,
        None => collect::collect(&live_source, &wanted, &options).await?,
    };
    let seen: std::collections::BTreeMap<statesight_core::ResourceId, &str> = observation
        .objects
        .iter()
        .filter_map(|object| {
            let version = object.pointer("/metadata/resourceVersion")?.as_str()?;
            Some((ResourceKey::of_object(object)?.id(), version))
        })
        .collect();
    let tracked = wanted
        .iter()
        .map(|key| key.tracked(seen.get(&key.id()).copied()))
        .collect();
    let (live, unidentified_live) = identify_live(&observation.objects, observation.method);
    // What the worker may not read is neither in the cluster nor missing from it: it is
    // left out of the comparison and named in the run's warnings.
    let (desired, unreadable) = without_unreadable(desired, &wanted, &observation.unreadable);

    let analyze_options = AnalyzeOptions {
        application_key: context.application_id.to_string(),
        default_namespace: context.default_namespace.clone(),
        live_trusted: observation.trusted,
        bookkeeping_keys: settings.bookkeeping_keys.clone(),
        unidentified_live,
        secret_digester: settings.secret_digester.clone(),
        ..AnalyzeOptions::default()
    };
    let analysis = analyze(
        &desired,
        &live,
        &analyze_options,
        &engine_rules(&context.rules),
    );
    let mut warnings: Vec<String> = problems.iter().map(ToString::to_string).collect();
    warnings.extend(analyze_options.unidentified_live.iter().map(|unknown| {
        format!(
            "{}: a live object was read but {}; it was not compared",
            unknown.origin, unknown.reason
        )
    }));
    warnings.extend(analysis.problems.iter().map(ToString::to_string));
    warnings.extend(observation.notes.iter().cloned());
    warnings.extend(unreadable.iter().map(|key| {
        format!(
            "{key}: not readable with the worker's permissions; not compared (grant get and \
             list on it to the worker's identity to compare it)"
        )
    }));
    for warning in &warnings {
        tracing::warn!(warning = %warning, "analysis warning");
    }
    Ok(JobOutput {
        analysis,
        warnings,
        tracked,
        desired: DesiredRecord {
            repo_url: desired_state.repo_url,
            git_ref: desired_state.git_ref,
            path: desired_state.path,
            commit_sha: desired_state.commit_sha,
            committed_at: Some(desired_state.committed_at),
            rendered_with: desired_state.rendered_with.to_owned(),
        },
        live: LiveRecord {
            method: observation.method.to_owned(),
            trusted: observation.trusted,
            observed_at: observation.observed_at,
            observed_at_source: observation.observed_at_source.to_owned(),
            context: observation.context,
            has_managed_fields: observation.has_managed_fields,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use statesight_store::Constraint;

    use super::*;

    #[test]
    fn git_and_collector_errors_keep_their_type_message_and_retry_decision() {
        let unreachable = JobError::from(GitError::Unreachable {
            repo: String::from("https://git.example.com/x.git"),
            detail: String::from("connection refused"),
        });
        assert!(unreachable.is_transient());
        assert!(matches!(
            unreachable,
            JobError::Git(GitError::Unreachable { .. })
        ));
        assert!(
            unreachable
                .to_string()
                .starts_with("cannot fetch https://git.example.com/x.git")
        );
        let forbidden = JobError::from(CollectError::Forbidden {
            verb: String::from("list"),
            resource: String::from("deployments.apps"),
            namespace: Some(String::from("payments")),
            message: String::from("forbidden"),
        });
        assert!(!forbidden.is_transient());
        assert!(
            forbidden.to_string().starts_with("permission denied"),
            "{forbidden}"
        );
    }

    #[test]
    fn store_errors_say_what_the_worker_was_doing_and_keep_their_source() {
        let unavailable = JobError::store("writing the results")(StoreError::Unavailable(
            sqlx::Error::PoolTimedOut,
        ));
        assert!(unavailable.is_transient());
        assert!(unavailable.to_string().starts_with("writing the results: "));
        assert!(
            unavailable
                .source()
                .is_some_and(|source| source.is::<StoreError>())
        );
        let refused =
            JobError::store("writing the results")(StoreError::Violation(Constraint::OneQueuedRun));
        assert!(!refused.is_transient(), "a refused write is refused again");
    }

    #[test]
    fn timeouts_retry_and_empty_sources_do_not() {
        let timeout = JobError::Timeout {
            after: Duration::from_secs(600),
        };
        assert!(timeout.is_transient());
        assert_eq!(
            timeout.to_string(),
            "the analysis took longer than 600s (WORKER_JOB_TIMEOUT)"
        );
        let empty = JobError::NoObjects {
            path: String::from("deploy"),
            commit: String::from("3f9c2b7"),
            repo: String::from("https://git.example.com/x.git"),
            problems: String::new(),
        };
        assert!(!empty.is_transient());
        assert_eq!(
            empty.to_string(),
            "no Kubernetes objects under \"deploy\" at 3f9c2b7 in https://git.example.com/x.git"
        );
    }
}
