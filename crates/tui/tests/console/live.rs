//! The app, its executor and the real API client against a real server in process: what
//! the console loads and shows from seeded, analysed data.

use std::collections::HashMap;
use std::time::Duration;

use crossterm::event::KeyCode;
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use statesight_core::wire::{Cluster, Incident, Source};
use statesight_tui::console::app::{App, Cmd, Screen, update};
use statesight_tui::console::runtime::drive;
use statesight_tui::console::theme::Depth;
use uuid::Uuid;

use super::fixtures::{key, new_app, render, text};
use super::served::{Server, seeded, seeded_and_analysed};

const PAYMENTS: Uuid = statesight_store::seed::PAYMENTS_WORKSPACE_ID;

fn loaded(app: &App) -> bool {
    app.overview.is_some() && app.apps_load.complete && app.incidents_load.complete
}

/// Feeds keys to the app and runs the commands they return until `done`.
async fn keys_then(server: &Server, app: &mut App, keys: &[KeyCode], done: impl Fn(&App) -> bool) {
    let mut commands: Vec<Cmd> = Vec::new();
    for code in keys {
        commands.extend(update(app, key(*code)));
    }
    assert!(
        drive(
            app,
            server.client(),
            None,
            commands,
            Duration::from_secs(20),
            done
        )
        .await,
        "the console did not get there:\n{}",
        text(render(app).backend().buffer())
    );
}

