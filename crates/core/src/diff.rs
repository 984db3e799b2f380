//! The drift engine for one desired/live pair (docs/drift-semantics.md): every field Git
//! declares is compared after normalization; live content Git does not declare is judged on
//! ownership evidence from the object's FieldsV1 trie, walked in step with the values. Paths are
//! kept as borrowed steps and only printed when a finding is produced.

use std::cell::OnceCell;

use serde_json::{Map, Value};

use crate::applier::{Candidate, Level, SupportWalk, choose, configuration_agrees};
use crate::bookkeeping::Bookkeeping;
use crate::fields::{FieldOwnership, ManagerSet, NodeId, Operation};
use crate::identity::ResourceId;
use crate::manifest::Origin;
use crate::normalize::{
    empty_or_zero, is_quantity_position, json_equal, key_text, key_value, keyed_list, lookup,
    lookup_position, same_key, scalar_equal,
};
use crate::paths::{DriftPath, Segment};
use crate::secret;
use crate::string_enum::string_enum;

/// The annotation `kubectl apply` keeps its last applied configuration in (applier
/// bookkeeping: never drift).
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

string_enum! {
    /// What differs at a finding's path.
    pub enum ChangeKind {
        /// Both sides have a value and they differ.
        Changed => "changed",
        /// Git declares it; live does not have it.
        MissingInLive => "missing_in_live",
        /// Live has it; Git does not declare it (a keyed item, or content with ownership
        /// evidence).
        AddedInLive => "added_in_live",
        /// The whole desired resource does not exist live.
        MissingResource => "missing_resource",
    }
}

string_enum! {
    /// How a manager relates to the application.
    pub enum OwnerRole {
        /// Applies Git's values: detected from ownership of fields equal to Git's (see
        /// [`detect_roles`]) or named with `--applier`.
        Applier => "applier",
        /// A Kubernetes control-plane component, or a write through the `status` subresource.
        SystemController => "system_controller",
        /// Applied a whole manifest at some point (client-side apply, `kubectl create`) without
        /// being the applier; owns the defaults of what it created.
        SecondaryApplier => "secondary_applier",
        /// Anyone else: an out-of-band writer.
        Other => "other",
    }
}

/// A manager owning a finding's path, as `managedFields` recorded it (evidence, not proof).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Owner {
    pub manager: String,
    pub operation: String,
    pub subresource: Option<String>,
    pub time: Option<String>,
    pub role: OwnerRole,
}

/// The cause an incident groups findings by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// The manager owning the drifted fields.
    Manager(String),
    /// Drift with no ownership evidence.
    Unowned,
    /// The resource does not exist live.
    Missing,
    /// A string-map entry the applier once set, no longer in Git, still live.
    RemovedFromGit,
}

/// The printed cause: a manager name, `unowned`, `missing` or `removed_from_git`.
pub fn cause_label(cause: &Cause) -> &str {
    match cause {
        Cause::Manager(m) => m,
        Cause::Unowned => "unowned",
        Cause::Missing => "missing",
        Cause::RemovedFromGit => "removed_from_git",
    }
}

impl serde::Serialize for Cause {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(cause_label(self))
    }
}

/// One drifted path of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub resource: ResourceId,
    /// `apiVersion` as written in Git.
    pub api_version: String,
    /// Where the desired object was read.
    pub origin: Origin,
    pub path: DriftPath,
    pub path_text: String,
    pub change: ChangeKind,
    /// Raw desired value (`None` when absent); Secret values are digests.
    pub desired: Option<Value>,
    /// Raw live value (`None` when absent); Secret values are digests.
    pub live: Option<Value>,
    /// Managers owning the path exactly or through an atomic ancestor, by entry order.
    pub owners: Vec<Owner>,
    pub cause: Cause,
}

/// Settings of one pair's diff, derived from the analysis options.
pub struct PairSettings<'s> {
    /// Manager named by `--applier`; otherwise the applier is detected.
    pub applier: Option<&'s str>,
    pub system_controllers: &'s [String],
    /// Labels and annotations GitOps tools add when they apply: never a finding when Git does
    /// not declare them.
    pub bookkeeping: &'s Bookkeeping,
    /// Digests Secret values of both sides alike.
    pub digester: &'s secret::SecretDigester,
}

/// Fields under `metadata` the server sets (or that make the identity); never compared.
pub(crate) fn is_server_metadata(field: &str) -> bool {
    matches!(
        field,
        "creationTimestamp"
            | "deletionGracePeriodSeconds"
            | "deletionTimestamp"
            | "generation"
            | "managedFields"
            | "name"
            | "namespace"
            | "resourceVersion"
            | "selfLink"
            | "uid"
    )
}

