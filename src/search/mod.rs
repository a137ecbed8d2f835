//! Searches: the model shared across the system, where each search's
//! replayable event log is kept (in this process, or in Redis for many api
//! processes), and the aggregator that feeds it from the results stream.
//! [`money`] writes every offer's amounts with their currency's digits.

pub mod aggregator;
pub mod model;
pub mod money;
pub mod shared;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use uuid::Uuid;

use crate::bus::{Bus, BusError, REQUESTED};
use model::SearchRequest;
use shared::SharedSearches;
use store::{EventLog, SearchStore, Snapshot, StoreError};

/// Where searches are kept.
#[derive(Clone, Debug)]
pub enum Searches {
    /// In this process (embedded bus).
    Local(Arc<SearchStore>),
    /// In Redis, shared by every api process.
    Shared(Arc<SharedSearches>),
}

/// Why a search could not be accepted or read.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Every retained search is still running.
    #[error("too many searches in flight ({0}); try again shortly")]
    Full(usize),
    /// The stream broker cannot be reached.
    #[error("the stream broker is unavailable ({0}); try again shortly")]
    Unavailable(String),
    /// A bug or a broken record.
    #[error("{0}")]
    Internal(String),
}

impl From<BusError> for SearchError {
    fn from(e: BusError) -> Self {
        match e {
            BusError::Unavailable(m) => SearchError::Unavailable(m),
            other => SearchError::Internal(other.to_string()),
        }
    }
}

/// Time from now until `at`; zero once it has passed.
pub fn time_left(at: Timestamp) -> Duration {
    at.duration_since(Timestamp::now())
        .try_into()
        .unwrap_or(Duration::ZERO)
}

/// When a search's results stop being available: its deadline plus the
/// result TTL.
pub fn expires_at(request: &SearchRequest, ttl: Duration) -> Timestamp {
    request
        .deadline
        .checked_add(jiff::SignedDuration::try_from(ttl).unwrap_or_default())
        .unwrap_or(request.deadline)
}

impl Searches {
    /// Keeps a search and publishes it for the airlines. Returns when its
    /// results expire.
    pub async fn submit(
        &self,
        bus: &Bus,
        request: SearchRequest,
    ) -> Result<Timestamp, SearchError> {
        match self {
            Searches::Shared(shared) => shared.submit(&request).await,
            Searches::Local(store) => {
                let data = serde_json::to_vec(&request)
                    .map_err(|e| SearchError::Internal(e.to_string()))?;
                let cell = store.insert(request).map_err(|e| match e {
                    StoreError::Full(n) => SearchError::Full(n),
                })?;
                if let Err(e) = bus.publish(REQUESTED, Bytes::from(data)).await {
                    store.remove(&cell.request.search_id);
                    return Err(e.into());
                }
                Ok(cell.expires_at)
            }
        }
    }

    /// A search's event log, or `None` when unknown or expired.
    pub async fn log(&self, id: &Uuid) -> Result<Option<Arc<EventLog>>, SearchError> {
        match self {
            Searches::Local(store) => Ok(store.get(id).map(|cell| cell.log.clone())),
            Searches::Shared(shared) => Ok(shared.log(id).await?),
        }
    }

    /// A search's snapshot, or `None` when unknown or expired.
    pub async fn snapshot(&self, id: &Uuid) -> Result<Option<Snapshot>, SearchError> {
        match self {
            Searches::Local(store) => Ok(store.get(id).map(|cell| cell.snapshot())),
            Searches::Shared(shared) => Ok(shared.snapshot(id).await?),
        }
    }

    /// Searches held in this process's memory: all of them locally, the
    /// ones with an SSE client here when shared.
    pub fn in_memory(&self) -> usize {
        match self {
            Searches::Local(store) => store.len(),
            Searches::Shared(shared) => shared.mirrored(),
        }
    }
}
