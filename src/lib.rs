//! airstream: a declarative flight-search provider platform.
//!
//! # Layout
//!
//! A search travels through the modules in this order:
//!
//! ```text
//! HTTP (api/) -> bus (bus/: embedded | redis) -> provider runtime (providers/)
//!    -> bus -> aggregation (search/: in memory | in Redis) -> SSE (api/)
//! ```
//!
//! - [`api`]: the axum router: search submission, the SSE stream, snapshots,
//!   the provider and airport lists, health probes, `/metrics`, the search
//!   page, the simulated airline API, the one error type that becomes
//!   the JSON envelope, and the listener: its connection limits and TLS.
//! - [`bus`]: the streams contract (requested and results streams, consumer
//!   groups, pending entries, acknowledgements) and its embedded in-process
//!   and Redis Streams implementations, and the Redis connections of a
//!   process (`bus::redis_conn`: short commands, blocking readers, which
//!   Redis errors are the broker's), which the Redis search store and the
//!   live set use too.
//! - [`providers`]: provider files (`providers.d/*.yaml`): parsing, validation
//!   with positions, latency and error profiles, the mock fare engine,
//!   templated upstream HTTP calls, hot reload, the live set of airlines
//!   across processes, and the runtime that consumes search requests for
//!   each airline.
//! - [`model`]: the wire model of both streams (search request, normalized
//!   offer, airline answer) and the money amounts offers carry. `api`,
//!   `providers` and `search` all import it; `providers` imports nothing
//!   from `search`.
//! - [`search`]: where searches are kept: in memory (`search::memory`), or
//!   in Redis, shared by every api process (`search::redis`), each an
//!   ordered, replayable event log per search (`search::events`) with
//!   deadlines, TTL and a retention cap; and the aggregator that fills it.
//! - [`access`]: API keys: the keys file, checking a presented key in
//!   constant time, and reading the file again when it changes; rate
//!   limits.
//! - [`metrics`]: every metric name, the Prometheus recorder and `/metrics`.
//! - [`config`]: settings from `airstream.toml` and `AIRSTREAM_*` variables.
//! - [`shutdown`]: the one shutdown signal every long-running task selects on.
//! - [`startup`]: [`startup::Application`], which wires the parts together;
//!   `main` and the tests start the service through it.
//! - [`fault`]: errors that keep their cause, and an error's whole chain
//!   for a log line.
//! - [`duration`]: human-friendly durations (`150ms`, `1h50m`) for settings and
//!   provider files.
//! - [`text`]: short excerpts of what a user wrote, for messages.
//! - [`throttle`]: one log line per period for a failure every search meets.
//! - `hostile` (hidden): the properties that must hold for whatever
//!   outsiders write, shared by the property tests and the fuzz targets.
//!
//! The `airstream loadtest` driver, an HTTP client of this service, is a
//! crate of its own (`crates/loadtest`, package `airstream-loadtest`) that
//! the binary calls; the server library does not depend on it.

pub mod access;
pub mod airports;
pub mod api;
pub mod bus;
pub mod config;
pub mod currency;
pub mod duration;
pub mod fault;
#[doc(hidden)]
pub mod hostile;
pub mod metrics;
pub mod model;
pub mod providers;
pub mod search;
pub mod shutdown;
pub mod startup;
pub mod text;
pub mod throttle;
