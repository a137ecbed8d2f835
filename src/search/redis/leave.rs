//! Completed searches leave their client's running-searches set in
//! batches: callers hand over (set, search) pairs as searches complete; a
//! task sends one `ZREM` per set for everything that piled up meanwhile.
//! No timer delays it; batching comes from load alone.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::bus::redis_conn::RedisConn;
use crate::throttle::Throttle;

/// Pairs sent in one round trip at most.
const MAX_BATCH: usize = 1024;

/// The sender side; the task ends when the store is dropped.
#[derive(Debug)]
pub(super) struct Leaver {
    tx: mpsc::UnboundedSender<(String, Uuid)>,
}

impl Leaver {
    /// Starts the task.
    pub fn spawn(redis: Arc<RedisConn>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, Uuid)>();
        tokio::spawn(async move {
            let throttle = Throttle::new(std::time::Duration::from_secs(10));
            let mut batch = Vec::with_capacity(64);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let mut by_set: HashMap<&str, Vec<String>> = HashMap::new();
                for (set, id) in &batch {
                    by_set.entry(set).or_default().push(id.to_string());
                }
                let mut pipe = redis::pipe();
                for (set, ids) in by_set {
                    pipe.cmd("ZREM").arg(set).arg(ids).ignore();
                }
                let mut conn = redis.short();
                if let Err(e) = pipe.query_async::<()>(&mut conn).await
                    && let Some(held) = throttle.allow()
                {
                    // Left in the set, a search stops counting at its
                    // deadline when its client reaches the bound.
                    tracing::warn!(error = %e, searches = batch.len(), held_back = held, "completed searches could not leave their client's running set");
                }
                batch.clear();
            }
        });
        Self { tx }
    }

    /// Queues a completed search's leaving of `set` (none: an empty name).
    pub fn leave(&self, set: &str, id: Uuid) {
        if !set.is_empty() {
            let _ = self.tx.send((set.to_string(), id));
        }
    }
}
