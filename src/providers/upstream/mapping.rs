//! Reading offers out of an airline's answer: one expression selects the
//! list, one expression per offer field reads it, and each value is
//! converted to the field's type (exact decimal prices, local date-times,
//! durations). An offer that cannot be read is dropped with its reason.

use minijinja::value::ValueKind;
use minijinja::{Expression, Value, context};

pub use super::convert::Values;
use super::convert::{flag, scalar_text, schedule, timestamp, whole};
use super::error::{UpstreamError, snippet};
use super::price;
use super::segments::{connected, segment};
use super::xml;
use crate::model::{
    AirlineRef, Baggage, Cabin, Fare, Leg, Offer, Segment, Travellers, itinerary_key,
    journey_minutes, normalize_code,
};
use crate::providers::definition::AnswerFormat;

/// The offer fields a `map` may set.
pub const FIELDS: [&str; 28] = [
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
    "price_adult",
    "price_child",
    "price_infant",
    "base",
    "taxes",
    "currency",
    "leg",
    "brand",
    "refundable",
    "changeable",
    "checked_bags",
    "checked_kg",
    "cabin_bags",
    "expires_at",
];

/// Fields every `map` must set; the flight's own fields only when the
/// answer's segments are not mapped.
pub const REQUIRED: [&str; 1] = ["currency"];

/// Fields a `map` without `segments` must set.
pub const REQUIRED_WITHOUT_SEGMENTS: [&str; 2] = ["flight_number", "depart_at"];

