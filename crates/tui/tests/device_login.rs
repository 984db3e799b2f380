//! Signing in with the real `statesight-tui` binary, against the real OpenID provider
//! (`tests/oidc-provider`) and a real StateSight server with `AUTH_REQUIRED` semantics
//! (`Authenticator::Oidc`) served on a loopback port: the device authorization grant end to
//! end, denial, expiry, `slow_down`, refresh, two processes refreshing at once, a revoked
//! grant, and sign-out.

mod support;

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use sqlx::PgPool;
use support::provider::TestProvider;
use support::{Login, TestServer, Tui, VERA, provision, seed_rows};

/// A provider polled every second (the default is 5 s), a server trusting it, and Vera
/// provisioned as subject `vera`.
async fn setup(pool: &PgPool, provider_options: &[&str]) -> (TestProvider, TestServer) {
    seed_rows(pool).await;
    let mut options = vec!["--device-interval", "1"];
    options.extend_from_slice(provider_options);
    let provider = TestProvider::start_with(&options).await;
    let server = TestServer::oidc(pool, &provider).await;
    provision(pool, &provider.issuer, "vera", VERA).await;
    (provider, server)
}

/// Signs `tui` in as `account`: starts `login`, reads the code from its first line, approves
/// it at the provider, waits for the process.
async fn sign_in(tui: &Tui, provider: &TestProvider, account: &str) -> support::Run {
    let login = Login::start(tui, &["login", "--no-browser"]).await;
    provider.approve(&login.code, account).await;
    login.finish().await
}

fn jwt_header(token: &str) -> Value {
    let header = token.split('.').next().expect("a JWT header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn device_flow_signs_in_and_every_command_uses_the_stored_token(pool: PgPool) {
    let (provider, server) = setup(&pool, &[]).await;
    let tui = Tui::new(&server.url);

    // Before signing in: not signed in (status exits 1, other commands 3).
    tui.run(&["auth", "status"]).await.expect_code(1);
    let refused = tui.run(&["get", "applications"]).await;
    refused.expect_code(3);
    assert!(
        refused.stderr.contains("statesight-tui login"),
        "{}",
        refused.stderr
    );

    let login = Login::start(&tui, &["auth", "login", "--no-browser"]).await;
    // The code is printed first, in the provider's format.
    assert!(
        login.code.len() == 9 && login.code.as_bytes()[4] == b'-',
        "{}",
        login.code
    );
    provider.approve(&login.code, "vera").await;
    let done = login.finish().await;
    done.expect_code(0);
    let out = &done.stdout;
    assert!(
        out.contains(&format!("Open {}/device ", provider.issuer)),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}/device?user_code={}",
            provider.issuer,
            done_code(out)
        )),
        "{out}"
    );
    // Not a terminal: no QR code, no colour.
    assert!(
        !out.contains('\u{2580}') && !out.contains('\u{1b}'),
        "{out}"
    );
    assert!(out.contains("Signed in to"), "{out}");
    assert!(
        out.contains("You are Vera Viewer <vera.viewer@acme.example>."),
        "{out}"
    );
    assert!(out.contains("acme-payments (viewer)"), "{out}");
    assert!(out.contains("acme-platform (editor)"), "{out}");

    let status = tui.run(&["auth", "status"]).await;
    status.expect_code(0);
    let text = &status.stdout;
    assert!(
        text.contains(&format!("Server:     {}", server.url)),
        "{text}"
    );
    assert!(
        text.contains(&format!("Identity:   vera at {}", provider.issuer)),
        "{text}"
    );
    assert!(
        text.contains("Vera Viewer <vera.viewer@acme.example>"),
        "{text}"
    );
    assert!(text.contains("acme-payments  viewer"), "{text}");
    assert!(text.contains("acme-platform  editor"), "{text}");
    assert!(text.contains("Token:      expires in"), "{text}");
    assert!(text.contains("renewed automatically"), "{text}");
    assert!(text.contains("Stored in:  "), "{text}");

    let applications = tui
        .run(&["get", "applications", "-w", "acme-payments"])
        .await;
    applications.expect_code(0);
    let table = &applications.stdout;
    assert!(table.starts_with("NAME "), "{table}");
    for name in ["billing-worker", "checkout-api", "ledger"] {
        assert!(table.contains(name), "{table}");
    }

    let token = tui.run(&["auth", "token"]).await;
    token.expect_code(0);
    let jwt = token.stdout.trim();
    assert_eq!(jwt.split('.').count(), 3, "{jwt}");
    assert_eq!(jwt_header(jwt)["typ"], "at+jwt");

    let me = tui.run(&["api", "/api/v1/me"]).await;
    me.expect_code(0);
    assert_eq!(me.json()["data"]["user"]["id"], VERA.to_string());

    // Sign-out forgets the tokens (and revokes the refresh token at the provider).
    let logout = tui.run(&["logout"]).await;
    logout.expect_code(0);
    assert!(logout.stdout.contains("Signed out of"), "{}", logout.stdout);
    assert!(!logout.stderr.contains("warning"), "{}", logout.stderr);
    tui.run(&["auth", "status"]).await.expect_code(1);
    tui.run(&["get", "applications"]).await.expect_code(3);
    let again = tui.run(&["logout"]).await;
    again.expect_code(0);
    assert!(again.stdout.contains("Not signed in"), "{}", again.stdout);
}

