//! The offer writer against serde_json, over offers with every field set
//! and the values whose text is unusual.

use jiff::Timestamp;
use jiff::civil::DateTime;
use rust_decimal::Decimal;

use crate::model::money::Converted;
use crate::model::{
    AirlineRef, Baggage, Cabin, Fare, Leg, Offer, PassengerPrice, PassengerType, Price, Segment,
};

fn at(text: &str) -> DateTime {
    text.parse().unwrap()
}

fn segment(number: &str, from: &str, to: &str, times: (&str, &str)) -> Segment {
    let mut s = Segment::own("GA", number, (from, to), (at(times.0), at(times.1)), 110);
    s.operating_carrier = "QG".into();
    s
}

/// An offer with every field set, optional ones included.
pub(crate) fn full() -> Offer {
    Offer {
        id: "ga-GA404+GA7302-20261220-economy-flex-plus".into(),
        provider: "garuda".into(),
        airline: AirlineRef {
            code: "GA".into(),
            name: "Garuda Indonesia".into(),
        },
        flight_number: "GA404".into(),
        from: "CGK".into(),
        to: "SIN".into(),
        depart_at: at("2026-12-20T08:30:00"),
        arrive_at: at("2026-12-20T17:05:00"),
        duration_minutes: 455,
        stops: 1,
        segments: vec![
            segment(
                "GA404",
                "CGK",
                "DPS",
                ("2026-12-20T08:30:00", "2026-12-20T11:20:00"),
            ),
            segment(
                "GA7302",
                "DPS",
                "SIN",
                ("2026-12-20T14:10:00", "2026-12-20T17:05:00"),
            ),
        ],
        itinerary: "GA404:2026-12-20|QG302:2026-12-20|economy".into(),
        cabin: Cabin::PremiumEconomy,
        seats_left: 65535,
        fare: Fare {
            brand: Some("Flex Plus".into()),
            refundable: Some(true),
            changeable: Some(false),
            baggage: Baggage {
                checked_bags: Some(2),
                checked_kg: Some(300),
                cabin_bags: Some(1),
            },
        },
        expires_at: Some("2026-12-07T05:30:00Z".parse().unwrap()),
        price: Price {
            total: Decimal::new(3_245_050, 2),
            per_passenger: Decimal::new(1_250_000, 2),
            base: Some(Decimal::new(2_900_000, 2)),
            taxes: Some(Decimal::new(345_050, 2)),
            converted: Some(Converted {
                currency: "USD".into(),
                total: Decimal::new(20_412, 2),
                rate: Decimal::new(629, 7),
                date: "2026-12-06".parse().unwrap(),
            }),
            by_passenger: vec![
                PassengerPrice {
                    kind: PassengerType::Adult,
                    count: 2,
                    each: Decimal::new(1_250_000, 2),
                },
                PassengerPrice {
                    kind: PassengerType::Child,
                    count: 1,
                    each: Decimal::new(745_050, 2),
                },
                PassengerPrice {
                    kind: PassengerType::Infant,
                    count: 255,
                    each: Decimal::ZERO,
                },
            ],
            currency: "IDR".into(),
        },
        leg: Leg::Inbound,
    }
}

fn check(offer: &Offer) {
    let mut ours = Vec::new();
    super::write(&mut ours, offer);
    let ours = String::from_utf8(ours).unwrap();
    assert_eq!(ours, serde_json::to_string(offer).unwrap());
    let mut fast = Vec::new();
    crate::model::json::write(&mut fast, offer).unwrap();
    assert_eq!(ours.as_bytes(), fast);
    // Its key, as the results stream carries it beside the offer.
    let key = crate::model::answer::key_of(offer.clone());
    let mut ours = Vec::new();
    super::write_key(&mut ours, &key);
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        serde_json::to_string(&key).unwrap()
    );
}

#[test]
fn a_full_offer_is_written_as_serde_json_writes_it() {
    check(&full());
}

#[test]
fn empty_and_absent_values_are_written_as_serde_json_writes_them() {
    let mut offer = full();
    offer.segments.clear();
    offer.itinerary.clear();
    offer.fare = Fare::default();
    offer.expires_at = None;
    offer.price.base = None;
    offer.price.taxes = None;
    offer.price.converted = None;
    offer.price.by_passenger.clear();
    offer.leg = Leg::Outbound;
    offer.cabin = Cabin::Economy;
    check(&offer);
}

#[test]
fn unusual_text_is_written_as_serde_json_writes_it() {
    for cabin in Cabin::ALL {
        let mut offer = full();
        offer.cabin = cabin;
        check(&offer);
    }
    let mut offer = unusual();
    check(&offer);
    offer.expires_at = Some(Timestamp::MIN);
    offer.price.converted.as_mut().unwrap().date = jiff::civil::date(-42, 2, 3);
    check(&offer);
}

/// An offer whose text is unusual everywhere: strings to escape (quotes,
/// backslashes, braces, control characters, non-ASCII), date-times and
/// amounts off the printers' fast range.
pub(crate) fn unusual() -> Offer {
    let mut offer = full();
    // Strings to escape, anywhere.
    offer.id = "quote \" backslash \\ tab \t nul \u{0} é 東京".into();
    offer.airline.name = "line\nbreak".into();
    offer.segments[1].operating_flight_number = "\u{1f}".into();
    offer.fare.brand = Some("\"Flex\"".into());
    offer.price.currency = "\\".into();
    // Date-times and instants off the printers' fast range.
    offer.depart_at = at("0999-01-02T03:04:05.5");
    offer.arrive_at = at("-000001-06-15T10:20:30");
    offer.segments[0].depart_at = at("9999-12-31T23:59:59.999999999");
    offer.segments[0].arrive_at = at("0000-01-01T00:00:00");
    offer.expires_at = Some("1969-12-31T23:59:59.25Z".parse().unwrap());
    // Amounts of every shape: negative, negative zero, wide, long scale.
    offer.price.total = Decimal::MAX;
    offer.price.per_passenger = Decimal::MIN;
    offer.price.base = Some(Decimal::from_parts(0, 0, 0, true, 2));
    offer.price.taxes = Some(Decimal::new(-5, 28));
    offer.itinerary = "}{\\\"],[".into();
    offer
}
