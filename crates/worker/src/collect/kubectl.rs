//! The `kubectl` collector: runs `KUBECTL_BIN` directly (never through a shell) for
//! discovery (`get --raw`) and for each batch (`get RESOURCE -o json --show-managed-fields`),
//! with a deadline per run, and maps kubectl's error output to the same [`CollectError`]
//! variants the kube-api collector produces. Every value that reaches the command line is
//! passed as `--flag=VALUE` or after `--`, so none can be read as an option.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::discovery::RawGet;
use super::error::{CollectError, Result};
use super::plan::{self, Batch, FetchStrategy, Transport, objects_of};
use super::{CollectOptions, LiveObservation, ResourceKey, live_observation};

/// Which kubectl, kubeconfig and context to use.
#[derive(Debug, Clone)]
pub(crate) struct KubectlTarget {
    pub bin: PathBuf,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

pub(crate) async fn collect(
    target: KubectlTarget,
    wanted: &[ResourceKey],
    options: &CollectOptions,
) -> Result<LiveObservation> {
    let started = Utc::now();
    // A discovery cache private to this collection: kubectl never writes under the worker's
    // home directory (which may be read-only in a container), a cache from an earlier run
    // cannot hide a kind installed since, and the batches of this run still share one.
    let cache = tempfile::Builder::new()
        .prefix("statesight-kubectl-cache-")
        .tempdir()
        .map_err(|e| CollectError::Client {
            message: format!("creating a kubectl cache directory: {e}"),
        })?;
    let kubectl = Kubectl {
        target,
        cache_dir: cache.path().to_path_buf(),
        timeout: options.request_timeout,
    };
    let context = match &kubectl.target.context {
        Some(context) => Some(context.clone()),
        None => kubectl.current_context().await,
    };
    let fetched = plan::fetch_all(&kubectl, wanted, options).await?;
    Ok(live_observation("kubectl", context, started, fetched))
}

struct Kubectl {
    target: KubectlTarget,
    cache_dir: PathBuf,
    timeout: Duration,
}

/// What a kubectl run was asked to do, for error messages.
struct Request<'a> {
    verb: &'a str,
    resource: &'a str,
    namespace: Option<&'a str>,
}

