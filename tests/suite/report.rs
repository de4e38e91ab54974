//! `doorstep report` on a scenario written row by row, whose expected flags,
//! grid cells, idle blocks, ranks and percentiles are worked out by hand in
//! the comments below. Each trap (an older revision, an older day, a row outside
//! the window, a ratio that would differ if daily ratios were averaged) is
//! there to make a wrong aggregation fail.

use crate::common;
use analytics::Store;
use chrono::TimeZone;
use devices::{
    Flag, FlagKind, IdleSlot, Registry, RoomIdx, RoomWindow, SiteDay, SiteIdx, VisitsMethod,
    WindowKind,
};
use serde_json::Value as Json;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const REGISTRY: &str = r#"
[[site]]
id = "sh-a"
name = "塘桥社区综合体"
city = "上海市"
district = "浦东新区"
[[site.room]]
id = "hall"
name = "多功能活动厅"
capacity = 40
area_m2 = 120
schedule = ["mon-fri 08:00-12:00 infant_care", "mon-fri 14:00-18:00 elderly_care"]
[[site.room]]
id = "canteen"
name = "长者食堂"
capacity = 30
area_m2 = 80
schedule = ["daily 11:00-13:00 meal_aid"]
[[site.device]]
id = "sh-a-hall"
room = "hall"
kind = "count"
[[site.device]]
id = "sh-a-canteen"
room = "canteen"
kind = "count"

[[site]]
id = "sh-b"
name = "田林社区"
city = "上海市"
district = "徐汇区"
[[site.room]]
id = "nursery"
name = "托育室"
capacity = 15
area_m2 = 60
schedule = ["mon-fri 08:00-18:00 infant_care"]
[[site.device]]
id = "sh-b-nursery"
room = "nursery"
kind = "count"

[[site]]
id = "sh-c"
name = "花木社区"
city = "上海市"
district = "浦东新区"
[[site.room]]
id = "activity"
name = "活动室"
capacity = 20
area_m2 = 50
schedule = ["daily 08:00-18:00 culture"]
[[site.device]]
id = "sh-c-activity"
room = "activity"
kind = "count"

[[site]]
id = "cd-a"
name = "玉林社区"
city = "成都市"
district = "武侯区"
[[site.room]]
id = "hall"
name = "老年活动室"
capacity = 30
area_m2 = 90
schedule = ["daily 08:00-12:00 elderly_care", "daily 14:00-16:00 culture"]
[[site.room]]
id = "study"
name = "四点半课堂"
capacity = 20
area_m2 = 40
schedule = ["mon-fri 16:00-18:00 child_care"]
[[site.device]]
id = "cd-a-hall"
room = "hall"
kind = "count"
[[site.device]]
id = "cd-a-study"
room = "study"
kind = "count"

[[site]]
id = "cd-b"
name = "芳草社区"
city = "成都市"
district = "武侯区"
[[site.room]]
id = "gym"
name = "健身房"
capacity = 25
area_m2 = 100
schedule = ["daily 06:00-22:00 fitness"]
[[site.device]]
id = "cd-b-gym"
room = "gym"
kind = "count"

[[site]]
id = "cd-c"
name = "望江社区"
city = "成都市"
district = "锦江区"
[[site.room]]
id = "room"
name = "多功能室"
capacity = 20
area_m2 = 50
schedule = ["daily 09:00-17:00 shared_space"]
[[site.device]]
id = "cd-c-room"
room = "room"
kind = "count"
"#;

/// Local midnight starting 2026-11-`day` in Shanghai (2026-11-02 and -09 are Mondays).
fn midnight(day: u32) -> i64 {
    chrono::FixedOffset::east_opt(8 * 3600)
        .and_then(|tz| tz.with_ymd_and_hms(2026, 11, day, 0, 0, 0).single())
        .expect("date")
        .timestamp()
}

struct Fixture {
    registry: Arc<Registry>,
}

impl Fixture {
    fn room(&self, site: &str, room: &str) -> RoomIdx {
        self.registry.room_by_ids(site, room).expect("room")
    }
    fn site(&self, site: &str) -> SiteIdx {
        let i = self.registry.sites.iter().position(|s| s.id == site);
        SiteIdx(i.expect("site") as u32)
    }
}

