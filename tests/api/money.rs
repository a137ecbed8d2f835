//! Amounts on offers carry exactly their currency's digits, from a mock fare
//! table and from an upstream airline alike.

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, date_in, search_body};

/// A mock airline selling in SGD, fares written with fewer digits than the
/// currency has.
const SGD_AIRLINE: &str = r#"id: lion-sg
name: Lion Singapore
airline: TR
latency:
  fixed: 0ms
mock:
  currency: SGD
  routes:
    - from: CGK
      to: DPS
      flights:
        - { number: TR100, depart: "07:30", duration: 1h50m, arrive: "10:20", fares: { economy: 89.9, business: 119 } }
"#;

async fn complete_for(app: &TestApp, body: Value) -> Value {
    let id = app.submit(&body).await;
    app.stream(&id, "", None).await.last().unwrap().data.clone()
}

#[tokio::test]
async fn mock_sgd_amounts_have_two_digits() {
    let app = TestApp::with_providers(&[("lion-sg.yaml", SGD_AIRLINE)], |_| {}).await;
    let complete = complete_for(&app, search_body()).await;
    let price = &complete["offers"][0]["price"];
    assert_eq!(price["currency"], "SGD", "{complete}");
    assert_eq!(price["per_passenger"], "89.90", "{complete}");
    assert_eq!(price["total"], "179.80", "{complete}");
    let mut business = search_body();
    business["cabin"] = json!("business");
    business["passengers"] = json!(1);
    let complete = complete_for(&app, business).await;
    let price = &complete["offers"][0]["price"];
    assert_eq!(price["per_passenger"], "119.00", "{complete}");
    assert_eq!(price["total"], "119.00", "{complete}");
}

#[tokio::test]
async fn upstream_eur_amounts_have_two_digits() {
    let server = MockServer::start().await;
    let date = date_in(14);
    let leg = |flight: &str, hour: u32, total: Value| {
        json!({"segments": [{"flight": flight, "dep": format!("{date}T{hour:02}:00:00"), "arr": format!("{date}T{:02}:50:00", hour + 1)}],
               "fare": {"total": total, "ccy": "EUR"}, "seats": 9})
    };
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"itineraries": [
                leg("SW1", 7, json!(999.9)),
                leg("SW2", 9, json!("1234.5")),
                leg("SW3", 11, json!("1234.50")),
                leg("SW4", 13, json!("10.005")),
            ]}})),
        )
        .mount(&server)
        .await;
    let yaml = crate::upstream::airline(&server.uri(), "");
    let app = TestApp::with_providers(&[("skyway.yaml", &yaml)], |_| {}).await;
    let complete = complete_for(&app, search_body()).await;
    assert_eq!(
        complete["providers"]["skyway"]["status"], "ok",
        "{complete}"
    );
    let by_flight = |n: &str| -> Value {
        complete["offers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["flight_number"] == n)
            .unwrap_or_else(|| panic!("{n} in {complete}"))["price"]
            .clone()
    };
    assert_eq!(by_flight("SW1")["total"], "999.90");
    assert_eq!(by_flight("SW1")["per_passenger"], "499.95");
    assert_eq!(by_flight("SW2")["total"], "1234.50");
    assert_eq!(by_flight("SW2")["per_passenger"], "617.25");
    assert_eq!(by_flight("SW3")["total"], "1234.50");
    // More digits than EUR has: half to even.
    assert_eq!(by_flight("SW4")["total"], "10.00");
    assert_eq!(by_flight("SW4")["per_passenger"], "5.00");
}

/// The forms SPEC section 10 names, in JSON: a number, a string, more
/// digits than the currency has, and currencies of 0 and 3 digits.
#[tokio::test]
async fn upstream_amounts_in_every_form_take_their_currencys_digits() {
    let server = MockServer::start().await;
    let date = date_in(14);
    let cases = [
        (json!(999.9), "EUR", "999.90"),
        (json!("999.90"), "EUR", "999.90"),
        (json!(999.899), "EUR", "999.90"),
        (json!("999.899"), "EUR", "999.90"),
        (json!(1234), "JPY", "1234"),
        (json!("1234.5"), "JPY", "1234"),
        (json!(1.2345), "KWD", "1.234"),
        (json!("1.2355"), "KWD", "1.236"),
    ];
    let itineraries: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (total, ccy, _))| {
            json!({"segments": [{"flight": format!("SW{i}"), "dep": format!("{date}T{:02}:00:00", 6 + i), "arr": format!("{date}T{:02}:50:00", 6 + i)}],
                   "fare": {"total": total, "ccy": ccy}, "seats": 9})
        })
        .collect();
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"itineraries": itineraries}})),
        )
        .mount(&server)
        .await;
    let yaml = crate::upstream::airline(&server.uri(), "");
    let app = TestApp::with_providers(&[("skyway.yaml", &yaml)], |_| {}).await;
    let complete = complete_for(&app, search_body()).await;
    for (i, (total, ccy, expected)) in cases.iter().enumerate() {
        let offer = complete["offers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["flight_number"] == format!("SW{i}"))
            .unwrap_or_else(|| panic!("SW{i} in {complete}"));
        assert_eq!(offer["price"]["total"], *expected, "{total} {ccy}");
        assert_eq!(offer["price"]["currency"], *ccy);
    }
}
