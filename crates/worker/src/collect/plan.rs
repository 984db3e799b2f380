//! From wanted resources to requests and back: group the wanted keys by resolved resource
//! type and namespace, choose GETs or one LIST per group, fetch the groups through a
//! transport (kube-rs or kubectl) a few at a time, keep exactly the wanted objects and report
//! the rest as missing. The transports only know how to fetch; every decision lives here.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use serde_json::Value;

use super::discovery::{Discovery, RawGet, ServedResource};
use super::error::{CollectError, Result};
use super::{CollectOptions, ResourceKey, sort_output};

/// A group with at most this many names is fetched with one GET per name; a larger one with
/// one LIST of the namespace (or of the cluster-scoped collection).
///
/// Why: a GET returns exactly the object wanted, while a LIST returns every object of the type
/// in the namespace — cheap for three Deployments, wasteful for the two ConfigMaps of an
/// application sharing a namespace with thousands. Past two names the saved round trips of
/// one LIST outweigh that, and applications declaring several objects of one kind in one
/// namespace (Deployments, Services, ConfigMaps of one app) usually own most of them anyway.
pub const GET_THRESHOLD: usize = 2;

/// How one group of wanted resources is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchStrategy {
    /// One GET per name; a 404 means missing.
    Get,
    /// One LIST of the collection, keeping only the wanted names.
    List,
}

impl FetchStrategy {
    /// The strategy for a group of `names` wanted names (see [`GET_THRESHOLD`]).
    pub fn for_names(names: usize) -> Self {
        if names <= GET_THRESHOLD {
            FetchStrategy::Get
        } else {
            FetchStrategy::List
        }
    }
}

/// The wanted resources of one resource type in one namespace (`None`: cluster-scoped).
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub resource: ServedResource,
    pub namespace: Option<String>,
    pub names: BTreeSet<String>,
    pub strategy: FetchStrategy,
    /// The keys as Git wrote them, reported back when missing.
    keys: Vec<ResourceKey>,
}

/// A transport able to run discovery and fetch one batch. Fetching returns the objects found
/// (any superset of the wanted ones is fine; the plan filters), never an error for a 404.
pub(crate) trait Transport: RawGet {
    async fn fetch(&self, batch: &Batch) -> Result<Vec<Value>>;
}

/// The objects found, the wanted keys not found, the wanted keys the worker may not read,
/// and notes for the operator.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    pub objects: Vec<Value>,
    pub missing: Vec<ResourceKey>,
    pub unreadable: Vec<ResourceKey>,
    pub notes: Vec<String>,
}

/// Runs discovery, batches `wanted`, fetches every batch through `transport` and assembles
/// the sorted result.
pub(crate) async fn fetch_all<T: Transport>(
    transport: &T,
    wanted: &[ResourceKey],
    options: &CollectOptions,
) -> Result<Fetched> {
    let triples: BTreeSet<(String, String, String)> = wanted
        .iter()
        .map(|k| (k.group().to_owned(), k.version().to_owned(), k.kind.clone()))
        .collect();
    let discovery = Discovery::run(transport, &triples).await?;
    let (batches, mut out) = plan(&discovery, wanted, options);
    let concurrency = options.concurrency.max(1);
    // The futures are built up front, not in a closure inside the stream: a closure taking
    // `&Batch` there makes the collection's future lose `Send` (a higher-ranked lifetime
    // limitation of the compiler), and the pipeline runs collections on spawned tasks.
    let fetches: Vec<_> = batches.iter().map(|batch| transport.fetch(batch)).collect();
    let results: Vec<Result<Vec<Value>>> = futures::stream::iter(fetches)
        .buffered(concurrency)
        .collect()
        .await;
    let mut refused: Option<CollectError> = None;
    for (batch, result) in batches.iter().zip(results) {
        let found =
            match result {
                Ok(found) => keep_wanted(batch, found),
                // The worker's role does not cover this type (by design for Secrets): those
                // resources are not compared, and said so; they are not missing.
                Err(error @ CollectError::Forbidden { .. }) => {
                    out.notes.push(format!(
                    "{} {} not readable with the worker's permissions, so not compared: {error}",
                    batch.keys.len(),
                    if batch.keys.len() == 1 { "resource is" } else { "resources are" }
                ));
                    out.unreadable.extend(batch.keys.iter().cloned());
                    refused.get_or_insert(error);
                    continue;
                }
                Err(error) => return Err(error),
            };
        let found_names: BTreeSet<String> = found
            .iter()
            .filter_map(|o| ResourceKey::of_object(o).map(|k| k.name))
            .collect();
        out.missing.extend(
            batch
                .keys
                .iter()
                .filter(|k| !found_names.contains(&k.name))
                .cloned(),
        );
        out.objects.extend(found);
    }
    // Nothing at all readable is a misconfiguration, not a partial view: fail the run with
    // the permission error rather than report an analysis of nothing.
    if let Some(error) = refused
        && out.objects.is_empty()
        && out.missing.is_empty()
    {
        return Err(error);
    }
    sort_output(&mut out.objects, &mut out.missing);
    let mut no_objects = Vec::new();
    sort_output(&mut no_objects, &mut out.unreadable);
    Ok(out)
}

