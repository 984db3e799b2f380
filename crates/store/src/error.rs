//! The store's error type. Constraint violations that callers turn into 4xx answers are
//! told apart here, by constraint, so no other crate needs to know SQLSTATE codes or
//! constraint names.

use std::fmt;

/// Errors of the store. Each variant says when it happens.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, the connection broke, or no pooled connection
    /// became free in time: retrying later may succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// The database refused a write because it breaks one of the data model's rules.
    #[error("the database refused the write: {0}")]
    Violation(Constraint),
    /// A query failed otherwise: the statement was refused, or a stored value could not
    /// be read.
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
        if let Some(constraint) = Constraint::of(&error) {
            return StoreError::Violation(constraint);
        }
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(error)
            }
            error => StoreError::Database(error),
        }
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

/// Which rule of the data model a write broke. The named variants are the ones callers
/// answer differently; anything else is `Other`, keeping its kind (its database name is
/// for logs only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// Another cluster of the workspace has this name.
    ClusterName,
    /// Another source of the workspace has this name.
    SourceName,
    /// Another application of the workspace has this name.
    ApplicationName,
    /// Another rule of the application has this name.
    ApplicationRuleName,
    /// Another workspace-wide rule has this name.
    WorkspaceRuleName,
    /// Another notification endpoint of the workspace has this name.
    NotificationEndpointName,
    /// The application already has a queued run.
    OneQueuedRun,
    /// The application already has a running run.
    OneRunningRun,
    /// An application's cluster is not a cluster of its workspace (or no longer exists).
    ApplicationCluster,
    /// An application's source is not a source of its workspace (or no longer exists).
    ApplicationSource,
    /// The workspace a row is written into no longer exists (deleted while the write ran).
    MissingWorkspace,
    /// The application a row is written for no longer exists (deleted while the write ran).
    MissingApplication,
    /// The user a row names as its author no longer exists (deleted while the write ran).
    MissingUser,
    /// Any other constraint.
    Other { kind: ConstraintKind, name: String },
}

/// The kind of a database constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    Unique,
    ForeignKey,
    Check,
    NotNull,
}

impl Constraint {
    /// The constraint `error` reports breaking, if it is a constraint violation.
    pub fn of(error: &sqlx::Error) -> Option<Constraint> {
        let sqlx::Error::Database(database) = error else {
            return None;
        };
        let kind = match database.code().as_deref() {
            Some("23505") => ConstraintKind::Unique,
            Some("23503") => ConstraintKind::ForeignKey,
            Some("23514") => ConstraintKind::Check,
            Some("23502") => ConstraintKind::NotNull,
            _ => return None,
        };
        Some(Constraint::named(kind, database.constraint().unwrap_or("")))
    }

    /// The constraint called `name`, by the names PostgreSQL derives from the migrations
    /// (`<table>_<columns>_key` for `UNIQUE (…)`, `<table>_<columns>_fkey` for
    /// `FOREIGN KEY (…)`) and the indexes the migrations name themselves. Every foreign key
    /// a write of the API can break is named here (a store test lists them from the
    /// catalogue), so a row deleted while a request ran is answered by what is gone.
    pub fn named(kind: ConstraintKind, name: &str) -> Constraint {
        match name {
            "clusters_workspace_id_name_key" => Constraint::ClusterName,
            "source_definitions_workspace_id_name_key" => Constraint::SourceName,
            "applications_workspace_id_name_key" => Constraint::ApplicationName,
            "ignore_rules_application_name_idx" => Constraint::ApplicationRuleName,
            "ignore_rules_workspace_name_idx" => Constraint::WorkspaceRuleName,
            "notification_endpoints_workspace_id_name_key" => Constraint::NotificationEndpointName,
            "analysis_runs_one_queued_idx" => Constraint::OneQueuedRun,
            "analysis_runs_one_running_idx" => Constraint::OneRunningRun,
            "applications_workspace_id_cluster_id_fkey" => Constraint::ApplicationCluster,
            "applications_workspace_id_source_id_fkey" => Constraint::ApplicationSource,
            "clusters_workspace_id_fkey"
            | "source_definitions_workspace_id_fkey"
            | "applications_workspace_id_fkey"
            | "ignore_rules_workspace_id_fkey"
            | "workspace_memberships_workspace_id_fkey"
            | "operator_audit_log_workspace_id_fkey"
            | "notification_endpoints_workspace_id_fkey" => Constraint::MissingWorkspace,
            "analysis_runs_workspace_id_application_id_fkey"
            | "ignore_rules_workspace_id_application_id_fkey"
            | "incidents_workspace_id_application_id_fkey"
            | "suppressed_findings_workspace_id_application_id_fkey" => {
                Constraint::MissingApplication
            }
            "analysis_runs_requested_by_fkey"
            | "ignore_rules_created_by_fkey"
            | "ignore_rules_updated_by_fkey"
            | "operator_audit_log_actor_user_id_fkey" => Constraint::MissingUser,
            name => Constraint::Other {
                kind,
                name: name.to_owned(),
            },
        }
    }

    pub fn kind(&self) -> ConstraintKind {
        match self {
            Constraint::ClusterName
            | Constraint::SourceName
            | Constraint::ApplicationName
            | Constraint::ApplicationRuleName
            | Constraint::WorkspaceRuleName
            | Constraint::NotificationEndpointName
            | Constraint::OneQueuedRun
            | Constraint::OneRunningRun => ConstraintKind::Unique,
            Constraint::ApplicationCluster
            | Constraint::ApplicationSource
            | Constraint::MissingWorkspace
            | Constraint::MissingApplication
            | Constraint::MissingUser => ConstraintKind::ForeignKey,
            Constraint::Other { kind, .. } => *kind,
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::ClusterName => f.write_str("a cluster of this name already exists"),
            Constraint::SourceName => f.write_str("a source of this name already exists"),
            Constraint::ApplicationName => {
                f.write_str("an application of this name already exists")
            }
            Constraint::ApplicationRuleName => {
                f.write_str("the application already has a rule of this name")
            }
            Constraint::WorkspaceRuleName => {
                f.write_str("the workspace already has a rule of this name")
            }
            Constraint::NotificationEndpointName => {
                f.write_str("a notification endpoint of this name already exists")
            }
            Constraint::OneQueuedRun => f.write_str("the application already has a queued run"),
            Constraint::OneRunningRun => f.write_str("the application already has a running run"),
            Constraint::ApplicationCluster => {
                f.write_str("the cluster is not a cluster of the application's workspace")
            }
            Constraint::ApplicationSource => {
                f.write_str("the source is not a source of the application's workspace")
            }
            Constraint::MissingWorkspace => f.write_str("the workspace no longer exists"),
            Constraint::MissingApplication => f.write_str("the application no longer exists"),
            Constraint::MissingUser => f.write_str("the acting user no longer exists"),
            Constraint::Other { kind, name } => write!(f, "{kind:?} constraint {name}"),
        }
    }
}
