//! Where the real binary keeps sign-in tokens: the 0600 file it falls back to when there is no
//! keyring (with a notice shown once), memory only (`none`), and the Secret Service keyring
//! (GNOME Keyring in a `dbus-run-session` of the test's own).

mod support;

use std::path::Path;

use serde_json::Value;
use sqlx::PgPool;
use support::provider::TestProvider;
use support::{Login, Run, TestServer, Tui, VERA, provision, seed_rows};

async fn setup(pool: &PgPool) -> (TestProvider, TestServer) {
    seed_rows(pool).await;
    let provider = TestProvider::start_with(&["--device-interval", "1"]).await;
    let server = TestServer::oidc(pool, &provider).await;
    provision(pool, &provider.issuer, "vera", VERA).await;
    (provider, server)
}

async fn sign_in(tui: &Tui, provider: &TestProvider, args: &[&str]) -> Run {
    let login = Login::start(tui, args).await;
    provider.approve(&login.code, "vera").await;
    login.finish().await
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn without_a_keyring_tokens_go_to_a_0600_file_said_once_and_read_by_new_processes(
    pool: PgPool,
) {
    let (provider, server) = setup(&pool).await;
    // The default storage is the keyring; this environment has no D-Bus session bus.
    let tui = Tui::new(&server.url);
    let done = sign_in(&tui, &provider, &["login", "--no-browser"]).await;
    done.expect_code(0);
    let tokens = tui.config_dir.join("tokens.json");
    let notice = format!(
        "sign-in tokens are stored in plain text in {}",
        tokens.display()
    );
    assert!(done.stderr.contains(&notice), "{}", done.stderr);
    assert!(
        done.stderr.contains("no D-Bus session bus"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("--token-storage"), "{}", done.stderr);
    assert!(
        done.stdout.contains(&format!(
            "Tokens are kept in {} (plain text",
            tokens.display()
        )),
        "{}",
        done.stdout
    );

    #[cfg(unix)]
    {
        assert_eq!(mode(&tokens), 0o600, "the token file is private");
        assert_eq!(
            mode(&tui.config_dir),
            0o700,
            "the config directory is private"
        );
    }
    let stored: Value =
        serde_json::from_slice(&std::fs::read(&tokens).expect("token file")).expect("JSON");
    let session = &stored["sessions"][server.url.as_str()];
    assert_eq!(session["server"], server.url.as_str(), "{stored}");
    assert_eq!(session["issuer"], provider.issuer.as_str());
    assert_eq!(session["subject"], "vera");
    assert_eq!(session["client_id"], "statesight-console");
    assert!(
        session["access_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("ey"))
    );
    assert!(session["refresh_token"].is_string());
    assert!(session["expires_at"].is_string());
    let state: Value = serde_json::from_slice(
        &std::fs::read(tui.config_dir.join("state.json")).expect("state file"),
    )
    .expect("state JSON");
    assert_eq!(state["plaintext_token_notice_shown"], true);

    // A fresh process reads the file; the notice is not repeated.
    let status = tui.run(&["auth", "status"]).await;
    status.expect_code(0);
    assert!(
        status
            .stdout
            .contains(&format!("Stored in:  {} (plain text", tokens.display())),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("the keyring is not used"),
        "{}",
        status.stdout
    );
    assert!(!status.stderr.contains("plain text"), "{}", status.stderr);
    tui.run(&["get", "applications", "-w", "acme-payments"])
        .await
        .expect_code(0);

    // Signing in again writes the file again, still without the notice.
    let again = sign_in(&tui, &provider, &["login", "--no-browser"]).await;
    again.expect_code(0);
    assert!(!again.stderr.contains("plain text"), "{}", again.stderr);
    #[cfg(unix)]
    assert_eq!(mode(&tokens), 0o600);

    // Chosen explicitly, the file needs no notice either.
    let explicit = Tui::new(&server.url).env("STATESIGHT_TOKEN_STORAGE", "file");
    let done = sign_in(&explicit, &provider, &["login", "--no-browser"]).await;
    done.expect_code(0);
    assert!(!done.stderr.contains("plain text"), "{}", done.stderr);
    assert!(explicit.config_dir.join("tokens.json").is_file());

    // Signing out removes the file once it holds no sign-in.
    tui.run(&["logout"]).await.expect_code(0);
    assert!(!tokens.exists());
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn token_storage_none_keeps_nothing(pool: PgPool) {
    let (provider, server) = setup(&pool).await;
    let tui = Tui::new(&server.url);
    let done = sign_in(
        &tui,
        &provider,
        &["--token-storage", "none", "login", "--no-browser"],
    )
    .await;
    done.expect_code(0);
    assert!(
        done.stdout.contains("Tokens are kept in memory only"),
        "{}",
        done.stdout
    );
    // The sign-in worked within the process (it called /api/v1/me with the token).
    assert!(
        done.stdout.contains("You are Vera Viewer"),
        "{}",
        done.stdout
    );
    assert!(!done.stderr.contains("plain text"), "{}", done.stderr);
    assert!(!tui.config_dir.join("tokens.json").exists());
    tui.run(&["auth", "status"]).await.expect_code(1);
    tui.run(&["--token-storage", "none", "auth", "status"])
        .await
        .expect_code(1);
}

fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_secret_service_keyring_holds_the_tokens(pool: PgPool) {
    let missing: Vec<&str> = ["dbus-run-session", "gnome-keyring-daemon"]
        .into_iter()
        .filter(|program| !installed(program))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "\n\n********************************************************************\n\
             SKIPPED the_secret_service_keyring_holds_the_tokens: {} not installed.\n\
             Install the Debian packages `dbus` and `gnome-keyring` (make test can)\n\
             to test token storage in the Secret Service keyring.\n\
             ********************************************************************\n",
            missing.join(" and ")
        );
        return;
    }
    let (provider, server) = setup(&pool).await;
    let tui = Tui::new(&server.url);
    let login =
        Login::start_command(tui.command_in_keyring_session(&["login", "--no-browser"])).await;
    provider.approve(&login.code, "vera").await;
    let done = login.finish().await;
    done.expect_code(0);
    assert!(
        done.stdout
            .contains("Tokens are kept in the system keyring (Secret Service)."),
        "stdout:\n{}\nstderr:\n{}",
        done.stdout,
        done.stderr
    );
    assert!(!done.stderr.contains("plain text"), "{}", done.stderr);
    assert!(
        !tui.config_dir.join("tokens.json").exists(),
        "nothing in the file"
    );

    // Another session (a new keyring daemon over the same keyring files) finds them.
    let status = support::finish(
        tui.command_in_keyring_session(&["auth", "status"]),
        &["status"],
    )
    .await;
    status.expect_code(0);
    assert!(
        status
            .stdout
            .contains("Stored in:  the system keyring (Secret Service)"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("Vera Viewer"), "{}", status.stdout);
    support::finish(
        tui.command_in_keyring_session(&["get", "applications", "-w", "acme-payments"]),
        &["get"],
    )
    .await
    .expect_code(0);

    // Without the session bus the keyring cannot be reached: not signed in there.
    tui.run(&["auth", "status"]).await.expect_code(1);

    // Sign-out removes the keyring item.
    support::finish(tui.command_in_keyring_session(&["logout"]), &["logout"])
        .await
        .expect_code(0);
    support::finish(
        tui.command_in_keyring_session(&["auth", "status"]),
        &["status"],
    )
    .await
    .expect_code(1);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_kernel_keyring_holds_the_tokens_when_asked(pool: PgPool) {
    let (provider, server) = setup(&pool).await;
    let tui = Tui::new(&server.url).env("STATESIGHT_TOKEN_STORAGE", "kernel-keyring");
    let done = sign_in(&tui, &provider, &["login", "--no-browser"]).await;
    done.expect_code(0);
    if !done
        .stdout
        .contains("Tokens are kept in the Linux kernel keyring.")
    {
        // Containers often forbid the keyutils system calls: then the file, said once.
        eprintln!(
            "\n\n********************************************************************\n\
             the kernel keyring is not usable here; checked the file fallback instead:\n{}\n\
             ********************************************************************\n",
            done.stderr
        );
        assert!(done.stderr.contains("plain text"), "{}", done.stderr);
        assert!(tui.config_dir.join("tokens.json").is_file());
        return;
    }
    assert!(!tui.config_dir.join("tokens.json").exists());
    // A new process (same session keyring) finds them.
    let status = tui.run(&["auth", "status"]).await;
    status.expect_code(0);
    assert!(
        status
            .stdout
            .contains("Stored in:  the Linux kernel keyring"),
        "{}",
        status.stdout
    );
    tui.run(&["get", "applications", "-w", "acme-payments"])
        .await
        .expect_code(0);
    // Only there: the file holds nothing.
    tui.run(&["--token-storage", "file", "auth", "status"])
        .await
        .expect_code(1);
    tui.run(&["logout"]).await.expect_code(0);
    tui.run(&["auth", "status"]).await.expect_code(1);
}
