//! The search page in a real headless Chromium: `tests/browser/search_page.mjs`
//! (playwright-core driving Debian's `/usr/bin/chromium`) against a running
//! airstream with the sample airlines. Screenshots at desktop and phone
//! width are kept in `test-artifacts/`.

use std::path::Path;
use std::process::Command;

use crate::helpers::{TestApp, steady_sample_files};

#[tokio::test]
async fn the_search_page_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core is not installed: run ./scripts/test.sh, which installs it"
    );
    // The sample airlines, and the example rates file for the currency field.
    let rates = root.join("docs/examples/rates.toml");
    // The page is checked against every sample airline's offers, so none
    // may fail at random.
    let files = steady_sample_files();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, y)| (n.as_str(), y.as_str()))
        .collect();
    let app = TestApp::with_providers(&files, |s| {
        s.currency.rates_file = Some(rates);
    })
    .await;
    let script = root.join("tests/browser/search_page.mjs");
    let artifacts = root.join("test-artifacts");
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(base)
            .arg(artifacts)
            .output()
            .expect("node is installed (scripts/test.sh installs it)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(root.join("test-artifacts/search-desktop.png").exists());
    assert!(root.join("test-artifacts/search-phone.png").exists());
}

#[tokio::test]
async fn the_page_and_its_assets_are_served() {
    let app = TestApp::with_samples().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
    }
    let (status, airports) = app.get("/api/airports").await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = airports["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"CGK") && codes.contains(&"SIN"),
        "{codes:?}"
    );
    let cgk = airports["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "CGK")
        .unwrap();
    assert_eq!(cgk["city"], "Jakarta", "{cgk}");
    assert_eq!(cgk["country"], "ID", "{cgk}");
    assert_eq!(cgk["tz"], "Asia/Jakarta", "{cgk}");
    assert!(
        cgk["name"].as_str().unwrap().contains("Soekarno-Hatta"),
        "{cgk}"
    );
}
