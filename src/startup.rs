//! Wiring: [`Application::build`] loads providers, opens the bus, starts the
//! provider runtime, the aggregator and the store's maintenance, and binds the
//! HTTP listener; [`Application::run_until_stopped`] serves until shutdown.
//! `main` and the tests start the service the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::api::{self, AppState};
use crate::bus::Bus;
use crate::bus::redis_conn::RedisConn;
use crate::bus::redis_streams::RedisBus;
use crate::config::Settings;
use crate::providers::ProviderRegistry;
use crate::providers::cache::{AnswerCache, LocalStore, SharedStore, Store};
use crate::providers::live::Live;
use crate::providers::runtime::{Redelivery, Runtime};

use crate::search::Searches;
use crate::search::aggregator;
use crate::search::limits::StoreLimits;
use crate::search::memory::MemoryStore;
use crate::search::redis::RedisStore;
use crate::shutdown::Shutdown;

/// Entries kept per stream by the embedded bus once every group has read
/// them. Nothing reads a delivered entry again but a claim of a pending one,
/// and in one process no consumer dies apart from the others; kept entries
/// only hold memory (1,000 of them held 1.6 MB live after a flood, and the
/// allocator pages around them), so few are kept.
const EMBEDDED_STREAM_MAX_LEN: usize = 100;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The providers directory could not be read.
    #[error("cannot load providers")]
    Providers(#[from] crate::providers::problems::FileError),
    /// Redis could not be reached at start.
    #[error("cannot use Redis at {url}")]
    Redis {
        /// The URL, without its password.
        url: String,
        /// Why.
        source: crate::bus::BusError,
    },
    /// The bus refused to set up streams or groups.
    #[error("cannot set up streams")]
    Bus(#[from] crate::bus::BusError),
    /// The exchange rates file could not be read.
    #[error("{0}")]
    Rates(String),
    /// The API keys file could not be read.
    #[error(transparent)]
    Keys(#[from] crate::access::KeysError),
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::api::tls::TlsError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A built, bound, not yet serving airstream.
pub struct Application {
    listener: TcpListener,
    /// With TLS on, what accepts each connection.
    tls: Option<tokio_rustls::TlsAcceptor>,
    addr: SocketAddr,
    state: AppState,
    tasks: JoinSet<()>,
}

impl Application {
    /// Loads providers, starts the background parts and binds the listener.
    /// The given shutdown signal stops everything.
    pub async fn build(settings: Settings, shutdown: Shutdown) -> Result<Self, StartupError> {
        let settings = Arc::new(settings);
        // First, so that everything recorded from here on is kept.
        let metrics = settings
            .metrics
            .enabled
            .then(crate::metrics::install)
            .flatten();
        // An api process on Redis learns its airlines from the providers
        // processes, so it may run without a providers directory.
        let dir = settings.providers_dir.clone();
        let registry = if !settings.role.runs_providers() && !dir.exists() {
            tracing::info!(dir = %dir.display(), "no providers directory; airlines come from the providers processes");
            Arc::new(ProviderRegistry::empty(dir))
        } else {
            Arc::new(ProviderRegistry::load(dir)?)
        };
        // Before binding: a certificate that cannot serve stops the start.
        let mut tasks = JoinSet::new();
        let tls = match settings.tls.files() {
            Some((cert_file, key_file)) => {
                let certs = crate::api::tls::Certificates::load(cert_file, key_file)?;
                let acceptor = certs.acceptor()?;
                tasks.spawn(certs.watch(shutdown.clone()));
                Some(acceptor)
            }
            None => None,
        };
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen,
            source,
        })?;
        // Templates reach this process (its simulated airline API) here.
        let self_url = {
            let mut own = addr;
            if own.ip().is_unspecified() {
                own.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{own}")
        };
        let limits = StoreLimits {
            result_ttl: settings.search.result_ttl.get(),
            max_retained: settings.search.max_retained.max(1),
            top_offers: settings.search.complete_top_offers,
        };
        let consumer = format!("{}-{}", hostname(), std::process::id());
        let mut live = None;
        let mut shared = None;
        let (bus, searches) = match &settings.redis_url {
            None => {
                let store = Arc::new(MemoryStore::new(limits));
                if settings.role.runs_api() {
                    tasks.spawn(store.clone().maintain(shutdown.clone()));
                }
                (
                    Bus::embedded(EMBEDDED_STREAM_MAX_LEN),
                    Searches::Memory(store),
                )
            }
            Some(url) => {
                let unreachable = |source| StartupError::Redis {
                    url: crate::config::redis_url::redact(url),
                    source,
                };
                let redis = Arc::new(
                    RedisConn::connect(url, &settings.redis.key_prefix)
                        .await
                        .map_err(unreachable)?,
                );
                let bus = Arc::new(RedisBus::new(
                    redis.clone(),
                    settings.redis.stream_max_len,
                    settings.redis.partitions,
                ));
                let store = Arc::new(
                    RedisStore::new(
                        redis.clone(),
                        bus.partitions().clone(),
                        bus.max_len(),
                        limits,
                    )
                    .await
                    .map_err(unreachable)?,
                );
                if redis.is_cluster() {
                    let partitions = bus.partitions();
                    let streams = partitions
                        .all_requested()
                        .map(|s| ("requested", redis.key(s)))
                        .chain(partitions.all_results().map(|s| ("results", redis.key(s))));
                    let deadlines = store
                        .deadline_keys()
                        .iter()
                        .map(|k| ("deadlines", k.clone()));
                    crate::bus::spread::log_spread(
                        &redis,
                        streams.chain(deadlines).collect(),
                        &["requested", "results"],
                    )
                    .await;
                }
                if settings.role.runs_api() {
                    tasks.spawn(store.clone().follow(shutdown.clone()));
                    tasks.spawn(store.clone().run_deadlines(shutdown.clone()));
                    tasks.spawn(store.clone().watch_failovers(shutdown.clone()));
                }
                live = Some(Arc::new(Live::new(redis.clone(), &consumer)));
                shared = Some(redis.clone());
                (Bus::Redis(bus), Searches::Redis(store))
            }
        };
        if settings.role.runs_api() {
            aggregator::prepare(&bus).await?;
            let claim_idle = (!bus.publishes_in_process()).then(|| settings.redis.claim_idle.get());
            tasks.spawn(aggregator::run(
                bus.clone(),
                searches.clone(),
                consumer.clone(),
                claim_idle,
                shutdown.clone(),
            ));
        }
        if settings.role.runs_providers() {
            // In one process nothing else could have left work pending; with
            // Redis, a dead process's searches are taken over.
            let redelivery = (!bus.publishes_in_process()).then_some(Redelivery {
                min_idle: settings.redis.claim_idle.get(),
                max_deliveries: settings.redis.max_deliveries.max(1),
            });
            // Answers are kept where every providers process sees them.
            let cache = settings.cache.enabled.then(|| {
                let store = match &shared {
                    Some(redis) => Store::Shared(SharedStore::new(redis.clone(), shutdown.clone())),
                    None => Store::Local(LocalStore::new(
                        settings.cache.max_entries,
                        settings.cache.max_bytes,
                    )),
                };
                Arc::new(AnswerCache::new(store))
            });
            let runtime = Runtime::start(
                &bus, &registry, &consumer, redelivery, &self_url, cache, &shutdown,
            )
            .await?;
            tasks.spawn(runtime.run());
            // Consumer groups exist: the airlines may be announced.
            if let Some(live) = &live {
                live.beat(&registry).await?;
                tasks.spawn(
                    live.clone()
                        .beat_until_stopped(registry.clone(), shutdown.clone()),
                );
            }
        }
        let live = live.filter(|_| settings.role.runs_api());
        if let Some(live) = &live {
            live.refresh().await?;
            tasks.spawn(live.clone().read_until_stopped(shutdown.clone()));
        }
        if let Some(handle) = metrics.clone() {
            tasks.spawn(crate::metrics::upkeep(handle, shutdown.clone()));
        }
        tasks.spawn(crate::bus::sample_streams(
            bus.clone(),
            Duration::from_secs(5),
            shutdown.clone(),
        ));
        // An api process without a directory has nothing to watch.
        if registry.dir().exists() {
            let groups = settings.role.runs_providers().then(|| bus.clone());
            tasks.spawn(crate::providers::watch::start(
                registry.clone(),
                groups,
                shutdown.clone(),
            ));
        }
        let rates = settings
            .currency
            .rates_file
            .as_deref()
            .map(crate::currency::Rates::load)
            .transpose()
            .map_err(StartupError::Rates)?
            .map(Arc::new);
        let keys = match &settings.access.keys_file {
            Some(path) => {
                let keys = Arc::new(crate::access::Keys::load(path)?);
                if keys.is_empty() {
                    tracing::warn!(path = %path.display(), "the keys file holds no key: every search is refused");
                }
                tasks.spawn(keys.clone().watch(shutdown.clone()));
                Some(keys)
            }
            None => None,
        };
        let state = AppState::new(crate::api::Shared {
            keys,
            limiter: Arc::new(crate::access::rate::Limiter::new(shared)),
            rates,
            sim: Arc::new(crate::api::sim::SimState::new(settings.search.max_retained)),
            settings,
            bus,
            registry,
            metrics,
            live,
            searches,
            shutdown,
            started: Instant::now(),
        });
        Ok(Self {
            listener,
            tls,
            addr,
            state,
            tasks,
        })
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves HTTP until the shutdown signal trips, then waits for open
    /// connections (SSE streams end on the same signal) and background tasks.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let shutdown = self.state.shutdown.clone();
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        tracing::info!(addr = %self.addr, tls = self.tls.is_some(), backend = self.state.bus.backend(), role = self.state.settings.role.as_str(), workers, "airstream listening");
        let limits = self.connection_limits();
        let app = api::router(self.state);
        api::server::serve(self.listener, app, limits, self.tls, shutdown.clone()).await;
        // Everything else stops on the same signal (already tripped here).
        shutdown.trigger();
        let mut tasks = self.tasks;
        while tasks.join_next().await.is_some() {}
        tracing::info!("airstream stopped");
        Ok(())
    }

    /// The connection limits from the settings, the connection cap derived
    /// from the descriptor limit (raised to its hard limit first) when not
    /// set.
    fn connection_limits(&self) -> api::server::ConnectionLimits {
        let http = &self.state.settings.http;
        let derived = match api::server::raise_descriptor_limit() {
            Ok((before, now, hard)) => {
                let derived = api::server::connection_cap(now);
                tracing::info!(
                    soft_before = before,
                    soft = now,
                    hard,
                    derived_max_connections = derived,
                    "open descriptor limit"
                );
                derived
            }
            Err(e) => {
                tracing::warn!(error = %e, "the open descriptor limit is unknown");
                1024
            }
        };
        let max_connections = match http.max_connections {
            0 => derived,
            set => set,
        };
        api::server::ConnectionLimits {
            header_read_timeout: http.header_read_timeout.get(),
            idle_timeout: http.idle_timeout.get(),
            max_connections,
            max_unsent_bytes: http.max_unsent_bytes,
            max_concurrent_streams: http.max_concurrent_streams,
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "airstream".to_string())
}
