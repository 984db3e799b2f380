//! "Since when, in Git" for a drifted field (docs/drift-semantics.md#since-when-in-git): the
//! pure half. Given the versions of one manifest file, newest first, read the desired value of
//! one field of one object in each ([`value_at`], [`value_in`]) and find the oldest version of
//! the unbroken run that still holds the newest value ([`first_commit_of_current_value_at`]):
//! the commit that set the value the analysis compared. Reading the versions out of Git is the
//! worker's business.
//!
//! Values read here are raw Git content (a Secret's `data` in clear, as written in Git): they
//! are compared and dropped, never meant to be stored or shown.

use serde_json::Value;

use crate::identity::{ResourceId, Scopes, group_of};
use crate::manifest::{ManifestObject, parse_manifests};
use crate::normalize::{
    is_quantity_position, json_equal, key_text, key_value, lookup, scalar_equal,
};
use crate::paths::{DriftPath, Segment};

/// One version of a file: the commit and the file's bytes at that commit (`None`: the file
/// did not exist there, e.g. the commit deleted it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileVersion<'a> {
    pub commit: &'a str,
    pub bytes: Option<&'a [u8]>,
}

impl FileVersion<'_> {
    /// [`value_at`] on this version; a missing file holds no object.
    pub fn lookup(
        &self,
        origin: &str,
        resource: &ResourceId,
        path: &DriftPath,
        default_namespace: &str,
    ) -> Lookup {
        match self.bytes {
            Some(bytes) => value_at(origin, bytes, resource, path, default_namespace),
            None => Lookup::NoObject,
        }
    }
}

/// What one version of a file says about one field of one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The object declares the field with this value.
    Value(Value),
    /// The object is there but does not declare the field (nor a parent of it).
    Absent,
    /// The file holds no object with this identity (absent file, other name, other kind).
    NoObject,
    /// The version cannot be read for this field: a syntax error in the file, two list items
    /// with the key the path selects, a wildcard in the path. The reason is for people.
    Unparseable(String),
}

/// Parses `bytes` (named `origin`, as [`parse_manifests`] wants it) and reads the value at
/// `path` in the object identified by `resource`. Parse once and call [`value_in`] when
/// several fields of one version are wanted.
pub fn value_at(
    origin: &str,
    bytes: &[u8],
    resource: &ResourceId,
    path: &DriftPath,
    default_namespace: &str,
) -> Lookup {
    match parse_manifests(origin, bytes) {
        Ok(parsed) => value_in(&parsed.objects, resource, path, default_namespace),
        Err(error) => Lookup::Unparseable(error.to_string()),
    }
}

/// [`value_at`] on objects already parsed from one file.
///
/// Identity follows the analysis: group from `apiVersion` (the version never counts, so
/// `apps/v1beta2` and `apps/v1` are one Deployment), kind, name, and the namespace with
/// `default_namespace` applied to namespaced objects that name none. Whether a kind is
/// cluster-scoped is known from the built-in list and CRDs in the same file only, so an
/// object without a namespace also matches a `resource` without one: the analysis saw all
/// files and may have learnt from a CRD elsewhere that the kind is cluster-scoped. Of two
/// copies of one object in the file, the first is read, as the analysis keeps the first.
pub fn value_in(
    objects: &[ManifestObject],
    resource: &ResourceId,
    path: &DriftPath,
    default_namespace: &str,
) -> Lookup {
    let mut scopes = Scopes::default();
    for object in objects {
        scopes.learn_from(&object.value);
    }
    let Some(object) = objects
        .iter()
        .find(|object| is_resource(object, resource, &scopes, default_namespace))
    else {
        return Lookup::NoObject;
    };
    match follow(&object.value, path) {
        Ok(Some(value)) => Lookup::Value(value.clone()),
        Ok(None) => Lookup::Absent,
        Err(reason) => Lookup::Unparseable(reason),
    }
}

fn is_resource(
    object: &ManifestObject,
    resource: &ResourceId,
    scopes: &Scopes,
    default_namespace: &str,
) -> bool {
    let group = group_of(&object.api_version);
    if group != resource.group || object.kind != resource.kind || object.name != resource.name {
        return false;
    }
    let cluster_scoped = scopes.is_cluster_scoped(group, &object.kind);
    match (resource.namespace.as_deref(), object.namespace.as_deref()) {
        // The analysis drops a namespace written on a cluster-scoped object.
        (None, _) if cluster_scoped => true,
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(wanted), Some(namespace)) => !cluster_scoped && wanted == namespace,
        (Some(wanted), None) => !cluster_scoped && wanted == default_namespace,
    }
}

