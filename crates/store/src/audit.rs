//! The operator audit log: who changed what, with before/after and the request id. Written
//! in the same transaction as the change it describes, so neither exists without the other,
//! and chained: every entry carries the hash of the one before it
//! (`statesight_core::audit_chain`), so an entry edited, deleted or inserted behind the
//! application's back is found by [`verify`].

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use statesight_core::audit_chain::{ChainedEntry, GENESIS, StoredEntry, Verifier};
use statesight_core::wire::{AuditActor, AuditEntry, AuditProof};
use uuid::Uuid;

use crate::Result;

/// The one advisory lock that serializes appends, so the chain never forks. Held until the
/// appending transaction ends (operator changes are rare and short).
const CHAIN_LOCK: i64 = 0x5354_4154_4553_4947; // "STATESIG"

/// The issuer recorded for StateSight acting on its own (the admin CLI, the seed, the
/// scheduler); the subject says which.
pub const SYSTEM_ISSUER: &str = "statesight:system";
/// The issuer recorded for a user whose sign-in identity the caller did not supply (tests
/// acting as a user); the subject is the user id.
pub const LOCAL_USER_ISSUER: &str = "statesight:user";

/// Who is acting, as the audit log records them: the identity that signed in (issuer and
/// subject, kept even if the user is later deleted) and the local user it maps to.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub request_id: String,
    /// The verified `(iss, sub)` of the caller's token, when there was one.
    pub identity: Option<Identity>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
}

impl Actor {
    /// StateSight acting on its own (`what`: `admin-cli`, `seed`, `scheduler`, …).
    pub fn system(what: &str) -> Self {
        Actor {
            user_id: None,
            request_id: format!("system:{what}"),
            identity: Some(Identity {
                issuer: String::from(SYSTEM_ISSUER),
                subject: what.to_owned(),
            }),
        }
    }

    /// A local user, for callers that know no sign-in identity (tests, tools).
    pub fn user(user_id: Uuid, request_id: impl Into<String>) -> Self {
        Actor {
            user_id: Some(user_id),
            request_id: request_id.into(),
            identity: None,
        }
    }

    fn recorded_identity(&self) -> Identity {
        match (&self.identity, self.user_id) {
            (Some(identity), _) => identity.clone(),
            (None, Some(user)) => Identity {
                issuer: String::from(LOCAL_USER_ISSUER),
                subject: user.to_string(),
            },
            (None, None) => Identity {
                issuer: String::from(SYSTEM_ISSUER),
                subject: self.request_id.clone(),
            },
        }
    }
}

pub struct Entry<'a> {
    /// `None` for what belongs to no workspace (users, identities, workspaces themselves).
    pub workspace_id: Option<Uuid>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Uuid,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Appends `entry` at the head of the chain, inside the caller's transaction.
pub async fn append(conn: &mut PgConnection, actor: &Actor, entry: Entry<'_>) -> Result<()> {
    lock_chain(conn).await?;
    seal_unsealed(conn).await?;
    let (seq, prev_hash) = head(conn).await?;
    // What jsonb keeps is what is hashed: normalize through the database first.
    let (before, after): (Option<Value>, Option<Value>) =
        sqlx::query_as("SELECT $1::jsonb, $2::jsonb")
            .bind(&entry.before)
            .bind(&entry.after)
            .fetch_one(&mut *conn)
            .await?;
    let occurred_at = Utc::now().trunc_subsecs(6);
    let identity = actor.recorded_identity();
    let chained = ChainedEntry {
        seq: seq + 1,
        prev_hash,
        occurred_at_micros: occurred_at.timestamp_micros(),
        workspace_id: entry.workspace_id,
        actor_issuer: identity.issuer.clone(),
        actor_subject: identity.subject.clone(),
        action: entry.action.to_owned(),
        target_type: entry.target_type.to_owned(),
        target_id: Some(entry.target_id),
        before,
        after,
        request_id: actor.request_id.clone(),
    };
    let hash = chained.hash();
    sqlx::query(
        "INSERT INTO operator_audit_log
            (occurred_at, workspace_id, workspace_key, actor_user_id, actor_issuer, actor_subject,
             action, target_type, target_id, before, after, request_id, seq, prev_hash, entry_hash)
         VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(occurred_at)
    .bind(chained.workspace_id)
    .bind(actor.user_id)
    .bind(&chained.actor_issuer)
    .bind(&chained.actor_subject)
    .bind(&chained.action)
    .bind(&chained.target_type)
    .bind(chained.target_id)
    .bind(&chained.before)
    .bind(&chained.after)
    .bind(&chained.request_id)
    .bind(chained.seq)
    .bind(prev_hash.as_slice())
    .bind(hash.as_slice())
    .execute(&mut *conn)
    .await?;
    // The head in the logs is an anchor kept outside the database: a chain rewritten from
    // scratch would not match it.
    tracing::info!(
        audit_seq = chained.seq,
        audit_hash = %hex::encode(hash),
        action = %chained.action,
        "audit entry appended"
    );
    Ok(())
}

async fn lock_chain(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHAIN_LOCK)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The last chained entry's position and hash (0 and the genesis hash for an empty chain).
async fn head(conn: &mut PgConnection) -> Result<(i64, [u8; 32])> {
    let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, entry_hash FROM operator_audit_log WHERE seq IS NOT NULL
          ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some((seq, hash)) => (seq, to_hash(&hash)),
        None => (0, GENESIS),
    })
}

