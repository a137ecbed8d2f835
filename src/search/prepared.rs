//! An airline's answer turned into what its search records, whichever
//! store keeps the search: its progress and its SSE events, encoded once.
//! An answer read from the results stream has its offers' keys read out of
//! their JSON; one handed over in process ([`EncodedAnswer`]) brings them.

use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::events::{AirlineProgress, OffersHead, ProviderEvent, encode, with_offers};
use crate::model::{AnswerStatus, AnswerView, EncodedAnswer, OfferKey};

/// An answer as the aggregator hands it to a store.
pub enum Answer<'a> {
    /// Read from the results stream's JSON.
    Read(AnswerView<'a>),
    /// Handed over in process by the embedded bus.
    Encoded(Arc<EncodedAnswer>),
}

impl Answer<'_> {
    /// The search answered.
    pub fn search_id(&self) -> Uuid {
        match self {
            Answer::Read(a) => a.search_id,
            Answer::Encoded(a) => a.search_id,
        }
    }

    /// The airline that answered.
    pub fn provider(&self) -> &str {
        match self {
            Answer::Read(a) => &a.provider,
            Answer::Encoded(a) => &a.provider,
        }
    }

    /// The answer prepared for its search.
    pub fn prepare(&self, search_id: Uuid) -> PreparedAnswer {
        match self {
            Answer::Read(a) => PreparedAnswer::new(search_id, a),
            Answer::Encoded(a) => PreparedAnswer::encoded(search_id, a),
        }
    }
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

/// The parts of an answer besides its offers.
struct AnswerHead<'a> {
    provider: &'a str,
    status: AnswerStatus,
    error: Option<&'a str>,
    elapsed_ms: u64,
    cached: bool,
    age_ms: Option<u64>,
}

/// The offers' keys written beside them, when there is one per offer and
/// they can be read; otherwise (logged) the offers are read instead.
fn written_keys(search_id: Uuid, answer: &AnswerView<'_>) -> Option<Vec<OfferKey>> {
    let text = answer.offer_keys?;
    match serde_json::from_str::<Vec<OfferKey>>(text) {
        Ok(keys) if keys.len() == answer.offers.len() => Some(keys),
        Ok(keys) => {
            tracing::warn!(%search_id, provider = %answer.provider, keys = keys.len(), offers = answer.offers.len(), "offer keys do not match the offers; the offers are read instead");
            None
        }
        Err(e) => {
            tracing::warn!(%search_id, provider = %answer.provider, error = %e, "offer keys unreadable; the offers are read instead");
            None
        }
    }
}

impl<'a> AnswerHead<'a> {
    fn of(answer: &'a AnswerView<'_>) -> Self {
        AnswerHead {
            provider: &answer.provider,
            status: answer.status,
            error: answer.error.as_deref(),
            elapsed_ms: answer.elapsed_ms,
            cached: answer.cached,
            age_ms: answer.age_ms,
        }
    }
}

impl PreparedAnswer {
    /// Prepares `answer` read from the results stream, with the offers'
    /// keys the airline's side wrote beside them, or else read out of each
    /// offer's JSON: offers whose price or departure cannot be read are
    /// then dropped (and logged).
    pub fn new(search_id: Uuid, answer: &AnswerView<'_>) -> Self {
        let jsons = answer.offers.iter().copied();
        let accepted: Vec<(OfferKey, &[u8])> = match written_keys(search_id, answer) {
            Some(keys) => keys.into_iter().zip(jsons.map(str::as_bytes)).collect(),
            None => jsons
                .filter_map(|json| match serde_json::from_str::<OfferKey>(json) {
                    Ok(key) => Some((key, json.as_bytes())),
                    Err(e) => {
                        tracing::warn!(
                            %search_id,
                            provider = %answer.provider,
                            error = %e,
                            "offer without a readable price or departure dropped"
                        );
                        None
                    }
                })
                .collect(),
        };
        Self::assemble(search_id, AnswerHead::of(answer), accepted)
    }

    /// Prepares an answer handed over in process, its offers encoded and
    /// keyed by the airline's side: nothing is read back.
    pub fn encoded(search_id: Uuid, answer: &EncodedAnswer) -> Self {
        let offers = answer
            .offers
            .iter()
            .map(|(key, at)| (key.clone(), &answer.offers_json[at.clone()]))
            .collect();
        let head = AnswerHead {
            provider: &answer.provider,
            status: answer.status,
            error: answer.error.as_deref(),
            elapsed_ms: answer.elapsed_ms,
            cached: answer.cached,
            age_ms: answer.age_ms,
        };
        Self::assemble(search_id, head, offers)
    }

