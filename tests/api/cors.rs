//! CORS (SPEC section 11): none by default, so only airstream's own origin
//! (its search page) may call it from a browser; an allowlist in
//! `http.cors_origins` lets named origins in, with the headers a client
//! needs (an API key, `Last-Event-ID`); `*` lets any in.

use crate::helpers::{TestApp, fast_airline};

/// A preflight for a search from `origin` asking to send `headers`: the
/// `Access-Control-Allow-Origin` and `-Headers` answered.
async fn preflight(app: &TestApp, origin: &str, headers: &str) -> (Option<String>, Option<String>) {
    let answer = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/flights/search"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap();
    let get = |name: &str| {
        answer
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
    };
    (
        get("access-control-allow-origin"),
        get("access-control-allow-headers"),
    )
}

async fn app(origins: &[&str]) -> TestApp {
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |s| {
        s.http.cors_origins = origins;
    })
    .await
}

#[tokio::test]
async fn no_origin_is_allowed_by_default() {
    let app =
        TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], |_| {}).await;
    assert_eq!(
        preflight(&app, "https://evil.example", "content-type")
            .await
            .0,
        None
    );
    let answer = app
        .client
        .get(app.url("/api/providers"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn listed_origins_are_allowed_with_the_headers_a_client_sends() {
    let app = app(&["https://travel.example", "http://localhost:5173"]).await;
    let (origin, headers) = preflight(
        &app,
        "https://travel.example",
        "content-type,x-api-key,authorization",
    )
    .await;
    assert_eq!(origin.as_deref(), Some("https://travel.example"));
    let headers = headers.unwrap_or_default();
    for wanted in [
        "content-type",
        "x-api-key",
        "authorization",
        "last-event-id",
    ] {
        assert!(headers.contains(wanted), "{wanted} in {headers}");
    }
    assert_eq!(
        preflight(&app, "http://localhost:5173", "content-type")
            .await
            .0
            .as_deref(),
        Some("http://localhost:5173")
    );
    assert_eq!(
        preflight(&app, "https://evil.example", "content-type")
            .await
            .0,
        None
    );
    assert_eq!(
        preflight(&app, "https://travel.example.evil", "content-type")
            .await
            .0,
        None
    );
    let any = app_any().await;
    assert_eq!(
        preflight(&any, "https://evil.example", "content-type")
            .await
            .0
            .as_deref(),
        Some("*")
    );
}

async fn app_any() -> TestApp {
    app(&["*"]).await
}

#[test]
fn an_origin_that_is_not_one_is_refused_with_the_settings() {
    for bad in [
        "travel.example",
        "https://travel.example/",
        "https://travel.example/app",
        "ftp://x",
    ] {
        let mut settings = airstream::config::Settings::default();
        settings.http.cors_origins = vec![bad.to_string()];
        let e = settings.validate().expect_err(bad).to_string();
        assert!(
            e.contains("http.cors_origins") && e.contains("not an origin"),
            "{bad}: {e}"
        );
    }
    let mut settings = airstream::config::Settings::default();
    settings.http.cors_origins = vec!["https://travel.example:8443".into(), "*".into()];
    settings.validate().expect("valid origins");
}
