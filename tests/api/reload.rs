//! Hot reload of `providers.d/`: files dropped, edited, broken, fixed,
//! renamed over, deleted, and twenty written at once, each taking effect for
//! new searches without a restart. Every wait polls with a deadline.

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, cheapest_fare, eventually, fast_airline, mock_airline, pricier_airline, search_body,
};

/// Polls `/api/providers` until `check` holds for the list.
async fn until(app: &TestApp, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    eventually(what)
        .until(async || {
            let (_, body) = app.get("/api/providers").await;
            let list = body["data"].as_array().cloned().unwrap_or_default();
            if check(&list) {
                Ok(list)
            } else {
                Err(format!("{list:?}"))
            }
        })
        .await
}

/// Searches for the airline `id` until `check` holds for its cheapest
/// fare, failing after [`WAIT`](crate::helpers::WAIT) with `what`.
async fn until_fare(app: &TestApp, id: &str, what: &str, check: impl Fn(u64) -> bool) {
    eventually(what)
        .until(async || match cheapest_fare(&search(app, id).await) {
            fare if check(fare) => Ok(()),
            fare => Err(format!("cheapest fare {fare}")),
        })
        .await;
}

fn file<'a>(list: &'a [Value], id: &str) -> Option<&'a Value> {
    list.iter().find(|p| p["id"] == id)
}

fn serving(list: &[Value], id: &str) -> bool {
    file(list, id).is_some_and(|p| p["enabled"] == true)
}

/// Runs a search for one airline and returns its `complete` event.
async fn search(app: &TestApp, id: &str) -> Value {
    let mut body = search_body();
    body["providers"] = json!([id]);
    let id = app.submit(&body).await;
    app.stream(&id, "", None).await.last().unwrap().data.clone()
}

#[tokio::test]
async fn a_dropped_file_joins_and_an_edited_fare_changes_the_price() {
    let app =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    std::fs::write(app.dir.join("bravo.yaml"), fast_airline("bravo", "BB")).unwrap();
    until(&app, "bravo joins", |l| serving(l, "bravo")).await;
    let complete = search(&app, "bravo").await;
    assert_eq!(complete["providers"]["bravo"]["status"], "ok", "{complete}");
    let before = cheapest_fare(&complete);
    assert!(before < 1_500_000, "{before}");
    // Fares ten times higher.
    let pricier = pricier_airline("bravo", "BB");
    std::fs::write(app.dir.join("bravo.yaml"), pricier).unwrap();
    until_fare(&app, "bravo", "the new fare to serve", |f| f > 5_000_000).await;
}

#[tokio::test]
async fn a_broken_file_keeps_its_last_good_version_until_fixed() {
    let app =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    let good = fast_airline("alpha", "AA");
    std::fs::write(
        app.dir.join("alpha.yaml"),
        good.replace("timeout", "tiemout")
            .replace("name: Test Air AA", "name: Test Air AA\ntimout: 2s"),
    )
    .unwrap();
    let list = until(&app, "the error is reported", |l| {
        file(l, "alpha").is_some_and(|p| p["error"].is_object())
    })
    .await;
    let alpha = file(&list, "alpha").unwrap();
    assert_eq!(alpha["serving_previous"], true, "{alpha}");
    assert_eq!(alpha["enabled"], true, "{alpha}");
    let problem = &alpha["error"]["problems"][0];
    assert!(
        problem["message"].as_str().unwrap().contains("timout"),
        "{alpha}"
    );
    assert!(problem["line"].as_u64().unwrap() > 0, "{alpha}");
    // The old definition still answers.
    let complete = search(&app, "alpha").await;
    assert_eq!(complete["providers"]["alpha"]["status"], "ok", "{complete}");
    // Fixing the file clears the error.
    std::fs::write(app.dir.join("alpha.yaml"), good).unwrap();
    until(&app, "the error clears", |l| {
        file(l, "alpha").is_some_and(|p| p["error"].is_null() && p["serving_previous"] == false)
    })
    .await;
}

#[tokio::test]
async fn a_new_invalid_file_never_joins() {
    let app =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    std::fs::write(app.dir.join("broken.yaml"), "name: Broken\nairline: BR\n").unwrap();
    let list = until(&app, "the broken file is listed", |l| {
        file(l, "broken").is_some()
    })
    .await;
    let broken = file(&list, "broken").unwrap();
    assert_eq!(broken["enabled"], false);
    assert_eq!(broken["serving_previous"], false);
    assert!(
        broken["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs a `mock` fare table")
    );
    let mut body = search_body();
    body["providers"] = json!(["broken"]);
    let (status, answer) = app.post(&body).await;
    assert_eq!(status, 422, "{answer}");
}

