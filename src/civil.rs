//! Proleptic Gregorian calendar arithmetic (H. Hinnant's
//! `days_from_civil` / `civil_from_days`), shared by the findings'
//! timestamps and the CDR record ages: no date crate for two functions.
//!
//! Owner: crate utility. Pure integer arithmetic on any `i64` day number;
//! no I/O, no time zone (UTC).

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> String {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days_and_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), "1970-01-01");
        // 2000-02-29 (a leap day of a century leap year) is day 11,016.
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(civil_from_days(11_016), "2000-02-29");
        assert_eq!(civil_from_days(-1), "1969-12-31");
        for z in (-700_000..800_000).step_by(997) {
            let s = civil_from_days(z);
            let mut parts = s.rsplitn(3, '-');
            let d: u32 = parts.next().unwrap().parse().unwrap();
            let m: u32 = parts.next().unwrap().parse().unwrap();
            let y: i64 = parts.next().unwrap().parse().unwrap();
            assert_eq!(days_from_civil(y, m, d), z, "{s}");
        }
    }
}
