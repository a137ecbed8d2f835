//! Building a mock fare table from its YAML: every field checked, every
//! problem recorded at its position.

use std::str::FromStr;

use foldhash::{HashMap, HashMapExt};
use jiff::civil::Time;
use rust_decimal::Decimal;
use serde_saphyr::Spanned;

use super::clock::{self, Shift};
use super::fares::{day_set, factor, fares_from_spec, pricing_from_spec};
use super::{Connection, Flight, MockTable};
use crate::duration::WrittenDuration;
use crate::model::money;
use crate::model::{Cabin, normalize_code};
use crate::providers::coverage::airport;
use crate::providers::definition::{FlightSpec, MockSpec, RouteSpec};
use crate::providers::problems::Problems;

/// Builds a mock table from its YAML, recording every problem.
pub fn from_spec(spec: &Spanned<MockSpec>, problems: &mut Problems) -> Option<MockTable> {
    let s = &spec.value;
    let before = problems.len();
    let currency = normalize_code(&s.currency.value, 3, false).unwrap_or_else(|| {
        problems.at(
            &s.currency,
            format!(
                "`{}` is not an ISO 4217 currency code such as IDR or USD",
                s.currency.value
            ),
        );
        String::new()
    });
    // Amounts carry their currency's digits; `decimals` may only repeat them.
    let decimals = money::digits(&currency);
    if let Some(d) = &s.decimals
        && d.value != decimals
        && !currency.is_empty()
    {
        problems.at(
            d,
            format!(
                "{currency} amounts have {decimals} decimal places (ISO 4217), so `decimals` \
                 cannot be {}: remove it",
                d.value
            ),
        );
    }
    let mut routes: HashMap<(String, String), Vec<Flight>> = HashMap::new();
    let mut shifts: HashMap<(String, String), Shift> = HashMap::new();
    let mut route_lines: HashMap<(String, String), u64> = HashMap::new();
    if s.routes.value.is_empty() {
        problems.at(&s.routes, "a mock table needs at least one route");
    }
    let mut connections: HashMap<(String, String), Connection> = HashMap::new();
    let mut connection_routes = Vec::new();
    for route in &s.routes.value {
        if route.value.via.is_some() {
            let Some((key, connection)) = connection_from_spec(route, problems) else {
                continue;
            };
            if connections.contains_key(&key) {
                problems.at(
                    route,
                    format!(
                        "the connection {}-{} is listed twice; sell one hub per route",
                        key.0, key.1
                    ),
                );
                continue;
            }
            connection_routes.push((key.clone(), route));
            connections.insert(key, connection);
            continue;
        }
        let Some((key, flights, shift)) = route_from_spec(route, problems) else {
            continue;
        };
        if let Some(line) = route_lines.get(&key) {
            problems.at(
                route,
                format!(
                    "route {}-{} is listed twice (first at line {line})",
                    key.0, key.1
                ),
            );
            continue;
        }
        route_lines.insert(key.clone(), route.referenced.line());
        if let Some(shift) = shift {
            shifts.insert(key.clone(), shift);
        }
        routes.insert(key, flights);
    }
    clock::reverse_shifts(&shifts, problems);
    for ((from, to), route) in connection_routes {
        let via = &connections[&(from.clone(), to.clone())].via;
        for (a, b) in [(&from, via), (via, &to)] {
            if !routes.contains_key(&(a.clone(), b.clone())) {
                problems.at(
                    route.value.via.as_ref().unwrap_or(&route.value.from),
                    format!(
                        "the connection {from}-{to} via {via} needs a route from {a} to {b} in this file"
                    ),
                );
            }
        }
    }
    let pricing = s
        .pricing
        .as_ref()
        .map(|p| pricing_from_spec(p, problems))
        .unwrap_or_default();
    let (brands, taxes, offer_lifetime) = fares_from_spec(s, problems);
    (problems.len() == before).then(|| MockTable {
        currency,
        decimals,
        seed: s.seed.unwrap_or(0),
        routes,
        connections,
        brands,
        taxes,
        offer_lifetime,
        pricing,
    })
}

/// A route's key, its flights, and the time difference they agree on.
type RouteParts = ((String, String), Vec<Flight>, Option<Shift>);

