//! The windows of the `room_day` and `room_slot_day` tests and, written out
//! by hand, the rows they must give.

use super::*;
use devices::{Category, RoomIdx, RoomWindow, VisitsMethod, WindowKind};
use std::collections::BTreeMap;

/// Local day 2026-11-10 (a Tuesday) in Shanghai and in Berlin, and Berlin's
/// 25-hour 2026-10-25 (a Sunday, clocks go back), as UTC (start, end).
pub const SH_1110: (&str, &str) = ("2026-11-09T16:00:00", "2026-11-10T16:00:00");
pub const DE_1110: (&str, &str) = ("2026-11-09T23:00:00", "2026-11-10T23:00:00");
pub const DE_1025: (&str, &str) = ("2026-10-24T22:00:00", "2026-10-25T23:00:00");

/// An empty, unmeasured window of a count room with capacity 30.
pub fn win(kind: WindowKind, room: RoomIdx, (start, end): (&str, &str)) -> RoomWindow {
    RoomWindow {
        kind,
        room,
        start: secs(start),
        end: secs(end),
        open_seconds: 0,
        measured_seconds: 0,
        occupied_seconds: 0,
        person_seconds: 0,
        peak_occupancy: None,
        visits: 0,
        visits_method: VisitsMethod::Transitions,
        longest_idle_seconds: 0,
        after_hours_occupied_seconds: 0,
        over_capacity_seconds: 0,
        capacity: Some(30),
        door_residual: None,
        revision: 0,
    }
}

pub fn names(room: RoomIdx) -> [&'static str; 4] {
    match room {
        HALL => [
            "sh-pudong",
            "hall",
            "浦东新区塘桥社区综合体",
            "多功能活动厅",
        ],
        NAP => ["sh-pudong", "nap", "浦东新区塘桥社区综合体", "托育午休室"],
        CANTEEN => ["sh-pudong", "canteen", "浦东新区塘桥社区综合体", "长者食堂"],
        _ => ["de-berlin", "kiez", "柏林试点社区", "邻里客厅"],
    }
}

/// The expected row: ids and names, [category,] span and weekday, then
/// `metrics` (every metric column, in schema order), [door_residual,] version.
pub fn want(
    room: RoomIdx,
    category: Option<&str>,
    (start, end): (&str, &str),
    weekday: u8,
    metrics: [Cell; 18],
    door_residual: Option<Cell>,
) -> Row {
    let [site_id, room_id, site_name, room_name] = names(room);
    let mut r = row(vec![
        ("site_id", s(site_id)),
        ("room_id", s(room_id)),
        ("site_name", s(site_name)),
        ("room_name", s(room_name)),
    ]);
    if let Some(c) = category {
        r.extend(row(vec![("category", s(c))]));
    }
    r.extend(row(vec![
        ("day_start", ts(start)),
        ("day_end", ts(end)),
        ("weekday", U8(weekday)),
    ]));
    let metric_names = [
        "open_seconds",
        "measured_seconds",
        "coverage",
        "occupied_seconds",
        "time_utilization",
        "mean_occupancy",
        "capacity_utilization",
        "mean_occupancy_when_used",
        "peak_occupancy",
        "peak_utilization",
        "visits",
        "visits_method",
        "mean_dwell_seconds",
        "longest_idle_seconds",
        "after_hours_occupied_seconds",
        "over_capacity_seconds",
        "person_seconds",
        "capacity",
    ];
    r.extend(row(metric_names.into_iter().zip(metrics).collect()));
    if let Some(d) = door_residual {
        r.extend(row(vec![("door_residual", d)]));
    }
    r.extend(row(vec![
        ("metrics_version", U16(analytics::METRICS_VERSION)),
        ("revision", U16(0)),
    ]));
    r
}

