//! The operator audit log's hash chain: what an entry's hash covers, and how a chain read
//! back in order is checked. Pure: the store feeds rows in and writes what this computes.
//!
//! Each entry's hash is SHA-256 of its canonical text, which holds the previous entry's hash,
//! so changing, removing or inserting an entry anywhere breaks the chain from there on. The
//! canonical text covers immutable copies only (the actor's issuer and subject, the
//! workspace id as it was), never a reference that deleting a user or workspace later sets
//! to null. A chain can be recomputed from scratch by someone who can write the whole table:
//! the head (position and hash) must also be kept somewhere else — the server logs it on
//! every append and `audit verify` prints it — to notice that.

use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The hash before the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Bumped if the canonical text ever changes; part of the text, so old entries keep verifying
/// under the version they were written with.
pub const CANONICAL_VERSION: u32 = 1;

/// Everything an entry's hash covers.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainedEntry {
    pub seq: i64,
    pub prev_hash: [u8; 32],
    /// Microseconds since the Unix epoch (what PostgreSQL's `timestamptz` keeps).
    pub occurred_at_micros: i64,
    pub workspace_id: Option<Uuid>,
    pub actor_issuer: String,
    pub actor_subject: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: String,
}

impl ChainedEntry {
    /// The exact text hashed: a JSON object with its keys in a fixed order and `before` and
    /// `after` with their object keys sorted, so the same entry always gives the same bytes.
    pub fn canonical(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str(&format!("{{\"v\":{CANONICAL_VERSION},\"seq\":{}", self.seq));
        out.push_str(&format!(",\"prev\":\"{}\"", hex::encode(self.prev_hash)));
        out.push_str(&format!(",\"at\":{}", self.occurred_at_micros));
        push_field(&mut out, "workspace", &uuid_value(self.workspace_id));
        push_field(&mut out, "iss", &Value::String(self.actor_issuer.clone()));
        push_field(&mut out, "sub", &Value::String(self.actor_subject.clone()));
        push_field(&mut out, "action", &Value::String(self.action.clone()));
        push_field(
            &mut out,
            "target_type",
            &Value::String(self.target_type.clone()),
        );
        push_field(&mut out, "target_id", &uuid_value(self.target_id));
        push_field(
            &mut out,
            "before",
            self.before.as_ref().unwrap_or(&Value::Null),
        );
        push_field(
            &mut out,
            "after",
            self.after.as_ref().unwrap_or(&Value::Null),
        );
        push_field(
            &mut out,
            "request_id",
            &Value::String(self.request_id.clone()),
        );
        out.push('}');
        out
    }

    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.canonical().as_bytes()).into()
    }
}

fn uuid_value(id: Option<Uuid>) -> Value {
    id.map_or(Value::Null, |id| Value::String(id.to_string()))
}

fn push_field(out: &mut String, key: &str, value: &Value) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":");
    write_sorted(out, value);
}

/// JSON with object keys in byte order at every depth.
fn write_sorted(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_sorted(out, &map[key]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_sorted(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A stored entry as read back: its row id, what it claims as hash, and its content.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub id: i64,
    pub entry_hash: [u8; 32],
    pub entry: ChainedEntry,
}

/// The first thing wrong with a chain, naming the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The entry's content no longer gives its hash: it was edited.
    Edited { seq: i64, id: i64 },
    /// Positions `from..=to` are missing: those entries were deleted.
    Deleted { from: i64, to: i64 },
    /// The entry does not belong where it stands (a second entry at one position, or one
    /// that does not link to the entry before it): it was inserted, or the entry before it
    /// was rewritten together with its hash.
    Inserted { seq: i64, id: i64 },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Edited { seq, id } => write!(
                f,
                "entry {seq} (row id {id}) was edited: its content does not match its hash"
            ),
            Break::Deleted { from, to } if from == to => {
                write!(
                    f,
                    "entry {from} was deleted: the chain skips from {} to {}",
                    from - 1,
                    to + 1
                )
            }
            Break::Deleted { from, to } => write!(
                f,
                "entries {from} to {to} were deleted: the chain skips from {} to {}",
                from - 1,
                to + 1
            ),
            Break::Inserted { seq, id } => write!(
                f,
                "entry {seq} (row id {id}) was inserted: it does not follow the entry before it \
                 (or that entry was rewritten with a new hash)"
            ),
        }
    }
}

