//! The in-memory search store (embedded bus, one process): per search, the
//! airlines' progress and an append-only log of SSE events, kept until the
//! result TTL after its deadline runs out (so the `expires_at` promised at
//! submission holds). Readers (SSE streams, snapshots) read the log at their
//! own pace, so a slow client never delays another nor the search. Memory is
//! bounded by a cap on searches retained: when it is reached the oldest
//! finished search is evicted, and with none finished a new search is
//! refused.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use foldhash::HashMap;
use jiff::Timestamp;
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

use super::error::SearchError;
use super::events::{
    AirlineProgress, EventKind, EventLog, SearchStatus, Snapshot, by_itinerary, raw_json,
    timeout_event,
};
use super::limits::{StoreLimits, expires_at};
use super::prepared::Answer;
use super::tally::Tally;
use crate::model::{SearchRequest, time_left};
use crate::shutdown::Shutdown;

/// One search: its request, its progress and its event log.
#[derive(Debug)]
pub struct SearchCell {
    /// The search as accepted.
    /// Shared with the airlines in this process, which read it as it is.
    pub request: Arc<SearchRequest>,
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
    tally: Tally,
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
        let offers = &state.tally.offers;
        let (_, sellers) = by_itinerary(offers.iter().map(|(key, _)| key));
        Snapshot {
            search_id: self.request.search_id,
            status: state.status,
            request: SearchRequest::clone(&self.request),
            providers: self.progress_map(&state),
            total_offers: offers.len(),
            offers: offers
                .iter()
                .filter_map(|(_, json)| raw_json(json))
                .collect(),
            sellers,
            finished_at,
            expires_at: self.expires_at,
        }
    }

    fn progress_map(&self, state: &CellState) -> BTreeMap<String, AirlineProgress> {
        self.request
            .providers
            .iter()
            .cloned()
            .zip(state.tally.progress.iter().cloned())
            .collect()
    }

    /// Records an airline's answer. Returns whether this finished the search.
    /// Late answers (after the search finished) and repeats are ignored.
    fn apply(&self, answer: &Answer<'_>, top: usize) -> Applied {
        let mut state = self.state.lock().expect("search lock");
        if state.finished.is_some() {
            return Applied::Ignored;
        }
        let Some(index) = self
            .request
            .providers
            .iter()
            .position(|p| p == answer.provider())
        else {
            return Applied::Ignored;
        };
        if !state.tally.progress[index].is_pending() {
            return Applied::Ignored;
        }
        let mut prepared = answer.prepare(self.request.search_id);
        state.tally.record(index, &mut prepared);
        if let Some(data) = prepared.offers_event {
            self.log.push(EventKind::Offers, data);
        }
        self.log
            .push(EventKind::Provider, Bytes::from(prepared.provider_event));
        let done = state.tally.is_done();
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
        for index in 0..state.tally.progress.len() {
            if !state.tally.progress[index].is_pending() {
                continue;
            }
            state.tally.progress[index] = AirlineProgress::missed_deadline(elapsed_ms);
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
            state.tally.first_offer_ms(),
        );
        state.status = status;
        state.finished = Some((Instant::now(), Timestamp::now()));
        let data = state.tally.complete(
            self.request.search_id,
            &self.request.providers,
            status,
            elapsed_ms,
            top,
        );
        self.log.push(EventKind::Complete, data);
    }
}

enum Applied {
    Ignored,
    Recorded,
    Finished,
}

/// Every search this process tracks.
#[derive(Debug)]
pub struct MemoryStore {
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
    /// Searches running by client, for `access.max_in_flight`.
    in_flight: HashMap<String, u32>,
    /// The client of each search that counts in `in_flight`.
    clients: HashMap<Uuid, String>,
    /// Deadlines of running searches, soonest first.
    deadlines: BinaryHeap<Reverse<(Instant, Uuid)>>,
}

impl Inner {
    /// A search stops counting among its client's searches running.
    fn leave(&mut self, id: &Uuid) {
        let Some(client) = self.clients.remove(id) else {
            return;
        };
        if let Some(count) = self.in_flight.get_mut(&client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.in_flight.remove(&client);
            }
        }
    }

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
        if let Some(c) = shrunk(self.clients.capacity(), self.clients.len()) {
            self.clients.shrink_to(c);
        }
        if let Some(c) = shrunk(self.in_flight.capacity(), self.in_flight.len()) {
            self.in_flight.shrink_to(c);
        }
    }
}

