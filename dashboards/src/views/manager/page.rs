//! The manager page's template: the filters, the rooms with their use and
//! flags, and the room asked for with its trend, heatmap and idle blocks.

use super::data::{FlagView, RoomDetail, RoomRow, rooms_table};
use super::query::ManagerQuery;
use crate::i18n::{Lang, t};
use crate::local_path::url_encode;
use crate::views::charts;
use crate::views::table::HtmlTable;
use analytics::report::{Output, Table, Value, slots};
use devices::Site;
use maud::{Markup, Render, html};

/// The columns of the rooms table on the page, with the key of their header.
const SHOWN: [(&str, &str); 8] = [
    ("site_name", "site"),
    ("room_name", "room"),
    ("capacity", "capacity"),
    ("time_utilization_7d", "tu7"),
    ("time_utilization_28d", "tu28"),
    ("capacity_utilization_28d", "cu28"),
    ("coverage_28d", "cov28"),
    ("flags", "flags"),
];

/// The room shown below the table.
pub(super) enum Room {
    /// None was asked for.
    NotAsked,
    /// The room asked for has no data (or is unknown).
    NoData,
    /// The room with its `slots` report.
    Shown(Box<(RoomDetail, slots::Slots)>),
}

/// The page's content: `sites` are those the user sees, `rows` the rooms the query selects.
pub(super) fn body(
    lang: Lang,
    q: &ManagerQuery,
    sites: &[&Site],
    rows: &[RoomRow],
    room: &Room,
    free: Option<&Output>,
) -> Markup {
    html! {
        (filters(lang, q, sites))
        section.card #rooms {
            h2 { (t(lang, "manager_title")) }
            @if rows.iter().all(|r| r.to.is_none()) {
                p.muted #no-data { (t(lang, "no_data")) }
            }
            (rooms(lang, rows))
        }
        @match room {
            Room::NotAsked => {}
            Room::NoData => {
                section.card #room { p.muted { (t(lang, "no_data")) } }
            }
            Room::Shown(shown) => (detail(lang, &shown.0, &shown.1, free)),
        }
        @if let (Some(site), Some(free)) = (q.site(), free) {
            (super::free::card(lang, site, free))
        }
    }
}

/// The form choosing a site or a district, and the CSV link of what it chose.
fn filters(lang: Lang, q: &ManagerQuery, sites: &[&Site]) -> Markup {
    let mut districts: Vec<&str> = sites
        .iter()
        .map(|s| s.district.as_str())
        .filter(|d| !d.is_empty())
        .collect();
    districts.sort_unstable();
    districts.dedup();
    let code = lang.pick("zh", "en");
    html! {
        section.card {
            form.filters method="get" action="/manager" {
                input type="hidden" name="lang" value=(code);
                label {
                    (t(lang, "site"))
                    select name="site" {
                        option value="" selected[q.site.is_none()] { (t(lang, "all")) }
                        @for s in sites {
                            option value=(s.id) selected[q.site.as_deref() == Some(s.id.as_str())] {
                                (s.name)
                            }
                        }
                    }
                }
                label {
                    (t(lang, "district"))
                    select name="district" {
                        option value="" selected[q.district.is_none()] { (t(lang, "all")) }
                        @for d in &districts {
                            option value=(d) selected[q.district.as_deref() == Some(*d)] { (d) }
                        }
                    }
                }
                button type="submit" { (t(lang, "filter")) }
            }
            p.csv {
                a href={ "/api/manager/rooms?" (q.filters()) "&format=csv&lang=" (code) } download {
                    (t(lang, "download_csv"))
                }
                @if let Some(site) = q.site() {
                    " · "
                    a #monthly-link href={ "/evaluator/monthly?site=" (url_encode(site)) "&lang=" (code) } {
                        (t(lang, "monthly_link"))
                    }
                }
            }
        }
    }
}

/// A room's flags, each named, with its reason as the tooltip.
fn flags(flags: &[FlagView]) -> Markup {
    html! {
        @for f in flags {
            span class={ "flag " (f.flag) } title=(f.reason) { (f.name) }
        }
    }
}

/// The rooms table, a "details" link in each row.
fn rooms(lang: Lang, rows: &[RoomRow]) -> Markup {
    let table = rooms_table(rows);
    let (site, room) = (table.index("site_id"), table.index("room_id"));
    let code = lang.pick("zh", "en");
    let text = |row: &[Value], i: Option<usize>| match i.and_then(|i| row.get(i)) {
        Some(Value::Text(s)) => url_encode(s),
        _ => String::new(),
    };
    HtmlTable::new(&table, lang)
        .columns(&SHOWN.map(|(name, _)| name))
        .headers(|c| {
            SHOWN
                .iter()
                .find(|(name, _)| *name == c.name)
                .map(|(_, key)| t(lang, key))
        })
        .cells(|r, c| match rows.get(r) {
            Some(row) if c.name == "flags" => Some(flags(&row.flags)),
            _ => None,
        })
        .links(|row| {
            Some(format!(
                "/manager?site={}&room={}&lang={code}#room",
                text(row, site),
                text(row, room)
            ))
        })
        .render()
}

