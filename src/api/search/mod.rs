//! `POST /api/flights/search` and `GET /api/flights/search/{id}`.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use tracing::Instrument;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, Envelope, ErrorCode, ErrorEnvelope, excerpt};
use crate::fault::{Chain, Fault};
use crate::model::SearchRequest;
use crate::search::SearchError;
use crate::search::events::Snapshot;

/// The 202 payload.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Submitted {
    search_id: Uuid,
    /// Always `processing`.
    status: &'static str,
    providers: Vec<String>,
    stream_url: String,
    #[serde(serialize_with = "crate::model::scalar::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    deadline: Timestamp,
    #[serde(serialize_with = "crate::model::scalar::timestamp")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

mod request;
mod travellers;

#[cfg(test)]
pub(crate) use request::FIELDS;
pub(crate) use request::SearchBody;
use request::parse;
pub use request::{check_travel_date, parse_status};

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
        (status = 401, description = "API keys are on, and the key is missing or not accepted", body = ErrorEnvelope,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"airstream\"`"))),
        (status = 403, description = "The API key may not search a named airline", body = ErrorEnvelope),
        (status = 429, description = "Over the client's rate limit, or as many of its searches running as it may", body = ErrorEnvelope,
            headers(
                ("Retry-After" = u32, description = "Seconds until the next search is allowed"),
                ("RateLimit-Policy" = String, description = "`\"searches\";q=<burst>;w=<seconds>`"),
                ("RateLimit" = String, description = "`\"searches\";r=0;t=<seconds>`"))),
        (status = 404, description = "A `providers` process serves no searches", body = ErrorEnvelope),
        (status = 408, description = "The request took too long", body = ErrorEnvelope),
        (status = 413, description = "The body is too large", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields, each listed", body = ErrorEnvelope),
        (status = 503, description = "No airline can be searched, or the broker is down", body = ErrorEnvelope,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    ))]
pub async fn submit(
    state: State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let result = accept(state, &parts.headers, peer, body).await;
    if let Err(e) = &result {
        // One of `metrics::REFUSAL_REASONS`.
        let reason = match e {
            ApiError::Unavailable(..) => "unavailable",
            ApiError::Internal(_) => "error",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(..) => "forbidden",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::TooManySearches(_) => "too_many_searches",
            _ => "invalid",
        };
        metrics::counter!(crate::metrics::SEARCHES_REFUSED, "reason" => reason).increment(1);
    }
    result
}

/// The key a request presents, when API keys are on: `None` when they are
/// off, `401` when the key is missing or not accepted.
fn key_of(app: &AppState, headers: &HeaderMap) -> Result<Option<crate::access::Key>, ApiError> {
    let Some(keys) = &app.keys else {
        return Ok(None);
    };
    let presented = crate::access::presented(headers).ok_or_else(|| {
        ApiError::Unauthorized(
            "an API key is required: send it as `Authorization: Bearer <key>` or `X-Api-Key`"
                .into(),
        )
    })?;
    keys.check(presented)
        .map(Some)
        .ok_or_else(|| ApiError::Unauthorized("the API key is not accepted".into()))
}

/// The airlines a key may search, out of those a search targets: a named
/// airline it may not search is refused; otherwise the others are left out.
fn allowed_for(
    key: Option<&crate::access::Key>,
    fields: &mut request::ValidSearch,
) -> Result<(), ApiError> {
    let Some(allowed) = key.and_then(|k| k.airlines.as_ref()) else {
        return Ok(());
    };
    let refused: Vec<&String> = fields
        .providers
        .iter()
        .filter(|p| !allowed.contains(*p))
        .collect();
    if fields.providers_named && !refused.is_empty() {
        let names: Vec<String> = refused.iter().map(|p| crate::text::excerpt(p)).collect();
        return Err(ApiError::Forbidden(
            ErrorCode::AirlineNotAllowed,
            format!("this API key may not search {}", names.join(", ")),
        ));
    }
    fields.providers.retain(|p| allowed.contains(p));
    if fields.providers.is_empty() {
        return Err(ApiError::Forbidden(
            ErrorCode::AirlineNotAllowed,
            "this API key may search no airline that flies this route".into(),
        ));
    }
    Ok(())
}

/// Who a client is for its rate limit: its key, else its address (the
/// peer's, or the one `access.forwarded_for_hops` proxies saw).
fn client_of(
    app: &AppState,
    key: Option<&crate::access::Key>,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
) -> String {
    if let Some(key) = key {
        return format!("key {}", key.id);
    }
    let hops = app.settings.access.forwarded_for_hops as usize;
    let forwarded = (hops > 0)
        .then(|| {
            let list: Vec<&str> = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect();
            list.len().checked_sub(hops).map(|at| list[at].to_string())
        })
        .flatten()
        .and_then(|a| a.parse::<std::net::IpAddr>().ok());
    match forwarded.or(peer) {
        Some(ip) => format!("address {ip}"),
        None => "address unknown".to_string(),
    }
}

/// Counts a search against its client's rate, when one is set.
async fn limit(
    app: &AppState,
    key: Option<&crate::access::Key>,
    client: &str,
) -> Result<(), ApiError> {
    let access = &app.settings.access;
    let (key_rate, key_burst) = key.map_or((None, None), |k| k.rate);
    let Some(per_second) = key_rate.or(access.rate) else {
        return Ok(());
    };
    let rate = crate::access::rate::Rate {
        per_second,
        burst: key_burst.unwrap_or(access.burst),
    };
    match app.limiter.check(client, rate).await {
        crate::access::rate::Decision::Allowed { .. } => Ok(()),
        crate::access::rate::Decision::Limited { retry_after } => {
            Err(ApiError::RateLimited { rate, retry_after })
        }
    }
}

