//! "Since when, in Git" for an analysis' findings: the commit that set each drifted field's
//! desired value, looked up file by file (`git::since_when`) through the worker's shared
//! history cache, so analysing the same commit again reads no Git object twice. A lookup
//! that fails (a damaged mirror, a timeout) leaves its findings "not determined" with the
//! reason; it never fails the analysis.

use std::collections::BTreeMap;

use statesight_core::wire::DesiredSince;
use statesight_core::{Finding, ResourceId};

use crate::git::{self, FieldQuery, GitSettings, HistoryCache, Since};

/// Each finding's `since`, by (resource, path).
pub async fn desired_since(
    settings: &GitSettings,
    repo_url: &str,
    commit: &str,
    default_namespace: &str,
    findings: &[Finding],
    cache: &HistoryCache,
) -> BTreeMap<(ResourceId, String), DesiredSince> {
    let mut by_file: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for finding in findings {
        by_file
            .entry(finding.origin.file.as_str())
            .or_default()
            .push(finding);
    }
    let mut found = BTreeMap::new();
    for (file, findings) in by_file {
        let queries: Vec<FieldQuery> = findings
            .iter()
            .map(|finding| FieldQuery {
                resource: finding.resource.clone(),
                path: finding.path.clone(),
                path_text: finding.path_text.clone(),
            })
            .collect();
        let answers = match git::since_when(
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
            Ok(answers) => answers,
            Err(error) => {
                tracing::warn!(%error, file, "looking up since when Git declares values failed");
                let reason = format!("the repository's history could not be read: {error}");
                queries
                    .iter()
                    .map(|_| Since::NotDetermined(reason.clone()))
                    .collect()
            }
        };
        for (finding, answer) in findings.iter().zip(answers) {
            found.insert(
                (finding.resource.clone(), finding.path_text.clone()),
                wire_since(answer),
            );
        }
    }
    found
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
