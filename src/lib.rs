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
//!   page, the simulated airline API, and the one error type that becomes
//!   the JSON envelope.
//! - [`bus`]: the streams contract (requested and results streams, consumer
//!   groups, pending entries, acknowledgements) and its embedded in-process
//!   and Redis Streams implementations.
//! - [`providers`]: provider files (`providers.d/*.yaml`): parsing, validation
//!   with positions, latency and error profiles, the mock fare engine,
//!   templated upstream HTTP calls, hot reload, the live set of airlines
//!   across processes, and the runtime that consumes search requests for
//!   each airline.
//! - [`search`]: the search model (request, normalized offer, airline
//!   answer), and where searches are kept: an in-memory store, or Redis
//!   (shared by every api process), each an ordered, replayable event log
//!   per search with deadlines, TTL and a retention cap.
//! - [`metrics`]: every metric name, the Prometheus recorder and `/metrics`.
//! - [`config`]: settings from `airstream.toml` and `AIRSTREAM_*` variables.
//! - [`shutdown`]: the one shutdown signal every long-running task selects on.
//! - [`startup`]: [`startup::Application`], which wires the parts together;
//!   `main` and the tests start the service through it.
//! - [`duration`]: human-friendly durations (`150ms`, `1h50m`) for settings and
//!   provider files.
//! - [`text`]: short excerpts of what a user wrote, for messages.
//!
//! The `airstream loadtest` driver, an HTTP client of this service, is a
//! crate of its own (`crates/loadtest`, package `airstream-loadtest`) that
//! the binary calls; the server library does not depend on it.

pub mod api;
pub mod bus;
pub mod config;
pub mod duration;
pub mod metrics;
pub mod providers;
pub mod search;
pub mod shutdown;
pub mod startup;
pub mod text;
