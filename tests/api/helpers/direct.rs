//! Driving an upstream provider directly, not through the HTTP API: for
//! search values the API would refuse (hostile ones), to see what the
//! provider alone does with them.

use std::path::Path;

use airstream::model::{AirlineRef, Cabin, SearchRequest};
use airstream::providers::load::parse_provider;
use airstream::providers::upstream::{Provider, Upstream};
use airstream::providers::{ProviderDef, ProviderMode};

use super::date_in;

/// An upstream provider file, loaded as `file` (it must be valid).
pub struct Direct {
    def: ProviderDef,
    airline: AirlineRef,
}

impl Direct {
    /// Loads `yaml` as `file`.
    pub fn load(file: &str, yaml: &str) -> Direct {
        let def = parse_provider(Path::new(file), yaml).expect("valid file");
        let airline = def.airline.clone();
        Direct { def, airline }
    }

    /// Its upstream.
    pub fn upstream(&self) -> &Upstream {
        match &self.def.mode {
            ProviderMode::Upstream(upstream) => upstream,
            _ => panic!("`{}` is not an upstream provider", self.def.id),
        }
    }

    /// The provider a call is made for.
    pub fn provider(&self) -> Provider<'_> {
        Provider {
            id: &self.def.id,
            airline: &self.airline,
            self_url: "http://127.0.0.1:1",
        }
    }

    /// A search of this provider for one adult in economy in 14 days, with
    /// any `from` and `to`.
    pub fn search(&self, from: &str, to: &str) -> SearchRequest {
        let now = jiff::Timestamp::now();
        SearchRequest {
            search_id: uuid::Uuid::new_v4(),
            from: from.into(),
            to: to.into(),
            date: date_in(14).parse().unwrap(),
            return_date: None,
            passengers: 1,
            travellers: None,
            max_stops: None,
            convert: None,
            cabin: Cabin::Economy,
            cache: true,
            providers: vec![self.def.id.clone()],
            created_at: now,
            deadline: now,
        }
    }
}
