//! The answer cache and coalescing of upstream airlines (SPEC section 11),
//! through the real API against wiremock: a repeated search answered from
//! the cache and marked so, a different question asked, `"cache": false`
//! asking live, errors never kept, a changed file asking afresh, and
//! identical searches at once making one call per airline, in one process
//! and across two on one Redis.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::cluster::Deployment;
use crate::helpers::{Api, RedisServer, TestApp, date_in, eventually, metric, search_body};

/// An upstream airline `id` (code `code`) answering at `base` + `/{id}`.
fn airline(base: &str, id: &str, code: &str, extra: &str) -> String {
    format!(
        r#"id: {id}
name: {id} air
airline: {code}
timeout: 5s
upstream:
  url: "{base}/{id}?from={{{{ leg.from }}}}&to={{{{ leg.to }}}}&date={{{{ leg.date }}}}"
  retries: {{ attempts: 0 }}
{extra}  response:
    offers: body.offers
    map:
      flight_number: item.flight
      depart_at: item.dep
      duration: item.minutes
      price: item.total
      currency: item.ccy
"#
    )
}

fn offers(code: &str) -> Value {
    let date = date_in(14);
    json!({"offers": [{"flight": format!("{code}1"), "dep": format!("{date}T08:00:00"), "minutes": 110, "total": 1000000, "ccy": "IDR"}]})
}

