//! The cost of mapping one airline answer of 100 offers, XML beside JSON, in
//! one run: the sample `superairjet` (NDC-style SOAP) and `transnusa`
//! (JSON) airlines each map an answer of the same 100 offers (one flight,
//! total, base and taxes, each traveller type's price, brand, conditions,
//! bags, expiry) in their own API's shape. Rounds alternate between the
//! two; the median per answer and the ratio are printed.
//!
//!     cargo bench --bench mapping
//!
//! Run by `cargo test --all-targets` (without `--bench`), it maps each
//! answer once and checks both give their 100 offers, as a quick test.

use std::path::Path;
use std::time::Instant;

use airstream::model::{AirlineRef, Cabin, Leg, SearchRequest, Travellers};
use airstream::providers::ProviderMode;
use airstream::providers::load::parse_provider;
use airstream::providers::upstream::{Provider, Upstream};

const OFFERS: usize = 100;
const ROUNDS: usize = 15;
const PER_ROUND: usize = 200;

fn sample(file: &str) -> (airstream::providers::ProviderDef, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("providers.d")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("the sample exists");
    let def = parse_provider(&path, &text).expect("the sample loads");
    (def, text)
}

fn json_answer(date: &str) -> String {
    let items: Vec<String> = (0..OFFERS)
        .map(|i| {
            let (h, m) = (5 + i / 10, (i % 10) * 5);
            format!(
                r#"{{"offer_ref":"OF-{i}","segments":[{{"carrier":"8B","flight":"8B{n}","operating_carrier":"8B","operating_flight":"8B{n}","origin":"CGK","destination":"DPS","departure":"{date}T{h:02}:{m:02}:00","arrival":"{date}T{h2:02}:{m:02}:00","duration":"PT1H55M"}}],"stops":0,"duration":"PT1H55M","cabin":"ECONOMY","seats_available":12,"fare":{{"total":"2605696","per_adult":"1302848","base":"2266392","taxes":"339304","per_passenger_type":{{"ADT":"1302848"}},"currency":"IDR","brand":"Nusa Lite","refundable":false,"changeable":false,"baggage":{{"checked":0,"checked_kg":null,"cabin":1}}}},"valid_until":"2026-12-02T10:42:56Z"}}"#,
                n = 600 + i,
                h2 = h + 2
            )
        })
        .collect();
    format!(
        r#"{{"meta":{{"airline":"8B","results":{OFFERS},"simulated":true}},"data":{{"itineraries":[{}]}}}}"#,
        items.join(",")
    )
}

