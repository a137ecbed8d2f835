//! Searches: where each search's replayable event log is kept (in this
//! process, or in Redis for many api processes), and the aggregator that
//! feeds it from the results stream. The requests and answers themselves
//! are the wire model, [`crate::model`].
//!
//! - [`events`]: a search's events, log, progress and snapshot, and their
//!   JSON, the same in both stores and read by the SSE handler.
//! - [`memory`]: the store of one process (embedded bus).
//! - [`redis`]: the store shared by every api process, in Redis.
//! - [`limits`]: how long and how many searches are kept.
//! - [`error`]: why a search could not be accepted or read.
//! - [`aggregator`]: records airline answers where searches are kept.
//! - [`tally`]: what a search's answers add up to, and its `complete` event.

pub mod aggregator;
pub mod error;
pub mod events;
pub mod limits;
pub mod memory;
mod merge;
pub mod prepared;
pub mod redis;
mod tally;

use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;
use uuid::Uuid;

use self::redis::RedisStore;
use crate::bus::Bus;
use crate::fault::Fault;
use crate::model::SearchRequest;
pub use error::SearchError;
use events::{EventLog, Snapshot};
use memory::MemoryStore;

/// Who submits a search, for the bound on each client's searches running
/// at once (`access.max_in_flight`): a search counts from its acceptance
/// until its `complete` event.
#[derive(Clone, Debug)]
pub struct Admission {
    /// The client: `key <id>`, or `address <ip>` when keys are off.
    pub client: String,
    /// Its searches running at once, at most.
    pub max_in_flight: u32,
}

/// Where searches are kept.
#[derive(Clone, Debug)]
pub enum Searches {
    /// In this process (embedded bus).
    Memory(Arc<MemoryStore>),
    /// In Redis, shared by every api process.
    Redis(Arc<RedisStore>),
}

impl Searches {
    /// Keeps a search and publishes it for the airlines, unless its client
    /// already has as many running as it may. Returns when its results
    /// expire.
    pub async fn submit(
        &self,
        bus: &Bus,
        request: SearchRequest,
        admission: Admission,
    ) -> Result<Timestamp, SearchError> {
        match self {
            Searches::Redis(redis) => redis.submit(&request, &admission).await,
            Searches::Memory(store) => {
                // The airlines in this process take the request as it is;
                // through Redis it travels as JSON.
                let request = Arc::new(request);
                let data = if bus.publishes_in_process() {
                    None
                } else {
                    let json = serde_json::to_vec(&*request)
                        .map_err(|e| SearchError::Internal(Fault::of(e)))?;
                    Some(Bytes::from(json))
                };
                let cell = store.insert_for(request.clone(), Some(admission))?;
                let partitions = bus.partitions();
                let stream = partitions.requested(partitions.of(&cell.request.search_id));
                let data = || data;
                if let Err(e) = bus.publish_local(stream, request, data).await {
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
            Searches::Memory(store) => Ok(store.get(id).map(|cell| cell.log.clone())),
            Searches::Redis(redis) => Ok(redis.log(id).await?),
        }
    }

    /// A search's snapshot, or `None` when unknown or expired.
    pub async fn snapshot(&self, id: &Uuid) -> Result<Option<Snapshot>, SearchError> {
        match self {
            Searches::Memory(store) => Ok(store.get(id).map(|cell| cell.snapshot())),
            Searches::Redis(redis) => Ok(redis.snapshot(id).await?),
        }
    }

    /// Searches held in this process's memory: all of them locally; when
    /// shared, the running ones accepted here and those with an SSE client
    /// here.
    pub fn in_memory(&self) -> usize {
        match self {
            Searches::Memory(store) => store.len(),
            Searches::Redis(redis) => redis.mirrored(),
        }
    }
}
