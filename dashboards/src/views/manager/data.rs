//! The manager view's data, read from `analytics::report` (`slots`,
//! `underuse`) into plain structs: the rooms with their use over 7 and 28
//! days and their flags, and one room in detail. Blocking: run these off the
//! async threads.

use crate::i18n::Lang;
use crate::views::table_json;
use analytics::report::{self, Column, Kind, Table, Value, Window, slots, underuse};
use chrono::{Duration, NaiveDate};
use devices::Registry;
use serde::Serialize;
use std::path::Path;

/// A flag of a room with its reason.
#[derive(Debug, Clone, Serialize)]
pub(super) struct FlagView {
    /// The flag's code (`UNDERUSED`, ...).
    pub(super) flag: String,
    /// Its name in the request's language.
    pub(super) name: String,
    /// Why it was raised.
    pub(super) reason: String,
}

/// One room of the table.
#[derive(Debug, Clone, Serialize)]
pub(super) struct RoomRow {
    pub(super) site_id: String,
    pub(super) site_name: String,
    pub(super) room_id: String,
    pub(super) room_name: String,
    pub(super) capacity: u32,
    pub(super) time_utilization_7d: Option<f64>,
    pub(super) time_utilization_28d: Option<f64>,
    /// Mean people present / capacity over 28 days: how full the room is when
    /// measured (time utilization says only how often anyone is there).
    pub(super) capacity_utilization_28d: Option<f64>,
    pub(super) coverage_28d: Option<f64>,
    /// Last day of the windows (the latest day in `room_hour`).
    pub(super) to: Option<NaiveDate>,
    pub(super) flags: Vec<FlagView>,
}

/// The room's grid (28 days), idle blocks and daily trend.
#[derive(Serialize)]
pub(super) struct RoomDetail {
    pub(super) site_id: String,
    pub(super) room_id: String,
    pub(super) from: NaiveDate,
    pub(super) to: NaiveDate,
    cells: Vec<serde_json::Map<String, serde_json::Value>>,
    idle_blocks: Vec<serde_json::Map<String, serde_json::Value>>,
    pub(super) trend: Vec<(NaiveDate, Option<f64>)>,
}

/// Σ occupied / Σ measured and Σ measured / Σ open over the grid.
fn totals(grid: &slots::Grid) -> (Option<f64>, Option<f64>) {
    let (mut open, mut meas, mut occ) = (0u64, 0u64, 0u64);
    for day in &grid.cells {
        for c in day {
            open += c.open;
            meas += c.measured;
            occ += c.occupied;
        }
    }
    let r = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    (r(occ, meas), r(meas, open))
}

/// Σ person-seconds / Σ capacity x measured seconds over the grid; none for
/// presence-only rooms (no capacity metrics).
fn capacity_use(grid: &slots::Grid) -> Option<f64> {
    let (person, capacity) = grid
        .cells
        .iter()
        .flatten()
        .fold((0u64, 0u64), |(p, c), cell| {
            (p + cell.person, c + cell.capacity)
        });
    (capacity > 0).then(|| person as f64 / capacity as f64)
}

/// The flags of `room_id` in the main table of an `underuse` report.
fn flags_of(table: &Table, room_id: &str) -> Vec<FlagView> {
    let (ri, fi, ni, why) = (
        table.index("room_id"),
        table.index("flag"),
        table.index("flag_name"),
        table.index("reason"),
    );
    let text = |r: &[Value], i: Option<usize>| match i.and_then(|i| r.get(i)) {
        Some(Value::Text(s)) => s.clone(),
        _ => String::new(),
    };
    table
        .rows
        .iter()
        .filter(|r| text(r, ri) == room_id)
        .map(|r| FlagView {
            flag: text(r, fi),
            name: text(r, ni),
            reason: text(r, why),
        })
        .collect()
}

