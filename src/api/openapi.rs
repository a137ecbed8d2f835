//! `GET /openapi.json`: the API's OpenAPI 3.1 document (`docs/api.md`),
//! assembled from the handlers' `#[utoipa::path]` annotations and the
//! schemas derived on the types they read and write, so it cannot drift
//! from the code. The SSE events' payloads are named schemas of their own.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use super::error::{Envelope, ErrorEnvelope, FieldError};
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
        description = "Flight search: submit a search, then stream each airline's offers as Server-Sent Events. Every JSON answer is an envelope `{success, message, data | errors}`."
    ),
    paths(
        search::submit,
        search::snapshot,
        stream::stream,
        probes::providers,
        probes::airports,
        probes::healthz,
        probes::readyz,
        probes::metrics,
        page::index,
        page::script,
        page::style,
        sim::availability,
        document,
    ),
    components(schemas(
        ErrorEnvelope,
        FieldError,
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

/// The document as JSON, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document encodes as JSON")
});

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "contract",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object)))]
pub async fn document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_body_schema_names_every_field() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
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
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let routed = routed_paths();
        assert!(routed.len() >= 12, "{routed:?}");
        for path in &routed {
            assert!(paths.contains_key(path), "{path} is not documented");
        }
        for path in paths.keys() {
            assert!(routed.contains(path), "{path} is documented but not routed");
        }
    }
}
