//! Ending searches at their deadlines: those accepted by this process on
//! time, every process's at the next sweep (so a search whose accepting
//! process died still ends), and, while Redis refuses writes, ending the
//! overdue searches this process's clients follow for those clients alone.

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use redis::Value;
use tokio::time::Instant;
use uuid::Uuid;

use super::{RedisStore, SEARCH, ms};
use crate::bus::redis_conn::bus_error;
use crate::bus::{Backoff, BusError};
use crate::fault::Chain;
use crate::search::events::{
    AirlineProgress, CompleteHead, DEADLINE_MISSED, EventKind, EventLog, SearchStatus,
    complete_event, timeout_event,
};
use crate::shutdown::Shutdown;

/// How often deadlines are swept, to end searches whose accepting process
/// died; deadlines of searches accepted here are met on time.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// How long after a local deadline its sweep runs.
const DEADLINE_SLACK: Duration = Duration::from_millis(2);
/// How long after its deadline a search that cannot be ended in Redis is
/// ended for this process's own clients.
const END_HERE_AFTER: Duration = Duration::from_secs(1);
/// Deadlines ended per sweep round trip at most.
const SWEEP_BATCH: usize = 256;

impl RedisStore {
    /// Ends every search whose deadline has passed, whichever process
    /// accepted it.
    async fn expire_due(&self) -> Result<usize, BusError> {
        let now = Timestamp::now();
        let mut conn = self.redis.short();
        let due: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&self.deadlines)
            .arg("-inf")
            .arg(now.as_millisecond())
            .arg("LIMIT")
            .arg(0)
            .arg(SWEEP_BATCH)
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, "", ""))?;
        if due.is_empty() {
            return Ok(0);
        }
        let max_len = self.max_len.to_string();
        let calls = due
            .iter()
            .map(|id| {
                // A member that is no search id finds no search and is
                // dropped by the script.
                let hash = self.redis.key(&format!("{SEARCH}{id}"));
                let events = format!("{hash}:events");
                self.expire.call(
                    &[&hash, &events, &self.deadlines, &self.events],
                    vec![
                        id.clone().into_bytes(),
                        ms(now),
                        max_len.clone().into_bytes(),
                        DEADLINE_MISSED.as_bytes().to_vec(),
                    ],
                )
            })
            .collect();
        let replies = self.run(calls).await?;
        let owed: Vec<Uuid> = due
            .iter()
            .zip(&replies)
            .filter(|(_, reply)| matches!(reply, Value::Int(1)))
            .filter_map(|(id, _)| Uuid::parse_str(id).ok())
            .collect();
        self.finish(&owed).await?;
        Ok(due.len())
    }

    /// Ends searches at their deadlines until shutdown: those accepted here
    /// on time, everyone's at the next sweep.
    pub async fn run_deadlines(self: Arc<Self>, shutdown: Shutdown) {
        let mut backoff = Backoff::default();
        loop {
            let wait = match self.expire_due().await {
                Ok(n) if n >= SWEEP_BATCH => Duration::ZERO,
                Ok(_) => {
                    backoff.reset();
                    SWEEP_EVERY
                }
                Err(e) => {
                    let wait = backoff.next_wait();
                    tracing::warn!(error = %Chain(&e), retry_in_ms = wait.as_millis() as u64, "ending searches at their deadlines failed");
                    self.end_overdue_here().await;
                    wait
                }
            };
            let now = Instant::now();
            let next_local = {
                let mut local = self.local_deadlines.lock().expect("deadlines lock");
                while local.peek().is_some_and(|Reverse(at)| *at <= now) {
                    local.pop();
                }
                local.peek().map(|Reverse(at)| *at)
            };
            // Deadlines are kept in whole milliseconds of wall-clock time:
            // wake just after, not just before.
            let until = next_local.map_or(now + wait, |at| (at + DEADLINE_SLACK).min(now + wait));
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// While Redis refuses writes (out of memory, read-only) no search can
    /// be ended in Redis: the searches this process's clients follow whose
    /// deadline passed more than [`END_HERE_AFTER`] ago are ended for those
    /// clients, from what Redis still lets us read (each silent airline a
    /// `timeout`, then a partial `complete`), so no stream waits for ever.
    /// The sweep keeps trying, and ends them in Redis once it can.
    async fn end_overdue_here(&self) {
        let logs: Vec<(Uuid, Arc<EventLog>)> = {
            let mirrors = self.mirrors.lock().expect("mirrors lock");
            mirrors
                .iter()
                .filter_map(|(id, log)| Some((*id, log.upgrade()?)))
                .filter(|(_, log)| !log.is_finished())
                .collect()
        };
        if logs.is_empty() {
            return;
        }
        let ids: Vec<Uuid> = logs.iter().map(|(id, _)| *id).collect();
        // What Redis has that these logs lack, then the searches themselves.
        if self.catch_up(logs.clone()).await.is_err() {
            return;
        }
        let Ok(stored) = self.read(&ids).await else {
            return;
        };
        let now = Timestamp::now();
        for ((id, log), stored) in logs.into_iter().zip(stored) {
            let Some(mut stored) = stored else { continue };
            let overdue = now.duration_since(stored.snapshot.request.deadline)
                > jiff::SignedDuration::try_from(END_HERE_AFTER).unwrap_or_default();
            if log.is_finished() || !overdue {
                continue;
            }
            let elapsed_ms = (now.as_millisecond() - stored.created_ms).max(0) as u64;
            // The head takes what it shows; the offers stay for the list.
            let mut providers = std::mem::take(&mut stored.snapshot.providers);
            let mut events = Vec::new();
            for (provider, progress) in providers.iter_mut() {
                if !progress.is_pending() {
                    continue;
                }
                *progress = AirlineProgress::missed_deadline(elapsed_ms);
                events.push((
                    EventKind::Provider,
                    Bytes::from(timeout_event(id, provider, elapsed_ms)),
                ));
            }
            let complete = complete_event(
                CompleteHead {
                    kind: "complete",
                    search_id: id,
                    status: SearchStatus::Partial,
                    providers,
                    total_offers: stored.snapshot.total_offers,
                    sellers: std::mem::take(&mut stored.snapshot.sellers),
                    elapsed_ms,
                },
                stored.cheapest(self.limits.top_offers),
            );
            events.push((EventKind::Complete, complete));
            log.extend(log.len() + 1, events);
            tracing::warn!(search_id = %id, "Redis refuses writes: this search's clients here were given a partial `complete`");
        }
    }
}
