//! Weekly opening schedules whose intervals each host a service category.
//!
//! An opening is written as one line: `DAYS HH:MM-HH:MM CATEGORY [cap=N]`,
//! for example `mon-fri 08:30-11:30 infant_care` or `sat,sun 09:00-12:00 culture cap=20`.

use crate::calendar::{Calendar, DayKind};
use crate::category::Category;
use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A set of weekdays, Monday = bit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weekdays(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Weekdays {
    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    fn parse(text: &str) -> Result<Weekdays, String> {
        if matches!(text, "daily" | "every" | "all") {
            return Ok(Weekdays(0x7f));
        }
        let index = |name: &str| {
            DAY_NAMES.iter().position(|d| *d == name).ok_or_else(|| {
                format!("{name:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)")
            })
        };
        let mut bits = 0u8;
        for part in text.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (index(a)?, index(b)?);
                    if a > b {
                        return Err(format!("day range {part:?} runs backwards"));
                    }
                    for i in a..=b {
                        bits |= 1 << i;
                    }
                }
                None => bits |= 1 << index(part)?,
            }
        }
        Ok(Weekdays(bits))
    }
}

/// One weekly opening interval in local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opening {
    /// Days of the week it applies to.
    pub days: Weekdays,
    /// Start, seconds after local midnight.
    pub start: u32,
    /// End (exclusive), seconds after local midnight; at most 86,400.
    pub end: u32,
    /// The service hosted in this interval.
    pub category: Category,
    /// Capacity in this interval, when it differs from the room's.
    pub capacity: Option<u32>,
}

/// Seconds after midnight of a time of day `HH:MM` (24:00 allowed, as an end).
pub fn parse_clock(text: &str) -> Result<u32, String> {
    let bad = || format!("{text:?} is not a time of day HH:MM");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

impl Opening {
    /// Parses `DAYS HH:MM-HH:MM CATEGORY [cap=N]`.
    pub fn parse(line: &str) -> Result<Opening, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !(3..=4).contains(&words.len()) {
            return Err(format!(
                "{line:?} should read DAYS HH:MM-HH:MM CATEGORY [cap=N], e.g. \"mon-fri 08:30-11:30 infant_care\""
            ));
        }
        let days = Weekdays::parse(&words[0].to_ascii_lowercase())?;
        let (from, to) = words[1]
            .split_once('-')
            .ok_or_else(|| format!("{:?} should be HH:MM-HH:MM", words[1]))?;
        let (start, end) = (parse_clock(from)?, parse_clock(to)?);
        if start >= end {
            return Err(format!("{:?} ends before it starts", words[1]));
        }
        let category = words[2].parse()?;
        let capacity = match words.get(3) {
            None => None,
            Some(w) => Some(
                w.strip_prefix("cap=")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("{w:?} should be cap=N"))?,
            ),
        };
        Ok(Opening {
            days,
            start,
            end,
            category,
            capacity,
        })
    }
}

/// A stretch of opening time in UTC seconds, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSpan {
    /// First open second (Unix time).
    pub start: i64,
    /// First second after it (Unix time).
    pub end: i64,
    /// Index of the [`Opening`] in the room's schedule.
    pub opening: u16,
    /// The service hosted.
    pub category: Category,
}

/// A room's weekly schedule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Schedule {
    /// Opening intervals; on one weekday they never overlap.
    pub openings: Vec<Opening>,
    /// Whether the room opens on public holidays (then with that weekday's hours).
    pub open_on_holidays: bool,
    /// Dates with their own openings instead of the weekly ones (none: closed that day).
    pub overrides: BTreeMap<NaiveDate, Vec<Opening>>,
    /// The holiday calendar of the room's site.
    #[serde(default)]
    pub calendar: Calendar,
}

/// Parses a per-date override: `YYYY-MM-DD closed` or `YYYY-MM-DD HH:MM-HH:MM CATEGORY [cap=N]`.
pub fn parse_override(line: &str) -> Result<(NaiveDate, Option<Opening>), String> {
    let (date, rest) = line.trim().split_once(char::is_whitespace).ok_or_else(|| {
        format!("{line:?} should read YYYY-MM-DD closed, or YYYY-MM-DD HH:MM-HH:MM CATEGORY")
    })?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|_| format!("{date:?} is not a date YYYY-MM-DD"))?;
    let rest = rest.trim();
    if rest == "closed" {
        return Ok((date, None));
    }
    let opening = Opening::parse(&format!("daily {rest}"))?;
    Ok((date, Some(opening)))
}

