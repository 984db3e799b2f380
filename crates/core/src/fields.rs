//! Field ownership from `metadata.managedFields` (FieldsV1). All managers' field sets are
//! merged once per object into one compact trie whose nodes record, as bit sets, which manager
//! entries own the node (`{}` leaf or `"."`) and which own something beneath it. The diff walks
//! this trie in step with the objects, so "who owns this path" costs one child lookup per step.
//!
//! FieldsV1 facts relied on: `f:<name>` fields, `k:{…}` keyed items (key fields sorted and
//! JSON-typed, defaulted ones such as `protocol: TCP` included), `v:<json>` set members,
//! `i:<n>` positions, `"."` for the node itself. The trie borrows names from the live object.

use serde_json::{Map, Value};

/// The operation a managedFields entry records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(into = "String")]
pub enum Operation {
    /// Server-side apply: the manager asserted the value.
    Apply,
    /// Create/update/patch: the manager last changed the value.
    Update,
    Other(String),
}

impl From<Operation> for String {
    fn from(op: Operation) -> String {
        op.as_str().to_owned()
    }
}

impl Operation {
    pub fn as_str(&self) -> &str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
            Operation::Other(s) => s,
        }
    }
}

/// One `managedFields` entry, without its field set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerEntry {
    pub manager: String,
    pub operation: Operation,
    pub subresource: Option<String>,
    /// As the cluster recorded it; one time per entry, not per field.
    pub time: Option<String>,
}

/// A set of manager entries (indexes into [`FieldOwnership::entries`]), as a bit set. Objects
/// with more than 64 entries keep the first 64 (the API server merges old Update entries long
/// before that), and the analysis reports the rest as a problem.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ManagerSet(pub u64);

impl ManagerSet {
    pub const EMPTY: ManagerSet = ManagerSet(0);
    pub const MAX_ENTRIES: usize = 64;

    pub fn single(entry: usize) -> ManagerSet {
        if entry < Self::MAX_ENTRIES { ManagerSet(1 << entry) } else { ManagerSet(0) }
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn union(self, other: ManagerSet) -> ManagerSet {
        ManagerSet(self.0 | other.0)
    }
    pub fn intersect(self, other: ManagerSet) -> ManagerSet {
        ManagerSet(self.0 & other.0)
    }
    pub fn minus(self, other: ManagerSet) -> ManagerSet {
        ManagerSet(self.0 & !other.0)
    }
    pub fn contains(self, entry: usize) -> bool {
        entry < Self::MAX_ENTRIES && self.0 & (1 << entry) != 0
    }
    /// Entry indexes in increasing order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let bits = self.0;
        (0..Self::MAX_ENTRIES).filter(move |i| bits & (1 << i) != 0)
    }
}

/// A node of the ownership trie.
pub type NodeId = u32;

#[derive(Debug, Clone, Copy)]
enum EdgeKey<'a> {
    Root,
    Field(&'a str),
    /// Index into `FieldOwnership::keys`.
    Key(u32),
    /// Index into `FieldOwnership::set_values`.
    SetValue(u32),
    Position(u32),
}

#[derive(Debug, Clone)]
struct Node<'a> {
    key: EdgeKey<'a>,
    /// Entries owning this node itself (`{}` leaf or `"."`).
    owned: ManagerSet,
    /// Entries owning this node or anything beneath it.
    subtree: ManagerSet,
    parent: NodeId,
    first_child: NodeId,
    next_sibling: NodeId,
}

const NONE: NodeId = NodeId::MAX;

/// A FieldsV1 entry that could not be read, reported by the analysis as a problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldsProblem {
    pub entry: Option<usize>,
    pub message: String,
}

/// The merged ownership trie of one object.
#[derive(Debug, Clone)]
pub struct FieldOwnership<'a> {
    pub entries: Vec<ManagerEntry>,
    nodes: Vec<Node<'a>>,
    keys: Vec<Vec<(String, Value)>>,
    set_values: Vec<Value>,
}