#[tokio::test]
async fn a_file_written_then_renamed_over_the_old_one_takes_effect() {
    let app =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    // As editors and `kubectl cp` do: write a temporary file, rename it over.
    let renamed = mock_airline("alpha", "AA", "fixed: 0ms", "concurrency: 7");
    let temp = app.dir.join(".alpha.yaml.tmp");
    std::fs::write(&temp, renamed).unwrap();
    std::fs::rename(&temp, app.dir.join("alpha.yaml")).unwrap();
    until(&app, "the renamed file is in force", |l| {
        file(l, "alpha").is_some_and(|p| p["concurrency"] == 7)
    })
    .await;
    let complete = search(&app, "alpha").await;
    assert_eq!(complete["providers"]["alpha"]["status"], "ok");
}

#[tokio::test]
async fn a_deleted_file_leaves_new_searches() {
    let app = TestApp::with_providers(
        &[
            ("alpha.yaml", &fast_airline("alpha", "AA")),
            ("bravo.yaml", &fast_airline("bravo", "BB")),
        ],
        |_| {},
    )
    .await;
    std::fs::remove_file(app.dir.join("bravo.yaml")).unwrap();
    until(&app, "bravo leaves", |l| file(l, "bravo").is_none()).await;
    let id = app.submit(&search_body()).await;
    let complete = app.stream(&id, "", None).await.last().unwrap().data.clone();
    assert_eq!(complete["status"], "completed");
    assert!(complete["providers"].get("bravo").is_none(), "{complete}");
    let mut body = search_body();
    body["providers"] = json!(["bravo"]);
    assert_eq!(app.post(&body).await.0, 422);
}

#[tokio::test]
async fn twenty_files_written_at_once_all_join() {
    let app =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    let ids: Vec<String> = (0..20).map(|i| format!("bulk{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        std::fs::write(
            app.dir.join(format!("{id}.yaml")),
            fast_airline(id, &format!("B{}", (b'A' + i as u8) as char)),
        )
        .unwrap();
    }
    until(&app, "all twenty join", |l| {
        ids.iter().all(|id| serving(l, id))
    })
    .await;
    let id = app.submit(&search_body()).await;
    let complete = app.stream(&id, "", None).await.last().unwrap().data.clone();
    assert_eq!(complete["status"], "completed", "{complete}");
    for id in &ids {
        assert_eq!(
            complete["providers"][id]["status"], "ok",
            "{id}: {complete}"
        );
    }
}

/// A counter's value in `/metrics` (0 when absent).
async fn counter(app: &TestApp, series: &str) -> f64 {
    crate::helpers::metric(&app.get_text("/metrics").await, series)
}

#[tokio::test]
async fn reloads_are_counted_by_result() {
    let app =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    let ok = r#"airstream_provider_reloads_total{result="ok"}"#;
    let error = r#"airstream_provider_reloads_total{result="error"}"#;
    // The recorder is shared by every test in this binary: compare growth.
    let (ok_before, error_before) = (counter(&app, ok).await, counter(&app, error).await);
    std::fs::write(app.dir.join("bravo.yaml"), fast_airline("bravo", "BB")).unwrap();
    until(&app, "bravo joins", |l| serving(l, "bravo")).await;
    std::fs::write(app.dir.join("charlie.yaml"), "name: Charlie\n").unwrap();
    until(&app, "charlie is rejected", |l| {
        file(l, "charlie").is_some()
    })
    .await;
    assert!(counter(&app, ok).await >= ok_before + 1.0);
    assert!(counter(&app, error).await >= error_before + 1.0);
}

/// Hot reload follows the same rule as the first load: a link out of the
/// directory added later is refused unread, and a ConfigMap volume updated
/// the kubelet's way (a new timestamped directory, `..data` renamed over)
/// serves its new content.
#[tokio::test]
async fn reload_refuses_links_out_and_follows_a_configmap_update() {
    use crate::providers::configmap_volume;
    let dir = tempfile::tempdir().unwrap();
    configmap_volume(
        dir.path(),
        "..2026_12_01_10_00_00.1",
        &[("kube.yaml", &fast_airline("kube", "KB"))],
    );
    let app = TestApp::in_dir(dir, |_| {}).await;
    until(&app, "kube serves", |l| serving(l, "kube")).await;
    let before = cheapest_fare(&search(&app, "kube").await);
    assert!(before < 1_500_000, "{before}");

    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.yaml");
    std::fs::write(&secret, "name: Outside Air\nsecret-token-4711: hunter2\n").unwrap();
    std::os::unix::fs::symlink(&secret, app.dir.join("late.yaml")).unwrap();
    let list = until(&app, "the late link is listed", |l| {
        file(l, "late").is_some()
    })
    .await;
    let late = file(&list, "late").unwrap();
    assert!(
        late["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outside the providers directory"),
        "{late}"
    );
    assert!(!Value::Array(list.clone()).to_string().contains("hunter2"));

    configmap_volume(
        &app.dir,
        "..2026_12_01_10_05_00.2",
        &[("kube.yaml", &pricier_airline("kube", "KB"))],
    );
    until_fare(&app, "kube", "the updated ConfigMap to serve", |f| {
        f >= 5_000_000
    })
    .await;
}
