//! Why a search could not be accepted or read, whichever store keeps it.

use crate::bus::BusError;

/// Why a search could not be accepted or read.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Every retained search is still running.
    #[error("too many searches in flight ({0}); try again shortly")]
    Full(usize),
    /// The stream broker cannot be reached.
    #[error("the stream broker is unavailable ({0}); try again shortly")]
    Unavailable(String),
    /// A bug or a broken record.
    #[error("{0}")]
    Internal(String),
}

impl From<BusError> for SearchError {
    fn from(e: BusError) -> Self {
        match e {
            BusError::Unavailable(m) => SearchError::Unavailable(m),
            other => SearchError::Internal(other.to_string()),
        }
    }
}