/// Struct and map fields that Kubernetes declares atomic: a manager owning them owns every
/// value inside (lists owned as a bare leaf are atomic too).
const ATOMIC_STRUCTS: &[&str] = &[
    "labelSelector",
    "namespaceSelector",
    "objectSelector",
    "podSelector",
    "selector",
];

#[derive(Clone, Copy)]
enum Step<'v> {
    Field(&'v str),
    Keyed(&'static [&'static str], &'v Value, Option<usize>),
    Index(usize),
}

struct RawFinding {
    path: DriftPath,
    change: ChangeKind,
    desired: Option<Value>,
    live: Option<Value>,
    owners: ManagerSet,
    removed_from_git: bool,
}

/// Buffers one analysis reuses for every pair.
#[derive(Default)]
pub(crate) struct Scratch<'v> {
    path: Vec<Step<'v>>,
}

struct Walker<'v, 'o, 's> {
    own: &'o FieldOwnership<'v>,
    applier: ManagerSet,
    co_appliers: ManagerSet,
    applier_apply: ManagerSet,
    suspicious: ManagerSet,
    interesting: ManagerSet,
    secret: bool,
    bookkeeping: &'s Bookkeeping,
    digester: &'s secret::SecretDigester,
    live_root: &'v Value,
    last_applied: OnceCell<Option<Value>>,
    path: &'s mut Vec<Step<'v>>,
    findings: Vec<RawFinding>,
}

/// Roles of every managedFields entry of one object (decided by [`detect_roles`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Roles {
    /// The entries of the applier: the manager named with `--applier`, or the one detected.
    pub applier: ManagerSet,
    /// Other entries that applied a whole manifest at some point: owners of the last-applied
    /// annotation (client-side apply) and `kubectl-create`. They own the defaulted fields of
    /// the objects they created, so their undeclared scalars are drift only when their
    /// last-applied configuration lists them.
    pub co_appliers: ManagerSet,
    pub system: ManagerSet,
}

/// Manager names of tools that create objects from a whole manifest.
const CREATOR_MANAGERS: &[&str] = &["kubectl-create"];

impl Roles {
    pub fn role(&self, entry: usize) -> OwnerRole {
        if self.applier.contains(entry) {
            OwnerRole::Applier
        } else if self.co_appliers.contains(entry) {
            OwnerRole::SecondaryApplier
        } else if self.system.contains(entry) {
            OwnerRole::SystemController
        } else {
            OwnerRole::Other
        }
    }
}

/// Diffs one pair and returns its findings (unsorted) for `resource`.
pub fn diff_pair(
    resource: &ResourceId,
    api_version: &str,
    origin: &Origin,
    desired: &Value,
    live: &Value,
    settings: &PairSettings<'_>,
) -> Vec<Finding> {
    let (own, _problems) = FieldOwnership::from_object(live);
    diff_pair_with(resource, api_version, origin, desired, live, &own, settings)
}

/// [`diff_pair`] with an ownership trie the caller already built for `live`.
pub fn diff_pair_with<'v>(
    resource: &ResourceId,
    api_version: &str,
    origin: &Origin,
    desired: &'v Value,
    live: &'v Value,
    own: &FieldOwnership<'v>,
    settings: &PairSettings<'_>,
) -> Vec<Finding> {
    let pair = PairRef {
        resource: &|| resource.clone(),
        api_version,
        origin,
        desired,
        live,
    };
    diff_pair_lazy(&mut Scratch::default(), pair, own, settings)
}

/// One desired/live pair as the analysis hands it over; `resource` builds the identity only if
/// there is a finding.
pub(crate) struct PairRef<'v, 'a> {
    pub resource: &'a dyn Fn() -> ResourceId,
    pub api_version: &'a str,
    pub origin: &'a Origin,
    pub desired: &'v Value,
    pub live: &'v Value,
}

