//! The tui's integration test harness: a real StateSight server served in-process on a
//! loopback TCP port (over a fresh `#[sqlx::test]` database), the real OpenID provider of
//! `tests/oidc-provider` (see [`provider`]), and the real `statesight-tui` binary run in a
//! clean environment with its own config directory.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub mod provider;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use statesight_server::auth::Authenticator;
use statesight_server::oidc::{OidcSettings, OidcVerifier};
use statesight_server::state::PublicAuthConfig;
use statesight_server::{AppState, app};
use statesight_store::seed::{self, ExampleLocation};
use tokio::process::{Child, Command};
use uuid::Uuid;

use provider::{AUDIENCE, CONSOLE_CLIENT, TestProvider};

pub const PAYMENTS: Uuid = seed::PAYMENTS_WORKSPACE_ID;
pub const PLATFORM: Uuid = seed::PLATFORM_WORKSPACE_ID;
/// Seeded users: Vera is viewer of acme-payments and editor of acme-platform.
pub const VERA: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000202);
/// Ada is admin of acme-payments.
pub const ADA: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000204);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| String::from("redis://127.0.0.1:6379"))
}

/// The seed's rows (workspaces, users, memberships, clusters, sources, applications, rules),
/// without repositories or analyses.
pub async fn seed_rows(pool: &PgPool) {
    seed::run(
        pool,
        &ExampleLocation {
            examples_dir: String::from("/nonexistent/examples"),
            repos_dir: String::from("/nonexistent/repos"),
        },
    )
    .await
    .expect("seeding the test database");
}

/// A server answering on `http://127.0.0.1:<port>/`, served by this test's runtime.
pub struct TestServer {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn serve(state: AppState) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let router = app(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        TestServer {
            url: format!("http://127.0.0.1:{port}/"),
            task,
        }
    }

    /// Demo mode (`AUTH_REQUIRED=false`): every caller is the seeded demo user.
    pub async fn demo(pool: &PgPool) -> TestServer {
        let redis = statesight_store::redis_conn::client(&redis_url()).expect("redis url");
        TestServer::serve(AppState::new(
            pool.clone(),
            redis,
            Authenticator::Demo,
            PublicAuthConfig::default(),
        ))
        .await
    }

    /// `AUTH_REQUIRED=true` against `provider`: bearer tokens verified, identities mapped to
    /// users, and `/api/v1/auth/config` publishing what the console needs to sign in.
    pub async fn oidc(pool: &PgPool, provider: &TestProvider) -> TestServer {
        TestServer::oidc_trusting(pool, provider, None).await
    }

    /// [`TestServer::oidc`] for an HTTPS provider whose certificate `ca_bundle` vouches for.
    pub async fn oidc_trusting(
        pool: &PgPool,
        provider: &TestProvider,
        ca_bundle: Option<PathBuf>,
    ) -> TestServer {
        let settings = OidcSettings {
            issuer: provider.issuer.clone(),
            audience: AUDIENCE.to_owned(),
            client_id: Some(CONSOLE_CLIENT.to_owned()),
            allow_insecure: ca_bundle.is_none(),
            ca_bundle,
            leeway: Duration::from_secs(0),
            min_key_refresh: Duration::from_millis(500),
            key_max_age: statesight_server::oidc::DEFAULT_KEY_MAX_AGE,
            scopes: vec![String::from("openid"), String::from("offline_access")],
            audience_parameter: statesight_core::wire::AudienceParameter::Resource,
        };
        let public = PublicAuthConfig {
            auth_required: true,
            issuer: Some(settings.issuer.clone()),
            audience: Some(settings.audience.clone()),
            client_id: settings.client_id.clone(),
            scopes: settings.scopes.clone(),
            audience_parameter: Some(settings.audience_parameter),
        };
        let verifier = OidcVerifier::discover(settings)
            .await
            .expect("the server discovers the test provider");
        let redis = statesight_store::redis_conn::client(&redis_url()).expect("redis url");
        TestServer::serve(AppState::new(
            pool.clone(),
            redis,
            Authenticator::Oidc(Arc::new(verifier)),
            public,
        ))
        .await
    }
}

/// Maps `(issuer, subject)` to the seeded user `user`.
pub async fn provision(pool: &PgPool, issuer: &str, subject: &str, user: Uuid) {
    statesight_store::provisioning::add_identity(pool, issuer, subject, &user.to_string())
        .await
        .expect("provisioning an identity");
}

/// A port nothing listens on.
pub async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    listener.local_addr().expect("local address").port()
}

