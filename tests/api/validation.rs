//! Every bad form of a search request gets a clear 400, 413 or 422 that names
//! what is wrong, in words and as a stable code.

use serde_json::{Value, json};

use crate::helpers::{TestApp, date_in, fast_airline, search_body};

async fn app() -> TestApp {
    TestApp::with_providers(
        &[
            ("alpha.yaml", &fast_airline("alpha", "AA")),
            (
                "off.yaml",
                &crate::helpers::mock_airline("off", "OF", "fixed: 0ms", "enabled: false"),
            ),
        ],
        |s| s.http.body_limit = 2048,
    )
    .await
}

/// The field errors of a 422, as (field, code, message).
fn field_errors(body: &Value) -> Vec<(String, String, String)> {
    assert_eq!(body["success"], false);
    assert_eq!(body["message"], "validation failed");
    assert_eq!(body["code"], "validation_failed");
    body["errors"]
        .as_array()
        .expect("errors list")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn with(field: &str, value: Value) -> Value {
    let mut body = search_body();
    body[field] = value;
    body
}

fn without(field: &str) -> Value {
    let mut body = search_body();
    body.as_object_mut().unwrap().remove(field);
    body
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = app().await;
    for raw in ["{\"from\": \"CGK\",", "not json", ""] {
        let (status, body) = app.post_raw(raw.to_string()).await;
        assert_eq!(status, 400, "{raw}");
        assert_eq!(body["success"], false);
        assert_eq!(body["code"], "malformed_json");
        assert!(
            body["message"].as_str().unwrap().contains("malformed JSON"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = app().await;
    let mut body = search_body();
    body["pad"] = json!("x".repeat(4096));
    let (status, body) = app.post(&body).await;
    assert_eq!(status, 413);
    assert_eq!(body["code"], "payload_too_large");
    assert!(body["message"].as_str().unwrap().contains("2048"), "{body}");
}

#[tokio::test]
async fn each_bad_field_is_named() {
    let app = app().await;
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        (without("from"), "from", "is required", "required"),
        (
            with("from", json!("JAKARTA")),
            "from",
            "three-letter",
            "invalid_airport",
        ),
        (
            with("from", json!(12)),
            "from",
            "three-letter",
            "invalid_airport",
        ),
        (
            with("to", json!("CGK")),
            "to",
            "must differ",
            "same_airport",
        ),
        (without("to"), "to", "is required", "required"),
        (
            with("to", json!("QQQ")),
            "to",
            "not an airport",
            "unknown_airport",
        ),
        (
            with("from", json!("zzz")),
            "from",
            "`ZZZ`",
            "unknown_airport",
        ),
        (without("date"), "date", "is required", "required"),
        (
            with("date", json!("25/12/2026")),
            "date",
            "YYYY-MM-DD",
            "invalid_date",
        ),
        (
            with("date", json!("2026-02-30")),
            "date",
            "YYYY-MM-DD",
            "invalid_date",
        ),
        (
            with("date", json!(date_in(-5))),
            "date",
            "in the past",
            "date_in_past",
        ),
        (
            with("date", json!(date_in(400))),
            "date",
            "days ahead",
            "date_too_far",
        ),
        (
            with("return_date", json!(date_in(2))),
            "return_date",
            "before `date`",
            "return_before_outbound",
        ),
        (
            with("return_date", json!(true)),
            "return_date",
            "YYYY-MM-DD",
            "invalid_date",
        ),
        (
            without("passengers"),
            "passengers",
            "is required",
            "required",
        ),
        (
            with("passengers", json!(0)),
            "passengers",
            "1 to 9",
            "invalid_passengers",
        ),
        (
            with("passengers", json!(10)),
            "passengers",
            "1 to 9",
            "too_many_travellers",
        ),
        (
            with("passengers", json!("2")),
            "passengers",
            "1 to 9",
            "invalid_passengers",
        ),
        (
            with("passengers", json!(1.5)),
            "passengers",
            "1 to 9",
            "invalid_passengers",
        ),
        (
            with("cabin", json!("luxury")),
            "cabin",
            "economy, premium_economy",
            "invalid_cabin",
        ),
        (
            with("providers", json!(["alpha", "nope"])),
            "providers",
            "unknown provider `nope`",
            "unknown_provider",
        ),
        (
            with("providers", json!(["off"])),
            "providers",
            "disabled",
            "disabled_provider",
        ),
        (
            with("providers", json!("alpha")),
            "providers",
            "list of provider ids",
            "invalid_providers",
        ),
        (
            with("providers", json!([])),
            "providers",
            "at least one",
            "invalid_providers",
        ),
        (
            with("providers", json!(["alpha", "alpha"])),
            "providers",
            "listed twice",
            "duplicate_provider",
        ),
        (
            with("providers", json!([7])),
            "providers",
            "strings",
            "invalid_providers",
        ),
        (
            with("timeout_ms", json!(0)),
            "timeout_ms",
            "1 or more",
            "invalid_timeout",
        ),
        (
            with("timeout_ms", json!("soon")),
            "timeout_ms",
            "1 or more",
            "invalid_timeout",
        ),
        (
            with("flexible", json!(true)),
            "flexible",
            "unknown field",
            "unknown_field",
        ),
    ];
    for (body, field, needle, code) in cases {
        let (status, answer) = app.post(&body).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        let errors = field_errors(&answer);
        assert!(
            errors
                .iter()
                .any(|(f, c, m)| f == field && c == code && m.contains(needle)),
            "{body}: expected `{field}` {code} with `{needle}`, got {errors:?}"
        );
    }
}

#[tokio::test]
async fn every_bad_field_is_listed_at_once() {
    let app = app().await;
    let body = json!({"from": "X", "to": 5, "date": "tomorrow", "passengers": 0, "cabin": "deck", "colour": "red"});
    let (status, answer) = app.post(&body).await;
    assert_eq!(status, 422);
    let fields: Vec<String> = field_errors(&answer)
        .into_iter()
        .map(|(f, _, _)| f)
        .collect();
    for f in ["from", "to", "date", "passengers", "cabin", "colour"] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
}

#[tokio::test]
async fn a_non_object_body_is_422() {
    let app = app().await;
    let (status, answer) = app.post(&json!([1, 2])).await;
    assert_eq!(status, 422);
    let (field, code, _) = &field_errors(&answer)[0];
    assert_eq!((field.as_str(), code.as_str()), ("body", "not_an_object"));
}

#[tokio::test]
async fn valid_optional_fields_are_accepted_and_timeouts_capped() {
    let app = app().await;
    let mut body = search_body();
    body["return_date"] = json!(date_in(20));
    body["cabin"] = json!("business");
    body["providers"] = json!(["alpha"]);
    body["timeout_ms"] = json!(999_999_999u64);
    let (status, answer) = app.post(&body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["data"]["providers"], json!(["alpha"]));
    let id = answer["data"]["search_id"].as_str().unwrap();
    let (_, snap) = app.get(&format!("/api/flights/search/{id}")).await;
    let created: jiff::Timestamp = snap["data"]["request"]["created_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let deadline: jiff::Timestamp = snap["data"]["request"]["deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let budget = deadline.duration_since(created).as_secs();
    assert_eq!(budget, 30, "timeout_ms is capped at the server's max (30s)");
    let events = app.stream(id, "", None).await;
    let complete = events.last().unwrap();
    // Business is sold on one flight each way: one outbound, one inbound.
    let offers = complete.data["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 2, "{offers:?}");
    assert!(offers.iter().all(|o| o["cabin"] == "business"));
    let legs: Vec<&str> = offers.iter().map(|o| o["leg"].as_str().unwrap()).collect();
    assert!(
        legs.contains(&"outbound") && legs.contains(&"inbound"),
        "{legs:?}"
    );
}

#[tokio::test]
async fn a_wrong_method_is_405_in_the_envelope() {
    let app = app().await;
    let response = app
        .client
        .delete(app.url("/api/flights/search"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.expect("JSON envelope");
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "method_not_allowed");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("method not allowed"),
        "{body}"
    );
}
