//! Settings: defaults, overlaid by an optional `airstream.toml`, overlaid by
//! `AIRSTREAM_*` environment variables (nested keys joined with `__`, as in
//! `AIRSTREAM_SEARCH__RESULT_TTL=10m`). Unknown keys are an error that names
//! them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

mod access;
mod cache;
mod http;
pub mod redis_url;
mod tls;

pub use access::AccessSettings;
pub use cache::CacheSettings;
pub use http::HttpSettings;
use http::valid_origin;
pub use tls::TlsSettings;

/// Every setting of the service. Each field has a default, so an empty file
/// and an empty environment give a working server.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address the HTTP server binds (`0.0.0.0:3000`). Port 0 picks a free port.
    pub listen: SocketAddr,
    /// What this process runs: `all` (the default), `api` or `providers`.
    pub role: Role,
    /// Threads that run this process's tasks; unset, one per core. Where
    /// an api, a providers process and Redis share a small host, one each
    /// switches less.
    pub worker_threads: Option<usize>,
    /// Directory holding one YAML file per airline.
    pub providers_dir: PathBuf,
    /// Redis URL (`redis://host:6379`). When set, Redis Streams carry the
    /// searches and the answers; unset, the embedded bus does. `REDIS_URL`
    /// is read too, below `AIRSTREAM_REDIS_URL`.
    pub redis_url: Option<String>,
    /// Redis Streams options.
    pub redis: RedisSettings,
    /// Search lifecycle limits.
    pub search: SearchSettings,
    /// Server-Sent Events tuning.
    pub sse: SseSettings,
    /// HTTP server limits.
    pub http: HttpSettings,
    /// TLS on the listener (off unless a certificate and key are named).
    pub tls: TlsSettings,
    /// Logging.
    pub log: LogSettings,
    /// Prometheus metrics.
    pub metrics: MetricsSettings,
    /// The simulated airline API.
    pub sim: SimSettings,
    /// Showing prices in another currency.
    pub currency: CurrencySettings,
    /// Who may search: API keys.
    pub access: AccessSettings,
    /// The answer cache of upstream airlines.
    pub cache: CacheSettings,
}

/// Showing prices in the currency a search asks for.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CurrencySettings {
    /// A TOML file of exchange rates (`date`, `base`, `[rates]`); unset, a
    /// search cannot ask for a `currency`. Read at start.
    pub rates_file: Option<PathBuf>,
}

/// The simulated airline API (`/sim/...`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SimSettings {
    /// Whether this process serves it. On by default so that an upstream
    /// sample works out of the box; turn it off on a public listener.
    pub enabled: bool,
    /// The one client its token endpoint knows: its id.
    pub client_id: String,
    /// That client's secret. A published demo value by default: the
    /// simulated API guards nothing, it imitates an airline that does.
    pub client_secret: String,
    /// How long an access token it issues lasts.
    pub token_lifetime: HumanDuration,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            client_id: "airstream-demo".into(),
            client_secret: "demo-secret".into(),
            token_lifetime: HumanDuration::from(std::time::Duration::from_secs(30 * 60)),
        }
    }
}

/// What a process runs. Several processes joined by Redis share the work:
/// any number of `providers` processes answer searches, an `api` process
/// takes them and streams the results.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// HTTP API, aggregation and the provider runtime in one process.
    #[default]
    All,
    /// HTTP API, aggregation and SSE only.
    Api,
    /// The provider runtime only (plus health probes over HTTP).
    Providers,
}

impl Role {
    /// Whether this role takes searches and streams results.
    pub fn runs_api(self) -> bool {
        matches!(self, Role::All | Role::Api)
    }

    /// Whether this role answers searches for the airlines.
    pub fn runs_providers(self) -> bool {
        matches!(self, Role::All | Role::Providers)
    }

    /// The name used in settings and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Providers => "providers",
        }
    }
}

