//! Quoting a search from a mock fare table: the flights of each leg, direct
//! and through a hub, priced per traveller type, with seats and jitter
//! drawn from an RNG seeded by the offer's identity.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::{SignedDuration, Timestamp, ToSpan};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rust_decimal::Decimal;

use super::{Connection, Flight, MockTable};
use crate::model::money;
use crate::model::{
    AirlineRef, Cabin, Fare, Leg, Offer, PassengerPrice, PassengerType, Price, SearchRequest,
    Segment, itinerary_key, journey_minutes, split_total,
};
use crate::providers::route_key;

/// Who is quoting: the provider id and the airline shown on offers.
#[derive(Clone, Debug)]
pub struct Quoter<'a> {
    /// Provider id.
    pub provider: &'a str,
    /// Airline on the offers.
    pub airline: &'a AirlineRef,
}

/// One flight of a journey being quoted: the flight, its airports and its
/// local departure.
struct Hop<'a> {
    flight: &'a Flight,
    from: &'a str,
    to: &'a str,
    depart_at: DateTime,
}

/// What every offer of one leg shares.
struct LegQuote<'a> {
    quoter: &'a Quoter<'a>,
    search: &'a SearchRequest,
    leg: Leg,
    date: Date,
    /// Weekend and advance-purchase factors of the leg's date.
    factor: Decimal,
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
            (Leg::Outbound, _) => (search.from.as_str(), search.to.as_str(), search.date),
            (Leg::Inbound, Some(back)) => (search.to.as_str(), search.from.as_str(), back),
            (Leg::Inbound, None) => return,
        };
        let quote = LegQuote {
            quoter,
            search,
            leg,
            date,
            factor: self.date_factor(date, today),
        };
        let flies = |f: &&Flight| f.days[weekday_index(date.weekday())];
        if let Some(flights) = route_key::get(&self.routes, from, to) {
            for flight in flights.iter().filter(flies) {
                let Some(base) = flight.fare(search.cabin) else {
                    continue;
                };
                let hop = Hop {
                    flight,
                    from,
                    to,
                    depart_at: date.to_datetime(flight.depart),
                };
                out.extend(self.journey_offers(&quote, &[hop], base));
            }
        }
        let Some(connection) = route_key::get(&self.connections, from, to) else {
            return;
        };
        let via = connection.via.as_str();
        let (Some(firsts), Some(seconds)) = (
            route_key::get(&self.routes, from, via),
            route_key::get(&self.routes, via, to),
        ) else {
            return;
        };
        for first in firsts.iter().filter(flies) {
            let depart_at = date.to_datetime(first.depart);
            let Some((second, onward)) = connecting(connection, first.arrival(depart_at), seconds)
            else {
                continue;
            };
            let (Some(a), Some(b)) = (first.fare(search.cabin), second.fare(search.cabin)) else {
                continue;
            };
            let hops = [
                Hop {
                    flight: first,
                    from,
                    to: via,
                    depart_at,
                },
                Hop {
                    flight: second,
                    from: via,
                    to,
                    depart_at: onward,
                },
            ];
            out.extend(self.journey_offers(&quote, &hops, (a + b) * connection.factor));
        }
    }

    /// Weekend and advance-purchase factors of a departure date.
    fn date_factor(&self, date: Date, today: Date) -> Decimal {
        let days_ahead = (date - today).get_days() as i64;
        let mut factor = Decimal::ONE;
        if self.pricing.weekend_days[weekday_index(date.weekday())] {
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
        factor
    }

    /// The offers of one journey at `base` fare, one per fare brand of the
    /// cabin; none when it has fewer seats left than the search has
    /// seated travellers.
    fn journey_offers(&self, quote: &LegQuote<'_>, hops: &[Hop<'_>], base: Decimal) -> Vec<Offer> {
        let search = quote.search;
        let numbers: Vec<&str> = hops.iter().map(|h| h.flight.number.as_str()).collect();
        let numbers = numbers.join("+");
        let mut rng = SmallRng::seed_from_u64(offer_seed(
            self.seed, search, quote.leg, &numbers, quote.date,
        ));
        let seats = hops.iter().map(|h| h.flight.seats).min().unwrap_or(1);
        let seats_left: u16 = rng.random_range(1..=seats);
        if seats_left < u16::from(search.travellers().seated()) {
            return Vec::new();
        }
        let jitter = if self.pricing.jitter > 0.0 {
            rng.random_range(-self.pricing.jitter..=self.pricing.jitter)
        } else {
            0.0
        };
        let jitter = if jitter == 0.0 {
            Decimal::ONE
        } else {
            Decimal::from_f64_retain(1.0 + jitter).unwrap_or(Decimal::ONE)
        };
        let adult = base * quote.factor * jitter;
        let carrier = &quote.quoter.airline.code;
        let mut segments: Vec<Segment> = hops.iter().map(|h| h.segment(carrier)).collect();
        let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
            return Vec::new();
        };
        // What every brand's offer shares, made once.
        let (mut flight_number, mut from, mut to) = (
            first.flight_number.clone(),
            first.from.clone(),
            last.to.clone(),
        );
        let (depart_at, arrive_at) = (first.depart_at, last.arrive_at);
        let duration_minutes = journey_minutes(&segments);
        let mut itinerary = itinerary_key(&segments, search.cabin);
        let technical: u8 = hops.iter().map(|h| h.flight.stops).sum();
        let stops = (segments.len() as u8 - 1).saturating_add(technical);
        // `provider-numbers-yyyymmdd-cabin`, pieced together rather than
        // through `format!` and `strftime`, which cost more than the rest
        // of the offer.
        let mut id = String::with_capacity(quote.quoter.provider.len() + numbers.len() + 20);
        id.push_str(quote.quoter.provider);
        id.push('-');
        id.push_str(&numbers);
        id.push('-');
        crate::model::push_date(&mut id, quote.date, false);
        id.push('-');
        id.push_str(search.cabin.as_str());
        let unbranded = [(Decimal::ONE, Fare::default())];
        let brands: Vec<(Decimal, Fare)> =
            match self.brands.iter().find(|(c, _)| *c == search.cabin) {
                Some((_, brands)) => brands.iter().map(|b| (b.factor, b.fare.clone())).collect(),
                None => unbranded.to_vec(),
            };
        let expires_at = Timestamp::now()
            .round(jiff::Unit::Second)
            .ok()
            .unwrap_or_else(Timestamp::now)
            .checked_add(SignedDuration::try_from(self.offer_lifetime).unwrap_or_default())
            .ok();
        let mut offers = Vec::with_capacity(brands.len());
        let count = brands.len();
        for (i, (factor, fare)) in brands.into_iter().enumerate() {
            // The last offer (most often the only one) takes the shared
            // parts; the others have copies.
            let last = i + 1 == count;
            offers.push(Offer {
                id: match &fare.brand {
                    Some(brand) => format!("{id}-{}", slug(brand)),
                    None => share(&mut id, last),
                },
                provider: quote.quoter.provider.to_string(),
                airline: quote.quoter.airline.clone(),
                flight_number: share(&mut flight_number, last),
                from: share(&mut from, last),
                to: share(&mut to, last),
                depart_at,
                arrive_at,
                duration_minutes,
                stops,
                itinerary: share(&mut itinerary, last),
                segments: share(&mut segments, last),
                cabin: search.cabin,
                seats_left,
                price: self.price(adult * factor, search),
                fare,
                expires_at,
                leg: quote.leg,
            });
        }
        offers
    }

    /// The price of a fare whose adult fare before rounding is `adult`:
    /// each traveller type's fare and taxes rounded to the currency's
    /// digits, so every sum is exact.
    fn price(&self, adult: Decimal, search: &SearchRequest) -> Price {
        let digits = |amount: Decimal| money::with_digits(amount, self.decimals);
        let (mut base, mut taxes) = (Decimal::ZERO, Decimal::ZERO);
        let by_passenger: Vec<PassengerPrice> = search
            .travellers()
            .counts()
            .map(|(kind, count)| {
                let (share, fixed) = match kind {
                    PassengerType::Adult => (Decimal::ONE, self.taxes.per_traveller),
                    PassengerType::Child => (self.pricing.child, self.taxes.per_traveller),
                    // An infant on a lap pays no per-seat taxes.
                    PassengerType::Infant => (self.pricing.infant, Decimal::ZERO),
                };
                let fare = digits(adult * share);
                let tax = digits(fixed + fare * self.taxes.percent / Decimal::ONE_HUNDRED);
                base += fare * Decimal::from(count);
                taxes += tax * Decimal::from(count);
                PassengerPrice {
                    kind,
                    count,
                    each: fare + tax,
                }
            })
            .collect();
        Price {
            total: split_total(&by_passenger),
            per_passenger: by_passenger.first().map_or(Decimal::ZERO, |p| p.each),
            base: Some(base),
            taxes: Some(taxes),
            converted: None,
            by_passenger,
            currency: self.currency.clone(),
        }
    }

    /// The routes it flies: direct and through its hubs.
    pub fn coverage(&self) -> crate::providers::Coverage {
        crate::providers::Coverage {
            routes: self
                .routes
                .keys()
                .chain(self.connections.keys())
                .cloned()
                .collect(),
            ..Default::default()
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

/// The first onward flight that leaves the hub within the connection's
/// window after `arrived` (the same day or the next), and its departure.
fn connecting<'a>(
    connection: &Connection,
    arrived: DateTime,
    onward: &'a [Flight],
) -> Option<(&'a Flight, DateTime)> {
    let days = [arrived.date(), arrived.date().tomorrow().ok()?];
    onward
        .iter()
        .flat_map(|f| days.map(|d| (f, d.to_datetime(f.depart))))
        .filter(|(f, at)| f.days[weekday_index(at.date().weekday())])
        .filter(|(_, at)| {
            let wait = at.duration_since(arrived).as_mins();
            (connection.min_minutes..=connection.max_minutes).contains(&wait)
        })
        .min_by_key(|(_, at)| *at)
}

impl Hop<'_> {
    /// The segment this hop flies, sold by `carrier`.
    fn segment(&self, carrier: &str) -> Segment {
        let f = self.flight;
        let mut segment = Segment::own(
            carrier,
            &f.number,
            (self.from, self.to),
            (self.depart_at, f.arrival(self.depart_at)),
            f.duration_minutes,
        );
        if let Some(operating) = &f.operated_by {
            segment.operating_carrier = operating[..2].to_string();
            segment.operating_flight_number = operating.clone();
        }
        segment
    }
}

impl Flight {
    /// The base fare of a cabin, when this flight sells it.
    fn fare(&self, cabin: Cabin) -> Option<Decimal> {
        self.fares
            .iter()
            .find(|(c, _)| *c == cabin)
            .map(|(_, b)| *b)
    }

    /// Local arrival: the file's arrival time when given, else departure plus
    /// block time.
    fn arrival(&self, depart_at: DateTime) -> DateTime {
        match self.arrive {
            Some((time, day_offset)) => depart_at
                .date()
                .checked_add(i64::from(day_offset).days())
                .unwrap_or(depart_at.date())
                .to_datetime(time),
            // A civil date-time plus a duration is plain arithmetic; a span
            // of minutes takes jiff's calendar path, several times slower.
            None => depart_at
                .checked_add(SignedDuration::from_mins(i64::from(self.duration_minutes)))
                .unwrap_or(depart_at),
        }
    }
}

/// A copy of `value`, or `value` itself for its `last` user.
fn share<T: Clone + Default>(value: &mut T, last: bool) -> T {
    if last {
        std::mem::take(value)
    } else {
        value.clone()
    }
}

/// A brand's name in an offer id: lower case, words joined by `-`.
fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
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