pub fn day_cases() -> (Vec<RoomWindow>, BTreeMap<String, Vec<Row>>) {
    let day = WindowKind::Day;
    // A count room, partly measured and used, someone there after hours.
    let hall = RoomWindow {
        open_seconds: 28_800,
        measured_seconds: 27_000,
        occupied_seconds: 10_800,
        person_seconds: 54_000,
        peak_occupancy: Some(14),
        visits: 12,
        longest_idle_seconds: 5400,
        after_hours_occupied_seconds: 900,
        ..win(day, HALL, SH_1110)
    };
    #[rustfmt::skip]
    let hall_row = want(HALL, None, SH_1110, 2, [
        U32(28_800), U32(27_000), F64(27_000.0 / 28_800.0), U32(10_800), F64(0.4),
        F64(2.0), F64(2.0 / 30.0), F64(5.0), U32(14), F64(14.0 / 30.0), U64(12),
        s("transitions"), Null, U32(5400), U32(900), U32(0), U64(54_000), U32(30),
    ], Some(Null));
    // Presence-only: every capacity-based column is null, never 0.
    let nap = RoomWindow {
        open_seconds: 10_800,
        measured_seconds: 10_800,
        occupied_seconds: 7200,
        person_seconds: 7200,
        peak_occupancy: Some(1),
        visits: 3,
        longest_idle_seconds: 2400,
        capacity: None,
        ..win(day, NAP, SH_1110)
    };
    #[rustfmt::skip]
    let nap_row = want(NAP, None, SH_1110, 2, [
        U32(10_800), U32(10_800), F64(1.0), U32(7200), F64(7200.0 / 10_800.0),
        F64(7200.0 / 10_800.0), Null, F64(1.0), U32(1), Null, U64(3),
        s("transitions"), Null, U32(2400), U32(0), Null, U64(7200), Null,
    ], Some(Null));
    // A door room: dwell time and the residual left at the next morning's reset.
    let canteen = RoomWindow {
        open_seconds: 9000,
        measured_seconds: 9000,
        occupied_seconds: 8400,
        person_seconds: 180_000,
        peak_occupancy: Some(38),
        visits: 95,
        visits_method: VisitsMethod::Door,
        longest_idle_seconds: 600,
        after_hours_occupied_seconds: 1200,
        capacity: Some(40),
        door_residual: Some(2),
        ..win(day, CANTEEN, SH_1110)
    };
    #[rustfmt::skip]
    let canteen_row = want(CANTEEN, None, SH_1110, 2, [
        U32(9000), U32(9000), F64(1.0), U32(8400), F64(8400.0 / 9000.0),
        F64(20.0), F64(0.5), F64(180_000.0 / 8400.0), U32(38), F64(0.95), U64(95),
        s("door"), F64(180_000.0 / 95.0), U32(600), U32(1200), U32(0), U64(180_000), U32(40),
    ], Some(U32(2)));
    // Berlin, the night clocks go back: 25 hours, open but never measured.
    let kiez_dark = RoomWindow {
        open_seconds: 50_400,
        capacity: Some(20),
        ..win(day, KIEZ, DE_1025)
    };
    #[rustfmt::skip]
    let kiez_dark_row = want(KIEZ, None, DE_1025, 7, [
        U32(50_400), U32(0), F64(0.0), U32(0), Null, Null, Null, Null, Null, Null,
        U64(0), s("transitions"), Null, U32(0), U32(0), U32(0), U64(0), U32(20),
    ], Some(Null));
    // Berlin's 10 November starts on 9 November in UTC; measured and empty.
    let kiez_empty = RoomWindow {
        open_seconds: 50_400,
        measured_seconds: 50_400,
        peak_occupancy: Some(0),
        longest_idle_seconds: 50_400,
        capacity: Some(20),
        ..win(day, KIEZ, DE_1110)
    };
    #[rustfmt::skip]
    let kiez_empty_row = want(KIEZ, None, DE_1110, 2, [
        U32(50_400), U32(50_400), F64(1.0), U32(0), F64(0.0), F64(0.0), F64(0.0),
        Null, U32(0), F64(0.0), U64(0), s("transitions"), Null, U32(50_400), U32(0),
        U32(0), U64(0), U32(20),
    ], Some(Null));
    let windows = vec![nap, kiez_empty, hall, kiez_dark, canteen];
    let want = BTreeMap::from([
        ("date=2026-10-25".to_owned(), vec![kiez_dark_row]),
        (
            "date=2026-11-10".to_owned(),
            vec![kiez_empty_row, canteen_row, hall_row, nap_row],
        ),
    ]);
    (windows, want)
}

