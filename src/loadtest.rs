//! The `airstream loadtest` driver.
//!
//! It drives a running airstream server with a fixed number of searches. One
//! search is the two requests a client makes (SPEC section 3):
//!
//! 1. `POST {url}/api/flights/search` with a JSON body, expecting `202` and the
//!    envelope `{"success": true, "data": {"stream_url": "…", …}}`;
//! 2. `GET {url}{stream_url}` (Server-Sent Events), read until the `complete`
//!    event, whose JSON data carries `status` (`completed` | `partial`) and
//!    `total_offers`.
//!
//! Two latencies are measured from the start of the `POST`: the time to the
//! first `offers` event (a search without offers has no such sample) and the
//! time to the `complete` event. They are recorded in microseconds in
//! [`hdrhistogram`] histograms and reported in milliseconds.
//!
//! # Load models
//!
//! - **Closed loop** (default): `--concurrency` workers each run one search
//!   after another, pulling search numbers from a shared atomic counter until
//!   `--searches` have been started.
//! - **Open loop** (`--rate`): searches start on a fixed schedule, search `i`
//!   at `i / rate` seconds, whatever the server's pace; a late schedule catches
//!   up in a burst. `--concurrency` caps the searches in flight: a search due
//!   while the cap is reached is **not started and counted as an error**
//!   ("dropped"), so the offered rate stays honest and a slow server shows up
//!   as errors rather than as a silently lower rate.
//!
//! Either way the run is bounded: it starts exactly `--searches` searches, and
//! each gives up after `--max-wait-secs`.
//!
//! The client is kept lean so that it can push a server sharing the same
//! machine: one shared [`reqwest::Client`] with a connection pool sized for the
//! concurrency, the request body serialized once, a small hand-written SSE
//! reader that only looks at `event:` names (and the `data:` of `complete`),
//! and statistics in a few mutex-guarded shards merged at the end.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The most searches in flight at once that `--concurrency` accepts.
pub const MAX_CONCURRENCY: usize = 100_000;
/// The longest `--max-wait-secs` accepted (one day).
pub const MAX_WAIT_SECS: u64 = 86_400;
/// The longest an open-loop schedule (`--searches / --rate`) may last (7 days).
const MAX_SCHEDULE_SECS: f64 = 7.0 * 86_400.0;
/// Error samples kept in the report.
const ERROR_SAMPLES: usize = 5;
/// Distinct error messages tracked per statistics shard; later new messages
/// are counted under [`OTHER_ERRORS`].
const MAX_DISTINCT_ERRORS: usize = 64;
/// The message that counts errors beyond [`MAX_DISTINCT_ERRORS`].
const OTHER_ERRORS: &str = "(other error messages, not kept)";
/// Longest server message quoted in an error string.
const MAX_QUOTED: usize = 160;
/// Time given to the server to end a stream after its `complete` event, so
/// that the connection goes back to the pool.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Timeout of the preflight `GET /healthz`.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);
/// Path of the search submission endpoint.
const SEARCH_PATH: &str = "/api/flights/search";
/// Cabin classes the API accepts.
const CABINS: [&str; 4] = ["economy", "premium_economy", "business", "first"];

/// Command-line options of `airstream loadtest`.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadtestArgs {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// Searches to run in all.
    #[arg(long, short = 'n', default_value_t = 1000)]
    pub searches: u64,
    /// Searches in flight at once. Without --rate this is the number of
    /// closed-loop workers; with --rate it caps the searches in flight, and a
    /// search due while the cap is reached is dropped and counted as an error.
    #[arg(long, short = 'c', default_value_t = 50)]
    pub concurrency: usize,
    /// Open-loop arrival rate in searches per second (optional).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Origin airport (IATA code).
    #[arg(long, default_value = "CGK")]
    pub from: String,
    /// Destination airport (IATA code).
    #[arg(long, default_value = "DPS")]
    pub to: String,
    /// Departure date, YYYY-MM-DD (default: today + 14 days).
    #[arg(long)]
    pub date: Option<String>,
    /// Passengers (1..9).
    #[arg(long, default_value_t = 1)]
    pub passengers: u8,
    /// Cabin class: economy, premium_economy, business or first.
    #[arg(long, default_value = "economy")]
    pub cabin: String,
    /// Provider ids to ask, as a comma-separated list (default: all).
    #[arg(long)]
    pub providers: Option<String>,
    /// Search deadline in milliseconds sent to the server (capped by it).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Give up on one search after this many seconds (client-side safety net).
    #[arg(long, default_value_t = 60)]
    pub max_wait_secs: u64,
}

/// The outcome of a load test.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Searches attempted (`--searches`): `completed + partial + errors`.
    pub searches: u64,
    /// Searches whose `complete` event said `completed`.
    pub completed: u64,
    /// Searches whose `complete` event said `partial`.
    pub partial: u64,
    /// Failed searches: a `POST` answered other than `202`, a stream answered
    /// other than `200`, transport errors, a stream that ended without a
    /// `complete` event, a client timeout, or (open loop) a search dropped at
    /// the concurrency cap.
    pub errors: u64,
    /// The most frequent error messages (up to 5), most frequent first.
    pub error_samples: Vec<ErrorSample>,
    /// Wall-clock time of the run, in seconds (the preflight excluded).
    pub elapsed_secs: f64,
    /// Searches that reached `complete` (completed or partial) per second of
    /// wall-clock time.
    pub searches_per_sec: f64,
    /// Sum of `total_offers` over the `complete` events.
    pub offers_total: u64,
    /// From the start of the `POST` to the first `offers` event, over the
    /// searches that had one.
    pub time_to_first_offer: Percentiles,
    /// From the start of the `POST` to the `complete` event.
    pub time_to_complete: Percentiles,
}

