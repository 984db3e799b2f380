//! Bookkeeping keys: labels and annotations a GitOps tool adds to every object it applies, to
//! remember which application, release or kustomization the object belongs to. Git never
//! declares them (the tool injects them into what it sends), yet the tool owns them through the
//! same `Apply` or `Update` that applies Git's fields, and client-side apply even lists them in
//! `kubectl.kubernetes.io/last-applied-configuration`. Without this list they would read as
//! "removed from Git, still live".
//!
//! The rule: an entry of the object's own `metadata.labels` / `metadata.annotations` whose key
//! is in the list and that Git does not declare is never a finding, whatever its owner or
//! operation. A key Git declares is compared as usual (Git saying `app.kubernetes.io/instance:
//! x` while live says `y` is drift). Pod templates and other nested metadata are not covered:
//! none of the tools below writes there (see the notes per key), and a template label is part
//! of the workload.
//!
//! Matching is exact: none of these tools writes a family of keys under a common prefix (Flux's
//! `commonMetadata` and Helm's post-renderers add whatever the user configured, which is in the
//! tool's own configuration, not a fixed key), so there is no wildcard form.
//!
//! Sources were read in the tools' repositories (path, and what the code does):
//!
//! - Argo CD, `argoproj/argo-cd`: `common/common.go` (the key constants),
//!   `util/argo/resource_tracking.go` (`SetAppInstance`: which keys each tracking method
//!   writes), `util/kube/kube.go` (`SetAppInstanceLabel`, `SetAppInstanceAnnotation`: object
//!   metadata only), argo-cd `user-guide/resource_tracking.md` (under its docs directory). Argo CD writes as field manager
//!   `argocd-controller` (`common.ArgoCDSSAManager`, set in `controller/sync.go`): gitops-engine
//!   passes it to `ApplyResource` for server-side apply (`Apply`) and client-side apply alike
//!   (`gitops-engine/pkg/sync/sync_context.go`; `gitops-engine/pkg/utils/kube/resource_ops.go`
//!   makes it kubectl's `FieldManager`), so a client-side sync leaves an `Update` entry of
//!   `argocd-controller` plus the last-applied annotation, as the test data
//!   `gitops-engine/pkg/diff/testdata/ssd-deploy-with-manual-apply-live.yaml` shows.
//! - Flux kustomize-controller, `fluxcd/kustomize-controller`:
//!   `internal/controller/kustomization_controller.go` (`ssa.NewResourceManager` with owner
//!   group `kustomize.toolkit.fluxcd.io` and field manager `kustomize-controller` from
//!   `main.go`, then
//!   `SetOwnerLabels`; the cleanup list of deprecated keys it removes); `fluxcd/pkg`
//!   `ssa/manager.go` (`SetOwnerLabels`: `<group>/name`, `<group>/namespace` on
//!   `object.SetLabels`, object metadata only).
//! - Flux helm-controller, `fluxcd/helm-controller`: `internal/postrender/common_renderer.go`
//!   (`originLabels`), `internal/postrender/transformer.go` (`labelTransformer`, field spec
//!   `metadata/labels` only), `internal/action/crds.go` (`setOriginVisitor` for CRDs). Manager
//!   `helm-controller` (`main.go` sets Helm's `kube.ManagedFieldsManager`); with the Helm 4 SDK
//!   it installs server-side (`Apply`) unless `spec.install.serverSideApply` is false
//!   (`api/v2/helmrelease_types.go`).
//! - Helm, `helm/helm`: `pkg/action/validate.go` (`setMetadataVisitor`, used by install,
//!   upgrade and rollback: the managed-by label and the two release annotations on the object's
//!   own metadata), `pkg/kube/client.go` (`getManagedFieldsManager`: the binary's base name,
//!   `helm`; Helm 3 writes with `Update`, Helm 4 applies server-side with `Apply`).

use std::fmt;
use std::str::FromStr;

/// The metadata map of the object a bookkeeping key lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetadataMap {
    /// `metadata.labels`
    Labels,
    /// `metadata.annotations`
    Annotations,
}

