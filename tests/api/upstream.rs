//! Upstream providers against real HTTP servers (wiremock): the exact
//! request the templates make, the mapping of a realistic nested answer,
//! timeouts, retried 5xx, garbage answers, the circuit breaker, escaping
//! of hostile search values, load-time validation, and the sample upstream
//! airline through airstream's own simulated API.

use std::path::Path;
use std::time::Duration;

use airstream::providers::ProviderMode;
use airstream::providers::load::parse_provider;
use airstream::providers::upstream::Failure;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Direct, TestApp, date_in, search_body};

/// An upstream provider file calling `base`, with `extra` lines under
/// `upstream:` (indented two spaces).
pub(crate) fn airline(base: &str, extra: &str) -> String {
    format!(
        r#"id: skyway
name: Skyway Air
airline: SW
timeout: 1500ms
upstream:
  env: [CARGO_PKG_NAME]
  settings:
    base_url: "{base}"
    channel: web
  method: POST
  url: "{{{{ settings.base_url }}}}/v2/availability?o={{{{ leg.from }}}}&d={{{{ leg.to }}}}"
  headers:
    Authorization: "Bearer {{{{ env.CARGO_PKG_NAME }}}}"
    X-Channel: "{{{{ settings.channel }}}}"
  body: |
    {{"date": "{{{{ leg.date }}}}", "pax": {{{{ search.passengers }}}}, "cabin": "{{{{ search.cabin }}}}"}}
{extra}  response:
    offers: body.data.itineraries
    map:
      flight_number: item.segments[0].flight
      depart_at: item.segments[0].dep
      arrive_at: item.segments[-1].arr
      stops: item.segments | length - 1
      price: item.fare.total
      currency: item.fare.ccy
      seats_left: item.seats
"#
    )
}

/// A realistic nested answer: two good itineraries and one that cannot be
/// mapped (no departure).
fn answer(date: &str) -> Value {
    json!({
        "meta": {"count": 3},
        "data": {"itineraries": [
            {"segments": [{"flight": "SW12", "dep": format!("{date}T07:30:00+07:00"), "arr": format!("{date}T10:20:00+08:00")}],
             "fare": {"total": 1850000, "ccy": "IDR"}, "seats": 4},
            {"segments": [{"flight": "SW30", "dep": format!("{date} 09:00"), "arr": format!("{date}T10:00:00")},
                          {"flight": "SW31", "dep": format!("{date}T11:00:00"), "arr": format!("{date}T13:45:00")}],
             "fare": {"total": "1625000.50", "ccy": "idr"}, "seats": "7"},
            {"segments": [{"flight": "SW99", "arr": format!("{date}T13:45:00")}],
             "fare": {"total": 1, "ccy": "IDR"}}
        ]}
    })
}

async fn app_with(files: &[(&str, &str)]) -> TestApp {
    TestApp::with_providers(files, |_| {}).await
}

/// Posts a search for the one airline and returns its `complete` event.
async fn search_once(app: &TestApp) -> Value {
    let mut body = search_body();
    body["passengers"] = json!(2);
    let id = app.submit(&body).await;
    let events = app.stream(&id, "", None).await;
    events.last().unwrap().data.clone()
}

async fn upstream_status(app: &TestApp) -> Value {
    let (_, list) = app.get("/api/providers").await;
    list["data"][0]["upstream"].clone()
}

