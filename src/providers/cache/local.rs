//! Answers kept in this process (embedded bus), in a moka cache bounded by
//! entries and by bytes at once: each answer weighs its offers' JSON size,
//! but never less than `max_bytes / max_entries`, so the weights' sum stays
//! under `max_bytes` and the count under `max_entries`. Freshness is
//! checked on the tokio clock (an answer past its tier's TTL is a miss),
//! with moka's own expiry as the backstop that frees its memory.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use moka::future::Cache;
use moka::notification::RemovalCause;
use tokio::time::Instant;

use super::{Outcome, Question, looked_up};
use crate::model::Offer;

/// One kept answer.
#[derive(Debug)]
struct Kept {
    offers: Vec<Offer>,
    stored_at: Timestamp,
    stored: Instant,
    ttl: Duration,
    weight: u32,
}

/// Answers kept in this process.
pub struct LocalStore {
    cache: Cache<String, Arc<Kept>>,
}

/// moka's expiry: each answer after its own TTL.
struct ByTtl;

impl moka::Expiry<String, Arc<Kept>> for ByTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<Kept>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

impl LocalStore {
    /// A store of at most `max_entries` answers and `max_bytes` bytes.
    pub fn new(max_entries: u64, max_bytes: u64) -> Self {
        let floor = (max_bytes / max_entries.max(1)).clamp(1, u64::from(u32::MAX)) as u32;
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |_key: &String, kept: &Arc<Kept>| kept.weight.max(floor))
            .expire_after(ByTtl)
            .support_invalidation_closures()
            .eviction_listener(|key: Arc<String>, _kept, cause| {
                if cause == RemovalCause::Size {
                    let provider = key.split(':').next().unwrap_or_default().to_string();
                    metrics::counter!(crate::metrics::CACHE_EVICTIONS, "provider" => provider)
                        .increment(1);
                }
            })
            .build();
        LocalStore { cache }
    }

    /// The kept answer to `question` when fresh, else `ask`'s (kept when
    /// `ok`).
    pub async fn answer<F, Fut>(&self, question: &Question, ask: F) -> Option<Outcome>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<Outcome>>,
    {
        if question.use_cache {
            if let Some(kept) = self.get(&question.key).await {
                looked_up(&question.provider, true);
                return Some(Outcome::Ok {
                    offers: kept.offers.clone(),
                    stored_at: Some(kept.stored_at),
                });
            }
            looked_up(&question.provider, false);
        }
        let outcome = ask().await?;
        if let Outcome::Ok { offers, .. } = &outcome
            && !question.ttl.is_zero()
        {
            self.put(&question.key, offers.clone(), question.ttl).await;
        }
        Some(outcome)
    }

    /// A fresh kept answer.
    async fn get(&self, key: &str) -> Option<Arc<Kept>> {
        let kept = self.cache.get(key).await?;
        if kept.stored.elapsed() < kept.ttl {
            return Some(kept);
        }
        self.cache.invalidate(key).await;
        None
    }

    /// Keeps `offers` for `ttl`.
    async fn put(&self, key: &str, offers: Vec<Offer>, ttl: Duration) {
        let weight = serde_json::to_vec(&offers)
            .map_or(u32::MAX, |b| u32::try_from(b.len()).unwrap_or(u32::MAX));
        let kept = Kept {
            offers,
            stored_at: Timestamp::now(),
            stored: Instant::now(),
            ttl,
            weight,
        };
        self.cache.insert(key.to_string(), Arc::new(kept)).await;
    }

    /// Drops every kept answer of `provider`.
    pub fn forget(&self, provider: &str) {
        let prefix = format!("{provider}:");
        if let Err(e) = self
            .cache
            .invalidate_entries_if(move |key, _| key.starts_with(&prefix))
        {
            tracing::warn!(error = %e, "cached answers could not be dropped; they expire with their TTL");
        }
    }

    /// Runs moka's pending upkeep (evictions and their counts) now.
    pub async fn settle(&self) {
        self.cache.run_pending_tasks().await;
    }

    /// Answers kept now (after [`LocalStore::settle`]).
    pub fn len(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
