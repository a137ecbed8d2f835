//! The fast printers against the serde impls they stand in for, over edge
//! cases and many drawn values.

use jiff::Timestamp;
use jiff::civil::DateTime;
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Serialize)]
struct Amount(#[serde(serialize_with = "super::decimal")] Decimal);

#[derive(Serialize)]
struct MaybeAmount(#[serde(serialize_with = "super::decimal_option")] Option<Decimal>);

#[derive(Serialize)]
struct Local(#[serde(serialize_with = "super::datetime")] DateTime);

#[derive(Serialize)]
struct Instant(#[serde(serialize_with = "super::timestamp_option")] Option<Timestamp>);

/// A small deterministic generator (SplitMix64), so a failure repeats.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn check_decimal(value: Decimal) {
    let ours = serde_json::to_string(&Amount(value)).unwrap();
    let theirs = serde_json::to_string(&value).unwrap();
    assert_eq!(ours, theirs, "{value:?}");
    assert_eq!(ours, format!("\"{value}\""), "{value:?}");
    // And through the offers' own writer.
    let mut fast = Vec::new();
    crate::model::json::write(&mut fast, &Amount(value)).unwrap();
    assert_eq!(String::from_utf8(fast).unwrap(), theirs);
}

#[test]
fn decimals_are_written_as_rust_decimal_writes_them() {
    let mut edges = vec![
        Decimal::ZERO,
        Decimal::ONE,
        Decimal::NEGATIVE_ONE,
        Decimal::MAX,
        Decimal::MIN,
        Decimal::new(1250, 2),
        Decimal::new(-1250, 2),
        Decimal::new(5, 1),
        Decimal::new(-5, 3),
        Decimal::new(1, 28),
        Decimal::new(-1, 28),
        Decimal::new(1_250_000, 0),
        Decimal::new(i64::MAX, 0),
        Decimal::new(i64::MIN, 0),
        Decimal::new(i64::MAX, 28),
        Decimal::new(i64::MIN, 5),
        Decimal::from_parts(u32::MAX, u32::MAX, 0, false, 3),
        Decimal::from_parts(0, 0, 1, true, 10),
        Decimal::from_parts(u32::MAX, u32::MAX, u32::MAX, false, 28),
    ];
    // Zeros of every scale, both signs: `0.00`, `-0.00`.
    for scale in 0..=28 {
        edges.push(Decimal::from_parts(0, 0, 0, false, scale));
        edges.push(Decimal::from_parts(0, 0, 0, true, scale));
        edges.push(Decimal::from_parts(7, 0, 0, false, scale));
    }
    // Amounts as offers carry them, after arithmetic and rescaling.
    let mut rescaled = Decimal::new(899, 1) * Decimal::new(3, 0);
    rescaled.rescale(2);
    edges.push(rescaled);
    edges.push(crate::model::money::with_digits(Decimal::new(2345, 3), 2));
    for value in edges {
        check_decimal(value);
    }
    let mut draw = Draw(7);
    for _ in 0..20_000 {
        // Mantissas of every width, not only the full 96 bits.
        let bits = draw.below(97);
        let wide = u128::from(draw.next()) << 32 | u128::from(draw.next() >> 32);
        let mantissa = if bits == 0 { 0 } else { wide >> (96 - bits) };
        let value = Decimal::from_parts(
            mantissa as u32,
            (mantissa >> 32) as u32,
            (mantissa >> 64) as u32,
            draw.below(2) == 1,
            draw.below(29) as u32,
        );
        check_decimal(value);
    }
}

#[test]
fn optional_decimals_are_null_or_the_decimal() {
    assert_eq!(
        serde_json::to_string(&MaybeAmount(None)).unwrap(),
        serde_json::to_string(&None::<Decimal>).unwrap()
    );
    let value = Some(Decimal::new(-1000, 2));
    assert_eq!(
        serde_json::to_string(&MaybeAmount(value)).unwrap(),
        serde_json::to_string(&value).unwrap()
    );
}

fn check_datetime(value: DateTime) {
    let ours = serde_json::to_string(&Local(value)).unwrap();
    assert_eq!(ours, serde_json::to_string(&value).unwrap(), "{value:?}");
    let mut fast = Vec::new();
    crate::model::json::write(&mut fast, &Local(value)).unwrap();
    assert_eq!(String::from_utf8(fast).unwrap(), ours);
}

#[test]
fn datetimes_are_written_as_jiff_writes_them() {
    for text in [
        "2026-12-20T08:30:00",
        "2026-12-20T23:59:59",
        "0000-01-01T00:00:00",
        "0001-02-03T04:05:06",
        "0999-10-31T12:00:00",
        "9999-12-31T23:59:59.999999999",
        "9999-12-31T23:59:59",
        "-000001-06-15T10:20:30",
        "-009999-01-01T00:00:00",
        "2024-02-29T00:00:00.5",
        "2024-02-29T00:00:00.000000001",
    ] {
        check_datetime(text.parse().unwrap());
    }
    let mut draw = Draw(11);
    let utc = jiff::tz::TimeZone::UTC;
    let first = Timestamp::MIN;
    let span = 2 * 9999 * 366 * 86_400;
    for _ in 0..20_000 {
        let seconds = draw.below(span) as i64;
        let at = first.as_second() + seconds;
        let Ok(at) = Timestamp::from_second(at) else {
            continue;
        };
        let mut local = utc.to_datetime(at);
        if draw.below(4) == 0 {
            local = local
                .with()
                .subsec_nanosecond(draw.below(1_000_000_000) as i32)
                .build()
                .unwrap();
        }
        check_datetime(local);
    }
}

#[derive(Serialize)]
struct Always(#[serde(serialize_with = "super::timestamp")] Timestamp);

fn check_timestamp(value: Option<Timestamp>) {
    let ours = serde_json::to_string(&Instant(value)).unwrap();
    assert_eq!(ours, serde_json::to_string(&value).unwrap(), "{value:?}");
    if let Some(value) = value {
        assert_eq!(serde_json::to_string(&Always(value)).unwrap(), ours);
    }
    let mut fast = Vec::new();
    crate::model::json::write(&mut fast, &Instant(value)).unwrap();
    assert_eq!(String::from_utf8(fast).unwrap(), ours);
}

#[test]
fn timestamps_are_written_as_jiff_writes_them() {
    check_timestamp(None);
    for value in [
        Timestamp::UNIX_EPOCH,
        Timestamp::MIN,
        Timestamp::MAX,
        "2026-12-20T08:30:00Z".parse().unwrap(),
        "2000-02-29T23:59:59Z".parse().unwrap(),
        "1900-03-01T00:00:00Z".parse().unwrap(),
        "1969-12-31T23:59:59Z".parse().unwrap(),
        "0000-01-01T00:00:00Z".parse().unwrap(),
        "-000001-12-31T23:59:59Z".parse().unwrap(),
        "9999-12-30T21:59:59Z".parse().unwrap(),
        "1969-12-31T23:59:59.5Z".parse().unwrap(),
        "2026-12-20T08:30:00.25Z".parse().unwrap(),
    ] {
        check_timestamp(Some(value));
    }
    let mut draw = Draw(13);
    let (min, max) = (Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    for _ in 0..20_000 {
        let seconds = min + draw.below((max - min) as u64) as i64;
        let nanos = if draw.below(4) == 0 {
            draw.below(1_000_000_000) as i32
        } else {
            0
        };
        let value = Timestamp::new(seconds, nanos).unwrap_or(Timestamp::MAX);
        check_timestamp(Some(value));
    }
    // Every day around now, one after another.
    let now = Timestamp::now().as_second();
    for day in -800..800 {
        check_timestamp(Some(Timestamp::from_second(now + day * 86_400).unwrap()));
    }
}
