//! The Redis Streams backend of the bus. Its connections are
//! [`RedisConn`]'s: short commands on the shared one, and each blocking
//! reader (stream, group, consumer) on its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::Value;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};

use super::redis_conn::{RedisConn, bus_error};
use super::{BusError, Entry, EntryId, StartFrom};

/// A Redis Streams bus.
#[derive(Debug)]
pub struct RedisBus {
    redis: Arc<RedisConn>,
    max_len: usize,
    partitions: super::Partitions,
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
        local: None,
    })
}

impl RedisBus {
    /// A bus on `redis`'s connections, with streams trimmed to about
    /// `max_len` entries, searches spread over `partitions` partitions.
    pub fn new(redis: Arc<RedisConn>, max_len: usize, partitions: usize) -> Self {
        Self {
            redis,
            max_len: max_len.max(1),
            partitions: super::Partitions::new(partitions),
        }
    }

    /// Connects to `url` (checking it answers) with stream names prefixed by
    /// `prefix` and streams trimmed to about `max_len` entries, in one
    /// partition.
    pub async fn connect(url: &str, prefix: &str, max_len: usize) -> Result<Self, BusError> {
        let redis = RedisConn::connect(url, prefix).await?;
        Ok(Self::new(Arc::new(redis), max_len, 1))
    }

    /// The requested and results streams' partitions.
    pub fn partitions(&self) -> &super::Partitions {
        &self.partitions
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), BusError> {
        self.redis.ping().await
    }

    /// Entries kept per stream, about.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// `XADD stream MAXLEN ~ n * data ...`.
    pub async fn publish(&self, stream: &str, data: Bytes) -> Result<EntryId, BusError> {
        let mut conn = self.redis.short();
        let id: String = redis::cmd("XADD")
            .arg(self.redis.key(stream))
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
        let mut conn = self.redis.short();
        let from = match start {
            StartFrom::Beginning => "0",
            StartFrom::Latest => "$",
        };
        let created: Result<(), _> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.redis.key(stream))
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
        let mut conn = self.redis.reader(&name).await?;
        let reply: Result<Option<StreamReadReply>, _> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count.max(1))
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.redis.key(stream))
            .arg(">")
            .query_async(&mut conn)
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                let err = bus_error(e, stream, group);
                if matches!(err, BusError::Unavailable(_)) {
                    self.redis.drop_reader(&name).await;
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

    /// `XACK`.
    pub async fn ack(&self, stream: &str, group: &str, ids: &[EntryId]) -> Result<usize, BusError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.redis.short();
        let mut cmd = redis::cmd("XACK");
        cmd.arg(self.redis.key(stream)).arg(group);
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
        let mut conn = self.redis.short();
        let key = self.redis.key(stream);
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
        let mut conn = self.redis.short();
        let reply: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(self.redis.key(stream))
            .arg(group)
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, stream, group))?;
        Ok(reply.count() as u64)
    }

    /// `XINFO GROUPS`: each group with its pending entries and its lag.
    pub async fn groups(&self, stream: &str) -> Result<Vec<super::GroupInfo>, BusError> {
        let mut conn = self.redis.short();
        let reply: Vec<HashMap<String, Value>> = match redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(self.redis.key(stream))
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
        let mut conn = self.redis.short();
        redis::cmd("XLEN")
            .arg(self.redis.key(stream))
            .query_async(&mut conn)
            .await
            .map_err(|e| bus_error(e, stream, ""))
    }
}