/// The `statesight-tui` binary, run with a clean environment: its own `HOME` and config
/// directory, no D-Bus session, no display (so no browser), no proxy, no `STATESIGHT_*`
/// variable but those a test sets.
pub struct Tui {
    pub home: tempfile::TempDir,
    pub config_dir: PathBuf,
    pub server: String,
    env: Vec<(String, String)>,
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn from_output(output: Output, elapsed: Duration) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed,
        }
    }

    /// Asserts the exit code, showing everything printed when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}):\n{}", self.stdout))
    }
}

/// The real binary. Under nextest the path it gives at run time is used (it follows a build
/// reused from an archive, e.g. `cargo nextest archive` then `run --archive-file`); otherwise
/// the one cargo built next to this test.
pub fn bin() -> PathBuf {
    [
        "NEXTEST_BIN_EXE_statesight-tui",
        "NEXTEST_BIN_EXE_statesight_tui",
    ]
    .iter()
    .find_map(std::env::var_os)
    .map(PathBuf::from)
    .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_statesight-tui")))
}

impl Tui {
    pub fn new(server: &str) -> Tui {
        let home = tempfile::tempdir().expect("temporary home");
        let config_dir = home.path().join(".config/statesight");
        Tui {
            home,
            config_dir,
            server: server.to_owned(),
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every run.
    pub fn env(mut self, name: &str, value: &str) -> Tui {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The binary with `args`, in the clean environment, `--server` first.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bin());
        self.prepare(&mut command);
        command.arg("--server").arg(&self.server).args(args);
        command
    }

    /// The binary without `--server` (config file or environment tests).
    pub fn command_bare(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bin());
        self.prepare(&mut command);
        command.args(args);
        command
    }

    fn prepare(&self, command: &mut Command) {
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("STATESIGHT_CONFIG_DIR", &self.config_dir)
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in &self.env {
            command.env(name, value);
        }
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        finish(self.command(args), args).await
    }

    pub async fn run_bare(&self, args: &[&str]) -> Run {
        finish(self.command_bare(args), args).await
    }

    /// Starts `args` (typically `login`) and returns the running process.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("starting statesight-tui")
    }

    /// The binary with `args` inside a D-Bus session of its own (`dbus-run-session`) whose
    /// GNOME Keyring is started and unlocked first, as on a desktop after login. The keyring
    /// files live in this `HOME`, so every such session sees what earlier ones stored.
    pub fn command_in_keyring_session(&self, args: &[&str]) -> Command {
        let mut command = Command::new("dbus-run-session");
        self.prepare(&mut command);
        command
            .args(["--", "sh", "-c"])
            .arg(
                "printf %s statesight-test | gnome-keyring-daemon --unlock --components=secrets \
                 >/dev/null 2>&1; exec \"$@\"",
            )
            .arg("sh")
            .arg(bin())
            .arg("--server")
            .arg(&self.server)
            .args(args);
        command
    }
}

pub async fn finish(mut command: Command, args: &[&str]) -> Run {
    let started = std::time::Instant::now();
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("statesight-tui {args:?} did not finish within 120 s"))
        .expect("running statesight-tui");
    Run::from_output(output, started.elapsed())
}

/// A `login` running in the background, its user code read from the first line of its
/// stdout (a pipe: no terminal, hence no QR code and no colour).
pub struct Login {
    pub code: String,
    child: Child,
    first: String,
    stdout: tokio::task::JoinHandle<Vec<String>>,
    stderr: tokio::task::JoinHandle<String>,
    started: std::time::Instant,
}

impl Login {
    /// Starts `statesight-tui <args>` and reads the code, which must be on the FIRST line.
    pub async fn start(tui: &Tui, args: &[&str]) -> Login {
        Login::start_command(tui.command(args)).await
    }

    /// [`Login::start`] for a prepared command.
    pub async fn start_command(mut command: Command) -> Login {
        use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};
        let started = std::time::Instant::now();
        let mut child = command.spawn().expect("starting statesight-tui");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = match tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => {
                let _ = child.kill().await;
                let errors = stderr.await.unwrap_or_default();
                panic!("login printed no first line ({other:?}); stderr:\n{errors}");
            }
        };
        let code = first
            .strip_prefix("Your one-time code: ")
            .unwrap_or_else(|| panic!("the first line does not show the code: {first:?}"))
            .trim()
            .to_owned();
        // Keep reading so the process never blocks on a full pipe.
        let stdout = tokio::spawn(async move {
            let mut rest = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                rest.push(line);
            }
            rest
        });
        Login {
            code,
            child,
            first,
            stdout,
            stderr,
            started,
        }
    }

    /// Waits for the process to end; `elapsed` counts from the start.
    pub async fn finish(mut self) -> Run {
        let status = tokio::time::timeout(Duration::from_secs(120), self.child.wait())
            .await
            .expect("login did not finish within 120 s")
            .expect("waiting for login");
        let mut lines = vec![self.first];
        lines.extend(self.stdout.await.unwrap_or_default());
        Run {
            code: status.code(),
            stdout: lines.join("\n"),
            stderr: self.stderr.await.unwrap_or_default(),
            elapsed: self.started.elapsed(),
        }
    }
}

