//! The search store: per search, the airlines' progress and an append-only
//! log of SSE events, kept until the result TTL after its deadline runs out
//! (so the `expires_at` promised at submission holds). Readers (SSE
//! streams, snapshots) read the log at their own pace, so a slow client never
//! delays another nor the search. Memory is bounded by a cap on searches
//! retained: when it is reached the oldest finished search is evicted, and
//! with none finished a new search is refused.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use uuid::Uuid;

use serde_json::value::RawValue;

use super::model::{AnswerStatus, AnswerView, OfferKey, SearchRequest};
use crate::shutdown::Shutdown;

/// Store limits.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    /// How long a search stays readable after its deadline.
    pub result_ttl: Duration,
    /// Searches kept at most.
    pub max_retained: usize,
    /// Cheapest offers carried by the `complete` event.
    pub top_offers: usize,
}

/// The kind of an SSE event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// One airline's offers.
    Offers,
    /// One airline finished.
    Provider,
    /// The search finished; always last.
    Complete,
}

impl EventKind {
    /// The SSE `event:` name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Offers => "offers",
            EventKind::Provider => "provider",
            EventKind::Complete => "complete",
        }
    }

    /// One-byte tag that prefixes an event stored in Redis.
    pub fn tag(self) -> u8 {
        match self {
            EventKind::Offers => b'o',
            EventKind::Provider => b'p',
            EventKind::Complete => b'c',
        }
    }

    /// The kind of a tag written by [`EventKind::tag`].
    pub fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            b'o' => Some(EventKind::Offers),
            b'p' => Some(EventKind::Provider),
            b'c' => Some(EventKind::Complete),
            _ => None,
        }
    }
}

/// A search's append-only event log, which SSE readers read from their own
/// positions. Readers wait on [`EventLog::subscribe`] and are woken by
/// [`EventLog::notify`], once per batch of appends.
#[derive(Debug)]
pub struct EventLog {
    state: Mutex<LogState>,
    changed: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct LogState {
    events: Vec<StoredEvent>,
    /// The `complete` event is in; nothing follows it.
    finished: bool,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            state: Mutex::new(LogState::default()),
            changed: watch::Sender::new(0),
        }
    }
}

impl EventLog {
    /// Events with an id above `after`, and whether the log is complete.
    pub fn events_after(&self, after: u64) -> (Vec<StoredEvent>, bool) {
        let state = self.state.lock().expect("log lock");
        let start = (after as usize).min(state.events.len());
        (state.events[start..].to_vec(), state.finished)
    }

    /// Whether the `complete` event is in (or the log was abandoned).
    pub fn is_finished(&self) -> bool {
        self.state.lock().expect("log lock").finished
    }

    /// Number of events in the log.
    pub fn len(&self) -> u64 {
        self.state.lock().expect("log lock").events.len() as u64
    }

    /// Whether the log holds no event yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes this log's readers to read what was appended.
    pub fn notify(&self) {
        self.changed.send_replace(self.len());
    }

    /// A receiver that changes whenever events are appended.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Ends the log where it stands, for a search that is gone (a Redis
    /// that came back empty): its readers stop instead of waiting for a
    /// `complete` that will never come.
    pub fn abandon(&self) {
        self.state.lock().expect("log lock").finished = true;
        self.notify();
    }

    fn push(&self, kind: EventKind, data: Bytes) {
        let mut state = self.state.lock().expect("log lock");
        let id = state.events.len() as u64 + 1;
        state.finished |= kind == EventKind::Complete;
        state.events.push(StoredEvent { id, kind, data });
    }

