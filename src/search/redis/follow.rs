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
use super::stored::{decode, reference};
use crate::bus::redis_conn::bus_error;
use crate::bus::{Backoff, BusError};
use crate::fault::Chain;
use crate::search::events::EventLog;
use crate::shutdown::Shutdown;
use crate::throttle::Throttle;

/// Announcements read per round trip at most.
const FOLLOW_BATCH: usize = 1024;
/// How often the logs of searches whose change here failed catch up.
const STALE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Events read past what a log has, when how many there are is not known.
const CATCH_UP_GUESS: u64 = 8;

impl RedisStore {
    /// The event log of a search for an SSE client: shared with this
    /// process's other clients of the search, caught up from Redis, then
    /// fed live. `None` when the search is unknown or expired.
    pub async fn log(&self, id: &Uuid) -> Result<Option<Arc<EventLog>>, BusError> {
        if let Some(log) = self.local.lock().expect("local lock").log(id) {
            return Ok(Some(log));
        }
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
        let mut first = true;
        loop {
            let Some(pubsub) = self.redis.subscribe(&self.channel, &shutdown).await else {
                return;
            };
            match pubsub {
                Ok(pubsub) => {
                    // Announcements may have been missed while not
                    // subscribed: every open log reads what it lacks.
                    if !first {
                        self.all_stale();
                        self.catch_up_stale().await;
                    }
                    first = false;
                    backoff.reset();
                    let mut messages = pubsub.into_on_message();
                    let mut tick = tokio::time::interval(STALE_EVERY);
                    loop {
                        let next = tokio::select! {
                            m = messages.next() => m,
                            _ = tick.tick() => {
                                self.catch_up_stale().await;
                                continue;
                            }
                            _ = shutdown.wait() => return,
                        };
                        let Some(next) = next else { break };
                        // Everything already received goes in one round trip.
                        let mut batch = vec![next];
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
            let Some(Announcement {
                id,
                events,
                ended,
                tag,
            }) = announcement(payload)
            else {
                tracing::warn!("unreadable search events announcement skipped");
                continue;
            };
            // This process's own change: its readers were fed by it.
            if tag == Some(self.tag.as_str()) {
                continue;
            }
            // An end that its copy here lacks though it has as many events
            // parted from Redis: the catch-up merges it.
            if let Some(log) = self.mirror(&id)
                && (log.len() < events || ended && !log.is_finished())
            {
                let entry = behind.entry(id).or_insert((log, events));
                entry.1 = entry.1.max(events);
            }
        }
        let ids: Vec<Uuid> = behind.keys().copied().collect();
        let logs = behind
            .into_iter()
            .map(|(id, (log, events))| (id, log, Some(events)));
        if let Err(e) = self.catch_up(logs).await {
            tracing::warn!(error = %Chain(&e), "reading new search events failed; trying again shortly");
            self.went_stale(ids.into_iter());
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

    /// Marks searches whose change by this process failed, so their logs
    /// here catch up from Redis.
    pub(super) fn went_stale(&self, ids: impl Iterator<Item = Uuid>) {
        let mut stale = self.stale.lock().expect("stale lock");
        stale.extend(ids.filter(|id| self.mirror(id).is_some()));
    }

    /// Catches up the logs of searches marked stale; those that cannot be
    /// read yet stay marked.
    async fn catch_up_stale(&self) {
        let mut ids = std::mem::take(&mut *self.stale.lock().expect("stale lock"));
        ids.sort_unstable();
        ids.dedup();
        let logs: Vec<_> = ids
            .iter()
            .filter_map(|id| Some((*id, self.mirror(id)?, None)))
            .collect();
        if logs.is_empty() {
            return;
        }
        if let Err(e) = self.catch_up(logs).await {
            static FAILED: Throttle = Throttle::new(std::time::Duration::from_secs(10));
            if let Some(held) = FAILED.allow() {
                tracing::warn!(error = %Chain(&e), searches = ids.len(), held_back = held, "catching up searches failed; trying again shortly");
            }
            self.stale.lock().expect("stale lock").extend(ids);
        }
    }

    /// Marks every log read here to catch up (announcements may have been
    /// missed).
    fn all_stale(&self) {
        let ids: Vec<Uuid> = {
            let mut mirrors = self.mirrors.lock().expect("mirrors lock");
            mirrors.retain(|_, log| log.strong_count() > 0);
            mirrors.keys().copied().collect()
        };
        self.stale.lock().expect("stale lock").extend(ids);
    }

    /// Reads the events each log lacks (up to the announced count, when
    /// known), in one round trip while a guess of how many suffices, and
    /// wakes its readers. A search that is gone (unknown, or Redis came
    /// back without it) ends its log; an ended one whose log here parted
    /// from Redis is merged. Returns whether each search exists.
    pub(super) async fn catch_up(
        &self,
        logs: impl IntoIterator<Item = (Uuid, Arc<EventLog>, Option<u64>)>,
    ) -> Result<Vec<bool>, BusError> {
        let mut logs: Vec<(Uuid, Arc<EventLog>, Option<u64>, bool)> = logs
            .into_iter()
            .map(|(id, log, events)| (id, log, events, false))
            .collect();
        let mut todo: Vec<usize> = (0..logs.len()).collect();
        let mut parted = Vec::new();
        while !todo.is_empty() {
            let mut pipe = redis::pipe();
            let mut asked = Vec::with_capacity(todo.len());
            for &at in &todo {
                let (id, log, events, _) = &logs[at];
                let len = log.len();
                let until = events.unwrap_or(0).max(len + CATCH_UP_GUESS);
                let key = self.key(id);
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(&key).arg("events").arg("status");
                for n in len + 1..=until {
                    cmd.arg(format!("e:{n}"));
                }
                pipe.add_command(cmd);
                asked.push((at, len, until, key));
            }
            let mut conn = self.redis.short();
            let mut replies: Vec<Vec<Option<Vec<u8>>>> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| bus_error(e, "", ""))?;
            let keys: Vec<&str> = asked.iter().map(|(.., key)| key.as_str()).collect();
            // Past the event count and status.
            self.dereference(&keys, &mut replies, 2).await?;
            todo.clear();
            for ((at, len, until, key), reply) in asked.into_iter().zip(replies) {
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
                let status = reply.next().flatten();
                let ended = status.is_some_and(|s| s != b"processing" && s != b"completing");
                if ended && count <= len && !log.is_finished() {
                    parted.push((key, count, log.clone()));
                    continue;
                }
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
        self.merge(parted).await?;
        Ok(logs.into_iter().map(|(.., exists)| exists).collect())
    }

    /// Merges ended searches from Redis into copies here that parted from
    /// it (see `merge.rs`): each `(key, events, log)`.
    async fn merge(&self, parted: Vec<(String, u64, Arc<EventLog>)>) -> Result<(), BusError> {
        if parted.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (key, count, _) in &parted {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(key);
            for n in 1..=*count {
                cmd.arg(format!("e:{n}"));
            }
            pipe.add_command(cmd);
        }
        let mut conn = self.redis.short();
        let mut replies: Vec<Vec<Option<Vec<u8>>>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, "", ""))?;
        let keys: Vec<&str> = parted.iter().map(|(key, ..)| key.as_str()).collect();
        self.dereference(&keys, &mut replies, 0).await?;
        for ((_, _, log), reply) in parted.into_iter().zip(replies) {
            tracing::warn!(
                events = log.len(),
                "a search's events here parted from Redis (a failover lost writes); merged by airline"
            );
            log.merge(reply.into_iter().flatten().filter_map(decode));
        }
        Ok(())
    }

    /// Replaces the events stored by reference in `replies` (one `HMGET`
    /// reply per search, of the hash `keys` names, its events from `skip`
    /// on) with what they refer to, in one round trip. A reference whose
    /// field is missing reads as a missing event.
    async fn dereference(
        &self,
        keys: &[&str],
        replies: &mut [Vec<Option<Vec<u8>>>],
        skip: usize,
    ) -> Result<(), BusError> {
        let mut pipe = redis::pipe();
        let mut places = Vec::new();
        for (r, (key, reply)) in keys.iter().zip(replies.iter()).enumerate() {
            let mut cmd: Option<redis::Cmd> = None;
            for (i, item) in reply.iter().enumerate().skip(skip) {
                if let Some(field) = item.as_deref().and_then(reference) {
                    cmd.get_or_insert_with(|| {
                        let mut cmd = redis::cmd("HMGET");
                        cmd.arg(key);
                        cmd
                    })
                    .arg(field);
                    places.push((r, i));
                }
            }
            if let Some(cmd) = cmd {
                pipe.add_command(cmd);
            }
        }
        if places.is_empty() {
            return Ok(());
        }
        let mut conn = self.redis.short();
        let found: Vec<Vec<Option<Vec<u8>>>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, "", ""))?;
        for ((r, i), value) in places.into_iter().zip(found.into_iter().flatten()) {
            replies[r][i] = value;
        }
        Ok(())
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

/// An announcement: a search's event count after a change (`c` when it
/// appended `complete`), the search, and the tag of the process that made
/// it (`<events>[c] <id> [tag]`).
fn announcement(payload: &[u8]) -> Option<Announcement<'_>> {
    let mut words = std::str::from_utf8(payload).ok()?.split(' ');
    let count = words.next()?;
    let (count, ended) = match count.strip_suffix('c') {
        Some(count) => (count, true),
        None => (count, false),
    };
    Some(Announcement {
        events: count.parse().ok()?,
        ended,
        id: Uuid::parse_str(words.next()?).ok()?,
        tag: words.next(),
    })
}

/// Search `id` now has `events` events.
struct Announcement<'a> {
    id: Uuid,
    events: u64,
    /// The change appended `complete`.
    ended: bool,
    tag: Option<&'a str>,
}
