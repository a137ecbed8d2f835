//! The two-curl flow: POST a search, stream its events.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::helpers::{SseEvent, TestApp, fast_airline, mock_airline, read_events, search_body};

fn price_key(offer: &Value) -> (String, Decimal) {
    let p = &offer["price"];
    (
        p["currency"].as_str().unwrap().to_string(),
        p["total"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .expect("price is an exact decimal string"),
    )
}

/// Checks the invariants every complete stream holds, returning the complete
/// event's data.
fn check_stream(events: &[SseEvent], providers: &[String]) -> Value {
    assert!(!events.is_empty());
    // Ids are 1..n in order.
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.id, (i + 1).to_string(), "event ids are sequential");
        assert_eq!(e.data["type"], e.event, "data carries the event type");
    }
    assert!(events[0].retry.is_some(), "the first event carries retry");
    let completes: Vec<&SseEvent> = events.iter().filter(|e| e.event == "complete").collect();
    assert_eq!(completes.len(), 1, "exactly one complete");
    assert_eq!(events.last().unwrap().event, "complete", "complete is last");
    // Every airline has exactly one provider event, and its offers count
    // matches its offers event.
    let mut offers_by: BTreeMap<String, usize> = BTreeMap::new();
    let mut answered = HashSet::new();
    let mut total = 0;
    for e in events {
        let provider = e.data["provider"].as_str().unwrap_or_default().to_string();
        match e.event.as_str() {
            "offers" => {
                assert!(
                    !answered.contains(&provider),
                    "offers come before their provider event"
                );
                let n = e.data["offers"].as_array().unwrap().len();
                assert!(n > 0);
                for offer in e.data["offers"].as_array().unwrap() {
                    assert_eq!(offer["provider"], provider.as_str());
                    for field in [
                        "id",
                        "airline",
                        "flight_number",
                        "from",
                        "to",
                        "depart_at",
                        "arrive_at",
                        "duration_minutes",
                        "stops",
                        "cabin",
                        "seats_left",
                        "price",
                    ] {
                        assert!(!offer[field].is_null(), "offer has {field}: {offer}");
                    }
                    assert!(offer["price"]["per_passenger"].is_string());
                }
                *offers_by.entry(provider).or_default() += n;
                total += n;
            }
            "provider" => {
                assert!(
                    answered.insert(provider.clone()),
                    "one provider event per airline"
                );
                let count = e.data["offers"].as_u64().unwrap() as usize;
                assert_eq!(count, offers_by.get(&provider).copied().unwrap_or(0));
                assert!(["ok", "error", "timeout"].contains(&e.data["status"].as_str().unwrap()));
                assert!(e.data["elapsed_ms"].is_u64());
            }
            "complete" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    let expected: HashSet<String> = providers.iter().cloned().collect();
    assert_eq!(answered, expected, "every targeted airline answered");
    let complete = completes[0].data.clone();
    assert_eq!(complete["total_offers"].as_u64().unwrap() as usize, total);
    let statuses = complete["providers"].as_object().unwrap();
    assert_eq!(statuses.len(), providers.len());
    let cheapest = complete["offers"].as_array().unwrap();
    assert_eq!(cheapest.len(), total.min(10));
    let keys: Vec<_> = cheapest.iter().map(price_key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        keys, sorted,
        "complete lists the cheapest offers sorted by price"
    );
    complete
}

#[tokio::test]
async fn two_curl_flow_against_the_sample_providers() {
    let app = TestApp::with_samples().await;
    let (status, body) = app.post(&search_body()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Search request submitted");
    let data = &body["data"];
    assert_eq!(data["status"], "processing");
    let id = data["search_id"].as_str().unwrap();
    uuid::Uuid::parse_str(id).expect("search id is a UUID");
    assert_eq!(
        data["stream_url"],
        format!("/api/flights/search/{id}/stream")
    );
    let expires: jiff::Timestamp = data["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .expect("expires_at is RFC 3339");
    assert!(expires > jiff::Timestamp::now());
    let providers: Vec<String> = data["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert!(
        providers.len() >= 5,
        "every sample airline is targeted: {providers:?}"
    );

    let response = app.open_stream(id, "", None).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let events = read_events(response).await;
    let complete = check_stream(&events, &providers);
    assert!(
        complete["total_offers"].as_u64().unwrap() > 0,
        "the sample airlines fly CGK-DPS"
    );
    let status = complete["status"].as_str().unwrap();
    assert!(status == "completed" || status == "partial");

    // The snapshot agrees with the stream.
    let (code, snap) = app.get(&format!("/api/flights/search/{id}")).await;
    assert_eq!(code, 200);
    assert_eq!(snap["data"]["status"], status);
    assert_eq!(snap["data"]["total_offers"], complete["total_offers"]);
    let offers = snap["data"]["offers"].as_array().unwrap();
    let keys: Vec<_> = offers.iter().map(price_key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(
        snap["data"]["request"]["from"], "CGK",
        "codes are stored upper-case"
    );
}

async fn fast_app() -> TestApp {
    TestApp::with_providers(
        &[
            ("alpha.yaml", &fast_airline("alpha", "AA")),
            ("bravo.yaml", &fast_airline("bravo", "BB")),
            ("charlie.yaml", &fast_airline("charlie", "CC")),
        ],
        |_| {},
    )
    .await
}

#[tokio::test]
async fn last_event_id_resumes_with_exactly_the_remaining_events() {
    let app = fast_app().await;
    let id = app.submit(&search_body()).await;
    let all = app.stream(&id, "", None).await;
    check_stream(&all, &["alpha".into(), "bravo".into(), "charlie".into()]);
    assert!(all.len() >= 7);
    for k in [1usize, 3, all.len() - 1] {
        let rest = app.stream(&id, "", Some(&k.to_string())).await;
        let expected: Vec<(String, String, Value)> = all[k..]
            .iter()
            .map(|e| (e.id.clone(), e.event.clone(), e.data.clone()))
            .collect();
        let got: Vec<(String, String, Value)> = rest
            .iter()
            .map(|e| (e.id.clone(), e.event.clone(), e.data.clone()))
            .collect();
        assert_eq!(got, expected, "resume after {k}");
        // The query parameter works the same for a browser's first connect.
        let by_query = app.stream(&id, &format!("?last_event_id={k}"), None).await;
        assert_eq!(by_query.len(), all.len() - k);
        assert_eq!(by_query[0].id, (k + 1).to_string());
    }
    // Resuming after the last event of a finished search: 204, nothing can
    // follow (what stops an EventSource from reconnecting).
    let none = app.open_stream(&id, "", Some(&all.len().to_string())).await;
    assert_eq!(none.status(), 204);
    // An id beyond the log is not one this client can have seen.
    let response = app.open_stream(&id, "", Some("999")).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("beyond the last event"),
        "{body}"
    );
    // A garbage id is a clear 400 naming the header.
    let response = app.open_stream(&id, "", Some("abc")).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Last-Event-ID"),
        "{body}"
    );
}

#[tokio::test]
async fn a_connect_after_completion_replays_every_event() {
    let app = fast_app().await;
    let id = app.submit(&search_body()).await;
    app.wait_for(&format!("/api/flights/search/{id}"), |_, b| {
        b["data"]["status"] == "completed"
    })
    .await;
    let first = app.stream(&id, "", None).await;
    let second = app.stream(&id, "", None).await;
    check_stream(&first, &["alpha".into(), "bravo".into(), "charlie".into()]);
    assert_eq!(first, second);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404_in_the_envelope() {
    let app = fast_app().await;
    for path in [
        format!("/api/flights/search/{}/stream", uuid::Uuid::new_v4()),
        format!("/api/flights/search/{}", uuid::Uuid::new_v4()),
        "/api/flights/search/not-a-uuid/stream".to_string(),
        "/api/nothing/here".to_string(),
    ] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["success"], false);
        assert!(
            body["message"].as_str().unwrap().contains("not found")
                || body["message"].as_str().unwrap().contains("no route"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn keepalive_comments_flow_while_waiting() {
    let app = TestApp::with_providers(
        &[("slow.yaml", &mock_airline("slow", "SL", "fixed: 700ms", ""))],
        |s| s.sse.keepalive = Duration::from_millis(50).into(),
    )
    .await;
    let id = app.submit(&search_body()).await;
    let response = app.open_stream(&id, "", None).await;
    let text = tokio::time::timeout(crate::helpers::WAIT, response.text())
        .await
        .unwrap()
        .unwrap();
    let before_complete = &text[..text.find("event: complete").expect("complete arrives")];
    assert!(before_complete.contains(": keepalive"), "{text}");
    assert!(text.contains("retry: "), "{text}");
}

#[tokio::test]
async fn stalled_clients_do_not_delay_a_reader_or_the_search() {
    let app = TestApp::with_providers(
        &[
            ("big.yaml", &mock_airline("big", "BG", "fixed: 100ms", "")),
            ("alpha.yaml", &fast_airline("alpha", "AA")),
        ],
        |_| {},
    )
    .await;
    let id = app.submit(&search_body()).await;
    // Fifty clients open the stream and never read a byte.
    let mut stalled = Vec::new();
    for _ in 0..50 {
        stalled.push(app.open_stream(&id, "", None).await);
    }
    let events = app.stream(&id, "", None).await;
    check_stream(&events, &["big".into(), "alpha".into()]);
    let (_, snap) = app.get(&format!("/api/flights/search/{id}")).await;
    assert_eq!(snap["data"]["status"], "completed");
    drop(stalled);
    // The search page's next search is unaffected too.
    let id2 = app.submit(&json!({"from": "CGK", "to": "DPS", "date": crate::helpers::date_in(3), "passengers": 1})).await;
    check_stream(
        &app.stream(&id2, "", None).await,
        &["big".into(), "alpha".into()],
    );
}

/// The same flow with Redis Streams between the API and the airlines, in
/// every run of the suite (the whole suite also runs on Redis with
/// `E2E_BUS=redis`).
#[tokio::test]
async fn two_curl_flow_over_redis_streams() {
    let redis = crate::helpers::RedisServer::start().await;
    let url = redis.url.clone();
    let app = TestApp::with_providers(
        &[
            ("alpha.yaml", &fast_airline("alpha", "AA")),
            (
                "bravo.yaml",
                &mock_airline("bravo", "BB", "fixed: 20ms", ""),
            ),
        ],
        move |s| {
            s.redis_url = Some(url);
            s.redis.key_prefix = "e2e:".into();
        },
    )
    .await;
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(ready["data"]["bus_backend"], "redis");
    let id = app.submit(&search_body()).await;
    let events = app.stream(&id, "", None).await;
    let complete = check_stream(&events, &["alpha".into(), "bravo".into()]);
    assert_eq!(complete["status"], "completed");
    assert!(complete["total_offers"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn an_unreachable_redis_fails_start_with_a_clear_message() {
    let mut redis = crate::helpers::RedisServer::start().await;
    let url = redis.url.replace("redis://", "redis://:hunter2@");
    redis.kill();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alpha.yaml"), fast_airline("alpha", "AA")).unwrap();
    let mut settings = airstream::config::Settings::for_tests(dir.path());
    settings.redis_url = Some(url);
    let err =
        airstream::startup::Application::build(settings, airstream::shutdown::Shutdown::new())
            .await
            .err()
            .expect("start fails");
    let text = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(
        text.contains("cannot use Redis at redis://:***@127.0.0.1"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("unavailable"), "{text}");
}

/// Redis goes away and comes back empty: the process stays up, says it is
/// not ready and refuses searches with 503 meanwhile, then serves searches
/// again without a restart.
#[tokio::test]
async fn searches_resume_after_a_redis_outage() {
    let mut redis = crate::helpers::RedisServer::start().await;
    let url = redis.url.clone();
    let app = TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], move |s| {
        s.redis_url = Some(url)
    })
    .await;
    let mut body = search_body();
    body["timeout_ms"] = json!(20_000);
    let id = app.submit(&body).await;
    assert_eq!(
        app.stream(&id, "", None).await.last().unwrap().data["status"],
        "completed"
    );

    redis.kill();
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["message"].as_str().unwrap().contains("unavailable"),
        "{ready}"
    );
    let (status, refused) = app.post(&body).await;
    assert_eq!(status, 503, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("broker is unavailable"),
        "{refused}"
    );
    assert_eq!(app.get("/healthz").await.0, 200, "alive throughout");

    redis.restart().await;
    app.wait_for("/readyz", |status, _| status == 200).await;
    let id = app.submit(&body).await;
    let events = app.stream(&id, "", None).await;
    let complete = &events.last().unwrap().data;
    assert_eq!(complete["status"], "completed", "{complete}");
    assert_eq!(complete["providers"]["alpha"]["status"], "ok");
}

/// Redis comes back empty (it kept nothing) while a stream is open: the
/// search is gone, so the stream ends instead of waiting for a `complete`
/// that cannot come, and the search then answers 404.
#[tokio::test]
async fn a_stream_whose_search_redis_lost_ends() {
    let mut redis = crate::helpers::RedisServer::start().await;
    let url = redis.url.clone();
    let app = TestApp::with_providers(
        &[(
            "slow.yaml",
            &mock_airline("slow", "SL", "fixed: 10s", "timeout: 20s"),
        )],
        move |s| s.redis_url = Some(url),
    )
    .await;
    let mut body = search_body();
    body["timeout_ms"] = json!(20_000);
    let id = app.submit(&body).await;
    let response = app.open_stream(&id, "", None).await;
    assert_eq!(response.status(), 200);
    let reader = tokio::spawn(read_events(response));
    redis.restart().await;
    let events = reader.await.unwrap();
    assert!(events.iter().all(|e| e.event != "complete"), "{events:?}");
    let (status, _) = app.get(&format!("/api/flights/search/{id}")).await;
    assert_eq!(status, 404);
}
