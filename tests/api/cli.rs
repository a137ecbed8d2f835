//! The `airstream` binary: `validate` and settings errors.

use crate::helpers::{Process, airstream, fast_airline, samples_dir};

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

/// What `airstream serve` says on stderr when it refuses to start with
/// the variable `name` set to `value`.
fn refused_with(name: &str, value: &str) -> String {
    let out = airstream().arg("serve").env(name, value).output().unwrap();
    assert!(!out.status.success(), "{name}={value} is refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_settings_are_named_at_start() {
    let stderr = refused_with("AIRSTREAM_SEARCH__MAX_RETAINEDD", "5");
    assert!(stderr.contains("max_retainedd"), "{stderr}");
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
    let mut body = crate::helpers::search_body();
    body["timeout_ms"] = serde_json::json!(30_000);
    let posted = server.post_search(&body).await;
    let stream_url = posted["data"]["stream_url"].as_str().unwrap();
    let stream = server
        .client
        .get(server.url(stream_url))
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

/// `worker_threads` sizes the server's runtime, as its start announces;
/// out of range or not a number, the server refuses to start and says why.
#[test]
fn worker_threads_size_the_runtime() {
    for threads in ["1", "3"] {
        let server = Process::spawn(&[], &[("AIRSTREAM_WORKER_THREADS", threads.as_ref())]);
        assert_eq!(server.announced["fields"]["workers"].to_string(), threads);
    }
    for bad in ["0", "5000"] {
        let stderr = refused_with("AIRSTREAM_WORKER_THREADS", bad);
        assert!(
            stderr.contains("`worker_threads` must be from 1 to 1024") && stderr.contains(bad),
            "{stderr}"
        );
    }
    let stderr = refused_with("AIRSTREAM_WORKER_THREADS", "many");
    assert!(stderr.contains("worker_threads"), "{stderr}");
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

/// With `log.format = json`, every line is JSON, and what happens for one
/// search is logged inside a span carrying its id.
#[tokio::test]
async fn json_logs_carry_the_search_id_in_a_span() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alpha.yaml"), fast_airline("alpha", "AA")).unwrap();
    let server = Process::spawn(&[], &[("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str())]);
    let posted = server.post_search(&crate::helpers::search_body()).await;
    let id = posted["data"]["search_id"].as_str().unwrap().to_string();
    let log = server.next_log("the search is logged", |log| {
        log["fields"]["message"] == "search accepted"
    });
    assert_eq!(log["span"]["name"], "search", "{log}");
    assert_eq!(log["span"]["search_id"], id.as_str(), "{log}");
    server.terminate().await;
}

/// Every duration form the docs do not list is refused by `validate`, at
/// the flight's line, in plain words that quote what was written.
#[test]
fn validate_refuses_undocumented_duration_forms() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("minutes", "5 minutes", "`minutes` is not a unit"),
        ("mins", "5 mins", "`mins` is not a unit"),
        ("min", "5min", "`min` is not a unit"),
        ("iso", "PT1H45M", "ISO 8601"),
        ("words", "1 hour 45 minutes", "`hour` is not a unit"),
        ("bare", "150", "`150` has no unit"),
        ("order", "45m1h", "larger units first"),
        ("long", "25h", "duration must be from 1m to 24h, got `25h`"),
    ];
    for (name, form, _) in cases {
        let yaml = fast_airline(name, "DU").replace(
            "duration: 1h50m, fares: { economy: 900000 }",
            &format!("duration: {form}, fares: {{ economy: 900000 }}"),
        );
        std::fs::write(dir.path().join(format!("{name}.yaml")), yaml).unwrap();
    }
    let out = airstream()
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    for (name, _, reason) in cases {
        let prefix = format!("{}:15:", dir.path().join(format!("{name}.yaml")).display());
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{name}: no problem at line 15 in:\n{stdout}"));
        assert!(line.contains(reason), "{name}: {line}");
        for jargon in ["jiff", "Span", "friendly", "unparsed", "90000s"] {
            assert!(!line.contains(jargon), "{name}: {line}");
        }
    }
    assert!(
        stdout.contains(&format!(
            "{} file(s) checked, 0 valid, {} with problems",
            cases.len(),
            cases.len()
        )),
        "{stdout}"
    );
}

/// Settings take the same grammar as provider files.
#[test]
fn a_setting_in_an_undocumented_duration_form_is_refused() {
    let out = airstream()
        .arg("settings")
        .env("AIRSTREAM_SEARCH__RESULT_TTL", "5 minutes")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("`minutes` is not a unit"), "{stderr}");
    let ok = airstream()
        .arg("settings")
        .env("AIRSTREAM_SEARCH__RESULT_TTL", "1h30m")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}");
    assert!(stdout.contains("\"result_ttl\": \"1h30m\""), "{stdout}");
}

/// A mock flight whose `arrive` its `duration` and no time zone explain is
/// reported at the flight's line.
#[test]
fn validate_checks_arrival_against_duration() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("clock.yaml");
    std::fs::write(
        &bad,
        fast_airline("clock", "CL").replace(
            "depart: \"12:15\", duration: 1h50m,",
            "depart: \"06:00\", duration: 5 minutes, arrive: \"08:45\",",
        ),
    )
    .unwrap();
    let stdout = validate_refuses(&bad);
    assert!(
        stdout.contains(":15:") && stdout.contains("`minutes` is not a unit"),
        "{stdout}"
    );
    std::fs::write(
        &bad,
        fast_airline("clock", "CL").replace(
            "depart: \"12:15\", duration: 1h50m,",
            "depart: \"06:00\", duration: 5m, arrive: \"08:45\",",
        ),
    )
    .unwrap();
    let stdout = validate_refuses(&bad);
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{}:15:", bad.display())))
        .unwrap_or_else(|| panic!("no problem at line 15:\n{stdout}"));
    assert!(
        line.contains(
            "departs 06:00 and arrives `08:45`, 2h45m later by the clocks, but its duration is `5m`"
        ),
        "{line}"
    );
}

