//! A Kubernetes API server for tests, on 127.0.0.1 with a random port. It serves what
//! kube-rs and the real `kubectl` need to read objects: `/version`, legacy discovery (`/api`,
//! `/apis`, `/api/v1`, `/apis/GROUP[/VERSION]` with short names), GET and LIST of namespaced
//! and cluster-scoped resources from the objects it is given, namespaces (kubectl GETs them
//! after a 404), and `Status` errors (404, 403 configurable per resource and namespace, any
//! injected code, 401 for a wrong token, 405 for anything but GET). It records every request
//! and can HOLD replies: held requests block until the test releases them, so a test can
//! stop a client (or kill a worker) while it is waiting, deterministically.
//!
//! It also serves WATCH (`?watch=1`) like a real API server: every change made through
//! [`TestKubeApi::add_object`] / [`TestKubeApi::remove_object`] gets the next resourceVersion
//! and goes to an event log; a watch replays the log after its `resourceVersion` and then
//! streams live events (newline-delimited JSON), with bookmarks on demand, an `ERROR` event
//! with `410 Expired` when its version was compacted away, the server's `timeoutSeconds`, and
//! test controls to cut every open watch, compact the log and restart the server on the
//! same port.
//!
//! Like a real API server, LIST items carry no `apiVersion`/`kind` (the list says them), and
//! objects are returned as given, `managedFields` included. Objects are matched to resource
//! types by group and kind; the version they were written in is not converted.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot, watch};

/// The bearer token [`write_kubeconfig`] writes and the server accepts by default.
pub const TEST_TOKEN: &str = "statesight-test-token";

/// The user named in 403 messages by default, as a worker in a cluster would be.
pub const TEST_USER: &str = "system:serviceaccount:statesight:worker";

/// One resource type the server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedResource {
    /// API group, empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Plural name used in URLs (`deployments`), or `plural/subresource`.
    pub plural: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
}

impl ServedResource {
    pub fn new(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        namespaced: bool,
        short_names: &[&str],
    ) -> Self {
        ServedResource {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced,
            short_names: short_names.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// `plural.group`, as RBAC messages name it (`deployments.apps`, `configmaps`).
    pub fn label(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn is_subresource(&self) -> bool {
        self.plural.contains('/')
    }

    fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }
}

/// The built-in resource types of a small cluster (core, apps, batch, autoscaling v2 and v1,
/// policy, RBAC, networking, apiextensions, admissionregistration v1), with short names and a
/// few subresources, in the order a real server lists them.
pub fn builtin_resources() -> Vec<ServedResource> {
    let r = ServedResource::new;
    vec![
        r("", "v1", "ConfigMap", "configmaps", true, &["cm"]),
        r("", "v1", "Endpoints", "endpoints", true, &["ep"]),
        r("", "v1", "Event", "events", true, &["ev"]),
        r("", "v1", "Namespace", "namespaces", false, &["ns"]),
        r("", "v1", "Node", "nodes", false, &["no"]),
        r(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
            &["pvc"],
        ),
        r(
            "",
            "v1",
            "PersistentVolume",
            "persistentvolumes",
            false,
            &["pv"],
        ),
        r("", "v1", "Pod", "pods", true, &["po"]),
        r("", "v1", "Pod", "pods/log", true, &[]),
        r("", "v1", "Secret", "secrets", true, &[]),
        r("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"]),
        r("", "v1", "Service", "services", true, &["svc"]),
        r("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"]),
        r("apps", "v1", "Deployment", "deployments", true, &["deploy"]),
        r("apps", "v1", "Scale", "deployments/scale", true, &[]),
        r("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"]),
        r("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"]),
        r("batch", "v1", "CronJob", "cronjobs", true, &["cj"]),
        r("batch", "v1", "Job", "jobs", true, &[]),
        r(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
            &["hpa"],
        ),
        r(
            "autoscaling",
            "v1",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
            &["hpa"],
        ),
        r(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
            &["pdb"],
        ),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            &[],
        ),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
            &[],
        ),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
            &[],
        ),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            true,
            &[],
        ),
        r(
            "networking.k8s.io",
            "v1",
            "IngressClass",
            "ingressclasses",
            false,
            &[],
        ),
        r(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            true,
            &["ing"],
        ),
        r(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
            &["netpol"],
        ),
        r(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            &["crd", "crds"],
        ),
        r(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            false,
            &[],
        ),
        r(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            false,
            &[],
        ),
    ]
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub user_agent: Option<String>,
}

