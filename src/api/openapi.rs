//! `GET /openapi.json`: the API's OpenAPI 3.1 document (`docs/api.md`),
//! assembled from the handlers' `#[utoipa::path]` annotations and the
//! schemas derived on the types they read and write, so it cannot drift
//! from the code. The SSE events' payloads are named schemas of their own.

use std::sync::LazyLock;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::error::{Envelope, ErrorCode, ErrorEnvelope, FieldCode, FieldError};
use super::{page, probes, search, sim, stream};
use crate::model::{AirlineRef, AnswerStatus, Cabin, Leg, Offer, Price, SearchRequest};
use crate::search::events::{
    AirlineProgress, CompleteEvent, OffersEvent, ProviderEvent, SearchStatus, Snapshot,
};

/// The document's assembly: every route and the schemas clients name.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "airstream",
        description = "Flight search: submit a search, then stream each airline's offers as Server-Sent Events. Every JSON answer is an envelope `{success, message, data}`; an error adds a stable `code` and, on a `422`, `errors` with a `code` for each bad field."
    ),
    paths(
        search::submit,
        search::snapshot,
        stream::stream,
        probes::providers,
        probes::airports,
        probes::currencies,
        probes::healthz,
        probes::readyz,
        probes::metrics,
        page::index,
        page::script,
        page::style,
        sim::availability,
        sim::availability_v2,
        sim::ndc::air_shopping,
        sim::oauth::token,
        document,
    ),
    components(schemas(
        ErrorEnvelope,
        ErrorCode,
        FieldError,
        FieldCode,
        Envelope<Snapshot>,
        Offer,
        AirlineRef,
        Price,
        Cabin,
        Leg,
        AnswerStatus,
        SearchRequest,
        SearchStatus,
        AirlineProgress,
        OffersEvent,
        ProviderEvent,
        CompleteEvent,
    )),
    tags(
        (name = "search", description = "Searches and their results"),
        (name = "providers", description = "The airlines and airports"),
        (name = "probes", description = "Health, readiness and metrics"),
        (name = "page", description = "The search page"),
        (name = "sim", description = "The simulated airline API"),
        (name = "contract", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The document, built once.
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    let mut doc =
        serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document encodes as JSON");
    camel_case_links(&mut doc);
    describe_events(&mut doc);
    // The server refuses a field it does not know (`unknown_field`); the
    // document says so, so a generated client or a tool does not send one.
    if let Some(body) = doc.pointer_mut("/components/schemas/SearchBody") {
        body["additionalProperties"] = Value::Bool(false);
    }
    // The simulated API's v2 route wants a token from its own endpoint.
    doc["components"]["securitySchemes"] = json!({"sim_oauth2": {
        "type": "oauth2",
        "description": "The simulated airline API's client credentials (`sim.client_id`, `sim.client_secret`)",
        "flows": {"clientCredentials": {"tokenUrl": "/sim/oauth/token", "scopes": {}}}
    }});
    // utoipa takes no bounds on an enum's unnamed field.
    if let Some(adults) = doc.pointer_mut("/components/schemas/PassengersBody/oneOf/0") {
        adults["minimum"] = json!(1);
        adults["maximum"] = json!(9);
    }
    doc
});

/// utoipa 5 writes a response link's target as `operation_id`; OpenAPI
/// (and every tool that follows links) reads `operationId`.
fn camel_case_links(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    let operations = paths.values_mut().filter_map(Value::as_object_mut);
    let responses = operations
        .flat_map(|ops| ops.values_mut())
        .filter_map(|op| op["responses"].as_object_mut())
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) else {
            continue;
        };
        for link in links.values_mut().filter_map(Value::as_object_mut) {
            if let Some(id) = link.remove("operation_id") {
                link.insert("operationId".into(), id);
            }
        }
    }
}

/// The stream route's `200` as its events: each has an `id:`, an `event:`
/// naming its payload's schema and one JSON `data:` line (the first also a
/// `retry:` hint), as SSE-aware tools such as schemathesis read them.
fn describe_events(doc: &mut Value) {
    let events: Vec<Value> = [
        ("offers", "OffersEvent"),
        ("provider", "ProviderEvent"),
        ("complete", "CompleteEvent"),
    ]
    .into_iter()
    .map(|(event, schema)| {
        json!({
            "type": "object",
            "required": ["id", "event", "data"],
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9]+$"},
                "event": {"const": event},
                "retry": {"type": "integer", "minimum": 0},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"$ref": format!("#/components/schemas/{schema}")},
                },
            },
        })
    })
    .collect();
    let pointer = "/paths/~1api~1flights~1search~1{search_id}~1stream/get/responses/200/content/text~1event-stream/schema";
    if let Some(schema) = doc.pointer_mut(pointer) {
        *schema = json!({"oneOf": events});
    }
}

