//! Keyset pagination. A page is fetched with `limit + 1` rows; the extra row only says
//! whether another page exists, and the last returned row's sort key becomes the next
//! cursor. Keys are plain serializable values; encoding them as opaque cursors is the
//! API's business.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    /// The key after which the next page starts; `None` on the last page.
    pub next: Option<K>,
}

impl<T, K> Page<T, K> {
    /// Builds a page from up to `limit + 1` rows fetched in sort order.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key_of: impl Fn(&T) -> K) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let next = if has_more {
            rows.last().map(key_of)
        } else {
            None
        };
        Page { items: rows, next }
    }
}

/// Sort key of lists ordered by name (applications): `(name, id)` ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByName {
    pub name: String,
    pub id: Uuid,
}

/// Sort key of lists ordered newest first: `(time, id)` descending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByTimeDesc {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// Sort key of findings within one observation: `(ordinal, id)` ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByOrdinal {
    pub ordinal: i32,
    pub id: Uuid,
}

/// Sort key of findings across the open incidents of an application: `(incident id,
/// ordinal, id)` ascending, so each incident's findings stay together in `ByOrdinal`'s order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByIncidentOrdinal {
    pub incident_id: Uuid,
    pub ordinal: i32,
    pub id: Uuid,
}

/// Sort key of an incident's timeline, oldest first: `(time, ordinal, id)` ascending (events
/// written together keep their written order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByTimeAsc {
    pub at: DateTime<Utc>,
    pub ordinal: i32,
    pub id: Uuid,
}

/// Sort key of the audit log, newest first: the chain position, descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BySeqDesc {
    pub seq: i64,
}
