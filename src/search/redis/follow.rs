//! Following the events of searches kept in Redis: scripts announce each
//! change on one Pub/Sub channel, which this process follows on one
//! connection; the new events of the searches its SSE clients follow are
//! then read from their hashes in one round trip per batch and fanned out
//! in memory, so Redis connections do not grow with clients. Pub/Sub may
//! drop messages while the connection is away: every open log then reads
//! what it lacks.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use futures::{FutureExt, StreamExt};
use uuid::Uuid;

use super::RedisStore;
use super::stored::decode;
use crate::bus::redis_conn::bus_error;
use crate::bus::{Backoff, BusError};
use crate::fault::Chain;
use crate::search::events::EventLog;
use crate::shutdown::Shutdown;

/// Announcements read per round trip at most.
const FOLLOW_BATCH: usize = 1024;
/// Events read past what a log has, when how many there are is not known.
const CATCH_UP_GUESS: u64 = 8;

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
        let exists = self.catch_up(vec![(*id, log.clone(), None)]).await?;
        Ok(exists.first().copied().unwrap_or(false).then_some(log))
    }

    pub(super) fn mirror(&self, id: &Uuid) -> Option<Arc<EventLog>> {
        let mirrors = self.mirrors.lock().expect("mirrors lock");
        mirrors.get(id).and_then(Weak::upgrade)
    }

    /// Follows the events channel until shutdown, reading the new events
    /// of each announced search whose log a client here reads.
    pub async fn follow(self: Arc<Self>, shutdown: Shutdown) {
        let mut backoff = Backoff::default();
        loop {
            let subscribed = async {
                let mut pubsub = self.redis.pubsub().await?;
                pubsub.subscribe(&self.channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let pubsub = tokio::select! {
                r = subscribed => r,
                _ = shutdown.wait() => return,
            };
            match pubsub {
                Ok(pubsub) => {
                    // Announcements may have been missed while not
                    // subscribed: every open log reads what it lacks.
                    if backoff.failures() > 0 {
                        self.catch_up_all().await;
                    }
                    backoff.reset();
                    let mut messages = pubsub.into_on_message();
                    loop {
                        let first = tokio::select! {
                            m = messages.next() => m,
                            _ = shutdown.wait() => return,
                        };
                        let Some(first) = first else { break };
                        // Everything already received goes in one round trip.
                        let mut batch = vec![first];
                        while batch.len() < FOLLOW_BATCH {
                            match messages.next().now_or_never() {
                                Some(Some(message)) => batch.push(message),
                                _ => break,
                            }
                        }
                        self.announced(batch.iter().map(|m| m.get_payload_bytes()))
                            .await;
                    }
                    tracing::warn!("the search events channel closed; subscribing again");
                    self.catch_up_all().await;
                }
                Err(e) => {
                    tracing::warn!(error = %Chain(&e), "subscribing to the search events channel failed");
                }
            }
            let wait = backoff.next_wait();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// Reads what the logs of announced searches lack, in one round trip.
    async fn announced(&self, payloads: impl Iterator<Item = &[u8]>) {
        let mut behind: HashMap<Uuid, (Arc<EventLog>, u64)> = HashMap::new();
        for payload in payloads {
            let Some(Announcement { id, events }) = announcement(payload) else {
                tracing::warn!("unreadable search events announcement skipped");
                continue;
            };
            if let Some(log) = self.mirror(&id)
                && log.len() < events
            {
                let entry = behind.entry(id).or_insert((log, events));
                entry.1 = entry.1.max(events);
            }
        }
        let logs = behind
            .into_iter()
            .map(|(id, (log, events))| (id, log, Some(events)));
        if let Err(e) = self.catch_up(logs).await {
            tracing::warn!(error = %Chain(&e), "reading new search events failed");
        }
        self.sweep_mirrors();
    }

    /// Forgets the logs no client reads any more, now and then.
    fn sweep_mirrors(&self) {
        let mut mirrors = self.mirrors.lock().expect("mirrors lock");
        if mirrors.len() > 2 * FOLLOW_BATCH {
            mirrors.retain(|_, log| log.strong_count() > 0);
        }
    }

    async fn catch_up_all(&self) {
        let logs: Vec<(Uuid, Arc<EventLog>, Option<u64>)> = {
            let mut mirrors = self.mirrors.lock().expect("mirrors lock");
            mirrors.retain(|_, log| log.strong_count() > 0);
            mirrors
                .iter()
                .filter_map(|(id, log)| Some((*id, log.upgrade()?, None)))
                .collect()
        };
        if let Err(e) = self.catch_up(logs).await {
            tracing::warn!(error = %Chain(&e), "catching up searches failed");
        }
    }

    /// Reads the events each log lacks (up to the announced count, when
    /// known), in one round trip while a guess of how many suffices, and
    /// wakes its readers. A search that is gone (unknown, or Redis came
    /// back without it) ends its log. Returns whether each search exists.
    pub(super) async fn catch_up(
        &self,
        logs: impl IntoIterator<Item = (Uuid, Arc<EventLog>, Option<u64>)>,
    ) -> Result<Vec<bool>, BusError> {
        let mut logs: Vec<(Uuid, Arc<EventLog>, Option<u64>, bool)> = logs
            .into_iter()
            .map(|(id, log, events)| (id, log, events, false))
            .collect();
        let mut todo: Vec<usize> = (0..logs.len()).collect();
        while !todo.is_empty() {
            let mut pipe = redis::pipe();
            let mut asked = Vec::with_capacity(todo.len());
            for &at in &todo {
                let (id, log, events, _) = &logs[at];
                let len = log.len();
                let until = events.unwrap_or(0).max(len + CATCH_UP_GUESS);
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(self.key(id)).arg("events");
                for n in len + 1..=until {
                    cmd.arg(format!("e:{n}"));
                }
                pipe.add_command(cmd);
                asked.push((at, len, until));
            }
            let mut conn = self.redis.short();
            let replies: Vec<Vec<Option<Vec<u8>>>> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| bus_error(e, "", ""))?;
            todo.clear();
            for ((at, len, until), reply) in asked.into_iter().zip(replies) {
                let (_, log, _, exists) = &mut logs[at];
                let mut reply = reply.into_iter();
                let count = reply
                    .next()
                    .flatten()
                    .and_then(|n| std::str::from_utf8(&n).ok()?.parse::<u64>().ok());
                let Some(count) = count else {
                    log.abandon();
                    continue;
                };
                *exists = true;
                let items: Vec<_> = reply
                    .take(count.saturating_sub(len) as usize)
                    .map_while(|item| item)
                    .filter_map(decode)
                    .collect();
                log.extend(len + 1, items);
                if count > until {
                    todo.push(at);
                }
            }
        }
        Ok(logs.into_iter().map(|(.., exists)| exists).collect())
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

/// An announcement: a search and its event count after a change
/// (`<id> <events>`).
fn announcement(payload: &[u8]) -> Option<Announcement> {
    let (id, events) = std::str::from_utf8(payload).ok()?.split_once(' ')?;
    Some(Announcement {
        id: Uuid::parse_str(id).ok()?,
        events: events.parse().ok()?,
    })
}

/// Search `id` now has `events` events.
struct Announcement {
    id: Uuid,
    events: u64,
}
