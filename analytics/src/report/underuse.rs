//! `underuse`: the rooms with flags, each with the flags of its latest day in
//! the window, their reasons and the numbers behind them.
//!
//! The flags in force for a room are those of its latest day in the window,
//! at that day's highest revision (`room_day`'s, or the flags' own when
//! `room_day` lacks the day): a rewrite may drop a flag (docs/SCHEMA.md,
//! "Revisions"), so a flag of an older revision no longer counts.

use super::read::{self, Interner, get, prim, strings};
use super::table::{col, int};
use super::{Kind, Lang, Output, Result, Table, Value, Window, or_else, registry_site, window_of};
use arrow::datatypes::{Date32Type, Float64Type, UInt16Type, UInt32Type};
use chrono::NaiveDate;
use devices::Registry;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Which rooms to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this site (id).
    pub site: Option<String>,
    /// Only sites of this city (as in the registry or `site_day`, e.g. 上海市).
    pub city: Option<String>,
}

/// Flag names, in the order rows of one room are shown.
const FLAGS: [(&str, &str, &str); 6] = [
    ("LOW_COVERAGE", "数据覆盖不足", "low coverage"),
    ("IDLE", "建而不用", "idle"),
    ("UNDERUSED", "使用不足", "underused"),
    ("DOOR_DRIFT", "门禁计数不平衡", "door counts drift"),
    ("OVERCROWDED", "超员", "overcrowded"),
    ("AFTER_HOURS_USE", "非开放时段使用", "after-hours use"),
];

#[derive(Debug)]
struct FlagRow {
    flag: String,
    lookback_days: Option<u16>,
    coverage: Option<f64>,
    time_utilization: Option<f64>,
    idle_days: Option<u16>,
    worst_seconds: Option<u32>,
    worst_day: Option<NaiveDate>,
    reason: String,
}

/// A room: its latest (day, revision) in the window and the flags of exactly that.
#[derive(Debug)]
struct Room {
    site: String,
    room: String,
    site_name: String,
    room_name: String,
    latest: (NaiveDate, u16),
    flags: Vec<FlagRow>,
}

