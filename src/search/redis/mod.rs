//! Searches kept in Redis, so that any number of `api` processes serve any
//! search: one accepts it, any records its airlines' answers, any ends it at
//! its deadline, and an SSE client connected to any of them gets every event
//! in order, exactly once, and can resume on another.
//!
//! Each search is one hash, `search:{<id>}` (see `lua/common.lua`), and
//! every change to it is one Lua script on that key alone, so it is atomic
//! and a Redis Cluster runs it on the search's slot: an answer delivered
//! twice, or two processes reaching the deadline together, still make one
//! `provider` event per airline and one `complete`. The scripts only
//! decide; the event JSON is built here, so Redis spends its time storing
//! rather than interpreting. Scripts announce each change on one Pub/Sub
//! channel, which each api process follows on one connection; it then reads
//! the new events of the searches its SSE clients follow in one round trip
//! per batch and fans them out in memory: Redis connections do not grow
//! with clients.
//!
//! Around the search, in keys of their own slots: the client's searches
//! running (`in-flight:{<client>}`, checked before a search is stored and
//! left when it completes) and the deadline index, spread over
//! [`DEADLINE_PARTITIONS`] sorted sets so that a dead process's searches
//! still end. What only the accepting process needs (the retention cap, its
//! searches' deadlines, the tally of answers it records) stays in its
//! memory ([`local`]).

mod deadlines;
mod failover;
mod follow;
mod leave;
mod local;
mod record;
mod revive;
mod stored;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use jiff::Timestamp;
use redis::Value;
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

use super::error::SearchError;
use super::events::{AirlineProgress, EventLog, Snapshot, encode};
use super::limits::{StoreLimits, expires_at};
use super::tally::Tally;
use crate::bus::redis_conn::{RedisConn, bus_error};
use crate::bus::slots::spread_tags;
use crate::bus::{BusError, Partitions};
use crate::fault::Fault;
use crate::model::{SearchRequest, time_left};
use leave::Leaver;
use local::{Local, Partial, Revive};
use stored::{Fields, Stored, ms};

/// The Pub/Sub channel on which scripts announce a search's new events.
pub const EVENTS: &str = "search.events";
/// Sorted sets the deadline index is spread over.
pub const DEADLINE_PARTITIONS: usize = 16;
/// How long an idle client's running-searches set outlives its last
/// search; refreshed at most once a minute per process.
const IN_FLIGHT_TTL: Duration = Duration::from_secs(600);

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
        let source = format!("{COMMON}\n{body}");
        let sha = redis::Script::new(&source).get_hash().to_string();
        Self { name, source, sha }
    }

    /// `EVALSHA` of this script on `key` with `args`, borrowed: the
    /// command's buffer is sized once for them, where the record script's
    /// 20 KB of events would otherwise be copied into owned arguments
    /// first and then again at each doubling of the buffer.
    fn call(&self, key: &str, args: &[&[u8]]) -> redis::Cmd {
        let data = self.sha.len() + 1 + key.len() + args.iter().map(|a| a.len()).sum::<usize>();
        let mut cmd = redis::Cmd::with_capacity(4 + args.len(), "EVALSHA".len() + data);
        cmd.arg("EVALSHA").arg(&self.sha).arg(1).arg(key);
        for arg in args {
            cmd.arg(*arg);
        }
        cmd
    }
}

/// `HSET` of `pairs` (field, value) on `key`, borrowed into a buffer sized
/// once, as [`Script::call`]; `None` when there is nothing to set.
fn stage<'a>(
    key: &str,
    pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
) -> Option<redis::Cmd> {
    let (count, data) = pairs
        .clone()
        .fold((0, 0), |(n, len), (f, v)| (n + 2, len + f.len() + v.len()));
    if count == 0 {
        return None;
    }
    let mut cmd = redis::Cmd::with_capacity(2 + count, "HSET".len() + key.len() + data);
    cmd.arg("HSET").arg(key);
    for (field, value) in pairs {
        cmd.arg(field).arg(value);
    }
    Some(cmd)
}