impl MetadataMap {
    /// The field name under `metadata`.
    pub fn field(self) -> &'static str {
        match self {
            MetadataMap::Labels => "labels",
            MetadataMap::Annotations => "annotations",
        }
    }

    /// The prefix of the text form (`label:` / `annotation:`), without the colon.
    pub fn prefix(self) -> &'static str {
        match self {
            MetadataMap::Labels => "label",
            MetadataMap::Annotations => "annotation",
        }
    }
}

/// One bookkeeping key: a label or annotation key, matched exactly. Text form `label:KEY` or
/// `annotation:KEY` (what `--bookkeeping-key` takes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BookkeepingKey {
    pub map: MetadataMap,
    pub key: String,
}

impl BookkeepingKey {
    pub fn label(key: impl Into<String>) -> Self {
        BookkeepingKey {
            map: MetadataMap::Labels,
            key: key.into(),
        }
    }

    pub fn annotation(key: impl Into<String>) -> Self {
        BookkeepingKey {
            map: MetadataMap::Annotations,
            key: key.into(),
        }
    }
}

impl fmt::Display for BookkeepingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.map.prefix(), self.key)
    }
}

impl FromStr for BookkeepingKey {
    type Err = String;

    /// Reads `label:KEY` or `annotation:KEY` (`labels:`/`annotations:` accepted too).
    fn from_str(text: &str) -> Result<Self, String> {
        let (kind, key) = text.trim().split_once(':').ok_or_else(|| {
            format!("bookkeeping key {text:?}: expected label:KEY or annotation:KEY")
        })?;
        let map = match kind {
            "label" | "labels" => MetadataMap::Labels,
            "annotation" | "annotations" => MetadataMap::Annotations,
            other => {
                return Err(format!(
                    "bookkeeping key {text:?}: {other:?} is neither label nor annotation"
                ));
            }
        };
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!(
                "bookkeeping key {text:?}: the key is empty or has spaces"
            ));
        }
        Ok(BookkeepingKey {
            map,
            key: key.to_owned(),
        })
    }
}

/// A key of the default list, with who writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownKey {
    pub map: MetadataMap,
    pub key: &'static str,
    /// The tool that writes it and when.
    pub tool: &'static str,
}

