//! Segments and itineraries (SPEC section 9): a connection through a hub in
//! local times across time zones, a codeshare with its operating airline,
//! and the same journey from two sellers grouped under one `itinerary`.

use jiff::civil::DateTime;
use serde_json::{Value, json};

use crate::helpers::{TestApp, date_in, refused_at_a_line, search_body};

/// Jakarta (UTC+7) to Tokyo Haneda (UTC+9) through Singapore (UTC+8), no
/// jitter: CGK-SIN 1h50m, SIN-HND 6h45m; the connection sells at 0.9 of
/// the two fares.
const HUB_AIRLINE: &str = r#"id: hub
name: Hub Air
airline: HB
latency:
  fixed: 0ms
mock:
  currency: IDR
  routes:
    - from: CGK
      to: SIN
      flights:
        - { number: HB820, depart: "08:00", duration: 1h50m, arrive: "10:50", fares: { economy: 1000000 }, seats: 50 }
        - { number: HB826, depart: "21:00", duration: 1h50m, arrive: "23:50", fares: { economy: 900000 }, seats: 50 }
    - from: SIN
      to: HND
      flights:
        - { number: HB874, depart: "07:10", duration: 6h45m, arrive: "14:55", fares: { economy: 3000000 }, seats: 50 }
        - { number: HB876, depart: "13:05", duration: 6h45m, arrive: "20:50", fares: { economy: 3200000 }, seats: 50 }
    - from: CGK
      to: HND
      via: SIN
      connection: { min: 1h, max: 9h }
      factor: 0.9
"#;

fn at(value: &Value) -> DateTime {
    value.as_str().unwrap().parse().unwrap()
}

fn minutes(from: &Value, to: &Value) -> i64 {
    at(to).duration_since(at(from)).as_mins()
}

async fn complete_for(app: &TestApp, body: &Value) -> Value {
    let id = app.submit(body).await;
    app.stream(&id, "", None).await.last().unwrap().data.clone()
}

fn search(from: &str, to: &str) -> Value {
    let mut body = search_body();
    body["from"] = json!(from);
    body["to"] = json!(to);
    body["passengers"] = json!(1);
    body
}