    /// Appends a run of events whose first has id `first`, skipping those
    /// already in, and wakes the readers when something was appended:
    /// copies of one log arriving by two paths (a replay and a live feed)
    /// merge into one, in order, each event once. A run that starts after
    /// the log's end (events in between missing) is left out; the caller's
    /// catch-up from the full log brings it.
    pub fn extend(&self, first: u64, events: impl IntoIterator<Item = (EventKind, Bytes)>) {
        let appended = {
            let mut state = self.state.lock().expect("log lock");
            let len = state.events.len() as u64;
            if first > len + 1 {
                return;
            }
            let mut appended = false;
            for (offset, (kind, data)) in events.into_iter().enumerate() {
                let id = first + offset as u64;
                if id <= len || state.finished {
                    continue;
                }
                state.finished |= kind == EventKind::Complete;
                state.events.push(StoredEvent { id, kind, data });
                appended = true;
            }
            appended
        };
        if appended {
            self.notify();
        }
    }
}

/// One event of a search's log, its JSON encoded once for every reader.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// 1-based position in the log: the SSE `id:`.
    pub id: u64,
    /// The SSE `event:`.
    pub kind: EventKind,
    /// The JSON `data:` line.
    pub data: Bytes,
}

/// How a search stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchStatus {
    /// Airlines are still answering.
    Processing,
    /// Every airline answered.
    Completed,
    /// The deadline came first.
    Partial,
}

/// One airline's part in a search, as shown in snapshots and the `complete`
/// event.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AirlineProgress {
    /// `pending`, `ok`, `error` or `timeout`.
    pub status: &'static str,
    /// Offers it made.
    pub offers: usize,
    /// Milliseconds from the search's acceptance to its answer.
    pub elapsed_ms: Option<u64>,
    /// What went wrong.
    pub error: Option<String>,
}

impl AirlineProgress {
    pub(crate) fn pending() -> Self {
        Self {
            status: "pending",
            offers: 0,
            elapsed_ms: None,
            error: None,
        }
    }
}

/// A JSON snapshot of a search, for clients that poll.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// Search id.
    pub search_id: Uuid,
    /// processing, completed or partial.
    pub status: SearchStatus,
    /// The search as accepted.
    pub request: SearchRequest,
    /// Each airline's progress, by provider id.
    pub providers: BTreeMap<String, AirlineProgress>,
    /// Offers so far.
    pub total_offers: usize,
    /// Offers so far, cheapest first.
    pub offers: Vec<Box<RawValue>>,
    /// When the search finished.
    pub finished_at: Option<Timestamp>,
    /// When its results stop being available: the deadline plus the TTL.
    pub expires_at: Timestamp,
}

/// One search: its request, its progress and its event log.
#[derive(Debug)]
pub struct SearchCell {
    /// The search as accepted.
    pub request: SearchRequest,
    started: Instant,
    deadline: Instant,
    expires: Instant,
    /// When its results stop being available.
    pub expires_at: Timestamp,
    state: Mutex<CellState>,
    /// The SSE events, shared with the readers.
    pub log: Arc<EventLog>,
}

#[derive(Debug)]
struct CellState {
    progress: Vec<AirlineProgress>,
    /// Offers so far, cheapest first: each its ordering key and its JSON, a
    /// zero-copy slice of the `offers` event that carried it.
    offers: Vec<(OfferKey, Bytes)>,
    status: SearchStatus,
    finished: Option<(Instant, Timestamp)>,
}

impl SearchCell {
    /// The current status.
    pub fn status(&self) -> SearchStatus {
        self.state.lock().expect("search lock").status
    }

