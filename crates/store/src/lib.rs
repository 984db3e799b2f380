//! PostgreSQL and Redis access shared by the server and the worker. Architecture invariant:
//! this is the only crate that holds SQL; callers get `statesight_core::wire` values or
//! small row types back, never a database type.

pub mod access;
pub mod analysis;
pub mod applications;
pub mod audit;
pub mod db;
pub mod desired_since;
pub mod error;
pub mod events;
pub mod field_history;
pub mod incidents;
pub mod k8s_audit;
pub mod keyset;
pub mod notifications;
pub mod onboarding;
pub mod overview;
pub mod provisioning;
pub mod queue;
pub mod redis_conn;
pub mod rules;
pub mod runs;
pub mod seed;
pub mod watch;
pub mod webhooks;

pub use db::{MIGRATOR, connect, migrate};
pub use error::{Constraint, ConstraintKind, Result, StoreError};
pub use keyset::Page;