/// Groups the wanted keys into batches. Keys of kinds the cluster does not serve are missing
/// at once, with one note per kind.
fn plan(
    discovery: &Discovery,
    wanted: &[ResourceKey],
    options: &CollectOptions,
) -> (Vec<Batch>, Fetched) {
    let mut out = Fetched::default();
    let mut groups: BTreeMap<(ServedResource, Option<String>), Vec<ResourceKey>> = BTreeMap::new();
    let mut unserved: BTreeMap<(String, String), (BTreeSet<String>, usize)> = BTreeMap::new();
    for key in wanted {
        match discovery.resolve(key.group(), key.version(), &key.kind) {
            Some(resource) => {
                let namespace = if resource.namespaced {
                    Some(
                        key.namespace
                            .clone()
                            .or_else(|| options.default_namespace.clone())
                            .unwrap_or_else(|| "default".to_owned()),
                    )
                } else {
                    None
                };
                groups
                    .entry((resource.clone(), namespace))
                    .or_default()
                    .push(key.clone());
            }
            None => {
                let entry = unserved
                    .entry((key.group().to_owned(), key.kind.clone()))
                    .or_default();
                entry.0.insert(key.api_version.clone());
                entry.1 += 1;
                out.missing.push(key.clone());
            }
        }
    }
    for ((group, kind), (api_versions, count)) in unserved {
        let asked: Vec<String> = api_versions.into_iter().collect();
        let what = if group.is_empty() {
            kind
        } else {
            format!("{kind}.{group}")
        };
        out.notes.push(format!(
            "the cluster does not serve {what} (asked as {}): {count} resource{} treated as missing",
            asked.join(", "),
            if count == 1 { "" } else { "s" }
        ));
    }
    let batches = groups
        .into_iter()
        .map(|((resource, namespace), keys)| {
            let names: BTreeSet<String> = keys.iter().map(|k| k.name.clone()).collect();
            Batch {
                strategy: FetchStrategy::for_names(names.len()),
                resource,
                namespace,
                names,
                keys,
            }
        })
        .collect();
    (batches, out)
}

/// Keeps the fetched objects the batch asked for, each with `apiVersion` and `kind` set (the
/// API server leaves them out of typed list items).
fn keep_wanted(batch: &Batch, fetched: Vec<Value>) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for mut object in fetched {
        let Some(name) = object
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        if !batch.names.contains(name) || !seen.insert(name.to_owned()) {
            continue;
        }
        if let Value::Object(map) = &mut object {
            if !map.get("apiVersion").is_some_and(Value::is_string) {
                map.insert(
                    "apiVersion".into(),
                    Value::String(batch.resource.api_version()),
                );
            }
            if !map.get("kind").is_some_and(Value::is_string) {
                map.insert("kind".into(), Value::String(batch.resource.kind.clone()));
            }
        }
        out.push(object);
    }
    out
}

/// Splits a fetched document into objects: a `*List` with `items` (filling each item's
/// `apiVersion`/`kind` from the list when absent), a single object, or nothing for `null`.
pub(crate) fn objects_of(document: Value) -> Vec<Value> {
    let is_list = document
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && document.get("items").is_some_and(Value::is_array);
    if !is_list {
        return if document.is_object() {
            vec![document]
        } else {
            Vec::new()
        };
    }
    let list_kind = document
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let item_kind = list_kind
        .strip_suffix("List")
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let list_api_version = document
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Value::Object(mut map) = document else {
        return Vec::new();
    };
    let Some(Value::Array(items)) = map.remove("items") else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|mut item| {
            let Value::Object(fields) = &mut item else {
                return None;
            };
            // `kind: List` from kubectl carries identity per item; a typed list does not.
            if !fields.contains_key("kind")
                && let Some(kind) = &item_kind
            {
                fields.insert("kind".into(), Value::String(kind.clone()));
            }
            if !fields.contains_key("apiVersion")
                && let Some(api_version) = &list_api_version
            {
                fields.insert("apiVersion".into(), Value::String(api_version.clone()));
            }
            Some(item)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strategy_switches_to_list_past_the_threshold() {
        assert_eq!(FetchStrategy::for_names(1), FetchStrategy::Get);
        assert_eq!(FetchStrategy::for_names(GET_THRESHOLD), FetchStrategy::Get);
        assert_eq!(
            FetchStrategy::for_names(GET_THRESHOLD + 1),
            FetchStrategy::List
        );
    }

    #[test]
    fn typed_list_items_get_their_identity_and_kubectl_lists_keep_theirs() {
        let typed = json!({"kind": "DeploymentList", "apiVersion": "apps/v1",
            "items": [{"metadata": {"name": "a"}}]});
        let items = objects_of(typed);
        assert_eq!(items[0]["kind"], "Deployment");
        assert_eq!(items[0]["apiVersion"], "apps/v1");
        let kubectl = json!({"kind": "List", "apiVersion": "v1",
            "items": [{"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "r"}}]});
        let items = objects_of(kubectl);
        assert_eq!(items[0]["kind"], "Role");
        assert_eq!(items[0]["apiVersion"], "rbac.authorization.k8s.io/v1");
        assert!(objects_of(Value::Null).is_empty());
        assert_eq!(
            objects_of(json!({"kind": "ConfigMap", "metadata": {"name": "c"}})).len(),
            1
        );
    }
}
