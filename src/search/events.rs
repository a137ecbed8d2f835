//! A search's events and their encoding, the same whichever store keeps the
//! search and read by the SSE handler: the event kinds (with the one-byte
//! tag that marks each stored in Redis), the append-only event log readers
//! follow at their own pace, each airline's progress, the snapshot for
//! polling clients, and the JSON of the `offers`, `provider` and `complete`
//! events, encoded once for every reader.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use uuid::Uuid;

use utoipa::ToSchema;

use crate::model::{AnswerStatus, Offer, OfferKey, SearchRequest};

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
/// positions. Readers wait on [`EventLog::changed`] and are woken by
/// [`EventLog::notify`], once per batch of appends. A `Notify`, not a
/// `watch` channel: every running search has a log, and a watch channel's
/// state is ten times the size (an idle stream's search pays for it).
#[derive(Debug)]
pub struct EventLog {
    pub(super) state: Mutex<LogState>,
    changed: Notify,
}

#[derive(Debug, Default)]
pub(super) struct LogState {
    pub(super) events: Vec<StoredEvent>,
    /// The `complete` event is in; nothing follows it.
    pub(super) finished: bool,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            state: Mutex::new(LogState::default()),
            changed: Notify::new(),
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
        self.changed.notify_waiters();
    }

    /// Fires at the next [`EventLog::notify`]. A reader enables it
    /// (`Notified::enable`) before it reads the log, so that no append
    /// falls between its read and its wait.
    pub fn changed(&self) -> Notified<'_> {
        self.changed.notified()
    }

    /// Ends the log where it stands, for a search that is gone (a Redis
    /// that came back empty): its readers stop instead of waiting for a
    /// `complete` that will never come.
    pub fn abandon(&self) {
        self.state.lock().expect("log lock").finished = true;
        self.notify();
    }

    /// Appends one event; the caller wakes the readers with
    /// [`EventLog::notify`].
    pub(crate) fn push(&self, kind: EventKind, data: Bytes) {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
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
/// event. `status` is written first: the Redis scripts recognize a pending
/// airline by the start of its JSON (`search/redis/lua/common.lua`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AirlineProgress {
    /// How it answered, or `None` while it has not: `pending`, `ok`,
    /// `error` or `timeout` in JSON.
    #[serde(serialize_with = "pending_or", deserialize_with = "pending_or_read")]
    #[schema(value_type = String, pattern = "^(pending|ok|error|timeout)$")]
    pub status: Option<AnswerStatus>,
    /// Offers it made.
    pub offers: usize,
    /// Milliseconds from the search's acceptance to its answer.
    pub elapsed_ms: Option<u64>,
    /// What went wrong.
    pub error: Option<String>,
}

impl AirlineProgress {
    /// An airline that has not answered yet.
    pub fn pending() -> Self {
        Self {
            status: None,
            offers: 0,
            elapsed_ms: None,
            error: None,
        }
    }

    /// Whether the airline has not answered yet.
    pub fn is_pending(&self) -> bool {
        self.status.is_none()
    }

    /// An airline still silent at the deadline, `elapsed_ms` after the
    /// search was accepted.
    pub fn missed_deadline(elapsed_ms: u64) -> Self {
        Self {
            status: Some(AnswerStatus::Timeout),
            offers: 0,
            elapsed_ms: Some(elapsed_ms),
            error: Some(DEADLINE_MISSED.to_string()),
        }
    }
}

/// The JSON name of an airline's status: its answer's, or `pending`.
fn status_name(status: Option<AnswerStatus>) -> &'static str {
    status.map_or("pending", AnswerStatus::as_str)
}

fn pending_or<S: Serializer>(status: &Option<AnswerStatus>, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(status_name(*status))
}

/// Reads what [`pending_or`] wrote; any other word is taken as pending, as
/// a progress stored by an older version could hold.
fn pending_or_read<'de, D: Deserializer<'de>>(input: D) -> Result<Option<AnswerStatus>, D::Error> {
    let word = String::deserialize(input)?;
    Ok(AnswerStatus::parse(&word))
}

/// A JSON snapshot of a search, for clients that poll.
#[derive(Clone, Debug, Serialize, ToSchema)]
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
    #[schema(value_type = Vec<Offer>)]
    pub offers: Vec<Box<RawValue>>,
    /// How many airlines sell each itinerary (the offers' `itinerary`).
    pub sellers: BTreeMap<String, usize>,
    /// When the search finished.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// When its results stop being available: the deadline plus the TTL.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// The `complete` event: its head, then the cheapest offers spliced in as