    /// A snapshot for polling clients.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.state.lock().expect("search lock");
        let finished_at = state.finished.map(|(_, t)| t);
        Snapshot {
            search_id: self.request.search_id,
            status: state.status,
            request: self.request.clone(),
            providers: self.progress_map(&state),
            total_offers: state.offers.len(),
            offers: state
                .offers
                .iter()
                .filter_map(|(_, json)| raw_json(json))
                .collect(),
            finished_at,
            expires_at: self.expires_at,
        }
    }

    fn progress_map(&self, state: &CellState) -> BTreeMap<String, AirlineProgress> {
        self.request
            .providers
            .iter()
            .cloned()
            .zip(state.progress.iter().cloned())
            .collect()
    }

    /// Records an airline's answer. Returns whether this finished the search.
    /// Late answers (after the search finished) and repeats are ignored.
    fn apply(&self, answer: &AnswerView<'_>, top: usize) -> Applied {
        let mut state = self.state.lock().expect("search lock");
        if state.finished.is_some() {
            return Applied::Ignored;
        }
        let Some(index) = self
            .request
            .providers
            .iter()
            .position(|p| p == &answer.provider)
        else {
            return Applied::Ignored;
        };
        if state.progress[index].status != "pending" {
            return Applied::Ignored;
        }
        let prepared = PreparedAnswer::new(self.request.search_id, answer);
        if let Some(data) = &prepared.offers_event {
            for (key, span) in prepared.offers {
                let at = state.offers.partition_point(|(k, _)| *k <= key);
                state.offers.insert(at, (key, data.slice(span)));
            }
            self.log.push(EventKind::Offers, data.clone());
        }
        state.progress[index] = prepared.progress;
        self.log
            .push(EventKind::Provider, Bytes::from(prepared.provider_event));
        let done = state.progress.iter().all(|p| p.status != "pending");
        if done {
            self.finish(&mut state, SearchStatus::Completed, top);
        }
        // Readers are told by `notify`, once per batch of answers.
        if done {
            Applied::Finished
        } else {
            Applied::Recorded
        }
    }

    /// Ends a search at its deadline: each silent airline gets a `timeout`
    /// provider event, then `complete` with status partial.
    fn expire(&self, top: usize) -> bool {
        let mut state = self.state.lock().expect("search lock");
        if state.finished.is_some() {
            return false;
        }
        let elapsed_ms = self.started.elapsed().as_millis() as u64;
        for index in 0..state.progress.len() {
            if state.progress[index].status != "pending" {
                continue;
            }
            state.progress[index] = AirlineProgress {
                status: AnswerStatus::Timeout.as_str(),
                offers: 0,
                elapsed_ms: Some(elapsed_ms),
                error: Some(DEADLINE_MISSED.to_string()),
            };
            let data = timeout_event(
                self.request.search_id,
                &self.request.providers[index],
                elapsed_ms,
            );
            self.log.push(EventKind::Provider, Bytes::from(data));
        }
        self.finish(&mut state, SearchStatus::Partial, top);
        self.log.notify();
        true
    }

    fn finish(&self, state: &mut CellState, status: SearchStatus, top: usize) {
        let elapsed_ms = self.started.elapsed().as_millis() as u64;
        crate::metrics::search_finished(
            status == SearchStatus::Partial,
            elapsed_ms,
            first_offer_ms(state.progress.iter()),
        );
        state.status = status;
        state.finished = Some((Instant::now(), Timestamp::now()));
        let data = complete_event(
            CompleteHead {
                kind: "complete",
                search_id: self.request.search_id,
                status,
                providers: self.progress_map(state),
                total_offers: state.offers.len(),
                elapsed_ms,
            },
            state.offers.iter().take(top).map(|(_, json)| json.as_ref()),
        );
        self.log.push(EventKind::Complete, data);
    }
}

/// The `complete` event: its head, then the cheapest offers spliced in as
/// they were received.
pub(crate) fn complete_event<'a>(
    head: CompleteHead,
    cheapest: impl Iterator<Item = &'a [u8]>,
) -> Bytes {
    let mut data = encode(&head).into_bytes();
    data.pop();
    data.extend_from_slice(b",\"offers\":[");
    for (i, json) in cheapest.enumerate() {
        if i > 0 {
            data.push(b',');
        }
        data.extend_from_slice(json);
    }
    data.extend_from_slice(b"]}");
    Bytes::from(data)
}

/// When the first offer came: the earliest answer that had offers.
pub(crate) fn first_offer_ms<'a>(
    progress: impl Iterator<Item = &'a AirlineProgress>,
) -> Option<u64> {
    progress
        .filter(|p| p.offers > 0)
        .filter_map(|p| p.elapsed_ms)
        .min()
}

