//! The API's one error type. Each variant becomes the JSON envelope with the
//! right status and a stable machine-readable `code`; client errors say what
//! is wrong, internal errors are logged with their cause and shown to the
//! client only as an opaque message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::fault::{Chain, Fault};

/// What went wrong with a whole request, stable across releases so a client
/// can react without reading the English message (`docs/api.md`).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON.
    MalformedJson,
    /// A query parameter, header or path is malformed.
    BadRequest,
    /// `Last-Event-ID` (or `last_event_id`) is not a whole number.
    InvalidLastEventId,
    /// The resume position is beyond the search's last event.
    EventIdBeyondEnd,
    /// The search is unknown, malformed or expired.
    SearchNotFound,
    /// No route has this path.
    RouteNotFound,
    /// The route is not served by this process's role.
    WrongRole,
    /// The route does not take this method.
    MethodNotAllowed,
    /// The request took longer than the server's limit.
    RequestTimeout,
    /// The body is larger than the limit.
    PayloadTooLarge,
    /// One or more fields are wrong; each is listed in `errors`.
    ValidationFailed,
    /// A bug or an unexpected failure, logged on the server.
    Internal,
    /// The stream broker cannot be reached; retry after `Retry-After`.
    BrokerUnavailable,
    /// The server holds as many searches as it may; retry later.
    OverCapacity,
    /// No airline can be searched: none is enabled, or none is served now.
    NoAirlineAvailable,
    /// A requested airline is not served by a running process right now.
    ProviderUnavailable,
    /// This process does not record metrics.
    MetricsNotRecorded,
    /// `/readyz`: the process is not ready; `data.problems` says why.
    NotReady,
    /// API keys are on, and the request has no key or a key the server does
    /// not accept.
    Unauthorized,
    /// The API key may not search an airline the search names.
    AirlineNotAllowed,
    /// Over the client's rate limit; retry after `Retry-After`.
    RateLimited,
    /// The client already has as many searches running as it may.
    TooManySearches,
}

/// What is wrong with one field of a `422`, stable across releases.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldCode {
    /// The body is JSON but not an object.
    NotAnObject,
    /// The field is not one a search takes.
    UnknownField,
    /// A required field is missing or `null`.
    Required,
    /// Not a three-letter IATA airport code.
    InvalidAirport,
    /// Three letters, but no airport has that IATA code.
    UnknownAirport,
    /// `to` is the same airport as `from`.
    SameAirport,
    /// No airline flies between `from` and `to`.
    NoRoute,
    /// Not a date written `YYYY-MM-DD`.
    InvalidDate,
    /// The date is before yesterday (UTC).
    DateInPast,
    /// The date is more than a year ahead.
    DateTooFar,
    /// `return_date` is before `date`.
    ReturnBeforeOutbound,
    /// A traveller count is not a whole number in its range.
    InvalidPassengers,
    /// More travellers than a search may hold: adults and children
    /// together at most 9.
    TooManyTravellers,
    /// More infants than adults (each infant sits on an adult's lap).
    TooManyInfants,
    /// `max_stops` is not 0, 1 or 2.
    InvalidMaxStops,
    /// Not one of the cabins.
    InvalidCabin,
    /// `cache` is not `true` or `false`.
    InvalidCache,
    /// `providers` is not a non-empty list of strings.
    InvalidProviders,
    /// A provider is listed twice.
    DuplicateProvider,
    /// No provider has this id.
    UnknownProvider,
    /// The provider's file disables it.
    DisabledProvider,
    /// `timeout_ms` is not a whole number of 1 or more.
    InvalidTimeout,
    /// `currency` is not a three-letter code.
    InvalidCurrency,
    /// `currency` has no rate in the server's rates file (or none is set).
    UnknownCurrency,
}

/// One bad field of a request.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct FieldError {
    /// The field's name as sent.
    pub field: String,
    /// What is wrong, for programs.
    pub code: FieldCode,
    /// What is wrong with it, for people.
    pub message: String,
}

impl FieldError {
    /// A field error. A field name the client made up (an unknown field) is
    /// shown as an excerpt.
    pub fn new(field: impl Into<String>, code: FieldCode, message: impl Into<String>) -> Self {
        Self {
            field: excerpt(&field.into()),
            code,
            message: message.into(),
        }
    }
}

