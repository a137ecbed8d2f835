//! The streams contract between the API and the providers,
//! shaped after Redis Streams: append-only streams of entries with
//! `ms-seq` ids, consumer groups that each see every entry, pending entries
//! that stay owned by a consumer until acknowledged, and claiming of entries
//! left idle by a dead consumer.
//!
//! [`Bus`] is the one interface; [`embedded`] implements it in process and
//! [`redis_streams`] on Redis. [`partitions`] names the requested and
//! results streams of each partition. [`redis_conn`] owns a process's Redis
//! connections (one Redis or a cluster, through [`redis_link`]), which the
//! Redis search store and the live set of airlines use too, and decides
//! which Redis errors are the broker's; [`slots`] computes a cluster's hash
//! slots and [`spread`] logs how partitions lie over its masters;
//! [`error`] is why a bus operation failed.

pub mod embedded;
pub mod error;
pub mod partitions;
pub mod redis_conn;
pub mod redis_link;
pub mod redis_streams;
pub mod slots;
pub mod spread;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::fault::{Chain, Fault};
use crate::shutdown::Shutdown;
pub use error::BusError;
pub use partitions::{Partitions, REQUESTED, RESULTS};
/// Where a search goes after too many deliveries to one airline.
pub const DEAD_LETTER: &str = "flight.search.dead";
/// The consumer group of the aggregation on the results stream.
pub const AGGREGATOR_GROUP: &str = "aggregator";

/// A stream entry id: milliseconds and a sequence number, ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    /// Milliseconds since the Unix epoch when the entry was added.
    pub ms: u64,
    /// Sequence within that millisecond.
    pub seq: u64,
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for EntryId {
    type Err = BusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        match (ms.parse(), seq.parse()) {
            (Ok(ms), Ok(seq)) => Ok(EntryId { ms, seq }),
            _ => Err(BusError::Protocol(Fault::new(format!(
                "`{s}` is not a stream entry id"
            )))),
        }
    }
}

/// A value handed from publisher to reader as it is, when both are in one
/// process (the embedded bus): no encoding and decoding in between.
pub type Local = Arc<dyn std::any::Any + Send + Sync>;

/// One entry read from a stream.
#[derive(Clone)]
pub struct Entry {
    /// Its id.
    pub id: EntryId,
    /// The `data` field.
    pub data: Bytes,
    /// How many times it has been delivered to the group, this time included.
    pub deliveries: u32,
    /// The value published with [`Bus::publish_local`], on the embedded bus.
    pub local: Option<Local>,
}

impl Entry {
    /// The value published in process, if it is a `T`.
    pub fn local<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.local.clone()?.downcast::<T>().ok()
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("data", &self.data)
            .field("deliveries", &self.deliveries)
            .field("local", &self.local.is_some())
            .finish()
    }
}

/// Where a new consumer group starts reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFrom {
    /// Every entry still in the stream (`0`).
    Beginning,
    /// Only entries added from now on (`$`).
    Latest,
}

/// The stream bus. Cloning is cheap and shares the connection.
#[derive(Clone, Debug)]
pub enum Bus {
    /// The in-process bus.
    Embedded(Arc<embedded::EmbeddedBus>),
    /// Redis Streams.
    Redis(Arc<redis_streams::RedisBus>),
}

impl Bus {
    /// An embedded bus whose streams keep about `max_len` entries each.
    pub fn embedded(max_len: usize) -> Self {
        Bus::Embedded(Arc::new(embedded::EmbeddedBus::new(max_len)))
    }