/// The sample `garuda.yaml` with one line changed by `edit`, validated by
/// the real binary: the first problem line printed.
fn validate_garuda_with(edit: impl Fn(usize, &str) -> String) -> String {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(samples_dir().join("garuda.yaml")).unwrap();
    let broken: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| edit(i + 1, l))
        .collect();
    let path = dir.path().join("garuda.yaml");
    std::fs::write(&path, broken.join("\n") + "\n").unwrap();
    let stdout = validate_refuses(&path);
    let first = stdout.lines().next().unwrap_or_default();
    first
        .strip_prefix(&format!("{}:", path.display()))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string()
}

/// Indentation mistakes are reported at the line to edit, in plain words
/// that say it is the indentation.
#[test]
fn validate_explains_indentation_mistakes_at_the_line_to_edit() {
    // `pricing:` (line 18) indented too far under `seed: 4040`: the parser
    // said "expected a whole number of 0 or more" at line 17.
    let got = validate_garuda_with(|n, l| if n == 18 { format!("  {l}") } else { l.into() });
    assert!(
        got.starts_with("18:5: `pricing:` is indented more than `seed:` on line 17, so YAML reads this line as the rest of that value: line it up with `seed:`"),
        "{got}"
    );
    // `routes:` indented too far, into the block above it, `pricing:`.
    let text = std::fs::read_to_string(samples_dir().join("garuda.yaml")).unwrap();
    let line_of = |wanted: &str| {
        1 + text
            .lines()
            .position(|l| l.split('#').next().unwrap_or_default().trim_end() == wanted)
            .unwrap()
    };
    let (routes, pricing) = (line_of("  routes:"), line_of("  pricing:"));
    let got = validate_garuda_with(|n, l| {
        if n == routes {
            format!("  {l}")
        } else {
            l.into()
        }
    });
    assert!(
        got.starts_with(&format!(
            "{routes}:5: unknown field `routes`: it is not expected under `pricing:` (line {pricing})"
        )) && got.contains("check its indentation"),
        "{got}"
    );
    // The first route's `to:` short by a space: the parser said "missing
    // field `to`" at the line of `from:`.
    let to = routes + 2;
    let got = validate_garuda_with(|n, l| {
        if n == to {
            l[1..].to_string()
        } else {
            l.into()
        }
    });
    assert!(
        got.starts_with(&format!("{to}:6: `to:` is indented 5 spaces, but the keys beside it (such as `from:` on line {}) are indented 6 spaces", to - 1)),
        "{got}"
    );
    // Two keys on one line: "mapping values are not allowed in this context".
    let got = validate_garuda_with(|n, l| {
        if n == 7 {
            format!("{l} airline: GA")
        } else if n == 8 {
            String::new()
        } else {
            l.into()
        }
    });
    assert!(
        got.starts_with(
            "7:31: a second `key: value` on the line of `name:`: start a new line for it"
        ),
        "{got}"
    );
    // A key indented under a line that has its value (the parser said
    // "expected true or false" at line 9).
    let got = validate_garuda_with(|n, l| if n == 10 { format!(" {l}") } else { l.into() });
    assert!(
        got.starts_with("10:2: `timeout:` is indented more than `enabled:` on line 9, so YAML reads this line as the rest of that value"),
        "{got}"
    );
    assert!(!got.contains("mapping values are not allowed"), "{got}");
}

/// Runs `airstream validate PATH`, which must fail, and returns what it
/// printed.
fn validate_refuses(path: &std::path::Path) -> String {
    let out = airstream().arg("validate").arg(path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{stdout}");
    stdout
}

/// `validate --no-environment` lints a file whose secrets are not set (a CI
/// job without them), and still reports its other problems; without the
/// flag an unset variable is an error, as for a serving process.
#[test]
fn validate_without_the_environment_checks_all_but_the_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "AIRSTREAM_TEST_UNSET_SECRET_9F2";
    let good = crate::upstream::airline("http://127.0.0.1:9", "")
        .replace("env: [CARGO_PKG_NAME]", &format!("env: [{secret}]"))
        .replace("env.CARGO_PKG_NAME", &format!("env.{secret}"));
    let path = dir.path().join("skyway.yaml");
    std::fs::write(&path, &good).unwrap();
    let run = |flag: bool| {
        let mut cmd = airstream();
        cmd.arg("validate").env_remove(secret);
        if flag {
            cmd.arg("--no-environment");
        }
        let out = cmd.arg(&path).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, out) = run(false);
    assert!(
        !ok && out.contains(&format!("`{secret}` is listed in `env:` but not set")),
        "{out}"
    );
    let (ok, out) = run(true);
    assert!(ok && out.contains("ok (skyway)"), "{out}");
    // Another problem is still found without the environment.
    std::fs::write(&path, good.replace("{{ leg.date }}", "{{ leg.day }}")).unwrap();
    let (ok, out) = run(true);
    assert!(!ok && out.contains("leg.day"), "{out}");
}
