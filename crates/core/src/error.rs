//! The crate's error type and `Result` alias. Parsers of user-written text (drift paths,
//! resource references) report a [`SyntaxError`] carrying the byte offset of the bad character
//! and what was expected there, so callers such as the API server can point at it.

use std::fmt;

/// Errors returned by `statesight-core`. None of them is retryable: they all describe input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document of a manifest file is not valid YAML or JSON. `document` is 1-based.
    #[error("{origin}: document {document}: {message}")]
    InvalidDocument {
        origin: String,
        document: usize,
        message: String,
    },
    /// A drift path (`match_expression`, evidence path) does not follow the path grammar.
    #[error("invalid drift path {input:?}: {error}")]
    InvalidPath { input: String, error: SyntaxError },
    /// A `resource_ref` does not have the form `[group/]Kind/[namespace/]name`.
    #[error("invalid resource reference {input:?}: {error}")]
    InvalidResourceRef { input: String, error: SyntaxError },
    /// A rules file is not a list of ignore rules.
    #[error("{origin}: {message}")]
    InvalidRules { origin: String, message: String },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a small grammar parser stopped: the byte offset into the input, what it expected and
/// what it found instead (`None` at the end of the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub expected: &'static str,
    pub found: Option<char>,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.found {
            Some(c) => write!(
                f,
                "at byte {}: expected {}, found {:?}",
                self.offset, self.expected, c
            ),
            None => write!(
                f,
                "at byte {}: expected {}, found the end of the input",
                self.offset, self.expected
            ),
        }
    }
}

impl std::error::Error for SyntaxError {}

impl SyntaxError {
    pub(crate) fn at(input: &str, offset: usize, expected: &'static str) -> Self {
        SyntaxError {
            offset,
            expected,
            found: input.get(offset..).and_then(|rest| rest.chars().next()),
        }
    }
}