/// Redis Streams options (used when `redis_url` is set).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// Prefix of every stream key, so several deployments can share a Redis.
    pub key_prefix: String,
    /// Entries kept per stream, about (`XADD ... MAXLEN ~`).
    pub stream_max_len: usize,
    /// How long a search may sit unacknowledged with a consumer before a
    /// live process takes it over (`XAUTOCLAIM`). Never less than the
    /// airline's timeout plus one second, so live work is not taken.
    pub claim_idle: HumanDuration,
    /// Deliveries of one search to one airline before it goes to the
    /// dead-letter stream and that airline answers `error`.
    pub max_deliveries: u32,
    /// Partitions of the requested and results streams, to spread them over
    /// a Redis Cluster's masters (1 to 64; every process of a deployment
    /// must have the same).
    pub partitions: usize,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            key_prefix: String::new(),
            stream_max_len: 100_000,
            claim_idle: Duration::from_secs(10).into(),
            max_deliveries: 3,
            partitions: 1,
        }
    }
}

/// How long searches run and how many are kept.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSettings {
    /// Deadline of a search that names no `timeout_ms`.
    pub default_timeout: HumanDuration,
    /// Upper bound for a search's `timeout_ms`; larger values are capped to it.
    pub max_timeout: HumanDuration,
    /// How long a finished search's events stay available for replay.
    pub result_ttl: HumanDuration,
    /// Searches kept in memory at most; when full, the oldest finished search
    /// is evicted, and with none finished a new search is refused with 503.
    pub max_retained: usize,
    /// How many of the cheapest offers the `complete` event carries.
    pub complete_top_offers: usize,
}

/// Server-Sent Events tuning.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SseSettings {
    /// Interval of `: keepalive` comment lines while a stream waits.
    pub keepalive: HumanDuration,
    /// Reconnection delay suggested to clients in the first event's `retry:`.
    pub retry: HumanDuration,
}

/// Log output.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `tracing` filter directives, such as `info` or `airstream=debug,info`.
    /// `RUST_LOG`, when set, wins.
    pub filter: String,
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
}

/// Log line format.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// The most `worker_threads` a process may ask for.
pub const MAX_WORKER_THREADS: usize = 1024;

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 3000)),
            role: Role::All,
            worker_threads: None,
            providers_dir: PathBuf::from("providers.d"),
            redis_url: None,
            redis: RedisSettings::default(),
            search: SearchSettings::default(),
            sse: SseSettings::default(),
            http: HttpSettings::default(),
            tls: TlsSettings::default(),
            log: LogSettings::default(),
            metrics: MetricsSettings::default(),
            sim: SimSettings::default(),
            currency: CurrencySettings::default(),
            access: AccessSettings::default(),
            cache: CacheSettings::default(),
        }
    }
}

/// Prometheus metrics.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Whether metrics are recorded and served on `/metrics`.
    pub enabled: bool,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            default_timeout: Duration::from_secs(5).into(),
            max_timeout: Duration::from_secs(30).into(),
            result_ttl: Duration::from_secs(300).into(),
            max_retained: 10_000,
            complete_top_offers: 10,
        }
    }
}