/// One distinct error message and how many searches failed with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorSample {
    /// The error message.
    pub message: String,
    /// Searches that failed with this message.
    pub count: u64,
}

/// Latency percentiles in milliseconds (microsecond resolution).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// Percentiles of a histogram of microseconds; all zero when it is empty.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Why a load test could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    /// `--url` is not an absolute http(s) URL.
    #[error("invalid --url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An option has a value the load test cannot use.
    #[error("invalid --{arg}: {reason}")]
    InvalidArgument {
        /// The option's long name, without dashes.
        arg: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The preflight `GET /healthz` failed.
    #[error("server not reachable at {url}: GET {url}/healthz: {reason}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// The transport error or the unexpected status.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The search request could not be serialized.
    #[error("cannot serialize the search request: {0}")]
    Request(#[source] serde_json::Error),
    /// The latency histograms could not be created.
    #[error("cannot create the latency histograms: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// Runs the load test described by `args` and returns its report.
///
/// It validates the options, checks the server with `GET /healthz`, then runs
/// `args.searches` searches (closed loop, or open loop with `--rate`; see the
/// module documentation). Failed searches are counted in the report, not
/// returned as errors.
pub async fn run(args: &LoadtestArgs) -> Result<Report, LoadtestError> {
    let plan = Plan::from_args(args)?;
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
        url: args.url.clone(),
        reason: e.to_string(),
    })?;
    let search_url = join_path(&base_url, SEARCH_PATH);
    let ctx = Arc::new(Ctx {
        client,
        search_url,
        base_url,
        base: plan.base,
        body: plan.body,
        max_wait: plan.max_wait,
    });
    let shards = shard_count(plan.concurrency);
    let stats = Arc::new(ShardedStats::new(shards, plan.max_wait)?);
    tracing::info!(
        url = %ctx.base,
        searches = plan.searches,
        concurrency = plan.concurrency,
        rate = ?plan.rate,
        "load test starting"
    );

    let started = Instant::now();
    match plan.rate {
        None => closed_loop(&ctx, &stats, plan.searches, plan.concurrency).await,
        Some(rate) => open_loop(&ctx, &stats, plan.searches, plan.concurrency, rate).await,
    }
    let elapsed = started.elapsed();

    let stats = stats.merged()?;
    Ok(stats.into_report(plan.searches, elapsed))
}

/// Validated options.
#[derive(Debug)]
struct Plan {
    /// Base URL without a trailing slash.
    base: String,
    searches: u64,
    concurrency: usize,
    rate: Option<f64>,
    max_wait: Duration,
    /// The serialized search request.
    body: Bytes,
}

/// The JSON body of `POST /api/flights/search`.
#[derive(Debug, Serialize)]
struct SearchBody<'a> {
    from: &'a str,
    to: &'a str,
    date: String,
    passengers: u8,
    cabin: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    providers: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
}

fn invalid(arg: &'static str, reason: impl Into<String>) -> LoadtestError {
    LoadtestError::InvalidArgument {
        arg,
        reason: reason.into(),
    }
}

impl Plan {
    fn from_args(args: &LoadtestArgs) -> Result<Self, LoadtestError> {
        let base = validate_url(&args.url)?;
        if args.searches == 0 {
            return Err(invalid("searches", "must be at least 1"));
        }
        if args.concurrency == 0 || args.concurrency > MAX_CONCURRENCY {
            return Err(invalid(
                "concurrency",
                format!(
                    "must be between 1 and {MAX_CONCURRENCY}, got {}",
                    args.concurrency
                ),
            ));
        }
        if let Some(rate) = args.rate {
            if !rate.is_finite() || rate <= 0.0 {
                return Err(invalid(
                    "rate",
                    format!("must be a positive number of searches per second, got {rate}"),
                ));
            }
            let schedule = args.searches as f64 / rate;
            if schedule > MAX_SCHEDULE_SECS {
                return Err(invalid(
                    "rate",
                    format!(
                        "{rate}/s is too low for {} searches (the schedule would last {schedule:.0} s)",
                        args.searches
                    ),
                ));
            }
        }
        if args.max_wait_secs == 0 || args.max_wait_secs > MAX_WAIT_SECS {
            return Err(invalid(
                "max-wait-secs",
                format!(
                    "must be between 1 and {MAX_WAIT_SECS}, got {}",
                    args.max_wait_secs
                ),
            ));
        }
        if !(1..=9).contains(&args.passengers) {
            return Err(invalid(
                "passengers",
                format!("must be between 1 and 9, got {}", args.passengers),
            ));
        }
        let from = args.from.trim();
        let to = args.to.trim();
        for (arg, code) in [("from", from), ("to", to)] {
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(invalid(
                    arg,
                    format!("{code:?} is not a 3-letter IATA code"),
                ));
            }
        }
        let cabin = args.cabin.trim();
        if !CABINS.contains(&cabin) {
            return Err(invalid(
                "cabin",
                format!("{cabin:?} is not one of {}", CABINS.join(", ")),
            ));
        }
        let date = match &args.date {
            Some(d) => d
                .trim()
                .parse::<jiff::civil::Date>()
                .map_err(|e| invalid("date", format!("{d:?} is not a YYYY-MM-DD date: {e}")))?,
            None => jiff::ZonedDateTime::now()
                .date()
                .checked_add(jiff::SignedDuration::from_hours(14 * 24))
                .map_err(|e| invalid("date", format!("cannot compute today + 14 days: {e}")))?,
        };
        let providers = match &args.providers {
            None => None,
            Some(list) => {
                let ids: Vec<&str> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                if ids.is_empty() {
                    return Err(invalid("providers", "the list is empty"));
                }
                Some(ids)
            }
        };
        let body = SearchBody {
            from,
            to,
            date: date.to_string(),
            passengers: args.passengers,
            cabin,
            providers,
            timeout_ms: args.timeout_ms,
        };
        let body = serde_json::to_vec(&body).map_err(LoadtestError::Request)?;
        Ok(Self {
            base,
            searches: args.searches,
            concurrency: args.concurrency,
            rate: args.rate,
            max_wait: Duration::from_secs(args.max_wait_secs),
            body: Bytes::from(body),
        })
    }
}

