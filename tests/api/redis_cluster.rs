//! airstream and a Redis Cluster (SPEC section 13), on a real cluster of
//! `redis-server` processes.

use crate::helpers::{RedisCluster, airstream};

#[tokio::test]
async fn a_cluster_node_is_refused_at_start_in_plain_words() {
    let cluster = RedisCluster::start(3, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let url = cluster.urls[0].clone();
        let dir = dir.path().to_path_buf();
        move || {
            airstream()
                .args(["serve"])
                .env("AIRSTREAM_LISTEN", "127.0.0.1:0")
                .env("AIRSTREAM_PROVIDERS_DIR", dir)
                .env("AIRSTREAM_REDIS_URL", url)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot use Redis at {}", cluster.urls[0]))
            && stderr.contains("it is a node of a Redis Cluster"),
        "{stderr}"
    );
    assert!(!stderr.contains("Moved"), "{stderr}");
}