/// The default bookkeeping keys. Per key: the tool, when it writes the key, and where it was
/// found (see the module documentation for the files). All of them are written to the object's
/// own `metadata` only.
pub const DEFAULT_BOOKKEEPING_KEYS: &[KnownKey] = &[
    // Argo CD, `annotation` tracking (the default since Argo CD 3.0,
    // argo-cd `operator-manual/upgrading/2.14-3.0.md` (under its docs directory)) and `annotation+label`; the value is
    // `<app>:<group>/<kind>:<namespace>/<name>`. argoproj/argo-cd `common/common.go`
    // (`AnnotationKeyAppInstance`), `util/argo/resource_tracking.go` (`SetAppInstance`).
    KnownKey {
        map: MetadataMap::Annotations,
        key: "argocd.argoproj.io/tracking-id",
        tool: "Argo CD (annotation and annotation+label tracking)",
    },
    // Argo CD with `installationID` set in argocd-cm (several Argo CD instances on one
    // cluster), next to the tracking id. argoproj/argo-cd `common/common.go`
    // (`AnnotationInstallationID`), `util/argo/resource_tracking.go`,
    // argo-cd `user-guide/resource_tracking.md` (under its docs directory) ("Installation ID").
    KnownKey {
        map: MetadataMap::Annotations,
        key: "argocd.argoproj.io/installation-id",
        tool: "Argo CD (installationID)",
    },
    // Argo CD `label` tracking and `annotation+label` (the application name, truncated to 63
    // characters in the latter); the default `application.instanceLabelKey`. argoproj/argo-cd
    // `common/common.go` (`LabelKeyAppInstance`), `util/kube/kube.go` (`SetAppInstanceLabel`:
    // object labels only, "we no longer label the pod template sub resources in v0.11").
    // Charts often render this label themselves: then Git declares it and it is compared.
    KnownKey {
        map: MetadataMap::Labels,
        key: "app.kubernetes.io/instance",
        tool: "Argo CD (label and annotation+label tracking, default instance label key)",
    },
    // The instance label key argo-cd `user-guide/resource_tracking.md` (under its docs directory) ("Use custom label")
    // suggests for `application.instanceLabelKey`, to avoid clashing with charts.
    KnownKey {
        map: MetadataMap::Labels,
        key: "argocd.argoproj.io/instance",
        tool: "Argo CD (instance label key suggested by its documentation)",
    },
    // Argo CD 0.10 and older (`LabelKeyLegacyApplicationName` in argoproj/argo-cd
    // `common/common.go`); still seen on old objects and in gitops-engine's test data. With this
    // key `SetAppInstanceLabel` also labels pod templates of Deployments, ReplicaSets,
    // StatefulSets, DaemonSets and Jobs: those template labels are NOT covered here (a template
    // label is part of the workload; Argo CD has not written it since 0.11).
    KnownKey {
        map: MetadataMap::Labels,
        key: "applications.argoproj.io/app-name",
        tool: "Argo CD 0.10 and older (legacy instance label)",
    },
    // Flux kustomize-controller, every object it applies (server-side apply, manager
    // `kustomize-controller`, operation `Apply`): fluxcd/pkg `ssa/manager.go`
    // (`SetOwnerLabels`), called from fluxcd/kustomize-controller
    // `internal/controller/kustomization_controller.go` with group
    // `kustomize.toolkit.fluxcd.io`.
    KnownKey {
        map: MetadataMap::Labels,
        key: "kustomize.toolkit.fluxcd.io/name",
        tool: "Flux kustomize-controller",
    },
    KnownKey {
        map: MetadataMap::Labels,
        key: "kustomize.toolkit.fluxcd.io/namespace",
        tool: "Flux kustomize-controller",
    },
    // Garbage-collection checksum of kustomize-controller before server-side apply (2020-2021,
    // first a label, then an annotation; commit "Move the GC checksum from labels to
    // annotations"); today's controller removes it as deprecated (the cleanup list in
    // `internal/controller/kustomization_controller.go`).
    KnownKey {
        map: MetadataMap::Annotations,
        key: "kustomize.toolkit.fluxcd.io/checksum",
        tool: "Flux kustomize-controller before server-side apply",
    },
    KnownKey {
        map: MetadataMap::Labels,
        key: "kustomize.toolkit.fluxcd.io/checksum",
        tool: "Flux kustomize-controller before server-side apply",
    },
    // Flux v1 (fluxcd/flux); kustomize-controller removes both as deprecated (cleanup list in
    // `internal/controller/kustomization_controller.go`).
    KnownKey {
        map: MetadataMap::Annotations,
        key: "fluxcd.io/sync-checksum",
        tool: "Flux v1",
    },
    KnownKey {
        map: MetadataMap::Labels,
        key: "fluxcd.io/sync-gc-mark",
        tool: "Flux v1",
    },
    // Flux helm-controller, every object of a release (post-renderer `OriginLabels`; CRDs via
    // `setOriginVisitor`): fluxcd/helm-controller `internal/postrender/common_renderer.go`,
    // `internal/postrender/transformer.go` (field spec `metadata/labels` only),
    // `internal/action/crds.go`.
    KnownKey {
        map: MetadataMap::Labels,
        key: "helm.toolkit.fluxcd.io/name",
        tool: "Flux helm-controller",
    },
    KnownKey {
        map: MetadataMap::Labels,
        key: "helm.toolkit.fluxcd.io/namespace",
        tool: "Flux helm-controller",
    },
    // Helm install, upgrade and rollback (also through helm-controller), every object of the
    // release: helm/helm `pkg/action/validate.go` (`setMetadataVisitor`: `mergeLabels` /
    // `mergeAnnotations` on the object itself). Manager `helm` (`pkg/kube/client.go`,
    // `getManagedFieldsManager`), `Update` in Helm 3, `Apply` in Helm 4. Charts commonly
    // render `app.kubernetes.io/managed-by: {{ .Release.Service }}` too: then Git declares it.
    KnownKey {
        map: MetadataMap::Labels,
        key: "app.kubernetes.io/managed-by",
        tool: "Helm (value Helm)",
    },
    KnownKey {
        map: MetadataMap::Annotations,
        key: "meta.helm.sh/release-name",
        tool: "Helm",
    },
    KnownKey {
        map: MetadataMap::Annotations,
        key: "meta.helm.sh/release-namespace",
        tool: "Helm",
    },
];

