//! The managers' view: the rooms of a site or district with their time
//! utilization over 7 and 28 days, their flags and reasons, and per room the
//! weekday x hour heatmap, the idle blocks (错时 candidates) and a 28-day
//! trend. Everything comes from `analytics::report` (`slots`, `underuse`).

use crate::api::error::error_json;
use crate::api::state::AppState;
use crate::auth::User;
use crate::i18n::{self, Lang, t};
use crate::local_path::url_encode;
use crate::views::{self, blocking, charts, esc, pct};
use analytics::report::{self, Window, slots, underuse};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate};
use devices::Registry;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

#[derive(Deserialize, Default, Clone)]
pub(crate) struct ManagerQuery {
    site: Option<String>,
    district: Option<String>,
    room: Option<String>,
    lang: Option<String>,
    format: Option<String>,
}

/// A flag of a room with its reason.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FlagView {
    flag: String,
    name: String,
    reason: String,
}

/// One room of the table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RoomRow {
    site_id: String,
    site_name: String,
    room_id: String,
    room_name: String,
    capacity: u32,
    time_utilization_7d: Option<f64>,
    time_utilization_28d: Option<f64>,
    coverage_28d: Option<f64>,
    /// Last day of the windows (the latest day in `room_hour`).
    to: Option<NaiveDate>,
    flags: Vec<FlagView>,
}

/// The sites the query selects among those `user` sees; 403 for a named site
/// the user may not see.
fn selected_sites(
    state: &AppState,
    user: &User,
    q: &ManagerQuery,
) -> Result<Vec<String>, Response> {
    let registry = state.board.registry();
    if let Some(site) = q.site.as_deref().filter(|s| !s.is_empty()) {
        if !state.sees(user, site) {
            return Err(error_json(
                StatusCode::FORBIDDEN,
                "not allowed to see this site",
                "",
            ));
        }
        return Ok(vec![site.to_owned()]);
    }
    let district = q.district.as_deref().filter(|d| !d.is_empty());
    Ok(registry
        .sites
        .iter()
        .filter(|s| user.sees(s) && district.is_none_or(|d| s.district == d))
        .map(|s| s.id.clone())
        .collect())
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

fn room_rows(root: &Path, registry: &Registry, sites: &[String], lang: Lang) -> Vec<RoomRow> {
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
            let mut row = RoomRow {
                site_id: site.id.clone(),
                site_name: site.name.clone(),
                room_id: room.id.clone(),
                room_name: room.name.clone(),
                capacity: room.capacity,
                time_utilization_7d: week.as_ref().and_then(|w| totals(&w.grid).0),
                time_utilization_28d: tu28,
                coverage_28d: cov28,
                to,
                flags: Vec::new(),
            };
            if let Some(table) = flags.as_ref().and_then(|f| f.tables.first()) {
                let (ri, fi, ni, why) = (
                    table.index("room_id"),
                    table.index("flag"),
                    table.index("flag_name"),
                    table.index("reason"),
                );
                let text = |r: &[report::Value], i: Option<usize>| match i.and_then(|i| r.get(i)) {
                    Some(report::Value::Text(s)) => s.clone(),
                    _ => String::new(),
                };
                for r in &table.rows {
                    if text(r, ri) == room.id {
                        row.flags.push(FlagView {
                            flag: text(r, fi),
                            name: text(r, ni),
                            reason: text(r, why),
                        });
                    }
                }
            }
            rows.push(row);
        }
    }
    rows
}

fn rows_csv(rows: &[RoomRow]) -> String {
    use crate::csv::{line, number, text};
    let mut out = String::from(
        "site_id,site_name,room_id,room_name,capacity,time_utilization_7d,time_utilization_28d,coverage_28d,to,flags,reasons\r\n",
    );
    let f = |v: Option<f64>| v.map(number).unwrap_or_default();
    for r in rows {
        let flags: Vec<&str> = r.flags.iter().map(|f| f.flag.as_str()).collect();
        let reasons: Vec<&str> = r.flags.iter().map(|f| f.reason.as_str()).collect();
        out.push_str(&line([
            text(&r.site_id),
            text(&r.site_name),
            text(&r.room_id),
            text(&r.room_name),
            number(r.capacity),
            f(r.time_utilization_7d),
            f(r.time_utilization_28d),
            f(r.coverage_28d),
            r.to.map(|d| text(&d.to_string())).unwrap_or_default(),
            text(&flags.join(" ")),
            text(&reasons.join(" / ")),
        ]));
    }
    out
}

