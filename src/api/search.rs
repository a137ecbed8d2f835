//! `POST /api/flights/search` and `GET /api/flights/search/{id}`.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::Instrument;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, Envelope, ErrorEnvelope, FieldError, excerpt, shown};
use crate::fault::{Chain, Fault};
use crate::model::{Cabin, SearchRequest, normalize_code};
use crate::providers::{AirlineState, Airlines};
use crate::search::SearchError;
use crate::search::events::Snapshot;

/// Fields a search request may carry.
pub(super) const FIELDS: [&str; 8] = [
    "from",
    "to",
    "date",
    "passengers",
    "return_date",
    "cabin",
    "providers",
    "timeout_ms",
];

/// How far ahead a search may look, in days.
const MAX_DAYS_AHEAD: i32 = 366;

/// The 202 payload.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Submitted {
    search_id: Uuid,
    /// Always `processing`.
    status: &'static str,
    providers: Vec<String>,
    stream_url: String,
    #[schema(value_type = String, format = DateTime)]
    deadline: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

/// The body of a search as the document describes it. [`validate`] reads
/// the JSON field by field instead, to name every bad field at once; the
/// test `search_body_schema_names_every_field` keeps the two in step.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes the request body for the OpenAPI document"
)]
pub(super) struct SearchBody {
    /// Origin IATA airport code, case-insensitive.
    #[schema(example = "CGK")]
    from: String,
    /// Destination IATA airport code, case-insensitive.
    #[schema(example = "DPS")]
    to: String,
    /// Outbound date, from yesterday to a year ahead.
    #[schema(value_type = String, format = Date)]
    date: Date,
    /// Travellers.
    #[schema(minimum = 1, maximum = 9)]
    passengers: u8,
    /// Return date for a round trip, not before `date`.
    #[schema(value_type = Option<String>, format = Date)]
    return_date: Option<Date>,
    /// Requested cabin; economy when absent.
    cabin: Option<Cabin>,
    /// A subset of the enabled provider ids; every targetable one when absent.
    providers: Option<Vec<String>>,
    /// How long to wait for airlines, capped by the server's maximum.
    timeout_ms: Option<u64>,
}

/// Accepts a search, publishes it to the requested stream and answers 202
/// with where to stream its results.
#[utoipa::path(post, path = "/api/flights/search", tag = "search",
    request_body = SearchBody,
    responses(
        (status = 202, description = "Search accepted", body = Envelope<Submitted>,
            headers(("Location" = String, description = "The search's snapshot")),
            links(
                ("Snapshot" = (operation_id = "snapshot",
                    parameters(("search_id" = "$response.body#/data/search_id")),
                    description = "Poll the search")),
                ("Stream" = (operation_id = "stream",
                    parameters(("search_id" = "$response.body#/data/search_id")),
                    description = "Stream the search's events")),
            )),
        (status = 400, description = "Malformed JSON", body = ErrorEnvelope),
        (status = 404, description = "A `providers` process serves no searches", body = ErrorEnvelope),
        (status = 408, description = "The request took too long", body = ErrorEnvelope),
        (status = 413, description = "The body is too large", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields, each listed", body = ErrorEnvelope),
        (status = 503, description = "No airline can be searched, or the broker is down", body = ErrorEnvelope,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    ))]
pub async fn submit(state: State<AppState>, body: Body) -> Result<Response, ApiError> {
    let result = accept(state, body).await;
    if let Err(e) = &result {
        let reason = match e {
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "error",
            _ => "invalid",
        };
        metrics::counter!(crate::metrics::SEARCHES_REFUSED, "reason" => reason).increment(1);
    }
    result
}

