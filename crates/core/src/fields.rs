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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation<'a> {
    /// Server-side apply: the manager asserted the value.
    Apply,
    /// Create/update/patch: the manager last changed the value.
    Update,
    Other(&'a str),
}

impl Operation<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
            Operation::Other(s) => s,
        }
    }
}

/// One `managedFields` entry, without its field set, borrowing from the live object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagerEntry<'a> {
    pub manager: &'a str,
    pub operation: Operation<'a>,
    pub subresource: Option<&'a str>,
    /// As the cluster recorded it; one time per entry, not per field.
    pub time: Option<&'a str>,
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
        if entry < Self::MAX_ENTRIES {
            ManagerSet(1 << entry)
        } else {
            ManagerSet(0)
        }
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
    /// Entry indexes in increasing order (one step per member, not per possible entry).
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(i)
        })
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
    pub entries: Vec<ManagerEntry<'a>>,
    nodes: Vec<Node<'a>>,
    /// Ranges into `key_fields`, one per `k:` member.
    keys: Vec<(u32, u32)>,
    key_fields: Vec<(std::borrow::Cow<'a, str>, KeyScalar<'a>)>,
    set_values: Vec<Value>,
    /// Whether `f:status` members are left out (the diff never compares status).
    skip_status: bool,
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
            key_fields: Vec::new(),
            set_values: Vec::new(),
            skip_status: false,
        }
    }

    /// Reads `metadata.managedFields` of a live object, leaving out ownership of `status`
    /// (never compared). Malformed entries are skipped and reported; a missing list gives an
    /// empty trie.
    pub fn from_object(object: &'a Value) -> (Self, Vec<FieldsProblem>) {
        Self::read(object, true)
    }

    /// [`Self::from_object`] keeping `status` too, for tools that show every owned field.
    pub fn from_object_with_status(object: &'a Value) -> (Self, Vec<FieldsProblem>) {
        Self::read(object, false)
    }

    fn read(object: &'a Value, skip_status: bool) -> (Self, Vec<FieldsProblem>) {
        let mut trie = Self::empty();
        trie.skip_status = skip_status;
        let problems = trie.load(object);
        (trie, problems)
    }

    /// Replaces this trie's content with the ownership of another object (status left out),
    /// reusing its buffers: an analysis builds one trie per live object, and reusing the
    /// allocation keeps that cost to the FieldsV1 walk itself.
    pub fn reload(&mut self, object: &'a Value) -> Vec<FieldsProblem> {
        self.entries.clear();
        self.nodes.truncate(1);
        self.nodes[0] = Node {
            key: EdgeKey::Root,
            owned: ManagerSet::EMPTY,
            subtree: ManagerSet::EMPTY,
            parent: NONE,
            first_child: NONE,
            next_sibling: NONE,
        };
        self.keys.clear();
        self.key_fields.clear();
        self.set_values.clear();
        self.skip_status = true;
        self.load(object)
    }

    fn load(&mut self, object: &'a Value) -> Vec<FieldsProblem> {
        let trie = self;
        let mut problems = Vec::new();
        use crate::normalize::get;
        let Some(list) = get(object, "metadata").and_then(|m| get(m, "managedFields")) else {
            return problems;
        };
        let Some(list) = list.as_array() else {
            problems.push(FieldsProblem {
                entry: None,
                message: "metadata.managedFields is not a list".into(),
            });
            return problems;
        };
        for (i, raw) in list.iter().enumerate() {
            let text = |key: &str| get(raw, key).and_then(Value::as_str);
            let Some(manager) = text("manager") else {
                problems.push(FieldsProblem {
                    entry: Some(i),
                    message: "managedFields entry without a manager".into(),
                });
                continue;
            };
            let operation = match text("operation") {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                Some(other) => Operation::Other(other),
                None => Operation::Other(""),
            };
            if let Some(fields_type) = get(raw, "fieldsType").and_then(Value::as_str)
                && fields_type != "FieldsV1"
            {
                problems.push(FieldsProblem {
                    entry: Some(i),
                    message: format!("unsupported fieldsType {fields_type:?}"),
                });
                continue;
            }
            let entry = ManagerEntry {
                manager,
                operation,
                subresource: text("subresource").filter(|s| !s.is_empty()),
                time: text("time"),
            };
            let fields = get(raw, "fieldsV1").unwrap_or(&Value::Null);
            if let Err(message) = trie.add_entry(entry, fields) {
                problems.push(FieldsProblem {
                    entry: Some(i),
                    message,
                });
            }
        }
        trie.finish();
        problems
    }

    /// Adds one manager entry and its FieldsV1 set. Call [`Self::finish`] after the last one.
    pub fn add_entry(&mut self, entry: ManagerEntry<'a>, fields: &'a Value) -> Result<(), String> {
        if self.entries.len() >= ManagerSet::MAX_ENTRIES {
            return Err(format!(
                "more than {} managedFields entries: {} ignored",
                ManagerSet::MAX_ENTRIES,
                entry.manager
            ));
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
                    Some(first) => Err(format!(
                        "{} malformed FieldsV1 member(s), first: {first}",
                        problems.len()
                    )),
                }
            }
            Value::Null => Ok(()),
            _ => Err("fieldsV1 is not an object".into()),
        }
    }

    /// Inserts one FieldsV1 map beneath `node`. `fresh` says `node` was created by this same
    /// entry, so its children are this map's own members, which are unique: no need to look
    /// for an existing child (the common case, which keeps building linear).
    fn insert_set(
        &mut self,
        node: NodeId,
        fresh: bool,
        map: &'a Map<String, Value>,
        set: ManagerSet,
        problems: &mut Vec<String>,
    ) {
        for (name, child) in map {
            if node == 0 && self.skip_status && name == "f:status" {
                continue;
            }
            if name == "." {
                self.nodes[node as usize].owned = self.nodes[node as usize].owned.union(set);
                continue;
            }
            let key = match name.strip_prefix("f:") {
                Some(field) => EdgeKey::Field(field),
                None => match self.edge_key(name) {
                    Ok(key) => key,
                    Err(message) => {
                        problems.push(message);
                        continue;
                    }
                },
            };
            let (child_id, created) = if fresh {
                (self.push_child(node, key), true)
            } else {
                self.child_or_insert(node, key)
            };
            match child {
                Value::Object(members) if members.is_empty() => {
                    self.nodes[child_id as usize].owned =
                        self.nodes[child_id as usize].owned.union(set);
                }
                Value::Object(members) => {
                    self.insert_set(child_id, created, members, set, problems)
                }
                _ => problems.push(format!("member {name:?} is not an object")),
            }
        }
    }

    fn edge_key(&mut self, name: &'a str) -> Result<EdgeKey<'a>, String> {
        if let Some(field) = name.strip_prefix("f:") {
            return Ok(EdgeKey::Field(field));
        }
        if let Some(json) = name.strip_prefix("k:") {
            let start = self.key_fields.len();
            if !parse_simple_key(json, &mut self.key_fields) {
                self.key_fields.truncate(start);
                let KeyFields(fields) =
                    serde_json::from_str(json).map_err(|e| format!("bad key {name:?}: {e}"))?;
                self.key_fields.extend(
                    fields
                        .into_iter()
                        .map(|(k, v)| (std::borrow::Cow::Owned(k), KeyScalar::Json(v))),
                );
            }
            self.key_fields[start..].sort_by(|a, b| a.0.cmp(&b.0));
            self.keys
                .push((start as u32, (self.key_fields.len() - start) as u32));
            return Ok(EdgeKey::Key((self.keys.len() - 1) as u32));
        }
        if let Some(json) = name.strip_prefix("v:") {
            let value: Value =
                serde_json::from_str(json).map_err(|e| format!("bad set value {name:?}: {e}"))?;
            self.set_values.push(value);
            return Ok(EdgeKey::SetValue((self.set_values.len() - 1) as u32));
        }
        if let Some(position) = name.strip_prefix("i:") {
            let position: u32 = position
                .parse()
                .map_err(|_| format!("bad position {name:?}"))?;
            return Ok(EdgeKey::Position(position));
        }
        Err(format!("unknown FieldsV1 member {name:?}"))
    }

    fn same_key(&self, a: EdgeKey<'_>, b: EdgeKey<'_>) -> bool {
        match (a, b) {
            (EdgeKey::Field(x), EdgeKey::Field(y)) => crate::normalize::fast_eq(x, y),
            (EdgeKey::Key(x), EdgeKey::Key(y)) => {
                let (a, b) = (self.key(x), self.key(y));
                a.len() == b.len() && a.iter().zip(b).all(|(p, q)| p.0 == q.0 && p.1.same(&q.1))
            }
            (EdgeKey::SetValue(x), EdgeKey::SetValue(y)) => {
                self.set_values[x as usize] == self.set_values[y as usize]
            }
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
        self.nodes.push(Node {
            key,
            owned: ManagerSet::EMPTY,
            subtree: ManagerSet::EMPTY,
            parent,
            first_child: NONE,
            next_sibling,
        });
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
            if let EdgeKey::Field(f) = n.key
                && crate::normalize::fast_eq(f, name)
            {
                return Some(child);
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
                EdgeKey::Key(k)
                    if self
                        .key(k)
                        .iter()
                        .all(|(field, want)| key_field_matches(item, field, want)) =>
                {
                    return Some(child);
                }
                EdgeKey::SetValue(v)
                    if crate::normalize::json_equal(&self.set_values[v as usize], item) =>
                {
                    return Some(child);
                }
                EdgeKey::Position(p) if p as usize == index => by_position = Some(child),
                _ => {}
            }
            child = n.next_sibling;
        }
        by_position
    }

    /// [`Self::item`] for an item of a keyed list whose merge-key values the caller already
    /// read: `k:` members with exactly those key fields compare the values directly.
    pub fn keyed_item(
        &self,
        node: NodeId,
        names: &[&str],
        values: &crate::normalize::KeyValues<'_>,
        item: &Value,
        index: usize,
    ) -> Option<NodeId> {
        let mut child = self.nodes[node as usize].first_child;
        while child != NONE {
            let n = &self.nodes[child as usize];
            if let EdgeKey::Key(k) = n.key {
                let fields = self.key(k);
                let same_names = fields.len() == names.len()
                    && fields.iter().zip(names).all(|(f, name)| f.0 == *name);
                let matched = if same_names {
                    fields
                        .iter()
                        .zip(values)
                        .all(|(f, v)| v.is_some_and(|v| f.1.matches(v)))
                } else {
                    fields
                        .iter()
                        .all(|(field, want)| key_field_matches(item, field, want))
                };
                if matched {
                    return Some(child);
                }
            }
            child = n.next_sibling;
        }
        self.item(node, item, index)
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
                let map: Map<String, Value> = self
                    .key(k)
                    .iter()
                    .map(|(f, v)| (f.to_string(), v.to_value()))
                    .collect();
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

    fn key(&self, k: u32) -> &[(std::borrow::Cow<'a, str>, KeyScalar<'a>)] {
        let (start, len) = self.keys[k as usize];
        &self.key_fields[start as usize..(start + len) as usize]
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
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<KeyFields, A::Error> {
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

/// A key field's value in a `k:` member: borrowed from the FieldsV1 text when it is a plain
/// string or integer (nearly always), a parsed value otherwise.
#[derive(Debug, Clone)]
enum KeyScalar<'a> {
    Str(&'a str),
    Int(i64),
    Json(Value),
}

impl KeyScalar<'_> {
    fn to_value(&self) -> Value {
        match self {
            KeyScalar::Str(s) => Value::String((*s).to_owned()),
            KeyScalar::Int(n) => Value::from(*n),
            KeyScalar::Json(v) => v.clone(),
        }
    }

    fn matches(&self, have: &Value) -> bool {
        match (self, have) {
            (KeyScalar::Str(s), Value::String(h)) => crate::normalize::fast_eq(s, h),
            (KeyScalar::Int(n), Value::Number(h)) => {
                h.as_i64() == Some(*n) || h.as_f64() == Some(*n as f64)
            }
            (KeyScalar::Json(v), h) => crate::normalize::json_equal(v, h),
            _ => false,
        }
    }

    fn same(&self, other: &KeyScalar<'_>) -> bool {
        crate::normalize::json_equal(&self.to_value(), &other.to_value())
    }
}

/// Reads a `k:` key of the usual shape, `{"name":"a"}` or `{"containerPort":80,"protocol":"TCP"}`
/// (unescaped strings and integers), without allocating. Returns `false` for anything else,
/// which the caller hands to serde_json.
fn parse_simple_key<'a>(
    json: &'a str,
    out: &mut Vec<(std::borrow::Cow<'a, str>, KeyScalar<'a>)>,
) -> bool {
    let b = json.as_bytes();
    let mut i = 0;
    let string = |i: &mut usize| -> Option<&'a str> {
        if b.get(*i) != Some(&b'"') {
            return None;
        }
        let start = *i + 1;
        let len = b[start..].iter().position(|&c| c == b'"' || c == b'\\')?;
        if b[start + len] != b'"' {
            return None;
        }
        *i = start + len + 1;
        json.get(start..start + len)
    };
    if b.first() != Some(&b'{') {
        return false;
    }
    i += 1;
    loop {
        let Some(field) = string(&mut i) else {
            return false;
        };
        if b.get(i) != Some(&b':') {
            return false;
        }
        i += 1;
        let value = match b.get(i) {
            Some(b'"') => match string(&mut i) {
                Some(s) => KeyScalar::Str(s),
                None => return false,
            },
            Some(c) if c.is_ascii_digit() || *c == b'-' => {
                let start = i;
                i += 1;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                match json[start..i].parse::<i64>() {
                    Ok(n) => KeyScalar::Int(n),
                    Err(_) => return false,
                }
            }
            _ => return false,
        };
        out.push((std::borrow::Cow::Borrowed(field), value));
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return i + 1 == b.len(),
            _ => return false,
        }
    }
}

