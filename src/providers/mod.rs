//! Provider files and the runtime that answers searches for each airline.
//!
//! - [`definition`]: the YAML shape of a provider file.
//! - [`provider`]: one airline's validated definition, [`ProviderDef`].
//! - [`mode`]: how it makes offers, [`ProviderMode`] (mock or upstream).
//! - [`files`]: which files of the directory are read (and which links).
//! - [`load`]: parsing and validation with positions; the [`load::Catalog`]
//!   of a directory.
//! - [`problems`]: what is wrong with a file, each problem at its line and
//!   column.
//! - [`yaml_errors`]: the YAML parser's errors in plain words, at the line
//!   to edit.
//! - [`latency`]: delay distributions and failure rates.
//! - [`mock`]: the mock fare engine.
//! - [`upstream`]: templated HTTP calls to airline APIs and the mapping of
//!   their answers.
//! - [`cache`]: upstream answers kept and reused, and identical questions
//!   in flight asked once.
//! - [`runtime`]: one stream consumer per enabled airline, following file
//!   changes.
//! - [`watch`]: hot reload of the directory (and SIGHUP).
//! - [`live`]: the airlines live processes serve, through Redis heartbeats.
//! - [`airlines`]: the airlines a search may target, as the API sees them.
//! - [`stats`]: live counters of each airline's runtime.
//! - [`registry`]: the catalog in force, replaced whole on reload, and the
//!   counters of each airline.

pub mod airlines;
pub mod cache;
pub mod coverage;
pub mod definition;
pub mod files;
pub mod latency;
pub mod live;
pub mod load;
pub mod mock;
pub mod mode;
pub mod problems;
pub mod provider;
pub mod registry;
pub(crate) mod route_key;
pub mod runtime;
pub mod stats;
pub mod upstream;
pub mod watch;
pub mod yaml_errors;

pub use airlines::{AirlineState, Airlines};
pub use coverage::Coverage;
pub use mode::ProviderMode;
pub use provider::ProviderDef;
pub use registry::{ProviderRegistry, ReloadSummary};
pub use stats::{InFlightGuard, ProviderStats, StatsSnapshot};
