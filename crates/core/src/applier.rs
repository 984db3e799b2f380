//! Evidence for choosing the applier among an object's managedFields entries (the decision
//! order is documented on [`crate::diff::detect_roles`]): per manager name, how many
//! Git-declared leaves it owns whose live value equals Git's, whether it applied server-side,
//! whether it owns a last-applied configuration that agrees with Git, and when it wrote.
//!
//! The walk compares values as the diff does (numbers and quantities by value, empty or zero in
//! Git equal to absent live, keyed lists by merge key, Secret data as bytes) without building
//! paths or allocating per field.

use serde_json::{Map, Value};

use crate::diff::{LAST_APPLIED, atomic_owners, is_server_metadata};
use crate::fields::{FieldOwnership, ManagerSet, NodeId, Operation};
use crate::normalize::{empty_or_zero, is_quantity_position, keyed_list, lookup, scalar_equal};
use crate::secret;

/// Managers of kubectl commands that change single fields by hand (the default field manager
/// kubectl gives each command). They never apply a whole manifest, so they are the applier
/// only when nobody else has better evidence.
pub const IMPERATIVE_MANAGERS: &[&str] = &[
    "kubectl-annotate",
    "kubectl-edit",
    "kubectl-label",
    "kubectl-patch",
    "kubectl-rollout",
    "kubectl-scale",
    "kubectl-set",
    "kubectl-taint",
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Root,
    Metadata,
    Annotations,
    Other,
}

impl Level {
    fn skips(self, field: &str) -> bool {
        match self {
            Level::Root => matches!(field, "apiVersion" | "kind" | "status"),
            Level::Metadata => is_server_metadata(field),
            Level::Annotations => field == LAST_APPLIED,
            Level::Other => false,
        }
    }

    fn child(self, field: &str) -> Level {
        match (self, field) {
            (Level::Root, "metadata") => Level::Metadata,
            (Level::Metadata, "annotations") => Level::Annotations,
            _ => Level::Other,
        }
    }
}

/// Counts, per managedFields entry, the Git-declared leaves it owns (exactly or through an
/// atomic ancestor) whose live value equals Git's: the entry's support.
pub(crate) struct SupportWalk<'o, 'v, 'c> {
    pub own: &'o FieldOwnership<'v>,
    pub support: &'c mut [u32; ManagerSet::MAX_ENTRIES],
    /// Entry -> the first entry of the same manager name, when some name has several entries
    /// (so a leaf two entries of one name co-own counts once for that name).
    pub representative: Option<&'c [u8; ManagerSet::MAX_ENTRIES]>,
    /// Stop as soon as one of these entries gains support.
    pub stop_when: ManagerSet,
    pub stopped: bool,
    /// The object is a Secret: `data`/`stringData` compare as bytes against live `data`.
    pub secret: bool,
}

