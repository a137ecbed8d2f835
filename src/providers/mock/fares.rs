//! Reading what a mock fare costs from YAML: pricing rules, fare brands
//! per cabin and taxes, every problem recorded at its position.

use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_saphyr::Spanned;

use super::{Brand, Pricing, Taxes};
use crate::model::{Baggage, Cabin, Fare};
use crate::providers::definition::{BrandSpec, MockSpec, PricingSpec};
use crate::providers::problems::Problems;

/// How long an offer's price holds when the file does not say.
const OFFER_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The brands of each cabin, the taxes and the offer lifetime of a table.
pub(super) fn fares_from_spec(
    s: &MockSpec,
    problems: &mut Problems,
) -> (Vec<(Cabin, Vec<Brand>)>, Taxes, Duration) {
    let mut brands = Vec::new();
    for (cabin_name, list) in s.brands.iter().flat_map(|b| &b.value) {
        let Some(cabin) = Cabin::parse(cabin_name) else {
            problems.at(
                list,
                format!(
                    "`{cabin_name}` is not a cabin; use economy, premium_economy, business or first"
                ),
            );
            continue;
        };
        if list.value.is_empty() {
            problems.at(list, "a cabin's `brands` needs at least one brand");
        }
        let mut cabin_brands: Vec<Brand> = Vec::new();
        for spec in &list.value {
            let brand = brand_from_spec(spec, problems);
            if cabin_brands
                .iter()
                .any(|b| b.fare.brand == brand.fare.brand)
            {
                problems.at(
                    &spec.value.name,
                    format!(
                        "brand `{}` is listed twice for {cabin}",
                        spec.value.name.value
                    ),
                );
            }
            cabin_brands.push(brand);
        }
        brands.push((cabin, cabin_brands));
    }
    let mut taxes = Taxes::default();
    if let Some(t) = &s.taxes {
        if let Some(fixed) = &t.value.per_traveller {
            match Decimal::from_str(fixed.value.0.trim()) {
                Ok(d) if d >= Decimal::ZERO => taxes.per_traveller = d,
                _ => problems.at(
                    fixed,
                    format!(
                        "`per_traveller` `{}` is not an amount of 0 or more",
                        fixed.value.0
                    ),
                ),
            }
        }
        if let Some(p) = &t.value.percent {
            match Decimal::from_f64_retain(p.value).filter(|_| (0.0..=100.0).contains(&p.value)) {
                Some(d) => taxes.percent = d.normalize(),
                None => problems.at(
                    p,
                    format!("`percent` must be from 0 to 100, got {}", p.value),
                ),
            }
        }
    }
    let lifetime = match &s.offer_lifetime {
        None => OFFER_LIFETIME,
        Some(d) => {
            let lifetime = d.value.value.get();
            if lifetime < Duration::from_secs(60) || lifetime > Duration::from_secs(24 * 3600) {
                problems.at(
                    d,
                    format!(
                        "offer_lifetime must be from 1m to 24h, got `{}`",
                        d.value.text
                    ),
                );
            }
            lifetime
        }
    };
    (brands, taxes, lifetime)
}

fn brand_from_spec(spec: &Spanned<BrandSpec>, problems: &mut Problems) -> Brand {
    let b = &spec.value;
    let name = b.name.value.trim().to_string();
    if name.is_empty() || name.len() > 40 {
        problems.at(
            &b.name,
            "a brand's name is 1 to 40 characters, such as Lite",
        );
    }
    Brand {
        factor: b
            .factor
            .as_ref()
            .map_or(Decimal::ONE, |f| factor(f, "a brand's factor", problems)),
        fare: Fare {
            brand: Some(name),
            refundable: b.refundable,
            changeable: b.changeable,
            baggage: Baggage {
                checked_bags: b.checked_bags.as_ref().map(|v| v.value),
                checked_kg: b.checked_kg.as_ref().map(|v| v.value),
                cabin_bags: b.cabin_bags.as_ref().map(|v| v.value),
            },
        },
    }
}

/// A positive pricing factor, or 1 with a problem recorded.
pub(super) fn factor(value: &Spanned<f64>, what: &str, problems: &mut Problems) -> Decimal {
    match Decimal::from_f64_retain(value.value)
        .filter(|d| *d > Decimal::ZERO && value.value <= 100.0)
    {
        Some(d) => d.normalize(),
        None => {
            problems.at(
                value,
                format!(
                    "{what} must be a positive factor such as 1.2, got {}",
                    value.value
                ),
            );
            Decimal::ONE
        }
    }
}

pub(super) fn pricing_from_spec(spec: &Spanned<PricingSpec>, problems: &mut Problems) -> Pricing {
    let p = &spec.value;
    let mut pricing = Pricing::default();
    if let Some(w) = &p.weekend {
        pricing.weekend = factor(w, "weekend", problems);
    }
    if let Some(steps) = &p.advance {
        for (key, value) in &steps.value {
            let f = factor(value, "an advance-purchase factor", problems);
            match key
                .strip_suffix('d')
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 0)
            {
                Some(days) => pricing.advance.push((days, f)),
                None => problems.at(
                    value,
                    format!("`{key}` is not a number of days such as 0d, 7d or 30d"),
                ),
            }
        }
        pricing.advance.sort_by_key(|(d, _)| *d);
    }
    if let Some(j) = &p.jitter {
        if (0.0..0.5).contains(&j.value) {
            pricing.jitter = j.value;
        } else {
            problems.at(
                j,
                format!(
                    "jitter must be from 0 to 0.5 (a share of the fare), got {}",
                    j.value
                ),
            );
        }
    }
    if let Some(list) = &p.weekend_days {
        pricing.weekend_days = day_set(list, problems);
    }
    if let Some(c) = &p.child {
        pricing.child = share(c, "child", problems);
    }
    if let Some(i) = &p.infant {
        pricing.infant = share(i, "infant", problems);
    }
    pricing
}

/// A share of the adult fare, from 0 to 1, or 1 with a problem recorded.
fn share(value: &Spanned<f64>, what: &str, problems: &mut Problems) -> Decimal {
    match Decimal::from_f64_retain(value.value)
        .filter(|d| (Decimal::ZERO..=Decimal::ONE).contains(d))
    {
        Some(d) => d.normalize(),
        None => {
            problems.at(
                value,
                format!(
                    "{what} must be a share of the adult fare from 0 to 1, such as 0.75, got {}",
                    value.value
                ),
            );
            Decimal::ONE
        }
    }
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Days of the week by name (`mon` .. `sun`, or whole names), Monday
/// first; a wrong name is recorded where it is written.
pub(super) fn day_set(list: &Spanned<Vec<Spanned<String>>>, problems: &mut Problems) -> [bool; 7] {
    let mut days = [false; 7];
    if list.value.is_empty() {
        problems.at(
            list,
            "days must name at least one day (mon .. sun), or be left out for every day",
        );
    }
    for day in &list.value {
        let name = day.value.trim().to_ascii_lowercase();
        match DAY_NAMES
            .iter()
            .position(|d| name.starts_with(d) && name.len() <= 9)
        {
            Some(i) => days[i] = true,
            None => problems.at(
                day,
                format!(
                    "`{}` is not a day; use mon, tue, wed, thu, fri, sat or sun",
                    day.value
                ),
            ),
        }
    }
    days
}
