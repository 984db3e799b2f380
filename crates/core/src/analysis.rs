//! The analysis entry point: resolve identities (default namespace, cluster-scoped kinds,
//! CRD scopes), pair desired with live objects, diff each pair, sort findings, apply ignore
//! rules and group the rest into incidents. This is what the worker pipeline and the offline
//! `diff` command call.

use std::collections::HashMap;

use crate::bookkeeping::{Bookkeeping, BookkeepingKey, default_bookkeeping_keys};
use crate::diff::{Cause, ChangeKind, Finding, PairRef, PairSettings, Scratch, diff_pair_lazy};
use crate::fields::FieldOwnership;
use crate::identity::{ResourceId, Scopes, group_of};
use crate::incident::{Incident, group};
pub use crate::manifest::Problem;
use crate::manifest::{ManifestObject, Origin};
use crate::paths::DriftPath;
use crate::rules::{IgnoreRule, SuppressedFinding, apply_rules, compile_rules};
use crate::secret::{self, SecretDigester};

/// Managers treated as system controllers by default: Kubernetes control-plane components.
pub const DEFAULT_SYSTEM_CONTROLLERS: &[&str] = &[
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-apiserver",
    "cloud-controller-manager",
    "kube-proxy",
    "k3s",
];

/// Options of one analysis.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Stable key of the application, the first input of incident fingerprints.
    pub application_key: String,
    /// Namespace of namespaced objects that do not name one.
    pub default_namespace: String,
    /// The applier's manager name; detected per object when `None`.
    pub applier: Option<String>,
    /// Managers whose writes to undeclared fields are expected.
    pub system_controllers: Vec<String>,
    /// `false` for synthetic or otherwise untrusted live state: recommendations never go
    /// beyond `monitor`.
    pub live_trusted: bool,
    /// Kinds to treat as cluster-scoped in addition to the built-in list and CRDs in the input.
    pub cluster_scoped_kinds: Vec<String>,
    /// Labels and annotations GitOps tools add to what they apply (see [`crate::bookkeeping`]):
    /// when Git does not declare one, it is never a finding. Defaults to
    /// [`default_bookkeeping_keys`]; assign to replace the list, push to extend it.
    pub bookkeeping_keys: Vec<BookkeepingKey>,
    /// Live objects that were read but cannot be identified. A desired object one of them
    /// could be is never reported missing: the analysis says it could not tell instead.
    pub unidentified_live: Vec<UnidentifiedLive>,
    /// Digests Secret values in findings. Defaults to unkeyed `sha256:`; a deployment passes a
    /// keyed one (see [`crate::secret`]).
    pub secret_digester: SecretDigester,
}

/// A live object without the apiVersion, kind or name that identify it (a collector or
/// cluster returned something malformed), with whatever identity it does carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnidentifiedLive {
    pub origin: Origin,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// Why it cannot be identified.
    pub reason: String,
}

impl UnidentifiedLive {
    /// Keeps what identity `value` has, as text.
    pub fn new(origin: Origin, value: &serde_json::Value, reason: String) -> Self {
        let text = |pointer: &str| {
            value
                .pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        UnidentifiedLive {
            origin,
            kind: text("/kind"),
            name: text("/metadata/name"),
            namespace: text("/metadata/namespace"),
            reason,
        }
    }

    /// Whether this object could be the live copy of `id` (every part it has agrees).
    fn could_be(&self, id: &IdRef<'_>) -> bool {
        self.kind.as_deref().is_none_or(|kind| kind == id.kind)
            && self.name.as_deref().is_none_or(|name| name == id.name)
            && self
                .namespace
                .as_deref()
                .is_none_or(|namespace| id.namespace.is_none_or(|ns| ns == namespace))
    }
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            application_key: String::new(),
            default_namespace: "default".into(),
            applier: None,
            system_controllers: DEFAULT_SYSTEM_CONTROLLERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            live_trusted: true,
            cluster_scoped_kinds: Vec::new(),
            bookkeeping_keys: default_bookkeeping_keys(),
            unidentified_live: Vec::new(),
            secret_digester: SecretDigester::unkeyed(),
        }
    }
}