fn route_from_spec(route: &Spanned<RouteSpec>, problems: &mut Problems) -> Option<RouteParts> {
    let r = &route.value;
    let from = airport(&r.from, problems);
    let to = airport(&r.to, problems);
    if let (Some(f), Some(t)) = (&from, &to)
        && f == t
    {
        problems.at(&r.to, format!("route goes from {f} to itself"));
    }
    for (written, name) in [
        (
            r.connection.as_ref().map(|c| c.referenced.line()),
            "connection",
        ),
        (r.factor.as_ref().map(|f| f.referenced.line()), "factor"),
    ] {
        if written.is_some() {
            problems.at(
                route,
                format!("`{name}` belongs to a connecting route: add `via: <hub>` or remove it"),
            );
        }
    }
    let listed: &[Spanned<FlightSpec>] = match &r.flights {
        Some(list) if !list.value.is_empty() => &list.value,
        Some(list) => {
            problems.at(list, "a route needs at least one flight");
            &[]
        }
        None => {
            problems.at(route, "a route needs at least one flight under `flights:`");
            &[]
        }
    };
    let mut flights = Vec::new();
    let mut implied = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for flight in listed {
        if let Some((f, shift)) = flight_from_spec(flight, problems) {
            if let Some(line) = seen.get(&f.number) {
                problems.at(
                    &flight.value.number,
                    format!(
                        "flight {} is listed twice on this route (first at line {line})",
                        f.number
                    ),
                );
                continue;
            }
            seen.insert(f.number.clone(), flight.value.number.referenced.line());
            flights.push(f);
            implied.push((flight, shift));
        }
    }
    let (from, to) = (from?, to?);
    let shift = clock::route_shift(&from, &to, &implied, problems);
    Some(((from, to), flights, shift))
}

/// A flight and the time difference between its airports that its times
/// imply (see [`clock`]).
fn flight_from_spec(
    flight: &Spanned<FlightSpec>,
    problems: &mut Problems,
) -> Option<(Flight, i64)> {
    let f = &flight.value;
    let before = problems.len();
    let number = f.number.value.trim().to_ascii_uppercase();
    if !is_flight_number(&number) {
        problems.at(
            &f.number,
            format!("`{}` is not a flight number such as GA404", f.number.value),
        );
    }
    let depart = parse_time(&f.depart, problems);
    let duration = f.duration.value.value.get();
    let duration_minutes = (duration.as_secs() / 60) as u32;
    if duration_minutes == 0 || duration_minutes > 24 * 60 {
        problems.at(
            &f.duration,
            format!(
                "duration must be from 1m to 24h, got `{}`",
                f.duration.value.text
            ),
        );
    }
    let arrive = f.arrive.as_ref().and_then(|a| {
        let (time_text, offset) = match a.value.split_once('+') {
            Some((t, d)) => (
                t.trim(),
                d.trim().parse::<i8>().ok().filter(|d| (0..=2).contains(d)),
            ),
            None => (a.value.trim(), Some(0)),
        };
        match (Time::strptime("%H:%M", time_text), offset) {
            (Ok(t), Some(d)) => Some((t, d)),
            _ => {
                problems.at(
                    a,
                    format!(
                        "`{}` is not an arrival time such as 10:20 or 01:05+1",
                        a.value
                    ),
                );
                None
            }
        }
    });
    let days = match &f.days {
        None => [true; 7],
        Some(list) => day_set(list, problems),
    };
    let mut fares = Vec::new();
    if f.fares.value.is_empty() {
        problems.at(&f.fares, "a flight needs a fare for at least one cabin");
    }
    for (cabin, amount) in &f.fares.value {
        let Some(cabin) = Cabin::parse(cabin) else {
            problems.at(
                amount,
                format!(
                    "`{cabin}` is not a cabin; use economy, premium_economy, business or first"
                ),
            );
            continue;
        };
        match Decimal::from_str(amount.value.0.trim()) {
            Ok(d) if d > Decimal::ZERO => fares.push((cabin, d)),
            _ => problems.at(
                amount,
                format!("fare `{}` is not a positive amount", amount.value.0),
            ),
        }
    }
    let seats = match &f.seats {
        Some(s) if s.value == 0 => {
            problems.at(s, "seats must be at least 1");
            1
        }
        Some(s) => s.value,
        None => 9,
    };
    let stops = f.stops.as_ref().map(|s| s.value).unwrap_or(0);
    let operated_by = f.operated_by.as_ref().and_then(|o| {
        let code = o.value.trim().to_ascii_uppercase();
        if !is_flight_number(&code) || code == number {
            problems.at(
                o,
                format!(
                    "`{}` is not the operating airline's flight number, such as QG302",
                    o.value
                ),
            );
            return None;
        }
        Some(code)
    });
    if let Some(s) = f.stops.as_ref().filter(|s| s.value > 3) {
        problems.at(s, format!("stops must be 0 to 3, got {}", s.value));
    }
    if problems.len() != before {
        return None;
    }
    let depart = depart?;
    let shift = clock::flight_shift(f, depart, arrive, duration_minutes, problems)?;
    Some((
        Flight {
            number,
            depart,
            duration_minutes,
            arrive,
            days,
            fares,
            seats,
            stops,
            operated_by,
        },
        shift,
    ))
}

