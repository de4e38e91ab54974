//! Local time of a site, written out plainly: wall-clock to UTC, local hours
//! and days, the two calendars of METRICS.md v2 (`cn`, the official Chinese
//! one, and `none`, plain weekdays), and a room's opening intervals on a date.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike,
    Weekday,
};
use chrono_tz::Tz;
use devices::{Calendar, Category, Opening, Room};

/// Unix seconds of a local wall-clock time in `tz`.
///
/// A time that does not exist (a daylight-saving gap) moves forward in
/// 15-minute steps until it exists; an ambiguous one takes the earlier instant.
pub fn to_utc(tz: Tz, local: NaiveDateTime) -> i64 {
    let mut t = local;
    for _ in 0..100 {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return x.timestamp(),
            LocalResult::Ambiguous(a, b) => return a.timestamp().min(b.timestamp()),
            LocalResult::None => t += Duration::minutes(15),
        }
    }
    panic!("{local} never exists in {tz}");
}

/// The local wall-clock time at Unix second `t`.
pub fn local_time(tz: Tz, t: i64) -> NaiveDateTime {
    DateTime::from_timestamp(t, 0)
        .expect("a time in range")
        .with_timezone(&tz)
        .naive_local()
}

/// The local date at Unix second `t`.
pub fn date_of(tz: Tz, t: i64) -> NaiveDate {
    local_time(tz, t).date()
}

/// Unix seconds of `hour`:00 local time on `date`.
pub fn at_hour(tz: Tz, date: NaiveDate, hour: u32) -> i64 {
    to_utc(tz, date.and_hms_opt(hour, 0, 0).expect("a valid hour"))
}

/// Unix seconds of local midnight starting `date`.
pub fn midnight(tz: Tz, date: NaiveDate) -> i64 {
    at_hour(tz, date, 0)
}

/// Whether a local hour starts at Unix second `t` (local minutes and seconds are zero).
fn starts_local_hour(tz: Tz, t: i64) -> bool {
    let local = local_time(tz, t);
    local.minute() == 0 && local.second() == 0
}

/// The local hours `[start, end)` from the one containing `from` up to the
/// last one that ends by `until`.
///
/// Every offset of the timezones used is a multiple of 15 minutes, so hour
/// starts lie on the 15-minute grid of UTC: walk that grid and keep the
/// instants at which the local clock shows a full hour.
pub fn local_hours(tz: Tz, from: i64, until: i64) -> Vec<(i64, i64)> {
    let mut start = from - from.rem_euclid(900);
    while !starts_local_hour(tz, start) {
        start -= 900;
    }
    let mut hours = Vec::new();
    let mut t = start + 900;
    while t <= until {
        if starts_local_hour(tz, t) {
            hours.push((start, t));
            start = t;
        }
        t += 900;
    }
    hours
}

/// Which weekday's hours a room keeps on `date` under `calendar`, or `None`
/// when it is closed all day.
///
/// `Calendar::None` has no holidays and no make-up days: every date keeps its
/// own weekday's hours (so `open_on_holidays` does not matter).
///
/// `Calendar::Cn`, the official calendar: a public holiday closes the room
/// unless it opens on holidays (then with the date's own weekday hours); a
/// Saturday or Sunday that the calendar makes a working day (调休) keeps
/// Monday's hours; a plain weekend (`NormalHoliday`) is just a Saturday or Sunday.
pub fn hours_weekday(
    calendar: Calendar,
    date: NaiveDate,
    open_on_holidays: bool,
) -> Option<Weekday> {
    use chinese_holiday::{DayKind, Ymd, chinese_holiday};
    match calendar {
        Calendar::None => return Some(date.weekday()),
        Calendar::Cn => {}
    }
    let kind = chinese_holiday(Ymd::new(
        date.year() as u16,
        date.month() as u8,
        date.day() as u8,
    ));
    let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    if kind.is_holiday() && kind != DayKind::NormalHoliday {
        return open_on_holidays.then(|| date.weekday());
    }
    if !kind.is_holiday() && weekend {
        return Some(Weekday::Mon);
    }
    Some(date.weekday())
}

/// One opening interval of a room on one date, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// First open second.
    pub start: i64,
    /// First second after it.
    pub end: i64,
    /// The service hosted.
    pub category: Category,
}

/// The room's opening intervals on local `date`, in time order, for a site in
/// `tz` with `calendar`; empty ones (an opening that falls wholly into a
/// daylight-saving gap) are left out.
///
/// A per-date override replaces the weekly openings on its date (holiday or
/// not, in either calendar); an override with no openings closes the room that day.
pub fn openings_on(tz: Tz, calendar: Calendar, room: &Room, date: NaiveDate) -> Vec<Interval> {
    let todays: Vec<&Opening> = match room.schedule.overrides.get(&date) {
        Some(list) => list.iter().collect(),
        None => match hours_weekday(calendar, date, room.schedule.open_on_holidays) {
            Some(weekday) => room
                .schedule
                .openings
                .iter()
                .filter(|o| o.days.contains(weekday))
                .collect(),
            None => Vec::new(),
        },
    };
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight");
    let mut out = Vec::new();
    for o in todays {
        let start = to_utc(tz, midnight + Duration::seconds(i64::from(o.start)));
        let end = to_utc(tz, midnight + Duration::seconds(i64::from(o.end)));
        if start < end {
            out.push(Interval {
                start,
                end,
                category: o.category,
            });
        }
    }
    out.sort_by_key(|i| i.start);
    out
}

/// The room's opening intervals that meet `[from, to)`, each clipped to it
/// (site in `tz` with `calendar`).
pub fn openings_in(tz: Tz, calendar: Calendar, room: &Room, from: i64, to: i64) -> Vec<Interval> {
    let mut out = Vec::new();
    let mut date = date_of(tz, from) - Duration::days(1);
    while date <= date_of(tz, to) {
        for i in openings_on(tz, calendar, room, date) {
            let (start, end) = (i.start.max(from), i.end.min(to));
            if start < end {
                out.push(Interval { start, end, ..i });
            }
        }
        date += Duration::days(1);
    }
    out.sort_by_key(|i| i.start);
    out
}