impl SupportWalk<'_, '_, '_> {
    fn add(&mut self, set: ManagerSet) {
        let set = match self.representative {
            Some(rep) => set.iter().fold(ManagerSet::EMPTY, |acc, i| {
                acc.union(ManagerSet::single(usize::from(rep[i])))
            }),
            None => set,
        };
        for i in set.iter() {
            self.support[i] += 1;
        }
        if !set.intersect(self.stop_when).is_empty() {
            self.stopped = true;
        }
    }

    /// Walks `desired` with the live value at the same place and the ownership node there.
    #[allow(clippy::too_many_arguments)]
    pub fn count(
        &mut self,
        desired: &Value,
        live: Option<&Value>,
        node: Option<NodeId>,
        atomic: ManagerSet,
        field: Option<&str>,
        quantity: bool,
        level: Level,
    ) {
        if self.stopped {
            return;
        }
        let own = self.own;
        let live = live.filter(|l| !l.is_null());
        match desired {
            Value::Object(map) if !map.is_empty() => {
                let below = atomic.union(atomic_owners(own, node, desired, field));
                let live_map = live.and_then(Value::as_object);
                if level == Level::Root && self.secret {
                    self.secret_data(map, live_map, node, below);
                }
                for (k, v) in map {
                    if v.is_null()
                        || level.skips(k)
                        || (level == Level::Root
                            && self.secret
                            && (k == "data" || k == "stringData"))
                    {
                        continue;
                    }
                    let lv = live_map.and_then(|m| lookup(m, k));
                    let quantity = is_quantity_position(field, k);
                    match node.and_then(|n| own.field(n, k)) {
                        Some(child) => {
                            self.count(v, lv, Some(child), below, Some(k), quantity, level.child(k))
                        }
                        None => {
                            if !below.is_empty() && declared_equal(v, lv, Some(k), quantity) {
                                self.add(below);
                            }
                        }
                    }
                    if self.stopped {
                        return;
                    }
                }
            }
            Value::Array(items) if !items.is_empty() => {
                let live_items = live
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                let keyed = field.and_then(|f| {
                    keyed_list(f, items, live_items)
                        .map(|k| (k, true))
                        .or_else(|| keyed_list(f, items, &[]).map(|k| (k, false)))
                });
                match keyed {
                    Some((keyed, matched)) => {
                        let below = atomic.union(atomic_owners(own, node, desired, field));
                        for (i, item) in items.iter().enumerate() {
                            let live_item = if matched {
                                keyed.live_match(i).map(|j| &live_items[j])
                            } else {
                                None
                            };
                            let child = node.and_then(|n| {
                                own.keyed_item(n, keyed.keys, &keyed.desired[i], item, i)
                            });
                            match child {
                                Some(child) => self.count(
                                    item,
                                    live_item,
                                    Some(child),
                                    below,
                                    None,
                                    false,
                                    Level::Other,
                                ),
                                None => {
                                    if !below.is_empty()
                                        && declared_equal(item, live_item, None, false)
                                    {
                                        self.add(below);
                                    }
                                }
                            }
                            if self.stopped {
                                return;
                            }
                        }
                    }
                    None => {
                        // A list compared whole or item by item in order: one leaf, owned by
                        // whoever owns the list or anything in it.
                        let owners =
                            atomic.union(node.map_or(ManagerSet::EMPTY, |n| own.subtree(n)));
                        if !owners.is_empty() && declared_equal(desired, live, field, quantity) {
                            self.add(owners);
                        }
                    }
                }
            }
            _ => {
                let owners = atomic.union(node.map_or(ManagerSet::EMPTY, |n| own.owned(n)));
                if !owners.is_empty() && declared_equal(desired, live, field, quantity) {
                    self.add(owners);
                }
            }
        }
    }

    /// Secret `data`/`stringData`: Git's `stringData` lands in live `data`, so both compare as
    /// bytes with live `data`; a `stringData` key is owned through either map (an `Apply`
    /// records the map it sent, an `Update` the map it changed).
    fn secret_data(
        &mut self,
        desired: &Map<String, Value>,
        live: Option<&Map<String, Value>>,
        node: Option<NodeId>,
        atomic: ManagerSet,
    ) {
        let own = self.own;
        let live_data = live
            .and_then(|m| lookup(m, "data"))
            .and_then(Value::as_object);
        let data_node = node.and_then(|n| own.field(n, "data"));
        for map_name in ["data", "stringData"] {
            let Some(map) = lookup(desired, map_name).and_then(Value::as_object) else {
                continue;
            };
            let map_node = node.and_then(|n| own.field(n, map_name));
            for (k, dv) in map {
                if dv.is_null() {
                    continue;
                }
                let mut owners = atomic.union(
                    map_node
                        .and_then(|n| own.field(n, k))
                        .map_or(ManagerSet::EMPTY, |n| own.owned(n)),
                );
                if map_name == "stringData" {
                    owners = owners.union(
                        data_node
                            .and_then(|n| own.field(n, k))
                            .map_or(ManagerSet::EMPTY, |n| own.owned(n)),
                    );
                }
                if owners.is_empty() {
                    continue;
                }
                let want = if map_name == "data" {
                    secret::data_bytes(dv)
                } else {
                    secret::string_data_bytes(dv)
                };
                let equal = match live_data.and_then(|m| lookup(m, k)) {
                    Some(lv) => secret::data_bytes(lv) == want,
                    None => want.is_empty(),
                };
                if equal {
                    self.add(owners);
                    if self.stopped {
                        return;
                    }
                }
            }
        }
    }
}

/// Whether `live` holds what `desired` declares, as the diff compares them: nothing Git
/// declares beneath would be reported. Live-only map keys do not count against it (the diff
/// judges those on ownership); live-only list items do (the diff reports them).
pub(crate) fn declared_equal(
    desired: &Value,
    live: Option<&Value>,
    field: Option<&str>,
    quantity: bool,
) -> bool {
    let live = match live {
        Some(l) if !l.is_null() => l,
        _ => return empty_or_zero(desired),
    };
    match (desired, live) {
        (Value::Null, _) => true,
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, v)| {
            v.is_null() || declared_equal(v, lookup(l, k), Some(k), is_quantity_position(field, k))
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len()
                && match field.and_then(|f| keyed_list(f, d, l)) {
                    Some(keyed) => (0..d.len()).all(|i| {
                        keyed
                            .live_match(i)
                            .is_some_and(|j| declared_equal(&d[i], Some(&l[j]), None, false))
                    }),
                    None => d
                        .iter()
                        .zip(l)
                        .all(|(x, y)| declared_equal(x, Some(y), None, false)),
                }
        }
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        _ => scalar_equal(desired, live, quantity),
    }
}

