//! The `slots` heatmap as SVG: weekdays down, open hours across, colour by
//! time utilization, grey where coverage is under 0.8, idle blocks framed.
//! Labels are SVG `<text>` elements, so Chinese shows with the viewer's fonts.

use super::grid::{Cell, Grid};
use super::{Error, Lang, Result, weekday_name};
use devices::Category;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const CELL_W: i32 = 46;
const CELL_H: i32 = 34;
const LEFT: i32 = 64;
const TOP: i32 = 84;
const FONT: &str = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif";

/// White to deep blue as time utilization goes from 0 to 1.
fn shade(u: f64) -> RGBColor {
    let u = u.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * u).round() as u8;
    RGBColor(mix(247.0, 8.0), mix(251.0, 48.0), mix(255.0, 107.0))
}

/// About how wide `s` is at 12 px, in pixels (CJK characters are square).
fn text_width(s: &str) -> i32 {
    s.chars().map(|c| if c.is_ascii() { 7 } else { 13 }).sum()
}

/// The colour of a service's strip.
fn service_colour(c: Category) -> RGBColor {
    match c {
        Category::ElderlyCare => RGBColor(27, 158, 119),
        Category::InfantCare => RGBColor(231, 41, 138),
        Category::ChildCare => RGBColor(117, 112, 179),
        Category::MealAid => RGBColor(102, 166, 30),
        Category::Housekeeping => RGBColor(166, 118, 29),
        Category::Health => RGBColor(228, 26, 28),
        Category::Fitness => RGBColor(55, 126, 184),
        Category::Culture => RGBColor(152, 78, 163),
        Category::ChildrenPlay => RGBColor(230, 171, 2),
        Category::SharedSpace => RGBColor(102, 102, 102),
        Category::Other => RGBColor(166, 206, 227),
    }
}

