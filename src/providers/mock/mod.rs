//! The mock fare engine: a fare table per route, pricing rules, and a seeded
//! RNG so that the same search with the same seed gives the same offers.

mod clock;
mod fares;
mod quote;
mod spec;

use foldhash::HashMap;

use std::time::Duration;

use jiff::civil::Time;
use rust_decimal::Decimal;

use crate::model::{Cabin, Fare};
pub use quote::Quoter;
pub use spec::from_spec;

/// A validated mock fare table.
#[derive(Clone, Debug, PartialEq)]
pub struct MockTable {
    /// ISO 4217 currency of every amount.
    pub currency: String,
    /// Decimal places of every amount: the currency's (see [`money`]).
    pub decimals: u32,
    /// RNG seed.
    pub seed: u64,
    /// Flights by (origin, destination).
    pub routes: HashMap<(String, String), Vec<Flight>>,
    /// Connections through a hub by (origin, destination): the file's
    /// flights to the hub and from it, combined.
    pub connections: HashMap<(String, String), Connection>,
    /// Pricing rules.
    pub pricing: Pricing,
    /// Fare brands of each cabin; a cabin without is sold as one fare
    /// whose brand, conditions and bags are not known.
    pub brands: Vec<(Cabin, Vec<Brand>)>,
    /// Taxes on every fare.
    pub taxes: Taxes,
    /// How long an offer's price holds.
    pub offer_lifetime: Duration,
}

/// One fare brand of a cabin.
#[derive(Clone, Debug, PartialEq)]
pub struct Brand {
    /// Multiplies the fare.
    pub factor: Decimal,
    /// The brand's name, conditions and bags, as offers show them.
    pub fare: Fare,
}

/// Taxes on every fare.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Taxes {
    /// A fixed amount per traveller with a seat.
    pub per_traveller: Decimal,
    /// A percentage of each traveller's fare.
    pub percent: Decimal,
}

/// One scheduled flight of a mock table.
#[derive(Clone, Debug, PartialEq)]
pub struct Flight {
    /// Flight number.
    pub number: String,
    /// Local departure time.
    pub depart: Time,
    /// Block time in minutes.
    pub duration_minutes: u32,
    /// Local arrival time and day offset, when the file gives one.
    pub arrive: Option<(Time, i8)>,
    /// Operating days, Monday first.
    pub days: [bool; 7],
    /// Base fare per cabin.
    pub fares: Vec<(Cabin, Decimal)>,
    /// Seats for sale per cabin at most.
    pub seats: u16,
    /// Intermediate (technical) stops.
    pub stops: u8,
    /// On a codeshare, the number another airline flies it under, such as
    /// `QG302`.
    pub operated_by: Option<String>,
}

/// A connecting route: the flights from the origin to `via` and from `via`
/// to the destination, sold together.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    /// The hub.
    pub via: String,
    /// Shortest connection at the hub, in minutes.
    pub min_minutes: i64,
    /// Longest connection at the hub, in minutes.
    pub max_minutes: i64,
    /// Multiplies the sum of the two flights' fares.
    pub factor: Decimal,
}

/// Pricing rules of a mock table.
#[derive(Clone, Debug, PartialEq)]
pub struct Pricing {
    /// Weekend factor.
    pub weekend: Decimal,
    /// Weekend days, Monday first.
    pub weekend_days: [bool; 7],
    /// Advance-purchase steps `(days before departure, factor)`, ascending.
    pub advance: Vec<(i64, Decimal)>,
    /// Plus or minus this share, drawn per offer.
    pub jitter: f64,
    /// A child's fare as a share of an adult's.
    pub child: Decimal,
    /// An infant's fare as a share of an adult's.
    pub infant: Decimal,
}