fn to_hash(bytes: &[u8]) -> [u8; 32] {
    let mut hash = [0u8; 32];
    if bytes.len() == 32 {
        hash.copy_from_slice(bytes);
    }
    hash
}

#[derive(sqlx::FromRow)]
struct UnsealedRow {
    id: i64,
    occurred_at: DateTime<Utc>,
    workspace_id: Option<Uuid>,
    actor_user_id: Option<Uuid>,
    action: String,
    target_type: String,
    target_id: Option<Uuid>,
    before: Option<Value>,
    after: Option<Value>,
    request_id: String,
}

/// Chains entries written before the chain existed, oldest first, with what they recorded
/// (the acting user's first identity, or the user id). Called with the chain locked.
async fn seal_unsealed(conn: &mut PgConnection) -> Result<u64> {
    let rows: Vec<UnsealedRow> = sqlx::query_as(
        "SELECT id, occurred_at, workspace_id, actor_user_id, action, target_type, target_id,
                before, after, request_id
           FROM operator_audit_log WHERE seq IS NULL ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let (mut seq, mut prev_hash) = head(conn).await?;
    for row in &rows {
        let identity = match row.actor_user_id {
            Some(user) => first_identity(conn, user).await?.unwrap_or(Identity {
                issuer: String::from(LOCAL_USER_ISSUER),
                subject: user.to_string(),
            }),
            None => Identity {
                issuer: String::from(SYSTEM_ISSUER),
                subject: row.request_id.clone(),
            },
        };
        seq += 1;
        let chained = ChainedEntry {
            seq,
            prev_hash,
            occurred_at_micros: row.occurred_at.timestamp_micros(),
            workspace_id: row.workspace_id,
            actor_issuer: identity.issuer,
            actor_subject: identity.subject,
            action: row.action.clone(),
            target_type: row.target_type.clone(),
            target_id: row.target_id,
            before: row.before.clone(),
            after: row.after.clone(),
            request_id: row.request_id.clone(),
        };
        let hash = chained.hash();
        sqlx::query(
            "UPDATE operator_audit_log
                SET workspace_key = $2, actor_issuer = $3, actor_subject = $4,
                    seq = $5, prev_hash = $6, entry_hash = $7
              WHERE id = $1",
        )
        .bind(row.id)
        .bind(chained.workspace_id)
        .bind(&chained.actor_issuer)
        .bind(&chained.actor_subject)
        .bind(seq)
        .bind(prev_hash.as_slice())
        .bind(hash.as_slice())
        .execute(&mut *conn)
        .await?;
        prev_hash = hash;
    }
    tracing::info!(
        sealed = rows.len(),
        "audit entries written before the hash chain were chained"
    );
    Ok(rows.len() as u64)
}

async fn first_identity(conn: &mut PgConnection, user: Uuid) -> Result<Option<Identity>> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT issuer, subject FROM user_identities WHERE user_id = $1
          ORDER BY issuer, subject LIMIT 1",
    )
    .bind(user)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(issuer, subject)| Identity { issuer, subject }))
}

/// Chains whatever was written before the chain existed (also done by the first append);
/// `statesight-server migrate` calls it so an upgraded log verifies at once.
pub async fn seal(pool: &PgPool) -> Result<u64> {
    let mut tx = pool.begin().await?;
    lock_chain(&mut tx).await?;
    let sealed = seal_unsealed(&mut tx).await?;
    tx.commit().await?;
    Ok(sealed)
}

/// One audit record as stored, with its place in the chain.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Record {
    pub id: i64,
    pub seq: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    /// The workspace as it was recorded (kept when the workspace is deleted).
    pub workspace_key: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub actor_issuer: Option<String>,
    pub actor_subject: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: String,
    pub prev_hash: Option<Vec<u8>>,
    pub entry_hash: Option<Vec<u8>>,
}

/// The columns a [`Record`] is read from (a macro, so queries stay string literals).
macro_rules! record_columns {
    () => {
        "id, seq, occurred_at, workspace_key, actor_user_id, actor_issuer, actor_subject, \
         action, target_type, target_id, before, after, request_id, prev_hash, entry_hash"
    };
}

impl Record {
    /// What the record's hash covers (for a sealed record).
    pub fn chained(&self) -> Option<ChainedEntry> {
        Some(ChainedEntry {
            seq: self.seq?,
            prev_hash: to_hash(self.prev_hash.as_deref()?),
            occurred_at_micros: self.occurred_at.timestamp_micros(),
            workspace_id: self.workspace_key,
            actor_issuer: self.actor_issuer.clone()?,
            actor_subject: self.actor_subject.clone()?,
            action: self.action.clone(),
            target_type: self.target_type.clone(),
            target_id: self.target_id,
            before: self.before.clone(),
            after: self.after.clone(),
            request_id: self.request_id.clone(),
        })
    }
}