/// Whether a configuration (a last-applied annotation's) agrees with every leaf Git declares,
/// server metadata and status aside.
pub(crate) fn configuration_agrees(desired: &Value, config: &Value) -> bool {
    fn agrees(desired: &Value, config: Option<&Value>, level: Level) -> bool {
        match (desired, config) {
            (Value::Object(d), Some(Value::Object(c))) if level != Level::Other => {
                d.iter().all(|(k, v)| {
                    v.is_null() || level.skips(k) || agrees(v, lookup(c, k), level.child(k))
                })
            }
            (_, config) => declared_equal(desired, config, None, false),
        }
    }
    // Field names matter below the root (keyed lists, quantities): compare each root field
    // with its name.
    match (desired, config) {
        (Value::Object(d), Value::Object(c)) => d.iter().all(|(k, v)| {
            if v.is_null() || Level::Root.skips(k) {
                true
            } else if k == "metadata" {
                agrees(v, lookup(c, k), Level::Metadata)
            } else {
                declared_equal(v, lookup(c, k), Some(k), false)
            }
        }),
        _ => false,
    }
}

/// One manager name among the applier candidates, with its evidence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub name: &'a str,
    pub entries: ManagerSet,
    pub support: u32,
    pub apply: bool,
    /// The earliest `time` of its entries (`None`: no entry has one).
    pub time: Option<&'a str>,
}

impl<'a> Candidate<'a> {
    /// Groups the candidate entries by manager name, in entry order.
    pub fn by_name(
        own: &FieldOwnership<'a>,
        candidates: ManagerSet,
        support: &[u32; ManagerSet::MAX_ENTRIES],
    ) -> Vec<Candidate<'a>> {
        let mut out: Vec<Candidate<'a>> = Vec::with_capacity(own.entries.len());
        for i in candidates.iter() {
            let e = &own.entries[i];
            let apply = e.operation == Operation::Apply;
            match out.iter_mut().find(|c| c.name == e.manager) {
                Some(c) => {
                    c.entries = c.entries.union(ManagerSet::single(i));
                    c.support += support[i];
                    c.apply |= apply;
                    c.time = match (c.time, e.time) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                None => out.push(Candidate {
                    name: e.manager,
                    entries: ManagerSet::single(i),
                    support: support[i],
                    apply,
                    time: e.time,
                }),
            }
        }
        out
    }
}

/// Picks the applier among `candidates` (see [`crate::diff::detect_roles`] for the order).
/// `last_applied_agrees` says whether the last-applied annotation agrees with Git; it is only
/// asked when a tie gets that far. `last_applied_owners` are the entries owning that annotation.
pub(crate) fn choose<'a>(
    mut candidates: Vec<Candidate<'a>>,
    last_applied_owners: ManagerSet,
    last_applied_agrees: impl FnOnce() -> bool,
) -> Option<Candidate<'a>> {
    // 1. Support: equal declared leaves owned.
    let best = candidates.iter().map(|c| c.support).max().unwrap_or(0);
    if best == 0 {
        return None;
    }
    candidates.retain(|c| c.support == best);
    // 2. Server-side apply.
    narrow(&mut candidates, |c| c.apply);
    // 3. Client-side apply of what Git declares.
    if candidates.len() > 1
        && candidates
            .iter()
            .any(|c| !c.entries.intersect(last_applied_owners).is_empty())
        && last_applied_agrees()
    {
        narrow(&mut candidates, |c| {
            !c.entries.intersect(last_applied_owners).is_empty()
        });
    }
    // 4. Not an imperative kubectl command.
    narrow(&mut candidates, |c| !IMPERATIVE_MANAGERS.contains(&c.name));
    // 5. The oldest writer (no time counts as newest), then 6. the name.
    candidates.into_iter().min_by(|a, b| {
        (a.time.is_none(), a.time)
            .cmp(&(b.time.is_none(), b.time))
            .then_with(|| a.name.cmp(b.name))
    })
}

