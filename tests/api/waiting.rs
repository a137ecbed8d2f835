//! A mock airline's searches wait out its simulated delay in one timer per
//! airline, not in a task each, so a search whose airline is slow costs
//! little while its stream idles (issue 20); they are still counted in
//! flight, and still answered when due.

use crate::helpers::{TestApp, mock_airline, search_body};

/// Tasks alive on the runtime the test server runs on.
fn tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test]
async fn a_slow_mock_airlines_searches_wait_without_a_task_each() {
    let slow = mock_airline(
        "slow",
        "SL",
        "fixed: 1500ms",
        "timeout: 10s\nconcurrency: 1000",
    );
    let app = TestApp::with_providers(&[("slow.yaml", &slow)], |s| {
        s.access.max_in_flight = 1000;
    })
    .await;
    // The first search opens the client's connection.
    let mut ids = vec![app.submit(&search_body()).await];
    let before = tasks();
    const SEARCHES: usize = 100;
    for _ in 1..SEARCHES {
        ids.push(app.submit(&search_body()).await);
    }
    let waiting = tasks();
    assert!(
        waiting < before + SEARCHES / 2,
        "{SEARCHES} searches waiting on one slow airline took {} tasks ({before} before)",
        waiting - before.min(waiting)
    );
    let (status, list) = app.get("/api/providers").await;
    assert_eq!(status, 200, "{list}");
    let in_flight = list["data"][0]["stats"]["in_flight"].as_u64();
    assert_eq!(in_flight, Some(SEARCHES as u64), "{list}");
    for id in &ids {
        let events = app.stream(id, "", None).await;
        let done = events.last().expect("events");
        assert_eq!(done.event, "complete", "{events:?}");
        assert_eq!(done.data["total_offers"], 2, "{events:?}");
    }
    let (_, list) = app.get("/api/providers").await;
    assert_eq!(list["data"][0]["stats"]["in_flight"], 0, "{list}");
    app.stop().await;
}

#[tokio::test]
async fn a_slow_mock_airline_past_its_budget_times_out_and_one_that_fails_says_so() {
    let late = mock_airline("late", "LT", "fixed: 3s", "timeout: 300ms");
    let failing = mock_airline("failing", "FL", "fixed: 200ms\n  errors: { rate: 1.0 }", "");
    let app =
        TestApp::with_providers(&[("late.yaml", &late), ("failing.yaml", &failing)], |_| {}).await;
    let id = app.submit(&search_body()).await;
    let events = app.stream(&id, "", None).await;
    let complete = &events.last().expect("events").data;
    assert_eq!(complete["status"], "completed", "{complete}");
    let late = &complete["providers"]["late"];
    assert_eq!(late["status"], "timeout", "{late}");
    assert_eq!(late["error"], "no answer within 300ms", "{late}");
    let failing = &complete["providers"]["failing"];
    assert_eq!(failing["status"], "error", "{failing}");
    assert_eq!(
        failing["error"], "Test Air FL answered with an error (simulated)",
        "{failing}"
    );
    assert_eq!(complete["total_offers"], 0, "{complete}");
    app.stop().await;
}
