//! Fares (SPEC section 9): brands per cabin give one offer each with their
//! own bags and conditions; taxes split the total into base and taxes with
//! exact sums; an offer says until when its price holds.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{TestApp, refused_at_a_line, search_body};

/// Economy in three brands, business without any; taxes of a fixed amount
/// per seat and a percentage.
fn branded(currency: &str, fixed: &str) -> String {
    format!(
        r#"id: brandy
name: Brand Air
airline: BR
latency:
  fixed: 0ms
mock:
  currency: {currency}
  seed: 5
  offer_lifetime: 20m
  pricing: {{ jitter: 0.03, child: 0.75, infant: 0.1 }}
  taxes: {{ per_traveller: {fixed}, percent: 11 }}
  brands:
    economy:
      - {{ name: Lite, checked_bags: 0, cabin_bags: 1, refundable: false, changeable: false }}
      - {{ name: Value, factor: 1.2, checked_bags: 1, checked_kg: 20, cabin_bags: 1, refundable: false, changeable: true }}
      - {{ name: Flex Plus, factor: 1.5, checked_bags: 2, checked_kg: 30, cabin_bags: 1, refundable: true, changeable: true }}
  routes:
    - from: CGK
      to: DPS
      flights:
        - {{ number: BR100, depart: "07:30", duration: 1h50m, arrive: "10:20", fares: {{ economy: 1000000, business: 4000000 }}, seats: 60 }}
        - {{ number: BR102, depart: "12:15", duration: 1h50m, arrive: "15:05", fares: {{ economy: 900000, business: 3900000 }}, seats: 60 }}
"#
    )
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().expect("an amount is a string")).expect("a decimal")
}

async fn complete_for(app: &TestApp, body: &Value) -> Value {
    let id = app.submit(body).await;
    app.stream(&id, "", None).await.last().unwrap().data.clone()
}

