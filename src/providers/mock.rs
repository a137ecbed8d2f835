//! The mock fare engine: a fare table per route, pricing rules, and a seeded
//! RNG so that the same search with the same seed gives the same offers.

use std::collections::HashMap;
use std::str::FromStr;

use jiff::ToSpan;
use jiff::civil::{Date, DateTime, Time, Weekday};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_saphyr::Spanned;

use super::definition::{FlightSpec, MockSpec, PricingSpec, RouteSpec};
use super::load::Problems;
use crate::search::model::{AirlineRef, Cabin, Leg, Offer, Price, SearchRequest, normalize_code};

/// A validated mock fare table.
#[derive(Clone, Debug, PartialEq)]
pub struct MockTable {
    /// ISO 4217 currency of every amount.
    pub currency: String,
    /// Decimal places amounts are rounded to.
    pub decimals: u32,
    /// RNG seed.
    pub seed: u64,
    /// Flights by (origin, destination).
    pub routes: HashMap<(String, String), Vec<Flight>>,
    /// Pricing rules.
    pub pricing: Pricing,
}

/// One scheduled flight of a mock table.
#[derive(Clone, Debug, PartialEq)]
pub struct Flight {
    /// Flight number.
    pub number: String,
    /// Local departure time.
    pub depart: Time,
    /// Block time in minutes.
    pub duration_minutes: u32,
    /// Local arrival time and day offset, when the file gives one.
    pub arrive: Option<(Time, i8)>,
    /// Operating days, Monday first.
    pub days: [bool; 7],
    /// Base fare per cabin.
    pub fares: Vec<(Cabin, Decimal)>,
    /// Seats for sale per cabin at most.
    pub seats: u16,
    /// Intermediate stops.
    pub stops: u8,
}

/// Pricing rules of a mock table.
#[derive(Clone, Debug, PartialEq)]
pub struct Pricing {
    /// Weekend factor.
    pub weekend: Decimal,
    /// Weekend days, Monday first.
    pub weekend_days: [bool; 7],
    /// Advance-purchase steps `(days before departure, factor)`, ascending.
    pub advance: Vec<(i64, Decimal)>,
    /// Plus or minus this share, drawn per offer.
    pub jitter: f64,
}

impl Default for Pricing {
    fn default() -> Self {
        Self {
            weekend: Decimal::ONE,
            weekend_days: [false, false, false, false, false, true, true],
            advance: Vec::new(),
            jitter: 0.0,
        }
    }
}

/// Who is quoting: the provider id and the airline shown on offers.
#[derive(Clone, Debug)]
pub struct Quoter<'a> {
    /// Provider id.
    pub provider: &'a str,
    /// Airline on the offers.
    pub airline: &'a AirlineRef,
}

impl MockTable {
    /// The offers this airline makes for a search, given today's date (for
    /// advance-purchase pricing). Deterministic for a given seed, search and
    /// day.
    pub fn offers(&self, quoter: &Quoter<'_>, search: &SearchRequest, today: Date) -> Vec<Offer> {
        let mut offers = Vec::new();
        self.leg_offers(quoter, search, Leg::Outbound, today, &mut offers);
        if search.return_date.is_some() {
            self.leg_offers(quoter, search, Leg::Inbound, today, &mut offers);
        }
        offers
    }