impl Record {
    /// The record as the API shows it, with its proof (sealed records only).
    pub fn entry(&self) -> Option<AuditEntry> {
        let chained = self.chained()?;
        Some(AuditEntry {
            seq: chained.seq,
            occurred_at: self.occurred_at,
            workspace_id: self.workspace_key,
            actor: AuditActor {
                issuer: chained.actor_issuer.clone(),
                subject: chained.actor_subject.clone(),
                user_id: self.actor_user_id,
            },
            action: self.action.clone(),
            target_type: self.target_type.clone(),
            target_id: self.target_id,
            before: self.before.clone(),
            after: self.after.clone(),
            request_id: self.request_id.clone(),
            proof: AuditProof {
                seq: chained.seq,
                prev_hash: hex::encode(chained.prev_hash),
                hash: hex::encode(self.entry_hash.as_deref().unwrap_or_default()),
                canonical: chained.canonical(),
            },
        })
    }
}

/// The most recent records of a workspace, newest first.
pub async fn recent(pool: &PgPool, workspace_id: Uuid, limit: i64) -> Result<Vec<Record>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        record_columns!(),
        " FROM operator_audit_log
          WHERE workspace_key = $1 OR (workspace_key IS NULL AND workspace_id = $1)
          ORDER BY id DESC LIMIT $2"
    ))
    .bind(workspace_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// One page of a workspace's chained entries, newest first, each with its proof.
pub async fn page(
    pool: &PgPool,
    workspace_id: Uuid,
    after: Option<&crate::keyset::BySeqDesc>,
    limit: i64,
) -> Result<crate::Page<AuditEntry, crate::keyset::BySeqDesc>> {
    let before_seq = after.map(|key| key.seq);
    let rows: Vec<Record> = sqlx::query_as(concat!(
        "SELECT ",
        record_columns!(),
        " FROM operator_audit_log
          WHERE workspace_key = $1 AND seq IS NOT NULL AND ($2::bigint IS NULL OR seq < $2)
          ORDER BY seq DESC LIMIT $3"
    ))
    .bind(workspace_id)
    .bind(before_seq)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let entries = rows.iter().filter_map(Record::entry).collect();
    Ok(crate::Page::from_rows(
        entries,
        limit,
        |entry: &AuditEntry| crate::keyset::BySeqDesc { seq: entry.seq },
    ))
}

/// The chain's head: the last entry's position and hash.
pub async fn chain_head(pool: &PgPool) -> Result<Option<(i64, [u8; 32])>> {
    let mut conn = pool.acquire().await?;
    let (seq, hash) = head(&mut conn).await?;
    Ok((seq > 0).then_some((seq, hash)))
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Entries checked and found in order.
    pub checked: u64,
    /// The last good entry (record its position and hash elsewhere to notice a rewrite).
    pub head: Option<(i64, [u8; 32])>,
    /// Entries written before the chain existed and not chained yet.
    pub unsealed: u64,
    /// The first entry edited, deleted or inserted, if any.
    pub broken: Option<statesight_core::audit_chain::Break>,
}

/// Reads the whole log in chain order, in batches, and checks every link.
pub async fn verify(pool: &PgPool) -> Result<Verification> {
    const BATCH: i64 = 5_000;
    let mut verifier = Verifier::new();
    // (seq, id) of the last row read: rows are read in that order, so a second row at one
    // position is seen too.
    let mut after: (i64, i64) = (i64::MIN, i64::MIN);
    loop {
        let rows: Vec<Record> = sqlx::query_as(concat!(
            "SELECT ",
            record_columns!(),
            " FROM operator_audit_log
              WHERE seq IS NOT NULL AND (seq, id) > ($1, $2)
              ORDER BY seq, id LIMIT $3"
        ))
        .bind(after.0)
        .bind(after.1)
        .bind(BATCH)
        .fetch_all(pool)
        .await?;
        for record in &rows {
            let Some(entry) = record.chained() else {
                continue;
            };
            verifier.push(&StoredEntry {
                id: record.id,
                entry_hash: to_hash(record.entry_hash.as_deref().unwrap_or_default()),
                entry,
            });
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == BATCH => {
                after = (last.seq.unwrap_or_default(), last.id);
            }
            _ => break,
        }
    }
    let unsealed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM operator_audit_log WHERE seq IS NULL")
            .fetch_one(pool)
            .await?;
    let checked = verifier.checked();
    let (head, broken) = match verifier.finish() {
        Ok(head) => (head, None),
        Err(broken) => (None, Some(broken)),
    };
    Ok(Verification {
        checked,
        head,
        unsealed: u64::try_from(unsealed).unwrap_or_default(),
        broken,
    })
}

/// The stored hash of the entry at `seq`, if there is one.
pub async fn hash_at(pool: &PgPool, seq: i64) -> Result<Option<[u8; 32]>> {
    let row: Option<(Vec<u8>,)> = sqlx::query_as(
        "SELECT entry_hash FROM operator_audit_log WHERE seq = $1 ORDER BY id LIMIT 1",
    )
    .bind(seq)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(hash,)| to_hash(&hash)))
}
