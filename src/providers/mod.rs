//! Provider files and the runtime that answers searches for each airline.
//!
//! - [`definition`]: the YAML shape of a provider file.
//! - [`files`]: which files of the directory are read (and which links).
//! - [`load`]: parsing and validation with positions; the [`load::Catalog`]
//!   of a directory.
//! - [`yaml_errors`]: the YAML parser's errors in plain words, at the line
//!   to edit.
//! - [`latency`]: delay distributions and failure rates.
//! - [`mock`]: the mock fare engine.
//! - [`upstream`]: templated HTTP calls to airline APIs and the mapping of
//!   their answers.
//! - [`runtime`]: one stream consumer per enabled airline, following file
//!   changes.
//! - [`watch`]: hot reload of the directory (and SIGHUP).
//! - [`live`]: the airlines live processes serve, through Redis heartbeats.

pub mod definition;
pub mod files;
pub mod latency;
pub mod live;
pub mod load;
pub mod mock;
pub mod runtime;
pub mod upstream;
pub mod watch;
pub mod yaml_errors;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

use crate::model::AirlineRef;
use latency::LatencyProfile;
use load::Catalog;
use mock::MockTable;

/// A validated airline definition.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderDef {
    /// Unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Airline shown on offers.
    pub airline: AirlineRef,
    /// Whether it takes part in searches.
    pub enabled: bool,
    /// Budget within a search.
    pub timeout: Duration,
    /// Searches in flight at most.
    pub concurrency: u32,
    /// Simulated delay and failures.
    pub latency: LatencyProfile,
    /// How offers are made.
    pub mode: ProviderMode,
    /// The file it came from.
    pub source: PathBuf,
}

/// How a provider makes offers.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderMode {
    /// From a mock fare table.
    Mock(MockTable),
    /// From an airline's HTTP API.
    Upstream(Arc<upstream::Upstream>),
}

impl ProviderDef {
    /// The airports this airline serves, when known: a mock airline's
    /// routes; an upstream airline's are unknown until asked (empty).
    pub fn airports(&self) -> Vec<String> {
        match &self.mode {
            ProviderMode::Mock(table) => table.airports(),
            ProviderMode::Upstream(_) => Vec::new(),
        }
    }
}

impl ProviderMode {
    /// `mock` or `http`, as shown in `/api/providers`.
    pub fn name(&self) -> &'static str {
        match self {
            ProviderMode::Mock(_) => "mock",
            ProviderMode::Upstream(_) => "http",
        }
    }
}

/// The airlines a search may target, as an api process sees them: the
/// enabled providers of its own files, or on Redis those that some live
/// process serves.
#[derive(Clone, Debug, Default)]
pub struct Airlines {
    enabled: Vec<String>,
    disabled: std::collections::BTreeSet<String>,
    away: std::collections::BTreeSet<String>,
}

/// What an api process knows of an airline id a search names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AirlineState {
    /// Searches may target it.
    Targetable,
    /// Its file disables it.
    Disabled,
    /// Served by live processes until lately, by none now (their
    /// heartbeats stopped: a deploy, or a Redis refusing writes). Not the
    /// client's mistake: a search naming it is refused as unavailable.
    Away,
    /// Never seen.
    Unknown,
}

impl Airlines {
    /// The enabled and disabled providers of a catalog.
    pub fn from_catalog(catalog: &Catalog) -> Self {
        Self {
            enabled: catalog.enabled().map(|d| d.id.clone()).collect(),
            disabled: catalog
                .providers
                .values()
                .filter(|d| !d.enabled)
                .map(|d| d.id.clone())
                .collect(),
            away: Default::default(),
        }
    }

    /// The airlines live processes serve; local files that are disabled
    /// (and not served elsewhere) are known as disabled.
    pub fn from_live(live: &live::LiveSet, local: &Catalog) -> Self {
        let enabled: Vec<String> = live.airlines.keys().cloned().collect();
        let disabled = local
            .providers
            .values()
            .filter(|d| !d.enabled && !live.airlines.contains_key(&d.id))
            .map(|d| d.id.clone())
            .collect();
        Self {
            enabled,
            disabled,
            away: live.away.clone(),
        }
    }

    /// Ids that searches may target, sorted.
    pub fn enabled(&self) -> &[String] {
        &self.enabled
    }

    /// Whether some airline is away (see [`AirlineState::Away`]).
    pub fn any_away(&self) -> bool {
        !self.away.is_empty()
    }

    /// What is known of an id.
    pub fn state(&self, id: &str) -> AirlineState {
        if self.enabled.iter().any(|e| e == id) {
            AirlineState::Targetable
        } else if self.disabled.contains(id) {
            AirlineState::Disabled
        } else if self.away.contains(id) {
            AirlineState::Away
        } else {
            AirlineState::Unknown
        }
    }
}

/// Live counters of one airline's runtime, shown in `/api/providers` and,
/// for searches in flight, exported as a metric.
#[derive(Debug, Default)]
pub struct ProviderStats {
    provider: String,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    answered: AtomicU64,
}

/// A snapshot of [`ProviderStats`].
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Searches being answered now.
    pub in_flight: u64,
    /// Most searches in flight at once since start.
    pub peak_in_flight: u64,
    /// Searches answered since start.
    pub answered: u64,
}

impl ProviderStats {
    /// Counters of provider `provider`, all zero.
    pub fn new(provider: &str) -> Self {
        Self {
            provider: provider.to_string(),
            ..Self::default()
        }
    }