    fn leg_offers(
        &self,
        quoter: &Quoter<'_>,
        search: &SearchRequest,
        leg: Leg,
        today: Date,
        out: &mut Vec<Offer>,
    ) {
        let (from, to, date) = match (leg, search.return_date) {
            (Leg::Outbound, _) => (&search.from, &search.to, search.date),
            (Leg::Inbound, Some(back)) => (&search.to, &search.from, back),
            (Leg::Inbound, None) => return,
        };
        let Some(flights) = self.routes.get(&(from.clone(), to.clone())) else {
            return;
        };
        let weekday = weekday_index(date.weekday());
        let days_ahead = (date - today).get_days() as i64;
        let mut factor = Decimal::ONE;
        if self.pricing.weekend_days[weekday] {
            factor *= self.pricing.weekend;
        }
        if let Some((_, f)) = self
            .pricing
            .advance
            .iter()
            .rev()
            .find(|(days, _)| *days <= days_ahead)
        {
            factor *= *f;
        }
        for flight in flights.iter().filter(|f| f.days[weekday]) {
            let Some(base) = flight
                .fares
                .iter()
                .find(|(c, _)| *c == search.cabin)
                .map(|(_, b)| *b)
            else {
                continue;
            };
            let mut rng =
                SmallRng::seed_from_u64(offer_seed(self.seed, search, leg, &flight.number, date));
            let seats_left: u16 = rng.random_range(1..=flight.seats);
            if seats_left < u16::from(search.passengers) {
                continue;
            }
            let jitter = if self.pricing.jitter > 0.0 {
                rng.random_range(-self.pricing.jitter..=self.pricing.jitter)
            } else {
                0.0
            };
            let jitter = Decimal::from_f64_retain(1.0 + jitter).unwrap_or(Decimal::ONE);
            let per_passenger = (base * factor * jitter)
                .round_dp_with_strategy(self.decimals, RoundingStrategy::MidpointAwayFromZero);
            let total = per_passenger * Decimal::from(search.passengers);
            let depart_at = date.to_datetime(flight.depart);
            let arrive_at = flight.arrival(depart_at);
            out.push(Offer {
                id: format!(
                    "{}-{}-{:04}{:02}{:02}-{}",
                    quoter.provider,
                    flight.number,
                    date.year(),
                    date.month(),
                    date.day(),
                    search.cabin
                ),
                provider: quoter.provider.to_string(),
                airline: quoter.airline.clone(),
                flight_number: flight.number.clone(),
                from: from.clone(),
                to: to.clone(),
                depart_at,
                arrive_at,
                duration_minutes: flight.duration_minutes,
                stops: flight.stops,
                cabin: search.cabin,
                seats_left,
                price: Price {
                    total,
                    per_passenger,
                    currency: self.currency.clone(),
                },
                leg,
            });
        }
    }