/// One room: its 28-day trend, its weekday x hour heatmap and its idle blocks.
fn detail(lang: Lang, d: &RoomDetail, month: &slots::Slots, free: Option<&Output>) -> Markup {
    let src = format!(
        "/manager/heatmap.svg?site={}&room={}&lang={}",
        url_encode(&d.site_id),
        url_encode(&d.room_id),
        lang.pick("zh", "en")
    );
    let blocks = month
        .output
        .tables
        .iter()
        .find(|t| t.name == "idle_blocks")
        .filter(|t| !t.rows.is_empty());
    html! {
        section.card #room {
            h2 { (month.grid.site_name) " · " (month.grid.room_name) }
            p.muted { (t(lang, "window")) " " (d.from) " – " (d.to) }
            h3 { (t(lang, "trend")) }
            div.chart {
                (charts::trend(&d.trend, 0.25, lang.pick("使用不足线 25%", "underused below 25%")))
            }
            h3 { (t(lang, "heatmap")) }
            div.heatmap { img src=(src) alt=(t(lang, "heatmap")); }
            @if let Some(free) = free.and_then(|f| room_stretches(f, &d.room_id)) {
                h3 { (t(lang, "free_in_room")) }
                (super::free::stretches(lang, &free, false))
            } @else {
                h3 { (t(lang, "idle_blocks")) }
                @if let Some(blocks) = blocks {
                    (HtmlTable::new(blocks, lang))
                } @else {
                    p.muted { (t(lang, "no_blocks")) }
                }
            }
        }
    }
}

/// The rows of room `room` in the site's `free_hours` table.
fn room_stretches(free: &Output, room: &str) -> Option<Table> {
    let table = free.tables.iter().find(|t| t.name == "free_hours")?;
    let i = table.index("room_id")?;
    let mut mine = table.clone();
    mine.rows
        .retain(|r| matches!(r.get(i), Some(Value::Text(id)) if id == room));
    Some(mine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::Registry;
    use std::path::Path;

    const REGISTRY: &str = r#"
        [[site]]
        id = "s1"
        name = "<b>长者&食堂</b>"
        district = "徐汇区"
        [[site.room]]
        id = "hall"
        name = "多功能厅 \"A\""
        capacity = 30
        area_m2 = 80
        schedule = ["mon-fri 09:00-17:00 culture"]
    "#;

    #[test]
    fn names_are_escaped_once_and_cells_read_as_in_the_report() -> Result<(), devices::RegistryError>
    {
        let registry = Registry::from_toml(REGISTRY, Path::new("t.toml"))?;
        let sites: Vec<&Site> = registry.sites.iter().collect();
        let rows = [RoomRow {
            site_id: "s1".into(),
            site_name: "<b>长者&食堂</b>".into(),
            room_id: "hall".into(),
            room_name: "多功能厅 \"A\"".into(),
            capacity: 30,
            time_utilization_7d: Some(0.0333),
            time_utilization_28d: None,
            capacity_utilization_28d: Some(0.125),
            coverage_28d: Some(1.0),
            to: None,
            flags: vec![FlagView {
                flag: "UNDERUSED".into(),
                name: "使用不足".into(),
                reason: "时间利用率 < 10%".into(),
            }],
        }];
        let q = ManagerQuery {
            site: Some("s1".into()),
            ..ManagerQuery::default()
        };
        let html = crate::views::table::plain_cells(
            &body(Lang::Zh, &q, &sites, &rows, &Room::NoData, None).into_string(),
        );
        let name = "&lt;b&gt;长者&amp;食堂&lt;/b&gt;";
        assert!(
            html.contains(&format!(r#"<option value="s1" selected>{name}</option>"#)),
            "{html}"
        );
        assert!(html.contains(&format!("<td>{name}</td>")), "{html}");
        assert!(html.contains("<td>多功能厅 &quot;A&quot;</td>"), "{html}");
        assert!(
            !html.contains("&amp;amp;") && !html.contains("<b>"),
            "{html}"
        );
        assert!(
            html.contains("<td>3.3%</td><td>—</td><td>12.5%</td><td>100.0%</td>"),
            "{html}"
        );
        assert!(
            html.contains(
                r#"<span class="flag UNDERUSED" title="时间利用率 &lt; 10%">使用不足</span>"#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"<tr data-site="s1" data-room="hall">"#),
            "{html}"
        );
        assert!(
            html.contains(r#"href="/manager?site=s1&amp;room=hall&amp;lang=zh#room""#),
            "{html}"
        );
        assert!(html.contains(r#"id="no-data""#), "no day yet: {html}");
        assert!(
            html.contains(r#"<section class="card" id="room">"#),
            "{html}"
        );
        for inline in ["<style", "<script", " style=", " on"] {
            assert!(!html.contains(inline), "{inline}: {html}");
        }
        Ok(())
    }
}
