//! The shape of a provider file (`providers.d/<airline>.yaml`) as written by a
//! platform engineer. These types only mirror the YAML; [`super::load`] checks
//! them and builds the validated [`super::ProviderDef`].
//!
//! Fields that need a check beyond their type carry their position
//! ([`Spanned`]) so a problem can be reported at its line and column.
//! The two modes, `mock` and `upstream`, are two `Option`s here and become
//! one [`super::mode::ProviderMode`] after validation (its module says why).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::duration::{HumanDuration, WrittenDuration};

/// One airline, one file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
    /// Provider id, `[a-z0-9-]+`, unique across files. Defaults to the file
    /// name without its extension.
    pub id: Option<Spanned<String>>,
    /// Airline name shown on offers, such as `Garuda Indonesia`.
    pub name: Spanned<String>,
    /// IATA airline code (two letters or digits), such as `GA`.
    pub airline: Spanned<String>,
    /// Whether the airline takes part in searches. Default `true`.
    pub enabled: Option<bool>,
    /// This airline's time budget within a search (default `3s`). The search
    /// deadline still wins when it is sooner.
    pub timeout: Option<Spanned<HumanDuration>>,
    /// Searches in flight for this airline at most (default 64). Further
    /// searches wait in the stream until a slot frees.
    pub concurrency: Option<Spanned<u32>>,
    /// Simulated delay and failure profile (mock), or extra delay (http).
    pub latency: Option<Spanned<LatencySpec>>,
    /// A mock fare table. Exactly one of `mock` and `upstream`.
    pub mock: Option<Spanned<MockSpec>>,
    /// A templated HTTP call to an airline API. Exactly one of `mock` and
    /// `upstream`.
    pub upstream: Option<Spanned<UpstreamSpec>>,
}

/// A templated HTTP call to an airline's API and the mapping of its answer.
/// It serializes to the values as written, without their positions: two
/// loads of a file that say the same compare equal that way.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// The environment variables the templates may read (as `env.NAME`);
    /// any other is an error at load.
    pub env: Option<Spanned<Vec<Spanned<String>>>>,
    /// The provider's own settings, readable as `settings.*` (API keys
    /// belong in `env`, not here).
    pub settings: Option<Spanned<serde_json::Map<String, serde_json::Value>>>,
    /// HTTP method (default `GET`).
    pub method: Option<Spanned<String>>,
    /// URL template; search values in it are escaped as URL components.
    pub url: Spanned<String>,
    /// Header templates; search values in them are escaped for header
    /// values.
    pub headers: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    /// Body template; search values in it are escaped for JSON.
    pub body: Option<Spanned<String>>,
    /// Time to open a connection at most (default 1s, and never more than
    /// the airline's `timeout`).
    pub connect_timeout: Option<Spanned<HumanDuration>>,
    /// Time one attempt may take before it is given up and retried
    /// (default: all the time left).
    pub attempt_timeout: Option<Spanned<HumanDuration>>,
    /// Retries of connection errors, timeouts and 5xx answers.
    pub retries: Option<Spanned<RetriesSpec>>,
    /// The circuit breaker.
    pub breaker: Option<Spanned<BreakerSpec>>,
    /// How to read offers out of the answer.
    pub response: Spanned<ResponseSpec>,
    /// How the airline's API wants callers to authenticate.
    pub auth: Option<Spanned<AuthSpec>>,
    /// How long its answers are kept and reused (on by default: its
    /// calls cost money).
    pub cache: Option<Spanned<CacheSpec>>,
    /// Routes it flies, such as `CGK-DPS` (each way); with `airports`,
    /// searches ask it only for these. Without either, for every route.
    pub routes: Option<Spanned<Vec<Spanned<String>>>>,
    /// Airports it flies between (any two of them).
    pub airports: Option<Spanned<Vec<Spanned<String>>>>,
}

/// An upstream airline's authentication.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// OAuth2 client credentials (RFC 6749 section 4.4).
    pub oauth2: Spanned<OAuth2Spec>,
}

/// OAuth2 client credentials; each value is a template over `env` and
/// `settings`, rendered at load.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Spec {
    /// Where tokens are asked for.
    pub token_url: Spanned<String>,
    /// The client id, such as `{{ env.AIRLINE_CLIENT_ID }}`.
    pub client_id: Spanned<String>,
    /// The client secret, such as `{{ env.AIRLINE_CLIENT_SECRET }}`.
    pub client_secret: Spanned<String>,
    /// The scope asked for, if any.
    pub scope: Option<Spanned<String>>,
    /// `basic` (HTTP Basic, the default) or `form` (in the body).
    pub credentials: Option<Spanned<String>>,
}

/// Retries of a failed call.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetriesSpec {
    /// Retries after the first call (default 2); 0 turns retrying off.
    pub attempts: Option<Spanned<u32>>,
    /// Wait before the first retry, doubled for each further one, with
    /// jitter (default `100ms`).
    pub backoff: Option<Spanned<HumanDuration>>,
}