/// The value at `path` under `root`: `Ok(None)` when some step is not there (or the value
/// there has another shape, so the field cannot exist), `Err` when the path cannot select
/// one value.
fn follow<'v>(root: &'v Value, path: &DriftPath) -> Result<Option<&'v Value>, String> {
    let mut current = root;
    for (depth, segment) in path.segments.iter().enumerate() {
        let next = match (segment, current) {
            (Segment::Field(name), Value::Object(map)) => lookup(map, name),
            (Segment::Index(index), Value::Array(items)) => items.get(*index),
            (Segment::Keyed { keys, .. }, Value::Array(items)) => {
                let mut matching = items.iter().filter(|item| has_key(item, keys));
                let first = matching.next();
                if first.is_some() && matching.next().is_some() {
                    let partial = DriftPath::new(path.segments[..=depth].to_vec());
                    return Err(format!(
                        "two items of the list match {partial}: the item cannot be told apart"
                    ));
                }
                first
            }
            (Segment::AnyKey | Segment::AnyItem, _) => {
                return Err(format!(
                    "the path {path} has a wildcard and selects no single value"
                ));
            }
            _ => None,
        };
        match next {
            Some(value) => current = value,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Whether a list item has the merge-key values of a keyed segment, as the engine prints
/// them: values as [`key_text`], `protocol` defaulted to `TCP`, and `protocol=TCP` left out of
/// a port's key (so `[containerPort=80]` is the TCP port 80, not the UDP one).
fn has_key(item: &Value, keys: &[(String, String)]) -> bool {
    let mut names: Vec<&str> = keys.iter().map(|(name, _)| name.as_str()).collect();
    let port_key = names
        .iter()
        .any(|name| matches!(*name, "port" | "containerPort"));
    if port_key && !names.contains(&"protocol") {
        names.push("protocol");
    }
    let mut pairs = Vec::with_capacity(names.len());
    for name in names {
        match key_value(item, name) {
            Some(value) => pairs.push((name.to_owned(), key_text(value))),
            None => return false,
        }
    }
    let Segment::Keyed {
        keys: canonical, ..
    } = Segment::keyed(pairs, None)
    else {
        return false;
    };
    canonical == keys
}

/// [`first_commit_of_current_value_at`] without knowing the field: values compare as
/// [`json_equal`] (numbers by value, everything else exact), quantities by value only inside
/// maps whose name makes them quantities (`requests`, `limits`, …).
pub fn first_commit_of_current_value(versions_newest_first: &[Lookup]) -> Option<usize> {
    run_end(versions_newest_first, Context::default())
}

/// Index of the oldest version in the unbroken run, from the newest, of versions whose
/// value equals the newest one: the commit that set the current value. `None` when the newest
/// version holds no value to trace (no object, or unreadable). A version without the object
/// or unreadable ends the run, as does a different value; `Absent` equals `Absent` (the
/// commit that removed the field, or created the object without it, is the answer).
///
/// Values compare as the engine compares desired with live where that makes sense between two
/// Git versions: numbers by value (`1` = `1.0`) and resource quantities by value in quantity
/// positions (`500m` = `0.5` under `resources.requests`), both from [`crate::normalize`]. The
/// engine's other rule, "empty or zero in Git equals absent live", is not applied: it is about
/// what the API server drops, and between two Git versions `replicas: 0` and no `replicas`
/// are different declarations that can make different findings.
pub fn first_commit_of_current_value_at(
    versions_newest_first: &[Lookup],
    path: &DriftPath,
) -> Option<usize> {
    run_end(versions_newest_first, Context::of(path))
}

/// Whether two versions declare the same thing for the field at `path` (see
/// [`first_commit_of_current_value_at`]): callers walking history lazily use it to know
/// when a run ends.
pub fn same_declaration(a: &Lookup, b: &Lookup, path: &DriftPath) -> bool {
    same(a, b, Context::of(path))
}

fn run_end(versions: &[Lookup], context: Context<'_>) -> Option<usize> {
    let newest = versions.first()?;
    if !matches!(newest, Lookup::Value(_) | Lookup::Absent) {
        return None;
    }
    let run = versions
        .iter()
        .take_while(|version| same(newest, version, context))
        .count();
    // `run` is at least 1: the newest equals itself.
    Some(run.saturating_sub(1))
}

/// The field name a value sits under and the one above it, which decide quantity positions.
#[derive(Debug, Clone, Copy, Default)]
struct Context<'p> {
    parent: Option<&'p str>,
    field: Option<&'p str>,
}

impl<'p> Context<'p> {
    fn of(path: &'p DriftPath) -> Self {
        let name = |segment: Option<&'p Segment>| match segment {
            Some(Segment::Field(name)) => Some(name.as_str()),
            _ => None,
        };
        let count = path.segments.len();
        let field = name(path.segments.last());
        Context {
            parent: field.and(name(
                count.checked_sub(2).and_then(|i| path.segments.get(i)),
            )),
            field,
        }
    }
}

