//! Real `airstream` processes for the tests that need more than one, or the
//! binary itself: started as a user would, on free ports.

use std::process::Command;

/// The built binary, with no inherited log filter.
pub fn airstream() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airstream"));
    cmd.env_remove("RUST_LOG");
    cmd
}

/// POSTs a search to a running process and returns the JSON answer.
pub async fn post_search(
    client: &reqwest::Client,
    base: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    client
        .post(format!("{base}/api/flights/search"))
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// GETs a JSON document from a running process.
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// GETs a text document (such as `/metrics`) from a running process.
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// Reads a search's SSE stream from a running process to its end.
pub async fn stream_events(
    client: &reqwest::Client,
    base: &str,
    stream_url: &str,
) -> Vec<crate::helpers::SseEvent> {
    crate::helpers::read_events(
        client
            .get(format!("{base}{stream_url}"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A running `airstream` binary and the address it announced.
pub struct Process {
    pub child: std::process::Child,
    pub base: String,
    /// The process's log lines after the one announcing its address.
    pub logs: std::sync::mpsc::Receiver<String>,
}

impl Process {
    /// Starts `airstream serve ARGS` on a free port with `envs`, and waits
    /// for the JSON log line that announces the listener's real address.
    pub fn spawn(args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> Process {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;

        let mut cmd = airstream();
        cmd.arg("serve")
            .args(args)
            .env("AIRSTREAM_LISTEN", "127.0.0.1:0")
            .env("AIRSTREAM_LOG__FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr = loop {
            let line = rx
                .recv_timeout(crate::helpers::WAIT)
                .expect("the server logs its address");
            let log: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
            if log["fields"]["message"] == "airstream listening" {
                break log["fields"]["addr"].as_str().unwrap().to_string();
            }
        };
        Process {
            child,
            base: format!("http://{addr}"),
            logs: rx,
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn terminate(mut self) {
        let killed = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "clean exit on SIGTERM: {status}");
    }
}
