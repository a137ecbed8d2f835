//! The provider runtime: one consumer per enabled airline and partition of
//! the requested stream, each in that airline's own consumer group. A consumer reads
//! searches while its airline has free concurrency, answers each within the
//! airline's budget and the search's deadline, publishes the answer on the
//! results stream, and only then acknowledges the request. [`answer`]
//! makes one airline's answer to one search.

mod answer;
mod decoded;
mod waiting;

use std::collections::HashMap;

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

use super::cache::AnswerCache;
use super::{ProviderDef, ProviderMode, ProviderRegistry, ProviderStats};
use crate::bus::{Acker, Backoff, Bus, BusError, DEAD_LETTER, Entry, EntryId, StartFrom};
use crate::model::{AnswerStatus, EncodedAnswer, ProviderAnswer, SearchRequest};
use crate::shutdown::Shutdown;
use answer::{Draw, MockDue, answer};
use decoded::Decoded;
use waiting::Waiting;

/// How long one blocking read waits before looking at shutdown again.
const READ_BLOCK: Duration = Duration::from_secs(5);

/// Runs one consumer per enabled provider and follows the registry: when
/// the provider files change, consumers start for added airlines, stop for
/// removed or disabled ones, and take the new concurrency of changed ones.
/// Every search uses the definition in force when it is read, and keeps it
/// to the end.
pub struct Runtime {
    bus: Bus,
    registry: Arc<ProviderRegistry>,
    name: String,
    redelivery: Option<Redelivery>,
    self_url: String,
    cache: Option<Arc<AnswerCache>>,
    shutdown: Shutdown,
    running: HashMap<String, Running>,
    /// Searches read lately, decoded once for every airline.
    decoded: Arc<Decoded>,
}

/// A consumer that runs.
struct Running {
    stop: Shutdown,
    slots: Arc<Semaphore>,
    concurrency: u32,
    /// The definition's revision: when it changes, its kept answers go.
    revision: u64,
}

impl Runtime {
    /// Starts the consumers of the providers enabled now; their consumer
    /// groups exist when this returns, so no search sent after is missed.
    pub async fn start(
        bus: &Bus,
        registry: &Arc<ProviderRegistry>,
        name: &str,
        redelivery: Option<Redelivery>,
        self_url: &str,
        cache: Option<Arc<AnswerCache>>,
        shutdown: &Shutdown,
    ) -> Result<Runtime, BusError> {
        let mut runtime = Runtime {
            bus: bus.clone(),
            registry: registry.clone(),
            name: name.to_string(),
            redelivery,
            self_url: self_url.to_string(),
            cache,
            shutdown: shutdown.clone(),
            running: HashMap::new(),
            decoded: Arc::default(),
        };
        runtime.sync().await?;
        Ok(runtime)
    }

    /// Follows provider file changes until shutdown.
    pub async fn run(mut self) {
        let mut version = self.registry.subscribe();
        loop {
            tokio::select! {
                changed = version.changed() => if changed.is_err() { return },
                _ = self.shutdown.wait() => return,
            }
            if let Err(e) = self.sync().await {
                tracing::warn!(error = %e, "starting a provider consumer failed; retrying on the next change");
            }
        }
    }

    /// Makes the running consumers match the enabled providers.
    async fn sync(&mut self) -> Result<(), BusError> {
        let catalog = self.registry.catalog();
        let enabled: HashMap<&String, &Arc<ProviderDef>> =
            catalog.enabled().map(|d| (&d.id, d)).collect();
        self.running.retain(|id, running| {
            let keep = enabled.contains_key(id);
            if !keep {
                tracing::info!(provider = %id, "provider removed or disabled: its consumer stops");
                running.stop.trigger();
            }
            keep
        });
        for (id, def) in enabled {
            if self.cache.is_some() && def.cache().is_some() {
                super::cache::announce(id);
            }
            if let Some(running) = self.running.get_mut(id) {
                if running.revision != def.revision {
                    if let Some(cache) = &self.cache {
                        cache.forget(id);
                    }
                    running.revision = def.revision;
                }
                if running.concurrency != def.concurrency {
                    if def.concurrency > running.concurrency {
                        running
                            .slots
                            .add_permits((def.concurrency - running.concurrency) as usize);
                    } else {
                        running
                            .slots
                            .forget_permits((running.concurrency - def.concurrency) as usize);
                    }
                    running.concurrency = def.concurrency;
                }
                continue;
            }
            let partitions = self.bus.partitions().clone();
            for stream in partitions.all_requested() {
                self.bus.ensure_group(stream, id, StartFrom::Latest).await?;
            }
            let stop = self.shutdown.child();
            // The airline's concurrency is shared by its partitions' readers.
            let slots = Arc::new(Semaphore::new(def.concurrency as usize));
            for stream in partitions.all_requested() {
                let consumer = Consumer {
                    bus: self.bus.clone(),
                    id: id.clone(),
                    stream: stream.to_string(),
                    registry: self.registry.clone(),
                    stats: self.registry.stats(id),
                    name: self.name.clone(),
                    acker: Acker::spawn(
                        self.bus.clone(),
                        stream.to_string(),
                        id.clone(),
                        self.shutdown.clone(),
                    ),
                    redelivery: self.redelivery,
                    self_url: self.self_url.clone(),
                    cache: self.cache.clone(),
                    shutdown: self.shutdown.clone(),
                    stop: stop.clone(),
                    metrics: AirlineMetrics::new(id),
                    decoded: self.decoded.clone(),
                };
                tokio::spawn(consumer.run(slots.clone()));
            }
            self.running.insert(
                id.clone(),
                Running {
                    stop,
                    slots,
                    concurrency: def.concurrency,
                    revision: def.revision,
                },
            );
        }
        Ok(())
    }
}

