//! What the searches of a run add up to: counters, latency histograms and
//! error messages, kept in a few shards so that searches rarely wait on
//! one another, and merged into the [`Report`] at the end.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::error::LoadtestError;
use crate::report::{ErrorSample, Percentiles, Report};
use crate::sse::FinalStatus;

/// Error samples kept in the report.
const ERROR_SAMPLES: usize = 5;
/// Distinct error messages tracked per statistics shard; later new messages
/// are counted under [`OTHER_ERRORS`].
const MAX_DISTINCT_ERRORS: usize = 64;
/// The message that counts errors beyond [`MAX_DISTINCT_ERRORS`].
const OTHER_ERRORS: &str = "(other error messages, not kept)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Done {
    /// What the `complete` event said.
    pub(crate) status: FinalStatus,
    /// The `total_offers` of the `complete` event.
    pub(crate) total_offers: u64,
    /// From the start of the `POST` to the first `offers` event, if any.
    pub(crate) first_offer: Option<Duration>,
    /// From the start of the `POST` to the `complete` event.
    pub(crate) complete: Duration,
}

/// How one search ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The search reached its `complete` event.
    Done(Done),
    /// The search failed; the message says how.
    Failed(Cow<'static, str>),
}

/// Counters and histograms of some searches.
pub(crate) struct Stats {
    completed: u64,
    partial: u64,
    errors: u64,
    offers: u64,
    /// Microseconds to the first `offers` event.
    first_offer: Histogram<u64>,
    /// Microseconds to the `complete` event.
    complete: Histogram<u64>,
    error_counts: HashMap<String, u64>,
}

impl Stats {
    fn new(max_wait: Duration) -> Result<Self, hdrhistogram::CreationError> {
        // Samples never exceed the client-side limit; keep a margin anyway
        // (larger samples saturate).
        let high = micros(max_wait).saturating_add(1_000_000).max(2);
        Ok(Self {
            completed: 0,
            partial: 0,
            errors: 0,
            offers: 0,
            first_offer: Histogram::new_with_bounds(1, high, 3)?,
            complete: Histogram::new_with_bounds(1, high, 3)?,
            error_counts: HashMap::new(),
        })
    }

    fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Done(done) => {
                match done.status {
                    FinalStatus::Completed => self.completed += 1,
                    FinalStatus::Partial => self.partial += 1,
                }
                self.offers += done.total_offers;
                if let Some(first) = done.first_offer {
                    self.first_offer.saturating_record(micros(first));
                }
                self.complete.saturating_record(micros(done.complete));
            }
            Outcome::Failed(message) => self.record_error(message, 1),
        }
    }

    fn record_error(&mut self, message: Cow<'_, str>, count: u64) {
        self.errors += count;
        if let Some(n) = self.error_counts.get_mut(&*message) {
            *n += count;
        } else if self.error_counts.len() < MAX_DISTINCT_ERRORS {
            self.error_counts.insert(message.into_owned(), count);
        } else {
            *self
                .error_counts
                .entry(OTHER_ERRORS.to_owned())
                .or_default() += count;
        }
    }

    fn merge(&mut self, other: Stats) {
        self.completed += other.completed;
        self.partial += other.partial;
        self.offers += other.offers;
        // Same bounds everywhere: adding cannot fail.
        let _ = self.first_offer.add(&other.first_offer);
        let _ = self.complete.add(&other.complete);
        for (message, count) in other.error_counts {
            self.record_error(Cow::Owned(message), count);
        }
    }

    /// The report of a run of `searches` searches that took `elapsed`.
    pub(crate) fn into_report(mut self, searches: u64, elapsed: Duration) -> Report {
        let accounted = self.completed + self.partial + self.errors;
        if accounted < searches {
            // Only a panicking search task leaves a search unrecorded.
            self.record_error(
                Cow::Borrowed("search task ended abnormally"),
                searches - accounted,
            );
        }
        let mut samples: Vec<ErrorSample> = self
            .error_counts
            .into_iter()
            .map(|(message, count)| ErrorSample { message, count })
            .collect();
        samples.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.message.cmp(&b.message))
        });
        samples.truncate(ERROR_SAMPLES);
        let elapsed_secs = elapsed.as_secs_f64();
        let finished = self.completed + self.partial;
        Report {
            searches,
            completed: self.completed,
            partial: self.partial,
            errors: self.errors,
            error_samples: samples,
            elapsed_secs,
            searches_per_sec: if elapsed_secs > 0.0 {
                finished as f64 / elapsed_secs
            } else {
                0.0
            },
            offers_total: self.offers,
            time_to_first_offer: Percentiles::from_histogram(&self.first_offer),
            time_to_complete: Percentiles::from_histogram(&self.complete),
            cost: None,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Statistics in a few shards, so that searches rarely wait on one another.
pub(crate) struct ShardedStats {
    shards: Vec<Mutex<Stats>>,
}

/// Shards for `concurrency` searches in flight: a couple per CPU.
pub(crate) fn shard_count(concurrency: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(4, usize::from);
    concurrency.min(cpus * 2).max(1)
}

impl ShardedStats {
    /// `shards` empty shards whose histograms hold samples up to `max_wait`.
    pub(crate) fn new(shards: usize, max_wait: Duration) -> Result<Self, LoadtestError> {
        let shards = (0..shards.max(1))
            .map(|_| Stats::new(max_wait).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Self { shards })
    }

    /// Records a search's outcome in the shard of `key`.
    pub(crate) fn record(&self, key: usize, outcome: Outcome) {
        let shard = &self.shards[key % self.shards.len()];
        shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .record(outcome);
    }

    /// Every shard's statistics added up; the shards are left empty.
    pub(crate) fn merged(&self) -> Result<Stats, LoadtestError> {
        let mut iter = self.shards.iter().map(|shard| {
            let mut guard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let empty = Stats::new(Duration::ZERO);
            empty.map(|empty| std::mem::replace(&mut *guard, empty))
        });
        let mut total = match iter.next() {
            Some(first) => first?,
            None => Stats::new(Duration::ZERO)?,
        };
        for stats in iter {
            total.merge(stats?);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_merge_and_report() {
        let wait = Duration::from_secs(60);
        let sharded = ShardedStats::new(3, wait).expect("stats");
        for i in 0..10usize {
            let outcome = if i < 6 {
                Outcome::Done(Done {
                    status: if i == 0 {
                        FinalStatus::Partial
                    } else {
                        FinalStatus::Completed
                    },
                    total_offers: 4,
                    first_offer: (i % 2 == 0).then(|| Duration::from_millis(5)),
                    complete: Duration::from_millis(20),
                })
            } else if i < 9 {
                Outcome::Failed(Cow::Borrowed("boom"))
            } else {
                Outcome::Failed(Cow::Owned("other".to_owned()))
            };
            sharded.record(i, outcome);
        }
        let report = sharded
            .merged()
            .expect("merge")
            .into_report(11, Duration::from_secs(2));
        assert_eq!(
            (report.searches, report.completed, report.partial),
            (11, 5, 1)
        );
        assert_eq!(
            report.errors, 5,
            "one unaccounted search counts as an error"
        );
        assert_eq!(report.offers_total, 24);
        assert_eq!(report.time_to_first_offer.count, 3);
        assert_eq!(report.time_to_complete.count, 6);
        assert!((report.searches_per_sec - 3.0).abs() < 1e-9);
        assert_eq!(
            report.error_samples[0],
            ErrorSample {
                message: "boom".to_owned(),
                count: 3
            }
        );
        assert_eq!(report.error_samples.len(), 3);
    }

    #[test]
    fn distinct_error_messages_are_bounded() {
        let mut stats = Stats::new(Duration::from_secs(1)).expect("stats");
        for i in 0..(MAX_DISTINCT_ERRORS + 10) {
            stats.record(Outcome::Failed(Cow::Owned(format!("e{i}"))));
        }
        assert_eq!(stats.error_counts.len(), MAX_DISTINCT_ERRORS + 1);
        assert_eq!(stats.error_counts[OTHER_ERRORS], 10);
        assert_eq!(stats.errors, MAX_DISTINCT_ERRORS as u64 + 10);
    }
}
