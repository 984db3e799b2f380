//! The `kube-api` and `in-cluster` collectors: kube-rs (client only, rustls with ring) asking
//! the API server directly. Requests are plain GETs whose JSON is kept as the server sent it
//! (no round trip through typed structs that could drop or reformat fields), and kube-rs
//! errors are mapped to [`CollectError`] with the verb, resource and namespace involved.

use std::error::Error as StdError;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};
use serde_json::Value;

use super::discovery::RawGet;
use super::error::{CollectError, Result};
use super::plan::{self, Batch, FetchStrategy, Transport, objects_of};
use super::{CollectOptions, LiveObservation, ResourceKey, live_observation};

/// Installs rustls' ring crypto provider as the process default. kube-rs and reqwest build
/// their TLS configurations from the process default and panic without one; calling this more
/// than once (or after another part of the program installed one) is harmless.
pub fn install_crypto_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // An error only means a provider is already installed, which is what we want.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `kube-api`: loads the kubeconfig (the given file, or the default loading rules), checks
/// the context exists, and collects.
pub(crate) async fn collect_with_kubeconfig(
    path: Option<&Path>,
    context: Option<&str>,
    wanted: &[ResourceKey],
    options: &CollectOptions,
) -> Result<LiveObservation> {
    let (config, chosen) = kubeconfig_config(path, context).await?;
    collect_with_config(config, "kube-api", Some(chosen), wanted, options).await
}

/// The client configuration of a kubeconfig's context (the given one, else the
/// kubeconfig's `current-context`), and the context's name.
pub(crate) async fn kubeconfig_config(
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<(Config, String)> {
    let kubeconfig = match path {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|e| kubeconfig_error(path, &e))?;
    let chosen = match context {
        Some(context) => context.to_owned(),
        None => kubeconfig
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| CollectError::Kubeconfig {
                path: path.map(Path::to_path_buf),
                message: "no context was chosen and the kubeconfig sets no current-context"
                    .to_owned(),
            })?,
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == chosen) {
        return Err(CollectError::UnknownContext {
            context: chosen,
            path: path.map(Path::to_path_buf),
            available: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
        });
    }
    let load_options = KubeConfigOptions {
        context: Some(chosen.clone()),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &load_options)
        .await
        .map_err(|e| kubeconfig_error(path, &e))?;
    Ok((config, chosen))
}

/// The pod's service account configuration (`in-cluster`).
pub(crate) fn in_cluster_config() -> Result<Config> {
    Config::incluster().map_err(|e| CollectError::InCluster {
        message: error_chain(&e),
    })
}

/// `in-cluster`: the pod's service account token and CA, the API server from the
/// `KUBERNETES_SERVICE_*` environment.
pub(crate) async fn collect_in_cluster(
    wanted: &[ResourceKey],
    options: &CollectOptions,
) -> Result<LiveObservation> {
    let config = in_cluster_config()?;
    collect_with_config(config, "in-cluster", None, wanted, options).await
}

async fn collect_with_config(
    config: Config,
    method: &'static str,
    context: Option<String>,
    wanted: &[ResourceKey],
    options: &CollectOptions,
) -> Result<LiveObservation> {
    let started = Utc::now();
    let transport = KubeTransport::new(
        config,
        options.request_timeout,
        Some(options.request_timeout),
    )?;
    let fetched = plan::fetch_all(&transport, wanted, options).await?;
    Ok(live_observation(method, context, started, fetched))
}

fn kubeconfig_error(path: Option<&Path>, error: &KubeconfigError) -> CollectError {
    let path = match (path, error) {
        (Some(path), _) => Some(path.to_path_buf()),
        (None, KubeconfigError::ReadConfig(_, path)) => Some(path.clone()),
        (None, _) => None,
    };
    CollectError::Kubeconfig {
        path,
        message: error_chain(error),
    }
}

/// An error and its sources as one line, skipping sources whose text the line already holds.
fn error_chain(error: &dyn StdError) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = inner.source();
    }
    line
}

pub(crate) struct KubeTransport {
    pub(crate) client: Client,
    pub(crate) endpoint: String,
    pub(crate) request_timeout: Duration,
}

