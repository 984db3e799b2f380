//! `AUTH_REQUIRED=true` against a real OpenID provider on loopback (npm `oidc-provider`):
//! tokens from its device-code and client-credentials grants are accepted; forged, expired,
//! misdirected and otherwise wrong tokens are refused with an RFC 6750 challenge; identities
//! map to users through `user_identities`; key rotation is followed while unknown-key floods
//! stay cheap; and the binary refuses to start when it cannot verify tokens.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use base64::Engine;
use common::oidc::{AUDIENCE, CONSOLE_CLIENT, MACHINE_CLIENT, TestProvider, settings};
use common::write_matrix::assert_write_role_matrix;
use common::*;
use serde_json::{Value, json};
use sqlx::PgPool;
use statesight_server::auth::Authenticator;
use statesight_server::oidc::OidcVerifier;
use statesight_server::{AppState, app};
use statesight_store::provisioning;
use uuid::Uuid;

async fn verifier(provider: &TestProvider) -> Arc<OidcVerifier> {
    Arc::new(
        OidcVerifier::discover(settings(provider))
            .await
            .expect("discovering the test provider"),
    )
}

fn oidc_state(pool: &PgPool, verifier: &Arc<OidcVerifier>) -> AppState {
    state_with(pool, Authenticator::Oidc(Arc::clone(verifier)))
}

/// `uri` with `Authorization: <authorization>` (and optional extra headers).
async fn call(
    router: &axum::Router,
    uri: &str,
    authorization: Option<&str>,
    extra: &[(&str, String)],
) -> Reply {
    let mut builder = Request::builder().method(Method::GET).uri(uri);
    if let Some(authorization) = authorization {
        builder = builder.header(header::AUTHORIZATION, authorization);
    }
    for (name, value) in extra {
        builder = builder.header(*name, value);
    }
    send(router, builder.body(Body::empty()).expect("request")).await
}

async fn me(router: &axum::Router, token: &str) -> Reply {
    call(router, "/api/v1/me", Some(&format!("Bearer {token}")), &[]).await
}

/// Provisions `(issuer, subject)` as the seeded user `user`.
async fn provision(pool: &PgPool, issuer: &str, subject: &str, user: Uuid) {
    provisioning::add_identity(pool, issuer, subject, &user.to_string())
        .await
        .expect("provisioning an identity");
}

