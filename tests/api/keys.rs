//! API keys (SPEC section 11), through the real binary and the real API:
//! `airstream keys new` makes a key and the keys file's lines; with
//! `access.keys_file` set a search needs a key (missing or wrong: `401` in
//! the envelope), a key limited to some airlines searches only those, a
//! rewrite of the file revokes a key without a restart, the stream stays
//! readable by its id alone, and the log names the key's id, never the key.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Process, airstream, eventually, fast_airline, search_body};

/// `airstream keys new NAME`: the key (stderr) and the file's lines
/// (stdout).
fn new_key(name: &str) -> (String, String) {
    let out = airstream().args(["keys", "new", name]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let key = stderr
        .lines()
        .find(|l| l.starts_with("ask_"))
        .expect("the key is printed")
        .to_string();
    let lines = String::from_utf8(out.stdout).unwrap();
    assert!(
        !lines.contains(&key),
        "the key stays out of the file's lines"
    );
    (key, lines)
}

async fn post_with(
    process: &Process,
    header: Option<(&str, String)>,
    body: &Value,
) -> (u16, Value, Option<String>) {
    let mut request = process
        .client
        .post(process.url("/api/flights/search"))
        .json(body);
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    let challenge = answer
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, answer.json().await.unwrap(), challenge)
}

fn start(dir: &Path, keys: &Path) -> Process {
    Process::spawn(
        &[],
        &[
            ("AIRSTREAM_PROVIDERS_DIR", dir.as_os_str()),
            ("AIRSTREAM_ACCESS__KEYS_FILE", keys.as_os_str()),
        ],
    )
}

#[tokio::test]
async fn a_search_needs_a_key_the_file_lists_and_a_rewrite_revokes_it() {
    let dir = tempfile::tempdir().unwrap();
    for (id, code) in [("alpha", "AA"), ("bravo", "BB")] {
        std::fs::write(
            dir.path().join(format!("{id}.yaml")),
            fast_airline(id, code),
        )
        .unwrap();
    }
    let (site, site_lines) = new_key("travel-site");
    let (partner, partner_lines) = new_key("partner");
    let keys = dir.path().join("keys.toml");
    let limited = partner_lines + "airlines = [\"alpha\"]\n";
    std::fs::write(&keys, format!("{site_lines}\n{limited}")).unwrap();
    let process = start(&dir.path().join("."), &keys);
    // The providers directory holds the keys file too: it is not YAML, so
    // it is not read as an airline.

    let body = search_body();
    let (status, answer, challenge) = post_with(&process, None, &body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("unauthorized")),
        "{answer}"
    );
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"airstream\""));
    let (status, answer, _) =
        post_with(&process, Some(("x-api-key", "ask_wrong".into())), &body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("unauthorized")),
        "{answer}"
    );
    assert!(!answer.to_string().contains("ask_wrong"), "{answer}");

    let (status, accepted, _) = post_with(
        &process,
        Some(("authorization", format!("Bearer {site}"))),
        &body,
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["data"]["providers"], json!(["alpha", "bravo"]));
    // Counted under the key's id (two keys: few enough for a label),
    // never the key.
    let metrics = process.get_text("/metrics").await;
    assert!(
        metrics.contains("airstream_searches_by_key_total{key=\"travel-site\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains(&site));
    // The stream and the snapshot need no key: the id is the secret.
    let id = accepted["data"]["search_id"].as_str().unwrap().to_string();
    let events = process.stream(&id, "", None).await;
    assert_eq!(events.last().unwrap().event, "complete");

    // A key limited to `alpha`: asked alone when the search names none,
    // refused when the search names `bravo`.
    let (status, accepted, _) =
        post_with(&process, Some(("x-api-key", partner.clone())), &body).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["data"]["providers"], json!(["alpha"]));
    let mut named = search_body();
    named["providers"] = json!(["alpha", "bravo"]);
    let (status, answer, _) =
        post_with(&process, Some(("x-api-key", partner.clone())), &named).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("airline_not_allowed")),
        "{answer}"
    );
    assert!(
        answer["message"].as_str().unwrap().contains("bravo"),
        "{answer}"
    );

    // The log names the key's id, never the key.
    let accepted_line = process.next_log("a search accepted with a key", |log| {
        log["fields"]["message"] == "search accepted" && log["fields"]["key"] == "partner"
    });
    assert!(!accepted_line.to_string().contains(&partner));

    // Revoked by a rewrite of the file, with no restart.
    let rewritten = dir.path().join("keys.toml.new");
    std::fs::write(&rewritten, &limited).unwrap();
    std::fs::rename(&rewritten, &keys).unwrap();
    eventually("the revoked key to be refused")
        .until(async || {
            match post_with(&process, Some(("x-api-key", site.clone())), &body)
                .await
                .0
            {
                401 => Ok(()),
                other => Err(format!("status {other}")),
            }
        })
        .await;
    let (status, _, _) = post_with(&process, Some(("x-api-key", partner.clone())), &body).await;
    assert_eq!(status, 202, "the key still listed still works");

    // A file caught while it is written (empty: `>` truncates first) is not
    // read as "no keys": the keys in force stay.
    std::fs::write(&keys, "").unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (status, _, _) = post_with(&process, Some(("x-api-key", partner.clone())), &body).await;
    assert_eq!(status, 202, "an empty keys file does not lock everyone out");

    // A broken rewrite leaves the keys in force.
    std::fs::write(&keys, "[[keys]]\nid = \"partner\"\nsha256 = \"nope\"\n").unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (status, _, _) = post_with(&process, Some(("x-api-key", partner)), &body).await;
    assert_eq!(status, 202, "a bad keys file does not lock everyone out");
    let logs: Vec<String> = process.logs.try_iter().collect();
    for line in &logs {
        assert!(!line.contains(&site), "a key shows in a log line: {line}");
    }
    assert!(
        logs.iter().any(|l| l.contains("cannot be used")),
        "the bad file is logged: {logs:?}"
    );
    process.terminate().await;
}

