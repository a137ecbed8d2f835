//! The embedded in-process bus: Redis Streams semantics (ids, consumer
//! groups, pending entries, acknowledgements, claiming, approximate
//! trimming) in memory, for the single-process default.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use foldhash::{HashMap, HashMapExt};
use tokio::sync::Notify;

use super::{BusError, Entry, EntryId, Local, StartFrom};

/// The in-process bus.
#[derive(Debug)]
pub struct EmbeddedBus {
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    max_len: usize,
    partitions: super::Partitions,
}

#[derive(Debug)]
struct Stream {
    state: Mutex<StreamState>,
    /// Woken on every append, so blocked readers look again.
    appended: Notify,
}

#[derive(Debug, Default)]
struct StreamState {
    entries: VecDeque<(EntryId, Payload)>,
    last_id: EntryId,
    groups: HashMap<String, Group>,
}

/// An entry's bytes, and the value it carries in process, if any.
#[derive(Clone)]
struct Payload {
    data: Bytes,
    local: Option<Local>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("data", &self.data)
            .field("local", &self.local.is_some())
            .finish()
    }
}

#[derive(Debug, Default)]
struct Group {
    last_delivered: EntryId,
    pending: BTreeMap<EntryId, Pending>,
    /// The group's consumers' names, shared by their pending entries
    /// rather than copied into each.
    consumers: Vec<Arc<str>>,
}

impl Group {
    /// The name `consumer`, as its pending entries hold it.
    fn consumer(&mut self, consumer: &str) -> Arc<str> {
        if let Some(name) = self.consumers.iter().find(|c| &***c == consumer) {
            return name.clone();
        }
        let name: Arc<str> = consumer.into();
        self.consumers.push(name.clone());
        name
    }
}

#[derive(Debug)]
struct Pending {
    consumer: Arc<str>,
    deliveries: u32,
    delivered_at: Instant,
}

impl EmbeddedBus {
    /// A bus whose streams keep about `max_len` entries each (older entries
    /// are trimmed, as `MAXLEN ~` does).
    pub fn new(max_len: usize) -> Self {
        Self {
            streams: Mutex::new(HashMap::new()),
            max_len: max_len.max(1),
            partitions: super::Partitions::new(1),
        }
    }

    /// One partition: in one process there is nothing to spread.
    pub fn partitions(&self) -> &super::Partitions {
        &self.partitions
    }

