//! Reading offers out of an airline's answer: one expression selects the
//! list, one expression per offer field reads it, and each value is
//! converted to the field's type (exact decimal prices, local date-times,
//! durations). An offer that cannot be read is dropped with its reason.

use std::str::FromStr;

use jiff::civil::DateTime;
use minijinja::value::ValueKind;
use minijinja::{Expression, Value, context};
use rust_decimal::Decimal;

use super::error::{UpstreamError, snippet};
use crate::duration::HumanDuration;
use crate::model::money;
use crate::model::{
    AirlineRef, Cabin, Fare, Leg, Offer, PassengerPrice, PassengerType, Price, Segment, Travellers,
    itinerary_key, normalize_code, split_total,
};

/// The offer fields a `map` may set.
pub const FIELDS: [&str; 16] = [
    "id",
    "flight_number",
    "airline_code",
    "airline_name",
    "from",
    "to",
    "depart_at",
    "arrive_at",
    "duration",
    "stops",
    "cabin",
    "seats_left",
    "price",
    "per_passenger",
    "currency",
    "leg",
];

/// Fields every `map` must set.
pub const REQUIRED: [&str; 3] = ["flight_number", "depart_at", "currency"];

/// What one offer's fields evaluated to, by field name.
pub type Values<'a> = &'a dyn Fn(&str) -> Result<Option<Value>, String>;

/// What an offer falls back on for fields the map does not set.
pub struct Defaults<'a> {
    /// Provider id.
    pub provider: &'a str,
    /// The provider's airline.
    pub airline: &'a AirlineRef,
    /// The leg asked for.
    pub leg: Leg,
    /// Its origin and destination.
    pub from: &'a str,
    /// Destination.
    pub to: &'a str,
    /// The search's cabin.
    pub cabin: Cabin,
    /// Travellers.
    pub travellers: Travellers,
}

/// The compiled expressions of a provider's response mapping.
pub struct Expressions<'env> {
    /// The expression selecting the offers, as written.
    pub offers_source: String,
    /// That expression, compiled.
    pub offers: Expression<'env, 'static>,
    /// One compiled expression per offer field.
    pub fields: Vec<(String, Expression<'env, 'static>)>,
}

/// What an answer gave.
pub struct Mapped {
    /// The offers read.
    pub offers: Vec<Offer>,
    /// Each offer that could not be read: its place in the list, and why.
    pub dropped: Vec<(usize, String)>,
}

impl Expressions<'_> {
    /// Reads the offers out of an answer's body; `ctx` holds what the
    /// expressions read besides `body` and `item`. An offer that cannot be
    /// read is dropped; an answer whose list cannot be read is an error.
    pub fn read(
        &self,
        bytes: &[u8],
        ctx: &Value,
        d: &Defaults<'_>,
    ) -> Result<Mapped, UpstreamError> {
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|source| {
            tracing::warn!(provider = d.provider, body = %snippet(bytes), "the airline's answer is not JSON");
            UpstreamError::NotJson { source }
        })?;
        let base = context! { body => Value::from_serialize(&json), ..ctx.clone() };
        let expression = || self.offers_source.clone();
        let list = self
            .offers
            .eval(&base)
            .map_err(|source| UpstreamError::OffersUnreadable {
                expression: expression(),
                source,
            })?;
        if list.is_none() || list.is_undefined() {
            tracing::warn!(provider = d.provider, body = %snippet(bytes), "the airline's answer has no offers list");
            return Err(UpstreamError::NoOffers {
                expression: expression(),
            });
        }
        let items = list
            .try_iter()
            .ok()
            .filter(|_| list.kind() == ValueKind::Seq)
            .ok_or_else(|| UpstreamError::OffersNotAList {
                expression: expression(),
                found: list.kind(),
            })?;
        let mut mapped = Mapped {
            offers: Vec::new(),
            dropped: Vec::new(),
        };
        for (index, item) in items.enumerate() {
            let item_ctx = context! { item => item, ..base.clone() };
            let values = |name: &str| -> Result<Option<Value>, String> {
                let Some((_, expr)) = self.fields.iter().find(|(k, _)| k == name) else {
                    return Ok(None);
                };
                let v = expr.eval(&item_ctx).map_err(|e| format!("`{name}`: {e}"))?;
                Ok((!v.is_none() && !v.is_undefined()).then_some(v))
            };
            match offer(&values, d) {
                Ok(offer) => mapped.offers.push(offer),
                Err(reason) => mapped.dropped.push((index, reason)),
            }
        }
        Ok(mapped)
    }
}

