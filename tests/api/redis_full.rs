//! A Redis that is full (`maxmemory`, `noeviction`): every write it
//! refuses is the broker's trouble, so the api answers `503` with
//! `Retry-After` (never `422` for airlines it knew a moment ago), and every
//! search it had accepted still ends with `complete` while Redis stays full.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::Deployment;
use crate::helpers::{RedisServer, WAIT, date_in, mock_airline};
use crate::processes::{post_search, stream_events};

async fn redis(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Sets `maxmemory` just above what Redis holds, then writes until Redis
/// refuses: from here every write command fails with OOM.
async fn fill(conn: &mut redis::aio::MultiplexedConnection) {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .unwrap();
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used + 2 * 1024 * 1024)
        .query_async(conn)
        .await
        .unwrap();
    let filler = vec![b'x'; 64 * 1024];
    for i in 0.. {
        let set: Result<(), _> = redis::cmd("SET")
            .arg(format!("filler:{i}"))
            .arg(&filler)
            .query_async(conn)
            .await;
        if set.is_err_and(|e| e.code() == Some("OOM")) {
            break;
        }
        assert!(i < 10_000, "Redis never filled up");
    }
    // Held just below what it holds, so that freeing a few bytes (a
    // trimmed stream, a closed client) lets no write through by chance.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used)
        .query_async(conn)
        .await
        .unwrap();
}

fn body() -> Value {
    json!({"from": "CGK", "to": "DPS", "date": date_in(14), "passengers": 1, "timeout_ms": 1500})
}

#[tokio::test]
async fn a_full_redis_is_a_503_and_accepted_searches_still_complete() {
    let files = [(
        "alpha.yaml",
        mock_airline("alpha", "AA", "fixed: 400ms", "timeout: 1s"),
    )];
    let deployment = Deployment::new(&files, RedisServer::start().await, &[]).await;
    let providers = deployment.spawn("providers");
    let api = deployment.spawn("api");
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    // Wait until the api targets the airline.
    let started = std::time::Instant::now();
    while post_search(&client, &api.base, &body()).await["success"] != true {
        assert!(started.elapsed() < WAIT, "the airline is never targeted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Searches accepted just before Redis fills up, their streams open.
    let mut streams = Vec::new();
    for _ in 0..10 {
        let accepted = post_search(&client, &api.base, &body()).await;
        let url = accepted["data"]["stream_url"].as_str().unwrap().to_string();
        let (client, base) = (client.clone(), api.base.clone());
        streams.push(tokio::spawn(async move {
            stream_events(&client, &base, &url).await
        }));
    }
    let mut conn = redis(&deployment.redis.url).await;
    fill(&mut conn).await;

    // Past the heartbeats' lifetime (3 s) with Redis still full: every
    // search is refused as unavailable, never as a client error.
    let mut refused = Vec::new();
    let filled = std::time::Instant::now();
    while filled.elapsed() < Duration::from_secs(5) {
        let response = client
            .post(format!("{}/api/flights/search", api.base))
            .json(&body())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").cloned();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 503, "{answer}");
        assert_eq!(retry_after.unwrap(), "1");
        refused.push(answer["message"].as_str().unwrap_or("").to_string());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused[0].contains("out of memory"),
        "the reason is named: {refused:?}"
    );

    // Every accepted search ends with `complete`, Redis still full.
    for stream in streams {
        let events = tokio::time::timeout(WAIT, stream)
            .await
            .expect("the stream ends")
            .unwrap();
        let last = events.last().expect("some events");
        assert_eq!(last.event, "complete", "{events:?}");
        assert_eq!(last.data["status"], "partial", "{events:?}");
    }

    // Room again: searches are taken and complete as before.
    let _: () = redis::cmd("FLUSHDB")
        .arg("ASYNC")
        .query_async(&mut conn)
        .await
        .unwrap_or(());
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let accepted = post_search(&client, &api.base, &body()).await;
        if let Some(url) = accepted["data"]["stream_url"].as_str() {
            let events = stream_events(&client, &api.base, url).await;
            if events.last().is_some_and(|e| e.event == "complete") {
                break;
            }
        }
        assert!(started.elapsed() < WAIT, "searches never work again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop((api, providers));
}