impl MemoryStore {
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
    pub fn insert(&self, request: SearchRequest) -> Result<Arc<SearchCell>, SearchError> {
        self.insert_for(Arc::new(request), None)
    }

    /// Starts tracking a search of a client, unless the client already has
    /// as many searches running as it may.
    pub fn insert_for(
        &self,
        request: Arc<SearchRequest>,
        admission: Option<super::Admission>,
    ) -> Result<Arc<SearchCell>, SearchError> {
        let now = Instant::now();
        let deadline = now + time_left(request.deadline);
        let ttl = self.limits.result_ttl;
        let expires_at = expires_at(&request, ttl);
        let cell = Arc::new(SearchCell {
            started: now,
            deadline,
            expires: deadline + ttl,
            expires_at,
            state: Mutex::new(CellState {
                tally: Tally::new(request.providers.len()),
                status: SearchStatus::Processing,
                finished: None,
            }),
            log: Arc::new(EventLog::default()),
            request,
        });
        let id = cell.request.search_id;
        let mut inner = self.inner.lock().expect("store lock");
        if let Some(a) = &admission
            && inner.in_flight.get(&a.client).copied().unwrap_or(0) >= a.max_in_flight
        {
            return Err(SearchError::Busy(a.max_in_flight));
        }
        while inner.searches.len() >= self.limits.max_retained {
            match inner.finished.pop_front() {
                Some(old) => {
                    inner.searches.remove(&old);
                }
                None => return Err(SearchError::Full(inner.searches.len())),
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
        if let Some(a) = admission {
            *inner.in_flight.entry(a.client.clone()).or_default() += 1;
            inner.clients.insert(id, a.client);
        }
        drop(inner);
        if sooner {
            self.wake.notify_one();
        }
        Ok(cell)
    }

    /// Forgets a search, for a submission that could not be published.
    pub fn remove(&self, id: &Uuid) {
        let mut inner = self.inner.lock().expect("store lock");
        inner.searches.remove(id);
        inner.leave(id);
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
    pub fn apply(&self, answer: &Answer<'_>) -> Option<Arc<SearchCell>> {
        let Some(cell) = self.get(&answer.search_id()) else {
            tracing::debug!(search_id = %answer.search_id(), provider = %answer.provider(), "answer for an unknown search ignored");
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
        let mut inner = self.inner.lock().expect("store lock");
        inner.leave(&id);
        inner.finished.push_back(id);
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
pub(crate) mod tests {
    use super::*;
    use crate::model::Cabin;

    /// A search for airline `a` whose deadline is `timeout` away.
    pub(crate) fn request(timeout: Duration) -> SearchRequest {
        let now = Timestamp::now();
        SearchRequest {
            search_id: Uuid::new_v4(),
            from: "CGK".into(),
            to: "DPS".into(),
            date: "2030-01-01".parse().unwrap(),
            return_date: None,
            passengers: 1,
            travellers: None,
            max_stops: None,
            convert: None,
            cabin: Cabin::Economy,
            cache: true,
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
    fn maintained(result_ttl: Duration, max_retained: usize) -> (Arc<MemoryStore>, Shutdown) {
        let store = Arc::new(MemoryStore::new(StoreLimits {
            result_ttl,
            max_retained,
            top_offers: 10,
        }));
        let shutdown = Shutdown::new();
        tokio::spawn(store.clone().maintain(shutdown.clone()));
        (store, shutdown)
    }

    /// A new search with a 5 s timeout, answered by its one airline.
    fn answered(store: &MemoryStore) -> Arc<SearchCell> {
        let cell = store.insert(request(Duration::from_secs(5))).unwrap();
        let text = answer(cell.request.search_id);
        store
            .apply(&Answer::Read(
                crate::model::AnswerView::read(text.as_bytes()).unwrap(),
            ))
            .unwrap()
    }

    fn sizes(store: &MemoryStore) -> (usize, usize, usize) {
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
        let room = |store: &MemoryStore| {
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
