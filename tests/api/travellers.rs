//! Travellers by type (SPEC section 9): every rule of `passengers` is a
//! `422` naming its field; a family's price splits by traveller type and
//! sums to the total exactly in currencies of 0, 2 and 3 digits; templates
//! read each type; `max_stops` holds; and an integer `passengers` is adults,
//! priced as before.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, date_in, fast_airline, search_body};
use crate::upstream::airline as upstream_airline;

/// A mock airline in `currency` with child and infant shares, many seats,
/// and a one-stop flight beside the direct ones.
fn family_airline(id: &str, code: &str, currency: &str, economy: &str) -> String {
    format!(
        r#"id: {id}
name: Family Air {code}
airline: {code}
latency:
  fixed: 0ms
mock:
  currency: {currency}
  seed: 11
  pricing: {{ jitter: 0.07, child: 0.75, infant: 0.1 }}
  routes:
    - from: CGK
      to: DPS
      flights:
        - {{ number: {code}100, depart: "07:30", duration: 1h50m, fares: {{ economy: {economy} }}, seats: 300 }}
        - {{ number: {code}102, depart: "12:15", duration: 1h50m, fares: {{ economy: {economy} }}, seats: 300 }}
        - {{ number: {code}104, depart: "15:00", duration: 4h10m, stops: 1, fares: {{ economy: {economy} }}, seats: 300 }}
"#
    )
}

fn family() -> Value {
    json!({"adults": 2, "children": 1, "infants": 1})
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().expect("an amount is a string")).expect("a decimal")
}

/// The digits after the point of an amount as written.
fn digits(value: &Value) -> usize {
    value
        .as_str()
        .unwrap()
        .split_once('.')
        .map_or(0, |(_, d)| d.len())
}

async fn complete_for(app: &TestApp, body: &Value) -> Value {
    let id = app.submit(body).await;
    app.stream(&id, "", None).await.last().unwrap().data.clone()
}