/// How searches left pending by a dead process are taken over.
#[derive(Clone, Copy, Debug)]
pub struct Redelivery {
    /// Idle time after which a pending search is claimed.
    pub min_idle: Duration,
    /// Deliveries before a search is dead-lettered.
    pub max_deliveries: u32,
}

/// One airline's consumer of one partition of the requested stream.
struct Consumer {
    bus: Bus,
    id: String,
    /// The partition's requested stream.
    stream: String,
    registry: Arc<ProviderRegistry>,
    stats: Arc<ProviderStats>,
    name: String,
    acker: Acker,
    redelivery: Option<Redelivery>,
    /// This process's base URL, for templates (`airstream.url`).
    self_url: String,
    /// Kept answers and the questions in flight (unless turned off).
    cache: Option<Arc<AnswerCache>>,
    shutdown: Shutdown,
    /// Trips when this airline goes away (or on shutdown).
    stop: Shutdown,
    /// This airline's metrics, looked up once.
    metrics: AirlineMetrics,
    /// Searches read lately, shared by the process's consumers.
    decoded: Arc<Decoded>,
}

/// One airline's metric handles: a lookup by name and labels builds and
/// hashes the key each time, three times per search and airline.
struct AirlineMetrics {
    /// Answers by outcome: ok, error, timeout.
    requests: [metrics::Counter; 3],
    latency: metrics::Histogram,
    offers: metrics::Counter,
}

impl AirlineMetrics {
    fn new(provider: &str) -> Self {
        let requests = ["ok", "error", "timeout"].map(|outcome| {
            metrics::counter!(crate::metrics::PROVIDER_REQUESTS, "provider" => provider.to_string(), "outcome" => outcome)
        });
        Self {
            requests,
            latency: metrics::histogram!(crate::metrics::PROVIDER_LATENCY, "provider" => provider.to_string()),
            offers: metrics::counter!(crate::metrics::PROVIDER_OFFERS, "provider" => provider.to_string()),
        }
    }

    fn requests(&self, status: Option<AnswerStatus>) -> &metrics::Counter {
        match status {
            Some(AnswerStatus::Ok) => &self.requests[0],
            Some(AnswerStatus::Error) => &self.requests[1],
            Some(AnswerStatus::Timeout) | None => &self.requests[2],
        }
    }
}

impl Consumer {
    /// The airline's definition in force, unless it was removed or
    /// disabled.
    fn current(&self) -> Option<Arc<ProviderDef>> {
        self.registry.get(&self.id).filter(|d| d.enabled)
    }

