//! Local calendar arithmetic in a room's time zone: the hours and days that
//! windows and daily resets start and end at (Unix seconds).

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

/// Start of the local hour containing Unix second `t`.
pub fn hour_start(tz: Tz, t: i64) -> i64 {
    let utc = chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .naive_utc();
    let off = i64::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc());
    (t + off).div_euclid(3600) * 3600 - off
}

/// Start of the local day containing Unix second `t`.
pub fn day_start(tz: Tz, t: i64) -> i64 {
    let date = devices::schedule::local_date(tz, t);
    devices::schedule::local_to_utc(tz, date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// Start of the next local day after the one starting at `start`.
pub fn day_end(tz: Tz, start: i64) -> i64 {
    let date = devices::schedule::local_date(tz, start) + chrono::Duration::days(1);
    devices::schedule::local_to_utc(tz, date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The first local `hour`:00 strictly after `t`.
pub fn next_local_hour(tz: Tz, hour: u32, t: i64) -> i64 {
    let date = devices::schedule::local_date(tz, t);
    for days in -1..3 {
        let day = date + chrono::Duration::days(days);
        let r =
            devices::schedule::local_to_utc(tz, day.and_hms_opt(hour, 0, 0).unwrap_or_default());
        if r > t {
            return r;
        }
    }
    i64::MAX
}

/// End of the local hour that starts at `start`.
pub fn hour_end(tz: Tz, start: i64) -> i64 {
    let end = hour_start(tz, start + 3600);
    if end > start { end } else { start + 3600 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_follow_local_time() {
        let sh = chrono_tz::Asia::Shanghai;
        assert_eq!(hour_start(sh, 1_795_396_500), 1_795_395_600);
        let kathmandu: Tz = "Asia/Kathmandu".parse().expect("tz");
        let h = hour_start(kathmandu, 1_795_396_500);
        assert_eq!((h + 5 * 3600 + 45 * 60) % 3600, 0);
        assert_eq!(hour_end(kathmandu, h), h + 3600);
    }
}
