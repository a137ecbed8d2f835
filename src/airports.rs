//! The airports airstream knows: a table of every airport with an IATA
//! code (name, city, country, time zone), compiled into the binary from
//! `data/airports.csv` (made by `scripts/airports.py` from the PyPI
//! package `airportsdata`, MIT licence; see `data/airports.LICENSE`).

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Serialize;

/// One airport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Airport {
    /// IATA code, such as `CGK`.
    pub code: String,
    /// Name, such as `Soekarno-Hatta International Airport`.
    pub name: String,
    /// The city it serves; empty when the table does not say.
    pub city: String,
    /// ISO 3166 country code, such as `ID`.
    pub country: String,
    /// IANA time zone, such as `Asia/Jakarta`.
    pub tz: String,
}

/// The table, read once.
static AIRPORTS: LazyLock<HashMap<String, Airport>> = LazyLock::new(|| {
    let text = include_str!("../data/airports.csv");
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| {
            let field = |i: usize| r.get(i).unwrap_or_default().to_string();
            let airport = Airport {
                code: field(0),
                name: field(1),
                city: field(2),
                country: field(3),
                tz: field(4),
            };
            (airport.code.len() == 3).then(|| (airport.code.clone(), airport))
        })
        .collect()
});

/// The airport of an upper-case IATA code, when there is one.
pub fn lookup(code: &str) -> Option<&'static Airport> {
    AIRPORTS.get(code)
}

/// How many airports the table holds.
pub fn count() -> usize {
    AIRPORTS.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_knows_the_sample_airports_and_their_zones() {
        assert!(count() > 7_000, "{}", count());
        let cgk = lookup("CGK").expect("CGK");
        assert_eq!(
            (cgk.country.as_str(), cgk.tz.as_str()),
            ("ID", "Asia/Jakarta")
        );
        assert_eq!(lookup("DPS").unwrap().tz, "Asia/Makassar");
        assert_eq!(lookup("SIN").unwrap().city, "Singapore");
        for code in ["HND", "KUL", "DMK", "YIA", "SUB", "KNO", "UPG", "BPN"] {
            assert!(lookup(code).is_some(), "{code}");
        }
        assert!(lookup("XXX").is_none());
        // Every zone names one jiff knows, so times can be placed in it.
        for airport in AIRPORTS.values() {
            assert!(
                jiff::tz::TimeZone::get(&airport.tz).is_ok(),
                "{}: {}",
                airport.code,
                airport.tz
            );
        }
    }
}
