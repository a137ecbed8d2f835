//! airstream on a Redis Cluster (SPEC section 13), on a real cluster of
//! `redis-server` processes: found out from any one node, searches end to
//! end with separate api and providers processes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cluster::{Deployment, check_log, submit};
use crate::helpers::{
    Api, RedisCluster, SseEvent, fast_airline, mock_airline, read_events, search_body,
};

/// Given one node's URL, processes find out it is a cluster and run on it:
/// a search posted to one api process streams from the other, every event
/// once and in order.
#[tokio::test]
async fn processes_given_one_node_run_on_the_cluster() {
    let cluster = RedisCluster::start(3, 0).await;
    let deployment = Deployment::on(
        &[
            ("alpha.yaml", fast_airline("alpha", "AA")),
            ("bravo.yaml", mock_airline("bravo", "BB", "fixed: 20ms", "")),
        ],
        &cluster.urls[1],
        &[("AIRSTREAM_REDIS__PARTITIONS", "3")],
    )
    .await;
    let _providers = deployment.spawn("providers");
    let apis = [deployment.spawn("api"), deployment.spawn("api")];
    for i in 0..6 {
        let stream = submit(&apis[i % 2], &search_body()).await;
        let events = apis[(i + 1) % 2].read_stream(&stream).await;
        let complete = check_log(&events, &["alpha", "bravo"]);
        assert_eq!(complete["status"], "completed", "{complete}");
    }
    // The searches' keys are spread over the masters by their slots.
    let holding = cluster
        .urls
        .iter()
        .filter(|url| {
            let port = url.rsplit(':').next().unwrap();
            let out = std::process::Command::new("redis-cli")
                .args(["-p", port, "--scan", "--pattern", "search:*"])
                .output()
                .unwrap();
            !out.stdout.is_empty()
        })
        .count();
    assert!(holding >= 2, "searches on {holding} of 3 masters");
}

/// How a search of the steady load ended.
enum Ended {
    /// Refused at submission (the cluster was failing over).
    Refused,
    /// Its events, `complete` last; and when it completed.
    Done(Vec<SseEvent>, Instant),
}

/// Submits a search to `accepting` and follows its stream on `streaming`,
/// resuming with `Last-Event-ID` when the stream is cut or refused, until
/// `complete`.
async fn one_search(accepting: &Api, streaming: &Api) -> Ended {
    let (status, posted) = accepting.post(&search_body()).await;
    if status == 503 {
        return Ended::Refused;
    }
    assert_eq!(status, 202, "{posted}");
    let id = posted["data"]["search_id"].as_str().unwrap().to_string();
    let mut events: Vec<SseEvent> = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < until,
            "search {id} never completed: {events:?}"
        );
        let last = events.last().map(|e| e.id.clone());
        let response = streaming.open_stream(&id, "", last.as_deref()).await;
        if response.status() == 200 {
            let read = tokio::time::timeout(Duration::from_secs(15), read_events(response));
            let Ok(read) = read.await else {
                panic!("the stream of search {id} stalled after {events:?}");
            };
            events.extend(read);
            if events.last().is_some_and(|e| e.event == "complete") {
                return Ended::Done(events, Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two api and two providers processes on a cluster of 3 masters and 3
/// replicas, under steady load; a master is SIGKILLed and its replica takes
/// over. Every search accepted completes (partial allowed while the cluster
/// fails over), each airline answers each search once, and the same
/// processes serve complete searches after the failover without a restart.
#[tokio::test]
async fn a_master_killed_under_load_is_failed_over_and_every_search_completes() {
    let mut cluster = RedisCluster::start(3, 1).await;
    let deployment = Deployment::on(
        &[
            ("alpha.yaml", fast_airline("alpha", "AA")),
            ("bravo.yaml", mock_airline("bravo", "BB", "fixed: 20ms", "")),
        ],
        &cluster.urls[..3].join(","),
        &[
            ("AIRSTREAM_REDIS__PARTITIONS", "3"),
            ("AIRSTREAM_REDIS__CLAIM_IDLE", "2s"),
        ],
    )
    .await;
    let _providers = [deployment.spawn("providers"), deployment.spawn("providers")];
    let processes = [deployment.spawn("api"), deployment.spawn("api")];
    let apis: Arc<Vec<Api>> = Arc::new(
        processes
            .iter()
            .map(|p| Api::new(p.url(""), reqwest::Client::new()))
            .collect(),
    );
    let killed: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (apis, stop, killed) = (apis.clone(), stop.clone(), killed.clone());
            tokio::spawn(async move {
                let mut ended = Vec::new();
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let after_kill = killed.lock().unwrap().is_some();
                    let end = one_search(&apis[i % 2], &apis[(i + 1) % 2]).await;
                    ended.push((after_kill, end));
                    i += 1;
                }
                ended
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A master that holds a partition of the streams goes, at once.
    cluster.kill(0);
    let at = Instant::now();
    *killed.lock().unwrap() = Some(at);
    cluster.wait_for_failover(0).await;
    let failed_over = at.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut refused = 0;
    let mut completed = 0;
    let mut first_after_kill: Option<Duration> = None;
    for worker in workers {
        for (after_kill, end) in worker.await.unwrap() {
            match end {
                Ended::Refused => refused += 1,
                Ended::Done(events, when) => {
                    let complete = check_log(&events, &["alpha", "bravo"]);
                    let status = complete["status"].as_str().unwrap().to_string();
                    assert!(status == "completed" || status == "partial", "{complete}");
                    completed += 1;
                    if after_kill && status == "completed" {
                        let took = when.duration_since(at);
                        first_after_kill = Some(first_after_kill.map_or(took, |t| t.min(took)));
                    }
                }
            }
        }
    }
    eprintln!(
        "failover: {completed} searches completed, {refused} refused; replica promoted {failed_over:?} after the SIGKILL, first search completed again {first_after_kill:?} after it"
    );
    assert!(completed > 20, "{completed} completed");
    assert!(
        first_after_kill.is_some(),
        "no search completed after the kill"
    );
    // The same processes, no restart: searches complete on both.
    for i in 0..4 {
        match one_search(&apis[i % 2], &apis[(i + 1) % 2]).await {
            Ended::Done(events, _) => {
                let complete = check_log(&events, &["alpha", "bravo"]);
                assert_eq!(complete["status"], "completed", "{complete}");
            }
            Ended::Refused => panic!("refused after the failover"),
        }
    }
}