fn xml_answer(date: &str) -> String {
    let items: String = (0..OFFERS)
        .map(|i| {
            let (h, m) = (5 + i / 10, (i % 10) * 5);
            format!(
                r#"<ns:Offer OfferID="OF-{i}" Owner="IU" TimeLimit="2026-12-02T10:42:56Z"><ns:TotalPrice><ns:TotalAmount CurCode="IDR">2605696</ns:TotalAmount></ns:TotalPrice><ns:PriceBreakdown><ns:Base CurCode="IDR" Amount="2266392" DecimalPlaces="0"/><ns:Taxes CurCode="IDR" Amount="339304" DecimalPlaces="0"/></ns:PriceBreakdown><ns:PaxPrice PTC="ADT" Quantity="2"><ns:Amount CurCode="IDR">1302848</ns:Amount></ns:PaxPrice><ns:FareFamily>Super Saver</ns:FareFamily><ns:Conditions Refundable="false" Changeable="false"/><ns:Baggage><ns:Checked Pieces="0"/><ns:Cabin Pieces="1"/></ns:Baggage><ns:SeatsLeft>12</ns:SeatsLeft><ns:Journey CabinCode="Y"><ns:Segment><ns:Departure><ns:AirportCode>CGK</ns:AirportCode><ns:DateTime>{date}T{h:02}:{m:02}:00</ns:DateTime></ns:Departure><ns:Arrival><ns:AirportCode>DPS</ns:AirportCode><ns:DateTime>{date}T{h2:02}:{m:02}:00</ns:DateTime></ns:Arrival><ns:MarketingCarrier AirlineID="IU" FlightNumber="{n}"/><ns:OperatingCarrier AirlineID="IU" FlightNumber="{n}"/><ns:Duration>PT1H55M</ns:Duration></ns:Segment></ns:Journey></ns:Offer>"#,
                n = 700 + i,
                h2 = h + 2
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ns:AirShoppingRS xmlns:ns="http://www.iata.org/IATA/2015/00/2019.2/IATA_AirShoppingRS" Version="19.2"><ns:Success/><ns:OffersGroup><ns:CarrierOffers Owner="IU">{items}</ns:CarrierOffers></ns:OffersGroup></ns:AirShoppingRS></soap:Body></soap:Envelope>"#
    )
}

fn upstream(def: &airstream::providers::ProviderDef) -> &Upstream {
    match &def.mode {
        ProviderMode::Upstream(u) => u,
        _ => panic!("an upstream sample"),
    }
}

/// Microseconds per answer over `per_round` mappings.
fn round(
    up: &Upstream,
    provider: &Provider<'_>,
    search: &SearchRequest,
    bytes: &[u8],
    per_round: usize,
) -> f64 {
    let start = Instant::now();
    for _ in 0..per_round {
        let offers = up
            .map_answer(provider, search, Leg::Outbound, bytes)
            .unwrap_or_else(|e| panic!("the answer maps: {e}"));
        assert_eq!(offers.len(), OFFERS);
        std::hint::black_box(offers);
    }
    start.elapsed().as_secs_f64() * 1e6 / per_round as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let now = jiff::Timestamp::now();
    let date = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date() + jiff::Span::new().days(14);
    let search = SearchRequest {
        search_id: uuid::Uuid::nil(),
        from: "CGK".into(),
        to: "DPS".into(),
        date,
        return_date: None,
        passengers: 2,
        travellers: Some(Travellers {
            adults: 2,
            children: 0,
            infants: 0,
        }),
        max_stops: None,
        convert: None,
        cabin: Cabin::Economy,
        cache: true,
        providers: Vec::new(),
        created_at: now,
        deadline: now,
    };
    let (json_def, _) = sample("transnusa.yaml");
    let (xml_def, _) = sample("superairjet.yaml");
    let airline = |d: &airstream::providers::ProviderDef| AirlineRef {
        code: d.airline.code.clone(),
        name: d.airline.name.clone(),
    };
    let (ja, xa) = (airline(&json_def), airline(&xml_def));
    let jp = Provider {
        id: "transnusa",
        airline: &ja,
        self_url: "http://127.0.0.1:1",
    };
    let xp = Provider {
        id: "superairjet",
        airline: &xa,
        self_url: "http://127.0.0.1:1",
    };
    let (json, xml) = (
        json_answer(&date.to_string()),
        xml_answer(&date.to_string()),
    );
    // `cargo bench` passes `--bench`; `cargo test` does not.
    let (rounds, per_round) = match std::env::args().any(|a| a == "--bench") {
        true => (ROUNDS, PER_ROUND),
        false => (1, 1),
    };
    let (mut j, mut x) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        j.push(round(
            upstream(&json_def),
            &jp,
            &search,
            json.as_bytes(),
            per_round,
        ));
        x.push(round(
            upstream(&xml_def),
            &xp,
            &search,
            xml.as_bytes(),
            per_round,
        ));
    }
    let (j, x) = (median(j), median(x));
    println!(
        "answer of {OFFERS} offers: JSON {} bytes, XML {} bytes",
        json.len(),
        xml.len()
    );
    println!(
        "mapping per answer (median of {rounds} rounds of {per_round}): JSON {j:.0} µs, XML {x:.0} µs, XML/JSON {:.2}",
        x / j
    );
}
