//! Why a live collection failed, as one enum shared by every collector. Each variant says
//! whether retrying can help ([`CollectError::is_transient`]): the queue retries transient
//! failures with backoff and fails the run with the readable message otherwise.

use std::path::PathBuf;
use std::time::Duration;

/// `Result` with [`CollectError`].
pub type Result<T, E = CollectError> = std::result::Result<T, E>;

/// A failed live collection. A resource that does not exist is never an error (it is reported
/// as missing); these are the cases where the live state could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// One request, one `kubectl` run or the whole collection took longer than allowed (a
    /// hung API server, a slow network). Transient.
    #[error("timed out after {}s while {during}", .after.as_secs_f64())]
    Timeout { during: String, after: Duration },

    /// The API server could not be reached: connection refused or reset, DNS failure, the
    /// connection dropped mid-reply. Transient.
    #[error("cannot reach the Kubernetes API{}: {message}", endpoint_suffix(.endpoint))]
    Unreachable {
        endpoint: Option<String>,
        message: String,
    },

    /// The API server answered 429 (throttled) or 5xx. Transient.
    #[error("the Kubernetes API answered {code} {reason} to {verb} {resource}{}: {message}", scope(.namespace))]
    ServerError {
        code: u16,
        reason: String,
        message: String,
        verb: String,
        resource: String,
        namespace: Option<String>,
    },

    /// The API server answered 403: the worker's identity may not `verb` the resource (named
    /// `plural.group`, e.g. `deployments.apps`) in that namespace. Not transient: someone has
    /// to grant the permission.
    #[error(
        "permission denied: cannot {verb} {resource}{} ({message}); grant get/list on it to the worker's identity",
        scope(.namespace)
    )]
    Forbidden {
        verb: String,
        resource: String,
        namespace: Option<String>,
        message: String,
    },

    /// The API server answered 401, or credentials could not be obtained (expired token,
    /// failing exec plugin). Not transient.
    #[error("the Kubernetes API rejected the worker's credentials: {message}")]
    Unauthorized { message: String },

    /// Any other 4xx answer (400, 405, 406, 410, …): the request itself is wrong for this
    /// server. Not transient.
    #[error("the Kubernetes API answered {code} {reason} to {verb} {resource}{}: {message}", scope(.namespace))]
    Rejected {
        code: u16,
        reason: String,
        message: String,
        verb: String,
        resource: String,
        namespace: Option<String>,
    },

    /// The kubeconfig cannot be found, read or used (syntax, no server, no current context,
    /// unreadable certificate). Not transient.
    #[error("kubeconfig{}: {message}", path_suffix(.path))]
    Kubeconfig {
        path: Option<PathBuf>,
        message: String,
    },

    /// The chosen context is not in the kubeconfig. Not transient.
    #[error(
        "context {context:?} is not in the kubeconfig{}{}",
        path_suffix(.path),
        available_suffix(.available)
    )]
    UnknownContext {
        context: String,
        path: Option<PathBuf>,
        available: Vec<String>,
    },

    /// In-cluster configuration is unavailable: the worker is not running in a pod with a
    /// service account (no `KUBERNETES_SERVICE_HOST` or token). Not transient.
    #[error("in-cluster configuration unavailable: {message}")]
    InCluster { message: String },

    /// The Kubernetes client could not be built (TLS configuration, bad server URL). Not
    /// transient.
    #[error("cannot build a Kubernetes client: {message}")]
    Client { message: String },

    /// `KUBECTL_BIN` could not be started (not found, not executable). Not transient.
    #[error("cannot run kubectl {}: {message}", .bin.display())]
    KubectlUnavailable { bin: PathBuf, message: String },

    /// `kubectl` failed in a way not recognised as one of the other variants; its standard
    /// error is kept. Not transient.
    #[error("`{command}` failed ({status}): {stderr}")]
    Kubectl {
        command: String,
        status: String,
        stderr: String,
    },

    /// The server or `kubectl` returned something that is not the Kubernetes JSON expected.
    /// Not transient.
    #[error("unexpected answer while {what}: {message}")]
    InvalidResponse { what: String, message: String },

    /// The snapshot directory is missing, unreadable or holds a file that is not valid YAML
    /// or JSON, a malformed `capture.json`, or two different versions of one object. Not
    /// transient.
    #[error("snapshot {}: {message}", .path.display())]
    Snapshot { path: PathBuf, message: String },

    /// Synthetic live state was asked for while `ALLOW_SYNTHETIC_LIVE_STATE` is not `true`.
    /// Not transient.
    #[error(
        "synthetic live state is not allowed: set ALLOW_SYNTHETIC_LIVE_STATE=true to analyse against the desired objects themselves (untrusted), or configure a real live source"
    )]
    SyntheticNotAllowed,
}

