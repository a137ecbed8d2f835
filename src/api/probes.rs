//! `GET /api/providers`, `/healthz`, `/readyz` and the 404 fallback.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, Envelope, ErrorCode, ErrorEnvelope};
use crate::providers::problems::{Problem, shown_path};
use crate::providers::upstream::UpstreamStatus;
use crate::providers::{ProviderMode, StatsSnapshot};

/// One provider file as listed by `/api/providers`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ProviderView {
    id: String,
    name: Option<String>,
    airline: Option<String>,
    mode: Option<String>,
    enabled: bool,
    /// The file, when this process has it.
    source: Option<String>,
    /// On an api process with Redis: the live processes serving it.
    #[serde(skip_serializing_if = "Option::is_none")]
    served_by: Option<Vec<String>>,
    #[schema(value_type = String, format = DateTime)]
    loaded_at: Timestamp,
    timeout_ms: Option<u64>,
    concurrency: Option<u32>,
    airports: Vec<String>,
    stats: StatsSnapshot,
    /// The file is rejected (see `error`) but its last good definition
    /// still serves.
    serving_previous: bool,
    /// The circuit breaker and dropped offers of an `http` provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<UpstreamStatus>,
    error: Option<LoadErrorView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LoadErrorView {
    message: String,
    problems: Vec<Problem>,
}

/// Every provider file seen, with its load error when it was rejected.
#[utoipa::path(get, path = "/api/providers", tag = "providers",
    responses((status = 200, description = "Every provider file seen", body = Envelope<Vec<ProviderView>>)))]
pub async fn providers(State(app): State<AppState>) -> Response {
    let catalog = app.registry.catalog();
    // Paths relative to the providers directory, never the server's layout.
    let dir = app.registry.dir();
    let live = app.live.as_ref().map(|l| l.view());
    let serving = |id: &str| -> Option<Vec<String>> {
        let live = live.as_ref()?;
        Some(
            live.airlines
                .get(id)
                .map(|(_, p)| p.clone())
                .unwrap_or_default(),
        )
    };
    let mut views: Vec<ProviderView> = catalog
        .files
        .iter()
        .map(|file| {
            let def = catalog.providers.get(&file.id).filter(|d| {
                d.source == file.path && (file.error.is_none() || file.serving_previous)
            });
            ProviderView {
                id: file.id.clone(),
                name: def.map(|d| d.name.clone()),
                airline: def.map(|d| d.airline.code.clone()),
                mode: def.map(|d| d.mode.name().to_string()),
                // On Redis, an airline is enabled when a live process serves it.
                enabled: def.is_some_and(|d| d.enabled)
                    && serving(&file.id).is_none_or(|p| !p.is_empty()),
                source: Some(shown_path(&file.path, dir).display().to_string()),
                served_by: serving(&file.id),
                loaded_at: file.loaded_at,
                timeout_ms: def.map(|d| d.timeout.as_millis() as u64),
                concurrency: def.map(|d| d.concurrency),
                airports: def.map(|d| d.airports()).unwrap_or_default(),
                upstream: def.and_then(|d| match &d.mode {
                    ProviderMode::Upstream(u) => Some(u.status()),
                    ProviderMode::Mock(_) => None,
                }),
                stats: def
                    .map(|d| app.registry.stats(&d.id).snapshot())
                    .unwrap_or_default(),
                serving_previous: file.serving_previous,
                error: file.error.as_ref().map(|e| LoadErrorView {
                    message: e.relative_to(dir).to_string(),
                    problems: e.problems.clone(),
                }),
            }
        })
        .collect();
    // Airlines that only other processes have files for.
    if let Some(live) = &live {
        for (id, (airline, processes)) in &live.airlines {
            if views.iter().any(|v| &v.id == id) {
                continue;
            }
            views.push(ProviderView {
                id: id.clone(),
                name: Some(airline.name.clone()),
                airline: Some(airline.airline.clone()),
                mode: Some(airline.mode.clone()),
                enabled: true,
                source: None,
                served_by: Some(processes.clone()),
                loaded_at: Timestamp::now(),
                timeout_ms: Some(airline.timeout_ms),
                concurrency: None,
                airports: airline.airports.clone(),
                stats: StatsSnapshot::default(),
                serving_previous: false,
                upstream: None,
                error: None,
            });
        }
    }
    Json(Envelope::ok(format!("{} providers", views.len()), views)).into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Health {
    status: &'static str,
    uptime_seconds: u64,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The process is alive", body = Envelope<Health>)))]
pub async fn healthz(State(app): State<AppState>) -> Response {
    Json(Envelope::ok(
        "alive",
        Health {
            status: "ok",
            uptime_seconds: app.started.elapsed().as_secs(),
        },
    ))
    .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Readiness {
    ready: bool,
    bus: String,
    bus_backend: &'static str,
    providers_loaded: usize,
    providers_enabled: usize,
    searches_tracked: usize,
    problems: Vec<String>,
}

/// Readiness: the broker answers and at least one airline is enabled.
#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, description = "Ready", body = Envelope<Readiness>),
    (status = 503, description = "Not ready, with the problems", body = Envelope<Readiness>),
))]
pub async fn readyz(State(app): State<AppState>) -> Response {
    let catalog = app.registry.catalog();
    let mut problems = Vec::new();
    let bus = match app.bus.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            problems.push(e.to_string());
            format!("error: {e}")
        }
    };
    let enabled = app.airlines().enabled().len();
    if enabled == 0 {
        problems.push(match app.live {
            Some(_) => {
                "no enabled provider: no live providers process serves an airline".to_string()
            }
            None => format!(
                "no enabled provider loaded from {}",
                app.registry.dir().display()
            ),
        });
    }
    let ready = problems.is_empty();
    let body = Envelope {
        success: ready,
        message: if ready {
            "ready".into()
        } else {
            format!("not ready: {}", problems.join("; "))
        },
        code: (!ready).then_some(ErrorCode::NotReady),
        data: Some(Readiness {
            ready,
            bus,
            bus_backend: app.bus.backend(),
            providers_loaded: catalog.providers.len(),
            providers_enabled: enabled,
            searches_tracked: app.searches.in_memory(),
            problems,
        }),
        errors: None,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// One airport that some targetable airline serves.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AirportView {
    /// IATA code.
    code: String,
    /// The airport's name, from airstream's table.
    name: String,
    /// The city it serves; empty when the table does not say.
    city: String,
    /// ISO 3166 country code.
    country: String,
    /// IANA time zone, such as `Asia/Jakarta`.
    tz: String,
    /// The airlines that fly from or to it.
    providers: Vec<String>,
}

