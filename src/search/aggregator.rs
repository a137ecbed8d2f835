//! The aggregator: reads airline answers from the results stream in its own
//! consumer group and records them in the search store, which turns them into
//! SSE events.

use std::sync::Arc;
use std::time::Duration;

use super::model::AnswerView;
use super::store::{SearchCell, SearchStore};
use crate::bus::{AGGREGATOR_GROUP, Backoff, Bus, BusError, RESULTS, StartFrom};
use crate::shutdown::Shutdown;

/// Answers read per round trip at most.
const BATCH: usize = 512;
/// How long one blocking read waits.
const READ_BLOCK: Duration = Duration::from_secs(5);

/// Creates the aggregator's consumer group so that no answer published from
/// now on is missed.
pub async fn prepare(bus: &Bus) -> Result<(), BusError> {
    bus.ensure_group(RESULTS, AGGREGATOR_GROUP, StartFrom::Latest)
        .await
}

/// Feeds the store from the results stream until shutdown.
pub async fn run(bus: Bus, store: Arc<SearchStore>, consumer: String, shutdown: Shutdown) {
    let mut backoff = Backoff::default();
    loop {
        let read = tokio::select! {
            r = bus.read_group(RESULTS, AGGREGATOR_GROUP, &consumer, BATCH, READ_BLOCK) => r,
            _ = shutdown.wait() => return,
        };
        let entries = match read {
            Ok(entries) => {
                backoff.reset();
                entries
            }
            Err(e) => {
                // A Redis that came back empty has lost the group; its
                // stream then holds only answers sent since it returned.
                if matches!(e, BusError::NoGroup { .. })
                    && bus
                        .ensure_group(RESULTS, AGGREGATOR_GROUP, StartFrom::Beginning)
                        .await
                        .is_ok()
                {
                    tracing::warn!("aggregator group was missing; created it again");
                    continue;
                }
                let wait = backoff.next_wait();
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "reading answers failed");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = shutdown.wait() => return,
                }
            }
        };
        let mut ids = Vec::with_capacity(entries.len());
        let mut touched: Vec<Arc<SearchCell>> = Vec::new();
        for entry in entries {
            match serde_json::from_slice::<AnswerView<'_>>(&entry.data) {
                Ok(answer) => {
                    touched.extend(store.apply(&answer));
                }
                Err(e) => {
                    tracing::error!(entry = %entry.id, error = %e, "unreadable answer skipped")
                }
            }
            ids.push(entry.id);
        }
        // Readers wake after the whole batch, so each sends every new event
        // of its search in one write. A search answered twice in the batch
        // is notified twice; the second finds nothing new.
        for cell in touched {
            cell.notify();
        }
        if let Err(e) = bus.ack(RESULTS, AGGREGATOR_GROUP, &ids).await {
            tracing::warn!(error = %e, "acknowledging answers failed");
        }
    }
}
