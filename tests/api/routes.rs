//! A search asks only the airlines that can fly its route: mock airlines by
//! their fare tables, upstream airlines by the routes or airports their
//! files declare (every route when they declare none). A route no airline
//! flies is a `422` naming `to`.

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, date_in, fast_airline, refused_at_a_line, search_body};
use crate::upstream::airline as upstream_airline;

fn search(from: &str, to: &str) -> Value {
    let mut body = search_body();
    body["from"] = json!(from);
    body["to"] = json!(to);
    body
}

async fn asked(app: &TestApp, body: &Value) -> Vec<String> {
    let (status, answer) = app.post(body).await;
    assert_eq!(status, 202, "{body} -> {answer}");
    serde_json::from_value(answer["data"]["providers"].clone()).unwrap()
}

#[tokio::test]
async fn the_samples_ask_only_the_airlines_that_fly_the_route() {
    let app = TestApp::with_samples().await;
    assert_eq!(
        asked(&app, &search("CGK", "SIN")).await,
        ["airasia", "garuda", "singapore"]
    );
    // The upstream samples declare CGK-DPS: asked there, with every mock,
    // and not on another route.
    assert_eq!(asked(&app, &search("CGK", "DPS")).await.len(), 9);
    assert_eq!(
        asked(&app, &search("CGK", "SUB")).await,
        ["citilink", "garuda", "lion"]
    );
    // Garuda sells Citilink's CGK-YIA flights too.
    assert_eq!(
        asked(&app, &search("CGK", "YIA")).await,
        ["citilink", "garuda"]
    );
    let (status, answer) = app.post(&search("DPS", "HND")).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "to", "{answer}");
    assert_eq!(answer["errors"][0]["code"], "no_route", "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_round_trip_asks_an_airline_that_flies_either_way() {
    let one_way = fast_airline("oneway", "OW")
        .split("    - from: DPS")
        .next()
        .unwrap()
        .to_string()
        + "  pricing: { jitter: 0.05 }\n";
    let app = TestApp::with_providers(&[("oneway.yaml", &one_way)], |_| {}).await;
    let mut back = search("DPS", "CGK");
    let (status, answer) = app.post(&back).await;
    assert_eq!(status, 422, "{answer}");
    back["return_date"] = json!(date_in(20));
    assert_eq!(asked(&app, &back).await, ["oneway"]);
    // Named airlines are asked as named, whatever they fly.
    let mut named = search("CGK", "SIN");
    named["providers"] = json!(["oneway"]);
    assert_eq!(asked(&app, &named).await, ["oneway"]);
    app.stop().await;
}

#[tokio::test]
async fn an_upstream_airline_is_asked_where_its_file_says() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"itineraries": []}})),
        )
        .mount(&server)
        .await;
    let everywhere = upstream_airline(&server.uri(), "");
    let declared = upstream_airline(&server.uri(), "  airports: [CGK, DPS]\n")
        .replace("id: skyway", "id: declared");
    let app = TestApp::with_providers(
        &[("skyway.yaml", &everywhere), ("declared.yaml", &declared)],
        |_| {},
    )
    .await;
    assert_eq!(
        asked(&app, &search("CGK", "DPS")).await,
        ["declared", "skyway"]
    );
    assert_eq!(asked(&app, &search("CGK", "SIN")).await, ["skyway"]);
    let (_, list) = app.get("/api/providers").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[test]
fn declared_routes_and_airports_are_checked_when_the_file_loads() {
    for (extra, needle) in [
        ("  routes: [CGKDPS]\n", "not a route such as CGK-DPS"),
        ("  routes: [CGK-QQQ]\n", "`QQQ` is not the IATA code"),
        ("  airports: [CGK, ZZZ]\n", "`ZZZ` is not the IATA code"),
    ] {
        let text = upstream_airline("http://127.0.0.1:9", extra);
        refused_at_a_line("skyway.yaml", &text, needle);
    }
}