impl Default for SseSettings {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(15).into(),
            retry: Duration::from_secs(2).into(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info".to_string(),
            format: LogFormat::Text,
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A named settings file does not exist.
    #[error("settings file {0} does not exist")]
    MissingFile(PathBuf),
    /// A key is unknown, a value has the wrong type, or a file is not TOML.
    #[error("invalid settings: {0}")]
    Invalid(String),
}

/// The environment variable that names a settings file other than
/// `airstream.toml`.
pub const CONFIG_FILE_VAR: &str = "AIRSTREAM_CONFIG";

impl Settings {
    /// Loads settings the way the binary does: defaults, then `file` (or
    /// `AIRSTREAM_CONFIG`, or `./airstream.toml` when it exists), then the
    /// environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let named = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_FILE_VAR).map(PathBuf::from));
        let path = match named {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path)),
            Some(path) => Some(path),
            None => Some(PathBuf::from("airstream.toml")).filter(|p| p.exists()),
        };
        let settings: Settings = Self::figment(path.as_deref(), Env::prefixed("AIRSTREAM_"))
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that parse but cannot work, reporting all of them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let positive = [
            ("search.default_timeout", self.search.default_timeout),
            ("search.max_timeout", self.search.max_timeout),
            ("search.result_ttl", self.search.result_ttl),
            ("sse.keepalive", self.sse.keepalive),
            ("http.request_timeout", self.http.request_timeout),
            ("http.header_read_timeout", self.http.header_read_timeout),
        ];
        for (key, value) in positive {
            if value.get().is_zero() {
                problems.push(format!("`{key}` must be more than zero"));
            }
        }
        if let Some(problem) = self.redis_url.as_deref().and_then(redis_url::problem) {
            problems.push(problem);
        }
        if self.role != Role::All && self.redis_url.is_none() {
            problems.push(format!(
                "role `{}` works with other processes through Redis: set AIRSTREAM_REDIS_URL (or REDIS_URL), or run role `all`",
                self.role.as_str()
            ));
        }
        if let Some(threads) = self.worker_threads
            && !(1..=MAX_WORKER_THREADS).contains(&threads)
        {
            problems.push(format!(
                "`worker_threads` must be from 1 to {MAX_WORKER_THREADS} (unset: one per core), got {threads}"
            ));
        }
        if self.redis.stream_max_len == 0 {
            problems.push("`redis.stream_max_len` must be at least 1".to_string());
        }
        if !(1..=crate::bus::partitions::MAX_PARTITIONS).contains(&self.redis.partitions) {
            problems.push(format!(
                "`redis.partitions` must be from 1 to {}, got {}",
                crate::bus::partitions::MAX_PARTITIONS,
                self.redis.partitions
            ));
        }
        if self.search.max_retained == 0 {
            problems.push("`search.max_retained` must be at least 1".to_string());
        }
        if self.http.idle_timeout <= self.sse.keepalive {
            problems.push(format!(
                "`http.idle_timeout` ({}) must be longer than `sse.keepalive` ({}), or waiting streams are cut",
                self.http.idle_timeout, self.sse.keepalive
            ));
        }
        if self.http.max_unsent_bytes < 16 * 1024 {
            problems.push(format!(
                "`http.max_unsent_bytes` must be at least 16384, got {}",
                self.http.max_unsent_bytes
            ));
        }
        if self.http.max_concurrent_streams == 0 {
            problems.push("`http.max_concurrent_streams` must be at least 1".to_string());
        }
        problems.extend(self.tls.problems());
        problems.extend(self.access.problems());
        problems.extend(self.cache.problems());
        for origin in &self.http.cors_origins {
            if !valid_origin(origin) {
                problems.push(format!(
                    "`http.cors_origins`: `{}` is not an origin such as https://travel.example (a scheme, a host and at most a port; no path), or `*`",
                    crate::text::excerpt(origin)
                ));
            }
        }
        if self.http.body_limit < 256 {
            problems.push(format!(
                "`http.body_limit` must be at least 256 bytes, got {}",
                self.http.body_limit
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems.join("; ")))
        }
    }

    /// The figment behind [`Settings::load`], with the environment provider
    /// passed in so tests can feed variables without touching the process.
    pub fn figment(file: Option<&Path>, env: Env) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        // `REDIS_URL` is the conventional name; the prefixed one wins.
        let redis_url = Env::raw().only(&["REDIS_URL"]).map(|_| "redis_url".into());
        figment
            .merge(redis_url)
            .merge(env.ignore(&["config"]).split("__"))
    }

    /// A settings value for tests: port 0 on loopback, the given providers
    /// directory, everything else default.
    pub fn for_tests(providers_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            providers_dir: providers_dir.into(),
            ..Self::default()
        }
    }
}

