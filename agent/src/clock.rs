//! The two date formats the agent reads from peers (HTTP `Date` headers and X.509 validity
//! times), on the shared civil-date math of `vigil_shared::time` (re-exported here: [`now_ms`],
//! [`civil_to_unix_ms`]). Pure apart from [`now_ms`].

pub use vigil_shared::time::{civil_to_unix_ms, now_ms};

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into Unix milliseconds.
pub fn parse_http_date_ms(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace();
    let _weekday = parts.next()?;
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut time = parts.next()?.split(':');
    let hour: i64 = time.next()?.parse().ok()?;
    let minute: i64 = time.next()?.parse().ok()?;
    let second: i64 = time.next()?.parse().ok()?;
    if parts.next()? != "GMT" || year < 1970 {
        return None;
    }
    civil_to_unix_ms(year, month, day, hour, minute, second)
}

/// Parses an ASN.1 `UTCTime` (`YYMMDDHHMMSSZ`, years 1950–2049) or `GeneralizedTime`
/// (`YYYYMMDDHHMMSSZ`) as X.509 certificates use them, into Unix milliseconds.
pub fn parse_asn1_time_ms(text: &[u8], generalized: bool) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| digits.get(range)?.parse::<i64>().ok();
    let (year, rest) = if generalized {
        (number(0..4)?, 4)
    } else {
        let short = number(0..2)?;
        (
            if short >= 50 {
                1900 + short
            } else {
                2000 + short
            },
            2,
        )
    };
    if digits.len() != rest + 10 {
        return None;
    }
    civil_to_unix_ms(
        year,
        number(rest..rest + 2)?,
        number(rest + 2..rest + 4)?,
        number(rest + 4..rest + 6)?,
        number(rest + 6..rest + 8)?,
        number(rest + 8..rest + 10)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_parses_http_dates() {
        assert_eq!(
            parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        assert_eq!(parse_http_date_ms("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date_ms("Sat, 29 Feb 2020 23:59:59 GMT"),
            Some(1_583_020_799_000)
        );
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Thu, 31 Apr 2025 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "x y z",
        ] {
            assert_eq!(parse_http_date_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn clock_parses_asn1_times() {
        assert_eq!(
            parse_asn1_time_ms(b"941106084937Z", false),
            Some(784_111_777_000)
        );
        assert_eq!(
            parse_asn1_time_ms(b"491231235959Z", false),
            civil_to_unix_ms(2049, 12, 31, 23, 59, 59)
        );
        assert_eq!(
            parse_asn1_time_ms(b"20500101000000Z", true),
            civil_to_unix_ms(2050, 1, 1, 0, 0, 0)
        );
        assert_eq!(parse_asn1_time_ms(b"2050010100000Z", true), None);
        assert_eq!(parse_asn1_time_ms(b"941106084937", false), None);
        assert_eq!(parse_asn1_time_ms(b"94110608493xZ", false), None);
        assert_eq!(parse_asn1_time_ms(b"\xff", false), None);
    }
}