/// Every search of every api process, in Redis.
pub struct RedisStore {
    redis: Arc<RedisConn>,
    /// Entries kept in the requested stream, about.
    max_len: usize,
    limits: StoreLimits,
    record: Script,
    expire: Script,
    finish: Script,
    /// The deadline index's sorted sets.
    deadlines: Vec<String>,
    partitions: Partitions,
    /// The requested stream of each partition, prefixed.
    requested: Vec<String>,
    channel: String,
    /// The event logs that this process's SSE clients read, fed from the
    /// events channel; an entry dies with its last reader.
    mirrors: Mutex<HashMap<Uuid, Weak<EventLog>>>,
    local: Mutex<Local>,
    /// When each client's running-searches set had its expiry refreshed.
    refreshed: Mutex<HashMap<String, Instant>>,
    leaver: Leaver,
    /// This process's tag in announcements.
    tag: String,
    /// Searches whose changes by this process may have reached Redis
    /// without reaching its readers (the call failed): they catch up from
    /// Redis, since their announcements are this process's own.
    stale: Mutex<Vec<Uuid>>,
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
    /// Loads the scripts into `redis`; searches go to the requested stream
    /// of their partition, which keeps about `max_len` entries, like the
    /// bus's.
    pub async fn new(
        redis: Arc<RedisConn>,
        partitions: Partitions,
        max_len: usize,
        limits: StoreLimits,
    ) -> Result<Self, BusError> {
        let store = Self {
            record: Script::new("record", include_str!("lua/record.lua")),
            expire: Script::new("expire", include_str!("lua/expire.lua")),
            finish: Script::new("finish", include_str!("lua/finish.lua")),
            deadlines: spread_tags("d", DEADLINE_PARTITIONS)
                .into_iter()
                .map(|tag| redis.key(&format!("search.deadlines:{{{tag}}}")))
                .collect(),
            requested: partitions.all_requested().map(|s| redis.key(s)).collect(),
            partitions,
            channel: redis.key(EVENTS),
            leaver: Leaver::spawn(redis.clone()),
            redis,
            max_len: max_len.max(1),
            limits,
            mirrors: Mutex::new(HashMap::new()),
            local: Mutex::new(Local::default()),
            refreshed: Mutex::new(HashMap::new()),
            tag: format!("{:016x}", rand::random::<u64>()),
            stale: Mutex::new(Vec::new()),
            wake: Notify::new(),
        };
        store.load_scripts().await?;
        Ok(store)
    }

    /// `SCRIPT LOAD`s every script (again, after Redis lost its cache).
    async fn load_scripts(&self) -> Result<(), BusError> {
        for script in [&self.record, &self.expire, &self.finish] {
            self.redis.load_script(&script.source).await.map_err(|e| {
                match bus_error(e, "", "") {
                    BusError::Protocol(m) => BusError::Protocol(Fault::caused_by(
                        format!("script `{}` refused: {m}", script.name),
                        m,
                    )),
                    other => other,
                }
            })?;
        }
        Ok(())
    }

    /// Runs script calls in one round trip. A Redis that restarted has lost
    /// its script cache: the scripts are loaded again and the calls repeated,
    /// which is safe because every script is idempotent.
    async fn run(&self, calls: Vec<redis::Cmd>) -> Result<Vec<Value>, BusError> {
        self.run_staged(calls.into_iter().map(|call| (None, call)).collect())
            .await
    }

