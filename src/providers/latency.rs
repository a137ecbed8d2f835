//! Latency and failure profiles: how long an airline takes and how often it
//! fails. Mock airlines sleep for a sampled delay; HTTP airlines add it on
//! top of the real call.

use std::time::Duration;

use rand::{Rng, RngExt};
use rand_distr::{Distribution as _, LogNormal, Normal};
use serde_saphyr::Spanned;

use super::definition::LatencySpec;
use super::problems::Problems;

/// The 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874_040_840_8;

/// A delay distribution.
#[derive(Clone, Debug, PartialEq)]
pub enum Distribution {
    /// Always the same delay.
    Fixed(Duration),
    /// Uniform between two bounds.
    Uniform {
        /// Shortest.
        min: Duration,
        /// Longest.
        max: Duration,
    },
    /// Normal, clamped at zero.
    Normal {
        /// Mean, in seconds.
        mean: f64,
        /// Standard deviation, in seconds.
        stddev: f64,
    },
    /// Log-normal with the given median and 99th percentile.
    LogNormal {
        /// `ln` of the median in seconds.
        mu: f64,
        /// Shape.
        sigma: f64,
    },
    /// Piecewise-linear inverse CDF through `(quantile, seconds)` points,
    /// sorted, from quantile 0 to quantile 1.
    Percentiles(Vec<(f64, f64)>),
}

impl Distribution {
    /// Draws one delay.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let seconds = match self {
            Distribution::Fixed(d) => return *d,
            Distribution::Uniform { min, max } => {
                if min == max {
                    return *min;
                }
                rng.random_range(min.as_secs_f64()..max.as_secs_f64())
            }
            Distribution::Normal { mean, stddev } => Normal::new(*mean, *stddev)
                .map(|n| n.sample(rng))
                .unwrap_or(*mean),
            Distribution::LogNormal { mu, sigma } => LogNormal::new(*mu, *sigma)
                .map(|n| n.sample(rng))
                .unwrap_or_else(|_| mu.exp()),
            Distribution::Percentiles(points) => {
                let u: f64 = rng.random();
                interpolate(points, u)
            }
        };
        Duration::from_secs_f64(seconds.max(0.0))
    }

    /// The delay at quantile `q` (0..=1), for documentation and tests.
    pub fn quantile(&self, q: f64) -> Duration {
        let seconds = match self {
            Distribution::Fixed(d) => return *d,
            Distribution::Uniform { min, max } => {
                min.as_secs_f64() + (max.as_secs_f64() - min.as_secs_f64()) * q
            }
            Distribution::Normal { mean, stddev } => mean + stddev * probit(q),
            Distribution::LogNormal { mu, sigma } => (mu + sigma * probit(q)).exp(),
            Distribution::Percentiles(points) => interpolate(points, q),
        };
        Duration::from_secs_f64(seconds.max(0.0))
    }
}

/// Linear interpolation through sorted `(quantile, value)` points.
fn interpolate(points: &[(f64, f64)], u: f64) -> f64 {
    match points.iter().position(|&(q, _)| q >= u) {
        Some(0) => points[0].1,
        Some(i) => {
            let (q0, v0) = points[i - 1];
            let (q1, v1) = points[i];
            if q1 <= q0 {
                v1
            } else {
                v0 + (v1 - v0) * (u - q0) / (q1 - q0)
            }
        }
        None => points.last().map(|p| p.1).unwrap_or(0.0),
    }
}

/// Inverse of the standard normal CDF (Acklam's rational approximation,
/// relative error below 1.2e-9), used to state the quantiles of the normal
/// and log-normal profiles.
fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -probit(1.0 - p)
    }
}

/// What happens to one airline call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The airline answers after the sampled delay.
    Answer,
    /// The airline answers with an error after the sampled delay.
    Fail,
    /// The airline never answers; the call times out.
    Hang,
}

/// A delay distribution with error and timeout rates.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyProfile {
    /// Delay before the answer.
    pub distribution: Distribution,
    /// Probability of an error answer.
    pub error_rate: f64,
    /// Probability of no answer at all.
    pub timeout_rate: f64,
}

impl Default for LatencyProfile {
    /// No delay, no failures.
    fn default() -> Self {
        Self {
            distribution: Distribution::Fixed(Duration::ZERO),
            error_rate: 0.0,
            timeout_rate: 0.0,
        }
    }
}

impl LatencyProfile {
    /// Draws the fate of one call: hang with `timeout_rate`, fail with
    /// `error_rate`, else answer.
    pub fn fate<R: Rng + ?Sized>(&self, rng: &mut R) -> Fate {
        let u: f64 = rng.random();
        if u < self.timeout_rate {
            Fate::Hang
        } else if u < self.timeout_rate + self.error_rate {
            Fate::Fail
        } else {
            Fate::Answer
        }
    }

