//! Signing in (OIDC device authorization grant), keeping tokens (keyring, 0600 file, or
//! memory), refreshing them safely across processes, and the `auth` commands.

pub mod commands;
pub mod oidc;
pub mod present;
pub mod session;
pub mod store;