#[tokio::test]
async fn a_connection_through_a_hub_connects_in_local_times() {
    let app = TestApp::with_providers(&[("hub.yaml", HUB_AIRLINE)], |_| {}).await;
    let complete = complete_for(&app, &search("CGK", "HND")).await;
    let offers = complete["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 2, "{complete}");
    let date = date_in(14);
    let tomorrow = date_in(15);
    for offer in offers {
        let segments = offer["segments"].as_array().unwrap();
        assert_eq!(segments.len(), 2, "{offer}");
        let (first, second) = (&segments[0], &segments[1]);
        assert_eq!(
            (&first["from"], &first["to"]),
            (&json!("CGK"), &json!("SIN"))
        );
        assert_eq!(
            (&second["from"], &second["to"]),
            (&json!("SIN"), &json!("HND"))
        );
        // Each segment: its clock difference is its block time plus the
        // hour between the zones it crosses.
        for s in segments {
            let clock = minutes(&s["depart_at"], &s["arrive_at"]);
            assert_eq!(clock, s["duration_minutes"].as_i64().unwrap() + 60, "{s}");
            assert_eq!(s["marketing_carrier"], "HB");
            assert_eq!(s["operating_carrier"], "HB");
            assert_eq!(s["operating_flight_number"], s["flight_number"]);
        }
        let wait = minutes(&first["arrive_at"], &second["depart_at"]);
        assert!(
            (60..=9 * 60).contains(&wait),
            "{wait} minutes at SIN: {offer}"
        );
        // The journey's own fields come from its segments.
        assert_eq!(offer["flight_number"], first["flight_number"]);
        assert_eq!(
            (&offer["from"], &offer["to"]),
            (&json!("CGK"), &json!("HND"))
        );
        assert_eq!(offer["depart_at"], first["depart_at"]);
        assert_eq!(offer["arrive_at"], second["arrive_at"]);
        assert_eq!(offer["stops"], 1);
        let flying = first["duration_minutes"].as_i64().unwrap()
            + second["duration_minutes"].as_i64().unwrap();
        assert_eq!(offer["duration_minutes"].as_i64().unwrap(), flying + wait);
        assert_eq!(
            offer["itinerary"],
            format!(
                "{}:{}|{}:{}|economy",
                first["flight_number"].as_str().unwrap(),
                &first["depart_at"].as_str().unwrap()[..10],
                second["flight_number"].as_str().unwrap(),
                &second["depart_at"].as_str().unwrap()[..10],
            )
        );
    }
    let by_number = |n: &str| {
        offers
            .iter()
            .find(|o| o["flight_number"] == n)
            .unwrap_or_else(|| panic!("no {n} in {complete}"))
    };
    // The morning flight makes the 13:05 (2h15m at SIN), the evening one
    // the next morning's 07:10 (7h20m), a day later.
    let morning = by_number("HB820");
    assert_eq!(morning["segments"][1]["flight_number"], "HB876");
    assert_eq!(morning["arrive_at"], format!("{date}T20:50:00"));
    assert_eq!(
        morning["price"]["total"], "3780000",
        "0.9 × (1000000 + 3200000)"
    );
    let evening = by_number("HB826");
    assert_eq!(evening["segments"][1]["flight_number"], "HB874");
    assert_eq!(
        evening["segments"][1]["depart_at"],
        format!("{tomorrow}T07:10:00")
    );
    assert_eq!(evening["arrive_at"], format!("{tomorrow}T14:55:00"));
    assert_eq!(
        evening["price"]["total"], "3510000",
        "0.9 × (900000 + 3000000)"
    );
    // The legs are still sold on their own, and max_stops leaves out the
    // connection.
    let direct = complete_for(&app, &search("CGK", "SIN")).await;
    assert_eq!(direct["offers"].as_array().unwrap().len(), 2, "{direct}");
    assert_eq!(direct["offers"][0]["segments"].as_array().unwrap().len(), 1);
    let mut nonstop = search("CGK", "HND");
    nonstop["max_stops"] = json!(0);
    let none = complete_for(&app, &nonstop).await;
    assert_eq!(none["offers"], json!([]), "{none}");
    app.stop().await;
}

/// An airline of `code` selling CGK-DPS at 07:30 for `fare`, under
/// `number`, operated by `operated_by` when given.
fn seller(id: &str, code: &str, number: &str, operated_by: Option<&str>, fare: u32) -> String {
    let operated = operated_by.map_or(String::new(), |o| format!(", operated_by: {o}"));
    format!(
        r#"id: {id}
name: Seller {code}
airline: {code}
latency:
  fixed: 0ms
mock:
  currency: IDR
  routes:
    - from: CGK
      to: DPS
      flights:
        - {{ number: {number}, depart: "07:30", duration: 1h50m, arrive: "10:20", fares: {{ economy: {fare} }}, seats: 50{operated} }}
        - {{ number: {code}9, depart: "18:00", duration: 1h50m, arrive: "20:50", fares: {{ economy: {fare} }}, seats: 50 }}
"#
    )
}

#[tokio::test]
async fn the_same_journey_from_two_sellers_is_one_itinerary() {
    let app = TestApp::with_providers(
        &[
            (
                "marketer.yaml",
                &seller("marketer", "GA", "GA7302", Some("QG302"), 1_200_000),
            ),
            (
                "operator.yaml",
                &seller("operator", "QG", "QG302", None, 1_100_000),
            ),
        ],
        |_| {},
    )
    .await;
    let complete = complete_for(&app, &search("CGK", "DPS")).await;
    let key = format!("QG302:{}|economy", date_in(14));
    assert_eq!(complete["total_offers"], 4, "{complete}");
    assert_eq!(complete["sellers"][&key], 2, "{complete}");
    assert_eq!(
        complete["sellers"][format!("GA9:{}|economy", date_in(14))],
        1
    );
    // The cheapest list holds the shared journey once: its cheapest seller.
    let listed: Vec<&Value> = complete["offers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["itinerary"] == key.as_str())
        .collect();
    assert_eq!(listed.len(), 1, "{complete}");
    assert_eq!(listed[0]["provider"], "operator");
    assert_eq!(complete["offers"].as_array().unwrap().len(), 3);
    // The snapshot keeps every offer, and the marketer's says who flies it.
    let id = complete["search_id"].as_str().unwrap();
    let (_, snapshot) = app.get(&format!("/api/flights/search/{id}")).await;
    let data = &snapshot["data"];
    assert_eq!(data["offers"].as_array().unwrap().len(), 4);
    assert_eq!(data["sellers"][&key], 2, "{data}");
    let codeshare = data["offers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["provider"] == "marketer" && o["itinerary"] == key.as_str())
        .expect("the marketer's offer");
    let segment = &codeshare["segments"][0];
    assert_eq!(segment["flight_number"], "GA7302");
    assert_eq!(segment["marketing_carrier"], "GA");
    assert_eq!(segment["operating_carrier"], "QG");
    assert_eq!(segment["operating_flight_number"], "QG302");
    app.stop().await;
}

#[test]
fn bad_connections_and_codeshares_are_refused_with_their_place() {
    let cases = [
        (
            HUB_AIRLINE.replace("      via: SIN\n", "      via: SIN\n      flights: []\n"),
            "has no flights of its own",
        ),
        (
            HUB_AIRLINE.replace("via: SIN", "via: KUL"),
            "needs a route from CGK to KUL",
        ),
        (
            HUB_AIRLINE.replace("{ min: 1h, max: 9h }", "{ min: 5m, max: 9h }"),
            "at least 20m",
        ),
        (
            HUB_AIRLINE.replace("via: SIN", "via: HND"),
            "through a third airport",
        ),
        (
            HUB_AIRLINE.replace("      via: SIN\n", ""),
            "belongs to a connecting route",
        ),
        (
            HUB_AIRLINE.replace("seats: 50 }", "seats: 50, operated_by: X }"),
            "not the operating airline's flight number",
        ),
    ];
    for (text, needle) in cases {
        refused_at_a_line("hub.yaml", &text, needle);
    }
}
