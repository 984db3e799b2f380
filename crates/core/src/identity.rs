//! Resource identity (group, kind, namespace, name — never the version), which kinds are
//! cluster-scoped, and the `resource_ref` form `[group/]Kind/[namespace/]name` used by ignore
//! rules and the command line.

use std::collections::BTreeSet;
use std::fmt;

use crate::error::{Error, Result, SyntaxError};

/// Identity of a Kubernetes object. The version in `apiVersion` is deliberately not part of
/// it: `apps/v1beta2` in Git and `apps/v1` live are the same Deployment. Ordered by group,
/// kind, namespace, name, which is the order of every report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ResourceId {
    /// API group, empty for the core group.
    pub group: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl ResourceId {
    /// `Kind namespace/name` (or `Kind name`), the form titles use.
    pub fn short_label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {}/{}", self.kind, ns, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// Prints the `resource_ref` form, e.g. `apps/Deployment/payments/ledger-api`.
impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        write!(f, "{}/", self.kind)?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)
    }
}

/// The group part of an `apiVersion`: `apps/v1` → `apps`, `v1` → `` (core).
pub fn group_of(api_version: &str) -> &str {
    match api_version.rsplit_once('/') {
        Some((group, _version)) => group,
        None => "",
    }
}

/// Built-in kinds that are cluster-scoped. Custom resources are learnt from
/// `CustomResourceDefinition` objects (see [`Scopes`]).
pub fn is_builtin_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "APIService"
            | "CSIDriver"
            | "CSINode"
            | "CertificateSigningRequest"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "ComponentStatus"
            | "CustomResourceDefinition"
            | "DeviceClass"
            | "FlowSchema"
            | "IPAddress"
            | "IngressClass"
            | "MutatingAdmissionPolicy"
            | "MutatingAdmissionPolicyBinding"
            | "MutatingWebhookConfiguration"
            | "Namespace"
            | "Node"
            | "PersistentVolume"
            | "PodSecurityPolicy"
            | "PriorityClass"
            | "PriorityLevelConfiguration"
            | "ResourceSlice"
            | "RuntimeClass"
            | "ServiceCIDR"
            | "StorageClass"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "ValidatingWebhookConfiguration"
            | "VolumeAttachment"
    )
}

/// Knowledge of which `(group, kind)` pairs are cluster-scoped: the built-in list plus any
/// custom resource whose `CustomResourceDefinition` (`spec.scope: Cluster`) is in the input.
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    custom_cluster_scoped: BTreeSet<(String, String)>,
    extra_kinds: BTreeSet<String>,
}

impl Scopes {
    /// Adds a kind (any group) the caller knows to be cluster-scoped.
    pub fn add_cluster_scoped_kind(&mut self, kind: &str) {
        self.extra_kinds.insert(kind.to_owned());
    }

    /// Learns from a `CustomResourceDefinition` object; other objects are ignored.
    pub fn learn_from(&mut self, object: &serde_json::Value) {
        if object.get("kind").and_then(|k| k.as_str()) != Some("CustomResourceDefinition") {
            return;
        }
        let Some(spec) = object.get("spec") else {
            return;
        };
        if spec.get("scope").and_then(|s| s.as_str()) != Some("Cluster") {
            return;
        }
        let group = spec.get("group").and_then(|g| g.as_str());
        let kind = spec
            .get("names")
            .and_then(|n| n.get("kind"))
            .and_then(|k| k.as_str());
        if let (Some(group), Some(kind)) = (group, kind) {
            self.custom_cluster_scoped
                .insert((group.to_owned(), kind.to_owned()));
        }
    }

    pub fn is_cluster_scoped(&self, group: &str, kind: &str) -> bool {
        is_builtin_cluster_scoped(kind)
            || (!self.extra_kinds.is_empty() && self.extra_kinds.contains(kind))
            || self
                .custom_cluster_scoped
                .iter()
                .any(|(g, k)| g == group && k == kind)
    }
}

