//! Reading a search request: the body's JSON, field by field, every bad
//! field named at once with its code (`docs/api.md`).

use axum::http::StatusCode;
use jiff::ToSpan;
use jiff::civil::Date;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::travellers;
use crate::api::error::{ApiError, ErrorCode, FieldCode, FieldError, excerpt, shown};
use crate::currency::Rates;
use crate::fault::Fault;
use crate::model::{Cabin, Conversion, Travellers, normalize_code};
use crate::providers::{AirlineState, Airlines};

/// Fields a search request may carry.
pub(crate) const FIELDS: [&str; 11] = [
    "from",
    "to",
    "date",
    "passengers",
    "max_stops",
    "return_date",
    "cabin",
    "providers",
    "timeout_ms",
    "currency",
    "cache",
];

/// How far ahead a search may look, in days.
pub(crate) const MAX_DAYS_AHEAD: i32 = 366;

/// The body of a search as the document describes it. [`validate`] reads
/// the JSON field by field instead, to name every bad field at once; the
/// test `search_body_schema_names_every_field` keeps the two in step.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes the request body for the OpenAPI document"
)]
pub(crate) struct SearchBody {
    /// Origin IATA airport code, case-insensitive.
    #[schema(example = "CGK")]
    from: String,
    /// Destination IATA airport code, case-insensitive.
    #[schema(example = "DPS")]
    to: String,
    /// Outbound date, from yesterday to a year ahead.
    #[schema(value_type = String, format = Date)]
    date: Date,
    /// Travellers: a number of adults, or adults, children and infants.
    passengers: PassengersBody,
    /// Offers with more stops are not sent.
    #[schema(minimum = 0, maximum = 2)]
    max_stops: Option<u8>,
    /// Return date for a round trip, not before `date`.
    #[schema(value_type = Option<String>, format = Date)]
    return_date: Option<Date>,
    /// Requested cabin; economy when absent.
    cabin: Option<Cabin>,
    /// A subset of the enabled provider ids; every targetable one when absent.
    providers: Option<Vec<String>>,
    /// How long to wait for airlines, capped by the server's maximum.
    timeout_ms: Option<u64>,
    /// Also show each total in this currency (`price.converted`), and order
    /// by it; one of the currencies of the server's rates file.
    #[schema(example = "USD")]
    currency: Option<String>,
    /// `false` asks every airline live instead of reusing a kept answer
    /// (`docs/api.md`); `true` when absent.
    cache: Option<bool>,
}

/// The two forms of `passengers`, for the document.
#[derive(ToSchema, serde::Serialize)]
#[serde(untagged)]
#[expect(
    dead_code,
    reason = "describes the request body for the OpenAPI document"
)]
pub(crate) enum PassengersBody {
    /// That many adults, 1 to 9 (the document adds the bounds).
    Adults(u8),
    /// Travellers by type: adults and children together at most 9, at
    /// most one infant per adult.
    ByType(Travellers),
}

/// A search request whose every field is valid.
#[derive(Debug)]
pub(crate) struct ValidSearch {
    pub from: String,
    pub to: String,
    pub date: Date,
    pub return_date: Option<Date>,
    pub travellers: Travellers,
    pub max_stops: Option<u8>,
    pub cabin: Cabin,
    pub providers: Vec<String>,
    /// Whether the search named its airlines (else it asks every one that
    /// flies the route).
    pub providers_named: bool,
    pub timeout_ms: Option<u64>,
    pub convert: Option<Conversion>,
    /// Whether kept airline answers may serve it.
    pub cache: bool,
}

/// Reads a request body as JSON and checks every field.
pub(crate) fn parse(
    bytes: &[u8],
    airlines: &Airlines,
    rates: Option<&Rates>,
    today: Date,
) -> Result<ValidSearch, ApiError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    validate(&value, airlines, rates, today)
}

/// The status a search request body gets from reading and checking alone
/// (`202` when it would be accepted; nothing is published): the entry
/// point the property tests and fuzzers drive with hostile bodies.
#[doc(hidden)]
pub fn parse_status(bytes: &[u8], airlines: &Airlines, today: Date) -> StatusCode {
    match parse(bytes, airlines, None, today) {
        Ok(_) => StatusCode::ACCEPTED,
        Err(e) => e.status(),
    }
}