    /// Builds a profile from its YAML, recording every problem.
    pub fn from_spec(spec: &Spanned<LatencySpec>, problems: &mut Problems) -> Option<Self> {
        let s = &spec.value;
        let mut chosen: Vec<(&str, Option<Distribution>)> = Vec::new();
        if let Some(d) = &s.fixed {
            chosen.push(("fixed", Some(Distribution::Fixed(d.value.get()))));
        }
        if let Some(u) = &s.uniform {
            let (min, max) = (u.value.min.get(), u.value.max.get());
            let ok = min <= max;
            if !ok {
                problems.at(
                    u,
                    format!(
                        "uniform `min` ({}) is above `max` ({})",
                        u.value.min, u.value.max
                    ),
                );
            }
            chosen.push(("uniform", ok.then_some(Distribution::Uniform { min, max })));
        }
        if let Some(n) = &s.normal {
            chosen.push((
                "normal",
                Some(Distribution::Normal {
                    mean: n.value.mean.get().as_secs_f64(),
                    stddev: n.value.stddev.get().as_secs_f64(),
                }),
            ));
        }
        if let Some(l) = &s.lognormal {
            let (p50, p99) = (
                l.value.p50.get().as_secs_f64(),
                l.value.p99.get().as_secs_f64(),
            );
            let ok = p50 > 0.0 && p99 > p50;
            if !ok {
                problems.at(
                    l,
                    format!(
                        "lognormal needs 0 < p50 < p99, got p50 {} and p99 {}",
                        l.value.p50, l.value.p99
                    ),
                );
            }
            chosen.push((
                "lognormal",
                ok.then(|| Distribution::LogNormal {
                    mu: p50.ln(),
                    sigma: (p99.ln() - p50.ln()) / Z99,
                }),
            ));
        }
        if let Some(table) = &s.percentiles {
            chosen.push(("percentiles", percentile_points(table, problems)));
        }
        if chosen.len() > 1 {
            let names: Vec<&str> = chosen.iter().map(|(n, _)| *n).collect();
            problems.at(
                spec,
                format!(
                    "latency has more than one distribution ({}); keep exactly one",
                    names.join(", ")
                ),
            );
        }
        let mut profile = LatencyProfile::default();
        let mut valid = true;
        match chosen.pop() {
            Some((_, Some(d))) => profile.distribution = d,
            Some((_, None)) => valid = false,
            None => {}
        }
        if let Some(errors) = &s.errors {
            let mut rate = |field: &Option<Spanned<f64>>, name: &str| -> f64 {
                match field {
                    Some(r) if !(0.0..=1.0).contains(&r.value) || r.value.is_nan() => {
                        problems.at(
                            r,
                            format!("`{name}` must be between 0 and 1, got {}", r.value),
                        );
                        0.0
                    }
                    Some(r) => r.value,
                    None => 0.0,
                }
            };
            profile.error_rate = rate(&errors.value.rate, "rate");
            profile.timeout_rate = rate(&errors.value.timeout_rate, "timeout_rate");
            if profile.error_rate + profile.timeout_rate > 1.0 {
                problems.at(errors, "`rate` and `timeout_rate` add up to more than 1");
            }
        }
        valid.then_some(profile)
    }
}

