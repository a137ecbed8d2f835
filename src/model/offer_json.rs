//! An offer's compact JSON written field by field, byte for byte as serde
//! writes it (serde_json, or [`super::json`]). An airline encodes every
//! offer it makes; through serde each of an offer's sixty-odd fields and
//! values is a call through the serializer, which checks and pushes its
//! punctuation one byte at a time: that was the largest part of a search
//! (`docs/performance.md`). Here each field name and its punctuation is one
//! copied literal.
//!
//! The order and the names are those of the derives in `model`; the tests
//! compare this with serde_json over offers whose every field is set, so a
//! field added to [`Offer`] and not here fails them.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use rust_decimal::Decimal;

use super::scalar;
use super::{Leg, Offer, OfferKey, PassengerType, Price, Segment};

/// Appends `offer`'s compact JSON to `out`.
pub fn write(out: &mut Vec<u8>, offer: &Offer) {
    let w = &mut Writer { out };
    w.raw(b"{\"id\":");
    w.str(&offer.id);
    w.raw(b",\"provider\":");
    w.str(&offer.provider);
    w.raw(b",\"airline\":{\"code\":");
    w.str(&offer.airline.code);
    w.raw(b",\"name\":");
    w.str(&offer.airline.name);
    w.raw(b"},\"flight_number\":");
    w.str(&offer.flight_number);
    w.raw(b",\"from\":");
    w.str(&offer.from);
    w.raw(b",\"to\":");
    w.str(&offer.to);
    w.raw(b",\"depart_at\":");
    w.datetime(&offer.depart_at);
    w.raw(b",\"arrive_at\":");
    w.datetime(&offer.arrive_at);
    w.raw(b",\"duration_minutes\":");
    w.number(u64::from(offer.duration_minutes));
    w.raw(b",\"stops\":");
    w.number(u64::from(offer.stops));
    w.raw(b",\"segments\":[");
    w.each(&offer.segments, Writer::segment);
    w.raw(b"],\"itinerary\":");
    w.str(&offer.itinerary);
    w.raw(b",\"cabin\":");
    w.str(offer.cabin.as_str());
    w.raw(b",\"seats_left\":");
    w.number(u64::from(offer.seats_left));
    let fare = &offer.fare;
    w.raw(b",\"fare\":{\"brand\":");
    match &fare.brand {
        Some(brand) => w.str(brand),
        None => w.raw(b"null"),
    }
    w.raw(b",\"refundable\":");
    w.flag(fare.refundable);
    w.raw(b",\"changeable\":");
    w.flag(fare.changeable);
    let bags = &fare.baggage;
    w.raw(b",\"baggage\":{\"checked_bags\":");
    w.maybe_number(bags.checked_bags.map(u64::from));
    w.raw(b",\"checked_kg\":");
    w.maybe_number(bags.checked_kg.map(u64::from));
    w.raw(b",\"cabin_bags\":");
    w.maybe_number(bags.cabin_bags.map(u64::from));
    w.raw(b"}},\"expires_at\":");
    match &offer.expires_at {
        Some(at) => w.timestamp(at),
        None => w.raw(b"null"),
    }
    w.raw(b",\"price\":");
    w.price(&offer.price);
    w.raw(match offer.leg {
        Leg::Outbound => b",\"leg\":\"outbound\"}",
        Leg::Inbound => b",\"leg\":\"inbound\"}",
    });
}

