//! Ending searches at their deadlines: those accepted by this process on
//! time, from its memory; every process's a second late, from the shared
//! deadline index (so a search whose accepting process died still ends);
//! and, while Redis refuses writes, the overdue searches this process's
//! clients follow, for those clients alone. A search leaves the index only
//! once its deadline has passed, in batches, so a search that completes
//! costs no command there.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use redis::Value;
use tokio::time::Instant;
use uuid::Uuid;

use super::{RedisStore, ms};
use crate::bus::redis_conn::bus_error;
use crate::bus::{Backoff, BusError};
use crate::fault::Chain;
use crate::search::events::{
    AirlineProgress, CompleteHead, DEADLINE_MISSED, EventKind, EventLog, SearchStatus,
    complete_event, timeout_event,
};
use crate::shutdown::Shutdown;
use crate::throttle::Throttle;

/// How often the deadline index is swept and cleared.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// How long past its deadline a search on the index is ended by any
/// process: its own process ends it on time, unless it died.
const GRACE: Duration = Duration::from_secs(1);
/// How long after a local deadline it is acted on.
const DEADLINE_SLACK: Duration = Duration::from_millis(2);
/// How long after its deadline a search that cannot be ended in Redis is
/// ended for this process's own clients.
const END_HERE_AFTER: Duration = Duration::from_secs(1);
/// Deadlines read per set and sweep at most.
const SWEEP_BATCH: usize = 256;

impl RedisStore {
    /// Ends searches at their deadline: each still pending airline gets
    /// `timeout`, and `complete` (partial) follows. Searches already ended
    /// change nothing. Returns the searches that are not in Redis.
    pub(super) async fn expire_now(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, BusError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let calls = ids
            .iter()
            .map(|id| {
                self.expire.call(
                    &self.key(id),
                    &[
                        id.to_string().as_bytes(),
                        &ms(now),
                        DEADLINE_MISSED.as_bytes(),
                        self.channel.as_bytes(),
                    ],
                )
            })
            .collect();
        let replies = self.run(calls).await?;
        let owed: Vec<Uuid> = ids
            .iter()
            .zip(&replies)
            .filter(|(_, reply)| matches!(reply, Value::Int(1)))
            .map(|(id, _)| *id)
            .collect();
        let missing = ids
            .iter()
            .zip(&replies)
            .filter(|(_, reply)| matches!(reply, Value::Int(-1)))
            .map(|(id, _)| *id)
            .collect();
        self.finish(&owed).await?;
        Ok(missing)
    }

    /// Takes the searches ended here off the index, then ends every
    /// process's searches more than [`GRACE`] past their deadline. Returns
    /// how many were due.
    async fn sweep(&self) -> Result<usize, BusError> {
        let cleared = self.local.lock().expect("local lock").take_cleared();
        if let Err(e) = self.unindex(&cleared).await {
            self.local.lock().expect("local lock").clear(cleared);
            return Err(e);
        }
        let cutoff = Timestamp::now().as_millisecond() - GRACE.as_millis() as i64;
        let mut pipe = redis::pipe();
        for set in &self.deadlines {
            pipe.cmd("ZRANGEBYSCORE")
                .arg(set)
                .arg("-inf")
                .arg(cutoff)
                .arg("LIMIT")
                .arg(0)
                .arg(SWEEP_BATCH);
        }
        let mut conn = self.redis.short();
        let due: Vec<Vec<String>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, "", ""))?;
        let count = due.iter().map(Vec::len).max().unwrap_or(0);
        let mut ended = Vec::new();
        let mut strays = redis::pipe();
        for (set, ids) in self.deadlines.iter().zip(due) {
            for id in ids {
                match uuid::Uuid::parse_str(&id) {
                    Ok(id) => ended.push(id),
                    // Not a search id: nothing to end.
                    Err(_) => {
                        strays.cmd("ZREM").arg(set).arg(id).ignore();
                    }
                }
            }
        }
        // A search missing here is not this process's to write again: its
        // own process does, at its deadline.
        self.expire_now(&ended).await?;
        self.unindex(&ended).await?;
        let _: Result<(), _> = strays.query_async(&mut conn).await;
        Ok(count)
    }

    /// Takes ended searches off the deadline index, one command per set.
    async fn unindex(&self, ids: &[Uuid]) -> Result<(), BusError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut by_set: HashMap<&str, Vec<String>> = HashMap::new();
        for id in ids {
            by_set
                .entry(self.deadlines_of(id))
                .or_default()
                .push(id.to_string());
        }
        let mut pipe = redis::pipe();
        for (set, ids) in by_set {
            pipe.cmd("ZREM").arg(set).arg(ids).ignore();
        }
        let mut conn = self.redis.short();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| bus_error(e, "", ""))
    }

    /// Ends searches at their deadlines until shutdown: those accepted here
    /// on time, everyone's at the next sweep after [`GRACE`].
    pub async fn run_deadlines(self: Arc<Self>, shutdown: Shutdown) {
        let mut backoff = Backoff::default();
        let mut next_sweep = Instant::now();
        loop {
            let mut due = self.local.lock().expect("local lock").due(Instant::now());
            let ids: Vec<Uuid> = due.iter().map(|(id, _)| *id).collect();
            match self.expire_now(&ids).await {
                Ok(missing) => {
                    // Accepted here and gone from Redis before its deadline:
                    // lost with a master; written again, and ended.
                    for (id, revive) in &mut due {
                        if let (true, Some(revive)) = (missing.contains(id), revive.take())
                            && let Err(e) = self.revive(revive).await
                        {
                            tracing::warn!(search_id = %id, error = %Chain(&e), "a search lost by Redis could not be written again");
                        }
                    }
                    self.local.lock().expect("local lock").clear(ids);
                }
                // Still on the index, they are ended at a later sweep.
                Err(e) => {
                    static FAILED: Throttle = Throttle::new(Duration::from_secs(10));
                    if let Some(held) = FAILED.allow() {
                        tracing::warn!(error = %Chain(&e), searches = due.len(), held_back = held, "ending searches at their deadline failed");
                    }
                }
            }
            if Instant::now() >= next_sweep {
                next_sweep = Instant::now()
                    + match self.sweep().await {
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
            }
            let next_local = self.local.lock().expect("local lock").next_deadline();
            // Deadlines are kept in whole milliseconds of wall-clock time:
            // wake just after, not just before.
            let until = next_local.map_or(next_sweep, |at| (at + DEADLINE_SLACK).min(next_sweep));
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
        let open = logs.iter().map(|(id, log)| (*id, log.clone(), None));
        if self.catch_up(open).await.is_err() {
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