/// Figment errors list every problem; join them into one readable line each.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("`{}`: ", e.path.join("."))
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            format!("{key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
// figment's Jail API returns its large error type by value; that is its shape.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn from_env(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let mut out = None;
        figment::Jail::expect_with(|jail| {
            for (k, v) in vars {
                jail.set_env(k, v);
            }
            out = Some(
                Settings::figment(None, Env::prefixed("AIRSTREAM_"))
                    .extract::<Settings>()
                    .map_err(describe),
            );
            Ok(())
        });
        out.expect("the jail ran")
    }

    #[test]
    fn defaults_serve_port_3000_with_sample_providers() {
        let s = from_env(&[]).unwrap();
        assert_eq!(s.listen.port(), 3000);
        assert_eq!(s.providers_dir, PathBuf::from("providers.d"));
        assert_eq!(s.search.max_timeout.get(), Duration::from_secs(30));
    }

    #[test]
    fn nested_environment_keys_override() {
        let s = from_env(&[
            ("AIRSTREAM_SEARCH__RESULT_TTL", "10m"),
            ("AIRSTREAM_LISTEN", "127.0.0.1:8080"),
            ("AIRSTREAM_LOG__FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(s.search.result_ttl.get(), Duration::from_secs(600));
        assert_eq!(s.listen.port(), 8080);
        assert_eq!(s.log.format, LogFormat::Json);
    }

    #[test]
    fn the_redis_url_comes_from_either_variable_the_prefixed_one_first() {
        let s = from_env(&[("REDIS_URL", "redis://plain:6379")]).unwrap();
        assert_eq!(s.redis_url.as_deref(), Some("redis://plain:6379"));
        let s = from_env(&[
            ("REDIS_URL", "redis://plain:6379"),
            ("AIRSTREAM_REDIS_URL", "redis://prefixed:6379"),
            ("AIRSTREAM_REDIS__KEY_PREFIX", "staging:"),
        ])
        .unwrap();
        assert_eq!(s.redis_url.as_deref(), Some("redis://prefixed:6379"));
        assert_eq!(s.redis.key_prefix, "staging:");
        assert_eq!(from_env(&[]).unwrap().redis_url, None);
        let bad = Settings {
            redis_url: Some("localhost:6379".into()),
            ..Settings::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("redis://"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = from_env(&[("AIRSTREAM_SEARCH__RESULT_TTLL", "10m")]).unwrap_err();
        assert!(err.contains("result_ttll"), "{err}");
        let err = from_env(&[("AIRSTREAM_LISTN", "x")]).unwrap_err();
        assert!(err.contains("listn"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = from_env(&[("AIRSTREAM_SSE__KEEPALIVE", "often")]).unwrap_err();
        assert!(err.contains("sse.keepalive"), "{err}");
        assert!(err.contains("not a duration"), "{err}");
    }

    #[test]
    fn toml_file_is_overlaid_by_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "airstream.toml",
                "providers_dir = \"elsewhere\"\n[search]\nmax_retained = 7\n",
            )?;
            jail.set_env("AIRSTREAM_SEARCH__MAX_RETAINED", "9");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.providers_dir, PathBuf::from("elsewhere"));
            assert_eq!(s.search.max_retained, 9);
            Ok(())
        });
    }

    #[test]
    fn values_that_cannot_work_are_refused_all_at_once() {
        let mut s = Settings::default();
        s.sse.keepalive = Duration::ZERO.into();
        s.search.max_retained = 0;
        s.http.body_limit = 10;
        s.http.max_concurrent_streams = 0;
        let err = s.validate().unwrap_err().to_string();
        assert!(
            err.contains("`sse.keepalive` must be more than zero"),
            "{err}"
        );
        assert!(
            err.contains("`search.max_retained` must be at least 1"),
            "{err}"
        );
        assert!(err.contains("`http.body_limit`"), "{err}");
        assert!(err.contains("`http.max_concurrent_streams`"), "{err}");
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn a_named_missing_file_is_an_error() {
        let err = Settings::load(Some(Path::new("/nonexistent/airstream.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }
}