/// Client input fit to quote in an answer (one rule for the whole crate):
/// a long or hostile value is never echoed whole.
pub use crate::text::excerpt;

/// A JSON value of the client's, as an [`excerpt`] of its JSON text.
pub fn shown(value: &serde_json::Value) -> String {
    excerpt(&value.to_string())
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The request is well-formed but wrong; every bad field listed.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A request parameter or header is wrong.
    #[error("{1}")]
    BadRequest(ErrorCode, String),
    /// The body is larger than the limit.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Unknown or expired resource.
    #[error("{1}")]
    NotFound(ErrorCode, String),
    /// A dependency (the broker, capacity) is unavailable right now.
    #[error("{1}")]
    Unavailable(ErrorCode, String),
    /// No API key, or one the server does not accept.
    #[error("{0}")]
    Unauthorized(String),
    /// The request is understood but this key may not make it.
    #[error("{1}")]
    Forbidden(ErrorCode, String),
    /// Over the client's rate limit.
    #[error("over the rate limit of {} searches per second (bursts of {}); retry in {} s", .rate.per_second, .rate.burst, retry_secs(*.retry_after))]
    RateLimited {
        /// The client's rate.
        rate: crate::access::rate::Rate,
        /// Until the next search is allowed.
        retry_after: std::time::Duration,
    },
    /// The client already has as many searches running as it may.
    #[error("{0}")]
    TooManySearches(String),
    /// A bug or an unexpected failure; the client sees an opaque message,
    /// the log the whole chain of causes.
    #[error("internal error: {0}")]
    Internal(#[source] Fault),
}

/// The envelope of every JSON answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T: Serialize> {
    /// Whether the request succeeded.
    pub success: bool,
    /// Why the request failed, for programs; absent on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    /// A short human message.
    pub message: String,
    /// The payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Field errors of a 422.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// The envelope of every error: no `data`, and the bad fields of a `422`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong, in a short sentence.
    pub message: String,
    /// Every bad field, on a `422`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl ErrorEnvelope {
    /// An error envelope with `code`, `message` and no field errors.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            success: false,
            code,
            message: message.into(),
            errors: None,
        }
    }
}

impl<T: Serialize> Envelope<T> {
    /// A successful envelope.
    pub fn ok(message: impl Into<String>, data: T) -> Self {
        Self {
            success: true,
            message: message.into(),
            code: None,
            data: Some(data),
            errors: None,
        }
    }
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(..) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(..) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } | ApiError::TooManySearches(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::MalformedJson(_) => ErrorCode::MalformedJson,
            ApiError::Validation(_) => ErrorCode::ValidationFailed,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::TooManySearches(_) => ErrorCode::TooManySearches,
            ApiError::BadRequest(code, _)
            | ApiError::NotFound(code, _)
            | ApiError::Forbidden(code, _)
            | ApiError::Unavailable(code, _) => *code,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let limited = match &self {
            ApiError::RateLimited { rate, retry_after } => Some((*rate, *retry_after)),
            _ => None,
        };
        let (message, errors) = match self {
            ApiError::Validation(errors) => ("validation failed".to_string(), Some(errors)),
            ApiError::Internal(fault) => {
                tracing::error!(cause = %Chain(&fault), "internal error");
                ("internal error".to_string(), None)
            }
            other => (other.to_string(), None),
        };
        let body = ErrorEnvelope {
            success: false,
            code,
            message,
            errors,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some((rate, retry_after)) = limited {
            let secs = retry_secs(retry_after);
            for (name, value) in [
                ("retry-after", secs.to_string()),
                (
                    "ratelimit-policy",
                    format!("\"searches\";q={};w={}", rate.burst, rate.window_secs()),
                ),
                ("ratelimit", format!("\"searches\";r=0;t={secs}")),
            ] {
                if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                    response.headers_mut().insert(name, value);
                }
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"airstream\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE || code == ErrorCode::TooManySearches {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

/// Whole seconds to wait, at least 1 (`Retry-After` takes whole seconds).
fn retry_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}
