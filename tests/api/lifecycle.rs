//! Search lifecycle: result TTL, the retention cap, readiness and shutdown.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, WAIT, fast_airline, mock_airline, search_body};

#[tokio::test]
async fn results_expire_after_their_ttl() {
    let app = TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |s| {
        s.search.result_ttl = Duration::from_millis(300).into()
    })
    .await;
    let mut body = search_body();
    body["timeout_ms"] = json!(400);
    let (status, posted) = app.post(&body).await;
    assert_eq!(status, 202);
    let id = posted["data"]["search_id"].as_str().unwrap().to_string();
    let events = app.stream(&id, "", None).await;
    assert_eq!(events.last().unwrap().event, "complete");
    let path = format!("/api/flights/search/{id}");
    let (status, snap) = app.get(&path).await;
    assert_eq!(status, 200);
    // The expiry promised at submission is the one kept: deadline plus TTL.
    assert_eq!(snap["data"]["expires_at"], posted["data"]["expires_at"]);
    let deadline: jiff::Timestamp = posted["data"]["deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expires: jiff::Timestamp = posted["data"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires.duration_since(deadline).as_millis(), 300);
    let gone = app.wait_for(&path, |status, _| status == 404).await;
    assert!(
        gone["message"].as_str().unwrap().contains("expired"),
        "{gone}"
    );
    let (status, _) = app.get(&format!("{path}/stream")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_oldest_finished_search_is_evicted_at_the_cap() {
    let app = TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |s| {
        s.search.max_retained = 2
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = app.submit(&search_body()).await;
        app.stream(&id, "", None).await;
        ids.push(id);
    }
    assert_eq!(
        app.get(&format!("/api/flights/search/{}", ids[0])).await.0,
        404
    );
    assert_eq!(
        app.get(&format!("/api/flights/search/{}", ids[1])).await.0,
        200
    );
    assert_eq!(
        app.get(&format!("/api/flights/search/{}", ids[2])).await.0,
        200
    );
}

#[tokio::test]
async fn with_every_retained_search_running_new_ones_are_refused_with_503() {
    let app = TestApp::with_providers(
        &[("slow.yaml", &mock_airline("slow", "SL", "fixed: 3s", ""))],
        |s| s.search.max_retained = 1,
    )
    .await;
    let mut body = search_body();
    body["timeout_ms"] = json!(10_000);
    app.submit(&body).await;
    let (status, answer) = app.post(&body).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("too many searches"),
        "{answer}"
    );
}

#[tokio::test]
async fn readiness_needs_an_enabled_provider() {
    let ready =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    let (status, body) = ready.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["bus"], "ok");
    assert_eq!(ready.get("/healthz").await.0, 200);

    let empty = TestApp::with_providers(&[("notes.txt", "not a provider")], |_| {}).await;
    let (status, body) = empty.get("/readyz").await;
    assert_eq!(status, 503);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no enabled provider"),
        "{body}"
    );
    assert_eq!(
        empty.get("/healthz").await.0,
        200,
        "alive even when not ready"
    );
    let (status, body) = empty.post(&search_body()).await;
    assert_eq!(status, 503, "{body}");
}

#[tokio::test]
async fn shutdown_ends_open_streams_and_the_server() {
    let app = TestApp::with_providers(
        &[(
            "slow.yaml",
            &mock_airline("slow", "SL", "fixed: 20s", "timeout: 30s"),
        )],
        |_| {},
    )
    .await;
    let mut body = search_body();
    body["timeout_ms"] = json!(30_000);
    let id = app.submit(&body).await;
    let response = app.open_stream(&id, "", None).await;
    assert_eq!(response.status(), 200);
    let reader = tokio::spawn(async move { response.text().await });
    app.stop().await;
    let text = tokio::time::timeout(WAIT, reader)
        .await
        .expect("stream ends on shutdown")
        .unwrap();
    assert!(!text.unwrap_or_default().contains("event: complete"));
}
