//! Human-friendly durations (`150ms`, `3s`, `1h50m`) as written in settings and
//! provider files.
//!
//! The grammar (documented once, in `docs/providers.md`, section 3):
//!
//! ```text
//! duration  = "0" | part ( [" "] part )*
//! part      = digits [ "." digits ] unit
//! unit      = "d" | "h" | "m" | "s" | "ms"
//! ```
//!
//! Units are lower-case and written right after their number, larger units
//! come first and each at most once, and only the last part may have a
//! fraction: `1h50m`, `1h 50m`, `1m30s`, `1.5s`, `150ms`, `2d`. Anything
//! else (`5 minutes`, `5min`, `PT1H45M`, `50m1h`) is refused with the reason.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration written with units, such as `120ms`, `3s` or `1h50m`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The wrapped standard duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

/// The units, largest first, with their length in nanoseconds.
const UNITS: [(&str, u128); 5] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

const EXAMPLES: &str = "`150ms`, `3s`, `1m30s` or `1h50m`";

/// Quotes what the user wrote, shortened when long.
fn quoted(text: &str) -> String {
    format!("`{}`", crate::text::excerpt(text))
}

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let shown = quoted(text);
        if text.is_empty() {
            return Err(format!(
                "a duration must not be empty: write for example {EXAMPLES}"
            ));
        }
        if text == "0" {
            return Ok(HumanDuration(Duration::ZERO));
        }
        if text.starts_with('-') {
            return Err(format!("{shown} is negative; a duration is zero or more"));
        }
        if text.starts_with(['P', 'p']) {
            return Err(format!(
                "{shown} is not a duration here: write it with units such as `1h45m` \
                 (ISO 8601 forms like `PT1H45M` are not accepted)"
            ));
        }
        if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(format!(
                "{shown} has no unit: write for example `{0}ms`, `{0}s` or `{0}m`",
                crate::text::excerpt(text)
            ));
        }
        let mut nanos: u128 = 0;
        // Index into UNITS of the last unit seen: the next must be smaller.
        let mut last_unit: Option<usize> = None;
        let mut had_fraction = false;
        let mut rest = text;
        while !rest.is_empty() {
            if had_fraction {
                return Err(format!(
                    "{shown}: only the last part of a duration may have a fraction \
                     (write `1h30m`, not `1.5h30m`)"
                ));
            }
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(not_a_duration(&shown));
            }
            let (whole, after) = rest.split_at(digits);
            let (fraction, after) = match after.strip_prefix('.') {
                Some(f) => {
                    let n = f.bytes().take_while(u8::is_ascii_digit).count();
                    if n == 0 {
                        return Err(not_a_duration(&shown));
                    }
                    had_fraction = true;
                    f.split_at(n)
                }
                None => ("", after),
            };
            let spaced = after.starts_with(' ');
            let after_space = after.trim_start();
            let word_len = after_space
                .bytes()
                .take_while(u8::is_ascii_alphabetic)
                .count();
            let (word, after) = after_space.split_at(word_len);
            if word.is_empty() {
                return Err(if after.is_empty() {
                    format!("{shown}: the last number has no unit; write for example {EXAMPLES}")
                } else {
                    not_a_duration(&shown)
                });
            }
            let Some(index) = UNITS.iter().position(|(u, _)| *u == word) else {
                return Err(format!(
                    "{shown}: {} is not a unit; durations use ms, s, m, h and d \
                     (lower-case, right after the number), as in {EXAMPLES}",
                    quoted(word)
                ));
            };
            if spaced {
                return Err(format!(
                    "{shown}: write the unit right after its number, as in `{}{word}`",
                    crate::text::excerpt(&format!("{whole}{}", dotted(fraction)))
                ));
            }
            match last_unit {
                Some(last) if last == index => {
                    return Err(format!("{shown}: the unit `{word}` appears twice"));
                }
                Some(last) if last > index => {
                    return Err(format!(
                        "{shown}: write larger units first, as in `1h50m` or `1m30s`"
                    ));
                }
                _ => last_unit = Some(index),
            }
            let unit = UNITS[index].1;
            let whole: u128 = whole.parse().map_err(|_| too_long(&shown))?;
            let mut part = whole.checked_mul(unit).ok_or_else(|| too_long(&shown))?;
            if !fraction.is_empty() {
                // Digits past the nanosecond cannot count; at most 18 keep the
                // arithmetic exact.
                let kept = &fraction[..fraction.len().min(18)];
                let numerator: u128 = kept.parse().map_err(|_| not_a_duration(&shown))?;
                part += numerator * unit / 10u128.pow(kept.len() as u32);
            }
            nanos = nanos.checked_add(part).ok_or_else(|| too_long(&shown))?;
            rest = after.trim_start();
        }
        let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long(&shown))?;
        Ok(HumanDuration(Duration::new(
            secs,
            (nanos % 1_000_000_000) as u32,
        )))
    }
}

fn dotted(fraction: &str) -> String {
    if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    }
}

fn not_a_duration(shown: &str) -> String {
    format!("{shown} is not a duration: write for example {EXAMPLES}")
}