/// Why an airline gets `timeout` when the search ends before it answers.
pub const DEADLINE_MISSED: &str = "no answer before the search deadline";

/// The `provider` event of an airline still silent at the deadline, and
/// its progress from then on.
pub(crate) fn timeout_event(search_id: Uuid, provider: &str, elapsed_ms: u64) -> String {
    encode(&ProviderEvent {
        kind: "provider",
        search_id,
        provider,
        status: AnswerStatus::Timeout.as_str(),
        offers: 0,
        elapsed_ms,
        error: Some(DEADLINE_MISSED),
    })
}

/// An offer's JSON as a raw JSON value.
pub(crate) fn raw_json(json: &[u8]) -> Option<Box<RawValue>> {
    let text = String::from_utf8(json.to_vec()).ok()?;
    RawValue::from_string(text).ok()
}

/// An airline's answer turned into what its search records: its progress
/// and its SSE events, encoded once, whichever store keeps them.
pub struct PreparedAnswer {
    /// The airline's progress after this answer.
    pub progress: AirlineProgress,
    /// The `offers` event, if it made offers that could be read.
    pub offers_event: Option<Bytes>,
    /// Each offer's ordering key and where its JSON sits in `offers_event`,
    /// cheapest first.
    pub offers: Vec<(OfferKey, std::ops::Range<usize>)>,
    /// The `provider` event.
    pub provider_event: String,
}

impl PreparedAnswer {
    /// Prepares `answer`; offers whose price or departure cannot be read are
    /// dropped (and logged).
    pub fn new(search_id: Uuid, answer: &AnswerView<'_>) -> Self {
        let mut accepted: Vec<(OfferKey, &RawValue)> = Vec::with_capacity(answer.offers.len());
        for raw in &answer.offers {
            match serde_json::from_str::<OfferKey>(raw.get()) {
                Ok(key) => accepted.push((key, raw)),
                Err(e) => tracing::warn!(
                    %search_id,
                    provider = %answer.provider,
                    error = %e,
                    "offer without a readable price or departure dropped"
                ),
            }
        }
        let count = accepted.len();
        let progress = AirlineProgress {
            status: answer.status.as_str(),
            offers: count,
            elapsed_ms: Some(answer.elapsed_ms),
            error: answer.error.clone(),
        };
        let mut offers = Vec::with_capacity(count);
        let offers_event = (!accepted.is_empty()).then(|| {
            // The event is spliced together from the offers' own JSON, and
            // stores keep slices of it instead of copies.
            let mut data = encode(&OffersHead {
                kind: "offers",
                search_id,
                provider: &answer.provider,
            });
            data.pop();
            data.push_str(",\"offers\":[");
            for (i, (key, raw)) in accepted.into_iter().enumerate() {
                if i > 0 {
                    data.push(',');
                }
                let start = data.len();
                data.push_str(raw.get());
                offers.push((key, start..data.len()));
            }
            data.push_str("]}");
            Bytes::from(data)
        });
        offers.sort_by(|a, b| a.0.cmp(&b.0));
        let provider_event = encode(&ProviderEvent {
            kind: "provider",
            search_id,
            provider: &answer.provider,
            status: answer.status.as_str(),
            offers: count,
            elapsed_ms: answer.elapsed_ms,
            error: answer.error.as_deref(),
        });
        Self {
            progress,
            offers_event,
            offers,
            provider_event,
        }
    }
}

enum Applied {
    Ignored,
    Recorded,
    Finished,
}

/// The `offers` event without its offers, which are spliced in as JSON.
#[derive(Serialize)]
struct OffersHead<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    search_id: Uuid,
    provider: &'a str,
}

#[derive(Serialize)]
struct ProviderEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    search_id: Uuid,
    provider: &'a str,
    status: &'static str,
    offers: usize,
    elapsed_ms: u64,
    error: Option<&'a str>,
}

