//! The airports airstream knows: a table of every airport with an IATA
//! code (name, city, country, time zone), compiled into the binary from
//! `data/airports.csv` (made by `scripts/airports.py` from the PyPI
//! package `airportsdata`, MIT licence; see `data/airports.LICENSE`).

use std::sync::LazyLock;

use serde::Serialize;

/// One airport. Its text lives in one block read once for the whole
/// table: about 8,000 airports as owned strings took 2.8 MiB, a tenth of
/// an idle server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Airport {
    /// IATA code, such as `CGK`.
    pub code: &'static str,
    /// Name, such as `Soekarno-Hatta International Airport`.
    pub name: &'static str,
    /// The city it serves; empty when the table does not say.
    pub city: &'static str,
    /// ISO 3166 country code, such as `ID`.
    pub country: &'static str,
    /// IANA time zone, such as `Asia/Jakarta`.
    pub tz: &'static str,
}

/// The table, read once, sorted by code.
static AIRPORTS: LazyLock<Vec<Airport>> = LazyLock::new(|| {
    let text = include_str!("../data/airports.csv");
    // Every field's text, one after another, then where each airport's
    // fields end.
    let mut block = String::with_capacity(text.len());
    let mut ends: Vec<[usize; 5]> = Vec::new();
    for record in csv::Reader::from_reader(text.as_bytes())
        .records()
        .filter_map(Result::ok)
        .filter(|r| r.get(0).is_some_and(|code| code.len() == 3))
    {
        ends.push(std::array::from_fn(|i| {
            block.push_str(record.get(i).unwrap_or_default());
            block.len()
        }));
    }
    let block: &'static str = Box::leak(block.into_boxed_str());
    let mut start = 0;
    let mut airports: Vec<Airport> = ends
        .into_iter()
        .map(|ends| {
            let [code, name, city, country, tz] = ends.map(|end| {
                let field = &block[start..end];
                start = end;
                field
            });
            Airport {
                code,
                name,
                city,
                country,
                tz,
            }
        })
        .collect();
    // A code listed twice keeps its last line, as a map filled in order
    // would.
    airports.sort_by_key(|a| a.code);
    airports.dedup_by(|later, earlier| {
        let same = later.code == earlier.code;
        if same {
            *earlier = *later;
        }
        same
    });
    airports.shrink_to_fit();
    airports
});

/// The airport of an upper-case IATA code, when there is one.
pub fn lookup(code: &str) -> Option<&'static Airport> {
    let table: &'static [Airport] = &AIRPORTS;
    let at = table.binary_search_by(|a| a.code.cmp(code)).ok()?;
    table.get(at)
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
        assert_eq!((cgk.country, cgk.tz), ("ID", "Asia/Jakarta"));
        assert_eq!(cgk.name, "Soekarno-Hatta International Airport");
        assert_eq!(lookup("DPS").unwrap().tz, "Asia/Makassar");
        assert_eq!(lookup("SIN").unwrap().city, "Singapore");
        for code in ["HND", "KUL", "DMK", "YIA", "SUB", "KNO", "UPG", "BPN"] {
            assert!(lookup(code).is_some(), "{code}");
        }
        assert!(lookup("XXX").is_none());
        // Every zone names one jiff knows, so times can be placed in it.
        for airport in AIRPORTS.iter() {
            assert!(
                jiff::tz::TimeZone::get(airport.tz).is_ok(),
                "{}: {}",
                airport.code,
                airport.tz
            );
        }
    }

    #[test]
    fn every_airport_reads_as_its_line_says() {
        let text = include_str!("../data/airports.csv");
        let mut lines = std::collections::HashMap::new();
        for record in csv::Reader::from_reader(text.as_bytes()).records() {
            let record = record.unwrap();
            let fields: Vec<String> = record.iter().map(str::to_string).collect();
            if fields[0].len() == 3 {
                lines.insert(fields[0].clone(), fields);
            }
        }
        assert_eq!(count(), lines.len());
        for (code, fields) in &lines {
            let a = lookup(code).unwrap_or_else(|| panic!("{code} missing"));
            assert_eq!(
                [a.code, a.name, a.city, a.country, a.tz],
                [0, 1, 2, 3, 4].map(|i| fields[i].as_str()),
            );
        }
        // A quoted field with a comma in it.
        assert_eq!(lookup("BKS").unwrap().city, "Bengkulu, Sumatra Island");
    }
}
