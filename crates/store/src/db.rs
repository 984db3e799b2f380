//! Connecting to PostgreSQL and applying the embedded migrations.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::Result;

/// The migrations under `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Opens a pool. Connections are made lazily so a server can start (and answer `/readyz`
/// with 503) while the database is still coming up.
pub fn connect(database_url: &str, max_connections: u32) -> Result<PgPool> {
    let options: PgConnectOptions = database_url.parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.application_name("statesight"));
    Ok(pool)
}

pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// True when the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> Result<()> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

/// Creates the database named in `database_url` when it does not exist yet (a fresh
/// machine has a server but not our database). Returns whether it was created.
pub async fn create_database_if_missing(database_url: &str) -> Result<bool> {
    use sqlx::migrate::MigrateDatabase;
    if sqlx::Postgres::database_exists(database_url).await? {
        return Ok(false);
    }
    sqlx::Postgres::create_database(database_url).await?;
    Ok(true)
}
