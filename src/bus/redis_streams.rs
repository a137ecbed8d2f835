//! The Redis Streams backend of the bus. Short commands share one
//! multiplexed, self-reconnecting connection (`ConnectionManager`), which
//! pipelines concurrent commands on one socket; a deadpool pool was tried
//! first and measured at half the throughput, because each checkout
//! costs a recycle round trip (`UNWATCH` + `PING`). Each blocking reader
//! (stream, group, consumer) gets its own connection with no response
//! timeout: the client's default 500 ms would cut `XREADGROUP ... BLOCK`
//! short, and a blocking command would stall every command multiplexed with
//! it.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use redis::{AsyncConnectionConfig, Value};
use tokio::sync::Mutex;

use super::{BusError, Entry, EntryId, StartFrom};

/// A Redis Streams bus.
pub struct RedisBus {
    client: redis::Client,
    shared: ConnectionManager,
    prefix: String,
    max_len: usize,
    /// One connection per blocking reader, opened on first use and dropped
    /// on error so the next read reconnects.
    readers: Mutex<HashMap<String, MultiplexedConnection>>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("prefix", &self.prefix)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

/// Maps a Redis error to the bus's: a missing group, a broker that cannot be
/// reached, or anything else as a protocol error.
pub fn bus_error(e: redis::RedisError, stream: &str, group: &str) -> BusError {
    if e.code() == Some("NOGROUP") {
        BusError::NoGroup {
            stream: stream.to_string(),
            group: group.to_string(),
        }
    } else if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
    {
        BusError::Unavailable(e.to_string())
    } else if let Some(reason) = server_code(&e).as_deref().and_then(refusal) {
        // Redis is there but refuses the write for now: the broker's
        // trouble, never the client's.
        BusError::Unavailable(reason.to_string())
    } else {
        BusError::Protocol(e.to_string())
    }
}

/// The error code Redis answered with, also inside a pipeline's failure.
fn server_code(e: &redis::RedisError) -> Option<String> {
    e.code().map(str::to_string).or_else(|| {
        let items = e.clone().into_server_errors()?;
        items.first().map(|(_, error)| error.code().to_string())
    })
}

/// Plain words for the error codes of a Redis that refuses a command for
/// now, and will take it again once it recovers.
fn refusal(code: &str) -> Option<&'static str> {
    Some(match code {
        "OOM" => "Redis is out of memory and refuses writes (maxmemory reached)",
        "READONLY" => "Redis is a read-only replica (failing over?)",
        "MASTERDOWN" => "Redis has lost its master",
        "LOADING" => "Redis is loading its data set",
        "BUSY" => "Redis is busy running a script",
        "TRYAGAIN" | "CLUSTERDOWN" => "the Redis cluster is not ready",
        "MISCONF" => "Redis cannot persist its data and refuses writes",
        _ => return None,
    })
}

fn entry_id(text: &str) -> Result<EntryId, BusError> {
    text.parse()
}

fn to_entry(id: StreamId, deliveries: u32) -> Result<Entry, BusError> {
    let data = match id.map.get("data") {
        Some(Value::BulkString(bytes)) => Bytes::from(bytes.clone()),
        Some(Value::SimpleString(s)) => Bytes::from(s.clone()),
        _ => Bytes::new(),
    };
    Ok(Entry {
        id: entry_id(&id.id)?,
        data,
        deliveries,
    })
}

