//! `api` and `get` with the real binary against a real server in demo mode
//! (`Authenticator::Demo`, seeded rows, and for incidents real analyses of the examples):
//! JSON output, pagination, tables, neutralized hostile strings, exit codes, the config
//! file, profiles and the remembered workspace.

mod support;

use std::process::Stdio;

use serde_json::{Value, json};
use sqlx::PgPool;
use statesight_core::terminal::is_control_or_invisible;
use support::{Run, TestServer, Tui, closed_port, seed_and_analyse, seed_rows};
use tokio::io::AsyncWriteExt as _;
use uuid::Uuid;

/// acme-platform's sandbox cluster and the hostile-strings source (seeded).
const SANDBOX_CLUSTER: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000304);
const HOSTILE_SOURCE: Uuid = Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000405);

const HOSTILE_NAME: &str = "invoice-\u{202e}fdp.exe\u{200b}";
const HOSTILE_DESCRIPTION: &str = "\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J\u{9b}31m then \u{2067}bidi";

/// Nothing a terminal would act on (newlines between lines aside).
#[track_caller]
fn assert_inert(text: &str) {
    let bad: Vec<String> = text
        .chars()
        .filter(|c| is_control_or_invisible(*c) && *c != '\n')
        .map(|c| format!("U+{:04X}", u32::from(c)))
        .collect();
    assert!(bad.is_empty(), "raw {bad:?} in:\n{text}");
}