async fn accept(State(app): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let limit = app.settings.http.body_limit;
    let bytes: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let airlines = app.airlines();
    let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
    let fields = parse(&bytes, &airlines, today)?;
    if fields.providers.is_empty() {
        return Err(ApiError::Unavailable(if airlines.any_away() {
            "no airline is served by a running providers process at the moment; retry shortly"
                .into()
        } else {
            "no airline is enabled: add a provider file to the providers directory".into()
        }));
    }
    let search = &app.settings.search;
    let timeout = fields
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(search.default_timeout.get())
        .min(search.max_timeout.get());
    let created_at = Timestamp::now();
    let deadline = created_at
        .checked_add(jiff::SignedDuration::try_from(timeout).unwrap_or_default())
        .map_err(|e| ApiError::Internal(Fault::caused_by("deadline out of range", e)))?;
    let request = SearchRequest {
        search_id: Uuid::new_v4(),
        from: fields.from,
        to: fields.to,
        date: fields.date,
        return_date: fields.return_date,
        passengers: fields.passengers,
        cabin: fields.cabin,
        providers: fields.providers,
        created_at,
        deadline,
    };
    let id = request.search_id;
    let span = tracing::info_span!("search", search_id = %id);
    let (from, to, providers) = (
        request.from.clone(),
        request.to.clone(),
        request.providers.clone(),
    );
    let expires_at = app
        .searches
        .submit(&app.bus, request)
        .instrument(span.clone())
        .await
        .map_err(|e| match e {
            SearchError::Full(_) => ApiError::Unavailable(e.to_string()),
            SearchError::Unavailable(_) => {
                span.in_scope(|| tracing::warn!(error = %Chain(&e), "search not published"));
                ApiError::Unavailable(format!("the search could not be submitted because {e}"))
            }
            SearchError::Internal(fault) => ApiError::Internal(fault),
        })?;
    span.in_scope(|| tracing::info!(%from, %to, providers = providers.len(), "search accepted"));
    let payload = Submitted {
        search_id: id,
        status: "processing",
        providers,
        stream_url: format!("/api/flights/search/{id}/stream"),
        deadline,
        expires_at,
    };
    let location = format!("/api/flights/search/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(Envelope::ok("Search request submitted", payload)),
    )
        .into_response())
}

/// The JSON snapshot of a search.
#[utoipa::path(get, path = "/api/flights/search/{search_id}", tag = "search",
    params(("search_id" = String, Path, description = "The id from the 202")),
    responses(
        (status = 200, description = "The search so far", body = Envelope<Snapshot>),
        (status = 404, description = "Unknown or expired search", body = ErrorEnvelope),
        (status = 408, description = "The request took too long", body = ErrorEnvelope),
        (status = 503, description = "The broker is down", body = ErrorEnvelope,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    ))]
pub async fn snapshot(
    State(app): State<AppState>,
    Path(search_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&search_id)?;
    let snap = found(id, app.searches.snapshot(&id).await)?;
    Ok(Json(Envelope::ok("Search found", snap)).into_response())
}

/// Reads a search id from its path segment: a malformed one is 404.
pub fn parse_id(search_id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(search_id).map_err(|_| {
        ApiError::NotFound(format!(
            "search `{}` not found: not a valid search id",
            excerpt(search_id)
        ))
    })
}

/// What a lookup of search `id` found: an unknown or expired search is 404,
/// an unreachable broker 503.
pub fn found<T>(id: Uuid, lookup: Result<Option<T>, SearchError>) -> Result<T, ApiError> {
    match lookup {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(ApiError::NotFound(format!(
            "search `{id}` not found: it is unknown or its results have expired"
        ))),
        Err(SearchError::Internal(fault)) => Err(ApiError::Internal(fault)),
        Err(e) => Err(ApiError::Unavailable(format!(
            "search `{id}` cannot be read now: {e}"
        ))),
    }
}

/// A search request whose every field is valid.
#[derive(Debug)]
struct ValidSearch {
    from: String,
    to: String,
    date: Date,
    return_date: Option<Date>,
    passengers: u8,
    cabin: Cabin,
    providers: Vec<String>,
    timeout_ms: Option<u64>,
}

