//! What hostile clients and an idle server found (issue 12): each test
//! drives a real `airstream` process through real sockets.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{WAIT, date_in, fast_airline, pricier_airline};
use crate::processes::{Process, get_text, post_search, stream_events};

/// The value of an unlabelled counter on a process's `/metrics`.
async fn counter(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = get_text(client, &format!("{base}/metrics")).await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn an_idle_server_does_not_reread_its_providers_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alpha.yaml"), fast_airline("alpha", "AA")).unwrap();
    let process = Process::spawn(&[], &[("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str())]);
    let client = reqwest::Client::new();
    let scans = "airstream_provider_scans_total";
    // Start-up reads the directory, and the watcher once more when it starts.
    let started = std::time::Instant::now();
    while counter(&client, &process.base, scans).await < 2.0 {
        assert!(started.elapsed() < WAIT, "the directory is never read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let settled = counter(&client, &process.base, scans).await;
    // Nothing changes for three seconds: nothing is read.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = counter(&client, &process.base, scans).await;
    assert_eq!(idle, settled, "an idle server reread its directory");

    // A real change is still seen, and serves.
    std::fs::write(
        dir.path().join("alpha.yaml"),
        pricier_airline("alpha", "AA"),
    )
    .unwrap();
    let body = json!({"from": "CGK", "to": "DPS", "date": date_in(14), "passengers": 1});
    let started = std::time::Instant::now();
    loop {
        let accepted = post_search(&client, &process.base, &body).await;
        let url = accepted["data"]["stream_url"].as_str().unwrap().to_string();
        let events = stream_events(&client, &process.base, &url).await;
        let complete = &events.last().unwrap().data;
        if crate::helpers::cheapest_fare(complete) > 5_000_000 {
            break;
        }
        assert!(started.elapsed() < WAIT, "the edited fare never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(counter(&client, &process.base, scans).await > idle);
    process.terminate().await;
}

#[test]
fn validate_into_a_closed_pipe_ends_quietly() {
    for args in [&["validate"][..], &["settings"][..]] {
        // A pipe whose reader is gone before anything is written, as with
        // `airstream validate | head -1` once head has its line.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = crate::processes::airstream()
            .args(args)
            .env("AIRSTREAM_PROVIDERS_DIR", crate::helpers::samples_dir())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn the_test_command_installs_without_recommended_packages() {
    // Debian's docker-compose recommends docker.io: a Docker engine,
    // containerd and iptables for a tool that only parses a file here.
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test.sh"),
    )
    .unwrap();
    let installs: Vec<&str> = script
        .lines()
        .filter(|l| l.contains("apt-get install"))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(!installs.is_empty(), "the script installs nothing?");
    for line in installs {
        assert!(line.contains("--no-install-recommends"), "{line}");
    }
}
