//! A Redis that is full (`maxmemory`, `noeviction`): every write it
//! refuses is the broker's trouble, so the api answers `503` with
//! `Retry-After` (never `422` for airlines it knew a moment ago), and every
//! search it had accepted still ends with `complete` while Redis stays full.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::Deployment;
use crate::helpers::{Api, RedisServer, WAIT, date_in, eventually, mock_airline};

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
    let process = deployment.spawn("api");
    let client = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let api = Api::new(&process.base, client.clone());
    // Wait until the api targets the airline.
    eventually("the airline to be targeted")
        .every(Duration::from_millis(50))
        .until(async || match api.post_search(&body()).await {
            accepted if accepted["success"] == true => Ok(()),
            refused => Err(refused.to_string()),
        })
        .await;

    // Searches accepted just before Redis fills up, their streams open.
    let mut streams = Vec::new();
    for _ in 0..10 {
        let accepted = api.post_search(&body()).await;
        let url = accepted["data"]["stream_url"].as_str().unwrap().to_string();
        let reader = api.clone();
        streams.push(tokio::spawn(async move { reader.read_stream(&url).await }));
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
    eventually("searches to work again")
        .every(Duration::from_millis(100))
        .until(async || {
            let accepted = api.post_search(&body()).await;
            let url = accepted["data"]["stream_url"]
                .as_str()
                .ok_or_else(|| accepted.to_string())?;
            let events = api.read_stream(url).await;
            match events.last() {
                Some(e) if e.event == "complete" => Ok(()),
                last => Err(format!("last event {last:?}")),
            }
        })
        .await;
    drop((process, providers));
}
