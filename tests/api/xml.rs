//! XML and SOAP airlines (SPEC section 10) against wiremock through the real
//! API: a SOAP answer with namespaces, attributes, single and repeated
//! elements and amounts in every form mapped exactly; broken, hostile and
//! huge answers as the airline's `error`, quickly and within bounded
//! memory; hostile search values unable to change an XML request.

use std::time::Duration;

use airstream::providers::upstream::Failure;
use serde_json::Value;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Direct, Process, TestApp, date_in, refused_at_a_line, search_body};

/// An NDC-style airline at `base`: a SOAP request, an AirShoppingRS answer.
/// `format` is the extra line under `response:`, if any.
fn airline(base: &str, format: &str) -> String {
    format!(
        r#"id: ndc
name: NDC Air
airline: ND
timeout: 2s
upstream:
  method: POST
  url: "{base}/ndc/AirShopping"
  headers:
    Content-Type: "text/xml; charset=utf-8"
    SOAPAction: AirShopping
  body: |
    <?xml version="1.0" encoding="UTF-8"?>
    <soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
      <soap:Body>
        <AirShoppingRQ xmlns="http://www.iata.org/IATA/2015/00/2019.2/IATA_AirShoppingRQ">
          <Origin LocationCode="{{{{ leg.from }}}}"/>
          <Destination LocationCode="{{{{ leg.to }}}}"/>
          <DepartureDate>{{{{ leg.date }}}}</DepartureDate>
          <Pax PTC="ADT" Count="{{{{ search.adults }}}}"/>
        </AirShoppingRQ>
      </soap:Body>
    </soap:Envelope>
  retries: {{ attempts: 0 }}
  response:
{format}    offers: body.Envelope.Body.AirShoppingRS.OffersGroup.Offer
    segments: item.Journey.Segment
    segment:
      flight_number: segment['@Flight']
      from: segment.Dep['@IATA']
      to: segment.Arr['@IATA']
      depart_at: segment.Dep['#text']
      arrive_at: segment.Arr['#text']
    map:
      id: item['@OfferID']
      price: "item.Total['@Amount'] | decimals(item.Total['@DecimalPlaces']) if item.Total['@Amount'] is defined else item.Total['#text']"
      currency: item.Total['@CurCode']
      brand: item.Brand | default(none)
      checked_bags: item.Bags | as_list | length
"#
    )
}

/// One offer of the answer: its id, total (as written inside `<Total>`,
/// with its attributes) and its flights (number, departure hour, minutes).
fn offer(id: &str, total: &str, flights: &[(&str, u32)], extra: &str) -> String {
    let date = date_in(14);
    let segments: String = flights
        .iter()
        .enumerate()
        .map(|(i, (number, hour))| {
            let (from, to) = match (flights.len(), i) {
                (1, _) => ("CGK", "DPS"),
                (_, 0) => ("CGK", "SUB"),
                _ => ("SUB", "DPS"),
            };
            format!(
                r#"<ns2:Segment Flight="{number}"><ns2:Dep IATA="{from}">{date}T{hour:02}:00:00</ns2:Dep><ns2:Arr IATA="{to}">{date}T{hour:02}:50:00</ns2:Arr></ns2:Segment>"#
            )
        })
        .collect();
    format!(
        r#"<ns2:Offer OfferID="{id}"><ns2:Total {total}<ns2:Journey>{segments}</ns2:Journey>{extra}</ns2:Offer>"#
    )
}

fn soap(offers: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns2="http://www.iata.org/IATA/2015/00/2019.2/IATA_AirShoppingRS">
  <soapenv:Header/>
  <soapenv:Body>
    <ns2:AirShoppingRS Version="19.2">
      <ns2:OffersGroup>{offers}</ns2:OffersGroup>
    </ns2:AirShoppingRS>
  </soapenv:Body>
</soapenv:Envelope>"#
    )
}

fn xml_answer(body: impl Into<Vec<u8>>, content_type: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), content_type)
}

async fn complete_for(app: &TestApp) -> Value {
    let id = app.submit(&search_body()).await;
    app.stream(&id, "", None).await.last().unwrap().data.clone()
}

