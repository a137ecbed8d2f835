//! Hostile but fair clients (issue 12): long input is never echoed whole,
//! every error is in the JSON envelope, a body declared too large is
//! refused at once, and a finished stream tells EventSource to stop.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, WAIT, fast_airline, search_body};

async fn app() -> TestApp {
    TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await
}

/// Sends raw bytes and reads the answer's head and body until the server
/// closes or `WAIT` passes.
async fn raw(app: &TestApp, request: &[u8]) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    let _ = tokio::time::timeout(WAIT, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    // One whole answer is enough.
                    if let Some(head) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                        let text = String::from_utf8_lossy(&answer[..head]).to_lowercase();
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok());
                        if length.is_some_and(|len| answer.len() >= head + 4 + len) {
                            break;
                        }
                    }
                }
            }
        }
    })
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn envelope(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[tokio::test]
async fn a_long_path_is_not_echoed_in_the_404() {
    let app = app().await;
    let long = "a".repeat(65_000);
    let (status, body) = app.get(&format!("/{long}")).await;
    assert_eq!(status, 404);
    let message = body["message"].as_str().unwrap();
    assert!(message.len() < 300, "{} characters", message.len());
    assert!(message.starts_with("no route for /aaa"), "{message}");
    let (status, body) = app.get(&format!("/api/flights/search/{long}/stream")).await;
    assert_eq!(status, 404);
    assert!(body["message"].as_str().unwrap().len() < 300);
}

#[tokio::test]
async fn a_long_last_event_id_is_not_echoed() {
    let app = app().await;
    let id = app.submit(&search_body()).await;
    let response = app.open_stream(&id, "", Some(&"7".repeat(6000))).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(message.len() < 300, "{} characters", message.len());
}

#[tokio::test]
async fn long_values_and_unknown_fields_are_not_echoed_in_a_422() {
    let app = app().await;
    let mut search = search_body();
    search["from"] = Value::String("X".repeat(8000));
    search["y".repeat(4000)] = Value::Bool(true);
    let (status, body) = app.post(&search).await;
    assert_eq!(status, 422, "{body}");
    for error in body["errors"].as_array().unwrap() {
        assert!(error["field"].as_str().unwrap().len() < 300, "{error}");
        assert!(error["message"].as_str().unwrap().len() < 400, "{error}");
    }
}

#[tokio::test]
async fn a_repeated_query_parameter_is_answered_in_the_envelope() {
    let app = app().await;
    let id = app.submit(&search_body()).await;
    let response = app
        .open_stream(&id, "?last_event_id=1&last_event_id=2", None)
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{response:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(
        body["message"].as_str().unwrap().contains("last_event_id"),
        "{body}"
    );
}

#[tokio::test]
async fn a_body_declared_too_large_is_refused_at_once() {
    let app = app().await;
    // No body follows: waiting for it would end in a 408 after the request
    // timeout; the declared length alone is reason enough.
    let answer = raw(
        &app,
        b"POST /api/flights/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let body = envelope(&answer);
    assert_eq!(body["success"], false, "{body}");
}

#[tokio::test]
async fn resuming_after_complete_answers_204_so_eventsource_stops() {
    let app = app().await;
    let id = app.submit(&search_body()).await;
    let events = app.stream(&id, "", None).await;
    let last = events.last().unwrap();
    assert_eq!(last.event, "complete");
    let again = app.open_stream(&id, "", Some(&last.id)).await;
    assert_eq!(again.status(), 204);
    let again = app
        .open_stream(&id, &format!("?last_event_id={}", last.id), None)
        .await;
    assert_eq!(again.status(), 204);
    // Resuming before the end still gets the rest.
    let rest = app.stream(&id, "", Some("1")).await;
    assert_eq!(rest.len(), events.len() - 1);
}

/// Asks the simulated API of `airline` for availability on `date`.
async fn ask_sim(app: &TestApp, airline: &str, date: &str) -> reqwest::Response {
    let body = serde_json::json!({"origin": "CGK", "destination": "DPS", "departure_date": date, "passengers": {"adults": 1}});
    app.client
        .post(app.url(&format!("/sim/{airline}/v1/availability")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_simulated_api_checks_dates_like_a_search() {
    let app = app().await;
    let response = ask_sim(&app, "alpha", "9999-01-01").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("departure_date") && message.contains("days ahead"),
        "{body}"
    );
    let ok = ask_sim(&app, "alpha", &crate::helpers::date_in(14)).await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn the_simulated_api_has_the_store_cap() {
    let slow = crate::helpers::mock_airline("slow", "SL", "fixed: 1500ms", "");
    let app = TestApp::with_providers(&[("slow.yaml", &slow)], |s| s.search.max_retained = 1).await;
    let date = crate::helpers::date_in(14);
    let (a, b) = tokio::join!(ask_sim(&app, "slow", &date), ask_sim(&app, "slow", &date));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 503]);
}

#[tokio::test]
async fn the_simulated_api_can_be_turned_off() {
    let app = TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |s| {
        s.sim.enabled = false
    })
    .await;
    let response = ask_sim(&app, "alpha", &crate::helpers::date_in(14)).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
}

#[tokio::test]
async fn made_up_methods_are_counted_in_one_series() {
    let app = app().await;
    for method in ["BREW", "WHEN", "ZZTOP"] {
        let answer = raw(
            &app,
            format!("{method} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    }
    let metrics = app.get_text("/metrics").await;
    let series = r#"airstream_http_requests_total{route="/healthz",method="OTHER",status="4xx"}"#;
    assert!(
        crate::helpers::metric(&metrics, series) >= 3.0,
        "{series} in {metrics}"
    );
    for method in ["BREW", "WHEN", "ZZTOP"] {
        assert!(!metrics.contains(method), "{method} in {metrics}");
    }
}
