//! Events' bytes stay out of Redis's Lua: the api process stages each
//! event in a field of the search's hash with a plain `HSET`, and the
//! record script stores a reference to it (`@` then the field) or deletes
//! it. Checked on a real `redis-server`: the script itself, with every way
//! an answer can be refused, and a deployment whose other api process and
//! snapshots read the references.

use std::collections::HashMap;

use redis::aio::MultiplexedConnection;

use crate::cluster::{alpha_and_bravo, check_log, submit};
use crate::helpers::{RedisServer, search_body};

const SCRIPT: &str = concat!(
    include_str!("../../src/search/redis/lua/common.lua"),
    "\n",
    include_str!("../../src/search/redis/lua/record.lua")
);

async fn connect(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A running search awaiting `airlines`, as the api process stores it.
async fn running(conn: &mut MultiplexedConnection, key: &str, airlines: &[&str]) {
    let mut cmd = redis::cmd("HSET");
    cmd.arg(key)
        .arg("status")
        .arg("processing")
        .arg("events")
        .arg(0)
        .arg("pending")
        .arg(airlines.len())
        .arg("total")
        .arg(0)
        .arg("client")
        .arg("in-flight:{c}");
    for airline in airlines {
        cmd.arg(format!("p:{airline}"))
            .arg(r#"{"status":"pending","offers":0}"#);
    }
    let () = cmd.query_async(conn).await.unwrap();
}

/// Stages `staged` (field, event) and records one answer of `airline`
/// whose events are those fields, with `complete` staged in `complete`
/// when the caller expects `expected` events before it. Returns the
/// script's reply.
async fn record(
    conn: &mut MultiplexedConnection,
    key: &str,
    airline: &str,
    staged: &[(&str, &str)],
    complete: Option<(&str, &str, i64)>,
) -> Vec<redis::Value> {
    let mut pipe = redis::pipe();
    let mut hset = redis::cmd("HSET");
    hset.arg(key);
    let last = complete.map(|(field, event, _)| (field, event));
    for (field, event) in staged.iter().copied().chain(last) {
        hset.arg(field).arg(event);
    }
    pipe.add_command(hset).ignore();
    let (field, expected) = complete.map_or(("", -1), |(f, _, n)| (f, n));
    let mut eval = redis::cmd("EVAL");
    eval.arg(SCRIPT)
        .arg(1)
        .arg(key)
        .arg("id tag")
        .arg("search.events")
        .arg(1_700_000_000_000_i64)
        .arg(expected)
        .arg(field)
        .arg(airline)
        .arg(r#"{"status":"ok","offers":1}"#)
        .arg(1)
        .arg(staged.len());
    for (field, _) in staged {
        eval.arg(*field);
    }
    pipe.add_command(eval);
    let (reply,): (Vec<redis::Value>,) = pipe.query_async(conn).await.unwrap();
    reply
}

async fn hash(conn: &mut MultiplexedConnection, key: &str) -> HashMap<String, String> {
    redis::cmd("HGETALL")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

fn ints(reply: &[redis::Value]) -> Vec<i64> {
    reply
        .iter()
        .filter_map(|v| match v {
            redis::Value::Int(n) => Some(*n),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_record_script_refers_to_staged_events_and_deletes_what_it_refuses() {
    let redis = RedisServer::start().await;
    let mut conn = connect(&redis.url).await;
    let key = "search:{s1}";
    running(&mut conn, key, &["alpha", "bravo"]).await;

    // Recorded: each event is a reference to the field it was staged in.
    let reply = record(
        &mut conn,
        key,
        "alpha",
        &[("x:1", "o[1]"), ("x:2", "p[2]")],
        None,
    )
    .await;
    assert_eq!(ints(&reply), [1, 0, 1], "{reply:?}");
    let stored = hash(&mut conn, key).await;
    assert_eq!(stored["e:1"], "@x:1");
    assert_eq!(stored["e:2"], "@x:2");
    assert_eq!((&*stored["x:1"], &*stored["x:2"]), ("o[1]", "p[2]"));
    assert_eq!(stored["events"], "2");

    // A repeat of the same airline: nothing recorded, its staging deleted,
    // the first answer's events untouched.
    let reply = record(
        &mut conn,
        key,
        "alpha",
        &[("x:3", "o[3]"), ("x:4", "p[4]")],
        None,
    )
    .await;
    assert_eq!(ints(&reply), [0, 0, 0], "{reply:?}");
    let stored = hash(&mut conn, key).await;
    assert!(
        !stored.contains_key("x:3") && !stored.contains_key("x:4"),
        "{stored:?}"
    );
    assert_eq!((&*stored["e:1"], &*stored["x:1"]), ("@x:1", "o[1]"));

    // The last airline with a `complete` built from two events: it is
    // appended by reference too.
    let reply = record(
        &mut conn,
        key,
        "bravo",
        &[("x:5", "p[5]")],
        Some(("x:6", "c[6]", 2)),
    )
    .await;
    assert_eq!(ints(&reply), [3, 2, 1], "{reply:?}");
    let stored = hash(&mut conn, key).await;
    assert_eq!((&*stored["e:3"], &*stored["e:4"]), ("@x:5", "@x:6"));
    assert_eq!((&*stored["x:5"], &*stored["x:6"]), ("p[5]", "c[6]"));
    assert_eq!(stored["status"], "completed");

    // A late answer to the ended search: its staging is deleted.
    let reply = record(
        &mut conn,
        key,
        "bravo",
        &[("x:7", "p[7]")],
        Some(("x:8", "c[8]", 4)),
    )
    .await;
    assert_eq!(ints(&reply), [0, 0, 0], "{reply:?}");
    let stored = hash(&mut conn, key).await;
    let staged: Vec<_> = stored.keys().filter(|k| k.starts_with("x:")).collect();
    assert_eq!(staged.len(), 4, "only what is referred to: {stored:?}");

    // A `complete` built from fewer events than the search holds is
    // refused (the caller owes it), and its staging deleted.
    let key2 = "search:{s2}";
    running(&mut conn, key2, &["alpha"]).await;
    let reply = record(
        &mut conn,
        key2,
        "alpha",
        &[("x:1", "p[1]")],
        Some(("x:2", "c[2]", 5)),
    )
    .await;
    assert_eq!(ints(&reply), [1, 1, 1], "{reply:?}");
    let stored = hash(&mut conn, key2).await;
    assert_eq!(stored["status"], "completing");
    assert!(!stored.contains_key("x:2"), "{stored:?}");
    assert_eq!(stored["events"], "1");

    // An answer to a search that is gone (expired): the staging made a
    // bare hash, which the script deletes.
    let gone = "search:{gone}";
    let reply = record(&mut conn, gone, "alpha", &[("x:1", "p[1]")], None).await;
    assert_eq!(ints(&reply), [0, 0, 0], "{reply:?}");
    let exists: i64 = redis::cmd("EXISTS")
        .arg(gone)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0, "no key left without an expiry");
}

/// Through real processes: a search accepted by one api process streams
/// from the other, which reads the references; the snapshot reads them
/// too; and every staged field left in the hash is referred to by one
/// event, so nothing staged outlives its use. Six searches, accepted by
/// each process in turn, so that both record answers.
#[tokio::test]
async fn events_stored_by_reference_read_the_same_from_every_api_process() {
    let deployment = alpha_and_bravo().await;
    let _providers = deployment.spawn("providers");
    let apis = [deployment.spawn("api"), deployment.spawn("api")];
    let mut conn = connect(&deployment.redis.url).await;
    let mut by_reference = 0;
    for i in 0..6 {
        let (accepting, other) = (&apis[i % 2], &apis[(i + 1) % 2]);
        let stream = submit(accepting, &search_body()).await;
        let here = accepting.read_stream(&stream).await;
        let there = other.read_stream(&stream).await;
        let complete = check_log(&there, &["alpha", "bravo"]);
        assert_eq!(complete["status"], "completed", "{complete}");
        assert!(complete["total_offers"].as_u64().unwrap() > 0);
        let data = |events: &[crate::helpers::SseEvent]| -> Vec<_> {
            events
                .iter()
                .map(|e| (e.id.clone(), e.data.clone()))
                .collect()
        };
        assert_eq!(data(&here), data(&there));
        let snapshot = other.get(stream.trim_end_matches("/stream")).await.1;
        assert_eq!(
            snapshot["data"]["total_offers"], complete["total_offers"],
            "{snapshot}"
        );

        let id = stream.split('/').rev().nth(1).unwrap();
        let stored = hash(&mut conn, &format!("search:{{{id}}}")).await;
        let references: Vec<&str> = (1..=here.len())
            .map(|n| stored[&format!("e:{n}")].as_str())
            .filter_map(|e| e.strip_prefix('@'))
            .collect();
        // The airlines' events by reference; `complete` too when the
        // process that recorded the last answer had accepted the search,
        // else as it is (built by `finish`).
        assert!(references.len() >= here.len() - 1, "{stored:?}");
        by_reference += references.len();
        let mut staged: Vec<&str> = stored
            .keys()
            .map(String::as_str)
            .filter(|k| k.starts_with("x:"))
            .collect();
        let mut referred = references.clone();
        staged.sort_unstable();
        referred.sort_unstable();
        assert_eq!(staged, referred, "each staged field is one event");
    }
    assert!(by_reference >= 6 * 4, "{by_reference}");
    for apis in apis {
        apis.terminate().await;
    }
}