fn key_field_matches(item: &Value, field: &str, want: &KeyScalar<'_>) -> bool {
    match crate::normalize::get(item, field) {
        Some(have) => want.matches(have),
        None => field == "protocol" && matches!(want, KeyScalar::Str("TCP")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `k:` keys: the borrowed fast path and the serde_json fallback agree, and both survive
    /// the trip back to FieldsV1 text.
    #[test]
    fn key_members_fast_and_fallback() {
        let fields = json!({"f:items": {
            "k:{\"name\":\"a\"}": {".": {}, "f:x": {}},
            "k:{\"containerPort\":-80,\"protocol\":\"UDP\"}": {},
            "k:{\"name\":\"q\\\"uote\"}": {".": {}, "f:x": {}},
            "k:{\"weight\":1.5}": {},
            "k:{\"flag\":true}": {},
        }});
        let mut trie = FieldOwnership::empty();
        let entry = ManagerEntry {
            manager: "m",
            operation: Operation::Apply,
            subresource: None,
            time: None,
        };
        assert_eq!(trie.add_entry(entry, &fields), Ok(()));
        trie.finish();
        assert_eq!(trie.fields_v1(0), fields);
        let list = trie.field(trie.root(), "items").unwrap_or(u32::MAX);
        for item in [
            json!({"name": "a"}),
            json!({"containerPort": -80, "protocol": "UDP"}),
            json!({"name": "q\"uote"}),
            json!({"weight": 1.5}),
            json!({"flag": true}),
        ] {
            assert!(trie.item(list, &item, 9).is_some(), "{item}");
        }
        assert!(trie.item(list, &json!({"name": "b"}), 0).is_none());
        assert!(
            trie.item(list, &json!({"containerPort": -80}), 0).is_none(),
            "protocol defaults to TCP, not UDP"
        );
    }
}