/// Appends `key`'s compact JSON to `out`: the keys an answer carries beside
/// its offers on the results stream (`offer_keys`).
pub fn write_key(out: &mut Vec<u8>, key: &OfferKey) {
    let w = &mut Writer { out };
    w.raw(b"{\"price\":{\"currency\":");
    w.str(&key.price.currency);
    w.raw(b",\"total\":");
    w.decimal(&key.price.total);
    if let Some(converted) = &key.price.converted {
        w.raw(b",\"converted\":{\"total\":");
        w.decimal(&converted.total);
        w.raw(b"}");
    }
    w.raw(b"},\"depart_at\":");
    w.datetime(&key.depart_at);
    w.raw(b",\"id\":");
    w.str(&key.id);
    w.raw(b",\"provider\":");
    w.str(&key.provider);
    w.raw(b",\"itinerary\":");
    w.str(&key.itinerary);
    w.raw(b"}");
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// A string as serde_json writes it: copied between quotes when it
    /// has nothing to escape.
    fn str(&mut self, text: &str) {
        super::json::write_str(self.out, text);
    }

    fn number(&mut self, n: u64) {
        self.raw(itoa::Buffer::new().format(n).as_bytes());
    }

    fn maybe_number(&mut self, n: Option<u64>) {
        match n {
            Some(n) => self.number(n),
            None => self.raw(b"null"),
        }
    }

    fn flag(&mut self, flag: Option<bool>) {
        self.raw(match flag {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"null",
        });
    }

    /// `items`, each written by `write`, with commas between.
    fn each<T>(&mut self, items: &[T], mut write: impl FnMut(&mut Self, &T)) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            write(self, item);
        }
    }

    fn maybe_decimal(&mut self, value: Option<&Decimal>) {
        match value {
            Some(value) => self.decimal(value),
            None => self.raw(b"null"),
        }
    }

    fn decimal(&mut self, value: &Decimal) {
        let mut buf = [0u8; scalar::ROOM];
        self.quoted(scalar::print_decimal(value, &mut buf));
    }

    fn datetime(&mut self, value: &DateTime) {
        let mut buf = [0u8; 19];
        match scalar::datetime_text(value, &mut buf) {
            Some(text) => self.quoted(text),
            None => self.displayed(value),
        }
    }

    fn timestamp(&mut self, value: &Timestamp) {
        let mut buf = [0u8; 20];
        match scalar::timestamp_text(value, &mut buf) {
            Some(text) => self.quoted(text),
            None => self.displayed(value),
        }
    }

    fn date(&mut self, value: Date) {
        self.displayed(&value);
    }

    /// Printed text of digits and signs, which needs no escaping.
    fn quoted(&mut self, text: &str) {
        self.raw(b"\"");
        self.raw(text.as_bytes());
        self.raw(b"\"");
    }

    /// A value outside the printers' fast range, as its serde impl
    /// writes it: its `Display` text as a string.
    fn displayed(&mut self, value: &dyn std::fmt::Display) {
        self.str(&value.to_string());
    }

    fn segment(&mut self, s: &Segment) {
        self.raw(b"{\"flight_number\":");
        self.str(&s.flight_number);
        self.raw(b",\"marketing_carrier\":");
        self.str(&s.marketing_carrier);
        self.raw(b",\"operating_carrier\":");
        self.str(&s.operating_carrier);
        self.raw(b",\"operating_flight_number\":");
        self.str(&s.operating_flight_number);
        self.raw(b",\"from\":");
        self.str(&s.from);
        self.raw(b",\"to\":");
        self.str(&s.to);
        self.raw(b",\"depart_at\":");
        self.datetime(&s.depart_at);
        self.raw(b",\"arrive_at\":");
        self.datetime(&s.arrive_at);
        self.raw(b",\"duration_minutes\":");
        self.number(u64::from(s.duration_minutes));
        self.raw(b"}");
    }

    fn price(&mut self, p: &Price) {
        self.raw(b"{\"total\":");
        self.decimal(&p.total);
        self.raw(b",\"per_passenger\":");
        self.decimal(&p.per_passenger);
        self.raw(b",\"base\":");
        self.maybe_decimal(p.base.as_ref());
        self.raw(b",\"taxes\":");
        self.maybe_decimal(p.taxes.as_ref());
        if let Some(c) = &p.converted {
            self.raw(b",\"converted\":{\"currency\":");
            self.str(&c.currency);
            self.raw(b",\"total\":");
            self.decimal(&c.total);
            self.raw(b",\"rate\":");
            self.decimal(&c.rate);
            self.raw(b",\"date\":");
            self.date(c.date);
            self.raw(b"}");
        }
        self.raw(b",\"by_passenger\":[");
        self.each(&p.by_passenger, |w, each| {
            w.raw(match each.kind {
                PassengerType::Adult => b"{\"type\":\"adult\",\"count\":",
                PassengerType::Child => b"{\"type\":\"child\",\"count\":",
                PassengerType::Infant => b"{\"type\":\"infant\",\"count\":",
            });
            w.number(u64::from(each.count));
            w.raw(b",\"each\":");
            w.decimal(&each.each);
            w.raw(b"}");
        });
        self.raw(b"],\"currency\":");
        self.str(&p.currency);
        self.raw(b"}");
    }
}

#[cfg(test)]
#[path = "offer_json_tests.rs"]
pub(crate) mod tests;
