//! The streams contract, run against both buses: the embedded one and Redis
//! Streams on a real `redis-server`. Each scenario is written once against
//! the `Bus` interface.

use std::sync::Arc;
use std::time::Duration;

use airstream::bus::redis_streams::RedisBus;
use airstream::bus::{Bus, BusError, StartFrom};
use bytes::Bytes;

use crate::helpers::RedisServer;

async fn bus(server: &RedisServer, max_len: usize) -> Bus {
    Bus::Redis(Arc::new(
        RedisBus::connect(&server.url, "test:", max_len)
            .await
            .expect("connects"),
    ))
}

fn data(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

/// Runs each scenario on the embedded bus and on Redis.
macro_rules! on_both_buses {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(airstream::bus::Bus::embedded(1000)).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    let server = crate::helpers::RedisServer::start().await;
                    super::$name(super::bus(&server, 1000).await).await;
                }
            )*
        }
    };
}

on_both_buses!(
    every_group_sees_every_entry_and_pending_lasts_until_ack,
    consumers_of_one_group_share_the_work,
    a_long_blocking_read_wakes_on_publish_without_stalling_other_commands,
    idle_entries_are_claimed_with_their_delivery_count,
    unknown_groups_are_an_error,
);

async fn every_group_sees_every_entry_and_pending_lasts_until_ack(bus: Bus) {
    bus.ensure_group("s", "a", StartFrom::Latest).await.unwrap();
    bus.ensure_group("s", "a", StartFrom::Latest)
        .await
        .expect("creating twice is fine");
    bus.ensure_group("s", "b", StartFrom::Latest).await.unwrap();
    let id1 = bus.publish("s", data("one")).await.unwrap();
    let id2 = bus.publish("s", data("two")).await.unwrap();
    assert!(id2 > id1);
    let a = bus
        .read_group("s", "a", "a1", 10, Duration::ZERO)
        .await
        .unwrap();
    let b = bus
        .read_group("s", "b", "b1", 1, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(b.len(), 1);
    assert_eq!(a[0].data, data("one"));
    assert_eq!(bus.pending("s", "a").await.unwrap(), 2);
    assert_eq!(bus.ack("s", "a", &[id1, id2]).await.unwrap(), 2);
    assert_eq!(
        bus.ack("s", "a", &[id1]).await.unwrap(),
        0,
        "a second ack is a no-op"
    );
    assert_eq!(bus.pending("s", "a").await.unwrap(), 0);
    let b = bus
        .read_group("s", "b", "b1", 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].data, data("two"));
}

async fn consumers_of_one_group_share_the_work(bus: Bus) {
    bus.ensure_group("s", "g", StartFrom::Beginning)
        .await
        .unwrap();
    for i in 0..4 {
        bus.publish("s", data(&i.to_string())).await.unwrap();
    }
    let x = bus
        .read_group("s", "g", "x", 2, Duration::ZERO)
        .await
        .unwrap();
    let y = bus
        .read_group("s", "g", "y", 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((x.len(), y.len()), (2, 2));
    assert!(x.iter().all(|e| y.iter().all(|f| f.id != e.id)));
}

/// A BLOCK longer than the redis client's default 500 ms response timeout
/// works, because each blocking reader has its own connection without one,
/// and short commands keep flowing meanwhile.
async fn a_long_blocking_read_wakes_on_publish_without_stalling_other_commands(bus: Bus) {
    bus.ensure_group("s", "g", StartFrom::Latest).await.unwrap();
    let reader = {
        let bus = bus.clone();
        tokio::spawn(async move {
            bus.read_group("s", "g", "c", 10, Duration::from_secs(10))
                .await
        })
    };
    // Longer than 500 ms, with other commands on the pool meanwhile.
    for _ in 0..8 {
        bus.ping()
            .await
            .expect("the pool is not blocked by the reader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!reader.is_finished());
    bus.publish("s", data("x")).await.unwrap();
    let got = tokio::time::timeout(crate::helpers::WAIT, reader)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, data("x"));
}

async fn idle_entries_are_claimed_with_their_delivery_count(bus: Bus) {
    bus.ensure_group("s", "g", StartFrom::Beginning)
        .await
        .unwrap();
    let id = bus.publish("s", data("x")).await.unwrap();
    bus.read_group("s", "g", "dead", 10, Duration::ZERO)
        .await
        .unwrap();
    let claimed = bus
        .claim_idle("s", "g", "live", Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, id);
    assert_eq!(claimed[0].data, data("x"));
    assert_eq!(claimed[0].deliveries, 2);
    let none = bus
        .claim_idle("s", "g", "live", Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(none.is_empty(), "a fresh claim is not idle");
}

#[tokio::test]
async fn streams_are_trimmed_approximately() {
    let redis = RedisServer::start().await;
    let bus = bus(&redis, 100).await;
    for i in 0..2_000 {
        bus.publish("s", data(&i.to_string())).await.unwrap();
    }
    let len = bus.len("s").await.unwrap();
    assert!(
        (100..1_000).contains(&len),
        "MAXLEN ~ keeps about 100, got {len}"
    );
}

async fn unknown_groups_are_an_error(bus: Bus) {
    bus.ensure_group("s", "g", StartFrom::Latest).await.unwrap();
    let err = bus
        .read_group("s", "nope", "c", 1, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::NoGroup { .. }), "{err}");
    assert!(err.to_string().contains("nope"));
}

#[tokio::test]
async fn a_stopped_redis_is_a_clear_error() {
    let mut redis = RedisServer::start().await;
    let bus = bus(&redis, 100).await;
    redis.kill();
    let err = bus.ping().await.unwrap_err();
    assert!(matches!(err, BusError::Unavailable(_)), "{err}");
    let err = bus.publish("s", data("x")).await.unwrap_err();
    assert!(matches!(err, BusError::Unavailable(_)), "{err}");
    let err = RedisBus::connect(&redis.url, "", 10).await.unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
}
