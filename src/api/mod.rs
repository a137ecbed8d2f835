//! The HTTP API (`docs/api.md`): search submission, the SSE stream, polling
//! snapshots, the provider list and health probes, all answering in one JSON
//! envelope (`{"success", "code", "message", "data" | "errors"}`).

pub mod error;
mod http_metrics;
mod layers;
pub mod openapi;
mod page;
mod probes;
mod search;
pub mod server;
pub mod sim;
mod stream;
pub mod tls;

#[doc(hidden)]
pub use search::parse_status;
#[doc(hidden)]
pub use stream::resume_position;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::http::{HeaderValue, StatusCode};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::DefaultOnFailure;
use tower_http::trace::TraceLayer;
use tracing::Level;

use crate::bus::Bus;
use crate::config::Settings;
use crate::providers::ProviderRegistry;
use crate::search::Searches;
use crate::shutdown::Shutdown;

/// What every handler shares: one reference count, since axum clones the
/// state for every extraction (a dozen counts touched from both worker
/// threads took about 1.4% of a search's CPU).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state every handler sees.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    /// Settings in force.
    pub settings: Arc<Settings>,
    /// The stream bus.
    pub bus: Bus,
    /// Loaded provider files.
    pub registry: Arc<ProviderRegistry>,
    /// Renders `/metrics`.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// On Redis, the airlines live processes serve.
    pub live: Option<Arc<crate::providers::live::Live>>,
    /// Where searches are kept.
    pub searches: Searches,
    /// The shutdown signal, so SSE streams end on shutdown.
    pub shutdown: Shutdown,
    /// When the process started.
    pub started: Instant,
    /// The simulated airline API's slots and tokens.
    pub sim: Arc<sim::SimState>,
    /// Exchange rates for `currency`, when the settings name a file.
    pub rates: Option<Arc<crate::currency::Rates>>,
    /// The API keys, when the settings turn them on.
    pub keys: Option<Arc<crate::access::Keys>>,
    /// Each client's rate limit bucket.
    pub limiter: Arc<crate::access::rate::Limiter>,
}

impl Shared {
    /// The airlines searches may target now: those of this process's own
    /// files, made when the catalog was installed; on Redis, made per
    /// search from the live processes, which come and go.
    pub fn airlines(&self) -> Arc<crate::providers::Airlines> {
        match &self.live {
            Some(live) => Arc::new(crate::providers::Airlines::from_live(
                &live.view(),
                &self.registry.catalog(),
            )),
            None => self.registry.airlines(),
        }
    }
}

/// The full router.
pub fn router(state: AppState) -> Router {
    let timeout = state.settings.http.request_timeout.get();
    // Every route but the SSE stream gets a time limit; an SSE response must
    // stay open as long as its search runs.
    let searches = if state.settings.role.runs_api() {
        Router::new()
            .route("/api/flights/search", post(search::submit))
            .route("/api/flights/search/{search_id}", get(search::snapshot))
    } else {
        Router::new()
            .route("/api/flights/search", post(probes::not_api))
            .route("/api/flights/search/{search_id}", get(probes::not_api))
    };
    let searches = if state.settings.sim.enabled {
        searches
            .route("/sim/{provider}/v1/availability", post(sim::availability))
            .route(
                "/sim/{provider}/v2/availability",
                post(sim::availability_v2),
            )
            .route(
                "/sim/{provider}/ndc/AirShopping",
                post(sim::ndc::air_shopping),
            )
            .route("/sim/oauth/token", post(sim::oauth::token))
    } else {
        searches
    };
    let timed = searches
        .route("/api/providers", get(probes::providers))
        .route("/api/airports", get(probes::airports))
        .route("/api/currencies", get(probes::currencies))
        .route("/", get(page::index))
        .route("/assets/app.js", get(page::script))
        .route("/assets/style.css", get(page::style))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::metrics))
        .route("/openapi.json", get(openapi::document))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ));
    let streaming = Router::new().route(
        "/api/flights/search/{search_id}/stream",
        if state.settings.role.runs_api() {
            get(stream::stream)
        } else {
            get(probes::not_api)
        },
    );
    timed
        .merge(streaming)
        .route_layer(layers::TrackHttpLayer::default())
        .fallback(probes::not_found)
        // One layer of four, outermost first: each `Router::layer` boxes
        // every route again, and a request clones each box on its way in.
        .layer(
            ServiceBuilder::new()
                // Failures are logged where they are understood (internal
                // errors with their cause); a 503 from a not-ready probe is
                // not an error.
                .layer(
                    TraceLayer::new_for_http()
                        .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
                )
                // No origin listed: no CORS layer at all (same origin only).
                .option_layer(cors(&state.settings.http.cors_origins))
                .layer(layers::envelope_layer())
                .layer(layers::RefuseOversizeLayer(state.settings.http.body_limit)),
        )
        .with_state(state)
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let layer = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderName::from_static("x-api-key"),
            axum::http::HeaderName::from_static("last-event-id"),
        ]);
    Some(layer)
}
