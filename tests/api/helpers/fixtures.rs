//! What tests search for and serve: the sample providers, dates, search
//! bodies and small mock airlines.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The repository's sample `providers.d/`.
pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("providers.d")
}

/// A date `days` ahead of today (UTC), as `YYYY-MM-DD`.
pub fn date_in(days: i64) -> String {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    today
        .checked_add(jiff::Span::new().days(days))
        .expect("date")
        .to_string()
}

/// A valid search body for CGK to DPS two weeks ahead.
pub fn search_body() -> Value {
    json!({"from": "cgk", "to": "DPS", "date": date_in(14), "passengers": 2})
}

/// A minimal mock airline: CGK-DPS daily with two flights, DPS-CGK with one.
pub fn mock_airline(id: &str, code: &str, latency: &str, extra: &str) -> String {
    format!(
        r#"id: {id}
name: Test Air {code}
airline: {code}
{extra}
latency:
  {latency}
mock:
  currency: IDR
  seed: 7
  routes:
    - from: CGK
      to: DPS
      flights:
        - {{ number: {code}100, depart: "07:30", duration: 1h50m, fares: {{ economy: 1000000, business: 3000000 }}, seats: 9 }}
        - {{ number: {code}102, depart: "12:15", duration: 1h50m, fares: {{ economy: 900000 }}, seats: 9 }}
    - from: DPS
      to: CGK
      flights:
        - {{ number: {code}101, depart: "10:30", duration: 1h50m, fares: {{ economy: 1100000, business: 3200000 }}, seats: 9 }}
  pricing: {{ jitter: 0.05 }}
"#
    )
}

/// An airline that answers at once.
pub fn fast_airline(id: &str, code: &str) -> String {
    mock_airline(id, code, "fixed: 0ms", "")
}

/// `fast_airline` with fares ten times higher.
pub fn pricier_airline(id: &str, code: &str) -> String {
    fast_airline(id, code)
        .replace("economy: 1000000", "economy: 10000000")
        .replace("economy: 900000", "economy: 9000000")
}

/// The cheapest per-passenger fare of a `complete` event.
pub fn cheapest_fare(complete: &Value) -> u64 {
    complete["offers"][0]["price"]["per_passenger"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The sample provider files, as (file name, text).
pub fn sample_files() -> Vec<(String, String)> {
    std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The sample files without their random failures (`latency.errors`: the
/// share of calls that fail or hang), for tests whose checks need every
/// sample airline to answer: with them, such a check fails whenever its
/// airline's call does (1 to 6% of calls, by airline).
pub fn steady_sample_files() -> Vec<(String, String)> {
    sample_files()
        .into_iter()
        .map(|(name, text)| {
            let kept: Vec<&str> = text
                .lines()
                .filter(|line| !line.trim_start().starts_with("errors: {"))
                .collect();
            (name, kept.join("\n") + "\n")
        })
        .collect()
}

/// Asserts that a provider file is refused at load with a problem whose
/// message contains `needle`, at a line of the file.
pub fn refused_at_a_line(file: &str, text: &str, needle: &str) {
    let problems = airstream::providers::load::parse_provider(Path::new(file), text)
        .err()
        .unwrap_or_else(|| panic!("accepted, though it should say `{needle}`"));
    let all: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains(needle) && p.line > 0),
        "{needle}: {all:?}"
    );
}