/// Checks every field and reports every problem at once.
fn validate(
    value: &Value,
    airlines: &Airlines,
    rates: Option<&Rates>,
    today: Date,
) -> Result<ValidSearch, ApiError> {
    let Some(object) = value.as_object() else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            FieldCode::NotAnObject,
            "the request body must be a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    for key in object.keys() {
        if !FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                key.clone(),
                FieldCode::UnknownField,
                format!("unknown field; expected one of {}", FIELDS.join(", ")),
            ));
        }
    }
    let from = airport(object, "from", &mut errors);
    let to = airport(object, "to", &mut errors);
    if let (Some(f), Some(t)) = (&from, &to)
        && f == t
    {
        errors.push(FieldError::new(
            "to",
            FieldCode::SameAirport,
            "must differ from `from`",
        ));
    }
    let date = date_field(object, "date", true, today, &mut errors);
    let return_date = date_field(object, "return_date", false, today, &mut errors);
    if let (Some(out), Some(back)) = (date, return_date)
        && back < out
    {
        errors.push(FieldError::new(
            "return_date",
            FieldCode::ReturnBeforeOutbound,
            "must not be before `date`",
        ));
    }
    let passengers = match present(object, "passengers") {
        None => {
            errors.push(FieldError::new(
                "passengers",
                FieldCode::Required,
                "is required",
            ));
            None
        }
        Some(v) => travellers::travellers(v, &mut errors),
    };
    let convert = present(object, "currency").and_then(|v| conversion(v, rates, &mut errors));
    let max_stops =
        present(object, "max_stops").and_then(|v| travellers::max_stops(v, &mut errors));
    let cabin = match present(object, "cabin") {
        None => Some(Cabin::Economy),
        Some(v) => match v.as_str().and_then(Cabin::parse) {
            Some(c) => Some(c),
            None => {
                errors.push(FieldError::new(
                    "cabin",
                    FieldCode::InvalidCabin,
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
    let route = match (&from, &to) {
        (Some(f), Some(t)) if f != t => Some((f.as_str(), t.as_str(), return_date.is_some())),
        _ => None,
    };
    let providers_named = present(object, "providers").is_some();
    let providers = providers(object, airlines, route, &mut errors, &mut away);
    let timeout_ms = match present(object, "timeout_ms") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "timeout_ms",
                    FieldCode::InvalidTimeout,
                    format!(
                        "must be a whole number of milliseconds of 1 or more, got {}",
                        shown(v)
                    ),
                ));
                None
            }
        },
    };
    let cache = match present(object, "cache") {
        None => true,
        Some(v) => v.as_bool().unwrap_or_else(|| {
            errors.push(FieldError::new(
                "cache",
                FieldCode::InvalidCache,
                format!("must be true or false, got {}", shown(v)),
            ));
            true
        }),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if !away.is_empty() {
        return Err(ApiError::Unavailable(
            ErrorCode::ProviderUnavailable,
            format!(
                "provider {} is not served by any running providers process at the moment; retry shortly",
                quote_list(&away)
            ),
        ));
    }
    match (from, to, date, passengers, cabin, providers) {
        (Some(from), Some(to), Some(date), Some(passengers), Some(cabin), Some(providers)) => {
            Ok(ValidSearch {
                from,
                to,
                date,
                return_date,
                travellers: passengers,
                max_stops,
                cabin,
                providers,
                providers_named,
                timeout_ms,
                convert,
                cache,
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
        errors.push(FieldError::new(field, FieldCode::Required, "is required"));
        return None;
    };
    match v.as_str().and_then(|s| normalize_code(s, 3, false)) {
        Some(code) if crate::airports::lookup(&code).is_some() => Some(code),
        Some(code) => {
            errors.push(FieldError::new(
                field,
                FieldCode::UnknownAirport,
                format!("`{code}` is not an airport airstream knows; see /api/airports for the ones airlines serve"),
            ));
            None
        }
        None => {
            errors.push(FieldError::new(
                field,
                FieldCode::InvalidAirport,
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
            errors.push(FieldError::new(field, FieldCode::Required, "is required"));
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
            FieldCode::InvalidDate,
            format!("must be a date written YYYY-MM-DD, got {}", shown(v)),
        ));
        return None;
    };
    match check_travel_date(date, today) {
        Ok(()) => Some(date),
        Err((code, message)) => {
            errors.push(FieldError::new(field, code, message));
            None
        }
    }
}

/// Whether a travel date can be searched: from yesterday (somewhere on
/// Earth it is still yesterday, UTC) to [`MAX_DAYS_AHEAD`] days ahead.
pub fn check_travel_date(date: Date, today: Date) -> Result<(), (FieldCode, String)> {
    let earliest = today.checked_sub(1.day()).unwrap_or(today);
    let latest = today.checked_add(MAX_DAYS_AHEAD.days()).unwrap_or(today);
    if date < earliest {
        return Err((FieldCode::DateInPast, format!("{date} is in the past")));
    }
    if date > latest {
        return Err((
            FieldCode::DateTooFar,
            format!("{date} is more than {MAX_DAYS_AHEAD} days ahead"),
        ));
    }
    Ok(())
}

/// The providers a search targets: the ones named (asked as named), or
/// every enabled one that flies the route (`from`, `to`, round trip).
pub(crate) fn providers(
    object: &Map<String, Value>,
    airlines: &Airlines,
    route: Option<(&str, &str, bool)>,
    errors: &mut Vec<FieldError>,
    away: &mut Vec<String>,
) -> Option<Vec<String>> {
    let Some(v) = present(object, "providers") else {
        let Some((from, to, round_trip)) = route else {
            return Some(airlines.enabled().to_vec());
        };
        let serving = airlines.serving(from, to, round_trip);
        if serving.is_empty() && !airlines.enabled().is_empty() {
            errors.push(FieldError::new(
                "to",
                FieldCode::NoRoute,
                format!(
                    "no airline airstream searches flies from {from} to {to}{}; /api/airports lists the airports each one serves",
                    if round_trip { " or back" } else { "" }
                ),
            ));
            return None;
        }
        return Some(serving);
    };
    let Some(list) = v.as_array() else {
        errors.push(FieldError::new(
            "providers",
            FieldCode::InvalidProviders,
            format!("must be a list of provider ids, got {}", shown(v)),
        ));
        return None;
    };
    if list.is_empty() {
        errors.push(FieldError::new(
            "providers",
            FieldCode::InvalidProviders,
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
                FieldCode::InvalidProviders,
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
                    FieldCode::DuplicateProvider,
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
            FieldCode::UnknownProvider,
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
            FieldCode::DisabledProvider,
            format!("provider {} is disabled", quote_list(&disabled)),
        ));
    }
    (errors.len() == before).then_some(ids)
}

/// Ids the client sent, quoted: the first ten as excerpts, then how many
/// more.
pub(crate) fn quote_list(ids: &[String]) -> String {
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

/// Reads `currency`: a code the rates file has.
fn conversion(
    value: &Value,
    rates: Option<&Rates>,
    errors: &mut Vec<FieldError>,
) -> Option<Conversion> {
    let Some(code) = value.as_str().and_then(|s| normalize_code(s, 3, false)) else {
        errors.push(FieldError::new(
            "currency",
            FieldCode::InvalidCurrency,
            format!(
                "must be a three-letter currency code such as USD, got {}",
                shown(value)
            ),
        ));
        return None;
    };
    let converted = rates.and_then(|r| r.into_currency(&code));
    if converted.is_none() {
        let known = rates.map_or_else(
            || "no exchange rates are set on this server (`currency.rates_file`)".to_string(),
            |r| {
                format!(
                    "the rates have {}",
                    r.currencies().collect::<Vec<_>>().join(", ")
                )
            },
        );
        errors.push(FieldError::new(
            "currency",
            FieldCode::UnknownCurrency,
            format!("`{code}` cannot be shown: {known}"),
        ));
    }
    converted
}
