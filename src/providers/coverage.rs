//! Where an airline flies: a search asks only the airlines that can serve
//! its route, since every call to an airline costs time and, for a real
//! one, money.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::model::normalize_code;
use crate::providers::problems::Problems;

/// The routes an airline serves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// It does not say: ask it for every route.
    pub everywhere: bool,
    /// Each (origin, destination) it flies.
    pub routes: BTreeSet<(String, String)>,
    /// Airports between any two of which it flies.
    pub airports: BTreeSet<String>,
}

impl Coverage {
    /// An airline that does not say where it flies.
    pub fn everywhere() -> Self {
        Self {
            everywhere: true,
            ..Self::default()
        }
    }

    /// Whether it may have flights from `from` to `to`.
    pub fn serves(&self, from: &str, to: &str) -> bool {
        self.everywhere
            || super::route_key::contains(&self.routes, from, to)
            || (self.airports.contains(from) && self.airports.contains(to))
    }

    /// Whether it may have flights for a search from `from` to `to`, one
    /// way or, with a return, either way.
    pub fn serves_search(&self, from: &str, to: &str, round_trip: bool) -> bool {
        self.serves(from, to) || (round_trip && self.serves(to, from))
    }
}

/// An airport code written in a provider file: upper-cased, and one of
/// airstream's airport table; otherwise `None`, with the problem recorded
/// at the code.
pub(crate) fn airport(code: &Spanned<String>, problems: &mut Problems) -> Option<String> {
    let upper = normalize_code(&code.value, 3, false);
    match &upper {
        None => problems.at(
            code,
            format!("`{}` is not a three-letter IATA airport code", code.value),
        ),
        Some(known) if crate::airports::lookup(known).is_none() => {
            problems.at(
                code,
                format!("`{known}` is not the IATA code of any airport airstream knows"),
            );
            return None;
        }
        Some(_) => {}
    }
    upper
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_one_way_and_airports_any_way() {
        let routes = Coverage {
            routes: [("CGK".to_string(), "DPS".to_string())].into(),
            ..Coverage::default()
        };
        assert!(routes.serves("CGK", "DPS"));
        assert!(!routes.serves("DPS", "CGK"));
        assert!(routes.serves_search("DPS", "CGK", true));
        let airports = Coverage {
            airports: ["CGK".to_string(), "SIN".to_string()].into(),
            ..Coverage::default()
        };
        assert!(airports.serves("SIN", "CGK") && !airports.serves("SIN", "DPS"));
        assert!(Coverage::everywhere().serves("ABC", "XYZ"));
        assert!(!Coverage::default().serves("CGK", "DPS"));
    }
}
