//! The answer cache and coalescing of upstream airlines (SPEC section 11):
//! an airline's answer to a question (its route, dates, cabin and
//! travellers) is kept for a time that depends on how far away the
//! departure is, and a question already being asked is not asked again:
//! every search that asks it while it is in flight shares the one answer.
//!
//! - [`policy`]: how long answers are kept, by days to departure.
//! - [`local`]: answers kept in this process (embedded bus).
//! - [`shared`]: answers kept in Redis, and questions coalesced across
//!   processes: the first asks, the others wait for its answer.
//!
//! Only `ok` answers are kept; an error or a timeout is shared with the
//! searches waiting for it but not kept. A question's key holds the
//! definition's revision, so a changed provider file is never answered from
//! what its old version said.

pub mod local;
pub mod policy;
pub mod shared;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::ProviderDef;
use crate::model::{Offer, SearchRequest};
pub use local::LocalStore;
pub use policy::CachePolicy;
pub use shared::SharedStore;

/// What an airline said to one question: shared by every search that
/// asked it, and kept when it is `ok`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// Offers (possibly none).
    Ok {
        /// The offers, before a search's own filters.
        offers: Vec<Offer>,
        /// When they were kept, for an answer read from the cache.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stored_at: Option<Timestamp>,
    },
    /// The airline failed; why, in plain words.
    Error {
        /// Why.
        reason: String,
    },
    /// The airline did not answer within its budget.
    Timeout {
        /// Why.
        reason: String,
    },
}

/// One airline question, as the cache sees it.
#[derive(Clone, Debug)]
pub struct Question {
    /// The provider asked.
    pub provider: String,
    /// What identifies the question: provider, revision, route, dates,
    /// cabin and travellers.
    pub key: String,
    /// How long an `ok` answer is kept (zero: not kept).
    pub ttl: Duration,
    /// Whether a kept answer may serve (`false`: the search asked for live
    /// answers).
    pub use_cache: bool,
    /// How long a search waits for another's answer before asking itself.
    pub wait: Duration,
}

impl Question {
    /// The question `search` asks `def`, whose answers `policy` keeps;
    /// `today` (UTC) gives the days to departure.
    pub fn new(
        def: &ProviderDef,
        policy: &CachePolicy,
        search: &SearchRequest,
        today: Date,
    ) -> Self {
        let t = search.travellers();
        let key = format!(
            "{}:{:016x}:{}-{}:{}:{}:{}:{}.{}.{}",
            def.id,
            def.revision,
            search.from,
            search.to,
            search.date,
            search
                .return_date
                .map_or("-".to_string(), |d| d.to_string()),
            search.cabin,
            t.adults,
            t.children,
            t.infants,
        );
        let days = (search.date - today).get_days();
        Question {
            provider: def.id.clone(),
            key,
            ttl: policy.ttl(i64::from(days)),
            use_cache: search.cache,
            wait: def.timeout,
        }
    }
}

/// Where answers are kept.
pub enum Store {
    /// In this process.
    Local(LocalStore),
    /// In Redis, shared by every providers process.
    Shared(SharedStore),
}

/// The answer cache and the questions in flight in this process.
pub struct AnswerCache {
    store: Store,
    flights: Flights,
}

impl AnswerCache {
    /// A cache over `store`.
    pub fn new(store: Store) -> Self {
        AnswerCache {
            store,
            flights: Flights::default(),
        }
    }

    /// The answer to `question`: kept, or being asked by another search
    /// (here or, on Redis, in another process), or asked now with `ask`.
    /// `ask` gives `None` when its search's deadline came first (nobody else
    /// is then given its answer: they ask themselves). Every search waits
    /// at most its own time: the caller bounds this future.
    pub async fn answer<F, Fut>(&self, question: &Question, ask: F) -> Option<Outcome>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<Outcome>>,
    {
        match self.flights.join(&question.key) {
            Seat::Follower(seat) => {
                match told(seat, question.wait).await {
                    Some(outcome) => {
                        coalesced(&question.provider);
                        Some(outcome)
                    }
                    // The search asking gave up: this one asks itself.
                    None => ask().await,
                }
            }
            Seat::Leader(lead) => {
                let outcome = match &self.store {
                    Store::Local(store) => store.answer(question, ask).await,
                    Store::Shared(store) => store.answer(question, ask).await,
                };
                if let Some(outcome) = &outcome {
                    lead.finish(outcome);
                }
                outcome
            }
        }
    }

    /// Drops what is kept of `provider`'s answers in this process (its
    /// file changed; Redis forgets them by their keys' revision).
    pub fn forget(&self, provider: &str) {
        if let Store::Local(store) = &self.store {
            store.forget(provider);
        }
    }
}

/// What a waiting search is told within `wait`: `None` when nothing came
/// in time, or the teller went away without a word.
async fn told<T: Clone>(mut seat: watch::Receiver<Option<T>>, wait: Duration) -> Option<T> {
    tokio::time::timeout(wait, seat.wait_for(Option::is_some))
        .await
        .ok()?
        .ok()
        .and_then(|v| v.clone())
}

/// Counts a search served by another's question.
fn coalesced(provider: &str) {
    metrics::counter!(crate::metrics::CACHE_COALESCED, "provider" => provider.to_string())
        .increment(1);
}

/// Counts a cache lookup.
fn looked_up(provider: &str, hit: bool) {
    let name = if hit {
        crate::metrics::CACHE_HITS
    } else {
        crate::metrics::CACHE_MISSES
    };
    metrics::counter!(name, "provider" => provider.to_string()).increment(1);
}

/// Starts the cache series of `provider` at zero, so its panels show a
/// line before the first search.
pub fn announce(provider: &str) {
    for name in [
        crate::metrics::CACHE_HITS,
        crate::metrics::CACHE_MISSES,
        crate::metrics::CACHE_EVICTIONS,
        crate::metrics::CACHE_COALESCED,
    ] {
        metrics::counter!(name, "provider" => provider.to_string()).increment(0);
    }
}

/// The questions being asked in this process, each with the channel its
/// answer will come on.
#[derive(Default)]
struct Flights {
    open: Mutex<HashMap<String, watch::Sender<Option<Outcome>>>>,
}

/// A search's place in a question.
enum Seat<'a> {
    /// It asks, and tells the others.
    Leader(Lead<'a>),
    /// Another search asks; this one waits for its answer.
    Follower(watch::Receiver<Option<Outcome>>),
}

impl Flights {
    fn join(&self, key: &str) -> Seat<'_> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = open.get(key) {
            return Seat::Follower(tx.subscribe());
        }
        let (tx, _) = watch::channel(None);
        open.insert(key.to_string(), tx.clone());
        Seat::Leader(Lead {
            flights: self,
            key: key.to_string(),
            tx,
        })
    }
}

/// The asking search's hold on a question: its answer goes to every search
/// waiting; dropped without one (its search gave up), they ask themselves.
struct Lead<'a> {
    flights: &'a Flights,
    key: String,
    tx: watch::Sender<Option<Outcome>>,
}

impl Lead<'_> {
    fn finish(&self, outcome: &Outcome) {
        self.tx.send_replace(Some(outcome.clone()));
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut open = self.flights.open.lock().unwrap_or_else(|e| e.into_inner());
        if open
            .get(&self.key)
            .is_some_and(|tx| tx.same_channel(&self.tx))
        {
            open.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests;