/// [`diff_pair_with`] reusing the analysis' buffers.
pub(crate) fn diff_pair_lazy<'v>(
    scratch: &mut Scratch<'v>,
    pair: PairRef<'v, '_>,
    own: &FieldOwnership<'v>,
    settings: &PairSettings<'_>,
) -> Vec<Finding> {
    let PairRef {
        resource,
        api_version,
        origin,
        desired,
        live,
    } = pair;
    let text = |v: &'v Value, k: &str| {
        crate::normalize::get(v, k)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let is_secret = secret::is_secret(
        crate::identity::group_of(text(desired, "apiVersion")),
        text(desired, "kind"),
    );
    let roles = detect_roles(desired, live, own, settings);
    let applier_apply = ManagerSet(
        roles
            .applier
            .iter()
            .filter(|&i| own.entries[i].operation == Operation::Apply)
            .fold(0, |acc, i| acc | (1 << i)),
    );
    let all = all_entries(own);
    let suspicious = all
        .minus(roles.applier)
        .minus(roles.co_appliers)
        .minus(roles.system);
    let mut walker = Walker {
        own,
        applier: roles.applier,
        co_appliers: roles.co_appliers,
        applier_apply,
        suspicious,
        interesting: suspicious.union(roles.applier).union(roles.co_appliers),
        secret: is_secret,
        bookkeeping: settings.bookkeeping,
        digester: settings.digester,
        live_root: live,
        last_applied: OnceCell::new(),
        path: &mut scratch.path,
        findings: Vec::new(),
    };
    walker.path.clear();
    walker.compare(
        desired,
        live,
        Some(own.root()),
        ManagerSet::EMPTY,
        None,
        false,
    );
    if walker.findings.is_empty() {
        return Vec::new();
    }
    let resource = resource();
    walker
        .findings
        .into_iter()
        .map(|raw| {
            let owners: Vec<Owner> = raw
                .owners
                .iter()
                .filter_map(|i| own.entries.get(i).map(|e| (i, e)))
                .map(|(i, e)| Owner {
                    manager: e.manager.to_owned(),
                    operation: e.operation.as_str().to_owned(),
                    subresource: e.subresource.map(str::to_owned),
                    time: e.time.map(str::to_owned),
                    role: roles.role(i),
                })
                .collect();
            let cause = if raw.removed_from_git {
                Cause::RemovedFromGit
            } else {
                primary_cause(&owners)
            };
            Finding {
                resource: resource.clone(),
                api_version: api_version.to_owned(),
                origin: origin.clone(),
                path_text: raw.path.to_string(),
                path: raw.path,
                change: raw.change,
                desired: raw.desired,
                live: raw.live,
                owners,
                cause,
            }
        })
        .collect()
}

/// The manager a finding is attributed to: an out-of-band owner before a system controller
/// before the applier; among those, an `Update` (who last changed the value) before an `Apply`
/// (who only asserted it), then the latest time.
fn primary_cause(owners: &[Owner]) -> Cause {
    let rank = |o: &Owner| {
        let role = match o.role {
            OwnerRole::Other => 0,
            OwnerRole::SecondaryApplier => 1,
            OwnerRole::SystemController => 2,
            OwnerRole::Applier => 3,
        };
        (role, u8::from(o.operation != "Update"))
    };
    owners
        .iter()
        .min_by(|a, b| {
            rank(a)
                .cmp(&rank(b))
                .then_with(|| b.time.cmp(&a.time))
                .then_with(|| a.manager.cmp(&b.manager))
        })
        .map_or(Cause::Unowned, |o| Cause::Manager(o.manager.clone()))
}

