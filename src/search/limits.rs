//! How long searches are kept and how many: the limits both stores apply,
//! and when a search's results expire.

use std::time::Duration;

use jiff::Timestamp;

use crate::model::SearchRequest;

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

/// When a search's results stop being available: its deadline plus the
/// result TTL.
pub fn expires_at(request: &SearchRequest, ttl: Duration) -> Timestamp {
    request
        .deadline
        .checked_add(jiff::SignedDuration::try_from(ttl).unwrap_or_default())
        .unwrap_or(request.deadline)
}