impl RecordedRequest {
    /// `GET /apis/apps/v1/namespaces/payments/deployments`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

type HoldFilter = Arc<dyn Fn(&RecordedRequest) -> bool + Send + Sync>;

#[derive(Debug, Clone, Copy, Default)]
struct HoldState {
    holding: bool,
    /// Bumped by every release, so a waiter leaves even if a new hold starts at once.
    generation: u64,
}

#[derive(Debug, Clone)]
struct ErrorRule {
    /// `plural.group` label.
    resource: String,
    /// `None`: every namespace and the cluster scope.
    namespace: Option<String>,
    code: u16,
}

/// One change in the event log.
#[derive(Debug, Clone)]
struct Change {
    version: u64,
    kind_of_change: &'static str,
    group: String,
    kind: String,
    namespace: Option<String>,
    /// The object after the change (before it, for deletions), `apiVersion`/`kind` set.
    object: Value,
}

/// What open watch streams are told besides changes.
#[derive(Debug, Clone)]
enum Signal {
    Change(Change),
    Bookmark(u64),
    /// Send `ERROR 410 Expired` and end.
    Expire,
    /// End abruptly, as a dropped connection.
    Cut,
}

#[derive(Default)]
struct Inner {
    /// The latest resourceVersion handed out.
    version: u64,
    /// Watches from a version below this are answered `410 Expired`.
    compacted: u64,
    log: Vec<Change>,
    resources: Vec<ServedResource>,
    /// (group, kind, namespace, name) → object.
    objects: BTreeMap<(String, String, Option<String>, String), Value>,
    namespaces: BTreeSet<String>,
    errors: Vec<ErrorRule>,
    user: String,
    token: Option<String>,
}

struct Shared {
    signals: broadcast::Sender<Signal>,
    open_watches: watch::Sender<usize>,
    inner: Mutex<Inner>,
    requests: Mutex<Vec<RecordedRequest>>,
    hold_filter: Mutex<Option<HoldFilter>>,
    hold_state: watch::Sender<HoldState>,
    held: watch::Sender<usize>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not turn every later request into a second panic.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Configures a [`TestKubeApi`] before it starts.
pub struct TestKubeApiBuilder {
    inner: Inner,
}

impl TestKubeApiBuilder {
    /// Objects to serve (any mix of kinds; those of kinds the server does not serve are kept
    /// but unreachable).
    pub fn objects(mut self, objects: impl IntoIterator<Item = Value>) -> Self {
        for object in objects {
            let _ = insert_object(&mut self.inner, object, true);
        }
        self
    }

    /// Serves an additional resource type (a CRD's kind, another version).
    pub fn serve(mut self, resource: ServedResource) -> Self {
        self.inner.resources.push(resource);
        self
    }

    /// Stops serving every version of `group` (e.g. a cluster without `autoscaling`).
    pub fn without_group(mut self, group: &str) -> Self {
        self.inner.resources.retain(|r| r.group != group);
        self
    }

    /// Stops serving one kind of one group, in every version.
    pub fn without_kind(mut self, group: &str, kind: &str) -> Self {
        self.inner
            .resources
            .retain(|r| !(r.group == group && r.kind == kind));
        self
    }

    /// A namespace that exists even without objects in it.
    pub fn namespace(mut self, name: &str) -> Self {
        self.inner.namespaces.insert(name.to_owned());
        self
    }

    /// The user named in 403 messages.
    pub fn user(mut self, user: &str) -> Self {
        self.inner.user = user.to_owned();
        self
    }