/// A room window with the sums that matter here.
fn window(
    kind: WindowKind,
    room: RoomIdx,
    start: i64,
    end: i64,
    oms: [u32; 3],
    rev: u16,
) -> RoomWindow {
    RoomWindow {
        kind,
        room,
        start,
        end,
        open_seconds: oms[0],
        measured_seconds: oms[1],
        occupied_seconds: oms[2],
        person_seconds: u64::from(oms[2]) * 2,
        peak_occupancy: Some(2),
        visits: 1,
        visits_method: VisitsMethod::Transitions,
        longest_idle_seconds: 0,
        after_hours_occupied_seconds: 0,
        over_capacity_seconds: 0,
        capacity: Some(20),
        door_residual: None,
        revision: rev,
    }
}

/// A site day: open, measured, occupied seconds; visits; rooms covered and underused.
fn site_day(
    site: SiteIdx,
    day: u32,
    oms: [u64; 3],
    visits: u64,
    cu: [u32; 2],
    rev: u16,
) -> SiteDay {
    SiteDay {
        site,
        start: midnight(day),
        end: midnight(day) + 86_400,
        rooms: 2,
        open_seconds: oms[0],
        measured_seconds: oms[1],
        occupied_seconds: oms[2],
        person_seconds: oms[2] * 2,
        capacity_person_seconds: oms[1] / 10,
        capacity_seconds: oms[1],
        visits,
        area_m2: 200.0,
        rooms_covered: cu[0],
        rooms_underused: cu[1],
        functions_in_use: vec![],
        revision: rev,
    }
}

fn flag(room: RoomIdx, day: u32, kind: FlagKind, tu: f64, reason: &str, rev: u16) -> Flag {
    Flag {
        room,
        day: midnight(day),
        kind,
        lookback_days: 28,
        coverage: Some(0.95),
        time_utilization: Some(tu),
        idle_days: (kind == FlagKind::Idle).then_some(7),
        worst_seconds: (kind == FlagKind::AfterHoursUse).then_some(5400),
        worst_day: (kind == FlagKind::AfterHoursUse).then(|| midnight(10)),
        reason_en: format!("en: {reason}"),
        reason_zh: format!("中文：{reason}"),
        revision: rev,
    }
}

