//! Waiting for something to become true: no test sleeps for a fixed time
//! hoping it happened; it polls with a deadline and, past it, fails saying
//! what it awaited and what it saw last.

use std::time::Duration;

/// How long any wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// A wait for a condition, built by [`eventually`]: polled every 20 ms for
/// at most [`WAIT`] unless told otherwise.
#[must_use = "a wait does nothing until `until` is awaited"]
pub struct Wait {
    what: String,
    within: Duration,
    every: Duration,
}

/// Starts a wait for `what` (said in the failure message: "the new fare
/// serves", "bravo joins").
pub fn eventually(what: impl Into<String>) -> Wait {
    Wait {
        what: what.into(),
        within: WAIT,
        every: Duration::from_millis(20),
    }
}

impl Wait {
    /// Gives up after `within` instead of [`WAIT`].
    pub fn within(mut self, within: Duration) -> Self {
        self.within = within;
        self
    }

    /// Polls every `every` instead of every 20 ms.
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Calls `check` until it returns `Ok`, and returns that value. `Err`
    /// says what was seen instead; past the deadline the test fails with
    /// the last one.
    pub async fn until<T>(self, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
        let started = std::time::Instant::now();
        loop {
            let seen = match check().await {
                Ok(value) => return value,
                Err(seen) => seen,
            };
            assert!(
                started.elapsed() < self.within,
                "gave up after {:?} waiting for {}; last seen: {seen}",
                self.within,
                self.what
            );
            tokio::time::sleep(self.every).await;
        }
    }
}