async fn rooms(
    state: &AppState,
    user: &User,
    q: &ManagerQuery,
    lang: Lang,
) -> Result<Vec<RoomRow>, Response> {
    if !user.may_manage() {
        return Err(views::forbidden("this role has no manager view"));
    }
    let sites = selected_sites(state, user, q)?;
    let Some(root) = state.data_dir.clone() else {
        return Ok(Vec::new());
    };
    let registry = Arc::clone(state.board.registry());
    blocking(move || room_rows(&root, &registry, &sites, lang)).await
}

/// `GET /api/manager/rooms`.
pub(crate) async fn rooms_api(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ManagerQuery>,
) -> Response {
    let user = match state.api_user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    match rooms(&state, &user, &q, lang).await {
        Ok(rows) if q.format.as_deref() == Some("csv") => {
            crate::csv::response("rooms", rows_csv(&rows))
        }
        Ok(rows) => Json(serde_json::json!({ "rooms": rows })).into_response(),
        Err(r) => r,
    }
}

/// The room's grid (28 days), idle blocks and daily trend.
#[derive(Serialize)]
struct RoomDetail {
    site_id: String,
    room_id: String,
    from: NaiveDate,
    to: NaiveDate,
    cells: Vec<serde_json::Map<String, serde_json::Value>>,
    idle_blocks: Vec<serde_json::Map<String, serde_json::Value>>,
    trend: Vec<(NaiveDate, Option<f64>)>,
}

