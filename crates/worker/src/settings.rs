//! The worker's configuration, read from the environment (and `.env`) by clap and then
//! validated into `Settings`, which cannot hold an unusable combination.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use statesight_core::bookkeeping::BookkeepingKey;
use statesight_core::secret::SecretDigester;
pub use statesight_core::source::InputPolicy;

use crate::digest_key::KeyText;

/// `statesight-worker run` options; every one also reads its environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Redis connection URL (the job queue).
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,
    /// Prefix of every Redis key (must match the server's).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "statesight")]
    pub redis_key_prefix: String,
    /// The git executable.
    #[arg(long, env = "GIT_BIN", default_value = "git")]
    pub git_bin: PathBuf,
    /// Where repository mirrors are cached (default: the user's cache directory).
    #[arg(long, env = "GIT_CACHE_DIR")]
    pub git_cache_dir: Option<PathBuf>,
    /// The kubectl executable (kubectl clusters and kustomize rendering).
    #[arg(long, env = "KUBECTL_BIN", default_value = "kubectl")]
    pub kubectl_bin: PathBuf,
    /// Allow synthetic live state (untrusted; never yields reconcile or attribution).
    #[arg(long, env = "ALLOW_SYNTHETIC_LIVE_STATE", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub allow_synthetic_live_state: bool,
    /// Jobs processed at once by this worker.
    #[arg(long, env = "WORKER_CONCURRENCY", default_value_t = 2)]
    pub worker_concurrency: usize,
    /// Analyse every application this often (e.g. `5m`, `1h`), once across all workers.
    #[arg(long, env = "ANALYSIS_INTERVAL", value_parser = parse_duration)]
    pub analysis_interval: Option<Duration>,
    /// Where `/metrics` is served.
    #[arg(long, env = "WORKER_METRICS_ADDR", default_value = "127.0.0.1:9091")]
    pub worker_metrics_addr: SocketAddr,
    /// This worker's stable name in the consumer group. A restarted worker with the same
    /// name resumes its own unfinished jobs at once; give each worker on a host its own.
    #[arg(long, env = "WORKER_ID")]
    pub worker_id: Option<String>,
    /// Attempts of a job that keeps failing transiently before it is parked.
    #[arg(long, env = "WORKER_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each attempt (capped at 5 minutes).
    #[arg(long, env = "WORKER_RETRY_BASE", default_value = "2s", value_parser = parse_duration)]
    pub retry_base: Duration,
    /// Longest one analysis may take.
    #[arg(long, env = "WORKER_JOB_TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    pub job_timeout: Duration,
    /// How often a running job renews its lease; a job idle for 3× this is taken over by
    /// another worker.
    #[arg(long, env = "WORKER_LEASE_RENEW", default_value = "10s", value_parser = parse_duration)]
    pub lease_renew: Duration,
    /// Whether this worker takes part in watching the clusters whose record asks for it
    /// (`watch: true`). One worker at a time watches a cluster, under a lease.
    #[arg(long, env = "WATCH_CLUSTERS", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub watch_clusters: bool,
    /// How long a watched change waits for more changes to the same application before its
    /// re-analysis is requested: a burst of events within the window is one analysis.
    #[arg(long, env = "WATCH_DEBOUNCE", default_value = "250ms", value_parser = parse_duration)]
    pub watch_debounce: Duration,
    /// The watch lease: a dead watcher's cluster is taken over by another worker within
    /// this time, and its cache is no longer read by analyses after it.
    #[arg(long, env = "WATCH_LEASE", default_value = "15s", value_parser = parse_duration)]
    pub watch_lease: Duration,
    /// Analysis runs older than this many days are pruned (open incidents keep theirs).
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
    /// Log format: `pretty` (default on a terminal) or `json`.
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Allow `file:///…` repository URLs (local repositories; the demo uses them).
    #[arg(long, env = "ALLOW_FILE_REPOSITORIES", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub allow_file_repositories: bool,
    /// Directories (`:`-separated) a cluster's `kubeconfig_path` must lie under; checked
    /// again before every read, since a stored row may predate the setting.
    #[arg(long, env = "KUBECONFIG_ROOTS", default_value = statesight_core::source::DEFAULT_KUBECONFIG_ROOTS)]
    pub kubeconfig_roots: String,
    /// Directories (`:`-separated) a cluster's `snapshot_dir` must lie under.
    #[arg(long, env = "SNAPSHOT_ROOTS", default_value = statesight_core::source::DEFAULT_SNAPSHOT_ROOTS)]
    pub snapshot_roots: String,
    /// Labels and annotations GitOps tools add to what they apply, never drift when Git does
    /// not declare them: comma-separated `label:KEY` / `annotation:KEY`, where `default` is
    /// the built-in Argo CD, Flux and Helm list (`default,label:example.com/owner` extends it).
    #[arg(long, env = "GITOPS_BOOKKEEPING_KEYS", default_value = "default")]
    pub gitops_bookkeeping_keys: String,
    /// The key Secret values are digested with, `<key-id>:<hex of at least 32 bytes>`
    /// (required; or use the file form). Generate one with
    /// `echo "k1:$(openssl rand -hex 32)"`.
    #[arg(
        long,
        env = "SECRET_DIGEST_KEY",
        hide_env_values = true,
        value_name = "KEY-ID:HEX"
    )]
    pub secret_digest_key: Option<KeyText>,
    /// A file holding the Secret digest key (a mounted Secret), instead of SECRET_DIGEST_KEY.
    #[arg(long, env = "SECRET_DIGEST_KEY_FILE", value_name = "PATH")]
    pub secret_digest_key_file: Option<PathBuf>,
    /// Networks (comma-separated CIDRs, e.g. `10.20.0.0/16,fd12::/48`) notification
    /// endpoints may resolve to although they are loopback, private, link-local or otherwise
    /// refused. Empty: only public addresses are sent to.
    #[arg(long, env = "NOTIFY_ALLOWED_NETWORKS", default_value = "")]
    pub notify_allowed_networks: String,
    /// Attempts of a notification delivery before it is dead-lettered.
    #[arg(long, env = "NOTIFY_MAX_ATTEMPTS", default_value_t = crate::notify::DEFAULT_MAX_ATTEMPTS)]
    pub notify_max_attempts: u32,
    /// Delay before a failed delivery's first retry; doubles each attempt (at most an hour),
    /// with ±20 % jitter.
    #[arg(long, env = "NOTIFY_RETRY_BASE", default_value = "10s", value_parser = parse_duration)]
    pub notify_retry_base: Duration,
}

