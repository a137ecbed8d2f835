//! Who travels: adults, children and infants (SPEC section 9), and a
//! price split by traveller type that sums to the total exactly.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The travellers of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Travellers {
    /// Travellers aged 12 or more, 1 to 9.
    #[schema(minimum = 1, maximum = 9)]
    pub adults: u8,
    /// Travellers aged 2 to 11, with a seat of their own.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 8)]
    pub children: u8,
    /// Travellers under 2, on an adult's lap: at most one per adult.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9)]
    pub infants: u8,
}

impl Travellers {
    /// Most travellers with a seat (adults and children) in one search.
    pub const MAX_SEATED: u8 = 9;

    /// `n` adults and nobody else.
    pub fn adults(n: u8) -> Self {
        Self {
            adults: n,
            children: 0,
            infants: 0,
        }
    }

    /// Every traveller (saturating: counts from outside are checked
    /// after they are summed).
    pub fn total(self) -> u8 {
        self.seated().saturating_add(self.infants)
    }

    /// Travellers who need a seat: infants sit on a lap.
    pub fn seated(self) -> u8 {
        self.adults.saturating_add(self.children)
    }

    /// Each type with its count, leaving out types nobody is.
    pub fn counts(self) -> impl Iterator<Item = (PassengerType, u8)> {
        [
            (PassengerType::Adult, self.adults),
            (PassengerType::Child, self.children),
            (PassengerType::Infant, self.infants),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
    }
}

/// A traveller's type, as fares are priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PassengerType {
    /// 12 or more.
    Adult,
    /// 2 to 11.
    Child,
    /// Under 2, on a lap.
    Infant,
}

/// The price of every traveller of one type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PassengerPrice {
    /// The type.
    #[serde(rename = "type")]
    pub kind: PassengerType,
    /// How many of the search's travellers are of it.
    pub count: u8,
    /// The price of one of them, in the offer's currency.
    #[serde(
        serialize_with = "crate::model::scalar::decimal",
        deserialize_with = "rust_decimal::serde::str::deserialize"
    )]
    #[schema(value_type = String, example = "1250000")]
    pub each: Decimal,
}

/// The total of a split: the sum of count × each.
pub fn split_total(split: &[PassengerPrice]) -> Decimal {
    split.iter().map(|p| p.each * Decimal::from(p.count)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_counts_seats_without_infants_and_sums_its_split() {
        let family = Travellers {
            adults: 2,
            children: 1,
            infants: 1,
        };
        assert_eq!((family.total(), family.seated()), (4, 3));
        let kinds: Vec<_> = family.counts().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            [
                PassengerType::Adult,
                PassengerType::Child,
                PassengerType::Infant
            ]
        );
        let split = [
            PassengerPrice {
                kind: PassengerType::Adult,
                count: 2,
                each: Decimal::new(8990, 2),
            },
            PassengerPrice {
                kind: PassengerType::Infant,
                count: 1,
                each: Decimal::new(899, 2),
            },
        ];
        assert_eq!(split_total(&split), Decimal::new(18879, 2));
        assert_eq!(Travellers::adults(3).counts().count(), 1);
    }
}
