//! An airline answer as the aggregator reads it from the results stream:
//! the offers stay JSON text, borrowed from the entry, so they reach
//! clients without being decoded and encoded again.
//!
//! Our providers process writes where each offer sits
//! ([`EncodedAnswer::to_json`](super::EncodedAnswer::to_json)): the
//! answer opens with `"offers_at"`, the byte where the offers' array
//! begins, its other fields come before the offers, and `offer_spans`
//! gives each offer's start and end within the array. Then only those
//! fields are parsed, and the offers (most of the bytes) are sliced
//! rather than scanned. Any answer without them, or whose spans do not
//! tile the array exactly (one offer after another, a comma between, each
//! an object), is read whole instead.

use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::AnswerStatus;

/// An airline answer read from the results stream.
#[derive(Debug)]
pub struct AnswerView<'a> {
    /// The search answered.
    pub search_id: Uuid,
    /// Provider id.
    pub provider: String,
    /// Outcome.
    pub status: AnswerStatus,
    /// Offers, each as its JSON text.
    pub offers: Vec<&'a str>,
    /// What went wrong.
    pub error: Option<String>,
    /// Milliseconds from acceptance to answer.
    pub elapsed_ms: u64,
    /// Whether the offers are a kept answer.
    pub cached: bool,
    /// How old a kept answer is, in milliseconds.
    pub age_ms: Option<u64>,
    /// Each offer's ordering key, in the order of `offers`, as JSON text,
    /// when the airline's side wrote them (an older providers process does
    /// not). Kept as text: keys that cannot be read leave the offers to be
    /// read instead of making the whole answer unreadable.
    pub offer_keys: Option<&'a str>,
}

/// The answer's fields as serde reads them: the whole JSON (with
/// `offers`), or the fields before the offers (with `offer_spans`).
#[derive(Deserialize)]
struct Fields<'a> {
    search_id: Uuid,
    provider: String,
    status: AnswerStatus,
    #[serde(default, borrow)]
    offers: Option<Vec<&'a RawValue>>,
    error: Option<String>,
    elapsed_ms: u64,
    #[serde(default)]
    cached: bool,
    #[serde(default)]
    age_ms: Option<u64>,
    #[serde(default, borrow)]
    offer_keys: Option<&'a RawValue>,
    /// Each offer's start and end in the offers' array, flat.
    #[serde(default)]
    offer_spans: Option<Vec<usize>>,
}

impl<'a> Fields<'a> {
    /// The view of these fields with `offers` and `offer_keys`.
    fn view(self, offers: Vec<&'a str>, offer_keys: Option<&'a str>) -> AnswerView<'a> {
        AnswerView {
            search_id: self.search_id,
            provider: self.provider,
            status: self.status,
            offers,
            error: self.error,
            elapsed_ms: self.elapsed_ms,
            cached: self.cached,
            age_ms: self.age_ms,
            offer_keys,
        }
    }
}

/// How an answer that says where its offers are begins; the writer's
/// ([`EncodedAnswer::to_json`](super::EncodedAnswer::to_json)) and the
/// reader's.
pub(super) const OPENING: &[u8] = b"{\"offers_at\":";
/// What comes just before the offers, both sides.
pub(super) const OFFERS: &[u8] = b",\"offers\":[";

impl<'a> AnswerView<'a> {
    /// Reads an answer from the results stream.
    pub fn read(data: &'a [u8]) -> serde_json::Result<Self> {
        if data.starts_with(OPENING) {
            match Self::by_spans(data) {
                Some(view) => return Ok(view),
                None => {
                    static MISFIT: crate::throttle::Throttle =
                        crate::throttle::Throttle::new(std::time::Duration::from_secs(10));
                    if let Some(held) = MISFIT.allow() {
                        tracing::warn!(
                            held_back = held,
                            "an answer's offer spans do not fit its offers; read whole instead"
                        );
                    }
                }
            }
        }
        let mut fields: Fields<'a> = serde_json::from_slice(data)?;
        let offers = fields
            .offers
            .take()
            .ok_or_else(|| serde::de::Error::missing_field("offers"))?;
        let keys = fields.offer_keys.map(RawValue::get);
        Ok(fields.view(offers.iter().map(|raw| raw.get()).collect(), keys))
    }

    /// The answer read by its spans, or `None` when they do not fit.
    fn by_spans(data: &'a [u8]) -> Option<Self> {
        let rest = &data[OPENING.len()..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let at: usize = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
        let (before, offers) = data.split_at_checked(at)?;
        let head = before.strip_suffix(OFFERS)?;
        let offers = offers.strip_suffix(b"]}")?;
        // The fields before the offers, closed: a copy of a few hundred
        // bytes in place of scanning every offer.
        let mut closed = Vec::with_capacity(head.len() + 1);
        closed.extend_from_slice(head);
        closed.push(b'}');
        let mut parsed: Fields<'_> = serde_json::from_slice(&closed).ok()?;
        if parsed.offers.is_some() {
            return None;
        }
        // The keys' text sits at the same place in `data`.
        let offer_keys = match parsed.offer_keys {
            Some(raw) => {
                let from = raw.get().as_ptr() as usize - closed.as_ptr() as usize;
                let text = data.get(from..from + raw.get().len())?;
                Some(std::str::from_utf8(text).ok()?)
            }
            None => None,
        };
        let spans = parsed.offer_spans.take()?;
        if !spans.len().is_multiple_of(2) {
            return None;
        }
        let mut list = Vec::with_capacity(spans.len() / 2);
        let mut next = 0;
        for (i, span) in spans.chunks_exact(2).enumerate() {
            if i > 0 {
                (offers.get(next) == Some(&b',')).then_some(())?;
                next += 1;
            }
            let (start, end) = (span[0], span[1]);
            let offer = (start == next).then(|| offers.get(start..end)).flatten()?;
            (offer.len() >= 2 && offer[0] == b'{' && offer[offer.len() - 1] == b'}')
                .then_some(())?;
            list.push(std::str::from_utf8(offer).ok()?);
            next = end;
        }
        (next == offers.len()).then_some(())?;
        // The fields parsed are the copy's: only owned ones are kept.
        let fields = Fields {
            offers: None,
            offer_keys: None,
            offer_spans: None,
            ..parsed
        };
        Some(fields.view(list, offer_keys))
    }
}

#[cfg(test)]
#[path = "answer_view_tests.rs"]
mod tests;