impl Kubectl {
    fn global_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if let Some(kubeconfig) = &self.target.kubeconfig {
            args.push(flag("--kubeconfig=", kubeconfig.as_os_str()));
        }
        if let Some(context) = &self.target.context {
            args.push(flag("--context=", context.as_ref()));
        }
        let millis = self.timeout.as_millis().max(1);
        args.push(OsString::from(format!("--request-timeout={millis}ms")));
        args.push(flag("--cache-dir=", self.cache_dir.as_os_str()));
        args
    }

    /// Runs kubectl with `args` after the global flags. `Ok(None)` when kubectl reports the
    /// thing as not found (or the resource type as not served); otherwise its standard output.
    async fn run(&self, args: Vec<OsString>, request: &Request<'_>) -> Result<Option<Vec<u8>>> {
        let mut all_args = self.global_args();
        all_args.extend(args);
        let mut command = tokio::process::Command::new(&self.target.bin);
        command
            .args(&all_args)
            // kubectl 1.33+ reads user preferences (`kuberc`) that may add default flags.
            .env("KUBECTL_KUBERC", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| CollectError::KubectlUnavailable {
                bin: self.target.bin.clone(),
                message: e.to_string(),
            })?;
        // On timeout the child is dropped, and `kill_on_drop` kills it.
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Err(_elapsed) => {
                return Err(CollectError::Timeout {
                    during: describe(request),
                    after: self.timeout,
                });
            }
            Ok(Err(e)) => {
                return Err(CollectError::KubectlUnavailable {
                    bin: self.target.bin.clone(),
                    message: e.to_string(),
                });
            }
            Ok(Ok(output)) => output,
        };
        if output.status.success() {
            return Ok(Some(output.stdout));
        }
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        match classify(&stderr, request, &self.target, self.timeout) {
            Classified::NotFound => Ok(None),
            Classified::Error(CollectError::UnknownContext { context, path, .. }) => {
                let available = self
                    .config_lines(&["config", "get-contexts", "--output=name"])
                    .await;
                Err(CollectError::UnknownContext {
                    context,
                    path,
                    available,
                })
            }
            Classified::Error(error) => Err(error),
            Classified::Unknown => Err(CollectError::Kubectl {
                command: command_line(&self.target.bin, &all_args),
                status: output.status.to_string(),
                stderr,
            }),
        }
    }

    async fn current_context(&self) -> Option<String> {
        self.config_lines(&["config", "current-context"])
            .await
            .into_iter()
            .next()
    }

    /// The non-empty output lines of a `kubectl config …` query against the kubeconfig, or
    /// none when it fails: these only enrich reports, they never fail a collection.
    async fn config_lines(&self, args: &[&str]) -> Vec<String> {
        let mut command = tokio::process::Command::new(&self.target.bin);
        if let Some(kubeconfig) = &self.target.kubeconfig {
            command.arg(flag("--kubeconfig=", kubeconfig.as_os_str()));
        }
        command
            .args(args)
            .env("KUBECTL_KUBERC", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        match tokio::time::timeout(self.timeout, command.output()).await {
            Ok(Ok(output)) if output.status.success() => String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn flag(prefix: &str, value: &std::ffi::OsStr) -> OsString {
    let mut flag = OsString::from(prefix);
    flag.push(value);
    flag
}

fn command_line(bin: &Path, args: &[OsString]) -> String {
    let mut line = bin.display().to_string();
    for arg in args {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

fn describe(request: &Request<'_>) -> String {
    match request.namespace {
        Some(ns) => format!(
            "running kubectl to {} {} in namespace {ns:?}",
            request.verb, request.resource
        ),
        None => format!("running kubectl to {} {}", request.verb, request.resource),
    }
}

/// kubectl's resource argument: `plural.version.group` pins the exact group version
/// discovery chose; core resources are named by their plural alone (core wins kubectl's
/// resolution).
fn resource_arg(batch: &Batch) -> String {
    let resource = &batch.resource;
    if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!(
            "{}.{}.{}",
            resource.plural, resource.version, resource.group
        )
    }
}

fn parse_json(stdout: &[u8], request: &Request<'_>) -> Result<Value> {
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(stdout).map_err(|e| CollectError::InvalidResponse {
        what: describe(request),
        message: format!("kubectl printed something that is not JSON: {e}"),
    })
}

impl RawGet for Kubectl {
    async fn get_json(&self, path: &str) -> Result<Option<Value>> {
        let request = Request {
            verb: "get",
            resource: path,
            namespace: None,
        };
        let args = vec![OsString::from("get"), flag("--raw=", path.as_ref())];
        match self.run(args, &request).await? {
            Some(stdout) => Ok(Some(parse_json(&stdout, &request)?)),
            None => Ok(None),
        }
    }
}

impl Transport for Kubectl {
    async fn fetch(&self, batch: &Batch) -> Result<Vec<Value>> {
        let label = batch.resource.label();
        let verb = match batch.strategy {
            FetchStrategy::Get => "get",
            FetchStrategy::List => "list",
        };
        let request = Request {
            verb,
            resource: &label,
            namespace: batch.namespace.as_deref(),
        };
        let mut args: Vec<OsString> = ["get", "--output=json", "--show-managed-fields"]
            .into_iter()
            .map(OsString::from)
            .collect();
        if let Some(namespace) = &batch.namespace {
            args.push(flag("--namespace=", namespace.as_ref()));
        }
        if batch.strategy == FetchStrategy::Get {
            // Named objects that do not exist are then left out instead of failing the run.
            args.push("--ignore-not-found".into());
        }
        args.push("--".into());
        args.push(resource_arg(batch).into());
        if batch.strategy == FetchStrategy::Get {
            args.extend(batch.names.iter().map(OsString::from));
        }
        match self.run(args, &request).await? {
            Some(stdout) => Ok(objects_of(parse_json(&stdout, &request)?)),
            None => Ok(Vec::new()),
        }
    }
}

#[derive(Debug)]
enum Classified {
    NotFound,
    Error(CollectError),
    Unknown,
}

/// Reads kubectl's standard error. Recognised: `Error from server (Reason): message` (the
/// API's Status), connection failures, timeouts, unknown contexts, kubeconfig problems and
/// resource types the server does not have.
fn classify(
    stderr: &str,
    request: &Request<'_>,
    target: &KubectlTarget,
    timeout: Duration,
) -> Classified {
    let (kubeconfig, context) = (target.kubeconfig.as_deref(), target.context.as_deref());
    let lower = stderr.to_ascii_lowercase();
    for line in stderr.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("Error from server (") else {
            continue;
        };
        let Some((reason, message)) = rest.split_once("): ") else {
            continue;
        };
        let code = match reason {
            "NotFound" => return Classified::NotFound,
            "BadRequest" => 400,
            "Unauthorized" => 401,
            "Forbidden" => 403,
            "MethodNotAllowed" => 405,
            "NotAcceptable" => 406,
            "Gone" | "Expired" => 410,
            "TooManyRequests" => 429,
            "InternalError" => 500,
            "ServiceUnavailable" => 503,
            "Timeout" | "ServerTimeout" => 504,
            _ => continue,
        };
        return Classified::Error(CollectError::from_status(
            code,
            reason,
            message,
            request.verb,
            request.resource,
            request.namespace,
        ));
    }
    if lower.contains("the server doesn't have a resource type")
        || lower.contains("the server could not find the requested resource")
    {
        return Classified::NotFound;
    }
    if lower.contains("you must be logged in to the server") || lower.contains("(unauthorized)") {
        return Classified::Error(CollectError::Unauthorized {
            message: first_error_line(stderr),
        });
    }
    if let Some(context) = context
        && (lower.contains("context was not found")
            || (lower.contains("does not exist") && lower.contains("context")))
    {
        return Classified::Error(CollectError::UnknownContext {
            context: context.to_owned(),
            path: kubeconfig.map(Path::to_path_buf),
            available: Vec::new(),
        });
    }
    let timed_out = ["timeout", "timed out", "deadline exceeded"]
        .iter()
        .any(|t| lower.contains(t));
    if lower.contains("unable to connect to the server")
        || lower.contains("the connection to the server")
    {
        if timed_out {
            return Classified::Error(CollectError::Timeout {
                during: describe(request),
                after: timeout,
            });
        }
        return Classified::Error(CollectError::Unreachable {
            endpoint: None,
            message: first_error_line(stderr),
        });
    }
    if lower.contains("error loading config file")
        || lower.contains("invalid configuration")
        || lower.contains("no configuration has been provided")
        || (lower.contains("kubeconfig") && lower.contains("no such file"))
        // A missing `--kubeconfig` file: `error: stat /path: no such file or directory`.
        || kubeconfig.is_some_and(|path| {
            stderr.contains(&*path.to_string_lossy()) && lower.contains("no such file")
        })
    {
        return Classified::Error(CollectError::Kubeconfig {
            path: kubeconfig.map(Path::to_path_buf),
            message: first_error_line(stderr),
        });
    }
    Classified::Unknown
}

/// The first line that looks like an error (kubectl may print warnings first), else the
/// whole text.
fn first_error_line(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .find(|l| {
            let lower = l.to_ascii_lowercase();
            lower.starts_with("error")
                || lower.starts_with("unable")
                || lower.starts_with("the connection")
        })
        .unwrap_or(stderr)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request<'static> {
        Request {
            verb: "list",
            resource: "deployments.apps",
            namespace: Some("payments"),
        }
    }

    fn check(stderr: &str) -> Classified {
        let target = KubectlTarget {
            bin: "kubectl".into(),
            kubeconfig: None,
            context: Some("prod".into()),
        };
        classify(stderr, &request(), &target, Duration::from_secs(5))
    }

    #[test]
    fn forbidden_from_kubectl_is_the_readable_permission_error() {
        let stderr = "Error from server (Forbidden): deployments.apps is forbidden: User \"system:serviceaccount:statesight:worker\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"payments\"";
        let Classified::Error(error) = check(stderr) else {
            panic!("not classified: {stderr}")
        };
        assert!(matches!(error, CollectError::Forbidden { .. }));
        assert!(error.to_string().starts_with(
            "permission denied: cannot list deployments.apps in namespace \"payments\""
        ));
    }

    #[test]
    fn not_found_and_unknown_types_are_missing_not_errors() {
        assert!(matches!(
            check("Error from server (NotFound): deployments.apps \"x\" not found"),
            Classified::NotFound
        ));
        assert!(matches!(
            check("error: the server doesn't have a resource type \"rollouts\""),
            Classified::NotFound
        ));
    }

    #[test]
    fn connection_failures_are_transient() {
        let refused = "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?";
        let Classified::Error(error) = check(refused) else {
            panic!("not classified")
        };
        assert!(matches!(error, CollectError::Unreachable { .. }) && error.is_transient());
        let timeout = "Unable to connect to the server: net/http: request canceled (Client.Timeout exceeded while awaiting headers)";
        let Classified::Error(error) = check(timeout) else {
            panic!("not classified")
        };
        assert!(matches!(error, CollectError::Timeout { .. }) && error.is_transient());
        let Classified::Error(error) = check(
            "Error from server (ServiceUnavailable): the server is currently unable to handle the request",
        ) else {
            panic!("not classified")
        };
        assert!(error.is_transient());
    }

    #[test]
    fn unknown_context_and_unrecognised_output() {
        let Classified::Error(error) =
            check("error: context was not found for specified context: prod")
        else {
            panic!("not classified")
        };
        assert!(matches!(error, CollectError::UnknownContext { .. }));
        assert!(matches!(
            check("something odd happened"),
            Classified::Unknown
        ));
    }
}
