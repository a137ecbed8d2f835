//! Separate `airstream` processes on one real `redis-server`, continued:
//! api processes following the airlines live providers processes serve,
//! provider files reloading across processes, SIGHUP, and Redis
//! connections that do not grow with SSE clients.

use std::time::Duration;

use serde_json::json;

use crate::cluster::{Deployment, check_log, submit};
use crate::helpers::{
    Api, Process, RedisServer, WAIT, eventually, fast_airline, mock_airline, pricier_airline,
    search_body,
};

/// Lists the airlines an api process would target now.
async fn targeted(api: &Api) -> Vec<String> {
    let list = api.get("/api/providers").await.1;
    let mut ids: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["enabled"] == true)
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Polls until the api process targets exactly `want`; returns how long it
/// took.
async fn until_targeted(api: &Api, want: &[&str]) -> Duration {
    let started = std::time::Instant::now();
    eventually(format!("the api process to target {want:?}"))
        .until(async || match targeted(api).await {
            ids if ids == want => Ok(()),
            ids => Err(format!("{ids:?}")),
        })
        .await;
    started.elapsed()
}

/// An api process with no providers directory targets what the providers
/// processes serve: a file dropped into their directory joins, a deleted
/// one leaves, and the airlines of a providers process killed with SIGKILL
/// stop being targeted, so searches do not wait for them.
#[tokio::test]
async fn api_processes_follow_the_airlines_live_providers_processes_serve() {
    let shared = Deployment::new(
        &[("alpha.yaml", fast_airline("alpha", "AA"))],
        RedisServer::start().await,
        &[],
    )
    .await;
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("bravo.yaml"), fast_airline("bravo", "BB")).unwrap();
    let nowhere = shared.dir.path().join("no-such-dir");
    let providers = [shared.spawn("providers"), shared.spawn("providers")];
    let mut bravo = Process::spawn(
        &["--role", "providers"],
        &shared.envs_with_dir(other.path()),
    );
    let api = Process::spawn(&["--role", "api"], &shared.envs_with_dir(&nowhere));
    until_targeted(&api, &["alpha", "bravo"]).await;

    // Dropped into the providers processes' directory: targeted and answered.
    std::fs::write(
        shared.dir.path().join("charlie.yaml"),
        fast_airline("charlie", "CC"),
    )
    .unwrap();
    let took = until_targeted(&api, &["alpha", "bravo", "charlie"]).await;
    assert!(took < WAIT);
    let stream_url = submit(&api, &search_body()).await;
    let events = api.read_stream(&stream_url).await;
    let complete = check_log(&events, &["alpha", "bravo", "charlie"]);
    assert_eq!(
        complete["providers"]["charlie"]["status"], "ok",
        "{complete}"
    );

    // Deleted: no longer targeted.
    std::fs::remove_file(shared.dir.path().join("charlie.yaml")).unwrap();
    until_targeted(&api, &["alpha", "bravo"]).await;

    // Every process serving bravo dies: bravo leaves new searches.
    bravo.child.kill().unwrap();
    bravo.child.wait().unwrap();
    until_targeted(&api, &["alpha"]).await;
    let mut body = search_body();
    body["timeout_ms"] = json!(20_000);
    let stream_url = submit(&api, &body).await;
    let started = std::time::Instant::now();
    let events = api.read_stream(&stream_url).await;
    let complete = check_log(&events, &["alpha"]);
    assert_eq!(complete["status"], "completed", "{complete}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not wait for the dead airline"
    );
    api.terminate().await;
    for p in providers {
        p.terminate().await;
    }
}

/// SIGHUP (which reloads every provider file) does not stop the process,
/// and the files changed meanwhile are in force after it.
#[tokio::test]
async fn sighup_does_not_stop_the_process() {
    let deployment = Deployment::new(
        &[("alpha.yaml", fast_airline("alpha", "AA"))],
        RedisServer::start().await,
        &[],
    )
    .await;
    let server = deployment.spawn("all");
    let client = reqwest::Client::new();
    std::fs::write(
        deployment.dir.path().join("bravo.yaml"),
        fast_airline("bravo", "BB"),
    )
    .unwrap();
    let killed = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    until_targeted(&server, &["alpha", "bravo"]).await;
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "alive after SIGHUP");
    server.terminate().await;
}

