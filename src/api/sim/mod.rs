//! The simulated airline API: any mock provider (enabled or not) served as
//! an airline-style HTTP API in its own shapes (not airstream's), with the
//! provider's latency and its errors. It lets an `upstream` provider work
//! with no outside network. Three dialects, one airline behind each:
//!
//! - `POST /sim/{provider}/v1/availability`: JSON, no authentication (the
//!   sample `providers.d/transnusa.yaml`).
//! - `POST /sim/{provider}/v2/availability`: the same JSON behind OAuth2
//!   client credentials, a Bearer token from `POST /sim/oauth/token`
//!   ([`oauth`]; the sample `providers.d/pelita.yaml`).
//! - `POST /sim/{provider}/ndc/AirShopping`: an NDC-style SOAP request and
//!   answer ([`ndc`]; the sample `providers.d/superairjet.yaml`).
//!
//! JSON request:
//! `{"origin": "CGK", "destination": "DPS", "departure_date": "2026-12-20",
//!   "passengers": {"adults": 2}, "cabin": "economy", "request_id": "..."}`
//! (`cabin` and `request_id` optional). Answer:
//! `{"meta": {...}, "data": {"itineraries": [{"offer_ref", "segments":
//! [{"carrier", "flight", "origin", "destination", "departure", "arrival",
//! "stops"}], "duration", "cabin", "seats_available", "fare": {"total",
//! "per_adult", "currency"}}]}}`; errors answer
//! `{"error": {"code", "message"}}` with 400, 401, 404 or 503.
//!
//! It answers only where `sim.enabled` is on (the default, for the quick
//! start; off for a public listener in production), with a search's checks
//! (airports, passengers, a travel date from yesterday to a year ahead) and
//! at most `search.max_retained` requests in flight, like the store's cap.

pub mod ndc;
pub mod oauth;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::model::{Cabin, Offer, PassengerType, SearchRequest, Travellers, normalize_code};
use crate::providers::latency::Fate;
use crate::providers::mock::Quoter;
use crate::providers::{ProviderDef, ProviderMode};

/// What the simulated API shares across requests.
#[derive(Debug)]
pub struct SimState {
    /// Requests it may have in flight.
    pub slots: tokio::sync::Semaphore,
    /// The access tokens it issued.
    pub tokens: oauth::Tokens,
}

impl SimState {
    /// Room for `in_flight` requests at once.
    pub fn new(in_flight: usize) -> SimState {
        SimState {
            slots: tokio::sync::Semaphore::new(in_flight.max(1)),
            tokens: oauth::Tokens::default(),
        }
    }
}

/// The request body of the simulated API.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Availability {
    origin: String,
    destination: String,
    #[schema(value_type = String, format = Date)]
    departure_date: Date,
    passengers: Passengers,
    cabin: Option<String>,
    request_id: Option<String>,
}

/// Who travels.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Passengers {
    adults: u8,
    #[serde(default)]
    children: u8,
    #[serde(default)]
    infants: u8,
}

/// An error of the simulated API, in its own shape (not airstream's).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SimFailure {
    error: SimError,
}

/// What went wrong: a code and a sentence.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SimError {
    /// `INVALID_REQUEST`, `UNAUTHORIZED`, `UNKNOWN_AIRLINE`,
    /// `TOO_MANY_REQUESTS` or `UPSTREAM_UNAVAILABLE`.
    code: &'static str,
    message: String,
}

/// Why the simulated airline gives no offers: its status, code and words,
/// which each dialect writes in its own shape.
#[derive(Debug)]
pub(super) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    /// The refusal in the JSON dialects' shape.
    fn json(self) -> Response {
        let error = SimError {
            code: self.code,
            message: self.message,
        };
        (self.status, Json(SimFailure { error })).into_response()
    }
}

/// What a caller asks, in any dialect: one leg.
pub(super) struct Ask {
    origin: String,
    destination: String,
    departure_date: Date,
    travellers: Travellers,
    cabin: Option<String>,
    request_id: Option<String>,
}