fn chars(text: &str) -> Vec<KeyCode> {
    text.chars().map(KeyCode::Char).collect()
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_console_shows_analysed_data_from_a_real_server(pool: PgPool) {
    seeded_and_analysed(&pool).await;
    let server = Server::start(&pool).await;
    let mut app = new_app(Depth::Mono, (160, 48));
    app.now = chrono::Utc::now();
    let start = app.start();
    assert!(
        drive(
            &mut app,
            server.client(),
            None,
            start,
            Duration::from_secs(20),
            loaded
        )
        .await,
        "nothing loaded"
    );
    assert_eq!(app.workspace.as_ref().map(|w| w.id), Some(PAYMENTS));
    let names: Vec<&str> = app
        .apps_view
        .visible
        .iter()
        .map(|&i| app.apps[i].name.as_str())
        .collect();
    assert_eq!(names, ["billing-worker", "checkout-api", "ledger"]);

    // The per-severity counts the console derives from the open incidents agree with the
    // server's own digest (count and worst severity) of every application.
    let client = server.client();
    let open: Vec<Incident> = client
        .get("/api/v1/incidents?status=open&limit=500", Some(PAYMENTS))
        .await
        .expect("incidents")
        .data;
    for row in &app.apps {
        let counts = row
            .counts
            .clone()
            .expect("counts once the incidents are loaded");
        let total = counts.critical + counts.high + counts.medium + counts.low;
        assert_eq!(total, row.open_total, "{}", row.name);
        let expected = open.iter().filter(|i| i.application.id == row.id).count() as i64;
        assert_eq!(total, expected, "{}", row.name);
        assert!(
            row.run.is_some() && row.revision.is_some(),
            "{} was analysed",
            row.name
        );
    }
    let overview = app.overview.as_ref().expect("the overview");
    assert_eq!(overview.open.total, open.len() as i64);

    let screen = text(render(&app).backend().buffer());
    assert!(screen.contains("ledger-deploy@"), "{screen}");
    assert!(screen.contains("● ok"), "{screen}");

    // Switch to the platform workspace through the palette, with completion.
    let mut typed = vec![KeyCode::Char(':')];
    typed.extend(chars("ws acme-pl"));
    typed.extend([KeyCode::Tab, KeyCode::Enter]);
    keys_then(&server, &mut app, &typed, |app| {
        loaded(app) && app.apps.iter().any(|row| row.name == "hostile-strings")
    })
    .await;
    // The hostile example's manager names reach the screen inert.
    keys_then(&server, &mut app, &[KeyCode::Char('3')], |app| {
        app.screen() == Screen::Incidents
    })
    .await;
    let buffer = render(&app).backend().buffer().clone();
    let screen = text(&buffer);
    assert!(
        screen.contains(
            "changed by \\u{1b}]52;c;ZWNobyBwd25lZA==\\u{7}\\u{1b}[2J\\u{1b}[31mrelease-bot"
        ),
        "{screen}"
    );
    assert!(
        screen.contains("ops\\u{200b}-\\u{202e}tob-ecnanetniam\\u{202c}"),
        "{screen}"
    );
    for cell in &buffer.content {
        for c in cell.symbol().chars() {
            assert!(
                !statesight_core::terminal::is_control_or_invisible(c),
                "{c:?} drawn"
            );
        }
    }
    server.stop().await;
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn every_page_of_a_long_list_is_loaded_in_the_background(pool: PgPool) {
    seeded(&pool).await;
    let server = Server::start(&pool).await;
    let client = server.client();
    let cluster: Vec<Cluster> = client
        .get("/api/v1/clusters", Some(PAYMENTS))
        .await
        .expect("clusters")
        .data;
    let source: Vec<Source> = client
        .get("/api/v1/sources", Some(PAYMENTS))
        .await
        .expect("sources")
        .data;
    // 1,050 more applications: three pages of 500 with the seeded three.
    for i in 0..1050 {
        let body = json!({
            "name": format!("svc-{i:04}"),
            "cluster_id": cluster[0].id,
            "source_id": source[0].id,
            "default_namespace": "bulk",
        });
        client
            .send(
                Method::POST,
                "/api/v1/applications",
                Some(&body),
                Some(PAYMENTS),
            )
            .await
            .expect("creating an application");
    }
    let mut app = new_app(Depth::TrueColor, (80, 24));
    let start = app.start();
    // While later pages load, the first one is already on screen.
    let first_page_drawn = std::cell::Cell::new(false);
    let everything = |app: &App| {
        if app.apps_load.pages == 1 && app.apps_load.loading {
            let screen = text(render(app).backend().buffer());
            if screen.contains("billing-worker") && screen.contains("loading 500") {
                first_page_drawn.set(true);
            }
        }
        app.apps_load.complete
    };
    assert!(
        drive(
            &mut app,
            server.client(),
            None,
            start,
            Duration::from_secs(30),
            everything
        )
        .await
    );
    assert!(first_page_drawn.get());
    assert_eq!(app.apps.len(), 1053);
    assert_eq!(app.apps_load.pages, 3);
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    for row in &app.apps {
        *seen.entry(row.id).or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "no row twice across pages");
    // The end of the list, drawn.
    update(&mut app, key(KeyCode::End));
    let screen = text(render(&app).backend().buffer());
    assert!(screen.contains("svc-1049"), "{screen}");
    assert!(screen.contains("Applications 1053"), "{screen}");
    server.stop().await;
}

/// Credentials that are refused until the device sign-in completes, and a device sign-in
/// that completes when the test approves it: the console's re-login flow end to end against
/// the real server (which needs no token in demo mode once "signed in").
struct Gate {
    signed_in: std::sync::atomic::AtomicBool,
    approve: tokio::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
    begun: std::sync::atomic::AtomicUsize,
}

struct GateCredentials(std::sync::Arc<Gate>);

impl statesight_tui::client::Credentials for GateCredentials {
    fn bearer(
        &self,
    ) -> futures::future::BoxFuture<
        '_,
        Result<Option<String>, statesight_tui::client::CredentialError>,
    > {
        Box::pin(async move {
            if self.0.signed_in.load(std::sync::atomic::Ordering::SeqCst) {
                Ok(None)
            } else {
                Err(statesight_tui::client::CredentialError::SignInRequired(
                    String::from("the refresh token was revoked"),
                ))
            }
        })
    }

    fn refused(&self, _token: &str) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

struct GateSignIn(std::sync::Arc<Gate>);

impl statesight_tui::client::DeviceSignIn for GateSignIn {
    fn begin(
        &self,
    ) -> futures::future::BoxFuture<
        '_,
        Result<statesight_tui::client::PendingSignIn, statesight_tui::client::CredentialError>,
    > {
        Box::pin(async move {
            self.0
                .begun
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let approval = self.0.approve.lock().await.take();
            let gate = self.0.clone();
            Ok(statesight_tui::client::PendingSignIn {
                user_code: String::from("WDJB-MJHT"),
                verification_uri: String::from("https://id.example.com/device"),
                verification_uri_complete: None,
                expires_at: std::time::Instant::now() + Duration::from_secs(600),
                completion: Box::pin(async move {
                    let approved = match approval {
                        Some(approval) => approval.await.is_ok(),
                        None => false,
                    };
                    if !approved {
                        return Err(statesight_tui::client::CredentialError::SignInRequired(
                            String::from("access_denied"),
                        ));
                    }
                    gate.signed_in
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                }),
            })
        })
    }
}

#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn signing_in_again_in_the_modal_retries_the_requests(pool: PgPool) {
    seeded(&pool).await;
    let server = Server::start(&pool).await;
    let (approve, approval) = tokio::sync::oneshot::channel();
    let gate = std::sync::Arc::new(Gate {
        signed_in: std::sync::atomic::AtomicBool::new(false),
        approve: tokio::sync::Mutex::new(Some(approval)),
        begun: std::sync::atomic::AtomicUsize::new(0),
    });
    let client = statesight_tui::client::ApiClient::new(
        statesight_tui::client::http_client(None).expect("http client"),
        server.url.parse().expect("url"),
        std::sync::Arc::new(GateCredentials(gate.clone())),
    );
    let sign_in: std::sync::Arc<dyn statesight_tui::client::DeviceSignIn> =
        std::sync::Arc::new(GateSignIn(gate.clone()));
    let mut app = super::fixtures::new_app_with(
        Depth::TrueColor,
        (80, 24),
        statesight_tui::console::keys::Keymap::defaults(),
        true,
    );
    let start = app.start();
    // The first request is refused: the modal asks the provider for a code and shows it.
    let approve = std::cell::RefCell::new(Some(approve));
    let modal_seen = std::cell::Cell::new(false);
    let done = |app: &App| {
        if let Some(sign_in) = &app.sign_in
            && matches!(
                sign_in.phase,
                statesight_tui::console::app::SignInPhase::Waiting { .. }
            )
        {
            let screen = text(render(app).backend().buffer());
            if screen.contains("Sign in again") && screen.contains("WDJB-MJHT") {
                modal_seen.set(true);
                // The user approves on another device.
                if let Some(approve) = approve.borrow_mut().take() {
                    let _ = approve.send(());
                }
            }
        }
        loaded(app)
    };
    assert!(
        drive(
            &mut app,
            client,
            Some(sign_in),
            start,
            Duration::from_secs(20),
            done
        )
        .await,
        "the console did not load after signing in:\n{}",
        text(render(&app).backend().buffer())
    );
    assert!(modal_seen.get());
    assert!(app.sign_in.is_none());
    assert_eq!(gate.begun.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(app.apps.len(), 3);
    assert_eq!(app.connection, statesight_tui::console::app::Connection::Ok);
    server.stop().await;
}

/// The application screen against the real server: its tabs hold what the API holds, and
/// `a` requests a real analysis that the screen then follows.
#[sqlx::test(migrator = "statesight_store::MIGRATOR")]
async fn the_application_screen_shows_a_real_application(pool: PgPool) {
    use statesight_core::wire::{
        AnalysisRun, ApplicationDetail, IgnoreRule, RunStatus, SuppressedFinding,
    };
    use statesight_tui::console::appscreen::Tab;

    seeded_and_analysed(&pool).await;
    let server = Server::start(&pool).await;
    let mut app = new_app(Depth::Mono, (160, 48));
    app.now = chrono::Utc::now();
    let start = app.start();
    assert!(
        drive(
            &mut app,
            server.client(),
            None,
            start,
            Duration::from_secs(20),
            loaded
        )
        .await,
        "nothing loaded"
    );
    // billing-worker, checkout-api, ledger: the second one.
    keys_then(
        &server,
        &mut app,
        &[KeyCode::Char('j'), KeyCode::Enter],
        |app| {
            app.application
                .as_ref()
                .is_some_and(|screen| !screen.loading() && screen.name.is_some())
        },
    )
    .await;
    let screen = app.application.as_ref().expect("the application screen");
    assert_eq!(screen.name.as_deref(), Some("checkout-api"));
    let client = server.client();
    let id = screen.id;
    let open: Vec<Incident> = client
        .get(
            &format!("/api/v1/incidents?status=open&application_id={id}&limit=500"),
            Some(PAYMENTS),
        )
        .await
        .expect("incidents")
        .data;
    assert!(!open.is_empty());
    let mut shown: Vec<Uuid> = screen.incidents().iter().map(|i| i.row.id).collect();
    let mut expected: Vec<Uuid> = open.iter().map(|i| i.id).collect();
    shown.sort();
    expected.sort();
    assert_eq!(shown, expected);
    let detail: ApplicationDetail = client
        .get(&format!("/api/v1/applications/{id}"), None)
        .await
        .expect("the application")
        .data;
    let suppressed: Vec<SuppressedFinding> = client
        .get(
            &format!("/api/v1/applications/{id}/suppressed-findings?limit=500"),
            None,
        )
        .await
        .expect("suppressed findings")
        .data;
    assert_eq!(
        screen.suppressed.iter().map(|r| r.id).collect::<Vec<_>>(),
        suppressed.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    assert_eq!(screen.suppressed_total, detail.recent_suppressions.total);
    let rules: Vec<IgnoreRule> = client
        .get(&format!("/api/v1/applications/{id}/ignore-rules"), None)
        .await
        .expect("rules")
        .data;
    assert_eq!(screen.rules.len(), rules.len());
    for (row, rule) in screen.rules.iter().zip(&rules) {
        assert_eq!((row.id, row.read_only), (rule.id, rule.read_only));
    }
    let runs: Vec<AnalysisRun> = client
        .get(
            &format!("/api/v1/applications/{id}/analyses?limit=500"),
            None,
        )
        .await
        .expect("analyses")
        .data;
    assert!(!runs.is_empty());
    assert_eq!(
        screen.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        runs.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    for (key, tab) in [
        ('2', Tab::Suppressed),
        ('3', Tab::IgnoreRules),
        ('4', Tab::Analyses),
    ] {
        update(&mut app, super::fixtures::key(KeyCode::Char(key)));
        assert_eq!(app.application.as_ref().map(|s| s.tab), Some(tab));
        let drawn = text(render(&app).backend().buffer());
        assert!(drawn.contains("Applications › checkout-api"), "{drawn}");
    }

    // `a`: a real run is queued (no worker runs here) and followed.
    keys_then(&server, &mut app, &[KeyCode::Char('a')], |app| {
        app.application
            .as_ref()
            .is_some_and(|screen| screen.run.is_some())
    })
    .await;
    let run = app
        .application
        .as_ref()
        .and_then(|screen| screen.run.clone())
        .expect("the requested run");
    assert_eq!(run.status, RunStatus::Queued);
    let stored: AnalysisRun = client
        .get(&format!("/api/v1/analyses/{}", run.id), None)
        .await
        .expect("the run")
        .data;
    assert_eq!(stored.application_id, id);
    let drawn = text(render(&app).backend().buffer());
    assert!(drawn.contains("requested analysis queued"), "{drawn}");
    server.stop().await;
}
