//! The outcome of a load test: its figures, the table `airstream loadtest`
//! prints, and (through `serde`) the `--json` document.

use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The outcome of a load test.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Searches attempted (`--searches`): `completed + partial + errors`.
    pub searches: u64,
    /// Searches whose `complete` event said `completed`.
    pub completed: u64,
    /// Searches whose `complete` event said `partial`.
    pub partial: u64,
    /// Failed searches: a `POST` answered other than `202`, a stream answered
    /// other than `200`, transport errors, a stream that ended without a
    /// `complete` event, a client timeout, or (open loop) a search dropped at
    /// the concurrency cap.
    pub errors: u64,
    /// The most frequent error messages (up to 5), most frequent first.
    pub error_samples: Vec<ErrorSample>,
    /// Wall-clock time of the run, in seconds (the preflight excluded).
    pub elapsed_secs: f64,
    /// Searches that reached `complete` (completed or partial) per second of
    /// wall-clock time.
    pub searches_per_sec: f64,
    /// Sum of `total_offers` over the `complete` events.
    pub offers_total: u64,
    /// From the start of the `POST` to the first `offers` event, over the
    /// searches that had one.
    pub time_to_first_offer: Percentiles,
    /// From the start of the `POST` to the `complete` event.
    pub time_to_complete: Percentiles,
    /// What the run cost the server's airlines, from its `/metrics` (absent
    /// when it serves none).
    pub cost: Option<crate::cost::Cost>,
}

/// One distinct error message and how many searches failed with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorSample {
    /// The error message.
    pub message: String,
    /// Searches that failed with this message.
    pub count: u64,
}

/// Latency percentiles in milliseconds (microsecond resolution).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// Percentiles of a histogram of microseconds; all zero when it is empty.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "airstream load test")?;
        writeln!(
            f,
            "  searches      {:>10}   completed {}, partial {}, errors {}",
            self.searches, self.completed, self.partial, self.errors
        )?;
        writeln!(f, "  elapsed       {:>10.3} s", self.elapsed_secs)?;
        writeln!(
            f,
            "  throughput    {:>10.1} searches/s",
            self.searches_per_sec
        )?;
        writeln!(f, "  offers        {:>10}", self.offers_total)?;
        writeln!(f)?;
        writeln!(
            f,
            "  {:<14}{:>10} {:>11} {:>11} {:>11} {:>11}",
            "latency (ms)", "count", "p50", "p90", "p99", "max"
        )?;
        for (name, p) in [
            ("first offer", &self.time_to_first_offer),
            ("complete", &self.time_to_complete),
        ] {
            writeln!(
                f,
                "  {:<14}{:>10} {:>11.3} {:>11.3} {:>11.3} {:>11.3}",
                name, p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
            )?;
        }
        if let Some(cost) = &self.cost {
            writeln!(f)?;
            writeln!(
                f,
                "  airline calls {:>10}   {:.2} per search; cache hits {}, misses {}, coalesced {}",
                cost.upstream_calls,
                cost.upstream_calls_per_search,
                cost.cache_hits,
                cost.cache_misses,
                cost.coalesced
            )?;
        }
        if !self.error_samples.is_empty() {
            writeln!(f)?;
            writeln!(f, "  errors (most frequent first)")?;
            for sample in &self.error_samples {
                writeln!(f, "  {:>10}  {}", sample.count, sample.message)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram_in_milliseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram");
        for us in 1..=1000u64 {
            h.record(us * 1000).expect("in range"); // 1 ms .. 1000 ms
        }
        let p = Percentiles::from_histogram(&h);
        assert_eq!(p.count, 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(p.p50_ms, 500.0), "{p:?}");
        assert!(close(p.p90_ms, 900.0), "{p:?}");
        assert!(close(p.p99_ms, 990.0), "{p:?}");
        assert!(close(p.max_ms, 1000.0), "{p:?}");

        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram");
        h.record(1234).expect("in range");
        let p = Percentiles::from_histogram(&h);
        assert_eq!((p.count, p.p50_ms, p.max_ms), (1, 1.234, 1.234));

        let empty = Histogram::<u64>::new_with_bounds(1, 10, 3).expect("histogram");
        assert_eq!(Percentiles::from_histogram(&empty), Percentiles::default());
    }

    #[test]
    fn display_shows_the_figures() {
        let report = Report {
            searches: 1000,
            completed: 990,
            partial: 7,
            errors: 3,
            error_samples: vec![ErrorSample {
                message: "POST /api/flights/search: HTTP 503 Service Unavailable: broker down"
                    .to_owned(),
                count: 3,
            }],
            elapsed_secs: 2.5,
            searches_per_sec: 398.8,
            offers_total: 12_345,
            time_to_first_offer: Percentiles {
                count: 990,
                p50_ms: 12.345,
                p90_ms: 23.456,
                p99_ms: 34.567,
                max_ms: 45.678,
            },
            time_to_complete: Percentiles {
                count: 997,
                p50_ms: 101.5,
                p90_ms: 202.25,
                p99_ms: 303.125,
                max_ms: 404.0,
            },
            cost: Some(crate::cost::Cost {
                upstream_calls: 1_400,
                upstream_calls_per_search: 1.404,
                cache_hits: 300,
                cache_misses: 700,
                coalesced: 25,
            }),
        };
        let text = report.to_string();
        for needle in [
            "1000",
            "990",
            "partial 7",
            "errors 3",
            "2.500 s",
            "1.40 per search; cache hits 300, misses 700, coalesced 25",
            "398.8 searches/s",
            "12345",
            "12.345",
            "23.456",
            "34.567",
            "45.678",
            "997",
            "101.500",
            "202.250",
            "303.125",
            "404.000",
            "HTTP 503 Service Unavailable: broker down",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["time_to_first_offer"]["p50_ms"], 12.345);
        assert_eq!(json["error_samples"][0]["count"], 3);
    }
}