impl RedisBus {
    /// Connects to `url` (checking it answers) with stream names prefixed by
    /// `prefix` and streams trimmed to about `max_len` entries.
    pub async fn connect(url: &str, prefix: &str, max_len: usize) -> Result<Self, BusError> {
        let client = redis::Client::open(url)
            .map_err(|e| BusError::Unavailable(format!("bad Redis URL: {e}")))?;
        // Short commands fail within a few seconds while Redis is away (a
        // search is refused with 503 rather than left hanging); the manager
        // reconnects on its own when Redis is back.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let shared = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        let bus = Self {
            client,
            shared,
            prefix: prefix.to_string(),
            max_len: max_len.max(1),
            readers: Mutex::new(HashMap::new()),
        };
        bus.ping().await?;
        Ok(bus)
    }

    /// A key's full name, with the configured prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// Entries kept per stream, about.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The shared connection for short commands.
    pub fn conn(&self) -> ConnectionManager {
        self.shared.clone()
    }

    /// `XADD stream MAXLEN ~ n * data ...`.
    pub async fn publish(&self, stream: &str, data: Bytes) -> Result<EntryId, BusError> {
        let mut conn = self.conn();
        let id: String = redis::cmd("XADD")
            .arg(self.key(stream))
            .arg("MAXLEN")
            .arg("~")
            .arg(self.max_len)
            .arg("*")
            .arg("data")
            .arg(data.as_ref())
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, stream, ""))?;
        entry_id(&id)
    }

    /// `XGROUP CREATE ... MKSTREAM`, where a group that exists is fine.
    pub async fn ensure_group(
        &self,
        stream: &str,
        group: &str,
        start: StartFrom,
    ) -> Result<(), BusError> {
        let mut conn = self.conn();
        let from = match start {
            StartFrom::Beginning => "0",
            StartFrom::Latest => "$",
        };
        let created: Result<(), _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.key(stream))
            .arg(group)
            .arg(from)
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(bus_error(e, stream, group)),
        }
    }

    /// The blocking reader `name`'s own connection, opened on first use.
    pub async fn reader(&self, name: &str) -> Result<MultiplexedConnection, BusError> {
        let mut readers = self.readers.lock().await;
        if let Some(conn) = readers.get(name) {
            return Ok(conn.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        readers.insert(name.to_string(), conn.clone());
        Ok(conn)
    }

    /// `XREADGROUP GROUP g c COUNT n BLOCK ms STREAMS s >` on the reader's
    /// own connection.
    pub async fn read_group(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Entry>, BusError> {
        let name = format!("{stream}\u{0}{group}\u{0}{consumer}");
        let mut conn = self.reader(&name).await?;
        let reply: Result<Option<StreamReadReply>, _> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count.max(1))
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.key(stream))
            .arg(">")
            .query_async(&mut conn)
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                let err = bus_error(e, stream, group);
                if matches!(err, BusError::Unavailable(_)) {
                    self.drop_reader(&name).await;
                }
                return Err(err);
            }
        };
        reply
            .map(|r| r.keys)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|k| k.ids)
            .map(|id| to_entry(id, 1))
            .collect()
    }

    /// Forgets a reader's connection after an error, so the next read
    /// reconnects.
    pub async fn drop_reader(&self, name: &str) {
        self.readers.lock().await.remove(name);
    }

    /// `XACK`.
    pub async fn ack(&self, stream: &str, group: &str, ids: &[EntryId]) -> Result<usize, BusError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn();
        let mut cmd = redis::cmd("XACK");
        cmd.arg(self.key(stream)).arg(group);
        for id in ids {
            cmd.arg(id.to_string());
        }
        cmd.query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, stream, group))
    }

    /// `XAUTOCLAIM`, then `XPENDING` for the claimed entries' delivery counts.
    pub async fn claim_idle(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Entry>, BusError> {
        let mut conn = self.conn();
        let key = self.key(stream);
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&key)
            .arg(group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(count.max(1))
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, stream, group))?;
        if reply.claimed.is_empty() {
            return Ok(Vec::new());
        }
        let first = reply
            .claimed
            .first()
            .map(|c| c.id.clone())
            .unwrap_or_default();
        let last = reply
            .claimed
            .last()
            .map(|c| c.id.clone())
            .unwrap_or_default();
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&key)
            .arg(group)
            .arg(&first)
            .arg(&last)
            .arg(reply.claimed.len())
            .arg(consumer)
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, stream, group))?;
        let counts: HashMap<String, usize> = pending
            .ids
            .into_iter()
            .map(|p| (p.id, p.times_delivered))
            .collect();
        reply
            .claimed
            .into_iter()
            .map(|id| {
                let deliveries = counts.get(&id.id).copied().unwrap_or(1) as u32;
                to_entry(id, deliveries)
            })
            .collect()
    }

    /// Pending entries of a group (`XPENDING` summary).
    pub async fn pending(&self, stream: &str, group: &str) -> Result<u64, BusError> {
        let mut conn = self.conn();
        let reply: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(self.key(stream))
            .arg(group)
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, stream, group))?;
        Ok(reply.count() as u64)
    }

    /// `XINFO GROUPS`: each group with its pending entries and its lag.
    pub async fn groups(&self, stream: &str) -> Result<Vec<super::GroupInfo>, BusError> {
        let mut conn = self.conn();
        let reply: Vec<HashMap<String, Value>> = match redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(self.key(stream))
            .query_async(&mut conn)
            .await
        {
            Ok(r) => r,
            // No stream yet: no groups.
            Err(e) if e.code() == Some("ERR") => return Ok(Vec::new()),
            Err(e) => return Err(bus_error(e, stream, "")),
        };
        let number = |v: Option<&Value>| match v {
            Some(Value::Int(n)) => (*n).max(0) as u64,
            _ => 0,
        };
        Ok(reply
            .into_iter()
            .filter_map(|g| {
                let name = match g.get("name")? {
                    Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    Value::SimpleString(s) => s.clone(),
                    _ => return None,
                };
                Some(super::GroupInfo {
                    name,
                    pending: number(g.get("pending")),
                    lag: number(g.get("lag")),
                })
            })
            .collect())
    }

    /// `XLEN`.
    pub async fn len(&self, stream: &str) -> Result<u64, BusError> {
        let mut conn = self.conn();
        redis::cmd("XLEN")
            .arg(self.key(stream))
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, stream, ""))
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.conn();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(())
    }
}
