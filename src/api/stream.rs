//! `GET /api/flights/search/{id}/stream`: the search's events as
//! Server-Sent Events. Every client reads the search's event log at its own
//! pace from its own position, so a slow client delays nobody; a late client
//! replays from the start, and `Last-Event-ID` (or `?last_event_id=`)
//! resumes after the given event.
//!
//! Events are encoded here rather than through `axum::response::sse`: every
//! event that is ready when the client's turn comes goes out in one body
//! chunk (one write), which matters at thousands of searches per second.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::search::{found, parse_id};
use crate::search::events::{EventLog, StoredEvent};
use crate::shutdown::Shutdown;

/// Query parameters of the stream.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Resume position for clients that cannot set `Last-Event-ID` (a
    /// browser's first `EventSource` connection).
    last_event_id: Option<String>,
}

/// Streams a search's events.
#[utoipa::path(get, path = "/api/flights/search/{search_id}/stream", tag = "search",
    params(
        ("search_id" = String, Path, description = "The id from the 202"),
        ("last_event_id" = Option<String>, Query, description = "Resume after this event id (a browser's first connection)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id; wins over the query"),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `offers` (an `OffersEvent`), `provider` (a `ProviderEvent`), then `complete` (a `CompleteEvent`), each with an `id:` and one JSON `data:` line; the stream ends after `complete`",
            body = String, content_type = "text/event-stream",
            headers(("Cache-Control" = String), ("X-Accel-Buffering" = String))),
        (status = 204, description = "Resumed after the last event of a finished search: nothing follows"),
        (status = 400, description = "The resume position is not an event id of this stream", body = super::error::ErrorEnvelope),
        (status = 404, description = "Unknown or expired search", body = super::error::ErrorEnvelope),
        (status = 503, description = "The broker is down", body = super::error::ErrorEnvelope,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    ))]
pub async fn stream(
    State(app): State<AppState>,
    Path(search_id): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&search_id)?;
    let after = resume_position(&headers, query.last_event_id.as_deref())?;
    let log = found(id, app.searches.log(&id).await)?;
    let count = log.len();
    if after > count {
        return Err(ApiError::BadRequest(
            ErrorCode::EventIdBeyondEnd,
            format!("event id {after} is beyond the last event ({count}) of this search"),
        ));
    }
    // Resuming after the last event of a finished search: nothing can
    // follow. 204 is what stops an EventSource from reconnecting (WHATWG);
    // an empty 200 would have it retry until the results expire.
    let (rest, finished) = log.events_after(after);
    if finished && rest.is_empty() {
        return Ok(axum::http::StatusCode::NO_CONTENT.into_response());
    }
    let events = EventStream::new(
        log,
        after,
        app.settings.sse.retry.get(),
        app.shutdown.clone(),
    );
    let mut response = Response::new(events.into_body(app.settings.sse.keepalive.get()));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The event id to resume after: the `Last-Event-ID` header wins over the
/// query parameter; neither means from the start. Public (hidden) so the
/// property tests and fuzzers can drive it with hostile values.
#[doc(hidden)]
pub fn resume_position(headers: &HeaderMap, query: Option<&str>) -> Result<u64, ApiError> {
    let (source, raw) = match headers.get("last-event-id") {
        Some(v) => (
            "Last-Event-ID header",
            v.to_str().unwrap_or("\u{fffd}").to_string(),
        ),
        None => match query {
            Some(q) => ("last_event_id parameter", q.to_string()),
            None => return Ok(0),
        },
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(0);
    }
    raw.parse::<u64>().map_err(|_| {
        ApiError::BadRequest(
            ErrorCode::InvalidLastEventId,
            format!(
                "{source} `{}` is not an event id of this stream (event ids are whole numbers)",
                super::error::excerpt(raw)
            ),
        )
    })
}

impl Drop for EventStream {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::SSE_CONNECTIONS).decrement(1.0);
    }
}

/// One client's position in one search's event log.
struct EventStream {
    log: Arc<EventLog>,
    after: u64,
    finished: bool,
    retry: Option<Duration>,
    shutdown: Shutdown,
}

impl EventStream {
    fn new(log: Arc<EventLog>, after: u64, retry: Duration, shutdown: Shutdown) -> Self {
        metrics::gauge!(crate::metrics::SSE_CONNECTIONS).increment(1.0);
        Self {
            log,
            after,
            finished: false,
            retry: Some(retry),
            shutdown,
        }
    }

    fn into_body(self, keepalive: Duration) -> Body {
        Body::from_stream(futures::stream::unfold(self, move |mut st| async move {
            let chunk = st.next_chunk(keepalive).await?;
            Some((Ok::<Bytes, Infallible>(chunk), st))
        }))
    }

    /// Every event ready now, encoded as one chunk; a keepalive comment
    /// after `keepalive` without events; `None` once the log is complete
    /// and sent, or on shutdown.
    async fn next_chunk(&mut self, keepalive: Duration) -> Option<Bytes> {
        let log = self.log.clone();
        loop {
            if self.finished {
                return None;
            }
            // Listen before reading, so no append can fall between.
            let changed = log.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (events, finished) = self.log.events_after(self.after);
            // Once the log is complete, what was just read is the rest of it.
            self.finished = finished;
            if let Some(last) = events.last() {
                self.after = last.id;
                let mut buf =
                    BytesMut::with_capacity(events.iter().map(|e| e.data.len() + 48).sum());
                for event in &events {
                    self.encode(event, &mut buf);
                }
                return Some(buf.freeze());
            }
            if finished {
                return None;
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(keepalive) => return Some(Bytes::from_static(b": keepalive\n\n")),
                _ = self.shutdown.wait() => return None,
            }
        }
    }

    /// One event in the SSE wire format. The `retry:` hint rides on the
    /// first event of the connection.
    fn encode(&mut self, event: &StoredEvent, buf: &mut BytesMut) {
        buf.put_slice(b"id: ");
        buf.put_slice(itoa::Buffer::new().format(event.id).as_bytes());
        buf.put_slice(b"\nevent: ");
        buf.put_slice(event.kind.as_str().as_bytes());
        buf.put_slice(b"\n");
        if let Some(retry) = self.retry.take() {
            buf.put_slice(format!("retry: {}\n", retry.as_millis()).as_bytes());
        }
        // Event data is compact JSON, one line; should a line break ever slip
        // in, each line still gets its own `data:` field. memchr looks for
        // one far faster than a byte-by-byte split (a search's events are
        // about 20 KB).
        let mut rest = &event.data[..];
        loop {
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(at) => (&rest[..at], Some(&rest[at + 1..])),
                None => (rest, None),
            };
            buf.put_slice(b"data: ");
            buf.put_slice(line.strip_suffix(b"\r").unwrap_or(line));
            buf.put_slice(b"\n");
            match next {
                Some(next) => rest = next,
                None => break,
            }
        }
        buf.put_slice(b"\n");
    }
}