/// Reads a percentile table: keys `p0`..`p100` (decimals allowed, as in
/// `p99.9`), values durations that must not decrease.
fn percentile_points(
    table: &Spanned<std::collections::BTreeMap<String, Spanned<crate::duration::HumanDuration>>>,
    problems: &mut Problems,
) -> Option<Distribution> {
    let mut points = Vec::new();
    let mut ok = true;
    for (key, value) in &table.value {
        let q = key
            .strip_prefix('p')
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|q| (0.0..=100.0).contains(q));
        match q {
            Some(q) => points.push((q / 100.0, value.value.get().as_secs_f64())),
            None => {
                problems.at(
                    value,
                    format!("`{key}` is not a percentile; write keys like p50, p90, p99 or p99.9"),
                );
                ok = false;
            }
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    if points.is_empty() && ok {
        problems.at(
            table,
            "percentiles needs at least one point such as `p50: 100ms`",
        );
        return None;
    }
    for pair in points.windows(2) {
        if pair[1].1 < pair[0].1 {
            problems.at(
                table,
                format!(
                    "percentile delays must not decrease: p{} is below p{}",
                    pair[1].0 * 100.0,
                    pair[0].0 * 100.0
                ),
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    if points.first().is_some_and(|p| p.0 > 0.0) {
        points.insert(0, (0.0, 0.0f64.min(points[0].1)));
    }
    if points.last().is_some_and(|p| p.0 < 1.0) {
        let last = points[points.len() - 1].1;
        points.push((1.0, last));
    }
    Some(Distribution::Percentiles(points))
}

#[cfg(test)]
mod tests {
    //! Each distribution is sampled many times with a fixed seed (no clock
    //! involved) and its empirical percentiles compared with the stated ones.
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    const DRAWS: usize = 20_000;

    fn empirical(d: &Distribution, q: f64) -> f64 {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut xs: Vec<f64> = (0..DRAWS)
            .map(|_| d.sample(&mut rng).as_secs_f64())
            .collect();
        xs.sort_by(f64::total_cmp);
        xs[((DRAWS as f64 * q) as usize).min(DRAWS - 1)]
    }

    /// Relative tolerance: 5% around the median, 10% in the tail where
    /// 20,000 draws leave fewer samples.
    fn assert_close(d: &Distribution, q: f64, expected_s: f64) {
        let got = empirical(d, q);
        let tol = if q >= 0.95 { 0.10 } else { 0.05 };
        let rel = (got - expected_s).abs() / expected_s;
        assert!(
            rel <= tol,
            "{d:?} q{q}: got {got}s, expected {expected_s}s (±{tol})"
        );
    }

    fn parse(yaml: &str) -> (Option<LatencyProfile>, Problems) {
        let spec: Spanned<LatencySpec> = serde_saphyr::from_str(yaml).expect("yaml");
        let mut problems = Problems::default();
        (LatencyProfile::from_spec(&spec, &mut problems), problems)
    }

    fn profile(yaml: &str) -> LatencyProfile {
        let (p, problems) = parse(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        p.expect("profile")
    }

    #[test]
    fn fixed_is_exact() {
        let p = profile("fixed: 50ms");
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..100 {
            assert_eq!(p.distribution.sample(&mut rng), Duration::from_millis(50));
        }
    }

    #[test]
    fn uniform_spans_its_bounds() {
        let p = profile("uniform: { min: 100ms, max: 300ms }");
        assert_close(&p.distribution, 0.5, 0.200);
        assert_close(&p.distribution, 0.1, 0.120);
        assert_close(&p.distribution, 0.99, 0.298);
        let mut rng = SmallRng::seed_from_u64(3);
        for _ in 0..DRAWS {
            let d = p.distribution.sample(&mut rng);
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(300));
        }
    }

    #[test]
    fn normal_matches_mean_and_spread() {
        let p = profile("normal: { mean: 200ms, stddev: 30ms }");
        assert_close(&p.distribution, 0.5, 0.200);
        // The 84th percentile sits one standard deviation above the mean.
        assert_close(&p.distribution, 0.8413, 0.230);
        assert_close(&p.distribution, 0.99, 0.200 + 0.030 * Z99);
    }

    #[test]
    fn lognormal_hits_its_p50_and_p99() {
        let p = profile("lognormal: { p50: 120ms, p99: 900ms }");
        assert_close(&p.distribution, 0.5, 0.120);
        assert_close(&p.distribution, 0.99, 0.900);
        let q = p.distribution.quantile(0.99).as_secs_f64();
        assert!((q - 0.9).abs() < 1e-6, "analytic p99 {q}");
    }

    #[test]
    fn percentile_table_is_followed() {
        let p = profile("percentiles: { p50: 100ms, p90: 300ms, p99: 1s }");
        assert_close(&p.distribution, 0.5, 0.100);
        assert_close(&p.distribution, 0.9, 0.300);
        assert_close(&p.distribution, 0.99, 1.0);
        assert_close(&p.distribution, 0.7, 0.200);
    }

    #[test]
    fn error_and_timeout_rates_hold() {
        let p = profile("fixed: 0ms\nerrors: { rate: 0.05, timeout_rate: 0.02 }");
        let mut rng = SmallRng::seed_from_u64(11);
        let n = 100_000;
        let (mut fails, mut hangs) = (0usize, 0usize);
        for _ in 0..n {
            match p.fate(&mut rng) {
                Fate::Fail => fails += 1,
                Fate::Hang => hangs += 1,
                Fate::Answer => {}
            }
        }
        // Binomial standard deviation at n=100,000 is under 0.07 points; allow
        // half a point.
        let (fr, hr) = (fails as f64 / n as f64, hangs as f64 / n as f64);
        assert!((fr - 0.05).abs() < 0.005, "error rate {fr}");
        assert!((hr - 0.02).abs() < 0.005, "timeout rate {hr}");
    }

    #[test]
    fn no_latency_means_no_delay_and_no_failures() {
        let p = profile("{}");
        assert_eq!(p, LatencyProfile::default());
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let (p, problems) = parse(
            "fixed: 10ms\nlognormal: { p50: 900ms, p99: 100ms }\nerrors: { rate: 1.5, timeout_rate: -0.1 }\n",
        );
        assert!(p.is_none());
        let text = problems.to_string();
        assert!(text.contains("more than one distribution"), "{text}");
        assert!(text.contains("0 < p50 < p99"), "{text}");
        assert!(text.contains("`rate` must be between 0 and 1"), "{text}");
        assert!(
            text.contains("`timeout_rate` must be between 0 and 1"),
            "{text}"
        );
        let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
        assert!(lines.contains(&2) && lines.contains(&3), "{lines:?}");
    }

    #[test]
    fn bad_percentile_keys_and_orders_are_reported() {
        let (_, problems) = parse("percentiles: { median: 1s, p90: 100ms, p99: 50ms }");
        let text = problems.to_string();
        assert!(text.contains("`median` is not a percentile"), "{text}");
        assert!(text.contains("must not decrease"), "{text}");
    }
}
