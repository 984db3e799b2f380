//! The store's error type. Constraint violations that callers turn into 4xx answers are
//! told apart here, so no other crate needs to know SQLSTATE codes.

/// Errors of the store. Each variant says when it happens.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query failed: the database is unreachable, timed out, or refused the statement.
    #[error("database query failed: {0}")]
    Database(sqlx::Error),
    /// Applying the embedded migrations failed (a migration error or a changed migration).
    #[error("applying database migrations failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// A Redis command failed or Redis could not be reached.
    #[error("redis command failed: {0}")]
    Redis(redis::RedisError),
}

// The wrapped errors are rendered in the message rather than exposed as `source()`, so an
// `anyhow` chain printed with `{:#}` names each cause once.
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Database(error)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(error)
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(error: redis::RedisError) -> Self {
        StoreError::Redis(error)
    }
}

/// A stored value this build cannot read, such as an enum string it does not know.
impl From<statesight_core::string_enum::UnknownVariant> for StoreError {
    fn from(error: statesight_core::string_enum::UnknownVariant) -> Self {
        StoreError::Database(sqlx::Error::Decode(Box::new(error)))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// The name of the violated constraint when the database refused a write because of a
    /// unique, foreign-key or check constraint.
    pub fn violated_constraint(&self) -> Option<(&'static str, &str)> {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return None;
        };
        let kind = match db.code().as_deref() {
            Some("23505") => "unique",
            Some("23503") => "foreign_key",
            Some("23514") => "check",
            Some("23502") => "not_null",
            _ => return None,
        };
        Some((kind, db.constraint().unwrap_or("")))
    }
}
