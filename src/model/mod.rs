//! The wire model of both streams, shared by the API, the providers and
//! the searches: a validated search (the requested stream), a normalized
//! offer and one airline's answer (the results stream), the views of them
//! that aggregation reads without decoding every field, and the codes and
//! money amounts they carry. It depends on no other module of the crate, so
//! every side imports it and none imports another for it.
//!
//! [`money`] writes every offer's amounts with their currency's digits.

pub mod answer;
mod answer_view;
mod fare;
mod itinerary;
pub mod json;
pub mod money;
mod offer_json;
pub mod scalar;
mod travellers;

pub use answer::EncodedAnswer;
pub use answer_view::AnswerView;
pub use fare::{Baggage, Fare};
pub use itinerary::{Segment, itinerary_key, journey_minutes, push_date};
pub use money::{Conversion, Converted};
pub use travellers::{PassengerPrice, PassengerType, Travellers, split_total};

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A code of fixed length (IATA airport or airline, ISO currency) written in
/// any case: trimmed and upper-cased, or `None` when it has the wrong length
/// or characters. Airline codes may contain digits; the others are letters.
pub fn normalize_code(text: &str, len: usize, digits_allowed: bool) -> Option<String> {
    let code = text.trim().to_ascii_uppercase();
    let valid = code.len() == len
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (digits_allowed && b.is_ascii_digit()));
    valid.then_some(code)
}

/// A travel class.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Cabin {
    /// Economy.
    Economy,
    /// Premium economy.
    PremiumEconomy,
    /// Business.
    Business,
    /// First.
    First,
}

impl Cabin {
    /// Every cabin, cheapest first.
    pub const ALL: [Cabin; 4] = [
        Cabin::Economy,
        Cabin::PremiumEconomy,
        Cabin::Business,
        Cabin::First,
    ];

    /// The name used in JSON and YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Cabin::Economy => "economy",
            Cabin::PremiumEconomy => "premium_economy",
            Cabin::Business => "business",
            Cabin::First => "first",
        }
    }

    /// Parses the JSON/YAML name.
    pub fn parse(s: &str) -> Option<Cabin> {
        Cabin::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Cabin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated search as it travels on the requested stream
/// (`flight.search.requested`, field `data`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchRequest {
    /// Unguessable search id (UUID v4).
    pub search_id: Uuid,
    /// Origin IATA airport code, upper-case.
    pub from: String,
    /// Destination IATA airport code, upper-case.
    pub to: String,
    /// Outbound date.
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// Return date for a round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub return_date: Option<Date>,
    /// Every traveller (adults, children and infants), as before
    /// travellers had types.
    pub passengers: u8,
    /// The travellers by type; absent from a search written before they
    /// had types, which counted adults only (read with [`Self::travellers`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub travellers: Option<Travellers>,
    /// Offers with more stops are not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stops: Option<u8>,
    /// The currency to show totals in, with the rates to convert them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert: Option<Conversion>,
    /// Requested cabin.
    pub cabin: Cabin,
    /// Whether airlines' kept answers may serve it (`false`: every airline
    /// is asked live); absent means yes.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub cache: bool,
    /// Provider ids this search targets.
    pub providers: Vec<String>,
    /// When the search was accepted.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the search stops waiting for airlines.
    #[schema(value_type = String, format = DateTime)]
    pub deadline: Timestamp,
}

fn yes() -> bool {
    true
}

fn is_yes(value: &bool) -> bool {
    *value
}

fn is_no(value: &bool) -> bool {
    !*value
}

impl SearchRequest {
    /// The travellers by type: a search without them counted adults.
    pub fn travellers(&self) -> Travellers {
        self.travellers
            .unwrap_or(Travellers::adults(self.passengers))
    }
}

/// Time from now until `at` (a search's deadline); zero once it has
/// passed.
pub fn time_left(at: Timestamp) -> Duration {
    at.duration_since(Timestamp::now())
        .try_into()
        .unwrap_or(Duration::ZERO)
}

/// One direction of a round trip; a one-way search only has outbound offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    /// From `from` to `to` on `date`.
    Outbound,
    /// From `to` back to `from` on `return_date`.
    Inbound,
}

/// An airline as shown on an offer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AirlineRef {
    /// IATA airline code.
    pub code: String,
    /// Marketing name.
    pub name: String,
}

