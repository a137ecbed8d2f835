//! The answer cache's settings: how much of this process's memory it may
//! hold when answers are kept in process (embedded bus). On Redis, answers
//! are kept in Redis and bounded by its own `maxmemory`.

use serde::{Deserialize, Serialize};

/// The in-process answer cache.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Whether upstream airlines' answers are kept and identical questions
    /// coalesced at all (each file may still turn its own off).
    pub enabled: bool,
    /// Answers kept at most.
    pub max_entries: u64,
    /// Bytes of answers (their offers' JSON) kept at most.
    pub max_bytes: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 10_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

impl CacheSettings {
    /// What is wrong with these settings, in plain words.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_entries == 0 {
            problems.push("`cache.max_entries` must be at least 1".to_string());
        }
        if self.max_bytes < 1024 * 1024 {
            problems.push(format!(
                "`cache.max_bytes` must be at least 1048576 (1 MiB), got {}",
                self.max_bytes
            ));
        }
        problems
    }
}