/// Decides the roles of the object's managedFields entries: the applier, the secondary
/// appliers and the system controllers.
///
/// **System controllers**: entries of a manager in `system_controllers`, and every write through
/// the `status` subresource.
///
/// **The applier** is the manager named with `--applier` (all its entries) when one is named.
/// Otherwise it is detected among the candidates (entries that are neither system controllers
/// nor writes through a subresource), grouped by manager name (all entries of the chosen name
/// are the applier). Names are compared in this order; the first difference decides:
///
/// 1. **Support**: the number of Git-declared leaves the name owns (exactly or through an atomic
///    ancestor) whose live value *equals* Git's, compared as the diff compares (numbers and
///    quantities by value, empty or zero in Git = absent live, keyed lists by merge key, Secret
///    data as bytes). Owning a field someone changed away from Git is no support: whoever
///    edited many fields by hand, or applied a different file, owns them but does not apply
///    Git's values. A name without support is never the applier; when no name has support,
///    there is no applier.
/// 2. **Server-side apply**: a name with an `Apply` entry (it asserts a whole configuration)
///    before names that only `Update`.
/// 3. **Client-side apply of Git**: the owner of the `last-applied-configuration` annotation,
///    when that configuration agrees with every leaf Git declares (read only if a tie gets
///    here).
/// 4. **Not an imperative kubectl command**: names in [`crate::applier::IMPERATIVE_MANAGERS`]
///    (`kubectl-edit`, `kubectl-patch`, `kubectl-set`, …) change fields by hand and never
///    apply a manifest.
/// 5. **The oldest writer**: the earliest entry `time` (a name without one counts as newest);
///    the object's creator writes before anyone changes it out of band.
/// 6. **The name**, in byte order, so the choice never depends on entry order.
///
/// Exactly one name is chosen: making every tied manager an applier (the earlier rule) let an
/// out-of-band writer that happened to tie hide its undeclared fields.
///
/// **Secondary appliers**: other owners of the last-applied annotation (client-side apply) and
/// `kubectl-create`.
pub fn detect_roles(
    desired: &Value,
    live: &Value,
    own: &FieldOwnership<'_>,
    settings: &PairSettings<'_>,
) -> Roles {
    let mut system = ManagerSet::EMPTY;
    for (i, e) in own.entries.iter().enumerate() {
        if settings.system_controllers.iter().any(|s| s == e.manager)
            || e.subresource == Some("status")
        {
            system = system.union(ManagerSet::single(i));
        }
    }
    let last_applied_owners = own
        .lookup(&[
            crate::fields::Step::Field("metadata"),
            crate::fields::Step::Field("annotations"),
            crate::fields::Step::Field(LAST_APPLIED),
        ])
        .map_or(ManagerSet::EMPTY, |node| own.owned(node));
    let mut applier = ManagerSet::EMPTY;
    if let Some(name) = settings.applier {
        for (i, e) in own.entries.iter().enumerate() {
            if e.manager == name {
                applier = applier.union(ManagerSet::single(i));
            }
        }
    } else if own.has_entries() {
        applier = detect_applier(desired, live, own, system, last_applied_owners);
    }
    let mut co_appliers = last_applied_owners;
    for (i, e) in own.entries.iter().enumerate() {
        if CREATOR_MANAGERS.contains(&e.manager) {
            co_appliers = co_appliers.union(ManagerSet::single(i));
        }
    }
    let system = system.minus(applier);
    Roles {
        applier,
        co_appliers: co_appliers.minus(applier).minus(system),
        system,
    }
}

/// Steps 1-6 of [`detect_roles`].
fn detect_applier(
    desired: &Value,
    live: &Value,
    own: &FieldOwnership<'_>,
    system: ManagerSet,
    last_applied_owners: ManagerSet,
) -> ManagerSet {
    let mut candidates = ManagerSet::EMPTY;
    for (i, e) in own.entries.iter().enumerate() {
        if !system.contains(i) && e.subresource.is_none() {
            candidates = candidates.union(ManagerSet::single(i));
        }
    }
    if candidates.is_empty() {
        return ManagerSet::EMPTY;
    }
    // Entries of one name count together: each entry maps to the first entry of its name.
    let mut representative = [0u8; ManagerSet::MAX_ENTRIES];
    let mut repeated = false;
    let mut names = 0;
    for i in candidates.iter() {
        let first = candidates
            .iter()
            .find(|&j| own.entries[j].manager == own.entries[i].manager)
            .unwrap_or(i);
        representative[i] = first as u8;
        if first == i {
            names += 1;
        } else {
            repeated = true;
        }
    }
    let mut support = [0u32; ManagerSet::MAX_ENTRIES];
    fn text<'a>(v: &'a Value, k: &str) -> &'a str {
        crate::normalize::get(v, k)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    let mut walk = SupportWalk {
        own,
        support: &mut support,
        representative: repeated.then_some(&representative),
        // With a single candidate name the applier is that manager as soon as it has support,
        // so the walk may stop there.
        stop_when: if names == 1 {
            candidates
        } else {
            ManagerSet::EMPTY
        },
        stopped: false,
        secret: secret::is_secret(
            crate::identity::group_of(text(desired, "apiVersion")),
            text(desired, "kind"),
        ),
    };
    walk.count(
        desired,
        Some(live),
        Some(own.root()),
        ManagerSet::EMPTY,
        None,
        false,
        Level::Root,
    );
    if names == 1 {
        let supported = candidates.iter().any(|i| support[i] > 0);
        return if supported {
            candidates
        } else {
            ManagerSet::EMPTY
        };
    }
    let by_name = Candidate::by_name(own, candidates, &support);
    let agrees = || {
        live.get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(LAST_APPLIED))
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .is_some_and(|config| configuration_agrees(desired, &config))
    };
    choose(by_name, last_applied_owners, agrees).map_or(ManagerSet::EMPTY, |c| c.entries)
}

fn all_entries(own: &FieldOwnership<'_>) -> ManagerSet {
    ManagerSet((0..own.entries.len()).fold(0u64, |acc, i| acc | ManagerSet::single(i).0))
}

pub(crate) fn atomic_owners(
    own: &FieldOwnership<'_>,
    node: Option<NodeId>,
    value: &Value,
    field: Option<&str>,
) -> ManagerSet {
    match node {
        Some(n)
            if own.is_leaf(n)
                && (value.is_array() || field.is_some_and(|f| ATOMIC_STRUCTS.contains(&f))) =>
        {
            own.owned(n)
        }
        _ => ManagerSet::EMPTY,
    }
}

