//! Money amounts as offers carry them: exact decimals written with exactly
//! their currency's minor-unit digits (ISO 4217), mock and upstream alike.
//! `999.9` EUR is `999.90`, `1234.5` JPY is `1234`; where an amount has more
//! digits than its currency, it is rounded half to even (banker's rounding,
//! so that many roundings do not drift one way).

use std::collections::BTreeMap;

use jiff::civil::Date;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Digits of a currency that has other than two (ISO 4217 minor units).
/// Every other currency, known or not, has two.
///
/// IDR is listed by ISO 4217 with two digits, but rupiah prices are quoted
/// whole everywhere (the sen is long gone), so it has none here.
const NOT_TWO: [(&str, u32); 27] = [
    ("BHD", 3),
    ("BIF", 0),
    ("CLF", 4),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IDR", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("RWF", 0),
    ("TND", 3),
    ("UGX", 0),
    ("UYI", 0),
    ("UYW", 4),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
];

/// Minor-unit digits of a currency (upper-case ISO 4217 code): the table's,
/// or 2.
pub fn digits(currency: &str) -> u32 {
    NOT_TWO
        .iter()
        .find(|(code, _)| *code == currency)
        .map_or(2, |(_, d)| *d)
}

/// `amount` with exactly `currency`'s digits: rounded half to even when it
/// has more, padded with zeros when it has fewer (a decimal string carries
/// its scale, so `89.9` must become `89.90`, not stay as it was read).
pub fn in_minor_units(amount: Decimal, currency: &str) -> Decimal {
    with_digits(amount, digits(currency))
}

/// `amount` with exactly `digits` decimal places, rounded half to even.
pub fn with_digits(amount: Decimal, digits: u32) -> Decimal {
    let mut rounded = amount.round_dp_with_strategy(digits, RoundingStrategy::MidpointNearestEven);
    rounded.rescale(digits);
    rounded
}

/// An offer's total in the currency a search asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Converted {
    /// The currency asked for.
    pub currency: String,
    /// The offer's total in it, with its digits.
    #[serde(
        serialize_with = "crate::model::scalar::decimal",
        deserialize_with = "rust_decimal::serde::str::deserialize"
    )]
    #[schema(value_type = String, example = "118.72")]
    pub total: Decimal,
    /// Units of `currency` for one unit of the offer's currency.
    #[serde(
        serialize_with = "crate::model::scalar::decimal",
        deserialize_with = "rust_decimal::serde::str::deserialize"
    )]
    #[schema(value_type = String)]
    pub rate: Decimal,
    /// The day of the rate.
    #[schema(value_type = String, format = Date)]
    pub date: Date,
}

/// A search's conversion: into which currency, the rates' day, and the
/// factor from each currency into it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Conversion {
    /// The currency asked for.
    pub currency: String,
    /// The day of the rates.
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// Units of `currency` for one unit of each currency.
    #[schema(value_type = BTreeMap<String, String>)]
    pub factors: BTreeMap<String, Decimal>,
}

impl Conversion {
    /// Adds `price.converted` to an offer whose currency has a rate.
    pub fn apply(&self, offer: &mut super::Offer) {
        let Some(rate) = self.factors.get(&offer.price.currency) else {
            return;
        };
        offer.price.converted = Some(Converted {
            currency: self.currency.clone(),
            total: in_minor_units(offer.price.total * rate, &self.currency),
            rate: rate.round_dp(10).normalize(),
            date: self.date,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(amount: &str, currency: &str) -> String {
        in_minor_units(amount.parse().unwrap(), currency).to_string()
    }

    #[test]
    fn amounts_carry_exactly_their_currencys_digits() {
        assert_eq!(shown("89.9", "SGD"), "89.90");
        assert_eq!(shown("119", "SGD"), "119.00");
        assert_eq!(shown("999.9", "EUR"), "999.90");
        assert_eq!(shown("1234.50", "EUR"), "1234.50");
        assert_eq!(shown("1250000", "IDR"), "1250000");
        assert_eq!(shown("1250000.00", "IDR"), "1250000");
        assert_eq!(shown("15000", "JPY"), "15000");
        assert_eq!(shown("1.2", "KWD"), "1.200");
        assert_eq!(shown("0.5", "BHD"), "0.500");
        assert_eq!(shown("12", "USD"), "12.00");
        // A code the table does not know has two digits.
        assert_eq!(shown("7.5", "XYZ"), "7.50");
    }

    #[test]
    fn extra_digits_round_half_to_even() {
        assert_eq!(shown("2.345", "EUR"), "2.34");
        assert_eq!(shown("2.355", "EUR"), "2.36");
        assert_eq!(shown("2.3451", "EUR"), "2.35");
        assert_eq!(shown("1234.5", "JPY"), "1234");
        assert_eq!(shown("1235.5", "JPY"), "1236");
        assert_eq!(shown("1.2345", "KWD"), "1.234");
        assert_eq!(shown("1.2355", "KWD"), "1.236");
        assert_eq!(shown("1625000.50", "IDR"), "1625000");
    }
}
