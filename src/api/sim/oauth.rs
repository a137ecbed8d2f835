//! The simulated API's OAuth2 token endpoint (RFC 6749 section 4.4, client
//! credentials): `POST /sim/oauth/token` with a form body, the client's id
//! and secret in HTTP Basic or in the form (not both), answered with a
//! Bearer token that lasts `sim.token_lifetime`. Errors take RFC 6749's
//! shape (`{"error": "invalid_client"}`). The `v2` availability route
//! accepts only its unexpired tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;
use tokio::time::Instant;
use utoipa::ToSchema;

use super::Refusal;
use crate::api::AppState;

/// Most tokens kept at once; expired ones are dropped to make room.
const MAX_TOKENS: usize = 10_000;

/// The tokens issued and when each expires.
#[derive(Debug, Default)]
pub struct Tokens {
    live: Mutex<HashMap<String, Instant>>,
    /// Tokens issued since start.
    issued: AtomicU64,
}

impl Tokens {
    /// A new token lasting `lifetime`, or `None` when the table is full of
    /// unexpired ones.
    fn issue(&self, lifetime: std::time::Duration) -> Option<String> {
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.len() >= MAX_TOKENS {
            live.retain(|_, expires| *expires > now);
            if live.len() >= MAX_TOKENS {
                return None;
            }
        }
        let token = format!(
            "sim-{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        live.insert(token.clone(), now + lifetime);
        self.issued.fetch_add(1, Ordering::Relaxed);
        Some(token)
    }

    /// Tokens issued since start.
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// Whether the request carries an unexpired token of ours.
    pub(super) fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let unauthorized = |why: &str| Refusal::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", why);
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("an `Authorization: Bearer` access token is required"))?;
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        match live.get(token.trim()) {
            Some(expires) if *expires > Instant::now() => Ok(()),
            Some(_) => Err(unauthorized("the access token has expired")),
            None => Err(unauthorized("the access token is not valid")),
        }
    }
}

/// A token request (RFC 6749 section 4.4.2), form-encoded.
#[derive(Debug, Default, ToSchema)]
pub(in crate::api) struct TokenRequest {
    /// `client_credentials`.
    grant_type: Option<String>,
    /// The scope asked for, given back as it is.
    scope: Option<String>,
    /// The client's id, unless sent in HTTP Basic.
    client_id: Option<String>,
    /// The client's secret, unless sent in HTTP Basic.
    client_secret: Option<String>,
}

impl TokenRequest {
    /// Reads a form body; unknown fields are ignored, as RFC 6749 asks.
    fn from_form(body: &[u8]) -> TokenRequest {
        let mut request = TokenRequest::default();
        for (key, value) in form_urlencoded::parse(body) {
            let slot = match key.as_ref() {
                "grant_type" => &mut request.grant_type,
                "scope" => &mut request.scope,
                "client_id" => &mut request.client_id,
                "client_secret" => &mut request.client_secret,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        request
    }
}

/// A token, as RFC 6749 section 5.1 answers it.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::api) struct TokenGrant {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds it lasts.
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// An error as RFC 6749 section 5.2 answers it.
#[derive(Debug, Serialize, ToSchema)]
pub(in crate::api) struct TokenError {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type` or
    /// `temporarily_unavailable`.
    error: &'static str,
    error_description: String,
}

fn refuse(status: StatusCode, error: &'static str, description: &str) -> Response {
    let body = TokenError {
        error,
        error_description: description.to_string(),
    };
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sim\""),
        );
    }
    response
}

/// `POST /sim/oauth/token`.
#[utoipa::path(post, path = "/sim/oauth/token", tag = "sim",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded",
        description = "`grant_type=client_credentials`, optional `scope`, and `client_id` and `client_secret` unless sent in HTTP Basic"),
    responses(
        (status = 200, description = "An access token", body = TokenGrant),
        (status = 400, description = "Not a client credentials request", body = TokenError),
        (status = 401, description = "Unknown client or wrong secret", body = TokenError),
        (status = 408, description = "The request took too long", body = crate::api::error::ErrorEnvelope),
        (status = 413, description = "The body is too large", body = crate::api::error::ErrorEnvelope),
        (status = 503, description = "Too many live tokens", body = TokenError),
    ))]
pub async fn token(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = TokenRequest::from_form(&body);
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only the client_credentials grant is supported",
            );
        }
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            );
        }
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .and_then(|d| {
                    d.split_once(':')
                        .map(|(i, s)| (i.to_string(), s.to_string()))
                })
        });
    let in_form = match (&form.client_id, &form.client_secret) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let (id, secret) = match (basic, in_form) {
        (Some(_), Some(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client credentials were sent both in HTTP Basic and in the form; send them once",
            );
        }
        (Some(Some(pair)), None) | (None, Some(pair)) => pair,
        (Some(None), None) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "the HTTP Basic credentials cannot be read",
            );
        }
        (None, None) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "no client credentials (HTTP Basic, or client_id and client_secret in the form)",
            );
        }
    };
    let sim = &app.settings.sim;
    if id != sim.client_id || secret != sim.client_secret {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    let lifetime = sim.token_lifetime.get();
    let Some(access_token) = app.sim.tokens.issue(lifetime) else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "too many live tokens; retry shortly",
        );
    };
    let grant = TokenGrant {
        access_token,
        token_type: "Bearer",
        expires_in: lifetime.as_secs().max(1),
        scope: form.scope,
    };
    let mut response = Json(grant).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