/// Converts a local wall-clock time to Unix seconds. A time that falls in a
/// daylight-saving gap moves forward to the end of the gap; an ambiguous one
/// takes its first occurrence.
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> i64 {
    let mut t = local;
    for _ in 0..16 {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) | LocalResult::Ambiguous(x, _) => return x.timestamp(),
            LocalResult::None => t += Duration::minutes(15),
        }
    }
    local.and_utc().timestamp()
}

/// The local date at Unix second `t`.
pub fn local_date(tz: Tz, t: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

impl Schedule {
    /// Checks that no two openings overlap on the same weekday.
    pub fn check_overlaps(&self) -> Result<(), String> {
        for (day, name) in DAY_NAMES.iter().enumerate() {
            let wd = Weekday::try_from(day as u8).unwrap_or(Weekday::Mon);
            let mut on: Vec<&Opening> = self
                .openings
                .iter()
                .filter(|o| o.days.contains(wd))
                .collect();
            on.sort_by_key(|o| o.start);
            for pair in on.windows(2) {
                if pair[1].start < pair[0].end {
                    return Err(format!(
                        "openings {} and {} overlap on {name}",
                        crate::schedule::fmt_opening(pair[0]),
                        crate::schedule::fmt_opening(pair[1])
                    ));
                }
            }
        }
        Ok(())
    }

    /// Adds per-date override lines (see [`parse_override`]); a date may have several openings.
    pub fn add_overrides(&mut self, lines: &[String]) -> Result<(), String> {
        for (i, line) in lines.iter().enumerate() {
            let (date, opening) =
                parse_override(line).map_err(|e| format!("override line {}: {e}", i + 1))?;
            let day = self.overrides.entry(date).or_default();
            day.extend(opening);
            day.sort_by_key(|o| o.start);
            if day.windows(2).any(|p| p[1].start < p[0].end) {
                return Err(format!(
                    "override line {}: openings on {date} overlap",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    /// The weekday whose hours apply on `date`, or `None` when closed all day.
    fn hours_of(&self, date: NaiveDate) -> Option<Weekday> {
        match self.calendar.day_kind(date) {
            DayKind::Holiday if !self.open_on_holidays => None,
            // 调休: a Saturday or Sunday worked in place of a weekday keeps Monday's hours.
            DayKind::MakeupWorkday => Some(Weekday::Mon),
            _ => Some(date.weekday()),
        }
    }

    /// Opening time within `[from, to)` (Unix seconds), in order, in `tz`.
    pub fn open_spans(&self, tz: Tz, from: i64, to: i64) -> Vec<OpenSpan> {
        let mut spans = Vec::new();
        if from >= to {
            return spans;
        }
        let mut date = local_date(tz, from) - Duration::days(1);
        let last = local_date(tz, to);
        while date <= last {
            let day: Vec<(usize, &Opening)> = match (self.overrides.get(&date), self.hours_of(date))
            {
                // An override's openings are numbered after the weekly ones.
                (Some(list), _) => list
                    .iter()
                    .enumerate()
                    .map(|(i, o)| (self.openings.len() + i, o))
                    .collect(),
                (None, Some(wd)) => self
                    .openings
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.days.contains(wd))
                    .collect(),
                (None, None) => Vec::new(),
            };
            {
                let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
                for (i, o) in day {
                    let s = local_to_utc(tz, midnight + Duration::seconds(o.start.into()));
                    let e = local_to_utc(tz, midnight + Duration::seconds(o.end.into()));
                    let (s, e) = (s.max(from), e.min(to));
                    if s < e {
                        spans.push(OpenSpan {
                            start: s,
                            end: e,
                            opening: i as u16,
                            category: o.category,
                        });
                    }
                }
            }
            date += Duration::days(1);
        }
        spans.sort_by_key(|s| s.start);
        spans
    }
}

/// `HH:MM` of `s` seconds after midnight.
pub fn fmt_clock(s: u32) -> String {
    format!("{:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// Formats an opening back into its one-line form, days as short as they go
/// (`daily`, `mon-fri`, `sat,sun`).
pub fn fmt_opening(o: &Opening) -> String {
    let mut days: Vec<String> = Vec::new();
    let mut d = 0;
    while d < 7 {
        if o.days.0 & (1 << d) == 0 {
            d += 1;
            continue;
        }
        let mut end = d;
        while end < 6 && o.days.0 & (1 << (end + 1)) != 0 {
            end += 1;
        }
        if end - d >= 2 {
            days.push(format!("{}-{}", DAY_NAMES[d], DAY_NAMES[end]));
        } else {
            days.extend((d..=end).map(|x| DAY_NAMES[x].to_owned()));
        }
        d = end + 1;
    }
    if o.days.0 & 0x7f == 0x7f {
        days = vec!["daily".to_owned()];
    }
    let hm = fmt_clock;
    let cap = o.capacity.map(|c| format!(" cap={c}")).unwrap_or_default();
    format!(
        "{} {}-{} {}{cap}",
        days.join(","),
        hm(o.start),
        hm(o.end),
        o.category
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .timestamp()
    }

    #[test]
    fn parses_openings() {
        let o = Opening::parse("mon-fri 08:30-11:30 infant_care").expect("valid");
        assert!(o.days.contains(Weekday::Fri) && !o.days.contains(Weekday::Sat));
        assert_eq!((o.start, o.end), (8 * 3600 + 1800, 11 * 3600 + 1800));
        let o = Opening::parse("sat,sun 18:00-24:00 culture cap=40").expect("valid");
        assert_eq!((o.end, o.capacity), (86_400, Some(40)));
        assert!(Opening::parse("mon-fri 11:30-08:30 culture").is_err());
        assert!(Opening::parse("mon-fri 08:30-11:30 canteen").is_err());
        assert!(Opening::parse("fri-mon 08:30-11:30 culture").is_err());
        assert!(Opening::parse("mon 8:61-9:00 culture").is_err());
    }

    #[test]
    fn spans_follow_local_time_and_holidays() {
        let sched = Schedule {
            openings: vec![Opening::parse("mon-fri 09:00-11:00 elderly_care").expect("valid")],
            open_on_holidays: false,
            calendar: Calendar::Cn,
            overrides: BTreeMap::new(),
        };
        let tz = chrono_tz::Asia::Shanghai;
        // Monday 2026-11-23, Shanghai: open 01:00-03:00 UTC.
        let spans = sched.open_spans(tz, t("2026-11-23T00:00:00Z"), t("2026-11-24T00:00:00Z"));
        assert_eq!(spans.len(), 1);
        assert_eq!(
            (spans[0].start, spans[0].end),
            (t("2026-11-23T01:00:00Z"), t("2026-11-23T03:00:00Z"))
        );
        // National Day, a Thursday: closed.
        assert!(
            sched
                .open_spans(tz, t("2026-10-01T00:00:00Z"), t("2026-10-02T00:00:00Z"))
                .is_empty()
        );
        // Clipped to the window.
        let spans = sched.open_spans(tz, t("2026-11-23T02:30:00Z"), t("2026-11-23T05:00:00Z"));
        assert_eq!(
            (spans[0].start, spans[0].end),
            (t("2026-11-23T02:30:00Z"), t("2026-11-23T03:00:00Z"))
        );
    }

    #[test]
    fn overrides_replace_the_week_on_their_date() {
        let mut sched = Schedule {
            openings: vec![Opening::parse("mon-fri 09:00-11:00 elderly_care").expect("valid")],
            ..Schedule::default()
        };
        sched
            .add_overrides(&[
                "2026-11-23 closed".into(),
                "2026-11-28 14:00-16:00 culture".into(),
            ])
            .expect("valid");
        let tz = chrono_tz::Asia::Shanghai;
        // Monday 11-23 closed by override; Saturday 11-28 opens 14:00-16:00 (06:00-08:00 UTC).
        assert!(
            sched
                .open_spans(tz, t("2026-11-23T00:00:00Z"), t("2026-11-24T00:00:00Z"))
                .is_empty()
        );
        let spans = sched.open_spans(tz, t("2026-11-27T16:00:00Z"), t("2026-11-28T16:00:00Z"));
        assert_eq!(spans.len(), 1);
        assert_eq!(
            (spans[0].start, spans[0].category),
            (t("2026-11-28T06:00:00Z"), Category::Culture)
        );
        assert_eq!(spans[0].opening, 1);
        assert!(sched.add_overrides(&["2026-13-01 closed".into()]).is_err());
        assert!(
            sched
                .add_overrides(&["2026-11-28 15:00-17:00 culture".into()])
                .is_err()
        );
    }

    #[test]
    fn overlapping_openings_are_found() {
        let sched = Schedule {
            openings: vec![
                Opening::parse("mon-fri 09:00-11:00 elderly_care").expect("valid"),
                Opening::parse("fri 10:00-12:00 culture").expect("valid"),
            ],
            open_on_holidays: false,
            calendar: Calendar::Cn,
            overrides: BTreeMap::new(),
        };
        let err = sched.check_overlaps().expect_err("overlap");
        assert!(err.contains("fri"), "{err}");
    }

    #[test]
    fn openings_print_as_they_are_written() {
        for line in [
            "mon-fri 08:30-11:30 infant_care",
            "sat,sun 09:00-12:00 culture cap=20",
            "daily 14:00-17:00 elderly_care",
            "mon,wed-fri 18:00-20:00 fitness",
        ] {
            assert_eq!(fmt_opening(&Opening::parse(line).expect("valid")), line);
        }
    }
}