    /// The backend's name, for logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match self {
            Bus::Embedded(_) => "embedded",
            Bus::Redis(_) => "redis",
        }
    }

    /// The requested and results streams' partitions.
    pub fn partitions(&self) -> &Partitions {
        match self {
            Bus::Embedded(bus) => bus.partitions(),
            Bus::Redis(bus) => bus.partitions(),
        }
    }

    /// Whether publishing completes without waiting on a broker (the
    /// embedded bus), so a caller may publish inline instead of in a task.
    pub fn publishes_in_process(&self) -> bool {
        matches!(self, Bus::Embedded(_))
    }

    /// Appends an entry (`XADD stream MAXLEN ~ n * data ...`).
    pub async fn publish(&self, stream: &str, data: Bytes) -> Result<EntryId, BusError> {
        match self {
            Bus::Embedded(bus) => Ok(bus.publish(stream, data, None)),
            Bus::Redis(bus) => bus.publish(stream, data).await,
        }
    }

    /// Appends an entry that also carries `local` to readers in this
    /// process. On the embedded bus `data` is not called for (readers take
    /// `local`); through Redis only `data` travels.
    pub async fn publish_local(
        &self,
        stream: &str,
        local: Local,
        data: impl FnOnce() -> Option<Bytes>,
    ) -> Result<EntryId, BusError> {
        match self {
            Bus::Embedded(bus) => Ok(bus.publish(stream, Bytes::new(), Some(local))),
            Bus::Redis(bus) => bus.publish(stream, data().unwrap_or_default()).await,
        }
    }

    /// Creates a consumer group if it does not exist
    /// (`XGROUP CREATE ... MKSTREAM`).
    pub async fn ensure_group(
        &self,
        stream: &str,
        group: &str,
        start: StartFrom,
    ) -> Result<(), BusError> {
        match self {
            Bus::Embedded(bus) => {
                bus.ensure_group(stream, group, start);
                Ok(())
            }
            Bus::Redis(bus) => bus.ensure_group(stream, group, start).await,
        }
    }

    /// Reads up to `count` new entries for `consumer` in `group`, waiting up
    /// to `block` when there are none (`XREADGROUP ... BLOCK ... STREAMS s >`).
    /// Entries read become pending for that consumer until acknowledged.
    pub async fn read_group(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Entry>, BusError> {
        match self {
            Bus::Embedded(bus) => bus.read_group(stream, group, consumer, count, block).await,
            Bus::Redis(bus) => bus.read_group(stream, group, consumer, count, block).await,
        }
    }

    /// What a group's reader does after a failed read: a group that a
    /// Redis lost (it came back empty) is made again from the start of the
    /// stream, which then holds only what was sent since it returned, and
    /// the reader reads again at once; after any other error it waits out
    /// the next backoff. Returns false when shutdown comes first.
    pub async fn recover_read(
        &self,
        error: &BusError,
        stream: &str,
        group: &str,
        backoff: &mut Backoff,
        shutdown: &Shutdown,
    ) -> bool {
        if matches!(error, BusError::NoGroup { .. })
            && self
                .ensure_group(stream, group, StartFrom::Beginning)
                .await
                .is_ok()
        {
            tracing::warn!(
                stream,
                group,
                "consumer group was missing; created it again"
            );
            return true;
        }
        let wait = backoff.next_wait();
        tracing::warn!(stream, group, error = %Chain(error), retry_in_ms = wait.as_millis() as u64, "reading the stream failed");
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = shutdown.wait() => false,
        }
    }

    /// Acknowledges entries (`XACK`); returns how many were pending.
    pub async fn ack(&self, stream: &str, group: &str, ids: &[EntryId]) -> Result<usize, BusError> {
        match self {
            Bus::Embedded(bus) => bus.ack(stream, group, ids),
            Bus::Redis(bus) => bus.ack(stream, group, ids).await,
        }
    }

    /// Takes over entries pending for longer than `min_idle` on any consumer
    /// (`XAUTOCLAIM`), counting a new delivery for each.
    pub async fn claim_idle(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Entry>, BusError> {
        match self {
            Bus::Embedded(bus) => bus.claim_idle(stream, group, consumer, min_idle, count),
            Bus::Redis(bus) => {
                bus.claim_idle(stream, group, consumer, min_idle, count)
                    .await
            }
        }
    }

    /// Entries delivered to the group and not yet acknowledged (`XPENDING`).
    pub async fn pending(&self, stream: &str, group: &str) -> Result<u64, BusError> {
        match self {
            Bus::Embedded(bus) => bus.pending(stream, group),
            Bus::Redis(bus) => bus.pending(stream, group).await,
        }
    }

    /// Each group of a stream with its pending entries and lag
    /// (`XINFO GROUPS`).
    pub async fn groups(&self, stream: &str) -> Result<Vec<GroupInfo>, BusError> {
        match self {
            Bus::Embedded(bus) => Ok(bus.groups(stream)),
            Bus::Redis(bus) => bus.groups(stream).await,
        }
    }

    /// Entries in the stream (`XLEN`).
    pub async fn len(&self, stream: &str) -> Result<u64, BusError> {
        match self {
            Bus::Embedded(bus) => Ok(bus.len(stream)),
            Bus::Redis(bus) => bus.len(stream).await,
        }
    }

    /// Whether the broker answers (`PING`).
    pub async fn ping(&self) -> Result<(), BusError> {
        match self {
            Bus::Embedded(_) => Ok(()),
            Bus::Redis(bus) => bus.ping().await,
        }
    }
}

