//! Why a search could not be accepted or read, whichever store keeps it.

use crate::bus::BusError;
use crate::fault::Fault;

/// Why a search could not be accepted or read. The words are what a client
/// is told (unless internal); the broker's error, when there is one, is the
/// source.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Every retained search is still running.
    #[error("too many searches in flight ({0}); try again shortly")]
    Full(usize),
    /// The client already has this many searches running, its most.
    #[error("this client has {0} searches running, the most it may; try again when one completes")]
    Busy(u32),
    /// The stream broker cannot be reached.
    #[error("the stream broker is unavailable ({0}); try again shortly")]
    Unavailable(#[source] Fault),
    /// A bug or a broken record.
    #[error("{0}")]
    Internal(#[source] Fault),
}

impl From<BusError> for SearchError {
    fn from(e: BusError) -> Self {
        match e {
            BusError::Unavailable(fault) => SearchError::Unavailable(fault),
            other => SearchError::Internal(Fault::of(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn an_unavailable_broker_is_unavailable_and_anything_else_internal() {
        let cause = std::io::Error::other("connection refused");
        let e = SearchError::from(BusError::Unavailable(Fault::of(cause)));
        assert_eq!(
            e.to_string(),
            "the stream broker is unavailable (connection refused); try again shortly"
        );
        assert!(matches!(e, SearchError::Unavailable(_)));
        assert!(
            e.source().and_then(Error::source).is_some(),
            "the cause is kept"
        );

        let e = SearchError::from(BusError::Protocol(Fault::new("odd reply")));
        assert!(matches!(e, SearchError::Internal(_)), "{e}");
        assert_eq!(e.to_string(), "stream broker protocol error: odd reply");
        let e = SearchError::from(BusError::NoGroup {
            stream: "s".into(),
            group: "g".into(),
        });
        assert!(matches!(e, SearchError::Internal(_)), "{e}");
    }
}