/// A connecting route (one with `via`): its key and its window.
fn connection_from_spec(
    route: &Spanned<RouteSpec>,
    problems: &mut Problems,
) -> Option<((String, String), Connection)> {
    let r = &route.value;
    let before = problems.len();
    let from = airport(&r.from, problems);
    let to = airport(&r.to, problems);
    let via = r.via.as_ref().and_then(|v| airport(v, problems));
    if let (Some(f), Some(t), Some(v)) = (&from, &to, &via)
        && (f == t || v == f || v == t)
    {
        problems.at(
            route,
            format!("a connection goes through a third airport: {f} to {t} via {v}"),
        );
    }
    if let Some(flights) = &r.flights {
        problems.at(
            flights,
            "a connecting route has no flights of its own: it sells the file's flights to and from its hub; remove `flights:`",
        );
    }
    let minutes = |d: &Option<Spanned<WrittenDuration>>, default: i64| {
        d.as_ref()
            .map_or(default, |d| (d.value.value.get().as_secs() / 60) as i64)
    };
    let window = r.connection.as_ref().map(|c| &c.value);
    let min_minutes = minutes(&window.and_then(|w| w.min.clone()), 45);
    let max_minutes = minutes(&window.and_then(|w| w.max.clone()), 12 * 60);
    if !(20 <= min_minutes && min_minutes <= max_minutes && max_minutes <= 24 * 60)
        && let Some(c) = &r.connection
    {
        problems.at(
            c,
            format!(
                "a connection must be at least 20m, at most 24h, and `min` not above `max`; got {min_minutes}m to {max_minutes}m"
            ),
        );
    }
    let factor = r
        .factor
        .as_ref()
        .map_or(Decimal::ONE, |f| factor(f, "factor", problems));
    if problems.len() != before {
        return None;
    }
    Some((
        (from?, to?),
        Connection {
            via: via?,
            min_minutes,
            max_minutes,
            factor,
        },
    ))
}

/// An airline code of two letters or digits, then one to five digits.
fn is_flight_number(number: &str) -> bool {
    number.len() >= 3
        && number.len() <= 7
        && number.bytes().take(2).all(|b| b.is_ascii_alphanumeric())
        && number.bytes().skip(2).all(|b| b.is_ascii_digit())
}