#[tokio::test]
async fn a_soap_answer_maps_exactly_and_amounts_take_their_currencys_digits() {
    let server = MockServer::start().await;
    let offers = [
        offer(
            "O1",
            r#"CurCode="EUR">999.9</ns2:Total>"#,
            &[("ND1", 7)],
            "<ns2:Brand>Light</ns2:Brand>",
        ),
        offer(
            "O2",
            r#"CurCode="EUR">999.90</ns2:Total>"#,
            &[("ND2", 8), ("ND3", 10)],
            "<ns2:Bags/><ns2:Bags/>",
        ),
        offer(
            "O3",
            r#"CurCode="EUR"> 999.899 </ns2:Total>"#,
            &[("ND4", 9)],
            "<ns2:Bags/>",
        ),
        offer(
            "O4",
            r#"CurCode="JPY">1234</ns2:Total>"#,
            &[("ND5", 11)],
            "",
        ),
        offer(
            "O5",
            r#"CurCode="KWD">1.2345</ns2:Total>"#,
            &[("ND6", 12)],
            "",
        ),
        offer(
            "O6",
            r#"CurCode="EUR" Amount="99990" DecimalPlaces="2"/>"#,
            &[("ND7", 13)],
            "",
        ),
        offer(
            "O7",
            r#"CurCode="EUR">999,90</ns2:Total>"#,
            &[("ND8", 14)],
            "",
        ),
    ]
    .concat();
    // `999,90` is not an amount: that offer is dropped, the rest map.
    Mock::given(method("POST"))
        .and(path("/ndc/AirShopping"))
        .and(header("content-type", "text/xml; charset=utf-8"))
        .and(body_string_contains(r#"<Origin LocationCode="CGK"/>"#))
        .respond_with(xml_answer(soap(&offers), "text/xml; charset=utf-8"))
        .mount(&server)
        .await;
    let app = TestApp::with_providers(&[("ndc.yaml", &airline(&server.uri(), ""))], |_| {}).await;
    let complete = complete_for(&app).await;
    assert_eq!(complete["providers"]["ndc"]["status"], "ok", "{complete}");
    let by_id = |id: &str| -> Value {
        complete["offers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_id("O1")["price"]["total"], "999.90", "{complete}");
    assert_eq!(by_id("O1")["fare"]["brand"], "Light");
    assert_eq!(by_id("O2")["price"]["total"], "999.90");
    assert_eq!(by_id("O2")["fare"]["baggage"]["checked_bags"], 2);
    assert_eq!(by_id("O2")["segments"].as_array().unwrap().len(), 2);
    assert_eq!(by_id("O2")["stops"], 1);
    assert_eq!(by_id("O7"), Value::Null, "`999,90` is not an amount");
    assert_eq!(by_id("O3")["price"]["total"], "999.90");
    assert_eq!(by_id("O3")["fare"]["baggage"]["checked_bags"], 1);
    assert_eq!(by_id("O4")["price"]["total"], "1234");
    assert_eq!(by_id("O4")["price"]["currency"], "JPY");
    // Half to even: 1.2345 has a 5 after the third digit, which is even.
    assert_eq!(by_id("O5")["price"]["total"], "1.234");
    assert_eq!(by_id("O6")["price"]["total"], "999.90");
    // One segment written once, two written twice.
    assert_eq!(by_id("O1")["segments"].as_array().unwrap().len(), 1);
    assert_eq!(by_id("O1")["flight_number"], "ND1");
    assert_eq!(by_id("O1")["from"], "CGK");
    assert_eq!(by_id("O1")["to"], "DPS");
    assert_eq!(by_id("O1")["duration_minutes"], 50);
    assert_eq!(
        complete["offers"].as_array().unwrap().len(),
        6,
        "{complete}"
    );
    let providers = app.get("/api/providers").await.1;
    let ndc = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "ndc")
        .unwrap()
        .clone();
    assert_eq!(ndc["upstream"]["offers_dropped"], 1, "{ndc}");
}

#[tokio::test]
async fn the_format_the_file_declares_wins_over_the_content_type() {
    let server = MockServer::start().await;
    let body = soap(&offer(
        "O1",
        r#"CurCode="IDR">1250000</ns2:Total>"#,
        &[("ND1", 7)],
        "",
    ));
    Mock::given(method("POST"))
        .respond_with(xml_answer(body, "application/octet-stream"))
        .mount(&server)
        .await;
    let plain = airline(&server.uri(), "");
    let declared = airline(&server.uri(), "    format: xml\n").replace("id: ndc", "id: ndc-xml");
    let app =
        TestApp::with_providers(&[("ndc.yaml", &plain), ("ndc-xml.yaml", &declared)], |_| {}).await;
    let complete = complete_for(&app).await;
    assert_eq!(
        complete["providers"]["ndc-xml"]["status"], "ok",
        "{complete}"
    );
    assert_eq!(
        complete["providers"]["ndc"]["status"], "error",
        "{complete}"
    );
    let error = complete["providers"]["ndc"]["error"].as_str().unwrap();
    assert!(error.contains("not JSON"), "{error}");
}

/// Broken and hostile answers, each from its own airline, all in one
/// search of a real process: each airline is `error` with a plain reason,
/// the search completes, and the process's peak memory stays far below the
/// 50 MB answer.
#[tokio::test]
async fn broken_hostile_and_huge_answers_are_errors_within_bounded_memory() {
    let server = MockServer::start().await;
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Envelope><Body>&lol9;</Body></Envelope>"#;
    let deep = "<a>".repeat(10_000) + &"</a>".repeat(10_000);
    let mut huge = b"<Envelope><Body>".to_vec();
    huge.resize(50 << 20, b'x');
    let fault = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>internal-detail-7731</faultstring></soap:Fault></soap:Body></soap:Envelope>"#;
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "malformed",
            b"<Envelope><Body></Envelope>".to_vec(),
            "not well-formed XML",
        ),
        ("bomb", bomb.as_bytes().to_vec(), "declares a DTD"),
        ("deep", deep.into_bytes(), "deeper than 100 levels"),
        ("huge", huge, "larger than 8 MiB"),
        ("fault", fault.as_bytes().to_vec(), "SOAP fault"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, body, _) in &cases {
        Mock::given(path(format!("/{name}/ndc/AirShopping")))
            .respond_with(xml_answer(body.clone(), "application/xml"))
            .mount(&server)
            .await;
        let file = airline(&format!("{}/{name}", server.uri()), "")
            .replace("id: ndc", &format!("id: {name}"));
        std::fs::write(dir.path().join(format!("{name}.yaml")), file).unwrap();
    }
    let process = Process::spawn(&[], &[("AIRSTREAM_PROVIDERS_DIR", dir.path().as_os_str())]);
    let peak = || -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", process.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .unwrap()
            .to_string();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    let before = peak();
    let (_, accepted) = process.post(&search_body()).await;
    let id = accepted["data"]["search_id"].as_str().unwrap().to_string();
    let complete = process
        .stream(&id, "", None)
        .await
        .last()
        .unwrap()
        .data
        .clone();
    for (name, _, reason) in &cases {
        let progress = &complete["providers"][*name];
        assert_eq!(progress["status"], "error", "{name}: {complete}");
        let error = progress["error"].as_str().unwrap();
        assert!(error.contains(reason), "{name}: {error}");
    }
    assert!(
        !complete.to_string().contains("internal-detail-7731"),
        "the fault's words stay in the log"
    );
    let grew = peak().saturating_sub(before);
    assert!(grew < 40 << 20, "peak memory grew by {} MiB", grew >> 20);
    process.terminate().await;
}

/// Hostile values in a search (which the HTTP API would refuse, so they
/// are given to the provider directly) go into an XML body as text, as
/// attributes and inside CDATA, and cannot change its structure.
#[tokio::test]
async fn hostile_search_values_cannot_change_an_xml_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(xml_answer(soap(""), "text/xml"))
        .mount(&server)
        .await;
    let yaml = format!(
        r#"name: NDC Air
airline: ND
upstream:
  method: POST
  url: "{}/ndc"
  headers:
    Content-Type: application/soap+xml
  body: |
    <Envelope><Body><RQ>
      <Origin code="{{{{ search.from }}}}">{{{{ search.from }}}}</Origin>
      <Destination code='{{{{ search.to }}}}'><![CDATA[{{{{ search.to }}}}]]></Destination>
    </RQ></Body></Envelope>
  response:
    offers: body.Envelope.Body.AirShoppingRS.OffersGroup.Offer | as_list
    map: {{ flight_number: item.f, depart_at: item.d, arrive_at: item.a, price: item.p, currency: item.c }}
"#,
        server.uri()
    );
    let direct = Direct::load("ndc.yaml", &yaml);
    let (upstream, provider) = (direct.upstream(), direct.provider());
    let search = |from: &str, to: &str| direct.search(from, to);
    let from = r#"CGK"/><Admin x="1"/><x a='&amp;"#;
    let to = r#"DPS]]></Destination><Admin/><![CDATA[ ' " & <"#;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // A character XML cannot carry is refused before anything is sent.
    let refused = upstream
        .answer(&provider, &search("CGK\u{1}", "DPS"), deadline)
        .await;
    assert!(
        matches!(&refused, Err(Failure::Error(e)) if e.to_string().contains("XML that cannot be sent")),
        "{refused:?}"
    );
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing sent"
    );

    let offers = upstream
        .answer(&provider, &search(from, to), deadline)
        .await
        .expect("answered");
    assert!(offers.is_empty());
    let requests = server.received_requests().await.unwrap();
    let body = String::from_utf8(requests[0].body.clone()).unwrap();
    let doc = roxmltree::Document::parse(&body).expect("the body is well-formed");
    let rq = doc.descendants().find(|n| n.has_tag_name("RQ")).unwrap();
    let children: Vec<_> = rq.children().filter(|n| n.is_element()).collect();
    let names: Vec<_> = children.iter().map(|n| n.tag_name().name()).collect();
    assert_eq!(names, ["Origin", "Destination"], "{body}");
    assert_eq!(children[0].attribute("code"), Some(from));
    assert_eq!(children[0].text(), Some(from));
    assert_eq!(children[1].attribute("code"), Some(to));
    // Inside CDATA the value stays one text (escaped, as CDATA does not
    // read entities), and the section is not ended early.
    assert_eq!(children[1].children().count(), 1, "{body}");
    assert!(
        doc.descendants().all(|n| !n.has_tag_name("Admin")),
        "{body}"
    );
}

#[test]
fn an_xml_body_needs_a_content_type_that_says_so() {
    let good = airline("http://127.0.0.1:9", "");
    let without = good.replace("    Content-Type: \"text/xml; charset=utf-8\"\n", "");
    assert_ne!(good, without);
    refused_at_a_line("ndc.yaml", &without, "the body looks like XML");
    let bad_format = airline("http://127.0.0.1:9", "    format: yaml\n");
    refused_at_a_line("ndc.yaml", &bad_format, "yaml");
}
