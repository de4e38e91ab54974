//! RFC 3339 timestamps for the API, in UTC.
//!
//! The crate needs only this one format, so it is written out here rather than
//! pulling a date library into the web layer.

/// Formats Unix milliseconds as RFC 3339 in UTC, e.g. `2026-11-23T02:00:00Z`;
/// milliseconds are written only when they are not zero (`…:00.250Z`).
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, sod % 3600 / 60, sod % 60);
    if millis == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
    }
}

/// Formats Unix seconds as RFC 3339 in UTC.
pub fn rfc3339_s(s: i64) -> String {
    rfc3339_ms(s.saturating_mul(1000))
}

/// Year, month, day of the proleptic Gregorian calendar for days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_s(1_795_399_200), "2026-11-23T02:00:00Z");
        assert_eq!(rfc3339_s(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339_s(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339_ms(-1000), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_ms(1_795_399_200_250), "2026-11-23T02:00:00.250Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
