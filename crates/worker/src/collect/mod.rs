//! Live-state collectors: read the live objects a Git source declares from one cluster record,
//! through the Kubernetes API (kube-rs, kubeconfig or in-cluster), `kubectl`, a captured
//! snapshot directory or — only when allowed — synthetic state. Everything here is read-only:
//! the collectors issue `get` and `list` and nothing else. The analysis pipeline calls
//! [`collect`]; what it gets back ([`LiveObservation`]) says how, when and how trustworthily
//! the state was observed, so evidence can be honest about it (docs/evidence.md).

mod discovery;
mod error;
mod kube_api;
mod kube_watch;
mod kubectl;
mod plan;
mod snapshot;
mod synthetic;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use error::{CollectError, Result};
pub use kube_api::install_crypto_provider;
pub use kube_watch::{ClusterApi, ServedKind, WatchItem, WatchOpen};
pub use plan::{FetchStrategy, GET_THRESHOLD};

/// How one cluster record is read. Values (paths, context names) come from the stored cluster
/// record and are validated upstream; the collectors still never let one be read as an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveSourceConfig {
    /// kube-rs against the API server named by a kubeconfig. Without a path the default
    /// loading rules apply (`KUBECONFIG`, then `~/.kube/config`); without a context, the
    /// kubeconfig's `current-context`.
    KubeApi {
        kubeconfig_path: Option<PathBuf>,
        context: Option<String>,
    },
    /// kube-rs with the pod's service account (the worker runs inside the cluster).
    InCluster,
    /// The `kubectl` binary (`KUBECTL_BIN`), run directly (never through a shell) with
    /// `--show-managed-fields` so ownership evidence is kept.
    Kubectl {
        kubectl_bin: PathBuf,
        kubeconfig_path: Option<PathBuf>,
        context: Option<String>,
    },
    /// A directory of captured `kubectl get -o yaml|json` output, optionally with
    /// `capture.json` (`{"captured_at", "context", "kubectl_version"}`).
    Snapshot { dir: PathBuf },
    /// The desired objects stand in for live state. Refused unless
    /// [`CollectOptions::allow_synthetic`] is set (`ALLOW_SYNTHETIC_LIVE_STATE=true`); the
    /// result is always marked untrusted.
    Synthetic,
}

impl LiveSourceConfig {
    /// The method name recorded in live provenance: `kube-api`, `in-cluster`, `kubectl`,
    /// `snapshot` or `synthetic`.
    pub fn method(&self) -> &'static str {
        match self {
            LiveSourceConfig::KubeApi { .. } => "kube-api",
            LiveSourceConfig::InCluster => "in-cluster",
            LiveSourceConfig::Kubectl { .. } => "kubectl",
            LiveSourceConfig::Snapshot { .. } => "snapshot",
            LiveSourceConfig::Synthetic => "synthetic",
        }
    }
}

