//! The Kubernetes API as a cluster's watcher uses it: discovery of the kinds it watches, one
//! LIST per (kind, namespace) to start from, and WATCH streams from a resourceVersion with
//! bookmarks. Still read-only: `get`, `list` and `watch` are the only verbs. Objects are
//! kept as the server sent them (JSON values), with `apiVersion` and `kind` filled in.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::core::WatchEvent;
use serde_json::Value;

use super::LiveSourceConfig;
use super::discovery::{Discovery, ServedResource};
use super::error::{CollectError, Result};
use super::kube_api::{self, KubeTransport};
use super::plan::objects_of;

/// A resource type the watcher resolved through discovery.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServedKind(ServedResource);

impl ServedKind {
    pub fn namespaced(&self) -> bool {
        self.0.namespaced
    }

    pub fn api_version(&self) -> String {
        self.0.api_version()
    }

    /// `deployments.apps`.
    pub fn label(&self) -> String {
        self.0.label()
    }
}

/// One item of a watch stream.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    /// `ADDED` or `MODIFIED`: the object as it is now.
    Upsert(Value),
    /// `DELETED`: the object as it was last.
    Delete(Value),
    /// `BOOKMARK`: the stream has seen everything up to this resourceVersion.
    Bookmark(String),
    /// `410 Gone` (or `Expired`): the resourceVersion is too old; list again.
    Expired,
}

/// Opening a watch: a stream, or the answer that its resourceVersion is gone.
pub enum WatchOpen {
    Stream(BoxStream<'static, Result<WatchItem>>),
    Expired,
}

/// A connection to one cluster's API server for watching.
pub struct ClusterApi {
    transport: KubeTransport,
}

impl ClusterApi {
    /// Connects as the cluster record says (`kube-api` or `in-cluster` only: `kubectl` and
    /// `snapshot` clusters are not watched). `request_timeout` bounds every request but
    /// the reads of a watch stream.
    pub async fn connect(source: &LiveSourceConfig, request_timeout: Duration) -> Result<Self> {
        let config = match source {
            LiveSourceConfig::KubeApi {
                kubeconfig_path,
                context,
            } => {
                kube_api::kubeconfig_config(kubeconfig_path.as_deref(), context.as_deref())
                    .await?
                    .0
            }
            LiveSourceConfig::InCluster => kube_api::in_cluster_config()?,
            other => {
                return Err(CollectError::Client {
                    message: format!(
                        "a {} cluster cannot be watched (only kube-api and in-cluster)",
                        other.method()
                    ),
                });
            }
        };
        Ok(ClusterApi {
            transport: KubeTransport::new(config, request_timeout, None)?,
        })
    }

    /// Resolves each `(group, version, kind)`: `None` for a kind the cluster does not serve.
    pub async fn resolve(
        &self,
        kinds: &[(String, String, String)],
    ) -> Result<Vec<Option<ServedKind>>> {
        let wanted: BTreeSet<(String, String, String)> = kinds.iter().cloned().collect();
        let discovery = Discovery::run(&self.transport, &wanted).await?;
        Ok(kinds
            .iter()
            .map(|(group, version, kind)| {
                discovery
                    .resolve(group, version, kind)
                    .cloned()
                    .map(ServedKind)
            })
            .collect())
    }

    /// Lists `kind` in `namespace` (or cluster-wide): its objects, each with `apiVersion`
    /// and `kind`, and the list's resourceVersion to watch from.
    pub async fn list(
        &self,
        kind: &ServedKind,
        namespace: Option<&str>,
    ) -> Result<(Vec<Value>, String)> {
        let path = kind.0.collection_path(namespace);
        let label = kind.label();
        let document = self
            .transport
            .get(&path, "list", &label, namespace)
            .await?
            .unwrap_or(Value::Null);
        let resource_version = document
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|rv| !rv.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| CollectError::InvalidResponse {
                what: format!("the list of {label}"),
                message: String::from("it carries no metadata.resourceVersion to watch from"),
            })?;
        let objects = objects_of(document)
            .into_iter()
            .map(|object| with_type(object, kind))
            .collect();
        Ok((objects, resource_version))
    }