/// they were received.
pub(crate) fn complete_event<'a>(
    head: CompleteHead,
    cheapest: impl Iterator<Item = &'a [u8]>,
) -> Bytes {
    let cheapest: Vec<&[u8]> = cheapest.collect();
    Bytes::from(with_offers(&head, &cheapest, |_| {}))
}

/// An event's JSON: `head`'s fields, then an `offers` array spliced
/// together from the offers' own JSON, in one buffer sized once (grown as
/// it was written, tens of KB were copied at each doubling). `placed`
/// learns where each offer sits in it, in order.
pub(crate) fn with_offers(
    head: &impl Serialize,
    offers: &[&[u8]],
    mut placed: impl FnMut(std::ops::Range<usize>),
) -> Vec<u8> {
    let mut data = encode(head).into_bytes();
    // The head's closing brace; the offers close the object.
    data.pop();
    data.reserve(16 + offers.iter().map(|json| json.len() + 1).sum::<usize>());
    data.extend_from_slice(b",\"offers\":[");
    for (i, json) in offers.iter().enumerate() {
        if i > 0 {
            data.push(b',');
        }
        let start = data.len();
        data.extend_from_slice(json);
        placed(start..data.len());
    }
    data.extend_from_slice(b"]}");
    data
}

/// Offers grouped by itinerary, from offers sorted cheapest first: the
/// position of each itinerary's cheapest offer, in that order, and how
/// many airlines sell each itinerary. An offer without an itinerary (from
/// an older process) is one of its own.
pub(crate) fn by_itinerary<'a>(
    keys: impl Iterator<Item = &'a OfferKey>,
) -> (Vec<usize>, BTreeMap<String, usize>) {
    // One row per offer, grouped by itinerary in one sort, rather than a
    // list of sellers made for each itinerary.
    let mut rows: Vec<(&str, usize, &str)> = keys
        .enumerate()
        .map(|(at, key)| {
            let itinerary = if key.itinerary.is_empty() {
                key.id.as_str()
            } else {
                key.itinerary.as_str()
            };
            (itinerary, at, key.provider.as_str())
        })
        .collect();
    rows.sort_unstable();
    let mut firsts = Vec::with_capacity(rows.len());
    let mut counts = BTreeMap::new();
    for group in rows.chunk_by(|a, b| a.0 == b.0) {
        // Cheapest first: the lowest position of the itinerary.
        firsts.push(group[0].1);
        let sellers = group
            .iter()
            .enumerate()
            .filter(|(i, row)| !group[..*i].iter().any(|seen| seen.2 == row.2))
            .count();
        counts.insert(group[0].0.to_string(), sellers);
    }
    firsts.sort_unstable();
    (firsts, counts)
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
        cached: false,
        age_ms: None,
    })
}

/// An offer's JSON as a raw JSON value.
pub(crate) fn raw_json(json: &[u8]) -> Option<Box<RawValue>> {
    let text = String::from_utf8(json.to_vec()).ok()?;
    RawValue::from_string(text).ok()
}

/// The `offers` event as a client reads it: its head, then one airline's
/// offers (spliced in as received, so this type only describes it).
#[derive(Serialize, ToSchema)]
#[schema(as = OffersEvent)]
pub(crate) struct OffersEvent {
    #[serde(flatten)]
    head: OffersHead<'static>,
    offers: Vec<Offer>,
}

/// The `complete` event as a client reads it: its head, then the cheapest
/// offers (spliced in as received, so this type only describes it).
#[derive(Serialize, ToSchema)]
#[schema(as = CompleteEvent)]
pub(crate) struct CompleteEvent {
    #[serde(flatten)]
    head: CompleteHead,
    offers: Vec<Offer>,
}

/// The `offers` event without its offers, which are spliced in as JSON.
#[derive(Serialize, ToSchema)]
pub(crate) struct OffersHead<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) search_id: Uuid,
    pub(super) provider: &'a str,
}

/// The `provider` event: one airline finished.
#[derive(Serialize, ToSchema)]
#[schema(as = ProviderEvent)]
pub(crate) struct ProviderEvent<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) search_id: Uuid,
    pub(super) provider: &'a str,
    pub(super) status: &'static str,
    pub(super) offers: usize,
    pub(super) elapsed_ms: u64,
    pub(super) error: Option<&'a str>,
    /// Whether the offers are a kept answer of the airline's, not asked
    /// for this search (`docs/api.md`).
    pub(super) cached: bool,
    /// How old that kept answer is, in milliseconds; only when `cached`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) age_ms: Option<u64>,
}

