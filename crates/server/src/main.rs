//! `statesight-server`: serve the API (default), apply migrations, or seed demo data.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use statesight_server::admin::AdminCommand;
use statesight_server::auth::Authenticator;
use statesight_server::config::{DatabaseArgs, ServeArgs, load_dotenv};
use statesight_server::cursor::CursorSigner;
use statesight_server::oidc::{OidcVerifier, ensure_crypto_provider};
use statesight_server::{AppState, app, telemetry};

/// StateSight API server: /api/v1, /healthz, /readyz and /metrics.
#[derive(Parser)]
#[command(name = "statesight-server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// `statesight-server` with no subcommand serves, configured from the environment.
#[derive(Parser)]
#[command(name = "statesight-server serve")]
struct ServeFromEnvironment {
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Provisioning (users, workspaces, memberships, identities) and demo data.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

fn main() -> ExitCode {
    if let Err(error) = load_dotenv() {
        eprintln!("error: {error:#}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    ensure_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Serve(args)) => serve(args).await,
        None => {
            // Invalid environment values get clap's own message and exit code.
            let args = ServeFromEnvironment::try_parse_from(["statesight-server serve"])
                .unwrap_or_else(|error| error.exit());
            serve(args.serve).await
        }
        Some(Command::Migrate(database)) => {
            telemetry::init(None);
            let created = statesight_store::db::create_database_if_missing(&database.database_url)
                .await
                .context("checking the database (is PostgreSQL running and DATABASE_URL right?)")?;
            if created {
                println!("created the database named in DATABASE_URL");
            }
            let pool = statesight_store::connect(&database.database_url, 2)?;
            statesight_store::migrate(&pool).await.context(
                "migrating the database (is PostgreSQL running and DATABASE_URL right?)",
            )?;
            println!("migrations applied");
            let sealed = statesight_store::audit::seal(&pool)
                .await
                .context("chaining the audit log's earlier entries")?;
            if sealed > 0 {
                println!("chained {sealed} audit log entries written before the hash chain");
            }
            Ok(())
        }
        Some(Command::Admin { command }) => {
            telemetry::init(None);
            statesight_server::admin::run(command).await
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format);
    args.validate()?;
    let cursors =
        CursorSigner::from_config(args.cursor_signing_key.as_deref(), args.auth_required)?;
    let github_webhook = args.github_webhook_secret()?;
    let github_webhook_on = github_webhook.is_some();
    let pool =
        statesight_store::connect(&args.database.database_url, args.database_max_connections)
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let redis = statesight_store::redis_conn::client(&args.redis_url)
        .context("REDIS_URL is not a valid Redis URL")?;
    let oidc = args.oidc.settings(args.auth_required)?;
    let public = statesight_server::oidc::public_config(args.auth_required, oidc.as_ref());
    let authenticator = match oidc {
        Some(settings) if args.auth_required => {
            let issuer = settings.issuer.clone();
            let verifier = OidcVerifier::discover(settings).await.with_context(|| {
                format!("AUTH_REQUIRED=true but the OpenID provider {issuer} cannot be used")
            })?;
            tracing::info!(
                issuer = %verifier.metadata().issuer,
                jwks_uri = %verifier.metadata().jwks_uri,
                "verifying bearer tokens against the OpenID provider"
            );
            Authenticator::Oidc(Arc::new(verifier))
        }
        _ => {
            if !args.bind_addr.ip().is_loopback() {
                tracing::warn!(bind_addr = %args.bind_addr, "AUTHENTICATION IS OFF on a non-loopback address: anyone who reaches this port acts as the demo admin");
            }
            Authenticator::Demo
        }
    };
    let state = AppState::new(pool, redis, authenticator, public)
        .with_redis_prefix(&args.redis_key_prefix)
        .with_inputs(args.inputs.policy()?)
        .with_cursor_signer(cursors)
        .with_github_webhook(github_webhook);
    let listener = tokio::net::TcpListener::bind(args.bind_addr)
        .await
        .with_context(|| {
            format!(
                "binding {} (is another server running there?)",
                args.bind_addr
            )
        })?;
    tracing::info!(addr = %args.bind_addr, auth_required = args.auth_required, github_webhook = github_webhook_on, "statesight-server listening");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("statesight-server stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
