//! "Since when, in Git" for an analysis' findings: the commit that set each drifted field's
//! desired value. Answers are kept per (source, commit, file, field) in PostgreSQL
//! (`store::desired_since`), so re-analysing a commit — on any worker — runs no git command;
//! the missing ones are looked up file by file (`git::since_when`) through the worker's
//! in-memory history cache and then kept. A lookup that fails (a damaged mirror, a timeout,
//! the database) leaves its findings "not determined" with the reason, is not kept, and
//! never fails the analysis.

use std::collections::BTreeMap;

use sqlx::PgPool;
use statesight_core::wire::DesiredSince;
use statesight_core::{Finding, ResourceId};
use statesight_store::analysis::JobContext;
use statesight_store::desired_since::{self, Answer};
use statesight_store::field_history::FieldKey;

use crate::git::{self, FieldQuery, GitSettings, HistoryCache, Since};

/// Each finding's `since`, by (resource, path).
pub type SinceByField = BTreeMap<(ResourceId, String), DesiredSince>;

/// The answers for `findings` at `commit`: kept ones first, the rest from Git (then kept).
pub async fn lookup(
    pool: &PgPool,
    context: &JobContext,
    settings: &GitSettings,
    commit: &str,
    findings: &[Finding],
    cache: &HistoryCache,
) -> SinceByField {
    let mut files: Vec<String> = findings.iter().map(|f| f.origin.file.clone()).collect();
    files.sort_unstable();
    files.dedup();
    let kept = match desired_since::load(pool, context.source.id, commit, &files).await {
        Ok(kept) => kept,
        Err(error) => {
            tracing::warn!(%error, "reading kept since-when answers failed; asking Git");
            Vec::new()
        }
    };
    let kept: BTreeMap<(String, FieldKey), DesiredSince> = kept
        .into_iter()
        .map(|answer| ((answer.file, answer.field), answer.since))
        .collect();
    let mut found = SinceByField::new();
    let mut missing = Vec::new();
    for finding in findings {
        match kept.get(&(finding.origin.file.clone(), FieldKey::of_finding(finding))) {
            Some(since) => {
                found.insert(
                    (finding.resource.clone(), finding.path_text.clone()),
                    since.clone(),
                );
            }
            None => missing.push(finding),
        }
    }
    let looked_up = from_git(
        settings,
        &context.source.repo_url,
        commit,
        &context.default_namespace,
        &missing,
        cache,
    )
    .await;
    let mut to_keep = Vec::new();
    for (finding, (since, lasting)) in missing.iter().zip(looked_up) {
        if lasting {
            to_keep.push(Answer {
                file: finding.origin.file.clone(),
                field: FieldKey::of_finding(finding),
                since: since.clone(),
            });
        }
        found.insert((finding.resource.clone(), finding.path_text.clone()), since);
    }
    if let Err(error) = desired_since::store(pool, context.source.id, commit, &to_keep).await {
        tracing::warn!(%error, "keeping since-when answers failed; the next analysis asks Git");
    }
    found
}

/// Each finding's answer from Git, in order, and whether it depends on the history alone
/// (and so may be kept).
async fn from_git(
    settings: &GitSettings,
    repo_url: &str,
    commit: &str,
    default_namespace: &str,
    findings: &[&Finding],
    cache: &HistoryCache,
) -> Vec<(DesiredSince, bool)> {
    let mut by_file: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, finding) in findings.iter().enumerate() {
        by_file
            .entry(finding.origin.file.as_str())
            .or_default()
            .push(index);
    }
    let mut answers: Vec<Option<(DesiredSince, bool)>> = vec![None; findings.len()];
    for (file, indexes) in by_file {
        let queries: Vec<FieldQuery> = indexes
            .iter()
            .map(|index| FieldQuery {
                resource: findings[*index].resource.clone(),
                path: findings[*index].path.clone(),
                path_text: findings[*index].path_text.clone(),
            })
            .collect();
        let file_answers: Vec<(DesiredSince, bool)> = match git::since_when(
            settings,
            repo_url,
            commit,
            file,
            default_namespace,
            &queries,
            cache,
        )
        .await
        {
            Ok(answers) => answers.into_iter().map(|a| (wire_since(a), true)).collect(),
            Err(error) => {
                tracing::warn!(%error, file, "looking up since when Git declares values failed");
                let reason = format!("the repository's history could not be read: {error}");
                queries
                    .iter()
                    .map(|_| {
                        (
                            DesiredSince::NotDetermined {
                                reason: reason.clone(),
                            },
                            false,
                        )
                    })
                    .collect()
            }
        };
        for (index, answer) in indexes.into_iter().zip(file_answers) {
            answers[index] = Some(answer);
        }
    }
    answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                (
                    DesiredSince::NotDetermined {
                        reason: String::from("not looked up"),
                    },
                    false,
                )
            })
        })
        .collect()
}

fn wire_since(since: Since) -> DesiredSince {
    match since {
        Since::Changed(change) => DesiredSince::Determined {
            commit: change.commit,
            author_name: change.author_name,
            author_email: change.author_email,
            authored_at: change.authored_at,
            subject: change.subject,
        },
        Since::NotDetermined(reason) => DesiredSince::NotDetermined { reason },
    }
}
