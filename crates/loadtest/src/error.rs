//! Why a load test could not run at all (a failed search is not an error
//! here: it is counted in the report).

/// Why a load test could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    /// `--url` is not an absolute http(s) URL.
    #[error("invalid --url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An option has a value the load test cannot use.
    #[error("invalid --{arg}: {reason}")]
    InvalidArgument {
        /// The option's long name, without dashes.
        arg: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The preflight `GET /healthz` failed.
    #[error("server not reachable at {url}: GET {url}/healthz: {reason}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// The transport error or the unexpected status.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The search request could not be serialized.
    #[error("cannot serialize the search request: {0}")]
    Request(#[source] serde_json::Error),
    /// The latency histograms could not be created.
    #[error("cannot create the latency histograms: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}