/// Mounts `id`'s answer, after `delay`.
async fn answers(server: &MockServer, id: &str, code: &str, delay: Duration) {
    Mock::given(method("GET"))
        .and(path(format!("/{id}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(offers(code))
                .set_delay(delay),
        )
        .mount(server)
        .await;
}

/// Calls the airline `id` received.
async fn calls(server: &MockServer, id: &str) -> usize {
    let wanted = format!("/{id}");
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == wanted)
        .count()
}

/// Runs a search to its end: its `provider` events by provider, and the
/// `complete` event.
async fn run(api: &Api, body: &Value) -> (Vec<Value>, Value) {
    let id = api.submit(body).await;
    let events = api.stream(&id, "", None).await;
    let providers = events
        .iter()
        .filter(|e| e.event == "provider")
        .map(|e| e.data.clone())
        .collect();
    (providers, events.last().expect("events").data.clone())
}

fn one(providers: &[Value]) -> &Value {
    assert_eq!(providers.len(), 1, "{providers:?}");
    &providers[0]
}

#[tokio::test]
async fn a_repeated_search_is_answered_from_the_cache_and_a_different_one_is_asked() {
    let server = MockServer::start().await;
    answers(&server, "sky", "SK", Duration::ZERO).await;
    let file = airline(&server.uri(), "sky", "SK", "");
    let app = TestApp::with_providers(&[("sky.yaml", &file)], |_| {}).await;

    let (first, complete) = run(&app, &search_body()).await;
    assert_eq!(one(&first)["cached"], false, "{first:?}");
    assert!(one(&first).get("age_ms").is_none(), "{first:?}");
    assert_eq!(complete["total_offers"], 1);
    assert_eq!(calls(&server, "sky").await, 1);

    let (again, complete) = run(&app, &search_body()).await;
    let event = one(&again);
    assert_eq!(event["status"], "ok");
    assert_eq!(event["cached"], true, "{event}");
    assert!(event["age_ms"].as_u64().is_some(), "{event}");
    assert_eq!(event["offers"], 1);
    assert_eq!(complete["total_offers"], 1, "the kept offers are sent");
    assert_eq!(calls(&server, "sky").await, 1, "no call for a kept answer");

    // Another traveller mix, another date: other questions.
    let family = json!({"from": "CGK", "to": "DPS", "date": date_in(14), "passengers": {"adults": 2, "children": 1}});
    let (asked, _) = run(&app, &family).await;
    assert_eq!(one(&asked)["cached"], false);
    let later = json!({"from": "CGK", "to": "DPS", "date": date_in(15), "passengers": 2});
    run(&app, &later).await;
    assert_eq!(calls(&server, "sky").await, 3);

    // A search that wants live answers asks, and keeps what it got.
    let mut live = search_body();
    live["cache"] = json!(false);
    let (fresh, _) = run(&app, &live).await;
    assert_eq!(one(&fresh)["cached"], false);
    assert_eq!(calls(&server, "sky").await, 4);
    let (kept, _) = run(&app, &search_body()).await;
    assert_eq!(one(&kept)["cached"], true);
    assert_eq!(calls(&server, "sky").await, 4);

    // `cache` must be a boolean.
    let mut bad = search_body();
    bad["cache"] = json!("no");
    let (status, body) = app.post(&bad).await;
    assert_eq!(status, 422, "{body}");
    let field = &body["errors"][0];
    assert_eq!(field["field"], "cache", "{body}");
    assert_eq!(field["code"], "invalid_cache", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn errors_are_not_kept_and_a_file_may_turn_the_cache_off() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/broken"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    answers(&server, "live", "LV", Duration::ZERO).await;
    let broken = airline(&server.uri(), "broken", "BR", "");
    let live = airline(&server.uri(), "live", "LV", "  cache: { enabled: false }\n");
    let app =
        TestApp::with_providers(&[("broken.yaml", &broken), ("live.yaml", &live)], |_| {}).await;
    for _ in 0..2 {
        let (providers, _) = run(&app, &search_body()).await;
        let status = |id: &str| {
            let event = providers.iter().find(|p| p["provider"] == id).unwrap();
            (event["status"].clone(), event["cached"].clone())
        };
        assert_eq!(status("broken"), (json!("error"), json!(false)));
        assert_eq!(status("live"), (json!("ok"), json!(false)));
    }
    assert_eq!(calls(&server, "broken").await, 2, "an error is asked again");
    assert_eq!(
        calls(&server, "live").await,
        2,
        "`enabled: false` asks every time"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_changed_file_is_asked_afresh() {
    let server = MockServer::start().await;
    answers(&server, "sky", "SK", Duration::ZERO).await;
    let file = airline(&server.uri(), "sky", "SK", "");
    let app = TestApp::with_providers(&[("sky.yaml", &file)], |_| {}).await;
    run(&app, &search_body()).await;
    let (kept, _) = run(&app, &search_body()).await;
    assert_eq!(one(&kept)["cached"], true);
    std::fs::write(
        app.dir.join("sky.yaml"),
        file.replace("name: sky air", "name: Sky Air Renamed"),
    )
    .unwrap();
    eventually("the renamed airline is in force")
        .until(async || {
            let (_, body) = app.get("/api/providers").await;
            match body["data"][0]["name"].as_str() {
                Some("Sky Air Renamed") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    let (asked, complete) = run(&app, &search_body()).await;
    assert_eq!(
        one(&asked)["cached"],
        false,
        "the old file's answers are gone"
    );
    assert_eq!(complete["offers"][0]["airline"]["name"], "Sky Air Renamed");
    assert_eq!(calls(&server, "sky").await, 2);
    app.stop().await;
}

/// Posts `n` identical searches at once to the apis in turn and runs each
/// to its end; returns their `complete` events.
async fn at_once(apis: &[&Api], n: usize) -> Vec<Value> {
    let body = search_body();
    let ids = futures::future::join_all((0..n).map(|i| apis[i % apis.len()].submit(&body))).await;
    futures::future::join_all(
        ids.iter()
            .enumerate()
            .map(|(i, id)| apis[i % apis.len()].stream(id, "", None)),
    )
    .await
    .into_iter()
    .map(|events| events.last().expect("events").data.clone())
    .collect()
}

#[tokio::test]
async fn twenty_identical_searches_at_once_make_one_call_per_airline() {
    let server = MockServer::start().await;
    // Slow enough that every search arrives while the first call is out.
    for (id, code) in [("twenty-sky", "SK"), ("twenty-sea", "SE")] {
        answers(&server, id, code, Duration::from_millis(1_500)).await;
    }
    let files = [
        ("sky.yaml", airline(&server.uri(), "twenty-sky", "SK", "")),
        ("sea.yaml", airline(&server.uri(), "twenty-sea", "SE", "")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, y)| (*n, y.as_str())).collect();
    let app = TestApp::with_providers(&files, |_| {}).await;
    for complete in at_once(&[&app], 20).await {
        assert_eq!(complete["status"], "completed", "{complete}");
        assert_eq!(complete["total_offers"], 2, "{complete}");
    }
    assert_eq!(calls(&server, "twenty-sky").await, 1);
    assert_eq!(calls(&server, "twenty-sea").await, 1);
    let metrics = app.get_text("/metrics").await;
    // This process's metrics are every in-process test's: this test's own
    // airlines are counted apart.
    for id in ["twenty-sky", "twenty-sea"] {
        let series = format!("airstream_coalesced_total{{provider=\"{id}\"}}");
        assert_eq!(
            metric(&metrics, &series),
            19.0,
            "19 searches shared {id}'s call"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn two_processes_on_one_redis_share_calls_and_kept_answers() {
    let server = MockServer::start().await;
    answers(&server, "sky", "SK", Duration::from_millis(1_500)).await;
    let files = [("sky.yaml", airline(&server.uri(), "sky", "SK", ""))];
    let deployment = Deployment::new(&files, RedisServer::start().await, &[]).await;
    let a = deployment.spawn("all");
    let b = deployment.spawn("all");
    for complete in at_once(&[&a, &b], 20).await {
        assert_eq!(complete["status"], "completed", "{complete}");
        assert_eq!(complete["total_offers"], 1, "{complete}");
    }
    assert_eq!(
        calls(&server, "sky").await,
        1,
        "one call for both processes"
    );
    // Both processes took part: each looked the question up in Redis once
    // (a miss), and every other search shared the one call.
    let mut misses = Vec::new();
    let mut coalesced = 0.0;
    for api in [&*a, &*b] {
        let metrics = api.get_text("/metrics").await;
        misses.push(metric(&metrics, "airstream_cache_misses_total"));
        coalesced += metric(&metrics, "airstream_coalesced_total");
    }
    assert_eq!(misses, [1.0, 1.0], "each process looked it up once");
    assert_eq!(coalesced, 19.0);
    // The answer is kept in Redis, for either process.
    for api in [&*a, &*b] {
        let (providers, _) = run(api, &search_body()).await;
        assert_eq!(one(&providers)["cached"], true, "{providers:?}");
    }
    assert_eq!(calls(&server, "sky").await, 1);
    a.terminate().await;
    b.terminate().await;
}
