//! Rate limits (SPEC section 11): a GCRA (generic cell rate algorithm, the
//! token bucket written as one timestamp per client). A client may make
//! `burst` searches at once, then one per `1/per_second`; the answer to one
//! over the limit says when the next is allowed. Embedded, the buckets are
//! in this process; on Redis they are in Redis, one key per client, checked
//! and moved by one script in one round trip, so every api process shares
//! one budget (`lua/gcra.lua`, on Redis's own clock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::bus::redis_conn::RedisConn;

/// Most clients tracked at once; beyond it, clients whose bucket is full
/// again are forgotten, and if none is, a new client is let through
/// untracked (logged) rather than refused.
const MAX_CLIENTS: usize = 100_000;

/// A rate: `per_second` searches on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Searches per second, on average.
    pub per_second: f64,
    /// Searches allowed at once.
    pub burst: u32,
}

impl Rate {
    /// Time between two searches at the average rate.
    fn interval(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_second.max(1e-6))
    }

    /// The window over which `burst` searches are allowed, in whole
    /// seconds (for the `RateLimit-Policy` header).
    pub fn window_secs(self) -> u64 {
        (f64::from(self.burst) / self.per_second.max(1e-6))
            .ceil()
            .max(1.0) as u64
    }
}

/// What a limiter decided for one search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// Allowed; `remaining` more may follow at once, and the bucket is
    /// full again after `reset`.
    Allowed {
        /// Searches that may follow at once.
        remaining: u32,
        /// Until the bucket is full again.
        reset: Duration,
    },
    /// Over the limit: the next search is allowed after `retry_after`.
    Limited {
        /// Until the next search is allowed.
        retry_after: Duration,
    },
}

/// Where the buckets are.
#[derive(Debug)]
pub enum Limiter {
    /// In this process.
    Local(Local),
    /// In Redis, shared by every api process.
    Shared(Arc<RedisConn>, redis::Script),
}

impl Limiter {
    /// Buckets in Redis when `redis` is given, else in this process.
    pub fn new(redis: Option<Arc<RedisConn>>) -> Limiter {
        match redis {
            Some(conn) => Limiter::Shared(conn, redis::Script::new(include_str!("lua/gcra.lua"))),
            None => Limiter::Local(Local::default()),
        }
    }

    /// Decides one search of `client` at `rate`. When Redis cannot answer,
    /// the search is let through (and logged): the limit guards cost, and
    /// a search cannot be published without Redis anyway.
    pub async fn check(&self, client: &str, rate: Rate) -> Decision {
        match self {
            Limiter::Local(local) => local.check(client, rate, Instant::now()),
            Limiter::Shared(conn, script) => {
                let interval_us = rate.interval().as_micros().max(1) as u64;
                let answer: Result<(i64, i64, i64), _> = script
                    .key(conn.key(&format!("rate:{client}")))
                    .arg(interval_us)
                    .arg(rate.burst.max(1))
                    .invoke_async(&mut conn.short())
                    .await;
                match answer {
                    Ok((1, remaining, reset_us)) => Decision::Allowed {
                        remaining: remaining.max(0) as u32,
                        reset: Duration::from_micros(reset_us.max(0) as u64),
                    },
                    Ok((_, wait_us, _)) => Decision::Limited {
                        retry_after: Duration::from_micros(wait_us.max(0) as u64),
                    },
                    Err(e) => {
                        static LOG: crate::throttle::Throttle =
                            crate::throttle::Throttle::new(Duration::from_secs(10));
                        if let Some(held_back) = LOG.allow() {
                            tracing::warn!(error = %e, held_back, "the rate limit could not be checked in Redis; searches go through (one line per 10 s)");
                        }
                        Decision::Allowed {
                            remaining: 0,
                            reset: Duration::ZERO,
                        }
                    }
                }
            }
        }
    }
}

/// The buckets of one process, by client.
#[derive(Debug, Default)]
pub struct Local {
    /// Each client's theoretical arrival time: when its bucket is full.
    tat: Mutex<HashMap<String, Instant>>,
}

impl Local {
    /// Decides one search of `client` at `rate`, at `now`.
    pub fn check(&self, client: &str, rate: Rate, now: Instant) -> Decision {
        let interval = rate.interval();
        let tolerance = interval.saturating_mul(rate.burst.max(1));
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        if tat.len() >= MAX_CLIENTS && !tat.contains_key(client) {
            tat.retain(|_, t| *t > now);
            if tat.len() >= MAX_CLIENTS {
                tracing::warn!(
                    clients = tat.len(),
                    "rate limiter full: a new client goes untracked"
                );
                return Decision::Allowed {
                    remaining: rate.burst.saturating_sub(1),
                    reset: interval,
                };
            }
        }
        let start = tat.get(client).copied().filter(|t| *t > now).unwrap_or(now);
        let next = start + interval;
        let ahead = next - now;
        if ahead > tolerance {
            return Decision::Limited {
                retry_after: ahead - tolerance,
            };
        }
        tat.insert(client.to_string(), next);
        let left = tolerance - ahead;
        Decision::Allowed {
            remaining: (left.as_secs_f64() / interval.as_secs_f64()).floor() as u32,
            reset: ahead,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_average_rate() {
        let limiter = Local::default();
        let rate = Rate {
            per_second: 2.0,
            burst: 3,
        };
        let t0 = Instant::now();
        let allowed = |d: Decision| matches!(d, Decision::Allowed { .. });
        for n in 0..3 {
            let d = limiter.check("a", rate, t0);
            assert!(allowed(d), "search {n} of the burst: {d:?}");
        }
        match limiter.check("a", rate, t0) {
            Decision::Limited { retry_after } => {
                assert_eq!(retry_after, Duration::from_millis(500))
            }
            other => panic!("the fourth at once is limited: {other:?}"),
        }
        // Another client has its own bucket.
        assert!(allowed(limiter.check("b", rate, t0)));
        // Half a second later, one more.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(
            limiter.check("a", rate, t1),
            Decision::Allowed {
                remaining: 0,
                reset: Duration::from_millis(1_500)
            }
        );
        assert!(!allowed(limiter.check("a", rate, t1)));
        // After the whole window, the full burst again.
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(
            limiter.check("a", rate, t2),
            Decision::Allowed {
                remaining: 2,
                reset: Duration::from_millis(500)
            }
        );
        assert_eq!(rate.window_secs(), 2);
    }
}
