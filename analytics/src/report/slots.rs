//! `slots`: a room's weekday x hour use over the window, and its idle blocks.
//!
//! Each (local weekday, local hour) cell sums the room's `room_hour` rows of
//! the window (highest revision of each hour): time utilization is the summed
//! occupied over the summed measured seconds, coverage the summed measured over
//! the summed open seconds (METRICS.md: sum the sums, then divide). Only cells
//! with opening time are shown. The weekday is the partition date's, which is
//! the local date of the hour. The idle blocks are the stored `idle_slots` of
//! the room's latest day in the window, at that day's highest revision.

pub use super::grid::{Block, Cell, Grid};
use super::read::{self, get, prim, strings};
use super::table::{col, int};
use super::{
    Column, Error, Kind, Lang, Output, Result, Table, Value, Window, or_else, ratio, registry_site,
    weekday_name, window_of,
};
use arrow::datatypes::{UInt8Type, UInt32Type, UInt64Type};
use chrono::Datelike;
use devices::Registry;
use std::path::Path;

/// The report and the grid it shows (for the SVG heatmap).
#[derive(Debug, Clone)]
pub struct Slots {
    /// The report.
    pub output: Output,
    /// The grid.
    pub grid: Grid,
}

impl Slots {
    /// Draws the grid as an SVG heatmap with Chinese (or English) labels.
    pub fn write_svg(&self, path: &Path, lang: Lang) -> Result<()> {
        super::svg::heatmap(&self.grid, path, lang)
    }
}

/// The weekday x hour grid of room `room` of site `site` (docs/REPORTS.md, `slots`).
pub fn run(
    root: &Path,
    registry: Option<&Registry>,
    window: &Window,
    site: &str,
    room: &str,
    lang: Lang,
) -> Result<Slots> {
    let (from, to) = window_of(window, root, &["room_hour"])?;
    let mut grid = Grid {
        site_id: site.to_owned(),
        site_name: String::new(),
        room_id: room.to_owned(),
        room_name: String::new(),
        from,
        to,
        cells: [[Cell::default(); 24]; 7],
        blocks: Vec::new(),
        services: [[None; 24]; 7],
    };
    let mut hours = 0usize;
    let cols = [
        "site_id",
        "room_id",
        "site_name",
        "room_name",
        "hour_start",
        "local_hour",
        "open_seconds",
        "measured_seconds",
        "occupied_seconds",
        "person_seconds",
        "capacity",
        "revision",
    ];
    let mut versions = std::collections::BTreeSet::new();
    for date in read::dates_in(root, "room_hour", from, to)? {
        let part = read::partition(root, "room_hour", date, &cols, Some(site))?;
        versions.extend(part.versions.iter().copied());
        let weekday = date.weekday().number_from_monday() as usize;
        let rows = read::latest(&part, &["site_id", "room_id", "hour_start"])?;
        for ((path, b), rows) in part.batches.iter().zip(&rows) {
            let t = "room_hour";
            let (sites, rooms) = (
                strings(path, t, b, "site_id")?,
                strings(path, t, b, "room_id")?,
            );
            let local_hour = prim::<UInt8Type>(path, t, b, "local_hour")?;
            let u32s = |c| prim::<UInt32Type>(path, t, b, c);
            let (open, measured) = (u32s("open_seconds")?, u32s("measured_seconds")?);
            let occupied = u32s("occupied_seconds")?;
            let person = prim::<UInt64Type>(path, t, b, "person_seconds")?;
            let capacity = u32s("capacity")?;
            for i in rows.iter() {
                if sites.value(i) != site || rooms.value(i) != room {
                    continue;
                }
                let c = &mut grid.cells[weekday - 1][usize::from(local_hour.value(i)).min(23)];
                c.open += u64::from(open.value(i));
                c.measured += u64::from(measured.value(i));
                c.occupied += u64::from(occupied.value(i));
                c.hours += 1;
                if let Some(cap) = get(capacity, i) {
                    c.person += person.value(i);
                    c.capacity += u64::from(cap) * u64::from(measured.value(i));
                }
                if grid.room_name.is_empty() {
                    grid.site_name = strings(path, t, b, "site_name")?.value(i).to_owned();
                    grid.room_name = strings(path, t, b, "room_name")?.value(i).to_owned();
                }
                hours += 1;
            }
        }
    }
    if hours == 0 {
        return Err(Error::NoRoom {
            site: site.to_owned(),
            room: room.to_owned(),
            from,
            to,
        });
    }
    if let Some(reg) = registry_site(registry, site) {
        grid.site_name = or_else(&grid.site_name, Some(reg.name)).to_owned();
    }
    if let Some(r) = registry.and_then(|reg| reg.room_by_ids(site, room).map(|r| reg.room(r))) {
        grid.services = super::grid::services_of(&r.schedule.openings);
    }
    grid.blocks = super::idle_blocks::of_site(root, from, to, site)?
        .remove(room)
        .unwrap_or_default();
    let mut output = output(&grid, lang);
    output.notes.extend(read::versions_note(&versions, lang));
    Ok(Slots { output, grid })
}

