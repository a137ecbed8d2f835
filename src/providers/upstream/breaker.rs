//! The circuit breaker of one upstream provider: after enough failed
//! searches in a row the airline is not called for a while, then one trial
//! call decides whether it is back.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// A circuit breaker: closed; open after `threshold` failures in a row,
/// refusing calls for `cooldown`; then half-open, letting one trial call
/// through whose outcome closes or reopens it.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    open_until: Option<Instant>,
    trial: bool,
}

/// The breaker's state as shown in `/api/providers`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BreakerSnapshot {
    /// `closed`, `open` or `half_open`.
    #[schema(value_type = String, pattern = "^(closed|open|half_open)$")]
    pub state: &'static str,
    /// Failed searches in a row.
    pub consecutive_failures: u32,
    /// Milliseconds until a trial call, while open.
    pub retry_in_ms: Option<u64>,
}

/// Why the breaker refused a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Open: too many failures in a row, and the cooldown runs.
    #[error("circuit open after {failures} failures in a row; next try in {retry_in_ms} ms")]
    Open {
        /// Failed searches in a row.
        failures: u32,
        /// Milliseconds until a trial call.
        retry_in_ms: u128,
    },
    /// Half-open, and the one trial call is still out.
    #[error("circuit half-open: a trial call is in flight")]
    Trial,
}

/// Records the outcome of an allowed call when it is dropped. A guard dropped
/// without [`BreakerGuard::record`] (its call was cancelled, for example by
/// the runtime's own deadline) counts as a failure: otherwise a cancelled
/// trial call would leave the breaker half-open with a trial "in flight" for
/// ever, refusing every later call.
pub struct BreakerGuard<'a> {
    breaker: &'a Breaker,
    ok: bool,
}

impl BreakerGuard<'_> {
    /// Closes the breaker on success; counts a failure otherwise.
    pub fn record(mut self, ok: bool) {
        self.ok = ok;
    }
}

impl Drop for BreakerGuard<'_> {
    fn drop(&mut self) {
        let breaker = self.breaker;
        let mut st = breaker.state.lock().expect("breaker lock");
        st.trial = false;
        if self.ok {
            st.failures = 0;
            st.open_until = None;
        } else {
            st.failures = st.failures.saturating_add(1);
            if breaker.threshold > 0 && st.failures >= breaker.threshold {
                st.open_until = Some(Instant::now() + breaker.cooldown);
            }
        }
    }
}

impl Breaker {
    /// A closed breaker; `threshold` 0 never opens.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            state: Mutex::new(BreakerState::default()),
        }
    }

    /// Whether a call may go: `Err` with the reason while open (or while a
    /// trial call is out).
    pub fn allow(&self) -> Result<BreakerGuard<'_>, Refused> {
        let mut st = self.state.lock().expect("breaker lock");
        if let Some(until) = st.open_until {
            let now = Instant::now();
            if now < until {
                return Err(Refused::Open {
                    failures: st.failures,
                    retry_in_ms: (until - now).as_millis(),
                });
            }
            if st.trial {
                return Err(Refused::Trial);
            }
            st.trial = true;
        }
        Ok(BreakerGuard {
            breaker: self,
            ok: false,
        })
    }

    /// The state now.
    pub fn snapshot(&self) -> BreakerSnapshot {
        let st = self.state.lock().expect("breaker lock");
        let now = Instant::now();
        let (state, retry_in_ms) = match st.open_until {
            None => ("closed", None),
            Some(until) if now < until => ("open", Some((until - now).as_millis() as u64)),
            Some(_) => ("half_open", None),
        };
        BreakerSnapshot {
            state,
            consecutive_failures: st.failures,
            retry_in_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(10);

    fn fail(breaker: &Breaker) {
        breaker.allow().expect("allowed").record(false);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_and_refuses_until_the_cooldown_ends() {
        let breaker = Breaker::new(3, COOLDOWN);
        fail(&breaker);
        fail(&breaker);
        assert_eq!(breaker.snapshot().state, "closed");
        assert_eq!(breaker.snapshot().consecutive_failures, 2);
        fail(&breaker);
        let open = breaker.snapshot();
        assert_eq!(open.state, "open");
        assert_eq!(open.retry_in_ms, Some(10_000));
        let refused = breaker.allow().err().expect("refused while open");
        assert_eq!(
            refused.to_string(),
            "circuit open after 3 failures in a row; next try in 10000 ms"
        );
        tokio::time::advance(COOLDOWN - Duration::from_millis(1)).await;
        assert!(breaker.allow().is_err(), "still open 1 ms before the end");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(breaker.snapshot().state, "half_open");
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_lets_one_trial_through_whose_success_closes_it() {
        let breaker = Breaker::new(1, COOLDOWN);
        fail(&breaker);
        tokio::time::advance(COOLDOWN).await;
        let trial = breaker.allow().expect("the trial call");
        let second = breaker.allow().err().expect("one trial at a time");
        assert_eq!(second, Refused::Trial);
        trial.record(true);
        let closed = breaker.snapshot();
        assert_eq!(closed.state, "closed");
        assert_eq!(closed.consecutive_failures, 0);
        assert!(breaker.allow().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_reopens_it_for_another_cooldown() {
        let breaker = Breaker::new(2, COOLDOWN);
        fail(&breaker);
        fail(&breaker);
        tokio::time::advance(COOLDOWN).await;
        fail(&breaker);
        let reopened = breaker.snapshot();
        assert_eq!(reopened.state, "open");
        assert_eq!(reopened.consecutive_failures, 3);
        assert_eq!(reopened.retry_in_ms, Some(10_000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_count_and_zero_never_opens() {
        let breaker = Breaker::new(2, COOLDOWN);
        fail(&breaker);
        breaker.allow().expect("allowed").record(true);
        fail(&breaker);
        assert_eq!(breaker.snapshot().state, "closed");
        let never = Breaker::new(0, COOLDOWN);
        for _ in 0..100 {
            fail(&never);
        }
        assert_eq!(never.snapshot().state, "closed");
        assert_eq!(never.snapshot().consecutive_failures, 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_trial_counts_as_a_failure_and_frees_the_next_trial() {
        let breaker = Breaker::new(1, COOLDOWN);
        fail(&breaker);
        tokio::time::advance(COOLDOWN).await;
        // The trial call's future is dropped before it records anything.
        drop(breaker.allow().expect("the trial call"));
        let reopened = breaker.snapshot();
        assert_eq!(reopened.state, "open", "a cancelled trial reopens it");
        assert_eq!(reopened.consecutive_failures, 2);
        tokio::time::advance(COOLDOWN).await;
        assert!(
            breaker.allow().is_ok(),
            "after the next cooldown a new trial goes, not refused for ever"
        );
    }
}
