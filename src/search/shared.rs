//! Searches kept in Redis, so that any number of `api` processes serve any
//! search: one accepts it, any records its airlines' answers, any ends it at
//! its deadline, and an SSE client connected to any of them gets every event
//! in order, exactly once, and can resume on another.
//!
//! Each search is two keys that expire with its results (see
//! `lua/common.lua`). Every change is one Lua script, so it is atomic: an
//! answer delivered twice, or two processes reaching the deadline together,
//! still make one `provider` event per airline and one `complete`. The
//! scripts only decide; the event JSON is built here, so Redis spends its
//! time storing rather than interpreting. Scripts announce each append on
//! one stream, `flight.search.events` (search id and event count, no
//! payload), which each api process follows with a single blocking read;
//! it then reads the new events of the searches its SSE clients follow
//! from their lists, in one round trip per batch, and fans them out in
//! memory: Redis connections do not grow with clients.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use redis::Value;
use redis::streams::StreamReadReply;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

use super::model::{AnswerView, OfferKey, SearchRequest};
use super::store::{
    AirlineProgress, CompleteHead, DEADLINE_MISSED, EventKind, EventLog, PreparedAnswer,
    SearchStatus, Snapshot, StoreLimits, complete_event, encode, first_offer_ms, raw_json,
    timeout_event,
};
use super::{SearchError, expires_at};
use crate::bus::redis_streams::{RedisBus, bus_error};
use crate::bus::{Backoff, BusError, REQUESTED};
use crate::shutdown::Shutdown;

/// The stream on which scripts announce appended events.
pub const EVENTS: &str = "flight.search.events";
const DEADLINES: &str = "search.deadlines";
const RETAINED: &str = "search.retained";
const FINISHED: &str = "search.finished";
const SEARCH: &str = "search:";

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
/// Announcements read per round trip at most.
const FOLLOW_BATCH: usize = 1024;
/// How long one blocking read of the announcements waits.
const FOLLOW_BLOCK: Duration = Duration::from_secs(5);

const COMMON: &str = include_str!("lua/common.lua");

/// One Lua script, loaded into Redis's script cache by its SHA-1.
#[derive(Debug)]
struct Script {
    name: &'static str,
    source: String,
    sha: String,
}

impl Script {
    fn new(name: &'static str, body: &str) -> Self {
        Self {
            name,
            source: format!("{COMMON}\n{body}"),
            sha: String::new(),
        }
    }

    fn call(&self, keys: &[&str], args: Vec<Vec<u8>>) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.sha).arg(keys.len()).arg(keys).arg(args);
        cmd
    }
}

/// The keys of one search.
struct SearchKeys {
    hash: String,
    events: String,
}

/// Every search of every api process, in Redis.
pub struct SharedSearches {
    redis: Arc<RedisBus>,
    limits: StoreLimits,
    create: Script,
    answer: Script,
    expire: Script,
    finish: Script,
    deadlines: String,
    retained: String,
    finished: String,
    events: String,
    /// The event logs that this process's SSE clients read, fed from the
    /// events stream; an entry dies with its last reader.
    mirrors: Mutex<HashMap<Uuid, Weak<EventLog>>>,
    /// Deadlines of searches accepted here, soonest first, so they end on
    /// time rather than at the next sweep.
    local_deadlines: Mutex<BinaryHeap<Reverse<Instant>>>,
    wake: Notify,
}

