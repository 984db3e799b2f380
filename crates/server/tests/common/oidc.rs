//! A real OpenID provider for tests: `tests/oidc-provider` (npm `oidc-provider`, installed by
//! `scripts/oidc-provider.sh install`, which `make test` runs), started on loopback per test
//! and stopped when dropped. Tokens come from its real endpoints (device authorization and
//! client credentials); its `/test/…` endpoints approve device codes, rotate keys, count
//! key-set requests and sign crafted claims with the provider's real key.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::repo_root;

pub const AUDIENCE: &str = "https://statesight.test/api";
pub const CONSOLE_CLIENT: &str = "statesight-console";
pub const MACHINE_CLIENT: &str = "statesight-ci";
pub const MACHINE_SECRET: &str = "statesight-ci-secret";

pub struct TestProvider {
    pub issuer: String,
    child: Child,
    // Held open: the provider exits when its stdin closes, so a test that dies takes it along.
    _stdin: ChildStdin,
    http: reqwest::Client,
}

/// Tokens from one device-flow sign-in.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

fn provider_dir() -> PathBuf {
    repo_root().join("tests/oidc-provider")
}

impl TestProvider {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts the provider with extra command-line options (`--tls-cert`, …). A provider
    /// that has not said it is ready within 30 s is killed and started once more: on a
    /// loaded machine a Node.js start has been seen to stall, and waiting longer would only
    /// hold the test until its time limit.
    pub async fn start_with(extra: &[&str]) -> Self {
        let dir = provider_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test OpenID provider is not installed: run `scripts/oidc-provider.sh install` \
             (make test does) — it needs Node.js 20+ and npm"
        );
        for attempt in 1..=2 {
            match Self::spawn(&dir, extra).await {
                Ok(provider) => return provider,
                Err(reason) if attempt == 1 => {
                    eprintln!("the test provider did not start ({reason}); starting it again");
                }
                Err(reason) => panic!("the test provider did not start twice: {reason}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    async fn spawn(dir: &std::path::Path, extra: &[&str]) -> Result<Self, String> {
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .args(["--port", "0", "--audience", AUDIENCE])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting node (is Node.js 20+ installed?)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let reading = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = match tokio::time::timeout(Duration::from_secs(30), reading).await {
            Ok(Ok(Ok(line))) if !line.is_empty() => line,
            outcome => {
                // Killed, so the blocked read ends and the runtime can shut down.
                let _ = child.kill();
                let _ = child.wait();
                return Err(match outcome {
                    Err(_) => String::from("no ready line within 30 s"),
                    Ok(Ok(Ok(_))) => String::from("it exited before printing its ready line"),
                    Ok(Ok(Err(error))) => format!("reading its first line: {error}"),
                    Ok(Err(error)) => format!("reading its first line: {error}"),
                });
            }
        };
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("the provider printed {line:?}: {error}"));
        let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
        statesight_server::oidc::ensure_crypto_provider();
        Ok(TestProvider {
            issuer,
            child,
            _stdin: stdin,
            http: test_client(None),
        })
    }

    /// Uses a client trusting `ca_pem` for an HTTPS provider.
    pub fn trusting(mut self, ca_pem: &[u8]) -> Self {
        self.http = test_client(Some(ca_pem));
        self
    }

    pub async fn discovery(&self) -> Value {
        self.get_json(&format!("{}/.well-known/openid-configuration", self.issuer))
            .await
    }

    async fn get_json(&self, url: &str) -> Value {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .expect("GET to the provider");
        assert!(
            response.status().is_success(),
            "GET {url}: {}",
            response.status()
        );
        response.json().await.expect("JSON from the provider")
    }

    async fn post_test(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("POST to the provider's test endpoint");
        assert!(
            response.status().is_success(),
            "POST {path}: {}",
            response.status()
        );
        response.json().await.expect("JSON from the test endpoint")
    }

    /// Signs in as `account` through the device authorization grant, the way the console
    /// does: device code, approval (here by the test endpoint instead of a browser), poll.
    pub async fn device_login(&self, account: &str) -> Tokens {
        let discovery = self.discovery().await;
        let device_endpoint = discovery["device_authorization_endpoint"]
            .as_str()
            .expect("device_authorization_endpoint");
        let token_endpoint = discovery["token_endpoint"]
            .as_str()
            .expect("token_endpoint");
        let device: Value = self
            .http
            .post(device_endpoint)
            .form(&[
                ("client_id", CONSOLE_CLIENT),
                ("scope", "openid offline_access"),
                ("resource", AUDIENCE),
            ])
            .send()
            .await
            .expect("device authorization")
            .json()
            .await
            .expect("device authorization JSON");
        let device_code = device["device_code"].as_str().expect("device_code");
        let pending = self.poll(token_endpoint, device_code).await;
        assert_eq!(pending["error"], "authorization_pending", "{pending}");
        self.post_test(
            "/test/device/approve",
            json!({ "user_code": device["user_code"], "account_id": account }),
        )
        .await;
        let tokens = self.poll(token_endpoint, device_code).await;
        Tokens {
            access_token: tokens["access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("no access token: {tokens}"))
                .to_owned(),
            id_token: tokens["id_token"].as_str().map(str::to_owned),
            refresh_token: tokens["refresh_token"].as_str().map(str::to_owned),
        }
    }

    async fn poll(&self, token_endpoint: &str, device_code: &str) -> Value {
        self.http
            .post(token_endpoint)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device_code),
                ("client_id", CONSOLE_CLIENT),
            ])
            .send()
            .await
            .expect("token poll")
            .json()
            .await
            .expect("token poll JSON")
    }

    /// A machine client's access token (client-credentials grant).
    pub async fn client_credentials(&self) -> String {
        let discovery = self.discovery().await;
        let token_endpoint = discovery["token_endpoint"]
            .as_str()
            .expect("token_endpoint");
        let tokens: Value = self
            .http
            .post(token_endpoint)
            .basic_auth(MACHINE_CLIENT, Some(MACHINE_SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", AUDIENCE),
                ("scope", "api"),
            ])
            .send()
            .await
            .expect("client credentials")
            .json()
            .await
            .expect("client credentials JSON");
        tokens["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {tokens}"))
            .to_owned()
    }

    /// A JWS over `claims` signed with the provider's current key (RS256, its `kid`);
    /// `header` fields override or add to the defaults.
    pub async fn sign(&self, header: Value, claims: Value) -> String {
        let signed = self
            .post_test("/test/sign", json!({ "header": header, "claims": claims }))
            .await;
        signed["token"].as_str().expect("token").to_owned()
    }

    /// Claims a valid access token for `subject` would carry, expiring in five minutes.
    pub fn claims(&self, subject: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "client_id": CONSOLE_CLIENT,
        })
    }

    /// A new signing key; returns its kid.
    pub async fn rotate_keys(&self, keep_old: bool) -> String {
        let rotated = self
            .post_test("/test/keys/rotate", json!({ "keep_old": keep_old }))
            .await;
        rotated["kid"].as_str().expect("kid").to_owned()
    }

    /// How many times the key set was requested since start (or the last reset).
    pub async fn key_set_requests(&self) -> u64 {
        self.get_json(&format!("{}/test/stats", self.issuer)).await["jwks_requests"]
            .as_u64()
            .expect("jwks_requests")
    }

    pub async fn public_key_pem(&self) -> String {
        self.http
            .get(format!("{}/test/public-key.pem", self.issuer))
            .send()
            .await
            .expect("public key")
            .text()
            .await
            .expect("public key text")
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn test_client(ca_pem: Option<&[u8]>) -> reqwest::Client {
    statesight_server::oidc::ensure_crypto_provider();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(pem) = ca_pem {
        builder = builder
            .tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem).expect("CA certificate"));
    }
    builder.build().expect("HTTP client")
}

/// The verifier's settings for this provider as `make test` runs it: plain HTTP on loopback.
pub fn settings(provider: &TestProvider) -> statesight_server::oidc::OidcSettings {
    statesight_server::oidc::OidcSettings {
        issuer: provider.issuer.clone(),
        audience: AUDIENCE.to_owned(),
        client_id: Some(CONSOLE_CLIENT.to_owned()),
        allow_insecure: true,
        ca_bundle: None,
        leeway: statesight_server::oidc::DEFAULT_LEEWAY,
        min_key_refresh: Duration::from_millis(500),
        key_max_age: statesight_server::oidc::DEFAULT_KEY_MAX_AGE,
        scopes: vec![String::from("openid"), String::from("offline_access")],
        audience_parameter: statesight_core::wire::AudienceParameter::Resource,
    }
}