    fn assemble(search_id: Uuid, head: AnswerHead<'_>, accepted: Vec<(OfferKey, &[u8])>) -> Self {
        let count = accepted.len();
        let progress = AirlineProgress {
            status: Some(head.status),
            offers: count,
            elapsed_ms: Some(head.elapsed_ms),
            error: head.error.map(str::to_string),
        };
        let mut offers = Vec::with_capacity(count);
        let offers_event = (!accepted.is_empty()).then(|| {
            // The event is spliced together from the offers' own JSON, and
            // stores keep slices of it instead of copies.
            let jsons: Vec<&[u8]> = accepted.iter().map(|(_, json)| *json).collect();
            let mut keys = accepted.into_iter().map(|(key, _)| key);
            let event = OffersHead {
                kind: "offers",
                search_id,
                provider: head.provider,
            };
            Bytes::from(with_offers(&event, &jsons, |at| {
                offers.push((keys.next().expect("one key per offer"), at));
            }))
        });
        offers.sort_by(|a, b| a.0.cmp(&b.0));
        let provider_event = encode(&ProviderEvent {
            kind: "provider",
            search_id,
            provider: head.provider,
            status: head.status.as_str(),
            offers: count,
            elapsed_ms: head.elapsed_ms,
            error: head.error,
            cached: head.cached,
            age_ms: head.age_ms,
        });
        Self {
            progress,
            offers_event,
            offers,
            provider_event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProviderAnswer;

    fn offer(id: &str, total: &str, converted: bool) -> crate::model::Offer {
        let converted = if converted {
            r#","converted":{"currency":"EUR","total":"55.10","rate":"0.000058","date":"2026-12-01"}"#
        } else {
            ""
        };
        let json = format!(
            r#"{{"id":"{id}","provider":"b1","airline":{{"code":"B1","name":"Bench \"Air\" 1"}},"flight_number":"B1101","from":"CGK","to":"DPS","depart_at":"2026-12-21T06:00:00","arrive_at":"2026-12-21T07:50:00","duration_minutes":110,"stops":0,"segments":[],"itinerary":"B1101:2026-12-21|economy","cabin":"economy","seats_left":3,"expires_at":"2026-12-07T02:30:14Z","price":{{"total":"{total}","per_passenger":"{total}","base":null,"taxes":null,"by_passenger":[],"currency":"IDR"{converted}}},"leg":"outbound"}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    fn answer() -> ProviderAnswer {
        ProviderAnswer {
            search_id: Uuid::new_v4(),
            provider: "b1".into(),
            status: AnswerStatus::Ok,
            offers: vec![
                offer("late", "950000", false),
                offer("cheap", "925000.50", true),
                offer("same", "925000.5", false),
            ],
            error: None,
            elapsed_ms: 12,
            cached: true,
            age_ms: Some(40),
        }
    }

    fn ids(prepared: &PreparedAnswer) -> Vec<&str> {
        prepared.offers.iter().map(|(k, _)| k.id.as_str()).collect()
    }

    #[test]
    fn an_answer_handed_over_in_process_makes_the_events_its_json_makes() {
        let answer = answer();
        let json = serde_json::to_vec(&answer).unwrap();
        let view = AnswerView::read(&json).unwrap();
        let read = Answer::Read(view).prepare(answer.search_id);
        let encoded = Arc::new(EncodedAnswer::new(answer.clone()));
        let handed = Answer::Encoded(encoded.clone()).prepare(answer.search_id);
        assert_eq!(handed.offers_event, read.offers_event);
        assert_eq!(handed.offers, read.offers);
        assert_eq!(handed.provider_event, read.provider_event);
        assert_eq!(handed.progress, read.progress);
        assert_eq!(
            ids(&handed),
            ["cheap", "same", "late"],
            "converted first, then by total"
        );
        // Through Redis the same answer travels as a ProviderAnswer's JSON.
        let back: ProviderAnswer = serde_json::from_slice(&encoded.to_json()).unwrap();
        assert_eq!(back, answer);
    }

    #[test]
    fn the_keys_written_beside_the_offers_are_read_instead_of_the_offers() {
        let answer = answer();
        let id = answer.search_id;
        let encoded = EncodedAnswer::new(answer.clone());
        let handed = Answer::Encoded(Arc::new(EncodedAnswer::new(answer))).prepare(id);
        let json = encoded.to_json();
        let view = AnswerView::read(&json).unwrap();
        assert!(written_keys(id, &view).is_some_and(|keys| keys.len() == 3));
        let keyed = Answer::Read(view).prepare(id);
        assert_eq!(keyed.offers_event, handed.offers_event);
        assert_eq!(keyed.offers, handed.offers);
        assert_eq!(keyed.provider_event, handed.provider_event);

        // The keys order the offers, not the offers' JSON: a key that says
        // "late" costs 1 puts it before "same" (after "cheap", whose total
        // in the search's currency ranks first).
        let mut tampered: serde_json::Value = serde_json::from_slice(&json).unwrap();
        tampered["offer_keys"][0]["price"]["total"] = "1".into();
        let tampered = serde_json::to_vec(&tampered).unwrap();
        let view = AnswerView::read(&tampered).unwrap();
        assert_eq!(
            ids(&Answer::Read(view).prepare(id)),
            ["cheap", "late", "same"]
        );

        // Keys that do not match the offers one for one are not used.
        let mut short: serde_json::Value = serde_json::from_slice(&tampered).unwrap();
        short["offer_keys"].as_array_mut().unwrap().pop();
        let short = serde_json::to_vec(&short).unwrap();
        let view = AnswerView::read(&short).unwrap();
        assert_eq!(
            ids(&Answer::Read(view).prepare(id)),
            ["cheap", "same", "late"]
        );

        // Keys that cannot be read leave the answer readable, its offers
        // read instead.
        for bad in [r#""keys""#, "[1,2,3]", r#"[{"price":{}}]"#, "null"] {
            let mut broken: serde_json::Value = serde_json::from_slice(&tampered).unwrap();
            broken["offer_keys"] = serde_json::from_str(bad).unwrap();
            let broken = serde_json::to_vec(&broken).unwrap();
            let view = AnswerView::read(&broken).unwrap();
            assert_eq!(
                ids(&Answer::Read(view).prepare(id)),
                ["cheap", "same", "late"],
                "offer_keys {bad}"
            );
        }
    }
}
