//! The flights of an offer (SPEC section 9): its segments, the journey they
//! make, and the key that names the same flights whoever sells them.

use jiff::civil::DateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Cabin;

/// One flight of an offer: a connection has two or more, one after the
/// other (one's `to` is the next one's `from`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Segment {
    /// The flight number it is sold under, such as `GA7302`.
    pub flight_number: String,
    /// IATA code of the airline selling it under that number.
    pub marketing_carrier: String,
    /// IATA code of the airline flying it: another one on a codeshare.
    pub operating_carrier: String,
    /// The number the operating airline flies it under (`QG302` for
    /// `GA7302` operated by Citilink); the flight number when the same.
    pub operating_flight_number: String,
    /// Origin airport.
    pub from: String,
    /// Destination airport.
    pub to: String,
    /// Local departure date-time at `from`.
    #[serde(serialize_with = "super::scalar::datetime")]
    #[schema(value_type = String, example = "2026-12-20T08:30:00")]
    pub depart_at: DateTime,
    /// Local arrival date-time at `to`.
    #[serde(serialize_with = "super::scalar::datetime")]
    #[schema(value_type = String, example = "2026-12-20T11:15:00")]
    pub arrive_at: DateTime,
    /// Block time in minutes.
    pub duration_minutes: u32,
}

impl Segment {
    /// A segment flown under its own number by the airline that sells it.
    pub fn own(
        carrier: &str,
        flight_number: &str,
        (from, to): (&str, &str),
        (depart_at, arrive_at): (DateTime, DateTime),
        duration_minutes: u32,
    ) -> Self {
        Self {
            flight_number: flight_number.to_string(),
            marketing_carrier: carrier.to_string(),
            operating_carrier: carrier.to_string(),
            operating_flight_number: flight_number.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            depart_at,
            arrive_at,
            duration_minutes,
        }
    }
}

/// The key of the same flights in the same cabin, whoever sells them: the
/// operating flight number and departure date of every segment, then the
/// cabin, such as `QG302:2026-12-20|GA874:2026-12-20|economy`.
pub fn itinerary_key(segments: &[Segment], cabin: Cabin) -> String {
    let mut key = String::with_capacity(segments.len() * 18 + 8);
    for s in segments {
        key.push_str(&s.operating_flight_number);
        key.push(':');
        push_date(&mut key, s.depart_at.date(), true);
        key.push('|');
    }
    key.push_str(cabin.as_str());
    key
}

/// Appends `date` as its `Display` writes it (`2026-12-21`), or without
/// the dashes (`20261221`, as `%Y%m%d`), digit by digit: airlines make
/// these for every offer, and jiff's printer costs about a thousand
/// instructions a date. Years outside 0 to 9999 go through the printer.
pub fn push_date(out: &mut String, date: jiff::civil::Date, dashes: bool) {
    let year = date.year();
    if !(0..=9999).contains(&year) {
        let text = if dashes {
            date.to_string()
        } else {
            date.strftime("%Y%m%d").to_string()
        };
        out.push_str(&text);
        return;
    }
    let digit = |n: i16| char::from(b'0' + n as u8);
    out.push(digit(year / 1000));
    out.push(digit(year / 100 % 10));
    out.push(digit(year / 10 % 10));
    out.push(digit(year % 10));
    for part in [date.month(), date.day()] {
        if dashes {
            out.push('-');
        }
        out.push(digit(i16::from(part / 10)));
        out.push(digit(i16::from(part % 10)));
    }
}

/// Minutes from the first departure to the last arrival: the segments'
/// block times and the waits between them (each wait is read at one
/// airport, so local times give it exactly).
pub fn journey_minutes(segments: &[Segment]) -> u32 {
    let flying: u32 = segments.iter().map(|s| s.duration_minutes).sum();
    let waiting: i64 = segments
        .windows(2)
        .map(|pair| {
            pair[1]
                .depart_at
                .duration_since(pair[0].arrive_at)
                .as_mins()
                .max(0)
        })
        .sum();
    flying + u32::try_from(waiting).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_jiff_writes_them() {
        for (y, m, d) in [
            (2026, 12, 21),
            (2027, 1, 5),
            (1, 1, 1),
            (999, 10, 31),
            (9999, 12, 31),
            (-5, 3, 4),
            (2024, 2, 29),
        ] {
            let date = jiff::civil::date(y, m, d);
            let (mut dashed, mut plain) = (String::new(), String::new());
            push_date(&mut dashed, date, true);
            push_date(&mut plain, date, false);
            assert_eq!(dashed, date.to_string());
            assert_eq!(plain, date.strftime("%Y%m%d").to_string());
        }
    }

    fn at(text: &str) -> DateTime {
        text.parse().unwrap()
    }

    #[test]
    fn a_connection_across_zones_counts_flying_and_waiting() {
        // CGK 08:00 (UTC+7) to SIN 10:50 (UTC+8): 1h50m; then SIN 13:05 to
        // HND 21:00 (UTC+9): 6h55m. The wait at SIN is 2h15m.
        let first = Segment::own(
            "GA",
            "GA820",
            ("CGK", "SIN"),
            (at("2026-12-20T08:00"), at("2026-12-20T10:50")),
            110,
        );
        let mut second = Segment::own(
            "GA",
            "GA874",
            ("SIN", "HND"),
            (at("2026-12-20T13:05"), at("2026-12-20T21:00")),
            415,
        );
        second.operating_carrier = "NH".into();
        second.operating_flight_number = "NH842".into();
        let segments = [first, second];
        assert_eq!(journey_minutes(&segments), 110 + 135 + 415);
        assert_eq!(
            itinerary_key(&segments, Cabin::Economy),
            "GA820:2026-12-20|NH842:2026-12-20|economy"
        );
    }
}