    fn stream(&self, name: &str) -> Arc<Stream> {
        let mut streams = self.streams.lock().expect("bus lock");
        // Looked up on every publish, read and ack: the name is copied only
        // when the stream is new.
        if let Some(stream) = streams.get(name) {
            return stream.clone();
        }
        streams
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Stream {
                    state: Mutex::new(StreamState::default()),
                    appended: Notify::new(),
                })
            })
            .clone()
    }

    /// Appends an entry, with a value for readers in process if any, and
    /// wakes blocked readers.
    pub fn publish(&self, stream: &str, data: Bytes, local: Option<Local>) -> EntryId {
        let stream = self.stream(stream);
        let id = {
            let mut s = stream.state.lock().expect("stream lock");
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let id = if now > s.last_id.ms {
                EntryId { ms: now, seq: 0 }
            } else {
                EntryId {
                    ms: s.last_id.ms,
                    seq: s.last_id.seq + 1,
                }
            };
            s.last_id = id;
            s.entries.push_back((id, Payload { data, local }));
            // Approximate trimming, like `MAXLEN ~`: trim in chunks once the
            // stream is a tenth over its cap. Unlike Redis, never trim an
            // entry some group has not been handed yet: in one process a
            // slow reader must not lose work, and memory stays bounded by
            // the readers' progress.
            if s.entries.len() > self.max_len + self.max_len / 10 {
                let floor = s
                    .groups
                    .values()
                    .map(|g| g.last_delivered)
                    .min()
                    .unwrap_or(s.last_id);
                let excess = s.entries.len() - self.max_len;
                let delivered = s.entries.partition_point(|(id, _)| *id <= floor);
                s.entries.drain(..excess.min(delivered));
            }
            id
        };
        stream.appended.notify_waiters();
        id
    }

    /// Creates a group unless it exists.
    pub fn ensure_group(&self, stream: &str, group: &str, start: StartFrom) {
        let stream = self.stream(stream);
        let mut s = stream.state.lock().expect("stream lock");
        let last = s.last_id;
        s.groups.entry(group.to_string()).or_insert_with(|| Group {
            last_delivered: match start {
                StartFrom::Beginning => EntryId::default(),
                StartFrom::Latest => last,
            },
            pending: BTreeMap::new(),
            consumers: Vec::new(),
        });
    }

    /// Reads new entries for a consumer, waiting up to `block` for some.
    pub async fn read_group(
        &self,
        stream_name: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Entry>, BusError> {
        let stream = self.stream(stream_name);
        let deadline = tokio::time::Instant::now() + block;
        loop {
            // Register interest before looking, so an append between the look
            // and the wait is not missed.
            let appended = stream.appended.notified();
            tokio::pin!(appended);
            appended.as_mut().enable();
            let entries = Self::take_new(&stream, stream_name, group, consumer, count.max(1))?;
            if !entries.is_empty() {
                return Ok(entries);
            }
            if tokio::time::timeout_at(deadline, appended).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    fn take_new(
        stream: &Stream,
        stream_name: &str,
        group_name: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Entry>, BusError> {
        let mut s = stream.state.lock().expect("stream lock");
        let StreamState {
            entries, groups, ..
        } = &mut *s;
        let group = groups
            .get_mut(group_name)
            .ok_or_else(|| no_group(stream_name, group_name))?;
        let start = entries.partition_point(|(id, _)| *id <= group.last_delivered);
        let now = Instant::now();
        let taken: Vec<Entry> = entries
            .range(start..)
            .take(count)
            .map(|(id, payload)| Entry {
                id: *id,
                data: payload.data.clone(),
                deliveries: 1,
                local: payload.local.clone(),
            })
            .collect();
        let consumer = group.consumer(consumer);
        for entry in &taken {
            group.pending.insert(
                entry.id,
                Pending {
                    consumer: consumer.clone(),
                    deliveries: 1,
                    delivered_at: now,
                },
            );
        }
        if let Some(last) = taken.last() {
            group.last_delivered = last.id;
        }
        Ok(taken)
    }

    /// Acknowledges entries; returns how many were pending.
    pub fn ack(&self, stream: &str, group: &str, ids: &[EntryId]) -> Result<usize, BusError> {
        let stream_ref = self.stream(stream);
        let mut s = stream_ref.state.lock().expect("stream lock");
        let g = s
            .groups
            .get_mut(group)
            .ok_or_else(|| no_group(stream, group))?;
        Ok(ids
            .iter()
            .filter(|id| g.pending.remove(id).is_some())
            .count())
    }

    /// Claims entries idle for at least `min_idle`. Entries trimmed from the
    /// stream meanwhile are dropped from the pending list, as Redis does.
    pub fn claim_idle(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Entry>, BusError> {
        let stream_ref = self.stream(stream);
        let mut s = stream_ref.state.lock().expect("stream lock");
        let StreamState {
            entries, groups, ..
        } = &mut *s;
        let g = groups
            .get_mut(group)
            .ok_or_else(|| no_group(stream, group))?;
        let now = Instant::now();
        let idle: Vec<EntryId> = g
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.delivered_at) >= min_idle)
            .map(|(id, _)| *id)
            .take(count)
            .collect();
        let mut claimed = Vec::new();
        let consumer = g.consumer(consumer);
        for id in idle {
            let found = entries
                .binary_search_by(|(e, _)| e.cmp(&id))
                .ok()
                .map(|i| entries[i].1.clone());
            match found {
                Some(Payload { data, local }) => {
                    let p = g.pending.get_mut(&id).expect("listed above");
                    p.consumer = consumer.clone();
                    p.deliveries += 1;
                    p.delivered_at = now;
                    claimed.push(Entry {
                        id,
                        data,
                        deliveries: p.deliveries,
                        local,
                    });
                }
                None => {
                    g.pending.remove(&id);
                }
            }
        }
        Ok(claimed)
    }

    /// Pending entries of a group.
    pub fn pending(&self, stream: &str, group: &str) -> Result<u64, BusError> {
        let stream_ref = self.stream(stream);
        let s = stream_ref.state.lock().expect("stream lock");
        s.groups
            .get(group)
            .map(|g| g.pending.len() as u64)
            .ok_or_else(|| no_group(stream, group))
    }

    /// Each group of a stream with its pending entries and its lag.
    pub fn groups(&self, stream: &str) -> Vec<super::GroupInfo> {
        let stream_ref = self.stream(stream);
        let s = stream_ref.state.lock().expect("stream lock");
        let mut groups: Vec<super::GroupInfo> = s
            .groups
            .iter()
            .map(|(name, g)| super::GroupInfo {
                name: name.clone(),
                pending: g.pending.len() as u64,
                lag: (s.entries.len()
                    - s.entries.partition_point(|(id, _)| *id <= g.last_delivered))
                    as u64,
            })
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        groups
    }

    /// Entries in a stream.
    pub fn len(&self, stream: &str) -> u64 {
        self.stream(stream)
            .state
            .lock()
            .expect("stream lock")
            .entries
            .len() as u64
    }
}

fn no_group(stream: &str, group: &str) -> BusError {
    BusError::NoGroup {
        stream: stream.to_string(),
        group: group.to_string(),
    }
}

/// The contract shared with Redis is tested on both buses in
/// `tests/api/bus_contract.rs`; these tests cover what is the embedded bus's
/// own.
#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_with_nothing_new_returns_empty_after_its_block() {
        let bus = EmbeddedBus::new(100);
        bus.ensure_group("s", "g", StartFrom::Latest);
        let got = bus
            .read_group("s", "g", "c", 10, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn streams_are_trimmed_approximately() {
        let bus = EmbeddedBus::new(10);
        for i in 0..100 {
            bus.publish("s", data(&i.to_string()), None);
        }
        let len = bus.len("s");
        assert!((10..=11).contains(&len), "len {len}");
    }

    #[tokio::test]
    async fn entries_a_group_has_not_read_are_never_trimmed() {
        let bus = EmbeddedBus::new(10);
        bus.ensure_group("s", "slow", StartFrom::Latest);
        for i in 0..100 {
            bus.publish("s", data(&i.to_string()), None);
        }
        assert_eq!(bus.len("s"), 100);
        let got = bus
            .read_group("s", "slow", "c", 1000, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got.len(), 100, "nothing lost");
        bus.publish("s", data("next"), None);
        assert!(bus.len("s") <= 11, "trimmed once delivered");
    }
}
