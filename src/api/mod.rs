//! The HTTP API (SPEC section 3): search submission, the SSE stream, polling
//! snapshots, the provider list and health probes, all answering in the JSON
//! envelope kept from the Go system.

pub mod error;
mod probes;
mod search;
mod stream;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::bus::Bus;
use crate::config::Settings;
use crate::providers::ProviderRegistry;
use crate::search::store::SearchStore;
use crate::shutdown::Shutdown;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Settings in force.
    pub settings: Arc<Settings>,
    /// The stream bus.
    pub bus: Bus,
    /// Loaded provider files.
    pub registry: Arc<ProviderRegistry>,
    /// Searches of this process.
    pub store: Arc<SearchStore>,
    /// The shutdown signal, so SSE streams end on shutdown.
    pub shutdown: Shutdown,
    /// When the process started.
    pub started: Instant,
}

/// The full router.
pub fn router(state: AppState) -> Router {
    let timeout = state.settings.http.request_timeout.get();
    // Every route but the SSE stream gets a time limit; an SSE response must
    // stay open as long as its search runs.
    let timed = Router::new()
        .route("/api/flights/search", post(search::submit))
        .route("/api/flights/search/{search_id}", get(search::snapshot))
        .route("/api/providers", get(probes::providers))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ));
    let streaming = Router::new().route(
        "/api/flights/search/{search_id}/stream",
        get(stream::stream),
    );
    timed
        .merge(streaming)
        .fallback(probes::not_found)
        .layer(cors(&state.settings.http.cors_origins))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderName::from_static("last-event-id"),
        ])
}
