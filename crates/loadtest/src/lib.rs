//! airstream-loadtest: the `airstream loadtest` driver, an HTTP client of
//! the airstream service kept apart from the server library.
//!
//! It drives a running airstream server with a fixed number of searches. One
//! search is the two requests a client makes (the API reference under
//! `docs/` describes them):
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
//! # Questions and cost
//!
//! Every search is the same one unless `--repeat R` asks for a share `R` of
//! repeats of earlier questions, the others new (`questions`); `--no-cache`
//! asks the server for live answers. When the server serves `/metrics`, the
//! report adds what the run cost its airlines ([`cost`]): upstream calls per
//! search, cache hits and coalesced answers.
//!
//! The client is kept lean so that it can push a server sharing the same
//! machine: one shared [`reqwest::Client`] with a connection pool sized for the
//! concurrency, the request body serialized once, a small hand-written SSE
//! reader that only looks at `event:` names (and the `data:` of `complete`),
//!
//! # Layout
//!
//! - [`plan`]: the command-line options ([`LoadtestArgs`]) and their checks.
//! - [`contract`]: the API's paths, cabins and event names, as a client
//!   knows them.
//! - `driver`: [`run`], the closed and the open loop.
//! - `search`: one search (`POST`, then its stream) and the preflight.
//! - `sse`: the lean stream reader.
//! - `stats`: the sharded counters and histograms of a run.
//! - [`report`]: the [`Report`], printed as a table or as JSON.
//! - [`error`]: [`LoadtestError`], why a run could not start.

pub mod contract;
pub mod cost;
mod driver;
pub mod error;
pub mod plan;
mod questions;
pub mod report;
mod search;
mod sse;
mod stats;

pub use driver::run;
pub use error::LoadtestError;
pub use plan::{LoadtestArgs, MAX_CONCURRENCY, MAX_WAIT_SECS};
pub use report::{ErrorSample, Percentiles, Report};