/// Everything one analysis found.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Unsuppressed findings, ordered by resource (group, kind, namespace, name) then path.
    pub findings: Vec<Finding>,
    pub suppressed: Vec<SuppressedFinding>,
    pub incidents: Vec<Incident>,
    /// Inputs that could not be analysed (duplicates, unreadable managedFields, invalid rules).
    pub problems: Vec<Problem>,
}

impl Analysis {
    /// Whether any unsuppressed drift was found.
    pub fn has_drift(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// A fast, per-process-seeded hasher for identity maps: SipHash dominated pairing on large
/// inputs. The random seed keeps collisions from being precomputed by whoever writes the
/// manifests.
#[derive(Clone)]
struct IdHasherBuilder {
    seed: u64,
}

impl Default for IdHasherBuilder {
    fn default() -> Self {
        use std::hash::BuildHasher;
        IdHasherBuilder {
            seed: std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }
}

impl std::hash::BuildHasher for IdHasherBuilder {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.seed)
    }
}

struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(29);
        }
    }
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        z ^ (z >> 29)
    }
}

type IdMap<'a, V> = HashMap<IdRef<'a>, V, IdHasherBuilder>;

/// A resource identity borrowed from its object (no allocation while pairing); made into an
/// owned [`ResourceId`] only for findings and problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct IdRef<'a> {
    group: &'a str,
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
}

impl IdRef<'_> {
    fn to_owned_id(self) -> ResourceId {
        ResourceId {
            group: self.group.to_owned(),
            kind: self.kind.to_owned(),
            namespace: self.namespace.map(str::to_owned),
            name: self.name.to_owned(),
        }
    }
}

fn identity<'a>(
    object: &'a ManifestObject,
    scopes: &Scopes,
    default_namespace: &'a str,
) -> IdRef<'a> {
    let group = group_of(&object.api_version);
    let namespace = if scopes.is_cluster_scoped(group, &object.kind) {
        None
    } else {
        Some(object.namespace.as_deref().unwrap_or(default_namespace))
    };
    IdRef {
        group,
        kind: &object.kind,
        namespace,
        name: &object.name,
    }
}