    /// The bearer token required (`None`, the default: any or none is accepted). kubectl
    /// never sends a token over plain HTTP, so only kube-rs tests can require one.
    pub fn token(mut self, token: Option<&str>) -> Self {
        self.inner.token = token.map(str::to_owned);
        self
    }

    /// Binds 127.0.0.1:0 and serves on the current tokio runtime until dropped.
    pub async fn start(self) -> TestKubeApi {
        let shared = Arc::new(Shared {
            signals: broadcast::channel(4096).0,
            open_watches: watch::Sender::new(0),
            inner: Mutex::new(self.inner),
            requests: Mutex::new(Vec::new()),
            hold_filter: Mutex::new(None),
            hold_state: watch::Sender::new(HoldState::default()),
            held: watch::Sender::new(0),
        });
        let listener = bind("127.0.0.1:0".parse().expect("an address"));
        let addr = listener.local_addr().expect("local address");
        let shutdown = spawn_server(listener, Arc::clone(&shared));
        TestKubeApi {
            addr,
            shared,
            shutdown: Some(shutdown),
        }
    }
}

/// A listener with `SO_REUSEADDR`, so a restarted server gets its port back at once.
fn bind(addr: SocketAddr) -> tokio::net::TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("binding the test API's address");
    socket.listen(1024).expect("listening")
}

fn spawn_server(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> oneshot::Sender<()> {
    let app = Router::new().fallback(handle).with_state(shared);
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = shutdown_rx.await;
        });
        if let Err(error) = served.await {
            eprintln!("test Kubernetes API stopped: {error}");
        }
    });
    shutdown
}