async fn accept(
    State(app): State<AppState>,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    body: Body,
) -> Result<Response, ApiError> {
    let key = key_of(&app, headers)?;
    let client = client_of(&app, key.as_ref(), headers, peer);
    limit(&app, key.as_ref(), &client).await?;
    let admission = crate::search::Admission {
        max_in_flight: key
            .as_ref()
            .and_then(|k| k.max_in_flight)
            .unwrap_or(app.settings.access.max_in_flight),
        client,
    };
    let limit = app.settings.http.body_limit;
    let bytes: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(limit))?;
    let airlines = app.airlines();
    let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
    let mut fields = parse(&bytes, &airlines, app.rates.as_deref(), today)?;
    if fields.providers.is_empty() {
        return Err(ApiError::Unavailable(
            ErrorCode::NoAirlineAvailable,
            if airlines.any_away() {
                "no airline is served by a running providers process at the moment; retry shortly"
                    .into()
            } else {
                "no airline is enabled: add a provider file to the providers directory".into()
            },
        ));
    }
    allowed_for(key.as_ref(), &mut fields)?;
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
        // From the thread's CSPRNG (ChaCha, seeded by the OS), not a
        // getrandom system call per search.
        search_id: uuid::Builder::from_random_bytes(rand::random()).into_uuid(),
        from: fields.from,
        to: fields.to,
        date: fields.date,
        return_date: fields.return_date,
        passengers: fields.travellers.total(),
        travellers: Some(fields.travellers),
        max_stops: fields.max_stops,
        convert: fields.convert,
        cabin: fields.cabin,
        cache: fields.cache,
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
        .submit(&app.bus, request, admission)
        .instrument(span.clone())
        .await
        .map_err(|e| match e {
            SearchError::Full(_) => ApiError::Unavailable(ErrorCode::OverCapacity, e.to_string()),
            SearchError::Busy(_) => ApiError::TooManySearches(e.to_string()),
            SearchError::Unavailable(_) => {
                span.in_scope(|| tracing::warn!(error = %Chain(&e), "search not published"));
                ApiError::Unavailable(
                    ErrorCode::BrokerUnavailable,
                    format!("the search could not be submitted because {e}"),
                )
            }
            SearchError::Internal(fault) => ApiError::Internal(fault),
        })?;
    let key = key.map(|k| k.id);
    if let (Some(id), Some(keys)) = (&key, &app.keys)
        && keys.len() <= crate::metrics::MAX_KEY_SERIES
    {
        metrics::counter!(crate::metrics::SEARCHES_BY_KEY, "key" => id.clone()).increment(1);
    }
    span.in_scope(|| tracing::info!(%from, %to, providers = providers.len(), key = key.as_deref(), "search accepted"));
    // Joined rather than through `format!`, which costs several times more.
    let location = [
        "/api/flights/search/",
        id.hyphenated().encode_lower(&mut Uuid::encode_buffer()),
    ]
    .concat();
    let payload = Submitted {
        search_id: id,
        status: "processing",
        providers,
        stream_url: [location.as_str(), "/stream"].concat(),
        deadline,
        expires_at,
    };
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        json(&Envelope::ok("Search request submitted", payload)),
    )
        .into_response())
}

/// `Json(value)`'s response, with the body written by `model::json`: the
/// same bytes, without serde_json escaping each field name byte by byte.
fn json<T: Serialize>(value: &T) -> Response {
    match crate::model::json::to_vec(value) {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        // What serde_json cannot encode either: axum's error answer.
        Err(_) => Json(value).into_response(),
    }
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
        ApiError::NotFound(
            ErrorCode::SearchNotFound,
            format!(
                "search `{}` not found: not a valid search id",
                excerpt(search_id)
            ),
        )
    })
}

/// What a lookup of search `id` found: an unknown or expired search is 404,
/// an unreachable broker 503.
pub fn found<T>(id: Uuid, lookup: Result<Option<T>, SearchError>) -> Result<T, ApiError> {
    match lookup {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(ApiError::NotFound(
            ErrorCode::SearchNotFound,
            format!("search `{id}` not found: it is unknown or its results have expired"),
        )),
        Err(SearchError::Internal(fault)) => Err(ApiError::Internal(fault)),
        Err(e) => Err(ApiError::Unavailable(
            ErrorCode::BrokerUnavailable,
            format!("search `{id}` cannot be read now: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parts(response: Response) -> (StatusCode, HeaderMap, Bytes) {
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, body)
    }

    #[tokio::test]
    async fn the_202_body_is_what_axums_json_makes() {
        let submitted = || Submitted {
            search_id: Uuid::from_u128(7),
            status: "processing",
            providers: vec!["garuda".into(), "lion \"air\"".into()],
            stream_url: "/api/flights/search/x/stream".into(),
            deadline: "2026-12-07T05:30:00.5Z".parse().unwrap(),
            expires_at: "2026-12-07T05:40:00Z".parse().unwrap(),
        };
        let ours = parts(json(&Envelope::ok("Search request submitted", submitted()))).await;
        let axums =
            parts(Json(Envelope::ok("Search request submitted", submitted())).into_response())
                .await;
        assert_eq!(ours, axums);
        assert_eq!(ours.1[header::CONTENT_TYPE], "application/json");
    }
}
