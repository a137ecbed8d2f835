//! OAuth2 client credentials for an upstream airline (SPEC section 10),
//! against wiremock through the real API: one token for many concurrent
//! searches, a new one after expiry or a `401`, the credentials sent as the
//! file says, and token endpoint failures as the airline's `error` with a
//! plain reason and no secret anywhere.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Process, TestApp, date_in, refused_at_a_line, search_body};

const SECRET: &str = "s3cr3t-9f2c-do-not-show";

/// An airline behind OAuth2 at `base`; `credentials` is the extra line
/// (`credentials: form`, or none for HTTP Basic); `secret` the template of
/// the client secret.
fn airline(base: &str, credentials: &str, secret: &str, env: &str) -> String {
    format!(
        r#"id: tokened
name: Tokened Air
airline: TK
timeout: 2s
upstream:
  env: [{env}]
  settings: {{ client_id: airstream-test }}
  method: POST
  url: "{base}/v1/offers"
  body: '{{"from": "{{{{ leg.from }}}}", "to": "{{{{ leg.to }}}}"}}'
  auth:
    oauth2:
      token_url: "{base}/oauth/token"
      client_id: "{{{{ settings.client_id }}}}"
      client_secret: "{secret}"
      scope: flights.read
{credentials}  retries: {{ attempts: 0 }}
  response:
    offers: body.offers
    map:
      flight_number: item.flight
      depart_at: item.dep
      duration: item.minutes
      price: item.total
      currency: item.ccy
"#
    )
}

fn offers() -> Value {
    let date = date_in(14);
    json!({"offers": [{"flight": "TK1", "dep": format!("{date}T08:00:00"), "minutes": 110, "total": 1000000, "ccy": "IDR"}]})
}

fn token(value: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"access_token": value, "token_type": "Bearer", "expires_in": expires_in}),
    )
}

/// One search, asking the airline live (each one here must call it).
async fn complete_for(app: &TestApp) -> Value {
    let mut body = search_body();
    body["cache"] = json!(false);
    let id = app.submit(&body).await;
    app.stream(&id, "", None).await.last().unwrap().data.clone()
}

