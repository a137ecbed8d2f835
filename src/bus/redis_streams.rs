//! The Redis Streams backend of the bus. Its connections are
//! [`RedisConn`]'s: short commands on the shared one, and each blocking
//! reader (stream, group, consumer) on its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::Value;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply};

use super::redis_conn::{RedisConn, bus_error};
use super::{BusError, Entry, EntryId, StartFrom};
use crate::fault::Fault;

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

fn to_entry(mut id: StreamId, deliveries: u32) -> Result<Entry, BusError> {
    new_entry(&id.id, id.map.remove("data"), deliveries)
}

/// An entry with its `data` field's value, taken without a copy; a
/// deleted entry's data is empty.
fn new_entry(id: &str, data: Option<Value>, deliveries: u32) -> Result<Entry, BusError> {
    let data = match data {
        Some(Value::BulkString(bytes)) => Bytes::from(bytes),
        Some(Value::SimpleString(s)) => Bytes::from(s),
        _ => Bytes::new(),
    };
    Ok(Entry {
        id: entry_id(id)?,
        data,
        deliveries,
        local: None,
    })
}

/// The entries of an `XREADGROUP` reply, read by value: redis-rs's
/// `StreamReadReply` clones the whole reply before reading it, and its
/// entries' fields land in a map, so every answer's bytes were copied
/// twice on their way in. Each stream is `[name, [[id, [field, value,
/// ...] or nil], ...]]`, in an array (RESP2) or a map (RESP3); nil is a
/// read that timed out.
fn read_entries(reply: Value) -> Result<Vec<Entry>, BusError> {
    let unexpected = |what: &'static str| BusError::Protocol(Fault::new(what));
    let streams: Vec<Value> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.swap_remove(1)),
                _ => Err(unexpected(
                    "an XREADGROUP stream is not a [name, entries] pair",
                )),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        _ => return Err(unexpected("an XREADGROUP reply is not an array of streams")),
    };
    let mut out = Vec::new();
    for entries in streams {
        let Value::Array(entries) = entries else {
            return Err(unexpected(
                "an XREADGROUP stream's entries are not an array",
            ));
        };
        for entry in entries {
            let Value::Array(parts) = entry else {
                return Err(unexpected("an XREADGROUP entry is not an array"));
            };
            let mut parts = parts.into_iter();
            let id = match parts.next() {
                Some(Value::BulkString(id)) => String::from_utf8(id).ok(),
                Some(Value::SimpleString(id)) => Some(id),
                _ => None,
            }
            .ok_or_else(|| unexpected("an XREADGROUP entry has no id"))?;
            let mut data = None;
            if let Some(Value::Array(fields)) = parts.next() {
                let mut fields = fields.into_iter();
                while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                    if matches!(&name, Value::BulkString(n) if n == b"data") {
                        data = Some(value);
                        break;
                    }
                }
            }
            out.push(new_entry(&id, data, 1)?);
        }
    }
    Ok(out)
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
        let reply: Result<Value, _> = redis::cmd("XREADGROUP")
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
        read_entries(reply)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    fn entry(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    #[test]
    fn a_read_reply_gives_each_entry_its_data_in_order() {
        let stream =
            |name: &str, entries: Vec<Value>| Value::Array(vec![bulk(name), Value::Array(entries)]);
        let reply = Value::Array(vec![
            stream(
                "a",
                vec![
                    entry("1-0", &["data", "one"]),
                    entry("1-1", &["other", "x", "data", "two"]),
                ],
            ),
            stream("b", vec![entry("2-0", &["other", "x"])]),
        ]);
        let entries = read_entries(reply).unwrap();
        let got: Vec<(EntryId, &[u8], u32)> = entries
            .iter()
            .map(|e| (e.id, e.data.as_ref(), e.deliveries))
            .collect();
        assert_eq!(
            got,
            [
                (EntryId { ms: 1, seq: 0 }, &b"one"[..], 1),
                (EntryId { ms: 1, seq: 1 }, &b"two"[..], 1),
                (EntryId { ms: 2, seq: 0 }, &b""[..], 1),
            ]
        );
        // RESP3 answers with a map of streams; nil is a read that timed out.
        let map = Value::Map(vec![(
            bulk("a"),
            Value::Array(vec![entry("3-0", &["data", "x"])]),
        )]);
        assert_eq!(read_entries(map).unwrap()[0].data.as_ref(), b"x");
        assert!(read_entries(Value::Nil).unwrap().is_empty());
        // A deleted entry (nil fields) has no data.
        let deleted = Value::Array(vec![Value::Array(vec![
            bulk("a"),
            Value::Array(vec![Value::Array(vec![bulk("4-0"), Value::Nil])]),
        ])]);
        assert!(read_entries(deleted).unwrap()[0].data.is_empty());
    }

    #[test]
    fn a_reply_of_another_shape_is_a_protocol_error() {
        for (reply, says) in [
            (Value::Int(1), "not an array of streams"),
            (Value::Array(vec![bulk("a")]), "not a [name, entries] pair"),
            (
                Value::Array(vec![Value::Array(vec![bulk("a"), Value::Int(2)])]),
                "entries are not an array",
            ),
            (
                Value::Array(vec![Value::Array(vec![
                    bulk("a"),
                    Value::Array(vec![Value::Int(3)]),
                ])]),
                "entry is not an array",
            ),
            (
                Value::Array(vec![Value::Array(vec![
                    bulk("a"),
                    Value::Array(vec![Value::Array(vec![])]),
                ])]),
                "has no id",
            ),
        ] {
            let err = read_entries(reply).unwrap_err();
            assert!(
                matches!(&err, BusError::Protocol(_)) && err.to_string().contains(says),
                "{err}"
            );
        }
        let bad_id = Value::Array(vec![Value::Array(vec![
            bulk("a"),
            Value::Array(vec![entry("x-y", &[])]),
        ])]);
        assert!(read_entries(bad_id).is_err());
    }
}