impl KubeTransport {
    /// A client for `config`: `request_timeout` bounds connecting and writing, `read_timeout`
    /// each read (`None` for watches, which are quiet for minutes and bounded by their own
    /// `timeoutSeconds`). No retries inside the client: callers retry with backoff.
    pub(crate) fn new(
        mut config: Config,
        request_timeout: Duration,
        read_timeout: Option<Duration>,
    ) -> Result<Self> {
        install_crypto_provider();
        config.connect_timeout = Some(request_timeout);
        config.read_timeout = read_timeout;
        config.write_timeout = Some(request_timeout);
        config.reset_reader_on_write = true;
        // The queue retries transient failures with backoff (`WORKER_MAX_ATTEMPTS`); a second
        // retry layer inside the client would multiply the wait and hide the failure from the
        // run's log.
        config.default_retry = false;
        let endpoint = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| CollectError::Client {
            message: error_chain(&e),
        })?;
        Ok(KubeTransport {
            client,
            endpoint,
            request_timeout,
        })
    }

    /// GETs `path`; `Ok(None)` on 404. `verb`, `resource` and `namespace` name the request in
    /// errors (`list deployments.apps in namespace "payments"`).
    pub(crate) async fn get(
        &self,
        path: &str,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<Option<Value>> {
        let request = http::Request::get(path)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| CollectError::Client {
                message: format!("building GET {path}: {e}"),
            })?;
        let during = || {
            format!(
                "waiting for the API server to {verb} {resource}{}",
                namespace
                    .map(|ns| format!(" in namespace {ns:?}"))
                    .unwrap_or_default()
            )
        };
        match tokio::time::timeout(self.request_timeout, self.client.request::<Value>(request))
            .await
        {
            Err(_elapsed) => Err(CollectError::Timeout {
                during: during(),
                after: self.request_timeout,
            }),
            Ok(Ok(value)) => Ok(Some(value)),
            Ok(Err(kube::Error::Api(status))) if status.code == 404 => Ok(None),
            Ok(Err(kube::Error::Api(status))) => Err(CollectError::from_status(
                status.code,
                &status.reason,
                &status.message,
                verb,
                resource,
                namespace,
            )),
            Ok(Err(error)) => Err(self.map_error(error, &during())),
        }
    }

    pub(crate) fn map_error(&self, error: kube::Error, during: &str) -> CollectError {
        let message = error_chain(&error);
        match error {
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
                if is_timeout(&error) {
                    CollectError::Timeout {
                        during: during.to_owned(),
                        after: self.request_timeout,
                    }
                } else if let Some(auth) = find_source::<kube::client::AuthError>(&error) {
                    CollectError::Unauthorized {
                        message: error_chain(auth),
                    }
                } else {
                    CollectError::Unreachable {
                        endpoint: Some(self.endpoint.clone()),
                        message,
                    }
                }
            }
            kube::Error::Auth(_) => CollectError::Unauthorized { message },
            kube::Error::SerdeError(_) | kube::Error::FromUtf8(_) => {
                CollectError::InvalidResponse {
                    what: during.to_owned(),
                    message,
                }
            }
            _ => CollectError::Client { message },
        }
    }
}

/// Whether an error chain ends in a timeout (hyper-timeout's `TimedOut` I/O error, tower's
/// `Elapsed`).
fn is_timeout(error: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if e.to_string().to_ascii_lowercase().contains("timed out") {
            return true;
        }
        current = e.source();
    }
    false
}

fn find_source<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

impl RawGet for KubeTransport {
    async fn get_json(&self, path: &str) -> Result<Option<Value>> {
        self.get(path, "get", path, None).await
    }
}

impl Transport for KubeTransport {
    async fn fetch(&self, batch: &Batch) -> Result<Vec<Value>> {
        let namespace = batch.namespace.as_deref();
        let label = batch.resource.label();
        match batch.strategy {
            FetchStrategy::Get => {
                let mut found = Vec::new();
                for name in &batch.names {
                    let path = batch.resource.object_path(namespace, name);
                    if let Some(object) = self.get(&path, "get", &label, namespace).await? {
                        found.push(object);
                    }
                }
                Ok(found)
            }
            FetchStrategy::List => {
                let path = batch.resource.collection_path(namespace);
                Ok(self
                    .get(&path, "list", &label, namespace)
                    .await?
                    .map(objects_of)
                    .unwrap_or_default())
            }
        }
    }
}