    async fn run(self, slots: Arc<Semaphore>) {
        let this = Arc::new(self);
        tracing::debug!(provider = %this.id, "provider consumer started");
        let mut backoff = Backoff::default();
        let (waiting_tx, waiting_rx) = mpsc::unbounded_channel();
        tokio::spawn(this.clone().answer_when_due(waiting_rx));
        if let Some(redelivery) = this.redelivery {
            tokio::spawn(this.clone().claim_loop(slots.clone(), redelivery));
        }
        loop {
            // A read in flight is not cancelled when the airline goes away
            // (Redis would hand its entries to nobody); the loop ends
            // between reads.
            if this.stop.is_triggered() {
                break;
            }
            // Read only while a slot is free: searches beyond the airline's
            // concurrency wait in the stream, not in memory. The slot is
            // not held through the read, though: the slots are shared by
            // every partition's reader, and one blocked on an empty
            // partition would keep a slot from the busy ones. Readers that
            // race for the same free slots may hold a few searches until one
            // frees; each reads no more than the slots it saw free.
            let want = tokio::select! {
                permit = slots.acquire() => {
                    drop(permit.expect("semaphore never closes"));
                    slots.available_permits().clamp(1, 256)
                }
                _ = this.stop.wait() => break,
            };
            let read = tokio::select! {
                r = this.bus.read_group(&this.stream, &this.id, &this.name, want, READ_BLOCK) => r,
                _ = this.shutdown.wait() => break,
            };
            let entries = match read {
                Ok(entries) => {
                    backoff.reset();
                    entries
                }
                Err(e) => {
                    let (stream, group) = (&this.stream, &this.id);
                    if this
                        .bus
                        .recover_read(&e, stream, group, &mut backoff, &this.shutdown)
                        .await
                    {
                        continue;
                    }
                    break;
                }
            };
            for entry in entries {
                let Some(search) = this.targeted(&entry) else {
                    this.acker.ack(entry.id);
                    continue;
                };
                let permit = slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore never closes");
                let def = this.current();
                let draw = def.as_deref().map(Draw::sample);
                if let Some((def, draw)) = def.as_ref().zip(draw)
                    && let Some(due) = MockDue::new(def, &search, draw, this.cache.is_some())
                {
                    let waiting =
                        Waiting::new(due, entry.id, search, def.clone(), permit, &this.stats);
                    // The receiver lives while this loop does.
                    let _ = waiting_tx.send(waiting);
                    continue;
                }
                let local = def
                    .as_deref()
                    .is_none_or(|d| matches!(d.mode, ProviderMode::Mock(_)));
                if local && draw.is_none_or(|d| d.is_instant()) && this.bus.publishes_in_process() {
                    // Nothing to wait for, not even the broker: answering
                    // here saves a task.
                    let span = search_span(&search, &this.id);
                    this.clone()
                        .handle(entry, search, def, permit, draw)
                        .instrument(span)
                        .await;
                } else {
                    let span = search_span(&search, &this.id);
                    tokio::spawn(
                        this.clone()
                            .handle(entry, search, def, permit, draw)
                            .instrument(span),
                    );
                }
            }
        }
        tracing::debug!(provider = %this.id, "provider consumer stopped");
    }