#[tokio::test]
async fn one_token_serves_fifty_concurrent_searches_and_is_renewed_after_expiry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        // HTTP Basic by default: base64("airstream-test:literal-secret").
        .and(header(
            "authorization",
            "Basic YWlyc3RyZWFtLXRlc3Q6bGl0ZXJhbC1zZWNyZXQ=",
        ))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("scope=flights.read"))
        .respond_with(token("tok-1", 2).set_delay(Duration::from_millis(100)))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/offers"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(offers()))
        .mount(&server)
        .await;
    let file = airline(&server.uri(), "", "literal-secret", "CARGO_PKG_NAME");
    let app = TestApp::with_providers(&[("tokened.yaml", &file)], |_| {}).await;
    let searches = (0..50).map(|_| complete_for(&app));
    for complete in futures::future::join_all(searches).await {
        assert_eq!(
            complete["providers"]["tokened"]["status"], "ok",
            "{complete}"
        );
        assert_eq!(complete["total_offers"], 1);
    }
    // The token lives 2 s and is renewed a tenth before: past that, one
    // more token request (the mock expects exactly two).
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let complete = complete_for(&app).await;
    assert_eq!(
        complete["providers"]["tokened"]["status"], "ok",
        "{complete}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_refused_token_is_renewed_once_and_the_call_made_again() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .and(body_string_contains("client_id=airstream-test"))
        .and(body_string_contains("client_secret=literal-secret"))
        .respond_with(token("tok-old", 3600))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/oauth/token"))
        .respond_with(token("tok-new", 3600))
        .mount(&server)
        .await;
    Mock::given(path("/v1/offers"))
        .and(header("authorization", "Bearer tok-old"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(path("/v1/offers"))
        .and(header("authorization", "Bearer tok-new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(offers()))
        .mount(&server)
        .await;
    let file = airline(
        &server.uri(),
        "      credentials: form\n",
        "literal-secret",
        "CARGO_PKG_NAME",
    );
    let app = TestApp::with_providers(&[("tokened.yaml", &file)], |_| {}).await;
    let complete = complete_for(&app).await;
    assert_eq!(
        complete["providers"]["tokened"]["status"], "ok",
        "{complete}"
    );
    assert_eq!(complete["total_offers"], 1);
    app.stop().await;
    // Refused again with the new token: the airline's error, no loop.
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(token("tok-any", 3600))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/v1/offers"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    let file = airline(&server.uri(), "", "literal-secret", "CARGO_PKG_NAME");
    let app = TestApp::with_providers(&[("tokened.yaml", &file)], |_| {}).await;
    let complete = complete_for(&app).await;
    let progress = &complete["providers"]["tokened"];
    assert_eq!(progress["status"], "error", "{complete}");
    assert!(
        progress["error"].as_str().unwrap().contains("HTTP 401"),
        "{progress}"
    );
    app.stop().await;
}

/// A token endpoint that fails, hangs or answers garbage gives the airline
/// `error` with a plain reason; the secret is in no answer and no log line
/// of the real binary.
#[tokio::test]
async fn token_endpoint_failures_are_plain_errors_that_show_no_secret() {
    let cases: [(ResponseTemplate, &str); 4] = [
        (
            ResponseTemplate::new(500).set_body_string(format!("oops {SECRET}")),
            "answered HTTP 500",
        ),
        (
            ResponseTemplate::new(200).set_body_string(format!("<html>{SECRET}</html>")),
            "not a JSON token",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"token": SECRET})),
            "not a JSON token",
        ),
        (
            token("late", 60).set_delay(Duration::from_secs(10)),
            "did not answer within",
        ),
    ];
    for (answer, reason) in cases {
        let server = MockServer::start().await;
        Mock::given(path("/oauth/token"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let file = airline(
            &server.uri(),
            "",
            "{{ env.TK_CLIENT_SECRET }}",
            "TK_CLIENT_SECRET",
        );
        std::fs::write(dir.path().join("tokened.yaml"), file).unwrap();
        let process = Process::spawn(
            &[],
            &[
                ("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str()),
                ("TK_CLIENT_SECRET", std::ffi::OsStr::new(SECRET)),
                ("AIRSTREAM_LOG__FILTER", std::ffi::OsStr::new("debug")),
            ],
        );
        let mut answers = Vec::new();
        let (_, accepted) = process.post(&search_body()).await;
        let id = accepted["data"]["search_id"].as_str().unwrap().to_string();
        let events = process.stream(&id, "", None).await;
        let complete = events.last().unwrap().data.clone();
        let progress = &complete["providers"]["tokened"];
        assert_eq!(progress["status"], "error", "{complete}");
        let error = progress["error"].as_str().unwrap();
        assert!(
            error.contains("no access token") && error.contains(reason),
            "{error}"
        );
        answers.push(
            serde_json::to_string(&events.iter().map(|e| &e.data).collect::<Vec<_>>()).unwrap(),
        );
        answers.push(
            process
                .get(&format!("/api/flights/search/{id}"))
                .await
                .1
                .to_string(),
        );
        answers.push(process.get("/api/providers").await.1.to_string());
        answers.push(process.get_text("/metrics").await);
        for text in &answers {
            assert!(
                !text.contains(SECRET),
                "the secret shows in an answer: {text}"
            );
        }
        // Every log line so far (the search and the token failure are in).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let logs: Vec<String> = process.logs.try_iter().collect();
        assert!(
            logs.iter().any(|l| l.contains("search accepted")),
            "{logs:?}"
        );
        for line in &logs {
            assert!(
                !line.contains(SECRET),
                "the secret shows in a log line: {line}"
            );
        }
        process.terminate().await;
    }
}

#[test]
fn auth_is_checked_when_the_file_loads() {
    let good = airline("http://127.0.0.1:9", "", "literal-secret", "CARGO_PKG_NAME");
    for (text, needle) in [
        (
            good.replace("/v1/offers\"", "/v1/offers?t={{ auth.token }}\""),
            "`auth.token` does not exist",
        ),
        (
            good.replace("      credentials: form\n", "").replace(
                "      scope: flights.read\n",
                "      scope: flights.read\n      credentials: header\n",
            ),
            "`credentials` is `basic`",
        ),
        (
            good.replace(
                "token_url: \"http://127.0.0.1:9/oauth/token\"",
                "token_url: \"ftp://x\"",
            ),
            "not an http(s) URL",
        ),
        (
            crate::upstream::airline("http://127.0.0.1:9", "").replace(
                "Bearer {{ env.CARGO_PKG_NAME }}",
                "Bearer {{ auth.access_token }}",
            ),
            "`auth` is not defined here",
        ),
    ] {
        refused_at_a_line("tokened.yaml", &text, needle);
    }
}
