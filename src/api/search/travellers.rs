//! The `passengers` field of a search: a whole number of adults, or
//! `{adults, children, infants}` (SPEC section 9), each broken rule named
//! by its field (`passengers.infants`, say); and `max_stops`.

use serde_json::{Map, Value};

use crate::api::error::{FieldCode, FieldError, shown};
use crate::model::Travellers;

/// Fields the `passengers` object may carry.
const TYPES: [&str; 3] = ["adults", "children", "infants"];

/// Most stops a search may ask to allow.
pub(crate) const MAX_STOPS: u64 = 2;

/// Reads `passengers` (present, not `null`).
pub(crate) fn travellers(value: &Value, errors: &mut Vec<FieldError>) -> Option<Travellers> {
    let before = errors.len();
    let travellers = match value {
        Value::Object(object) => by_type(object, errors)?,
        _ => Travellers::adults(count(value, "passengers", 1, errors)?),
    };
    if travellers.seated() > Travellers::MAX_SEATED {
        let field = if travellers.children > 0 {
            "passengers.children"
        } else if value.is_object() {
            "passengers.adults"
        } else {
            "passengers"
        };
        errors.push(FieldError::new(
            field,
            FieldCode::TooManyTravellers,
            format!(
                "adults and children together may be at most {}, got {}",
                Travellers::MAX_SEATED,
                travellers.seated()
            ),
        ));
    }
    if travellers.infants > travellers.adults {
        errors.push(FieldError::new(
            "passengers.infants",
            FieldCode::TooManyInfants,
            format!(
                "each infant sits on an adult's lap: at most {} infant(s) for {} adult(s), got {}",
                travellers.adults, travellers.adults, travellers.infants
            ),
        ));
    }
    (errors.len() == before).then_some(travellers)
}

/// The object form: `adults` required, the others 0 when absent.
fn by_type(object: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<Travellers> {
    for key in object.keys().filter(|k| !TYPES.contains(&k.as_str())) {
        errors.push(FieldError::new(
            format!("passengers.{key}"),
            FieldCode::UnknownField,
            format!("unknown field; expected one of {}", TYPES.join(", ")),
        ));
    }
    let adults = match object.get("adults").filter(|v| !v.is_null()) {
        Some(v) => count(v, "passengers.adults", 1, errors),
        None => {
            errors.push(FieldError::new(
                "passengers.adults",
                FieldCode::Required,
                "is required: a search has at least one adult",
            ));
            None
        }
    };
    let optional = |name: &str, errors: &mut Vec<FieldError>| match object
        .get(name)
        .filter(|v| !v.is_null())
    {
        None => Some(0),
        Some(v) => count(v, &format!("passengers.{name}"), 0, errors),
    };
    let children = optional("children", errors);
    let infants = optional("infants", errors);
    Some(Travellers {
        adults: adults?,
        children: children?,
        infants: infants?,
    })
}

/// A count of travellers: a whole number from `least` to 9.
fn count(value: &Value, field: &str, least: u64, errors: &mut Vec<FieldError>) -> Option<u8> {
    let most = u64::from(Travellers::MAX_SEATED);
    match value.as_u64() {
        Some(n) if (least..=most).contains(&n) => Some(n as u8),
        other => {
            let code = match other {
                Some(n) if n > most => FieldCode::TooManyTravellers,
                _ => FieldCode::InvalidPassengers,
            };
            errors.push(FieldError::new(
                field,
                code,
                format!(
                    "must be a whole number from {least} to {most}, got {}",
                    shown(value)
                ),
            ));
            None
        }
    }
}

/// Reads `max_stops` (present, not `null`).
pub(crate) fn max_stops(value: &Value, errors: &mut Vec<FieldError>) -> Option<u8> {
    match value.as_u64() {
        Some(n) if n <= MAX_STOPS => Some(n as u8),
        _ => {
            errors.push(FieldError::new(
                "max_stops",
                FieldCode::InvalidMaxStops,
                format!(
                    "must be a whole number from 0 to {MAX_STOPS}, got {}",
                    shown(value)
                ),
            ));
            None
        }
    }
}