/// Checks entries fed in chain order (by `seq`, then row id), one at a time, so a log of any
/// length is checked in constant memory.
#[derive(Debug, Default)]
pub struct Verifier {
    last: Option<(i64, i64, [u8; 32])>,
    checked: u64,
    broken: Option<Break>,
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// Takes the next entry; after the first break, further entries are ignored.
    pub fn push(&mut self, stored: &StoredEntry) {
        if self.broken.is_some() {
            return;
        }
        self.broken = self.check(stored);
        if self.broken.is_none() {
            self.checked += 1;
            self.last = Some((stored.entry.seq, stored.id, stored.entry_hash));
        }
    }

    fn check(&self, stored: &StoredEntry) -> Option<Break> {
        let entry = &stored.entry;
        let (expected_seq, expected_prev, last_id) = match self.last {
            Some((seq, id, hash)) => (seq + 1, hash, Some(id)),
            None => (1, GENESIS, None),
        };
        if entry.seq < expected_seq {
            return Some(Break::Inserted {
                seq: entry.seq,
                id: stored.id,
            });
        }
        if entry.seq > expected_seq {
            return Some(Break::Deleted {
                from: expected_seq,
                to: entry.seq - 1,
            });
        }
        // Rows are numbered as they are written, under the chain's lock, so row ids grow along
        // the chain: an entry with a larger row id than the one after it was written later,
        // i.e. put in between.
        if let (Some((seq, _, _)), Some(id)) = (self.last, last_id)
            && id > stored.id
        {
            return Some(Break::Inserted { seq, id });
        }
        if entry.hash() != stored.entry_hash {
            return Some(Break::Edited {
                seq: entry.seq,
                id: stored.id,
            });
        }
        if entry.prev_hash != expected_prev {
            return Some(Break::Inserted {
                seq: entry.seq,
                id: stored.id,
            });
        }
        None
    }

    /// Entries checked and found in order.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The last good entry: its position and hash (what to record elsewhere as an anchor).
    pub fn head(&self) -> Option<(i64, [u8; 32])> {
        self.last.map(|(seq, _, hash)| (seq, hash))
    }