#[tokio::test]
async fn the_request_is_what_the_templates_say_and_the_answer_maps() {
    let server = MockServer::start().await;
    let date = date_in(14);
    Mock::given(method("POST"))
        .and(path("/v2/availability"))
        .and(query_param("o", "CGK"))
        .and(query_param("d", "DPS"))
        .and(header("authorization", "Bearer airstream"))
        .and(header("x-channel", "web"))
        .and(header("content-type", "application/json"))
        .and(body_json(
            json!({"date": date, "pax": 2, "cabin": "economy"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer(&date)))
        .expect(1)
        .mount(&server)
        .await;
    let app = app_with(&[("skyway.yaml", &airline(&server.uri(), ""))]).await;
    let complete = search_once(&app).await;
    assert_eq!(complete["status"], "completed", "{complete}");
    assert_eq!(
        complete["providers"]["skyway"]["status"], "ok",
        "{complete}"
    );
    assert_eq!(
        complete["total_offers"], 2,
        "the unmappable offer is dropped"
    );
    let offers = complete["offers"].as_array().unwrap();
    // Cheapest first; amounts in the currency's digits; local times as the airline wrote them.
    assert_eq!(offers[0]["flight_number"], "SW30");
    // IDR has no minor digits: "1625000.50" is rounded half to even.
    assert_eq!(offers[0]["price"]["total"], "1625000");
    assert_eq!(offers[0]["price"]["per_passenger"], "812500");
    assert_eq!(offers[0]["price"]["currency"], "IDR");
    assert_eq!(offers[0]["stops"], 1);
    assert_eq!(offers[0]["seats_left"], 7);
    assert_eq!(offers[0]["depart_at"], format!("{date}T09:00:00"));
    assert_eq!(offers[0]["arrive_at"], format!("{date}T13:45:00"));
    assert_eq!(offers[0]["duration_minutes"], 285);
    assert_eq!(offers[1]["flight_number"], "SW12");
    assert_eq!(offers[1]["price"]["total"], "1850000");
    assert_eq!(offers[1]["depart_at"], format!("{date}T07:30:00"));
    assert_eq!(offers[1]["arrive_at"], format!("{date}T10:20:00"));
    // Offsets on both ends (+07:00 to +08:00): the exact time between.
    assert_eq!(offers[1]["duration_minutes"], 110);
    assert_eq!(offers[1]["airline"]["code"], "SW");
    assert_eq!(offers[1]["from"], "CGK");
    assert_eq!(offers[1]["to"], "DPS");
    assert_eq!(
        offers[1]["id"],
        format!("skyway-SW12-{}-economy", date.replace('-', ""))
    );
    let status = upstream_status(&app).await;
    assert_eq!(status["offers_dropped"], 1, "{status}");
    assert_eq!(status["breaker"]["state"], "closed", "{status}");
}

#[tokio::test]
async fn a_slow_upstream_gives_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let yaml = airline(&server.uri(), "").replace("timeout: 1500ms", "timeout: 300ms");
    let app = app_with(&[("skyway.yaml", &yaml)]).await;
    let complete = search_once(&app).await;
    let skyway = &complete["providers"]["skyway"];
    assert_eq!(skyway["status"], "timeout", "{complete}");
    assert_eq!(
        complete["status"], "completed",
        "the airline's own budget ran out, not the search's"
    );
}

#[tokio::test]
async fn a_slow_attempt_is_given_up_and_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer(&date_in(14))))
        .mount(&server)
        .await;
    let yaml = airline(
        &server.uri(),
        "  attempt_timeout: 200ms\n  retries: { attempts: 1, backoff: 10ms }\n",
    );
    let app = app_with(&[("skyway.yaml", &yaml)]).await;
    let complete = search_once(&app).await;
    assert_eq!(
        complete["providers"]["skyway"]["status"], "ok",
        "{complete}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .expect(3)
        .mount(&server)
        .await;
    let yaml = airline(&server.uri(), "  retries: { attempts: 2, backoff: 10ms }\n");
    let app = app_with(&[("skyway.yaml", &yaml)]).await;
    let complete = search_once(&app).await;
    let skyway = &complete["providers"]["skyway"];
    assert_eq!(skyway["status"], "error", "{complete}");
    let error = skyway["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 503")
            && !error.contains("maintenance")
            && error.contains("3 attempts"),
        "{error}"
    );
}

/// A retry whose backoff would end past the airline's budget is not made.
#[tokio::test]
async fn retries_never_run_past_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let yaml = airline(&server.uri(), "  retries: { attempts: 5, backoff: 5s }\n")
        .replace("timeout: 1500ms", "timeout: 800ms");
    let app = app_with(&[("skyway.yaml", &yaml)]).await;
    let complete = search_once(&app).await;
    let skyway = &complete["providers"]["skyway"];
    assert_eq!(skyway["status"], "error", "{complete}");
    assert!(
        skyway["error"].as_str().unwrap().contains("HTTP 503"),
        "{skyway}"
    );
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "bad token"})))
        .expect(1)
        .mount(&server)
        .await;
    let app = app_with(&[("skyway.yaml", &airline(&server.uri(), ""))]).await;
    let complete = search_once(&app).await;
    let error = complete["providers"]["skyway"]["error"].as_str().unwrap();
    // The airline's own words are logged, never passed on to clients.
    assert!(
        error.contains("HTTP 401") && !error.contains("bad token"),
        "{error}"
    );
}

