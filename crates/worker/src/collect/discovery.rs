//! API discovery, once per collection: which group versions the cluster serves (`/api`,
//! `/apis`) and, for the groups Git needs, which resource types (`/api/v1`, `/apis/G/V`),
//! so each wanted kind maps to its plural resource name and scope. Only the group versions
//! actually needed are fetched. Transport-agnostic: kube-rs and `kubectl get --raw` both
//! answer [`RawGet`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::error::{CollectError, Result};

/// Fetches one discovery document; `Ok(None)` when the server answers 404.
pub(crate) trait RawGet {
    async fn get_json(&self, path: &str) -> Result<Option<Value>>;
}

/// One resource type the cluster serves, resolved from discovery.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ServedResource {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The plural resource name used in URLs (`deployments`).
    pub plural: String,
    pub namespaced: bool,
}

impl ServedResource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` (`deployments.apps`, `configmaps`): how Kubernetes names the resource
    /// in RBAC messages and how people grant access to it.
    pub fn label(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The URL of the collection, in `namespace` or cluster-wide.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let mut path = if self.group.is_empty() {
            format!("/api/{}", segment(&self.version))
        } else {
            format!("/apis/{}/{}", segment(&self.group), segment(&self.version))
        };
        if let (true, Some(ns)) = (self.namespaced, namespace) {
            path.push_str("/namespaces/");
            path.push_str(&segment(ns));
        }
        path.push('/');
        path.push_str(&segment(&self.plural));
        path
    }

    /// The URL of one object.
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{}", self.collection_path(namespace), segment(name))
    }
}

/// Percent-encodes one URL path segment: everything but RFC 3986 unreserved characters and
/// `:`/`@` (RBAC names such as `system:controller:x` keep their colons).
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b':' | b'@') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[derive(Debug, Clone, Default)]
struct GroupVersions {
    /// Served versions, in the server's order of preference.
    versions: Vec<String>,
    preferred: Option<String>,
}

/// What discovery found for the kinds a collection needs.
#[derive(Debug, Default)]
pub(crate) struct Discovery {
    groups: BTreeMap<String, GroupVersions>,
    /// Resource lists already fetched, by `apiVersion` (`apps/v1`).
    resources: HashMap<String, Vec<ServedResource>>,
}

impl Discovery {
    /// Discovers what is needed to resolve every `(group, version, kind)` in `wanted`.
    pub async fn run<T: RawGet>(
        transport: &T,
        wanted: &BTreeSet<(String, String, String)>,
    ) -> Result<Self> {
        let mut discovery = Discovery::default();
        let needed_groups: BTreeSet<&str> =
            wanted.iter().map(|(group, _, _)| group.as_str()).collect();
        if needed_groups.contains("")
            && let Some(doc) = transport.get_json("/api").await?
        {
            discovery
                .groups
                .insert(String::new(), parse_core_versions(&doc)?);
        }
        if needed_groups.iter().any(|g| !g.is_empty())
            && let Some(doc) = transport.get_json("/apis").await?
        {
            discovery.groups.extend(parse_group_list(&doc)?);
        }
        for (group, version, kind) in wanted {
            for candidate in discovery.candidate_versions(group, version) {
                let api_version = if group.is_empty() {
                    candidate.clone()
                } else {
                    format!("{group}/{candidate}")
                };
                if !discovery.resources.contains_key(&api_version) {
                    let path = if group.is_empty() {
                        format!("/api/{}", segment(&candidate))
                    } else {
                        format!("/apis/{}/{}", segment(group), segment(&candidate))
                    };
                    let list = match transport.get_json(&path).await? {
                        Some(doc) => parse_resource_list(&doc, group, &candidate)?,
                        None => Vec::new(),
                    };
                    discovery.resources.insert(api_version.clone(), list);
                }
                if discovery
                    .resources
                    .get(&api_version)
                    .is_some_and(|list| list.iter().any(|r| &r.kind == kind))
                {
                    break;
                }
            }
        }
        Ok(discovery)
    }

    /// Versions to try for a kind Git asked for in `version`: that version when served (the
    /// closest to what Git wrote), then the group's preferred version, then the others.
    fn candidate_versions(&self, group: &str, version: &str) -> Vec<String> {
        let Some(served) = self.groups.get(group) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        if served.versions.iter().any(|v| v == version) {
            out.push(version.to_owned());
        }
        for v in served.preferred.iter().chain(served.versions.iter()) {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        out
    }

    /// The served resource for a kind asked for as `group/version`, or `None` when the
    /// cluster does not serve that kind in any version of the group.
    pub fn resolve(&self, group: &str, version: &str, kind: &str) -> Option<&ServedResource> {
        self.candidate_versions(group, version)
            .into_iter()
            .find_map(|candidate| {
                let api_version = if group.is_empty() {
                    candidate
                } else {
                    format!("{group}/{candidate}")
                };
                self.resources
                    .get(&api_version)
                    .and_then(|list| list.iter().find(|r| r.kind == kind))
            })
    }
}

fn invalid(what: &str, message: impl Into<String>) -> CollectError {
    CollectError::InvalidResponse {
        what: what.to_owned(),
        message: message.into(),
    }
}

/// `/api` answers `APIVersions`: `{"versions": ["v1"]}`.
fn parse_core_versions(doc: &Value) -> Result<GroupVersions> {
    let versions = doc
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("reading /api", "no `versions` list"))?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect::<Vec<_>>();
    Ok(GroupVersions {
        preferred: versions.first().cloned(),
        versions,
    })
}

/// `/apis` answers `APIGroupList`: groups with their versions and preferred version.
fn parse_group_list(doc: &Value) -> Result<BTreeMap<String, GroupVersions>> {
    let groups = doc
        .get("groups")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("reading /apis", "no `groups` list"))?;
    let mut out = BTreeMap::new();
    for group in groups {
        let Some(name) = group.get("name").and_then(Value::as_str) else {
            continue;
        };
        let versions = group
            .get("versions")
            .and_then(Value::as_array)
            .map(|versions| {
                versions
                    .iter()
                    .filter_map(|v| v.get("version").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let preferred = group
            .get("preferredVersion")
            .and_then(|p| p.get("version"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        out.insert(
            name.to_owned(),
            GroupVersions {
                versions,
                preferred,
            },
        );
    }
    Ok(out)
}

/// `/api/v1` and `/apis/G/V` answer `APIResourceList`. Subresources (`deployments/scale`)
/// are skipped; they are not objects Git declares.
fn parse_resource_list(doc: &Value, group: &str, version: &str) -> Result<Vec<ServedResource>> {
    let what = || {
        format!(
            "reading the resource list of {}",
            if group.is_empty() {
                version.to_owned()
            } else {
                format!("{group}/{version}")
            }
        )
    };
    let resources = doc
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(&what(), "no `resources` list"))?;
    let mut out = Vec::new();
    for resource in resources {
        let text = |field: &str| {
            resource
                .get(field)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (Some(plural), Some(kind)) = (text("name"), text("kind")) else {
            continue;
        };
        if plural.contains('/') {
            continue;
        }
        out.push(ServedResource {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced: resource
                .get("namespaced")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use serde_json::json;

    use super::*;

    struct Canned {
        docs: HashMap<&'static str, Value>,
        asked: RefCell<Vec<String>>,
    }

    impl RawGet for Canned {
        async fn get_json(&self, path: &str) -> Result<Option<Value>> {
            self.asked.borrow_mut().push(path.to_owned());
            Ok(self.docs.get(path).cloned())
        }
    }

    fn canned() -> Canned {
        let mut docs = HashMap::new();
        docs.insert("/api", json!({"kind": "APIVersions", "versions": ["v1"]}));
        docs.insert(
            "/apis",
            json!({"kind": "APIGroupList", "groups": [
                {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}},
                {"name": "autoscaling", "versions": [
                    {"groupVersion": "autoscaling/v2", "version": "v2"},
                    {"groupVersion": "autoscaling/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "autoscaling/v2", "version": "v2"}}]}),
        );
        docs.insert(
            "/api/v1",
            json!({"resources": [
                {"name": "configmaps", "kind": "ConfigMap", "namespaced": true},
                {"name": "nodes", "kind": "Node", "namespaced": false},
                {"name": "pods/log", "kind": "Pod", "namespaced": true}]}),
        );
        docs.insert(
            "/apis/apps/v1",
            json!({"resources": [
                {"name": "deployments", "kind": "Deployment", "namespaced": true},
                {"name": "deployments/scale", "kind": "Scale", "namespaced": true}]}),
        );
        docs.insert(
            "/apis/autoscaling/v2",
            json!({"resources": [{"name": "horizontalpodautoscalers", "kind": "HorizontalPodAutoscaler", "namespaced": true}]}),
        );
        docs.insert(
            "/apis/autoscaling/v1",
            json!({"resources": [{"name": "horizontalpodautoscalers", "kind": "HorizontalPodAutoscaler", "namespaced": true}]}),
        );
        Canned {
            docs,
            asked: RefCell::new(Vec::new()),
        }
    }

    fn wanted(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
        items
            .iter()
            .map(|(g, v, k)| ((*g).to_owned(), (*v).to_owned(), (*k).to_owned()))
            .collect()
    }

    fn run(transport: &Canned, items: &[(&str, &str, &str)]) -> Discovery {
        let runtime = tokio::runtime::Builder::new_current_thread().build();
        let Ok(runtime) = runtime else {
            panic!("no runtime")
        };
        match runtime.block_on(Discovery::run(transport, &wanted(items))) {
            Ok(discovery) => discovery,
            Err(e) => panic!("discovery failed: {e}"),
        }
    }

    #[test]
    fn resolves_plural_and_scope_and_fetches_only_needed_group_versions() {
        let transport = canned();
        let discovery = run(
            &transport,
            &[("apps", "v1", "Deployment"), ("", "v1", "Node")],
        );
        let deployment = discovery.resolve("apps", "v1", "Deployment").cloned();
        assert_eq!(
            deployment.as_ref().map(ServedResource::label).as_deref(),
            Some("deployments.apps")
        );
        assert_eq!(
            deployment
                .map(|d| d.object_path(Some("payments"), "ledger-api"))
                .as_deref(),
            Some("/apis/apps/v1/namespaces/payments/deployments/ledger-api")
        );
        let node = discovery.resolve("", "v1", "Node").cloned();
        assert_eq!(
            node.map(|n| n.object_path(Some("ignored"), "n1"))
                .as_deref(),
            Some("/api/v1/nodes/n1")
        );
        assert_eq!(
            *transport.asked.borrow(),
            ["/api", "/apis", "/api/v1", "/apis/apps/v1"]
        );
    }

    #[test]
    fn an_unserved_version_falls_back_to_the_preferred_one() {
        let transport = canned();
        let discovery = run(
            &transport,
            &[
                ("apps", "v1beta2", "Deployment"),
                ("autoscaling", "v1", "HorizontalPodAutoscaler"),
            ],
        );
        assert_eq!(
            discovery
                .resolve("apps", "v1beta2", "Deployment")
                .map(|r| r.api_version())
                .as_deref(),
            Some("apps/v1")
        );
        // A served version Git asked for is used as asked, not the preferred one.
        assert_eq!(
            discovery
                .resolve("autoscaling", "v1", "HorizontalPodAutoscaler")
                .map(|r| r.api_version())
                .as_deref(),
            Some("autoscaling/v1")
        );
    }

    #[test]
    fn unserved_groups_and_kinds_resolve_to_none_and_subresources_are_skipped() {
        let transport = canned();
        let discovery = run(
            &transport,
            &[
                ("argoproj.io", "v1alpha1", "Rollout"),
                ("apps", "v1", "Scale"),
                ("", "v1", "Pod"),
            ],
        );
        assert!(
            discovery
                .resolve("argoproj.io", "v1alpha1", "Rollout")
                .is_none()
        );
        assert!(discovery.resolve("apps", "v1", "Scale").is_none());
        assert!(discovery.resolve("", "v1", "Pod").is_none());
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("system:controller:x"), "system:controller:x");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
