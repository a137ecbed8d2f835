//! `airstream loadtest` against the real app: the binary as users run it
//! (`--json` and the table, the exit codes), and the names the load tester
//! keeps of the API (paths, cabins, event kinds, statuses) checked against
//! what the server declares and answers.

use serde_json::Value;

use crate::helpers::{TestApp, airstream, fast_airline, mock_airline};

/// Runs `airstream loadtest ARGS` to its end without blocking the app the
/// test serves; returns the exit code, standard output and standard error.
async fn loadtest(args: Vec<String>) -> (Option<i32>, String, String) {
    let out = tokio::task::spawn_blocking(move || {
        airstream()
            .arg("loadtest")
            .args(args)
            .output()
            .expect("airstream loadtest runs")
    })
    .await
    .expect("the load test's thread");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn args(app: &TestApp, extra: &[&str]) -> Vec<String> {
    ["--url", app.base.as_str()]
        .iter()
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect()
}

#[tokio::test]
async fn every_search_of_a_json_run_completes_against_the_real_app() {
    let app = TestApp::with_providers(
        &[
            ("alpha.yaml", &fast_airline("alpha", "AA")),
            ("bravo.yaml", &fast_airline("bravo", "BB")),
        ],
        |_| {},
    )
    .await;
    // What one search finds, as the load tester asks it (CGK to DPS, one
    // passenger, economy, 14 days ahead).
    let one = serde_json::json!({
        "from": "CGK", "to": "DPS", "date": crate::helpers::date_in(14), "passengers": 1
    });
    let id = app.submit(&one).await;
    let events = app.stream(&id, "", None).await;
    let complete = &events.last().expect("events").data;
    let offers_per_search = complete["total_offers"].as_u64().expect("total_offers");
    assert!(offers_per_search > 0, "{complete}");

    let (code, stdout, stderr) = loadtest(args(&app, &["-n", "50", "-c", "4", "--json"])).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("--json prints JSON");
    let mut fields: Vec<&str> = report
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "completed",
            "cost",
            "elapsed_secs",
            "error_samples",
            "errors",
            "offers_total",
            "partial",
            "searches",
            "searches_per_sec",
            "time_to_complete",
            "time_to_first_offer",
        ],
        "{report}"
    );
    assert_eq!(report["searches"], 50, "{report}");
    assert_eq!(report["completed"], 50, "{report}");
    assert_eq!(report["partial"], 0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["error_samples"], serde_json::json!([]), "{report}");
    assert_eq!(report["offers_total"], 50 * offers_per_search, "{report}");
    assert!(report["elapsed_secs"].as_f64().expect("elapsed") > 0.0);
    assert!(report["searches_per_sec"].as_f64().expect("rate") > 0.0);
    // Every search had offers: both latencies have a sample per search,
    // and their percentiles are in order.
    for name in ["time_to_first_offer", "time_to_complete"] {
        let p = &report[name];
        assert_eq!(p["count"], 50, "{name}: {p}");
        let ms = |key: &str| {
            p[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}.{key}: {p}"))
        };
        assert!(ms("p50_ms") > 0.0, "{name}: {p}");
        assert!(
            ms("p50_ms") <= ms("p90_ms") && ms("p90_ms") <= ms("p99_ms"),
            "{name}: {p}"
        );
        assert!(ms("p99_ms") <= ms("max_ms"), "{name}: {p}");
    }
    let first = report["time_to_first_offer"]["p50_ms"].as_f64();
    let done = report["time_to_complete"]["max_ms"].as_f64();
    assert!(first <= done, "{report}");
}

