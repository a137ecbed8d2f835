//! Checking a flight's `arrive` against its `duration`. Mock routes carry
//! no time zones, so what is checked is what the times themselves imply:
//! the arrival clock minus the departure clock minus the duration is the
//! time difference between the two airports. It must be whole quarter hours
//! (every zone is), at most 26 hours (the widest gap between two zones), the
//! same for every flight of a route (a flight without `arrive` implies no
//! difference), and the opposite of the reverse route's.

use std::time::Duration;

use foldhash::HashMap;
use jiff::civil::Time;
use serde_saphyr::Spanned;

use crate::duration::HumanDuration;
use crate::providers::definition::FlightSpec;
use crate::providers::problems::Problems;

/// Widest difference between two time zones (UTC-12 to UTC+14), in minutes.
const MAX_SHIFT: i64 = 26 * 60;

/// The time difference one flight implies, and where it was read.
#[derive(Clone, Debug)]
pub(super) struct Shift {
    /// Arrival airport's clock minus the departure airport's, in minutes.
    pub minutes: i64,
    /// The flight that implies it.
    pub number: String,
    /// Its line and column.
    pub line: u64,
    column: u64,
}

/// `2h40m`, `45m`: a number of minutes, without its sign.
fn span(minutes: i64) -> String {
    if minutes == 0 {
        return "0m".into();
    }
    HumanDuration(Duration::from_secs(minutes.unsigned_abs() * 60)).to_string()
}

/// `DPS clocks are 1h ahead of CGK`.
fn relation(to: &str, from: &str, minutes: i64) -> String {
    match minutes {
        0 => format!("{to} keeps the same time as {from}"),
        m if m > 0 => format!("{to} clocks are {} ahead of {from}", span(m)),
        m => format!("{to} clocks are {} behind {from}", span(m)),
    }
}

/// The difference a flight implies; checks that it can be a difference of
/// time zones, recording a problem at `arrive` when it cannot.
pub(super) fn flight_shift(
    spec: &FlightSpec,
    depart: Time,
    arrive: Option<(Time, i8)>,
    duration_minutes: u32,
    problems: &mut Problems,
) -> Option<i64> {
    let Some((time, days)) = arrive else {
        return Some(0);
    };
    let clock = |t: Time| i64::from(t.hour()) * 60 + i64::from(t.minute());
    let by_clock = clock(time) + i64::from(days) * 24 * 60 - clock(depart);
    let shift = by_clock - i64::from(duration_minutes);
    let node = spec.arrive.as_ref()?;
    let later = if by_clock >= 0 {
        format!("{} later by the clocks", span(by_clock))
    } else {
        format!("{} earlier by the clocks", span(by_clock))
    };
    let what = format!(
        "{} departs {} and arrives `{}`, {later}, but its duration is `{}`",
        spec.number.value.trim(),
        spec.depart.value.trim(),
        node.value.trim(),
        spec.duration.value.text
    );
    if shift % 15 != 0 {
        problems.at(
            node,
            format!(
                "{what}: the {} between them cannot be a difference of time zones \
                 (those are whole quarter hours); fix `duration` or `arrive`",
                span(shift)
            ),
        );
        return None;
    }
    if shift.abs() > MAX_SHIFT {
        problems.at(
            node,
            format!(
                "{what}: that would put {} between the two airports' clocks, more than \
                 any two time zones differ (26h); fix `duration` or `arrive` (`+1` for the next day)",
                span(shift)
            ),
        );
        return None;
    }
    Some(shift)
}

/// Checks that every flight of a route implies the same difference;
/// returns it (from the first flight) when they agree.
pub(super) fn route_shift(
    from: &str,
    to: &str,
    flights: &[(&Spanned<FlightSpec>, i64)],
    problems: &mut Problems,
) -> Option<Shift> {
    let (first_spec, first) = flights.first()?;
    let first = Shift {
        minutes: *first,
        number: first_spec.value.number.value.trim().to_string(),
        line: first_spec.value.number.referenced.line(),
        column: first_spec.value.number.referenced.column(),
    };
    let mut agree = true;
    for (spec, minutes) in &flights[1..] {
        if *minutes == first.minutes {
            continue;
        }
        agree = false;
        let f = &spec.value;
        let number = f.number.value.trim();
        let message = format!(
            "{number} implies {}, but {} (line {}) implies {}: flights of one route \
             share one time difference; fix this flight's `duration` or `arrive`{}",
            relation(to, from, *minutes),
            first.number,
            first.line,
            relation(to, from, first.minutes),
            if f.arrive.is_none() {
                " (without `arrive`, a flight arrives `duration` after it departs, by the same clock)"
            } else {
                ""
            }
        );
        match &f.arrive {
            Some(a) => problems.at(a, message),
            None => problems.at(&f.duration, message),
        }
    }
    agree.then_some(first)
}

/// Checks that each route and its reverse imply opposite differences,
/// recording a problem at the first flight of the later-listed one.
pub(super) fn reverse_shifts(shifts: &HashMap<(String, String), Shift>, problems: &mut Problems) {
    for ((from, to), shift) in shifts {
        let Some(back) = shifts.get(&(to.clone(), from.clone())) else {
            continue;
        };
        if shift.line < back.line || shift.minutes == -back.minutes {
            continue;
        }
        problems.at_position(
            shift.line,
            shift.column,
            format!(
                "{} implies {}, but {} (line {}) on the way back implies {}: \
                 fix `duration` or `arrive` on one of them",
                shift.number,
                relation(to, from, shift.minutes),
                back.number,
                back.line,
                relation(to, from, -back.minutes)
            ),
        );
    }
}