/// Draws `grid` to `path`.
pub(crate) fn heatmap(grid: &Grid, path: &Path, lang: Lang) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| Error::Svg {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut hours = grid.open_hours();
    if hours.is_empty() {
        hours = 0..24;
    }
    let cols = hours.len() as i32;
    let legend = lang.pick(
        "颜色深浅：时间利用率；灰色 ?：覆盖率不足 80%；浅灰：不开放；白色 ·：无数据；橙框：空闲时段（错时使用候选）",
        "Shade: time utilization; grey ?: coverage under 80%; light grey: closed; white ·: no data; orange frame: idle block (room for another service)",
    );
    let width = (LEFT + cols * CELL_W + 24).max(LEFT + text_width(legend) + 24);
    let height = TOP + 7 * CELL_H + 80;
    let root = SVGBackend::new(path, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;

    let style = |size: f64, h: HPos| {
        // plotters writes font-size as size / 1.24: undo that, so sizes are pixels.
        TextStyle::from((FONT, size * 1.24).into_font())
            .color(&BLACK)
            .pos(Pos::new(h, VPos::Center))
    };
    let text = |s: String, at: (i32, i32), st: TextStyle| {
        root.draw(&Text::new(s, at, st)).map_err(|e| fail(&e))
    };
    text(
        format!("{} · {}", grid.site_name, grid.room_name),
        (LEFT, 22),
        style(20.0, HPos::Left),
    )?;
    text(
        match lang {
            Lang::Zh => format!("时间利用率（周 x 小时），{} 至 {}", grid.from, grid.to),
            Lang::En => format!(
                "Time utilization (weekday x hour), {} to {}",
                grid.from, grid.to
            ),
        },
        (LEFT, 48),
        style(14.0, HPos::Left),
    )?;
    for (k, h) in hours.clone().enumerate() {
        let x = LEFT + k as i32 * CELL_W + CELL_W / 2;
        text(format!("{h:02}"), (x, TOP - 12), style(12.0, HPos::Center))?;
    }
    for d in 0..7u8 {
        let y = TOP + i32::from(d) * CELL_H + CELL_H / 2;
        text(
            weekday_name(d + 1, lang).to_owned(),
            (LEFT - 8, y),
            style(13.0, HPos::Right),
        )?;
        for (k, h) in hours.clone().enumerate() {
            let c: &Cell = &grid.cells[usize::from(d)][h];
            let x0 = LEFT + k as i32 * CELL_W;
            let y0 = TOP + i32::from(d) * CELL_H;
            let (fill, label, dark) = match (c.open, c.coverage(), c.time_utilization()) {
                // No stored hour at all (a weekday the window has no data for): not "closed".
                _ if c.hours == 0 => (WHITE, "·".to_owned(), false),
                (0, ..) => (RGBColor(238, 238, 238), String::new(), false),
                (_, Some(cov), Some(u)) if cov >= 0.8 => {
                    (shade(u), format!("{:.0}%", u * 100.0), u >= 0.45)
                }
                _ => (RGBColor(200, 200, 200), "?".to_owned(), false),
            };
            root.draw(&Rectangle::new(
                [(x0 + 1, y0 + 1), (x0 + CELL_W - 1, y0 + CELL_H - 1)],
                fill.filled(),
            ))
            .map_err(|e| fail(&e))?;
            // The service the schedule hosts then, as a strip along the top.
            if let Some(s) = grid.services[usize::from(d)][h] {
                root.draw(&Rectangle::new(
                    [(x0 + 1, y0 + 1), (x0 + CELL_W - 1, y0 + 6)],
                    service_colour(s).filled(),
                ))
                .map_err(|e| fail(&e))?;
            }
            if !label.is_empty() {
                let color = if dark { WHITE } else { BLACK };
                let st = style(11.0, HPos::Center).color(&color);
                root.draw(&Text::new(label, (x0 + CELL_W / 2, y0 + CELL_H / 2), st))
                    .map_err(|e| fail(&e))?;
            }
        }
    }
    let frame = ShapeStyle {
        color: RGBColor(230, 120, 0).to_rgba(),
        filled: false,
        stroke_width: 3,
    };
    for b in &grid.blocks {
        let (start, end) = (
            usize::from(b.start_hour).max(hours.start),
            usize::from(b.end_hour).min(hours.end),
        );
        if start >= end || !(1..=7).contains(&b.weekday) {
            continue;
        }
        let x0 = LEFT + (start - hours.start) as i32 * CELL_W;
        let x1 = LEFT + (end - hours.start) as i32 * CELL_W;
        let y0 = TOP + i32::from(b.weekday - 1) * CELL_H;
        root.draw(&Rectangle::new([(x0, y0), (x1, y0 + CELL_H)], frame))
            .map_err(|e| fail(&e))?;
    }
    text(
        legend.to_owned(),
        (LEFT, TOP + 7 * CELL_H + 30),
        style(12.0, HPos::Left),
    )?;
    // Which service each strip colour is, for the services the room hosts.
    let mut hosted: Vec<Category> = grid.services.iter().flatten().flatten().copied().collect();
    hosted.sort_by_key(|c| *c as u8);
    hosted.dedup();
    let y = TOP + 7 * CELL_H + 56;
    let mut x = LEFT;
    if !hosted.is_empty() {
        text(
            lang.pick(
                "顶部色条：日程安排的服务",
                "Top strip: the scheduled service",
            )
            .to_owned(),
            (x, y),
            style(12.0, HPos::Left),
        )?;
        x += text_width(lang.pick(
            "顶部色条：日程安排的服务",
            "Top strip: the scheduled service",
        )) + 16;
    }
    for c in hosted {
        root.draw(&Rectangle::new(
            [(x, y - 6), (x + 12, y + 6)],
            service_colour(c).filled(),
        ))
        .map_err(|e| fail(&e))?;
        let name = lang.pick(c.zh(), c.en());
        text(name.to_owned(), (x + 16, y), style(12.0, HPos::Left))?;
        x += 16 + text_width(name) + 12;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn shade_runs_from_white_to_blue() {
        assert_eq!(shade(0.0), RGBColor(247, 251, 255));
        assert_eq!(shade(1.0), RGBColor(8, 48, 107));
        assert_eq!(shade(7.0), shade(1.0));
    }

    #[test]
    fn a_weekday_without_data_is_not_drawn_as_closed() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let mut grid = Grid {
            site_id: "s".into(),
            site_name: "社区".into(),
            room_id: "r".into(),
            room_name: "厅".into(),
            from: d,
            to: d,
            cells: [[Cell::default(); 24]; 7],
            blocks: Vec::new(),
            services: [[None; 24]; 7],
        };
        // Monday 09:00 measured and open; Tuesday 09:00 stored but closed; the rest unseen.
        grid.cells[0][9] = Cell {
            open: 3600,
            measured: 3600,
            occupied: 1800,
            hours: 1,
            ..Cell::default()
        };
        grid.cells[1][9] = Cell {
            hours: 1,
            ..Cell::default()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.svg");
        heatmap(&grid, &path, Lang::En).expect("svg");
        let svg = std::fs::read_to_string(&path).expect("read");
        assert!(svg.contains("\n50%\n"), "{svg}");
        // Wednesday to Sunday have no row: five "no data" dots; Tuesday is closed.
        assert_eq!(svg.matches("\n·\n").count(), 5, "{svg}");
        assert!(svg.contains("white ·: no data"), "{svg}");
        assert!(!svg.contains("Top strip"), "no schedule, no strips: {svg}");
        // With a schedule: a strip per scheduled hour and the service named below.
        let openings = [
            devices::schedule::Opening::parse("mon 08:30-10:00 infant_care").expect("opening"),
            devices::schedule::Opening::parse("mon 10:00-12:00 elderly_care").expect("opening"),
        ];
        grid.services = crate::report::grid::services_of(&openings);
        assert_eq!(grid.services[0][8], Some(Category::InfantCare));
        assert_eq!(grid.services[0][9], Some(Category::InfantCare));
        assert_eq!(grid.services[0][10], Some(Category::ElderlyCare));
        assert_eq!(grid.services[1][9], None);
        heatmap(&grid, &path, Lang::Zh).expect("svg");
        let svg = std::fs::read_to_string(&path).expect("read");
        assert!(svg.contains("托育") && svg.contains("养老"), "{svg}");
        // Only the drawn hours (the open one, 09:00) get a strip: one infant-care pink.
        assert_eq!(svg.matches("#E7298A").count(), 2, "strip and legend: {svg}");
    }
}
