//! airstream on a Redis Cluster (SPEC section 13), on a real cluster of
//! `redis-server` processes: found out from any one node, searches end to
//! end with separate api and providers processes.

use crate::cluster::{Deployment, check_log, submit};
use crate::helpers::{RedisCluster, fast_airline, mock_airline, search_body};

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
        &[],
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
