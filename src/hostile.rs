//! The properties that must hold for whatever outsiders write: provider
//! files, search values landing in request templates, airline answers,
//! search request bodies and `Last-Event-ID` values. Each function takes
//! raw input, drives the real code with it and panics when a property
//! breaks, so the property tests (`tests/properties`) and the fuzz targets
//! (`fuzz/`) check one and the same thing (`docs/testing.md`). Not part of
//! the service's API.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use minijinja::context;
use percent_encoding::percent_decode_str;
use reqwest::header::HeaderName;

use crate::model::{Cabin, Leg, SearchRequest};
use crate::providers::load::{Catalog, parse_provider};
use crate::providers::upstream::template::{self, RequestShape};
use crate::providers::upstream::{self, Upstream};
use crate::providers::{Airlines, ProviderDef, ProviderMode};

/// The sample provider files shipped with the repository.
pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("providers.d")
}

/// The sample files, loaded once.
fn samples() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::load(&[samples_dir()]).expect("the samples load"))
}

/// A provider file's text: it parses or is refused, never panics, and
/// every refusal names a line and column (1-based) and says in plain words
/// what is wrong. Returns the definition when the text is valid.
pub fn provider_text(text: &str) -> Option<ProviderDef> {
    match parse_provider(Path::new("fuzzed.yaml"), text) {
        Ok(def) => Some(def),
        Err(problems) => {
            assert!(!problems.is_empty(), "a refusal without a problem");
            for p in &problems {
                assert!(
                    p.line >= 1 && p.column >= 1,
                    "a problem without a position: {p:?}"
                );
                assert!(!p.message.trim().is_empty(), "a problem without words");
                assert!(
                    !p.message.contains("Spanned") && !p.message.contains("serde"),
                    "a problem in the parser's words, not plain ones: {p:?}"
                );
            }
            None
        }
    }
}

/// Two search values in a request's URL, header and JSON body: each place
/// stays whole. The URL's path segment and query value decode back to the
/// value and it adds no `/`, `?`, `&` or `#`; the header stays one line;
/// the body parses as JSON with the exact value at its place, and a value
/// put outside quotes makes one scalar or a refused body, never structure.
pub fn template_values(from: &str, to: &str) {
    let mut env = template::environment();
    let add = |env: &mut minijinja::Environment<'static>, name: String, source: &str| {
        env.add_template_owned(name, source.to_string())
            .expect("the template compiles");
    };
    add(
        &mut env,
        template::Place::Url.template_name(""),
        "https://api.example.com/v1/{{ search.from }}/fares?to={{ search.to }}&page=1#top",
    );
    add(
        &mut env,
        template::Place::Header.template_name("X-From"),
        "{{ search.from }}",
    );
    add(
        &mut env,
        template::Place::Body.template_name(""),
        r#"{"origin": "{{ search.from }}", "n": {{ search.to }}, "k": 1}"#,
    );
    let shape = RequestShape {
        headers: vec![(HeaderName::from_static("x-from"), "X-From".to_string())],
        body: Some(template::BodyKind::Json),
    };
    let ctx = context! { search => context! { from => from, to => to } };
    let rendered = match shape.render(&env, &ctx) {
        Ok(rendered) => rendered,
        // A value outside quotes may make the body invalid JSON: refused.
        Err(upstream::UpstreamError::BodyNotJson { .. }) => {
            return check_url_and_header(&env, from, to);
        }
        // A `.` or `..` path segment would move the request: refused.
        Err(upstream::UpstreamError::DotSegment) if matches!(from, "." | "..") => return,
        Err(e) => panic!("rendering failed for {from:?}, {to:?}: {e}"),
    };
    // Read as raw values: JSON leaves a number's range to the reader.
    let body = rendered.body.as_deref().unwrap();
    let object: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
        serde_json::from_str(body).expect("a checked body is a JSON object");
    assert_eq!(object.len(), 3, "a value added keys: {body}");
    let origin: String = serde_json::from_str(object["origin"].get()).unwrap();
    assert_eq!(origin, from, "the value did not read back");
    assert!(
        !object["n"].get().starts_with(['{', '[']),
        "a value made structure: {body}"
    );
    assert_eq!(object["k"].get(), "1");
    check_url(rendered.url.as_str(), from, to);
    let header = rendered.headers.get("x-from").expect("the header is set");
    assert!(
        !header.as_bytes().iter().any(|b| matches!(b, b'\r' | b'\n')),
        "the header value breaks the line: {header:?}"
    );
}

