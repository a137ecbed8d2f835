//! Human-friendly durations (`150ms`, `3s`, `1h50m`) as written in settings and
//! provider files.

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

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.is_empty() {
            return Err("a duration must not be empty (write for example `150ms` or `3s`)".into());
        }
        if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(format!(
                "`{text}` has no unit: write for example `{text}ms` or `{text}s`"
            ));
        }
        let parsed: jiff::SignedDuration = text.parse().map_err(|e| {
            format!("`{text}` is not a duration (write for example `150ms`, `3s` or `1h50m`): {e}")
        })?;
        if parsed.is_negative() {
            return Err(format!(
                "`{text}` is negative; a duration must be zero or more"
            ));
        }
        Duration::try_from(parsed)
            .map(HumanDuration)
            .map_err(|e| format!("`{text}` is out of range: {e}"))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) && ms > 0 {
            write!(f, "{}s", ms / 1000)
        } else if self.0.subsec_nanos().is_multiple_of(1_000_000) {
            write!(f, "{ms}ms")
        } else {
            write!(f, "{}us", self.0.as_micros())
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, such as `150ms`, `3s` or `1h50m`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                if v == 0 {
                    Ok(HumanDuration(Duration::ZERO))
                } else {
                    Err(E::custom(format!(
                        "`{v}` has no unit: write for example `{v}ms` or `{v}s`"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                if v < 0 {
                    return Err(E::custom(format!("`{v}` is negative")));
                }
                self.visit_u64(v as u64)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let ms = |s: &str| s.parse::<HumanDuration>().unwrap().0.as_millis();
        assert_eq!(ms("150ms"), 150);
        assert_eq!(ms("3s"), 3000);
        assert_eq!(ms("1h50m"), 110 * 60 * 1000);
        assert_eq!(ms("1h 50m"), 110 * 60 * 1000);
        assert_eq!(ms("1.5s"), 1500);
    }

    #[test]
    fn rejects_bare_numbers_and_garbage_with_a_reason() {
        let err = "150".parse::<HumanDuration>().unwrap_err();
        assert!(err.contains("no unit"), "{err}");
        let err = "soon".parse::<HumanDuration>().unwrap_err();
        assert!(err.contains("not a duration"), "{err}");
        let err = "-3s".parse::<HumanDuration>().unwrap_err();
        assert!(err.contains("negative"), "{err}");
    }

    #[test]
    fn displays_round_trip() {
        for s in ["150ms", "3s", "250us"] {
            assert_eq!(s.parse::<HumanDuration>().unwrap().to_string(), s);
        }
    }
}
