//! An HTTP client of one running airstream, in this test's process or a
//! separate one: the requests the tests make (search, snapshot, lists,
//! `/metrics`) and the SSE streams they read.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::Value;

use super::wait::{WAIT, eventually};

/// A running airstream as a client sees it: its base URL and a client.
#[derive(Clone, Debug)]
pub struct Api {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The client every request goes through.
    pub client: reqwest::Client,
}

/// One SSE event as a client sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub id: String,
    pub event: String,
    pub data: Value,
    pub retry: Option<Duration>,
}

impl Api {
    /// A client of the server at `base`, through `client` (one with its
    /// own timeouts, say).
    pub fn new(base: impl Into<String>, client: reqwest::Client) -> Api {
        Api {
            base: base.into(),
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs a raw body to the search endpoint.
    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/api/flights/search"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.expect("JSON body");
        coded(status, &body);
        (status, body)
    }

    /// POSTs a search.
    pub async fn post(&self, search: &Value) -> (u16, Value) {
        self.post_raw(search.to_string()).await
    }

    /// POSTs a search and returns the JSON answer, whatever its status.
    pub async fn post_search(&self, search: &Value) -> Value {
        self.post(search).await.1
    }

    /// POSTs a search that must be accepted; returns its id.
    pub async fn submit(&self, search: &Value) -> String {
        let (status, body) = self.post(search).await;
        assert_eq!(status, 202, "{body}");
        body["data"]["search_id"]
            .as_str()
            .expect("search_id")
            .to_string()
    }

    /// GETs a JSON path.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.expect("JSON body");
        coded(status, &body);
        (status, body)
    }

    /// GETs a text path (such as `/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        response.text().await.expect("text body")
    }

    /// Opens a search's SSE stream with extra headers and query.
    pub async fn open_stream(
        &self,
        id: &str,
        query: &str,
        last_event_id: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .get(self.url(&format!("/api/flights/search/{id}/stream{query}")));
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last);
        }
        request.send().await.expect("GET stream")
    }

    /// Reads a search's SSE stream until the server ends it.
    pub async fn stream(
        &self,
        id: &str,
        query: &str,
        last_event_id: Option<&str>,
    ) -> Vec<SseEvent> {
        let response = self.open_stream(id, query, last_event_id).await;
        assert_eq!(response.status().as_u16(), 200);
        read_events(response).await
    }

    /// Reads the SSE stream at `stream_url` (a path, as a `202` answer's
    /// `data.stream_url` gives it) until the server ends it.
    pub async fn read_stream(&self, stream_url: &str) -> Vec<SseEvent> {
        let response = self
            .client
            .get(self.url(stream_url))
            .send()
            .await
            .expect("GET stream");
        read_events(response).await
    }

    /// Polls until `check` holds for the snapshot (or the path 404s, when
    /// `check` accepts that), failing after [`WAIT`].
    pub async fn wait_for(&self, path: &str, check: impl Fn(u16, &Value) -> bool) -> Value {
        eventually(format!("{path} to answer as expected"))
            .until(async || {
                let (status, body) = self.get(path).await;
                if check(status, &body) {
                    Ok(body)
                } else {
                    Err(format!("{status} {body}"))
                }
            })
            .await
    }
}

/// Reads SSE events from a response until it ends.
pub async fn read_events(response: reqwest::Response) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut stream = response.bytes_stream().eventsource();
    let read = async {
        while let Some(event) = stream.next().await {
            let event = event.expect("well-formed SSE");
            events.push(SseEvent {
                data: serde_json::from_str(&event.data).expect("event data is JSON"),
                id: event.id,
                event: event.event,
                retry: event.retry,
            });
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("stream ends in time");
    events
}

/// Every error answer carries a stable `code` (snake case), and so does
/// every bad field of a `422`: checked on every answer the tests read.
pub fn coded(status: u16, body: &Value) {
    let snake = |v: &Value| {
        v.as_str().is_some_and(|c| {
            !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
    };
    if status >= 400 {
        assert!(snake(&body["code"]), "HTTP {status} without a code: {body}");
    }
    if status == 422 {
        let errors = body["errors"].as_array().expect("a 422 lists its errors");
        for error in errors {
            assert!(
                snake(&error["code"]),
                "a field error without a code: {error}"
            );
        }
    }
}
