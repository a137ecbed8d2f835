//! How long an upstream airline's answers are kept: tiers by days to
//! departure, from its file's `upstream.cache` or the defaults. A fare
//! months away changes less often than one for tomorrow, so answers for
//! near departures are kept for minutes and far ones for hours.

use std::time::Duration;

use serde_saphyr::Spanned;

use crate::providers::definition::CacheSpec;
use crate::providers::problems::Problems;

/// The longest an answer may be kept.
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Tiers at most.
const MAX_TIERS: usize = 16;

/// One tier: departures within `days` days (any later one when `None`)
/// are kept for `ttl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    /// Departures at most this many days ahead.
    pub days: Option<u32>,
    /// How long their answers are kept.
    pub ttl: Duration,
}

/// An airline's cache tiers, nearest departures first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    tiers: Vec<Tier>,
}

impl Default for CachePolicy {
    /// 15 minutes for departures within a week, an hour within 30 days, 4
    /// hours beyond.
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        CachePolicy {
            tiers: vec![
                Tier {
                    days: Some(7),
                    ttl: minutes(15),
                },
                Tier {
                    days: Some(30),
                    ttl: minutes(60),
                },
                Tier {
                    days: None,
                    ttl: minutes(240),
                },
            ],
        }
    }
}

impl CachePolicy {
    /// Tiers as given; callers check them (see [`CachePolicy::from_spec`]).
    pub fn new(tiers: Vec<Tier>) -> Self {
        CachePolicy { tiers }
    }

    /// How long an answer for a departure `days` ahead is kept; zero (not
    /// kept) beyond the last tier when every tier has `days`.
    pub fn ttl(&self, days: i64) -> Duration {
        self.tiers
            .iter()
            .find(|t| t.days.is_none_or(|d| days <= i64::from(d)))
            .map_or(Duration::ZERO, |t| t.ttl)
    }

    /// The tiers, nearest departures first.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// The policy a file's `cache:` gives: `Some(None)` when it turns the
    /// cache off, `None` when it is wrong (the problems say why).
    pub fn from_spec(
        spec: Option<&Spanned<CacheSpec>>,
        problems: &mut Problems,
    ) -> Option<Option<CachePolicy>> {
        let Some(spec) = spec else {
            return Some(Some(CachePolicy::default()));
        };
        let before = problems.len();
        let Some(written) = &spec.value.tiers else {
            return Some(
                spec.value
                    .enabled
                    .unwrap_or(true)
                    .then(CachePolicy::default),
            );
        };
        if written.value.is_empty() {
            problems.at(
                written,
                "cache.tiers is empty; leave it out for the default tiers, or set `enabled: false`",
            );
        }
        if written.value.len() > MAX_TIERS {
            problems.at(
                written,
                format!(
                    "cache.tiers has {} tiers; at most {MAX_TIERS}",
                    written.value.len()
                ),
            );
        }
        let mut tiers = Vec::with_capacity(written.value.len());
        for (n, tier) in written.value.iter().enumerate() {
            let ttl = tier.value.ttl.value.get();
            if ttl.is_zero() || ttl > MAX_TTL {
                problems.at(
                    &tier.value.ttl,
                    "a cache tier's ttl must be more than zero and at most 7d",
                );
            }
            let days = tier.value.days.as_ref().map(|d| d.value);
            match (tiers.last(), days) {
                (Some(Tier { days: None, .. }), _) => problems.at(
                    tier,
                    "a tier without `days` holds every later departure, so it must be the last",
                ),
                (Some(Tier { days: Some(prev), .. }), Some(d)) if d <= *prev => problems.at(
                    tier.value.days.as_ref().unwrap_or_else(|| unreachable!()),
                    format!(
                        "tier {} has `days: {d}`, not more than the tier before ({prev}); list tiers nearest departures first",
                        n + 1
                    ),
                ),
                _ => {}
            }
            tiers.push(Tier { days, ttl });
        }
        if problems.len() > before {
            return None;
        }
        Some(
            spec.value
                .enabled
                .unwrap_or(true)
                .then(|| CachePolicy::new(tiers)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_tier_that_holds_the_departure_decides() {
        let policy = CachePolicy::default();
        assert_eq!(policy.ttl(-1), Duration::from_secs(900));
        assert_eq!(policy.ttl(0), Duration::from_secs(900));
        assert_eq!(policy.ttl(7), Duration::from_secs(900));
        assert_eq!(policy.ttl(8), Duration::from_secs(3600));
        assert_eq!(policy.ttl(30), Duration::from_secs(3600));
        assert_eq!(policy.ttl(31), Duration::from_secs(14_400));
        assert_eq!(policy.ttl(400), Duration::from_secs(14_400));
        let near_only = CachePolicy::new(vec![Tier {
            days: Some(3),
            ttl: Duration::from_secs(60),
        }]);
        assert_eq!(near_only.ttl(3), Duration::from_secs(60));
        assert_eq!(
            near_only.ttl(4),
            Duration::ZERO,
            "beyond the last tier: not kept"
        );
    }
}