/// Reads a request body as JSON and checks every field.
fn parse(bytes: &[u8], airlines: &Airlines, today: Date) -> Result<ValidSearch, ApiError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    validate(&value, airlines, today)
}

/// The status a search request body gets from reading and checking alone
/// (`202` when it would be accepted; nothing is published): the entry
/// point the property tests and fuzzers drive with hostile bodies.
#[doc(hidden)]
pub fn parse_status(bytes: &[u8], airlines: &Airlines, today: Date) -> StatusCode {
    match parse(bytes, airlines, today) {
        Ok(_) => StatusCode::ACCEPTED,
        Err(e) => e.status(),
    }
}

/// Checks every field and reports every problem at once.
fn validate(value: &Value, airlines: &Airlines, today: Date) -> Result<ValidSearch, ApiError> {
    let Some(object) = value.as_object() else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "the request body must be a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    for key in object.keys() {
        if !FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                key.clone(),
                format!("unknown field; expected one of {}", FIELDS.join(", ")),
            ));
        }
    }
    let from = airport(object, "from", &mut errors);
    let to = airport(object, "to", &mut errors);
    if let (Some(f), Some(t)) = (&from, &to)
        && f == t
    {
        errors.push(FieldError::new("to", "must differ from `from`"));
    }
    let date = date_field(object, "date", true, today, &mut errors);
    let return_date = date_field(object, "return_date", false, today, &mut errors);
    if let (Some(out), Some(back)) = (date, return_date)
        && back < out
    {
        errors.push(FieldError::new("return_date", "must not be before `date`"));
    }
    let passengers = match present(object, "passengers") {
        None => {
            errors.push(FieldError::new("passengers", "is required"));
            None
        }
        Some(v) => match v.as_u64() {
            Some(n @ 1..=9) => Some(n as u8),
            _ => {
                errors.push(FieldError::new(
                    "passengers",
                    format!("must be a whole number from 1 to 9, got {}", shown(v)),
                ));
                None
            }
        },
    };
    let cabin = match present(object, "cabin") {
        None => Some(Cabin::Economy),
        Some(v) => match v.as_str().and_then(Cabin::parse) {
            Some(c) => Some(c),
            None => {
                errors.push(FieldError::new(
                    "cabin",
                    format!(
                        "must be one of economy, premium_economy, business, first; got {}",
                        shown(v)
                    ),
                ));
                None
            }
        },
    };
    let mut away = Vec::new();
    let providers = providers(object, airlines, &mut errors, &mut away);
    let timeout_ms = match present(object, "timeout_ms") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "timeout_ms",
                    format!(
                        "must be a whole number of milliseconds of 1 or more, got {}",
                        shown(v)
                    ),
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if !away.is_empty() {
        return Err(ApiError::Unavailable(format!(
            "provider {} is not served by any running providers process at the moment; retry shortly",
            quote_list(&away)
        )));
    }
    match (from, to, date, passengers, cabin, providers) {
        (Some(from), Some(to), Some(date), Some(passengers), Some(cabin), Some(providers)) => {
            Ok(ValidSearch {
                from,
                to,
                date,
                return_date,
                passengers,
                cabin,
                providers,
                timeout_ms,
            })
        }
        _ => Err(ApiError::Internal(Fault::new(
            "validation passed with a missing field",
        ))),
    }
}

/// A field's value, treating `null` as absent.
fn present<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    object.get(field).filter(|v| !v.is_null())
}

fn airport(
    object: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let Some(v) = present(object, field) else {
        errors.push(FieldError::new(field, "is required"));
        return None;
    };
    match v.as_str().and_then(|s| normalize_code(s, 3, false)) {
        Some(code) => Some(code),
        None => {
            errors.push(FieldError::new(
                field,
                format!(
                    "must be a three-letter IATA airport code such as CGK, got {}",
                    shown(v)
                ),
            ));
            None
        }
    }
}

