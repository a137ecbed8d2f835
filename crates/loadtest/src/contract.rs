//! What the load tester knows of the airstream HTTP API: its paths, the
//! cabin names a search accepts, and the SSE event names it reads
//! (`docs/` and the README describe the API itself).
//!
//! The server declares the same names in its own modules. The load tester
//! keeps this client-side copy instead of depending on the whole server
//! library (an HTTP client should build without the server's Redis, axum
//! and provider runtime). The copy cannot drift unnoticed: the end-to-end
//! tests (`tests/api/loadtest.rs` at the repository root) compare the
//! cabins with the server's own list, and run the load tester against the
//! real server, where a wrong path, event name or status fails the run.

/// The health probe checked before a run.
pub const HEALTH_PATH: &str = "/healthz";

/// The search submission endpoint (`POST`, answered `202`).
pub const SEARCH_PATH: &str = "/api/flights/search";

/// The SSE stream of the search `id`, for a `202` answer without a
/// `stream_url`.
pub fn stream_path(id: &str) -> String {
    format!("{SEARCH_PATH}/{id}/stream")
}

/// Cabin classes a search accepts, as the API spells them.
pub const CABINS: [&str; 4] = ["economy", "premium_economy", "business", "first"];

/// The SSE event that carries one airline's offers.
pub const OFFERS_EVENT: &str = "offers";

/// The SSE event that ends a search; always the last one.
pub const COMPLETE_EVENT: &str = "complete";

/// The `status` of a `complete` event when every airline answered.
pub const COMPLETED_STATUS: &str = "completed";

/// The `status` of a `complete` event when some airline did not.
pub const PARTIAL_STATUS: &str = "partial";
