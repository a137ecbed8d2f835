//! An airline's concurrency is shared by the readers of every partition of
//! the requested stream. A reader blocked on an empty partition must not
//! hold one of those slots, or the searches of a busy partition are
//! answered fewer at a time than the airline allows, or not until the idle
//! readers' reads run out (5 s): the cluster suite's
//! `the_concurrency_limit_holds` saw a peak of 1 for 2 now and then.

use std::time::Duration;

use airstream::bus::partitions::Partitions;
use redis::AsyncCommands;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{RedisServer, TestApp, eventually, fast_airline, mock_airline, search_body};

const PARTITIONS: usize = 8;

#[tokio::test]
async fn searches_of_one_partition_get_every_slot_of_their_airline() {
    let redis = RedisServer::start().await;
    let app = TestApp::with_providers(
        &[
            (
                "narrow.yaml",
                &mock_airline("narrow", "NR", "fixed: 400ms", "concurrency: 2"),
            ),
            ("fast.yaml", &fast_airline("fast", "FA")),
        ],
        |settings| {
            settings.redis_url = Some(redis.url.clone());
            settings.redis.partitions = PARTITIONS;
        },
    )
    .await;
    let partitions = Partitions::new(PARTITIONS);
    let mut conn = redis::Client::open(redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    // A real search's entry to copy, asking only the fast airline.
    let mut body = search_body();
    body["providers"] = json!(["fast"]);
    let template: Uuid = app.submit(&body).await.parse().unwrap();
    let stream = partitions.requested(partitions.of(&template));
    let entries: redis::streams::StreamRangeReply = conn.xrange_all(stream).await.unwrap();
    let data = entries
        .ids
        .iter()
        .find_map(|entry| {
            let data: String = entry.get("data")?;
            let search: Value = serde_json::from_str(&data).ok()?;
            (search["search_id"] == template.to_string()).then_some(search)
        })
        .expect("the search's entry in its partition");

    // Four searches for the narrow airline, every one in partition 0, with
    // a minute to answer: the other seven partitions stay empty.
    let deadline = jiff::Timestamp::now() + Duration::from_secs(60);
    for _ in 0..4 {
        let id = std::iter::repeat_with(Uuid::new_v4)
            .find(|id| partitions.of(id) == 0)
            .unwrap();
        let mut search = data.clone();
        search["search_id"] = json!(id);
        search["providers"] = json!(["narrow"]);
        search["deadline"] = json!(deadline);
        let _: String = conn
            .xadd(
                partitions.requested(0),
                "*",
                &[("data", search.to_string())],
            )
            .await
            .unwrap();
    }

    let stats = eventually("the narrow airline to answer all four")
        .within(Duration::from_secs(30))
        .until(async || {
            let (_, providers) = app.get("/api/providers").await;
            let narrow = providers["data"]
                .as_array()
                .and_then(|all| all.iter().find(|p| p["id"] == "narrow"))
                .map(|p| p["stats"].clone())
                .unwrap_or(Value::Null);
            match narrow["answered"].as_u64() {
                Some(4) => Ok(narrow),
                _ => Err(narrow.to_string()),
            }
        })
        .await;
    assert_eq!(
        stats["peak_in_flight"], 2,
        "both slots served the busy partition: {stats}"
    );
    app.stop().await;
}