    /// Every airport this table flies from or to, sorted.
    pub fn airports(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .routes
            .keys()
            .flat_map(|(a, b)| [a.clone(), b.clone()])
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

impl Flight {
    /// Local arrival: the file's arrival time when given, else departure plus
    /// block time.
    fn arrival(&self, depart_at: DateTime) -> DateTime {
        match self.arrive {
            Some((time, day_offset)) => depart_at
                .date()
                .checked_add(i64::from(day_offset).days())
                .unwrap_or(depart_at.date())
                .to_datetime(time),
            None => depart_at
                .checked_add(i64::from(self.duration_minutes).minutes())
                .unwrap_or(depart_at),
        }
    }
}

/// Monday = 0 .. Sunday = 6.
fn weekday_index(day: Weekday) -> usize {
    day.to_monday_zero_offset() as usize
}

/// FNV-1a over the search's identity, so the seed is stable across runs and
/// platforms (unlike `std`'s randomized hasher).
fn offer_seed(seed: u64, search: &SearchRequest, leg: Leg, flight: &str, date: Date) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(search.from.as_bytes());
    eat(search.to.as_bytes());
    eat(date.to_string().as_bytes());
    eat(&[search.passengers]);
    eat(search.cabin.as_str().as_bytes());
    eat(&[matches!(leg, Leg::Inbound) as u8]);
    eat(flight.as_bytes());
    h
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Currencies whose amounts are quoted without decimals.
const ZERO_DECIMAL_CURRENCIES: [&str; 6] = ["IDR", "JPY", "KRW", "VND", "CLP", "ISK"];

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
    let decimals = match &s.decimals {
        Some(d) if d.value > 4 => {
            problems.at(d, format!("decimals must be 0 to 4, got {}", d.value));
            2
        }
        Some(d) => d.value,
        None if ZERO_DECIMAL_CURRENCIES.contains(&currency.as_str()) => 0,
        None => 2,
    };
    let mut routes: HashMap<(String, String), Vec<Flight>> = HashMap::new();
    let mut route_lines: HashMap<(String, String), u64> = HashMap::new();
    if s.routes.value.is_empty() {
        problems.at(&s.routes, "a mock table needs at least one route");
    }
    for route in &s.routes.value {
        let Some((key, flights)) = route_from_spec(route, problems) else {
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
        routes.insert(key, flights);
    }
    let pricing = s
        .pricing
        .as_ref()
        .map(|p| pricing_from_spec(p, problems))
        .unwrap_or_default();
    (problems.len() == before).then(|| MockTable {
        currency,
        decimals,
        seed: s.seed.unwrap_or(0),
        routes,
        pricing,
    })
}

fn route_from_spec(
    route: &Spanned<RouteSpec>,
    problems: &mut Problems,
) -> Option<((String, String), Vec<Flight>)> {
    let r = &route.value;
    let from = airport(&r.from, problems);
    let to = airport(&r.to, problems);
    if let (Some(f), Some(t)) = (&from, &to)
        && f == t
    {
        problems.at(&r.to, format!("route goes from {f} to itself"));
    }
    if r.flights.value.is_empty() {
        problems.at(&r.flights, "a route needs at least one flight");
    }
    let mut flights = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for flight in &r.flights.value {
        if let Some(f) = flight_from_spec(flight, problems) {
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
        }
    }
    Some(((from?, to?), flights))
}

fn airport(code: &Spanned<String>, problems: &mut Problems) -> Option<String> {
    let upper = normalize_code(&code.value, 3, false);
    if upper.is_none() {
        problems.at(
            code,
            format!("`{}` is not a three-letter IATA airport code", code.value),
        );
    }
    upper
}

fn flight_from_spec(flight: &Spanned<FlightSpec>, problems: &mut Problems) -> Option<Flight> {
    let f = &flight.value;
    let before = problems.len();
    let number = f.number.value.trim().to_ascii_uppercase();
    let valid_number = number.len() >= 3
        && number.len() <= 7
        && number.bytes().take(2).all(|b| b.is_ascii_alphanumeric())
        && number.bytes().skip(2).all(|b| b.is_ascii_digit());
    if !valid_number {
        problems.at(
            &f.number,
            format!("`{}` is not a flight number such as GA404", f.number.value),
        );
    }
    let depart = parse_time(&f.depart, problems);
    let duration = f.duration.value.get();
    let duration_minutes = (duration.as_secs() / 60) as u32;
    if duration_minutes == 0 || duration_minutes > 24 * 60 {
        problems.at(
            &f.duration,
            format!(
                "duration must be between 1m and 24h, got {}",
                f.duration.value
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
    if let Some(s) = f.stops.as_ref().filter(|s| s.value > 3) {
        problems.at(s, format!("stops must be 0 to 3, got {}", s.value));
    }
    if problems.len() != before {
        return None;
    }
    Some(Flight {
        number,
        depart: depart?,
        duration_minutes,
        arrive,
        days,
        fares,
        seats,
        stops,
    })
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

fn day_set(list: &Spanned<Vec<Spanned<String>>>, problems: &mut Problems) -> [bool; 7] {
    let mut days = [false; 7];
    if list.value.is_empty() {
        problems.at(
            list,
            "days must name at least one day (mon .. sun), or be left out for every day",
        );
    }
    for day in &list.value {
        let name = day.value.trim().to_ascii_lowercase();
        match DAY_NAMES
            .iter()
            .position(|d| name.starts_with(d) && name.len() <= 9)
        {
            Some(i) => days[i] = true,
            None => problems.at(
                day,
                format!(
                    "`{}` is not a day; use mon, tue, wed, thu, fri, sat or sun",
                    day.value
                ),
            ),
        }
    }
    days
}

/// A positive pricing factor, or 1 with a problem recorded.
fn factor(value: &Spanned<f64>, what: &str, problems: &mut Problems) -> Decimal {
    match Decimal::from_f64_retain(value.value)
        .filter(|d| *d > Decimal::ZERO && value.value <= 100.0)
    {
        Some(d) => d.normalize(),
        None => {
            problems.at(
                value,
                format!(
                    "{what} must be a positive factor such as 1.2, got {}",
                    value.value
                ),
            );
            Decimal::ONE
        }
    }
}

fn pricing_from_spec(spec: &Spanned<PricingSpec>, problems: &mut Problems) -> Pricing {
    let p = &spec.value;
    let mut pricing = Pricing::default();
    if let Some(w) = &p.weekend {
        pricing.weekend = factor(w, "weekend", problems);
    }
    if let Some(steps) = &p.advance {
        for (key, value) in &steps.value {
            let f = factor(value, "an advance-purchase factor", problems);
            match key
                .strip_suffix('d')
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 0)
            {
                Some(days) => pricing.advance.push((days, f)),
                None => problems.at(
                    value,
                    format!("`{key}` is not a number of days such as 0d, 7d or 30d"),
                ),
            }
        }
        pricing.advance.sort_by_key(|(d, _)| *d);
    }
    if let Some(j) = &p.jitter {
        if (0.0..0.5).contains(&j.value) {
            pricing.jitter = j.value;
        } else {
            problems.at(
                j,
                format!(
                    "jitter must be from 0 to 0.5 (a share of the fare), got {}",
                    j.value
                ),
            );
        }
    }
    if let Some(list) = &p.weekend_days {
        pricing.weekend_days = day_set(list, problems);
    }
    pricing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::model::Cabin;
    use jiff::Timestamp;
    use uuid::Uuid;

    fn table(yaml: &str) -> MockTable {
        let spec: Spanned<MockSpec> = serde_saphyr::from_str(yaml).expect("yaml");
        let mut problems = Problems::default();
        let t = from_spec(&spec, &mut problems);
        assert!(problems.is_empty(), "{problems}");
        t.expect("table")
    }

    fn search(date: &str, passengers: u8, cabin: Cabin, back: Option<&str>) -> SearchRequest {
        SearchRequest {
            search_id: Uuid::nil(),
            from: "CGK".into(),
            to: "DPS".into(),
            date: date.parse().unwrap(),
            return_date: back.map(|d| d.parse().unwrap()),
            passengers,
            cabin,
            providers: vec!["t".into()],
            created_at: Timestamp::UNIX_EPOCH,
            deadline: Timestamp::UNIX_EPOCH,
        }
    }

    fn offers(t: &MockTable, s: &SearchRequest, today: &str) -> Vec<Offer> {
        let airline = AirlineRef {
            code: "GA".into(),
            name: "Garuda".into(),
        };
        t.offers(
            &Quoter {
                provider: "t",
                airline: &airline,
            },
            s,
            today.parse().unwrap(),
        )
    }

    const TABLE: &str = r#"
currency: IDR
seed: 1
routes:
  - from: CGK
    to: DPS
    flights:
      - { number: GA404, depart: "07:30", duration: 1h50m, days: [mon, wed, fri, sat], fares: { economy: 1000000, business: 4000000 }, seats: 9 }
      - { number: GA406, depart: "22:30", duration: 1h50m, arrive: "01:20+1", fares: { economy: 800000 } }
  - from: DPS
    to: CGK
    flights:
      - { number: GA405, depart: "10:30", duration: 1h50m, fares: { economy: 1100000 } }
pricing: { weekend: 1.5, advance: { 0d: 2.0, 7d: 1.25, 30d: 1.0 } }
"#;

    #[test]
    fn days_of_operation_filter_flights() {
        let t = table(TABLE);
        // 2026-12-01 is a Tuesday: only the daily GA406 flies.
        let got = offers(
            &t,
            &search("2026-12-01", 1, Cabin::Economy, None),
            "2026-10-01",
        );
        assert_eq!(
            got.iter()
                .map(|o| o.flight_number.as_str())
                .collect::<Vec<_>>(),
            ["GA406"]
        );
        // 2026-12-02 is a Wednesday: both.
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-10-01",
        );
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn weekend_and_advance_factors_multiply_and_round() {
        let t = table(TABLE);
        // Saturday 2026-12-05, 40 days ahead: weekend 1.5 x advance 1.0.
        let got = offers(
            &t,
            &search("2026-12-05", 2, Cabin::Economy, None),
            "2026-10-26",
        );
        let ga404 = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(ga404.price.per_passenger, Decimal::from(1_500_000));
        assert_eq!(ga404.price.total, Decimal::from(3_000_000));
        assert_eq!(ga404.price.currency, "IDR");
        // Wednesday 2026-12-02, 3 days ahead: advance 2.0 (the 0d step).
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-11-29",
        );
        let ga404 = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(ga404.price.per_passenger, Decimal::from(2_000_000));
        // 10 days ahead: the 7d step.
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-11-22",
        );
        let ga404 = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(ga404.price.per_passenger, Decimal::from(1_250_000));
    }

    #[test]
    fn arrival_times_cross_midnight_and_cabins_filter() {
        let t = table(TABLE);
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, None),
            "2026-10-01",
        );
        let late = got.iter().find(|o| o.flight_number == "GA406").unwrap();
        assert_eq!(late.arrive_at.to_string(), "2026-12-03T01:20:00");
        assert_eq!(late.duration_minutes, 110);
        let early = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(early.arrive_at.to_string(), "2026-12-02T09:20:00");
        let business = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Business, None),
            "2026-10-01",
        );
        assert_eq!(business.len(), 1);
        assert_eq!(business[0].cabin, Cabin::Business);
    }

    #[test]
    fn round_trips_add_inbound_offers() {
        let t = table(TABLE);
        let got = offers(
            &t,
            &search("2026-12-02", 1, Cabin::Economy, Some("2026-12-09")),
            "2026-10-01",
        );
        let inbound: Vec<&Offer> = got.iter().filter(|o| o.leg == Leg::Inbound).collect();
        assert_eq!(inbound.len(), 1);
        assert_eq!(
            (inbound[0].from.as_str(), inbound[0].to.as_str()),
            ("DPS", "CGK")
        );
        assert_eq!(inbound[0].depart_at.date().to_string(), "2026-12-09");
    }

    #[test]
    fn jitter_is_reproducible_and_bounded() {
        let t = table(&TABLE.replace("30d: 1.0 }", "30d: 1.0 }, jitter: 0.1"));
        let s = search("2026-12-02", 1, Cabin::Economy, None);
        let a = offers(&t, &s, "2026-10-01");
        let b = offers(&t, &s, "2026-10-01");
        assert_eq!(a, b);
        for o in &a {
            let base = if o.flight_number == "GA404" {
                1_000_000
            } else {
                800_000
            };
            let ratio = o.price.per_passenger / Decimal::from(base);
            assert!(
                ratio >= Decimal::new(9, 1) && ratio <= Decimal::new(11, 1),
                "{ratio}"
            );
        }
        let mut reseeded = t.clone();
        reseeded.seed = 2;
        assert_ne!(offers(&reseeded, &s, "2026-10-01"), a);
    }

    #[test]
    fn more_passengers_than_seats_left_get_no_offer() {
        let t = table(&TABLE.replace("seats: 9", "seats: 1"));
        let got = offers(
            &t,
            &search("2026-12-02", 2, Cabin::Economy, None),
            "2026-10-01",
        );
        assert!(got.iter().all(|o| o.flight_number != "GA404"));
        assert!(got.iter().all(|o| o.seats_left >= 2));
    }

    #[test]
    fn usd_amounts_keep_cents() {
        let t = table(&TABLE.replace("IDR", "USD").replace("1000000", "99.99"));
        assert_eq!(t.decimals, 2);
        let got = offers(
            &t,
            &search("2026-12-02", 3, Cabin::Economy, None),
            "2026-10-01",
        );
        let ga404 = got.iter().find(|o| o.flight_number == "GA404").unwrap();
        assert_eq!(ga404.price.per_passenger.to_string(), "99.99");
        assert_eq!(ga404.price.total.to_string(), "299.97");
    }

    #[test]
    fn every_table_problem_is_reported() {
        let spec: Spanned<MockSpec> = serde_saphyr::from_str(
            "currency: rupiah\nroutes:\n  - from: CGK\n    to: DPS\n    flights:\n      - { number: GA1, depart: \"7:3x\", duration: 0s, days: [someday], fares: {} }\n  - from: CGK\n    to: DPS\n    flights: []\npricing: { jitter: 2, weekend: -1, advance: { soon: 1.1 } }\n",
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
            "weekend must be a positive factor",
            "`soon` is not a number of days",
        ] {
            assert!(text.contains(needle), "{needle} missing in:\n{text}");
        }
    }
}