fn skip_field(depth_path: &[&str], field: &str) -> bool {
    match depth_path {
        [] => matches!(field, "apiVersion" | "kind" | "status"),
        ["metadata"] => is_server_metadata(field),
        ["metadata", "annotations"] => field == LAST_APPLIED,
        _ => false,
    }
}

impl<'v> Walker<'v, '_, '_> {
    fn field_path(&self) -> [&str; 2] {
        let name = |i: usize| match self.path.get(i) {
            Some(Step::Field(f)) => f,
            _ => "\u{0}",
        };
        [name(0), name(1)]
    }

    fn skip(&self, field: &str) -> bool {
        match self.path.len() {
            0 => skip_field(&[], field),
            1 => self.field_path()[0] == "metadata" && skip_field(&["metadata"], field),
            2 => {
                self.field_path() == ["metadata", "annotations"]
                    && skip_field(&["metadata", "annotations"], field)
            }
            _ => false,
        }
    }

    /// Whether `key`, a key of the map at the current path that Git does not declare, is a
    /// bookkeeping key: only for the object's own `metadata.labels` and `metadata.annotations`.
    fn bookkeeping_key(&self, key: &str) -> bool {
        match self.path.as_slice() {
            [Step::Field("metadata"), Step::Field(map)] => self.bookkeeping.contains(map, key),
            _ => false,
        }
    }

    fn materialize(&self) -> DriftPath {
        let segments = self
            .path
            .iter()
            .map(|step| match *step {
                Step::Field(f) => Segment::Field(f.to_owned()),
                Step::Index(i) => Segment::Index(i),
                Step::Keyed(keys, item, desired_index) => Segment::keyed(
                    keys.iter()
                        .filter_map(|k| key_value(item, k).map(|v| ((*k).to_owned(), key_text(v))))
                        .collect(),
                    desired_index,
                ),
            })
            .collect();
        DriftPath::new(segments)
    }

    fn redact(&self, value: &Value) -> Value {
        if self.secret {
            let under = match self.path.first() {
                Some(Step::Field(f)) => *f,
                _ => "",
            };
            let annotation = self.field_path() == ["metadata", "annotations"]
                && matches!(self.path.get(2), Some(Step::Field(f)) if *f == LAST_APPLIED);
            match under {
                "data" | "binaryData" => return self.digester.redact(value, true),
                "stringData" => return self.digester.redact(value, false),
                "" => return self.digester.redact_object(value),
                _ if annotation => return self.digester.redact(value, false),
                _ => {}
            }
        }
        value.clone()
    }

    fn emit(
        &mut self,
        change: ChangeKind,
        desired: Option<&Value>,
        live: Option<&Value>,
        owners: ManagerSet,
        removed_from_git: bool,
    ) {
        let finding = RawFinding {
            path: self.materialize(),
            change,
            desired: desired.map(|v| self.redact(v)),
            live: live.map(|v| self.redact(v)),
            owners,
            removed_from_git,
        };
        self.findings.push(finding);
    }

    fn child(&self, node: Option<NodeId>, field: &str) -> Option<NodeId> {
        node.and_then(|n| self.own.field(n, field))
    }

    fn owned(&self, node: Option<NodeId>) -> ManagerSet {
        node.map_or(ManagerSet::EMPTY, |n| self.own.owned(n))
    }

    /// Compares a value Git declares with the live value at the same path.
    fn compare(
        &mut self,
        desired: &'v Value,
        live: &'v Value,
        node: Option<NodeId>,
        atomic: ManagerSet,
        field: Option<&'v str>,
        quantity: bool,
    ) {
        match (desired, live) {
            (Value::Object(d), Value::Object(l)) => self.compare_maps(
                d,
                l,
                node,
                atomic.union(atomic_owners(self.own, node, live, field)),
                field,
                &[],
            ),
            (Value::Array(d), Value::Array(l)) => self.compare_lists(d, l, node, atomic, field),
            (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
                if !(empty_or_zero(desired) && live.is_null()) {
                    let owners = atomic.union(self.owned(node));
                    self.emit(
                        ChangeKind::Changed,
                        Some(desired),
                        Some(live),
                        owners,
                        false,
                    );
                }
            }
            _ => {
                let equal = if self.secret_position() {
                    secret_value_bytes(self.path.first(), desired) == secret::data_bytes(live)
                } else {
                    scalar_equal(desired, live, quantity)
                };
                if !equal {
                    let owners = atomic.union(self.owned(node));
                    self.emit(
                        ChangeKind::Changed,
                        Some(desired),
                        Some(live),
                        owners,
                        false,
                    );
                }
            }
        }
    }

