//! Showing prices in the client's currency: exchange rates read from a
//! file named in the settings (`currency.rates_file`), and each offer's
//! total converted with them (`price.converted`). Airlines still price in
//! their own currency; a conversion is for showing and ordering.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::model::{Conversion, normalize_code};

/// The rates file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RatesFile {
    /// The day the rates are of, `YYYY-MM-DD`.
    date: String,
    /// The currency the rates are quoted against.
    base: String,
    /// Units of each currency for one unit of `base`.
    rates: BTreeMap<String, toml::Value>,
}

/// Exchange rates of one day.
#[derive(Clone, Debug, PartialEq)]
pub struct Rates {
    /// The day they are of.
    pub date: Date,
    /// Units of each currency (the base among them, at 1) for one unit of
    /// the base.
    per_base: BTreeMap<String, Decimal>,
}

impl Rates {
    /// Reads a rates file (TOML), naming what is wrong and where.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("the rates file {} cannot be read: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("the rates file {}: {e}", path.display()))
    }

    /// Reads rates from the text of a rates file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: RatesFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let code = |c: &str| {
            normalize_code(c, 3, false)
                .ok_or_else(|| format!("`{c}` is not a currency code such as USD"))
        };
        let date: Date = file
            .date
            .parse()
            .map_err(|_| format!("`date` `{}` is not a date such as 2026-12-01", file.date))?;
        let mut per_base = BTreeMap::new();
        per_base.insert(code(&file.base)?, Decimal::ONE);
        for (currency, value) in &file.rates {
            let written = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let rate = written
                .parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(&written))
                .ok()
                .filter(|r| *r > Decimal::ZERO)
                .ok_or_else(|| {
                    format!("the rate of {currency} must be a number more than 0, got {written}")
                })?;
            per_base.insert(code(currency)?, rate);
        }
        Ok(Self { date, per_base })
    }

    /// Whether a currency has a rate.
    pub fn knows(&self, currency: &str) -> bool {
        self.per_base.contains_key(currency)
    }

    /// Every currency with a rate, sorted.
    pub fn currencies(&self) -> impl Iterator<Item = &str> {
        self.per_base.keys().map(String::as_str)
    }

    /// What a search carries to convert into `target`: the factor from
    /// each currency with a rate into it.
    pub fn into_currency(&self, target: &str) -> Option<Conversion> {
        let target_rate = *self.per_base.get(target)?;
        Some(Conversion {
            currency: target.to_string(),
            date: self.date,
            factors: self
                .per_base
                .iter()
                .map(|(c, rate)| (c.clone(), target_rate / rate))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_file_reads() {
        let rates = Rates::parse(include_str!("../docs/examples/rates.toml")).unwrap();
        assert!(rates.knows("IDR") && rates.knows("USD"));
    }

    #[test]
    fn rates_convert_through_their_base_and_bad_files_say_why() {
        let rates = Rates::parse(
            "date = \"2026-12-01\"\nbase = \"USD\"\n[rates]\nIDR = 16000\nEUR = 0.9\n",
        )
        .unwrap();
        let into_eur = rates.into_currency("EUR").unwrap();
        assert_eq!(into_eur.factors["USD"], Decimal::new(9, 1));
        assert_eq!(
            into_eur.factors["IDR"] * Decimal::from(1_600_000),
            Decimal::from(90)
        );
        assert!(rates.into_currency("JPY").is_none());
        for (text, needle) in [
            (
                "date = \"2026-12-01\"\nbase = \"USD\"\n[rates]\nIDR = 0\n",
                "more than 0",
            ),
            (
                "date = \"2026-12-01\"\nbase = \"dollar\"\n[rates]\n",
                "not a currency code",
            ),
            ("date = \"soon\"\nbase = \"USD\"\n[rates]\n", "not a date"),
            ("base = \"USD\"\n[rates]\n", "date"),
        ] {
            let e = Rates::parse(text).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }
}
