//! `statesight-server`: serve the API (default), apply migrations, or seed demo data.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use statesight_server::auth::Authenticator;
use statesight_server::config::{DatabaseArgs, ServeArgs, load_dotenv};
use statesight_server::cursor::CursorSigner;
use statesight_server::state::PublicAuthConfig;
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
    /// Administrative tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Insert the demo workspaces, users, clusters, sources, applications and ignore rules,
    /// and build each example's Git repository. Idempotent: a second run changes nothing.
    /// Writes no analysis results: `admin analyse-examples` has the worker produce them.
    Seed {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Directory holding the examples (`<application>/history`, cluster snapshots).
        #[arg(long, default_value = "examples")]
        examples_dir: PathBuf,
        /// Where the example Git repositories are built (`<data dir>/repos`).
        #[arg(long, env = "STATESIGHT_DATA_DIR", default_value = ".data")]
        data_dir: PathBuf,
        /// The git executable.
        #[arg(long, env = "GIT_BIN", default_value = "git")]
        git_bin: PathBuf,
        /// The examples use `file://` repositories and snapshots under the examples
        /// directory: the same settings the server and worker must be given.
        #[command(flatten)]
        inputs: statesight_server::config::InputArgs,
    },
    /// Request the demo analyses of the seeded examples through the queue (as the API does)
    /// and wait until a running `statesight-worker` has finished them, oldest revision first.
    AnalyseExamples {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Redis connection URL (the analysis queue).
        #[arg(
            long,
            env = "REDIS_URL",
            default_value = "redis://127.0.0.1:6379",
            hide_env_values = true
        )]
        redis_url: String,
        /// Prefix of every Redis key (the worker's must match).
        #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "statesight")]
        redis_key_prefix: String,
        /// How long to wait for all analyses, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
}

fn main() -> ExitCode {
    if let Err(error) = load_dotenv() {
        eprintln!("error: {error:#}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
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
            Ok(())
        }
        Some(Command::Admin {
            command:
                AdminCommand::Seed {
                    database,
                    examples_dir,
                    data_dir,
                    git_bin,
                    inputs,
                },
        }) => {
            telemetry::init(None);
            let policy = statesight_core::source::InputPolicy::new(
                inputs.allow_file_repositories,
                &inputs.kubeconfig_roots,
                &inputs.snapshot_roots,
                std::env::var("HOME").ok().as_deref(),
            )?;
            let pool = statesight_store::connect(&database.database_url, 2)?;
            let report =
                statesight_server::seed::run(&pool, &examples_dir, &data_dir, &git_bin, &policy)
                    .await?;
            println!("{report}");
            Ok(())
        }
        Some(Command::Admin {
            command:
                AdminCommand::AnalyseExamples {
                    database,
                    redis_url,
                    redis_key_prefix,
                    timeout_secs,
                },
        }) => {
            telemetry::init(None);
            let pool = statesight_store::connect(&database.database_url, 2)?;
            let redis = statesight_store::redis_conn::client(&redis_url)
                .context("REDIS_URL is not a valid Redis URL")?;
            let queue = statesight_store::queue::Queue::new(redis, redis_key_prefix);
            let runs = statesight_server::seed::analyse_examples(
                &pool,
                &queue,
                std::time::Duration::from_secs(timeout_secs),
            )
            .await?;
            for run in runs {
                println!("{run}");
            }
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format);
    args.validate()?;
    let cursors =
        CursorSigner::from_config(args.cursor_signing_key.as_deref(), args.auth_required)?;
    let pool =
        statesight_store::connect(&args.database.database_url, args.database_max_connections)
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let redis = statesight_store::redis_conn::client(&args.redis_url)
        .context("REDIS_URL is not a valid Redis URL")?;
    let authenticator = if args.auth_required {
        tracing::warn!(
            "AUTH_REQUIRED=true: bearer-token verification is not available in this build, so \
             operator routes answer 401; set AUTH_REQUIRED=false on loopback for a demo"
        );
        Authenticator::TokenRequired
    } else {
        if !args.bind_addr.ip().is_loopback() {
            tracing::warn!(bind_addr = %args.bind_addr, "AUTHENTICATION IS OFF on a non-loopback address: anyone who reaches this port acts as the demo admin");
        }
        Authenticator::Demo
    };
    let public = PublicAuthConfig {
        auth_required: args.auth_required,
        issuer: args.oidc_issuer_url.clone(),
        audience: args.oidc_audience.clone(),
        client_id: args.oidc_client_id.clone(),
    };
    let state = AppState::new(pool, redis, authenticator, public)
        .with_redis_prefix(&args.redis_key_prefix)
        .with_inputs(args.inputs.policy()?)
        .with_cursor_signer(cursors);
    let listener = tokio::net::TcpListener::bind(args.bind_addr)
        .await
        .with_context(|| {
            format!(
                "binding {} (is another server running there?)",
                args.bind_addr
            )
        })?;
    tracing::info!(addr = %args.bind_addr, auth_required = args.auth_required, "statesight-server listening");
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