    fn secret_position(&self) -> bool {
        self.secret
            && self.path.len() == 2
            && matches!(
                self.path[0],
                Step::Field("data" | "stringData" | "binaryData")
            )
    }

    /// Compares two maps; `key_fields` are the merge keys of a matched keyed item (equal by
    /// construction, so a defaulted key such as `protocol` is not live-only content).
    fn compare_maps(
        &mut self,
        d: &'v Map<String, Value>,
        l: &'v Map<String, Value>,
        node: Option<NodeId>,
        below: ManagerSet,
        field: Option<&'v str>,
        key_fields: &[&str],
    ) {
        let at_root = self.path.is_empty();
        // Positions of live keys Git declares (for small maps, found by a linear scan), so the
        // pass over live-only keys needs no second lookup; large maps use their hash index.
        let mut declared_positions: u64 = 0;
        let track = l.len() <= 8;
        let quantity_map = is_quantity_position(field, "");
        for (k, dv) in d {
            if dv.is_null() || self.skip(k) {
                continue;
            }
            if at_root && self.secret && (k == "data" || k == "stringData") {
                continue; // compared together below
            }
            let found = if track {
                lookup_position(l, k)
            } else {
                lookup(l, k).map(|v| (0, v))
            };
            if let Some((position, lv)) = found {
                // Fast path: equal scalars need no ownership lookup.
                let scalars = !matches!(dv, Value::Object(_) | Value::Array(_))
                    && !matches!(lv, Value::Object(_) | Value::Array(_));
                if scalars
                    && !self.secret
                    && scalar_equal(dv, lv, quantity_map || is_quantity_position(None, k))
                {
                    if track {
                        declared_positions |= 1 << position;
                    }
                    continue;
                }
            }
            let child = self.child(node, k);
            self.path.push(Step::Field(k));
            match found {
                None => {
                    if !empty_or_zero(dv) {
                        let owners = below.union(self.owned(child));
                        self.emit(ChangeKind::MissingInLive, Some(dv), None, owners, false);
                    }
                }
                Some((position, lv)) => {
                    if track {
                        declared_positions |= 1 << position;
                    }
                    let quantity = is_quantity_position(field, k);
                    self.compare(dv, lv, child, below, Some(k), quantity);
                }
            }
            self.path.pop();
        }
        if at_root && self.secret {
            self.compare_secret_data(d, l, node, below);
        }
        for (position, (k, lv)) in l.iter().enumerate() {
            let declared = if track {
                declared_positions & (1 << position) != 0
            } else {
                lookup(d, k).is_some_and(|v| !v.is_null())
            };
            if declared
                || lv.is_null()
                || key_fields.contains(&k.as_str())
                || self.skip(k)
                || self.bookkeeping_key(k)
            {
                continue;
            }
            if at_root
                && self.secret
                && (k == "data" || k == "stringData")
                && (d.contains_key("data") || d.contains_key("stringData"))
            {
                continue; // handled by compare_secret_data
            }
            let child = self.child(node, k);
            self.path.push(Step::Field(k));
            self.judge(lv, child, below, Some(k));
            self.path.pop();
        }
    }

