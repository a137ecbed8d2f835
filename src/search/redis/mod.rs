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

mod deadlines;
mod follow;
mod stored;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use jiff::Timestamp;
use redis::Value;
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

use super::error::SearchError;
use super::events::{
    AirlineProgress, CompleteHead, EventKind, EventLog, PreparedAnswer, SearchStatus, Snapshot,
    complete_event, encode, first_offer_ms,
};
use super::limits::{StoreLimits, expires_at};
use crate::bus::redis_conn::{RedisConn, bus_error};
use crate::bus::{BusError, REQUESTED};
use crate::fault::Fault;
use crate::model::{AnswerView, SearchRequest, time_left};
use stored::{Fields, Stored, decode, ms, tagged};

/// The stream on which scripts announce appended events.
pub const EVENTS: &str = "flight.search.events";
const DEADLINES: &str = "search.deadlines";
const RETAINED: &str = "search.retained";
const FINISHED: &str = "search.finished";
const SEARCH: &str = "search:";

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
pub struct RedisStore {
    redis: Arc<RedisConn>,
    /// Entries kept per stream, about (the requested and events streams).
    max_len: usize,
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

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Loads the scripts into `redis`; the streams the scripts append to
    /// keep about `max_len` entries, like the bus's.
    pub async fn new(
        redis: Arc<RedisConn>,
        max_len: usize,
        limits: StoreLimits,
    ) -> Result<Self, BusError> {
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
            max_len: max_len.max(1),
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
        let mut conn = self.redis.short();
        let mut shas = Vec::new();
        for script in [&self.create, &self.answer, &self.expire, &self.finish] {
            let sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(&script.source)
                .query_async(&mut conn)
                .await
                .map_err(|e| match bus_error(e, "", "") {
                    BusError::Protocol(m) => BusError::Protocol(Fault::caused_by(
                        format!("script `{}` refused: {m}", script.name),
                        m,
                    )),
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
        let mut conn = self.redis.short();
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
    pub async fn submit(
        &self,
        request: &SearchRequest,
        admission: &crate::search::Admission,
    ) -> Result<Timestamp, SearchError> {
        let json = serde_json::to_vec(request).map_err(|e| SearchError::Internal(Fault::of(e)))?;
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
            self.max_len.to_string().into_bytes(),
            self.redis.key(SEARCH).into_bytes(),
            encode(&AirlineProgress::pending()).into_bytes(),
            expires.to_string().into_bytes(),
            admission.max_in_flight.max(1).to_string().into_bytes(),
        ];
        args.extend(providers.into_iter().map(String::into_bytes));
        let in_flight = self.redis.key(&format!("in-flight:{}", admission.client));
        let call = self.create.call(
            &[
                &keys.hash,
                &self.deadlines,
                &self.retained,
                &self.finished,
                &requested,
                &in_flight,
            ],
            args,
        );
        let reply = self
            .run(vec![call])
            .await
            .map_err(|e| SearchError::Unavailable(Fault::of(e)))?;
        match reply.first() {
            Some(Value::Int(n)) if *n > 0 => {}
            Some(Value::Int(0)) => return Err(SearchError::Busy(admission.max_in_flight)),
            Some(Value::Int(n)) => return Err(SearchError::Full(n.unsigned_abs() as usize)),
            other => {
                return Err(SearchError::Internal(Fault::new(format!(
                    "unexpected reply to the create script: {other:?}"
                ))));
            }
        }
        let deadline = Instant::now() + time_left(request.deadline);
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
        let max_len = self.max_len.to_string();
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
        let max_len = self.max_len.to_string();
        let top = self.limits.top_offers;
        let calls = ids
            .iter()
            .zip(stored)
            .filter_map(|(id, stored)| {
                let mut stored = stored?;
                let outcome = match stored.state.as_str() {
                    "completing" => match stored.outcome.as_deref() {
                        Some("partial") => SearchStatus::Partial,
                        _ => SearchStatus::Completed,
                    },
                    _ => return None,
                };
                let elapsed_ms = (now.as_millisecond() - stored.created_ms).max(0) as u64;
                let figures = (
                    outcome == SearchStatus::Partial,
                    elapsed_ms,
                    first_offer_ms(stored.snapshot.providers.values()),
                );
                // The head takes what it shows; the offers stay for the list.
                let snap = &mut stored.snapshot;
                let head = CompleteHead {
                    kind: "complete",
                    search_id: *id,
                    status: outcome,
                    providers: std::mem::take(&mut snap.providers),
                    total_offers: snap.total_offers,
                    sellers: std::mem::take(&mut snap.sellers),
                    elapsed_ms,
                };
                let complete = complete_event(head, stored.cheapest(top));
                let keys = self.keys(id);
                let complete = tagged(EventKind::Complete, &complete);
                let mut touched = vec![
                    keys.hash.as_str(),
                    keys.events.as_str(),
                    self.deadlines.as_str(),
                    self.finished.as_str(),
                    self.events.as_str(),
                ];
                touched.extend(stored.client.as_deref());
                let call = self.finish.call(
                    &touched,
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
        let mut conn = self.redis.short();
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
