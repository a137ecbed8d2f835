//! The `airstream` binary: `validate` and settings errors.

use std::process::Command;

use crate::helpers::{fast_airline, samples_dir};

fn airstream() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airstream"));
    cmd.env_remove("RUST_LOG");
    cmd
}

#[test]
fn validate_accepts_the_samples() {
    let out = airstream()
        .arg("validate")
        .arg(samples_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("with problems") && stdout.contains(" 0 with problems"),
        "{stdout}"
    );
}

#[test]
fn validate_prints_path_line_column_reason_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yaml"), fast_airline("good", "GD")).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        fast_airline("bad", "BD")
            .replace("depart: \"07:30\"", "depart: \"7h30\"")
            .replace(
                "duration: 1h50m, fares: { economy: 900000 }",
                "duration: 1h50m, fares: { economy: 0 }",
            ),
    )
    .unwrap();
    let out = airstream()
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let prefix = format!("{}:", bad.display());
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 2, "every problem listed: {stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(":14:") && l.contains("not a time")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(":15:") && l.contains("not a positive amount")),
        "{stdout}"
    );
    assert!(stdout.contains("good.yaml: ok (good)"), "{stdout}");

    let single = airstream()
        .arg("validate")
        .arg(dir.path().join("good.yaml"))
        .output()
        .unwrap();
    assert!(single.status.success());
    let missing = airstream()
        .arg("validate")
        .arg(dir.path().join("nope.yaml"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such file"));
}

#[test]
fn unknown_settings_are_named_at_start() {
    let out = airstream()
        .arg("serve")
        .env("AIRSTREAM_SEARCH__MAX_RETAINEDD", "5")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("max_retainedd"), "{stderr}");
}

/// The real binary, started as a user would, stops cleanly on SIGTERM and
/// ends its open SSE streams.
#[tokio::test]
async fn sigterm_stops_the_binary_and_ends_open_streams() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slow.yaml"),
        crate::helpers::mock_airline("slow", "SL", "fixed: 20s", "timeout: 25s"),
    )
    .unwrap();
    let mut child = airstream()
        .arg("serve")
        .env("AIRSTREAM_LISTEN", "127.0.0.1:0")
        .env("AIRSTREAM_PROVIDERS_DIR", dir.path())
        .env("AIRSTREAM_LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The JSON log line announcing the listener carries the real address.
    let addr = loop {
        let line = rx
            .recv_timeout(crate::helpers::WAIT)
            .expect("the server logs its address");
        let log: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        if log["fields"]["message"] == "airstream listening" {
            break log["fields"]["addr"].as_str().unwrap().to_string();
        }
    };
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let mut body = crate::helpers::search_body();
    body["timeout_ms"] = serde_json::json!(30_000);
    let posted: serde_json::Value = client
        .post(format!("{base}/api/flights/search"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stream_url = posted["data"]["stream_url"].as_str().unwrap();
    let stream = client
        .get(format!("{base}{stream_url}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let reader = tokio::spawn(async move { stream.text().await });

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let text = tokio::time::timeout(crate::helpers::WAIT, reader)
        .await
        .expect("the stream ends on SIGTERM")
        .unwrap();
    assert!(!text.unwrap_or_default().contains("event: complete"));
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
}
