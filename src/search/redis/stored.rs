//! A search as Redis holds it: one hash with its request, status, each
//! airline's progress as JSON and its events (`e:<n>`, each its kind's
//! one-byte tag then its JSON, or a reference to the field that holds
//! them); and how it is read back into a snapshot.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::bus::BusError;
use crate::fault::Fault;
use crate::model::{OfferKey, SearchRequest};
use crate::search::events::{
    AirlineProgress, EventKind, SearchStatus, Snapshot, by_itinerary, raw_json,
};

/// A search's hash as read from Redis.
pub(super) type Fields = HashMap<String, Vec<u8>>;

/// A search as read from Redis.
pub(super) struct Stored {
    /// What a polling client is shown.
    pub snapshot: Snapshot,
    /// processing, completing, completed or partial.
    pub state: String,
    /// What a completing search completes as.
    pub outcome: Option<String>,
    /// When the search was accepted, in milliseconds since the epoch.
    pub created_ms: i64,
    /// Where in `snapshot.offers` each itinerary's cheapest offer is,
    /// cheapest first: what the `complete` event lists.
    pub cheapest: Vec<usize>,
}

impl Stored {
    /// The cheapest offer of each itinerary, up to `top`, as JSON.
    pub fn cheapest(&self, top: usize) -> impl Iterator<Item = &[u8]> {
        self.cheapest
            .iter()
            .take(top)
            .map(|&at| self.snapshot.offers[at].get().as_bytes())
    }
}

impl Stored {
    /// `None` for a search that is not there (unknown or expired).
    pub fn parse(id: &Uuid, mut fields: Fields) -> Result<Option<Self>, BusError> {
        if fields.is_empty() {
            return Ok(None);
        }
        let broken = |what: &str| {
            BusError::Protocol(Fault::new(format!("search {id} in Redis: bad {what}")))
        };
        let events = std::str::from_utf8(fields.get("events").map_or(&[][..], |v| v))
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| broken("events"))?;
        let items: Vec<Vec<u8>> = (1..=events)
            .filter_map(|n| {
                let item = fields.remove(&format!("e:{n}"))?;
                match reference(&item) {
                    Some(field) => fields.remove(std::str::from_utf8(field).ok()?),
                    None => Some(item),
                }
            })
            .collect();
        let field = |name: &str| fields.get(name).ok_or_else(|| broken(name));
        let text = |name: &str| -> Result<&str, BusError> {
            std::str::from_utf8(field(name)?).map_err(|_| broken(name))
        };
        let number =
            |name: &str| -> Result<i64, BusError> { text(name)?.parse().map_err(|_| broken(name)) };
        let request: SearchRequest =
            serde_json::from_slice(field("request")?).map_err(|_| broken("request"))?;
        let state = text("status")?.to_string();
        let status = match state.as_str() {
            "completed" => SearchStatus::Completed,
            "partial" => SearchStatus::Partial,
            _ => SearchStatus::Processing,
        };
        let mut providers = BTreeMap::new();
        for provider in &request.providers {
            let progress: AirlineProgress =
                serde_json::from_slice(field(&format!("p:{provider}"))?)
                    .map_err(|_| broken("progress"))?;
            providers.insert(provider.clone(), progress);
        }
        let mut offers: Vec<(OfferKey, Box<RawValue>)> = Vec::new();
        for (kind, data) in items.into_iter().filter_map(decode) {
            if kind != EventKind::Offers {
                continue;
            }
            let Ok(event) = serde_json::from_slice::<OffersOnly<'_>>(&data) else {
                continue;
            };
            for raw in event.offers {
                if let (Ok(key), Some(json)) = (
                    serde_json::from_str::<OfferKey>(raw.get()),
                    raw_json(raw.get().as_bytes()),
                ) {
                    offers.push((key, json));
                }
            }
        }
        offers.sort_by(|a, b| a.0.cmp(&b.0));
        let (cheapest, sellers) = by_itinerary(offers.iter().map(|(key, _)| key));
        let finished_at = fields
            .contains_key("finished_ms")
            .then(|| number("finished_ms"))
            .transpose()?
            .and_then(|t| Timestamp::from_millisecond(t).ok());
        let expires_at: Timestamp = text("expires_at")?
            .parse()
            .map_err(|_| broken("expires_at"))?;
        Ok(Some(Stored {
            snapshot: Snapshot {
                search_id: *id,
                status,
                request,
                providers,
                total_offers: usize::try_from(number("total")?).unwrap_or(0),
                offers: offers.into_iter().map(|(_, json)| json).collect(),
                sellers,
                finished_at,
                expires_at,
            },
            outcome: fields
                .get("outcome")
                .and_then(|o| String::from_utf8(o.clone()).ok()),
            created_ms: number("created_ms")?,
            state,
            cheapest,
        }))
    }
}

/// An event as stored in Redis: its kind's tag, then its JSON.
pub(super) fn tagged(kind: EventKind, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 1);
    out.push(kind.tag());
    out.extend_from_slice(json);
    out
}

/// The field an event stored by reference is held in (`@` then the
/// field: see `lua/record.lua`), or `None` for an event stored as it is.
pub(super) fn reference(item: &[u8]) -> Option<&[u8]> {
    item.strip_prefix(b"@")
}

/// Milliseconds since the epoch, as a script argument.
pub(super) fn ms(t: Timestamp) -> Vec<u8> {
    t.as_millisecond().to_string().into_bytes()
}

/// An event as stored in Redis: its kind's tag, then its JSON.
pub(super) fn decode(item: Vec<u8>) -> Option<(EventKind, Bytes)> {
    let (&tag, _) = item.split_first()?;
    let kind = EventKind::from_tag(tag)?;
    Some((kind, Bytes::from(item).slice(1..)))
}

/// The offers of an `offers` event.
#[derive(Deserialize)]
struct OffersOnly<'a> {
    #[serde(borrow)]
    offers: Vec<&'a RawValue>,
}
