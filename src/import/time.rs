//! Times as exports write them: local wall-clock times without an offset
//! (with daylight saving), US or ISO dates, epoch numbers, RFC 3339.

use chrono::{NaiveDateTime, Timelike};
use chrono_tz::Tz;

/// How a time column is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// Unix seconds, possibly with a fraction.
    Unix,
    /// Unix milliseconds.
    UnixMs,
    /// RFC 3339 with an offset.
    Rfc3339,
    /// A strftime pattern; local time in the timezone unless it has an offset (%z).
    Pattern(String),
}

/// Patterns tried, in order, when no --time-format is given: the first that reads
/// the first row is used for every row. Dates with a slash and the month first
/// are US dates; write a pattern for day-first dates.
const GUESSES: [&str; 16] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M",
    // Two-digit years first: %Y would read "05" as the year 5.
    "%m/%d/%y %H:%M:%S%.f",
    "%m/%d/%y %H:%M",
    "%m/%d/%y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S%.f",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
];

impl TimeFormat {
    /// From the --time-format option.
    pub fn from_option(text: &str) -> TimeFormat {
        match text {
            "unix" => TimeFormat::Unix,
            "unix_ms" => TimeFormat::UnixMs,
            "rfc3339" => TimeFormat::Rfc3339,
            p => TimeFormat::Pattern(p.to_owned()),
        }
    }

    /// The first guess that reads `sample`.
    pub fn guess(sample: &str, tz: Tz) -> Option<TimeFormat> {
        if devices::codec::parse_rfc3339_ms(sample).is_some() {
            return Some(TimeFormat::Rfc3339);
        }
        GUESSES
            .iter()
            .map(|g| TimeFormat::Pattern((*g).to_owned()))
            .find(|f| f.parse(sample, tz).is_some())
    }

    /// `text` as Unix milliseconds; local times are in `tz`.
    pub fn parse(&self, text: &str, tz: Tz) -> Option<i64> {
        let text = text.trim();
        match self {
            TimeFormat::Unix => {
                let v: f64 = text.parse().ok()?;
                v.is_finite().then(|| (v * 1000.0).round() as i64)
            }
            TimeFormat::UnixMs => text.parse().ok(),
            TimeFormat::Rfc3339 => devices::codec::parse_rfc3339_ms(text),
            TimeFormat::Pattern(p) => {
                if p.contains("%z") || p.contains("%:z") || p.contains("%#z") {
                    return chrono::DateTime::parse_from_str(text, p)
                        .ok()
                        .map(|t| t.timestamp_millis());
                }
                let local = NaiveDateTime::parse_from_str(text, p).ok().or_else(|| {
                    chrono::NaiveDate::parse_from_str(text, p)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })?;
                Some(local_ms(tz, local))
            }
        }
    }

    /// For messages: how the format is written.
    pub fn describe(&self) -> String {
        match self {
            TimeFormat::Unix => "unix".into(),
            TimeFormat::UnixMs => "unix_ms".into(),
            TimeFormat::Rfc3339 => "rfc3339".into(),
            TimeFormat::Pattern(p) => format!("{p:?}"),
        }
    }
}

/// A local wall-clock time in `tz` as Unix milliseconds, by the schedule's rules
/// (docs/DESIGN.md): a time in the autumn's repeated hour takes its first
/// occurrence (daylight time), one in the spring's gap moves to the end of the gap.
pub fn local_ms(tz: Tz, local: NaiveDateTime) -> i64 {
    let ms = i64::from(local.nanosecond() / 1_000_000);
    let whole = local.with_nanosecond(0).unwrap_or(local);
    devices::schedule::local_to_utc(tz, whole) * 1000 + ms
}

#[cfg(test)]
mod tests {
    use super::*;

    const LA: Tz = chrono_tz::America::Los_Angeles;

    #[test]
    fn us_and_iso_dates_are_recognised() {
        let iso = TimeFormat::guess("2005-07-24 08:30:00", LA).expect("iso");
        let us = TimeFormat::guess("07/24/2005 08:30", LA).expect("us");
        let us2 = TimeFormat::guess("07/24/05 08:30:00", LA).expect("two-digit year");
        let t = iso.parse("2005-07-24 08:30:00", LA);
        assert_eq!(t, Some(1_122_219_000_000));
        assert_eq!(us.parse("07/24/2005 08:30", LA), t);
        assert_eq!(us2.parse("07/24/05 08:30:00", LA), t);
        let slash = TimeFormat::guess("2017/12/22 10:49:41", LA).expect("slash");
        assert!(slash.parse("2017/12/22 10:49:41", LA).is_some());
        let frac = TimeFormat::guess("2005-07-24 08:30:00.250", LA).expect("fraction");
        assert_eq!(
            frac.parse("2005-07-24 08:30:00.250", LA),
            t.map(|t| t + 250)
        );
        assert_eq!(
            TimeFormat::guess("2005-07-24T15:30:00Z", LA),
            Some(TimeFormat::Rfc3339)
        );
        assert_eq!(TimeFormat::guess("yesterday", LA), None);
    }

    #[test]
    fn daylight_saving_repeated_hour_takes_the_first() {
        let f = TimeFormat::from_option("%m/%d/%y %H:%M:%S");
        // 2005-10-30 01:30 in Los Angeles happened twice; PDT (UTC-7) first.
        assert_eq!(f.parse("10/30/05 01:30:00", LA), Some(1_130_661_000_000));
        assert_eq!(
            f.parse("10/30/05 02:00:00", LA),
            Some(1_130_662_800_000 + 3_600_000)
        );
    }

    #[test]
    fn epoch_and_offsets() {
        assert_eq!(
            TimeFormat::Unix.parse("1122219000.5", LA),
            Some(1_122_219_000_500)
        );
        assert_eq!(
            TimeFormat::UnixMs.parse("1122219000000", LA),
            Some(1_122_219_000_000)
        );
        let z = TimeFormat::from_option("%Y-%m-%d %H:%M:%S %z");
        assert_eq!(
            z.parse("2005-07-24 08:30:00 -0700", chrono_tz::UTC),
            Some(1_122_219_000_000)
        );
    }
}