/// Fields of which a `map` must set at least one.
pub const PRICED_BY: [&str; 3] = ["price", "per_passenger", "price_adult"];

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
    /// The expression selecting an offer's segments, when mapped.
    pub segments: Option<Expression<'env, 'static>>,
    /// One compiled expression per segment field.
    pub segment_fields: Vec<(String, Expression<'env, 'static>)>,
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
        format: AnswerFormat,
        ctx: &Value,
        d: &Defaults<'_>,
    ) -> Result<Mapped, UpstreamError> {
        let body = match format {
            AnswerFormat::Json => {
                let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|source| {
                    tracing::warn!(provider = d.provider, body = %snippet(bytes), "the airline's answer is not JSON");
                    UpstreamError::NotJson { source }
                })?;
                Value::from_serialize(&json)
            }
            AnswerFormat::Xml => match xml::parse(bytes) {
                Ok(Ok(tree)) => tree,
                Ok(Err(fault)) => {
                    let fault = snippet(fault.as_bytes());
                    tracing::warn!(provider = d.provider, %fault, "the airline answered with a SOAP fault");
                    return Err(UpstreamError::SoapFault);
                }
                Err(source) => {
                    tracing::warn!(provider = d.provider, body = %snippet(bytes), "the airline's answer is not readable XML");
                    return Err(UpstreamError::NotXml { source });
                }
            },
        };
        let xml = format == AnswerFormat::Xml;
        let base = context! { body => body, ..ctx.clone() };
        let expression = || self.offers_source.clone();
        let list = self
            .offers
            .eval(&base)
            .map_err(|source| UpstreamError::OffersUnreadable {
                expression: expression(),
                source,
            })?;
        let list = once_as_list(list, xml);
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
            let values = |name: &str| evaluate(&self.fields, name, &item_ctx, "");
            let read = self
                .read_segments(&item_ctx, xml, d)
                .and_then(|segments| offer(&values, segments, d));
            match read {
                Ok(offer) => mapped.offers.push(offer),
                Err(reason) => mapped.dropped.push((index, reason)),
            }
        }
        Ok(mapped)
    }

    /// An offer's segments, when the mapping lists them.
    fn read_segments(
        &self,
        item_ctx: &Value,
        xml: bool,
        d: &Defaults<'_>,
    ) -> Result<Option<Vec<Segment>>, String> {
        let Some(expr) = &self.segments else {
            return Ok(None);
        };
        let list = expr
            .eval(item_ctx)
            .map_err(|e| format!("`segments`: {e}"))?;
        let list = once_as_list(list, xml);
        let items = list
            .try_iter()
            .ok()
            .filter(|_| list.kind() == ValueKind::Seq)
            .ok_or_else(|| format!("`segments`: expected a list, got {}", list.kind()))?;
        let carrier = match self.fields.iter().any(|(k, _)| k == "airline_code") {
            true => evaluate(&self.fields, "airline_code", item_ctx, "")?
                .and_then(|v| scalar_text(&v))
                .and_then(|c| normalize_code(&c, 2, true))
                .unwrap_or_else(|| d.airline.code.clone()),
            false => d.airline.code.clone(),
        };
        items
            .enumerate()
            .map(|(i, element)| {
                let ctx = context! { segment => element, ..item_ctx.clone() };
                let what = format!("segment {}: ", i + 1);
                let values = |name: &str| evaluate(&self.segment_fields, name, &ctx, &what);
                segment(&values, i + 1, &carrier)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// In an XML answer, an element written once is the element itself, not a
/// list of one: `offers` and `segments` read it as a list of one.
fn once_as_list(list: Value, xml: bool) -> Value {
    match list.kind() {
        ValueKind::Map if xml => Value::from(vec![list]),
        _ => list,
    }
}

/// The value of field `name` of `fields` in `ctx`; `None` when the field is
/// not mapped or its value is none.
fn evaluate(
    fields: &[(String, Expression<'_, 'static>)],
    name: &str,
    ctx: &Value,
    what: &str,
) -> Result<Option<Value>, String> {
    let Some((_, expr)) = fields.iter().find(|(k, _)| k == name) else {
        return Ok(None);
    };
    let v = expr.eval(ctx).map_err(|e| format!("{what}`{name}`: {e}"))?;
    Ok((!v.is_none() && !v.is_undefined()).then_some(v))
}

/// Builds one offer from its field values and, when the answer lists
/// them, its segments; `Err` names the field and why.
pub fn offer(
    values: Values<'_>,
    segments: Option<Vec<Segment>>,
    d: &Defaults<'_>,
) -> Result<Offer, String> {
    let text = |name: &str| -> Result<Option<String>, String> {
        Ok(values(name)?.and_then(|v| scalar_text(&v)))
    };
    let code = |name: &str, default: &str, len: usize, letters_only: bool| match text(name)? {
        Some(raw) => normalize_code(&raw, len, !letters_only)
            .ok_or_else(|| format!("`{name}`: `{raw}` is not a valid code")),
        None => Ok(default.to_string()),
    };
    // Required: an offer without a currency has no meaningful price.
    let currency = code("currency", "", 3, true)?;
    if currency.is_empty() {
        return Err("`currency` is empty".into());
    }
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
    let count = |name: &str, max: u64| -> Result<Option<u64>, String> {
        values(name)?
            .map(|v| {
                whole(&v).filter(|n| *n <= max).ok_or_else(|| {
                    format!("`{name}`: expected a whole number up to {max}, got {v}")
                })
            })
            .transpose()
    };
    // The journey: its segments when the answer lists them (the offer's
    // own fields then default to theirs), else its one flight.
    let segments = match segments {
        Some(segments) => {
            connected(&segments)?;
            segments
        }
        None => {
            let flight_number = text("flight_number")?
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .ok_or("`flight_number` is empty")?;
            let (depart_at, arrive_at, minutes) = schedule(values, "")?;
            let from = code("from", d.from, 3, true)?;
            let to = code("to", d.to, 3, true)?;
            vec![Segment::own(
                &airline.code,
                &flight_number,
                (&from, &to),
                (depart_at, arrive_at),
                minutes,
            )]
        }
    };
    let (first, last) = (&segments[0], &segments[segments.len() - 1]);
    let flight_number = text("flight_number")?
        .map(|n| n.trim().to_string())
        .unwrap_or_else(|| first.flight_number.clone());
    let stops = count("stops", 9)?.map_or(segments.len() - 1, |n| n as usize) as u8;
    let seats_left = count("seats_left", 999)?.unwrap_or(9) as u16;
    let price = price::price(values, d.travellers, &currency)?;
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
            first.depart_at.date().strftime("%Y%m%d"),
            cabin
        )
    });
    let flag = |name: &str| -> Result<Option<bool>, String> {
        values(name)?
            .map(|v| flag(&v).map_err(|e| format!("`{name}`: {e}")))
            .transpose()
    };
    let fare = Fare {
        brand: text("brand")?.map(|b| b.trim().to_string()),
        refundable: flag("refundable")?,
        changeable: flag("changeable")?,
        baggage: Baggage {
            checked_bags: count("checked_bags", 9)?.map(|n| n as u8),
            checked_kg: count("checked_kg", 999)?.map(|n| n as u16),
            cabin_bags: count("cabin_bags", 9)?.map(|n| n as u8),
        },
    };
    let expires_at = values("expires_at")?
        .map(|v| timestamp(&v).map_err(|e| format!("`expires_at`: {e}")))
        .transpose()?;
    let duration_minutes = journey_minutes(&segments);
    Ok(Offer {
        id,
        provider: d.provider.to_string(),
        airline,
        flight_number,
        from: first.from.clone(),
        to: last.to.clone(),
        depart_at: first.depart_at,
        arrive_at: last.arrive_at,
        duration_minutes,
        stops,
        itinerary: itinerary_key(&segments, cabin),
        segments,
        cabin,
        seats_left,
        price,
        fare,
        expires_at,
        leg,
    })
}
