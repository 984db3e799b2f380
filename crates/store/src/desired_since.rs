//! "Since when, in Git" answers kept per (source, commit, file, field): the history of a file
//! at a commit never changes, so a re-analysis of that commit by any worker reads the answer
//! here and runs no git command. Only answers that depend on nothing but the history are
//! kept (not a failure to read it).

use sqlx::PgPool;
use sqlx::types::Json;
use statesight_core::wire::DesiredSince;
use uuid::Uuid;

use crate::Result;
use crate::field_history::FieldKey;

/// A field's answer, with the file it is declared in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub file: String,
    pub field: FieldKey,
    pub since: DesiredSince,
}

/// The stored answers of `source_id` at `commit_sha` for these files.
pub async fn load(
    pool: &PgPool,
    source_id: Uuid,
    commit_sha: &str,
    files: &[String],
) -> Result<Vec<Answer>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        Json<DesiredSince>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT file, resource_group, resource_kind, resource_namespace, resource_name, path,
                since
           FROM desired_since
          WHERE source_id = $1 AND commit_sha = $2 AND file = ANY($3)",
    )
    .bind(source_id)
    .bind(commit_sha)
    .bind(files)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(file, group, kind, namespace, name, path, since)| Answer {
            file,
            field: FieldKey {
                group,
                kind,
                namespace,
                name,
                path,
            },
            since: since.0,
        })
        .collect())
}

/// Keeps `answers` of `source_id` at `commit_sha` (an answer already kept stays as it is).
pub async fn store(
    pool: &PgPool,
    source_id: Uuid,
    commit_sha: &str,
    answers: &[Answer],
) -> Result<()> {
    if answers.is_empty() {
        return Ok(());
    }
    let column = |get: fn(&Answer) -> &str| -> Vec<&str> { answers.iter().map(get).collect() };
    let since: Vec<Json<&DesiredSince>> = answers.iter().map(|a| Json(&a.since)).collect();
    sqlx::query(
        "INSERT INTO desired_since (source_id, commit_sha, file, resource_group, resource_kind,
                                    resource_namespace, resource_name, path, since)
         SELECT $1, $2, * FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                      $8::text[], $9::jsonb[])
         ON CONFLICT DO NOTHING",
    )
    .bind(source_id)
    .bind(commit_sha)
    .bind(column(|a| &a.file))
    .bind(column(|a| &a.field.group))
    .bind(column(|a| &a.field.kind))
    .bind(column(|a| &a.field.namespace))
    .bind(column(|a| &a.field.name))
    .bind(column(|a| &a.field.path))
    .bind(since)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes answers kept longer than `retention_days` (they are found again when needed).
pub async fn prune(pool: &PgPool, retention_days: u32) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM desired_since WHERE created_at < now() - make_interval(days => $1)",
    )
    .bind(i32::try_from(retention_days).unwrap_or(i32::MAX))
    .execute(pool)
    .await?
    .rows_affected())
}
