//! How a provider makes offers: a mock fare table or an airline's HTTP API.
//!
//! A provider file says so with one of two keys, `mock:` or `upstream:`.
//! The parsed file ([`super::definition::ProviderFile`]) keeps them as two
//! `Option`s rather than a serde tagged enum, because the messages for a
//! file with both or neither point at the key to edit (the `upstream:`
//! key, or the top of the file), which serde's enum errors cannot; serde
//! also refuses `deny_unknown_fields` next to a flattened enum. Both are
//! checked once, in [`ProviderMode::from_specs`], and from there on the
//! mode is this enum.

use std::sync::Arc;

use serde_saphyr::Spanned;

use super::definition::{MockSpec, UpstreamSpec};
use super::mock::{self, MockTable};
use super::problems::Problems;
use super::upstream::Upstream;

/// How a provider makes offers.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderMode {
    /// From a mock fare table.
    Mock(Box<MockTable>),
    /// From an airline's HTTP API.
    Upstream(Arc<Upstream>),
}

impl ProviderMode {
    /// `mock` or `http`, as shown in `/api/providers`.
    pub fn name(&self) -> &'static str {
        match self {
            ProviderMode::Mock(_) => "mock",
            ProviderMode::Upstream(_) => "http",
        }
    }

    /// The mode a file's `mock:` and `upstream:` keys give, with its
    /// problems recorded: exactly one of them must be written.
    pub fn from_specs(
        mock: Option<&Spanned<MockSpec>>,
        upstream: Option<&Spanned<UpstreamSpec>>,
        problems: &mut Problems,
    ) -> Option<ProviderMode> {
        match (mock, upstream) {
            (Some(_), Some(upstream)) => {
                problems.at(
                    upstream,
                    "a provider has either `mock` or `upstream`, not both",
                );
                None
            }
            (None, None) => {
                problems.at_position(
                    1,
                    1,
                    "a provider needs a `mock` fare table or an `upstream` API",
                );
                None
            }
            (Some(spec), None) => {
                mock::from_spec(spec, problems).map(|t| ProviderMode::Mock(Box::new(t)))
            }
            (None, Some(upstream)) => {
                Upstream::from_spec(upstream, problems).map(|u| ProviderMode::Upstream(Arc::new(u)))
            }
        }
    }
}
