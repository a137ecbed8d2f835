//! What a search's answers add up to: each airline's progress and every
//! offer, cheapest first, and the `complete` event built from them. The
//! memory store keeps one per search; the Redis store keeps one for each
//! search its process records alone, so it can append `complete` in the
//! same step as the last answer.

use bytes::Bytes;
use uuid::Uuid;

use super::events::{
    AirlineProgress, CompleteHead, SearchStatus, by_itinerary, complete_event, first_offer_ms,
};
use super::prepared::PreparedAnswer;
use crate::model::OfferKey;

/// The answers of one search so far.
#[derive(Debug)]
pub(crate) struct Tally {
    /// Each targeted airline's progress, in the request's order.
    pub progress: Vec<AirlineProgress>,
    /// Offers so far, cheapest first: each its ordering key and its JSON, a
    /// zero-copy slice of the `offers` event that carried it.
    pub offers: Vec<(OfferKey, Bytes)>,
}

impl Tally {
    /// Nothing answered yet, from `airlines` airlines.
    pub fn new(airlines: usize) -> Self {
        Self {
            progress: vec![AirlineProgress::pending(); airlines],
            offers: Vec::new(),
        }
    }

    /// Records airline `index`'s answer unless it already answered;
    /// returns whether it was recorded. Its offers move into the tally.
    pub fn record(&mut self, index: usize, prepared: &mut PreparedAnswer) -> bool {
        if !self
            .progress
            .get(index)
            .is_some_and(AirlineProgress::is_pending)
        {
            return false;
        }
        if let Some(data) = &prepared.offers_event {
            // Both runs are sorted: the stable sort merges them, equal
            // keys keeping the order they came in, in linear time rather
            // than an insertion each.
            let offers = std::mem::take(&mut prepared.offers);
            self.offers.extend(
                offers
                    .into_iter()
                    .map(|(key, span)| (key, data.slice(span))),
            );
            self.offers.sort_by(|a, b| a.0.cmp(&b.0));
        }
        self.progress[index] = prepared.progress.clone();
        true
    }

    /// Whether every airline is accounted for.
    pub fn is_done(&self) -> bool {
        !self.progress.iter().any(AirlineProgress::is_pending)
    }

    /// When the first offer came, for the metrics.
    pub fn first_offer_ms(&self) -> Option<u64> {
        first_offer_ms(self.progress.iter())
    }

    /// The `complete` event: the progress of each of `providers` (the
    /// request's airlines, in its order), the totals and the cheapest offer
    /// of each itinerary, up to `top`.
    pub fn complete(
        &self,
        search_id: Uuid,
        providers: &[String],
        status: SearchStatus,
        elapsed_ms: u64,
        top: usize,
    ) -> Bytes {
        let (firsts, sellers) = by_itinerary(self.offers.iter().map(|(key, _)| key));
        complete_event(
            CompleteHead {
                kind: "complete",
                search_id,
                status,
                providers: providers
                    .iter()
                    .cloned()
                    .zip(self.progress.iter().cloned())
                    .collect(),
                total_offers: self.offers.len(),
                sellers,
                elapsed_ms,
            },
            firsts
                .into_iter()
                .take(top)
                .map(|at| self.offers[at].1.as_ref()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, provider: &str, itinerary: &str) -> OfferKey {
        serde_json::from_value(serde_json::json!({
            "price": {"currency": "IDR", "total": "100"},
            "depart_at": "2026-12-21T06:00:00",
            "id": id,
            "provider": provider,
            "itinerary": itinerary,
        }))
        .unwrap()
    }

    #[test]
    fn itineraries_give_their_cheapest_offer_and_their_distinct_sellers() {
        let keys = [
            key("a", "p1", "X"),
            key("b", "p2", "Y"),
            key("c", "p2", "X"),
            key("d", "p1", "X"),
            // No itinerary: an itinerary of its own, by its id.
            key("e", "p3", ""),
            key("f", "p3", "Y"),
        ];
        let (firsts, sellers) = by_itinerary(keys.iter());
        assert_eq!(firsts, [0, 1, 4]);
        let sellers: Vec<(&str, usize)> = sellers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(sellers, [("X", 2), ("Y", 2), ("e", 1)]);
        let (firsts, sellers) = by_itinerary([].iter());
        assert!(firsts.is_empty() && sellers.is_empty());
    }
}