impl From<Availability> for Ask {
    fn from(a: Availability) -> Ask {
        Ask {
            origin: a.origin,
            destination: a.destination,
            departure_date: a.departure_date,
            travellers: Travellers {
                adults: a.passengers.adults,
                children: a.passengers.children,
                infants: a.passengers.infants,
            },
            cabin: a.cabin,
            request_id: a.request_id,
        }
    }
}

/// The mock provider behind `provider`.
fn airline(app: &AppState, provider: &str) -> Result<std::sync::Arc<ProviderDef>, Refusal> {
    let unknown = |why: &str| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "UNKNOWN_AIRLINE",
            format!("`{}` {why}", super::error::excerpt(provider)),
        )
    };
    let def = app
        .registry
        .get(provider)
        .ok_or_else(|| unknown("is not a simulated airline"))?;
    match def.mode {
        ProviderMode::Mock(_) => Ok(def),
        _ => Err(unknown("is not a mock airline, so it has no simulated API")),
    }
}

/// Checks an ask as a search is checked, waits the airline's latency and
/// gives its offers, or its simulated failure.
pub(super) async fn quote(
    app: &AppState,
    def: &ProviderDef,
    ask: Ask,
) -> Result<Vec<Offer>, Refusal> {
    let ProviderMode::Mock(table) = &def.mode else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "UNKNOWN_AIRLINE",
            "not a mock airline",
        ));
    };
    let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
    if let Err((_, reason)) = super::search::check_travel_date(ask.departure_date, today) {
        return Err(Refusal::invalid(format!("departure_date: {reason}")));
    }
    // As many in flight as the store keeps searches, at most.
    let Ok(_slot) = app.sim.slots.try_acquire() else {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TOO_MANY_REQUESTS",
            "too many availability requests in flight; retry shortly",
        ));
    };
    let (Some(from), Some(to)) = (
        normalize_code(&ask.origin, 3, false),
        normalize_code(&ask.destination, 3, false),
    ) else {
        return Err(Refusal::invalid(
            "origin and destination must be IATA airport codes",
        ));
    };
    let travellers = ask.travellers;
    if !(1..=9).contains(&travellers.adults)
        || travellers.seated() > Travellers::MAX_SEATED
        || travellers.infants > travellers.adults
    {
        return Err(Refusal::invalid(
            "passengers: adults must be from 1 to 9, adults and children at most 9, infants at most one per adult",
        ));
    }
    let cabin = match ask
        .cabin
        .as_deref()
        .map(|c| Cabin::parse(&c.to_ascii_lowercase()))
    {
        None => Cabin::Economy,
        Some(Some(c)) => c,
        Some(None) => {
            return Err(Refusal::invalid(
                "cabin must be economy, premium_economy, business or first",
            ));
        }
    };
    // The airline's own latency and failures.
    let (fate, delay) = {
        let mut rng = rand::rng();
        (
            def.latency.fate(&mut rng),
            def.latency.distribution.sample(&mut rng),
        )
    };
    if fate == Fate::Hang {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(delay).await;
    if fate == Fate::Fail {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UPSTREAM_UNAVAILABLE",
            "availability is temporarily unavailable (simulated)",
        ));
    }
    let now = Timestamp::now();
    let search = SearchRequest {
        search_id: ask
            .request_id
            .as_deref()
            .and_then(|r| Uuid::parse_str(r).ok())
            .unwrap_or_else(Uuid::nil),
        from,
        to,
        date: ask.departure_date,
        return_date: None,
        passengers: travellers.total(),
        travellers: Some(travellers),
        max_stops: None,
        convert: None,
        cabin,
        cache: true,
        providers: vec![def.id.clone()],
        created_at: now,
        deadline: now,
    };
    let quoter = Quoter {
        provider: &def.id,
        airline: &def.airline,
    };
    Ok(table.offers(&quoter, &search, today))
}

/// `POST /sim/{provider}/v1/availability`.
#[utoipa::path(post, path = "/sim/{provider}/v1/availability", tag = "sim",
    params(("provider" = String, Path, description = "A mock provider's id")),
    request_body = Availability,
    responses(
        (status = 200, description = "Itineraries, in the simulated airline's shape", body = Object),
        (status = 400, description = "Invalid request", body = SimFailure),
        (status = 404, description = "No such mock airline", body = SimFailure),
        (status = 408, description = "The airline hung (simulated)", body = super::error::ErrorEnvelope),
        (status = 413, description = "The body is too large", body = super::error::ErrorEnvelope),
        (status = 503, description = "Busy or failing (simulated)", body = SimFailure),
    ))]
