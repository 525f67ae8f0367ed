//! Timestamps as log lines and IoC windows write them, turned into microseconds since the
//! Unix epoch (UTC). Digits beyond microseconds are truncated, never rounded: a line is
//! taken at the precision it is written with (hunt-semantics §4.6).

use super::super::index::Micros;

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A calendar date and time of day (already checked for range) in microseconds.
pub(crate) fn civil_to_micros(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Micros {
    let seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second);
    seconds * MICROS_PER_SECOND
}

pub(crate) fn valid_civil(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> bool {
    (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour < 24
        && minute < 60
        && second < 60
}

/// The English three-letter month abbreviation (any case) as 1–12.
pub(crate) fn month_from_abbreviation(name: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    if name.len() != 3 {
        return None;
    }
    let lower = [
        name[0].to_ascii_lowercase(),
        name[1].to_ascii_lowercase(),
        name[2].to_ascii_lowercase(),
    ];
    MONTHS
        .iter()
        .position(|month| **month == lower)
        .map(|index| index as u32 + 1)
}

/// A fixed number of ASCII digits as a number.
pub(crate) fn digits(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    let mut value = 0u32;
    for &byte in text {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(byte - b'0');
    }
    Some(value)
}

/// Decimal seconds since the epoch as logs write them (`-?digits(.digits)?`, e.g.
/// `1521911720.865716`), exactly; digits beyond microseconds are dropped (rounding towards
/// the past, which for the usual positive times is truncation).
pub(crate) fn parse_epoch_seconds(text: &[u8]) -> Option<Micros> {
    match text.split_first() {
        Some((b'-', magnitude)) => {
            let (micros, exact) = unsigned_epoch_seconds(magnitude)?;
            Some(-micros - i64::from(!exact))
        }
        _ => unsigned_epoch_seconds(text).map(|(micros, _)| micros),
    }
}

/// `digits(.digits)?` in microseconds, and whether no non-zero digit was dropped.
#[inline]
fn unsigned_epoch_seconds(text: &[u8]) -> Option<(Micros, bool)> {
    let integer_len = text.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if integer_len == 0 || integer_len > 18 {
        return None;
    }
    let seconds = text[..integer_len]
        .iter()
        .fold(0i64, |value, byte| value * 10 + i64::from(byte - b'0'));
    let seconds_micros = seconds.checked_mul(MICROS_PER_SECOND)?;
    let fraction = match &text[integer_len..] {
        [] => return Some((seconds_micros, true)),
        [b'.', fraction @ ..] if !fraction.is_empty() => fraction,
        _ => return None,
    };
    let mut micros = 0i64;
    let mut scale = 100_000i64;
    let mut exact = true;
    for (position, &byte) in fraction.iter().enumerate() {
        if !byte.is_ascii_digit() {
            return None;
        }
        if position < 6 {
            micros += i64::from(byte - b'0') * scale;
            scale /= 10;
        } else if byte != b'0' {
            exact = false;
        }
    }
    Some((seconds_micros.checked_add(micros)?, exact))
}

/// A JSON number of seconds since the epoch (a sign, an exponent allowed), exactly, in
/// microseconds rounded towards the past.
pub(crate) fn parse_number_seconds(text: &[u8]) -> Option<Micros> {
    let (negative, rest) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let integer_len = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    let (integer, rest) = rest.split_at(integer_len);
    let (fraction, rest) = match rest.split_first() {
        Some((b'.', after)) => {
            let fraction_len = after
                .iter()
                .take_while(|byte| byte.is_ascii_digit())
                .count();
            after.split_at(fraction_len)
        }
        _ => (&rest[..0], rest),
    };
    if integer.is_empty() {
        return None;
    }
    let exponent: i64 = match rest.split_first() {
        None => 0,
        Some((b'e' | b'E', after)) => {
            let (exponent_negative, exponent_digits) = match after.first() {
                Some(b'-') => (true, &after[1..]),
                Some(b'+') => (false, &after[1..]),
                _ => (false, after),
            };
            if exponent_digits.is_empty()
                || exponent_digits.len() > 6
                || !exponent_digits.iter().all(u8::is_ascii_digit)
            {
                return None;
            }
            let magnitude = exponent_digits
                .iter()
                .fold(0i64, |value, byte| value * 10 + i64::from(byte - b'0'));
            if exponent_negative {
                -magnitude
            } else {
                magnitude
            }
        }
        Some(_) => return None,
    };
    // Each digit has a decimal weight relative to one second; those finer than a
    // microsecond are dropped, the rest accumulated exactly.
    let mut micros: i64 = 0;
    let mut last_weight: Option<i64> = None;
    let mut exact = true;
    let first_weight = integer.len() as i64 - 1 + exponent;
    for (position, &byte) in integer.iter().chain(fraction.iter()).enumerate() {
        let weight = first_weight - position as i64;
        if weight < -6 {
            exact &= byte == b'0';
            continue;
        }
        micros = micros
            .checked_mul(10)?
            .checked_add(i64::from(byte - b'0'))?;
        last_weight = Some(weight);
    }
    if let Some(weight) = last_weight {
        let scale = u32::try_from(weight + 6).ok()?;
        micros = micros.checked_mul(10i64.checked_pow(scale)?)?;
    }
    Some(if negative {
        -micros - i64::from(!exact)
    } else {
        micros
    })
}

/// An ISO 8601 date-time (`2026-03-02T00:00:10.5Z`, `±hh:mm`/`±hhmm`/`±hh` offsets, a space
/// instead of `T`, no offset = UTC; a bare date is midnight UTC) in microseconds since the
/// epoch; digits beyond microseconds are truncated. Used for log timestamps and for IoC
/// windows.
pub fn parse_iso8601_micros(text: &str) -> Option<Micros> {
    let bytes = text.trim().as_bytes();
    let (date, rest) = parse_date(bytes)?;
    let (year, month, day) = date;
    if rest.is_empty() {
        if !valid_civil(year, month, day, 0, 0, 0) {
            return None;
        }
        return Some(civil_to_micros(year, month, day, 0, 0, 0));
    }
    let rest = match rest[0] {
        b'T' | b't' | b' ' => &rest[1..],
        _ => return None,
    };
    let (hour, minute, second, fraction_micros, rest) = parse_time_of_day(rest)?;
    if !valid_civil(year, month, day, hour, minute, second) {
        return None;
    }
    let offset_seconds = parse_offset(rest)?;
    Some(
        civil_to_micros(year, month, day, hour, minute, second) + fraction_micros
            - offset_seconds * MICROS_PER_SECOND,
    )
}

/// Year, month, day.
type Date = (i64, u32, u32);

/// `YYYY-MM-DD` and what follows it.
fn parse_date(bytes: &[u8]) -> Option<(Date, &[u8])> {
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = digits(&bytes[0..4])?;
    let month = digits(&bytes[5..7])?;
    let day = digits(&bytes[8..10])?;
    Some(((i64::from(year), month, day), &bytes[10..]))
}

/// `HH:MM[:SS[.fraction]]`, the fraction truncated to microseconds.
fn parse_time_of_day(bytes: &[u8]) -> Option<(u32, u32, u32, i64, &[u8])> {
    if bytes.len() < 5 || bytes[2] != b':' {
        return None;
    }
    let hour = digits(&bytes[0..2])?;
    let minute = digits(&bytes[3..5])?;
    let mut rest = &bytes[5..];
    let mut second = 0;
    let mut fraction_micros = 0i64;
    if rest.first() == Some(&b':') {
        if rest.len() < 3 {
            return None;
        }
        second = digits(&rest[1..3])?;
        rest = &rest[3..];
        if let Some((b'.' | b',', after)) = rest.split_first() {
            let fraction_len = after
                .iter()
                .take_while(|byte| byte.is_ascii_digit())
                .count();
            if fraction_len == 0 {
                return None;
            }
            let mut scale = 100_000i64;
            for &byte in &after[..fraction_len.min(6)] {
                fraction_micros += i64::from(byte - b'0') * scale;
                scale /= 10;
            }
            rest = &after[fraction_len..];
        }
    }
    Some((hour, minute, second, fraction_micros, rest))
}

/// The UTC offset in seconds: nothing or `Z` = 0, else `±hh`, `±hhmm` or `±hh:mm`.
fn parse_offset(bytes: &[u8]) -> Option<i64> {
    let (sign, rest) = match bytes {
        [] | [b'Z' | b'z'] => return Some(0),
        [b'+', rest @ ..] => (1, rest),
        [b'-', rest @ ..] => (-1, rest),
        _ => return None,
    };
    let (hours, minutes) = match rest {
        [h1, h2] => (digits(&[*h1, *h2])?, 0),
        [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (i64::from(hours) * 3600 + i64::from(minutes) * 60))
}

/// A timestamp written as text in a JSON or CSV field: ISO 8601 when it contains `-` or
/// `T`, else decimal seconds since the epoch (hunt-semantics §2.2).
pub(crate) fn parse_text_timestamp(text: &str) -> Option<Micros> {
    if text.bytes().any(|byte| byte == b'-' || byte == b'T') {
        parse_iso8601_micros(text)
    } else {
        parse_epoch_seconds(text.trim().as_bytes())
    }
}

/// Apache's `dd/Mon/yyyy:HH:MM:SS ±hhmm` (the text between the brackets), offset applied.
pub(crate) fn parse_apache_time(text: &[u8]) -> Option<Micros> {
    if text.len() != 26
        || text[2] != b'/'
        || text[6] != b'/'
        || text[11] != b':'
        || text[14] != b':'
        || text[17] != b':'
        || text[20] != b' '
    {
        return None;
    }
    let day = digits(&text[0..2])?;
    let month = month_from_abbreviation(&text[3..6])?;
    let year = i64::from(digits(&text[7..11])?);
    let hour = digits(&text[12..14])?;
    let minute = digits(&text[15..17])?;
    let second = digits(&text[18..20])?;
    let sign = match text[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset_hours = digits(&text[22..24])?;
    let offset_minutes = digits(&text[24..26])?;
    if !valid_civil(year, month, day, hour, minute, second) || offset_minutes > 59 {
        return None;
    }
    let offset = sign * (i64::from(offset_hours) * 3600 + i64::from(offset_minutes) * 60);
    Some(civil_to_micros(year, month, day, hour, minute, second) - offset * MICROS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(text: &str) -> Option<Micros> {
        parse_iso8601_micros(text)
    }

    #[test]
    fn days_from_civil_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2026, 3, 2), 20_514);
    }

    #[test]
    fn iso8601_forms() {
        let midnight = 20_514 * 86_400 * 1_000_000;
        assert_eq!(iso("2026-03-02"), Some(midnight));
        assert_eq!(iso("2026-03-02T00:00:00Z"), Some(midnight));
        assert_eq!(iso("2026-03-02 00:00:00"), Some(midnight));
        assert_eq!(iso("2026-03-02t00:00:00z"), Some(midnight));
        assert_eq!(iso("2026-03-02T00:00Z"), Some(midnight));
        assert_eq!(iso("  2026-03-02T00:00:00Z "), Some(midnight));
        assert_eq!(iso("2026-03-02T01:00:00+01:00"), Some(midnight));
        assert_eq!(iso("2026-03-02T01:00:00+0100"), Some(midnight));
        assert_eq!(iso("2026-03-02T01:00:00+01"), Some(midnight));
        assert_eq!(iso("2026-03-01T17:00:00-07:00"), Some(midnight));
        assert_eq!(iso("2026-03-02T00:00:10.5Z"), Some(midnight + 10_500_000));
        assert_eq!(iso("2026-03-02T00:00:10,5Z"), Some(midnight + 10_500_000));
        assert_eq!(
            iso("2026-03-02T00:00:10.499999Z"),
            Some(midnight + 10_499_999)
        );
        // Beyond microseconds: truncated, not rounded.
        assert_eq!(
            iso("2026-03-02T00:00:10.4999999Z"),
            Some(midnight + 10_499_999)
        );
        assert!(iso("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn iso8601_rejects() {
        for bad in [
            "",
            "2026",
            "2026-3-2",
            "2026-02-30",
            "2023-02-29",
            "2026-13-01",
            "2026-03-02T24:00:00Z",
            "2026-03-02T00:60:00Z",
            "2026-03-02T00:00:60Z",
            "2026-03-02T00:00:00.Z",
            "2026-03-02T00:00:00 Z",
            "2026-03-02T00:00:00+1",
            "2026-03-02T00:00:00+24:00",
            "2026-03-02X00:00:00",
            "1521911720.865716",
        ] {
            assert_eq!(iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn epoch_seconds_exact() {
        assert_eq!(
            parse_epoch_seconds(b"1521911720.865716"),
            Some(1_521_911_720_865_716)
        );
        assert_eq!(
            parse_epoch_seconds(b"1198298239.740"),
            Some(1_198_298_239_740_000)
        );
        assert_eq!(
            parse_epoch_seconds(b"1521911720.8657169"),
            Some(1_521_911_720_865_716)
        );
        assert_eq!(parse_epoch_seconds(b"10"), Some(10_000_000));
        assert_eq!(parse_epoch_seconds(b"-1.5"), Some(-1_500_000));
        assert_eq!(parse_epoch_seconds(b"-0.0000001"), Some(-1));
        assert_eq!(parse_epoch_seconds(b"-0.0000000"), Some(0));
        for bad in [
            &b""[..],
            b"-",
            b".",
            b"1.",
            b".5",
            b"+1",
            b"1.2.3",
            b"1x",
            b"1e5",
            b" 1",
            b"9999999999999999999",
        ] {
            assert_eq!(parse_epoch_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn json_number_seconds() {
        assert_eq!(parse_number_seconds(b"1.5e9"), Some(1_500_000_000_000_000));
        assert_eq!(parse_number_seconds(b"15e-7"), Some(1));
        assert_eq!(parse_number_seconds(b"1E-7"), Some(0));
        assert_eq!(parse_number_seconds(b"-1E-7"), Some(-1));
        assert_eq!(parse_number_seconds(b"-2"), Some(-2_000_000));
        assert_eq!(
            parse_number_seconds(b"1521911720.865716"),
            Some(1_521_911_720_865_716)
        );
        for bad in [&b""[..], b"-", b"1e", b"1e300", b"99999999999999999999"] {
            assert_eq!(parse_number_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn apache_time_applies_the_offset() {
        let midnight = 20_514 * 86_400 * 1_000_000;
        assert_eq!(
            parse_apache_time(b"01/Mar/2026:17:00:00 -0700"),
            Some(midnight)
        );
        assert_eq!(
            parse_apache_time(b"02/Mar/2026:05:30:00 +0530"),
            Some(midnight)
        );
        assert_eq!(
            parse_apache_time(b"02/mar/2026:00:00:00 +0000"),
            Some(midnight)
        );
        assert_eq!(parse_apache_time(b"02/Mrz/2026:00:00:00 +0000"), None);
        assert_eq!(parse_apache_time(b"2/Mar/2026:00:00:00 +0000"), None);
        assert_eq!(parse_apache_time(b"30/Feb/2026:00:00:00 +0000"), None);
    }

    #[test]
    fn text_timestamps_pick_iso_or_epoch() {
        assert_eq!(parse_text_timestamp("1.5"), Some(1_500_000));
        assert_eq!(
            parse_text_timestamp("2018-03-24T17:15:20.865716Z"),
            Some(1_521_911_720_865_716)
        );
        assert_eq!(parse_text_timestamp("-1"), None);
    }
}
