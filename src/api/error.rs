//! The API's one error type. Each variant becomes the JSON envelope with the
//! right status; client errors say what is wrong, internal errors are logged
//! with their cause and shown to the client only as an opaque message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::fault::{Chain, Fault};

/// One bad field of a request.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct FieldError {
    /// The field's name as sent.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error. A field name the client made up (an unknown field) is
    /// shown as an excerpt.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: excerpt(&field.into()),
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
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the limit.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Unknown or expired resource.
    #[error("{0}")]
    NotFound(String),
    /// A dependency (the broker, capacity) is unavailable right now.
    #[error("{0}")]
    Unavailable(String),
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
    /// What went wrong, in a short sentence.
    pub message: String,
    /// Every bad field, on a `422`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl ErrorEnvelope {
    /// An error envelope with `message` and no field errors.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            success: false,
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
            data: Some(data),
            errors: None,
        }
    }
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
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
            message,
            errors,
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}