impl std::fmt::Debug for SharedSearches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSearches")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl SharedSearches {
    /// Loads the scripts into `redis`.
    pub async fn new(redis: Arc<RedisBus>, limits: StoreLimits) -> Result<Self, BusError> {
        let mut shared = Self {
            create: Script::new("create", include_str!("lua/create.lua")),
            answer: Script::new("answer", include_str!("lua/answer.lua")),
            expire: Script::new("expire", include_str!("lua/expire.lua")),
            finish: Script::new("finish", include_str!("lua/finish.lua")),
            deadlines: redis.key(DEADLINES),
            retained: redis.key(RETAINED),
            finished: redis.key(FINISHED),
            events: redis.key(EVENTS),
            redis,
            limits,
            mirrors: Mutex::new(HashMap::new()),
            local_deadlines: Mutex::new(BinaryHeap::new()),
            wake: Notify::new(),
        };
        let shas = shared.load_scripts().await?;
        for (script, sha) in [
            &mut shared.create,
            &mut shared.answer,
            &mut shared.expire,
            &mut shared.finish,
        ]
        .into_iter()
        .zip(shas)
        {
            script.sha = sha;
        }
        Ok(shared)
    }

    /// `SCRIPT LOAD`s every script (again, after Redis lost its cache).
    async fn load_scripts(&self) -> Result<Vec<String>, BusError> {
        let mut conn = self.redis.conn();
        let mut shas = Vec::new();
        for script in [&self.create, &self.answer, &self.expire, &self.finish] {
            let sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(&script.source)
                .query_async(&mut conn)
                .await
                .map_err(|e| match bus_error(e, "", "") {
                    BusError::Protocol(m) => {
                        BusError::Protocol(format!("script `{}` refused: {m}", script.name))
                    }
                    other => other,
                })?;
            shas.push(sha);
        }
        Ok(shas)
    }

    /// Runs script calls in one round trip. A Redis that restarted has lost
    /// its script cache: the scripts are loaded again and the calls repeated,
    /// which is safe because every script is idempotent.
    async fn run(&self, calls: Vec<redis::Cmd>) -> Result<Vec<Value>, BusError> {
        let mut pipe = redis::pipe();
        for call in calls {
            pipe.add_command(call);
        }
        let mut conn = self.redis.conn();
        match pipe.query_async::<Vec<Value>>(&mut conn).await {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                self.load_scripts().await?;
                pipe.query_async(&mut conn)
                    .await
                    .map_err(|e| bus_error(e, "", ""))
            }
            other => other.map_err(|e| bus_error(e, "", "")),
        }
    }

    fn keys(&self, id: &Uuid) -> SearchKeys {
        let hash = self.redis.key(&format!("{SEARCH}{id}"));
        SearchKeys {
            events: format!("{hash}:events"),
            hash,
        }
    }

    /// Stores a search and publishes it to the requested stream, in one
    /// atomic step. Returns when its results expire.
    pub async fn submit(&self, request: &SearchRequest) -> Result<Timestamp, SearchError> {
        let json = serde_json::to_vec(request).map_err(|e| SearchError::Internal(e.to_string()))?;
        let expires = expires_at(request, self.limits.result_ttl);
        let id = request.search_id;
        let keys = self.keys(&id);
        let requested = self.redis.key(REQUESTED);
        let mut providers = request.providers.clone();
        providers.sort();
        let mut args: Vec<Vec<u8>> = vec![
            id.to_string().into_bytes(),
            json,
            ms(request.created_at),
            ms(request.deadline),
            ms(expires),
            ms(Timestamp::now()),
            self.limits.max_retained.max(1).to_string().into_bytes(),
            self.redis.max_len().to_string().into_bytes(),
            self.redis.key(SEARCH).into_bytes(),
            encode(&AirlineProgress::pending()).into_bytes(),
            expires.to_string().into_bytes(),
        ];
        args.extend(providers.into_iter().map(String::into_bytes));
        let call = self.create.call(
            &[
                &keys.hash,
                &self.deadlines,
                &self.retained,
                &self.finished,
                &requested,
            ],
            args,
        );
        let reply = self
            .run(vec![call])
            .await
            .map_err(|e| SearchError::Unavailable(e.to_string()))?;
        match reply.first() {
            Some(Value::Int(n)) if *n > 0 => {}
            Some(Value::Int(n)) => return Err(SearchError::Full(n.unsigned_abs() as usize)),
            other => {
                return Err(SearchError::Internal(format!(
                    "unexpected reply to the create script: {other:?}"
                )));
            }
        }
        let deadline = Instant::now() + super::time_left(request.deadline);
        let sooner = {
            let mut local = self.local_deadlines.lock().expect("deadlines lock");
            let sooner = local.peek().is_none_or(|Reverse(first)| deadline < *first);
            local.push(Reverse(deadline));
            sooner
        };
        if sooner {
            self.wake.notify_one();
        }
        Ok(expires)
    }

    /// Records a batch of answers in one round trip (one script call per
    /// search), then completes the searches they completed. Repeats and
    /// late answers change nothing, so a batch may safely be recorded
    /// again.
    pub async fn record(&self, answers: &[AnswerView<'_>]) -> Result<(), BusError> {
        if answers.is_empty() {
            return Ok(());
        }
        // Answers grouped by search, in order of arrival.
        let mut searches: Vec<(Uuid, Vec<Vec<Vec<u8>>>)> = Vec::new();
        let mut index: HashMap<Uuid, usize> = HashMap::new();
        for answer in answers {
            let prepared = PreparedAnswer::new(answer.search_id, answer);
            let mut events = Vec::with_capacity(2);
            if let Some(offers) = &prepared.offers_event {
                events.push(tagged(EventKind::Offers, offers));
            }
            events.push(tagged(
                EventKind::Provider,
                prepared.provider_event.as_bytes(),
            ));
            let mut args = vec![
                answer.provider.clone().into_bytes(),
                encode(&prepared.progress).into_bytes(),
                prepared.offers.len().to_string().into_bytes(),
                events.len().to_string().into_bytes(),
            ];
            args.extend(events);
            let at = *index.entry(answer.search_id).or_insert_with(|| {
                searches.push((answer.search_id, Vec::new()));
                searches.len() - 1
            });
            searches[at].1.push(args);
        }
        let max_len = self.redis.max_len().to_string();
        let calls = searches
            .iter()
            .map(|(id, group)| {
                let keys = self.keys(id);
                let mut args = vec![id.to_string().into_bytes(), max_len.clone().into_bytes()];
                args.extend(group.iter().flatten().cloned());
                self.answer
                    .call(&[&keys.hash, &keys.events, &self.events], args)
            })
            .collect();
        let replies = self.run(calls).await?;
        let mut completing = Vec::new();
        for ((id, group), reply) in searches.into_iter().zip(replies) {
            let flags: Vec<i64> = redis::from_redis_value(reply).unwrap_or_default();
            let (Some(&first), Some(&done)) = (flags.first(), flags.get(1)) else {
                continue;
            };
            if done == 1 {
                completing.push(id);
            }
            // This process's own readers of the search get the events
            // now, without reading them back.
            if first > 0 {
                let appended = group
                    .into_iter()
                    .zip(flags.iter().skip(2))
                    .filter(|(_, recorded)| **recorded == 1)
                    .flat_map(|(args, _)| args.into_iter().skip(4));
                self.feed(&id, first as u64, appended);
            }
        }
        self.finish(&completing).await
    }

    /// Appends events just written to Redis to this process's copy of the
    /// search's log, if a client here reads it.
    fn feed(&self, id: &Uuid, first: u64, events: impl Iterator<Item = Vec<u8>>) {
        if let Some(log) = self.mirror(id) {
            log.extend(first, events.filter_map(decode));
        }
    }

    /// Builds and appends the `complete` event of searches that are owed
    /// it, from their stored events.
    async fn finish(&self, ids: &[Uuid]) -> Result<(), BusError> {
        if ids.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now();
        let stored = self.read(ids).await?;
        let max_len = self.redis.max_len().to_string();
        let top = self.limits.top_offers;
        let calls = ids
            .iter()
            .zip(stored)
            .filter_map(|(id, stored)| {
                let stored = stored?;
                let outcome = match stored.state.as_str() {
                    "completing" => match stored.outcome.as_deref() {
                        Some("partial") => SearchStatus::Partial,
                        _ => SearchStatus::Completed,
                    },
                    _ => return None,
                };
                let snap = stored.snapshot;
                let elapsed_ms = (now.as_millisecond() - stored.created_ms).max(0) as u64;
                let figures = (
                    outcome == SearchStatus::Partial,
                    elapsed_ms,
                    first_offer_ms(snap.providers.values()),
                );
                let complete = complete_event(
                    CompleteHead {
                        kind: "complete",
                        search_id: *id,
                        status: outcome,
                        providers: snap.providers,
                        total_offers: snap.total_offers,
                        elapsed_ms,
                    },
                    snap.offers.iter().take(top).map(|o| o.get().as_bytes()),
                );
                let keys = self.keys(id);
                let complete = tagged(EventKind::Complete, &complete);
                let call = self.finish.call(
                    &[
                        &keys.hash,
                        &keys.events,
                        &self.deadlines,
                        &self.finished,
                        &self.events,
                    ],
                    vec![
                        id.to_string().into_bytes(),
                        complete.clone(),
                        ms(now),
                        max_len.clone().into_bytes(),
                    ],
                );
                Some(((*id, complete, figures), call))
            })
            .collect::<Vec<_>>();
        if calls.is_empty() {
            return Ok(());
        }
        let (completes, calls): (Vec<_>, Vec<_>) = calls.into_iter().unzip();
        let replies = self.run(calls).await?;
        for ((id, complete, (partial, elapsed, first)), reply) in completes.into_iter().zip(replies)
        {
            if let Value::Int(at) = reply
                && at > 0
            {
                crate::metrics::search_finished(partial, elapsed, first);
                self.feed(&id, at as u64, std::iter::once(complete));
            }
        }
        Ok(())
    }

    /// Ends every search whose deadline has passed, whichever process
    /// accepted it.
    async fn expire_due(&self) -> Result<usize, BusError> {
        let now = Timestamp::now();
        let mut conn = self.redis.conn();
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
        let max_len = self.redis.max_len().to_string();
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
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "ending searches at their deadlines failed");
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
            let Some(stored) = stored else { continue };
            let overdue = now.duration_since(stored.snapshot.request.deadline)
                > jiff::SignedDuration::try_from(END_HERE_AFTER).unwrap_or_default();
            if log.is_finished() || !overdue {
                continue;
            }
            let elapsed_ms = (now.as_millisecond() - stored.created_ms).max(0) as u64;
            let mut snap = stored.snapshot;
            let mut events = Vec::new();
            for (provider, progress) in snap.providers.iter_mut() {
                if progress.status != "pending" {
                    continue;
                }
                *progress = AirlineProgress {
                    status: "timeout",
                    offers: 0,
                    elapsed_ms: Some(elapsed_ms),
                    error: Some(DEADLINE_MISSED.to_string()),
                };
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
                    providers: snap.providers,
                    total_offers: snap.total_offers,
                    elapsed_ms,
                },
                snap.offers
                    .iter()
                    .take(self.limits.top_offers)
                    .map(|o| o.get().as_bytes()),
            );
            events.push((EventKind::Complete, complete));
            log.extend(log.len() + 1, events);
            tracing::warn!(search_id = %id, "Redis refuses writes: this search's clients here were given a partial `complete`");
        }
    }

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

    fn mirror(&self, id: &Uuid) -> Option<Arc<EventLog>> {
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
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "following search events failed");
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
                tracing::warn!(error = %e, "reading new search events failed");
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
            tracing::warn!(error = %e, "catching up searches failed");
        }
    }

    /// Reads the events each log lacks, in one round trip, and wakes its
    /// readers. A search that is gone (unknown, or Redis came back without
    /// it) ends its log. Returns whether each search exists.
    async fn catch_up(
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
        let mut conn = self.redis.conn();
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

    /// A snapshot for polling clients, or `None` when the search is unknown
    /// or expired.
    pub async fn snapshot(&self, id: &Uuid) -> Result<Option<Snapshot>, BusError> {
        let mut stored = self.read(std::slice::from_ref(id)).await?;
        Ok(stored.pop().flatten().map(|s| s.snapshot))
    }

    /// Reads searches whole, in one round trip.
    async fn read(&self, ids: &[Uuid]) -> Result<Vec<Option<Stored>>, BusError> {
        let mut pipe = redis::pipe();
        for id in ids {
            let keys = self.keys(id);
            pipe.cmd("HGETALL")
                .arg(&keys.hash)
                .cmd("LRANGE")
                .arg(&keys.events)
                .arg(0)
                .arg(-1);
        }
        let mut conn = self.redis.conn();
        let replies: Vec<(Fields, Vec<Vec<u8>>)> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, "", ""))?;
        ids.iter()
            .zip(replies)
            .map(|(id, (fields, items))| Stored::parse(id, fields, items))
            .collect()
    }
}

