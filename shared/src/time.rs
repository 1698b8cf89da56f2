//! Civil-date math and RFC 3339 without a date library, one implementation for both binaries:
//! days ↔ (year, month, day) in the proleptic Gregorian calendar (Howard Hinnant's
//! `days_from_civil` / `civil_from_days`), a checked civil date-time → Unix milliseconds, and
//! RFC 3339 formatting and parsing in UTC milliseconds. Pure apart from [`now_ms`].

/// Now, in Unix milliseconds (0 if the system clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether `year` has a 29 February.
pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1–12) of `year`; 0 for a month outside 1–12.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// (year, month, day) → days since 1970-01-01, negative before it. The fields are not checked:
/// use [`civil_to_unix_ms`] for input from outside.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Days since 1970-01-01 (negative before it) → (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix milliseconds of a UTC civil date and time; `None` when a field is out of range (year
/// 0–9999, a day the month does not have, hour 0–23, minute 0–59, second 0–60 with a leap
/// second counted as the next second's start).
pub fn civil_to_unix_ms(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Option<i64> {
    if !(0..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0..=60).contains(&second)
    {
        return None;
    }
    let month = month as u32;
    if day < 1 || day > i64::from(days_in_month(year, month)) {
        return None;
    }
    let days = days_from_civil(year, month, day as u32);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000)
}

/// Formats Unix milliseconds as RFC 3339 UTC with millisecond precision
/// (`2026-11-21T10:00:00.123Z`).
pub fn rfc3339(unix_ms: i64) -> String {
    let seconds = unix_ms.div_euclid(1_000);
    let millis = unix_ms.rem_euclid(1_000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60
    )
}