/// The cheapest per-passenger fare a search for `airline` gets through `api`.
async fn fare_through(api: &Api, airline: &str) -> u64 {
    let mut body = search_body();
    body["providers"] = json!([airline]);
    let stream_url = submit(api, &body).await;
    let events = api.read_stream(&stream_url).await;
    let complete = check_log(&events, &[airline]);
    assert_eq!(complete["providers"][airline]["status"], "ok", "{complete}");
    crate::helpers::cheapest_fare(&complete)
}

/// Reloads across processes: an edited fare, a broken file (its last good
/// version keeps answering, the error shown by the providers process), a
/// file renamed over, and twenty files at once, all seen through an api
/// process that has no providers directory.
#[tokio::test]
async fn provider_files_reload_across_processes() {
    let deployment = Deployment::new(
        &[("alpha.yaml", fast_airline("alpha", "AA"))],
        RedisServer::start().await,
        &[],
    )
    .await;
    let dir = deployment.dir.path().to_path_buf();
    let providers = deployment.spawn("providers");
    let nowhere = dir.join("none");
    let api = Process::spawn(&["--role", "api"], &deployment.envs_with_dir(&nowhere));
    until_targeted(&api, &["alpha"]).await;
    assert!(fare_through(&api, "alpha").await < 1_500_000);

    // Edit a fare (written to a temp file, renamed over).
    let pricier = pricier_airline("alpha", "AA");
    std::fs::write(dir.join(".alpha.tmp"), &pricier).unwrap();
    std::fs::rename(dir.join(".alpha.tmp"), dir.join("alpha.yaml")).unwrap();
    eventually("the new fare to serve")
        .until(async || match fare_through(&api, "alpha").await {
            fare if fare >= 5_000_000 => Ok(()),
            fare => Err(format!("cheapest fare {fare}")),
        })
        .await;

    // Break it: the last good version keeps answering, the error is shown.
    std::fs::write(
        dir.join("alpha.yaml"),
        "name: Alpha\nairline: AA\nmock: {}\n",
    )
    .unwrap();
    let alpha = eventually("the error to show")
        .until(async || {
            let list = providers.get("/api/providers").await.1;
            let alpha = &list["data"][0];
            if alpha["serving_previous"] == true {
                Ok(alpha.clone())
            } else {
                Err(list.to_string())
            }
        })
        .await;
    assert!(
        alpha["error"]["problems"][0]["line"].as_u64().unwrap() > 0,
        "{alpha}"
    );
    assert!(fare_through(&api, "alpha").await > 5_000_000);

    // Twenty files at once.
    let ids: Vec<String> = (0..20).map(|i| format!("bulk{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let code = format!("B{}", (b'A' + i as u8) as char);
        std::fs::write(dir.join(format!("{id}.yaml")), fast_airline(id, &code)).unwrap();
    }
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.insert(0, "alpha");
    until_targeted(&api, &want).await;
    let stream_url = submit(&api, &search_body()).await;
    let events = api.read_stream(&stream_url).await;
    let complete = check_log(&events, &want);
    assert_eq!(complete["status"], "completed", "{complete}");
    api.terminate().await;
    providers.terminate().await;
}

/// Redis connections of an api process do not grow with its SSE clients:
/// one reader of the events stream fans out to all of them.
#[tokio::test]
async fn redis_connections_do_not_grow_with_sse_clients() {
    let deployment = Deployment::new(
        &[(
            "slow.yaml",
            mock_airline("slow", "SL", "fixed: 3s", "timeout: 5s"),
        )],
        RedisServer::start().await,
        &[],
    )
    .await;
    let server = deployment.spawn("all");
    let client = reqwest::Client::new();
    let mut body = search_body();
    body["timeout_ms"] = json!(10_000);
    let redis = redis::Client::open(deployment.redis.url.as_str()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let mut clients = async || -> usize {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut conn)
            .await
            .unwrap();
        list.lines().count()
    };
    // One stream first, so every reader connection of the process exists.
    let first = submit(&server, &body).await;
    let mut open = vec![
        client
            .get(format!("{}{first}", server.base))
            .send()
            .await
            .unwrap(),
    ];
    let before = clients().await;
    for _ in 0..40 {
        let url = submit(&server, &body).await;
        open.push(
            client
                .get(format!("{}{url}", server.base))
                .send()
                .await
                .unwrap(),
        );
    }
    assert!(open.iter().all(|r| r.status() == 200));
    let after = clients().await;
    assert_eq!(
        after, before,
        "41 open streams, Redis clients {before} then {after}"
    );
    drop(open);
    server.terminate().await;
}