/// A price with exact decimal amounts, serialized as strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Price {
    /// Total for every traveller.
    #[serde(
        serialize_with = "crate::model::scalar::decimal",
        deserialize_with = "rust_decimal::serde::str::deserialize"
    )]
    pub total: Decimal,
    /// Price for one adult.
    #[serde(
        serialize_with = "crate::model::scalar::decimal",
        deserialize_with = "rust_decimal::serde::str::deserialize"
    )]
    pub per_passenger: Decimal,
    /// The fare without taxes, for every traveller; `null` when the
    /// airline gives only the total. `base` + `taxes` = `total`.
    #[serde(default, serialize_with = "scalar::decimal_option")]
    pub base: Option<Decimal>,
    /// Taxes and fees, for every traveller; `null` when the airline gives
    /// only the total.
    #[serde(default, serialize_with = "scalar::decimal_option")]
    pub taxes: Option<Decimal>,
    /// The total in the currency the search asked for, when it asked for
    /// one and the offer's currency has a rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted: Option<money::Converted>,
    /// The total split by traveller type: the sum of `count` × `each` is
    /// `total` exactly. Empty only when an airline's answer gives a total
    /// that cannot be split so (`docs/api.md`, normalized offer).
    #[serde(default)]
    pub by_passenger: Vec<PassengerPrice>,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// A normalized offer, the same whichever airline made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Offer {
    /// Stable offer id: provider, flight, departure date and cabin.
    pub id: String,
    /// Provider id that answered.
    pub provider: String,
    /// The airline selling it.
    pub airline: AirlineRef,
    /// The first segment's flight number, such as `GA404`.
    pub flight_number: String,
    /// Origin airport: the first segment's.
    pub from: String,
    /// Destination airport: the last segment's.
    pub to: String,
    /// Local departure date-time at the origin.
    #[serde(serialize_with = "scalar::datetime")]
    #[schema(value_type = String, example = "2026-12-20T08:30:00")]
    pub depart_at: DateTime,
    /// Local arrival date-time at the destination.
    #[serde(serialize_with = "scalar::datetime")]
    #[schema(value_type = String, example = "2026-12-20T11:15:00")]
    pub arrive_at: DateTime,
    /// Minutes from departure to arrival: block times and connections.
    pub duration_minutes: u32,
    /// Intermediate stops: connections and technical stops.
    pub stops: u8,
    /// The flights, in order.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// The same flights in the same cabin, whoever sells them.
    #[serde(default)]
    pub itinerary: String,
    /// Cabin of the fare.
    pub cabin: Cabin,
    /// Seats left at this fare.
    pub seats_left: u16,
    /// The fare's brand, conditions and bags.
    #[serde(default)]
    pub fare: Fare,
    /// Until when the price is offered; `null` when the airline does not
    /// say.
    #[serde(default, serialize_with = "scalar::timestamp_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// Fare.
    pub price: Price,
    /// Outbound or inbound leg.
    pub leg: Leg,
}

/// The fields that order offers: cheapest first. Amounts are compared within
/// a currency; airstream converts no currencies, so offers in different
/// currencies are grouped by currency code. Departure time and id break ties.
/// A providers process writes each offer's key beside the offers on the
/// results stream (`offer_keys`), so the api need not read them out of the
/// offers' JSON.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OfferKey {
    /// Price fields that order.
    pub price: PriceKey,
    /// Departure, the first tie-breaker.
    pub depart_at: DateTime,
    /// Offer id, the last tie-breaker.
    pub id: String,
    /// Who sells it.
    #[serde(default)]
    pub provider: String,
    /// Its flights and cabin.
    #[serde(default)]
    pub itinerary: String,
}

/// The ordering part of a price: the total in the currency the search
/// asked for, when it has one (offers without come after those with);
/// then the currency, then the total in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceKey {
    /// Currency code.
    pub currency: String,
    /// Total amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// The total in the search's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted: Option<ConvertedKey>,
}

/// The ordering part of a converted total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvertedKey {
    /// The total in the search's currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
}

impl Ord for PriceKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |k: &PriceKey| (k.converted.is_none(), k.converted.as_ref().map(|c| c.total));
        rank(self)
            .cmp(&rank(other))
            .then_with(|| self.currency.cmp(&other.currency))
            .then_with(|| self.total.cmp(&other.total))
    }
}

impl PartialOrd for PriceKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// How one airline's part of a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnswerStatus {
    /// The airline answered (possibly with no offers).
    Ok,
    /// The airline failed.
    Error,
    /// The airline did not answer within its budget or the search deadline.
    Timeout,
}

impl AnswerStatus {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerStatus::Ok => "ok",
            AnswerStatus::Error => "error",
            AnswerStatus::Timeout => "timeout",
        }
    }

    /// The status of a JSON name, if it is one.
    pub fn parse(name: &str) -> Option<AnswerStatus> {
        [AnswerStatus::Ok, AnswerStatus::Error, AnswerStatus::Timeout]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One airline's answer to one search, as it travels on the results stream
/// (`flight.search.results`, field `data`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderAnswer {
    /// The search answered.
    pub search_id: Uuid,
    /// Provider id.
    pub provider: String,
    /// Outcome.
    pub status: AnswerStatus,
    /// Offers, empty unless `status` is ok.
    pub offers: Vec<Offer>,
    /// What went wrong, for error and timeout.
    pub error: Option<String>,
    /// Milliseconds from the search's acceptance to this answer.
    pub elapsed_ms: u64,
    /// Whether the offers are a kept answer of the airline's.
    #[serde(default, skip_serializing_if = "is_no")]
    pub cached: bool,
    /// How old a kept answer is, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<u64>,
}