/// Parses RFC 3339 (`2026-11-21T10:00:00Z`, fractional seconds and `±HH:MM` offsets allowed;
/// `t`/space separator accepted) into Unix milliseconds. `None` when malformed or out of range.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !text.is_ascii() {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    if bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let civil_ms = civil_to_unix_ms(year, month, day, hour, minute, second)?;
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits = |part: &str| -> Option<i64> {
                part.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| part.parse().ok())
                    .flatten()
            };
            let hours = digits(&rest[1..3])?;
            let minutes = digits(&rest[4..6])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 60 + minutes)
        }
        _ => return None,
    };
    Some(civil_ms + millis - offset_minutes * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        assert!(is_leap_year(2024) && is_leap_year(2000) && is_leap_year(1600));
        assert!(!is_leap_year(1900) && !is_leap_year(2100) && !is_leap_year(2023));
        assert!(is_leap_year(0) && is_leap_year(-4) && !is_leap_year(-100));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2026, 4), 30);
        assert_eq!(days_in_month(2026, 12), 31);
        assert_eq!(days_in_month(2026, 0), 0);
        assert_eq!(days_in_month(2026, 13), 0);
    }

    #[test]
    fn days_from_civil_knows_the_epoch_and_negative_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(days_from_civil(1600, 1, 1), -135_140);
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
        assert_eq!(civil_from_days(-719_469), (0, 2, 29));
    }

    #[test]
    fn civil_days_round_trip_across_four_centuries() {
        // Every day from 1600-01-01 to 2400-12-31: across the era boundaries, the leap
        // centuries (1600, 2000, 2400) and the common ones (1700, 1800, 1900, 2100, ...).
        let first = days_from_civil(1600, 1, 1);
        let last = days_from_civil(2400, 12, 31);
        let mut expected = (1600, 1, 1);
        for days in first..=last {
            assert_eq!(civil_from_days(days), expected, "day {days}");
            assert_eq!(
                days_from_civil(expected.0, expected.1, expected.2),
                days,
                "{expected:?}"
            );
            let (year, month, day) = expected;
            expected = if day < days_in_month(year, month) {
                (year, month, day + 1)
            } else if month < 12 {
                (year, month + 1, 1)
            } else {
                (year + 1, 1, 1)
            };
        }
    }

    #[test]
    fn civil_to_unix_ms_checks_every_field() {
        assert_eq!(civil_to_unix_ms(1970, 1, 1, 0, 0, 0), Some(0));
        assert_eq!(
            civil_to_unix_ms(1994, 11, 6, 8, 49, 37),
            Some(784_111_777_000)
        );
        assert_eq!(
            civil_to_unix_ms(2020, 2, 29, 23, 59, 59),
            Some(1_583_020_799_000)
        );
        // Year boundary: the last second of a year and the first of the next.
        assert_eq!(
            civil_to_unix_ms(2026, 12, 31, 23, 59, 59).map(|ms| ms + 1_000),
            civil_to_unix_ms(2027, 1, 1, 0, 0, 0)
        );
        // A leap second reads as the start of the next minute.
        assert_eq!(
            civil_to_unix_ms(2016, 12, 31, 23, 59, 60),
            civil_to_unix_ms(2017, 1, 1, 0, 0, 0)
        );
        assert_eq!(civil_to_unix_ms(1969, 12, 31, 23, 59, 59), Some(-1_000));
        for (year, month, day, hour, minute, second) in [
            (2023, 2, 29, 0, 0, 0),
            (1900, 2, 29, 0, 0, 0),
            (2026, 4, 31, 0, 0, 0),
            (2026, 1, 0, 0, 0, 0),
            (2026, 1, 32, 0, 0, 0),
            (2026, 0, 1, 0, 0, 0),
            (2026, 13, 1, 0, 0, 0),
            (2026, 1, 1, 24, 0, 0),
            (2026, 1, 1, 0, 60, 0),
            (2026, 1, 1, 0, 0, 61),
            (2026, 1, 1, -1, 0, 0),
            (-1, 1, 1, 0, 0, 0),
            (10_000, 1, 1, 0, 0, 0),
        ] {
            assert_eq!(
                civil_to_unix_ms(year, month, day, hour, minute, second),
                None,
                "{year}-{month}-{day} {hour}:{minute}:{second}"
            );
        }
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(1_798_761_599_999), "2026-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(1_798_761_600_000), "2027-01-01T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_parses_what_it_formats_and_offsets() {
        for ms in [
            0,
            1_795_000_000_123,
            951_782_400_000,
            -1,
            4_102_444_800_000,
            -62_135_596_800_000,
        ] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        }
        assert_eq!(
            parse_rfc3339("2026-11-21T10:00:00Z"),
            Some(1_795_255_200_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-21T12:00:00+02:00"),
            parse_rfc3339("2026-11-21T10:00:00Z")
        );
        // A negative offset across the year boundary.
        assert_eq!(
            parse_rfc3339("2026-12-31T23:30:00-01:00"),
            parse_rfc3339("2027-01-01T00:30:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-11-21T10:00:00.5Z"),
            Some(1_795_255_200_500)
        );
        assert_eq!(
            parse_rfc3339("2026-11-21t10:00:00.123456z"),
            Some(1_795_255_200_123)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29 00:00:00Z"),
            Some(1_709_164_800_000)
        );
        for bad in [
            "",
            "2026-11-21",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-11-21T10:00:00",
            "2026-11-21T10:00:00+2:00",
            "2026-11-21T10:00:00+-2:00",
            "2026-11-21T10:00:00+24:00",
            "2026-11-21T25:00:00Z",
            "2026-11-21T10:00:00.Z",
            "2026-11-21T10:00:00Zjunk",
            "2026/11/21T10:00:00Z",
            "+026-11-21T10:00:00Z",
            "２０２６-11-21T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_rfc3339_never_panics_and_round_trips(
            text in "\\PC{0,40}",
            unix_ms in -62_167_219_200_000_i64..253_402_300_799_999,
        ) {
            let _ = parse_rfc3339(&text);
            proptest::prop_assert_eq!(parse_rfc3339(&rfc3339(unix_ms)), Some(unix_ms));
        }
    }

    #[test]
    fn now_ms_is_after_this_code_was_written() {
        assert!(now_ms() > 1_790_000_000_000);
    }
}