/// The user code as printed in `Your one-time code: XXXX-XXXX`.
fn done_code(stdout: &str) -> &str {
    stdout
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("Your one-time code: "))
        .expect("first line")
        .trim()
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_denied_sign_in_exits_3_with_a_clear_message(pool: PgPool) {
    let (provider, server) = setup(&pool, &[]).await;
    let tui = Tui::new(&server.url);
    let login = Login::start(&tui, &["login", "--no-browser"]).await;
    provider.deny(&login.code).await;
    let done = login.finish().await;
    done.expect_code(3);
    assert!(
        done.stderr
            .contains("the sign-in was denied (End-User aborted interaction): run `statesight-tui login` to try again"),
        "{}",
        done.stderr
    );
    tui.run(&["auth", "status"]).await.expect_code(1);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_expired_code_exits_3_with_a_clear_message(pool: PgPool) {
    let (provider, server) = setup(&pool, &["--device-code-ttl", "3"]).await;
    let tui = Tui::new(&server.url);
    let login = Login::start(&tui, &["login", "--no-browser"]).await;
    let done = login.finish().await;
    done.expect_code(3);
    assert!(
        done.stderr
            .contains("the code expired before the sign-in was approved"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("within 3 seconds"), "{}", done.stderr);
    // The provider counts the code's lifetime in whole seconds, so it may end up to a second
    // early; it is the provider's `expired_token` that ends polling here.
    assert!(done.elapsed >= Duration::from_secs(2), "{:?}", done.elapsed);
    let code = done_code(&done.stdout).to_owned();
    let (status, _) = provider.try_approve(&code, "vera").await;
    assert_eq!(status, 410, "the provider agrees the code expired");
    tui.run(&["auth", "status"]).await.expect_code(1);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn slow_down_answers_make_polling_slower_and_three_explain_why(pool: PgPool) {
    let (provider, server) = setup(&pool, &[]).await;
    let tui = Tui::new(&server.url);
    // The first three polls are told to slow down: 1 s becomes 6, 11, 16 s, each waited
    // with the 1.2 safety margin (7.2 + 13.2 + 19.2 s) before the poll that gets the tokens.
    provider.slow_down(3).await;
    let login = Login::start(&tui, &["login", "--no-browser"]).await;
    provider.approve(&login.code, "vera").await;
    let done = login.finish().await;
    done.expect_code(0);
    let err = &done.stderr;
    for seconds in [7, 13, 19] {
        assert!(
            err.contains(&format!("asked to poll more slowly: now every {seconds} s")),
            "{err}"
        );
    }
    assert!(err.contains("three times"), "{err}");
    assert!(err.contains("clock"), "{err}");
    assert!(
        done.elapsed >= Duration::from_millis(39_000),
        "polling did not slow down: {:?}",
        done.elapsed
    );
    tui.run(&["auth", "status"]).await.expect_code(0);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn expired_access_tokens_are_refreshed_once_even_by_two_processes_at_once(pool: PgPool) {
    // Access tokens live 4 s: refreshed once less than half their life is left.
    let (provider, server) = setup(&pool, &["--access-token-ttl", "4"]).await;
    let tui = Tui::new(&server.url);
    sign_in(&tui, &provider, "vera").await.expect_code(0);
    let first = tui.run(&["auth", "token"]).await;
    first.expect_code(0);

    // After expiry, a command refreshes and works.
    tokio::time::sleep(Duration::from_secs(5)).await;
    tui.run(&["get", "applications", "-w", "acme-payments"])
        .await
        .expect_code(0);
    let second = tui.run(&["auth", "token"]).await;
    second.expect_code(0);
    assert_ne!(first.stdout, second.stdout, "the token was refreshed");

    // Two processes find the token expired at the same time: one refreshes, the other
    // waits for the lock, reads the result and uses it. Neither replays the spent refresh
    // token (which would revoke the grant).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = provider.token_requests().await;
    let (a, b) = tokio::join!(
        support::finish(tui.command(&["auth", "token"]), &["auth", "token"]),
        support::finish(tui.command(&["auth", "token"]), &["auth", "token"]),
    );
    a.expect_code(0);
    b.expect_code(0);
    assert_eq!(a.stdout, b.stdout, "both use the one refreshed token");
    assert_ne!(a.stdout, second.stdout);
    assert_eq!(
        provider.token_requests().await - before,
        1,
        "exactly one refresh for two processes"
    );

    // The grant is intact: a later refresh with the newest refresh token works.
    tokio::time::sleep(Duration::from_secs(5)).await;
    tui.run(&["get", "applications", "-w", "acme-payments"])
        .await
        .expect_code(0);
    tui.run(&["auth", "status"]).await.expect_code(0);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn a_revoked_sign_in_asks_to_sign_in_again(pool: PgPool) {
    let (provider, server) = setup(&pool, &["--access-token-ttl", "4"]).await;
    let tui = Tui::new(&server.url).env("STATESIGHT_TOKEN_STORAGE", "file");
    sign_in(&tui, &provider, "vera").await.expect_code(0);
    // Keep a copy of the tokens, sign out (which revokes the refresh token at the
    // provider), then put the copy back: its refresh token is now refused.
    let tokens = tui.config_dir.join("tokens.json");
    let saved = std::fs::read(&tokens).expect("token file");
    tui.run(&["logout"]).await.expect_code(0);
    assert!(!tokens.exists());
    std::fs::write(&tokens, saved).expect("restoring the token file");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let refused = tui
        .run(&["get", "applications", "-w", "acme-payments"])
        .await;
    refused.expect_code(3);
    let expected = format!(
        "your sign-in to {} was revoked or expired: run `statesight-tui login`",
        server.url
    );
    assert!(refused.stderr.contains(&expected), "{}", refused.stderr);
    let status = tui.run(&["auth", "status"]).await;
    status.expect_code(1);
    assert!(status.stdout.contains(&expected), "{}", status.stdout);
    tui.run(&["auth", "token"]).await.expect_code(3);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn statesight_token_overrides_the_stored_sign_in(pool: PgPool) {
    let (provider, server) = setup(&pool, &[]).await;
    let signed_in = Tui::new(&server.url);
    sign_in(&signed_in, &provider, "vera").await.expect_code(0);
    let token = signed_in.run(&["auth", "token"]).await;
    token.expect_code(0);
    let token = token.stdout.trim().to_owned();

    // A machine with nothing stored, given the token in the environment.
    let ci = Tui::new(&server.url).env("STATESIGHT_TOKEN", &token);
    ci.run(&["get", "applications", "-w", "acme-payments"])
        .await
        .expect_code(0);
    let printed = ci.run(&["auth", "token"]).await;
    printed.expect_code(0);
    assert_eq!(printed.stdout.trim(), token);
    let status = ci.run(&["auth", "status"]).await;
    status.expect_code(0);
    assert!(
        status.stdout.contains("from STATESIGHT_TOKEN"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("Vera Viewer"), "{}", status.stdout);
    assert!(!ci.config_dir.join("tokens.json").exists());

    // It wins over a stored sign-in, even a bad one: the server refuses it (exit 3).
    signed_in.run(&["get", "applications"]).await.expect_code(0);
    let overridden = Tui::new(&server.url).env("STATESIGHT_TOKEN", "not-a-token");
    let refused = overridden.run(&["get", "applications"]).await;
    refused.expect_code(3);
    assert!(refused.stderr.contains("HTTP 401"), "{}", refused.stderr);
    let raw = overridden.run(&["api", "me"]).await;
    raw.expect_code(3);
    assert!(raw.stderr.contains("unauthenticated"), "{}", raw.stderr);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn an_https_provider_is_trusted_through_the_ca_bundle(pool: PgPool) {
    seed_rows(&pool).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let (ca, cert, key) = support::make_certificates(dir.path());
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let provider = TestProvider::start_with(&[
        "--device-interval",
        "1",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--issuer-host",
        "localhost",
    ])
    .await
    .trusting(&ca);
    assert!(
        provider.issuer.starts_with("https://localhost:"),
        "{}",
        provider.issuer
    );
    let server = TestServer::oidc_trusting(&pool, &provider, Some(ca.clone())).await;
    provision(&pool, &provider.issuer, "vera", VERA).await;
    let tui = Tui::new(&server.url);

    // The system store does not know the test CA.
    let untrusted = tui.run(&["login", "--no-browser"]).await;
    untrusted.expect_code(4);
    assert!(
        untrusted.stderr.contains(&format!(
            "cannot reach the identity provider {}",
            provider.issuer
        )),
        "{}",
        untrusted.stderr
    );

    // --ca-bundle: discovery, device flow, ID token keys and revocation over HTTPS.
    let ca_arg = ca.display().to_string();
    let login = Login::start(&tui, &["--ca-bundle", &ca_arg, "login", "--no-browser"]).await;
    provider.approve(&login.code, "vera").await;
    login.finish().await.expect_code(0);
    // STATESIGHT_CA_BUNDLE, and a profile's ca_bundle relative to the config directory.
    let mut command = tui.command(&["auth", "status"]);
    command.env("STATESIGHT_CA_BUNDLE", &ca);
    support::finish(command, &["status"]).await.expect_code(0);
    std::fs::copy(&ca, tui.config_dir.join("acme-ca.pem")).expect("copying the CA");
    std::fs::write(
        tui.config_dir.join("config.toml"),
        format!(
            "default_profile = \"tls\"\n[profiles.tls]\nserver = \"{}\"\nca_bundle = \"acme-ca.pem\"\n",
            server.url
        ),
    )
    .expect("config.toml");
    let logout = tui.run_bare(&["logout"]).await;
    logout.expect_code(0);
    assert!(
        !logout.stderr.contains("warning"),
        "revoked over HTTPS: {}",
        logout.stderr
    );

    // A bundle that is not PEM is a configuration error.
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").expect("writing");
    let bad = tui
        .run(&[
            "--ca-bundle",
            &not_pem.display().to_string(),
            "auth",
            "status",
        ])
        .await;
    bad.expect_code(2);
    assert!(
        bad.stderr.contains("holds no PEM certificate"),
        "{}",
        bad.stderr
    );
}

/// What the console does when a sign-in is revoked: `DeviceSignIn::begin` from the library,
/// the code shown in a modal, the completion storing the tokens; then the API client (its
/// `Credentials`) works, and so does a new process reading what was stored.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_console_signs_in_again_through_device_sign_in(pool: PgPool) {
    use statesight_core::wire::Me;
    use statesight_tui::cli::{ColorMode, GlobalArgs, TokenStorage};
    use statesight_tui::client::CredentialError;
    use statesight_tui::config::{Context, resolve_workspace};

    let (provider, server) = setup(&pool, &[]).await;
    let home = tempfile::tempdir().expect("temporary config dir");
    let global = GlobalArgs {
        server: Some(server.url.clone()),
        profile: None,
        workspace: None,
        token_storage: Some(TokenStorage::File),
        ca_bundle: None,
        color: ColorMode::Never,
        config_dir: Some(home.path().to_path_buf()),
    };
    let context = Context::resolve(&global).await.expect("context");
    let before = context.client.get::<Me>("/api/v1/me", None).await;
    assert!(
        matches!(
            before,
            Err(statesight_tui::client::ClientError::Credentials(
                CredentialError::SignInRequired(_)
            ))
        ),
        "{before:?}"
    );
    let sign_in = context.sign_in.clone().expect("a device sign-in");
    let pending = sign_in.begin().await.expect("a device authorization");
    assert!(pending.verification_uri.starts_with(&provider.issuer));
    assert!(
        pending
            .verification_uri_complete
            .as_deref()
            .is_some_and(|uri| uri.ends_with(&pending.user_code))
    );
    provider.approve(&pending.user_code, "vera").await;
    pending.completion.await.expect("signed in");
    let me = context
        .client
        .get::<Me>("/api/v1/me", None)
        .await
        .expect("/me with the new tokens")
        .data;
    assert_eq!(me.user.id, VERA);

    // The workspace choice the console shares with `get`: remembered per server.
    let platform = resolve_workspace(&context, Some("acme-platform"))
        .await
        .expect("acme-platform");
    assert_eq!(
        context.last_workspace().map(|w| w.name),
        Some(String::from("acme-platform"))
    );
    let again = Context::resolve(&global).await.expect("a new context");
    let remembered = resolve_workspace(&again, None).await.expect("remembered");
    assert_eq!(remembered, platform);
    let error = resolve_workspace(&again, Some("acme-nope"))
        .await
        .expect_err("unknown");
    assert_eq!(statesight_tui::exit::code_for(&error), 2);
}
