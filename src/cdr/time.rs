//! Record timestamps → Unix seconds, and days back to dates.
//!
//! Owner: `cdr::time`. Invariant: a text that is not clearly a time gives
//! `None` (the record then counts as undated and is never deleted), never a
//! guess. Accepted: Unix seconds (at least 9 digits, optional fraction) or
//! milliseconds, Julian day numbers (SQLite's REAL dates, as Kamailio's
//! db_sqlite writes them), and
//! `YYYY-MM-DD[ T]HH:MM[:SS[.f]]` with an optional `Z`, `+HH`, `+HH:MM` or
//! `+HHMM` offset (PostgreSQL's `timestamptz::text`). A time without an
//! offset is taken as UTC: Asterisk writes local time, so ages can be off by
//! the UTC offset (hours, against a retention counted in days).

pub use crate::civil::{civil_from_days, days_from_civil};

/// The UTC day (`YYYY-MM-DD`) of a Unix time.
pub fn day_of(t: i64) -> String {
    civil_from_days(t.div_euclid(super::DAY))
}

fn num(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Parse a record time; see the module doc for the formats.
pub fn parse(s: &str) -> Option<i64> {
    let s = s.trim().as_bytes();
    if s.len() >= 7 && s.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
        let v: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
        return if (2_000_000.0..3_000_000.0).contains(&v) {
            // A Julian day number: SQLite's own REAL time format, which
            // Kamailio's db_sqlite writes for TIMESTAMP/DATETIME columns
            // (2,000,000 s after 1970 is no CDR time anyone keeps).
            Some(((v - 2_440_587.5) * super::DAY as f64).floor() as i64)
        } else if v >= 1e11 {
            // Milliseconds (after 1973 in ms, before 5138 in seconds).
            Some((v / 1000.0).floor() as i64)
        } else if v >= 1e8 {
            Some(v.floor() as i64)
        } else {
            None
        };
    }
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(&s[0..4])?, num(&s[5..7])?, num(&s[8..10])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut t = days_from_civil(y, mo as u32, d as u32) * super::DAY;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(t);
    }
    if rest[0] != b' ' && rest[0] != b'T' || rest.len() < 6 || rest[3] != b':' {
        return None;
    }
    let (h, mi) = (num(&rest[1..3])?, num(&rest[4..6])?);
    let mut i = 6;
    let mut sec = 0;
    if rest.len() >= 9 && rest[6] == b':' {
        sec = num(&rest[7..9])?;
        i = 9;
        if rest.get(i) == Some(&b'.') {
            i += 1;
            while rest.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    t += h * 3600 + mi * 60 + sec;
    let tz = &rest[i..];
    let tz = tz.strip_prefix(b" ").unwrap_or(tz);
    match tz {
        [] | b"Z" | b"UTC" => Some(t),
        [sign @ (b'+' | b'-'), digits @ ..] => {
            let digits: Vec<u8> = digits.iter().copied().filter(|b| *b != b':').collect();
            let (oh, om) = match digits.len() {
                2 => (num(&digits)?, 0),
                4 => (num(&digits[..2])?, num(&digits[2..])?),
                _ => return None,
            };
            let off = oh * 3600 + om * 60;
            Some(if *sign == b'+' { t - off } else { t + off })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(parse("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse("2024-02-29 12:00:00"), Some(1_709_208_000));
        assert_eq!(parse("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(parse("2024-02-29 14:00:00+02"), Some(1_709_208_000));
        assert_eq!(
            parse("2024-02-29 14:30:00.123456+02:30"),
            Some(1_709_208_000)
        );
        assert_eq!(parse("2024-02-29 07:00:00-05"), Some(1_709_208_000));
        assert_eq!(parse("1709208000"), Some(1_709_208_000));
        assert_eq!(parse("1709208000.5"), Some(1_709_208_000));
        assert_eq!(parse("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse("2460370.0"), Some(1_709_208_000));
        assert_eq!(parse("1709208000123"), Some(1_709_208_000));
        assert_eq!(parse(""), None);
        assert_eq!(parse("ANSWERED"), None);
        assert_eq!(parse("2024-13-01 00:00:00"), None);
        assert_eq!(parse("12345"), None);
    }

    #[test]
    fn days_round_trip() {
        for d in [-1000, 0, 1, 19_000, 20_513, 100_000] {
            let s = civil_from_days(d);
            assert_eq!(parse(&s), Some(d * super::super::DAY), "{s}");
        }
        assert_eq!(day_of(1_709_208_000), "2024-02-29");
    }
}