/// A reference to one resource written by a person: `[group/]Kind/[namespace/]name`.
/// A missing group matches any group; a missing namespace means cluster-scoped or the
/// application's default namespace; `*` as namespace or name matches any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    pub group: Option<String>,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ResourceRef {
    /// Parses `[group/]Kind/[namespace/]name`. Three parts are `Kind/namespace/name` when the
    /// first starts with an upper-case letter (kinds do), otherwise `group/Kind/name`.
    pub fn parse(input: &str) -> Result<Self> {
        Self::parse_inner(input).map_err(|error| Error::InvalidResourceRef {
            input: input.to_owned(),
            error,
        })
    }

    fn parse_inner(input: &str) -> std::result::Result<Self, SyntaxError> {
        let mut parts: Vec<(usize, &str)> = Vec::new();
        let mut start = 0;
        for (i, c) in input.char_indices() {
            if c == '/' {
                parts.push((start, &input[start..i]));
                start = i + 1;
            } else if c.is_whitespace() || c.is_control() {
                return Err(SyntaxError::at(input, i, "a name character (no spaces)"));
            }
        }
        parts.push((start, &input[start..]));
        for &(offset, part) in &parts {
            if part.is_empty() {
                return Err(SyntaxError::at(
                    input,
                    offset,
                    "a non-empty part between slashes",
                ));
            }
        }
        if parts.len() < 2 {
            return Err(SyntaxError::at(
                input,
                input.len(),
                "`/` followed by a name (form [group/]Kind/[namespace/]name)",
            ));
        }
        if parts.len() > 4 {
            return Err(SyntaxError::at(
                input,
                parts[4].0 - 1,
                "at most four parts: group/Kind/namespace/name",
            ));
        }
        let starts_upper = |s: &str| s.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        let (group, kind, namespace, name) = match parts.len() {
            2 => (None, parts[0], None, parts[1]),
            3 if starts_upper(parts[0].1) => (None, parts[0], Some(parts[1]), parts[2]),
            3 => (Some(parts[0]), parts[1], None, parts[2]),
            _ => (Some(parts[0]), parts[1], Some(parts[2]), parts[3]),
        };
        if let Some((offset, g)) = group
            && let Some((i, _)) = g.char_indices().find(|&(_, c)| {
                !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
            })
        {
            return Err(SyntaxError::at(
                input,
                offset + i,
                "a lower-case API group (letters, digits, `.`, `-`)",
            ));
        }
        let (kind_offset, kind) = kind;
        if !starts_upper(kind) {
            return Err(SyntaxError::at(
                input,
                kind_offset,
                "a Kind starting with an upper-case letter",
            ));
        }
        if let Some((i, _)) = kind
            .char_indices()
            .find(|&(_, c)| !c.is_ascii_alphanumeric())
        {
            return Err(SyntaxError::at(
                input,
                kind_offset + i,
                "a Kind made of letters and digits",
            ));
        }
        Ok(ResourceRef {
            group: group.map(|(_, g)| g.to_owned()),
            kind: kind.to_owned(),
            namespace: namespace.map(|(_, n)| n.to_owned()),
            name: name.1.to_owned(),
        })
    }

    /// Whether this reference designates `id`; `default_namespace` is the application's.
    pub fn matches(&self, id: &ResourceId, default_namespace: &str) -> bool {
        if self.group.as_deref().is_some_and(|g| g != id.group) || self.kind != id.kind {
            return false;
        }
        if self.name != "*" && self.name != id.name {
            return false;
        }
        match (&self.namespace, &id.namespace) {
            (Some(wanted), Some(ns)) => wanted == "*" || wanted == ns,
            (Some(_), None) => false,
            (None, None) => true,
            (None, Some(ns)) => ns == default_namespace,
        }
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(g) = &self.group {
            write!(f, "{g}/")?;
        }
        write!(f, "{}/", self.kind)?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let got = match ResourceRef::parse(input) {
            Ok(r) => format!(
                "group={:?} kind={} ns={:?} name={}",
                r.group, r.kind, r.namespace, r.name
            ),
            Err(Error::InvalidResourceRef { error, .. }) => format!("error {error}"),
            Err(e) => format!("other {e}"),
        };
        assert_eq!(got, expect, "input {input:?}");
    }

    #[test]
    fn resource_refs() {
        check(
            "apps/Deployment/payments/ledger-api",
            r#"group=Some("apps") kind=Deployment ns=Some("payments") name=ledger-api"#,
        );
        check(
            "Service/payments/ledger-api",
            r#"group=None kind=Service ns=Some("payments") name=ledger-api"#,
        );
        check(
            "rbac.authorization.k8s.io/ClusterRole/ledger-reader",
            r#"group=Some("rbac.authorization.k8s.io") kind=ClusterRole ns=None name=ledger-reader"#,
        );
        check(
            "ClusterRole/system:reader",
            r#"group=None kind=ClusterRole ns=None name=system:reader"#,
        );
        check(
            "Deployment",
            "error at byte 10: expected `/` followed by a name (form [group/]Kind/[namespace/]name), found the end of the input",
        );
        check(
            "apps//x",
            "error at byte 5: expected a non-empty part between slashes, found '/'",
        );
        check(
            "apps/deployment/ns/x",
            "error at byte 5: expected a Kind starting with an upper-case letter, found 'd'",
        );
        check(
            "Apps_/Deployment/x",
            "error at byte 4: expected a Kind made of letters and digits, found '_'",
        );
        check(
            "apps_/Deployment/x",
            "error at byte 4: expected a lower-case API group (letters, digits, `.`, `-`), found '_'",
        );
        check(
            "a/B/c/d/e",
            "error at byte 7: expected at most four parts: group/Kind/namespace/name, found '/'",
        );
        check(
            "De ploy/x",
            "error at byte 2: expected a name character (no spaces), found ' '",
        );
    }

    #[test]
    fn resource_ref_matching() {
        let id = ResourceId {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: Some("payments".into()),
            name: "api".into(),
        };
        let matches = |r: &str| {
            ResourceRef::parse(r)
                .map(|r| r.matches(&id, "payments"))
                .unwrap_or(false)
        };
        assert!(matches("apps/Deployment/payments/api"));
        assert!(matches("Deployment/payments/api"));
        assert!(matches("Deployment/api"));
        assert!(matches("apps/Deployment/*/*"));
        assert!(!matches("Deployment/other/api"));
        assert!(!matches("batch/Deployment/payments/api"));
        assert_eq!(id.to_string(), "apps/Deployment/payments/api");
    }
}