/// The `complete` event without its cheapest offers, spliced in as JSON.
#[derive(Serialize)]
pub(crate) struct CompleteHead {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub search_id: Uuid,
    pub status: SearchStatus,
    pub providers: BTreeMap<String, AirlineProgress>,
    pub total_offers: usize,
    pub elapsed_ms: u64,
}

pub(crate) fn encode<T: Serialize>(value: &T) -> String {
    // Our own structs of strings and numbers always encode.
    serde_json::to_string(value).expect("event encodes as JSON")
}

/// Why a search could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Every retained search is still running.
    #[error("too many searches in flight ({0}); try again shortly")]
    Full(usize),
}

/// Every search this process tracks.
#[derive(Debug)]
pub struct SearchStore {
    limits: StoreLimits,
    inner: Mutex<Inner>,
    /// Wakes the maintenance loop when a sooner deadline arrives.
    wake: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    searches: HashMap<Uuid, Arc<SearchCell>>,
    /// Finished searches in finishing order, for eviction at the cap. Ids
    /// of searches already expired are skipped when met.
    finished: VecDeque<Uuid>,
    /// Every search with its expiry, in submission order. Expiry is the
    /// deadline plus the TTL, so this order is expiry order to within the
    /// spread of search timeouts; `get` checks each search's own expiry, so
    /// the order only decides when memory is released. Ids evicted by the
    /// cap are dropped when they reach the front, which keeps this queue
    /// about as long as the store itself.
    expiries: VecDeque<(Instant, Uuid)>,
    /// Deadlines of running searches, soonest first.
    deadlines: BinaryHeap<Reverse<(Instant, Uuid)>>,
}

impl Inner {
    /// Gives back the room a flood left in the bookkeeping once most of it
    /// has expired; maps and queues otherwise keep their largest size for
    /// good. Only a container four times larger than its contents shrinks
    /// (to twice them), so steady traffic never reallocates.
    fn shrink_when_mostly_empty(&mut self) {
        /// The capacity to shrink to, if any.
        fn shrunk(capacity: usize, len: usize) -> Option<usize> {
            const FLOOR: usize = 64;
            (capacity > FLOOR && capacity / 4 > len).then_some((len * 2).max(FLOOR))
        }
        if let Some(c) = shrunk(self.searches.capacity(), self.searches.len()) {
            self.searches.shrink_to(c);
        }
        if let Some(c) = shrunk(self.finished.capacity(), self.finished.len()) {
            self.finished.shrink_to(c);
        }
        if let Some(c) = shrunk(self.expiries.capacity(), self.expiries.len()) {
            self.expiries.shrink_to(c);
        }
        if let Some(c) = shrunk(self.deadlines.capacity(), self.deadlines.len()) {
            self.deadlines.shrink_to(c);
        }
    }
}

