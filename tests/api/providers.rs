//! Provider files through the running service: bad files beside good ones,
//! deadlines, concurrency limits and reproducible offers.

use serde_json::{Value, json};

use crate::helpers::{TestApp, fast_airline, mock_airline, search_body};

/// A file whose YAML breaks on line 4, column 3 (a wrongly typed value).
const WRONG_TYPE: &str = "name: Broken Air\nairline: BR\nmock:\n  currency: [IDR]\n  routes: []\n";

/// A file that is valid YAML with several semantic problems.
const SEMANTIC: &str = r#"name: Semantic Air
airline: S1X
concurrency: 0
mock:
  currency: IDR
  routes:
    - from: CGK
      to: CGK
      flights:
        - { number: "??", depart: "25:00", duration: 1h, fares: { economy: -5, deck: 10 } }
"#;

#[tokio::test]
async fn a_broken_file_is_reported_with_its_position_and_the_others_serve() {
    let app = TestApp::with_providers(
        &[
            ("alpha.yaml", &fast_airline("alpha", "AA")),
            ("broken.yaml", WRONG_TYPE),
            ("semantic.yaml", SEMANTIC),
            ("garbage.yaml", "name: [unclosed\n"),
        ],
        |_| {},
    )
    .await;
    let (status, body) = app.get("/api/providers").await;
    assert_eq!(status, 200);
    let list = body["data"].as_array().unwrap();
    let by_id = |id: &str| -> Value {
        list.iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} listed"))
    };

    let alpha = by_id("alpha");
    assert_eq!(alpha["enabled"], true);
    assert_eq!(alpha["mode"], "mock");
    assert!(alpha["error"].is_null());
    assert!(alpha["source"].as_str().unwrap().ends_with("alpha.yaml"));
    assert!(alpha["loaded_at"].is_string());

    let broken = by_id("broken");
    assert_eq!(broken["enabled"], false);
    let problem = &broken["error"]["problems"][0];
    assert_eq!(
        (problem["line"].as_u64(), problem["column"].as_u64()),
        (Some(4), Some(13)),
        "{broken}"
    );
    assert!(
        broken["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broken.yaml:4:13:"),
        "{broken}"
    );

    let semantic = by_id("semantic");
    let problems = semantic["error"]["problems"].as_array().unwrap();
    let text: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "{}:{}: {}",
                p["line"],
                p["column"],
                p["message"].as_str().unwrap()
            )
        })
        .collect();
    let expect = [
        ("2:", "two-character IATA airline code"),
        ("3:", "concurrency must be from 1"),
        ("8:", "from CGK to itself"),
        ("10:", "not a flight number"),
        ("10:", "not a time such as 07:30"),
        ("10:", "not a positive amount"),
        ("10:", "`deck` is not a cabin"),
    ];
    for (line, needle) in expect {
        assert!(
            text.iter()
                .any(|t| t.starts_with(line) && t.contains(needle)),
            "{line} {needle} in {text:#?}"
        );
    }

    assert!(
        by_id("garbage")["error"]["problems"][0]["line"]
            .as_u64()
            .unwrap()
            >= 1
    );

    // The good airline serves; the bad ones are not targeted and cannot be named.
    let (status, body) = app.post(&search_body()).await;
    assert_eq!(status, 202);
    assert_eq!(body["data"]["providers"], json!(["alpha"]));
    let mut named = search_body();
    named["providers"] = json!(["broken"]);
    let (status, body) = app.post(&named).await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test]