    /// Watches `kind` in `namespace` from `resource_version`, with bookmarks; the server ends
    /// the stream after about `timeout` (the caller then resumes from the last version).
    pub async fn watch(
        &self,
        kind: &ServedKind,
        namespace: Option<&str>,
        resource_version: &str,
        timeout: Duration,
    ) -> Result<WatchOpen> {
        let path = format!(
            "{}?watch=1&allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={}",
            kind.0.collection_path(namespace),
            query_value(resource_version),
            timeout.as_secs().max(1)
        );
        let label = kind.label();
        let request = http::Request::get(&path)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| CollectError::Client {
                message: format!("building the watch of {label}: {e}"),
            })?;
        let during = format!(
            "watching {label}{}",
            namespace
                .map(|ns| format!(" in namespace {ns:?}"))
                .unwrap_or_default()
        );
        let opened = tokio::time::timeout(
            self.transport.request_timeout,
            self.transport.client.request_events::<Value>(request),
        )
        .await;
        let events = match opened {
            Err(_elapsed) => {
                return Err(CollectError::Timeout {
                    during,
                    after: self.transport.request_timeout,
                });
            }
            Ok(Err(kube::Error::Api(status))) if is_expired(status.code, &status.reason) => {
                return Ok(WatchOpen::Expired);
            }
            Ok(Err(kube::Error::Api(status))) => {
                return Err(CollectError::from_status(
                    status.code,
                    &status.reason,
                    &status.message,
                    "watch",
                    &label,
                    namespace,
                ));
            }
            Ok(Err(error)) => return Err(self.transport.map_error(error, &during)),
            Ok(Ok(events)) => events,
        };
        let kind = kind.clone();
        let endpoint = self.transport.endpoint.clone();
        let stream = events
            .map(
                move |item: std::result::Result<WatchEvent<Value>, kube::Error>| match item {
                    Ok(event) => Ok(item_of(event, &kind)),
                    Err(kube::Error::Api(status)) => Err(CollectError::from_status(
                        status.code,
                        &status.reason,
                        &status.message,
                        "watch",
                        &label,
                        None,
                    )),
                    Err(other) => Err(CollectError::Unreachable {
                        endpoint: Some(endpoint.clone()),
                        message: format!("{during}: {other}"),
                    }),
                },
            )
            .boxed();
        Ok(WatchOpen::Stream(stream))
    }
}

fn item_of(event: WatchEvent<Value>, kind: &ServedKind) -> WatchItem {
    match event {
        WatchEvent::Added(object) | WatchEvent::Modified(object) => {
            WatchItem::Upsert(with_type(object, kind))
        }
        WatchEvent::Deleted(object) => WatchItem::Delete(with_type(object, kind)),
        WatchEvent::Bookmark(bookmark) => WatchItem::Bookmark(bookmark.metadata.resource_version),
        WatchEvent::Error(status) if is_expired(status.code, &status.reason) => WatchItem::Expired,
        // Any other error event ends this stream; the watcher reconnects from the last
        // version it reached, and relists if that is gone.
        WatchEvent::Error(_) => WatchItem::Expired,
    }
}

fn is_expired(code: u16, reason: &str) -> bool {
    code == 410 || reason == "Expired" || reason == "Gone"
}

/// Fills `apiVersion` and `kind` where the server left them out (LIST items).
fn with_type(mut object: Value, kind: &ServedKind) -> Value {
    if let Value::Object(map) = &mut object {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(kind.api_version()));
        map.entry("kind")
            .or_insert_with(|| Value::String(kind.0.kind.clone()));
    }
    object
}

/// Percent-encodes a query value (resourceVersions are opaque strings).
fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_versions_are_encoded_in_the_query() {
        assert_eq!(query_value("12345"), "12345");
        assert_eq!(query_value("a&b=c"), "a%26b%3Dc");
    }
}