/// A running test API server. Dropping it releases held requests and stops it.
pub struct TestKubeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestKubeApi {
    fn drop(&mut self) {
        self.release();
        let _ = self.shared.signals.send(Signal::Cut);
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl TestKubeApi {
    /// A builder serving [`builtin_resources`], naming [`TEST_USER`] in 403s and accepting
    /// any credentials (kubectl sends no bearer token over plain HTTP; see
    /// [`TestKubeApiBuilder::token`] to require one).
    pub fn builder() -> TestKubeApiBuilder {
        TestKubeApiBuilder {
            inner: Inner {
                resources: builtin_resources(),
                user: TEST_USER.to_owned(),
                ..Inner::default()
            },
        }
    }

    /// Starts a server with the built-in resource types and `objects`.
    pub async fn start(objects: impl IntoIterator<Item = Value>) -> TestKubeApi {
        TestKubeApi::builder().objects(objects).start().await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig for this server into `dir` (file `kubeconfig-CONTEXT`) whose
    /// current context is `context`, and returns its path.
    pub fn write_kubeconfig(&self, dir: &Path, context: &str) -> PathBuf {
        let path = dir.join(format!("kubeconfig-{context}"));
        write_kubeconfig(&path, &self.url(), context, TEST_TOKEN).expect("writing the kubeconfig");
        path
    }

    /// Adds or replaces an object while the server runs: it gets the next resourceVersion,
    /// and open watches of its kind receive `ADDED` or `MODIFIED`. Returns the version.
    pub fn add_object(&self, object: Value) -> u64 {
        let mut inner = lock(&self.shared.inner);
        let change = insert_object(&mut inner, object, false);
        let version = inner.version;
        if let Some(change) = change {
            // Sent under the lock, so a watch starting now sees it once: in its replay or live.
            let _ = self.shared.signals.send(Signal::Change(change));
        }
        version
    }

    /// Removes an object (by group, kind, namespace, name); later GETs answer 404 and open
    /// watches receive `DELETED`.
    pub fn remove_object(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) {
        let key = (
            group.to_owned(),
            kind.to_owned(),
            namespace.map(str::to_owned),
            name.to_owned(),
        );
        let mut inner = lock(&self.shared.inner);
        if let Some(mut object) = inner.objects.remove(&key) {
            inner.version += 1;
            let version = inner.version;
            object["metadata"]["resourceVersion"] = json!(version.to_string());
            let change = Change {
                version,
                kind_of_change: "DELETED",
                group: key.0,
                kind: key.1,
                namespace: key.2,
                object,
            };
            inner.log.push(change.clone());
            let _ = self.shared.signals.send(Signal::Change(change));
        }
    }

    /// The object as stored (with its resourceVersion), if any.
    pub fn object(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let key = (
            group.to_owned(),
            kind.to_owned(),
            namespace.map(str::to_owned),
            name.to_owned(),
        );
        lock(&self.shared.inner).objects.get(&key).cloned()
    }

    /// The latest resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.inner).version
    }

    /// Cuts every open watch stream, as a dropped connection (no final chunk).
    pub fn drop_watches(&self) {
        let _ = self.shared.signals.send(Signal::Cut);
    }

    /// Forgets the event log up to now: a watch resuming from an older version is answered
    /// `410 Expired` and must list again.
    pub fn compact(&self) {
        let mut inner = lock(&self.shared.inner);
        inner.compacted = inner.version + 1;
        inner.log.clear();
    }

    /// Compacts, then sends `ERROR 410 Expired` on every open watch and ends it.
    pub fn expire_watches(&self) {
        self.compact();
        let _ = self.shared.signals.send(Signal::Expire);
    }

    /// Sends a `BOOKMARK` at the current version on every open watch.
    pub fn bookmark(&self) {
        let version = self.resource_version();
        let _ = self.shared.signals.send(Signal::Bookmark(version));
    }

    /// How many watch streams are open.
    pub fn open_watches(&self) -> usize {
        *self.shared.open_watches.borrow()
    }

    /// Waits until at least `count` watch streams are open.
    pub async fn wait_for_watches(&self, count: usize) {
        let mut open = self.shared.open_watches.subscribe();
        open.wait_for(|open| *open >= count)
            .await
            .expect("the server keeps the watch counter");
    }

    /// Stops serving (open watches are cut, connections refused) for `down`, then serves
    /// again on the same port with the same objects; with `compact`, versions from before
    /// the restart are gone (as after an etcd compaction) and resuming watches get `410`.
    pub async fn restart(&mut self, down: std::time::Duration, compact: bool) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = self.shared.signals.send(Signal::Cut);
        tokio::time::sleep(down).await;
        if compact {
            self.compact();
        }
        let listener = bind(self.addr);
        self.shutdown = Some(spawn_server(listener, Arc::clone(&self.shared)));
    }

    /// Answers 403 Forbidden to GET and LIST of `resource` (`plural.group`, e.g.
    /// `deployments.apps`, or `configmaps`) in `namespace` (`None`: everywhere, including the
    /// cluster scope), with the API server's usual message.
    pub fn forbid(&self, resource: &str, namespace: Option<&str>) {
        self.fail(resource, namespace, 403);
    }

    /// Answers `code` (a `Status` with the usual reason) to GET and LIST of `resource` in
    /// `namespace`.
    pub fn fail(&self, resource: &str, namespace: Option<&str>, code: u16) {
        lock(&self.shared.inner).errors.push(ErrorRule {
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
            code,
        });
    }

    /// Removes every rule installed by [`forbid`](Self::forbid) and [`fail`](Self::fail).
    pub fn clear_failures(&self) {
        lock(&self.shared.inner).errors.clear();
    }

    /// Holds every request from now on until [`release`](Self::release).
    pub fn hold(&self) {
        self.hold_matching(|_| true);
    }

    /// Holds the requests for which `filter` is true (e.g. only resource paths, letting
    /// discovery through) until [`release`](Self::release).
    pub fn hold_matching(&self, filter: impl Fn(&RecordedRequest) -> bool + Send + Sync + 'static) {
        *lock(&self.shared.hold_filter) = Some(Arc::new(filter));
        self.shared
            .hold_state
            .send_modify(|state| state.holding = true);
    }

    /// Lets every held request continue and stops holding new ones.
    pub fn release(&self) {
        *lock(&self.shared.hold_filter) = None;
        self.shared.hold_state.send_modify(|state| {
            state.holding = false;
            state.generation += 1;
        });
    }

    /// How many requests are blocked right now.
    pub fn held_count(&self) -> usize {
        *self.shared.held.borrow()
    }

    /// Waits until at least `count` requests are blocked (a client is mid-request).
    pub async fn wait_for_held(&self, count: usize) {
        let mut held = self.shared.held.subscribe();
        held.wait_for(|held| *held >= count)
            .await
            .expect("the server keeps the hold counter");
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// `METHOD PATH` of every request received so far.
    pub fn request_lines(&self) -> Vec<String> {
        self.requests().iter().map(RecordedRequest::line).collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }
}

/// Writes a kubeconfig with one cluster (`server`, plain HTTP is fine), one token user and
/// one context named `context`, which is the current context.
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    context: &str,
    token: &str,
) -> std::io::Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: statesight-test\n  cluster:\n    server: {server}\n\
         contexts:\n- name: {context:?}\n  context:\n    cluster: statesight-test\n    user: statesight-test\n\
         current-context: {context:?}\nusers:\n- name: statesight-test\n  user:\n    token: {token:?}\n"
    );
    std::fs::write(path, text)
}