fn names(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| item["name"].as_str().expect("name").to_owned())
        .collect()
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn api_prints_json_and_paginate_follows_every_page(pool: PgPool) {
    seed_rows(&pool).await;
    let server = TestServer::demo(&pool).await;
    let tui = Tui::new(&server.url);

    let me = tui.run(&["api", "/api/v1/me"]).await;
    me.expect_code(0);
    assert_eq!(me.json()["data"]["user"]["email"], "demo@statesight.local");
    // Pretty, and routes may be given relative to /api/v1/.
    assert!(me.stdout.starts_with("{\n  \"data\""), "{}", me.stdout);
    let relative = tui.run(&["api", "me"]).await;
    relative.expect_code(0);
    assert_eq!(relative.json()["data"], me.json()["data"]);

    let one = tui
        .run(&["api", "/api/v1/applications?limit=1", "-w", "acme-payments"])
        .await;
    one.expect_code(0);
    let first_page = one.json();
    assert_eq!(first_page["data"].as_array().map(Vec::len), Some(1));
    assert!(
        first_page["meta"]["next_cursor"].is_string(),
        "{first_page}"
    );

    let all = tui
        .run(&[
            "api",
            "--paginate",
            "/api/v1/applications?limit=1",
            "-w",
            "acme-payments",
        ])
        .await;
    all.expect_code(0);
    let all = all.json();
    assert_eq!(names(&all), ["billing-worker", "checkout-api", "ledger"]);
    let unpaged = tui
        .run(&["api", "/api/v1/applications", "-w", "acme-payments"])
        .await;
    assert_eq!(all, unpaged.json()["data"], "the pages add up to the list");

    // A workspace by id works as well as by name.
    let by_id = tui
        .run(&[
            "api",
            "--paginate",
            "applications?limit=2",
            "-w",
            &support::PLATFORM.to_string(),
        ])
        .await;
    by_id.expect_code(0);
    assert_eq!(names(&by_id.json()), ["hostile-strings", "ingress-nginx"]);
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn exit_codes_say_what_went_wrong(pool: PgPool) {
    seed_rows(&pool).await;
    let server = TestServer::demo(&pool).await;
    let tui = Tui::new(&server.url);

    // 1: the server answered an HTTP error; its envelope goes to stderr.
    let missing = tui
        .run(&[
            "api",
            "/api/v1/applications/00000000-0000-4000-8000-000000000000",
        ])
        .await;
    missing.expect_code(1);
    assert!(missing.stdout.is_empty(), "{}", missing.stdout);
    let envelope: Value = serde_json::from_str(&missing.stderr).expect("the error envelope");
    assert_eq!(envelope["error"]["code"], "not_found");
    assert!(envelope["meta"]["request_id"].is_string());
    let invalid = tui
        .run(&[
            "api",
            "-X",
            "POST",
            "applications",
            "-w",
            "acme-payments",
            "--data",
            "{}",
        ])
        .await;
    invalid.expect_code(1);
    assert!(
        invalid.stderr.contains("validation_failed"),
        "{}",
        invalid.stderr
    );
    let gone = tui
        .run(&["get", "incident", "00000000-0000-4000-8000-000000000000"])
        .await;
    gone.expect_code(1);
    assert!(gone.stderr.contains("HTTP 404"), "{}", gone.stderr);

    // 2: usage and configuration.
    let not_json = tui.run(&["api", "me", "--data", "{nope"]).await;
    not_json.expect_code(2);
    assert!(
        not_json.stderr.contains("--data is not JSON"),
        "{}",
        not_json.stderr
    );
    let unknown = tui.run(&["get", "applications", "-w", "acme-nope"]).await;
    unknown.expect_code(2);
    assert!(
        unknown.stderr.contains("no workspace \"acme-nope\"")
            && unknown.stderr.contains("acme-payments (admin")
            && unknown.stderr.contains("acme-platform (admin"),
        "{}",
        unknown.stderr
    );
    tui.run(&["get", "incident", "not-a-uuid"])
        .await
        .expect_code(2);
    tui.run(&["get", "incidents", "--status", "closed"])
        .await
        .expect_code(2);
    tui.run(&["api", "--paginate", "-X", "POST", "applications"])
        .await
        .expect_code(2);
    tui.run(&["get", "everything"]).await.expect_code(2);
    let bad_url = tui
        .run_bare(&["--server", "ftp://x", "get", "applications"])
        .await;
    bad_url.expect_code(2);

    // 4: the server cannot be reached.
    let port = closed_port().await;
    let away = Tui::new(&format!("http://127.0.0.1:{port}"));
    let unreachable = away.run(&["get", "applications"]).await;
    unreachable.expect_code(4);
    assert!(
        unreachable.stderr.contains("cannot reach"),
        "{}",
        unreachable.stderr
    );
    away.run(&["api", "/api/v1/me"]).await.expect_code(4);
    away.run(&["login", "--no-browser"]).await.expect_code(4);
    away.run(&["auth", "status"]).await.expect_code(4);

    // Authentication is off: nothing to sign in to, everything works.
    let login = tui.run(&["login"]).await;
    login.expect_code(0);
    assert!(
        login.stdout.contains("needs no sign-in"),
        "{}",
        login.stdout
    );
    let status = tui.run(&["auth", "status"]).await;
    status.expect_code(0);
    assert!(status.stdout.contains("not needed"), "{}", status.stdout);
    assert!(status.stdout.contains("Demo Operator"), "{}", status.stdout);
    tui.run(&["auth", "token"]).await.expect_code(2);
    tui.run(&["logout"]).await.expect_code(0);
}

/// Creates the hostile application in acme-platform with `api`, the body on stdin.
async fn create_hostile_application(tui: &Tui) -> Run {
    let body = json!({
        "name": HOSTILE_NAME,
        "description": HOSTILE_DESCRIPTION,
        "cluster_id": SANDBOX_CLUSTER,
        "source_id": HOSTILE_SOURCE,
        "default_namespace": "sandbox",
    });
    let args = [
        "api",
        "-X",
        "POST",
        "/api/v1/applications",
        "-w",
        "acme-platform",
        "--data",
        "@-",
    ];
    let mut command = tui.command(&args);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().expect("starting statesight-tui");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(body.to_string().as_bytes())
        .await
        .expect("writing the body");
    drop(stdin);
    let output = child.wait_with_output().await.expect("api");
    Run::from_output(output, std::time::Duration::ZERO)
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn hostile_strings_are_neutralized_in_tables_json_and_errors(pool: PgPool) {
    seed_rows(&pool).await;
    let server = TestServer::demo(&pool).await;
    let tui = Tui::new(&server.url);
    let created = create_hostile_application(&tui).await;
    created.expect_code(0);
    assert_inert(&created.stdout);
    assert_eq!(created.json()["data"]["name"], HOSTILE_NAME);

    let table = tui
        .run(&["get", "applications", "-w", "acme-platform", "-o", "wide"])
        .await;
    table.expect_code(0);
    assert_inert(&table.stdout);
    assert!(
        table.stdout.contains("invoice-\\u{202e}fdp.exe\\u{200b}"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("\\u{1b}]52;c;ZXZpbA==\\u{7}\\u{1b}[2J\\u{9b}31m then \\u{2067}bidi"),
        "{}",
        table.stdout
    );
    // Stable order (by name) and aligned columns: every row's cluster starts under CLUSTER.
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", table.stdout);
    assert!(lines[1].starts_with("hostile-strings "), "{}", table.stdout);
    assert!(lines[2].starts_with("ingress-nginx "), "{}", table.stdout);
    assert!(
        lines[3].starts_with("invoice-\\u{202e}"),
        "{}",
        table.stdout
    );
    let column = lines[0].find("CLUSTER").expect("CLUSTER column");
    for line in &lines[1..] {
        let cell = &line[column..];
        assert!(
            cell.starts_with("platform-us-1 ") || cell.starts_with("sandbox-1 "),
            "misaligned: {line:?}"
        );
    }
    let narrow = tui
        .run(&["get", "applications", "-w", "acme-platform"])
        .await;
    narrow.expect_code(0);
    assert_inert(&narrow.stdout);
    assert!(!narrow.stdout.contains("DESCRIPTION"), "{}", narrow.stdout);

    // JSON keeps the exact strings, written as escapes.
    let listed = tui
        .run(&["api", "/api/v1/applications", "-w", "acme-platform"])
        .await;
    listed.expect_code(0);
    assert_inert(&listed.stdout);
    assert!(
        listed.stdout.contains("invoice-\\u202efdp.exe\\u200b"),
        "{}",
        listed.stdout
    );
    let data = listed.json()["data"].clone();
    assert!(
        data.as_array()
            .expect("array")
            .iter()
            .any(|app| app["name"] == HOSTILE_NAME && app["description"] == HOSTILE_DESCRIPTION)
    );
    let as_json = tui
        .run(&["get", "applications", "-w", "acme-platform", "-o", "json"])
        .await;
    as_json.expect_code(0);
    assert_inert(&as_json.stdout);
    assert_eq!(as_json.json(), data);

    // Errors quoting hostile input are neutralized too.
    let hostile_workspace = "\u{1b}[2Jevil\u{202e}";
    let refused = tui
        .run(&["get", "applications", "-w", hostile_workspace])
        .await;
    refused.expect_code(2);
    assert_inert(&refused.stderr);
    assert!(
        refused.stderr.contains("\\u{1b}[2Jevil"),
        "{}",
        refused.stderr
    );
    let conflict = create_hostile_application(&tui).await;
    conflict.expect_code(1);
    assert_inert(&conflict.stderr);
    assert!(
        conflict.stderr.contains("\"conflict\""),
        "{}",
        conflict.stderr
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn profiles_config_file_and_the_remembered_workspace(pool: PgPool) {
    seed_rows(&pool).await;
    let server = TestServer::demo(&pool).await;
    let tui = Tui::new(&server.url);
    let away = closed_port().await;
    std::fs::create_dir_all(&tui.config_dir).expect("config dir");
    let config = tui.config_dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "# StateSight console\ndefault_profile = \"demo\"\n\n[profiles.demo]\nserver = \"{}\"\n\
             workspace = \"acme-platform\"\ntoken_storage = \"none\"\n\n[profiles.away]\n\
             server = \"http://127.0.0.1:{away}\"\n",
            server.url
        ),
    )
    .expect("writing config.toml");

    // The default profile's server and workspace.
    let listed = tui.run_bare(&["get", "applications"]).await;
    listed.expect_code(0);
    assert!(listed.stdout.contains("ingress-nginx"), "{}", listed.stdout);
    assert!(!listed.stdout.contains("ledger"), "{}", listed.stdout);
    // -w beats the profile's workspace; --profile and STATESIGHT_PROFILE choose a profile.
    let payments = tui
        .run_bare(&["get", "applications", "-w", "acme-payments"])
        .await;
    assert!(payments.stdout.contains("ledger"), "{}", payments.stdout);
    tui.run_bare(&["--profile", "away", "get", "applications"])
        .await
        .expect_code(4);
    let mut command = tui.command_bare(&["get", "applications"]);
    command.env("STATESIGHT_PROFILE", "qa");
    let unknown = support::finish(command, &["get"]).await;
    unknown.expect_code(2);
    assert!(
        unknown.stderr.contains("no profile \"qa\"") && unknown.stderr.contains("away, demo"),
        "{}",
        unknown.stderr
    );
    // --server beats the profile's server.
    tui.run_bare(&[
        "--profile",
        "away",
        "--server",
        &server.url,
        "get",
        "applications",
    ])
    .await
    .expect_code(0);

    // A malformed file: a clear error naming the file and the line.
    std::fs::write(
        &config,
        "default_profile = \"demo\"\n\n[profiles.demo]\nsrever = \"http://x\"\n",
    )
    .expect("writing config.toml");
    let broken = tui.run_bare(&["get", "applications"]).await;
    broken.expect_code(2);
    assert!(
        broken
            .stderr
            .contains(&format!("{}, line 4, column 1:", config.display())),
        "{}",
        broken.stderr
    );
    assert!(broken.stderr.contains("srever"), "{}", broken.stderr);
    std::fs::remove_file(&config).expect("removing config.toml");
    let nothing = tui.run_bare(&["get", "applications"]).await;
    nothing.expect_code(2);
    assert!(nothing.stderr.contains("no server"), "{}", nothing.stderr);

    // STATESIGHT_SERVER, and the XDG config directory.
    let xdg = tui.home.path().join("xdg");
    std::fs::create_dir_all(xdg.join("statesight")).expect("xdg dir");
    std::fs::write(
        xdg.join("statesight/config.toml"),
        format!(
            "default_profile = \"x\"\n[profiles.x]\nserver = \"{}\"\n",
            server.url
        ),
    )
    .expect("xdg config");
    let mut command = tui.command_bare(&["api", "me"]);
    command
        .env_remove("STATESIGHT_CONFIG_DIR")
        .env("XDG_CONFIG_HOME", &xdg);
    support::finish(command, &["api"]).await.expect_code(0);
    let mut command = tui.command_bare(&["api", "me"]);
    command.env("STATESIGHT_SERVER", &server.url);
    support::finish(command, &["api"]).await.expect_code(0);

    // The remembered workspace: the last one used with this server, else the first.
    let fresh = Tui::new(&server.url);
    let first = fresh.run(&["get", "applications"]).await;
    first.expect_code(0);
    assert!(
        first.stdout.contains("ledger"),
        "acme-payments comes first: {}",
        first.stdout
    );
    fresh
        .run(&["get", "applications", "-w", "acme-platform"])
        .await
        .expect_code(0);
    let remembered = fresh.run(&["get", "applications"]).await;
    assert!(
        remembered.stdout.contains("ingress-nginx"),
        "{}",
        remembered.stdout
    );
    let state: Value = serde_json::from_slice(
        &std::fs::read(fresh.config_dir.join("state.json")).expect("state.json"),
    )
    .expect("state JSON");
    assert_eq!(
        state["workspaces"][server.url.as_str()]["name"],
        "acme-platform",
        "{state}"
    );
    let status = fresh.run(&["auth", "status"]).await;
    assert!(
        status
            .stdout
            .lines()
            .any(|line| line.contains("acme-platform") && line.ends_with("(last used)")),
        "{}",
        status.stdout
    );
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn incidents_of_real_analyses_as_tables_and_json(pool: PgPool) {
    let _repositories = seed_and_analyse(&pool).await;
    let server = TestServer::demo(&pool).await;
    let tui = Tui::new(&server.url);

    let json = tui
        .run(&["get", "incidents", "-w", "acme-platform", "-o", "json"])
        .await;
    json.expect_code(0);
    assert_inert(&json.stdout);
    let incidents = json.json();
    let incidents = incidents.as_array().expect("array");
    assert!(!incidents.is_empty());
    assert!(incidents.iter().all(|i| i["status"] == "open"));
    let hostile: Vec<&Value> = incidents
        .iter()
        .filter(|i| i["application"]["name"] == "hostile-strings")
        .collect();
    assert!(!hostile.is_empty(), "the hostile example has incidents");

    let table = tui.run(&["get", "incidents", "-w", "acme-platform"]).await;
    table.expect_code(0);
    assert_inert(&table.stdout);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("ID "), "{}", table.stdout);
    assert!(lines[0].ends_with("TITLE"), "{}", table.stdout);
    assert_eq!(lines.len(), incidents.len() + 1, "{}", table.stdout);
    // Most recently seen first, the same order as the JSON.
    for (line, incident) in lines[1..].iter().zip(incidents) {
        assert!(
            line.starts_with(incident["id"].as_str().expect("id")),
            "{line}"
        );
    }
    let wide = tui
        .run(&["get", "incidents", "-w", "acme-platform", "-o", "wide"])
        .await;
    wide.expect_code(0);
    assert!(
        wide.stdout
            .lines()
            .next()
            .is_some_and(|h| h.contains("FIRST SEEN"))
    );
    assert_inert(&wide.stdout);

    // One incident: details and findings.
    let id = hostile[0]["id"].as_str().expect("id");
    let detail = tui.run(&["get", "incident", id]).await;
    detail.expect_code(0);
    assert_inert(&detail.stdout);
    assert!(
        detail.stdout.contains("hostile-strings"),
        "{}",
        detail.stdout
    );
    assert!(detail.stdout.contains("PATH"), "{}", detail.stdout);
    let detail_wide = tui.run(&["get", "incident", id, "-o", "wide"]).await;
    detail_wide.expect_code(0);
    assert_inert(&detail_wide.stdout);
    assert!(
        detail_wide.stdout.contains("DESIRED"),
        "{}",
        detail_wide.stdout
    );
    let detail_json = tui.run(&["get", "incident", id, "-o", "json"]).await;
    detail_json.expect_code(0);
    let api = tui.run(&["api", &format!("incidents/{id}")]).await;
    assert_eq!(detail_json.json(), api.json()["data"]);

    // Filters: an application by name, every status.
    let ledger = tui
        .run(&[
            "get",
            "incidents",
            "-w",
            "acme-payments",
            "--application",
            "ledger",
            "--status",
            "all",
            "-o",
            "json",
        ])
        .await;
    ledger.expect_code(0);
    let ledger = ledger.json();
    let ledger = ledger.as_array().expect("array");
    assert!(!ledger.is_empty());
    assert!(ledger.iter().all(|i| i["application"]["name"] == "ledger"));
    let open_ledger = tui
        .run(&[
            "get",
            "incidents",
            "-w",
            "acme-payments",
            "--application",
            "ledger",
            "-o",
            "json",
        ])
        .await;
    let open_ledger = open_ledger.json();
    let open_ledger = open_ledger.as_array().expect("array");
    assert!(open_ledger.iter().all(|i| i["status"] == "open"));
    assert!(ledger.len() >= open_ledger.len());
    let nope = tui
        .run(&[
            "get",
            "incidents",
            "-w",
            "acme-payments",
            "--application",
            "nope",
        ])
        .await;
    nope.expect_code(2);
    assert!(
        nope.stderr.contains("billing-worker, checkout-api, ledger"),
        "{}",
        nope.stderr
    );
}

/// `keys` needs no server: it prints the bindings in effect, follows `keys.toml`, and says
/// exactly what is wrong with a file the console could not use (exit 2).
#[tokio::test]
async fn keys_lists_the_bindings_in_effect_and_refuses_a_broken_keys_file() {
    let tui = Tui::new(&format!("http://127.0.0.1:{}", closed_port().await));
    let defaults = tui.run_bare(&["keys", "-o", "json"]).await;
    defaults.expect_code(0);
    let listed = defaults.json();
    let quit = |listed: &Value| {
        listed["bindings"]
            .as_array()
            .expect("bindings")
            .iter()
            .find(|binding| binding["section"] == "global" && binding["action"] == "quit")
            .map(|binding| binding["keys"].clone())
            .expect("global.quit is listed")
    };
    assert_eq!(quit(&listed), json!(["q"]));
    assert!(
        listed["fixed"]
            .as_array()
            .expect("fixed")
            .iter()
            .any(|fixed| fixed["keys"] == json!(["ctrl-c"]))
    );

    std::fs::create_dir_all(&tui.config_dir).expect("config dir");
    std::fs::write(
        tui.config_dir.join("keys.toml"),
        "[global]\nquit = [\"ctrl-q\"]\n",
    )
    .expect("keys.toml");
    let rebound = tui.run_bare(&["keys", "-o", "json"]).await;
    rebound.expect_code(0);
    assert_eq!(quit(&rebound.json()), json!(["ctrl-q"]));
    let table = tui.run_bare(&["keys"]).await;
    table.expect_code(0);
    assert!(
        table
            .stdout
            .lines()
            .any(|line| line.starts_with("global") && line.contains("ctrl-q")),
        "{}",
        table.stdout
    );
    // --defaults ignores the file.
    let builtin = tui.run_bare(&["keys", "--defaults", "-o", "json"]).await;
    assert_eq!(quit(&builtin.json()), json!(["q"]));

    std::fs::write(
        tui.config_dir.join("keys.toml"),
        "[global]\nquitt = [\"x\"]\n",
    )
    .expect("keys.toml");
    let broken = tui.run_bare(&["keys"]).await;
    broken.expect_code(2);
    assert!(broken.stdout.is_empty(), "{}", broken.stdout);
    assert!(
        broken.stderr.contains("keys.toml") && broken.stderr.contains("quitt"),
        "{}",
        broken.stderr
    );
}
