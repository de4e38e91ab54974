//! `free_hours`: the weekly hours a site's rooms could give to another service
//! (错时使用), to the minute, a list a manager can hand on.
//!
//! Two kinds of free time, each row saying which:
//! - **idle while open**: the room's stored idle blocks (`idle_slots`, whole
//!   hours of its latest evaluation in the window) cut to the minutes its
//!   weekly schedule opens it, with the service that is scheduled then;
//! - **outside opening hours**: the site's service day (default 07:00-21:00)
//!   minus the room's weekly openings, stretches of at least an hour. No sensor
//!   judges these: the room is simply not scheduled then.

use super::grid::Block;
use super::table::{col, int};
use super::{
    Error, Kind, Lang, Output, Result, Table, Value, Window, ratio, weekday_name, window_of,
};
use chrono::{NaiveDate, Weekday};
use devices::schedule::fmt_clock as clock;
use devices::schedule::{Opening, parse_clock};
use devices::{Category, Registry, Room};
use std::collections::BTreeMap;
use std::path::Path;

/// Shortest stretch outside opening hours worth listing, seconds.
pub const MIN_OUTSIDE_S: u32 = 3600;

/// The part of the day a community's services may use, local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceDay {
    /// Start, seconds after local midnight.
    pub start: u32,
    /// End (exclusive), seconds after local midnight.
    pub end: u32,
}

impl Default for ServiceDay {
    /// 07:00-21:00.
    fn default() -> ServiceDay {
        ServiceDay {
            start: 7 * 3600,
            end: 21 * 3600,
        }
    }
}

impl std::str::FromStr for ServiceDay {
    type Err = String;
    /// `HH:MM-HH:MM`, e.g. `07:00-21:00`.
    fn from_str(text: &str) -> Result<ServiceDay, String> {
        let bad = || format!("{text:?} is not a service day HH:MM-HH:MM such as 07:00-21:00");
        let clock = |t: &str| parse_clock(t.trim()).map_err(|_| bad());
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let (start, end) = (clock(a)?, clock(b)?);
        if start >= end {
            return Err(bad());
        }
        Ok(ServiceDay { start, end })
    }
}

impl TryFrom<String> for ServiceDay {
    type Error = String;
    fn try_from(s: String) -> Result<ServiceDay, String> {
        s.parse()
    }
}

impl From<ServiceDay> for String {
    fn from(d: ServiceDay) -> String {
        d.to_string()
    }
}

impl std::fmt::Display for ServiceDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", clock(self.start), clock(self.end))
    }
}

/// What kind of free time a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FreeKind {
    /// Scheduled open, measured idle.
    IdleWhileOpen,
    /// Inside the service day, not scheduled open.
    OutsideOpening,
}

impl FreeKind {
    /// Its code in the tables.
    pub fn as_str(self) -> &'static str {
        match self {
            FreeKind::IdleWhileOpen => "idle_while_open",
            FreeKind::OutsideOpening => "outside_opening",
        }
    }

    /// Its name in `lang`.
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            FreeKind::IdleWhileOpen => lang.pick("开放但空闲", "open but idle"),
            FreeKind::OutsideOpening => lang.pick("非开放时段", "outside opening hours"),
        }
    }
}

/// One free stretch of a room on one weekday.
#[derive(Debug, Clone, PartialEq)]
pub struct Free {
    /// 1 = Monday ... 7 = Sunday.
    pub weekday: u8,
    /// Start, seconds after local midnight.
    pub start: u32,
    /// End (exclusive), seconds after local midnight.
    pub end: u32,
    /// Which kind.
    pub kind: FreeKind,
    /// The service scheduled then (idle while open only).
    pub service: Option<Category>,
    /// Occupied and measured seconds of the idle block it comes from, over the
    /// lookback (idle while open only; zero otherwise).
    pub occupied: u64,
    /// See `occupied`.
    pub measured: u64,
}

/// The same stretch on several weekdays.
#[derive(Debug, Clone, PartialEq)]
pub struct Weekly {
    /// The weekdays, Monday = bit 0.
    pub days: u8,
    /// The stretch (its `weekday` is the first of `days`); occupied and
    /// measured seconds summed over the days.
    pub free: Free,
}

impl Weekly {
    /// Days a week.
    pub fn count(&self) -> u32 {
        self.days.count_ones()
    }
}

