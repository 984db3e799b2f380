//! One analysis, from a job's context to results ready to persist: desired state from Git
//! at a resolved commit, live state from the cluster's collector, then the engine with the
//! application's ignore rules. Pure of queue concerns; errors say whether retrying can help.

use std::path::PathBuf;

use statesight_core::identity::{Scopes, group_of};
use statesight_core::wire::{IgnoreRule as WireRule, LiveSource};
use statesight_core::{Analysis, AnalyzeOptions, ManifestObject, Origin, RuleScope, analyze};
use statesight_store::analysis::{DesiredRecord, JobContext, LiveRecord};

use crate::collect::{self, CollectOptions, LiveSourceConfig, ResourceKey};
use crate::git::{self, GitSettings};
use crate::settings::Settings;

/// A failed analysis: `Transient` may succeed when retried (network, timeouts), while
/// `Permanent` will not until someone changes something (unknown ref, invalid manifests,
/// permissions) — the run fails at once with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    Transient(String),
    Permanent(String),
}

/// What a successful analysis produced.
pub struct JobOutput {
    pub analysis: Analysis,
    pub desired: DesiredRecord,
    pub live: LiveRecord,
    /// Inputs that could not be analysed and caveats of the live source, shown with the run.
    pub warnings: Vec<String>,
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// How to read the cluster's live state, from its record.
pub fn live_source_config(context: &JobContext, settings: &Settings) -> LiveSourceConfig {
    let cluster = &context.cluster;
    let kubeconfig = cluster.kubeconfig_path.as_deref().map(expand_home);
    match cluster.live_source {
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
            dir: expand_home(cluster.snapshot_dir.as_deref().unwrap_or_default()),
        },
    }
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

pub async fn execute(context: &JobContext, settings: &Settings) -> Result<JobOutput, JobError> {
    let source = &context.source;
    let git_settings = GitSettings::new(
        settings.git_bin.clone(),
        settings.git_cache_dir.clone(),
        settings.kubectl_bin.clone(),
    );
    let desired_state = git::desired_state(
        &git_settings,
        &source.repo_url,
        &source.git_ref,
        context.requested_revision.as_deref(),
        &source.path,
    )
    .await
    .map_err(|error| {
        if error.is_transient() {
            JobError::Transient(error.to_string())
        } else {
            JobError::Permanent(error.to_string())
        }
    })?;

    // A syntax error names file, document and commit; unidentifiable objects are problems.
    let parsed = desired_state
        .parse()
        .map_err(|error| JobError::Permanent(error.to_string()))?;
    let (desired, problems) = (parsed.objects, parsed.problems);
    if desired.is_empty() {
        return Err(JobError::Permanent(format!(
            "no Kubernetes objects under {:?} at {} in {}{}",
            source.path,
            desired_state.commit_sha,
            source.repo_url,
            if problems.is_empty() {
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
            }
        )));
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
    let live_source = live_source_config(context, settings);
    let observation = collect::collect(&live_source, &wanted, &options)
        .await
        .map_err(|error| {
            if error.is_transient() {
                JobError::Transient(error.to_string())
            } else {
                JobError::Permanent(error.to_string())
            }
        })?;
    let live: Vec<ManifestObject> = observation
        .objects
        .iter()
        .enumerate()
        .filter_map(|(index, value)| {
            let origin = Origin {
                file: format!("live:{}", observation.method),
                document: index + 1,
                item: None,
            };
            ManifestObject::from_value(origin, value.clone()).ok()
        })
        .collect();

    let analyze_options = AnalyzeOptions {
        application_key: context.application_id.to_string(),
        default_namespace: context.default_namespace.clone(),
        live_trusted: observation.trusted,
        ..AnalyzeOptions::default()
    };
    let analysis = analyze(
        &desired,
        &live,
        &analyze_options,
        &engine_rules(&context.rules),
    );
    let mut warnings: Vec<String> = problems.iter().map(ToString::to_string).collect();
    warnings.extend(analysis.problems.iter().map(ToString::to_string));
    warnings.extend(observation.notes.iter().cloned());
    for warning in &warnings {
        tracing::warn!(warning = %warning, "analysis warning");
    }
    Ok(JobOutput {
        analysis,
        warnings,
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
