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

    /// The airports this airline serves, when known: a mock airline's
    /// routes; an upstream airline's are unknown until asked (empty).
    pub fn airports(&self) -> Vec<String> {
        match &self.mode {
            ProviderMode::Mock(table) => table.airports(),
            ProviderMode::Upstream(_) => Vec::new(),
        }
    }
}