/// Equal stretches (same times, kind and service) of different weekdays as one
/// row, in the order of their first weekday and start.
pub fn weekly(free: &[Free]) -> Vec<Weekly> {
    let mut out: Vec<Weekly> = Vec::new();
    for f in free {
        let bit = 1u8 << (f.weekday.clamp(1, 7) - 1);
        let same = out.iter_mut().find(|w| {
            (w.free.start, w.free.end, w.free.kind, w.free.service)
                == (f.start, f.end, f.kind, f.service)
        });
        match same {
            Some(w) => {
                w.days |= bit;
                w.free.occupied += f.occupied;
                w.free.measured += f.measured;
            }
            None => out.push(Weekly {
                days: bit,
                free: f.clone(),
            }),
        }
    }
    out.sort_by_key(|w| (w.free.weekday, w.free.start, w.free.kind));
    out
}

/// Weekdays as text: runs of three or more as a range (周一至周五, Mon-Fri).
pub fn days_text(days: u8, lang: Lang) -> String {
    let mut parts = Vec::new();
    let mut d = 1u8;
    while d <= 7 {
        if days & (1 << (d - 1)) == 0 {
            d += 1;
            continue;
        }
        let mut end = d;
        while end < 7 && days & (1 << end) != 0 {
            end += 1;
        }
        if end - d >= 2 {
            let to = lang.pick("至", "-");
            parts.push(format!(
                "{}{to}{}",
                weekday_name(d, lang),
                weekday_name(end, lang)
            ));
        } else {
            parts.extend((d..=end).map(|x| weekday_name(x, lang).to_owned()));
        }
        d = end + 1;
    }
    parts.join(lang.pick("、", ", "))
}

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// The openings of `openings` on ISO weekday `weekday` (1-7), sorted by start.
fn openings_on(openings: &[Opening], weekday: u8) -> Vec<&Opening> {
    let day = WEEKDAYS[usize::from(weekday.clamp(1, 7) - 1)];
    let mut on: Vec<&Opening> = openings.iter().filter(|o| o.days.contains(day)).collect();
    on.sort_by_key(|o| o.start);
    on
}

/// The free stretches of a room with weekly `openings` and stored idle `blocks`,
/// sorted by weekday and start.
pub fn free_stretches(openings: &[Opening], blocks: &[Block], day: ServiceDay) -> Vec<Free> {
    let mut out = Vec::new();
    for weekday in 1..=7u8 {
        let on = openings_on(openings, weekday);
        for b in blocks.iter().filter(|b| b.weekday == weekday) {
            let (bs, be) = (u32::from(b.start_hour) * 3600, u32::from(b.end_hour) * 3600);
            for o in &on {
                let (s, e) = (bs.max(o.start), be.min(o.end));
                if s < e {
                    out.push(Free {
                        weekday,
                        start: s,
                        end: e,
                        kind: FreeKind::IdleWhileOpen,
                        service: Some(o.category),
                        occupied: b.occupied,
                        measured: b.measured,
                    });
                }
            }
        }
        let mut at = day.start;
        let ends = on.iter().map(|o| (o.start, o.end));
        for (start, end) in ends.chain(std::iter::once((day.end, day.end))) {
            let gap_end = start.min(day.end);
            if gap_end >= at + MIN_OUTSIDE_S {
                out.push(Free {
                    weekday,
                    start: at,
                    end: gap_end,
                    kind: FreeKind::OutsideOpening,
                    service: None,
                    occupied: 0,
                    measured: 0,
                });
            }
            at = at.max(end);
        }
    }
    out.sort_by_key(|f| (f.weekday, f.start, f.kind));
    out
}