#[tokio::test]
async fn garbage_answers_are_errors_with_their_reason() {
    for (body, reason) in [
        ("<html>Service temporarily down</html>", "not JSON"),
        (r#"{"data": {"itineraries": {"oops": 1}}}"#, "is not a list"),
        (r#"{"data": {}}"#, "found nothing"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&server)
            .await;
        let app = app_with(&[("skyway.yaml", &airline(&server.uri(), ""))]).await;
        let complete = search_once(&app).await;
        let skyway = &complete["providers"]["skyway"];
        assert_eq!(skyway["status"], "error", "{complete}");
        let error = skyway["error"].as_str().unwrap();
        assert!(error.contains(reason), "{body}: {skyway}");
        assert!(
            !error.contains("Service temporarily") && !error.contains("oops"),
            "the answer is echoed: {error}"
        );
    }
}

#[tokio::test]
async fn the_breaker_opens_after_failures_and_closes_after_a_good_trial() {
    let server = MockServer::start().await;
    let failing = Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(2)
        .named("failing")
        .mount_as_scoped(&server)
        .await;
    let yaml = airline(
        &server.uri(),
        "  retries: { attempts: 0 }\n  breaker: { failures: 2, cooldown: 400ms }\n",
    );
    let app = app_with(&[("skyway.yaml", &yaml)]).await;
    for _ in 0..2 {
        let complete = search_once(&app).await;
        assert!(
            complete["providers"]["skyway"]["error"]
                .as_str()
                .unwrap()
                .contains("HTTP 500")
        );
    }
    let status = upstream_status(&app).await;
    assert_eq!(status["breaker"]["state"], "open", "{status}");
    assert_eq!(status["breaker"]["consecutive_failures"], 2, "{status}");
    // Open: the airline is not called at all.
    let complete = search_once(&app).await;
    let error = complete["providers"]["skyway"]["error"].as_str().unwrap();
    assert!(error.contains("circuit open"), "{error}");
    drop(failing);

    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer(&date_in(14))))
        .mount(&server)
        .await;
    app.wait_for("/api/providers", |_, list| {
        list["data"][0]["upstream"]["breaker"]["state"] == "half_open"
    })
    .await;
    let complete = search_once(&app).await;
    assert_eq!(
        complete["providers"]["skyway"]["status"], "ok",
        "{complete}"
    );
    let status = upstream_status(&app).await;
    assert_eq!(status["breaker"]["state"], "closed", "{status}");
    assert_eq!(status["breaker"]["consecutive_failures"], 0, "{status}");
}

/// Hostile values in a search (which the HTTP API would refuse, so they
/// are given to the provider directly) go through the real templates and a
/// real HTTP call without changing the request's structure.
#[tokio::test]
async fn hostile_search_values_cannot_change_the_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&server)
        .await;
    let yaml = format!(
        r#"name: Skyway Air
airline: SW
upstream:
  url: "{}/fares/{{{{ leg.from }}}}/{{{{ leg.to }}}}?cabin={{{{ search.cabin }}}}&from={{{{ search.from }}}}"
  headers:
    X-Origin: "{{{{ search.from }}}}"
  body: |
    {{"origin": "{{{{ search.from }}}}", "to": "{{{{ search.to }}}}", "pax": {{{{ search.passengers }}}}}}
  response:
    offers: body.items
    map: {{ flight_number: item.f, depart_at: item.d, arrive_at: item.a, price: item.p, currency: item.c }}
"#,
        server.uri()
    );
    let direct = Direct::load("skyway.yaml", &yaml);
    let (upstream, provider) = (direct.upstream(), direct.provider());
    let search = direct.search(
        "CGK/../admin?x=1&y=2#frag\r\nX-Evil: 1\"}",
        "DPS\"], \"admin\": true, \"x\": [\"",
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // A value landing outside a JSON string cannot add keys: the body is
    // refused as invalid JSON before anything is sent.
    let outside = yaml.replace(r#""to": "{{ search.to }}""#, r#""to": {{ search.to }}"#);
    assert_ne!(outside, yaml);
    let def_outside = parse_provider(Path::new("skyway.yaml"), &outside).expect("valid file");
    let ProviderMode::Upstream(unquoted) = &def_outside.mode else {
        panic!("upstream")
    };
    let refused = unquoted.answer(&provider, &search, deadline).await;
    assert!(
        matches!(&refused, Err(Failure::Error(e)) if e.to_string().contains("invalid JSON")),
        "{refused:?}"
    );
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing sent"
    );

    upstream
        .answer(&provider, &search, deadline)
        .await
        .expect("answered");
    let requests: Vec<Request> = server.received_requests().await.unwrap();
    let request = &requests[0];
    let from = "CGK/../admin?x=1&y=2#frag\r\nX-Evil: 1\"}";
    // One path segment, one query value, no fragment.
    let segments: Vec<_> = request.url.path_segments().unwrap().collect();
    assert_eq!(segments.len(), 3, "{}", request.url);
    assert_eq!(percent_decode(segments[1]), from);
    assert_eq!(request.url.fragment(), None);
    let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            ("cabin".to_string(), "economy".to_string()),
            ("from".to_string(), from.to_string())
        ]
    );
    // One header, holding the value; no header injected.
    assert!(request.headers.get("x-evil").is_none());
    assert_eq!(request.headers.get_all("x-origin").iter().count(), 1);
    // The body's structure is the template's; the value reads back whole.
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, json!({"origin": from, "to": search.to, "pax": 1}));
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// Load-time problems, each at its line and column with a plain reason.
#[test]
fn bad_templates_expressions_and_variables_are_refused_at_load() {
    let base = airline("http://127.0.0.1:9", "");
    let cases: [(&str, &str, &str, u64); 5] = [
        (
            "Bearer {{ env.CARGO_PKG_NAME }}",
            "Bearer {{ env.SECRET_TOKEN }}",
            "`SECRET_TOKEN`, which is not listed in `env:`",
            13,
        ),
        (
            "?o={{ leg.from }}",
            "?o={{ leg.from }",
            "does not compile",
            11,
        ),
        (
            "\"pax\": {{ search.passengers }}",
            "\"pax\": {{ search.pax }}",
            "`search.pax` does not exist",
            16,
        ),
        (
            "offers: body.data.itineraries",
            "offers: body.data[",
            "expression does not compile",
            18,
        ),
        (
            "X-Channel: \"{{ settings.channel }}\"",
            "X-Channel: \"{{ secrets.channel }}\"",
            "`secrets` is not defined",
            14,
        ),
    ];
    for (from, to, reason, line) in cases {
        assert!(base.contains(from), "{from}");
        let yaml = base.replace(from, to);
        let problems = parse_provider(Path::new("skyway.yaml"), &yaml).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains(reason) && p.line == line && p.column > 0),
            "{to}: {problems:?}"
        );
    }
    let unset = base.replace(
        "env: [CARGO_PKG_NAME]",
        "env: [CARGO_PKG_NAME, AIRSTREAM_TEST_SURELY_UNSET]",
    );
    let problems = parse_provider(Path::new("skyway.yaml"), &unset).unwrap_err();
    assert!(
        problems.iter().any(|p| p
            .message
            .contains("`AIRSTREAM_TEST_SURELY_UNSET` is listed in `env:` but not set")
            && p.line == 6),
        "{problems:?}"
    );
    let unknown = base.replace("      seats_left: item.seats", "      seat: item.seats");
    let problems = parse_provider(Path::new("skyway.yaml"), &unknown).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("unknown field `seat`")),
        "{problems:?}"
    );
    let missing = base.replace("      currency: item.fare.ccy\n", "");
    let problems = parse_provider(Path::new("skyway.yaml"), &missing).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("must set `currency`")),
        "{problems:?}"
    );
}