impl SearchStore {
    /// An empty store.
    pub fn new(limits: StoreLimits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// Starts tracking a search. When the store is full, the oldest finished
    /// search is evicted; with none finished the search is refused.
    pub fn insert(&self, request: SearchRequest) -> Result<Arc<SearchCell>, StoreError> {
        let now = Instant::now();
        let deadline = now + super::time_left(request.deadline);
        let ttl = self.limits.result_ttl;
        let expires_at = super::expires_at(&request, ttl);
        let cell = Arc::new(SearchCell {
            started: now,
            deadline,
            expires: deadline + ttl,
            expires_at,
            state: Mutex::new(CellState {
                progress: vec![AirlineProgress::pending(); request.providers.len()],
                offers: Vec::new(),
                status: SearchStatus::Processing,
                finished: None,
            }),
            log: Arc::new(EventLog::default()),
            request,
        });
        let id = cell.request.search_id;
        let mut inner = self.inner.lock().expect("store lock");
        while inner.searches.len() >= self.limits.max_retained {
            match inner.finished.pop_front() {
                Some(old) => {
                    inner.searches.remove(&old);
                }
                None => return Err(StoreError::Full(inner.searches.len())),
            }
        }
        let sooner = inner
            .deadlines
            .peek()
            .is_none_or(|Reverse((first, _))| deadline < *first);
        // Drop the ids of evicted searches from the fronts of the queues now,
        // so they stay about as long as the store under sustained load.
        while let Some((_, front)) = inner.expiries.front() {
            if inner.searches.contains_key(front) {
                break;
            }
            inner.expiries.pop_front();
        }
        inner.deadlines.push(Reverse((deadline, id)));
        inner.expiries.push_back((cell.expires, id));
        inner.searches.insert(id, cell.clone());
        drop(inner);
        if sooner {
            self.wake.notify_one();
        }
        Ok(cell)
    }

    /// Forgets a search, for a submission that could not be published.
    pub fn remove(&self, id: &Uuid) {
        self.inner.lock().expect("store lock").searches.remove(id);
    }

    /// A search, unless unknown or expired.
    pub fn get(&self, id: &Uuid) -> Option<Arc<SearchCell>> {
        let cell = self
            .inner
            .lock()
            .expect("store lock")
            .searches
            .get(id)
            .cloned()?;
        (Instant::now() < cell.expires).then_some(cell)
    }

    /// Searches tracked now.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("store lock").searches.len()
    }

    /// Whether no search is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records an airline's answer and returns the search it changed; the
    /// caller wakes its readers with [`EventLog::notify`] once it has
    /// applied a whole batch, so a reader gets the batch in one write.
    /// Unknown searches (expired, or answered after eviction), late answers
    /// and repeats change nothing.
    pub fn apply(&self, answer: &AnswerView<'_>) -> Option<Arc<SearchCell>> {
        let Some(cell) = self.get(&answer.search_id) else {
            tracing::debug!(search_id = %answer.search_id, provider = %answer.provider, "answer for an unknown search ignored");
            return None;
        };
        match cell.apply(answer, self.limits.top_offers) {
            Applied::Ignored => return None,
            Applied::Recorded => {}
            Applied::Finished => self.finished(cell.request.search_id),
        }
        Some(cell)
    }

    fn finished(&self, id: Uuid) {
        self.inner
            .lock()
            .expect("store lock")
            .finished
            .push_back(id);
    }