impl<'a> FieldOwnership<'a> {
    /// An empty trie: an object without `managedFields`.
    pub fn empty() -> Self {
        FieldOwnership {
            entries: Vec::new(),
            nodes: vec![Node {
                key: EdgeKey::Root,
                owned: ManagerSet::EMPTY,
                subtree: ManagerSet::EMPTY,
                parent: NONE,
                first_child: NONE,
                next_sibling: NONE,
            }],
            keys: Vec::new(),
            set_values: Vec::new(),
        }
    }

    /// Reads `metadata.managedFields` of a live object. Malformed entries are skipped and
    /// reported; a missing list gives an empty trie.
    pub fn from_object(object: &'a Value) -> (Self, Vec<FieldsProblem>) {
        let mut trie = Self::empty();
        trie.nodes.reserve(128);
        let mut problems = Vec::new();
        use crate::normalize::get;
        let Some(list) = get(object, "metadata").and_then(|m| get(m, "managedFields")) else {
            return (trie, problems);
        };
        let Some(list) = list.as_array() else {
            problems.push(FieldsProblem { entry: None, message: "metadata.managedFields is not a list".into() });
            return (trie, problems);
        };
        for (i, raw) in list.iter().enumerate() {
            let text = |key: &str| get(raw, key).and_then(Value::as_str).map(str::to_owned);
            let Some(manager) = text("manager") else {
                problems.push(FieldsProblem { entry: Some(i), message: "managedFields entry without a manager".into() });
                continue;
            };
            let operation = match text("operation").as_deref() {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                Some(other) => Operation::Other(other.to_owned()),
                None => Operation::Other(String::new()),
            };
            if let Some(fields_type) = get(raw, "fieldsType").and_then(Value::as_str) {
                if fields_type != "FieldsV1" {
                    problems.push(FieldsProblem { entry: Some(i), message: format!("unsupported fieldsType {fields_type:?}") });
                    continue;
                }
            }
            let entry = ManagerEntry { manager, operation, subresource: text("subresource").filter(|s| !s.is_empty()), time: text("time") };
            let fields = get(raw, "fieldsV1").unwrap_or(&Value::Null);
            if let Err(message) = trie.add_entry(entry, fields) {
                problems.push(FieldsProblem { entry: Some(i), message });
            }
        }
        trie.finish();
        (trie, problems)
    }

    /// Adds one manager entry and its FieldsV1 set. Call [`Self::finish`] after the last one.
    pub fn add_entry(&mut self, entry: ManagerEntry, fields: &'a Value) -> Result<(), String> {
        if self.entries.len() >= ManagerSet::MAX_ENTRIES {
            return Err(format!("more than {} managedFields entries: {} ignored", ManagerSet::MAX_ENTRIES, entry.manager));
        }
        let index = self.entries.len();
        self.entries.push(entry);
        let set = ManagerSet::single(index);
        match fields {
            Value::Object(map) => {
                let mut problems = Vec::new();
                self.insert_set(0, false, map, set, &mut problems);
                match problems.first() {
                    None => Ok(()),
                    Some(first) => Err(format!("{} malformed FieldsV1 member(s), first: {first}", problems.len())),
                }
            }
            Value::Null => Ok(()),
            _ => Err("fieldsV1 is not an object".into()),
        }
    }

    /// Inserts one FieldsV1 map beneath `node`. `fresh` says `node` was created by this same
    /// entry, so its children are this map's own members, which are unique: no need to look
    /// for an existing child (the common case, which keeps building linear).
    fn insert_set(&mut self, node: NodeId, fresh: bool, map: &'a Map<String, Value>, set: ManagerSet, problems: &mut Vec<String>) {
        for (name, child) in map {
            if name == "." {
                self.nodes[node as usize].owned = self.nodes[node as usize].owned.union(set);
                continue;
            }
            let key = match self.edge_key(name) {
                Ok(key) => key,
                Err(message) => {
                    problems.push(message);
                    continue;
                }
            };
            let (child_id, created) = if fresh { (self.push_child(node, key), true) } else { self.child_or_insert(node, key) };
            match child {
                Value::Object(members) if members.is_empty() => {
                    self.nodes[child_id as usize].owned = self.nodes[child_id as usize].owned.union(set);
                }
                Value::Object(members) => self.insert_set(child_id, created, members, set, problems),
                _ => problems.push(format!("member {name:?} is not an object")),
            }
        }
    }

