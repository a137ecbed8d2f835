//! An airline's answer as it is handed over in one process (the embedded
//! bus): its offers already encoded, each with its ordering key, so the
//! search it answers splices them into its events without reading any JSON
//! back. Through Redis the same answer travels as a [`ProviderAnswer`]'s
//! JSON, with the keys and where each offer sits written beside it.

use std::ops::Range;

use uuid::Uuid;

use super::answer_view::{OFFERS, OPENING};
use super::money::Converted;
use super::{AnswerStatus, ConvertedKey, Offer, OfferKey, PriceKey, ProviderAnswer};

/// An answer whose offers are encoded once, by the airline's side.
#[derive(Debug)]
pub struct EncodedAnswer {
    /// The search answered.
    pub search_id: Uuid,
    /// Provider id.
    pub provider: String,
    /// Outcome.
    pub status: AnswerStatus,
    /// What went wrong, for error and timeout.
    pub error: Option<String>,
    /// Milliseconds from the search's acceptance to this answer.
    pub elapsed_ms: u64,
    /// Whether the offers are a kept answer of the airline's.
    pub cached: bool,
    /// How old a kept answer is, in milliseconds.
    pub age_ms: Option<u64>,
    /// The offers' JSON, one after another, separated by commas.
    pub offers_json: Vec<u8>,
    /// Each offer's ordering key and where its JSON sits in `offers_json`,
    /// in the airline's order.
    pub offers: Vec<(OfferKey, Range<usize>)>,
}

impl EncodedAnswer {
    /// Encodes `answer`'s offers, with the offer writer written for their
    /// shape (`model::offer_json`).
    pub fn new(answer: ProviderAnswer) -> Self {
        let ProviderAnswer {
            search_id,
            provider,
            status,
            offers: list,
            error,
            elapsed_ms,
            cached,
            age_ms,
        } = answer;
        // About 1 KB per offer: one allocation, not a dozen doublings.
        let mut offers_json = Vec::with_capacity(list.len() * 1024);
        let mut offers = Vec::with_capacity(list.len());
        for offer in list {
            if !offers_json.is_empty() {
                offers_json.push(b',');
            }
            let at = offers_json.len();
            super::offer_json::write(&mut offers_json, &offer);
            // The offer is done with once written: its key takes its
            // strings rather than copies of them.
            offers.push((key_of(offer), at..offers_json.len()));
        }
        Self {
            search_id,
            provider,
            status,
            error,
            elapsed_ms,
            cached,
            age_ms,
            offers_json,
            offers,
        }
    }

    /// The answer as it travels through Redis: a [`ProviderAnswer`]'s JSON
    /// whose other fields come first, with each offer's ordering key
    /// (`offer_keys`) and where each offer sits in the offers' array
    /// (`offer_spans`, start and end, flat), the offers last, and where
    /// their array begins (`offers_at`) opening it all: the api then reads
    /// a few hundred bytes rather than scanning every offer
    /// ([`AnswerView::read`](super::AnswerView::read)).
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Head<'a> {
            search_id: Uuid,
            provider: &'a str,
            status: AnswerStatus,
            error: Option<&'a str>,
            elapsed_ms: u64,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            cached: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            age_ms: Option<u64>,
        }
        let head = Head {
            search_id: self.search_id,
            provider: &self.provider,
            status: self.status,
            error: self.error.as_deref(),
            elapsed_ms: self.elapsed_ms,
            cached: self.cached,
            age_ms: self.age_ms,
        };
        // The fields between `offers_at` and the offers. About 200 bytes a
        // key.
        let mut fields = Vec::with_capacity(256 + self.offers.len() * 256);
        serde_json::to_writer(&mut fields, &head).expect("answer head encodes as JSON");
        fields.pop();
        fields.extend_from_slice(b",\"offer_keys\":[");
        for (i, (key, _)) in self.offers.iter().enumerate() {
            if i > 0 {
                fields.push(b',');
            }
            super::offer_json::write_key(&mut fields, key);
        }
        fields.extend_from_slice(b"],\"offer_spans\":[");
        for (i, (_, span)) in self.offers.iter().enumerate() {
            if i > 0 {
                fields.push(b',');
            }
            push_number(&mut fields, span.start);
            fields.push(b',');
            push_number(&mut fields, span.end);
        }
        fields.push(b']');
        // `{"offers_at":N` and the fields (their `{` dropped), then
        // `,"offers":[`: N counts its own digits.
        // Besides N: the opening, N's comma, the fields, the offers' key.
        let rest = OPENING.len() + 1 + (fields.len() - 1) + OFFERS.len();
        let mut at = rest + 1;
        while rest + digits(at) != at {
            at = rest + digits(at);
        }
        let mut json = Vec::with_capacity(at + self.offers_json.len() + 2);
        json.extend_from_slice(OPENING);
        push_number(&mut json, at);
        json.push(b',');
        json.extend_from_slice(&fields[1..]);
        json.extend_from_slice(OFFERS);
        assert_eq!(json.len(), at, "offers_at counts its own digits");
        json.extend_from_slice(&self.offers_json);
        json.extend_from_slice(b"]}");
        json
    }
}

/// How many decimal digits `n` is written with.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Writes `n` in decimal.
fn push_number(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The fields of an offer that order it, as the api would read them from
/// its JSON.
pub fn key_of(offer: Offer) -> OfferKey {
    OfferKey {
        price: PriceKey {
            total: offer.price.total,
            converted: offer
                .price
                .converted
                .as_ref()
                .map(|c: &Converted| ConvertedKey { total: c.total }),
            currency: offer.price.currency,
        },
        depart_at: offer.depart_at,
        id: offer.id,
        provider: offer.provider,
        itinerary: offer.itinerary,
    }
}
