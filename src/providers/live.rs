//! The live set of airlines across processes (Redis mode). Every process
//! that serves airlines publishes a heartbeat, one field of the
//! `providers.live` hash: the airlines it serves now and when the beat
//! runs out. It beats every second, at once when its provider files change,
//! and withdraws on shutdown. Every api process reads the hash four times a
//! second and targets exactly the airlines some live process serves, so an
//! api process needs no providers directory, a new airline is targeted as
//! soon as a process serves it, and an airline whose every process died
//! stops being targeted within [`LIFETIME`].

use super::Coverage;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::ProviderRegistry;
use crate::bus::BusError;
use crate::bus::redis_conn::{RedisConn, bus_error};
use crate::fault::{Chain, Fault};
use crate::shutdown::Shutdown;

/// The hash of heartbeats, one field per process.
pub const LIVE: &str = "providers.live";
/// How often a process beats.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);
/// How long a beat counts: a process silent this long is taken for dead.
pub const LIFETIME: Duration = Duration::from_secs(3);
/// How often an api process reads the beats.
pub const READ_EVERY: Duration = Duration::from_millis(250);
/// How long an airline stays known after the beats of every process
/// serving it ran out: a search naming it meanwhile is refused as
/// unavailable (503), not as an unknown provider (422). Beats run out when
/// those processes die, or when Redis refuses writes (out of memory,
/// read-only); a process that stops serving an airline on purpose (its
/// file removed, or a clean shutdown) makes it unknown at once.
pub const AWAY_FOR: Duration = Duration::from_secs(600);

/// An airline as a serving process describes it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LiveAirline {
    /// Provider id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// IATA airline code.
    pub airline: String,
    /// `mock` or `http`.
    pub mode: String,
    /// Budget within a search, in milliseconds.
    pub timeout_ms: u64,
    /// Airports it serves, when known.
    pub airports: Vec<String>,
    /// Where it flies; a process from before coverage was sent is asked
    /// for every route.
    #[serde(default = "Coverage::everywhere")]
    pub coverage: Coverage,
}

/// One process's heartbeat.
#[derive(Debug, Serialize, Deserialize)]
struct Beat {
    expires_ms: i64,
    airlines: Vec<LiveAirline>,
}

/// The airlines live processes serve now, each with its processes.
#[derive(Clone, Debug, Default)]
pub struct LiveSet {
    /// By id: the airline and the processes serving it.
    pub airlines: BTreeMap<String, (LiveAirline, Vec<String>)>,
    /// Airlines live within [`AWAY_FOR`] that no process serves now.
    pub away: std::collections::BTreeSet<String>,
}

/// One process's part in the live set.
pub struct Live {
    redis: Arc<RedisConn>,
    key: String,
    process: String,
    view: RwLock<Arc<LiveSet>>,
    /// Airlines whose every serving process went silent, and since when.
    away: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("process", &self.process)
            .finish_non_exhaustive()
    }
}

impl Live {
    /// The live set as seen through `redis`, for process `process`.
    pub fn new(redis: Arc<RedisConn>, process: &str) -> Self {
        Self {
            key: redis.key(LIVE),
            redis,
            process: process.to_string(),
            view: RwLock::new(Arc::new(LiveSet::default())),
            away: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The live set as last read.
    pub fn view(&self) -> Arc<LiveSet> {
        self.view.read().expect("live lock").clone()
    }

    /// Publishes the airlines this process serves now.
    pub async fn beat(&self, registry: &ProviderRegistry) -> Result<(), BusError> {
        let airlines = registry
            .catalog()
            .enabled()
            .map(|d| LiveAirline {
                id: d.id.clone(),
                name: d.name.clone(),
                airline: d.airline.code.clone(),
                mode: d.mode.name().to_string(),
                timeout_ms: d.timeout.as_millis() as u64,
                airports: d.airports(),
                coverage: d.coverage(),
            })
            .collect();
        let beat = Beat {
            expires_ms: Timestamp::now().as_millisecond() + LIFETIME.as_millis() as i64,
            airlines,
        };
        let json = serde_json::to_string(&beat).map_err(|e| BusError::Protocol(Fault::of(e)))?;
        let mut conn = self.redis.short();
        redis::cmd("HSET")
            .arg(&self.key)
            .arg(&self.process)
            .arg(json)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| bus_error(e, "", ""))
    }

    /// Withdraws this process's beat (on shutdown).
    pub async fn withdraw(&self) {
        let mut conn = self.redis.short();
        let _: Result<(), _> = redis::cmd("HDEL")
            .arg(&self.key)
            .arg(&self.process)
            .query_async(&mut conn)
            .await;
    }

    /// Reads every beat again; beats that ran out are dropped.
    pub async fn refresh(&self) -> Result<(), BusError> {
        let mut conn = self.redis.short();
        let beats: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&self.key)
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, "", ""))?;
        let now = Timestamp::now().as_millisecond();
        let mut set = LiveSet::default();
        let mut dead = Vec::new();
        let mut silent = Vec::new();
        for (process, json) in beats {
            let Ok(beat) = serde_json::from_str::<Beat>(&json) else {
                dead.push(process);
                continue;
            };
            if beat.expires_ms <= now {
                dead.push(process);
                silent.extend(beat.airlines.into_iter().map(|a| a.id));
                continue;
            }
            for airline in beat.airlines {
                let entry = set
                    .airlines
                    .entry(airline.id.clone())
                    .or_insert_with(|| (airline, Vec::new()));
                entry.1.push(process.clone());
            }
        }
        for (_, processes) in set.airlines.values_mut() {
            processes.sort();
        }
        {
            // Airlines of processes that went silent stay known for a
            // while; an airline a beating process no longer lists was
            // removed on purpose and is forgotten at once.
            let mut away = self.away.lock().expect("away lock");
            let now = std::time::Instant::now();
            for id in silent {
                away.entry(id).or_insert(now);
            }
            away.retain(|id, since| {
                !set.airlines.contains_key(id) && now.duration_since(*since) < AWAY_FOR
            });
            set.away = away.keys().cloned().collect();
        }
        *self.view.write().expect("live lock") = Arc::new(set);
        if !dead.is_empty() {
            tracing::info!(processes = ?dead, "providers processes stopped beating; their airlines are no longer targeted");
            let _: Result<(), _> = redis::cmd("HDEL")
                .arg(&self.key)
                .arg(&dead)
                .query_async(&mut conn)
                .await;
        }
        Ok(())
    }

    /// Beats every second and at once on provider file changes, until
    /// shutdown; then withdraws.
    pub async fn beat_until_stopped(
        self: Arc<Self>,
        registry: Arc<ProviderRegistry>,
        shutdown: Shutdown,
    ) {
        let mut changes = registry.subscribe();
        loop {
            if let Err(e) = self.beat(&registry).await {
                tracing::warn!(error = %Chain(&e), "providers heartbeat failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(BEAT_EVERY) => {}
                changed = changes.changed() => if changed.is_err() { break },
                _ = shutdown.wait() => break,
            }
        }
        self.withdraw().await;
    }

    /// Reads the beats four times a second until shutdown.
    pub async fn read_until_stopped(self: Arc<Self>, shutdown: Shutdown) {
        loop {
            if let Err(e) = self.refresh().await {
                tracing::debug!(error = %e, "reading providers heartbeats failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(READ_EVERY) => {}
                _ = shutdown.wait() => return,
            }
        }
    }
}
