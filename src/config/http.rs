//! The HTTP server's settings: limits, timeouts and CORS.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

/// HTTP server limits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Time limit for every request except SSE streams.
    pub request_timeout: HumanDuration,
    /// Origins allowed by CORS, such as `https://travel.example`; `["*"]`
    /// allows any. Empty (the default): no CORS, so only pages served from
    /// airstream's own origin (its search page) may call it from a browser.
    pub cors_origins: Vec<String>,
    /// Time for a request's header to arrive; also how long a kept-alive
    /// connection may wait before its next request.
    pub header_read_timeout: HumanDuration,
    /// A connection that moves no byte either way for this long is closed
    /// (longer than `sse.keepalive`, which keeps a waiting stream busy).
    pub idle_timeout: HumanDuration,
    /// Client connections open at once, at most; beyond it a new one gets
    /// a `503` and is closed. 0: the descriptor limit less a reserve.
    pub max_connections: usize,
    /// Bytes the kernel queues for a client at most (the socket's send
    /// buffer); a client that then reads nothing for `idle_timeout` is
    /// closed, and an SSE client resumes with Last-Event-ID.
    pub max_unsent_bytes: usize,
    /// Streams (requests, such as SSE streams) one HTTP/2 connection may
    /// have open at once; a browser keeps every search of a page on one
    /// connection. hyper's own default is 200.
    pub max_concurrent_streams: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit: 16 * 1024,
            request_timeout: Duration::from_secs(10).into(),
            cors_origins: Vec::new(),
            header_read_timeout: Duration::from_secs(10).into(),
            idle_timeout: Duration::from_secs(60).into(),
            max_connections: 0,
            max_unsent_bytes: 256 * 1024,
            max_concurrent_streams: 1_000,
        }
    }
}

/// Whether `origin` is `*` or a browser origin: `http(s)://host[:port]`,
/// with no path, query or trailing slash.
pub(super) fn valid_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        && reqwest::Url::parse(origin).is_ok_and(|u| u.path() == "/" && !origin.ends_with('/'))
}