    /// Runs script calls as [`RedisStore::run`] does, each after the
    /// command, if any, that stages what it refers to; only the calls'
    /// replies are returned.
    async fn run_staged(
        &self,
        calls: Vec<(Option<redis::Cmd>, redis::Cmd)>,
    ) -> Result<Vec<Value>, BusError> {
        let mut pipe = redis::pipe();
        for (stage, call) in calls {
            if let Some(stage) = stage {
                pipe.add_command(stage).ignore();
            }
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

    /// The deadline index's sorted sets, prefixed.
    pub fn deadline_keys(&self) -> &[String] {
        &self.deadlines
    }

    /// How a change this process makes to a search is announced: the
    /// search and this process's tag, so that its follower skips what its
    /// own readers are fed directly.
    fn announced_as(&self, id: &Uuid) -> Vec<u8> {
        format!("{id} {}", self.tag).into_bytes()
    }

    /// The key of a search's hash.
    fn key(&self, id: &Uuid) -> String {
        self.redis.key(&format!("search:{{{id}}}"))
    }

    /// The deadline index's set that holds a search.
    fn deadlines_of(&self, id: &Uuid) -> &str {
        &self.deadlines[(id.as_u128() % self.deadlines.len() as u128) as usize]
    }

    /// Stores a search and publishes it to the requested stream, unless this
    /// process keeps as many searches as it may and none has finished, or
    /// the client has its most searches running. Returns when its results
    /// expire.
    pub async fn submit(
        &self,
        request: &SearchRequest,
        admission: &crate::search::Admission,
    ) -> Result<Timestamp, SearchError> {
        let json = serde_json::to_vec(request).map_err(|e| SearchError::Internal(Fault::of(e)))?;
        let expires = expires_at(request, self.limits.result_ttl);
        let id = request.search_id;
        let now = Instant::now();
        let deadline = now + time_left(request.deadline);
        let expires_in = now + time_left(expires);
        let evicted = self
            .local
            .lock()
            .expect("local lock")
            .room(self.limits.max_retained.max(1), now)
            .map_err(SearchError::Full)?;
        let client = self
            .redis
            .key(&format!("in-flight:{{{}}}", admission.client));
        self.enter(&client, &id, request.deadline, admission.max_in_flight)
            .await?;
        // Made before the search is published, its log here misses nothing.
        let log = Arc::new(EventLog::default());
        self.mirrors
            .lock()
            .expect("mirrors lock")
            .insert(id, Arc::downgrade(&log));
        let sooner = self.local.lock().expect("local lock").accept(
            id,
            deadline,
            expires_in,
            Partial {
                providers: request.providers.clone(),
                created_ms: request.created_at.as_millisecond(),
                events: 0,
                tally: Tally::new(request.providers.len()),
            },
            log,
            Revive {
                request: request.clone(),
                expires,
                client: client.clone(),
                log: None,
            },
        );
        let key = self.key(&id);
        let pending = AirlineProgress::pending();
        let progress: Vec<(&str, &AirlineProgress)> = request
            .providers
            .iter()
            .map(|p| (p.as_str(), &pending))
            .collect();
        let mut pipe = self.stored_search(request, &json, expires, &client, &progress, &[]);
        pipe.cmd("ZADD")
            .arg(self.deadlines_of(&id))
            .arg(request.deadline.as_millisecond())
            .arg(id.to_string())
            .ignore();
        if let Some(old) = evicted {
            pipe.cmd("UNLINK").arg(self.key(&old)).ignore();
        }
        pipe.cmd("XADD")
            .arg(&self.requested[self.partitions.of(&id)])
            .arg("MAXLEN")
            .arg("~")
            .arg(self.max_len)
            .arg("*")
            .arg("data")
            .arg(&json)
            .ignore();
        let mut conn = self.redis.short();
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            self.local.lock().expect("local lock").forget(&id);
            let mut undo = redis::pipe();
            undo.cmd("ZREM")
                .arg(&client)
                .arg(id.to_string())
                .cmd("UNLINK")
                .arg(&key);
            let _ = undo.query_async::<()>(&mut conn).await;
            return Err(SearchError::Unavailable(Fault::of(bus_error(e, "", ""))));
        }
        if sooner {
            self.wake.notify_one();
        }
        Ok(expires)
    }

    /// Writes a search's hash and its expiry: `progress` of each airline,
    /// and `events` so far (tagged); `processing`.
    fn stored_search(
        &self,
        request: &SearchRequest,
        json: &[u8],
        expires: Timestamp,
        client: &str,
        progress: &[(&str, &AirlineProgress)],
        events: &[Vec<u8>],
    ) -> redis::Pipeline {
        let key = self.key(&request.search_id);
        let waiting = progress.iter().filter(|(_, p)| p.is_pending()).count();
        let total: usize = progress.iter().map(|(_, p)| p.offers).sum();
        let mut hset = redis::cmd("HSET");
        hset.arg(&key)
            .arg("request")
            .arg(json)
            .arg("status")
            .arg("processing")
            .arg("events")
            .arg(events.len())
            .arg("total")
            .arg(total)
            .arg("created_ms")
            .arg(request.created_at.as_millisecond())
            .arg("expires_at")
            .arg(expires.to_string())
            .arg("pending")
            .arg(waiting)
            .arg("client")
            .arg(client)
            .arg("providers")
            .arg(request.providers.join(","));
        for (provider, progress) in progress {
            hset.arg(format!("p:{provider}")).arg(encode(*progress));
        }
        for (n, event) in events.iter().enumerate() {
            hset.arg(format!("e:{}", n + 1)).arg(event);
        }
        let mut pipe = redis::pipe();
        pipe.add_command(hset)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(expires.as_millisecond())
            .ignore();
        pipe
    }

    /// Counts a search among its client's running ones, or refuses it when
    /// the client has `most` running. A search past its deadline no longer
    /// counts, even if its `complete` never came; those are dropped only at
    /// the bound, so the usual path is two commands in one round trip.
    async fn enter(
        &self,
        client: &str,
        id: &Uuid,
        deadline: Timestamp,
        most: u32,
    ) -> Result<(), SearchError> {
        let most = u64::from(most.max(1));
        let refresh = {
            let now = Instant::now();
            let mut refreshed = self.refreshed.lock().expect("refreshed lock");
            if refreshed.len() > 10_000 {
                refreshed.retain(|_, at| now.duration_since(*at) < Duration::from_secs(60));
            }
            match refreshed.get(client) {
                Some(at) if now.duration_since(*at) < Duration::from_secs(60) => false,
                _ => {
                    refreshed.insert(client.to_string(), now);
                    true
                }
            }
        };
        let unavailable = |e| SearchError::Unavailable(Fault::of(bus_error(e, "", "")));
        let mut conn = self.redis.short();
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(client)
            .arg(deadline.as_millisecond())
            .arg(id.to_string())
            .ignore()
            .cmd("ZCARD")
            .arg(client);
        if refresh {
            pipe.cmd("PEXPIRE")
                .arg(client)
                .arg(IN_FLIGHT_TTL.as_millis() as u64)
                .ignore();
        }
        let (mut running,): (u64,) = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        if running > most {
            let mut pipe = redis::pipe();
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(client)
                .arg("-inf")
                .arg(Timestamp::now().as_millisecond())
                .ignore()
                .cmd("ZCARD")
                .arg(client);
            (running,) = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        }
        if running > most {
            let _: Result<(), _> = redis::cmd("ZREM")
                .arg(client)
                .arg(id.to_string())
                .query_async(&mut conn)
                .await;
            return Err(SearchError::Busy(most as u32));
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
            pipe.cmd("HGETALL").arg(self.key(id));
        }
        let mut conn = self.redis.short();
        let replies: Vec<Fields> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, "", ""))?;
        ids.iter()
            .zip(replies)
            .map(|(id, fields)| Stored::parse(id, fields))
            .collect()
    }
}
