//! Following the events of searches kept in Redis: scripts announce each
//! append on one stream, which this process reads with a single blocking
//! read; the new events of the searches its SSE clients follow are then
//! read from their lists in one round trip per batch and fanned out in
//! memory, so Redis connections do not grow with clients.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::Value;
use redis::streams::StreamReadReply;
use uuid::Uuid;

use super::stored::decode;
use super::{EVENTS, RedisStore};
use crate::bus::redis_conn::bus_error;
use crate::bus::{Backoff, BusError};
use crate::fault::Chain;
use crate::search::events::EventLog;
use crate::shutdown::Shutdown;

/// Announcements read per round trip at most.
const FOLLOW_BATCH: usize = 1024;
/// How long one blocking read of the announcements waits.
const FOLLOW_BLOCK: Duration = Duration::from_secs(5);

impl RedisStore {
    /// The event log of a search for an SSE client: shared with this
    /// process's other clients of the search, caught up from Redis, then
    /// fed live. `None` when the search is unknown or expired.
    pub async fn log(&self, id: &Uuid) -> Result<Option<Arc<EventLog>>, BusError> {
        let log = {
            let mut mirrors = self.mirrors.lock().expect("mirrors lock");
            match mirrors.get(id).and_then(Weak::upgrade) {
                Some(log) => log,
                None => {
                    let log = Arc::new(EventLog::default());
                    mirrors.insert(*id, Arc::downgrade(&log));
                    log
                }
            }
        };
        // Registered first, so nothing announced from now on is missed;
        // what was appended before is read from the list.
        let exists = self.catch_up(vec![(*id, log.clone())]).await?;
        Ok(exists.first().copied().unwrap_or(false).then_some(log))
    }

    pub(super) fn mirror(&self, id: &Uuid) -> Option<Arc<EventLog>> {
        let mirrors = self.mirrors.lock().expect("mirrors lock");
        mirrors.get(id).and_then(Weak::upgrade)
    }

    /// Follows the events stream until shutdown, appending each announced
    /// run of events to the log of its search if a client here reads it.
    pub async fn follow(self: Arc<Self>, shutdown: Shutdown) {
        const READER: &str = "search events follower";
        let mut backoff = Backoff::default();
        let mut last = "$".to_string();
        let mut since_sweep = 0usize;
        loop {
            let read = async {
                let mut conn = self.redis.reader(READER).await?;
                redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(FOLLOW_BATCH)
                    .arg("BLOCK")
                    .arg(FOLLOW_BLOCK.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(&self.events)
                    .arg(&last)
                    .query_async::<Option<StreamReadReply>>(&mut conn)
                    .await
                    .map_err(|e| bus_error(e, EVENTS, ""))
            };
            let reply = tokio::select! {
                r = read => r,
                _ = shutdown.wait() => return,
            };
            let reply = match reply {
                Ok(reply) => {
                    if backoff.failures() > 0 {
                        // Announcements may have been lost with Redis:
                        // every open log reads what it lacks from its list.
                        self.catch_up_all().await;
                    }
                    backoff.reset();
                    reply
                }
                Err(e) => {
                    self.redis.drop_reader(READER).await;
                    // A Redis that restarted numbers its stream afresh.
                    last = "$".to_string();
                    let wait = backoff.next_wait();
                    tracing::warn!(error = %Chain(&e), retry_in_ms = wait.as_millis() as u64, "following search events failed");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = shutdown.wait() => return,
                    }
                }
            };
            // The searches followed here that have new events, each once.
            let mut behind: HashMap<Uuid, Arc<EventLog>> = HashMap::new();
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                since_sweep += 1;
                last = entry.id.clone();
                let Some(Announcement { id, events }) = announcement(&entry.map) else {
                    tracing::warn!(entry = %entry.id, "unreadable search events announcement skipped");
                    continue;
                };
                if let Some(log) = self.mirror(&id)
                    && log.len() < events
                {
                    behind.insert(id, log);
                }
            }
            if let Err(e) = self.catch_up(behind).await {
                tracing::warn!(error = %Chain(&e), "reading new search events failed");
            }
            if since_sweep >= FOLLOW_BATCH {
                since_sweep = 0;
                self.mirrors
                    .lock()
                    .expect("mirrors lock")
                    .retain(|_, log| log.strong_count() > 0);
            }
        }
    }

    async fn catch_up_all(&self) {
        let logs: HashMap<Uuid, Arc<EventLog>> = {
            let mut mirrors = self.mirrors.lock().expect("mirrors lock");
            mirrors.retain(|_, log| log.strong_count() > 0);
            mirrors
                .iter()
                .filter_map(|(id, log)| Some((*id, log.upgrade()?)))
                .collect()
        };
        if let Err(e) = self.catch_up(logs).await {
            tracing::warn!(error = %Chain(&e), "catching up searches failed");
        }
    }

    /// Reads the events each log lacks, in one round trip, and wakes its
    /// readers. A search that is gone (unknown, or Redis came back without
    /// it) ends its log. Returns whether each search exists.
    pub(super) async fn catch_up(
        &self,
        logs: impl IntoIterator<Item = (Uuid, Arc<EventLog>)>,
    ) -> Result<Vec<bool>, BusError> {
        let mut pipe = redis::pipe();
        let logs: Vec<(Arc<EventLog>, u64)> = logs
            .into_iter()
            .map(|(id, log)| {
                let len = log.len();
                let keys = self.keys(&id);
                pipe.cmd("EXISTS")
                    .arg(&keys.hash)
                    .cmd("LRANGE")
                    .arg(&keys.events)
                    .arg(len)
                    .arg(-1);
                (log, len)
            })
            .collect();
        if logs.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.redis.short();
        let replies: Vec<(bool, Vec<Vec<u8>>)> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, "", ""))?;
        let mut found = Vec::with_capacity(logs.len());
        for ((log, len), (exists, items)) in logs.into_iter().zip(replies) {
            found.push(exists);
            if exists {
                log.extend(len + 1, items.into_iter().filter_map(decode));
            } else {
                log.abandon();
            }
        }
        Ok(found)
    }

    /// Searches whose events a client of this process reads.
    pub fn mirrored(&self) -> usize {
        let mirrors = self.mirrors.lock().expect("mirrors lock");
        mirrors
            .values()
            .filter(|log| log.strong_count() > 0)
            .count()
    }
}

/// An entry of the events stream: a search and its event count after an
/// append.
fn announcement(map: &HashMap<String, Value>) -> Option<Announcement> {
    let text = |name: &str| match map.get(name)? {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s.as_str()),
        _ => None,
    };
    Some(Announcement {
        id: Uuid::parse_str(text("s")?).ok()?,
        events: text("n")?.parse().ok()?,
    })
}

/// Search `id` now has `events` events.
struct Announcement {
    id: Uuid,
    events: u64,
}