/// Keeps the candidates with `better` when some have it and others not.
fn narrow(candidates: &mut Vec<Candidate<'_>>, better: impl Fn(&Candidate<'_>) -> bool) {
    if candidates.len() > 1 && candidates.iter().any(&better) {
        candidates.retain(|c| better(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declared_equal_follows_the_diff() {
        assert!(declared_equal(
            &json!("500m"),
            Some(&json!("0.5")),
            Some("cpu"),
            true
        ));
        assert!(!declared_equal(
            &json!("500m"),
            Some(&json!("0.5")),
            Some("x"),
            false
        ));
        assert!(declared_equal(&json!(false), None, None, false));
        assert!(declared_equal(
            &json!({"a": 1}),
            Some(&json!({"a": 1.0, "b": 2})),
            None,
            false
        ));
        assert!(declared_equal(
            &json!([{"name": "a", "value": "1"}, {"name": "b"}]),
            Some(&json!([{"name": "b"}, {"name": "a", "value": "1"}])),
            Some("env"),
            false
        ));
        assert!(!declared_equal(
            &json!([{"name": "a"}]),
            Some(&json!([{"name": "a"}, {"name": "b"}])),
            Some("env"),
            false
        ));
        assert!(!declared_equal(
            &json!(["a"]),
            Some(&json!(["a", "b"])),
            None,
            false
        ));
    }

    fn candidate(
        name: &'static str,
        entry: usize,
        support: u32,
        apply: bool,
        time: Option<&'static str>,
    ) -> Candidate<'static> {
        Candidate {
            name,
            entries: ManagerSet::single(entry),
            support,
            apply,
            time,
        }
    }

    fn chosen(
        candidates: Vec<Candidate<'static>>,
        last_applied: ManagerSet,
        agrees: bool,
    ) -> Option<&'static str> {
        choose(candidates, last_applied, || agrees).map(|c| c.name)
    }

    /// Each step of the order decides only ties of the steps before it.
    #[test]
    fn choice_order() {
        let t1 = Some("2026-01-01T00:00:00Z");
        let t2 = Some("2026-02-01T00:00:00Z");
        // 1. support, whatever else.
        let apply_less = vec![
            candidate("argocd-controller", 0, 2, true, t1),
            candidate("helm", 1, 3, false, t2),
        ];
        assert_eq!(chosen(apply_less, ManagerSet::EMPTY, false), Some("helm"));
        assert_eq!(
            chosen(
                vec![candidate("kubectl-edit", 0, 0, false, t1)],
                ManagerSet::EMPTY,
                false
            ),
            None
        );
        // 2. Apply.
        let tie = vec![
            candidate("helm", 0, 3, false, t1),
            candidate("kubectl", 1, 3, true, t2),
        ];
        assert_eq!(chosen(tie, ManagerSet::EMPTY, false), Some("kubectl"));
        // 3. last-applied agreeing with Git; not when it disagrees.
        let tie = || {
            vec![
                candidate("ledger-operator", 0, 3, false, t1),
                candidate("kubectl-client-side-apply", 1, 3, false, t2),
            ]
        };
        assert_eq!(
            chosen(tie(), ManagerSet::single(1), true),
            Some("kubectl-client-side-apply")
        );
        assert_eq!(
            chosen(tie(), ManagerSet::single(1), false),
            Some("ledger-operator")
        );
        // 4. imperative commands last, even when older.
        let tie = vec![
            candidate("kubectl-edit", 0, 3, false, t1),
            candidate("kubectl-client-side-apply", 1, 3, false, t2),
        ];
        assert_eq!(
            chosen(tie, ManagerSet::single(1), false),
            Some("kubectl-client-side-apply")
        );
        // 5. oldest (no time = newest), 6. name.
        let tie = vec![
            candidate("b", 0, 3, false, None),
            candidate("c", 1, 3, false, t2),
            candidate("d", 2, 3, false, t1),
        ];
        assert_eq!(chosen(tie, ManagerSet::EMPTY, false), Some("d"));
        let tie = vec![
            candidate("b", 0, 3, false, t1),
            candidate("a", 1, 3, false, t1),
        ];
        assert_eq!(chosen(tie, ManagerSet::EMPTY, false), Some("a"));
    }

    #[test]
    fn configuration_agreement_ignores_server_metadata_and_extra_keys() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {"a": "1"}}, "data": {"k": "v"}});
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {"a": "1", "tracking": "x"}},
            "data": {"k": "v", "old": "y"}});
        assert!(configuration_agrees(&desired, &config));
        let changed =
            json!({"metadata": {"name": "c", "annotations": {"a": "2"}}, "data": {"k": "v"}});
        assert!(!configuration_agrees(&desired, &changed));
    }
}