/// Two search values in an XML body, as text, in attributes of either
/// quote and inside CDATA: the body is well-formed with exactly its
/// elements, and each value reads back as itself; or, when a value holds a
/// character XML cannot carry, the body is refused before sending.
pub fn xml_values(from: &str, to: &str) {
    let mut env = template::environment();
    let mut add = |name: String, source: &str| {
        env.add_template_owned(name, source.to_string())
            .expect("the template compiles");
    };
    add(
        template::Place::Url.template_name(""),
        "https://api.example.com/ndc",
    );
    add(
        template::Place::XmlBody.template_name(""),
        "<r a=\"{{ search.from }}\" b='{{ search.to }}'><t>{{ search.from }}</t><c><![CDATA[{{ search.to }}]]></c></r>",
    );
    let shape = RequestShape {
        headers: Vec::new(),
        body: Some(template::BodyKind::Xml),
    };
    let ctx = context! { search => context! { from => from, to => to } };
    let rendered = match shape.render(&env, &ctx) {
        Ok(rendered) => rendered,
        Err(upstream::UpstreamError::BodyNotXml { .. }) => {
            let carried = |c: char| matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..);
            assert!(
                !(from.chars().all(carried) && to.chars().all(carried)),
                "a body of characters XML carries was refused: {from:?}, {to:?}"
            );
            return;
        }
        Err(e) => panic!("rendering failed for {from:?}, {to:?}: {e}"),
    };
    let body = rendered.body.expect("a body");
    let doc = roxmltree::Document::parse(&body).expect("a checked body is well-formed");
    let root = doc.root_element();
    let names: Vec<&str> = root
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    assert_eq!(names, ["t", "c"], "a value added elements: {body}");
    assert_eq!(
        root.attributes().len(),
        2,
        "a value added attributes: {body}"
    );
    assert_eq!(root.attribute("a"), Some(from));
    assert_eq!(root.attribute("b"), Some(to));
    let t = root.first_element_child().expect("t");
    assert_eq!(t.text().unwrap_or_default(), from);
    let c = root.last_element_child().expect("c");
    assert!(
        c.children().all(|n| n.is_text()),
        "CDATA was ended early: {body}"
    );
}

/// The URL and header properties of [`template_values`], on a render whose
/// body was refused.
fn check_url_and_header(env: &minijinja::Environment<'_>, from: &str, to: &str) {
    let ctx = context! { search => context! { from => from, to => to } };
    let render = |name: String| env.get_template(&name).unwrap().render(&ctx).unwrap();
    check_url(&render(template::Place::Url.template_name("")), from, to);
    let header = render(template::Place::Header.template_name("X-From"));
    assert!(!header.contains(['\r', '\n']), "a header breaks the line");
    HeaderValue::from_str(header.trim()).expect("the header is a valid value");
}

/// The URL keeps its path, one query with two pairs, and its fragment,
/// whatever the values.
fn check_url(url: &str, from: &str, to: &str) {
    let rest = url
        .strip_prefix("https://api.example.com/v1/")
        .expect("the host and path prefix stay");
    let (segment, rest) = rest.split_once("/fares?to=").expect("the path stays");
    let (query_value, rest) = rest.split_once("&page=1").expect("the query stays");
    assert_eq!(rest, "#top", "the fragment moved: {url}");
    for (component, value) in [(segment, from), (query_value, to)] {
        assert!(
            !component.contains(['/', '?', '&', '#']),
            "a component adds structure: {component}"
        );
        let decoded = percent_decode_str(component).decode_utf8().unwrap();
        assert_eq!(decoded, value, "a component did not decode back");
    }
    reqwest::Url::parse(url).expect("the URL parses");
}

