//! An upstream airline's answer with segments, a codeshare, fare brands,
//! taxes and per-traveller prices maps exactly (SPEC section 9), through
//! a real HTTP server (wiremock) and the real API; an answer whose sums do
//! not add up is dropped with its reason, never corrected.

use std::path::Path;

use airstream::providers::load::parse_provider;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, date_in, refused_at_a_line, search_body};

/// An NDC-like airline: offers of slices of legs, prices per passenger
/// type, fare conditions.
fn airline(base: &str) -> String {
    format!(
        r#"id: modern
name: Modern Air
airline: MO
timeout: 1500ms
upstream:
  method: POST
  url: "{base}/offers"
  body: '{{"adults": {{{{ search.adults }}}}, "children": {{{{ search.children }}}}, "infants": {{{{ search.infants }}}}}}'
  response:
    offers: body.offers
    segments: item.legs
    segment:
      flight_number: segment.carrier ~ segment.number
      marketing_carrier: segment.carrier
      operating_carrier: segment.operator.carrier
      operating_flight_number: segment.operator.carrier ~ segment.operator.number
      from: segment.origin
      to: segment.destination
      depart_at: segment.departure
      arrive_at: segment.arrival
    map:
      id: item.id
      currency: item.price.currency
      price: item.price.total
      base: item.price.base
      price_adult: item.price.per_type.ADT
      price_child: item.price.per_type.CHD
      price_infant: item.price.per_type.INF
      brand: item.fare.brand
      refundable: item.fare.refundable
      changeable: item.fare.changeable
      checked_bags: item.fare.bags.checked
      checked_kg: item.fare.bags.kg
      cabin_bags: item.fare.bags.cabin
      expires_at: item.expires
      seats_left: item.seats
"#
    )
}

fn leg(number: u32, from: &str, to: &str, dep: &str, arr: &str, operator: Value) -> Value {
    json!({"carrier": "MO", "number": number, "origin": from, "destination": to,
           "departure": dep, "arrival": arr, "operator": operator})
}

fn answer(date: &str, tomorrow: &str) -> Value {
    let own = |n: u32| json!({"carrier": "MO", "number": n});
    json!({"offers": [
        {
            "id": "MO-1", "seats": 4, "expires": format!("{date}T00:00:00+07:00"),
            "legs": [
                leg(820, "CGK", "SIN", &format!("{date}T08:00:00+07:00"), &format!("{date}T10:50:00+08:00"), own(820)),
                leg(7042, "SIN", "HND", &format!("{date}T22:30:00+08:00"), &format!("{tomorrow}T06:20:00+09:00"), json!({"carrier": "NH", "number": 842})),
            ],
            "price": {"currency": "USD", "total": "1702.4", "base": 1400,
                      "per_type": {"ADT": "650.00", "CHD": 325.2, "INF": "77.2"}},
            "fare": {"brand": "Economy Classic", "refundable": "N", "changeable": true,
                     "bags": {"checked": 1, "kg": 23, "cabin": 1}}
        },
        {
            "id": "MO-2", "seats": 9,
            "legs": [leg(900, "CGK", "HND", &format!("{date}T09:00:00"), &format!("{date}T18:30:00"), own(900))],
            "price": {"currency": "USD", "total": "1700", "per_type": {"ADT": 600, "CHD": 300, "INF": 100}},
            "fare": {"brand": "Basic"}
        },
        {
            "id": "MO-3", "seats": 9,
            "legs": [leg(910, "CGK", "HND", &format!("{date}T10:00:00"), &format!("{date}T19:30:00"), own(910))],
            "price": {"currency": "USD", "total": "1000", "base": 1200, "per_type": {"ADT": 400, "CHD": 150, "INF": 50}}
        },
        {
            "id": "MO-4", "seats": 9,
            "legs": [
                leg(920, "CGK", "SIN", &format!("{date}T08:00:00"), &format!("{date}T10:50:00"), own(920)),
                leg(921, "KUL", "HND", &format!("{date}T12:00:00"), &format!("{date}T20:00:00"), own(921)),
            ],
            "price": {"currency": "USD", "total": "1000", "per_type": {"ADT": 400, "CHD": 150, "INF": 50}}
        }
    ]})
}

