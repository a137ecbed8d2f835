//! One search as a client makes it: `POST` the request, open the stream it
//! names, read it to the `complete` event; and the preflight that checks
//! the server first. Failures become short messages without the search's
//! URL, so that equal failures count under one message.

use std::borrow::Cow;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use tokio::time::Instant;

use crate::contract::{HEALTH_PATH, SEARCH_PATH, stream_path};
use crate::error::LoadtestError;
use crate::plan::Plan;
use crate::sse::SseParser;
use crate::stats::{Done, Outcome};

/// Longest server message quoted in an error string.
const MAX_QUOTED: usize = 160;
/// Time given to the server to end a stream after its `complete` event, so
/// that the connection goes back to the pool.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Timeout of the preflight `GET /healthz`.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// What every search shares.
pub(crate) struct Ctx {
    client: reqwest::Client,
    /// The base URL as given (no trailing slash), for messages.
    pub(crate) base: String,
    /// The base URL, parsed once.
    base_url: reqwest::Url,
    /// `POST` target, parsed once (a `Url` is cloned, not parsed, per request).
    search_url: reqwest::Url,
    questions: std::sync::Arc<crate::questions::Questions>,
    max_wait: Duration,
    api_key: Option<reqwest::header::HeaderValue>,
}

impl Ctx {
    /// Builds the one HTTP client of a run and checks the server with
    /// `GET /healthz`.
    pub(crate) async fn connect(plan: &Plan, url: &str) -> Result<Self, LoadtestError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("airstream-loadtest/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(plan.concurrency.saturating_mul(2).max(16))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .no_proxy()
            // A search is one POST and one GET: no redirects to follow, and a
            // failure must count as an error, not be retried behind our back.
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .build()
            .map_err(LoadtestError::Client)?;
        preflight(&client, &plan.base).await?;

        let base_url = reqwest::Url::parse(&plan.base).map_err(|e| LoadtestError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let search_url = join_path(&base_url, SEARCH_PATH);
        Ok(Ctx {
            client,
            search_url,
            base_url,
            base: plan.base.clone(),
            questions: plan.questions.clone(),
            max_wait: plan.max_wait,
            api_key: plan.api_key.clone(),
        })
    }
}

impl Ctx {
    /// The server's airline counters now, when it serves `/metrics`.
    pub(crate) async fn counters(&self) -> Option<crate::cost::Counters> {
        let resp = self
            .client
            .get(join_path(&self.base_url, "/metrics"))
            .timeout(PREFLIGHT_TIMEOUT)
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        Some(crate::cost::Counters::parse(&resp.text().await.ok()?))
    }
}

/// `GET {base}/healthz`, expecting a success status.
async fn preflight(client: &reqwest::Client, base: &str) -> Result<(), LoadtestError> {
    let unreachable = |reason: String| LoadtestError::Unreachable {
        url: base.to_owned(),
        reason,
    };
    let resp = client
        .get(format!("{base}{HEALTH_PATH}"))
        .timeout(PREFLIGHT_TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable(error_chain(e)))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.bytes().await.unwrap_or_default();
        return Err(unreachable(format!(
            "HTTP {status}{}",
            server_message(&body)
        )));
    }
    Ok(())
}

/// Runs search number `i` within the client-side time limit.
pub(crate) async fn one_search(ctx: &Ctx, i: u64) -> Outcome {
    let start = Instant::now();
    match tokio::time::timeout(ctx.max_wait, search(ctx, i, start)).await {
        Ok(Ok((done, resp))) => {
            drain(resp).await;
            Outcome::Done(done)
        }
        Ok(Err(message)) => Outcome::Failed(message),
        Err(_) => Outcome::Failed(Cow::Owned(format!(
            "client timeout: no complete event within {} s",
            ctx.max_wait.as_secs()
        ))),
    }
}

/// Reads the rest of a stream (the server ends it after `complete`) so that
/// the connection can be reused; gives up quietly after [`DRAIN_TIMEOUT`].
async fn drain(mut resp: reqwest::Response) {
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Ok(Some(_)) = resp.chunk().await {}
    })
    .await;
}

/// The `data` of the `202` envelope (only what the load test needs).
#[derive(Deserialize)]
struct Accepted<'a> {
    #[serde(borrow)]
    data: Option<AcceptedData<'a>>,
}

#[derive(Deserialize)]
struct AcceptedData<'a> {
    #[serde(borrow, default)]
    stream_url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    search_id: Option<Cow<'a, str>>,
}

