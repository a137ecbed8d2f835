//! Decimals and date-times serialized with the same text as their own serde
//! impls, printed digit by digit on the stack. rust_decimal's printer costs
//! about 370 instructions an amount (a division by ten per digit over 96
//! bits, into an `ArrayVec` of `char`s, then copied again), and jiff's
//! about a thousand a date-time; an offer has five amounts and five
//! date-times, and the airlines of a search encode ten offers.
//!
//! Only serializing goes through here: fields keep their own
//! `Deserialize`. Every decimal is printed here (a mantissa over 64 bits
//! through `u128`); a date-time with a year outside 0 to 9999 or a fraction
//! of a second is printed by its own `Display`, which is the text its
//! serde impl writes too.

use jiff::Timestamp;
use jiff::civil::DateTime;
use rust_decimal::Decimal;
use serde::Serializer;

/// Room for any decimal: a sign, 29 digits, a point and a leading zero.
pub(super) const ROOM: usize = 40;

/// A decimal's text as rust_decimal's serde impl writes it (its
/// `to_string`): every digit of its scale kept, so `12.50` stays `12.50`,
/// and a negative zero keeps its sign.
pub fn decimal<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; ROOM];
    serializer.serialize_str(print_decimal(value, &mut buf))
}

/// An optional decimal: `null`, or as [`decimal`].
pub fn decimal_option<S: Serializer>(
    value: &Option<Decimal>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => decimal(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// A civil date-time as jiff's serde impl writes it: `2026-12-20T08:30:00`.
pub fn datetime<S: Serializer>(value: &DateTime, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 19];
    match datetime_text(value, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        None => serializer.collect_str(value),
    }
}

/// An optional instant: `null`, or as [`timestamp`].
pub fn timestamp_option<S: Serializer>(
    value: &Option<Timestamp>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => timestamp(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// An instant as jiff's serde impl writes it, in UTC
/// (`2026-12-20T08:30:00Z`).
pub fn timestamp<S: Serializer>(value: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 20];
    match timestamp_text(value, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        None => serializer.collect_str(value),
    }
}

/// `value`'s `Display` text printed into `buf`, for a year from 0 to 9999
/// and no fraction of a second; `None` for any other, which `Display`
/// prints.
pub(super) fn datetime_text<'a>(value: &DateTime, buf: &'a mut [u8; 19]) -> Option<&'a str> {
    if value.subsec_nanosecond() != 0 || !(0..=9999).contains(&value.year()) {
        return None;
    }
    put_datetime(
        buf,
        value.year() as u16,
        [
            value.month() as u8,
            value.day() as u8,
            value.hour() as u8,
            value.minute() as u8,
            value.second() as u8,
        ],
    );
    Some(ascii(buf))
}

/// `value`'s `Display` text (UTC, with `Z`) printed into `buf`, for a year
/// from 0 to 9999 and no fraction of a second; `None` for any other.
pub(super) fn timestamp_text<'a>(value: &Timestamp, buf: &'a mut [u8; 20]) -> Option<&'a str> {
    // 0000-01-01 and 10000-01-01 in seconds from the Unix epoch.
    const FIRST: i64 = -62_167_219_200;
    const END: i64 = 253_402_300_800;
    let seconds = value.as_second();
    if value.subsec_nanosecond() != 0 || !(FIRST..END).contains(&seconds) {
        return None;
    }
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    put_datetime(
        buf,
        year as u16,
        [
            month,
            day,
            (of_day / 3600) as u8,
            (of_day / 60 % 60) as u8,
            (of_day % 60) as u8,
        ],
    );
    buf[19] = b'Z';
    Some(ascii(buf))
}

/// The civil date of a day counted from 1970-01-01, in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March, so that February's leap day comes last.
    let from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * from_march + 2) / 5 + 1) as u8;
    let month = if from_march < 10 {
        from_march + 3
    } else {
        from_march - 9
    } as u8;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes `YYYY-MM-DDTHH:MM:SS` into the first 19 bytes of `buf`; the
/// parts are month, day, hour, minute and second.
fn put_datetime(buf: &mut [u8], year: u16, parts: [u8; 5]) {
    buf[0] = b'0' + (year / 1000) as u8;
    buf[1] = b'0' + (year / 100 % 10) as u8;
    buf[2] = b'0' + (year / 10 % 10) as u8;
    buf[3] = b'0' + (year % 10) as u8;
    for (i, (part, sep)) in parts.into_iter().zip(*b"--T::").enumerate() {
        let at = 4 + 3 * i;
        buf[at] = sep;
        buf[at + 1] = b'0' + part / 10;
        buf[at + 2] = b'0' + part % 10;
    }
}

/// The text of the digits and signs put in `buf`.
fn ascii(buf: &[u8]) -> &str {
    // Only ASCII digits and signs are written in.
    std::str::from_utf8(buf).unwrap_or_default()
}

/// Prints `value` into `buf`: the sign, the integer part (at least `0`),
/// then the point and exactly `scale` digits when it has any.
pub(super) fn print_decimal<'a>(value: &Decimal, buf: &'a mut [u8; ROOM]) -> &'a str {
    let mut digits = itoa::Buffer::new();
    let mantissa = value.mantissa().unsigned_abs();
    let digits = match u64::try_from(mantissa) {
        Ok(small) => digits.format(small),
        Err(_) => digits.format(mantissa),
    }
    .as_bytes();
    let scale = value.scale() as usize;
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        buf[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    if value.is_sign_negative() {
        put(b"-");
    }
    if digits.len() > scale {
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        put(whole);
        if scale > 0 {
            put(b".");
            put(fraction);
        }
    } else {
        // All fraction: `0.`, the zeros the scale asks for, the digits.
        // A zero mantissa is the digit `0`, which is one of them.
        put(b"0.");
        for _ in digits.len()..scale {
            put(b"0");
        }
        put(digits);
    }
    ascii(&buf[..len])
}

#[cfg(test)]
#[path = "scalar_tests.rs"]
mod tests;