/// Parses `90s`, `5m`, `1h`, `2d` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |at| text.split_at(at));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m or 1h"))?;
    if value == 0 {
        return Err(format!("{text:?} must be greater than zero"));
    }
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(value)),
        "s" | "" => value,
        "m" => value * 60,
        "h" => value * 3600,
        "d" => value * 86400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use ms, s, m, h or d)"
            ));
        }
    };
    Ok(Duration::from_secs(seconds))
}

/// How the worker watches clusters.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    /// `WATCH_CLUSTERS`.
    pub enabled: bool,
    /// `WATCH_DEBOUNCE`.
    pub debounce: Duration,
    /// `WATCH_LEASE`.
    pub lease: Duration,
}

impl WatchSettings {
    /// How often the holder renews its lease and tells readers its cache is current.
    pub fn renew_every(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(100))
    }
}

/// Validated settings shared by every part of a running worker.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub redis_url: String,
    pub redis_key_prefix: String,
    pub git_bin: PathBuf,
    pub git_cache_dir: PathBuf,
    pub kubectl_bin: PathBuf,
    pub allow_synthetic_live_state: bool,
    pub concurrency: usize,
    pub analysis_interval: Option<Duration>,
    pub metrics_addr: SocketAddr,
    pub worker_id: String,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub job_timeout: Duration,
    pub lease_renew: Duration,
    pub retention_days: u32,
    pub watch: WatchSettings,
    /// What local inputs the worker may read: `file://` repositories, kubeconfig and
    /// snapshot paths.
    pub inputs: InputPolicy,
    pub bookkeeping_keys: Vec<BookkeepingKey>,
    /// Digests Secret values (keyed; `Debug` shows the key id only).
    pub secret_digester: SecretDigester,
    /// Outgoing notifications.
    pub notify: crate::notify::NotifySettings,
}

impl Settings {
    pub fn from_args(args: RunArgs) -> anyhow::Result<Self> {
        if args.worker_concurrency == 0 || args.worker_concurrency > 64 {
            anyhow::bail!("WORKER_CONCURRENCY must be between 1 and 64");
        }
        if args.max_attempts == 0 {
            anyhow::bail!("WORKER_MAX_ATTEMPTS must be at least 1");
        }
        if args.redis_key_prefix.is_empty() || args.redis_key_prefix.contains(char::is_whitespace) {
            anyhow::bail!("REDIS_KEY_PREFIX must be a non-empty word");
        }
        let git_cache_dir = match args.git_cache_dir {
            Some(dir) => dir,
            None => crate::git::default_cache_dir(),
        };
        let worker_id = match args.worker_id {
            Some(id) if !id.trim().is_empty() => id.trim().to_owned(),
            _ => default_worker_id(),
        };
        // Checked first: without a key no analysis could store a Secret's evidence safely.
        let secret_digester = crate::digest_key::require(
            args.secret_digest_key.as_ref(),
            args.secret_digest_key_file.as_deref(),
        )?;
        Ok(Settings {
            database_url: args.database_url,
            redis_url: args.redis_url,
            redis_key_prefix: args.redis_key_prefix,
            git_bin: args.git_bin,
            git_cache_dir,
            kubectl_bin: args.kubectl_bin,
            allow_synthetic_live_state: args.allow_synthetic_live_state,
            concurrency: args.worker_concurrency,
            analysis_interval: args.analysis_interval,
            metrics_addr: args.worker_metrics_addr,
            worker_id,
            max_attempts: args.max_attempts,
            retry_base: args.retry_base,
            job_timeout: args.job_timeout,
            lease_renew: args.lease_renew,
            retention_days: args.retention_days,
            watch: WatchSettings {
                enabled: args.watch_clusters,
                debounce: args.watch_debounce,
                lease: args.watch_lease,
            },
            inputs: InputPolicy::new(
                args.allow_file_repositories,
                &args.kubeconfig_roots,
                &args.snapshot_roots,
                std::env::var("HOME").ok().as_deref(),
            )?,
            bookkeeping_keys: statesight_core::bookkeeping::parse_key_list(
                &args.gitops_bookkeeping_keys,
            )
            .map_err(|error| anyhow::anyhow!("GITOPS_BOOKKEEPING_KEYS: {error}"))?,
            secret_digester,
            notify: crate::notify::NotifySettings::from_env_values(
                &args.notify_allowed_networks,
                args.notify_max_attempts,
                args.notify_retry_base,
            )?,
        })
    }

    /// Delay before retry number `attempt` (1-based): doubling, capped at five minutes.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.retry_base
            .saturating_mul(factor)
            .min(Duration::from_secs(300))
    }

    /// A job idle this long was abandoned by its worker.
    pub fn abandoned_after(&self) -> Duration {
        self.lease_renew.saturating_mul(3)
    }
}

fn default_worker_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| String::from("worker"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("").is_err());
    }
}
