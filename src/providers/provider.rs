//! One airline's validated definition: what [`super::load`] makes of a
//! provider file, and what the runtime and the API read.

use std::path::PathBuf;
use std::time::Duration;

use super::latency::LatencyProfile;
use super::mode::ProviderMode;
use crate::model::AirlineRef;

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
    /// What it says, as a number: the same for two files that say the same
    /// (whatever their comments and spacing), in every process; the answer
    /// cache's keys hold it, so a changed file is asked afresh.
    pub revision: u64,
}

impl ProviderDef {
    /// Where it flies: a mock airline's routes and connections; what an
    /// upstream airline's file declares, or everywhere.
    pub fn coverage(&self) -> super::Coverage {
        match &self.mode {
            ProviderMode::Mock(table) => table.coverage(),
            ProviderMode::Upstream(upstream) => upstream.coverage().clone(),
        }
    }

    /// How long its answers are kept, when they are (upstream airlines,
    /// unless their file turns the cache off).
    pub fn cache(&self) -> Option<&super::cache::CachePolicy> {
        match &self.mode {
            ProviderMode::Mock(_) => None,
            ProviderMode::Upstream(upstream) => upstream.cache(),
        }
    }

    /// The airports this airline serves, when known: a mock airline's
    /// routes; an upstream airline's are unknown until asked (empty).
    pub fn airports(&self) -> Vec<String> {
        match &self.mode {
            ProviderMode::Mock(table) => table.airports(),
            ProviderMode::Upstream(_) => Vec::new(),
        }
    }
}