/// Stores `object` under the next resourceVersion and logs the change; `None` for an object
/// without a name (not stored). With `keep_version` (objects given at start), the object's
/// own resourceVersion, or its lack of one, is kept: captured fixtures are served as
/// captured.
fn insert_object(inner: &mut Inner, mut object: Value, keep_version: bool) -> Option<Change> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let api_version = text(object.get("apiVersion")).unwrap_or_default();
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g.to_owned())
        .unwrap_or_default();
    let kind = text(object.get("kind")).unwrap_or_default();
    let metadata = object.get("metadata");
    let namespace = text(metadata.and_then(|m| m.get("namespace")));
    let name = text(metadata.and_then(|m| m.get("name")))?;
    if let Some(ns) = &namespace {
        inner.namespaces.insert(ns.clone());
    }
    if group.is_empty() && kind == "Namespace" {
        inner.namespaces.insert(name.clone());
    }
    inner.version += 1;
    let version = inner.version;
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        // Objects given at start are served exactly as given (collection tests compare
        // them byte for byte); every change made while running gets the next version.
        if !keep_version {
            metadata.insert("resourceVersion".to_owned(), json!(version.to_string()));
        }
    }
    let key = (group.clone(), kind.clone(), namespace.clone(), name);
    let existed = inner.objects.insert(key, object.clone()).is_some();
    let change = Change {
        version,
        kind_of_change: if existed { "MODIFIED" } else { "ADDED" },
        group,
        kind,
        namespace,
        object,
    };
    inner.log.push(change.clone());
    Some(change)
}

struct HeldGuard<'a>(&'a Shared);

impl<'a> HeldGuard<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.held.send_modify(|held| *held += 1);
        HeldGuard(shared)
    }
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        // Also runs when the client gives up and the connection's future is dropped.
        self.0
            .held
            .send_modify(|held| *held = held.saturating_sub(1));
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    lock(&shared.requests).push(request.clone());

    let filter = lock(&shared.hold_filter).clone();
    if filter.is_some_and(|filter| filter(&request)) {
        let _guard = HeldGuard::new(&shared);
        let mut state = shared.hold_state.subscribe();
        let entered = *state.borrow();
        if entered.holding {
            let _ = state
                .wait_for(|now| !now.holding || now.generation != entered.generation)
                .await;
        }
    }

    let inner = lock(&shared.inner);
    if let Some(expected) = &inner.token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if presented != Some(format!("Bearer {expected}").as_str()) {
            return status(401, "Unauthorized", "Unauthorized", json!({}));
        }
    }
    if method != Method::GET {
        let message =
            format!("the server does not allow this method on the requested resource ({method})");
        return status(405, "MethodNotAllowed", &message, json!({}));
    }
    if let Some(watch) = WatchQuery::parse(uri.query()) {
        return start_watch(&shared, inner, uri.path(), watch);
    }
    route(&inner, uri.path())
}

/// The query of a watch request.
struct WatchQuery {
    from: u64,
    timeout: std::time::Duration,
}

