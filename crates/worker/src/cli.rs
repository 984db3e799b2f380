//! Command-line arguments (clap). Only what exists is declared, so `--help` lists only that.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use statesight_core::bookkeeping::{
    BookkeepingKey, DEFAULT_BOOKKEEPING_KEYS, default_bookkeeping_keys,
};

use crate::diff_command::{DiffOptions, OutputFormat};
use crate::digest_key::{KeyError, KeyText};

/// StateSight worker.
#[derive(Debug, Parser)]
#[command(
    name = "statesight-worker",
    version,
    about = "StateSight worker: drift analysis of Git manifests against live Kubernetes state"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare desired manifests with live objects offline. Exit status: 0 no unsuppressed
    /// drift, 1 drift, 2 error.
    Diff(DiffArgs),
    /// Consume analysis jobs from Redis: read Git, collect live objects, write results to
    /// PostgreSQL. Runs until SIGTERM or Ctrl-C (a job in progress finishes first).
    Run(Box<crate::settings::RunArgs>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Desired manifests: a YAML/JSON file, a directory (walked recursively in name order), or
    /// `-` for standard input. Repeatable.
    #[arg(long, required = true, value_name = "PATH")]
    pub desired: Vec<PathBuf>,
    /// Live objects as `kubectl get -o yaml|json` prints them (add `--show-managed-fields` for
    /// ownership evidence): a file, a directory, or `-`. Repeatable.
    #[arg(long, required = true, value_name = "PATH")]
    pub live: Vec<PathBuf>,
    /// Namespace of desired objects that do not name one.
    #[arg(long, value_name = "NS", default_value = "default")]
    pub namespace: String,
    /// Ignore rules file (YAML or JSON list of {name, match, resource_ref, managed_by, reason}).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Manager name of the applier (default: detected per object, mainly the manager owning the
    /// most Git-declared fields that still have Git's values; see docs/applier.md).
    #[arg(long, value_name = "NAME")]
    pub applier: Option<String>,
    /// Add a bookkeeping key: a label or annotation a GitOps tool adds to what it applies,
    /// never drift on the object's own metadata when Git does not declare it. Repeatable.
    #[arg(
        long = "bookkeeping-key",
        value_name = "label:KEY|annotation:KEY",
        long_help = bookkeeping_help()
    )]
    pub bookkeeping_keys: Vec<BookkeepingKey>,
    /// Start from no bookkeeping keys instead of the built-in Argo CD, Flux and Helm ones (only
    /// the --bookkeeping-key keys apply).
    #[arg(long)]
    pub no_default_bookkeeping: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// A file holding the worker's Secret digest key (`<key-id>:<hex>`), so Secret values are
    /// digested as the worker digests them. Without it (or SECRET_DIGEST_KEY), digests are
    /// unkeyed sha256 and a note says so on standard error.
    #[arg(long, env = "SECRET_DIGEST_KEY_FILE", value_name = "PATH")]
    pub secret_digest_key_file: Option<PathBuf>,
    /// The Secret digest key itself (prefer the file or the environment variable: a command
    /// line is visible to other users of the machine).
    #[arg(
        long,
        env = "SECRET_DIGEST_KEY",
        hide_env_values = true,
        value_name = "KEY-ID:HEX"
    )]
    pub secret_digest_key: Option<KeyText>,
}

/// `--bookkeeping-key`'s long help: the rule and the built-in keys.
fn bookkeeping_help() -> String {
    let mut help = String::from(
        "Add a bookkeeping key: a label or annotation a GitOps tool adds to what it applies. \
         When Git does not declare it, an entry of the object's own metadata.labels or \
         metadata.annotations with that key is never drift, whoever owns it; a key Git declares \
         is compared as usual. Written label:KEY or annotation:KEY (exact key); repeatable; \
         added to the built-in keys unless --no-default-bookkeeping is given. Built in:",
    );
    for key in DEFAULT_BOOKKEEPING_KEYS {
        help.push_str(&format!(
            "\n  {}:{} - {}",
            key.map.prefix(),
            key.key,
            key.tool
        ));
    }
    help
}

impl DiffArgs {
    /// The validated options; fails only on an unreadable or malformed digest key.
    pub fn into_options(self) -> Result<DiffOptions, KeyError> {
        let secret_digester = crate::digest_key::load(
            self.secret_digest_key.as_ref(),
            self.secret_digest_key_file.as_deref(),
        )?
        .unwrap_or_default();
        let mut bookkeeping_keys = if self.no_default_bookkeeping {
            Vec::new()
        } else {
            default_bookkeeping_keys()
        };
        bookkeeping_keys.extend(self.bookkeeping_keys);
        Ok(DiffOptions {
            desired: self.desired,
            live: self.live,
            namespace: self.namespace,
            rules: self.rules,
            applier: self.applier,
            format: match self.format {
                Format::Text => OutputFormat::Text,
                Format::Json => OutputFormat::Json,
            },
            bookkeeping_keys,
            secret_digester,
        })
    }
}
