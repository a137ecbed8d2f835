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
        let mut ports = Vec::with_capacity(count);
        let mut nodes = Vec::with_capacity(count);
        while nodes.len() < count {
            // A free port may be taken by another test before the node
            // binds it: such a node exits, and another port is tried.
            let port = free_port();
            let mut child = spawn_node(dir.path(), port);
            if node_answers(&mut child, port) {
                ports.push(port);
                nodes.push(child);
            } else {
                let _ = child.kill();
                let _ = child.wait();
            }
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
                    Err(format!(
                        "{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ))
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
        if replicas > 0 {
            for port in &ports {
                eventually(format!("node {port}'s replicas to be in sync"))
                    .until(async || {
                        let info = redis_cli(*port, &["info", "replication"]);
                        let replicas_online = info.matches("state=online").count();
                        if info.contains("role:slave") || replicas_online == replicas {
                            Ok(())
                        } else {
                            Err(info)
                        }
                    })
                    .await;
            }
        }
        cluster
    }
}

impl RedisCluster {
    /// The port of node `at`.
    pub fn port(&self, at: usize) -> u16 {
        self.urls[at].rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Stops node `at` at once (SIGKILL).
    pub fn kill(&mut self, at: usize) {
        let _ = self.nodes[at].kill();
        let _ = self.nodes[at].wait();
    }

    /// Waits until the cluster has failed node `at` over: another node
    /// serves its slots as master and every live node reports
    /// `cluster_state:ok`.
    pub async fn wait_for_failover(&self, at: usize) {
        let dead = format!("127.0.0.1:{}", self.port(at));
        let live: Vec<u16> = (0..self.urls.len())
            .filter(|i| *i != at)
            .map(|i| self.port(i))
            .collect();
        eventually(format!("the cluster to fail {dead} over"))
            .until(async || {
                for port in &live {
                    let info = redis_cli(*port, &["cluster", "info"]);
                    if !info.contains("cluster_state:ok") {
                        return Err(format!("{port}: {info}"));
                    }
                }
                let nodes = redis_cli(live[0], &["cluster", "nodes"]);
                let failed = nodes
                    .lines()
                    .any(|l| l.contains(&dead) && l.contains("fail") && !l.contains("fail?"));
                if failed { Ok(()) } else { Err(nodes) }
            })
            .await;
    }
}

/// What `redis-cli -p port ARGS` prints.
fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

/// Starts one cluster node on `port`, in a directory of its own.
fn spawn_node(dir: &std::path::Path, port: u16) -> Child {
    let home = dir.join(port.to_string());
    std::fs::create_dir_all(&home).expect("node dir");
    Command::new("redis-server")
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
            // A replica may take over whatever the age of its data.
            "--cluster-replica-validity-factor",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            // A replica's first sync starts at once, not after the 5 s a
            // master waits by default for more replicas to join it.
            "--repl-diskless-sync-delay",
            "0",
        ])
        .arg("--dir")
        .arg(&home)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test.sh installs it)")
}

/// Whether the node started on `port` answers within two seconds (false:
/// it exited, most likely because the port was taken).
fn node_answers(child: &mut Child, port: u16) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < until {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        // Ours, not another test's server that holds the port.
        let pid = format!("process_id:{}", child.id());
        let ours = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "info", "server"])
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(&pid));
        if ours {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}