/// The free hours of every room of `site` (docs/REPORTS.md, `free-hours`);
/// without a data directory (`None`) only the hours outside opening.
pub fn run(
    root: Option<&Path>,
    registry: &Registry,
    window: &Window,
    site: &str,
    day: ServiceDay,
    lang: Lang,
) -> Result<Output> {
    let s = registry
        .sites
        .iter()
        .find(|s| s.id == site)
        .ok_or_else(|| Error::UnknownSite(site.to_owned()))?;
    // Without any evaluated day yet, only the hours outside opening are known.
    let found = match root {
        Some(root) => match window_of(window, root, &["room_day", "idle_slots"]) {
            Ok((from, to)) => Some((root, from, to)),
            Err(Error::NoData { .. }) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let (window, blocks) = match found {
        Some((root, from, to)) => (
            Some((from, to)),
            super::idle_blocks::of_site(root, from, to, site)?,
        ),
        None => (None, BTreeMap::new()),
    };
    let mut rows = Vec::new();
    let mut sums = Vec::new();
    let mut total = 0.0;
    for &r in &s.rooms {
        let room = registry.room(r);
        let none = Vec::new();
        let free = free_stretches(
            &room.schedule.openings,
            blocks.get(&room.id).unwrap_or(&none),
            day,
        );
        let hours = |k: FreeKind| -> f64 {
            let s: u32 = free
                .iter()
                .filter(|f| f.kind == k)
                .map(|f| f.end - f.start)
                .sum();
            hours_of(s)
        };
        let (idle, outside) = (
            hours(FreeKind::IdleWhileOpen),
            hours(FreeKind::OutsideOpening),
        );
        total += round1(idle + outside);
        sums.push(room_sum(room, idle, outside));
        rows.extend(
            weekly(&free)
                .iter()
                .map(|w| free_row(&s.id, &s.name, room, w, lang)),
        );
    }
    let (from, to) = match window {
        Some((f, t)) => (f.to_string(), t.to_string()),
        None => ("-".into(), "-".into()),
    };
    Ok(Output {
        report: "free-hours",
        facts: vec![
            ("site_id", s.id.clone()),
            ("site_name", s.name.clone()),
            ("from", from),
            ("to", to),
            ("service_day", day.to_string()),
            ("free_hours_per_week", format!("{:.1}", round1(total))),
        ],
        tables: vec![free_table(rows, lang), rooms_table(sums, lang)],
        display: None,
        notes: vec![note(day, window.map(|w| w.1), lang)],
    })
}

fn hours_of(seconds: u32) -> f64 {
    round1(f64::from(seconds) / 3600.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn free_row(site_id: &str, site_name: &str, room: &Room, w: &Weekly, lang: Lang) -> Vec<Value> {
    let f = &w.free;
    vec![
        site_id.into(),
        site_name.into(),
        room.id.as_str().into(),
        room.name.as_str().into(),
        int(room.capacity),
        days_text(w.days, lang).into(),
        int(w.count()),
        clock(f.start).into(),
        clock(f.end).into(),
        Value::Float(round1(f64::from(f.end - f.start) / 3600.0)),
        f.kind.as_str().into(),
        f.service.map_or("", |c| c.as_str()).into(),
        ratio(f.occupied, f.measured).into(),
    ]
}

fn room_sum(room: &Room, idle: f64, outside: f64) -> Vec<Value> {
    vec![
        room.id.as_str().into(),
        room.name.as_str().into(),
        int(room.capacity),
        Value::Float(room.area_m2),
        Value::Float(idle),
        Value::Float(outside),
        Value::Float(round1(idle + outside)),
    ]
}

fn free_table(rows: Vec<Vec<Value>>, lang: Lang) -> Table {
    Table {
        name: "free_hours",
        title: lang
            .pick(
                "每周空闲时段（可安排其他服务）",
                "Free hours each week (for another service)",
            )
            .to_owned(),
        columns: vec![
            col("site_id", "社区编号", Kind::Text),
            col("site_name", "社区", Kind::Text),
            col("room_id", "房间编号", Kind::Text),
            col("room_name", "房间", Kind::Text),
            col("capacity", "容量", Kind::Int),
            col("weekdays", "星期", Kind::Text),
            col("days_per_week", "每周天数", Kind::Int),
            col("start", "开始", Kind::Text),
            col("end", "结束", Kind::Text),
            col("hours", "小时数", Kind::Float),
            col("kind", "类型", Kind::Text),
            col("service", "原安排服务", Kind::Text),
            col("time_utilization", "时间利用率", Kind::Fraction),
        ],
        rows,
    }
}

fn rooms_table(rows: Vec<Vec<Value>>, lang: Lang) -> Table {
    Table {
        name: "free_rooms",
        title: lang
            .pick("各房间每周空闲小时", "Free hours per week by room")
            .to_owned(),
        columns: vec![
            col("room_id", "房间编号", Kind::Text),
            col("room_name", "房间", Kind::Text),
            col("capacity", "容量", Kind::Int),
            col("area_m2", "面积", Kind::Float),
            col("idle_while_open_hours", "开放但空闲", Kind::Float),
            col("outside_opening_hours", "非开放时段", Kind::Float),
            col("free_hours_per_week", "每周空闲合计", Kind::Float),
        ],
        rows,
    }
}

fn note(day: ServiceDay, evaluated: Option<NaiveDate>, lang: Lang) -> String {
    let day = day.to_string();
    match (lang, evaluated) {
        (Lang::Zh, Some(d)) => format!(
            "“开放但空闲”：截至 {d} 的近 28 天里，开放时段内时间利用率低于 5%（覆盖率不低于 80%）的整小时段，按房间的每周开放时间精确到分钟；“非开放时段”：服务时段 {day} 内房间未排开放的时间（至少 1 小时），没有传感器判断，节假日和特殊日期不计。"
        ),
        (Lang::Zh, None) => format!(
            "还没有评估过的日子：只列出服务时段 {day} 内房间未排开放的时间（至少 1 小时）。"
        ),
        (Lang::En, Some(d)) => format!(
            "Open but idle: whole hours inside opening times with time utilization below 5% (coverage at least 80%) over the 28 days to {d}, cut to the minutes of the room's weekly opening times. Outside opening hours: the service day {day} minus the room's weekly openings (at least an hour each); no sensor judges these, holidays and dated exceptions are not shown."
        ),
        (Lang::En, None) => format!(
            "No day evaluated yet: only the hours of the service day {day} in which rooms are not scheduled open (at least an hour each)."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(weekday: u8, start_hour: u8, end_hour: u8) -> Block {
        Block {
            day: NaiveDate::from_ymd_opt(2026, 11, 30).expect("date"),
            weekday,
            start_hour,
            end_hour,
            lookback_days: 28,
            open: 7200,
            measured: 7200,
            occupied: 72,
        }
    }

    #[test]
    fn idle_blocks_are_cut_to_the_minute_and_closed_hours_listed() {
        let openings = [
            Opening::parse("mon-fri 09:00-11:30 infant_care").expect("opening"),
            Opening::parse("mon-fri 14:00-17:00 elderly_care").expect("opening"),
            Opening::parse("sat 10:00-20:30 culture").expect("opening"),
        ];
        // Monday 9-12 idle (the room closes at 11:30), and 14-16.
        let blocks = [block(1, 9, 12), block(1, 14, 16)];
        let free = free_stretches(&openings, &blocks, ServiceDay::default());
        let monday: Vec<(String, String, FreeKind, Option<Category>)> = free
            .iter()
            .filter(|f| f.weekday == 1)
            .map(|f| (clock(f.start), clock(f.end), f.kind, f.service))
            .collect();
        let s = |a: &str, b: &str, k, c| (a.to_owned(), b.to_owned(), k, c);
        use FreeKind::*;
        assert_eq!(
            monday,
            [
                s("07:00", "09:00", OutsideOpening, None),
                s("09:00", "11:30", IdleWhileOpen, Some(Category::InfantCare)),
                s("11:30", "14:00", OutsideOpening, None),
                s("14:00", "16:00", IdleWhileOpen, Some(Category::ElderlyCare)),
                s("17:00", "21:00", OutsideOpening, None),
            ]
        );
        assert_eq!(ratio(free[1].occupied, free[1].measured), Some(0.01));
        // Saturday: 07:00-10:00 free; 20:30-21:00 is under an hour.
        let saturday: Vec<(String, String)> = free
            .iter()
            .filter(|f| f.weekday == 6)
            .map(|f| (clock(f.start), clock(f.end)))
            .collect();
        assert_eq!(saturday, [("07:00".to_owned(), "10:00".to_owned())]);
        // Sunday: closed all day, the whole service day is free.
        let sunday: Vec<u32> = free
            .iter()
            .filter(|f| f.weekday == 7)
            .map(|f| f.end - f.start)
            .collect();
        assert_eq!(sunday, [14 * 3600]);
    }

    #[test]
    fn equal_stretches_of_several_weekdays_make_one_row() {
        let openings = [Opening::parse("mon-sat 09:00-17:00 culture").expect("opening")];
        let blocks = [block(2, 9, 11), block(4, 9, 11)];
        let rows = weekly(&free_stretches(&openings, &blocks, ServiceDay::default()));
        let text: Vec<(String, String, String, u64)> = rows
            .iter()
            .map(|w| {
                let f = &w.free;
                (
                    days_text(w.days, Lang::Zh),
                    clock(f.start),
                    clock(f.end),
                    f.measured,
                )
            })
            .collect();
        let row = |d: &str, a: &str, b: &str, m| (d.to_owned(), a.to_owned(), b.to_owned(), m);
        assert_eq!(
            text,
            [
                row("周一至周六", "07:00", "09:00", 0),
                row("周一至周六", "17:00", "21:00", 0),
                row("周二、周四", "09:00", "11:00", 14_400),
                row("周日", "07:00", "21:00", 0),
            ]
        );
        assert_eq!(days_text(0b110_0011, Lang::En), "Mon, Tue, Sat, Sun");
        assert_eq!(days_text(0b111_1111, Lang::En), "Mon-Sun");
    }

    #[test]
    fn a_service_day_reads_and_writes_as_hh_mm() {
        let d: ServiceDay = "06:30-22:00".parse().expect("service day");
        assert_eq!((d.start, d.end), (6 * 3600 + 1800, 22 * 3600));
        assert_eq!(d.to_string(), "06:30-22:00");
        assert!("21:00-07:00".parse::<ServiceDay>().is_err());
        assert!("7-21".parse::<ServiceDay>().is_err());
        assert!("07:00-24:30".parse::<ServiceDay>().is_err());
    }
}