    /// Takes over searches that a dead process left pending, answering
    /// them like new ones, or dead-lettering those delivered too often.
    async fn claim_loop(self: Arc<Self>, slots: Arc<Semaphore>, redelivery: Redelivery) {
        // Live work is never older than the airline's budget; waiting a
        // second longer keeps a slow but live process's searches its own.
        let Some(def) = self.current() else {
            return;
        };
        let min_idle = redelivery
            .min_idle
            .max(def.timeout + Duration::from_secs(1));
        // Looking often costs one XAUTOCLAIM; it shortens a crash's stall
        // to the idle time plus at most half a second.
        let mut tick = tokio::time::interval((min_idle / 2).min(Duration::from_millis(500)));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.stop.wait() => return,
            }
            let claimed = match self
                .bus
                .claim_idle(&self.stream, &self.id, &self.name, min_idle, 64)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(provider = %self.id, error = %e, "claiming idle searches failed");
                    continue;
                }
            };
            for entry in claimed {
                tracing::info!(provider = %self.id, entry = %entry.id, deliveries = entry.deliveries, "search taken over from a consumer that went silent");
                if entry.deliveries > redelivery.max_deliveries {
                    self.dead_letter(entry, redelivery.max_deliveries).await;
                    continue;
                }
                let Some(search) = self.targeted(&entry) else {
                    self.acker.ack(entry.id);
                    continue;
                };
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let def = self.current();
                let draw = def.as_deref().map(Draw::sample);
                let span = search_span(&search, &self.id);
                tokio::spawn(
                    self.clone()
                        .handle(entry, search, def, permit, draw)
                        .instrument(span),
                );
            }
        }
    }

    /// Moves a search delivered too often to the dead-letter stream and
    /// answers it with an error, so the search still completes.
    async fn dead_letter(&self, entry: Entry, max: u32) {
        let record = serde_json::json!({
            "stream": self.stream,
            "group": self.id,
            "entry_id": entry.id.to_string(),
            "deliveries": entry.deliveries,
            "data": String::from_utf8_lossy(&entry.data),
        });
        if let Err(e) = self
            .bus
            .publish(DEAD_LETTER, Bytes::from(record.to_string()))
            .await
        {
            tracing::warn!(provider = %self.id, error = %e, "dead-lettering failed; will retry");
            return;
        }
        tracing::error!(provider = %self.id, entry = %entry.id, deliveries = entry.deliveries, "search dead-lettered");
        if let Ok(search) = self.decoded.search(&entry) {
            let elapsed = Timestamp::now().duration_since(search.created_at);
            let answer = ProviderAnswer {
                search_id: search.search_id,
                provider: self.id.clone(),
                status: AnswerStatus::Error,
                offers: Vec::new(),
                error: Some(format!(
                    "gave up after {} deliveries (the limit is {max}); the search is in the dead-letter stream",
                    entry.deliveries
                )),
                elapsed_ms: elapsed.as_millis().max(0) as u64,
                cached: false,
                age_ms: None,
            };
            if let Ok(data) = serde_json::to_vec(&answer)
                && self
                    .bus
                    .publish(self.results_of(&search), Bytes::from(data))
                    .await
                    .is_err()
            {
                return;
            }
        }
        self.acker.ack(entry.id);
    }

    /// The results stream of a search's partition.
    fn results_of(&self, search: &SearchRequest) -> &str {
        let partitions = self.bus.partitions();
        partitions.results(partitions.of(&search.search_id))
    }

    /// The search in an entry, when it targets this airline and is still
    /// running; `None` means acknowledge and skip.
    fn targeted(&self, entry: &Entry) -> Option<Arc<SearchRequest>> {
        let search = match self.decoded.search(entry) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(provider = %self.id, entry = %entry.id, error = %e, "unreadable search entry skipped");
                return None;
            }
        };
        if !search.providers.iter().any(|p| p == &self.id) {
            return None;
        }
        if search.deadline <= Timestamp::now() {
            tracing::debug!(provider = %self.id, search_id = %search.search_id, "search expired before it was read");
            return None;
        }
        Some(search)
    }

    /// Answers one search with `def`, the definition in force when it was
    /// read (`None`: the airline was removed since the search was sent, and
    /// says so).
    async fn handle(
        self: Arc<Self>,
        entry: Entry,
        search: Arc<SearchRequest>,
        def: Option<Arc<ProviderDef>>,
        _slot: OwnedSemaphorePermit,
        draw: Option<Draw>,
    ) {
        let _in_flight = self.stats.enter();
        let started = Instant::now();
        let answer = match (def, draw) {
            (Some(def), Some(draw)) => {
                answer(&def, &search, draw, &self.self_url, self.cache.as_deref()).await
            }
            _ => Some(ProviderAnswer {
                search_id: search.search_id,
                provider: self.id.clone(),
                status: AnswerStatus::Error,
                offers: Vec::new(),
                error: Some("this airline was removed from the providers directory".into()),
                elapsed_ms: Timestamp::now()
                    .duration_since(search.created_at)
                    .as_millis()
                    .max(0) as u64,
                cached: false,
                age_ms: None,
            }),
        };
        self.deliver(entry.id, &search, answer, started).await;
    }

    /// Counts an answer that took since `started`, publishes it on the
    /// search's results stream, and then acknowledges the request (`None`:
    /// acknowledges only).
    async fn deliver(
        &self,
        entry: EntryId,
        search: &SearchRequest,
        answer: Option<ProviderAnswer>,
        started: Instant,
    ) {
        self.metrics
            .requests(answer.as_ref().map(|a| a.status))
            .increment(1);
        self.metrics.latency.record(started.elapsed().as_secs_f64());
        if let Some(a) = &answer {
            self.metrics.offers.increment(a.offers.len() as u64);
        }
        let Some(answer) = answer else {
            // The search's deadline came first: the api ends the search
            // and reports this airline as timed out.
            self.acker.ack(entry);
            return;
        };
        // The answer's offers are encoded once, here: in one process the
        // aggregator takes them as they are; through Redis they travel as
        // the answer's JSON.
        let encoded = Arc::new(EncodedAnswer::new(answer));
        let data = || Some(Bytes::from(encoded.to_json()));
        match self
            .bus
            .publish_local(self.results_of(search), encoded.clone(), data)
            .await
        {
            Ok(_) => self.acker.ack(entry),
            Err(e) => tracing::warn!(
                provider = %self.id,
                search_id = %search.search_id,
                error = %e,
                "answer not published; the request stays pending for redelivery"
            ),
        }
    }
}

/// The span of one airline's work on one search: every log line inside
/// carries the search id and the provider.
fn search_span(search: &SearchRequest, provider: &str) -> tracing::Span {
    tracing::info_span!("search", search_id = %search.search_id, provider = %provider)
}
