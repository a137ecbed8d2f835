//! What a fare includes (SPEC section 9): its brand, conditions and bags.
//! A value the airline does not say is `null`, never guessed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The fare of an offer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Fare {
    /// The airline's name for it, such as `Lite` or `Flex`.
    pub brand: Option<String>,
    /// Whether the ticket can be refunded.
    pub refundable: Option<bool>,
    /// Whether the flights can be changed.
    pub changeable: Option<bool>,
    /// The bags it includes, per traveller.
    #[serde(default)]
    pub baggage: Baggage,
}

/// The bags a fare includes, per traveller with a seat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Baggage {
    /// Checked bags (`0`: bags are sold separately).
    pub checked_bags: Option<u8>,
    /// The weight allowed per checked bag, in kilograms.
    pub checked_kg: Option<u16>,
    /// Bags taken into the cabin.
    pub cabin_bags: Option<u8>,
}