pub fn slot_cases() -> (Vec<RoomWindow>, BTreeMap<String, Vec<Row>>) {
    let slot = |c, room, span| win(WindowKind::SlotDay(c), room, span);
    let hall = |c, open, measured, occupied, person, peak, visits, idle| RoomWindow {
        open_seconds: open,
        measured_seconds: measured,
        occupied_seconds: occupied,
        person_seconds: person,
        peak_occupancy: Some(peak),
        visits,
        longest_idle_seconds: idle,
        // A slot has no after-hours of its own: stored as null whatever this says.
        after_hours_occupied_seconds: 300,
        ..slot(c, HALL, SH_1110)
    };
    let infant = hall(
        Category::InfantCare,
        10_800,
        10_800,
        5400,
        27_000,
        14,
        4,
        3600,
    );
    let elderly = hall(
        Category::ElderlyCare,
        10_800,
        9000,
        3600,
        18_000,
        9,
        5,
        2700,
    );
    let culture = hall(Category::Culture, 7200, 7200, 1800, 9000, 6, 3, 3600);
    #[rustfmt::skip]
    let rows = [
        want(HALL, Some("infant_care"), SH_1110, 2, [
            U32(10_800), U32(10_800), F64(1.0), U32(5400), F64(0.5), F64(2.5),
            F64(2.5 / 30.0), F64(5.0), U32(14), F64(14.0 / 30.0), U64(4),
            s("transitions"), Null, U32(3600), Null, U32(0), U64(27_000), U32(30),
        ], None),
        want(HALL, Some("elderly_care"), SH_1110, 2, [
            U32(10_800), U32(9000), F64(9000.0 / 10_800.0), U32(3600), F64(0.4), F64(2.0),
            F64(2.0 / 30.0), F64(5.0), U32(9), F64(0.3), U64(5),
            s("transitions"), Null, U32(2700), Null, U32(0), U64(18_000), U32(30),
        ], None),
        want(HALL, Some("culture"), SH_1110, 2, [
            U32(7200), U32(7200), F64(1.0), U32(1800), F64(0.25), F64(1.25),
            F64(1.25 / 30.0), F64(5.0), U32(6), F64(0.2), U64(3),
            s("transitions"), Null, U32(3600), Null, U32(0), U64(9000), U32(30),
        ], None),
    ];
    let [infant_row, elderly_row, culture_row] = rows;
    let meal = RoomWindow {
        open_seconds: 9000,
        measured_seconds: 9000,
        occupied_seconds: 8400,
        person_seconds: 180_000,
        peak_occupancy: Some(45),
        visits: 95,
        visits_method: VisitsMethod::Door,
        longest_idle_seconds: 600,
        over_capacity_seconds: 300,
        capacity: Some(40),
        ..slot(Category::MealAid, CANTEEN, SH_1110)
    };
    #[rustfmt::skip]
    let meal_row = want(CANTEEN, Some("meal_aid"), SH_1110, 2, [
        U32(9000), U32(9000), F64(1.0), U32(8400), F64(8400.0 / 9000.0), F64(20.0),
        F64(0.5), F64(180_000.0 / 8400.0), U32(45), F64(1.125), U64(95),
        s("door"), F64(180_000.0 / 95.0), U32(600), Null, U32(300), U64(180_000), U32(40),
    ], None);
    let nap = RoomWindow {
        open_seconds: 10_800,
        measured_seconds: 10_800,
        occupied_seconds: 3600,
        person_seconds: 3600,
        peak_occupancy: Some(1),
        visits: 1,
        longest_idle_seconds: 7200,
        capacity: None,
        ..slot(Category::InfantCare, NAP, SH_1110)
    };
    #[rustfmt::skip]
    let nap_row = want(NAP, Some("infant_care"), SH_1110, 2, [
        U32(10_800), U32(10_800), F64(1.0), U32(3600), F64(3600.0 / 10_800.0),
        F64(3600.0 / 10_800.0), Null, F64(1.0), U32(1), Null, U64(1),
        s("transitions"), Null, U32(7200), Null, Null, U64(3600), Null,
    ], None);
    let kiez = RoomWindow {
        open_seconds: 50_400,
        measured_seconds: 50_400,
        occupied_seconds: 25_200,
        person_seconds: 100_800,
        peak_occupancy: Some(12),
        visits: 30,
        longest_idle_seconds: 3600,
        capacity: Some(20),
        ..slot(Category::SharedSpace, KIEZ, DE_1025)
    };
    #[rustfmt::skip]
    let kiez_row = want(KIEZ, Some("shared_space"), DE_1025, 7, [
        U32(50_400), U32(50_400), F64(1.0), U32(25_200), F64(0.5), F64(2.0), F64(0.1),
        F64(4.0), U32(12), F64(0.6), U64(30), s("transitions"), Null, U32(3600), Null,
        U32(0), U64(100_800), U32(20),
    ], None);
    let windows = vec![infant, nap, meal, kiez, culture, elderly];
    let want = BTreeMap::from([
        ("date=2026-10-25".to_owned(), vec![kiez_row]),
        (
            "date=2026-11-10".to_owned(),
            vec![meal_row, culture_row, elderly_row, infant_row, nap_row],
        ),
    ]);
    (windows, want)
}