fn output(grid: &Grid, lang: Lang) -> Output {
    let mut cells = Vec::new();
    for (d, day) in grid.cells.iter().enumerate() {
        let weekday = d as u8 + 1;
        for (h, c) in day.iter().enumerate() {
            if c.open == 0 {
                continue;
            }
            cells.push(vec![
                int(weekday),
                weekday_name(weekday, lang).into(),
                int(h as u64),
                int(c.open),
                int(c.measured),
                int(c.occupied),
                c.coverage().into(),
                c.time_utilization().into(),
                c.idle().into(),
                grid.services[d][h].map_or("", |s| s.as_str()).into(),
            ]);
        }
    }
    let blocks: Vec<Vec<Value>> = grid
        .blocks
        .iter()
        .map(|b| {
            vec![
                b.day.into(),
                int(b.weekday),
                weekday_name(b.weekday, lang).into(),
                int(b.start_hour),
                int(b.end_hour),
                int(b.end_hour.saturating_sub(b.start_hour)),
                int(b.lookback_days),
                ratio(b.measured, b.open).into(),
                ratio(b.occupied, b.measured).into(),
            ]
        })
        .collect();
    let blocks = Table {
        name: "idle_blocks",
        title: lang
            .pick(
                "空闲时段（错时使用候选，取窗口内最新一天的评估）",
                "Idle blocks (candidates for another service; the latest evaluation in the window)",
            )
            .to_owned(),
        columns: vec![
            col("day", "评估日", Kind::Date),
            col("weekday", "星期", Kind::Int),
            col("weekday_name", "星期名", Kind::Text),
            col("start_hour", "开始", Kind::Int),
            col("end_hour", "结束", Kind::Int),
            col("hours", "小时数", Kind::Int),
            col("lookback_days", "回看天数", Kind::Int),
            col("coverage", "覆盖率", Kind::Fraction),
            col("time_utilization", "时间利用率", Kind::Fraction),
        ],
        rows: blocks,
    };
    let cells = Table {
        name: "cells",
        title: lang.pick("周 x 小时", "Weekday x hour").to_owned(),
        columns: vec![
            col("weekday", "星期", Kind::Int),
            col("weekday_name", "星期名", Kind::Text),
            col("hour", "小时", Kind::Int),
            col("open_seconds", "开放秒数", Kind::Int),
            col("measured_seconds", "测得秒数", Kind::Int),
            col("occupied_seconds", "使用秒数", Kind::Int),
            col("coverage", "覆盖率", Kind::Fraction),
            col("time_utilization", "时间利用率", Kind::Fraction),
            col("idle", "空闲", Kind::Bool),
            col("service", "日程服务", Kind::Text),
        ],
        rows: cells,
    };
    let display = vec![
        matrix(grid, lang, "time_utilization", |c| c.time_utilization()),
        matrix(grid, lang, "coverage", |c| c.coverage()),
        blocks.clone(),
    ];
    Output {
        report: "slots",
        facts: vec![
            ("site_id", grid.site_id.clone()),
            ("site_name", grid.site_name.clone()),
            ("room_id", grid.room_id.clone()),
            ("room_name", grid.room_name.clone()),
            ("from", grid.from.to_string()),
            ("to", grid.to.to_string()),
        ],
        tables: vec![cells, blocks],
        display: Some(display),
        notes: vec![
            lang.pick(
                "- 表示该时段不开放；时间利用率 = 使用秒数之和 / 测得秒数之和。",
                "- means closed at that hour; time utilization = summed occupied / summed measured seconds.",
            )
            .to_owned(),
        ],
    }
}