fn room_detail(
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
            .map(views::table_json)
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

async fn detail(
    state: &AppState,
    user: &User,
    q: &ManagerQuery,
    lang: Lang,
) -> Result<(RoomDetail, slots::Slots), Response> {
    if !user.may_manage() {
        return Err(views::forbidden("this role has no manager view"));
    }
    let (Some(site), Some(room)) = (q.site.clone(), q.room.clone()) else {
        return Err(error_json(
            StatusCode::BAD_REQUEST,
            "site and room are required",
            "",
        ));
    };
    if !state.sees(user, &site) {
        return Err(error_json(
            StatusCode::FORBIDDEN,
            "not allowed to see this site",
            "",
        ));
    }
    let Some(root) = state.data_dir.clone() else {
        return Err(error_json(StatusCode::NOT_FOUND, "no data directory", ""));
    };
    let registry = Arc::clone(state.board.registry());
    blocking(move || room_detail(&root, &registry, &site, &room, lang))
        .await?
        .map_err(|e| error_json(StatusCode::NOT_FOUND, &e.to_string(), ""))
}

/// `GET /api/manager/room`.
pub(crate) async fn room_api(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ManagerQuery>,
) -> Response {
    let user = match state.api_user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    match detail(&state, &user, &q, lang).await {
        Ok((_, month)) if q.format.as_deref() == Some("csv") => {
            let cells = month.output.tables.iter().find(|t| t.name == "cells");
            crate::csv::response("cells", cells.map(crate::csv::table).unwrap_or_default())
        }
        Ok((d, _)) => Json(d).into_response(),
        Err(r) => r,
    }
}

/// `GET /manager/heatmap.svg`: the `slots` heatmap of a room.
pub(crate) async fn heatmap(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ManagerQuery>,
) -> Response {
    let user = match state.page_user(&headers, &uri) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let month = match detail(&state, &user, &q, lang).await {
        Ok((_, m)) => m,
        Err(r) => return r,
    };
    // The renderer writes a file; a private temporary one, read back and removed.
    let svg = blocking(move || {
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
    })
    .await;
    match svg {
        Ok(Ok(svg)) => (
            [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
            svg,
        )
            .into_response(),
        Ok(Err(e)) => error_json(StatusCode::INTERNAL_SERVER_ERROR, &e, ""),
        Err(r) => r,
    }
}

/// `GET /manager`.
pub(crate) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ManagerQuery>,
) -> Response {
    let user = match state.page_user(&headers, &uri) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let rows = match rooms(&state, &user, &q, lang).await {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    let registry = state.board.registry();
    let mut body = String::new();
    // Filters: the sites and districts the user sees.
    let visible: Vec<_> = registry.sites.iter().filter(|s| user.sees(s)).collect();
    let mut districts: Vec<&str> = visible
        .iter()
        .map(|s| s.district.as_str())
        .filter(|d| !d.is_empty())
        .collect();
    districts.sort_unstable();
    districts.dedup();
    let opt = |value: &str, label: &str, on: bool| {
        format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(value),
            if on { " selected" } else { "" },
            esc(label)
        )
    };
    let _ = write!(
        body,
        "<section class=\"card\"><form class=\"filters\" method=\"get\" action=\"/manager\"><input type=\"hidden\" name=\"lang\" value=\"{}\">",
        lang.pick("zh", "en")
    );
    let _ = write!(
        body,
        "<label>{}<select name=\"site\">{}",
        t(lang, "site"),
        opt("", t(lang, "all"), q.site.is_none())
    );
    for s in &visible {
        body.push_str(&opt(
            &s.id,
            &s.name,
            q.site.as_deref() == Some(s.id.as_str()),
        ));
    }
    let _ = write!(
        body,
        "</select></label><label>{}<select name=\"district\">{}",
        t(lang, "district"),
        opt("", t(lang, "all"), q.district.is_none())
    );
    for d in &districts {
        body.push_str(&opt(d, d, q.district.as_deref() == Some(*d)));
    }
    let query = format!(
        "site={}&district={}",
        url_encode(q.site.as_deref().unwrap_or("")),
        url_encode(q.district.as_deref().unwrap_or(""))
    );
    let _ = write!(
        body,
        "</select></label><button type=\"submit\">{}</button></form>\
<p class=\"csv\"><a href=\"/api/manager/rooms?{query}&format=csv&lang={}\" download>{}</a></p></section>",
        t(lang, "filter"),
        lang.pick("zh", "en"),
        t(lang, "download_csv")
    );
    // The rooms.
    let _ = write!(
        body,
        "<section class=\"card\" id=\"rooms\"><h2>{}</h2>",
        t(lang, "manager_title")
    );
    if rows.iter().all(|r| r.to.is_none()) {
        let _ = write!(
            body,
            "<p class=\"muted\" id=\"no-data\">{}</p>",
            t(lang, "no_data")
        );
    }
    let _ = write!(
        body,
        "<div class=\"scroll\"><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>",
        t(lang, "site"),
        t(lang, "room"),
        t(lang, "capacity"),
        t(lang, "tu7"),
        t(lang, "tu28"),
        t(lang, "cov28"),
        t(lang, "flags")
    );
    for r in &rows {
        let flags: String = r
            .flags
            .iter()
            .map(|f| {
                format!(
                    "<span class=\"flag {}\" title=\"{}\">{}</span>",
                    esc(&f.flag),
                    esc(&f.reason),
                    esc(&f.name)
                )
            })
            .collect();
        let _ = write!(
            body,
            "<tr data-site=\"{sid}\" data-room=\"{rid}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{flags}</td>\
<td><a href=\"/manager?site={sid}&room={rid}&lang={}#room\">{}</a></td></tr>",
            esc(&r.site_name),
            esc(&r.room_name),
            r.capacity,
            pct(r.time_utilization_7d),
            pct(r.time_utilization_28d),
            pct(r.coverage_28d),
            lang.pick("zh", "en"),
            t(lang, "details"),
            sid = esc(&url_encode(&r.site_id)),
            rid = esc(&url_encode(&r.room_id)),
        );
    }
    body.push_str("</tbody></table></div></section>");
    // One room in detail.
    if q.room.is_some() {
        match detail(&state, &user, &q, lang).await {
            Ok((d, month)) => {
                let name = format!("{} · {}", month.grid.site_name, month.grid.room_name);
                let src = format!(
                    "/manager/heatmap.svg?site={}&room={}&lang={}",
                    url_encode(&d.site_id),
                    url_encode(&d.room_id),
                    lang.pick("zh", "en")
                );
                let trend: Vec<Option<f64>> = d.trend.iter().map(|(_, v)| *v).collect();
                let _ = write!(
                    body,
                    "<section class=\"card\" id=\"room\"><h2>{}</h2><p class=\"muted\">{} {} – {}</p>\
<h3>{}</h3><p>{}</p><h3>{}</h3><div class=\"heatmap\"><img src=\"{}\" alt=\"{}\"></div><h3>{}</h3>",
                    esc(&name),
                    t(lang, "window"),
                    d.from,
                    d.to,
                    t(lang, "trend"),
                    charts::sparkline(&trend),
                    t(lang, "heatmap"),
                    esc(&src),
                    t(lang, "heatmap"),
                    t(lang, "idle_blocks"),
                );
                match month.output.tables.iter().find(|t| t.name == "idle_blocks") {
                    Some(tb) if !tb.rows.is_empty() => {
                        body.push_str(&views::table_html(tb, lang, |_| None))
                    }
                    _ => {
                        let _ = write!(body, "<p class=\"muted\">{}</p>", t(lang, "no_blocks"));
                    }
                }
                body.push_str("</section>");
            }
            Err(_) => {
                let _ = write!(
                    body,
                    "<section class=\"card\" id=\"room\"><p class=\"muted\">{}</p></section>",
                    t(lang, "no_data")
                );
            }
        }
    }
    let query = format!(
        "{query}&room={}",
        url_encode(q.room.as_deref().unwrap_or(""))
    );
    views::frame(
        &state,
        &user,
        lang,
        t(lang, "manager_title"),
        "/manager",
        &query,
        &body,
    )
}