/// Checks that `url` is an absolute http(s) URL and returns it without a
/// trailing slash.
fn validate_url(url: &str) -> Result<String, LoadtestError> {
    let bad = |reason: String| LoadtestError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "scheme {:?} is not http or https",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".to_owned()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("a base URL has no query or fragment".to_owned()));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// `GET {base}/healthz`, expecting a success status.
async fn preflight(client: &reqwest::Client, base: &str) -> Result<(), LoadtestError> {
    let unreachable = |reason: String| LoadtestError::Unreachable {
        url: base.to_owned(),
        reason,
    };
    let resp = client
        .get(format!("{base}/healthz"))
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

/// What every search shares.
struct Ctx {
    client: reqwest::Client,
    /// The base URL as given (no trailing slash), for messages.
    base: String,
    /// The base URL, parsed once.
    base_url: reqwest::Url,
    /// `POST` target, parsed once (a `Url` is cloned, not parsed, per request).
    search_url: reqwest::Url,
    body: Bytes,
    max_wait: Duration,
}

/// Closed loop: `concurrency` workers pull search numbers from a counter.
async fn closed_loop(ctx: &Arc<Ctx>, stats: &Arc<ShardedStats>, searches: u64, concurrency: usize) {
    let next = Arc::new(AtomicU64::new(0));
    let workers = usize::try_from(searches).map_or(concurrency, |n| n.min(concurrency));
    let mut handles = Vec::with_capacity(workers);
    for worker in 0..workers {
        let ctx = Arc::clone(ctx);
        let stats = Arc::clone(stats);
        let next = Arc::clone(&next);
        handles.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < searches {
                let outcome = one_search(&ctx).await;
                stats.record(worker, outcome);
            }
        }));
    }
    for handle in handles {
        if let Err(e) = handle.await {
            tracing::error!(error = %e, "load test worker failed");
        }
    }
}

/// Open loop: search `i` starts at `i / rate` s; at most `concurrency` in
/// flight, the others are dropped (and counted as errors).
async fn open_loop(
    ctx: &Arc<Ctx>,
    stats: &Arc<ShardedStats>,
    searches: u64,
    concurrency: usize,
    rate: f64,
) {
    // `concurrency <= MAX_CONCURRENCY` fits in u32 (checked in `Plan`).
    let permits = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let semaphore = Arc::new(Semaphore::new(permits as usize));
    let t0 = Instant::now();
    for i in 0..searches {
        // Bounded by MAX_SCHEDULE_SECS (checked in `Plan`).
        let due = Duration::try_from_secs_f64(i as f64 / rate)
            .ok()
            .and_then(|offset| t0.checked_add(offset));
        if let Some(due) = due
            && due > Instant::now()
        {
            tokio::time::sleep_until(due).await;
        }
        let shard = usize::try_from(i).unwrap_or(0);
        match Arc::clone(&semaphore).try_acquire_owned() {
            Ok(permit) => {
                let ctx = Arc::clone(ctx);
                let stats = Arc::clone(stats);
                tokio::spawn(async move {
                    let outcome = one_search(&ctx).await;
                    stats.record(shard, outcome);
                    drop(permit);
                });
            }
            Err(_) => stats.record(
                shard,
                Outcome::Failed(Cow::Owned(format!(
                    "dropped: {concurrency} searches already in flight (--concurrency cap)"
                ))),
            ),
        }
    }
    // Every permit back means every search has ended.
    if let Ok(all) = semaphore.acquire_many(permits).await {
        drop(all);
    }
}

/// The status of a `complete` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FinalStatus {
    Completed,
    Partial,
}

/// A search that reached its `complete` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Done {
    status: FinalStatus,
    total_offers: u64,
    first_offer: Option<Duration>,
    complete: Duration,
}