/// A search's hash as read from Redis.
type Fields = HashMap<String, Vec<u8>>;

/// A search as read from Redis.
struct Stored {
    snapshot: Snapshot,
    /// processing, completing, completed or partial.
    state: String,
    /// What a completing search completes as.
    outcome: Option<String>,
    created_ms: i64,
}

impl Stored {
    /// `None` for a search that is not there (unknown or expired).
    fn parse(id: &Uuid, fields: Fields, items: Vec<Vec<u8>>) -> Result<Option<Self>, BusError> {
        if fields.is_empty() {
            return Ok(None);
        }
        let broken = |what: &str| BusError::Protocol(format!("search {id} in Redis: bad {what}"));
        let field = |name: &str| fields.get(name).ok_or_else(|| broken(name));
        let text = |name: &str| -> Result<&str, BusError> {
            std::str::from_utf8(field(name)?).map_err(|_| broken(name))
        };
        let number =
            |name: &str| -> Result<i64, BusError> { text(name)?.parse().map_err(|_| broken(name)) };
        let request: SearchRequest =
            serde_json::from_slice(field("request")?).map_err(|_| broken("request"))?;
        let state = text("status")?.to_string();
        let status = match state.as_str() {
            "completed" => SearchStatus::Completed,
            "partial" => SearchStatus::Partial,
            _ => SearchStatus::Processing,
        };
        let mut providers = std::collections::BTreeMap::new();
        for provider in &request.providers {
            let progress: StoredProgress = serde_json::from_slice(field(&format!("p:{provider}"))?)
                .map_err(|_| broken("progress"))?;
            providers.insert(provider.clone(), progress.into_progress());
        }
        let mut offers: Vec<(OfferKey, Box<RawValue>)> = Vec::new();
        for (kind, data) in items.into_iter().filter_map(decode) {
            if kind != EventKind::Offers {
                continue;
            }
            let Ok(event) = serde_json::from_slice::<OffersOnly<'_>>(&data) else {
                continue;
            };
            for raw in event.offers {
                if let (Ok(key), Some(json)) = (
                    serde_json::from_str::<OfferKey>(raw.get()),
                    raw_json(raw.get().as_bytes()),
                ) {
                    offers.push((key, json));
                }
            }
        }
        offers.sort_by(|a, b| a.0.cmp(&b.0));
        let finished_at = fields
            .contains_key("finished_ms")
            .then(|| number("finished_ms"))
            .transpose()?
            .and_then(|t| Timestamp::from_millisecond(t).ok());
        let expires_at: Timestamp = text("expires_at")?
            .parse()
            .map_err(|_| broken("expires_at"))?;
        Ok(Some(Stored {
            snapshot: Snapshot {
                search_id: *id,
                status,
                request,
                providers,
                total_offers: usize::try_from(number("total")?).unwrap_or(0),
                offers: offers.into_iter().map(|(_, json)| json).collect(),
                finished_at,
                expires_at,
            },
            outcome: fields
                .get("outcome")
                .and_then(|o| String::from_utf8(o.clone()).ok()),
            created_ms: number("created_ms")?,
            state,
        }))
    }
}