fn same(a: &Lookup, b: &Lookup, context: Context<'_>) -> bool {
    match (a, b) {
        (Lookup::Value(x), Lookup::Value(y)) => same_value(x, y, context),
        (Lookup::Absent, Lookup::Absent) => true,
        _ => false,
    }
}

fn same_value(a: &Value, b: &Value, context: Context<'_>) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(key, v)| {
                    lookup(y, key).is_some_and(|w| {
                        let inner = Context {
                            parent: context.field,
                            field: Some(key),
                        };
                        same_value(v, w, inner)
                    })
                })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(v, w)| same_value(v, w, Context::default()))
        }
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        _ => {
            let quantity = context
                .field
                .is_some_and(|field| is_quantity_position(context.parent, field));
            if quantity {
                scalar_equal(a, b, true)
            } else {
                json_equal(a, b)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> ResourceId {
        ResourceId {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.map(str::to_owned),
            name: name.into(),
        }
    }

    fn api() -> ResourceId {
        id("apps", "Deployment", Some("payments"), "api")
    }

    fn path(text: &str) -> DriftPath {
        crate::paths::parse(text).expect("a valid path in the test")
    }

    fn at(yaml: &str, resource: &ResourceId, field: &str) -> Lookup {
        value_at(
            "deploy/app.yaml",
            yaml.as_bytes(),
            resource,
            &path(field),
            "payments",
        )
    }

    const TWO_DOCUMENTS: &str = "\
# the service first
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  ports:
    - port: 80
    - port: 53
      protocol: UDP
---
apiVersion: apps/v1beta2
kind: Deployment
metadata:
  name: api
  labels:
    app.kubernetes.io/name: api
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: api
          image: api:1
          resources:
            requests:
              cpu: 500m
          ports:
            - containerPort: 8080
        - name: sidecar
          image: proxy:2
          args: [\"--a\", \"--b\"]
";

    #[test]
    fn values_are_read_by_identity_and_path_across_documents() {
        assert_eq!(
            at(TWO_DOCUMENTS, &api(), "spec.replicas"),
            Lookup::Value(json!(3))
        );
        assert_eq!(
            at(
                TWO_DOCUMENTS,
                &api(),
                "spec.template.spec.containers[name=sidecar].image"
            ),
            Lookup::Value(json!("proxy:2"))
        );
        assert_eq!(
            at(
                TWO_DOCUMENTS,
                &api(),
                "spec.template.spec.containers[name=sidecar].args[1]"
            ),
            Lookup::Value(json!("--b"))
        );
        assert_eq!(
            at(
                TWO_DOCUMENTS,
                &api(),
                "metadata.labels.app.kubernetes.io/name"
            ),
            Lookup::Value(json!("api"))
        );
        assert_eq!(
            at(
                TWO_DOCUMENTS,
                &api(),
                "spec.template.spec.containers[name=api].ports[containerPort=8080].containerPort"
            ),
            Lookup::Value(json!(8080))
        );
        let service = id("", "Service", Some("payments"), "api");
        assert_eq!(
            at(TWO_DOCUMENTS, &service, "spec.ports[port=80]"),
            Lookup::Value(json!({"port": 80}))
        );
        assert_eq!(
            at(
                TWO_DOCUMENTS,
                &service,
                "spec.ports[port=53,protocol=UDP].port"
            ),
            Lookup::Value(json!(53))
        );
        // `[port=53]` is the TCP port 53, which is not declared.
        assert_eq!(
            at(TWO_DOCUMENTS, &service, "spec.ports[port=53]"),
            Lookup::Absent
        );
        assert_eq!(at(TWO_DOCUMENTS, &api(), "spec.paused"), Lookup::Absent);
        assert_eq!(
            at(TWO_DOCUMENTS, &api(), "spec.replicas.deeper"),
            Lookup::Absent
        );
        assert_eq!(
            at(
                TWO_DOCUMENTS,
                &api(),
                "spec.template.spec.containers[name=web].image"
            ),
            Lookup::Absent
        );
        assert_eq!(at(TWO_DOCUMENTS, &api(), ""), {
            let parsed = parse_manifests("x", TWO_DOCUMENTS.as_bytes()).expect("parses");
            Lookup::Value(parsed.objects[1].value.clone())
        });
    }

    #[test]
    fn the_engine_findings_read_back_their_desired_value() {
        let desired = parse_manifests("deploy/app.yaml", TWO_DOCUMENTS.as_bytes())
            .expect("parses")
            .objects;
        let live_text = TWO_DOCUMENTS
            .replace("image: proxy:2", "image: proxy:3")
            .replace("replicas: 3", "replicas: 4")
            .replace(
                "- port: 53\n      protocol: UDP",
                "- port: 53\n      protocol: UDP\n      name: dns",
            )
            .replace(
                "metadata:\n  name: api\n",
                "metadata:\n  name: api\n  namespace: payments\n",
            );
        let live = parse_manifests("live.yaml", live_text.as_bytes())
            .expect("parses")
            .objects;
        let options = crate::AnalyzeOptions {
            default_namespace: "payments".into(),
            ..crate::AnalyzeOptions::default()
        };
        let analysis = crate::analyze(&desired, &live, &options, &[]);
        assert!(analysis.findings.len() >= 2, "{:?}", analysis.findings);
        for finding in &analysis.findings {
            let expected = match &finding.desired {
                Some(value) => Lookup::Value(value.clone()),
                None => Lookup::Absent,
            };
            // Both the engine's path and the path read back from its text.
            for path in [finding.path.clone(), path(&finding.path_text)] {
                assert_eq!(
                    value_at(
                        "deploy/app.yaml",
                        TWO_DOCUMENTS.as_bytes(),
                        &finding.resource,
                        &path,
                        "payments"
                    ),
                    expected,
                    "{}",
                    finding.path_text
                );
            }
        }
    }

    #[test]
    fn identity_is_the_engine_identity() {
        // Another namespace, another group, another name: no object.
        for other in [
            id("apps", "Deployment", Some("web"), "api"),
            id("extensions", "Deployment", Some("payments"), "api"),
            id("apps", "Deployment", Some("payments"), "api2"),
            id("apps", "StatefulSet", Some("payments"), "api"),
        ] {
            assert_eq!(
                at(TWO_DOCUMENTS, &other, "spec.replicas"),
                Lookup::NoObject,
                "{other}"
            );
        }
        let explicit = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: web\nspec:\n  replicas: 2\n";
        assert_eq!(
            at(
                explicit,
                &id("apps", "Deployment", Some("web"), "api"),
                "spec.replicas"
            ),
            Lookup::Value(json!(2))
        );
        assert_eq!(at(explicit, &api(), "spec.replicas"), Lookup::NoObject);
        // A namespace written on a cluster-scoped object does not count.
        let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\n  namespace: oops\nrules: []\n";
        assert_eq!(
            at(
                role,
                &id("rbac.authorization.k8s.io", "ClusterRole", None, "reader"),
                "rules"
            ),
            Lookup::Value(json!([]))
        );
        // A custom kind the analysis learnt is cluster-scoped from a CRD in another file.
        let custom = "apiVersion: example.com/v1\nkind: Tenant\nmetadata:\n  name: acme\nspec:\n  tier: gold\n";
        assert_eq!(
            at(
                custom,
                &id("example.com", "Tenant", None, "acme"),
                "spec.tier"
            ),
            Lookup::Value(json!("gold"))
        );
    }

    #[test]
    fn unreadable_versions_say_why() {
        assert!(matches!(
            at("a: [unclosed\n", &api(), "spec.replicas"),
            Lookup::Unparseable(reason) if reason.contains("deploy/app.yaml")
        ));
        let twice = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: x\n        - name: a\n          image: y\n";
        assert!(matches!(
            at(twice, &api(), "spec.template.spec.containers[name=a].image"),
            Lookup::Unparseable(reason) if reason.contains("[name=a]")
        ));
        let wildcard = DriftPath::new(vec![Segment::Field("spec".into()), Segment::AnyKey]);
        assert!(matches!(
            value_at(
                "f.yaml",
                TWO_DOCUMENTS.as_bytes(),
                &api(),
                &wildcard,
                "payments"
            ),
            Lookup::Unparseable(_)
        ));
        let gone = FileVersion {
            commit: "c",
            bytes: None,
        };
        assert_eq!(
            gone.lookup("f.yaml", &api(), &path("spec"), "payments"),
            Lookup::NoObject
        );
    }

    fn value(v: Value) -> Lookup {
        Lookup::Value(v)
    }

    #[test]
    fn the_run_ends_at_the_commit_that_set_the_current_value() {
        // Newest first: the value was set two commits ago, on top of an older value.
        let versions = [
            value(json!(3)),
            value(json!(3)),
            value(json!(3)),
            value(json!(2)),
        ];
        assert_eq!(first_commit_of_current_value(&versions), Some(2));
        // A field added later: the run ends where the field was absent.
        let added = [value(json!("x")), Lookup::Absent, Lookup::Absent];
        assert_eq!(first_commit_of_current_value(&added), Some(0));
        // Changed and changed back: the change-back commit is the answer, not the first one.
        let back = [
            value(json!(1)),
            value(json!(1)),
            value(json!(5)),
            value(json!(1)),
        ];
        assert_eq!(first_commit_of_current_value(&back), Some(1));
        // The object appears in this file only from some commit on (renamed, moved here).
        let moved = [
            value(json!(1)),
            value(json!(1)),
            Lookup::NoObject,
            value(json!(1)),
        ];
        assert_eq!(first_commit_of_current_value(&moved), Some(1));
        // An unreadable version ends the run as well.
        let broken = [
            value(json!(1)),
            Lookup::Unparseable("x".into()),
            value(json!(1)),
        ];
        assert_eq!(first_commit_of_current_value(&broken), Some(0));
        // Unbroken to the file's first commit.
        assert_eq!(
            first_commit_of_current_value(&vec![value(json!(1)); 4]),
            Some(3)
        );
        // A field removed from Git: the removal is traced like a value.
        let removed = [Lookup::Absent, Lookup::Absent, value(json!(1))];
        assert_eq!(first_commit_of_current_value(&removed), Some(1));
        // Nothing to trace.
        assert_eq!(first_commit_of_current_value(&[]), None);
        assert_eq!(
            first_commit_of_current_value(&[Lookup::NoObject, Lookup::Absent]),
            None
        );
        assert_eq!(
            first_commit_of_current_value(&[Lookup::Unparseable("x".into())]),
            None
        );
    }

    #[test]
    fn values_compare_with_the_engine_normalization() {
        // Numbers by value.
        assert_eq!(
            first_commit_of_current_value(&[value(json!(1)), value(json!(1.0)), value(json!("1"))]),
            Some(1)
        );
        // Quantities by value in quantity positions only.
        let cpu = path("spec.template.spec.containers[name=api].resources.requests.cpu");
        let spelled = [value(json!("500m")), value(json!("0.5")), value(json!("1"))];
        assert_eq!(first_commit_of_current_value_at(&spelled, &cpu), Some(1));
        assert_eq!(
            first_commit_of_current_value_at(&spelled, &path("spec.x")),
            Some(0)
        );
        let requests = path("spec.template.spec.containers[name=api].resources.requests");
        let maps = [value(json!({"cpu": "1000m"})), value(json!({"cpu": 1}))];
        assert_eq!(first_commit_of_current_value_at(&maps, &requests), Some(1));
        assert_eq!(first_commit_of_current_value(&maps), Some(0));
        // Strings exact; zero is not absence between two Git versions.
        assert_eq!(
            first_commit_of_current_value(&[value(json!("0.50")), value(json!("0.5"))]),
            Some(0)
        );
        assert_eq!(
            first_commit_of_current_value(&[value(json!(0)), Lookup::Absent]),
            Some(0)
        );
        assert!(same_declaration(&Lookup::Absent, &Lookup::Absent, &cpu));
        assert!(!same_declaration(
            &Lookup::NoObject,
            &Lookup::NoObject,
            &cpu
        ));
    }

    #[test]
    fn file_versions_from_yaml_history() {
        // Oldest to newest: created, other field changed, replicas changed, changed back,
        // moved to another namespace, moved back.
        let history = [
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 2\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 2\n  paused: false\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 5\n  paused: false\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 2\n  paused: false\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: other\nspec:\n  replicas: 2\n",
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 2\n",
        ];
        let lookups = |field: &str| -> Vec<Lookup> {
            history
                .iter()
                .rev()
                .map(|text| at(text, &api(), field))
                .collect()
        };
        // replicas: the newest version is the first of its run (the object was elsewhere).
        assert_eq!(
            first_commit_of_current_value(&lookups("spec.replicas")),
            Some(0)
        );
        let without_move: Vec<Lookup> = history[..4]
            .iter()
            .rev()
            .map(|text| at(text, &api(), "spec.replicas"))
            .collect();
        // Changed to 5, then back to 2: the change back (newest-first index 0) set it.
        assert_eq!(first_commit_of_current_value(&without_move), Some(0));
        // paused was added by the second commit (newest-first index 2 of the first four).
        let paused: Vec<Lookup> = history[..4]
            .iter()
            .rev()
            .map(|text| at(text, &api(), "spec.paused"))
            .collect();
        assert_eq!(first_commit_of_current_value(&paused), Some(2));
    }
}