impl WatchQuery {
    fn parse(query: Option<&str>) -> Option<Self> {
        let mut watch = false;
        let mut from = 0;
        let mut timeout = std::time::Duration::from_secs(1800);
        for pair in query?.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "watch" => watch = matches!(value, "1" | "true"),
                "resourceVersion" => from = value.parse().unwrap_or(0),
                "timeoutSeconds" => {
                    timeout = std::time::Duration::from_secs(value.parse().unwrap_or(1800));
                }
                _ => {}
            }
        }
        watch.then_some(WatchQuery { from, timeout })
    }
}

fn watch_line(kind_of_change: &str, object: &Value) -> String {
    let mut line = json!({"type": kind_of_change, "object": object}).to_string();
    line.push('\n');
    line
}

fn expired_line(message: &str) -> String {
    watch_line(
        "ERROR",
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": "Expired", "code": 410}),
    )
}

/// Answers a watch: the logged changes after `from`, then live ones, until the timeout, a
/// cut or an expiry. The inner lock is held while the replay is taken and the live feed is
/// subscribed, so no change falls between them.
fn start_watch(
    shared: &Arc<Shared>,
    inner: MutexGuard<'_, Inner>,
    path: &str,
    query: WatchQuery,
) -> Response {
    let Some((resource, namespace)) = collection_of(&inner, path) else {
        return not_found_path();
    };
    let matches = {
        let (group, kind, namespace) = (
            resource.group.clone(),
            resource.kind.clone(),
            namespace.clone(),
        );
        move |change: &Change| {
            change.group == group
                && change.kind == kind
                && (namespace.is_none() || change.namespace == namespace)
        }
    };
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(64);
    let mut initial: Vec<String> = Vec::new();
    let expired = query.from != 0 && query.from < inner.compacted;
    if expired {
        initial.push(expired_line(&format!(
            "too old resource version: {} ({})",
            query.from, inner.compacted
        )));
    } else {
        initial.extend(
            inner
                .log
                .iter()
                .filter(|change| change.version > query.from && matches(change))
                .map(|change| watch_line(change.kind_of_change, &change.object)),
        );
    }
    let mut signals = shared.signals.subscribe();
    let api_version = resource.group_version();
    let kind = resource.kind.clone();
    drop(inner);
    let open = shared.open_watches.clone();
    tokio::spawn(async move {
        open.send_modify(|n| *n += 1);
        let deadline = tokio::time::sleep(query.timeout);
        tokio::pin!(deadline);
        let mut alive = true;
        for line in initial {
            alive &= lines_tx.send(Ok(line)).await.is_ok();
        }
        while alive && !expired {
            let line = tokio::select! {
                () = &mut deadline => break,
                signal = signals.recv() => match signal {
                    Ok(Signal::Change(change)) if matches(&change) => {
                        watch_line(change.kind_of_change, &change.object)
                    }
                    Ok(Signal::Change(_)) => continue,
                    Ok(Signal::Bookmark(version)) => watch_line(
                        "BOOKMARK",
                        &json!({"apiVersion": api_version, "kind": kind,
                            "metadata": {"resourceVersion": version.to_string()}}),
                    ),
                    Ok(Signal::Expire) => {
                        let _ = lines_tx.send(Ok(expired_line("the watch expired"))).await;
                        break;
                    }
                    Ok(Signal::Cut) | Err(broadcast::error::RecvError::Closed) => {
                        let _ = lines_tx
                            .send(Err(std::io::Error::other("connection cut by the test")))
                            .await;
                        break;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = lines_tx.send(Err(std::io::Error::other("lagged"))).await;
                        break;
                    }
                },
            };
            alive = lines_tx.send(Ok(line)).await.is_ok();
        }
        open.send_modify(|n| *n = n.saturating_sub(1));
    });
    let body = futures::stream::poll_fn(move |cx| lines_rx.poll_recv(cx));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

/// The resource type and namespace of a collection path (`…/namespaces/NS/PLURAL`).
fn collection_of<'a>(inner: &'a Inner, path: &str) -> Option<(&'a ServedResource, Option<String>)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (namespace, plural) = match rest {
        ["namespaces", ns, plural] => (Some((*ns).to_owned()), *plural),
        [plural] => (None, *plural),
        _ => return None,
    };
    let resource = inner.resources.iter().find(|r| {
        r.group == group && r.version == version && r.plural == plural && !r.is_subresource()
    })?;
    Some((resource, namespace.filter(|_| resource.namespaced)))
}

