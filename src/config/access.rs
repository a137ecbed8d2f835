//! Who may search, and how often: API keys, rate limits and the bound on
//! searches in flight per client.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Who may search, and how often.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSettings {
    /// A TOML file of API keys (`[[keys]]` with `id`, `sha256` and optional
    /// `airlines`); unset, searches need no key. Read again when it changes.
    pub keys_file: Option<PathBuf>,
    /// Searches per second each client may make on average: each key, or
    /// each client address when keys are off. Unset: no limit.
    pub rate: Option<f64>,
    /// Searches each client may make at once.
    pub burst: u32,
    /// Searches of one client (a key, or an address when keys are off)
    /// running at once in this api process, at most; beyond it a search
    /// gets `429`. A key may set its own (`max_in_flight`).
    pub max_in_flight: u32,
    /// Proxies in front of airstream that append the client's address to
    /// `X-Forwarded-For`: with N, the client is the N-th address from the
    /// right. 0 (the default): the connection's own peer address.
    pub forwarded_for_hops: u32,
}

impl Default for AccessSettings {
    fn default() -> Self {
        Self {
            keys_file: None,
            rate: None,
            burst: 10,
            max_in_flight: 1_000,
            forwarded_for_hops: 0,
        }
    }
}

impl AccessSettings {
    /// What is wrong with these settings, in plain words.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(rate) = self.rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
            problems.push(format!(
                "`access.rate` must be a number of searches per second above zero, got {rate}"
            ));
        }
        if self.burst == 0 {
            problems.push("`access.burst` must be at least 1".to_string());
        }
        if self.max_in_flight == 0 {
            problems.push("`access.max_in_flight` must be at least 1".to_string());
        }
        problems
    }
}