/// The rooms of `sites`, in registry order.
pub(super) fn room_rows(
    root: &Path,
    registry: &Registry,
    sites: &[String],
    lang: Lang,
) -> Vec<RoomRow> {
    let mut rows = Vec::new();
    for site in registry.sites.iter().filter(|s| sites.contains(&s.id)) {
        let flags = underuse::run(
            root,
            Some(registry),
            &Window::default(),
            &underuse::Filter {
                site: Some(site.id.clone()),
                city: None,
            },
            lang,
        )
        .ok();
        for &ix in &site.rooms {
            let room = registry.room(ix);
            let month = slots::run(
                root,
                Some(registry),
                &Window::default(),
                &site.id,
                &room.id,
                lang,
            )
            .ok();
            let to = month.as_ref().map(|m| m.grid.to);
            let week = to.and_then(|to| {
                let w = Window {
                    from: Some(to - Duration::days(6)),
                    to: Some(to),
                };
                slots::run(root, Some(registry), &w, &site.id, &room.id, lang).ok()
            });
            let (tu28, cov28) = month.as_ref().map_or((None, None), |m| totals(&m.grid));
            rows.push(RoomRow {
                site_id: site.id.clone(),
                site_name: site.name.clone(),
                room_id: room.id.clone(),
                room_name: room.name.clone(),
                capacity: room.capacity,
                time_utilization_7d: week.as_ref().and_then(|w| totals(&w.grid).0),
                time_utilization_28d: tu28,
                capacity_utilization_28d: month.as_ref().and_then(|m| capacity_use(&m.grid)),
                coverage_28d: cov28,
                to,
                flags: flags
                    .as_ref()
                    .and_then(|f| f.tables.first())
                    .map(|t| flags_of(t, &room.id))
                    .unwrap_or_default(),
            });
        }
    }
    rows
}

/// The rooms as a report table: the page shows it and the CSV download writes it.
pub(super) fn rooms_table(rows: &[RoomRow]) -> Table {
    let col = Column::new;
    Table {
        name: "rooms",
        title: "房间".to_owned(),
        columns: vec![
            col("site_id", "社区编号", Kind::Text),
            col("site_name", "社区", Kind::Text),
            col("room_id", "房间编号", Kind::Text),
            col("room_name", "房间", Kind::Text),
            col("capacity", "容量", Kind::Int),
            col("time_utilization_7d", "时间利用率 7天", Kind::Fraction),
            col("time_utilization_28d", "时间利用率 28天", Kind::Fraction),
            col(
                "capacity_utilization_28d",
                "容量利用率 28天",
                Kind::Fraction,
            ),
            col("coverage_28d", "覆盖率 28天", Kind::Fraction),
            col("to", "截至", Kind::Date),
            col("flags", "标记", Kind::Text),
            col("reasons", "原因", Kind::Text),
        ],
        rows: rows
            .iter()
            .map(|r| {
                let flags: Vec<&str> = r.flags.iter().map(|f| f.flag.as_str()).collect();
                let reasons: Vec<&str> = r.flags.iter().map(|f| f.reason.as_str()).collect();
                vec![
                    r.site_id.as_str().into(),
                    r.site_name.as_str().into(),
                    r.room_id.as_str().into(),
                    r.room_name.as_str().into(),
                    Value::Int(r.capacity.into()),
                    r.time_utilization_7d.into(),
                    r.time_utilization_28d.into(),
                    r.capacity_utilization_28d.into(),
                    r.coverage_28d.into(),
                    r.to.map_or(Value::Null, Value::Date),
                    flags.join(" ").into(),
                    reasons.join(" / ").into(),
                ]
            })
            .collect(),
    }
}

/// One room: its 28-day `slots` report, with the daily trend of its time use.
pub(super) fn room_detail(
    root: &Path,
    registry: &Registry,
    site: &str,
    room: &str,
    lang: Lang,
) -> report::Result<(RoomDetail, slots::Slots)> {
    let month = slots::run(root, Some(registry), &Window::default(), site, room, lang)?;
    let (from, to) = (month.grid.from, month.grid.to);
    let mut trend = Vec::new();
    let mut d = from;
    while d <= to {
        let w = Window {
            from: Some(d),
            to: Some(d),
        };
        let tu = slots::run(root, Some(registry), &w, site, room, lang)
            .ok()
            .and_then(|s| totals(&s.grid).0);
        trend.push((d, tu));
        d += Duration::days(1);
    }
    let table = |name: &str| {
        month
            .output
            .tables
            .iter()
            .find(|t| t.name == name)
            .map(table_json)
            .unwrap_or_default()
    };
    let detail = RoomDetail {
        site_id: site.to_owned(),
        room_id: room.to_owned(),
        from,
        to,
        cells: table("cells"),
        idle_blocks: table("idle_blocks"),
        trend,
    };
    Ok((detail, month))
}

/// The room's weekday x hour heatmap as SVG text.
pub(super) fn heatmap_svg(month: &slots::Slots, lang: Lang) -> Result<String, String> {
    // The renderer writes a file; a private temporary one, read back and removed.
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("doorstep-heatmap-{}-{n}.svg", std::process::id()));
    let out = month
        .write_svg(&path, lang)
        .map_err(|e| e.to_string())
        .and_then(|()| std::fs::read_to_string(&path).map_err(|e| e.to_string()));
    let _ = std::fs::remove_file(&path);
    out
}