/// POST then stream; returns the stream response so that it can be drained
/// outside the time limit.
async fn search(
    ctx: &Ctx,
    i: u64,
    start: Instant,
) -> Result<(Done, reqwest::Response), Cow<'static, str>> {
    let mut request = ctx
        .client
        .post(ctx.search_url.clone())
        .header(CONTENT_TYPE, "application/json");
    if let Some(key) = &ctx.api_key {
        request = request.header("x-api-key", key.clone());
    }
    let resp = request
        .body(ctx.questions.body(i))
        .send()
        .await
        .map_err(|e| Cow::Owned(format!("POST {SEARCH_PATH}: {}", error_chain(e))))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| {
        Cow::Owned(format!(
            "POST {SEARCH_PATH}: reading the body: {}",
            error_chain(e)
        ))
    })?;
    if status != StatusCode::ACCEPTED {
        return Err(Cow::Owned(format!(
            "POST {SEARCH_PATH}: HTTP {status}{}",
            server_message(&body)
        )));
    }
    let stream_url = stream_url(&ctx.base_url, &body)?;

    let mut resp = ctx
        .client
        .get(stream_url)
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|e| Cow::Owned(format!("GET stream: {}", error_chain(e))))?;
    let status = resp.status();
    if status != StatusCode::OK {
        let body = resp.bytes().await.unwrap_or_default();
        return Err(Cow::Owned(format!(
            "GET stream: HTTP {status}{}",
            server_message(&body)
        )));
    }

    let mut parser = SseParser::default();
    let mut first_offer = None;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Err(Cow::Borrowed("stream ended before the complete event")),
            Err(e) => {
                return Err(Cow::Owned(format!(
                    "GET stream: reading: {}",
                    error_chain(e)
                )));
            }
        };
        let fed = parser.feed(&chunk);
        if fed.offers && first_offer.is_none() {
            first_offer = Some(start.elapsed());
        }
        if let Some(complete) = fed.complete {
            let complete_at = start.elapsed();
            let (status, total_offers) = complete?;
            let done = Done {
                status,
                total_offers,
                first_offer,
                complete: complete_at,
            };
            return Ok((done, resp));
        }
    }
}

/// The absolute stream URL from a `202` body: `data.stream_url` (absolute,
/// or a path joined to the base URL), else built from `data.search_id`.
fn stream_url(base: &reqwest::Url, body: &[u8]) -> Result<reqwest::Url, Cow<'static, str>> {
    let accepted: Accepted<'_> = serde_json::from_slice(body)
        .map_err(|e| Cow::Owned(format!("POST {SEARCH_PATH}: unexpected 202 body: {e}")))?;
    let data = accepted
        .data
        .ok_or_else(|| Cow::Owned(format!("POST {SEARCH_PATH}: 202 body has no data")))?;
    match (data.stream_url, data.search_id) {
        (Some(url), _) if url.starts_with("http://") || url.starts_with("https://") => {
            reqwest::Url::parse(&url)
                .map_err(|e| Cow::Owned(format!("POST {SEARCH_PATH}: bad data.stream_url: {e}")))
        }
        (Some(path), _) => Ok(join_path(base, &path)),
        (None, Some(id)) => Ok(join_path(base, &stream_path(&id))),
        (None, None) => Err(Cow::Owned(format!(
            "POST {SEARCH_PATH}: 202 body has no data.stream_url"
        ))),
    }
}

/// `base` with `path` (and its query, if any) appended to its path, without
/// parsing the whole URL again.
fn join_path(base: &reqwest::Url, path: &str) -> reqwest::Url {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    let slash = if path.starts_with('/') { "" } else { "/" };
    if prefix.is_empty() && slash.is_empty() {
        url.set_path(path);
    } else {
        url.set_path(&format!("{prefix}{slash}{path}"));
    }
    url.set_query(query);
    url
}

/// `": <message>"` from an error body: the envelope's `message` when it is
/// JSON, else the start of the body; empty for an empty body.
fn server_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        message: Option<Cow<'a, str>>,
    }
    let text = match serde_json::from_slice::<Envelope<'_>>(body) {
        Ok(Envelope { message: Some(m) }) => m.into_owned(),
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    if text.is_empty() {
        return String::new();
    }
    let mut quoted: String = text.chars().take(MAX_QUOTED).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    format!(": {quoted}")
}

/// A reqwest error with its causes, without the URL (which names the search
/// and would make every message distinct).
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_url_resolution() {
        let base = reqwest::Url::parse("http://h:1").expect("url");
        let base = &base;
        let body = br#"{"success":true,"data":{"search_id":"abc","stream_url":"/api/flights/search/abc/stream"}}"#;
        assert_eq!(
            stream_url(base, body).expect("url").as_str(),
            "http://h:1/api/flights/search/abc/stream"
        );
        let body = br#"{"data":{"search_id":"abc"}}"#;
        assert_eq!(
            stream_url(base, body).expect("url").as_str(),
            "http://h:1/api/flights/search/abc/stream"
        );
        let body = br#"{"data":{"stream_url":"http://other/s"}}"#;
        assert_eq!(
            stream_url(base, body).expect("url").as_str(),
            "http://other/s"
        );
        let body = br#"{"data":{"stream_url":"x/stream?last_event_id=2"}}"#;
        assert_eq!(
            stream_url(base, body).expect("url").as_str(),
            "http://h:1/x/stream?last_event_id=2"
        );
        let prefixed = reqwest::Url::parse("http://h:1/air/").expect("url");
        assert_eq!(
            join_path(&prefixed, "/api/s").as_str(),
            "http://h:1/air/api/s"
        );
        assert!(stream_url(base, b"{}").is_err());
        assert!(stream_url(base, b"<html>").is_err());
    }

    #[test]
    fn server_messages_are_quoted_briefly() {
        assert_eq!(
            server_message(br#"{"success":false,"message":"broker down"}"#),
            ": broker down"
        );
        assert_eq!(server_message(b""), "");
        assert_eq!(server_message(b" plain text \n"), ": plain text");
        let long = "x".repeat(1000);
        assert_eq!(
            server_message(long.as_bytes()).chars().count(),
            2 + MAX_QUOTED + 1
        );
    }
}