fn json_response(code: u16, body: &Value) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body.to_string()),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    json_response(200, &body)
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if details.as_object().is_some_and(|d| !d.is_empty()) {
        body["details"] = details;
    }
    json_response(code, &body)
}

fn not_found_path() -> Response {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        json!({}),
    )
}

fn route(inner: &Inner, path: &str) -> Response {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => ok(json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.0-statesight-test",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
            "platform": "linux/amd64"
        })),
        ["api"] => ok(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]
        })),
        ["apis"] => ok(group_list(inner)),
        ["api", "v1"] => ok(resource_list(inner, "", "v1")),
        ["apis", group] => match group_entry(inner, group) {
            Some(entry) => ok(json!({"kind": "APIGroup", "apiVersion": "v1",
                "name": entry["name"], "versions": entry["versions"], "preferredVersion": entry["preferredVersion"]})),
            None => not_found_path(),
        },
        ["apis", group, version] => {
            if inner
                .resources
                .iter()
                .any(|r| r.group == *group && r.version == *version)
            {
                ok(resource_list(inner, group, version))
            } else {
                not_found_path()
            }
        }
        ["api", "v1", rest @ ..] => resource_request(inner, "", "v1", rest),
        ["apis", group, version, rest @ ..] => resource_request(inner, group, version, rest),
        _ => not_found_path(),
    }
}

/// Group names in first-seen order, with versions in first-seen order (the first is the
/// preferred one).
fn groups(inner: &Inner) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for resource in inner.resources.iter().filter(|r| !r.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == resource.group) {
            Some((_, versions)) => {
                if !versions.contains(&resource.version) {
                    versions.push(resource.version.clone());
                }
            }
            None => out.push((resource.group.clone(), vec![resource.version.clone()])),
        }
    }
    out
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let version_entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": version_entries,
        "preferredVersion": version_entries.first().cloned().unwrap_or(Value::Null),
    })
}

fn group_entry(inner: &Inner, group: &str) -> Option<Value> {
    groups(inner)
        .into_iter()
        .find(|(g, _)| g == group)
        .map(|(g, versions)| group_json(&g, &versions))
}