async fn duplicate_ids_name_both_files() {
    let app = TestApp::with_providers(
        &[
            ("a-first.yaml", &fast_airline("same", "AA")),
            ("b-second.yaml", &fast_airline("same", "BB")),
        ],
        |_| {},
    )
    .await;
    let (_, body) = app.get("/api/providers").await;
    let list = body["data"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let rejected = list
        .iter()
        .find(|p| !p["error"].is_null())
        .expect("one rejected");
    let message = rejected["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("b-second.yaml") && message.contains("a-first.yaml"),
        "{message}"
    );
    assert!(message.contains("already defined"), "{message}");
}

#[tokio::test]
async fn a_provider_slower_than_the_deadline_yields_partial() {
    let app = TestApp::with_providers(
        &[
            ("fast.yaml", &fast_airline("fast", "FA")),
            (
                "slow.yaml",
                &mock_airline("slow", "SL", "fixed: 5s", "timeout: 10s"),
            ),
        ],
        |_| {},
    )
    .await;
    let mut body = search_body();
    body["timeout_ms"] = json!(300);
    let id = app.submit(&body).await;
    let events = app.stream(&id, "", None).await;
    let complete = &events.last().unwrap().data;
    assert_eq!(complete["status"], "partial");
    assert_eq!(complete["providers"]["fast"]["status"], "ok");
    assert_eq!(complete["providers"]["slow"]["status"], "timeout");
    let slow_event = events
        .iter()
        .find(|e| e.event == "provider" && e.data["provider"] == "slow")
        .expect("the silent airline gets its provider event");
    assert_eq!(slow_event.data["status"], "timeout");
    // The same fields whichever store ends the search (the document's
    // `ProviderEvent`).
    let mut fields: Vec<&String> = slow_event.data.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "cached",
            "elapsed_ms",
            "error",
            "offers",
            "provider",
            "search_id",
            "status",
            "type"
        ],
        "{}",
        slow_event.data
    );
    assert!(
        slow_event.data["error"]
            .as_str()
            .unwrap()
            .contains("deadline")
    );
    assert!(complete["total_offers"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn an_airline_budget_shorter_than_the_search_gives_timeout_and_completes() {
    let app = TestApp::with_providers(
        &[(
            "hangs.yaml",
            &mock_airline(
                "hangs",
                "HG",
                "fixed: 10ms\n  errors: { timeout_rate: 1.0 }",
                "timeout: 150ms",
            ),
        )],
        |_| {},
    )
    .await;
    let id = app.submit(&search_body()).await;
    let events = app.stream(&id, "", None).await;
    let complete = &events.last().unwrap().data;
    assert_eq!(
        complete["status"], "completed",
        "the airline answered timeout itself"
    );
    assert_eq!(complete["providers"]["hangs"]["status"], "timeout");
    assert!(
        complete["providers"]["hangs"]["error"]
            .as_str()
            .unwrap()
            .contains("150ms")
    );
}

#[tokio::test]
async fn an_airline_error_is_reported_as_error() {
    let app = TestApp::with_providers(
        &[(
            "flaky.yaml",
            &mock_airline("flaky", "FL", "fixed: 0ms\n  errors: { rate: 1.0 }", ""),
        )],
        |_| {},
    )
    .await;
    let id = app.submit(&search_body()).await;
    let events = app.stream(&id, "", None).await;
    let provider = events.iter().find(|e| e.event == "provider").unwrap();
    assert_eq!(provider.data["status"], "error");
    assert!(
        provider.data["error"]
            .as_str()
            .unwrap()
            .contains("Test Air FL")
    );
    assert_eq!(events.last().unwrap().data["total_offers"], 0);
}

#[tokio::test]
async fn the_concurrency_limit_holds() {
    let app = TestApp::with_providers(
        &[(
            "narrow.yaml",
            &mock_airline("narrow", "NR", "fixed: 400ms", "concurrency: 2"),
        )],
        |_| {},
    )
    .await;
    let mut body = search_body();
    body["timeout_ms"] = json!(20_000);
    // All at once, so that they overlap however slow the machine.
    let ids = futures::future::join_all((0..8).map(|_| app.submit(&body))).await;
    for id in &ids {
        let events = app.stream(id, "", None).await;
        assert_eq!(events.last().unwrap().data["status"], "completed");
    }
    let (_, providers) = app.get("/api/providers").await;
    let stats = &providers["data"][0]["stats"];
    assert_eq!(stats["peak_in_flight"], 2, "{stats}");
    assert_eq!(stats["answered"], 8, "{stats}");
    assert_eq!(stats["in_flight"], 0, "{stats}");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_offers() {
    let other_seed = fast_airline("reseeded", "RS").replace("seed: 7", "seed: 8");
    let app = TestApp::with_providers(
        &[
            ("alpha.yaml", &fast_airline("alpha", "AA")),
            ("reseeded.yaml", &other_seed),
        ],
        |_| {},
    )
    .await;
    let offers_of =
        |events: &[crate::helpers::SseEvent], provider: &str| -> Vec<(Value, Value, Value)> {
            events
                .iter()
                .filter(|e| e.event == "offers" && e.data["provider"] == provider)
                .flat_map(|e| e.data["offers"].as_array().unwrap().clone())
                .map(|o| (o["id"].clone(), o["price"].clone(), o["seats_left"].clone()))
                .collect()
        };
    let first = app
        .stream(&app.submit(&search_body()).await, "", None)
        .await;
    let second = app
        .stream(&app.submit(&search_body()).await, "", None)
        .await;
    let (a1, a2) = (offers_of(&first, "alpha"), offers_of(&second, "alpha"));
    assert!(!a1.is_empty());
    assert_eq!(a1, a2, "same seed and search, same offers");
    let prices = |o: &[(Value, Value, Value)]| {
        o.iter()
            .map(|x| x.1["per_passenger"].clone())
            .collect::<Vec<_>>()
    };
    let reseeded = offers_of(&first, "reseeded");
    assert_ne!(
        prices(&a1),
        prices(&reseeded),
        "another seed draws other jitter"
    );
    // Two passengers pay twice the per-passenger fare, in exact decimals.
    for (_, price, _) in &a1 {
        let per: rust_decimal::Decimal = price["per_passenger"].as_str().unwrap().parse().unwrap();
        let total: rust_decimal::Decimal = price["total"].as_str().unwrap().parse().unwrap();
        assert_eq!(total, per * rust_decimal::Decimal::from(2));
        assert_eq!(price["currency"], "IDR");
    }
}

/// A line of a file outside the providers directory that must never show.
const SECRET_LINE: &str =
    "root:$6$Zm9yYmlkZGVuIHNlY3JldCBoYXNoIG5ldmVyIHRvIGJlIHNob3du$:20228:0:99999:7:::";

/// Lays out a Kubernetes ConfigMap volume as the kubelet does: the files in
/// a timestamped hidden directory, `..data` linking to it, and one link per
/// key through `..data`.
pub(crate) fn configmap_volume(dir: &std::path::Path, stamp: &str, files: &[(&str, &str)]) {
    use std::os::unix::fs::symlink;
    let data = dir.join(stamp);
    std::fs::create_dir(&data).unwrap();
    for (name, yaml) in files {
        std::fs::write(data.join(name), yaml).unwrap();
    }
    // Swapped in by a rename, as the kubelet does on an update.
    let tmp = dir.join("..data_tmp");
    symlink(stamp, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (name, _) in files {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{name}"), link).unwrap();
        }
    }
}

#[tokio::test]
async fn a_link_out_of_the_directory_is_refused_unread_and_a_configmap_serves() {
    let outside = tempfile::tempdir().unwrap();
    let shadow = outside.path().join("shadow");
    std::fs::write(
        &shadow,
        format!("{SECRET_LINE}\nbin:*:20228:0:99999:7:::\n"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&shadow, dir.path().join("leak.yaml")).unwrap();
    configmap_volume(
        dir.path(),
        "..2026_12_01_10_00_00.123456789",
        &[("kube.yaml", &fast_airline("kube", "KB"))],
    );
    // A huge unknown key inside the directory is quoted only in part.
    let huge_key = format!("k{}", "e".repeat(900));
    std::fs::write(
        dir.path().join("huge.yaml"),
        format!("{huge_key}: 1\n{}", fast_airline("huge", "HG")),
    )
    .unwrap();
    let app = TestApp::in_dir(dir, |_| {}).await;
    let (status, body) = app.get("/api/providers").await;
    assert_eq!(status, 200);
    let text = body.to_string();
    assert!(!text.contains("Zm9yYmlkZGVu"), "the secret leaked: {text}");
    assert!(!text.contains("root:"), "the secret leaked: {text}");
    assert!(!text.contains(&huge_key), "a huge value is echoed whole");
    let list = body["data"].as_array().unwrap();
    let by_id = |id: &str| list.iter().find(|p| p["id"] == id).cloned().unwrap();

    let leak = by_id("leak");
    assert_eq!(leak["enabled"], false);
    assert_eq!(leak["source"], "leak.yaml", "{leak}");
    let message = leak["error"]["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("leak.yaml: is a symbolic link to a file outside the providers directory"),
        "{message}"
    );

    let kube = by_id("kube");
    assert_eq!(kube["enabled"], true, "{kube}");
    assert!(kube["error"].is_null(), "{kube}");
    assert_eq!(kube["source"], "kube.yaml");

    let huge = by_id("huge");
    let problem = huge["error"]["problems"][0]["message"].as_str().unwrap();
    assert!(problem.starts_with("unknown field `keeee"), "{problem}");
    assert!(problem.contains('…') && problem.len() < 400, "{problem}");
    assert!(
        huge["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("huge.yaml:1:1: "),
        "{huge}"
    );
    // No absolute path anywhere: every source is a name in the directory.
    for p in list {
        assert!(!p["source"].as_str().unwrap().contains('/'), "{p}");
    }

    let mut search = search_body();
    search["providers"] = json!(["kube"]);
    let id = app.submit(&search).await;
    let complete = app.stream(&id, "", None).await.last().unwrap().data.clone();
    assert_eq!(complete["providers"]["kube"]["status"], "ok", "{complete}");
    assert!(complete["total_offers"].as_u64().unwrap() > 0, "{complete}");
}