/// A sample upstream airline (`transnusa`: JSON, `superairjet`: XML) and
/// a search for it.
fn upstream_sample(id: &str) -> (&'static Upstream, &'static ProviderDef, SearchRequest) {
    let def = samples()
        .providers
        .get(id)
        .filter(|d| matches!(d.mode, ProviderMode::Upstream(_)))
        .expect("a sample upstream airline");
    let ProviderMode::Upstream(upstream) = &def.mode else {
        unreachable!("found by its mode")
    };
    let now = Timestamp::now();
    let search = SearchRequest {
        search_id: uuid::Uuid::nil(),
        from: "CGK".into(),
        to: "DPS".into(),
        date: now.to_zoned_datetime(TimeZone::UTC).date(),
        return_date: None,
        passengers: 2,
        travellers: None,
        max_stops: None,
        convert: None,
        cabin: Cabin::Economy,
        cache: true,
        providers: vec![def.id.clone()],
        created_at: now,
        deadline: now,
    };
    (upstream, def, search)
}

/// An airline's answer: mapped to offers or refused, never a panic, and
/// every offer mapped carries the airline's flight and a currency.
pub fn upstream_answer(bytes: &[u8]) {
    answer_of("transnusa", bytes);
}

/// An XML airline's answer (the NDC-style sample): the same properties.
pub fn upstream_xml_answer(bytes: &[u8]) {
    answer_of("superairjet", bytes);
}

fn answer_of(id: &str, bytes: &[u8]) {
    let (upstream, def, search) = upstream_sample(id);
    let provider = upstream::Provider {
        id: &def.id,
        airline: &def.airline,
        self_url: "http://127.0.0.1:1",
    };
    if let Ok(offers) = upstream.map_answer(&provider, &search, Leg::Outbound, bytes) {
        for offer in offers {
            assert!(!offer.flight_number.is_empty(), "an offer without a flight");
            assert!(
                !offer.price.currency.is_empty(),
                "an offer without currency"
            );
        }
    }
}

/// A search request body: accepted (`202`) or refused with a `4xx`, never a
/// `5xx`, with the sample airlines enabled.
pub fn search_body(bytes: &[u8]) {
    let airlines = Airlines::from_catalog(samples());
    let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
    let status = crate::api::parse_status(bytes, &airlines, today);
    assert!(
        status.as_u16() == 202 || status.is_client_error(),
        "status {status} for {:?}",
        String::from_utf8_lossy(bytes)
    );
}

/// A `Last-Event-ID` header (any bytes a header may carry) and a
/// `last_event_id` query value: a whole number (blank is the start) is
/// read as itself, anything else is a `400`, never a panic.
pub fn last_event_id(header: &[u8], query: Option<&str>) {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(header) {
        headers.insert("last-event-id", value);
    }
    let raw = match headers.get("last-event-id") {
        Some(v) => v.to_str().ok(),
        None => query,
    };
    let result = crate::api::resume_position(&headers, query);
    match raw.map(str::trim) {
        None | Some("")
            if headers
                .get("last-event-id")
                .is_none_or(|v| v.to_str().is_ok()) =>
        {
            assert_eq!(result.ok(), Some(0), "blank is the start")
        }
        Some(text) if text.parse::<u64>().is_ok() => {
            assert_eq!(result.ok(), text.parse::<u64>().ok(), "a number reads back")
        }
        _ => {
            let status = result.expect_err("not a number").status();
            assert_eq!(status.as_u16(), 400, "not a number is a 400");
        }
    }
}
