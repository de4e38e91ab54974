//! A site's holiday calendar: the official Chinese working-day calendar
//! (holidays and make-up working days, 调休), or none at all.

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use std::sync::Once;

/// The holiday calendar of a site (registry `calendar`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Calendar {
    /// The official Chinese calendar: public holidays close rooms, make-up
    /// working days open them with working-day hours.
    #[default]
    Cn,
    /// Plain weekdays and weekends: no holidays, no make-up days (a site
    /// outside China, or a dataset from elsewhere).
    None,
}

impl Calendar {
    /// The kind of `date` in this calendar.
    pub fn day_kind(self, date: NaiveDate) -> DayKind {
        match self {
            Calendar::Cn => day_kind(date),
            Calendar::None => plain_day(date),
        }
    }

    /// The registry spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Calendar::Cn => "cn",
            Calendar::None => "none",
        }
    }
}

fn plain_day(date: NaiveDate) -> DayKind {
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        DayKind::Weekend
    } else {
        DayKind::Workday
    }
}

/// What kind of day a date is for opening hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// An ordinary Monday to Friday.
    Workday,
    /// An ordinary Saturday or Sunday.
    Weekend,
    /// A public holiday (法定节假日, including the weekend days folded into it).
    Holiday,
    /// A Saturday or Sunday made into a working day (调休上班).
    MakeupWorkday,
}

/// First and last date the `chinese_holiday` crate has official data for.
const FIRST: (i32, u32, u32) = (2004, 1, 1);
const LAST: (i32, u32, u32) = (2026, 12, 25);

/// The kind of `date` in the official calendar of the State Council.
///
/// Dates outside the range the calendar data covers are treated as plain
/// weekdays and weekends, with one warning in the log.
pub fn day_kind(date: NaiveDate) -> DayKind {
    let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    let plain = plain_day(date);
    let key = (date.year(), date.month(), date.day());
    if key < FIRST || key > LAST {
        static WARN: Once = Once::new();
        WARN.call_once(|| {
            tracing::warn!(
                %date,
                "the holiday calendar has no official data for this date; treating it as a plain weekday or weekend"
            );
        });
        return plain;
    }
    let kind = chinese_holiday::chinese_holiday(chinese_holiday::Ymd::new(
        date.year() as u16,
        date.month() as u8,
        date.day() as u8,
    ));
    match (kind.is_holiday(), weekend) {
        (true, _) if kind != chinese_holiday::DayKind::NormalHoliday => DayKind::Holiday,
        (true, _) => DayKind::Weekend,
        (false, true) => DayKind::MakeupWorkday,
        (false, false) => DayKind::Workday,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn national_day_and_makeup_days_2026() {
        assert_eq!(day_kind(d(2026, 10, 1)), DayKind::Holiday);
        assert_eq!(day_kind(d(2026, 10, 7)), DayKind::Holiday);
        assert_eq!(day_kind(d(2026, 10, 9)), DayKind::Workday);
        assert_eq!(day_kind(d(2026, 11, 21)), DayKind::Weekend);
        assert_eq!(day_kind(d(2026, 11, 23)), DayKind::Workday);
    }

    #[test]
    fn spring_festival_makeup_saturday_2026() {
        // 2026-02-14 is a Saturday worked in exchange for the Spring Festival holiday.
        assert_eq!(day_kind(d(2026, 2, 14)), DayKind::MakeupWorkday);
        assert_eq!(day_kind(d(2026, 2, 17)), DayKind::Holiday);
    }

    #[test]
    fn calendar_none_knows_no_holidays_and_no_makeup_days() {
        assert_eq!(Calendar::None.day_kind(d(2026, 10, 1)), DayKind::Workday);
        assert_eq!(Calendar::None.day_kind(d(2026, 2, 14)), DayKind::Weekend);
        assert_eq!(
            Calendar::Cn.day_kind(d(2026, 2, 14)),
            DayKind::MakeupWorkday
        );
    }

    #[test]
    fn dates_past_the_data_fall_back_to_weekdays() {
        assert_eq!(day_kind(d(2027, 1, 4)), DayKind::Workday);
        assert_eq!(day_kind(d(2027, 1, 2)), DayKind::Weekend);
    }
}