    /// Counts a search entering; the guard counts it leaving.
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::AcqRel);
        self.in_flight_gauge().increment(1.0);
        InFlightGuard(self.clone())
    }

    fn in_flight_gauge(&self) -> metrics::Gauge {
        metrics::gauge!(crate::metrics::PROVIDER_IN_FLIGHT, "provider" => self.provider.clone())
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            in_flight: self.in_flight.load(Ordering::Acquire),
            peak_in_flight: self.peak_in_flight.load(Ordering::Acquire),
            answered: self.answered.load(Ordering::Acquire),
        }
    }
}

/// Decrements the in-flight count when dropped.
#[derive(Debug)]
pub struct InFlightGuard(Arc<ProviderStats>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.answered.fetch_add(1, Ordering::AcqRel);
        self.0.in_flight_gauge().decrement(1.0);
    }
}

/// The loaded provider files, shared by the API (which airlines exist) and
/// the runtime (what each airline does), with live counters per airline.
#[derive(Debug)]
pub struct ProviderRegistry {
    dir: PathBuf,
    catalog: RwLock<Arc<Catalog>>,
    stats: RwLock<HashMap<String, Arc<ProviderStats>>>,
    /// Bumped each time a new catalog is installed.
    version: tokio::sync::watch::Sender<u64>,
}

/// What one reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Providers that appeared.
    pub added: Vec<String>,
    /// Providers whose definition changed.
    pub changed: Vec<String>,
    /// Providers that are gone.
    pub removed: Vec<String>,
    /// Files rejected by this reload (with their last good definition
    /// serving, when they had one).
    pub rejected: Vec<PathBuf>,
    /// Files rejected before that are good again.
    pub recovered: Vec<PathBuf>,
}

impl ReloadSummary {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self == &ReloadSummary::default()
    }
}

impl ProviderRegistry {
    /// A registry with no provider files, for an api process on Redis
    /// without a providers directory (its airlines come from the providers
    /// processes).
    pub fn empty(dir: PathBuf) -> Self {
        Self::with_catalog(dir, Catalog::default())
    }

    fn with_catalog(dir: PathBuf, catalog: Catalog) -> Self {
        Self {
            dir,
            catalog: RwLock::new(Arc::new(catalog)),
            stats: RwLock::new(HashMap::new()),
            version: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Loads every provider file in `dir`, logging each rejected file.
    pub fn load(dir: PathBuf) -> Result<Self, load::FileError> {
        // Both series exist from the start, so a dashboard shows zeros.
        for result in ["ok", "error"] {
            metrics::counter!(crate::metrics::PROVIDER_RELOADS, "result" => result).increment(0);
        }
        metrics::counter!(crate::metrics::PROVIDER_SCANS).increment(1);
        let catalog = Catalog::load(std::slice::from_ref(&dir))?;
        for error in catalog.errors() {
            tracing::error!("provider file rejected:\n{error}");
        }
        tracing::info!(
            dir = %dir.display(),
            loaded = catalog.providers.len(),
            rejected = catalog.errors().count(),
            "provider files loaded"
        );
        Ok(Self::with_catalog(dir, catalog))
    }

    /// Reads the directory again: a new catalog (not yet in force) and
    /// what it changes. Files that did not change keep their definitions;
    /// a file that became invalid keeps its last good one.
    pub fn rescan(&self) -> Result<(Catalog, ReloadSummary), load::FileError> {
        let old = self.catalog();
        let new = Catalog::reload(std::slice::from_ref(&self.dir), Some(&old))?;
        let mut summary = ReloadSummary::default();
        for (id, def) in &new.providers {
            match old.providers.get(id) {
                None => summary.added.push(id.clone()),
                Some(before) if !Arc::ptr_eq(before, def) => summary.changed.push(id.clone()),
                Some(_) => {}
            }
        }
        summary.removed = old
            .providers
            .keys()
            .filter(|id| !new.providers.contains_key(*id))
            .cloned()
            .collect();
        for file in &new.files {
            let was = old.files.iter().find(|f| f.path == file.path);
            match (&file.error, was) {
                (Some(error), was) if was.is_none_or(|w| w.error.as_ref() != Some(error)) => {
                    summary.rejected.push(file.path.clone())
                }
                (None, Some(w)) if w.error.is_some() => summary.recovered.push(file.path.clone()),
                _ => {}
            }
        }
        Ok((new, summary))
    }

    /// Puts a catalog in force and wakes whoever follows changes.
    pub fn install(&self, catalog: Catalog, summary: &ReloadSummary) {
        let loaded = (summary.added.len() + summary.changed.len() + summary.recovered.len()) as u64;
        metrics::counter!(crate::metrics::PROVIDER_RELOADS, "result" => "ok").increment(loaded);
        metrics::counter!(crate::metrics::PROVIDER_RELOADS, "result" => "error")
            .increment(summary.rejected.len() as u64);
        *self.catalog.write().expect("registry lock") = Arc::new(catalog);
        self.version.send_modify(|v| *v += 1);
    }

    /// Changes whenever a new catalog is installed.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The directory the files come from.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().expect("registry lock").clone()
    }

    /// One provider's definition.
    pub fn get(&self, id: &str) -> Option<Arc<ProviderDef>> {
        self.catalog().providers.get(id).cloned()
    }

    /// The counters of one provider, created on first use.
    pub fn stats(&self, id: &str) -> Arc<ProviderStats> {
        if let Some(s) = self.stats.read().expect("stats lock").get(id) {
            return s.clone();
        }
        self.stats
            .write()
            .expect("stats lock")
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(ProviderStats::new(id)))
            .clone()
    }
}