    /// Ends searches at their deadlines and drops expired results, until
    /// shutdown.
    pub async fn maintain(self: Arc<Self>, shutdown: Shutdown) {
        loop {
            let now = Instant::now();
            let (due, next) = {
                let mut inner = self.inner.lock().expect("store lock");
                let mut due = Vec::new();
                while let Some(Reverse((at, id))) = inner.deadlines.peek().copied() {
                    if at > now {
                        break;
                    }
                    inner.deadlines.pop();
                    if let Some(cell) = inner.searches.get(&id) {
                        due.push(cell.clone());
                    }
                }
                while let Some((at, id)) = inner.expiries.front().copied() {
                    if at <= now {
                        inner.searches.remove(&id);
                    } else if inner.searches.contains_key(&id) {
                        break;
                    }
                    inner.expiries.pop_front();
                }
                while let Some(id) = inner.finished.front() {
                    if inner.searches.contains_key(id) {
                        break;
                    }
                    inner.finished.pop_front();
                }
                inner.shrink_when_mostly_empty();
                let next_deadline = inner.deadlines.peek().map(|Reverse((at, _))| *at);
                let next_expiry = inner.expiries.front().map(|(at, _)| *at);
                let next = [next_deadline, next_expiry].into_iter().flatten().min();
                (due, next)
            };
            for cell in due {
                if cell.deadline <= now && cell.expire(self.limits.top_offers) {
                    self.finished(cell.request.search_id);
                }
            }
            let sleep_until = next.unwrap_or(now + Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep_until(sleep_until) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.wait() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::model::Cabin;

    fn request(timeout: Duration) -> SearchRequest {
        let now = Timestamp::now();
        SearchRequest {
            search_id: Uuid::new_v4(),
            from: "CGK".into(),
            to: "DPS".into(),
            date: "2030-01-01".parse().unwrap(),
            return_date: None,
            passengers: 1,
            cabin: Cabin::Economy,
            providers: vec!["a".into()],
            created_at: now,
            deadline: now
                .checked_add(jiff::SignedDuration::try_from(timeout).unwrap())
                .unwrap(),
        }
    }

    fn answer(id: Uuid) -> String {
        format!(
            r#"{{"search_id":"{id}","provider":"a","status":"ok","offers":[{{"id":"x","price":{{"total":"10","currency":"IDR"}},"depart_at":"2030-01-01T07:00:00"}}],"error":null,"elapsed_ms":1}}"#
        )
    }

    /// A store with its maintenance running, and the signal that stops it.
    fn maintained(result_ttl: Duration, max_retained: usize) -> (Arc<SearchStore>, Shutdown) {
        let store = Arc::new(SearchStore::new(StoreLimits {
            result_ttl,
            max_retained,
            top_offers: 10,
        }));
        let shutdown = Shutdown::new();
        tokio::spawn(store.clone().maintain(shutdown.clone()));
        (store, shutdown)
    }

    /// A new search with a 5 s timeout, answered by its one airline.
    fn answered(store: &SearchStore) -> Arc<SearchCell> {
        let cell = store.insert(request(Duration::from_secs(5))).unwrap();
        let text = answer(cell.request.search_id);
        store.apply(&serde_json::from_str(&text).unwrap()).unwrap()
    }

    fn sizes(store: &SearchStore) -> (usize, usize, usize) {
        let inner = store.inner.lock().unwrap();
        (
            inner.searches.len(),
            inner.finished.len(),
            inner.expiries.len(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn bookkeeping_stays_bounded_by_the_cap_under_sustained_load() {
        let (store, shutdown) = maintained(Duration::from_secs(300), 50);
        for _ in 0..2_000 {
            answered(&store).log.notify();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (searches, finished, expiries) = sizes(&store);
        assert!(searches <= 50, "{searches}");
        assert!(
            finished <= 60 && expiries <= 60,
            "queues follow the cap: {finished} {expiries}"
        );
        shutdown.trigger();
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_leaves_no_room_behind_once_it_has_expired() {
        let (store, shutdown) = maintained(Duration::from_secs(10), 10_000);
        for _ in 0..5_000 {
            answered(&store);
        }
        let room = |store: &SearchStore| {
            let inner = store.inner.lock().unwrap();
            [
                inner.searches.capacity(),
                inner.finished.capacity(),
                inner.expiries.capacity(),
                inner.deadlines.capacity(),
            ]
        };
        assert!(
            room(&store).iter().all(|&c| c >= 5_000),
            "{:?}",
            room(&store)
        );
        tokio::time::sleep(Duration::from_secs(16)).await;
        assert_eq!(sizes(&store), (0, 0, 0), "all expired");
        let after = room(&store);
        assert!(after.iter().all(|&c| c <= 128), "room kept: {after:?}");
        shutdown.trigger();
    }

    #[tokio::test(start_paused = true)]
    async fn searches_end_at_their_deadline_and_expire_after_the_ttl() {
        let (store, shutdown) = maintained(Duration::from_secs(60), 50);
        let cell = store.insert(request(Duration::from_secs(2))).unwrap();
        let id = cell.request.search_id;
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        assert_eq!(cell.status(), SearchStatus::Partial);
        let (events, finished) = cell.log.events_after(0);
        assert!(finished);
        assert_eq!(
            events.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [EventKind::Provider, EventKind::Complete]
        );
        assert!(store.get(&id).is_some());
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert!(store.get(&id).is_some(), "still within deadline + TTL");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(store.get(&id).is_none(), "expired after deadline + TTL");
        assert_eq!(sizes(&store), (0, 0, 0), "memory released");
        shutdown.trigger();
    }
}