pub async fn availability(
    State(app): State<AppState>,
    Path(provider): Path<String>,
    body: Bytes,
) -> Response {
    answer_json(&app, &provider, &body)
        .await
        .unwrap_or_else(Refusal::json)
}

/// `POST /sim/{provider}/v2/availability`: the same, for a caller with a
/// valid access token from `POST /sim/oauth/token`.
#[utoipa::path(post, path = "/sim/{provider}/v2/availability", tag = "sim",
    params(("provider" = String, Path, description = "A mock provider's id")),
    request_body = Availability,
    security(("sim_oauth2" = [])),
    responses(
        (status = 200, description = "Itineraries, in the simulated airline's shape", body = Object),
        (status = 400, description = "Invalid request", body = SimFailure),
        (status = 401, description = "No valid access token", body = SimFailure),
        (status = 404, description = "No such mock airline", body = SimFailure),
        (status = 408, description = "The airline hung (simulated)", body = super::error::ErrorEnvelope),
        (status = 413, description = "The body is too large", body = super::error::ErrorEnvelope),
        (status = 503, description = "Busy or failing (simulated)", body = SimFailure),
    ))]
pub async fn availability_v2(
    State(app): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = app.sim.tokens.check(&headers) {
        let mut response = refusal.json();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return response;
    }
    answer_json(&app, &provider, &body)
        .await
        .unwrap_or_else(Refusal::json)
}

/// Reads a JSON availability request and answers it.
async fn answer_json(app: &AppState, provider: &str, body: &[u8]) -> Result<Response, Refusal> {
    let def = airline(app, provider)?;
    let ask: Availability =
        serde_json::from_slice(body).map_err(|e| Refusal::invalid(e.to_string()))?;
    let offers = quote(app, &def, ask.into()).await?;
    let itineraries: Vec<_> = offers
        .into_iter()
        .map(|o| {
            json!({
                "offer_ref": o.id,
                "segments": o.segments.iter().map(|s| json!({
                    "carrier": s.marketing_carrier,
                    "flight": s.flight_number,
                    "operating_carrier": s.operating_carrier,
                    "operating_flight": s.operating_flight_number,
                    "origin": s.from,
                    "destination": s.to,
                    "departure": s.depart_at.to_string(),
                    "arrival": s.arrive_at.to_string(),
                    "duration": format!("PT{}H{}M", s.duration_minutes / 60, s.duration_minutes % 60),
                })).collect::<Vec<_>>(),
                "stops": o.stops,
                "duration": format!("PT{}H{}M", o.duration_minutes / 60, o.duration_minutes % 60),
                "cabin": o.cabin.as_str().to_uppercase(),
                "seats_available": o.seats_left,
                "fare": {
                    "total": o.price.total.to_string(),
                    "per_adult": o.price.per_passenger.to_string(),
                    "base": o.price.base.map(|b| b.to_string()),
                    "taxes": o.price.taxes.map(|t| t.to_string()),
                    "per_passenger_type": o.price.by_passenger.iter().map(|p| {
                        let code = match p.kind {
                            PassengerType::Adult => "ADT",
                            PassengerType::Child => "CHD",
                            PassengerType::Infant => "INF",
                        };
                        (code, p.each.to_string())
                    }).collect::<std::collections::BTreeMap<_, _>>(),
                    "currency": o.price.currency,
                    "brand": o.fare.brand,
                    "refundable": o.fare.refundable,
                    "changeable": o.fare.changeable,
                    "baggage": {
                        "checked": o.fare.baggage.checked_bags,
                        "checked_kg": o.fare.baggage.checked_kg,
                        "cabin": o.fare.baggage.cabin_bags,
                    },
                },
                "valid_until": o.expires_at.map(|t| t.to_string()),
            })
        })
        .collect();
    Ok(Json(json!({
        "meta": {"airline": def.airline.code, "results": itineraries.len(), "simulated": true},
        "data": {"itineraries": itineraries},
    }))
    .into_response())
}