/// The `complete` event without its cheapest offers, spliced in as JSON.
#[derive(Serialize, ToSchema)]
pub(crate) struct CompleteHead {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub search_id: Uuid,
    pub status: SearchStatus,
    pub providers: BTreeMap<String, AirlineProgress>,
    pub total_offers: usize,
    /// How many airlines sell each itinerary of the search's offers.
    pub sellers: BTreeMap<String, usize>,
    pub elapsed_ms: u64,
}

/// An event's JSON, by `model::json`: the bytes serde_json writes,
/// with field names copied rather than escaped byte by byte (half the cost
/// of a search's events).
pub(crate) fn encode<T: Serialize>(value: &T) -> String {
    // Our own structs of strings and numbers always encode.
    let out = crate::model::json::to_vec(value).expect("event encodes as JSON");
    String::from_utf8(out).expect("JSON is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_comes_back_from_its_tag() {
        for kind in [EventKind::Offers, EventKind::Provider, EventKind::Complete] {
            assert_eq!(EventKind::from_tag(kind.tag()), Some(kind));
        }
        assert_eq!(EventKind::from_tag(b'x'), None);
    }

    #[test]
    fn events_are_the_bytes_serde_json_writes() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let offers = OffersHead {
            kind: "offers",
            search_id: id,
            provider: "garuda \"GA\"",
        };
        same(&offers);
        for (error, cached, age_ms) in [(None, false, None), (Some("down\n"), true, Some(5))] {
            let event = ProviderEvent {
                kind: "provider",
                search_id: id,
                provider: "ga",
                status: AnswerStatus::Error.as_str(),
                offers: 3,
                elapsed_ms: 12,
                error,
                cached,
                age_ms,
            };
            same(&event);
        }
        let mut late = AirlineProgress::missed_deadline(7);
        late.error = Some("tab\there".into());
        let head = CompleteHead {
            kind: "complete",
            search_id: id,
            status: SearchStatus::Partial,
            providers: BTreeMap::from([
                ("a".to_string(), AirlineProgress::pending()),
                ("b \\ c".to_string(), late),
            ]),
            total_offers: 2,
            sellers: BTreeMap::from([("GA1:2026-12-20|economy".to_string(), 2)]),
            elapsed_ms: 40,
        };
        same(&head);
        // Maps and all, without falling back to serde_json.
        assert!(crate::model::json::write(&mut Vec::new(), &head).is_ok());
        same(&AirlineProgress::pending());
    }

    #[test]
    fn offers_are_spliced_after_the_head_and_placed_where_they_sit() {
        let head = serde_json::json!({"type": "offers", "provider": "b1"});
        let offers: [&[u8]; 2] = [br#"{"id":"a"}"#, br#"{"id":"b","n":[1,2]}"#];
        let mut placed = Vec::new();
        let data = with_offers(&head, &offers, |at| placed.push(at));
        let back: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"type": "offers", "provider": "b1", "offers": [{"id": "a"}, {"id": "b", "n": [1, 2]}]})
        );
        let spliced: Vec<&[u8]> = placed.into_iter().map(|at| &data[at]).collect();
        assert_eq!(spliced, offers);
        let empty = with_offers(&head, &[], |_| unreachable!());
        assert_eq!(empty, br#"{"provider":"b1","type":"offers","offers":[]}"#);
    }

    fn same<T: Serialize>(value: &T) {
        assert_eq!(encode(value), serde_json::to_string(value).unwrap());
    }

    #[test]
    fn progress_json_starts_with_its_status_and_reads_back() {
        // The Redis scripts recognize a pending airline by this prefix.
        let pending = encode(&AirlineProgress::pending());
        assert!(pending.starts_with(r#"{"status":"pending""#), "{pending}");
        let late = AirlineProgress::missed_deadline(7);
        let json = encode(&late);
        assert!(json.starts_with(r#"{"status":"timeout""#), "{json}");
        assert_eq!(
            serde_json::from_str::<AirlineProgress>(&json).unwrap(),
            late
        );
        let read: AirlineProgress = serde_json::from_str(&pending).unwrap();
        assert!(read.is_pending());
    }
}