/// The rooms with flags in the window (docs/REPORTS.md, `underuse`).
pub fn run(
    root: &Path,
    registry: Option<&Registry>,
    window: &Window,
    filter: &Filter,
    lang: Lang,
) -> Result<Output> {
    let (from, to) = window_of(window, root, &["room_day", "flags"])?;
    let site = filter.site.as_deref();
    let mut keys = Interner::default();
    let mut rooms: Vec<Room> = Vec::new();
    let mut key = String::new();
    let mut slot = |keys: &mut Interner, rooms: &mut Vec<Room>, s: &str, r: &str| {
        key.clear();
        key.push_str(s);
        key.push('\u{1f}');
        key.push_str(r);
        let i = keys.get(&key);
        if i == rooms.len() {
            rooms.push(Room {
                site: s.to_owned(),
                room: r.to_owned(),
                site_name: String::new(),
                room_name: String::new(),
                latest: (NaiveDate::MIN, 0),
                flags: Vec::new(),
            });
        }
        i
    };

    // Each room's latest (day, revision); names come later, for flagged rooms only.
    let day_cols = ["site_id", "room_id", "revision"];
    for date in read::dates_in(root, "room_day", from, to)? {
        let part = read::partition(root, "room_day", date, &day_cols, site)?;
        for (path, b) in &part.batches {
            let t = "room_day";
            let (sites, ids) = (
                strings(path, t, b, "site_id")?,
                strings(path, t, b, "room_id")?,
            );
            let revs = prim::<UInt16Type>(path, t, b, "revision")?;
            for i in 0..b.num_rows() {
                if site.is_some_and(|s| s != sites.value(i)) {
                    continue;
                }
                let ix = slot(&mut keys, &mut rooms, sites.value(i), ids.value(i));
                let r = &mut rooms[ix];
                r.latest = r.latest.max((date, revs.value(i)));
            }
        }
    }

    let reason_col = lang.pick("reason_zh", "reason_en");
    let flag_cols = [
        "site_id",
        "room_id",
        "flag",
        "lookback_days",
        "coverage",
        "time_utilization",
        "idle_days",
        "worst_seconds",
        "worst_day",
        reason_col,
        "revision",
    ];
    let mut versions = std::collections::BTreeSet::new();
    for date in read::dates_in(root, "flags", from, to)? {
        let part = read::partition(root, "flags", date, &flag_cols, site)?;
        versions.extend(part.versions.iter().copied());
        for (path, b) in &part.batches {
            let t = "flags";
            let (sites, ids) = (
                strings(path, t, b, "site_id")?,
                strings(path, t, b, "room_id")?,
            );
            let flags = strings(path, t, b, "flag")?;
            let lookback = prim::<UInt16Type>(path, t, b, "lookback_days")?;
            let coverage = prim::<Float64Type>(path, t, b, "coverage")?;
            let tu = prim::<Float64Type>(path, t, b, "time_utilization")?;
            let idle = prim::<UInt16Type>(path, t, b, "idle_days")?;
            let worst = prim::<UInt32Type>(path, t, b, "worst_seconds")?;
            let worst_day = prim::<Date32Type>(path, t, b, "worst_day")?;
            let reasons = strings(path, t, b, reason_col)?;
            let revs = prim::<UInt16Type>(path, t, b, "revision")?;
            for i in 0..b.num_rows() {
                if site.is_some_and(|s| s != sites.value(i)) {
                    continue;
                }
                let ix = slot(&mut keys, &mut rooms, sites.value(i), ids.value(i));
                let r = &mut rooms[ix];
                let at = (date, revs.value(i));
                if at > r.latest {
                    // No room_day row for this day: the flags' own revisions decide.
                    r.latest = at;
                    r.flags.clear();
                } else if at < r.latest {
                    continue;
                }
                if r.flags.iter().any(|f| f.flag == flags.value(i)) {
                    continue;
                }
                r.flags.push(FlagRow {
                    flag: flags.value(i).to_owned(),
                    lookback_days: get(lookback, i),
                    coverage: get(coverage, i),
                    time_utilization: get(tu, i),
                    idle_days: get(idle, i),
                    worst_seconds: get(worst, i),
                    worst_day: get(worst_day, i).map(date32),
                    reason: reasons.value(i).to_owned(),
                });
            }
        }
    }

    rooms.retain(|r| !r.flags.is_empty());
    names(root, &mut rooms)?;
    let cities = site_meta(root, registry, &rooms)?;
    let city_of = |r: &Room| cities.get(&r.site).map_or("", |(c, _)| c.as_str());
    if let Some(city) = &filter.city {
        rooms.retain(|r| city_of(r) == city);
    }
    rooms.sort_by(|a, b| (&a.site, &a.room).cmp(&(&b.site, &b.room)));

    let mut rows = Vec::new();
    for r in &rooms {
        let mut flags: Vec<&FlagRow> = r.flags.iter().collect();
        flags.sort_by_key(|f| order(&f.flag));
        let site_name = or_else(&r.site_name, cities.get(&r.site).map(|(_, n)| n.as_str()));
        for f in flags {
            let name = FLAGS
                .iter()
                .find(|(code, ..)| *code == f.flag)
                .map_or(f.flag.as_str(), |(_, zh, en)| lang.pick(zh, en));
            rows.push(vec![
                city_of(r).into(),
                r.site.as_str().into(),
                site_name.into(),
                r.room.as_str().into(),
                r.room_name.as_str().into(),
                r.latest.0.into(),
                f.flag.as_str().into(),
                name.into(),
                f.lookback_days.map_or(Value::Null, int),
                f.coverage.into(),
                f.time_utilization.into(),
                f.idle_days.map_or(Value::Null, int),
                f.worst_seconds.map_or(Value::Null, int),
                f.worst_day.map_or(Value::Null, Value::Date),
                f.reason.as_str().into(),
            ]);
        }
    }
    let table = Table {
        name: "rooms",
        title: lang
            .pick(
                "有标记的房间（每个房间取窗口内最新一天的标记）",
                "Rooms with flags (each room's latest day in the window)",
            )
            .to_owned(),
        columns: columns(),
        rows,
    };
    Ok(Output {
        report: "underuse",
        facts: vec![
            ("from", from.to_string()),
            ("to", to.to_string()),
            ("rooms", rooms.len().to_string()),
            ("flags", table.rows.len().to_string()),
        ],
        tables: vec![table],
        display: None,
        notes: read::versions_note(&versions, lang).into_iter().collect(),
    })
}