/// The currencies a search may show its prices in.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CurrencyList {
    /// The day of the rates; `null` when the server has none.
    #[schema(value_type = Option<String>, format = Date)]
    date: Option<jiff::civil::Date>,
    /// Every currency with a rate, sorted; empty without a rates file.
    currencies: Vec<String>,
}

/// `GET /api/currencies`: the currencies of the server's rates file, for
/// a search's `currency` (the search form offers them).
#[utoipa::path(get, path = "/api/currencies", tag = "providers",
    responses((status = 200, description = "Currencies with a rate", body = Envelope<CurrencyList>)))]
pub async fn currencies(State(app): State<AppState>) -> Response {
    let list = CurrencyList {
        date: app.rates.as_ref().map(|r| r.date),
        currencies: app
            .rates
            .as_ref()
            .map(|r| r.currencies().map(str::to_string).collect())
            .unwrap_or_default(),
    };
    let message = format!("{} currencies", list.currencies.len());
    Json(Envelope::ok(message, list)).into_response()
}

/// `GET /api/airports`: the airports the targetable airlines serve, for
/// the search form's suggestions (upstream airlines do not list theirs).
#[utoipa::path(get, path = "/api/airports", tag = "providers",
    responses((status = 200, description = "Airports served", body = Envelope<Vec<AirportView>>)))]
pub async fn airports(State(app): State<AppState>) -> Response {
    let airlines = app.airlines();
    let mut found: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    let catalog = app.registry.catalog();
    for def in catalog.enabled() {
        if airlines.state(&def.id) != crate::providers::AirlineState::Targetable {
            continue;
        }
        for code in def.airports() {
            found.entry(code).or_default().insert(def.id.clone());
        }
    }
    if let Some(live) = &app.live {
        for (id, (airline, _)) in &live.view().airlines {
            for code in &airline.airports {
                found.entry(code.clone()).or_default().insert(id.clone());
            }
        }
    }
    let views: Vec<AirportView> = found
        .into_iter()
        .map(|(code, providers)| {
            let known = crate::airports::lookup(&code);
            let field = |f: fn(&crate::airports::Airport) -> &'static str| {
                known.map(f).unwrap_or_default().to_string()
            };
            AirportView {
                name: field(|a| a.name),
                city: field(|a| a.city),
                country: field(|a| a.country),
                tz: field(|a| a.tz),
                code,
                providers: providers.into_iter().collect(),
            }
        })
        .collect();
    Json(Envelope::ok(format!("{} airports", views.len()), views)).into_response()
}

/// `GET /metrics`: every metric in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "probes", responses(
    (status = 200, description = "Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8"),
    (status = 503, description = "Metrics are not recorded in this process", body = ErrorEnvelope,
        headers(("Retry-After" = u32, description = "Seconds to wait"))),
))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    match &app.metrics {
        Some(handle) => {
            handle.run_upkeep();
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                handle.render(),
            )
                .into_response()
        }
        None => ApiError::Unavailable(
            ErrorCode::MetricsNotRecorded,
            "metrics are not recorded in this process".into(),
        )
        .into_response(),
    }
}

/// Unknown routes answer in the envelope too.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(
        ErrorCode::RouteNotFound,
        format!("no route for {}", super::error::excerpt(uri.path())),
    )
}

/// Search routes on a `providers` process.
pub async fn not_api() -> ApiError {
    ApiError::NotFound(
        ErrorCode::WrongRole,
        "this process runs the `providers` role: send searches to an `api` process".into(),
    )
}
