//! Calendar arithmetic for timestamps (no clock: the time always comes from the Clock port).

/// Days since 1970-01-01 → (year, month 1-12, day 1-31) (Howard Hinnant's algorithm).
pub(crate) fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month 1-12, day 1-31) → days since 1970-01-01.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix milliseconds as an RFC 3339 UTC timestamp, with or without the milliseconds.
pub(crate) fn rfc3339(millis: u64, with_millis: bool) -> String {
    let secs = i64::try_from(millis / 1000).unwrap_or(i64::MAX / 2);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let (h, mi, se) = (s / 3600, s % 3600 / 60, s % 60);
    if with_millis {
        format!(
            "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}.{:03}Z",
            millis % 1000
        )
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0, true), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_651_200_123, true), "2026-11-26T00:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000, false), "2000-02-29T00:00:00Z");
        for days in [-1, 0, 59, 11_016, 20_000] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