#[test]
fn a_bad_keys_file_stops_the_start_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    std::fs::write(&keys, "[[keys]]\nid = \"a\"\nsha256 = \"not-a-hash\"\n").unwrap();
    let out = airstream()
        .arg("serve")
        .env("AIRSTREAM_LISTEN", "127.0.0.1:0")
        .env("AIRSTREAM_PROVIDERS_DIR", dir.path())
        .env("AIRSTREAM_ACCESS__KEYS_FILE", &keys)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sha256 must be 64 hexadecimal digits"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-a-hash"), "{stderr}");
}

/// `airstream loadtest` drives a server with keys on: with the key (from
/// `AIRSTREAM_API_KEY`, so it stays out of the command line) every search
/// completes; without it every search is refused, and the report says why.
#[tokio::test]
async fn the_load_generator_sends_a_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alpha.yaml"), fast_airline("alpha", "AA")).unwrap();
    let (key, lines) = new_key("loadtest");
    let keys = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(keys.path(), lines).unwrap();
    let process = start(dir.path(), keys.path());
    let url = process.url("");
    let run = |key: Option<&str>| {
        let mut cmd = airstream();
        cmd.args([
            "loadtest",
            "--url",
            url.trim_end_matches('/'),
            "-n",
            "4",
            "-c",
            "2",
            "--json",
        ]);
        match key {
            Some(key) => cmd.env("AIRSTREAM_API_KEY", key),
            None => cmd.env_remove("AIRSTREAM_API_KEY"),
        };
        let out = cmd.output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (
            out.status.success(),
            report,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, report, stderr) = run(Some(&key));
    assert!(ok, "{report} {stderr}");
    assert_eq!(report["completed"], 4, "{report}");
    let (ok, report, stderr) = run(None);
    assert!(!ok);
    let shown = format!("{report} {stderr}");
    assert!(shown.contains("401"), "{shown}");
    assert!(!shown.contains(&key));
    process.terminate().await;
}