/// How one search ended.
#[derive(Debug)]
enum Outcome {
    Done(Done),
    Failed(Cow<'static, str>),
}

/// Runs one search within the client-side time limit.
async fn one_search(ctx: &Ctx) -> Outcome {
    let start = Instant::now();
    match tokio::time::timeout(ctx.max_wait, search(ctx, start)).await {
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
async fn search(ctx: &Ctx, start: Instant) -> Result<(Done, reqwest::Response), Cow<'static, str>> {
    let resp = ctx
        .client
        .post(ctx.search_url.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(ctx.body.clone())
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
    let data = accepted.data.ok_or(Cow::Borrowed(
        "POST /api/flights/search: 202 body has no data",
    ))?;
    match (data.stream_url, data.search_id) {
        (Some(url), _) if url.starts_with("http://") || url.starts_with("https://") => {
            reqwest::Url::parse(&url)
                .map_err(|e| Cow::Owned(format!("POST {SEARCH_PATH}: bad data.stream_url: {e}")))
        }
        (Some(path), _) => Ok(join_path(base, &path)),
        (None, Some(id)) => Ok(join_path(base, &format!("{SEARCH_PATH}/{id}/stream"))),
        (None, None) => Err(Cow::Borrowed(
            "POST /api/flights/search: 202 body has no data.stream_url",
        )),
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

/// The kind of an SSE event, from its `event:` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventKind {
    Offers,
    Complete,
    Other,
}

/// A parsed `complete` event (status, total offers), or why it is bad.
type CompleteResult = Result<(FinalStatus, u64), Cow<'static, str>>;

/// What one chunk of a stream held.
#[derive(Debug, Default)]
struct Fed {
    /// At least one `offers` event was dispatched.
    offers: bool,
    /// The `complete` event, parsed: status and total offers. Parsing stops
    /// at it.
    complete: Option<CompleteResult>,
}

/// A minimal Server-Sent Events reader: it tracks the `event:` name of each
/// event and keeps the `data:` lines only when the event may be `complete`.
#[derive(Debug, Default)]
struct SseParser {
    /// An unterminated line carried over to the next chunk.
    carry: Vec<u8>,
    /// The previous chunk ended with `\r`: skip a `\n` that starts the next.
    skip_lf: bool,
    /// The `event:` of the event being read, if any yet.
    kind: Option<EventKind>,
    /// The `data:` lines of the event being read (only kept when needed).
    data: Vec<u8>,
    /// A `data:` line was seen in the event being read.
    has_data: bool,
}

impl SseParser {
    /// Feeds one chunk of the stream.
    fn feed(&mut self, mut chunk: &[u8]) -> Fed {
        let mut fed = Fed::default();
        if self.skip_lf {
            self.skip_lf = false;
            if let [b'\n', rest @ ..] = chunk {
                chunk = rest;
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', chunk) {
            let line_end = &chunk[..pos];
            let mut rest = &chunk[pos + 1..];
            if chunk[pos] == b'\r' {
                match rest {
                    [b'\n', tail @ ..] => rest = tail,
                    [] => self.skip_lf = true,
                    _ => {}
                }
            }
            let dispatched = if self.carry.is_empty() {
                self.line(line_end)
            } else {
                let mut line = std::mem::take(&mut self.carry);
                line.extend_from_slice(line_end);
                let dispatched = self.line(&line);
                line.clear();
                self.carry = line;
                dispatched
            };
            match dispatched {
                Some(EventKind::Offers) => fed.offers = true,
                Some(EventKind::Complete) => {
                    fed.complete = Some(parse_complete(&self.data));
                    self.data.clear();
                    return fed;
                }
                Some(EventKind::Other) | None => {}
            }
            chunk = rest;
        }
        self.carry.extend_from_slice(chunk);
        fed
    }

    /// Handles one line; returns the kind of the event it dispatches, if any.
    /// After a `Complete` dispatch, `self.data` holds the event's data.
    fn line(&mut self, line: &[u8]) -> Option<EventKind> {
        if line.is_empty() {
            let kind = self.kind.take().unwrap_or(EventKind::Other);
            let had_data = std::mem::replace(&mut self.has_data, false);
            if kind != EventKind::Complete {
                self.data.clear();
            }
            return had_data.then_some(kind);
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"event" => {
                self.kind = Some(match value {
                    b"offers" => EventKind::Offers,
                    b"complete" => EventKind::Complete,
                    _ => EventKind::Other,
                });
            }
            b"data" => {
                if matches!(self.kind, None | Some(EventKind::Complete)) {
                    if self.has_data {
                        self.data.push(b'\n');
                    }
                    self.data.extend_from_slice(value);
                }
                self.has_data = true;
            }
            _ => {}
        }
        None
    }
}

/// The fields of the `complete` event's data that the load test reads.
#[derive(Deserialize)]
struct CompleteData<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default)]
    total_offers: u64,
}

fn parse_complete(data: &[u8]) -> CompleteResult {
    let complete: CompleteData<'_> = serde_json::from_slice(data)
        .map_err(|e| Cow::Owned(format!("complete event: bad data: {e}")))?;
    let status = match &*complete.status {
        "completed" => FinalStatus::Completed,
        "partial" => FinalStatus::Partial,
        other => {
            return Err(Cow::Owned(format!(
                "complete event: unexpected status {other:?}"
            )));
        }
    };
    Ok((status, complete.total_offers))
}

/// Counters and histograms of some searches.
struct Stats {
    completed: u64,
    partial: u64,
    errors: u64,
    offers: u64,
    /// Microseconds to the first `offers` event.
    first_offer: Histogram<u64>,
    /// Microseconds to the `complete` event.
    complete: Histogram<u64>,
    error_counts: HashMap<String, u64>,
}

impl Stats {
    fn new(max_wait: Duration) -> Result<Self, hdrhistogram::CreationError> {
        // Samples never exceed the client-side limit; keep a margin anyway
        // (larger samples saturate).
        let high = micros(max_wait).saturating_add(1_000_000).max(2);
        Ok(Self {
            completed: 0,
            partial: 0,
            errors: 0,
            offers: 0,
            first_offer: Histogram::new_with_bounds(1, high, 3)?,
            complete: Histogram::new_with_bounds(1, high, 3)?,
            error_counts: HashMap::new(),
        })
    }

    fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Done(done) => {
                match done.status {
                    FinalStatus::Completed => self.completed += 1,
                    FinalStatus::Partial => self.partial += 1,
                }
                self.offers += done.total_offers;
                if let Some(first) = done.first_offer {
                    self.first_offer.saturating_record(micros(first));
                }
                self.complete.saturating_record(micros(done.complete));
            }
            Outcome::Failed(message) => self.record_error(message, 1),
        }
    }

