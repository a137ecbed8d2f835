//! `GET /api/flights/search/{id}/stream`: the search's events as
//! Server-Sent Events. Every client reads the search's event log at its own
//! pace from its own position, so a slow client delays nobody; a late client
//! replays from the start, and `Last-Event-ID` (or `?last_event_id=`)
//! resumes after the given event.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::watch;

use super::AppState;
use super::error::ApiError;
use super::search::find;
use crate::search::store::{SearchCell, StoredEvent};
use crate::shutdown::Shutdown;

/// Query parameters of the stream.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Resume position for clients that cannot set `Last-Event-ID` (a
    /// browser's first `EventSource` connection).
    last_event_id: Option<String>,
}

/// Streams a search's events.
pub async fn stream(
    State(app): State<AppState>,
    Path(search_id): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cell = find(&app, &search_id)?;
    let after = resume_position(&headers, query.last_event_id.as_deref())?;
    let events = EventStream::new(
        cell,
        after,
        app.settings.sse.retry.get(),
        app.shutdown.clone(),
    );
    let sse = Sse::new(events.into_stream()).keep_alive(
        KeepAlive::new()
            .interval(app.settings.sse.keepalive.get())
            .text("keepalive"),
    );
    let mut response = sse.into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The event id to resume after: the `Last-Event-ID` header wins over the
/// query parameter; neither means from the start.
fn resume_position(headers: &HeaderMap, query: Option<&str>) -> Result<u64, ApiError> {
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
        ApiError::BadRequest(format!(
            "{source} `{raw}` is not an event id of this stream (event ids are whole numbers)"
        ))
    })
}

/// One client's position in one search's event log.
struct EventStream {
    cell: Arc<SearchCell>,
    changed: watch::Receiver<u64>,
    after: u64,
    buffer: VecDeque<StoredEvent>,
    finished: bool,
    retry: Option<Duration>,
    shutdown: Shutdown,
}

impl EventStream {
    fn new(cell: Arc<SearchCell>, after: u64, retry: Duration, shutdown: Shutdown) -> Self {
        // Subscribe before the first read, so no append can fall between.
        let changed = cell.subscribe();
        Self {
            cell,
            changed,
            after,
            buffer: VecDeque::new(),
            finished: false,
            retry: Some(retry),
            shutdown,
        }
    }

    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
        futures::stream::unfold(self, |mut st| async move {
            let event = st.next().await?;
            Some((Ok(event), st))
        })
    }

    /// The next SSE event, or `None` when the log is complete and sent, or
    /// on shutdown.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(stored) = self.buffer.pop_front() {
                let mut event = Event::default()
                    .id(stored.id.to_string())
                    .event(stored.kind.as_str())
                    .data(&*stored.data);
                if let Some(retry) = self.retry.take() {
                    event = event.retry(retry);
                }
                return Some(event);
            }
            if self.finished {
                return None;
            }
            let (events, finished) = self.cell.events_after(self.after);
            if let Some(last) = events.last() {
                self.after = last.id;
            }
            self.buffer.extend(events);
            // Once the log is complete, what was just read is the rest of it.
            self.finished = finished;
            if !self.buffer.is_empty() || finished {
                continue;
            }
            tokio::select! {
                changed = self.changed.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = self.shutdown.wait() => return None,
            }
        }
    }
}
