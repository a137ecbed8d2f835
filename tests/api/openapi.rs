//! `GET /openapi.json`: the contract a tool can read, fetched from a real
//! server, and checked against the routes the server answers.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{TestApp, search_body};

/// Every route the router serves, as `METHOD path`.
const SERVED: [&str; 17] = [
    "POST /api/flights/search",
    "GET /api/flights/search/{search_id}",
    "GET /api/flights/search/{search_id}/stream",
    "GET /api/providers",
    "GET /api/airports",
    "GET /api/currencies",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /",
    "GET /assets/app.js",
    "GET /assets/style.css",
    "POST /sim/{provider}/v1/availability",
    "POST /sim/{provider}/v2/availability",
    "POST /sim/{provider}/ndc/AirShopping",
    "POST /sim/oauth/token",
    "GET /openapi.json",
];

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.expect("the document is JSON")
}

fn operations(doc: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            found.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    found
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_names_the_event_schemas() {
    let app = TestApp::with_samples().await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "OffersEvent",
        "ProviderEvent",
        "CompleteEvent",
        "ErrorEnvelope",
        "FieldError",
        "Offer",
        "Snapshot",
    ] {
        assert!(schemas.contains_key(name), "schema {name} is missing");
    }
    let stream = &doc["paths"]["/api/flights/search/{search_id}/stream"]["get"]["responses"];
    assert!(
        stream["200"]["content"]["text/event-stream"].is_object(),
        "{stream}"
    );
    let busy = &doc["paths"]["/api/flights/search"]["post"]["responses"]["503"];
    assert!(busy["headers"]["Retry-After"].is_object(), "{busy}");
    app.stop().await;
}

#[tokio::test]
async fn every_route_served_is_documented_and_every_documented_route_answers() {
    let app = TestApp::with_samples().await;
    let doc = document(&app).await;
    let served: BTreeSet<String> = SERVED.iter().map(|s| s.to_string()).collect();
    assert_eq!(operations(&doc), served);
    let id = app.submit(&search_body()).await;
    for op in &served {
        let (method, path) = op.split_once(' ').unwrap();
        let url = app.url(
            &path
                .replace("{search_id}", &id)
                .replace("{provider}", "garuda"),
        );
        let request = match method {
            "GET" => app.client.get(url),
            _ => app
                .client
                .post(url)
                .header("content-type", "application/json")
                .body("{}"),
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = if path.ends_with("/stream") {
            String::new()
        } else {
            response.text().await.unwrap()
        };
        assert!(
            !text.contains("no route for"),
            "{op} is documented but not routed: {status} {text}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_providers_process_serves_the_document_too() {
    let app = TestApp::with_providers(&[], |s| {
        s.role = airstream::config::Role::Providers;
    })
    .await;
    let doc = document(&app).await;
    assert!(doc["paths"]["/api/flights/search"].is_object());
    app.stop().await;
}

/// Every value of a code enum of the document (one `enum` list, or `oneOf`
/// one-value enums when the variants are described).
fn codes(doc: &Value, schema: &str) -> BTreeSet<String> {
    let schema = &doc["components"]["schemas"][schema];
    let one_of = schema["oneOf"].as_array().into_iter().flatten();
    std::iter::once(schema)
        .chain(one_of)
        .filter_map(|s| s["enum"].as_array())
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn every_error_code_answered_is_listed_in_the_document() {
    let app = TestApp::with_samples().await;
    let doc = document(&app).await;
    let (error_codes, field_codes) = (codes(&doc, "ErrorCode"), codes(&doc, "FieldCode"));
    let id = app.submit(&search_body()).await;
    let unknown = uuid::Uuid::new_v4();
    let mut answered = Vec::new();
    for raw in [
        "{".to_string(),
        "[1]".to_string(),
        r#"{"from": "X", "to": 5, "date": "soon", "passengers": 12, "cabin": "deck", "providers": ["nope"], "timeout_ms": 0, "pet": 1}"#.to_string(),
    ] {
        answered.push(app.post_raw(raw).await);
    }
    for path in [
        "/api/flights/search/not-an-id".to_string(),
        format!("/api/flights/search/{unknown}"),
        format!("/api/flights/search/{id}/stream?last_event_id=x"),
        format!("/api/flights/search/{id}/stream?last_event_id=99999"),
        "/nowhere".to_string(),
    ] {
        answered.push(app.get(&path).await);
    }
    let wrong_method = app
        .client
        .delete(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    answered.push((
        wrong_method.status().as_u16(),
        wrong_method.json().await.unwrap(),
    ));
    let mut seen = BTreeSet::new();
    for (status, body) in &answered {
        let code = body["code"].as_str().unwrap();
        assert!(
            error_codes.contains(code),
            "{status}: `{code}` is not documented"
        );
        seen.insert(code.to_string());
        for error in body["errors"].as_array().into_iter().flatten() {
            let code = error["code"].as_str().unwrap();
            assert!(
                field_codes.contains(code),
                "field code `{code}` is not documented"
            );
            seen.insert(code.to_string());
        }
    }
    for expected in [
        "malformed_json",
        "validation_failed",
        "not_an_object",
        "invalid_airport",
        "too_many_travellers",
        "unknown_provider",
        "unknown_field",
        "search_not_found",
        "invalid_last_event_id",
        "event_id_beyond_end",
        "route_not_found",
        "method_not_allowed",
    ] {
        assert!(
            seen.contains(expected),
            "no answer carried `{expected}`: {seen:?}"
        );
    }
    app.stop().await;
}