    /// Secret `data`/`stringData`: Git's `stringData` lands in live `data`, so both desired
    /// maps are compared with live `data` as decoded bytes.
    fn compare_secret_data(
        &mut self,
        d: &'v Map<String, Value>,
        l: &'v Map<String, Value>,
        node: Option<NodeId>,
        below: ManagerSet,
    ) {
        let as_map = |v: Option<&'v Value>| v.and_then(Value::as_object);
        let string_data = as_map(d.get("stringData"));
        let data = as_map(d.get("data"));
        if string_data.is_none() && data.is_none() {
            return;
        }
        let live_data = as_map(l.get("data"));
        let data_node = self.child(node, "data");
        for (map_name, map) in [("stringData", string_data), ("data", data)] {
            let Some(map) = map else { continue };
            for (k, dv) in map {
                if dv.is_null()
                    || (map_name == "data" && string_data.is_some_and(|s| s.contains_key(k)))
                {
                    continue;
                }
                let want = if map_name == "data" {
                    secret::data_bytes(dv)
                } else {
                    secret::string_data_bytes(dv)
                };
                let owners = below.union(self.owned(data_node.and_then(|n| self.own.field(n, k))));
                self.path.push(Step::Field(if map_name == "data" {
                    "data"
                } else {
                    "stringData"
                }));
                self.path.push(Step::Field(k));
                match live_data.and_then(|m| m.get(k)) {
                    None if want.is_empty() => {}
                    None => self.emit(ChangeKind::MissingInLive, Some(dv), None, owners, false),
                    Some(lv) => {
                        if secret::data_bytes(lv) != want {
                            let live_digest =
                                Value::String(self.digester.digest(&secret::data_bytes(lv)));
                            let desired_digest = Value::String(self.digester.digest(&want));
                            self.findings.push(RawFinding {
                                path: self.materialize(),
                                change: ChangeKind::Changed,
                                desired: Some(desired_digest),
                                live: Some(live_digest),
                                owners,
                                removed_from_git: false,
                            });
                        }
                    }
                }
                self.path.pop();
                self.path.pop();
            }
        }
        let declared = |k: &str| {
            string_data.is_some_and(|m| m.contains_key(k))
                || data.is_some_and(|m| m.contains_key(k))
        };
        self.path.push(Step::Field("data"));
        for (k, lv) in live_data.into_iter().flatten() {
            if !declared(k) {
                let child = data_node.and_then(|n| self.own.field(n, k));
                self.path.push(Step::Field(k));
                self.judge(lv, child, below, Some(k));
                self.path.pop();
            }
        }
        self.path.pop();
    }

    fn compare_lists(
        &mut self,
        d: &'v [Value],
        l: &'v [Value],
        node: Option<NodeId>,
        atomic: ManagerSet,
        field: Option<&'v str>,
    ) {
        let below = atomic.union(match node {
            Some(n) if self.own.is_leaf(n) => self.own.owned(n),
            _ => ManagerSet::EMPTY,
        });
        if let Some(keyed) = field.and_then(|f| keyed_list(f, d, l)) {
            let keys = keyed.keys;
            for (i, ditem) in d.iter().enumerate() {
                self.path.push(Step::Keyed(keys, ditem, Some(i)));
                match keyed.live_match(i) {
                    Some(j) => {
                        let litem = &l[j];
                        let child = node
                            .and_then(|n| self.own.keyed_item(n, keys, &keyed.live[j], litem, j));
                        match (ditem, litem) {
                            (Value::Object(dm), Value::Object(lm)) => {
                                self.compare_maps(dm, lm, child, below, None, keys)
                            }
                            _ => self.compare(ditem, litem, child, below, None, false),
                        }
                    }
                    None => self.emit(ChangeKind::MissingInLive, Some(ditem), None, below, false),
                }
                self.path.pop();
            }
            for (j, litem) in l.iter().enumerate() {
                if keyed.live_only(j) {
                    let child =
                        node.and_then(|n| self.own.keyed_item(n, keys, &keyed.live[j], litem, j));
                    self.path.push(Step::Keyed(keys, litem, None));
                    let owners = below.union(self.owned(child));
                    self.emit(ChangeKind::AddedInLive, None, Some(litem), owners, false);
                    self.path.pop();
                }
            }
        } else if d.iter().all(|v| !v.is_object() && !v.is_array()) {
            let equal = d.len() == l.len() && d.iter().zip(l).all(|(x, y)| json_equal(x, y));
            if !equal {
                let owners = below.union(node.map_or(ManagerSet::EMPTY, |n| self.own.subtree(n)));
                let (dv, lv) = (Value::Array(d.to_vec()), Value::Array(l.to_vec()));
                self.emit(ChangeKind::Changed, Some(&dv), Some(&lv), owners, false);
            }
        } else {
            for i in 0..d.len().max(l.len()) {
                self.path.push(Step::Index(i));
                match (d.get(i), l.get(i)) {
                    (Some(ditem), Some(litem)) => {
                        let child = node.and_then(|n| self.own.item(n, litem, i));
                        self.compare(ditem, litem, child, below, None, false);
                    }
                    (Some(ditem), None) => {
                        self.emit(ChangeKind::MissingInLive, Some(ditem), None, below, false)
                    }
                    (None, Some(litem)) => {
                        let child = node.and_then(|n| self.own.item(n, litem, i));
                        let owners = below.union(self.owned(child));
                        self.emit(ChangeKind::AddedInLive, None, Some(litem), owners, false);
                    }
                    (None, None) => {}
                }
                self.path.pop();
            }
        }
    }