#[tokio::test]
async fn segments_fares_taxes_and_traveller_prices_map_exactly() {
    let server = MockServer::start().await;
    let (date, tomorrow) = (date_in(14), date_in(15));
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer(&date, &tomorrow)))
        .mount(&server)
        .await;
    let app = TestApp::with_providers(&[("modern.yaml", &airline(&server.uri()))], |_| {}).await;
    let mut body = search_body();
    body["to"] = json!("HND");
    body["passengers"] = json!({"adults": 2, "children": 1, "infants": 1});
    let id = app.submit(&body).await;
    let events = app.stream(&id, "", None).await;
    let complete = &events.last().unwrap().data;
    let offers = complete["offers"].as_array().unwrap();
    let ids: Vec<&str> = offers.iter().map(|o| o["id"].as_str().unwrap()).collect();
    // MO-2's traveller prices add up to 1600, not its total 1700; MO-3's
    // base is above its total; MO-4's flights do not connect (SIN, KUL).
    assert_eq!(ids, ["MO-1"], "{complete}");
    let offer = &offers[0];
    let segments = offer["segments"].as_array().unwrap();
    assert_eq!(
        segments[1],
        json!({"flight_number": "MO7042", "marketing_carrier": "MO", "operating_carrier": "NH",
               "operating_flight_number": "NH842", "from": "SIN", "to": "HND",
               "depart_at": format!("{date}T22:30:00"), "arrive_at": format!("{tomorrow}T06:20:00"),
               "duration_minutes": 410})
    );
    assert_eq!(segments[0]["duration_minutes"], 110);
    // 110 minutes flying, 11h40m at SIN, 410 minutes flying.
    assert_eq!(offer["duration_minutes"], 110 + 700 + 410);
    assert_eq!(offer["stops"], 1);
    assert_eq!(
        (&offer["from"], &offer["to"]),
        (&json!("CGK"), &json!("HND"))
    );
    assert_eq!(offer["flight_number"], "MO820");
    assert_eq!(
        offer["itinerary"],
        format!("MO820:{date}|NH842:{date}|economy")
    );
    assert_eq!(
        offer["price"],
        json!({"total": "1702.40", "per_passenger": "650.00", "base": "1400.00", "taxes": "302.40",
               "by_passenger": [
                   {"type": "adult", "count": 2, "each": "650.00"},
                   {"type": "child", "count": 1, "each": "325.20"},
                   {"type": "infant", "count": 1, "each": "77.20"}],
               "currency": "USD"})
    );
    assert_eq!(
        offer["fare"],
        json!({"brand": "Economy Classic", "refundable": false, "changeable": true,
               "baggage": {"checked_bags": 1, "checked_kg": 23, "cabin_bags": 1}})
    );
    assert_eq!(offer["expires_at"], format!("{}T17:00:00Z", date_in(13)));
    // The dropped offers are counted, each with its reason in the log.
    let (_, list) = app.get("/api/providers").await;
    assert_eq!(list["data"][0]["upstream"]["offers_dropped"], 3, "{list}");
    app.stop().await;
}

#[test]
fn a_segment_mapping_is_checked_when_the_file_loads() {
    let good = airline("http://127.0.0.1:9");
    parse_provider(Path::new("modern.yaml"), &good).expect("the file is valid");
    let cases = [
        (
            good.replace("    segments: item.legs\n", ""),
            "`segment` needs `segments:`",
        ),
        (
            good.replace("      from: segment.origin\n", ""),
            "`segment` must set `from`",
        ),
        (
            good.replace(
                "      to: segment.destination\n",
                "      to: segment.destination\n      gate: segment.gate\n",
            ),
            "unknown field `gate`",
        ),
        (
            good.replace("from: segment.origin", "from: segmnt.origin"),
            "segmnt",
        ),
        (
            good.replace("      price_adult: item.price.per_type.ADT\n", "")
                .replace("      price: item.price.total\n", "")
                .replace("      price_child: item.price.per_type.CHD\n", "")
                .replace("      price_infant: item.price.per_type.INF\n", ""),
            "must set `price`, `per_passenger` or `price_adult`",
        ),
    ];
    for (text, needle) in cases {
        refused_at_a_line("modern.yaml", &text, needle);
    }
}