/// Writes the scenario; returns the data directory and the registry file.
fn scenario(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let registry_file = dir.join("registry.toml");
    std::fs::write(&registry_file, REGISTRY).expect("registry file");
    let registry = Arc::new(Registry::from_toml(REGISTRY, &registry_file).expect("registry"));
    let f = Fixture {
        registry: Arc::clone(&registry),
    };
    let data = dir.join("data");
    let store = Store::open(&data, registry).expect("store");

    // --- site_day (compare, window 2026-11-09 .. 11-11) -----------------------------
    let (sha, shb, shc, cda, cdb) = (
        f.site("sh-a"),
        f.site("sh-b"),
        f.site("sh-c"),
        f.site("cd-a"),
        f.site("cd-b"),
    );
    let mut days = Vec::new();
    for d in [9, 10] {
        days.push(site_day(sha, d, [36_000, 36_000, 18_000], 30, [2, 0], 0));
    }
    // sh-a on 11-11: revision 0 said 0 occupied and 2 of 2 rooms underused; revision 1 wins.
    days.push(site_day(sha, 11, [36_000, 36_000, 0], 10, [2, 2], 0));
    days.push(site_day(sha, 11, [36_000, 36_000, 18_000], 30, [2, 1], 1));
    // sh-b: 0.9, 0.3, 0.3 by day; over the window 33,000 / 90,000 = 0.3667 (the mean of
    // the daily ratios would be 0.5 and rank it second). 11-01 lies outside the window.
    days.push(site_day(shb, 1, [40_000, 40_000, 40_000], 99, [1, 0], 0));
    days.push(site_day(shb, 9, [10_000, 10_000, 9_000], 5, [1, 1], 0));
    days.push(site_day(shb, 10, [40_000, 40_000, 12_000], 5, [1, 1], 0));
    days.push(site_day(shb, 11, [40_000, 40_000, 12_000], 5, [1, 1], 0));
    for d in [9, 10, 11] {
        // sh-c: coverage 72,000 / 108,000 = 0.667 < 0.8, left out despite 0.83 utilization.
        days.push(site_day(shc, d, [36_000, 24_000, 20_000], 5, [0, 0], 0));
        // cd-a: 0.4.
        days.push(site_day(cda, d, [36_000, 36_000, 14_400], 5, [2, 0], 0));
    }
    for d in [10, 11] {
        // cd-b: coverage 72,000 / 90,000 = exactly 0.8 (compared); 0.4, tied with cd-a.
        days.push(site_day(cdb, d, [45_000, 36_000, 14_400], 5, [1, 1], 0));
    }
    store.write_site_days(&days).expect("site days");

    // --- room_slot_day (functions in use over the window) -----------------------------
    let slot = |site: &str, room: &str, c: devices::Category, d: u32, m: u32, o: u32| {
        let k = WindowKind::SlotDay(c);
        window(
            k,
            f.room(site, room),
            midnight(d),
            midnight(d) + 86_400,
            [m, m, o],
            0,
        )
    };
    use devices::Category::*;
    let mut slots = Vec::new();
    for (d, infant, elderly) in [(9, 14_400, 4_000), (10, 0, 0), (11, 0, 0)] {
        // sh-a: infant care 14,400 / 43,200 = 0.33 (in use); elderly care 4,000 / 43,200 =
        // 0.093 (not in use over the window, though 0.28 on 11-09); meal aid 0.2 (in use).
        slots.push(slot("sh-a", "hall", InfantCare, d, 14_400, infant));
        slots.push(slot("sh-a", "hall", ElderlyCare, d, 14_400, elderly));
        slots.push(slot("sh-a", "canteen", MealAid, d, 7_200, 1_440));
        slots.push(slot("sh-b", "nursery", InfantCare, d, 36_000, 12_000));
        slots.push(slot("sh-c", "activity", Culture, d, 24_000, 20_000));
        // cd-a: child care 0.5, elderly care 0.3, culture 0.2: three in use, two core.
        slots.push(slot("cd-a", "study", ChildCare, d, 7_200, 3_600));
        slots.push(slot("cd-a", "hall", ElderlyCare, d, 14_400, 4_320));
        slots.push(slot("cd-a", "hall", Culture, d, 7_200, 1_440));
    }
    for d in [10, 11] {
        slots.push(slot("cd-b", "gym", Fitness, d, 36_000, 14_400));
    }
    store.write_room_slot_days(&slots).expect("slot days");

    // --- room_day and flags (underuse) ---------------------------------------------------
    let day = |site: &str, room: &str, d: u32, rev: u16| {
        let r = f.room(site, room);
        window(
            WindowKind::Day,
            r,
            midnight(d),
            midnight(d) + 86_400,
            [36_000, 36_000, 3_600],
            rev,
        )
    };
    store
        .write_room_days(&[
            day("sh-a", "hall", 10, 0),
            day("sh-a", "hall", 11, 0),
            day("sh-a", "canteen", 10, 0),
            day("sh-a", "canteen", 11, 0),
            day("sh-a", "canteen", 11, 1),
            day("sh-b", "nursery", 11, 0),
            day("sh-c", "activity", 11, 0),
            day("cd-a", "hall", 11, 0),
            day("cd-a", "hall", 11, 1),
            day("cd-a", "hall", 11, 2),
            day("cd-a", "study", 11, 0),
            day("cd-b", "gym", 10, 0),
        ])
        .expect("room days");
    let (hall, canteen) = (f.room("sh-a", "hall"), f.room("sh-a", "canteen"));
    use FlagKind::*;
    store
        .write_flags(&[
            // An older day of the hall: replaced by 11-11's flags.
            flag(hall, 10, Underused, 0.01, "旧的一天", 0),
            flag(hall, 11, Underused, 0.12, "时间利用率 12% 低于 25%", 0),
            flag(hall, 11, AfterHoursUse, 0.12, "非开放时段使用 1.5 小时", 0),
            // The canteen's 11-11 was rewritten (revision 1) without its OVERCROWDED flag;
            // its 11-10 flag is of an older day: the canteen has no flag in force.
            flag(canteen, 10, Underused, 0.2, "食堂旧标记", 0),
            flag(canteen, 11, Overcrowded, 0.5, "超员 20 分钟", 0),
            flag(
                f.room("sh-b", "nursery"),
                11,
                Idle,
                0.0,
                "连续 7 天无人使用",
                0,
            ),
            flag(
                f.room("sh-b", "nursery"),
                11,
                Underused,
                0.0,
                "时间利用率 0%",
                0,
            ),
            flag(
                f.room("sh-c", "activity"),
                11,
                LowCoverage,
                0.4,
                "覆盖率 60%",
                0,
            ),
            // cd-a's hall: revision 1 said 0.10, revision 2 (in force) says 0.20.
            flag(f.room("cd-a", "hall"), 11, Underused, 0.10, "第 1 版", 1),
            flag(f.room("cd-a", "hall"), 11, Underused, 0.20, "第 2 版", 2),
            // cd-b's gym has data up to 11-10 only: its latest day's flag shows.
            flag(
                f.room("cd-b", "gym"),
                10,
                Underused,
                0.15,
                "健身房使用不足",
                0,
            ),
        ])
        .expect("flags");

    // --- room_hour and idle_slots (slots of sh-a's hall) ---------------------------------
    let hour = |room: RoomIdx, d: u32, h: i64, oms: [u32; 3], rev: u16| {
        let start = midnight(d) + h * 3600;
        window(WindowKind::Hour, room, start, start + 3600, oms, rev)
    };
    let full = [3600, 3600, 0];
    store
        .write_room_hours(&[
            // Monday 11-02.
            hour(hall, 2, 9, [3600, 3600, 3600], 0),
            hour(hall, 2, 10, [3600, 1800, 900], 0),
            hour(hall, 2, 14, full, 0),
            hour(hall, 2, 15, full, 0),
            hour(hall, 2, 16, full, 0),
            // Monday 11-09.
            hour(hall, 9, 9, full, 0),
            hour(hall, 9, 10, full, 0),
            hour(hall, 9, 14, full, 0),
            hour(hall, 9, 15, full, 0),
            hour(hall, 9, 16, [3600, 3600, 100], 0),
            hour(hall, 9, 20, [0, 0, 0], 0),
            // Tuesday 11-10: revision 1 (all of the hour used) replaces revision 0.
            hour(hall, 10, 9, [3600, 3600, 1800], 0),
            hour(hall, 10, 9, [3600, 3600, 3600], 1),
            // Wednesday 11-11.
            hour(hall, 11, 9, [3600, 3600, 2700], 0),
            // Other rooms, other sites: not in the hall's grid.
            hour(canteen, 9, 9, [3600, 3600, 3600], 0),
            hour(f.room("cd-a", "hall"), 9, 9, [3600, 3600, 3600], 0),
        ])
        .expect("hours");
    let block = |d: u32, weekday: u8, start_hour: u8, end_hour: u8| IdleSlot {
        room: hall,
        day: midnight(d),
        weekday,
        start_hour,
        end_hour,
        lookback_days: 28,
        open_seconds: 21_600,
        measured_seconds: 21_600,
        occupied_seconds: 100,
        revision: 0,
    };
    store
        .write_idle_slots(&[block(10, 3, 10, 12), block(11, 1, 14, 17)])
        .expect("idle slots");
    (data, registry_file)
}

