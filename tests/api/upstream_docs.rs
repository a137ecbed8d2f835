//! The complete examples of `docs/upstream.md` (OAuth2) and
//! `docs/upstream-xml.md` (XML), run as written: each
//! `<!-- example:NAME -->` block is read out of its document, the file is
//! loaded with wiremock standing in for the airline (its address for the
//! example's host, today's date plus 18 days for 2026-12-20, and the
//! always-set `CARGO_PKG_NAME`, whose value is `airstream`, for the
//! secret), the documented answers are served, and the requests the
//! airline receives and the offers the search makes must be the
//! documented ones.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, date_in};

/// The date the examples are written for.
const DOC_DATE: &str = "2026-12-20";

/// The document of the OAuth2 example.
const OAUTH2_DOC: &str = "docs/upstream.md";
/// The document of the XML example.
const XML_DOC: &str = "docs/upstream-xml.md";

/// The fenced block after `<!-- example:NAME -->` in `doc`, with the
/// documented date replaced by `date`.
fn example(doc: &str, name: &str, date: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let marker = format!("<!-- example:{name} -->\n");
    let after = &text[text
        .find(&marker)
        .unwrap_or_else(|| panic!("{doc} has no {marker}"))
        + marker.len()..];
    let body = after
        .strip_prefix("```")
        .and_then(|b| b.split_once('\n'))
        .map(|(_, b)| b)
        .expect("a fenced block follows the marker");
    let end = body.find("\n```").expect("the block ends");
    body[..end].replace(DOC_DATE, date) + "\n"
}

/// Every field the document shows for an offer is what the search made
/// (the document leaves others out).
fn shown_fields_match(shown: &Value, made: &Value, at: &str) {
    match (shown, made) {
        (Value::Object(s), Value::Object(m)) => {
            for (k, v) in s {
                shown_fields_match(v, m.get(k).unwrap_or(&Value::Null), &format!("{at}.{k}"));
            }
        }
        (Value::Array(s), Value::Array(m)) => {
            assert_eq!(s.len(), m.len(), "{at}: {made}");
            for (i, (s, m)) in s.iter().zip(m).enumerate() {
                shown_fields_match(s, m, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(shown, made, "{at}"),
    }
}

async fn offers_of(app: &TestApp, passengers: Value, date: &str) -> Vec<Value> {
    let body = json!({"from": "CGK", "to": "DPS", "date": date, "passengers": passengers});
    let id = app.submit(&body).await;
    let complete = app.stream(&id, "", None).await.last().unwrap().data.clone();
    let mut offers = complete["offers"].as_array().cloned().unwrap_or_default();
    assert!(!offers.is_empty(), "{complete}");
    offers.sort_by_key(|o| o["id"].as_str().unwrap_or_default().to_string());
    offers
}

/// A request line and headers, as the document writes an HTTP exchange:
/// (method and path, headers that must be sent, body).
fn http_block(text: &str) -> (String, Vec<(String, String)>, String) {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines
        .next()
        .unwrap()
        .trim_end_matches(" HTTP/1.1")
        .to_string();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| *k != "Host")
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    (request_line, headers, body.trim().to_string())
}

fn sent_as_documented(request: &wiremock::Request, documented: &str) {
    let (line, headers, body) = http_block(documented);
    let target = match request.url.query() {
        Some(q) => format!("{} {}?{q}", request.method, request.url.path()),
        None => format!("{} {}", request.method, request.url.path()),
    };
    assert_eq!(target, line);
    for (name, value) in headers {
        let sent = request
            .headers
            .get(name.as_str())
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(sent.as_deref(), Some(value.as_str()), "header {name}");
    }
    assert_eq!(String::from_utf8_lossy(&request.body).trim(), body);
}

#[tokio::test]
async fn the_oauth2_example_is_what_airstream_does() {
    let date = date_in(18);
    let server = MockServer::start().await;
    let token = example(OAUTH2_DOC, "oauth2-token-answer", &date);
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(token, "application/json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/offers"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            example(OAUTH2_DOC, "oauth2-answer", &date),
            "application/json",
        ))
        .mount(&server)
        .await;
    let file = example(OAUTH2_DOC, "oauth2.yaml", &date)
        .replace("https://api.skyway.example", &server.uri())
        .replace("SKY_CLIENT_SECRET", "CARGO_PKG_NAME");
    let app = TestApp::with_providers(&[("skyway.yaml", &file)], |_| {}).await;
    let offers = offers_of(&app, json!(2), &date).await;
    let shown: Value = serde_json::from_str(&example(OAUTH2_DOC, "oauth2-offers", &date)).unwrap();
    shown_fields_match(&shown, &Value::from(offers), "offers");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one token request, one search");
    sent_as_documented(
        &requests[0],
        &example(OAUTH2_DOC, "oauth2-token-request", &date),
    );
    sent_as_documented(&requests[1], &example(OAUTH2_DOC, "oauth2-request", &date));
}

#[tokio::test]
async fn the_xml_example_is_what_airstream_does() {
    let date = date_in(18);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/AirShopping"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            example(XML_DOC, "ndc-answer", &date),
            "text/xml; charset=utf-8",
        ))
        .mount(&server)
        .await;
    let file =
        example(XML_DOC, "ndc.yaml", &date).replace("https://ndc.skyway.example", &server.uri());
    let app = TestApp::with_providers(&[("skyway-ndc.yaml", &file)], |_| {}).await;
    let offers = offers_of(&app, json!({"adults": 2, "children": 1}), &date).await;
    let shown: Value = serde_json::from_str(&example(XML_DOC, "ndc-offers", &date)).unwrap();
    shown_fields_match(&shown, &Value::from(offers), "offers");
    // The body sent is the documented one, blank lines aside.
    let requests = server.received_requests().await.unwrap();
    let sent = String::from_utf8(requests[0].body.clone()).unwrap();
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    assert_eq!(lines(&sent), lines(&example(XML_DOC, "ndc-request", &date)));
    assert_eq!(
        requests[0].headers["content-type"],
        "text/xml; charset=utf-8"
    );
    assert_eq!(requests[0].headers["soapaction"], "AirShopping");
}
