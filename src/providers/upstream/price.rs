//! An upstream offer's price from the fields of its `map`: the total, one
//! adult's price, each traveller type's price, base and taxes, every
//! amount in the currency's digits and every sum checked, never guessed.

use rust_decimal::Decimal;

use super::convert::{Values, amount};
use crate::model::{PassengerPrice, PassengerType, Price, Travellers, money, split_total};

/// The price of one offer for `travellers`, in `currency`.
pub fn price(values: Values<'_>, travellers: Travellers, currency: &str) -> Result<Price, String> {
    let read = |name: &str| -> Result<Option<Decimal>, String> {
        values(name)?
            .map(|v| amount(&v).map_err(|e| format!("`{name}`: {e}")))
            .transpose()
            .map(|a| a.map(|a| money::in_minor_units(a, currency)))
    };
    let total = read("price")?;
    let per = read("per_passenger")?;
    let mut by_type = Vec::new();
    for (kind, count) in travellers.counts() {
        let field = match kind {
            PassengerType::Adult => "price_adult",
            PassengerType::Child => "price_child",
            PassengerType::Infant => "price_infant",
        };
        by_type.push((kind, count, field, read(field)?));
    }
    let typed = by_type.iter().any(|(_, _, _, each)| each.is_some());
    let adults_only = travellers.total() == travellers.adults;
    let passengers = Decimal::from(travellers.total());
    let (total, per_passenger, by_passenger) = if typed {
        // Each traveller type's own price: every type searched needs one,
        // and a total, when given, must be their sum.
        let mut split = Vec::new();
        for (kind, count, field, each) in by_type {
            let each = each.ok_or_else(|| {
                format!("`{field}` is not set, but the search has travellers of that type")
            })?;
            split.push(PassengerPrice { kind, count, each });
        }
        let sum = split_total(&split);
        if let Some(total) = total.filter(|t| *t != sum) {
            return Err(format!(
                "the travellers' prices add up to {sum}, not to `price` {total}"
            ));
        }
        let adult = per.unwrap_or(split[0].each);
        (sum, adult, split)
    } else {
        let (total, per) = match (total, per) {
            (Some(t), Some(p)) => (t, p),
            (Some(t), None) => (t, money::in_minor_units(t / passengers, currency)),
            (None, Some(p)) if adults_only => (p * passengers, p),
            (None, Some(_)) => {
                return Err(
                    "`price` (the total) is not set, and `per_passenger` alone does not price children or infants"
                        .into(),
                );
            }
            (None, None) => {
                return Err("neither `price`, `per_passenger` nor `price_adult` is set".into());
            }
        };
        // Split by type only where the answer's own figures add up
        // exactly: an adults-only total that is `per_passenger` times the
        // adults.
        let split = vec![PassengerPrice {
            kind: PassengerType::Adult,
            count: travellers.adults,
            each: per,
        }];
        let split = if adults_only && split_total(&split) == total {
            split
        } else {
            Vec::new()
        };
        (total, per, split)
    };
    let (base, taxes) = match (read("base")?, read("taxes")?) {
        (None, None) => (None, None),
        (Some(b), Some(t)) if b + t == total => (Some(b), Some(t)),
        (Some(b), Some(t)) => {
            return Err(format!(
                "`base` {b} and `taxes` {t} add up to {}, not to the total {total}",
                b + t
            ));
        }
        (Some(b), None) if b <= total => (Some(b), Some(total - b)),
        (None, Some(t)) if t <= total => (Some(total - t), Some(t)),
        (Some(part), None) | (None, Some(part)) => {
            return Err(format!(
                "`base` or `taxes` {part} is more than the total {total}"
            ));
        }
    };
    Ok(Price {
        total,
        per_passenger,
        base,
        taxes,
        converted: None,
        by_passenger,
        currency: currency.to_string(),
    })
}