fn group_list(inner: &Inner) -> Value {
    let groups: Vec<Value> = groups(inner)
        .iter()
        .map(|(g, versions)| group_json(g, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(inner: &Inner, group: &str, version: &str) -> Value {
    let resources: Vec<Value> = inner
        .resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| {
            let mut entry = json!({
                "name": r.plural,
                "singularName": if r.is_subresource() { String::new() } else { r.singular() },
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": if r.is_subresource() { json!(["get"]) } else { json!(["get", "list", "watch"]) },
            });
            if !r.short_names.is_empty() {
                entry["shortNames"] = json!(r.short_names);
            }
            entry
        })
        .collect();
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

/// `…/PLURAL`, `…/PLURAL/NAME`, `…/namespaces/NS/PLURAL`, `…/namespaces/NS/PLURAL/NAME`.
fn resource_request(inner: &Inner, group: &str, version: &str, rest: &[&str]) -> Response {
    let find = |plural: &str| {
        inner.resources.iter().find(|r| {
            r.group == group && r.version == version && r.plural == plural && !r.is_subresource()
        })
    };
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return not_found_path(),
    };
    let Some(resource) = find(plural) else {
        return not_found_path();
    };
    // A namespace in the URL of a cluster-scoped type is not a valid path.
    if namespace.is_some() && !resource.namespaced {
        return not_found_path();
    }
    let verb = if name.is_some() { "get" } else { "list" };
    if let Some(rule) = inner.errors.iter().find(|rule| {
        rule.resource == resource.label()
            && (rule.namespace.is_none() || rule.namespace.as_deref() == namespace)
    }) {
        return failure(inner, resource, verb, namespace, name, rule.code);
    }
    match name {
        Some(name) => get_object(inner, resource, namespace, name),
        None => list_objects(inner, resource, namespace),
    }
}

fn failure(
    inner: &Inner,
    resource: &ServedResource,
    verb: &str,
    namespace: Option<&str>,
    name: Option<&str>,
    code: u16,
) -> Response {
    let label = resource.label();
    let mut details = json!({"group": resource.group, "kind": resource.plural});
    if let Some(name) = name {
        details["name"] = json!(name);
    }
    match code {
        403 => {
            let subject = match name {
                Some(name) => format!("{label} {name:?}"),
                None => label.clone(),
            };
            let scope = match namespace {
                Some(ns) => format!("in the namespace {ns:?}"),
                None => "at the cluster scope".to_owned(),
            };
            let message = format!(
                "{subject} is forbidden: User {:?} cannot {verb} resource {:?} in API group {:?} {scope}",
                inner.user, resource.plural, resource.group
            );
            status(403, "Forbidden", &message, details)
        }
        429 => status(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
            details,
        ),
        500 => status(
            500,
            "InternalError",
            "Internal error occurred: injected by the test",
            details,
        ),
        503 => status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            details,
        ),
        504 => status(
            504,
            "Timeout",
            "the server was unable to return a response in the time allotted",
            details,
        ),
        401 => status(401, "Unauthorized", "Unauthorized", json!({})),
        code => status(code, "BadRequest", "injected by the test", details),
    }
}

fn stored<'a>(
    inner: &'a Inner,
    resource: &ServedResource,
    namespace: Option<&str>,
) -> impl Iterator<Item = (&'a str, &'a Value)> {
    let group = resource.group.clone();
    let kind = resource.kind.clone();
    let namespace = namespace.map(str::to_owned);
    let namespaced = resource.namespaced;
    inner
        .objects
        .iter()
        .filter_map(move |((g, k, ns, name), object)| {
            let in_scope = if namespaced {
                namespace.is_none() || *ns == namespace
            } else {
                true
            };
            (*g == group && *k == kind && in_scope).then_some((name.as_str(), object))
        })
}

fn namespace_object(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

fn get_object(
    inner: &Inner,
    resource: &ServedResource,
    namespace: Option<&str>,
    name: &str,
) -> Response {
    if resource.group.is_empty() && resource.kind == "Namespace" {
        let given = stored(inner, resource, None)
            .find(|(n, _)| *n == name)
            .map(|(_, o)| o.clone());
        if let Some(object) = given.or_else(|| {
            inner
                .namespaces
                .contains(name)
                .then(|| namespace_object(name))
        }) {
            return ok(object);
        }
    } else if let Some((_, object)) = stored(inner, resource, namespace).find(|(n, _)| *n == name) {
        return ok(object.clone());
    }
    let message = format!("{} {name:?} not found", resource.label());
    status(
        404,
        "NotFound",
        &message,
        json!({"name": name, "group": resource.group, "kind": resource.plural}),
    )
}

fn list_objects(inner: &Inner, resource: &ServedResource, namespace: Option<&str>) -> Response {
    let mut items: Vec<Value> = if resource.group.is_empty() && resource.kind == "Namespace" {
        let given: BTreeMap<&str, &Value> = stored(inner, resource, None).collect();
        inner
            .namespaces
            .iter()
            .map(|name| {
                given
                    .get(name.as_str())
                    .map_or_else(|| namespace_object(name), |o| (*o).clone())
            })
            .collect()
    } else {
        stored(inner, resource, namespace)
            .map(|(_, object)| object.clone())
            .collect()
    };
    for item in &mut items {
        if let Value::Object(map) = item {
            map.remove("apiVersion");
            map.remove("kind");
        }
    }
    ok(json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.group_version(),
        "metadata": {"resourceVersion": inner.version.to_string()},
        "items": items,
    }))
}