/// The demo as `make demo` builds it: the seed, the example repositories, and every demo
/// analysis performed by a real worker in this process (requested through the queue, under a
/// Redis prefix of this test's own), so incidents and findings are the engine's output. The
/// returned directory holds the repositories: keep it alive while the data is used.
pub async fn seed_and_analyse(pool: &PgPool) -> tempfile::TempDir {
    let data = tempfile::tempdir().expect("temporary data dir");
    let examples = repo_root()
        .join("examples")
        .canonicalize()
        .expect("examples dir");
    let policy = statesight_core::source::InputPolicy::new(
        true,
        "/etc/statesight/kubeconfigs",
        &examples.display().to_string(),
        None,
    )
    .expect("input policy");
    statesight_server::seed::run(pool, &examples, data.path(), Path::new("git"), &policy)
        .await
        .expect("seeding the examples");
    let prefix = format!("statesight-tui-test-{}", Uuid::new_v4());
    let queue = statesight_store::queue::Queue::new(
        statesight_store::redis_conn::client(&redis_url()).expect("redis url"),
        prefix.clone(),
    );
    let settings = statesight_worker::settings::Settings {
        database_url: String::new(),
        redis_url: redis_url(),
        redis_key_prefix: prefix.clone(),
        git_bin: PathBuf::from("git"),
        git_cache_dir: data.path().join("git-cache"),
        kubectl_bin: PathBuf::from("kubectl"),
        allow_synthetic_live_state: false,
        concurrency: 2,
        analysis_interval: None,
        metrics_addr: "127.0.0.1:0".parse().expect("address"),
        worker_id: format!("tui-test-{prefix}"),
        max_attempts: 3,
        retry_base: Duration::from_millis(100),
        job_timeout: Duration::from_secs(60),
        lease_renew: Duration::from_secs(1),
        retention_days: 30,
        watch: statesight_worker::settings::WatchSettings {
            enabled: false,
            debounce: std::time::Duration::from_millis(250),
            lease: std::time::Duration::from_secs(15),
        },
        inputs: statesight_worker::settings::InputPolicy::new(true, "/", "/", None)
            .expect("input policy"),
        bookkeeping_keys: statesight_core::bookkeeping::default_bookkeeping_keys(),
        secret_digester: statesight_core::secret::SecretDigester::parse(
            "test:5ec2e7d16e57d16e57d16e57d16e57d16e57d16e57d16e57d16e57d16e57d1ab",
        )
        .expect("test digest key"),
        notify: statesight_worker::notify::NotifySettings::default(),
    };
    let worker = statesight_worker::runtime::Worker::new(pool.clone(), queue.clone(), settings);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move { worker.run(stopped).await });
    let outcome =
        statesight_server::seed::analyse_examples(pool, &queue, Duration::from_secs(180)).await;
    let _ = stop.send(true);
    let _ = running.await;
    remove_redis_keys(&prefix).await;
    outcome.expect("every demo analysis succeeds");
    data
}

/// Deletes the Redis keys under `prefix` with `redis-cli` when it is installed (the tui has
/// no Redis client of its own); the keys are few and uniquely named when it is not.
async fn remove_redis_keys(prefix: &str) {
    let url = redis_url();
    let Ok(listed) = Command::new("redis-cli")
        .args(["-u", &url, "--scan", "--pattern", &format!("{prefix}:*")])
        .stderr(Stdio::null())
        .output()
        .await
    else {
        return;
    };
    let keys: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    if !keys.is_empty() {
        let _ = Command::new("redis-cli")
            .args(["-u", &url, "del"])
            .args(&keys)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
}

/// A test CA (`ca.pem`) and a certificate for `localhost` and 127.0.0.1 it signed
/// (`server.pem`, `server.key`), made in `dir` with the `openssl` command.
pub fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("running openssl (apt-get install openssl)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    )
    .expect("writing the extensions");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=statesight-tui test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-days",
        "1",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-extfile",
        "leaf.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}
