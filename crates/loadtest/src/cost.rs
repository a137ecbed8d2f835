//! What the run cost the server's airlines, read from its `/metrics`
//! before and after the run: upstream airline calls (every leg, retry and
//! airline), answers read from the cache, and answers shared with another
//! search's call in flight. A server without metrics gives none.

use serde::Serialize;

/// The counters read, summed over their labels.
const COUNTERS: [&str; 4] = [
    "airstream_upstream_calls_total",
    "airstream_cache_hits_total",
    "airstream_cache_misses_total",
    "airstream_coalesced_total",
];

/// The server's airline counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Counters([f64; 4]);

impl Counters {
    /// Reads them from Prometheus text.
    pub(crate) fn parse(text: &str) -> Self {
        let mut sums = [0.0; 4];
        for line in text.lines() {
            for (sum, name) in sums.iter_mut().zip(COUNTERS) {
                let Some(rest) = line.strip_prefix(name) else {
                    continue;
                };
                if !(rest.starts_with('{') || rest.starts_with(' ')) {
                    continue;
                }
                if let Some(value) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
                    *sum += value;
                }
            }
        }
        Counters(sums)
    }
}

/// What the searches of a run cost the server's airlines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cost {
    /// Calls to upstream airline APIs during the run.
    pub upstream_calls: u64,
    /// Those calls per search that reached `complete`.
    pub upstream_calls_per_search: f64,
    /// Airline answers read from the cache.
    pub cache_hits: u64,
    /// Cache lookups that found nothing fresh.
    pub cache_misses: u64,
    /// Airline answers shared with another search's call in flight.
    pub coalesced: u64,
}

impl Cost {
    /// The difference between two readings, over `searches` searches.
    pub(crate) fn between(before: Counters, after: Counters, searches: u64) -> Self {
        let d = |k: usize| (after.0[k] - before.0[k]).max(0.0).round() as u64;
        Cost {
            upstream_calls: d(0),
            upstream_calls_per_search: d(0) as f64 / searches.max(1) as f64,
            cache_hits: d(1),
            cache_misses: d(2),
            coalesced: d(3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_over_labels_and_differenced() {
        let before = Counters::parse(
            "# TYPE airstream_upstream_calls_total counter\nairstream_upstream_calls_total{provider=\"a\",status=\"200\"} 3\nairstream_upstream_calls_total{provider=\"b\",status=\"200\"} 2\nairstream_upstream_calls_total_other 9\n",
        );
        let after = Counters::parse(
            "airstream_upstream_calls_total{provider=\"a\",status=\"200\"} 10\nairstream_upstream_calls_total{provider=\"b\",status=\"200\"} 5\nairstream_cache_hits_total{provider=\"a\"} 4\nairstream_coalesced_total{provider=\"a\"} 1\n",
        );
        let cost = Cost::between(before, after, 5);
        assert_eq!(cost.upstream_calls, 10);
        assert_eq!(cost.upstream_calls_per_search, 2.0);
        assert_eq!(
            (cost.cache_hits, cost.cache_misses, cost.coalesced),
            (4, 0, 1)
        );
    }
}