fn date_field(
    object: &Map<String, Value>,
    field: &str,
    required: bool,
    today: Date,
    errors: &mut Vec<FieldError>,
) -> Option<Date> {
    let Some(v) = present(object, field) else {
        if required {
            errors.push(FieldError::new(field, "is required"));
        }
        return None;
    };
    let parsed = v
        .as_str()
        .filter(|s| s.len() == 10)
        .and_then(|s| Date::strptime("%Y-%m-%d", s).ok());
    let Some(date) = parsed else {
        errors.push(FieldError::new(
            field,
            format!("must be a date written YYYY-MM-DD, got {}", shown(v)),
        ));
        return None;
    };
    match check_travel_date(date, today) {
        Ok(()) => Some(date),
        Err(message) => {
            errors.push(FieldError::new(field, message));
            None
        }
    }
}

/// Whether a travel date can be searched: from yesterday (somewhere on
/// Earth it is still yesterday, UTC) to [`MAX_DAYS_AHEAD`] days ahead.
pub fn check_travel_date(date: Date, today: Date) -> Result<(), String> {
    let earliest = today.checked_sub(1.day()).unwrap_or(today);
    let latest = today.checked_add(MAX_DAYS_AHEAD.days()).unwrap_or(today);
    if date < earliest {
        return Err(format!("{date} is in the past"));
    }
    if date > latest {
        return Err(format!("{date} is more than {MAX_DAYS_AHEAD} days ahead"));
    }
    Ok(())
}

/// The providers a search targets: the ones named, or every enabled one.
fn providers(
    object: &Map<String, Value>,
    airlines: &Airlines,
    errors: &mut Vec<FieldError>,
    away: &mut Vec<String>,
) -> Option<Vec<String>> {
    let Some(v) = present(object, "providers") else {
        return Some(airlines.enabled().to_vec());
    };
    let Some(list) = v.as_array() else {
        errors.push(FieldError::new(
            "providers",
            format!("must be a list of provider ids, got {}", shown(v)),
        ));
        return None;
    };
    if list.is_empty() {
        errors.push(FieldError::new(
            "providers",
            "must name at least one provider, or be left out for all",
        ));
        return None;
    }
    let mut ids: Vec<String> = Vec::with_capacity(list.len());
    let mut unknown = Vec::new();
    let mut disabled = Vec::new();
    let before = errors.len();
    for item in list {
        let Some(id) = item.as_str() else {
            errors.push(FieldError::new(
                "providers",
                format!("provider ids are strings, got {}", shown(item)),
            ));
            continue;
        };
        match airlines.state(id) {
            AirlineState::Unknown => unknown.push(id.to_string()),
            AirlineState::Disabled => disabled.push(id.to_string()),
            AirlineState::Away => away.push(id.to_string()),
            AirlineState::Targetable if ids.iter().any(|i| i == id) => {
                errors.push(FieldError::new(
                    "providers",
                    format!("`{}` is listed twice", excerpt(id)),
                ));
            }
            AirlineState::Targetable => ids.push(id.to_string()),
        }
    }
    if !unknown.is_empty() {
        let known: Vec<&str> = airlines.enabled().iter().map(String::as_str).collect();
        errors.push(FieldError::new(
            "providers",
            format!(
                "unknown provider {} (available: {})",
                quote_list(&unknown),
                known.join(", ")
            ),
        ));
    }
    if !disabled.is_empty() {
        errors.push(FieldError::new(
            "providers",
            format!("provider {} is disabled", quote_list(&disabled)),
        ));
    }
    (errors.len() == before).then_some(ids)
}

/// Ids the client sent, quoted: the first ten as excerpts, then how many
/// more.
fn quote_list(ids: &[String]) -> String {
    let mut text = ids
        .iter()
        .take(10)
        .map(|i| format!("`{}`", excerpt(i)))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > 10 {
        text.push_str(&format!(" and {} more", ids.len() - 10));
    }
    text
}