    fn edge_key(&mut self, name: &'a str) -> Result<EdgeKey<'a>, String> {
        if let Some(field) = name.strip_prefix("f:") {
            return Ok(EdgeKey::Field(field));
        }
        if let Some(json) = name.strip_prefix("k:") {
            let KeyFields(mut fields) = serde_json::from_str(json).map_err(|e| format!("bad key {name:?}: {e}"))?;
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            self.keys.push(fields);
            return Ok(EdgeKey::Key((self.keys.len() - 1) as u32));
        }
        if let Some(json) = name.strip_prefix("v:") {
            let value: Value = serde_json::from_str(json).map_err(|e| format!("bad set value {name:?}: {e}"))?;
            self.set_values.push(value);
            return Ok(EdgeKey::SetValue((self.set_values.len() - 1) as u32));
        }
        if let Some(position) = name.strip_prefix("i:") {
            let position: u32 = position.parse().map_err(|_| format!("bad position {name:?}"))?;
            return Ok(EdgeKey::Position(position));
        }
        Err(format!("unknown FieldsV1 member {name:?}"))
    }

    fn same_key(&self, a: EdgeKey<'_>, b: EdgeKey<'_>) -> bool {
        match (a, b) {
            (EdgeKey::Field(x), EdgeKey::Field(y)) => crate::normalize::fast_eq(x, y),
            (EdgeKey::Key(x), EdgeKey::Key(y)) => self.keys[x as usize] == self.keys[y as usize],
            (EdgeKey::SetValue(x), EdgeKey::SetValue(y)) => self.set_values[x as usize] == self.set_values[y as usize],
            (EdgeKey::Position(x), EdgeKey::Position(y)) => x == y,
            _ => false,
        }
    }

    /// The existing child for `key`, or a new one (`true` when created).
    fn child_or_insert(&mut self, parent: NodeId, key: EdgeKey<'a>) -> (NodeId, bool) {
        let mut child = self.nodes[parent as usize].first_child;
        while child != NONE {
            if self.same_key(self.nodes[child as usize].key, key) {
                return (child, false);
            }
            child = self.nodes[child as usize].next_sibling;
        }
        (self.push_child(parent, key), true)
    }

    fn push_child(&mut self, parent: NodeId, key: EdgeKey<'a>) -> NodeId {
        let id = self.nodes.len() as NodeId;
        let next_sibling = self.nodes[parent as usize].first_child;
        self.nodes.push(Node { key, owned: ManagerSet::EMPTY, subtree: ManagerSet::EMPTY, parent, first_child: NONE, next_sibling });
        self.nodes[parent as usize].first_child = id;
        id
    }

    /// Computes the subtree sets; children always come after their parent in the arena.
    pub fn finish(&mut self) {
        for node in &mut self.nodes {
            node.subtree = node.owned;
        }
        for i in (1..self.nodes.len()).rev() {
            let (subtree, parent) = (self.nodes[i].subtree, self.nodes[i].parent);
            let p = &mut self.nodes[parent as usize];
            p.subtree = p.subtree.union(subtree);
        }
    }

    pub fn root(&self) -> NodeId {
        0
    }

    /// Whether the object had any ownership information at all.
    pub fn has_entries(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Entries owning exactly this node.
    pub fn owned(&self, node: NodeId) -> ManagerSet {
        self.nodes[node as usize].owned
    }

    /// Entries owning this node or anything beneath it.
    pub fn subtree(&self, node: NodeId) -> ManagerSet {
        self.nodes[node as usize].subtree
    }

    /// Whether the node is a bare `{}` leaf: its owners own the whole value there (for a list
    /// or an atomic struct, that covers everything inside it).
    pub fn is_leaf(&self, node: NodeId) -> bool {
        self.nodes[node as usize].first_child == NONE
    }

    /// The child for object field `name`.
    pub fn field(&self, node: NodeId, name: &str) -> Option<NodeId> {
        let mut child = self.nodes[node as usize].first_child;
        while child != NONE {
            let n = &self.nodes[child as usize];
            if let EdgeKey::Field(f) = n.key {
                if crate::normalize::fast_eq(f, name) {
                    return Some(child);
                }
            }
            child = n.next_sibling;
        }
        None
    }

    /// The child for a list item: a `k:` key all of whose fields the item has (a missing
    /// `protocol` counts as the default `TCP`), a `v:` member equal to the item, or `i:<index>`.
    pub fn item(&self, node: NodeId, item: &Value, index: usize) -> Option<NodeId> {
        let mut child = self.nodes[node as usize].first_child;
        let mut by_position = None;
        while child != NONE {
            let n = &self.nodes[child as usize];
            match n.key {
                EdgeKey::Key(k) => {
                    if self.keys[k as usize].iter().all(|(field, want)| key_field_matches(item, field, want)) {
                        return Some(child);
                    }
                }
                EdgeKey::SetValue(v) => {
                    if crate::normalize::json_equal(&self.set_values[v as usize], item) {
                        return Some(child);
                    }
                }
                EdgeKey::Position(p) if p as usize == index => by_position = Some(child),
                _ => {}
            }
            child = n.next_sibling;
        }
        by_position
    }

    /// Looks up a node by a sequence of steps, for tests and tools (the diff walks instead).
    pub fn lookup(&self, steps: &[Step<'_>]) -> Option<NodeId> {
        let mut node = self.root();
        for step in steps {
            node = match step {
                Step::Field(name) => self.field(node, name)?,
                Step::Item(item, index) => self.item(node, item, *index)?,
            };
        }
        Some(node)
    }

    /// Who owns the value at `steps`: entries owning the node exactly, plus entries owning a
    /// bare-leaf ancestor (an atomic value covering it).
    pub fn owners_at(&self, steps: &[Step<'_>]) -> ManagerSet {
        let mut node = self.root();
        let mut atomic = ManagerSet::EMPTY;
        for step in steps {
            if self.is_leaf(node) {
                atomic = atomic.union(self.owned(node));
            }
            let next = match step {
                Step::Field(name) => self.field(node, name),
                Step::Item(item, index) => self.item(node, item, *index),
            };
            match next {
                Some(n) => node = n,
                None => return atomic,
            }
        }
        atomic.union(self.owned(node))
    }

    /// Rebuilds the FieldsV1 set of one entry (members sorted by their text, `k:` keys with
    /// their fields sorted), so a parsed set can be compared with the original.
    pub fn fields_v1(&self, entry: usize) -> Value {
        self.fields_v1_of(self.root(), entry)
    }

    fn member_name(&self, node: NodeId) -> String {
        match self.nodes[node as usize].key {
            EdgeKey::Root => String::new(),
            EdgeKey::Field(f) => format!("f:{f}"),
            EdgeKey::Key(k) => {
                let map: Map<String, Value> = self.keys[k as usize].iter().cloned().collect();
                format!("k:{}", Value::Object(map))
            }
            EdgeKey::SetValue(v) => format!("v:{}", self.set_values[v as usize]),
            EdgeKey::Position(p) => format!("i:{p}"),
        }
    }

    fn fields_v1_of(&self, node: NodeId, entry: usize) -> Value {
        let mut members: Vec<(String, Value)> = Vec::new();
        let mut child = self.nodes[node as usize].first_child;
        while child != NONE {
            if self.subtree(child).contains(entry) {
                members.push((self.member_name(child), self.fields_v1_of(child, entry)));
            }
            child = self.nodes[child as usize].next_sibling;
        }
        members.sort_by(|a, b| a.0.cmp(&b.0));
        let mut map = Map::new();
        if self.owned(node).contains(entry) && !members.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (name, value) in members {
            map.insert(name, value);
        }
        Value::Object(map)
    }

    /// The number of trie nodes (a size measure for benchmarks and tests).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// The fields of a `k:{…}` key, read straight into a vector (no hash map for two entries).
struct KeyFields(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for KeyFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = KeyFields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of key fields")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<KeyFields, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(2));
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(KeyFields(fields))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// One step of a lookup: an object field, or a list item given by its value and position.
#[derive(Debug, Clone, Copy)]
pub enum Step<'v> {
    Field(&'v str),
    Item(&'v Value, usize),
}

fn key_field_matches(item: &Value, field: &str, want: &Value) -> bool {
    match crate::normalize::get(item, field) {
        Some(have) => crate::normalize::json_equal(have, want),
        None => field == "protocol" && want.as_str() == Some("TCP"),
    }
}
