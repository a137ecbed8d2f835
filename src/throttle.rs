//! Logging a repeated failure without flooding the log: while Redis is
//! away, every search meets the same failure (a rate limit that cannot be
//! checked, a cache that cannot be read), thousands of times a second. A
//! [`Throttle`] lets one line through per period and counts the ones it
//! held back, which the next line reports.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// One line per `period`, and how many were held back since.
#[derive(Debug)]
pub struct Throttle {
    period: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    /// A throttle of one line per `period`.
    pub const fn new(period: Duration) -> Self {
        Throttle {
            period,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(held back since the last line)` when a line may be logged now,
    /// else `None` (and this one is counted as held back).
    pub fn allow(&self) -> Option<u64> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, held) = &mut *state;
        if last.is_some_and(|at| now.duration_since(at) < self.period) {
            *held += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_period_with_the_count_of_those_held_back() {
        let throttle = Throttle::new(Duration::from_secs(10));
        assert_eq!(throttle.allow(), Some(0));
        for _ in 0..999 {
            assert_eq!(throttle.allow(), None);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(throttle.allow(), Some(999));
        assert_eq!(throttle.allow(), None);
    }
}