impl CollectError {
    /// Whether retrying later can succeed without anyone changing anything: timeouts, an
    /// unreachable server, 429 and 5xx answers.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CollectError::Timeout { .. }
                | CollectError::Unreachable { .. }
                | CollectError::ServerError { .. }
        )
    }

    /// Maps an HTTP error answer (the `Status` object's code, reason and message) for `verb`
    /// on `resource` in `namespace` to the variant it belongs to. 404 is not handled here:
    /// callers turn it into a missing resource.
    pub(crate) fn from_status(
        code: u16,
        reason: &str,
        message: &str,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Self {
        let reason = if reason.is_empty() {
            default_reason(code).to_owned()
        } else {
            reason.to_owned()
        };
        let message = if message.is_empty() {
            reason.clone()
        } else {
            message.to_owned()
        };
        let namespace = namespace.map(str::to_owned);
        let (verb, resource) = (verb.to_owned(), resource.to_owned());
        match code {
            401 => CollectError::Unauthorized { message },
            403 => CollectError::Forbidden {
                verb,
                resource,
                namespace,
                message,
            },
            429 | 500..=599 => CollectError::ServerError {
                code,
                reason,
                message,
                verb,
                resource,
                namespace,
            },
            _ => CollectError::Rejected {
                code,
                reason,
                message,
                verb,
                resource,
                namespace,
            },
        }
    }
}

fn default_reason(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        410 => "Gone",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Error",
    }
}

fn scope(namespace: &Option<String>) -> String {
    match namespace {
        Some(ns) => format!(" in namespace {ns:?}"),
        None => " at the cluster scope".to_owned(),
    }
}

fn endpoint_suffix(endpoint: &Option<String>) -> String {
    endpoint
        .as_deref()
        .map(|e| format!(" at {e}"))
        .unwrap_or_default()
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    path.as_deref()
        .map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

fn available_suffix(available: &[String]) -> String {
    if available.is_empty() {
        " (it defines no contexts)".to_owned()
    } else {
        format!(" (it defines: {})", available.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_names_verb_resource_and_namespace() {
        let error = CollectError::from_status(
            403,
            "Forbidden",
            "deployments.apps is forbidden: User \"x\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"payments\"",
            "list",
            "deployments.apps",
            Some("payments"),
        );
        assert!(!error.is_transient());
        assert_eq!(
            error.to_string(),
            "permission denied: cannot list deployments.apps in namespace \"payments\" (deployments.apps is forbidden: \
             User \"x\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"payments\"); \
             grant get/list on it to the worker's identity"
        );
    }

    #[test]
    fn transient_classification_follows_status_codes() {
        let classify = |code| {
            CollectError::from_status(code, "", "", "get", "configmaps", None).is_transient()
        };
        assert!(classify(429));
        assert!(classify(500));
        assert!(classify(503));
        assert!(!classify(400));
        assert!(!classify(401));
        assert!(!classify(403));
        assert!(!classify(410));
        let timeout = CollectError::Timeout {
            during: "x".into(),
            after: Duration::from_secs(1),
        };
        assert!(timeout.is_transient());
        let refused = CollectError::Unreachable {
            endpoint: None,
            message: "connection refused".into(),
        };
        assert!(refused.is_transient());
        let context = CollectError::UnknownContext {
            context: "a".into(),
            path: None,
            available: vec![],
        };
        assert!(!context.is_transient());
        assert!(
            !CollectError::Snapshot {
                path: "x".into(),
                message: "bad".into()
            }
            .is_transient()
        );
        assert!(
            !CollectError::Kubeconfig {
                path: None,
                message: "bad".into()
            }
            .is_transient()
        );
    }

    #[test]
    fn cluster_scoped_forbidden_says_cluster_scope() {
        let error = CollectError::from_status(403, "Forbidden", "no", "get", "nodes", None);
        assert!(
            error
                .to_string()
                .starts_with("permission denied: cannot get nodes at the cluster scope (no)")
        );
    }
}