/// The document with today's example search (a date a month ahead, so the
/// example is always one the server accepts; tools such as schemathesis
/// start from it).
fn with_example(today: jiff::civil::Date) -> Value {
    let mut doc = DOCUMENT.clone();
    let date = today
        .checked_add(jiff::Span::new().days(30))
        .unwrap_or(today);
    if let Some(body) = doc.pointer_mut("/components/schemas/SearchBody") {
        body["example"] = json!({
            "from": "CGK",
            "to": "DPS",
            "date": date.to_string(),
            "passengers": 2,
        });
    }
    doc
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "contract",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object)))]
pub async fn document() -> Response {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    Json(with_example(today)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_body_schema_names_every_field() {
        let doc = &*DOCUMENT;
        let body = &doc["paths"]["/api/flights/search"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"];
        let name = body.as_str().unwrap().rsplit('/').next().unwrap();
        let props = doc["components"]["schemas"][name]["properties"]
            .as_object()
            .unwrap();
        let mut named: Vec<&str> = props.keys().map(String::as_str).collect();
        let mut fields = search::FIELDS.to_vec();
        named.sort_unstable();
        fields.sort_unstable();
        assert_eq!(named, fields);
    }

    /// The paths the router in `mod.rs` declares, read from its source.
    fn routed_paths() -> Vec<String> {
        let source = include_str!("mod.rs");
        source
            .split("route(")
            .skip(1)
            .filter_map(|rest| {
                let rest = rest.trim_start().strip_prefix('"')?;
                Some(rest[..rest.find('"')?].to_string())
            })
            .collect()
    }

    #[test]
    fn every_path_the_router_declares_is_documented() {
        let paths = DOCUMENT["paths"].as_object().unwrap();
        let routed = routed_paths();
        assert!(routed.len() >= 12, "{routed:?}");
        for path in &routed {
            assert!(paths.contains_key(path), "{path} is not documented");
        }
        for path in paths.keys() {
            assert!(routed.contains(path), "{path} is documented but not routed");
        }
    }

    #[test]
    fn links_name_their_operation_and_events_their_schemas() {
        let accepted = &DOCUMENT["paths"]["/api/flights/search"]["post"]["responses"]["202"];
        assert_eq!(accepted["links"]["Stream"]["operationId"], "stream");
        assert_eq!(accepted["links"]["Snapshot"]["operationId"], "snapshot");
        let stream = &DOCUMENT["paths"]["/api/flights/search/{search_id}/stream"]["get"];
        let events = stream["responses"]["200"]["content"]["text/event-stream"]["schema"]["oneOf"]
            .as_array()
            .unwrap();
        assert_eq!(events.len(), 3);
        for event in events {
            let target = event["properties"]["data"]["contentSchema"]["$ref"]
                .as_str()
                .unwrap();
            let name = target.rsplit('/').next().unwrap();
            assert!(
                DOCUMENT["components"]["schemas"][name].is_object(),
                "{name}"
            );
        }
    }

    /// Every value of a code enum of the document: utoipa writes a unit
    /// enum as one `enum` list, or as `oneOf` one-value enums when its
    /// variants carry doc comments.
    fn codes(schema: &str) -> Vec<String> {
        let schema = &DOCUMENT["components"]["schemas"][schema];
        let one_of = schema["oneOf"].as_array().into_iter().flatten();
        std::iter::once(schema)
            .chain(one_of)
            .filter_map(|s| s["enum"].as_array())
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    #[test]
    fn the_api_reference_lists_every_error_code_of_the_document() {
        let reference = include_str!("../../docs/api.md");
        for schema in ["ErrorCode", "FieldCode"] {
            let codes = codes(schema);
            assert!(codes.len() >= 15, "{schema}: {codes:?}");
            for code in codes {
                assert!(
                    reference.contains(&format!("| `{code}` |")),
                    "docs/api.md has no row for the {schema} `{code}`"
                );
            }
        }
    }
}