/// The circuit breaker: after `failures` failed searches in a row the
/// airline is not called for `cooldown`; then one trial call decides.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Failed searches in a row that open the breaker (default 5); 0 turns
    /// it off.
    pub failures: Option<Spanned<u32>>,
    /// How long it stays open before a trial call (default `10s`).
    pub cooldown: Option<Spanned<HumanDuration>>,
}

/// The answer cache of an upstream airline (`docs/upstream.md` §9).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// `false` asks the airline for every search (default `true`).
    pub enabled: Option<bool>,
    /// How long an answer is kept, by days to departure: the first tier
    /// whose `days` the departure is within.
    pub tiers: Option<Spanned<Vec<Spanned<TierSpec>>>>,
}

/// One tier of the cache: answers for departures within `days` days (any
/// later departure when `days` is left out) are kept for `ttl`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// Departures at most this many days ahead.
    pub days: Option<Spanned<u32>>,
    /// How long their answers are kept.
    pub ttl: Spanned<HumanDuration>,
}

/// Where the offers are in the answer, and how to read each field.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    /// `json` or `xml`; without it, what the answer's `Content-Type`
    /// says (XML for any `…xml` type, else JSON).
    pub format: Option<Spanned<AnswerFormat>>,
    /// Expression selecting the list of offers, such as
    /// `body.data.itineraries`.
    pub offers: Spanned<String>,
    /// One expression per offer field, over `item` (one element of the
    /// list), `body`, `search` and `leg`.
    pub map: Spanned<BTreeMap<String, Spanned<String>>>,
    /// Expression selecting an offer's list of flights, such as
    /// `item.segments`.
    pub segments: Option<Spanned<String>>,
    /// One expression per segment field, over `segment` (one element of
    /// that list) and what `map` reads.
    pub segment: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

/// How an airline's answer is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerFormat {
    /// A JSON document.
    Json,
    /// An XML document (a SOAP envelope too), read as a tree.
    Xml,
}

/// A latency profile: at most one distribution, plus error rates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    /// Always this delay, such as `50ms`.
    pub fixed: Option<Spanned<HumanDuration>>,
    /// Uniform between `min` and `max`.
    pub uniform: Option<Spanned<UniformSpec>>,
    /// Normal with `mean` and `stddev`, clamped at zero.
    pub normal: Option<Spanned<NormalSpec>>,
    /// Log-normal given by its median `p50` and its `p99`.
    pub lognormal: Option<Spanned<LogNormalSpec>>,
    /// An explicit percentile table such as `{ p50: 100ms, p90: 300ms, p99: 1s }`;
    /// delays between the given points are interpolated linearly. `p0` (the
    /// minimum, default 0) and `p100` (the maximum, default the highest given)
    /// may be set too.
    pub percentiles: Option<Spanned<BTreeMap<String, Spanned<HumanDuration>>>>,
    /// Error and timeout rates.
    pub errors: Option<Spanned<ErrorsSpec>>,
}

/// Uniform delay bounds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniformSpec {
    /// Shortest delay.
    pub min: HumanDuration,
    /// Longest delay.
    pub max: HumanDuration,
}

/// Normal delay parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalSpec {
    /// Mean delay.
    pub mean: HumanDuration,
    /// Standard deviation.
    pub stddev: HumanDuration,
}

/// Log-normal delay given by two percentiles.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogNormalSpec {
    /// Median delay.
    pub p50: HumanDuration,
    /// 99th percentile delay; must exceed `p50`.
    pub p99: HumanDuration,
}

/// Failure rates, each a probability from 0 to 1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsSpec {
    /// Share of searches answered with an error after the sampled delay.
    pub rate: Option<Spanned<f64>>,
    /// Share of searches never answered, so the airline times out.
    pub timeout_rate: Option<Spanned<f64>>,
}

/// A mock airline: a fare table and pricing rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockSpec {
    /// ISO 4217 currency of every fare, such as `IDR`.
    pub currency: Spanned<String>,
    /// Decimal places of amounts: always the currency's ISO 4217 digits
    /// (IDR 0, SGD 2, KWD 3; 2 for a code not in the table). Optional; when
    /// written it must say the same.
    pub decimals: Option<Spanned<u32>>,
    /// RNG seed: the same search with the same seed gives the same offers.
    pub seed: Option<u64>,
    /// Routes served, one direction each.
    pub routes: Spanned<Vec<Spanned<RouteSpec>>>,
    /// Pricing rules applied on top of the base fares.
    pub pricing: Option<Spanned<PricingSpec>>,
    /// Fare brands per cabin: each flight gives one offer per brand of the
    /// cabin searched.
    pub brands: Option<Spanned<BTreeMap<String, Spanned<BrandList>>>>,
    /// Taxes added to every fare.
    pub taxes: Option<Spanned<TaxesSpec>>,
    /// How long an offer's price holds (default 15m).
    pub offer_lifetime: Option<Spanned<WrittenDuration>>,
}