/// Weekdays down, open hours across, one value per cell (null when closed).
fn matrix(grid: &Grid, lang: Lang, what: &'static str, f: impl Fn(&Cell) -> Option<f64>) -> Table {
    let hours = grid.open_hours();
    let mut columns: Vec<Column> = vec![col("weekday", "星期", Kind::Text)];
    columns.extend(
        hours
            .clone()
            .map(|h| col(&format!("{h:02}"), &format!("{h:02}"), Kind::Fraction)),
    );
    let rows = (1..=7u8)
        .map(|w| {
            let day = &grid.cells[usize::from(w - 1)];
            let mut row = vec![Value::from(weekday_name(w, lang))];
            row.extend(hours.clone().map(|h| {
                if day[h].open > 0 {
                    f(&day[h]).into()
                } else {
                    Value::Null
                }
            }));
            row
        })
        .collect();
    let title = match what {
        "coverage" => lang.pick("覆盖率（测得 / 开放）", "Coverage (measured / open)"),
        _ => lang.pick(
            "时间利用率（使用 / 测得）",
            "Time utilization (occupied / measured)",
        ),
    };
    Table {
        name: what,
        title: title.to_owned(),
        columns,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(open: u64, measured: u64, occupied: u64) -> Cell {
        Cell {
            open,
            measured,
            occupied,
            ..Cell::default()
        }
    }

    #[test]
    fn idle_cells_follow_metrics() {
        assert!(
            cell(7200, 7200, 100).idle(),
            "0.014 < 0.05 with full coverage"
        );
        assert!(!cell(7200, 7200, 360).idle(), "exactly 0.05 is not idle");
        assert!(
            !cell(7200, 5000, 0).idle(),
            "coverage 0.69: unknown, not idle"
        );
        assert!(cell(10_000, 8000, 0).idle(), "coverage exactly 0.8 counts");
        assert!(!cell(0, 0, 0).idle(), "closed");
    }

    #[test]
    fn cells_sum_before_dividing() {
        // Two Mondays at 10:00: 900 of 1800 measured, then 0 of 3600.
        let mut c = Cell::default();
        for (o, m, u) in [(3600, 1800, 900), (3600, 3600, 0)] {
            c.open += o;
            c.measured += m;
            c.occupied += u;
        }
        assert_eq!(
            c.time_utilization(),
            Some(900.0 / 5400.0),
            "not (0.5 + 0) / 2"
        );
        assert_eq!(c.coverage(), Some(0.75));
    }

    #[test]
    fn open_hours_span_the_opening() {
        let mut g = Grid {
            site_id: "s".into(),
            site_name: String::new(),
            room_id: "r".into(),
            room_name: String::new(),
            from: chrono::NaiveDate::MIN,
            to: chrono::NaiveDate::MIN,
            services: [[None; 24]; 7],
            cells: [[Cell::default(); 24]; 7],
            blocks: vec![],
        };
        g.cells[0][9].open = 1;
        g.cells[4][16].open = 1;
        assert_eq!(g.open_hours(), 9..17);
    }
}