/// The sample upstream airline answers through airstream's own simulated
/// airline API, out of the box.
#[tokio::test]
async fn the_sample_upstream_airline_answers_through_the_simulated_api() {
    let app = TestApp::with_samples().await;
    let mut body = search_body();
    body["providers"] = json!(["transnusa"]);
    body["return_date"] = json!(date_in(17));
    let id = app.submit(&body).await;
    let events = app.stream(&id, "", None).await;
    let complete = &events.last().unwrap().data;
    assert_eq!(
        complete["providers"]["transnusa"]["status"], "ok",
        "{complete}"
    );
    assert!(complete["total_offers"].as_u64().unwrap() > 0, "{complete}");
    let offers: Vec<&Value> = events
        .iter()
        .filter(|e| e.event == "offers")
        .flat_map(|e| e.data["offers"].as_array().unwrap())
        .collect();
    assert!(
        offers
            .iter()
            .all(|o| o["airline"]["code"] == "8B" && o["provider"] == "transnusa")
    );
    assert!(
        offers
            .iter()
            .any(|o| o["leg"] == "outbound" && o["from"] == "CGK")
    );
    assert!(
        offers
            .iter()
            .any(|o| o["leg"] == "inbound" && o["from"] == "DPS"),
        "{offers:?}"
    );
    // The simulated API itself answers in the airline's shape, and says
    // what is wrong with a bad request.
    let client = reqwest::Client::new();
    // The sample airline fails 2% of its answers on purpose (a simulated
    // 503): ask again then, as the upstream caller's retries do.
    let mut sim = None;
    for _ in 0..10 {
        let answer = client
            .post(app.url("/sim/transnusa-fares/v1/availability"))
            .json(&json!({"origin": "CGK", "destination": "DPS", "departure_date": date_in(14), "passengers": {"adults": 1}}))
            .send()
            .await
            .unwrap();
        if answer.status() != 503 {
            sim = Some(answer);
            break;
        }
    }
    let sim = sim.expect("the simulated API answers");
    assert_eq!(sim.status(), 200);
    let sim: Value = sim.json().await.unwrap();
    assert!(
        sim["data"]["itineraries"][0]["fare"]["total"].is_string(),
        "{sim}"
    );
    let bad = client
        .post(app.url("/sim/transnusa-fares/v1/availability"))
        .body("{\"origin\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"]["code"], "INVALID_REQUEST", "{bad}");
    let unknown = client
        .post(app.url("/sim/nope/v1/availability"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}