/// One resource Git declares: `apiVersion`, kind, namespace (already defaulted by the caller
/// for namespaced kinds; `None` for cluster-scoped ones) and name. The version is kept so the
/// collector can ask for the object in the version Git wrote, but it is not identity: a
/// cluster that serves the kind only in another version of the group still answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ResourceKey {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ResourceKey {
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ResourceKey {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// The key of an object as written (`apiVersion`, `kind`, `metadata.namespace`,
    /// `metadata.name`), or `None` when one of the identity fields is missing.
    pub fn of_object(object: &Value) -> Option<Self> {
        fn text(v: Option<&Value>) -> Option<&str> {
            v.and_then(Value::as_str).filter(|s| !s.is_empty())
        }
        let metadata = object.get("metadata");
        Some(ResourceKey {
            api_version: text(object.get("apiVersion"))?.to_owned(),
            kind: text(object.get("kind"))?.to_owned(),
            namespace: text(metadata.and_then(|m| m.get("namespace"))).map(str::to_owned),
            name: text(metadata.and_then(|m| m.get("name")))?.to_owned(),
        })
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        statesight_core::identity::group_of(&self.api_version)
    }

    /// The version part of `apiVersion` (`v1` for `apps/v1`).
    pub fn version(&self) -> &str {
        match self.api_version.rsplit_once('/') {
            Some((_, version)) => version,
            None => &self.api_version,
        }
    }

    /// The order of every output: group, kind, namespace (cluster-scoped first), name.
    pub fn sort_key(&self) -> (&str, &str, Option<&str>, &str) {
        (
            self.group(),
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }

    /// The key as the store's watch tables record it, with the resourceVersion an
    /// analysis saw (`None`: absent).
    pub fn tracked(
        &self,
        resource_version: Option<&str>,
    ) -> statesight_store::watch::TrackedObject {
        statesight_store::watch::TrackedObject {
            api_version: self.api_version.clone(),
            group: self.group().to_owned(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            resource_version: resource_version.map(str::to_owned),
        }
    }

    /// Identity without the version, as `statesight_core` defines it.
    pub fn id(&self) -> statesight_core::ResourceId {
        statesight_core::ResourceId {
            group: self.group().to_owned(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// The `resource_ref` form: `apps/Deployment/payments/ledger-api`.
impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.id().fmt(f)
    }
}

/// Knobs of one collection. `Default` gives 30 s per request, 5 minutes in total, synthetic
/// state refused.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// Longest wait for one API request or one `kubectl` invocation.
    pub request_timeout: Duration,
    /// Longest wait for the whole collection, discovery included.
    pub total_timeout: Duration,
    /// `ALLOW_SYNTHETIC_LIVE_STATE`: whether [`LiveSourceConfig::Synthetic`] may be used.
    pub allow_synthetic: bool,
    /// The desired objects, used only by the synthetic source (they *are* its live state).
    pub desired_objects: Vec<Value>,
    /// Namespace used for a namespaced kind whose key carries none (the caller normally
    /// defaults it already); `None` means `default`, as kubectl does.
    pub default_namespace: Option<String>,
    /// How many batches are fetched at once.
    pub concurrency: usize,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions {
            request_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(300),
            allow_synthetic: false,
            desired_objects: Vec::new(),
            default_namespace: None,
            concurrency: 4,
        }
    }
}

/// What one collection observed: exactly the wanted resources that exist, those that do not,
/// and how the state was obtained.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveObservation {
    /// The live objects, as the source returned them (with `managedFields` when it has them),
    /// each with `apiVersion` and `kind` set, sorted by group, kind, namespace, name.
    pub objects: Vec<Value>,
    /// Wanted resources the source does not have (404, a kind the cluster does not serve, or
    /// absent from the snapshot), in the same order.
    pub missing: Vec<ResourceKey>,
    /// Wanted resources the worker's identity may not read (403): neither present nor
    /// missing, they are left out of the comparison and reported, in the same order.
    pub unreadable: Vec<ResourceKey>,
    /// `kube-api`, `in-cluster`, `kubectl`, `snapshot` or `synthetic`.
    pub method: &'static str,
    /// False only for synthetic state, which must never yield attribution or `reconcile`.
    pub trusted: bool,
    /// When the state was observed.
    pub observed_at: DateTime<Utc>,
    /// Where `observed_at` comes from: `collector` (the clock when collection started),
    /// `capture_file` (a snapshot's `capture.json`) or `file_times` (newest snapshot file
    /// modification time, an approximation).
    pub observed_at_source: &'static str,
    /// The kubeconfig context (or the snapshot's recorded context), when known.
    pub context: Option<String>,
    /// Whether at least one returned object carries `metadata.managedFields`; without them
    /// there is no ownership evidence and the console must say so.
    pub has_managed_fields: bool,
    /// Plain-language remarks for the operator: kinds not served, objects without ownership
    /// data, approximated capture times, the synthetic warning.
    pub notes: Vec<String>,
}

/// Collects the live state of `wanted` from `config`.
///
/// Errors are values the caller can act on: [`CollectError::is_transient`] says whether the
/// job should be retried. A resource that does not exist live is never an error; it is listed
/// in [`LiveObservation::missing`].
pub async fn collect(
    config: &LiveSourceConfig,
    wanted: &[ResourceKey],
    options: &CollectOptions,
) -> Result<LiveObservation> {
    let work = async {
        match config {
            LiveSourceConfig::KubeApi {
                kubeconfig_path,
                context,
            } => {
                kube_api::collect_with_kubeconfig(
                    kubeconfig_path.as_deref(),
                    context.as_deref(),
                    wanted,
                    options,
                )
                .await
            }
            LiveSourceConfig::InCluster => kube_api::collect_in_cluster(wanted, options).await,
            LiveSourceConfig::Kubectl {
                kubectl_bin,
                kubeconfig_path,
                context,
            } => {
                let target = kubectl::KubectlTarget {
                    bin: kubectl_bin.clone(),
                    kubeconfig: kubeconfig_path.clone(),
                    context: context.clone(),
                };
                kubectl::collect(target, wanted, options).await
            }
            LiveSourceConfig::Snapshot { dir } => snapshot::collect(dir, wanted, options).await,
            LiveSourceConfig::Synthetic => synthetic::collect(wanted, options),
        }
    };
    let started = std::time::Instant::now();
    let result = match tokio::time::timeout(options.total_timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(CollectError::Timeout {
            during: format!("collecting live state ({})", config.method()),
            after: options.total_timeout,
        }),
    };
    match &result {
        Ok(observation) => tracing::debug!(
            method = observation.method,
            objects = observation.objects.len(),
            missing = observation.missing.len(),
            elapsed_ms = started.elapsed().as_millis(),
            "live state collected"
        ),
        Err(error) => tracing::debug!(
            method = config.method(),
            transient = error.is_transient(),
            %error,
            "live state collection failed"
        ),
    }
    result
}

/// Builds the observation of a source that asked a live API server (kube-api, in-cluster,
/// kubectl): trusted, timed by the collector's clock.
pub(crate) fn live_observation(
    method: &'static str,
    context: Option<String>,
    started: DateTime<Utc>,
    fetched: plan::Fetched,
) -> LiveObservation {
    let plan::Fetched {
        objects,
        missing,
        unreadable,
        mut notes,
    } = fetched;
    let has_managed_fields = objects.iter().any(has_managed_fields);
    if !objects.is_empty() && !has_managed_fields {
        notes.push(format!(
            "the API returned no managedFields for any of the {} objects: no ownership evidence",
            objects.len()
        ));
    }
    LiveObservation {
        objects,
        missing,
        unreadable,
        method,
        trusted: true,
        observed_at: started,
        observed_at_source: "collector",
        context,
        has_managed_fields,
        notes,
    }
}

/// Whether an object carries a non-empty `metadata.managedFields`.
pub fn has_managed_fields(object: &Value) -> bool {
    object
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .is_some_and(|entries| !entries.is_empty())
}

/// Sorts objects by group, kind, namespace, name (objects without identity first, in their
/// original relative order) and keys the same way, then drops duplicate keys.
pub fn sort_output(objects: &mut [Value], missing: &mut Vec<ResourceKey>) {
    objects.sort_by_cached_key(|object| {
        ResourceKey::of_object(object).map(|key| {
            let (group, kind, namespace, name) = key.sort_key();
            (
                group.to_owned(),
                kind.to_owned(),
                namespace.map(str::to_owned),
                name.to_owned(),
            )
        })
    });
    missing.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    missing.dedup_by(|a, b| a.id() == b.id());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_group_kind_namespace_name_and_ignore_version() {
        let mut missing = vec![
            ResourceKey::new("v1", "Service", Some("b"), "x"),
            ResourceKey::new("apps/v1", "Deployment", Some("a"), "z"),
            ResourceKey::new("apps/v1beta2", "Deployment", Some("a"), "z"),
            ResourceKey::new("v1", "Service", Some("a"), "y"),
            ResourceKey::new("rbac.authorization.k8s.io/v1", "ClusterRole", None, "r"),
        ];
        sort_output(&mut [], &mut missing);
        let labels: Vec<String> = missing.iter().map(ToString::to_string).collect();
        assert_eq!(
            labels,
            [
                "Service/a/y",
                "Service/b/x",
                "apps/Deployment/a/z",
                "rbac.authorization.k8s.io/ClusterRole/r"
            ]
        );
    }

    #[test]
    fn key_of_object_reads_identity_fields() {
        let object = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "payments"}});
        let key = ResourceKey::of_object(&object);
        assert_eq!(
            key,
            Some(ResourceKey::new(
                "apps/v1",
                "Deployment",
                Some("payments"),
                "api"
            ))
        );
        assert_eq!(
            ResourceKey::of_object(&serde_json::json!({"kind": "Deployment"})),
            None
        );
    }
}