/// [`DEFAULT_BOOKKEEPING_KEYS`] as owned keys, the default of
/// [`crate::analysis::AnalyzeOptions::bookkeeping_keys`].
pub fn default_bookkeeping_keys() -> Vec<BookkeepingKey> {
    DEFAULT_BOOKKEEPING_KEYS
        .iter()
        .map(|k| BookkeepingKey {
            map: k.map,
            key: k.key.to_owned(),
        })
        .collect()
}

/// Reads a comma-separated list of bookkeeping keys (`label:KEY`, `annotation:KEY`), where
/// the word `default` stands for [`DEFAULT_BOOKKEEPING_KEYS`]: `default` is the built-in
/// list, `default,label:example.com/owner` extends it, a list without `default` replaces it,
/// and an empty list means no bookkeeping keys at all. Duplicates are dropped, order kept.
pub fn parse_key_list(text: &str) -> Result<Vec<BookkeepingKey>, String> {
    let mut keys: Vec<BookkeepingKey> = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let items = if item == "default" {
            default_bookkeeping_keys()
        } else {
            vec![item.parse::<BookkeepingKey>()?]
        };
        for key in items {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

/// Bookkeeping keys split by map, as the engine looks them up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bookkeeping {
    labels: Vec<String>,
    annotations: Vec<String>,
}

impl Bookkeeping {
    pub fn new(keys: &[BookkeepingKey]) -> Self {
        let mut out = Bookkeeping::default();
        for k in keys {
            let list = match k.map {
                MetadataMap::Labels => &mut out.labels,
                MetadataMap::Annotations => &mut out.annotations,
            };
            if !list.contains(&k.key) {
                list.push(k.key.clone());
            }
        }
        out
    }

    /// Whether `key` of `metadata.<map>` (`map` is `labels` or `annotations`) is bookkeeping.
    pub fn contains(&self, map: &str, key: &str) -> bool {
        let list = match map {
            "labels" => &self.labels,
            "annotations" => &self.annotations,
            _ => return false,
        };
        list.iter().any(|k| crate::normalize::fast_eq(k, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lists_extend_replace_or_empty_the_defaults() {
        let defaults = default_bookkeeping_keys();
        assert_eq!(parse_key_list("default"), Ok(defaults.clone()));
        let extended = parse_key_list("default, label:example.com/owner").expect("valid");
        assert_eq!(extended.len(), defaults.len() + 1);
        assert_eq!(
            extended.last().map(ToString::to_string).as_deref(),
            Some("label:example.com/owner")
        );
        assert_eq!(
            parse_key_list("annotation:a,annotation:a").map(|k| k.len()),
            Ok(1)
        );
        assert_eq!(parse_key_list(""), Ok(Vec::new()));
        assert!(parse_key_list("default,owner").is_err());
    }

    #[test]
    fn text_form_round_trips() {
        for text in [
            "label:app.kubernetes.io/instance",
            "annotation:argocd.argoproj.io/tracking-id",
        ] {
            let key: BookkeepingKey = text.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(key.to_string(), text);
        }
        assert_eq!(
            "labels: a/b".parse::<BookkeepingKey>(),
            Ok(BookkeepingKey::label("a/b"))
        );
        for bad in ["a/b", "env:a", "label:", "annotation:a b"] {
            assert!(bad.parse::<BookkeepingKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn lookup_is_per_map() {
        let b = Bookkeeping::new(&default_bookkeeping_keys());
        assert!(b.contains("annotations", "argocd.argoproj.io/tracking-id"));
        assert!(!b.contains("labels", "argocd.argoproj.io/tracking-id"));
        assert!(b.contains("labels", "kustomize.toolkit.fluxcd.io/name"));
        assert!(!b.contains("data", "kustomize.toolkit.fluxcd.io/name"));
    }
}