/// Runs `doorstep report ARGS` in `dir`; returns standard output.
fn report(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .current_dir(dir)
        .arg("report")
        .args(args)
        .output()
        .expect("run doorstep");
    assert!(
        out.status.success(),
        "doorstep report {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn json(dir: &Path, args: &[&str]) -> Json {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    serde_json::from_str(&report(dir, &all)).expect("json output")
}

fn close(a: &Json, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

/// (site_id, room_id, flag) of each underuse row.
fn flags_of(v: &Json) -> Vec<(String, String, String)> {
    v["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().expect(k).to_owned();
            (s("site_id"), s("room_id"), s("flag"))
        })
        .collect()
}

fn triples(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn reports_match_the_hand_worked_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, registry) = scenario(dir.path());
    let d = data.to_str().expect("path");
    let reg = registry.to_str().expect("path");
    let run = dir.path();

    // ---- underuse: default window, the 28 days ending 11-11 ---------------------------
    // In force: each room's latest day, that day's highest revision. Sorted by site,
    // room, then LOW_COVERAGE, IDLE, UNDERUSED, OVERCROWDED, AFTER_HOURS_USE.
    let v = json(run, &["underuse", "--data", d]);
    assert_eq!(
        (v["from"].as_str(), v["to"].as_str()),
        (Some("2026-10-15"), Some("2026-11-11"))
    );
    assert_eq!(
        flags_of(&v),
        triples(&[
            ("cd-a", "hall", "UNDERUSED"),
            ("cd-b", "gym", "UNDERUSED"),
            ("sh-a", "hall", "UNDERUSED"),
            ("sh-a", "hall", "AFTER_HOURS_USE"),
            ("sh-b", "nursery", "IDLE"),
            ("sh-b", "nursery", "UNDERUSED"),
            ("sh-c", "activity", "LOW_COVERAGE"),
        ])
    );
    let rows = v["rooms"].as_array().expect("rooms");
    assert_eq!(rows[0]["reason"], "中文：第 2 版", "revision 2's flag");
    assert!(close(&rows[0]["time_utilization"], 0.20));
    assert_eq!(rows[0]["room_name"], "老年活动室");
    assert_eq!(
        rows[0]["city"], "成都市",
        "from site_day, no registry given"
    );
    assert_eq!(rows[1]["day"], "2026-11-10", "cd-b's latest day");
    assert_eq!(rows[2]["reason"], "中文：时间利用率 12% 低于 25%");
    assert_eq!(rows[2]["flag_name"], "使用不足");
    assert_eq!(rows[2]["lookback_days"], 28);
    assert!(close(&rows[2]["coverage"], 0.95));
    assert_eq!(rows[3]["worst_seconds"], 5400);
    assert_eq!(rows[3]["worst_day"], "2026-11-10");
    assert_eq!(rows[4]["flag_name"], "建而不用");
    assert_eq!(rows[4]["idle_days"], 7);
    assert!(rows[2]["idle_days"].is_null());

    let sh = json(
        run,
        &["underuse", "--data", d, "--city", "上海市", "--lang", "en"],
    );
    assert_eq!(
        flags_of(&sh),
        flags_of(&v)[2..].to_vec(),
        "Shanghai's five rows"
    );
    assert_eq!(sh["rooms"][0]["reason"], "en: 时间利用率 12% 低于 25%");
    assert_eq!(sh["rooms"][0]["flag_name"], "underused");
    let one = json(run, &["underuse", "--data", d, "--site", "sh-b"]);
    assert_eq!(
        flags_of(&one),
        triples(&[
            ("sh-b", "nursery", "IDLE"),
            ("sh-b", "nursery", "UNDERUSED")
        ])
    );

    // The text table and CSV carry the same rows.
    let text = report(run, &["underuse", "--data", d]);
    assert!(
        text.contains("多功能活动厅") && text.contains("建而不用"),
        "{text}"
    );
    assert!(
        !text.contains("长者食堂"),
        "the canteen has no flag in force: {text}"
    );
    let csv_rows = csv_records(&report(run, &["underuse", "--data", d, "--format", "csv"]));
    assert_eq!(csv_rows.len(), 7);
    assert_eq!(csv_rows[0]["time_utilization"], "0.2");
    assert_eq!(csv_rows[4]["idle_days"], "7");
    assert_eq!(csv_rows[2]["idle_days"], "", "null is empty");

    // ---- slots of sh-a's hall: default window 10-15 .. 11-11 ---------------------------
    // Mon 09: 3,600 of 7,200 measured (two Mondays) = 0.5, coverage 1.
    // Mon 10: 900 of 5,400 = 0.1667, coverage 5,400 / 7,200 = 0.75 (not idle: low coverage).
    // Mon 14, 15: 0; Mon 16: 100 / 7,200 = 0.0139 < 0.05: idle. Mon 20: no open time, no cell.
    // Tue 09: revision 1, 3,600 / 3,600 = 1. Wed 09: 0.75.
    let svg = dir.path().join("hall.svg");
    let svg_arg = svg.to_str().expect("path");
    let args = ["slots", "--data", d, "--site", "sh-a", "--room", "hall"];
    let mut with_svg = args.to_vec();
    with_svg.extend(["--svg", svg_arg]);
    let v = json(run, &with_svg);
    assert_eq!(v["room_name"], "多功能活动厅");
    let cells = v["cells"].as_array().expect("cells");
    let cell = |w: i64, h: i64| {
        cells
            .iter()
            .find(|c| c["weekday"] == w && c["hour"] == h)
            .unwrap_or_else(|| panic!("no cell {w} {h}"))
    };
    assert_eq!(cells.len(), 7, "{cells:?}");
    assert!(close(&cell(1, 9)["time_utilization"], 0.5));
    assert_eq!(cell(1, 9)["open_seconds"], 7200);
    assert!(close(&cell(1, 10)["time_utilization"], 900.0 / 5400.0));
    assert!(close(&cell(1, 10)["coverage"], 0.75));
    assert_eq!(cell(1, 10)["idle"], false);
    assert_eq!(cell(1, 14)["idle"], true);
    assert!(close(&cell(1, 16)["time_utilization"], 100.0 / 7200.0));
    assert_eq!(cell(1, 16)["idle"], true);
    assert!(close(&cell(2, 9)["time_utilization"], 1.0));
    assert!(close(&cell(3, 9)["time_utilization"], 0.75));
    assert_eq!(cell(1, 9)["weekday_name"], "周一");
    assert!(!cells.iter().any(|c| c["hour"] == 20), "closed hour");
    // Idle blocks: the latest day's (11-11: Monday 14-17), not 11-10's Wednesday 10-12.
    let blocks = v["idle_blocks"].as_array().expect("blocks");
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(
        (
            &blocks[0]["weekday"],
            &blocks[0]["start_hour"],
            &blocks[0]["end_hour"],
            &blocks[0]["hours"]
        ),
        (
            &Json::from(1),
            &Json::from(14),
            &Json::from(17),
            &Json::from(3)
        )
    );
    assert_eq!(blocks[0]["day"], "2026-11-11");
    // A window starting 11-03 leaves out 11-02: Mon 09 is then 0 of 3,600.
    let later = json(run, &[&args[..], &["--from", "2026-11-03"]].concat());
    let mon9 = later["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["weekday"] == 1 && c["hour"] == 9)
        .cloned()
        .expect("cell");
    assert!(close(&mon9["time_utilization"], 0.0), "{mon9}");
    // The SVG heatmap is well-formed XML with the Chinese names as text.
    let svg_text = std::fs::read_to_string(&svg).expect("svg written");
    let doc = roxmltree::Document::parse(&svg_text).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(
        texts.iter().any(|t| t.contains("多功能活动厅")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("周一")), "weekday labels");
    let text = report(run, &args);
    assert!(text.contains("50.0%") && text.contains("周一"), "{text}");

    // ---- compare, window 11-09 .. 11-11 ------------------------------------------------
    // time utilization: sh-a 54,000 / 108,000 = 0.5 (revision 1 of 11-11), cd-a 0.4,
    // cd-b 0.4 (tie: cd-a first by id), sh-b 0.3667 (11-01 outside the window).
    // Percentile = share of the 3 other compared sites strictly below, x 100.
    let window = ["--from", "2026-11-09", "--to", "2026-11-11"];
    let base = [&["compare", "--data", d][..], &window[..]].concat();
    let v = json(run, &base);
    let sites = v["sites"].as_array().expect("sites");
    let ids: Vec<&str> = sites
        .iter()
        .map(|s| s["site_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["sh-a", "cd-a", "cd-b", "sh-b"]);
    let col = |k: &str| sites.iter().map(|s| s[k].clone()).collect::<Vec<_>>();
    assert_eq!(col("national_rank"), [1, 2, 3, 4].map(Json::from));
    assert_eq!(col("city_rank"), [1, 1, 2, 2].map(Json::from));
    for (got, want) in col("percentile")
        .iter()
        .zip([100.0, 100.0 / 3.0, 100.0 / 3.0, 0.0])
    {
        assert!(close(got, want), "{got} != {want}");
    }
    assert!(close(&sites[3]["time_utilization"], 33_000.0 / 90_000.0));
    assert!(close(&sites[2]["coverage"], 0.8), "exactly 0.8 is compared");
    let sha = &sites[0];
    assert!(close(&sha["capacity_utilization"], 0.1));
    assert!(close(&sha["visits_per_day"], 30.0), "90 visits / 3 days");
    assert!(
        close(&sha["visits_per_100m2_day"], 15.0),
        "90 / (600 m2-days / 100)"
    );
    assert!(
        close(&sha["share_rooms_underused"], 0.5),
        "latest day: 1 of 2"
    );
    assert_eq!(sha["functions_in_use"], 2);
    assert_eq!(sha["functions"], "infant_care,meal_aid");
    assert_eq!(sha["meets_function_mix"], false);
    assert_eq!(sites[1]["functions"], "child_care,culture,elderly_care");
    assert_eq!(sites[1]["meets_function_mix"], true);
    assert_eq!(sha["days"], 3);
    let left = v["left_out"].as_array().expect("left out");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["site_id"], "sh-c");
    assert_eq!(left[0]["reason_code"], "low_coverage");
    assert!(close(&left[0]["coverage"], 72_000.0 / 108_000.0));
    assert_eq!(v["left_out_for_coverage"], "1");
    assert_eq!(v["compared_nationally"], "4");

    // Filters choose rows; ranks stay national and per city.
    let cd = json(run, &[&base[..], &["--city", "成都市"]].concat());
    let ranks: Vec<(Json, Json)> = cd["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .map(|s| (s["site_id"].clone(), s["national_rank"].clone()))
        .collect();
    assert_eq!(
        ranks,
        [
            (Json::from("cd-a"), Json::from(2)),
            (Json::from("cd-b"), Json::from(3))
        ]
    );
    assert_eq!(cd["left_out"].as_array().map(Vec::len), Some(0));
    let pd = json(run, &[&base[..], &["--district", "浦东新区"]].concat());
    assert_eq!(pd["sites"][0]["site_id"], "sh-a");
    assert_eq!(pd["sites"].as_array().map(Vec::len), Some(1));
    assert_eq!(pd["left_out"][0]["site_id"], "sh-c");
    let cc = json(run, &[&base[..], &["--category", "child_care"]].concat());
    assert_eq!(cc["sites"].as_array().map(Vec::len), Some(1));
    assert_eq!(cc["sites"][0]["site_id"], "cd-a");
    // One category: the numbers of its slots alone, ranked among its hosts
    // (cd-a's child care: 3,600 of 7,200 s measured on each of three days).
    assert_eq!(cc["sites"][0]["national_rank"], 1);
    assert_eq!(cc["sites"][0]["time_utilization"], 0.5);
    assert_eq!(cc["sites"][0]["coverage"], 1.0);
    let infant = json(run, &[&base[..], &["--category", "infant_care"]].concat());
    let tu: Vec<(Json, Json)> = infant["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .map(|s| (s["site_id"].clone(), s["time_utilization"].clone()))
        .collect();
    assert_eq!(
        tu,
        [
            (Json::from("sh-a"), Json::from(14_400.0 / 43_200.0)),
            (Json::from("sh-b"), Json::from(36_000.0 / 108_000.0))
        ],
        "{infant}"
    );
    // With the registry, a registered site without data is listed as left out too.
    let with_reg = json(run, &[&base[..], &["--registry", reg]].concat());
    let left: Vec<&str> = with_reg["left_out"]
        .as_array()
        .expect("left out")
        .iter()
        .map(|s| s["site_id"].as_str().expect("id"))
        .collect();
    assert_eq!(left, ["cd-c", "sh-c"]);
    assert_eq!(with_reg["left_out"][0]["reason_code"], "no_data");
    assert_eq!(with_reg["left_out"][0]["site_name"], "望江社区");

    // CSV carries the same values as JSON; Parquet is readable and equal too.
    let csv_path = dir.path().join("sites.csv");
    let mut csv_args = base.clone();
    csv_args.extend([
        "--format",
        "csv",
        "--output",
        csv_path.to_str().expect("path"),
    ]);
    report(run, &csv_args);
    let csv_sites = csv_records(&std::fs::read_to_string(&csv_path).expect("csv"));
    let csv_left = csv_records(
        &std::fs::read_to_string(dir.path().join("sites.left_out.csv")).expect("left out csv"),
    );
    assert_eq!(csv_sites.len(), 4);
    for (row, js) in csv_sites.iter().zip(sites) {
        for key in ["site_id", "national_rank", "city_rank", "functions"] {
            assert_eq!(row[key], plain(&js[key]), "{key}");
        }
        for key in ["percentile", "time_utilization", "coverage"] {
            let parsed: f64 = row[key].parse().expect("number");
            assert!(close(&js[key], parsed), "{key}");
        }
    }
    assert_eq!(csv_left[0]["site_id"], "sh-c");

    let pq_path = dir.path().join("sites.parquet");
    let mut pq_args = base.clone();
    pq_args.extend([
        "--format",
        "parquet",
        "--output",
        pq_path.to_str().expect("path"),
    ]);
    report(run, &pq_args);
    let batch = read_parquet(&pq_path);
    assert_eq!(batch.num_rows(), 4);
    for (i, js) in sites.iter().enumerate() {
        assert_eq!(common::cell(&batch, "site_id", i), js["site_id"]);
        assert_eq!(common::cell(&batch, "site_name", i), js["site_name"]);
        assert!(close(
            &js["time_utilization"],
            common::cell(&batch, "time_utilization", i)
                .as_f64()
                .expect("f64")
        ));
    }
    let left_batch = read_parquet(&dir.path().join("sites.left_out.parquet"));
    assert_eq!(common::cell(&left_batch, "site_id", 0), "sh-c");

    // The text table: ranks, Chinese names, and how many sites were left out.
    let text = report(run, &base);
    assert!(
        text.contains("塘桥社区综合体") && text.contains("50.0%"),
        "{text}"
    );
    assert!(text.contains("1 个社区因覆盖率低于 80%"), "{text}");
}

#[test]
fn report_errors_say_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .current_dir(dir.path())
            .arg("report")
            .args(args)
            .output()
            .expect("run doorstep")
    };
    let out = run(&["compare"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data"));
    let out = run(&["compare", "--data", "."]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no site_day data"));
    let out = run(&[
        "compare",
        "--data",
        ".",
        "--format",
        "parquet",
        "--to",
        "2026-11-01",
    ]);
    assert!(!out.status.success());
    let help = run(&["slots", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--svg") && help.contains("Examples"),
        "{help}"
    );
}

/// A CSV text's records as maps from header to value.
fn csv_records(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().expect("headers").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("record");
            headers
                .iter()
                .map(str::to_owned)
                .zip(rec.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// A JSON value as CSV writes it.
fn plain(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn read_parquet(path: &Path) -> arrow::array::RecordBatch {
    let file = std::fs::File::open(path).expect("parquet file");
    let mut reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("footer")
        .build()
        .expect("reader");
    reader.next().expect("a batch").expect("batch")
}

/// Rewrites every file of a table's partition with `metrics_version` = `version`,
/// as a doorstep of that version would have written it.
fn set_version(data: &Path, table: &str, date: &str, version: u16) {
    use arrow::array::{ArrayRef, UInt16Array};
    let dir = data.join(table).join(format!("date={date}"));
    for entry in std::fs::read_dir(&dir).expect("partition").flatten() {
        let path = entry.path();
        let batch = read_parquet(&path);
        let schema = batch.schema();
        let at = schema.index_of("metrics_version").expect("column");
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[at] = Arc::new(UInt16Array::from(vec![version; batch.num_rows()]));
        let batch = arrow::array::RecordBatch::try_new(schema.clone(), columns).expect("batch");
        let file = std::fs::File::create(&path).expect("rewrite");
        let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
    }
}

#[test]
fn a_window_of_two_metric_versions_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, _) = scenario(dir.path());
    let d = data.to_str().expect("path");
    let window = ["--from", "2026-11-09", "--to", "2026-11-11"];
    let mut args = vec!["compare", "--data", d, "--lang", "en"];
    args.extend(window);
    assert!(!report(dir.path(), &args).contains("metrics_version"));
    // 11-09 written by a doorstep of version 1.
    set_version(&data, "site_day", "2026-11-09", 1);
    let out = report(dir.path(), &args);
    assert!(
        out.contains("mixes rows of metric definitions version 1 and 2"),
        "{out}"
    );
    let mut zh = vec!["compare", "--data", d];
    zh.extend(window);
    assert!(report(dir.path(), &zh).contains("第 1、2 版"));
    // A window of version 2 only says nothing.
    let mut later = vec![
        "compare",
        "--data",
        d,
        "--lang",
        "en",
        "--from",
        "2026-11-10",
    ];
    later.extend(["--to", "2026-11-11"]);
    assert!(!report(dir.path(), &later).contains("metrics_version"));
}

#[test]
fn a_site_with_implausible_counts_is_listed_not_ranked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, registry_file) = scenario(dir.path());
    let registry = Arc::new(Registry::load(&registry_file).expect("registry"));
    let device = registry.device_by_id("cd-b-gym").expect("device");
    let store = Store::open(&data, Arc::clone(&registry)).expect("store");
    store
        .write_device_days(&[devices::DeviceDay {
            device,
            room: registry.device(device).room,
            start: midnight(10),
            end: midnight(10) + 86_400,
            open_seconds: 57_600,
            offline_seconds: 0,
            reports: 960,
            min_battery_pct: None,
            constant_count: None,
            stuck: false,
            implausible_counts: 3,
            revision: 0,
        }])
        .expect("device day");
    let d = data.to_str().expect("path");
    let v = json(
        dir.path(),
        &[
            "compare",
            "--data",
            d,
            "--from",
            "2026-11-09",
            "--to",
            "2026-11-11",
            "--lang",
            "en",
        ],
    );
    let ranked: Vec<&str> = v["sites"]
        .as_array()
        .expect("sites")
        .iter()
        .map(|s| s["site_id"].as_str().expect("id"))
        .collect();
    assert!(!ranked.contains(&"cd-b"), "{ranked:?}");
    assert_eq!(v["compared_nationally"], "3");
    let left = v["left_out"].as_array().expect("left out");
    let cdb = left
        .iter()
        .find(|s| s["site_id"] == "cd-b")
        .expect("cd-b listed");
    assert_eq!(cdb["reason_code"], "implausible_counts");
    assert!(
        cdb["reason"]
            .as_str()
            .expect("reason")
            .starts_with("3 door counts"),
        "{cdb}"
    );
    assert_eq!(v["left_out_for_implausible_counts"], "1");
    assert_eq!(v["left_out_for_coverage"], "1");
}
