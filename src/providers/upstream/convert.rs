//! Converting what an airline's answer gives (numbers, strings in the
//! forms airlines write) to offer values: exact amounts, local date-times,
//! durations, flags and instants; and reading a flight's schedule
//! (departure, arrival, block time) the same way for an offer and for each
//! of its segments.

use std::str::FromStr;

use jiff::civil::DateTime;
use minijinja::Value;
use minijinja::value::ValueKind;
use rust_decimal::Decimal;

use crate::duration::HumanDuration;

/// What one offer's (or a segment's) fields evaluated to, by field name.
pub type Values<'a> = &'a dyn Fn(&str) -> Result<Option<Value>, String>;

/// A flight's departure, arrival and block time, from the fields
/// `depart_at`, `arrive_at` and `duration` (`arrive_at` or `duration`
/// may be left out; the other gives it). `what` prefixes every error
/// (`segment 2: `), so a dropped offer says where.
pub fn schedule(values: Values<'_>, what: &str) -> Result<(DateTime, DateTime, u32), String> {
    let depart_value = values("depart_at")?.ok_or_else(|| format!("{what}`depart_at` is empty"))?;
    let depart_at = date_time(&depart_value).map_err(|e| format!("{what}`depart_at`: {e}"))?;
    let duration = values("duration")?
        .map(|v| minutes(&v).map_err(|e| format!("{what}`duration`: {e}")))
        .transpose()?;
    let arrive_value = values("arrive_at")?;
    let arrive_at = arrive_value
        .as_ref()
        .map(|v| date_time(v).map_err(|e| format!("{what}`arrive_at`: {e}")))
        .transpose()?;
    // With an offset on both ends, the time between them is exact even
    // across time zones.
    let exact = match (
        instant(&depart_value),
        arrive_value.as_ref().and_then(instant),
    ) {
        (Some(dep), Some(arr)) => Some(arr.duration_since(dep).as_mins()),
        _ => None,
    };
    let before = || format!("{what}`arrive_at` is before `depart_at`");
    match (arrive_at, duration) {
        (Some(arrive), Some(minutes)) => Ok((depart_at, arrive, minutes)),
        (Some(arrive), None) => {
            let minutes = match exact {
                Some(minutes) => minutes,
                None => depart_at
                    .until(arrive)
                    .and_then(|span| span.total(jiff::Unit::Minute))
                    .map_err(|e| format!("{what}`arrive_at`: {e}"))? as i64,
            };
            if minutes < 0 {
                return Err(before());
            }
            Ok((depart_at, arrive, minutes as u32))
        }
        (None, Some(minutes)) => Ok((
            depart_at,
            depart_at
                .checked_add(jiff::SignedDuration::from_mins(i64::from(minutes)))
                .map_err(|e| format!("{what}`duration`: {e}"))?,
            minutes,
        )),
        (None, None) => Err(format!("{what}neither `arrive_at` nor `duration` is set")),
    }
}

/// Yes or no from a boolean, or text such as `true`, `no`, `Y`, `0`.
pub fn flag(value: &Value) -> Result<bool, String> {
    if value.kind() == ValueKind::Bool {
        return Ok(value.is_true());
    }
    let text = scalar_text(value).ok_or_else(|| format!("expected yes or no, got {value}"))?;
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!("`{text}` is not yes or no (true, false)")),
    }
}

/// An instant from a date-time with an offset or `Z` (RFC 3339): a
/// date-time without one names no instant, so it is refused.
pub fn timestamp(value: &Value) -> Result<jiff::Timestamp, String> {
    instant(value).ok_or_else(|| {
        format!("{value} is not a date-time with an offset, such as 2026-12-20T07:30:00+07:00")
    })
}

/// A string or number as text; anything else (lists, maps, none) is not.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value.kind() {
        ValueKind::String => value.as_str().map(str::to_string),
        ValueKind::Number => Some(value.to_string()),
        _ => None,
    }
    .filter(|s| !s.trim().is_empty())
}

/// A whole number from a number or its text.
pub fn whole(value: &Value) -> Option<u64> {
    match value.kind() {
        ValueKind::Number => u64::try_from(value.clone()).ok(),
        ValueKind::String => value.as_str()?.trim().parse().ok(),
        _ => None,
    }
}

/// An exact amount from a number or a decimal string (`1250000`, `99.90`).
pub fn amount(value: &Value) -> Result<Decimal, String> {
    let text = scalar_text(value).ok_or_else(|| format!("expected an amount, got {value}"))?;
    let parsed = Decimal::from_str(text.trim())
        .or_else(|_| Decimal::from_scientific(text.trim()))
        .map_err(|_| format!("`{text}` is not an amount"))?;
    if parsed.is_sign_negative() {
        return Err(format!("`{text}` is negative"));
    }
    Ok(parsed)
}