fn columns() -> Vec<super::Column> {
    vec![
        col("city", "城市", Kind::Text),
        col("site_id", "社区编号", Kind::Text),
        col("site_name", "社区", Kind::Text),
        col("room_id", "房间编号", Kind::Text),
        col("room_name", "房间", Kind::Text),
        col("day", "评估日", Kind::Date),
        col("flag", "标记", Kind::Text),
        col("flag_name", "标记名称", Kind::Text),
        col("lookback_days", "回看天数", Kind::Int),
        col("coverage", "覆盖率", Kind::Fraction),
        col("time_utilization", "时间利用率", Kind::Fraction),
        col("idle_days", "连续空置天数", Kind::Int),
        col("worst_seconds", "最严重秒数", Kind::Int),
        col("worst_day", "最严重日", Kind::Date),
        col("reason", "原因", Kind::Text),
    ]
}

fn order(flag: &str) -> usize {
    FLAGS
        .iter()
        .position(|(code, ..)| *code == flag)
        .unwrap_or(FLAGS.len())
}

/// Replaces `slot` with `value` when they differ (no allocation when equal).
fn set(slot: &mut String, value: &str) {
    if slot != value {
        value.clone_into(slot);
    }
}

/// A `Date32` value as a date.
pub(crate) fn date32(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + chrono::Duration::days(days.into())
}

/// The site and room names of the rooms, from `room_day` on their latest days.
fn names(root: &Path, rooms: &mut [Room]) -> Result<()> {
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, r) in rooms.iter().enumerate() {
        index.insert((&r.site, &r.room), i);
    }
    let mut found: Vec<(usize, String, String)> = Vec::new();
    let dates: BTreeSet<NaiveDate> = rooms.iter().map(|r| r.latest.0).collect();
    for date in dates {
        let cols = ["site_id", "room_id", "site_name", "room_name"];
        let part = read::partition(root, "room_day", date, &cols, None)?;
        for (path, b) in &part.batches {
            let t = "room_day";
            let (sites, ids) = (
                strings(path, t, b, "site_id")?,
                strings(path, t, b, "room_id")?,
            );
            let site_names = strings(path, t, b, "site_name")?;
            let room_names = strings(path, t, b, "room_name")?;
            for i in 0..b.num_rows() {
                if let Some(&ix) = index.get(&(sites.value(i), ids.value(i)))
                    && rooms[ix].latest.0 == date
                {
                    let (s, r) = (site_names.value(i), room_names.value(i));
                    found.push((ix, s.to_owned(), r.to_owned()));
                }
            }
        }
    }
    for (ix, site_name, room_name) in found {
        rooms[ix].site_name = site_name;
        rooms[ix].room_name = room_name;
    }
    Ok(())
}

/// Each site's (city, name): from `site_day` on the rooms' latest days, the registry where missing.
fn site_meta(
    root: &Path,
    registry: Option<&Registry>,
    rooms: &[Room],
) -> Result<HashMap<String, (String, String)>> {
    let mut out: HashMap<String, (String, String)> = HashMap::new();
    let dates: BTreeSet<NaiveDate> = rooms.iter().map(|r| r.latest.0).collect();
    let wanted: BTreeSet<&str> = rooms.iter().map(|r| r.site.as_str()).collect();
    for date in dates {
        let cols = ["site_id", "site_name", "city", "revision"];
        let part = read::partition(root, "site_day", date, &cols, None)?;
        for (path, b) in &part.batches {
            let t = "site_day";
            let sites = strings(path, t, b, "site_id")?;
            let cities = strings(path, t, b, "city")?;
            let names = strings(path, t, b, "site_name")?;
            for i in 0..b.num_rows() {
                if wanted.contains(sites.value(i)) {
                    let e = out.entry(sites.value(i).to_owned()).or_default();
                    set(&mut e.0, cities.value(i));
                    set(&mut e.1, names.value(i));
                }
            }
        }
    }
    for site in wanted {
        if let Some(meta) = registry_site(registry, site) {
            let e = out.entry(site.to_owned()).or_default();
            if e.0.is_empty() {
                meta.city.clone_into(&mut e.0);
            }
            if e.1.is_empty() {
                meta.name.clone_into(&mut e.1);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_show_in_severity_order() {
        let mut v = vec!["AFTER_HOURS_USE", "UNDERUSED", "X", "IDLE", "LOW_COVERAGE"];
        v.sort_by_key(|f| order(f));
        assert_eq!(
            v,
            ["LOW_COVERAGE", "IDLE", "UNDERUSED", "AFTER_HOURS_USE", "X"]
        );
    }

    #[test]
    fn date32_counts_from_the_epoch() {
        assert_eq!(
            date32(20_402),
            NaiveDate::from_ymd_opt(2025, 11, 10).expect("date")
        );
    }
}
