//! Routes looked up by borrowed airport names. Tables key a route by its
//! owned `(String, String)`; building such a key for each lookup copied
//! both airports, two allocations a lookup, several an airline a search.
//! A borrowed [`Route`] seen as `dyn Airports` hashes, compares and orders
//! as the owned key does, so `HashMap` and `BTreeSet` find it as they are.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};

/// What a map holds for the route `from`-`to`.
pub(crate) fn get<'m, V, S: BuildHasher>(
    table: &'m HashMap<(String, String), V, S>,
    from: &str,
    to: &str,
) -> Option<&'m V> {
    table.get(&Route(from, to) as &dyn Airports)
}

/// Whether a set holds the route `from`-`to`.
pub(crate) fn contains(set: &BTreeSet<(String, String)>, from: &str, to: &str) -> bool {
    set.contains(&Route(from, to) as &dyn Airports)
}

/// A route's two airports, however they are held.
pub(crate) trait Airports {
    fn pair(&self) -> (&str, &str);
}

impl Airports for (String, String) {
    fn pair(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

/// A route by borrowed airport names.
struct Route<'a>(&'a str, &'a str);

impl Airports for Route<'_> {
    fn pair(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn Airports + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn Airports + 'a) {
        self
    }
}

// Hashed, compared and ordered as the `(String, String)` keys are, as
// `Borrow` requires: a tuple of `&str` hashes and orders as a tuple of
// `String`.
impl Hash for dyn Airports + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pair().hash(state);
    }
}

impl PartialEq for dyn Airports + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.pair() == other.pair()
    }
}

impl Eq for dyn Airports + '_ {}

impl PartialOrd for dyn Airports + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn Airports + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        self.pair().cmp(&other.pair())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::{contains, get};

    const CODES: [&str; 8] = ["CGK", "DPS", "SIN", "KUL", "SUB", "UPG", "KNO", "BPN"];

    fn pairs() -> Vec<(String, String)> {
        let mut all = Vec::new();
        for (i, from) in CODES.iter().enumerate() {
            for to in &CODES[i + 1..] {
                all.push((from.to_string(), to.to_string()));
            }
        }
        all
    }

    #[test]
    fn routes_are_found_by_borrowed_airports_as_by_owned_ones() {
        let routes: HashMap<(String, String), usize> = pairs()
            .into_iter()
            .enumerate()
            .map(|(n, k)| (k, n))
            .collect();
        for ((from, to), n) in &routes {
            assert_eq!(get(&routes, from, to), Some(n));
        }
        // Reversed, unknown, and split differently: no match.
        assert_eq!(get(&routes, "DPS", "CGK"), None);
        assert_eq!(get(&routes, "CGK", "XXX"), None);
        assert_eq!(get(&routes, "CG", "KDPS"), None);
    }

    #[test]
    fn a_set_of_routes_is_searched_in_its_own_order() {
        // Every route, and every near miss, agrees with an owned lookup:
        // the borrowed order must be the owned one or the tree search
        // goes the wrong way.
        let all = pairs();
        let set: BTreeSet<(String, String)> = all.iter().step_by(2).cloned().collect();
        for (a, b) in &all {
            for (from, to) in [(a, b), (b, a)] {
                let owned = set.contains(&(from.clone(), to.clone()));
                assert_eq!(contains(&set, from, to), owned, "{from}-{to}");
            }
        }
        assert!(!contains(&set, "CG", "KDPS"));
        assert!(!contains(&BTreeSet::new(), "CGK", "DPS"));
    }
}
