//! Every metric airstream exports (`docs/operations.md`), declared in one place:
//! names carry their unit, histograms are in seconds with buckets from 1 ms
//! to 30 s, and labels come from small fixed sets (route pattern, provider
//! id, outcome, status class, stream and group). `GET /metrics` renders
//! them in the Prometheus text format, on every role's listener.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Searches finished, by `outcome` (`completed`, `partial`).
pub const SEARCHES: &str = "airstream_searches_total";
/// Searches refused at submission, by `reason` (`invalid`, `unavailable`,
/// `unauthorized`, `forbidden`, `error`).
pub const SEARCHES_REFUSED: &str = "airstream_searches_refused_total";
/// Every `reason` of [`SEARCHES_REFUSED`]: each series exists from the
/// start, at zero, so a dashboard shows it before the first refusal.
pub const REFUSAL_REASONS: [&str; 7] = [
    "invalid",
    "unauthorized",
    "forbidden",
    "rate_limited",
    "too_many_searches",
    "unavailable",
    "error",
];
/// Searches accepted, by API `key` id: only while the keys file holds at
/// most [`MAX_KEY_SERIES`] keys, so the series stay few.
pub const SEARCHES_BY_KEY: &str = "airstream_searches_by_key_total";
/// Most keys for which [`SEARCHES_BY_KEY`] has a series.
pub const MAX_KEY_SERIES: usize = 50;
/// From submission to the first offer, seconds.
pub const SEARCH_FIRST_OFFER: &str = "airstream_search_first_offer_seconds";
/// From submission to `complete`, seconds.
pub const SEARCH_COMPLETE: &str = "airstream_search_complete_seconds";
/// Airline answers, by `provider` and `outcome` (`ok`, `error`, `timeout`).
pub const PROVIDER_REQUESTS: &str = "airstream_provider_requests_total";
/// Time an airline took to answer, by `provider`, seconds.
pub const PROVIDER_LATENCY: &str = "airstream_provider_latency_seconds";
/// Offers made, by `provider`.
pub const PROVIDER_OFFERS: &str = "airstream_provider_offers_total";
/// Searches an airline is answering now, by `provider`.
pub const PROVIDER_IN_FLIGHT: &str = "airstream_provider_in_flight";
/// Provider files reloaded, by `result` (`ok`, `error`).
pub const PROVIDER_RELOADS: &str = "airstream_provider_reloads_total";
/// Reads of the whole providers directory (start, file changes, SIGHUP);
/// flat while no file changes.
pub const PROVIDER_SCANS: &str = "airstream_provider_scans_total";
/// Calls to upstream airline APIs, by `provider` and `status` (the HTTP
/// status code, or `timeout`, `connect_error`, `error`).
pub const UPSTREAM_CALLS: &str = "airstream_upstream_calls_total";
/// Access token requests to upstream airlines' token endpoints, by
/// `provider` and `outcome` (`ok`, `error`): one per token lifetime.
pub const UPSTREAM_TOKENS: &str = "airstream_upstream_token_requests_total";
/// Upstream answers read from the cache, by `provider`.
pub const CACHE_HITS: &str = "airstream_cache_hits_total";
/// Cache lookups that found no fresh answer, by `provider`.
pub const CACHE_MISSES: &str = "airstream_cache_misses_total";
/// Answers dropped from the in-process cache to make room, by `provider`.
pub const CACHE_EVICTIONS: &str = "airstream_cache_evictions_total";
/// Airline questions answered by another search's call in flight, by
/// `provider`.
pub const CACHE_COALESCED: &str = "airstream_coalesced_total";
/// Open SSE streams.
pub const SSE_CONNECTIONS: &str = "airstream_sse_connections";
/// Open client connections (every protocol, including SSE streams whose
/// events wait in the kernel for a slow reader).
pub const HTTP_CONNECTIONS: &str = "airstream_http_connections";
/// Connections refused because `http.max_connections` were open.
pub const HTTP_CONNECTIONS_REFUSED: &str = "airstream_http_connections_refused_total";
/// TLS certificate reloads after its files changed, by `outcome` (`ok`;
/// `error`: the files in force keep serving).
pub const TLS_RELOADS: &str = "airstream_tls_reloads_total";
/// HTTP requests, by `route` (the pattern), `method` and `status` class
/// (`2xx` ...).
pub const HTTP_REQUESTS: &str = "airstream_http_requests_total";
/// HTTP request duration to the response head, by `route`, seconds.
pub const HTTP_DURATION: &str = "airstream_http_request_duration_seconds";
/// Entries in a stream, by `stream`.
pub const STREAM_LENGTH: &str = "airstream_stream_length";
/// Entries delivered and not yet acknowledged, by `stream` and `group`.
pub const STREAM_PENDING: &str = "airstream_stream_pending";
/// Entries not yet delivered to a group, by `stream` and `group`.
pub const STREAM_LAG: &str = "airstream_stream_lag";

