//! The `airstream` binary: `validate` and settings errors.

use std::process::Command;
use std::time::Duration;

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

/// POSTs a search to a running process and returns the JSON answer.
async fn post_search(
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

/// Reads a search's SSE stream from a running process to its end.
async fn stream_events(
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
struct Process {
    child: std::process::Child,
    base: String,
}

impl Process {
    /// Starts `airstream serve ARGS` on a free port with `envs`, and waits
    /// for the JSON log line that announces the listener's real address.
    fn spawn(args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> Process {
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
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    async fn terminate(mut self) {
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

/// The real binary, started as a user would, stops cleanly on SIGTERM and
/// ends its open SSE streams.
#[tokio::test]
async fn sigterm_stops_the_binary_and_ends_open_streams() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slow.yaml"),
        crate::helpers::mock_airline("slow", "SL", "fixed: 20s", "timeout: 25s"),
    )
    .unwrap();
    let server = Process::spawn(&[], &[("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str())]);
    let client = reqwest::Client::new();
    let mut body = crate::helpers::search_body();
    body["timeout_ms"] = serde_json::json!(30_000);
    let posted = post_search(&client, &server.base, &body).await;
    let stream_url = posted["data"]["stream_url"].as_str().unwrap();
    let stream = client
        .get(format!("{}{stream_url}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let reader = tokio::spawn(async move { stream.text().await });
    server.terminate().await;
    let text = tokio::time::timeout(crate::helpers::WAIT, reader)
        .await
        .expect("the stream ends on SIGTERM")
        .unwrap();
    assert!(!text.unwrap_or_default().contains("event: complete"));
}

/// One `api` and two `providers` processes on one Redis: a search posted to
/// the api process is answered by airlines served in the other processes.
#[tokio::test]
async fn an_api_process_and_providers_processes_share_a_redis() {
    let redis = crate::helpers::RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alpha.yaml"), fast_airline("alpha", "AA")).unwrap();
    std::fs::write(
        dir.path().join("bravo.yaml"),
        crate::helpers::mock_airline("bravo", "BB", "fixed: 30ms", ""),
    )
    .unwrap();
    let url = std::ffi::OsString::from(&redis.url);
    let envs = [
        ("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str()),
        ("AIRSTREAM_REDIS_URL", url.as_os_str()),
    ];
    let providers_a = Process::spawn(&["--role", "providers"], &envs);
    let providers_b = Process::spawn(&["--role", "providers"], &envs);
    let api = Process::spawn(&["--role", "api"], &envs);
    let client = reqwest::Client::new();

    let (mut completed, mut offers) = (0, 0);
    for _ in 0..10 {
        let posted = post_search(&client, &api.base, &crate::helpers::search_body()).await;
        let stream_url = posted["data"]["stream_url"]
            .as_str()
            .expect("accepted")
            .to_string();
        let events = stream_events(&client, &api.base, &stream_url).await;
        let complete = &events.last().unwrap().data;
        if complete["status"] == "completed" {
            completed += 1;
        }
        offers += complete["total_offers"].as_u64().unwrap();
        assert_eq!(complete["providers"]["alpha"]["status"], "ok");
        assert_eq!(complete["providers"]["bravo"]["status"], "ok");
    }
    assert_eq!(completed, 10);
    assert!(offers > 0);

    // A providers process takes no searches, and says where they go.
    let answer = client
        .post(format!("{}/api/flights/search", providers_a.base))
        .json(&crate::helpers::search_body())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("`api` process"),
        "{body}"
    );
    // The two providers processes shared the work: between them, each
    // airline answered every search exactly once.
    let mut answered = std::collections::BTreeMap::<String, u64>::new();
    for p in [&providers_a, &providers_b] {
        assert_eq!(
            client
                .get(format!("{}/readyz", p.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let list: serde_json::Value = client
            .get(format!("{}/api/providers", p.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for airline in list["data"].as_array().unwrap() {
            *answered
                .entry(airline["id"].as_str().unwrap().to_string())
                .or_default() += airline["stats"]["answered"].as_u64().unwrap();
        }
    }
    assert_eq!(answered.get("alpha"), Some(&10), "{answered:?}");
    assert_eq!(answered.get("bravo"), Some(&10), "{answered:?}");
    api.terminate().await;
    providers_a.terminate().await;
    providers_b.terminate().await;
}

#[test]
fn split_roles_without_redis_are_refused_with_the_reason() {
    let out = airstream()
        .args(["serve", "--role", "api"])
        .env_remove("REDIS_URL")
        .env_remove("AIRSTREAM_REDIS_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("role `api`") && stderr.contains("AIRSTREAM_REDIS_URL"),
        "{stderr}"
    );
}

/// A providers process killed with SIGKILL mid-search: a live process takes
/// the search over and answers it, or, past the delivery limit, dead-letters
/// it and answers `error`, so the search completes either way.
async fn kill_a_providers_process_mid_search(max_deliveries: &str) -> serde_json::Value {
    let redis = crate::helpers::RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slow.yaml"),
        crate::helpers::mock_airline("slow", "SL", "fixed: 800ms", "timeout: 1s"),
    )
    .unwrap();
    let url = std::ffi::OsString::from(&redis.url);
    let limit = std::ffi::OsString::from(max_deliveries);
    let claim = std::ffi::OsString::from("100ms");
    let envs = [
        ("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str()),
        ("AIRSTREAM_REDIS_URL", url.as_os_str()),
        ("AIRSTREAM_REDIS__CLAIM_IDLE", claim.as_os_str()),
        ("AIRSTREAM_REDIS__MAX_DELIVERIES", limit.as_os_str()),
    ];
    let mut doomed = Process::spawn(&["--role", "providers"], &envs);
    let api = Process::spawn(&["--role", "api"], &envs);
    let client = reqwest::Client::new();
    let mut body = crate::helpers::search_body();
    body["timeout_ms"] = serde_json::json!(20_000);
    let posted = post_search(&client, &api.base, &body).await;
    let stream_url = posted["data"]["stream_url"]
        .as_str()
        .expect("accepted")
        .to_string();
    // Wait until the doomed process holds the search, then kill it hard.
    let started = std::time::Instant::now();
    loop {
        let list: serde_json::Value = client
            .get(format!("{}/api/providers", doomed.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if list["data"][0]["stats"]["in_flight"] == 1 {
            break;
        }
        assert!(
            started.elapsed() < crate::helpers::WAIT,
            "the search never reached the providers process"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    let rescuer = Process::spawn(&["--role", "providers"], &envs);
    let events = stream_events(&client, &api.base, &stream_url).await;
    let complete = events.last().unwrap().data.clone();
    api.terminate().await;
    rescuer.terminate().await;
    complete
}

#[tokio::test]
async fn a_live_process_takes_over_the_searches_of_a_killed_one() {
    let complete = kill_a_providers_process_mid_search("3").await;
    assert_eq!(complete["status"], "completed", "{complete}");
    assert_eq!(complete["providers"]["slow"]["status"], "ok", "{complete}");
    assert!(complete["total_offers"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_search_delivered_too_often_is_dead_lettered_and_still_completes() {
    let complete = kill_a_providers_process_mid_search("1").await;
    assert_eq!(complete["status"], "completed", "{complete}");
    let slow = &complete["providers"]["slow"];
    assert_eq!(slow["status"], "error", "{complete}");
    assert!(
        slow["error"].as_str().unwrap().contains("dead-letter"),
        "{complete}"
    );
}
