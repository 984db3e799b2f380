//! `statesight-worker run`: wires settings, PostgreSQL, Redis, metrics and signals around
//! the queue consumer, and shuts down gracefully.

use anyhow::Context;
use tokio::sync::watch;

use crate::runtime::Worker;
use crate::settings::{RunArgs, Settings};

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    crate::telemetry::init_logging(args.log_format.as_deref());
    let settings = Settings::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // kube-rs and reqwest need a process-wide rustls provider before any client exists.
    crate::collect::install_crypto_provider();
    let pool = statesight_store::connect(
        &settings.database_url,
        (settings.concurrency as u32 + 2).max(4),
    )
    .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    statesight_store::db::ping(&pool)
        .await
        .context("PostgreSQL does not answer at DATABASE_URL (is it running, and did `statesight-server migrate` run?)")?;
    let client = statesight_store::redis_conn::client(&settings.redis_url)
        .context("REDIS_URL is not a valid Redis URL")?;
    let queue = statesight_store::queue::Queue::new(client, settings.redis_key_prefix.clone());
    std::fs::create_dir_all(&settings.git_cache_dir).with_context(|| {
        format!(
            "creating GIT_CACHE_DIR {}",
            settings.git_cache_dir.display()
        )
    })?;

    let handle = crate::telemetry::install_metrics();
    let metrics_addr = settings.metrics_addr;
    tokio::spawn(async move {
        if let Err(error) = crate::telemetry::serve_metrics(metrics_addr, handle).await {
            tracing::error!(error = %error, "metrics endpoint stopped");
        }
    });

    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested; finishing jobs in progress");
        let _ = stop.send(true);
    });
    tracing::info!(
        worker_id = %settings.worker_id,
        concurrency = settings.concurrency,
        prefix = %settings.redis_key_prefix,
        metrics = %settings.metrics_addr,
        secret_digest_key_id = settings.secret_digester.key_id().unwrap_or("none"),
        "statesight-worker started"
    );
    Worker::new(pool, queue, settings).run(stopped).await?;
    tracing::info!("statesight-worker stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
