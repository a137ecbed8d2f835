//! The bound on each client's searches running at once
//! (`access.max_in_flight`, SPEC section 11), through the real API: one
//! over it gets `429 too_many_searches` until one of its searches
//! completes; other clients are not held back; a key may have its own.

use serde_json::Value;
use sha2::Digest;

use crate::helpers::{TestApp, metric, mock_airline, search_body};

/// Posts a search, with `key` as its API key: status, body, `Retry-After`.
async fn post(app: &TestApp, key: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = app
        .client
        .post(app.url("/api/flights/search"))
        .json(&search_body());
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let retry = answer
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, answer.json().await.unwrap(), retry)
}

fn slow() -> String {
    mock_airline("slow", "SL", "fixed: 1500ms", "timeout: 5s")
}

#[tokio::test]
async fn a_client_with_its_most_searches_running_waits_for_one_to_complete() {
    let app = TestApp::with_providers(&[("slow.yaml", &slow())], |s| {
        s.access.max_in_flight = 2;
    })
    .await;
    let mut running = Vec::new();
    for _ in 0..2 {
        let (status, body, _) = post(&app, None).await;
        assert_eq!(status, 202, "{body}");
        running.push(body["data"]["search_id"].as_str().unwrap().to_string());
    }
    let (status, body, retry) = post(&app, None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "too_many_searches", "{body}");
    assert_eq!(
        body["message"],
        "this client has 2 searches running, the most it may; try again when one completes"
    );
    assert_eq!(retry.as_deref(), Some("1"));
    // Once they complete, there is room again.
    for id in &running {
        let events = app.stream(id, "", None).await;
        assert_eq!(events.last().unwrap().event, "complete");
    }
    assert_eq!(post(&app, None).await.0, 202);
    assert_eq!(post(&app, None).await.0, 202);
    assert_eq!(post(&app, None).await.0, 429);
    // Counted (by every test of this binary: at least these two).
    let metrics = app.get_text("/metrics").await;
    let refused = metric(
        &metrics,
        r#"airstream_searches_refused_total{reason="too_many_searches"}"#,
    );
    assert!(refused >= 2.0, "{refused}");
    app.stop().await;
}

#[tokio::test]
async fn each_key_has_its_own_bound_and_may_set_it() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    let hash = |key: &str| {
        let digest = sha2::Sha256::digest(key.as_bytes());
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let (tight, roomy) = ("ask_tight_0123456789abcdef", "ask_roomy_0123456789abcdef");
    std::fs::write(
        &keys,
        format!(
            "[[keys]]\nid = \"tight\"\nsha256 = \"{}\"\nmax_in_flight = 1\n\n[[keys]]\nid = \"roomy\"\nsha256 = \"{}\"\n",
            hash(tight),
            hash(roomy)
        ),
    )
    .unwrap();
    let app = TestApp::with_providers(&[("slow.yaml", &slow())], |s| {
        s.access.keys_file = Some(keys.clone());
        s.access.max_in_flight = 2;
    })
    .await;
    assert_eq!(post(&app, Some(tight)).await.0, 202);
    let (status, body, _) = post(&app, Some(tight)).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("1 searches running"),
        "{body}"
    );
    // Another key is not held back by it, and has the settings' bound.
    assert_eq!(post(&app, Some(roomy)).await.0, 202);
    assert_eq!(post(&app, Some(roomy)).await.0, 202);
    assert_eq!(post(&app, Some(roomy)).await.0, 429);
    app.stop().await;
}

#[tokio::test]
async fn two_api_processes_on_one_redis_share_a_clients_bound() {
    let files = [("slow.yaml", slow())];
    let deployment = crate::cluster::Deployment::new(
        &files,
        crate::helpers::RedisServer::start().await,
        &[("AIRSTREAM_ACCESS__MAX_IN_FLIGHT", "2")],
    )
    .await;
    let a = deployment.spawn("all");
    let b = deployment.spawn("all");
    assert_eq!(a.post(&search_body()).await.0, 202);
    assert_eq!(b.post(&search_body()).await.0, 202);
    let (status, body) = a.post(&search_body()).await;
    assert_eq!(status, 429, "one budget for both processes: {body}");
    assert_eq!(b.post(&search_body()).await.0, 429);
    a.terminate().await;
    b.terminate().await;
}
