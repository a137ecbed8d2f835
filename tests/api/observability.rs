//! Observability with real parts: a real Prometheus (Debian's `prometheus`)
//! scrapes a running airstream under a short load, and every query of every
//! panel of the bundled Grafana dashboard must return data through
//! Prometheus's HTTP API; every panel names the provisioned datasource.
//! The deployment files are checked by real parsers: `docker-compose
//! config`, `promtool check config`, and every `AIRSTREAM_` variable that
//! `docker-compose.yml` sets must be a setting the binary accepts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Api, TestApp, WAIT, airstream, eventually, free_port, search_body};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A tool the suite needs; `scripts/test.sh` installs it where missing.
fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{name}` is not installed: run ./scripts/test.sh, which installs it"
    );
    Command::new(name)
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The dashboard's panels (rows left out).
fn panels() -> Vec<Value> {
    let text = std::fs::read_to_string(repo("deploy/grafana/dashboards/airstream.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .cloned()
        .collect()
}

/// The uid of the provisioned Prometheus datasource.
fn datasource_uid() -> String {
    let text = std::fs::read_to_string(repo(
        "deploy/grafana/provisioning/datasources/prometheus.yml",
    ))
    .unwrap();
    let provisioning: Value = serde_saphyr::from_str(&text).unwrap();
    provisioning["datasources"][0]["uid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn every_panel_uses_the_provisioned_datasource() {
    let uid = datasource_uid();
    let panels = panels();
    assert!(panels.len() >= 15, "{}", panels.len());
    for panel in &panels {
        assert_eq!(panel["datasource"]["uid"], uid, "{}", panel["title"]);
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], uid, "{}", panel["title"]);
            assert!(target["expr"].as_str().is_some_and(|e| !e.is_empty()));
        }
    }
}

#[tokio::test]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let app = TestApp::with_samples().await;
    let dir = tempfile::tempdir().unwrap();
    let target = app.base.trim_start_matches("http://").to_string();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: airstream\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let _prometheus = Killed(
        tool("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // A short, steady load for as long as the queries are checked: searches
    // through every sample airline (the upstream one too), and a refused one.
    let load = {
        let api = Api::clone(&app);
        tokio::spawn(async move {
            loop {
                let posted = api.post_search(&search_body()).await;
                let url = posted["data"]["stream_url"].as_str().unwrap();
                api.read_stream(url).await;
                let _ = api.post(&json!({"from": "CGK"})).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let deadline = WAIT + Duration::from_secs(20);
    for panel in panels() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            eventually(format!(
                "panel `{}` to show data for `{expr}`",
                panel["title"]
            ))
            .within(deadline.saturating_sub(started.elapsed()))
            .every(Duration::from_millis(250))
            .until(async || {
                let answer: Option<Value> = async {
                    client
                        .get(format!(
                            "http://127.0.0.1:{port}/api/v1/query?query={}",
                            percent_encoding::utf8_percent_encode(
                                expr,
                                percent_encoding::NON_ALPHANUMERIC
                            )
                        ))
                        .send()
                        .await
                        .ok()?
                        .json()
                        .await
                        .ok()
                }
                .await;
                let has_data = answer.as_ref().is_some_and(|a| {
                    a["status"] == "success"
                        && a["data"]["result"]
                            .as_array()
                            .is_some_and(|r| !r.is_empty())
                });
                if has_data {
                    Ok(())
                } else {
                    Err(format!("{answer:?}"))
                }
            })
            .await;
        }
    }
    load.abort();
}

#[test]
fn the_compose_file_and_the_prometheus_config_parse() {
    let compose = tool("docker-compose")
        .arg("-f")
        .arg(repo("docker-compose.yml"))
        .args(["config", "-q"])
        .output()
        .unwrap();
    assert!(
        compose.status.success(),
        "{}",
        String::from_utf8_lossy(&compose.stderr)
    );
    let promtool = tool("promtool")
        .args(["check", "config"])
        .arg(repo("deploy/prometheus.yml"))
        .output()
        .unwrap();
    assert!(
        promtool.status.success(),
        "{}",
        String::from_utf8_lossy(&promtool.stdout)
    );
}

#[test]
fn every_airstream_variable_in_the_compose_file_is_a_setting() {
    let text = std::fs::read_to_string(repo("docker-compose.yml")).unwrap();
    let compose: Value = serde_saphyr::from_str(&text).unwrap();
    let mut checked = 0;
    for (name, service) in compose["services"].as_object().unwrap() {
        let Some(env) = service["environment"].as_object() else {
            continue;
        };
        let vars: Vec<(&String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with("AIRSTREAM_"))
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string)))
            .collect();
        if vars.is_empty() {
            continue;
        }
        let out = airstream()
            .arg("settings")
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "service `{name}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += vars.len();
    }
    assert!(checked >= 4, "{checked}");
    // And the check does catch a variable that is no setting.
    let out = airstream()
        .arg("settings")
        .env_clear()
        .env("AIRSTREAM_REDIS__CLAIM_IDEL", "5s")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("claim_idel"));
}

/// Every refusal reason's series exists from the start, at zero, so the
/// dashboard's refused-by-reason panel shows data before the first
/// refusal; a refusal then counts under its reason.
#[tokio::test]
async fn every_refusal_reason_is_a_series_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alpha.yaml"),
        crate::helpers::fast_airline("alpha", "AA"),
    )
    .unwrap();
    let process =
        crate::helpers::Process::spawn(&[], &[("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str())]);
    let series = |text: &str, reason: &str| -> Option<String> {
        let wanted = format!("airstream_searches_refused_total{{reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&wanted).map(str::to_string))
    };
    let text = process.get_text("/metrics").await;
    for reason in airstream::metrics::REFUSAL_REASONS {
        assert_eq!(
            series(&text, reason).as_deref(),
            Some("0"),
            "{reason}: {text}"
        );
    }
    let (status, _) = process.post_raw("{").await;
    assert_eq!(status, 400);
    let text = process.get_text("/metrics").await;
    assert_eq!(series(&text, "invalid").as_deref(), Some("1"));
    process.terminate().await;
}