/// Asserts a 401 whose challenge says `invalid_token`, whose message mentions `expect`, and
/// which repeats nothing of the token.
fn assert_invalid_token(reply: &Reply, token: &str, expect: &str) {
    assert_error(reply, StatusCode::UNAUTHORIZED, "unauthenticated");
    let challenge = reply.headers[header::WWW_AUTHENTICATE]
        .to_str()
        .expect("ASCII challenge");
    assert!(
        challenge.starts_with(
            "Bearer realm=\"statesight\", error=\"invalid_token\", error_description=\""
        ),
        "{challenge}"
    );
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains(&expect.to_lowercase()),
        "expected {expect:?} in {message:?}"
    );
    for part in token.split('.').filter(|part| part.len() > 8) {
        assert!(
            !reply.text.contains(part),
            "the answer repeats the token: {}",
            reply.text
        );
        assert!(!challenge.contains(part), "the challenge repeats the token");
    }
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn device_code_and_client_credentials_tokens_are_accepted(pool: PgPool) {
    seeded(&pool).await;
    let provider = TestProvider::start().await;
    let verifier = verifier(&provider).await;
    let router = app(oidc_state(&pool, &verifier));

    // A person, through the device authorization grant (what the console does).
    provision(&pool, &provider.issuer, "vera", VIEWER).await;
    let tokens = provider.device_login("vera").await;
    let header = jsonwebtoken::decode_header(&tokens.access_token).expect("JWT");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let reply = me(&router, &tokens.access_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["data"]["user"]["id"], VIEWER.to_string());

    // A machine client, provisioned the same way: a user, a membership, its identity.
    let bot = provisioning::add_user(&pool, "ci@acme.example", "CI pipeline")
        .await
        .expect("user");
    provisioning::set_membership(
        &pool,
        &PAYMENTS.to_string(),
        "ci@acme.example",
        statesight_core::wire::Role::Viewer,
    )
    .await
    .expect("membership");
    provision(&pool, &provider.issuer, MACHINE_CLIENT, bot.id).await;
    let machine = provider.client_credentials().await;
    let reply = me(&router, &machine).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["data"]["user"]["id"], bot.id.to_string());
    let incidents = call(
        &router,
        "/api/v1/incidents",
        Some(&format!("Bearer {machine}")),
        &[("x-workspace-id", PAYMENTS.to_string())],
    )
    .await;
    assert_eq!(incidents.status, StatusCode::OK, "{}", incidents.text);

    // The scheme is case-insensitive (RFC 7235).
    let lower = call(
        &router,
        "/api/v1/me",
        Some(&format!("bearer {machine}")),
        &[],
    )
    .await;
    assert_eq!(lower.status, StatusCode::OK, "{}", lower.text);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn wrong_tokens_are_refused_with_an_invalid_token_challenge(pool: PgPool) {
    seeded(&pool).await;
    let provider = TestProvider::start().await;
    let verifier = verifier(&provider).await;
    let router = app(oidc_state(&pool, &verifier));
    provision(&pool, &provider.issuer, "vera", VIEWER).await;
    let good = provider.device_login("vera").await;
    let kid = kid_of(&good.access_token);
    let claims = provider.claims("vera");
    let now = chrono::Utc::now().timestamp();

    // No token at all: a bare challenge, no error code (RFC 6750, section 3.1).
    let none = call(&router, "/api/v1/me", None, &[]).await;
    assert_error(&none, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        none.headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"statesight\""
    );
    let basic = call(&router, "/api/v1/me", Some("Basic dmVyYTpzZWNyZXQ="), &[]).await;
    assert_error(&basic, StatusCode::UNAUTHORIZED, "unauthenticated");

    // Signed by another provider's key under this provider's kid: a forged signature.
    let impostor = TestProvider::start().await;
    let forged = impostor
        .sign(json!({ "kid": kid, "typ": "at+jwt" }), claims.clone())
        .await;
    // `alg: none`, and HMAC keyed with the provider's public key (the classic confusion).
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "at+jwt", "kid": kid })),
        b64(&claims)
    );
    let mut hmac_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hmac_header.kid = Some(kid.clone());
    hmac_header.typ = Some(String::from("at+jwt"));
    let hmac = jsonwebtoken::encode(
        &hmac_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(provider.public_key_pem().await.as_bytes()),
    )
    .expect("HMAC token");
    let typed = json!({ "typ": "at+jwt" });
    let with = |change: Value| {
        let mut claims = claims.clone();
        for (key, value) in change.as_object().expect("object") {
            claims[key] = value.clone();
        }
        claims
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("garbage", String::from("not-a-jwt"), "well-formed"),
        (
            "three garbage parts",
            String::from("e30.e30.e30"),
            "well-formed",
        ),
        ("forged signature", forged, "signature"),
        ("alg none", unsigned, "none"),
        ("HMAC with the public key", hmac, "HS256"),
        (
            "ID token",
            good.id_token
                .clone()
                .expect("the device flow returns an ID token"),
            "ID token",
        ),
        (
            "wrong issuer",
            provider
                .sign(
                    typed.clone(),
                    with(json!({ "iss": "https://evil.example" })),
                )
                .await,
            "another issuer",
        ),
        (
            "wrong audience",
            provider
                .sign(
                    typed.clone(),
                    with(json!({ "aud": "https://other.example/api" })),
                )
                .await,
            AUDIENCE,
        ),
        (
            "audience is only the console's client id",
            provider
                .sign(json!({}), with(json!({ "aud": CONSOLE_CLIENT })))
                .await,
            "ID token",
        ),
        (
            "expired",
            provider
                .sign(
                    typed.clone(),
                    with(json!({ "iat": now - 900, "exp": now - 600 })),
                )
                .await,
            "expired",
        ),
        (
            "not yet valid",
            provider
                .sign(typed.clone(), with(json!({ "nbf": now + 600 })))
                .await,
            "not valid yet",
        ),
        (
            "unknown kid",
            provider
                .sign(
                    json!({ "typ": "at+jwt", "kid": "no-such-key" }),
                    claims.clone(),
                )
                .await,
            "no-such-key",
        ),
        (
            "a logout token is not an access token",
            provider
                .sign(json!({ "typ": "logout+jwt" }), claims.clone())
                .await,
            "not an access token",
        ),
        (
            "no subject",
            provider
                .sign(typed.clone(), {
                    let mut claims = claims.clone();
                    claims.as_object_mut().expect("object").remove("sub");
                    claims
                })
                .await,
            "sub",
        ),
        ("oversized", "a".repeat(20_000), "larger than"),
    ];
    for (name, token, expect) in &cases {
        let reply = me(&router, token).await;
        assert_invalid_token(&reply, token, expect);
        assert!(!reply.text.is_empty(), "{name}");
    }
    // The same claims, properly signed with at+jwt, are accepted: the refusals above are
    // about what each case changed, not about the harness.
    let control = provider.sign(typed, claims).await;
    assert_eq!(me(&router, &control).await.status, StatusCode::OK);
    // Without `typ`, a token whose audience is this API is an access token too (providers
    // that do not type their access tokens).
    let untyped = provider.sign(json!({}), provider.claims("vera")).await;
    assert_eq!(me(&router, &untyped).await.status, StatusCode::OK);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn unmapped_identities_are_told_how_to_get_provisioned(pool: PgPool) {
    seeded(&pool).await;
    let provider = TestProvider::start().await;
    let verifier = verifier(&provider).await;
    let router = app(oidc_state(&pool, &verifier));
    let tokens = provider.device_login("mallory").await;
    let reply = me(&router, &tokens.access_token).await;
    assert_error(&reply, StatusCode::FORBIDDEN, "identity_not_provisioned");
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("\"mallory\""), "{message}");
    assert!(message.contains(&provider.issuer), "{message}");
    assert!(
        message.contains("statesight-server admin identity add"),
        "{message}"
    );
    // Once an operator maps it, the same token works; removing the mapping locks it out.
    provisioning::add_user(&pool, "mallory@acme.example", "Mallory")
        .await
        .expect("user");
    provisioning::add_identity(&pool, &provider.issuer, "mallory", "mallory@acme.example")
        .await
        .expect("identity");
    assert_eq!(
        me(&router, &tokens.access_token).await.status,
        StatusCode::OK
    );
    // The documented SQL does the same as the command.
    sqlx::query("DELETE FROM user_identities WHERE subject = 'mallory'")
        .execute(&pool)
        .await
        .expect("delete");
    assert_eq!(
        me(&router, &tokens.access_token).await.status,
        StatusCode::FORBIDDEN
    );
    sqlx::query(
        "INSERT INTO user_identities (issuer, subject, user_id)
         SELECT $1, 'mallory', id FROM users WHERE email = 'mallory@acme.example'",
    )
    .bind(&provider.issuer)
    .execute(&pool)
    .await
    .expect("insert");
    assert_eq!(
        me(&router, &tokens.access_token).await.status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn rotated_keys_are_fetched_and_unknown_kid_floods_stay_bounded(pool: PgPool) {
    seeded(&pool).await;
    let provider = TestProvider::start().await;
    let verifier = verifier(&provider).await;
    let router = app(oidc_state(&pool, &verifier));
    provision(&pool, &provider.issuer, "vera", VIEWER).await;
    let before = provider.device_login("vera").await.access_token;
    assert_eq!(me(&router, &before).await.status, StatusCode::OK);

    // The provider rotates and drops the old key: a token signed with the new one verifies
    // after the verifier re-reads the key set; the old one no longer does.
    tokio::time::sleep(settings(&provider).min_key_refresh).await;
    let new_kid = provider.rotate_keys(false).await;
    let after = provider.device_login("vera").await.access_token;
    assert_eq!(kid_of(&after), new_kid);
    let reply = me(&router, &after).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    tokio::time::sleep(settings(&provider).min_key_refresh).await;
    let old = me(&router, &before).await;
    assert_invalid_token(&old, &before, "not among the issuer's published keys");

    // A flood of made-up key ids: at most one key-set request per refresh interval.
    let requests_before = provider.key_set_requests().await;
    let started = Instant::now();
    let mut flood = Vec::new();
    for n in 0..400 {
        let token = provider
            .sign(
                json!({ "typ": "at+jwt", "kid": format!("bogus-{n}") }),
                provider.claims("vera"),
            )
            .await;
        flood.push(token);
    }
    let mut answers = Vec::new();
    for chunk in flood.chunks(50) {
        let calls = chunk.iter().map(|token| {
            let router = router.clone();
            let token = token.clone();
            async move { me(&router, &token).await.status }
        });
        answers.extend(futures::future::join_all(calls).await);
    }
    let elapsed = started.elapsed();
    assert!(
        answers
            .iter()
            .all(|status| *status == StatusCode::UNAUTHORIZED)
    );
    let fetched = provider.key_set_requests().await - requests_before;
    let interval = settings(&provider).min_key_refresh;
    let allowed = elapsed.as_millis() / interval.as_millis() + 1;
    assert!(
        u128::from(fetched) <= allowed,
        "{fetched} key-set requests for 400 unknown kids in {elapsed:?} (allowed {allowed})"
    );
    // Valid tokens kept working throughout.
    assert_eq!(me(&router, &after).await.status, StatusCode::OK);
}

/// The router as `token`'s holder: every request carries the bearer header.
fn with_bearer(router: axum::Router, token: String) -> axum::Router {
    let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("header value");
    router.layer(axum::middleware::map_request(
        move |mut request: Request<Body>| {
            let value = value.clone();
            async move {
                request.headers_mut().insert(header::AUTHORIZATION, value);
                request
            }
        },
    ))
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_role_matrix_holds_with_real_tokens(pool: PgPool) {
    seeded(&pool).await;
    let provider = TestProvider::start().await;
    let verifier = verifier(&provider).await;
    let prefix = RedisPrefix::new();
    let mut tokens = std::collections::HashMap::new();
    for (subject, user) in [
        ("olivia", OUTSIDER),
        ("vera", VIEWER),
        ("ed", EDITOR),
        ("ada", ADMIN),
    ] {
        provision(&pool, &provider.issuer, subject, user).await;
        tokens.insert(user, provider.device_login(subject).await.access_token);
    }
    let router_for = |user: Uuid| {
        with_bearer(
            app(oidc_state(&pool, &verifier).with_redis_prefix(&prefix.0)),
            tokens[&user].clone(),
        )
    };
    assert_write_role_matrix(&pool, router_for).await;

    // Reads: every member role reads; the outsider gets 404 as if nothing existed.
    for (user, expected) in [
        (OUTSIDER, StatusCode::NOT_FOUND),
        (VIEWER, StatusCode::OK),
        (EDITOR, StatusCode::OK),
        (ADMIN, StatusCode::OK),
    ] {
        let router = router_for(user);
        for (uri, workspace) in [
            (format!("/api/v1/applications/{LEDGER}"), None),
            (String::from("/api/v1/applications"), Some(PAYMENTS)),
            (String::from("/api/v1/incidents"), Some(PAYMENTS)),
            (String::from("/api/v1/overview"), Some(PAYMENTS)),
        ] {
            let reply = get(&router, &uri, workspace).await;
            assert_eq!(reply.status, expected, "{uri} as {user}: {}", reply.text);
        }
    }

    // Cross-workspace: the payments editor sees nothing of the platform workspace.
    let editor = router_for(EDITOR);
    let platform = get(&editor, "/api/v1/applications", Some(PLATFORM)).await;
    assert_error(&platform, StatusCode::NOT_FOUND, "not_found");

    // X-User-ID is never an authentication input: not instead of a token, not over one.
    let bare = app(oidc_state(&pool, &verifier));
    let spoofed = call(
        &bare,
        "/api/v1/me",
        None,
        &[("x-user-id", ADMIN.to_string())],
    )
    .await;
    assert_error(&spoofed, StatusCode::UNAUTHORIZED, "unauthenticated");
    let viewer_token = format!("Bearer {}", tokens[&VIEWER]);
    let as_viewer = call(
        &bare,
        "/api/v1/me",
        Some(&viewer_token),
        &[
            ("x-user-id", ADMIN.to_string()),
            ("x-user-email", String::from("ada.admin@acme.example")),
        ],
    )
    .await;
    assert_eq!(as_viewer.body["data"]["user"]["id"], VIEWER.to_string());
    let delete = send(
        &bare,
        Request::builder()
            .method(Method::DELETE)
            .uri(format!("/api/v1/applications/{LEDGER}"))
            .header(header::AUTHORIZATION, &viewer_token)
            .header("x-user-id", ADMIN.to_string())
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_error(&delete, StatusCode::FORBIDDEN, "forbidden");
    prefix.cleanup().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn auth_config_tells_a_client_how_to_sign_in(pool: PgPool) {
    let provider = TestProvider::start().await;
    let settings = settings(&provider);
    let public = statesight_server::oidc::public_config(true, Some(&settings));
    let verifier = verifier(&provider).await;
    let state = AppState::new(
        pool.clone(),
        statesight_store::redis_conn::client(&redis_url()).expect("redis"),
        Authenticator::Oidc(verifier),
        public,
    );
    let reply = get(&app(state), "/api/v1/auth/config", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.body["data"],
        json!({
            "auth_required": true,
            "issuer": provider.issuer,
            "audience": AUDIENCE,
            "client_id": CONSOLE_CLIENT,
            "scopes": ["openid", "offline_access"],
            "audience_parameter": "resource",
        })
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_https_provider_is_trusted_through_the_ca_bundle_only(pool: PgPool) {
    let _ = pool;
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = make_certificates(dir.path());
    let cert_arg = cert.display().to_string();
    let key_arg = key.display().to_string();
    let provider = TestProvider::start_with(&[
        "--tls-cert",
        &cert_arg,
        "--tls-key",
        &key_arg,
        "--issuer-host",
        "localhost",
    ])
    .await
    .trusting(&std::fs::read(&ca).expect("CA"));
    assert!(
        provider.issuer.starts_with("https://localhost:"),
        "{}",
        provider.issuer
    );
    let mut secure = settings(&provider);
    secure.allow_insecure = false;
    // Not trusted by the system store: discovery fails, naming the URL.
    let error = OidcVerifier::discover(secure.clone())
        .await
        .expect_err("an unknown CA is refused");
    let message = format!("{error:#}");
    assert!(message.contains(&provider.issuer), "{message}");
    // With the bundle, discovery and verification work over HTTPS.
    secure.ca_bundle = Some(ca);
    let verifier = OidcVerifier::discover(secure)
        .await
        .expect("trusted via the bundle");
    let token = provider.device_login("vera").await.access_token;
    let identity = verifier.verify(&token).await.expect("verified");
    assert_eq!(identity.subject, "vera");
    assert_eq!(identity.client_id.as_deref(), Some(CONSOLE_CLIENT));
}

/// A CA and a server certificate for localhost/127.0.0.1 signed by it, made with openssl.
fn make_certificates(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("running openssl (install it: apt-get install openssl)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extension file");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=StateSight test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// The real binary with `AUTH_REQUIRED=true` and `vars`; returns (exit status, stderr) if it
/// exits within the time limit, or `None` if it is still running (then it is killed).
fn run_server(
    vars: &[(&str, String)],
    wait: Duration,
) -> Option<(std::process::ExitStatus, String)> {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_statesight-server"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("AUTH_REQUIRED", "true")
        .env("CURSOR_SIGNING_KEY", "ab".repeat(32))
        .env("LOG_FORMAT", "json")
        .envs(vars.iter().map(|(name, value)| (*name, value.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting statesight-server");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting") {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut stderr)
                .expect("stderr");
            return Some((status, stderr));
        }
        if started.elapsed() > wait {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn startup_is_refused_when_tokens_could_not_be_verified() {
    // Nothing listens on this port: discovery fails and the message names the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let unreachable = format!("http://127.0.0.1:{port}");
    let (status, stderr) = run_server(
        &[
            ("OIDC_ISSUER_URL", unreachable.clone()),
            ("OIDC_AUDIENCE", AUDIENCE.to_owned()),
            ("OIDC_ALLOW_INSECURE_ISSUER", String::from("true")),
        ],
        Duration::from_secs(20),
    )
    .expect("the server exits");
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("{unreachable}/.well-known/openid-configuration")),
        "{stderr}"
    );
    assert!(stderr.contains("discovery"), "{stderr}");

    // A working provider on plain HTTP, without the opt-in: refused before any request.
    let provider = TestProvider::start().await;
    let (status, stderr) = run_server(
        &[
            ("OIDC_ISSUER_URL", provider.issuer.clone()),
            ("OIDC_AUDIENCE", AUDIENCE.to_owned()),
        ],
        Duration::from_secs(20),
    )
    .expect("the server exits");
    assert!(!status.success());
    assert!(stderr.contains("OIDC_ALLOW_INSECURE_ISSUER"), "{stderr}");

    // No issuer at all, and an audience that is the console's client id: refused.
    let (status, stderr) = run_server(&[], Duration::from_secs(20)).expect("the server exits");
    assert!(!status.success());
    assert!(stderr.contains("OIDC_ISSUER_URL"), "{stderr}");
    let (status, stderr) = run_server(
        &[
            ("OIDC_ISSUER_URL", provider.issuer.clone()),
            ("OIDC_AUDIENCE", CONSOLE_CLIENT.to_owned()),
            ("OIDC_CLIENT_ID", CONSOLE_CLIENT.to_owned()),
            ("OIDC_ALLOW_INSECURE_ISSUER", String::from("true")),
        ],
        Duration::from_secs(20),
    )
    .expect("the server exits");
    assert!(!status.success());
    assert!(stderr.contains("ID tokens"), "{stderr}");

    // With the opt-in it starts (and keeps running).
    assert!(
        run_server(
            &[
                ("OIDC_ISSUER_URL", provider.issuer.clone()),
                ("OIDC_AUDIENCE", AUDIENCE.to_owned()),
                ("OIDC_ALLOW_INSECURE_ISSUER", String::from("true")),
            ],
            Duration::from_secs(3),
        )
        .is_none(),
        "the server should start against a reachable provider"
    );
}

/// The real binary with `AUTH_REQUIRED=true` against the provider: it serves, verifies a
/// real token, refuses a tampered one, and writes neither to its log even at debug level.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_server_binary_verifies_real_tokens_and_never_logs_them(pool: PgPool) {
    seeded(&pool).await;
    let provider = TestProvider::start().await;
    provision(&pool, &provider.issuer, "vera", VIEWER).await;
    let token = provider.device_login("vera").await.access_token;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        probe.local_addr().expect("addr").port()
    };
    let log_dir = tempfile::tempdir().expect("temp dir");
    let log_path = log_dir.path().join("server.log");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_statesight-server"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url(&pool))
        .env("REDIS_URL", redis_url())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("AUTH_REQUIRED", "true")
        .env("OIDC_ISSUER_URL", &provider.issuer)
        .env("OIDC_AUDIENCE", AUDIENCE)
        .env("OIDC_CLIENT_ID", CONSOLE_CLIENT)
        .env("OIDC_ALLOW_INSECURE_ISSUER", "true")
        .env("CURSOR_SIGNING_KEY", "cd".repeat(32))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("starting statesight-server");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server did not start: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config: Value = http
        .get(format!("{base}/api/v1/auth/config"))
        .send()
        .await
        .expect("auth config")
        .json()
        .await
        .expect("JSON");
    assert_eq!(config["data"]["issuer"], provider.issuer);
    assert_eq!(config["data"]["client_id"], CONSOLE_CLIENT);

    let me = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    // The same token with its signature's last characters changed.
    let tampered = format!("{}AAAA", &token[..token.len() - 4]);
    let refused = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&tampered)
        .send()
        .await
        .expect("me");
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .expect("ASCII")
            .contains("error=\"invalid_token\"")
    );
    let _ = server.kill();
    let _ = server.wait();
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(log.contains("verifying bearer tokens"), "{log}");
    for secret in [&token, &tampered] {
        for part in secret.split('.').filter(|part| part.len() > 8) {
            assert!(!log.contains(part), "a token reached the log:\n{log}");
        }
    }
}