/// Histogram buckets, seconds: 1 ms to 30 s.
pub const BUCKETS: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
    20.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (later calls reuse it) and
/// returns the handle that renders `/metrics`; `None` when another recorder
/// was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            for reason in REFUSAL_REASONS {
                metrics::counter!(SEARCHES_REFUSED, "reason" => reason).absolute(0);
            }
            Some(handle)
        })
        .clone()
}

fn describe() {
    describe_counter!(SEARCHES, "Searches finished, by outcome");
    describe_counter!(
        SEARCHES_REFUSED,
        "Searches refused at submission, by reason"
    );
    describe_counter!(
        SEARCHES_BY_KEY,
        "Searches accepted, by API key id (when the keys file holds at most 50 keys)"
    );
    describe_histogram!(
        SEARCH_FIRST_OFFER,
        Unit::Seconds,
        "From submission to the first offer"
    );
    describe_histogram!(
        SEARCH_COMPLETE,
        Unit::Seconds,
        "From submission to complete"
    );
    describe_counter!(
        PROVIDER_REQUESTS,
        "Airline answers, by provider and outcome"
    );
    describe_histogram!(
        PROVIDER_LATENCY,
        Unit::Seconds,
        "Time an airline took to answer"
    );
    describe_counter!(PROVIDER_OFFERS, "Offers made, by provider");
    describe_gauge!(PROVIDER_IN_FLIGHT, "Searches an airline is answering now");
    describe_counter!(PROVIDER_RELOADS, "Provider files reloaded, by result");
    describe_counter!(
        PROVIDER_SCANS,
        "Reads of the whole providers directory; flat while no file changes"
    );
    describe_counter!(
        UPSTREAM_CALLS,
        "Calls to upstream airline APIs, by provider and status"
    );
    describe_counter!(
        UPSTREAM_TOKENS,
        "Access token requests to upstream token endpoints, by provider and outcome"
    );
    describe_counter!(
        CACHE_HITS,
        "Upstream answers read from the cache, by provider"
    );
    describe_counter!(
        CACHE_MISSES,
        "Cache lookups that found no fresh answer, by provider"
    );
    describe_counter!(
        CACHE_EVICTIONS,
        "Answers dropped from the in-process cache to make room, by provider"
    );
    describe_counter!(
        CACHE_COALESCED,
        "Airline questions answered by another search's call in flight, by provider"
    );
    describe_gauge!(SSE_CONNECTIONS, "Open SSE streams");
    describe_gauge!(HTTP_CONNECTIONS, "Open client connections");
    describe_counter!(
        HTTP_CONNECTIONS_REFUSED,
        "Connections refused because http.max_connections were open"
    );
    describe_counter!(
        TLS_RELOADS,
        "TLS certificate reloads after its files changed, by outcome"
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests, by route, method and status class"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request duration to the response head"
    );
    describe_gauge!(STREAM_LENGTH, "Entries in a stream");
    describe_gauge!(
        STREAM_PENDING,
        "Entries delivered to a group and not yet acknowledged"
    );
    describe_gauge!(STREAM_LAG, "Entries not yet delivered to a group");
}

/// Folds the histogram samples recorded since the last pass into their
/// buckets, every few seconds until shutdown. The recorder keeps every raw
/// sample until then: without it, a server nobody scrapes grows by every
/// request it serves.
pub async fn upkeep(handle: PrometheusHandle, shutdown: crate::shutdown::Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => handle.run_upkeep(),
            _ = shutdown.wait() => return,
        }
    }
}

/// Records a finished search from its `complete` event's figures: its
/// outcome, its time to complete, and its time to the first offer (the
/// earliest answer that had offers).
pub fn search_finished(partial: bool, elapsed_ms: u64, first_offer_ms: Option<u64>) {
    let outcome = if partial { "partial" } else { "completed" };
    metrics::counter!(SEARCHES, "outcome" => outcome).increment(1);
    metrics::histogram!(SEARCH_COMPLETE).record(elapsed_ms as f64 / 1000.0);
    if let Some(ms) = first_offer_ms {
        metrics::histogram!(SEARCH_FIRST_OFFER).record(ms as f64 / 1000.0);
    }
}
