//! Searches: the model shared across the system, the store that keeps each
//! search's replayable event log, and the aggregator that feeds it from the
//! results stream.

pub mod aggregator;
pub mod model;
pub mod store;
