//! An upstream offer's segments: one expression selects the list of an
//! offer's flights (`response.segments`), and one expression per segment
//! field reads each (`response.segment`), as `map` reads an offer.

use super::convert::{Values, scalar_text, schedule};
use crate::model::{Segment, normalize_code};

/// The fields a `segment` mapping may set.
pub const FIELDS: [&str; 9] = [
    "flight_number",
    "marketing_carrier",
    "operating_carrier",
    "operating_flight_number",
    "from",
    "to",
    "depart_at",
    "arrive_at",
    "duration",
];

/// Fields every `segment` mapping must set.
pub const REQUIRED: [&str; 4] = ["flight_number", "from", "to", "depart_at"];

/// Segment `number` (1-based) of an offer sold by `carrier` (the offer's
/// airline code), from its field values.
pub fn segment(values: Values<'_>, number: usize, carrier: &str) -> Result<Segment, String> {
    let what = format!("segment {number}: ");
    let text = |name: &str| -> Result<Option<String>, String> {
        Ok(values(name)?
            .and_then(|v| scalar_text(&v))
            .map(|t| t.trim().to_string()))
    };
    let code = |name: &str, len: usize, digits: bool, default: Option<&str>| match text(name)? {
        Some(raw) => normalize_code(&raw, len, digits)
            .ok_or_else(|| format!("{what}`{name}`: `{raw}` is not a valid code")),
        None => default
            .map(str::to_string)
            .ok_or_else(|| format!("{what}`{name}` is empty")),
    };
    let flight_number = text("flight_number")?
        .map(|n| n.to_ascii_uppercase().replace(' ', ""))
        .ok_or_else(|| format!("{what}`flight_number` is empty"))?;
    let marketing = code("marketing_carrier", 2, true, Some(carrier))?;
    let operating = code("operating_carrier", 2, true, Some(&marketing))?;
    let operating_number = text("operating_flight_number")?
        .map(|n| n.to_ascii_uppercase().replace(' ', ""))
        .unwrap_or_else(|| flight_number.clone());
    let from = code("from", 3, false, None)?;
    let to = code("to", 3, false, None)?;
    let (depart_at, arrive_at, duration_minutes) = schedule(values, &what)?;
    let mut segment = Segment::own(
        &marketing,
        &flight_number,
        (&from, &to),
        (depart_at, arrive_at),
        duration_minutes,
    );
    segment.operating_carrier = operating;
    segment.operating_flight_number = operating_number;
    Ok(segment)
}

/// Checks that consecutive segments connect (one's destination is the
/// next one's origin) and follow each other in time.
pub fn connected(segments: &[Segment]) -> Result<(), String> {
    if segments.is_empty() {
        return Err("`segments` is an empty list".into());
    }
    for (i, pair) in segments.windows(2).enumerate() {
        if pair[0].to != pair[1].from {
            return Err(format!(
                "segment {} arrives at {} but segment {} leaves from {}",
                i + 1,
                pair[0].to,
                i + 2,
                pair[1].from
            ));
        }
        if pair[1].depart_at < pair[0].arrive_at {
            return Err(format!(
                "segment {} leaves before segment {} arrives",
                i + 2,
                i + 1
            ));
        }
    }
    Ok(())
}
