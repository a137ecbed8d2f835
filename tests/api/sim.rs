//! The simulated airline API's OAuth2 and NDC dialects, and the two sample
//! airlines behind them (`pelita`: OAuth2 + JSON, `superairjet`: SOAP/XML),
//! through the real API with the sample files as shipped.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, date_in, sample_files, search_body};

/// The sample files whose name starts with one of `prefixes`.
fn samples(prefixes: &[&str]) -> Vec<(String, String)> {
    sample_files()
        .into_iter()
        .filter(|(name, _)| prefixes.iter().any(|p| name.starts_with(p)))
        .collect()
}

async fn app_with(
    files: &[(String, String)],
    tune: impl FnOnce(&mut airstream::config::Settings),
) -> TestApp {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    TestApp::with_providers(&files, tune).await
}

/// A family's round trip on both sample airlines: each answers through its
/// own dialect, with every traveller type priced.
#[tokio::test]
async fn the_oauth2_and_ndc_sample_airlines_answer_a_family_round_trip() {
    let app = app_with(&samples(&["pelita", "superairjet"]), |_| {}).await;
    let mut body = search_body();
    body["passengers"] = json!({"adults": 2, "children": 1, "infants": 1});
    body["return_date"] = json!(date_in(17));
    let id = app.submit(&body).await;
    let complete = app.stream(&id, "", None).await.last().unwrap().data.clone();
    for (provider, code) in [("pelita", "IP"), ("superairjet", "IU")] {
        assert_eq!(
            complete["providers"][provider]["status"], "ok",
            "{complete}"
        );
        let offers: Vec<&Value> = complete["offers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["provider"] == provider)
            .collect();
        assert!(
            offers.iter().any(|o| o["leg"] == "outbound"),
            "{provider}: {complete}"
        );
        assert!(
            offers.iter().any(|o| o["leg"] == "inbound"),
            "{provider}: {complete}"
        );
        for offer in offers {
            assert_eq!(offer["airline"]["code"], code, "{offer}");
            let price = &offer["price"];
            let kinds: Vec<&str> = price["by_passenger"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["type"].as_str().unwrap_or_default())
                .collect();
            assert_eq!(kinds.len(), 3, "{provider}: {price}");
            assert!(
                price["base"].is_string() && price["taxes"].is_string(),
                "{price}"
            );
            assert!(offer["fare"]["brand"].is_string(), "{offer}");
        }
    }
}

/// A token lasts `sim.token_lifetime`: searches within it share one, and
/// the next one after it is fetched anew (counted by the airline's token
/// requests metric).
#[tokio::test]
async fn the_oauth2_sample_fetches_one_token_per_lifetime() {
    let files: Vec<(String, String)> = samples(&["pelita"])
        .into_iter()
        .map(|(name, text)| (name, text.replace("id: pelita\n", "id: pelita-lifetime\n")))
        .collect();
    let app = app_with(&files, |s| {
        s.sim.token_lifetime = Duration::from_secs(2).into();
    })
    .await;
    let tokens = |metrics: String| -> u64 {
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("airstream_upstream_token_requests_total{")
                    && l.contains("provider=\"pelita-lifetime\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let search = || async {
        let mut body = search_body();
        body["providers"] = json!(["pelita-lifetime"]);
        // Live: every search calls the airline, so only tokens are shared.
        body["cache"] = json!(false);
        let id = app.submit(&body).await;
        let complete = app.stream(&id, "", None).await.last().unwrap().data.clone();
        assert_eq!(
            complete["providers"]["pelita-lifetime"]["status"], "ok",
            "{complete}"
        );
    };
    for _ in 0..3 {
        search().await;
    }
    assert_eq!(tokens(app.get_text("/metrics").await), 1);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    search().await;
    assert_eq!(tokens(app.get_text("/metrics").await), 2);
}

#[tokio::test]
async fn the_token_endpoint_speaks_rfc_6749() {
    let app = app_with(&samples(&["pelita-fares"]), |_| {}).await;
    let client = reqwest::Client::new();
    let token = |form: &'static str, basic: Option<(&'static str, &'static str)>| {
        let mut request = client
            .post(app.url("/sim/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let challenge = answer.headers().get("www-authenticate").is_some();
            (status, challenge, answer.json::<Value>().await.unwrap())
        }
    };
    let demo = Some(("airstream-demo", "demo-secret"));
    let (status, _, grant) = token("grant_type=client_credentials&scope=availability", demo).await;
    assert_eq!(status, 200, "{grant}");
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["expires_in"], 1800);
    assert_eq!(grant["scope"], "availability");
    let (status, _, in_form) = token(
        "grant_type=client_credentials&client_id=airstream-demo&client_secret=demo-secret",
        None,
    )
    .await;
    assert_eq!(status, 200, "{in_form}");
    for (form, basic, status, error) in [
        (
            "grant_type=client_credentials",
            Some(("airstream-demo", "wrong")),
            401,
            "invalid_client",
        ),
        ("grant_type=client_credentials", None, 401, "invalid_client"),
        ("grant_type=password", demo, 400, "unsupported_grant_type"),
        ("scope=x", demo, 400, "invalid_request"),
        (
            "grant_type=client_credentials&client_id=airstream-demo&client_secret=demo-secret",
            demo,
            400,
            "invalid_request",
        ),
    ] {
        let (got, challenge, answer) = token(form, basic).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(error)),
            "{form}: {answer}"
        );
        assert_eq!(challenge, status == 401, "{form}");
        assert!(!answer.to_string().contains("demo-secret"), "{answer}");
    }

    // The v2 availability route takes only a live token of ours.
    let ask = json!({"origin": "CGK", "destination": "DPS", "departure_date": date_in(14), "passengers": {"adults": 1}});
    let availability = |bearer: Option<String>| {
        let mut request = client
            .post(app.url("/sim/pelita-fares/v2/availability"))
            .json(&ask);
        if let Some(b) = bearer {
            request = request.bearer_auth(b);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(availability(None).await, 401);
    assert_eq!(availability(Some("sim-forged".into())).await, 401);
    let live = grant["access_token"].as_str().unwrap().to_string();
    // The airline fails 1% of answers on purpose (a simulated 503).
    let mut status = 503;
    for _ in 0..10 {
        status = availability(Some(live.clone())).await;
        if status != 503 {
            break;
        }
    }
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_ndc_dialect_answers_soap_faults_for_bad_requests() {
    let app = app_with(&samples(&["superairjet-fares"]), |_| {}).await;
    let client = reqwest::Client::new();
    let post = |path: &'static str, body: String| {
        let request = client
            .post(app.url(path))
            .header("content-type", "text/xml")
            .body(body);
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let kind = answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            (status, kind, answer.text().await.unwrap())
        }
    };
    let rq = |from: &str, date: &str, ptc: &str| {
        format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><AirShoppingRQ>
<CoreQuery><OriginDestinations><OriginDestination><Departure><AirportCode>{from}</AirportCode><Date>{date}</Date></Departure>
<Arrival><AirportCode>DPS</AirportCode></Arrival></OriginDestination></OriginDestinations></CoreQuery>
<Travelers><Traveler><AnonymousTraveler><PTC Quantity="1">{ptc}</PTC></AnonymousTraveler></Traveler></Travelers></AirShoppingRQ></s:Body></s:Envelope>"#
        )
    };
    let date = date_in(14);
    for (path, body, status, words) in [
        (
            "/sim/superairjet-fares/ndc/AirShopping",
            "<a><b></a>".to_string(),
            400,
            "not well-formed",
        ),
        (
            "/sim/superairjet-fares/ndc/AirShopping",
            rq("CGK", "soon", "ADT"),
            400,
            "Departure/Date",
        ),
        (
            "/sim/superairjet-fares/ndc/AirShopping",
            rq("CGK", &date, "XYZ"),
            400,
            "PTC is ADT, CHD or INF",
        ),
        (
            "/sim/superairjet-fares/ndc/AirShopping",
            rq("C&amp;GK", &date, "ADT"),
            400,
            "IATA airport codes",
        ),
        (
            "/sim/nope/ndc/AirShopping",
            rq("CGK", &date, "ADT"),
            404,
            "is not a simulated airline",
        ),
    ] {
        let (got, kind, text) = post(path, body).await;
        assert_eq!(got, status, "{text}");
        assert!(kind.starts_with("text/xml"), "{kind}");
        assert!(
            text.contains("<soap:Fault>") && text.contains(words),
            "{text}"
        );
        roxmltree::Document::parse(&text).expect("a fault is well-formed XML");
    }
    let mut answer = (0, String::new(), String::new());
    for _ in 0..10 {
        answer = post(
            "/sim/superairjet-fares/ndc/AirShopping",
            rq("CGK", &date, "ADT"),
        )
        .await;
        if answer.0 != 503 {
            break;
        }
    }
    assert_eq!(answer.0, 200, "{}", answer.2);
    let doc = roxmltree::Document::parse(&answer.2).expect("well-formed");
    assert!(
        doc.descendants().any(|n| n.has_tag_name("Offer")),
        "{}",
        answer.2
    );
}
