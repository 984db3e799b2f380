//! Exit codes (documented in `docs/console-cli.md`) and how an error maps to one.

use std::process::ExitCode;

use crate::auth::oidc::SignInError;
use crate::client::{ClientError, CredentialError};

/// Success.
pub const OK: u8 = 0;
/// The server answered an HTTP error (4xx other than 401, 5xx); `auth status`: not signed in.
pub const HTTP_ERROR: u8 = 1;
/// A usage or configuration error (bad flags, config file, unknown workspace or profile).
pub const USAGE: u8 = 2;
/// Not signed in, or the sign-in was revoked, expired, denied or not completed in time; the
/// server answered 401.
pub const SIGN_IN_REQUIRED: u8 = 3;
/// The server (or the identity provider) could not be reached.
pub const UNREACHABLE: u8 = 4;

/// A mistake in how the command was called or configured (exit 2).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for an error that ended a command.
pub fn code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(error) = cause.downcast_ref::<ClientError>() {
            return match error {
                ClientError::Unreachable { .. } => UNREACHABLE,
                ClientError::Credentials(credential) => credential_code(credential),
                ClientError::Api { status: 401, .. } => SIGN_IN_REQUIRED,
                ClientError::Api { .. } | ClientError::Protocol(_) => HTTP_ERROR,
            };
        }
        if let Some(error) = cause.downcast_ref::<CredentialError>() {
            return credential_code(error);
        }
        if let Some(error) = cause.downcast_ref::<SignInError>() {
            return error.exit_code();
        }
        if cause.downcast_ref::<UsageError>().is_some() {
            return USAGE;
        }
    }
    USAGE
}

fn credential_code(error: &CredentialError) -> u8 {
    match error {
        CredentialError::SignInRequired(_) => SIGN_IN_REQUIRED,
        CredentialError::Unavailable(_) => UNREACHABLE,
    }
}

pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}
