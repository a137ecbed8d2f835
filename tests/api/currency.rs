//! A search may ask for its prices in a currency of the server's rates
//! file: each offer's total is also given converted (`price.converted`),
//! and the cheapest-first order follows the converted totals across the
//! airlines' currencies.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{TestApp, airstream, search_body};

const RATES: &str = "date = \"2026-12-01\"\nbase = \"USD\"\n[rates]\nIDR = 16000\nEUR = 0.8\n";

/// An airline selling in `currency`, without jitter.
fn seller(id: &str, code: &str, currency: &str, fares: [&str; 2]) -> String {
    format!(
        r#"id: {id}
name: Seller {code}
airline: {code}
latency:
  fixed: 0ms
mock:
  currency: {currency}
  routes:
    - from: CGK
      to: DPS
      flights:
        - {{ number: {code}1, depart: "07:30", duration: 1h50m, arrive: "10:20", fares: {{ economy: {} }}, seats: 50 }}
        - {{ number: {code}2, depart: "12:30", duration: 1h50m, arrive: "15:20", fares: {{ economy: {} }}, seats: 50 }}
"#,
        fares[0], fares[1]
    )
}

async fn app(rates: Option<&str>) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rates.toml");
    if let Some(text) = rates {
        std::fs::write(&path, text).unwrap();
    }
    let app = TestApp::with_providers(
        &[
            (
                "rupiah.yaml",
                &seller("rupiah", "RP", "IDR", ["1600000", "2400000"]),
            ),
            ("euro.yaml", &seller("euro", "EU", "EUR", ["90", "150.55"])),
        ],
        |s| s.currency.rates_file = rates.map(|_| path.clone()),
    )
    .await;
    (app, dir)
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str(value.as_str().unwrap()).unwrap()
}

async fn complete_for(app: &TestApp, body: &Value) -> Value {
    let id = app.submit(body).await;
    app.stream(&id, "", None).await.last().unwrap().data.clone()
}

#[tokio::test]
async fn totals_are_converted_and_ordered_across_currencies() {
    let (app, _dir) = app(Some(RATES)).await;
    let mut body = search_body();
    body["passengers"] = json!(1);
    body["currency"] = json!("usd");
    let complete = complete_for(&app, &body).await;
    let offers = complete["offers"].as_array().unwrap();
    let shown: Vec<(&str, &str)> = offers
        .iter()
        .map(|o| {
            let c = &o["price"]["converted"];
            assert_eq!(c["currency"], "USD", "{o}");
            assert_eq!(c["date"], "2026-12-01", "{o}");
            (
                o["flight_number"].as_str().unwrap(),
                c["total"].as_str().unwrap(),
            )
        })
        .collect();
    // 1,600,000 IDR = 100 USD; 90 EUR = 112.50 USD; 2,400,000 IDR = 150
    // USD; 150.55 EUR = 188.19 USD (188.1875, half to even).
    assert_eq!(
        shown,
        [
            ("RP1", "100.00"),
            ("EU1", "112.50"),
            ("RP2", "150.00"),
            ("EU2", "188.19")
        ],
        "{complete}"
    );
    let euro = offers.iter().find(|o| o["flight_number"] == "EU1").unwrap();
    assert_eq!(
        decimal(&euro["price"]["converted"]["rate"]),
        Decimal::new(125, 2)
    );
    // Without a currency, no conversion, and the documented order: by
    // currency code, then total.
    body.as_object_mut().unwrap().remove("currency");
    let plain = complete_for(&app, &body).await;
    let order: Vec<&str> = plain["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert!(o["price"].get("converted").is_none(), "{o}");
            o["flight_number"].as_str().unwrap()
        })
        .collect();
    assert_eq!(order, ["EU1", "EU2", "RP1", "RP2"]);
    app.stop().await;
}

#[tokio::test]
async fn a_currency_without_a_rate_is_a_422_that_says_which_there_are() {
    let (app, _dir) = app(Some(RATES)).await;
    let (status, list) = app.get("/api/currencies").await;
    assert_eq!(status, 200);
    assert_eq!(
        list["data"],
        json!({"date": "2026-12-01", "currencies": ["EUR", "IDR", "USD"]})
    );
    for (currency, code, needle) in [
        (
            json!("JPY"),
            "unknown_currency",
            "the rates have EUR, IDR, USD",
        ),
        (json!("dollars"), "invalid_currency", "three-letter"),
        (json!(840), "invalid_currency", "three-letter"),
    ] {
        let mut body = search_body();
        body["currency"] = currency.clone();
        let (status, answer) = app.post(&body).await;
        assert_eq!(status, 422, "{currency}: {answer}");
        let error = &answer["errors"][0];
        assert_eq!(
            (error["field"].as_str(), error["code"].as_str()),
            (Some("currency"), Some(code))
        );
        assert!(
            error["message"].as_str().unwrap().contains(needle),
            "{error}"
        );
    }
    app.stop().await;
    let (app, _dir) = app_without_rates().await;
    let (_, list) = app.get("/api/currencies").await;
    assert_eq!(list["data"], json!({"date": null, "currencies": []}));
    let mut body = search_body();
    body["currency"] = json!("USD");
    let (status, answer) = app.post(&body).await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no exchange rates are set"),
        "{answer}"
    );
    app.stop().await;
}

async fn app_without_rates() -> (TestApp, tempfile::TempDir) {
    app(None).await
}

#[test]
fn a_bad_rates_file_stops_the_server_at_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rates.toml");
    std::fs::write(
        &path,
        "date = \"2026-12-01\"\nbase = \"USD\"\n[rates]\nIDR = -3\n",
    )
    .unwrap();
    let out = airstream()
        .arg("serve")
        .env("AIRSTREAM_LISTEN", "127.0.0.1:0")
        .env("AIRSTREAM_CURRENCY__RATES_FILE", &path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rates file")
            && text.contains("the rate of IDR must be a number more than 0"),
        "{text}"
    );
}