/// The `as_list` filter: a list as it is, nothing (none or undefined) as
/// an empty list, anything else as a list of one, so an element an XML
/// answer writes once or many times reads alike.
pub fn as_list(value: Value) -> Value {
    match value.kind() {
        ValueKind::Seq => value,
        ValueKind::Undefined | ValueKind::None => Value::from(Vec::<Value>::new()),
        _ => Value::from(vec![value]),
    }
}

/// The `decimals` filter: a whole amount in minor units with the number of
/// decimals written beside it, as an exact amount (`99990 | decimals(2)` is
/// `"999.90"`), as XML APIs write `Amount="99990" DecimalPlaces="2"`.
pub fn decimals(value: Value, places: Value) -> Result<Value, minijinja::Error> {
    let invalid =
        |what: String| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, what);
    let places = whole(&places).filter(|p| *p <= 20).ok_or_else(|| {
        invalid(format!(
            "decimals: {places} is not a number of places from 0 to 20"
        ))
    })?;
    let text = scalar_text(&value)
        .ok_or_else(|| invalid(format!("decimals: expected a whole amount, got {value}")))?;
    let units: i64 = text.trim().parse().map_err(|_| {
        invalid(format!(
            "decimals: `{text}` is not a whole amount in minor units"
        ))
    })?;
    Ok(Value::from(Decimal::new(units, places as u32).to_string()))
}

/// A local date-time from `2026-12-20T07:30:00`, `2026-12-20T07:30`,
/// `2026-12-20 07:30`, or the same with an offset or `Z` (the time as
/// written is kept: airline APIs give local times at the airport).
pub fn date_time(value: &Value) -> Result<DateTime, String> {
    let text = scalar_text(value).ok_or_else(|| format!("expected a date-time, got {value}"))?;
    let t = text.trim().replacen(' ', "T", 1);
    let local = t
        .strip_suffix('Z')
        .or_else(|| t.strip_suffix('z'))
        .unwrap_or(&t);
    if let Ok(dt) = local.parse::<DateTime>() {
        return Ok(dt);
    }
    // An offset such as +07:00: keep the wall-clock part.
    let cut = local
        .rfind(['+', '-'])
        .filter(|at| *at > 10)
        .map_or(local, |at| &local[..at]);
    cut.parse::<DateTime>()
        .map_err(|_| format!("`{text}` is not a date-time such as 2026-12-20T07:30:00"))
}

/// The instant a date-time with an offset or `Z` names.
pub fn instant(value: &Value) -> Option<jiff::Timestamp> {
    scalar_text(value)?
        .trim()
        .replacen(' ', "T", 1)
        .parse()
        .ok()
}

/// Minutes from a number of minutes, an ISO 8601 duration (`PT1H50M`) or a
/// duration such as `1h50m`.
pub fn minutes(value: &Value) -> Result<u32, String> {
    if let Some(n) = whole(value) {
        return u32::try_from(n).map_err(|_| format!("{n} minutes is too long"));
    }
    let text = scalar_text(value).ok_or_else(|| format!("expected a duration, got {value}"))?;
    let t = text.trim();
    if let Ok(span) = t.parse::<jiff::Span>() {
        let total = span
            .total((jiff::Unit::Minute, jiff::civil::date(2000, 1, 1)))
            .map_err(|e| e.to_string())?;
        return Ok(total.round() as u32);
    }
    let d = HumanDuration::from_str(t)
        .map_err(|_| format!("`{t}` is not a duration such as PT1H50M or 110"))?;
    Ok((d.get().as_secs() / 60) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_from_the_forms_airlines_use() {
        let dt: DateTime = "2026-12-20T07:30:00".parse().unwrap();
        for form in [
            "2026-12-20T07:30:00",
            "2026-12-20T07:30",
            "2026-12-20 07:30",
            "2026-12-20T07:30:00+07:00",
            "2026-12-20T07:30:00Z",
        ] {
            assert_eq!(date_time(&Value::from(form)).unwrap(), dt, "{form}");
        }
        assert!(date_time(&Value::from("tomorrow")).is_err());
        for form in [
            Value::from(110),
            Value::from("110"),
            Value::from("PT1H50M"),
            Value::from("1h50m"),
        ] {
            assert_eq!(minutes(&form).unwrap(), 110, "{form}");
        }
        assert_eq!(
            amount(&Value::from("1250000.50")).unwrap().to_string(),
            "1250000.50"
        );
        assert_eq!(
            amount(&Value::from(1250000)).unwrap().to_string(),
            "1250000"
        );
        assert_eq!(amount(&Value::from(99.9)).unwrap().to_string(), "99.9");
        assert!(amount(&Value::from("-5")).is_err());
        assert!(amount(&Value::from("1.250.000")).is_err());
    }
}
