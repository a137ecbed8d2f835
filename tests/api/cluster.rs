//! Separate `airstream` processes on one real `redis-server`: several api and
//! providers processes, crashes (SIGKILL) and Redis outages. Every wait is
//! on events, with a deadline.

use std::ffi::OsString;
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{
    Api, Process, RedisServer, SseEvent, WAIT, eventually, fast_airline, mock_airline, search_body,
};

/// A Redis, a providers directory and the settings every process shares.
pub(crate) struct Deployment<R = RedisServer> {
    pub(crate) redis: R,
    pub(crate) dir: TempDir,
    envs: Vec<(&'static str, OsString)>,
}

impl Deployment {
    pub(crate) async fn new(
        files: &[(&str, String)],
        redis: RedisServer,
        extra: &[(&'static str, &str)],
    ) -> Self {
        let url = redis.url.clone();
        Deployment::with(files, redis, &url, extra)
    }
}

impl Deployment<()> {
    /// A deployment on a Redis the test holds itself (a cluster), at `url`.
    pub(crate) async fn on(
        files: &[(&str, String)],
        url: &str,
        extra: &[(&'static str, &str)],
    ) -> Self {
        Deployment::with(files, (), url, extra)
    }
}

impl<R> Deployment<R> {
    fn with(files: &[(&str, String)], redis: R, url: &str, extra: &[(&'static str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, yaml) in files {
            std::fs::write(dir.path().join(name), yaml).unwrap();
        }
        let mut envs = vec![
            ("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str().to_owned()),
            ("AIRSTREAM_REDIS_URL", OsString::from(url)),
        ];
        envs.extend(extra.iter().map(|(k, v)| (*k, OsString::from(v))));
        Self { redis, dir, envs }
    }

    /// The shared settings, with another providers directory.
    pub(crate) fn envs_with_dir<'a>(
        &'a self,
        dir: &'a std::path::Path,
    ) -> Vec<(&'static str, &'a std::ffi::OsStr)> {
        self.envs
            .iter()
            .map(|(k, v)| {
                let v = if *k == "AIRSTREAM_PROVIDERS_DIR" {
                    dir.as_os_str()
                } else {
                    v.as_os_str()
                };
                (*k, v)
            })
            .collect()
    }

    pub(crate) fn spawn(&self, role: &str) -> Process {
        let envs: Vec<(&str, &std::ffi::OsStr)> =
            self.envs.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        Process::spawn(&["--role", role], &envs)
    }
}

/// Provider files: `alpha`, which answers at once, and `slow`.
fn fast_and_slow(latency: &str, timeout: &str) -> [(&'static str, String); 2] {
    [
        ("alpha.yaml", fast_airline("alpha", "AA")),
        ("slow.yaml", mock_airline("slow", "SL", latency, timeout)),
    ]
}

/// A fresh Redis and two airlines: `alpha`, which answers at once, and
/// `bravo`, 30 ms later.
pub(crate) async fn alpha_and_bravo() -> Deployment {
    Deployment::new(
        &[
            ("alpha.yaml", fast_airline("alpha", "AA")),
            ("bravo.yaml", mock_airline("bravo", "BB", "fixed: 30ms", "")),
        ],
        RedisServer::start().await,
        &[],
    )
    .await
}

/// Posts a search and returns its stream URL.
pub(crate) async fn submit(api: &Api, body: &Value) -> String {
    let posted = api.post_search(body).await;
    posted["data"]["stream_url"]
        .as_str()
        .unwrap_or_else(|| panic!("search accepted: {posted}"))
        .to_string()
}

/// Every event once, numbered from 1 without a gap, one `provider` event
/// per airline, `complete` exactly once and last. Returns `complete`.
pub(crate) fn check_log(events: &[SseEvent], airlines: &[&str]) -> Value {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.id, (i + 1).to_string(), "ids in order: {events:?}");
    }
    let completes = events.iter().filter(|e| e.event == "complete").count();
    assert_eq!(completes, 1, "one complete: {events:?}");
    let last = events.last().unwrap();
    assert_eq!(last.event, "complete");
    for airline in airlines {
        let provider_events = events
            .iter()
            .filter(|e| e.event == "provider" && e.data["provider"] == *airline)
            .count();
        assert_eq!(provider_events, 1, "{airline}: {events:?}");
    }
    last.data.clone()
}

/// Events without the `retry:` hint, which rides on each connection's
/// first event.
fn without_retry(events: Vec<SseEvent>) -> Vec<SseEvent> {
    events
        .into_iter()
        .map(|e| SseEvent { retry: None, ..e })
        .collect()
}

/// Two api and two providers processes on one Redis: a search posted to one
/// api process streams from the other, in order and exactly once; a client
/// resumes on either process with `Last-Event-ID`; the providers processes
/// share the airlines' work.
#[tokio::test]
async fn api_processes_serve_each_others_searches() {
    let deployment = alpha_and_bravo().await;
    let providers = [deployment.spawn("providers"), deployment.spawn("providers")];
    let apis = [deployment.spawn("api"), deployment.spawn("api")];
    let client = reqwest::Client::new();

    let mut last = String::new();
    for i in 0..10 {
        let (accepting, streaming) = (&apis[i % 2], &apis[(i + 1) % 2]);
        last = submit(accepting, &search_body()).await;
        let events = streaming.read_stream(&last).await;
        let complete = check_log(&events, &["alpha", "bravo"]);
        assert_eq!(complete["status"], "completed", "{complete}");
        assert!(complete["total_offers"].as_u64().unwrap() > 0);
    }

    // The same log from either process; resuming on the other after any
    // event gives exactly the rest.
    let full = without_retry(apis[0].read_stream(&last).await);
    assert_eq!(full, without_retry(apis[1].read_stream(&last).await));
    for seen in 1..full.len() {
        let rest = without_retry(
            crate::helpers::read_events(
                client
                    .get(format!("{}{last}", apis[1].base))
                    .header("Last-Event-ID", seen.to_string())
                    .send()
                    .await
                    .unwrap(),
            )
            .await,
        );
        assert_eq!(rest, full[seen..], "resumed after event {seen}");
    }
    let snapshot = apis[1].get(last.trim_end_matches("/stream")).await.1;
    assert_eq!(snapshot["data"]["status"], "completed", "{snapshot}");
    assert_eq!(
        snapshot["data"]["total_offers"],
        full.last().unwrap().data["total_offers"]
    );

    // A providers process takes no searches, and says where they go.
    let answer = client
        .post(format!("{}/api/flights/search", providers[0].base))
        .json(&search_body())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("`api` process"),
        "{body}"
    );
    // Between them, the providers processes answered each airline's part
    // of every search exactly once.
    let mut answered = std::collections::BTreeMap::<String, u64>::new();
    for p in &providers {
        let list = p.get("/api/providers").await.1;
        for airline in list["data"].as_array().unwrap() {
            *answered
                .entry(airline["id"].as_str().unwrap().to_string())
                .or_default() += airline["stats"]["answered"].as_u64().unwrap();
        }
    }
    assert_eq!(answered.get("alpha"), Some(&10), "{answered:?}");
    assert_eq!(answered.get("bravo"), Some(&10), "{answered:?}");
    for p in apis.into_iter().chain(providers) {
        p.terminate().await;
    }
}

/// The api process that accepted a search dies (SIGKILL) before it ends:
/// another api process records the answers the dead one had taken (after
/// the aggregator's claim idle time) and ends the search at its deadline,
/// partial, exactly once.
#[tokio::test]
async fn a_search_outlives_the_api_process_that_accepted_it() {
    let deployment = Deployment::new(
        &fast_and_slow("fixed: 10s", "timeout: 20s"),
        RedisServer::start().await,
        &[],
    )
    .await;
    let providers = deployment.spawn("providers");
    let mut doomed = deployment.spawn("api");
    let survivor = deployment.spawn("api");
    let mut body = search_body();
    body["timeout_ms"] = json!(4_000);
    let stream_url = submit(&doomed, &body).await;
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();

    let events = survivor.read_stream(&stream_url).await;
    let complete = check_log(&events, &["alpha", "slow"]);
    assert_eq!(complete["status"], "partial", "{complete}");
    assert_eq!(complete["providers"]["alpha"]["status"], "ok");
    assert_eq!(complete["providers"]["slow"]["status"], "timeout");
    survivor.terminate().await;
    providers.terminate().await;
}

/// Raw SSE text of a stream, read chunk by chunk.
struct RawStream {
    response: reqwest::Response,
    text: String,
}

impl RawStream {
    /// Reads until `done` holds for the text so far; false if the stream
    /// ended first.
    async fn read_until(&mut self, done: impl Fn(&str) -> bool) -> bool {
        let read = async {
            while !done(&self.text) {
                match self.response.chunk().await.unwrap() {
                    Some(chunk) => self.text.push_str(&String::from_utf8_lossy(&chunk)),
                    None => return false,
                }
            }
            true
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("the stream moves in time")
    }

    /// The events in the text, keepalive comments left out.
    fn events(&self) -> Vec<SseEvent> {
        self.text
            .split("\n\n")
            .filter_map(|block| {
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(str::to_string))
                };
                Some(SseEvent {
                    id: field("id: ")?,
                    event: field("event: ")?,
                    data: serde_json::from_str(&field("data: ")?).unwrap(),
                    retry: field("retry: ").map(|r| Duration::from_millis(r.parse().unwrap())),
                })
            })
            .collect()
    }
}

/// Redis dies mid-search (SIGKILL) and comes back with what it had
/// acknowledged: every process stays up, the api process reports not ready
/// and refuses searches with 503, the open stream stays open with
/// keepalives, and the search then completes with every event exactly once.
#[tokio::test]
async fn an_open_stream_rides_out_a_redis_outage() {
    let mut deployment = Deployment::new(
        &fast_and_slow("fixed: 1500ms", "timeout: 2s"),
        RedisServer::start_durable().await,
        &[("AIRSTREAM_SSE__KEEPALIVE", "100ms")],
    )
    .await;
    let providers = deployment.spawn("providers");
    let api = deployment.spawn("api");
    let client = reqwest::Client::new();
    let mut body = search_body();
    body["timeout_ms"] = json!(30_000);
    let stream_url = submit(&api, &body).await;
    let mut stream = RawStream {
        response: client
            .get(format!("{}{stream_url}", api.base))
            .send()
            .await
            .unwrap(),
        text: String::new(),
    };
    assert!(
        stream
            .read_until(|t| t.contains(r#""type":"provider","search_id""#))
            .await
    );

    deployment.redis.kill();
    let seen = stream.text.len();
    assert!(
        stream
            .read_until(|t| t[seen..].matches(": keepalive").count() >= 3)
            .await,
        "the stream stays open while Redis is away"
    );
    let ready = client
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let refused = client
        .post(format!("{}/api/flights/search", api.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    for p in [&api, &providers] {
        let alive = client
            .get(format!("{}/healthz", p.base))
            .send()
            .await
            .unwrap();
        assert_eq!(alive.status(), 200, "alive throughout");
    }

    deployment.redis.restart().await;
    assert!(!stream.read_until(|_| false).await, "the stream ends");
    let complete = check_log(&stream.events(), &["alpha", "slow"]);
    assert_eq!(complete["status"], "completed", "{complete}");
    assert_eq!(complete["providers"]["slow"]["status"], "ok", "{complete}");
    // New searches work without a restart.
    let stream_url = submit(&api, &search_body()).await;
    let events = api.read_stream(&stream_url).await;
    assert_eq!(
        check_log(&events, &["alpha", "slow"])["status"],
        "completed"
    );
    api.terminate().await;
    providers.terminate().await;
}

/// Two providers processes share an airline's searches under load (20
/// searches at once, 5 at a time per process); one is killed with SIGKILL
/// while it holds some. Returns every search's `complete` event and how many
/// searches the killed process held.
async fn kill_a_providers_process_under_load(max_deliveries: &str) -> (Vec<Value>, u64) {
    let deployment = Deployment::new(
        &[(
            "slow.yaml",
            mock_airline("slow", "SL", "fixed: 800ms", "timeout: 1s\nconcurrency: 5"),
        )],
        RedisServer::start().await,
        &[
            ("AIRSTREAM_REDIS__CLAIM_IDLE", "100ms"),
            ("AIRSTREAM_REDIS__MAX_DELIVERIES", max_deliveries),
        ],
    )
    .await;
    let mut doomed = deployment.spawn("providers");
    let survivor = deployment.spawn("providers");
    let api = deployment.spawn("api");
    let mut body = search_body();
    body["timeout_ms"] = json!(20_000);
    let mut readers = Vec::new();
    for _ in 0..20 {
        let url = submit(&api, &body).await;
        let reader = Api::clone(&api);
        readers.push(tokio::spawn(async move { reader.read_stream(&url).await }));
    }
    // Wait until the doomed process holds searches, then kill it hard.
    let held = eventually("a search to reach the doomed process")
        .every(Duration::from_millis(10))
        .until(async || {
            let list = doomed.get("/api/providers").await.1;
            match list["data"][0]["stats"]["in_flight"].as_u64().unwrap() {
                0 => Err(list.to_string()),
                in_flight => Ok(in_flight),
            }
        })
        .await;
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    let mut completes = Vec::new();
    for reader in readers {
        let events = reader.await.unwrap();
        completes.push(check_log(&events, &["slow"]));
    }
    api.terminate().await;
    survivor.terminate().await;
    (completes, held)
}

#[tokio::test]
async fn a_live_process_takes_over_the_searches_of_a_killed_one() {
    let (completes, held) = kill_a_providers_process_under_load("3").await;
    assert!(held > 0);
    for complete in completes {
        assert_eq!(complete["status"], "completed", "{complete}");
        assert_eq!(complete["providers"]["slow"]["status"], "ok", "{complete}");
        assert!(complete["total_offers"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn a_search_delivered_too_often_is_dead_lettered_and_still_completes() {
    let (completes, held) = kill_a_providers_process_under_load("1").await;
    let mut dead = 0;
    for complete in &completes {
        assert_eq!(complete["status"], "completed", "{complete}");
        let slow = &complete["providers"]["slow"];
        if slow["status"] == "error" {
            assert!(
                slow["error"].as_str().unwrap().contains("dead-letter"),
                "{complete}"
            );
            dead += 1;
        } else {
            assert_eq!(slow["status"], "ok", "{complete}");
        }
    }
    // `held` is the doomed process's searches in flight when it was
    // sampled, a lower bound of what it held at the kill: searches it had
    // taken since, or had taken and not yet started (beyond its
    // concurrency), were delivered to it too, and are dead-lettered alike.
    assert!(
        held >= 1 && dead >= 1 && dead <= completes.len(),
        "{dead} dead-lettered of {}, {held} seen held",
        completes.len()
    );
}