/// Analyses desired against live objects. `rules` may come in any order: they are sorted by
/// precedence (see [`crate::rules`]). Deterministic: the same inputs in any order give the same
/// result.
pub fn analyze(
    desired: &[ManifestObject],
    live: &[ManifestObject],
    options: &AnalyzeOptions,
    rules: &[IgnoreRule],
) -> Analysis {
    let mut problems = Vec::new();
    let mut scopes = Scopes::default();
    for kind in &options.cluster_scoped_kinds {
        scopes.add_cluster_scoped_kind(kind);
    }
    for object in desired.iter().chain(live) {
        if object.kind == "CustomResourceDefinition" {
            scopes.learn_from(&object.value);
        }
    }

    // Of two live copies of one object, the one read first (by origin) wins, whatever the
    // order the inputs came in.
    let mut live_index: IdMap<'_, &ManifestObject> =
        IdMap::with_capacity_and_hasher(live.len(), IdHasherBuilder::default());
    let mut duplicates: Vec<(IdRef<'_>, &ManifestObject)> = Vec::new();
    for object in live {
        let id = identity(object, &scopes, &options.default_namespace);
        match live_index.get_mut(&id) {
            Some(kept) => {
                if object.origin < kept.origin {
                    duplicates.push((id, *kept));
                    *kept = object;
                } else {
                    duplicates.push((id, object));
                }
            }
            None => {
                live_index.insert(id, object);
            }
        }
    }
    for (id, ignored) in duplicates {
        let first = live_index
            .get(&id)
            .map(|o| o.origin.to_string())
            .unwrap_or_default();
        problems.push(Problem {
            origin: Some(ignored.origin.clone()),
            message: format!(
                "live object {} appears twice (first at {first}); this copy is ignored",
                id.to_owned_id()
            ),
        });
    }

    // Pairs are diffed in input order (memory order, which is what keeps a large analysis
    // cache-friendly); the findings are sorted afterwards. Of two desired copies of one object
    // the one read first (by origin) is analysed, whatever the order the inputs came in.
    let mut desired_index: IdMap<'_, usize> =
        IdMap::with_capacity_and_hasher(desired.len(), IdHasherBuilder::default());
    let mut desired_ids: Vec<IdRef<'_>> = Vec::with_capacity(desired.len());
    let mut ignored: Vec<bool> = vec![false; desired.len()];
    for (i, object) in desired.iter().enumerate() {
        let id = identity(object, &scopes, &options.default_namespace);
        desired_ids.push(id);
        let kept = desired_index.entry(id).or_insert(i);
        if *kept != i {
            if object.origin < desired[*kept].origin {
                ignored[*kept] = true;
                *kept = i;
            } else {
                ignored[i] = true;
            }
        }
    }

    let bookkeeping = Bookkeeping::new(&options.bookkeeping_keys);
    let settings = PairSettings {
        applier: options.applier.as_deref(),
        system_controllers: &options.system_controllers,
        bookkeeping: &bookkeeping,
        digester: &options.secret_digester,
    };
    let mut findings = Vec::new();
    let mut own = FieldOwnership::empty();
    let mut scratch = Scratch::default();
    for ((object, id), ignore) in desired.iter().zip(&desired_ids).zip(ignored) {
        if ignore {
            let kept = desired_index
                .get(id)
                .map(|&k| desired[k].origin.to_string())
                .unwrap_or_default();
            problems.push(Problem {
                origin: Some(object.origin.clone()),
                message: format!(
                    "desired object {} is declared twice (first at {kept}); this copy is ignored",
                    id.to_owned_id()
                ),
            });
            continue;
        }
        let live_object = live_index.get(id).copied().or_else(|| {
            // A namespace-less custom resource we did not know to be cluster-scoped.
            if object.namespace.is_none() && id.namespace.is_some() {
                live_index
                    .get(&IdRef {
                        namespace: None,
                        ..*id
                    })
                    .copied()
            } else {
                None
            }
        });
        match live_object {
            Some(live_object) => {
                let own_problems = own.reload(&live_object.value);
                for p in own_problems {
                    problems.push(Problem {
                        origin: Some(live_object.origin.clone()),
                        message: match p.entry {
                            Some(e) => format!("managedFields[{e}]: {}", p.message),
                            None => p.message,
                        },
                    });
                }
                let pair = PairRef {
                    resource: &|| id.to_owned_id(),
                    api_version: &object.api_version,
                    origin: &object.origin,
                    desired: &object.value,
                    live: &live_object.value,
                };
                findings.extend(diff_pair_lazy(&mut scratch, pair, &own, &settings));
            }
            None if let Some(unknown) = options
                .unidentified_live
                .iter()
                .find(|unknown| unknown.could_be(id)) =>
            {
                problems.push(Problem {
                    origin: Some(object.origin.clone()),
                    message: format!(
                        "desired object {} was not compared: no identified live copy, but the live object at {} could be it ({}); it is not reported missing",
                        id.to_owned_id(),
                        unknown.origin,
                        unknown.reason
                    ),
                });
            }
            None => {
                let shown = if secret::is_secret(id.group, id.kind) {
                    options.secret_digester.redact_object(&object.value)
                } else {
                    object.value.clone()
                };
                findings.push(Finding {
                    resource: id.to_owned_id(),
                    api_version: object.api_version.clone(),
                    origin: object.origin.clone(),
                    path: DriftPath::default(),
                    path_text: String::new(),
                    change: ChangeKind::MissingResource,
                    desired: Some(shown),
                    live: None,
                    owners: Vec::new(),
                    cause: Cause::Missing,
                });
            }
        }
    }
    findings.sort_by(|a, b| {
        a.resource
            .cmp(&b.resource)
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.change.cmp(&b.change))
    });

    let (compiled, invalid) = compile_rules(rules);
    for (name, error) in invalid {
        problems.push(Problem {
            origin: None,
            message: format!("ignore rule {name:?} skipped: {error}"),
        });
    }
    let (findings, suppressed) = apply_rules(findings, &compiled, &options.default_namespace);
    let incidents = group(&findings, &options.application_key, options.live_trusted);
    problems.sort();
    Analysis {
        findings,
        suppressed,
        incidents,
        problems,
    }
}
