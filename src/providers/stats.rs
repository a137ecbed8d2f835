//! Live counters of each airline's runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters of one airline's runtime, shown in `/api/providers` and,
/// for searches in flight, exported as a metric.
#[derive(Debug)]
pub struct ProviderStats {
    in_flight_gauge: metrics::Gauge,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    answered: AtomicU64,
}

/// A snapshot of [`ProviderStats`].
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
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
        // The gauge is looked up once: a lookup builds and hashes its key
        // and labels, twice per search and airline otherwise.
        let in_flight_gauge =
            metrics::gauge!(crate::metrics::PROVIDER_IN_FLIGHT, "provider" => provider.to_string());
        Self {
            in_flight_gauge,
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            answered: AtomicU64::new(0),
        }
    }

    /// Counts a search entering; the guard counts it leaving.
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::AcqRel);
        self.in_flight_gauge.increment(1.0);
        InFlightGuard(self.clone())
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
        self.0.in_flight_gauge.decrement(1.0);
    }
}