/// An event as stored in Redis: its kind's tag, then its JSON.
fn tagged(kind: EventKind, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 1);
    out.push(kind.tag());
    out.extend_from_slice(json);
    out
}

/// Milliseconds since the epoch, as a script argument.
fn ms(t: Timestamp) -> Vec<u8> {
    t.as_millisecond().to_string().into_bytes()
}

/// An event as stored in Redis: its kind's tag, then its JSON.
fn decode(item: Vec<u8>) -> Option<(EventKind, Bytes)> {
    let (&tag, _) = item.split_first()?;
    let kind = EventKind::from_tag(tag)?;
    Some((kind, Bytes::from(item).slice(1..)))
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

/// The offers of an `offers` event.
#[derive(Deserialize)]
struct OffersOnly<'a> {
    #[serde(borrow)]
    offers: Vec<&'a RawValue>,
}

/// An airline's progress as stored in the search's hash.
#[derive(Deserialize)]
struct StoredProgress {
    status: String,
    offers: usize,
    elapsed_ms: Option<u64>,
    error: Option<String>,
}

impl StoredProgress {
    fn into_progress(self) -> AirlineProgress {
        AirlineProgress {
            status: match self.status.as_str() {
                "ok" => "ok",
                "error" => "error",
                "timeout" => "timeout",
                _ => "pending",
            },
            offers: self.offers,
            elapsed_ms: self.elapsed_ms,
            error: self.error,
        }
    }
}
