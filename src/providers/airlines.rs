//! The airlines a search may target, as an api process sees them.

use std::collections::{BTreeMap, BTreeSet};

use super::Coverage;

use super::live::LiveSet;
use super::load::Catalog;

/// The airlines a search may target, as an api process sees them: the
/// enabled providers of its own files, or on Redis those that some live
/// process serves.
#[derive(Clone, Debug, Default)]
pub struct Airlines {
    enabled: Vec<String>,
    disabled: BTreeSet<String>,
    away: BTreeSet<String>,
    coverage: BTreeMap<String, Coverage>,
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
            coverage: catalog
                .enabled()
                .map(|d| (d.id.clone(), d.coverage()))
                .collect(),
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
    pub fn from_live(live: &LiveSet, local: &Catalog) -> Self {
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
            coverage: live
                .airlines
                .iter()
                .map(|(id, (airline, _))| (id.clone(), airline.coverage.clone()))
                .collect(),
        }
    }

    /// Ids that searches may target, sorted.
    pub fn enabled(&self) -> &[String] {
        &self.enabled
    }

    /// The ids of the airlines that may fly a search from `from` to `to`
    /// (either way, for a round trip), sorted.
    pub fn serving(&self, from: &str, to: &str, round_trip: bool) -> Vec<String> {
        self.enabled
            .iter()
            .filter(|id| {
                self.coverage
                    .get(*id)
                    .is_none_or(|c| c.serves_search(from, to, round_trip))
            })
            .cloned()
            .collect()
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