#[tokio::test]
async fn partial_searches_succeed_and_failed_ones_fail_the_run() {
    let app = TestApp::with_providers(
        &[(
            "slow.yaml",
            &mock_airline("slow", "SL", "fixed: 10s", "timeout: 20s"),
        )],
        |_| {},
    )
    .await;
    // The deadline comes before the airline: every search is partial, which
    // is no error; the table says so.
    let (code, stdout, stderr) = loadtest(args(&app, &["-n", "3", "--timeout-ms", "100"])).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("airstream load test"), "{stdout}");
    assert!(
        stdout.contains("completed 0, partial 3, errors 0"),
        "{stdout}"
    );
    // A search the server refuses is an error, counted with the answer, and
    // the run fails.
    let (code, stdout, stderr) = loadtest(args(&app, &["-n", "2", "--providers", "nosuch"])).await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("errors 2"), "{stdout}");
    assert!(
        stdout.contains("POST /api/flights/search: HTTP 4"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_load_tester_asks_for_every_cabin_the_server_knows() {
    use airstream::model::Cabin;
    use airstream_loadtest::contract::CABINS;
    let server: Vec<&str> = Cabin::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(CABINS.as_slice(), server.as_slice());
    // And the server accepts each as the load tester sends it.
    let app =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    for cabin in CABINS {
        let (code, stdout, stderr) =
            loadtest(args(&app, &["-n", "1", "--cabin", cabin, "--json"])).await;
        assert_eq!(code, Some(0), "{cabin}: {stdout}\n{stderr}");
        let report: Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(report["errors"], 0, "{cabin}: {report}");
    }
}

/// An upstream airline at `server` that answers every date with one offer.
async fn upstream_airline(server: &wiremock::MockServer) -> String {
    use wiremock::matchers::method;
    use wiremock::{Mock, ResponseTemplate};
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "offers": [{"flight": "UP1", "dep": "08:00", "minutes": 110, "total": 1000000, "ccy": "IDR"}]
        })))
        .mount(server)
        .await;
    format!(
        r#"name: Up Air
airline: UP
upstream:
  url: "{}/offers?date={{{{ leg.date }}}}"
  retries: {{ attempts: 0 }}
  response:
    offers: body.offers
    map:
      flight_number: item.flight
      depart_at: 'leg.date ~ "T" ~ item.dep ~ ":00"'
      duration: item.minutes
      price: item.total
      currency: item.ccy
"#,
        server.uri()
    )
}

#[tokio::test]
async fn a_run_with_repeats_reports_what_it_cost_the_airlines() {
    let server = wiremock::MockServer::start().await;
    let file = upstream_airline(&server).await;
    // A process of its own: its metrics count only this test's searches.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("up.yaml"), file).unwrap();
    let app =
        crate::helpers::Process::spawn(&[], &[("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str())]);
    let run = |extra: &'static [&'static str]| {
        let args: Vec<String> = ["--url", app.base.as_str()]
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect();
        async move {
            let (code, stdout, stderr) = loadtest(args).await;
            assert_eq!(code, Some(0), "{stderr}");
            serde_json::from_str::<Value>(&stdout).expect("JSON report")
        }
    };
    // Half the searches repeat an earlier question: those are answered from
    // the cache (or share a call in flight), the others call the airline.
    let report = run(&["-n", "60", "-c", "1", "--repeat", "0.5", "--json"]).await;
    assert_eq!(report["completed"], 60, "{report}");
    let cost = &report["cost"];
    let calls = cost["upstream_calls"].as_u64().unwrap();
    let hits = cost["cache_hits"].as_u64().unwrap();
    assert_eq!(calls + hits, 60, "{cost}");
    assert!((15..=45).contains(&hits), "about half repeat: {cost}");
    assert_eq!(
        calls as usize,
        server.received_requests().await.unwrap().len()
    );
    // Asked live, every search calls the airline.
    let report = run(&["-n", "20", "-c", "1", "--no-cache", "--json"]).await;
    assert_eq!(report["cost"]["upstream_calls"], 20, "{report}");
    assert_eq!(report["cost"]["upstream_calls_per_search"], 1.0);
    assert_eq!(report["cost"]["cache_hits"], 0);
    // The same search again and again: one call, the rest from the cache.
    let report = run(&["-n", "20", "-c", "1", "--json"]).await;
    assert_eq!(
        report["cost"]["upstream_calls"], 0,
        "kept by the live run: {report}"
    );
    assert_eq!(report["cost"]["cache_hits"], 20);
    app.terminate().await;
}
