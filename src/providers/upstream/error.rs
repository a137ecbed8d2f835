//! Why an upstream call gave no offers, and how much of an airline's answer
//! the log may keep.
//!
//! Each error's text is the sentence the search's client sees for this
//! airline (shortened where it quotes something), so it already names its
//! cause in the words that are safe to show; the cause itself is kept as
//! the error's source, for the log and for whoever looks closer. A cause
//! from the HTTP client never carries the request's URL (its query may hold
//! a key), and no text carries the airline's answer.

use minijinja::value::ValueKind;

/// Why an upstream call gave no offers, as the runtime tells the client.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The airline failed or answered something unusable.
    #[error(transparent)]
    Error(UpstreamError),
    /// The deadline passed.
    #[error(transparent)]
    Timeout(UpstreamError),
}

impl From<UpstreamError> for Failure {
    /// A timeout when the error is one, else an error.
    fn from(error: UpstreamError) -> Self {
        if error.is_timeout() {
            Failure::Timeout(error)
        } else {
            Failure::Error(error)
        }
    }
}

/// What went wrong with one airline's call.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A template could not be rendered with this search's values.
    #[error("the `{name}` template failed: {source:#}")]
    Template {
        /// The template's name (`url`, `header:<name>`, `body`).
        name: String,
        /// Why.
        source: minijinja::Error,
    },
    /// The URL template made something that is not a URL.
    #[error("the URL template produced `{url}`, which is not a URL: {source}")]
    NotAUrl {
        /// What it made.
        url: String,
        /// Why it is not a URL.
        source: UrlError,
    },
    /// The URL's path has a `.` or `..` segment, which a URL parser would
    /// resolve, moving the request to another path (a search value of
    /// `..` in a path segment would otherwise reach the parent resource).
    #[error(
        "the URL template produced a path with a `.` or `..` segment, which would change the path"
    )]
    DotSegment,
    /// A header template made a value that cannot be sent.
    #[error("the `{name}` header template produced a value that is not a header value")]
    NotAHeaderValue {
        /// The header, as written in the file.
        name: String,
        /// Why it cannot be sent.
        source: reqwest::header::InvalidHeaderValue,
    },
    /// The body template made invalid JSON (refused before sending).
    #[error("the body template produced invalid JSON ({source})")]
    BodyNotJson {
        /// Why it is not JSON.
        source: serde_json::Error,
    },
    /// The body template made XML that is not well-formed (refused before
    /// sending).
    #[error("the body template produced XML that cannot be sent: {source}")]
    BodyNotXml {
        /// Why.
        source: super::xml::XmlError,
    },
    /// No access token could be had from the token endpoint.
    #[error("no access token: {reason}")]
    Token {
        /// Why, without any secret or anything the endpoint said.
        reason: String,
    },
    /// The circuit breaker refused the call.
    #[error(transparent)]
    Breaker(#[from] super::breaker::Refused),
    /// The deadline passed before an attempt could be made.
    #[error("no answer within the deadline after {attempts} attempt(s)")]
    Deadline {
        /// Attempts made before.
        attempts: u32,
    },
    /// An attempt timed out before the airline answered.
    #[error("no answer in time ({attempt} attempt(s))")]
    NoAnswerInTime {
        /// The attempt's number.
        attempt: u32,
        /// The HTTP client's error, without the URL.
        source: reqwest::Error,
    },
    /// The connection could not be made.
    #[error("cannot connect: {}", chain(.source))]
    Connect {
        /// The HTTP client's error, without the URL.
        source: reqwest::Error,
    },
    /// The request failed otherwise.
    #[error("request failed: {}", chain(.source))]
    Request {
        /// The HTTP client's error, without the URL.
        source: reqwest::Error,
    },
    /// The airline answered with an error status (its body is logged, not
    /// kept here).
    #[error("HTTP {status} from the airline")]
    Status {
        /// The status code.
        status: u16,
    },
    /// The answer was larger than what is read.
    #[error("the answer is larger than {} MiB", max_bytes >> 20)]
    TooLarge {
        /// The limit, in bytes.
        max_bytes: usize,
    },
    /// The answer's body stopped coming in time.
    #[error("the answer did not arrive in time: {source}")]
    SlowBody {
        /// The HTTP client's error, without the URL.
        source: reqwest::Error,
    },
    /// The answer's body could not be read.
    #[error("reading the answer failed: {source}")]
    Body {
        /// The HTTP client's error, without the URL.
        source: reqwest::Error,
    },
    /// The last of several attempts failed so.
    #[error("{last} (after {attempts} attempts)")]
    Retried {
        /// Attempts made.
        attempts: u32,
        /// Why the last one failed.
        #[source]
        last: Box<UpstreamError>,
    },
    /// The answer is not JSON.
    #[error("the answer is not JSON ({source})")]
    NotJson {
        /// Why.
        source: serde_json::Error,
    },
    /// The answer is XML that cannot be read.
    #[error("the answer cannot be read as XML: {source}")]
    NotXml {
        /// Why.
        source: super::xml::XmlError,
    },
    /// The answer is a SOAP fault (its text is logged, not kept here).
    #[error("the airline answered with a SOAP fault")]
    SoapFault,
    /// The offers expression failed on the answer.
    #[error("`{expression}` could not be read from the answer: {source}")]
    OffersUnreadable {
        /// The expression, as written.
        expression: String,
        /// Why.
        source: minijinja::Error,
    },
    /// The offers expression found nothing.
    #[error("`{expression}` found nothing in the answer")]
    NoOffers {
        /// The expression, as written.
        expression: String,
    },
    /// The offers expression found something other than a list.
    #[error("`{expression}` is not a list in the answer (found {found})")]
    OffersNotAList {
        /// The expression, as written.
        expression: String,
        /// What it found.
        found: ValueKind,
    },
    /// The provider's latency profile made this call fail.
    #[error("{airline} answered with an error (simulated)")]
    Simulated {
        /// The airline's name.
        airline: String,
    },
}

/// Why a text is not a URL.
pub type UrlError = <reqwest::Url as std::str::FromStr>::Err;

impl UpstreamError {
    /// Whether the airline ran out of time (rather than failed).
    pub fn is_timeout(&self) -> bool {
        match self {
            UpstreamError::Deadline { .. }
            | UpstreamError::NoAnswerInTime { .. }
            | UpstreamError::SlowBody { .. } => true,
            UpstreamError::Retried { last, .. } => last.is_timeout(),
            _ => false,
        }
    }

    /// Whether another attempt may do better: connection errors, timeouts,
    /// 5xx answers and broken answers are retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Status { status } => (500..600).contains(status),
            UpstreamError::NoAnswerInTime { .. }
            | UpstreamError::Connect { .. }
            | UpstreamError::Request { .. }
            | UpstreamError::SlowBody { .. }
            | UpstreamError::Body { .. } => true,
            _ => false,
        }
    }
}

/// An error and its causes, one after the other.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The start of an answer's body (its first 200 bytes), for the log only:
/// passed on, an airline's words could tell a client anything.
pub fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        format!("`{}`", text.replace('\n', " "))
    }
}