/// Capped exponential backoff with jitter, for readers that lost the
/// broker: 100 ms doubling to 5 s, each wait drawn from its upper half.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_secs(5);

    /// The next wait after one more failure.
    pub fn next_wait(&mut self) -> Duration {
        let ceiling = Self::FIRST
            .saturating_mul(1 << self.failures.min(16))
            .min(Self::CAP);
        self.failures = self.failures.saturating_add(1);
        let jitter: f64 = rand::random_range(0.5..=1.0);
        ceiling.mul_f64(jitter)
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to the first wait after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A consumer group's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group name.
    pub name: String,
    /// Entries delivered and not yet acknowledged.
    pub pending: u64,
    /// Entries not yet delivered to the group.
    pub lag: u64,
}

/// Samples stream length, pending entries and lag per group into the
/// metrics every `every`, until shutdown.
pub async fn sample_streams(bus: Bus, every: std::time::Duration, shutdown: Shutdown) {
    loop {
        let partitions = bus.partitions().clone();
        let streams = partitions
            .all_requested()
            .chain(partitions.all_results())
            .chain([DEAD_LETTER]);
        for stream in streams {
            if let Ok(len) = bus.len(stream).await {
                metrics::gauge!(crate::metrics::STREAM_LENGTH, "stream" => stream.to_string())
                    .set(len as f64);
            }
            if let Ok(groups) = bus.groups(stream).await {
                for g in groups {
                    metrics::gauge!(crate::metrics::STREAM_PENDING, "stream" => stream.to_string(), "group" => g.name.clone())
                        .set(g.pending as f64);
                    metrics::gauge!(crate::metrics::STREAM_LAG, "stream" => stream.to_string(), "group" => g.name)
                        .set(g.lag as f64);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// Acknowledges entries in batches: callers hand over ids as they finish, a
/// task sends one `XACK` for everything that piled up within
/// [`Acker::LINGER`] of the first. An ack is on no search's path (only
/// redelivery after a crash waits for it), so the short wait costs nothing
/// and saves Redis a command per entry when each stream partition sees
/// little load.
#[derive(Clone, Debug)]
pub struct Acker {
    tx: mpsc::UnboundedSender<EntryId>,
}

impl Acker {
    /// Largest batch sent in one acknowledgement.
    pub const MAX_BATCH: usize = 512;
    /// How long the first id of a batch waits for others.
    pub const LINGER: Duration = Duration::from_millis(10);

    /// Starts the acknowledging task for one group. It drains what is queued
    /// when shutdown trips, then stops.
    pub fn spawn(bus: Bus, stream: String, group: String, shutdown: Shutdown) -> Acker {
        let (tx, mut rx) = mpsc::unbounded_channel::<EntryId>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(Self::MAX_BATCH);
            loop {
                let first = tokio::select! {
                    id = rx.recv() => id,
                    _ = shutdown.wait() => None,
                };
                let Some(first) = first else {
                    // Shutdown or every sender gone: flush what is queued.
                    while let Ok(id) = rx.try_recv() {
                        batch.push(id);
                    }
                    if !batch.is_empty() {
                        let _ = bus.ack(&stream, &group, &batch).await;
                    }
                    return;
                };
                batch.push(first);
                tokio::select! {
                    _ = tokio::time::sleep(Self::LINGER) => {}
                    _ = shutdown.wait() => {}
                }
                while batch.len() < Self::MAX_BATCH {
                    match rx.try_recv() {
                        Ok(id) => batch.push(id),
                        Err(_) => break,
                    }
                }
                if let Err(e) = bus.ack(&stream, &group, &batch).await {
                    tracing::warn!(stream = %stream, group = %group, error = %Chain(&e), count = batch.len(), "acknowledgement failed; entries stay pending");
                }
                batch.clear();
            }
        });
        Acker { tx }
    }

    /// Queues one id for acknowledgement.
    pub fn ack(&self, id: EntryId) {
        let _ = self.tx.send(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<Duration> = (0..10).map(|_| b.next_wait()).collect();
        assert!(waits[0] >= Duration::from_millis(50) && waits[0] <= Duration::from_millis(100));
        assert!(waits[3] >= Duration::from_millis(400) && waits[3] <= Duration::from_millis(800));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(5)));
        assert!(waits[9] >= Duration::from_millis(2500));
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(100));
    }
}
