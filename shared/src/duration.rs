//! Durations as written in flags and config files: `250ms`, `10s`, `5m`, `2h`, `7d`.
//!
//! One number followed by one unit. The parser accepts exactly what [`format_duration`] prints,
//! so a value round-trips through a config file unchanged.

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string was empty.
    #[error("empty duration: use a number followed by ms, s, m, h or d (e.g. 10s)")]
    Empty,
    /// The string did not have the shape `<number><unit>`.
    #[error("invalid duration {0:?}: use a number followed by ms, s, m, h or d (e.g. 10s)")]
    Invalid(String),
    /// The value does not fit in a duration.
    #[error("duration {0:?} is too large")]
    Overflow(String),
}

/// Parses `250ms`, `10s`, `5m`, `2h` or `7d` into a [`Duration`].
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| DurationError::Invalid(text.to_owned()))?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(DurationError::Invalid(text.to_owned()));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| DurationError::Overflow(text.to_owned()))?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(DurationError::Invalid(text.to_owned())),
    };
    let millis = value
        .checked_mul(millis_per_unit)
        .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
    Ok(Duration::from_millis(millis))
}

/// Formats a duration in the largest unit that represents it exactly (`90s`, `5m`, `250ms`).
/// Sub-millisecond parts are dropped.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// `serde` helpers for a [`Duration`] written as a duration string in TOML or JSON.
pub mod serde_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Serializes as the string [`super::format_duration`] prints.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*value))
    }

    /// Deserializes from a duration string such as `10s`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_duration_accepts_every_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
    }

    #[test]
    fn parse_duration_rejects_bad_shapes_with_advice() {
        for bad in ["", "10", "s", "10x", "1.5s", "-1s", "10 s", "10sec"] {
            let error = parse_duration(bad).unwrap_err();
            assert!(error.to_string().contains("duration"), "{bad}: {error}");
        }
        assert_eq!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::Overflow("99999999999999999999d".into()))
        );
        assert_eq!(
            parse_duration("10x").unwrap_err().to_string(),
            "invalid duration \"10x\": use a number followed by ms, s, m, h or d (e.g. 10s)"
        );
    }

    #[test]
    fn format_duration_picks_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(86_400 * 7)), "7d");
    }

    proptest! {
        #[test]
        fn duration_roundtrips_through_its_text(millis in 0u64..10_000_000_000) {
            let duration = Duration::from_millis(millis);
            prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }

        #[test]
        fn parse_duration_never_panics(text in ".{0,24}") {
            let _ = parse_duration(&text);
        }
    }
}
