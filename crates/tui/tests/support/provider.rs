//! The real OpenID provider of `tests/oidc-provider` (npm `oidc-provider`, installed by
//! `scripts/oidc-provider.sh install`, which `make test` runs), started per test on loopback
//! and gone when dropped (it also exits when its stdin closes, so it never outlives the test).
//! Its `/test/…` endpoints approve or deny device codes, force `slow_down` and count requests.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, ChildStdin, Command};

use super::repo_root;

pub const AUDIENCE: &str = "https://statesight.test/api";
pub const CONSOLE_CLIENT: &str = "statesight-console";

pub struct TestProvider {
    pub issuer: String,
    child: Child,
    // Held open: the provider exits when its stdin closes.
    _stdin: ChildStdin,
    http: reqwest::Client,
}

impl TestProvider {
    pub async fn start() -> TestProvider {
        TestProvider::start_with(&[]).await
    }

    /// Starts the provider with extra options (`--device-interval 1`, `--access-token-ttl 4`,
    /// `--device-code-ttl 3`, …). A provider that has not said it is ready within 30 s is
    /// killed and started once more: on a loaded machine a Node.js start has been seen to
    /// stall, and waiting longer would only hold the test until its time limit.
    pub async fn start_with(extra: &[&str]) -> TestProvider {
        let dir = repo_root().join("tests/oidc-provider");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test OpenID provider is not installed: run `scripts/oidc-provider.sh install` \
             (make test does); it needs Node.js 20+ and npm"
        );
        for attempt in 1..=2 {
            match TestProvider::spawn(&dir, extra).await {
                Ok(provider) => return provider,
                Err(reason) if attempt == 1 => {
                    eprintln!("the test provider did not start ({reason}); starting it again");
                }
                Err(reason) => panic!("the test provider did not start twice: {reason}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    async fn spawn(dir: &std::path::Path, extra: &[&str]) -> Result<TestProvider, String> {
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .args(["--port", "0", "--audience", AUDIENCE])
            .args(extra)
            // Every request and grant error on stderr, for debugging a test.
            .args(std::env::var_os("STATESIGHT_TEST_PROVIDER_VERBOSE").map(|_| "--verbose"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting node (is Node.js 20+ installed?)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = match tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            outcome => {
                let _ = child.kill().await;
                return Err(match outcome {
                    Err(_) => String::from("no ready line within 30 s"),
                    Ok(Ok(None)) => String::from("it exited before printing its ready line"),
                    Ok(Err(error)) => format!("reading its first line: {error}"),
                    Ok(Ok(Some(_))) => unreachable!("matched above"),
                });
            }
        };
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("the provider printed {line:?}: {error}"));
        let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
        statesight_tui::client::ensure_crypto_provider();
        Ok(TestProvider {
            issuer,
            child,
            _stdin: stdin,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
        })
    }

    /// The harness's own requests trust `ca` (an HTTPS provider with a test CA).
    pub fn trusting(mut self, ca: &std::path::Path) -> TestProvider {
        let pem = std::fs::read(ca).expect("reading the CA");
        self.http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem).expect("a PEM CA"))
            .build()
            .expect("HTTP client");
        self
    }

    async fn post_test(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("POST to the provider's test endpoint");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Approves `user_code` as `account`.
    pub async fn approve(&self, user_code: &str, account: &str) {
        let (status, body) = self
            .post_test(
                "/test/device/approve",
                json!({ "user_code": user_code, "account_id": account }),
            )
            .await;
        assert_eq!(status, 200, "approving {user_code}: {body}");
    }

    /// Answers the approval of `user_code` (status and body), without asserting.
    pub async fn try_approve(&self, user_code: &str, account: &str) -> (u16, Value) {
        self.post_test(
            "/test/device/approve",
            json!({ "user_code": user_code, "account_id": account }),
        )
        .await
    }

    pub async fn deny(&self, user_code: &str) {
        let (status, body) = self
            .post_test("/test/device/deny", json!({ "user_code": user_code }))
            .await;
        assert_eq!(status, 200, "denying {user_code}: {body}");
    }

    /// The next `times` device-code polls answer `slow_down`.
    pub async fn slow_down(&self, times: u32) {
        let (status, body) = self
            .post_test("/test/device/slow-down", json!({ "times": times }))
            .await;
        assert_eq!(status, 200, "arming slow_down: {body}");
    }

    /// Requests to the token endpoint since start (or the last reset).
    pub async fn token_requests(&self) -> u64 {
        let stats: Value = self
            .http
            .get(format!("{}/test/stats", self.issuer))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON");
        stats["token_requests"].as_u64().expect("token_requests")
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