fn too_long(shown: &str) -> String {
    format!("{shown} is too long a duration")
}

impl fmt::Display for HumanDuration {
    /// The shortest form in the grammar: `0s`, `150ms`, `0.25ms`, `3s`,
    /// `1.5s`, `1m30s`, `1h50m`, `25h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d < Duration::from_secs(1) {
            let nanos = d.subsec_nanos();
            return write!(
                f,
                "{}{}ms",
                nanos / 1_000_000,
                fraction_digits(nanos % 1_000_000, 6)
            );
        }
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        let frac = fraction_digits(d.subsec_nanos(), 9);
        if s > 0 || !frac.is_empty() {
            write!(f, "{s}{frac}s")?;
        }
        Ok(())
    }
}

/// `.25` for 250000 of 10^6, without trailing zeros; empty for 0.
fn fraction_digits(value: u32, width: usize) -> String {
    if value == 0 {
        return String::new();
    }
    let digits = format!("{value:0width$}");
    format!(".{}", digits.trim_end_matches('0'))
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        WrittenDuration::deserialize(deserializer).map(|w| w.value)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A duration with the text it was written as, so that a message about its
/// value quotes what the user wrote (`25h`), not a conversion of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenDuration {
    /// As written, trimmed.
    pub text: String,
    /// Its value.
    pub value: HumanDuration,
}

impl<'de> Deserialize<'de> for WrittenDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = WrittenDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, such as `150ms`, `3s` or `1h50m`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(WrittenDuration {
                    text: v.trim().to_string(),
                    value: v.parse().map_err(E::custom)?,
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Duration, String> {
        s.parse::<HumanDuration>().map(HumanDuration::get)
    }

    #[test]
    fn parses_the_documented_forms() {
        let ms = |s: &str| parse(s).unwrap().as_millis();
        assert_eq!(ms("150ms"), 150);
        assert_eq!(ms("3s"), 3000);
        assert_eq!(ms("1.5s"), 1500);
        assert_eq!(ms("10m"), 600_000);
        assert_eq!(ms("1h50m"), 110 * 60 * 1000);
        assert_eq!(ms("1h 50m"), 110 * 60 * 1000);
        assert_eq!(ms("3h00m"), 3 * 3600 * 1000);
        assert_eq!(ms("1m30s"), 90_000);
        assert_eq!(ms("1s500ms"), 1500);
        assert_eq!(ms("2d"), 2 * 86_400_000);
        assert_eq!(ms("0"), 0);
        assert_eq!(ms("0ms"), 0);
        assert_eq!(parse("0.25ms").unwrap(), Duration::from_micros(250));
    }

    #[test]
    fn refuses_every_other_form_with_a_plain_reason() {
        for (text, needle) in [
            ("150", "`150` has no unit"),
            ("5 minutes", "`minutes` is not a unit"),
            ("5 mins", "`mins` is not a unit"),
            ("5min", "`min` is not a unit"),
            ("1 hour 45 minutes", "`hour` is not a unit"),
            ("1H45M", "`H` is not a unit"),
            ("PT1H45M", "ISO 8601"),
            ("5 m", "right after its number, as in `5m`"),
            ("50m1h", "larger units first"),
            ("1m1m", "`m` appears twice"),
            ("1.5h30m", "only the last part"),
            ("1h50", "the last number has no unit"),
            ("soon", "`soon` is not a duration"),
            ("3s!", "is not a duration"),
            ("1.s", "is not a duration"),
            ("-3s", "negative"),
            ("", "must not be empty"),
            ("99999999999999999999999d", "too long"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
            for jargon in ["jiff", "Span", "friendly", "unparsed"] {
                assert!(!err.contains(jargon), "{text:?}: {err}");
            }
        }
    }

    #[test]
    fn a_long_input_is_not_echoed_whole() {
        let long = format!("{}x", "9".repeat(500));
        let err = parse(&long).unwrap_err();
        assert!(err.len() < 200, "{err}");
        assert!(err.contains('…'), "{err}");
    }

    #[test]
    fn displays_the_shortest_form_and_round_trips() {
        for (value, shown) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(150), "150ms"),
            (Duration::from_micros(250), "0.25ms"),
            (Duration::from_secs(3), "3s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(110 * 60), "1h50m"),
            (Duration::from_secs(25 * 3600), "25h"),
        ] {
            assert_eq!(HumanDuration(value).to_string(), shown);
            assert_eq!(parse(shown).unwrap(), value, "{shown}");
        }
    }

    #[test]
    fn the_written_text_is_kept() {
        let w: WrittenDuration = serde_json::from_str("\" 1500m \"").unwrap();
        assert_eq!(w.text, "1500m");
        assert_eq!(w.value.get(), Duration::from_secs(90_000));
        let zero: WrittenDuration = serde_json::from_str("0").unwrap();
        assert_eq!(
            (zero.text.as_str(), zero.value.get()),
            ("0", Duration::ZERO)
        );
        assert!(serde_json::from_str::<HumanDuration>("5").is_err());
    }
}
