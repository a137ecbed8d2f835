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
            for (key, span) in std::mem::take(&mut prepared.offers) {
                let at = self.offers.partition_point(|(k, _)| *k <= key);
                self.offers.insert(at, (key, data.slice(span)));
            }
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