    /// Judges live content Git does not declare: leaves, not containers.
    fn judge(
        &mut self,
        live: &'v Value,
        node: Option<NodeId>,
        atomic: ManagerSet,
        field: Option<&'v str>,
    ) {
        match live {
            Value::Null => {}
            Value::Object(map) => {
                let atomic_here = atomic_owners(self.own, node, live, field);
                if !atomic_here.is_empty() {
                    self.leaf(live, atomic.union(atomic_here));
                    return;
                }
                if map.is_empty() {
                    return;
                }
                let reach = atomic.union(node.map_or(ManagerSet::EMPTY, |n| self.own.subtree(n)));
                if reach.intersect(self.interesting).is_empty() {
                    return;
                }
                for (k, v) in map {
                    if self.skip(k) || self.bookkeeping_key(k) {
                        continue;
                    }
                    let child = self.child(node, k);
                    self.path.push(Step::Field(k));
                    self.judge(v, child, atomic, Some(k));
                    self.path.pop();
                }
            }
            Value::Array(items) => {
                if items.is_empty() {
                    return;
                }
                if let Some(keyed) = field.and_then(|f| keyed_list(f, &[], items)) {
                    for (j, item) in items.iter().enumerate() {
                        let child = node.and_then(|n| {
                            self.own.keyed_item(n, keyed.keys, &keyed.live[j], item, j)
                        });
                        self.path.push(Step::Keyed(keyed.keys, item, None));
                        let owners = atomic.union(self.owned(child));
                        self.emit(ChangeKind::AddedInLive, None, Some(item), owners, false);
                        self.path.pop();
                    }
                    return;
                }
                let whole = atomic_owners(self.own, node, live, field);
                if !whole.is_empty() || items.iter().all(|v| !v.is_object() && !v.is_array()) {
                    let owners = atomic
                        .union(whole)
                        .union(node.map_or(ManagerSet::EMPTY, |n| self.own.subtree(n)));
                    self.leaf(live, owners);
                    return;
                }
                let reach = atomic.union(node.map_or(ManagerSet::EMPTY, |n| self.own.subtree(n)));
                if reach.intersect(self.interesting).is_empty() {
                    return;
                }
                for (j, item) in items.iter().enumerate() {
                    let child = node.and_then(|n| self.own.item(n, item, j));
                    self.path.push(Step::Index(j));
                    self.judge(item, child, atomic, None);
                    self.path.pop();
                }
            }
            _ => self.leaf(live, atomic.union(self.owned(node))),
        }
    }

    fn leaf(&mut self, live: &Value, owners: ManagerSet) {
        if owners.is_empty() {
            return;
        }
        if !owners.intersect(self.suspicious).is_empty() {
            self.emit(ChangeKind::AddedInLive, None, Some(live), owners, false);
        } else if !owners.intersect(self.co_appliers).is_empty()
            && owners.intersect(self.applier).is_empty()
            && self.in_last_applied()
        {
            // Another manifest applied by hand (client-side apply) set this field.
            self.emit(ChangeKind::AddedInLive, None, Some(live), owners, false);
        } else if !owners.intersect(self.applier).is_empty()
            && self.in_string_map()
            && (!owners.intersect(self.applier_apply).is_empty() || self.in_last_applied())
        {
            self.emit(ChangeKind::AddedInLive, None, Some(live), owners, true);
        }
    }

    /// Whether the current path ends in an entry of a string map (labels, annotations, data,
    /// selectors …), using the path grammar's own notion of string maps.
    fn in_string_map(&self) -> bool {
        let n = self.path.len();
        let name = |i: Option<usize>| match i.and_then(|i| self.path.get(i)) {
            Some(Step::Field(f)) => Some(*f),
            _ => None,
        };
        let Some(own) = name(n.checked_sub(1)) else {
            return false;
        };
        crate::paths::string_map_rule(
            n - 1,
            name(n.checked_sub(2)),
            name(n.checked_sub(3)),
            own == "matchLabels" || own == "matchExpressions",
        )
    }

    fn in_last_applied(&self) -> bool {
        let parsed = self.last_applied.get_or_init(|| {
            self.live_root
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(LAST_APPLIED))
                .and_then(Value::as_str)
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
        });
        let Some(mut value) = parsed.as_ref() else {
            return false;
        };
        for step in self.path.iter() {
            let next = match *step {
                Step::Field(f) => value.get(f),
                Step::Index(i) => value.get(i),
                Step::Keyed(keys, item, _) => value
                    .as_array()
                    .and_then(|a| a.iter().find(|x| same_key(keys, x, item))),
            };
            match next {
                Some(v) => value = v,
                None => return false,
            }
        }
        !value.is_null()
    }
}

fn secret_value_bytes(first: Option<&Step<'_>>, desired: &Value) -> Vec<u8> {
    match first {
        Some(Step::Field("stringData")) => secret::string_data_bytes(desired),
        _ => secret::data_bytes(desired),
    }
}
