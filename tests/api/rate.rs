//! Rate limits (SPEC section 11) in one process, through the real API: a
//! burst, then `429` with `Retry-After` and the `RateLimit-Policy` and
//! `RateLimit` headers; per client address when keys are off (a proxy's
//! forwarded address when settings trust it), per key with its own rate.

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::helpers::{TestApp, airstream, fast_airline, search_body};

async fn post(app: &TestApp, headers: &[(&str, &str)]) -> (u16, Value, HeaderMap) {
    let mut request = app
        .client
        .post(app.url("/api/flights/search"))
        .json(&search_body());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.unwrap();
    let (status, headers) = (answer.status().as_u16(), answer.headers().clone());
    (status, answer.json().await.unwrap(), headers)
}

fn statuses(answers: &[(u16, Value, HeaderMap)]) -> Vec<u16> {
    answers.iter().map(|a| a.0).collect()
}

async fn app(tune: impl FnOnce(&mut airstream::config::Settings)) -> TestApp {
    TestApp::with_providers(&[("alpha.yaml", &fast_airline("alpha", "AA"))], tune).await
}

#[tokio::test]
async fn a_client_address_gets_its_burst_then_429_with_the_headers() {
    let app = app(|s| {
        s.access.rate = Some(0.5);
        s.access.burst = 3;
    })
    .await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(post(&app, &[]).await);
    }
    assert_eq!(statuses(&answers), [202, 202, 202, 429]);
    let (_, body, headers) = &answers[3];
    assert_eq!(body["code"], "rate_limited", "{body}");
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("retry-after").as_deref(), Some("2"));
    assert_eq!(
        header("ratelimit-policy").as_deref(),
        Some("\"searches\";q=3;w=6")
    );
    assert_eq!(header("ratelimit").as_deref(), Some("\"searches\";r=0;t=2"));
    // Forwarded addresses count only when settings trust a proxy.
    let (status, _, _) = post(&app, &[("x-forwarded-for", "203.0.113.9")]).await;
    assert_eq!(status, 429, "an untrusted X-Forwarded-For changes nothing");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_bucket() {
    let app = app(|s| {
        s.access.rate = Some(0.5);
        s.access.burst = 1;
        s.access.forwarded_for_hops = 1;
    })
    .await;
    // The proxy appends the address it saw; what the client wrote before
    // it is not trusted.
    let a = [("x-forwarded-for", "198.51.100.7, 203.0.113.1")];
    let b = [("x-forwarded-for", "198.51.100.7, 203.0.113.2")];
    assert_eq!(post(&app, &a).await.0, 202);
    assert_eq!(post(&app, &a).await.0, 429);
    assert_eq!(post(&app, &b).await.0, 202);
}

#[tokio::test]
async fn each_key_has_its_own_bucket_and_may_have_its_own_rate() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let out = airstream().args(["keys", "new", name]).output().unwrap();
        let key = String::from_utf8(out.stderr)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("ask_"))
            .unwrap()
            .to_string();
        (key, String::from_utf8(out.stdout).unwrap())
    };
    let (small, small_lines) = make("small");
    let (big, big_lines) = make("big");
    let keys = dir.path().join("keys.toml");
    std::fs::write(&keys, format!("{small_lines}burst = 1\n\n{big_lines}")).unwrap();
    let app = app(|s| {
        s.access.keys_file = Some(keys.clone());
        s.access.rate = Some(0.5);
        s.access.burst = 3;
    })
    .await;
    let small = [("x-api-key", small.as_str())];
    let big = [("x-api-key", big.as_str())];
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.push(post(&app, &small).await);
    }
    assert_eq!(statuses(&answers), [202, 429]);
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(post(&app, &big).await);
    }
    assert_eq!(
        statuses(&answers),
        [202, 202, 202, 429],
        "the settings' burst of 3"
    );
}

/// Two api processes on one Redis share one budget: the searches either
/// accepts add up to the burst, and both refuse past it.
#[tokio::test]
async fn two_api_processes_on_one_redis_share_one_budget() {
    let deployment = crate::cluster::Deployment::new(
        &[("alpha.yaml", fast_airline("alpha", "AA"))],
        crate::helpers::RedisServer::start().await,
        &[
            ("AIRSTREAM_ACCESS__RATE", "0.1"),
            ("AIRSTREAM_ACCESS__BURST", "4"),
        ],
    )
    .await;
    let _providers = deployment.spawn("providers");
    let apis = [deployment.spawn("api"), deployment.spawn("api")];
    let mut statuses = Vec::new();
    for i in 0..8 {
        let (status, answer) = apis[i % 2].post(&search_body()).await;
        assert!(status == 202 || status == 429, "{status}: {answer}");
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [202, 202, 202, 202, 429, 429, 429, 429],
        "one budget of 4 across both"
    );
    for api in apis {
        api.terminate().await;
    }
}