#[tokio::test]
async fn every_traveller_rule_is_a_422_naming_its_field() {
    let app =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    let cases = [
        (
            json!({"adults": 0}),
            "passengers.adults",
            "invalid_passengers",
        ),
        (
            json!({"adults": 10}),
            "passengers.adults",
            "too_many_travellers",
        ),
        (
            json!({"adults": "2"}),
            "passengers.adults",
            "invalid_passengers",
        ),
        (json!({"children": 1}), "passengers.adults", "required"),
        (
            json!({"adults": 5, "children": 5}),
            "passengers.children",
            "too_many_travellers",
        ),
        (
            json!({"adults": 1, "children": -1}),
            "passengers.children",
            "invalid_passengers",
        ),
        (
            json!({"adults": 1, "infants": 2}),
            "passengers.infants",
            "too_many_infants",
        ),
        (
            json!({"adults": 2, "infants": 1.5}),
            "passengers.infants",
            "invalid_passengers",
        ),
        (
            json!({"adults": 1, "pets": 1}),
            "passengers.pets",
            "unknown_field",
        ),
        (json!("two"), "passengers", "invalid_passengers"),
        (json!(12), "passengers", "too_many_travellers"),
    ];
    for (passengers, field, code) in cases {
        let mut body = search_body();
        body["passengers"] = passengers.clone();
        let (status, answer) = app.post(&body).await;
        assert_eq!(status, 422, "{passengers} -> {answer}");
        let errors = answer["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{passengers}: expected `{field}` {code}, got {errors:?}"
        );
    }
    for stops in [json!(3), json!(-1), json!("1")] {
        let mut body = search_body();
        body["max_stops"] = stops.clone();
        let (status, answer) = app.post(&body).await;
        assert_eq!(status, 422, "{stops} -> {answer}");
        assert_eq!(answer["errors"][0]["field"], "max_stops", "{answer}");
        assert_eq!(answer["errors"][0]["code"], "invalid_max_stops", "{answer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_family_total_is_the_exact_sum_of_its_split_in_three_currencies() {
    let app = TestApp::with_providers(
        &[
            (
                "rupiah.yaml",
                &family_airline("rupiah", "RP", "IDR", "1234567"),
            ),
            ("euro.yaml", &family_airline("euro", "EU", "EUR", "99.99")),
            (
                "dinar.yaml",
                &family_airline("dinar", "KW", "KWD", "31.257"),
            ),
        ],
        |_| {},
    )
    .await;
    let mut body = search_body();
    body["passengers"] = family();
    let complete = complete_for(&app, &body).await;
    let offers = complete["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 9, "{complete}");
    for offer in offers {
        let price = &offer["price"];
        let places = match price["currency"].as_str().unwrap() {
            "IDR" => 0,
            "EUR" => 2,
            "KWD" => 3,
            other => panic!("unexpected currency {other}"),
        };
        let split = price["by_passenger"].as_array().unwrap();
        let kinds: Vec<(&str, u64)> = split
            .iter()
            .map(|p| (p["type"].as_str().unwrap(), p["count"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [("adult", 2), ("child", 1), ("infant", 1)],
            "{price}"
        );
        let sum: Decimal = split
            .iter()
            .map(|p| decimal(&p["each"]) * Decimal::from(p["count"].as_u64().unwrap()))
            .sum();
        assert_eq!(sum, decimal(&price["total"]), "{price}");
        for amount in split.iter().map(|p| &p["each"]).chain([&price["total"]]) {
            assert_eq!(digits(amount), places, "{price}");
        }
        let adult = decimal(&split[0]["each"]);
        assert_eq!(adult, decimal(&price["per_passenger"]), "{price}");
        // The shares of the file, within one minor unit of rounding.
        let unit = Decimal::new(1, places as u32);
        let child = decimal(&split[1]["each"]);
        let infant = decimal(&split[2]["each"]);
        assert!(
            (child - adult * Decimal::new(75, 2)).abs() <= unit,
            "{price}"
        );
        assert!(
            (infant - adult * Decimal::new(1, 1)).abs() <= unit,
            "{price}"
        );
        assert!(offer["seats_left"].as_u64().unwrap() >= 3, "{offer}");
    }
    let id = complete["search_id"].as_str().unwrap();
    let (_, snapshot) = app.get(&format!("/api/flights/search/{id}")).await;
    let request = &snapshot["data"]["request"];
    assert_eq!(request["passengers"], 4, "{request}");
    assert_eq!(
        request["travellers"],
        json!({"adults": 2, "children": 1, "infants": 1})
    );
    app.stop().await;
}

#[tokio::test]
async fn an_integer_is_that_many_adults_priced_as_before() {
    let app =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    let mut body = search_body();
    body["passengers"] = json!(2);
    let complete = complete_for(&app, &body).await;
    let offers = complete["offers"].as_array().unwrap();
    assert!(!offers.is_empty(), "{complete}");
    for offer in offers {
        let price = &offer["price"];
        let per = decimal(&price["per_passenger"]);
        assert_eq!(decimal(&price["total"]), per * Decimal::from(2), "{price}");
        assert_eq!(
            price["by_passenger"],
            json!([{"type": "adult", "count": 2, "each": price["per_passenger"]}])
        );
    }
    // Every field an old client reads (SPEC section 5) is still there, with
    // its type, whatever was added beside it.
    for offer in offers {
        for (field, is) in [
            ("id", Value::is_string as fn(&Value) -> bool),
            ("provider", Value::is_string),
            ("flight_number", Value::is_string),
            ("from", Value::is_string),
            ("to", Value::is_string),
            ("depart_at", Value::is_string),
            ("arrive_at", Value::is_string),
            ("duration_minutes", Value::is_u64),
            ("stops", Value::is_u64),
            ("cabin", Value::is_string),
            ("seats_left", Value::is_u64),
            ("leg", Value::is_string),
        ] {
            assert!(is(&offer[field]), "`{field}` of {offer}");
        }
        assert!(offer["airline"]["code"].is_string() && offer["airline"]["name"].is_string());
        for field in ["total", "per_passenger", "currency"] {
            assert!(
                offer["price"][field].is_string(),
                "`price.{field}` of {offer}"
            );
        }
    }
    let mut adults = body.clone();
    adults["passengers"] = json!({"adults": 2});
    let same = complete_for(&app, &adults).await;
    let prices = |c: &Value| -> Vec<Value> {
        c["offers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["price"].clone())
            .collect()
    };
    assert_eq!(prices(&same), prices(&complete));
    app.stop().await;
}

#[tokio::test]
async fn max_stops_leaves_out_offers_with_more_stops() {
    let app = TestApp::with_providers(
        &[(
            "rupiah.yaml",
            &family_airline("rupiah", "RP", "IDR", "1000000"),
        )],
        |_| {},
    )
    .await;
    let stops = |c: &Value| -> Vec<u64> {
        let mut s: Vec<u64> = c["offers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["stops"].as_u64().unwrap())
            .collect();
        s.sort_unstable();
        s
    };
    let mut body = search_body();
    assert_eq!(stops(&complete_for(&app, &body).await), [0, 0, 1]);
    body["max_stops"] = json!(0);
    assert_eq!(stops(&complete_for(&app, &body).await), [0, 0]);
    body["max_stops"] = json!(1);
    assert_eq!(stops(&complete_for(&app, &body).await), [0, 0, 1]);
    app.stop().await;
}

#[tokio::test]
async fn templates_read_each_traveller_type() {
    let server = MockServer::start().await;
    let date = date_in(14);
    Mock::given(method("POST"))
        .and(body_json(json!({
            "pax": 4, "adults": 2, "children": 1, "infants": 1, "max_stops": 0
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"itineraries": [
            {"segments": [{"flight": "SW12", "dep": format!("{date}T07:30:00"), "arr": format!("{date}T10:20:00")}],
             "fare": {"total": 3100000, "ccy": "IDR"}, "seats": 4}
        ]}})))
        .expect(1)
        .mount(&server)
        .await;
    let file = upstream_airline(&server.uri(), "").replace(
        r#"{"date": "{{ leg.date }}", "pax": {{ search.passengers }}, "cabin": "{{ search.cabin }}"}"#,
        r#"{"pax": {{ search.passengers }}, "adults": {{ search.adults }}, "children": {{ search.children }}, "infants": {{ search.infants }}, "max_stops": {{ search.max_stops }}}"#,
    );
    let app = TestApp::with_providers(&[("skyway.yaml", &file)], |_| {}).await;
    let mut body = search_body();
    body["date"] = json!(date);
    body["passengers"] = family();
    body["max_stops"] = json!(0);
    let complete = complete_for(&app, &body).await;
    let price = &complete["offers"][0]["price"];
    assert_eq!(price["total"], "3100000", "{complete}");
    // A total alone does not say what a child or an infant pays: no split
    // is guessed.
    assert_eq!(price["by_passenger"], json!([]), "{price}");
    app.stop().await;
}