#[tokio::test]
async fn brands_give_one_offer_each_with_their_own_bags() {
    let app = TestApp::with_providers(&[("brandy.yaml", &branded("IDR", "50000"))], |_| {}).await;
    let complete = complete_for(&app, &search_body()).await;
    let id = complete["search_id"].as_str().unwrap();
    let (_, snapshot) = app.get(&format!("/api/flights/search/{id}")).await;
    let offers = snapshot["data"]["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 6, "{snapshot}");
    let of = |suffix: &str| -> Vec<&Value> {
        offers
            .iter()
            .filter(|o| o["id"].as_str().unwrap().ends_with(suffix))
            .collect()
    };
    let (lite, value, flex) = (of("-lite"), of("-value"), of("-flex-plus"));
    assert_eq!(
        (lite.len(), value.len(), flex.len()),
        (2, 2, 2),
        "{snapshot}"
    );
    assert_eq!(
        lite[0]["fare"],
        json!({"brand": "Lite", "refundable": false, "changeable": false,
               "baggage": {"checked_bags": 0, "checked_kg": null, "cabin_bags": 1}})
    );
    assert_eq!(
        flex[0]["fare"],
        json!({"brand": "Flex Plus", "refundable": true, "changeable": true,
               "baggage": {"checked_bags": 2, "checked_kg": 30, "cabin_bags": 1}})
    );
    assert_eq!(value[0]["fare"]["baggage"]["checked_kg"], 20);
    for flight in ["BR100", "BR102"] {
        let price = |brand: &[&Value]| {
            let offer = brand.iter().find(|o| o["flight_number"] == flight).unwrap();
            (
                decimal(&offer["price"]["total"]),
                offer["itinerary"].clone(),
            )
        };
        let ((l, li), (v, vi), (f, fi)) = (price(&lite), price(&value), price(&flex));
        assert!(l < v && v < f, "{flight}: {l} {v} {f}");
        assert!(li == vi && vi == fi, "one itinerary for the three brands");
    }
    // The cheapest list holds each flight once: its Lite fare.
    let listed = complete["offers"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{complete}");
    assert!(listed.iter().all(|o| o["fare"]["brand"] == "Lite"));
    // A cabin without brands is one fare whose terms are not known.
    let mut business = search_body();
    business["cabin"] = json!("business");
    let complete = complete_for(&app, &business).await;
    let offer = &complete["offers"][0];
    assert_eq!(
        offer["fare"],
        json!({"brand": null, "refundable": null, "changeable": null,
               "baggage": {"checked_bags": null, "checked_kg": null, "cabin_bags": null}}),
        "{offer}"
    );
    assert!(!offer["id"].as_str().unwrap().ends_with("-lite"));
    app.stop().await;
}

#[tokio::test]
async fn taxes_split_the_total_exactly_and_the_price_holds_for_its_lifetime() {
    for (currency, fixed, places) in [("IDR", "50000", 0), ("EUR", "12.5", 2), ("KWD", "1.25", 3)] {
        let app =
            TestApp::with_providers(&[("brandy.yaml", &branded(currency, fixed))], |_| {}).await;
        let mut body = search_body();
        body["passengers"] = json!({"adults": 2, "children": 1, "infants": 1});
        let complete = complete_for(&app, &body).await;
        let id = complete["search_id"].as_str().unwrap();
        let (_, snapshot) = app.get(&format!("/api/flights/search/{id}")).await;
        let created: jiff::Timestamp = snapshot["data"]["request"]["created_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let offers = snapshot["data"]["offers"].as_array().unwrap();
        assert_eq!(offers.len(), 6, "{snapshot}");
        let fixed = Decimal::from_str(fixed).unwrap();
        let unit = Decimal::new(1, places);
        for offer in offers {
            let price = &offer["price"];
            let (base, taxes, total) = (
                decimal(&price["base"]),
                decimal(&price["taxes"]),
                decimal(&price["total"]),
            );
            assert_eq!(base + taxes, total, "{price}");
            let split: Decimal = price["by_passenger"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| decimal(&p["each"]) * Decimal::from(p["count"].as_u64().unwrap()))
                .sum();
            assert_eq!(split, total, "{price}");
            // Three seats pay the fixed tax, the infant on a lap does not;
            // 11% of the base is the rest, within a minor unit per traveller.
            let expected = fixed * Decimal::from(3) + base * Decimal::new(11, 2);
            assert!(
                (taxes - expected).abs() <= unit * Decimal::from(4),
                "{currency}: taxes {taxes}, expected about {expected}: {price}"
            );
            for amount in [&price["base"], &price["taxes"], &price["total"]] {
                let digits = amount
                    .as_str()
                    .unwrap()
                    .split_once('.')
                    .map_or(0, |(_, d)| d.len());
                assert_eq!(digits, places as usize, "{price}");
            }
            let expires: jiff::Timestamp = offer["expires_at"].as_str().unwrap().parse().unwrap();
            let held = expires.duration_since(created).as_secs();
            assert!(
                (19 * 60..=21 * 60).contains(&held),
                "held {held} s: {offer}"
            );
        }
        app.stop().await;
    }
}

#[test]
fn bad_brands_and_taxes_are_refused_with_their_place() {
    let good = branded("IDR", "50000");
    let cases = [
        (
            good.replace("    economy:\n", "    deluxe:\n"),
            "`deluxe` is not a cabin",
        ),
        (
            good.replace("name: Value", "name: Lite"),
            "listed twice for economy",
        ),
        (good.replace("percent: 11", "percent: 150"), "from 0 to 100"),
        (
            good.replace("per_traveller: 50000", "per_traveller: -1"),
            "0 or more",
        ),
        (
            good.replace("offer_lifetime: 20m", "offer_lifetime: 10s"),
            "from 1m to 24h",
        ),
        (good.replace("factor: 1.2", "factor: -2"), "positive factor"),
        (
            good.replace(
                "cabin_bags: 1, refundable: true",
                "cabin_bags: 1, wifi: true",
            ),
            "wifi",
        ),
    ];
    for (text, needle) in cases {
        refused_at_a_line("brandy.yaml", &text, needle);
    }
}
