//! Real `airstream` processes for the tests that need more than one, or the
//! binary itself: started as a user would, on free ports.

use std::process::Command;
use std::sync::mpsc::Receiver;

use serde_json::Value;

use super::api::Api;
use super::wait::WAIT;

/// The built binary, with no inherited log filter.
pub fn airstream() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airstream"));
    cmd.env_remove("RUST_LOG");
    cmd
}

/// A running `airstream` binary; as a client, it is its [`Api`] (at the
/// address it announced).
pub struct Process {
    pub child: std::process::Child,
    api: Api,
    /// The process's log lines after the one announcing its address.
    pub logs: Receiver<String>,
    /// The log line announcing its address.
    pub announced: Value,
}

impl std::ops::Deref for Process {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
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
        // `E2E_LOG_DIR`: each process's log also goes to `<dir>/<pid>.log`,
        // to read after a failure.
        let mut copy = std::env::var_os("E2E_LOG_DIR").map(|dir| {
            let path = std::path::Path::new(&dir).join(format!("{}.log", child.id()));
            std::fs::File::create(path).unwrap()
        });
        std::thread::spawn(move || {
            use std::io::Write;
            let mut connected = true;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(file) = &mut copy {
                    let _ = writeln!(file, "{line}");
                }
                connected = connected && tx.send(line.clone()).is_ok();
                if !connected && copy.is_none() {
                    break;
                }
            }
        });
        let listening = next_log(&rx, "the server logs its address", |log| {
            log["fields"]["message"] == "airstream listening"
        });
        let addr = listening["fields"]["addr"].as_str().unwrap();
        Process {
            child,
            api: Api::new(format!("http://{addr}"), reqwest::Client::new()),
            logs: rx,
            announced: listening,
        }
    }

    /// Waits up to [`WAIT`] for the next JSON log line for which `wanted`
    /// holds (the lines before it are read and passed over), and returns it.
    pub fn next_log(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        next_log(&self.logs, what, wanted)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn terminate(mut self) {
        let killed = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < WAIT,
                "no exit within {WAIT:?} of SIGTERM"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert!(status.success(), "clean exit on SIGTERM: {status}");
    }
}

/// A test that fails (or forgets to terminate) leaves no server running.
impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The next JSON line of `logs` for which `wanted` holds, within [`WAIT`].
fn next_log(logs: &Receiver<String>, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let left = WAIT.saturating_sub(started.elapsed());
        let line = logs
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("gave up waiting for {what}: {e}"));
        let log: Value = serde_json::from_str(&line).expect("JSON log line");
        if wanted(&log) {
            return log;
        }
    }
}
