//! A real `redis-server` on a free port for one test.

use std::path::Path;
use tempfile::TempDir;

use super::wait::eventually;

/// A real `redis-server` on a free port, for one test, stopped on drop.
pub struct RedisServer {
    pub url: String,
    port: u16,
    durable: bool,
    child: std::process::Child,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts `redis-server` with no persistence in a temporary directory and
    /// waits until it answers.
    pub async fn start() -> RedisServer {
        Self::start_with(false).await
    }

    /// Starts `redis-server` with every write in its append-only file before
    /// it is acknowledged (`appendfsync always`), as production should run,
    /// so a restart keeps what was acknowledged.
    pub async fn start_durable() -> RedisServer {
        Self::start_with(true).await
    }

    async fn start_with(durable: bool) -> RedisServer {
        let port = super::net::free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let child = spawn_redis(port, dir.path(), durable);
        let server = RedisServer {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            durable,
            child,
            _dir: dir,
        };
        wait_for_redis(port).await;
        server
    }

    /// Starts the server again on the same port: empty, or with what it
    /// had acknowledged when durable.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn_redis(self.port, self._dir.path(), self.durable);
        wait_for_redis(self.port).await;
    }

    /// Stops the server at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until a redis-server on `port` answers PING.
async fn wait_for_redis(port: u16) {
    eventually(format!("redis-server to answer PING on port {port}"))
        .until(async || {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| e.to_string())?;
            let mut reply = [0u8; 7];
            stream
                .write_all(b"PING\r\n")
                .await
                .map_err(|e| e.to_string())?;
            stream
                .read_exact(&mut reply)
                .await
                .map_err(|e| e.to_string())?;
            if &reply == b"+PONG\r\n" {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&reply).into_owned())
            }
        })
        .await
}

/// Starts `redis-server` on `port` in `dir`, durable or without
/// persistence.
fn spawn_redis(port: u16, dir: &Path, durable: bool) -> std::process::Child {
    let aof: &[&str] = if durable {
        &["--appendonly", "yes", "--appendfsync", "always"]
    } else {
        &["--appendonly", "no"]
    };
    std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(aof)
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test.sh installs it)")
}