    pub fn finish(self) -> Result<Option<(i64, [u8; 32])>, Break> {
        match self.broken {
            Some(broken) => Err(broken),
            None => Ok(self.head()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(seq: i64, prev: [u8; 32]) -> ChainedEntry {
        ChainedEntry {
            seq,
            prev_hash: prev,
            occurred_at_micros: 1_764_547_200_000_000 + seq,
            workspace_id: Some(Uuid::from_u128(7)),
            actor_issuer: String::from("https://login.example.com"),
            actor_subject: String::from("ada"),
            action: String::from("ignore_rule.create"),
            target_type: String::from("ignore_rule"),
            target_id: Some(Uuid::from_u128(seq as u128)),
            before: None,
            after: Some(json!({"name": format!("rule-{seq}"), "enabled": true})),
            request_id: format!("req-{seq}"),
        }
    }

    fn chain(length: i64) -> Vec<StoredEntry> {
        let mut prev = GENESIS;
        (1..=length)
            .map(|seq| {
                let entry = entry(seq, prev);
                prev = entry.hash();
                StoredEntry {
                    id: seq * 10,
                    entry_hash: prev,
                    entry,
                }
            })
            .collect()
    }

    fn verify(entries: &[StoredEntry]) -> Result<Option<(i64, [u8; 32])>, Break> {
        let mut verifier = Verifier::new();
        for stored in entries {
            verifier.push(stored);
        }
        verifier.finish()
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let mut a = entry(1, GENESIS);
        let mut b = a.clone();
        a.after = Some(json!({"a": 1, "b": {"y": 2, "x": [1, {"q": 1, "p": 2}]}}));
        b.after =
            serde_json::from_str(r#"{"b": {"x": [1, {"p": 2, "q": 1}], "y": 2}, "a": 1}"#).ok();
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn every_field_is_covered() {
        let base = entry(3, [9; 32]);
        let variants: Vec<ChainedEntry> = vec![
            ChainedEntry {
                seq: 4,
                ..base.clone()
            },
            ChainedEntry {
                prev_hash: [8; 32],
                ..base.clone()
            },
            ChainedEntry {
                occurred_at_micros: 1,
                ..base.clone()
            },
            ChainedEntry {
                workspace_id: None,
                ..base.clone()
            },
            ChainedEntry {
                actor_issuer: String::from("x"),
                ..base.clone()
            },
            ChainedEntry {
                actor_subject: String::from("x"),
                ..base.clone()
            },
            ChainedEntry {
                action: String::from("x"),
                ..base.clone()
            },
            ChainedEntry {
                target_type: String::from("x"),
                ..base.clone()
            },
            ChainedEntry {
                target_id: None,
                ..base.clone()
            },
            ChainedEntry {
                before: Some(json!(1)),
                ..base.clone()
            },
            ChainedEntry {
                after: None,
                ..base.clone()
            },
            ChainedEntry {
                request_id: String::from("x"),
                ..base.clone()
            },
        ];
        for variant in variants {
            assert_ne!(variant.hash(), base.hash(), "{variant:?}");
        }
    }

    #[test]
    fn strings_cannot_forge_the_structure() {
        let mut a = entry(1, GENESIS);
        a.actor_issuer = String::from("x\",\"sub\":\"y");
        a.actor_subject = String::from("z");
        let mut b = entry(1, GENESIS);
        b.actor_issuer = String::from("x");
        b.actor_subject = String::from("y\",\"sub\":\"z");
        assert_ne!(a.canonical(), b.canonical());
    }

    #[test]
    fn an_intact_chain_verifies_and_names_its_head() {
        let entries = chain(5);
        let head = verify(&entries).expect("intact");
        assert_eq!(head, Some((5, entries[4].entry_hash)));
        assert_eq!(verify(&[]), Ok(None));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut entries = chain(5);
        entries[2].entry.after = Some(json!({"name": "rule-3", "enabled": false}));
        assert_eq!(verify(&entries), Err(Break::Edited { seq: 3, id: 30 }));
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
        let mut entries = chain(5);
        entries[2].entry.request_id = String::from("forged");
        entries[2].entry_hash = entries[2].entry.hash();
        assert_eq!(verify(&entries), Err(Break::Inserted { seq: 4, id: 40 }));
    }

    #[test]
    fn a_deleted_entry_is_named() {
        let mut entries = chain(5);
        entries.remove(1);
        assert_eq!(verify(&entries), Err(Break::Deleted { from: 2, to: 2 }));
        let mut entries = chain(6);
        entries.drain(2..4);
        assert_eq!(verify(&entries), Err(Break::Deleted { from: 3, to: 4 }));
    }

    #[test]
    fn an_inserted_entry_is_named() {
        // Made up and put at a free position after the head.
        let mut entries = chain(3);
        let forged = entry(4, [1; 32]);
        entries.push(StoredEntry {
            id: 99,
            entry_hash: forged.hash(),
            entry: forged,
        });
        assert_eq!(verify(&entries), Err(Break::Inserted { seq: 4, id: 99 }));

        // Put in between, the later entries renumbered: it links and hashes, but it was
        // written after them (a larger row id), and the next one no longer links.
        let mut entries = chain(4);
        let inserted = entry(3, entries[1].entry_hash);
        let inserted = StoredEntry {
            id: 999,
            entry_hash: inserted.hash(),
            entry: inserted,
        };
        for stored in entries.iter_mut().skip(2) {
            stored.entry.seq += 1;
        }
        entries.insert(2, inserted);
        assert_eq!(verify(&entries), Err(Break::Inserted { seq: 3, id: 999 }));

        // A second entry at a taken position.
        let mut entries = chain(3);
        let twin = entry(2, entries[0].entry_hash);
        entries.insert(
            2,
            StoredEntry {
                id: 25,
                entry_hash: twin.hash(),
                entry: twin,
            },
        );
        assert_eq!(verify(&entries), Err(Break::Inserted { seq: 2, id: 25 }));
    }
}