impl Default for Pricing {
    fn default() -> Self {
        Self {
            weekend: Decimal::ONE,
            weekend_days: [false, false, false, false, false, true, true],
            advance: Vec::new(),
            jitter: 0.0,
            child: Decimal::ONE,
            infant: Decimal::new(1, 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::definition::MockSpec;
    use super::super::problems::Problems;
    use super::*;
    use crate::model::{AirlineRef, Leg, Offer, SearchRequest};
    use jiff::Timestamp;
    use serde_saphyr::Spanned;
    use uuid::Uuid;

    fn table(yaml: &str) -> MockTable {
        let spec: Spanned<MockSpec> = serde_saphyr::from_str(yaml).expect("yaml");
        let mut problems = Problems::default();
        let t = from_spec(&spec, &mut problems);
        assert!(problems.is_empty(), "{problems}");
        t.expect("table")
    }

    fn search(date: &str, passengers: u8, cabin: Cabin, back: Option<&str>) -> SearchRequest {
        SearchRequest {
            search_id: Uuid::nil(),
            from: "CGK".into(),
            to: "DPS".into(),
            date: date.parse().unwrap(),
            return_date: back.map(|d| d.parse().unwrap()),
            passengers,
            travellers: None,
            max_stops: None,
            convert: None,
            cabin,
            cache: true,
            providers: vec!["t".into()],
            created_at: Timestamp::UNIX_EPOCH,
            deadline: Timestamp::UNIX_EPOCH,
        }
    }

    fn offers(t: &MockTable, s: &SearchRequest, today: &str) -> Vec<Offer> {
        let airline = AirlineRef {
            code: "GA".into(),
            name: "Garuda".into(),
        };
        t.offers(
            &Quoter {
                provider: "t",
                airline: &airline,
            },
            s,
            today.parse().unwrap(),
        )
    }

    const TABLE: &str = r#"
currency: IDR
seed: 1
routes:
  - from: CGK
    to: DPS
    flights:
      - { number: GA404, depart: "07:30", duration: 1h50m, days: [mon, wed, fri, sat], fares: { economy: 1000000, business: 4000000 }, seats: 9 }
      - { number: GA406, depart: "22:30", duration: 1h50m, arrive: "00:20+1", fares: { economy: 800000 } }
  - from: DPS
    to: CGK
    flights:
      - { number: GA405, depart: "10:30", duration: 1h50m, fares: { economy: 1100000 } }
pricing: { weekend: 1.5, advance: { 0d: 2.0, 7d: 1.25, 30d: 1.0 } }
"#;

    #[test]
    fn days_of_operation_filter_flights() {
        let t = table(TABLE);
        // 2026-12-01 is a Tuesday: only the daily GA406 flies.
        let got = offers(
            &t,
            &search("2026-12-01", 1, Cabin::Economy, None),
            "2026-10-01",
        );
        assert_eq!(
            got.iter()
                .map(|o| o.flight_number.as_str())
                .collect::<Vec<_>>(),
            ["GA406"]
        );
        // 2026-12-02 is a Wednesday: both.
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-10-01",
        );
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn weekend_and_advance_factors_multiply_and_round() {
        let t = table(TABLE);
        // Saturday 2026-12-05, 40 days ahead: weekend 1.5 x advance 1.0.
        let got = offers(
            &t,
            &search("2026-12-05", 2, Cabin::Economy, None),
            "2026-10-26",
        );
        let ga404 = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(ga404.price.per_passenger, Decimal::from(1_500_000));
        assert_eq!(ga404.price.total, Decimal::from(3_000_000));
        assert_eq!(ga404.price.currency, "IDR");
        // Wednesday 2026-12-02, 3 days ahead: advance 2.0 (the 0d step).
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-11-29",
        );
        let ga404 = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(ga404.price.per_passenger, Decimal::from(2_000_000));
        // 10 days ahead: the 7d step.
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-11-22",
        );
        let ga404 = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(ga404.price.per_passenger, Decimal::from(1_250_000));
    }

    #[test]
    fn arrival_times_cross_midnight_and_cabins_filter() {
        let t = table(TABLE);
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-10-01",
        );
        let late = got.iter().find(|o| o.flight_number == "GA406").unwrap();
        assert_eq!(late.arrive_at.to_string(), "2026-12-03T00:20:00");
        assert_eq!(late.duration_minutes, 110);
        let early = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(early.arrive_at.to_string(), "2026-12-02T09:20:00");
        let business = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Business, None),
            "2026-10-01",
        );
        assert_eq!(business.len(), 1);
        assert_eq!(business[0].cabin, Cabin::Business);
    }

    #[test]
    fn round_trips_add_inbound_offers() {
        let t = table(TABLE);
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, Some("2026-12-09")),
            "2026-10-01",
        );
        let inbound: Vec<&Offer> = got.iter().filter(|o| o.leg == Leg::Inbound).collect();
        assert_eq!(inbound.len(), 1);
        assert_eq!(
            (inbound[0].from.as_str(), inbound[0].to.as_str()),
            ("DPS", "CGK")
        );
        assert_eq!(inbound[0].depart_at.date().to_string(), "2026-12-09");
    }

    #[test]
    fn jitter_is_reproducible_and_bounded() {
        let t = table(&TABLE.replace("30d: 1.0 }", "30d: 1.0 }, jitter: 0.1"));
        let s = search("2026-12-02", 1, Cabin::Economy, None);
        // Everything but the time the price holds until, which runs from
        // the moment of quoting.
        let timeless = |mut offers: Vec<Offer>| {
            offers.iter_mut().for_each(|o| o.expires_at = None);
            offers
        };
        let a = timeless(offers(&t, &s, "2026-10-01"));
        let b = timeless(offers(&t, &s, "2026-10-01"));
        assert_eq!(a, b);
        for o in &a {
            let base = if o.flight_number == "GA404" {
                1_000_000
            } else {
                800_000
            };
            let ratio = o.price.per_passenger / Decimal::from(base);
            assert!(
                ratio >= Decimal::new(9, 1) && ratio <= Decimal::new(11, 1),
                "{ratio}"
            );
        }
        let mut reseeded = t.clone();
        reseeded.seed = 2;
        assert_ne!(offers(&reseeded, &s, "2026-10-01"), a);
    }

    #[test]
    fn every_brand_has_the_whole_journey() {
        let t = table(&TABLE.replace(
            "pricing:",
            "brands:\n  economy:\n    - { name: Lite }\n    - { name: Flex Plus, factor: 1.5 }\npricing:",
        ));
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-10-01",
        );
        let ga404: Vec<&Offer> = got.iter().filter(|o| o.flight_number == "GA404").collect();
        let ids: Vec<&str> = ga404.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "t-GA404-20261202-economy-lite",
                "t-GA404-20261202-economy-flex-plus"
            ]
        );
        let (lite, flex) = (ga404[0], ga404[1]);
        assert_eq!(lite.segments.len(), 1);
        assert_eq!(lite.segments, flex.segments);
        assert_eq!(
            (&lite.from, &lite.to, &lite.itinerary, lite.arrive_at),
            (&flex.from, &flex.to, &flex.itinerary, flex.arrive_at)
        );
        assert_eq!(lite.arrive_at.to_string(), "2026-12-02T09:20:00");
        assert!(lite.price.total < flex.price.total);
    }

    #[test]
    fn more_passengers_than_seats_left_get_no_offer() {
        let t = table(&TABLE.replace("seats: 9", "seats: 1"));
        let got = offers(
            &t,
            &search("2026-12-02", 2, Cabin::Economy, None),
            "2026-10-01",
        );
        assert!(got.iter().all(|o| o.flight_number != "GA404"));
        assert!(got.iter().all(|o| o.seats_left >= 2));
    }

    #[test]
    fn amounts_carry_the_currencys_digits_rounded_half_even() {
        let sgd = table(
            &TABLE
                .replace("IDR", "SGD")
                .replace("1000000", "89.9")
                .replace("4000000", "119")
                .replace(
                    "pricing: { weekend: 1.5, advance: { 0d: 2.0, 7d: 1.25, 30d: 1.0 } }",
                    "",
                ),
        );
        let got = offers(
            &sgd,
            &search("2026-12-02", 2, Cabin::Economy, None),
            "2026-10-01",
        );
        let ga404 = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(ga404.price.per_passenger.to_string(), "89.90");
        assert_eq!(ga404.price.total.to_string(), "179.80");
        let got = offers(
            &sgd,
            &search("2026-12-02", 1, Cabin::Business, None),
            "2026-10-01",
        );
        assert_eq!(got[0].price.per_passenger.to_string(), "119.00");
        // 0.125 x 1 is a midpoint: half to even gives 0.12 (away from zero
        // would give 0.13); 0.135 gives 0.14.
        let even = table(
            &TABLE
                .replace("IDR", "EUR")
                .replace("1000000", "0.125")
                .replace("800000", "0.135")
                .replace(
                    "pricing: { weekend: 1.5, advance: { 0d: 2.0, 7d: 1.25, 30d: 1.0 } }",
                    "",
                ),
        );
        let got = offers(
            &even,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-10-01",
        );
        let price = |n: &str| {
            got.iter()
                .find(|o| o.flight_number == n)
                .unwrap()
                .price
                .per_passenger
                .to_string()
        };
        assert_eq!(
            (price("GA404"), price("GA406")),
            ("0.12".into(), "0.14".into())
        );
        let kwd = table(&TABLE.replace("IDR", "KWD").replace("1000000", "1.2"));
        assert_eq!(kwd.decimals, 3);
        let jpy = table(
            &TABLE
                .replace("IDR", "JPY")
                .replace("1000000", "1234.5")
                .replace(
                    "pricing: { weekend: 1.5, advance: { 0d: 2.0, 7d: 1.25, 30d: 1.0 } }",
                    "",
                ),
        );
        let got = offers(
            &jpy,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-10-01",
        );
        let ga404 = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(ga404.price.per_passenger.to_string(), "1234");
    }

    #[test]
    fn usd_amounts_keep_cents() {
        let t = table(&TABLE.replace("IDR", "USD").replace("1000000", "99.99"));
        assert_eq!(t.decimals, 2);
        let got = offers(
            &t,
            &search("2026-12-02", 3, Cabin::Economy, None),
            "2026-10-01",
        );
        let ga404 = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(ga404.price.per_passenger.to_string(), "99.99");
        assert_eq!(ga404.price.total.to_string(), "299.97");
    }
}