/// Builds one offer from its field values; `Err` names the field and why.
pub fn offer(values: Values<'_>, d: &Defaults<'_>) -> Result<Offer, String> {
    let text = |name: &str| -> Result<Option<String>, String> {
        Ok(values(name)?.and_then(|v| scalar_text(&v)))
    };
    let required = |name: &str| -> Result<String, String> {
        text(name)?.ok_or_else(|| format!("`{name}` is empty"))
    };
    let flight_number = required("flight_number")?.trim().to_string();
    let depart_at = date_time(&values("depart_at")?.unwrap_or_default())
        .map_err(|e| format!("`depart_at`: {e}"))?;
    let duration = values("duration")?
        .map(|v| minutes(&v).map_err(|e| format!("`duration`: {e}")))
        .transpose()?;
    let arrive_value = values("arrive_at")?;
    let arrive_at = arrive_value
        .as_ref()
        .map(|v| date_time(v).map_err(|e| format!("`arrive_at`: {e}")))
        .transpose()?;
    // With an offset on both ends, the time between them is exact even
    // across time zones.
    let exact = match (
        values("depart_at")?.as_ref().and_then(instant),
        arrive_value.as_ref().and_then(instant),
    ) {
        (Some(dep), Some(arr)) => Some(arr.duration_since(dep).as_mins()),
        _ => None,
    };
    let (arrive_at, duration_minutes) = match (arrive_at, duration) {
        (Some(arrive), Some(minutes)) => (arrive, minutes),
        (Some(arrive), None) if exact.is_some() => {
            let minutes = exact.unwrap_or_default();
            if minutes < 0 {
                return Err("`arrive_at` is before `depart_at`".into());
            }
            (arrive, minutes as u32)
        }
        (Some(arrive), None) => {
            let span = depart_at
                .until(arrive)
                .map_err(|e| format!("`arrive_at`: {e}"))?;
            let minutes = span
                .total(jiff::Unit::Minute)
                .map_err(|e| format!("`arrive_at`: {e}"))?;
            if minutes < 0.0 {
                return Err("`arrive_at` is before `depart_at`".into());
            }
            (arrive, minutes as u32)
        }
        (None, Some(minutes)) => (
            depart_at
                .checked_add(jiff::SignedDuration::from_mins(i64::from(minutes)))
                .map_err(|e| format!("`duration`: {e}"))?,
            minutes,
        ),
        (None, None) => return Err("neither `arrive_at` nor `duration` is set".into()),
    };
    let code = |name: &str, default: &str, len: usize, letters_only: bool| match text(name)? {
        Some(raw) => normalize_code(&raw, len, !letters_only)
            .ok_or_else(|| format!("`{name}`: `{raw}` is not a valid code")),
        None => Ok(default.to_string()),
    };
    let from = code("from", d.from, 3, true)?;
    let to = code("to", d.to, 3, true)?;
    // Required: an offer without a currency has no meaningful price.
    required("currency")?;
    let currency = code("currency", "", 3, true)?;
    let airline = AirlineRef {
        code: code("airline_code", &d.airline.code, 2, false)?,
        name: text("airline_name")?.unwrap_or_else(|| d.airline.name.clone()),
    };
    let cabin = match text("cabin")? {
        Some(raw) => Cabin::parse(&raw.trim().to_ascii_lowercase().replace([' ', '-'], "_"))
            .ok_or_else(|| {
                format!("`cabin`: `{raw}` is not economy, premium_economy, business or first")
            })?,
        None => d.cabin,
    };
    let count = |name: &str, default: u64, max: u64| -> Result<u64, String> {
        match values(name)? {
            None => Ok(default),
            Some(v) => whole(&v)
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("`{name}`: expected a whole number up to {max}, got {v}")),
        }
    };
    let stops = count("stops", 0, 9)? as u8;
    let seats_left = count("seats_left", 9, 999)? as u16;
    let travellers = d.travellers;
    let adults_only = travellers.total() == travellers.adults;
    let passengers = Decimal::from(travellers.total());
    let total = values("price")?
        .map(|v| amount(&v).map_err(|e| format!("`price`: {e}")))
        .transpose()?;
    let per = values("per_passenger")?
        .map(|v| amount(&v).map_err(|e| format!("`per_passenger`: {e}")))
        .transpose()?;
    // Written with the currency's digits, as mock amounts are.
    let minor = |amount: Decimal| money::in_minor_units(amount, &currency);
    let (total, per_passenger) = match (total, per) {
        (Some(t), Some(p)) => (minor(t), minor(p)),
        (Some(t), None) => (minor(t), minor(t / passengers)),
        (None, Some(p)) if adults_only => (minor(minor(p) * passengers), minor(p)),
        (None, Some(_)) => {
            return Err(
                "`price` (the total) is not set, and `per_passenger` alone does not price children or infants"
                    .into(),
            );
        }
        (None, None) => return Err("neither `price` nor `per_passenger` is set".into()),
    };
    // Split by type only where the answer's own figures add up exactly: an
    // adults-only total that is `per_passenger` times the adults.
    let by_passenger = [PassengerPrice {
        kind: PassengerType::Adult,
        count: travellers.adults,
        each: per_passenger,
    }];
    let by_passenger = if adults_only && split_total(&by_passenger) == total {
        by_passenger.to_vec()
    } else {
        Vec::new()
    };
    let leg = match text("leg")?.as_deref() {
        None => d.leg,
        Some("outbound") => Leg::Outbound,
        Some("inbound") => Leg::Inbound,
        Some(other) => return Err(format!("`leg`: `{other}` is not outbound or inbound")),
    };
    let id = text("id")?.unwrap_or_else(|| {
        format!(
            "{}-{}-{}-{}",
            d.provider,
            flight_number,
            depart_at.date().strftime("%Y%m%d"),
            cabin
        )
    });
    if flight_number.is_empty() {
        return Err("`flight_number` is empty".into());
    }
    // Without a mapped list of segments, the offer is its one flight (its
    // stops, if any, are the airline's to tell).
    let segments = vec![Segment::own(
        &airline.code,
        &flight_number,
        (&from, &to),
        (depart_at, arrive_at),
        duration_minutes,
    )];
    Ok(Offer {
        id,
        itinerary: itinerary_key(&segments, cabin),
        segments,
        provider: d.provider.to_string(),
        airline,
        flight_number,
        from,
        to,
        depart_at,
        arrive_at,
        duration_minutes,
        stops,
        cabin,
        seats_left,
        price: Price {
            total,
            per_passenger,
            base: None,
            taxes: None,
            by_passenger,
            currency,
        },
        fare: Fare::default(),
        expires_at: None,
        leg,
    })
}

/// A string or number as text; anything else (lists, maps, none) is not.
fn scalar_text(value: &Value) -> Option<String> {
    match value.kind() {
        ValueKind::String => value.as_str().map(str::to_string),
        ValueKind::Number => Some(value.to_string()),
        _ => None,
    }
    .filter(|s| !s.trim().is_empty())
}

fn whole(value: &Value) -> Option<u64> {
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
fn instant(value: &Value) -> Option<jiff::Timestamp> {
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