/// The brands of one cabin.
pub type BrandList = Vec<Spanned<BrandSpec>>;

/// One fare brand of a cabin.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandSpec {
    /// Its name, such as `Lite`.
    pub name: Spanned<String>,
    /// Multiplies the fare (default 1).
    pub factor: Option<Spanned<f64>>,
    /// Checked bags included (`0`: sold separately).
    pub checked_bags: Option<Spanned<u8>>,
    /// Weight allowed per checked bag, in kilograms.
    pub checked_kg: Option<Spanned<u16>>,
    /// Bags taken into the cabin.
    pub cabin_bags: Option<Spanned<u8>>,
    /// Whether it can be refunded.
    pub refundable: Option<bool>,
    /// Whether its flights can be changed.
    pub changeable: Option<bool>,
}

/// Taxes on every fare.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxesSpec {
    /// A fixed amount per traveller with a seat, in the table's currency.
    pub per_traveller: Option<Spanned<Amount>>,
    /// A percentage of every traveller's fare, such as `11` for 11%.
    pub percent: Option<Spanned<f64>>,
}

/// One direction between two airports.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Origin IATA airport code.
    pub from: Spanned<String>,
    /// Destination IATA airport code.
    pub to: Spanned<String>,
    /// Scheduled flights on this route; none on a connecting route.
    pub flights: Option<Spanned<Vec<Spanned<FlightSpec>>>>,
    /// A connecting route: the hub whose flights from `from` and to `to`
    /// (routes of this file) are sold together.
    pub via: Option<Spanned<String>>,
    /// How long a connection at the hub may be.
    pub connection: Option<Spanned<ConnectionSpec>>,
    /// Multiplies the sum of the two flights' fares (default 1).
    pub factor: Option<Spanned<f64>>,
}

/// The window of a connection at a hub.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// Shortest connection (default 45m).
    pub min: Option<Spanned<WrittenDuration>>,
    /// Longest connection (default 12h).
    pub max: Option<Spanned<WrittenDuration>>,
}

/// One scheduled flight.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlightSpec {
    /// Flight number, such as `GA404`.
    pub number: Spanned<String>,
    /// Local departure time, `HH:MM`.
    pub depart: Spanned<String>,
    /// Block time, such as `1h50m`; kept as written for messages.
    pub duration: Spanned<WrittenDuration>,
    /// Local arrival time, `HH:MM`, with `+1` (or `+2`) for a later day.
    /// Default: departure plus duration (same time zone).
    pub arrive: Option<Spanned<String>>,
    /// Days of operation (`mon` .. `sun`). Default: every day.
    pub days: Option<Spanned<Vec<Spanned<String>>>>,
    /// Base one-way fare per passenger for each cabin sold on this flight.
    pub fares: Spanned<BTreeMap<String, Spanned<Amount>>>,
    /// Seats for sale in each cabin at most (default 9); each search sees a
    /// reproducible number from 1 to this.
    pub seats: Option<Spanned<u16>>,
    /// Intermediate stops (default 0).
    pub stops: Option<Spanned<u8>>,
    /// A codeshare: the number another airline flies it under, such as
    /// `QG302`.
    pub operated_by: Option<Spanned<String>>,
}

/// Pricing rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingSpec {
    /// Factor applied to departures on weekend days, such as `1.2`.
    pub weekend: Option<Spanned<f64>>,
    /// Which days count as weekend (default `[sat, sun]`).
    pub weekend_days: Option<Spanned<Vec<Spanned<String>>>>,
    /// Advance-purchase steps: days before departure (`0d`, `7d`, `30d`) to a
    /// factor. The step with the largest threshold not above the days left
    /// applies.
    pub advance: Option<Spanned<BTreeMap<String, Spanned<f64>>>>,
    /// Random spread of each fare, such as `0.05` for plus or minus 5%,
    /// drawn from the seeded RNG.
    pub jitter: Option<Spanned<f64>>,
    /// A child's fare as a share of an adult's, from 0 to 1 (default 1).
    pub child: Option<Spanned<f64>>,
    /// An infant's (on a lap) fare as a share of an adult's, from 0 to 1
    /// (default 0.1).
    pub infant: Option<Spanned<f64>>,
}

/// A money amount as written in YAML: a number or a string, kept exact.
#[derive(Debug, Clone)]
pub struct Amount(pub String);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Amount;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an amount such as 1250000 or 99.90")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Amount, E> {
                Ok(Amount(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Amount, E> {
                Ok(Amount(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Amount, E> {
                // Rust prints the shortest text that reads back as the same
                // float, so `99.9` stays `99.9`.
                Ok(Amount(v.to_string()))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
                Ok(Amount(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
