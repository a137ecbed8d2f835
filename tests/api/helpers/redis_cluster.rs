//! A real Redis Cluster for one test: Debian's `redis-server` processes
//! with `cluster-enabled`, on free ports, joined by `redis-cli --cluster
//! create`, ready once every node reports `cluster_state:ok`.

use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::net::free_port;
use super::wait::eventually;

/// A running Redis Cluster, stopped on drop.
pub struct RedisCluster {
    /// `redis://127.0.0.1:<port>` of each node, masters first.
    pub urls: Vec<String>,
    nodes: Vec<Child>,
    _dir: TempDir,
}

impl RedisCluster {
    /// Starts `masters` masters, each with `replicas` replicas, and waits
    /// until the cluster is formed and every slot is served.
    pub async fn start(masters: usize, replicas: usize) -> RedisCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let count = masters * (1 + replicas);
        let ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
        let mut nodes = Vec::with_capacity(count);
        for port in &ports {
            let home = dir.path().join(port.to_string());
            std::fs::create_dir_all(&home).expect("node dir");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ])
                .args([
                    "--cluster-node-timeout",
                    "2000",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(&home)
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server is installed (scripts/test.sh installs it)");
            nodes.push(child);
        }
        let cluster = RedisCluster {
            urls: ports
                .iter()
                .map(|p| format!("redis://127.0.0.1:{p}"))
                .collect(),
            nodes,
            _dir: dir,
        };
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        eventually("redis-cli --cluster create to join the nodes")
            .until(async || {
                let out = Command::new("redis-cli")
                    .arg("--cluster")
                    .arg("create")
                    .args(&addresses)
                    .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
                    .output()
                    .map_err(|e| e.to_string())?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&out.stdout).into_owned())
                }
            })
            .await;
        for port in &ports {
            eventually(format!("node {port} to report cluster_state:ok"))
                .until(async || {
                    let out = Command::new("redis-cli")
                        .args(["-p", &port.to_string(), "cluster", "info"])
                        .output()
                        .map_err(|e| e.to_string())?;
                    let info = String::from_utf8_lossy(&out.stdout).into_owned();
                    if info.contains("cluster_state:ok") {
                        Ok(())
                    } else {
                        Err(info)
                    }
                })
                .await;
        }
        cluster
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}