fn parse_time(text: &Spanned<String>, problems: &mut Problems) -> Option<Time> {
    match Time::strptime("%H:%M", text.value.trim()) {
        Ok(t) => Some(t),
        Err(_) => {
            problems.at(
                text,
                format!("`{}` is not a time such as 07:30", text.value),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_problem_is_reported() {
        let spec: Spanned<MockSpec> = serde_saphyr::from_str(
            "currency: rupiah\nroutes:\n  - from: CGK\n    to: DPS\n    flights:\n      - { number: GA1, depart: \"7:3x\", duration: 0s, days: [someday], fares: {} }\n  - from: CGK\n    to: DPS\n    flights: []\n  - from: CGK\n    to: QQQ\n    flights: []\npricing: { jitter: 2, weekend: -1, advance: { soon: 1.1 }, child: 1.5, infant: -0.1 }\n",
        )
        .unwrap();
        let mut problems = Problems::default();
        assert!(from_spec(&spec, &mut problems).is_none());
        let text = problems.to_string();
        for needle in [
            "not an ISO 4217",
            "not a time",
            "duration must be",
            "`someday` is not a day",
            "at least one cabin",
            "listed twice",
            "at least one flight",
            "jitter must be",
            "`QQQ` is not the IATA code of any airport",
            "weekend must be a positive factor",
            "child must be a share of the adult fare from 0 to 1",
            "infant must be a share of the adult fare from 0 to 1",
            "`soon` is not a number of days",
        ] {
            assert!(text.contains(needle), "{needle} missing in:\n{text}");
        }
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    fn problems_of(routes: &str) -> String {
        let yaml = format!("currency: IDR\nroutes:\n{routes}");
        let spec: Spanned<MockSpec> = serde_saphyr::from_str(&yaml).expect("yaml");
        let mut problems = Problems::default();
        from_spec(&spec, &mut problems);
        problems.to_string()
    }

    const CGK_DPS: &str = "  - from: CGK\n    to: DPS\n    flights:\n";

    #[test]
    fn consistent_times_pass() {
        let text = problems_of(&format!(
            "{CGK_DPS}      - {{ number: GA1, depart: \"05:35\", duration: 1h50m, arrive: \"08:25\", fares: {{ economy: 1 }} }}\n      - {{ number: GA3, depart: \"23:10\", duration: 1h50m, arrive: \"02:00+1\", fares: {{ economy: 1 }} }}\n  - from: DPS\n    to: CGK\n    flights:\n      - {{ number: GA2, depart: \"06:10\", duration: 1h55m, arrive: \"07:05\", fares: {{ economy: 1 }} }}\n"
        ));
        assert_eq!(text, "");
    }

    #[test]
    fn an_arrival_that_no_time_zone_explains_is_reported_at_the_flight() {
        let text = problems_of(&format!(
            "{CGK_DPS}      - {{ number: GA1, depart: \"06:00\", duration: 5m, arrive: \"08:45\", fares: {{ economy: 1 }} }}\n"
        ));
        assert!(
            text.starts_with("6:63: GA1 departs 06:00 and arrives `08:45`, 2h45m later by the clocks, but its duration is `5m`: the 2h40m between them cannot be a difference of time zones"),
            "{text}"
        );
        let text = problems_of(&format!(
            "{CGK_DPS}      - {{ number: GA1, depart: \"00:10\", duration: 1h, arrive: \"23:40+2\", fares: {{ economy: 1 }} }}\n"
        ));
        assert!(
            text.contains("more than any two time zones differ"),
            "{text}"
        );
    }

    #[test]
    fn flights_of_a_route_and_its_reverse_must_agree() {
        let text = problems_of(&format!(
            "{CGK_DPS}      - {{ number: GA1, depart: \"05:35\", duration: 1h50m, arrive: \"08:25\", fares: {{ economy: 1 }} }}\n      - {{ number: GA3, depart: \"09:00\", duration: 1h50m, fares: {{ economy: 1 }} }}\n"
        ));
        assert!(
            text.starts_with("7:51: GA3 implies DPS keeps the same time as CGK, but GA1 (line 6) implies DPS clocks are 1h ahead of CGK"),
            "{text}"
        );
        assert!(text.contains("without `arrive`"), "{text}");
        let text = problems_of(&format!(
            "{CGK_DPS}      - {{ number: GA1, depart: \"05:35\", duration: 1h50m, arrive: \"08:25\", fares: {{ economy: 1 }} }}\n  - from: DPS\n    to: CGK\n    flights:\n      - {{ number: GA2, depart: \"06:10\", duration: 1h55m, arrive: \"08:05\", fares: {{ economy: 1 }} }}\n"
        ));
        assert!(
            text.starts_with("10:19: GA2 implies CGK keeps the same time as DPS, but GA1 (line 6) on the way back implies CGK clocks are 1h behind DPS"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod decimals_tests {
    use super::*;

    fn problems_of(mock: &str) -> String {
        let spec: Spanned<MockSpec> = serde_saphyr::from_str(mock).expect("yaml");
        let mut problems = Problems::default();
        from_spec(&spec, &mut problems);
        problems.to_string()
    }

    const ROUTES: &str = "routes:\n  - from: CGK\n    to: DPS\n    flights:\n      - { number: GA1, depart: \"07:00\", duration: 1h, fares: { economy: 1 } }\n";

    #[test]
    fn decimals_may_only_repeat_the_currencys_digits() {
        assert_eq!(
            problems_of(&format!("currency: IDR\ndecimals: 0\n{ROUTES}")),
            ""
        );
        assert_eq!(
            problems_of(&format!("currency: KWD\ndecimals: 3\n{ROUTES}")),
            ""
        );
        let text = problems_of(&format!("currency: SGD\ndecimals: 0\n{ROUTES}"));
        assert!(
            text.starts_with("2:11: SGD amounts have 2 decimal places (ISO 4217), so `decimals` cannot be 0: remove it"),
            "{text}"
        );
    }
}
