//! What a search costs Redis, counted on a real `redis-server` (`INFO
//! commandstats` before and after a run of searches). How well answers
//! batch depends on timing, so only what does not is asserted: the entries
//! the streams contract fixes, at most one record script call an answer,
//! what each call costs, and the search's own bookkeeping. A change that
//! writes event by event, or adds a command to every search, fails here
//! rather than in a benchmark (`docs/performance.md`, on Redis).

use std::collections::BTreeMap;
use std::time::Instant;

use airstream::providers::live::BEAT_EVERY;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{RedisServer, TestApp, date_in, fast_airline};

const AIRLINES: usize = 5;
const SEARCHES: usize = 120;
const IN_FLIGHT: usize = 8;

/// The commands a search itself causes, each bounded below.
const COUNTED: [&str; 14] = [
    "xadd",
    "evalsha",
    "hmget",
    "publish",
    "hdel",
    "hset",
    "pexpireat",
    "zadd",
    "zcard",
    "unlink",
    "del",
    "zrem",
    "xreadgroup",
    "xack",
];

/// Commands of timers (deadline sweeps, claiming stale answers, health
/// checks) and of rare paths, not of each search.
const OCCASIONAL: [&str; 7] = [
    "zrangebyscore",
    "xautoclaim",
    "xpending",
    "hgetall",
    "ping",
    "xinfo|groups",
    "xlen",
];

/// Calls of each command Redis has executed so far (a script's own
/// commands included), `INFO` left out.
async fn calls(conn: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .filter(|(name, _)| name != "info")
        .collect()
}

/// One search, read to `complete`, which must find every airline.
async fn search(app: &TestApp, body: &Value) {
    let id = app.submit(body).await;
    let events = app.stream(&id, "", None).await;
    let complete = &events.last().unwrap().data;
    assert_eq!(complete["status"], "completed", "{complete}");
}

#[tokio::test]
async fn a_search_costs_redis_a_bounded_number_of_commands() {
    let redis = RedisServer::start().await;
    let url = redis.url.clone();
    let files: Vec<(String, String)> = (0..AIRLINES)
        .map(|i| {
            let id = format!("air{i}");
            let code = format!("A{i}");
            (format!("{id}.yaml"), fast_airline(&id, &code))
        })
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, f)| (n.as_str(), f.as_str()))
        .collect();
    let app = TestApp::with_providers(&files, move |s| s.redis_url = Some(url)).await;
    let body =
        json!({"from": "CGK", "to": "DPS", "date": date_in(14), "passengers": 1, "cache": false});
    // Warm: scripts loaded, groups made, connections open.
    for _ in 0..3 {
        search(&app, &body).await;
    }
    let mut conn = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let before = calls(&mut conn).await;
    let started = Instant::now();
    futures::stream::iter(0..SEARCHES)
        .for_each_concurrent(IN_FLIGHT, |_| search(&app, &body))
        .await;
    let after = calls(&mut conn).await;
    // The providers process's liveness beat, one `HSET` a second.
    let beats = (started.elapsed().as_secs_f64() / BEAT_EVERY.as_secs_f64()).ceil() + 1.0;
    let per_search = |name: &str| {
        (after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)) as f64
            / SEARCHES as f64
    };
    let listed: Vec<String> = after
        .keys()
        .map(|name| format!("{name} {:.2}", per_search(name)))
        .filter(|l| !l.ends_with(" 0.00"))
        .collect();
    let total: f64 = after.keys().map(|name| per_search(name)).sum();
    println!(
        "Redis commands per search: {total:.2} ({})",
        listed.join(", ")
    );
    let at_most = |what: &str, value: f64, bound: f64| {
        assert!(
            value <= bound,
            "{what}: {value:.2}, more than {bound:.2}: {listed:?}"
        );
    };
    // The contract: the search and each airline's answer, one entry each.
    assert_eq!(per_search("xadd"), (1 + AIRLINES) as f64, "{listed:?}");
    // Answers are recorded at most one script call an answer (fewer when
    // they batch), each reading the search once, writing it once after
    // one `HSET` of its staged events, and announcing once.
    let scripts = per_search("evalsha");
    at_most("script calls a search", scripts, AIRLINES as f64);
    at_most("HMGET a search", per_search("hmget"), scripts);
    at_most("PUBLISH a search", per_search("publish"), scripts);
    at_most("HDEL a search", per_search("hdel"), scripts);
    // One HSET makes the search, then two for each script call; the
    // liveness beats add theirs.
    let beats = beats / SEARCHES as f64;
    at_most(
        "HSET a search",
        per_search("hset"),
        1.0 + 2.0 * scripts + beats,
    );
    // Each delivery (the search to each airline's group, each answer to
    // the aggregator) is read and acknowledged once at most; reads that
    // wait out their block with nothing add a few.
    let deliveries = 2.0 * AIRLINES as f64;
    at_most("XACK a search", per_search("xack"), deliveries);
    at_most(
        "XREADGROUP a search",
        per_search("xreadgroup"),
        deliveries + 1.0,
    );
    // The search's own bookkeeping: its expiry, its deadline, the
    // client's searches in flight (added and counted), the retention cap's
    // eviction; then, batched, leaving the client's set and the deadline
    // index.
    let own: f64 = ["pexpireat", "zadd", "zcard", "unlink", "del"]
        .iter()
        .map(|name| per_search(name))
        .sum();
    at_most("bookkeeping commands a search", own, 4.0);
    at_most("ZREM a search", per_search("zrem"), 2.0);
    // Every other command runs on a timer or on a rare path; a new kind of
    // command for each search must be counted above.
    let unknown: Vec<&String> = after
        .keys()
        .filter(|name| per_search(name) > 0.0)
        .filter(|name| !COUNTED.contains(&name.as_str()) && !OCCASIONAL.contains(&name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "commands this test does not know: {unknown:?}: {listed:?}"
    );
    app.stop().await;
}