    fn record_error(&mut self, message: Cow<'_, str>, count: u64) {
        self.errors += count;
        if let Some(n) = self.error_counts.get_mut(&*message) {
            *n += count;
        } else if self.error_counts.len() < MAX_DISTINCT_ERRORS {
            self.error_counts.insert(message.into_owned(), count);
        } else {
            *self
                .error_counts
                .entry(OTHER_ERRORS.to_owned())
                .or_default() += count;
        }
    }

    fn merge(&mut self, other: Stats) {
        self.completed += other.completed;
        self.partial += other.partial;
        self.offers += other.offers;
        // Same bounds everywhere: adding cannot fail.
        let _ = self.first_offer.add(&other.first_offer);
        let _ = self.complete.add(&other.complete);
        for (message, count) in other.error_counts {
            self.record_error(Cow::Owned(message), count);
        }
    }

    fn into_report(mut self, searches: u64, elapsed: Duration) -> Report {
        let accounted = self.completed + self.partial + self.errors;
        if accounted < searches {
            // Only a panicking search task leaves a search unrecorded.
            self.record_error(
                Cow::Borrowed("search task ended abnormally"),
                searches - accounted,
            );
        }
        let mut samples: Vec<ErrorSample> = self
            .error_counts
            .into_iter()
            .map(|(message, count)| ErrorSample { message, count })
            .collect();
        samples.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.message.cmp(&b.message))
        });
        samples.truncate(ERROR_SAMPLES);
        let elapsed_secs = elapsed.as_secs_f64();
        let finished = self.completed + self.partial;
        Report {
            searches,
            completed: self.completed,
            partial: self.partial,
            errors: self.errors,
            error_samples: samples,
            elapsed_secs,
            searches_per_sec: if elapsed_secs > 0.0 {
                finished as f64 / elapsed_secs
            } else {
                0.0
            },
            offers_total: self.offers,
            time_to_first_offer: Percentiles::from_histogram(&self.first_offer),
            time_to_complete: Percentiles::from_histogram(&self.complete),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Statistics in a few shards, so that searches rarely wait on one another.
struct ShardedStats {
    shards: Vec<Mutex<Stats>>,
}

/// Shards for `concurrency` searches in flight: a couple per CPU.
fn shard_count(concurrency: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(4, usize::from);
    concurrency.min(cpus * 2).max(1)
}

impl ShardedStats {
    fn new(shards: usize, max_wait: Duration) -> Result<Self, LoadtestError> {
        let shards = (0..shards.max(1))
            .map(|_| Stats::new(max_wait).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Self { shards })
    }

    fn record(&self, key: usize, outcome: Outcome) {
        let shard = &self.shards[key % self.shards.len()];
        shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .record(outcome);
    }

    fn merged(&self) -> Result<Stats, LoadtestError> {
        let mut iter = self.shards.iter().map(|shard| {
            let mut guard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let empty = Stats::new(Duration::ZERO);
            empty.map(|empty| std::mem::replace(&mut *guard, empty))
        });
        let mut total = match iter.next() {
            Some(first) => first?,
            None => Stats::new(Duration::ZERO)?,
        };
        for stats in iter {
            total.merge(stats?);
        }
        Ok(total)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "airstream load test")?;
        writeln!(
            f,
            "  searches      {:>10}   completed {}, partial {}, errors {}",
            self.searches, self.completed, self.partial, self.errors
        )?;
        writeln!(f, "  elapsed       {:>10.3} s", self.elapsed_secs)?;
        writeln!(
            f,
            "  throughput    {:>10.1} searches/s",
            self.searches_per_sec
        )?;
        writeln!(f, "  offers        {:>10}", self.offers_total)?;
        writeln!(f)?;
        writeln!(
            f,
            "  {:<14}{:>10} {:>11} {:>11} {:>11} {:>11}",
            "latency (ms)", "count", "p50", "p90", "p99", "max"
        )?;
        for (name, p) in [
            ("first offer", &self.time_to_first_offer),
            ("complete", &self.time_to_complete),
        ] {
            writeln!(
                f,
                "  {:<14}{:>10} {:>11.3} {:>11.3} {:>11.3} {:>11.3}",
                name, p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
            )?;
        }
        if !self.error_samples.is_empty() {
            writeln!(f)?;
            writeln!(f, "  errors (most frequent first)")?;
            for sample in &self.error_samples {
                writeln!(f, "  {:>10}  {}", sample.count, sample.message)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LoadtestArgs,
    }

    fn args(extra: &[&str]) -> LoadtestArgs {
        let argv = std::iter::once("loadtest").chain(extra.iter().copied());
        Cli::try_parse_from(argv)
            .expect("valid test arguments")
            .args
    }

    #[test]
    fn cli_definition_is_consistent_and_has_defaults() {
        Cli::command().debug_assert();
        let a = args(&[]);
        assert_eq!(a.url, "http://127.0.0.1:3000");
        assert_eq!(a.searches, 1000);
        assert_eq!(a.concurrency, 50);
        assert_eq!(a.rate, None);
        assert_eq!((a.from.as_str(), a.to.as_str()), ("CGK", "DPS"));
        assert_eq!(a.passengers, 1);
        assert_eq!(a.cabin, "economy");
        assert_eq!(a.max_wait_secs, 60);
        assert!(!a.json);
        let a = args(&[
            "-n",
            "7",
            "-c",
            "3",
            "--rate",
            "12.5",
            "--providers",
            "garuda,lion",
        ]);
        assert_eq!((a.searches, a.concurrency, a.rate), (7, 3, Some(12.5)));
    }

    #[test]
    fn request_body_holds_the_options() {
        let a = args(&[
            "--from",
            "cgk",
            "--to",
            "sub",
            "--date",
            "2030-01-31",
            "--passengers",
            "2",
            "--cabin",
            "business",
            "--providers",
            "garuda, lion,",
            "--timeout-ms",
            "900",
        ]);
        let plan = Plan::from_args(&a).expect("valid");
        let body: serde_json::Value = serde_json::from_slice(&plan.body).expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "from": "cgk", "to": "sub", "date": "2030-01-31", "passengers": 2,
                "cabin": "business", "providers": ["garuda", "lion"], "timeout_ms": 900
            })
        );
        // Defaults: no optional fields, a date 14 days ahead.
        let plan = Plan::from_args(&args(&["--url", "http://h:1/"])).expect("valid");
        assert_eq!(plan.base, "http://h:1");
        let body: serde_json::Value = serde_json::from_slice(&plan.body).expect("json");
        let date: jiff::civil::Date = body["date"].as_str().expect("date").parse().expect("date");
        let today = jiff::ZonedDateTime::now().date();
        assert!(date > today);
        assert!(body.get("providers").is_none() && body.get("timeout_ms").is_none());
    }

    #[test]
    fn invalid_arguments_are_rejected() {
        let cases: &[(&[&str], &str)] = &[
            (&["-n", "0"], "--searches"),
            (&["-c", "0"], "--concurrency"),
            (&["--rate", "0"], "--rate"),
            (&["--rate=-3"], "--rate"),
            (&["--rate", "NaN"], "--rate"),
            (&["--rate", "0.000001", "-n", "1000000"], "--rate"),
            (&["--max-wait-secs", "0"], "--max-wait-secs"),
            (&["--passengers", "0"], "--passengers"),
            (&["--passengers", "10"], "--passengers"),
            (&["--cabin", "coach"], "--cabin"),
            (&["--date", "31/01/2030"], "--date"),
            (&["--from", "CGKX"], "--from"),
            (&["--providers", " , "], "--providers"),
        ];
        for (extra, needle) in cases {
            let err = Plan::from_args(&args(extra)).expect_err("invalid");
            assert!(
                matches!(err, LoadtestError::InvalidArgument { .. }),
                "{extra:?}: {err:?}"
            );
            assert!(err.to_string().contains(needle), "{extra:?}: {err}");
        }
        for url in [
            "not a url",
            "ftp://host/",
            "http://h:1/?q=1",
            "localhost:3000",
        ] {
            let err = Plan::from_args(&args(&["--url", url])).expect_err("invalid");
            assert!(
                matches!(err, LoadtestError::InvalidUrl { .. }),
                "{url}: {err:?}"
            );
            assert!(err.to_string().contains(url), "{err}");
        }
    }

    #[tokio::test]
    async fn run_rejects_bad_arguments_before_any_request() {
        let err = run(&args(&["-n", "0"])).await.expect_err("invalid");
        assert!(err.to_string().contains("--searches"), "{err}");
    }

    #[test]
    fn percentiles_come_from_the_histogram_in_milliseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram");
        for us in 1..=1000u64 {
            h.record(us * 1000).expect("in range"); // 1 ms .. 1000 ms
        }
        let p = Percentiles::from_histogram(&h);
        assert_eq!(p.count, 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(close(p.p50_ms, 500.0), "{p:?}");
        assert!(close(p.p90_ms, 900.0), "{p:?}");
        assert!(close(p.p99_ms, 990.0), "{p:?}");
        assert!(close(p.max_ms, 1000.0), "{p:?}");

        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram");
        h.record(1234).expect("in range");
        let p = Percentiles::from_histogram(&h);
        assert_eq!((p.count, p.p50_ms, p.max_ms), (1, 1.234, 1.234));

        let empty = Histogram::<u64>::new_with_bounds(1, 10, 3).expect("histogram");
        assert_eq!(Percentiles::from_histogram(&empty), Percentiles::default());
    }

    #[test]
    fn stats_merge_and_report() {
        let wait = Duration::from_secs(60);
        let sharded = ShardedStats::new(3, wait).expect("stats");
        for i in 0..10usize {
            let outcome = if i < 6 {
                Outcome::Done(Done {
                    status: if i == 0 {
                        FinalStatus::Partial
                    } else {
                        FinalStatus::Completed
                    },
                    total_offers: 4,
                    first_offer: (i % 2 == 0).then(|| Duration::from_millis(5)),
                    complete: Duration::from_millis(20),
                })
            } else if i < 9 {
                Outcome::Failed(Cow::Borrowed("boom"))
            } else {
                Outcome::Failed(Cow::Owned("other".to_owned()))
            };
            sharded.record(i, outcome);
        }
        let report = sharded
            .merged()
            .expect("merge")
            .into_report(11, Duration::from_secs(2));
        assert_eq!(
            (report.searches, report.completed, report.partial),
            (11, 5, 1)
        );
        assert_eq!(
            report.errors, 5,
            "one unaccounted search counts as an error"
        );
        assert_eq!(report.offers_total, 24);
        assert_eq!(report.time_to_first_offer.count, 3);
        assert_eq!(report.time_to_complete.count, 6);
        assert!((report.searches_per_sec - 3.0).abs() < 1e-9);
        assert_eq!(
            report.error_samples[0],
            ErrorSample {
                message: "boom".to_owned(),
                count: 3
            }
        );
        assert_eq!(report.error_samples.len(), 3);
    }

    #[test]
    fn distinct_error_messages_are_bounded() {
        let mut stats = Stats::new(Duration::from_secs(1)).expect("stats");
        for i in 0..(MAX_DISTINCT_ERRORS + 10) {
            stats.record(Outcome::Failed(Cow::Owned(format!("e{i}"))));
        }
        assert_eq!(stats.error_counts.len(), MAX_DISTINCT_ERRORS + 1);
        assert_eq!(stats.error_counts[OTHER_ERRORS], 10);
        assert_eq!(stats.errors, MAX_DISTINCT_ERRORS as u64 + 10);
    }

    #[test]
    fn display_shows_the_figures() {
        let report = Report {
            searches: 1000,
            completed: 990,
            partial: 7,
            errors: 3,
            error_samples: vec![ErrorSample {
                message: "POST /api/flights/search: HTTP 503 Service Unavailable: broker down"
                    .to_owned(),
                count: 3,
            }],
            elapsed_secs: 2.5,
            searches_per_sec: 398.8,
            offers_total: 12_345,
            time_to_first_offer: Percentiles {
                count: 990,
                p50_ms: 12.345,
                p90_ms: 23.456,
                p99_ms: 34.567,
                max_ms: 45.678,
            },
            time_to_complete: Percentiles {
                count: 997,
                p50_ms: 101.5,
                p90_ms: 202.25,
                p99_ms: 303.125,
                max_ms: 404.0,
            },
        };
        let text = report.to_string();
        for needle in [
            "1000",
            "990",
            "partial 7",
            "errors 3",
            "2.500 s",
            "398.8 searches/s",
            "12345",
            "12.345",
            "23.456",
            "34.567",
            "45.678",
            "997",
            "101.500",
            "202.250",
            "303.125",
            "404.000",
            "HTTP 503 Service Unavailable: broker down",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["time_to_first_offer"]["p50_ms"], 12.345);
        assert_eq!(json["error_samples"][0]["count"], 3);
    }

    fn feed_all(parser: &mut SseParser, parts: &[&[u8]]) -> (usize, Option<CompleteResult>) {
        let mut offers = 0;
        for part in parts {
            let fed = parser.feed(part);
            offers += usize::from(fed.offers);
            if fed.complete.is_some() {
                return (offers, fed.complete);
            }
        }
        (offers, None)
    }

    #[test]
    fn sse_parser_reads_events_across_chunks() {
        let stream: &[u8] =
            b": keepalive\n\nretry: 1000\nid: 1\nevent: offers\ndata: {\"type\":\"offers\"}\n\n\
            id: 2\r\nevent: provider\r\ndata: {}\r\n\r\n\
            id: 3\revent: complete\rdata: {\"type\":\"complete\",\"status\":\"partial\",\r\
            data: \"total_offers\":7,\"cheapest\":[{\"x\":1}]}\r\r";
        // Whole, and split at every position (also between \r and \n).
        let (offers, complete) = feed_all(&mut SseParser::default(), &[stream]);
        assert_eq!(offers, 1);
        assert_eq!(complete.expect("complete"), Ok((FinalStatus::Partial, 7)));
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            let (offers, complete) = feed_all(&mut SseParser::default(), &[a, b]);
            assert_eq!(offers, 1, "cut at {cut}");
            assert_eq!(
                complete.expect("complete"),
                Ok((FinalStatus::Partial, 7)),
                "cut {cut}"
            );
        }
        // Byte by byte.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        let (_, complete) = feed_all(&mut SseParser::default(), &bytes);
        assert_eq!(complete.expect("complete"), Ok((FinalStatus::Partial, 7)));
    }

    #[test]
    fn sse_parser_ignores_events_without_data_and_reports_bad_complete() {
        let mut p = SseParser::default();
        let fed = p.feed(b"event: offers\n\nevent:complete\ndata:{\"status\":\"weird\"}\n\n");
        assert!(!fed.offers);
        let err = fed.complete.expect("complete").expect_err("bad status");
        assert!(err.contains("weird"), "{err}");
        let fed = SseParser::default().feed(b"event: complete\ndata: nope\n\n");
        assert!(fed.complete.expect("complete").is_err());
    }

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

    /// A fake airstream server.
    mod fake {
        use std::convert::Infallible;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};

        use axum::Json;
        use axum::Router;
        use axum::extract::{Path, State};
        use axum::http::StatusCode;
        use axum::response::sse::{Event, Sse};
        use axum::response::{IntoResponse, Response};
        use axum::routing::{get, post};
        use futures::stream;

        /// How the fake answers.
        #[derive(Clone, Copy)]
        pub enum Mode {
            /// 202, then `offers`, `provider`, `offers`, `complete`.
            Ok,
            /// 202, then only `complete` with status partial.
            NoOffers,
            /// 503 to every POST.
            Unavailable,
        }

        #[derive(Clone)]
        struct AppState {
            mode: Mode,
            posts: Arc<AtomicU64>,
        }

        async fn submit(State(st): State<AppState>, body: axum::body::Bytes) -> Response {
            st.posts.fetch_add(1, Ordering::Relaxed);
            let request: serde_json::Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(_) => return StatusCode::BAD_REQUEST.into_response(),
            };
            if request.get("from").is_none() || request.get("date").is_none() {
                return StatusCode::UNPROCESSABLE_ENTITY.into_response();
            }
            if let Mode::Unavailable = st.mode {
                let body = serde_json::json!({"success": false, "message": "broker unavailable"});
                return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            }
            let id = uuid::Uuid::new_v4();
            let body = serde_json::json!({
                "success": true,
                "message": "Search request submitted",
                "data": {
                    "search_id": id,
                    "status": "processing",
                    "providers": ["garuda", "lion"],
                    "stream_url": format!("/api/flights/search/{id}/stream"),
                    "expires_at": "2030-01-01T00:00:00Z",
                }
            });
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }

        async fn stream_events(State(st): State<AppState>, Path(_id): Path<String>) -> Response {
            let events: Vec<Event> = match st.mode {
                Mode::Ok => vec![
                    Event::default()
                        .id("1")
                        .event("offers")
                        .data(r#"{"type":"offers","provider":"garuda","offers":[{"price":"1"}]}"#),
                    Event::default()
                        .id("2")
                        .event("provider")
                        .data(r#"{"type":"provider","status":"ok","offers":1}"#),
                    Event::default()
                        .id("3")
                        .event("offers")
                        .data(r#"{"type":"offers","provider":"lion","offers":[{"price":"2"},{"price":"3"}]}"#),
                    Event::default().id("4").event("complete").data(
                        r#"{"type":"complete","status":"completed","total_offers":3,"cheapest":[]}"#,
                    ),
                ],
                Mode::NoOffers | Mode::Unavailable => vec![Event::default().id("1").event("complete").data(
                    r#"{"type":"complete","status":"partial","total_offers":0,"cheapest":[]}"#,
                )],
            };
            Sse::new(stream::iter(events.into_iter().map(Ok::<_, Infallible>))).into_response()
        }

        /// Serves the fake on 127.0.0.1:0; returns its base URL and the POST
        /// counter.
        pub async fn start(mode: Mode) -> (String, Arc<AtomicU64>) {
            let posts = Arc::new(AtomicU64::new(0));
            let state = AppState {
                mode,
                posts: Arc::clone(&posts),
            };
            let app = Router::new()
                .route("/healthz", get(|| async { "ok" }))
                .route("/api/flights/search", post(submit))
                .route("/api/flights/search/{id}/stream", get(stream_events))
                .with_state(state);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(async move {
                axum::serve(listener, app).await.expect("serve");
            });
            (format!("http://{addr}"), posts)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_loop_against_a_fake_server() {
        let (url, posts) = fake::start(fake::Mode::Ok).await;
        let report = run(&args(&["--url", &url, "-n", "200", "-c", "8"]))
            .await
            .expect("run");
        assert_eq!(report.searches, 200);
        assert_eq!(report.completed, 200, "{report:?}");
        assert_eq!((report.partial, report.errors), (0, 0), "{report:?}");
        assert!(report.error_samples.is_empty());
        assert_eq!(report.offers_total, 600);
        assert_eq!(report.time_to_first_offer.count, 200);
        assert_eq!(report.time_to_complete.count, 200);
        assert!(report.time_to_complete.p50_ms > 0.0);
        assert!(report.time_to_first_offer.p50_ms <= report.time_to_complete.max_ms);
        assert!(report.searches_per_sec > 0.0);
        assert_eq!(posts.load(std::sync::atomic::Ordering::Relaxed), 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_without_offers() {
        let (url, _) = fake::start(fake::Mode::NoOffers).await;
        let report = run(&args(&[
            "--url", &url, "-n", "30", "-c", "30", "--rate", "300",
        ]))
        .await
        .expect("run");
        assert_eq!(
            (report.searches, report.partial, report.errors),
            (30, 30, 0),
            "{report:?}"
        );
        assert_eq!(report.completed, 0);
        assert_eq!(report.time_to_first_offer.count, 0);
        assert_eq!(report.time_to_complete.count, 30);
        // 30 searches at 300/s take at least ~0.1 s.
        assert!(report.elapsed_secs >= 0.09, "{report:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn post_errors_are_counted_with_the_message() {
        let (url, _) = fake::start(fake::Mode::Unavailable).await;
        let report = run(&args(&["--url", &url, "-n", "25", "-c", "5"]))
            .await
            .expect("run");
        assert_eq!(
            (report.completed, report.partial, report.errors),
            (0, 0, 25)
        );
        assert_eq!(report.error_samples.len(), 1, "{report:?}");
        let sample = &report.error_samples[0];
        assert_eq!(sample.count, 25);
        assert!(sample.message.contains("503"), "{}", sample.message);
        assert!(
            sample.message.contains("broker unavailable"),
            "{}",
            sample.message
        );
        assert_eq!(report.time_to_complete.count, 0);
        assert_eq!(report.searches_per_sec, 0.0);
        assert!(report.to_string().contains("broker unavailable"));
    }

    #[tokio::test]
    async fn unreachable_server_is_a_clear_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let url = format!("http://{addr}");
        let err = run(&args(&["--url", &url])).await.expect_err("unreachable");
        assert!(matches!(err, LoadtestError::Unreachable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&url) && text.contains("/healthz"), "{text}");
    }
}
