//! Why a bus operation failed, whichever backend: its own module so that
//! the Redis connections map their errors to it without importing the bus
//! they serve.

use crate::fault::Fault;

/// Why a bus operation failed; the broker's own error, when there is one,
/// is the source.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker cannot be reached.
    #[error("stream broker unavailable: {0}")]
    Unavailable(#[source] Fault),
    /// The broker answered something unexpected.
    #[error("stream broker protocol error: {0}")]
    Protocol(#[source] Fault),
    /// The broker is of a kind airstream does not run on.
    #[error("{0}")]
    Unsupported(String),
    /// The consumer group does not exist.
    #[error("consumer group `{group}` does not exist on stream `{stream}`")]
    NoGroup {
        /// Stream name.
        stream: String,
        /// Group name.
        group: String,
    },
}
