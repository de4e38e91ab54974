//! A site's free hours per week (`analytics::report::free_hours`): the card on
//! the manager page, the printable list a manager hands to another service
//! (`/manager/free-hours`), its CSV and JSON (`/api/manager/free_hours`), and
//! a room's own stretches to the minute on its detail.

use super::may_manage;
use super::query::ManagerQuery;
use crate::api::error::error_json;
use crate::api::state::AppState;
use crate::auth::User;
use crate::i18n::{Lang, t};
use crate::local_path::url_encode;
use crate::views::table::HtmlTable;
use crate::views::{blocking, frame::frame, table_json};
use analytics::report::free_hours::{self, FreeKind};
use analytics::report::{Output, Table, Value, Window};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use devices::Category;
use maud::{Markup, html};

/// The report for site `site` (checked: the user manages and sees it).
pub(super) async fn report(
    state: &AppState,
    user: &User,
    site: &str,
    lang: Lang,
) -> Result<Output, Response> {
    may_manage(user)?;
    if !state.sees(user, site) {
        return Err(error_json(
            StatusCode::FORBIDDEN,
            "not allowed to see this site",
            "",
        ));
    }
    // Without a data directory only the hours outside opening are known.
    let root = state.data_dir.as_deref().cloned();
    let registry = state.board.registry();
    let (site, day) = (site.to_owned(), state.service_day);
    blocking(move || {
        let root = root.as_deref();
        free_hours::run(root, &registry, &Window::default(), &site, day, lang)
    })
    .await?
    .map_err(|e| error_json(StatusCode::NOT_FOUND, &e.to_string(), ""))
}

fn site_of(q: &ManagerQuery) -> Result<&str, Response> {
    q.site().ok_or_else(|| {
        error_json(
            StatusCode::BAD_REQUEST,
            "which site? add ?site=ID",
            "the free hours are listed per site",
        )
    })
}

/// `GET /api/manager/free_hours?site=`: every free stretch (JSON with the
/// report's facts and the per-room sums, or `&format=csv`).
pub(crate) async fn api(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ManagerQuery>,
) -> Response {
    let user = match state.api_user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = q.lang(&headers);
    let out = match site_of(&q) {
        Ok(site) => report(&state, &user, site, lang).await,
        Err(r) => Err(r),
    };
    let out = match out {
        Ok(out) => out,
        Err(r) => return r,
    };
    if q.csv() {
        return crate::csv::response("free_hours", crate::csv::table(&out.tables[0]));
    }
    let facts: serde_json::Map<String, serde_json::Value> = out
        .facts
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone().into()))
        .collect();
    Json(serde_json::json!({
        "facts": facts,
        "free_hours": table_json(&out.tables[0]),
        "free_rooms": table_json(&out.tables[1]),
    }))
    .into_response()
}

/// `GET /manager/free-hours?site=`: the list on a page that prints.
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
    let lang = q.lang(&headers);
    let out = match site_of(&q) {
        Ok(site) => report(&state, &user, site, lang).await,
        Err(r) => Err(r),
    };
    let out = match out {
        Ok(out) => out,
        Err(r) => return r,
    };
    let site = q.site().unwrap_or_default();
    let body = html! {
        section.card #free-hours {
            h2 { (fact(&out, "site_name")) " · " (t(lang, "free_hours")) }
            (facts_line(lang, &out))
            (stretches(lang, &out.tables[0], true))
            p.muted { (out.notes.join(" ")) }
            p.noprint {
                a href=(csv_href(site, lang)) download { (t(lang, "download_csv")) }
            }
        }
    };
    let query = format!("site={}", url_encode(site));
    frame(
        &state,
        &user,
        lang,
        t(lang, "free_hours"),
        "/manager/free-hours",
        &query,
        body,
    )
}

fn fact<'a>(out: &'a Output, key: &str) -> &'a str {
    out.facts
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, v)| v.as_str())
}

fn facts_line(lang: Lang, out: &Output) -> Markup {
    html! {
        p.muted {
            (t(lang, "service_day")) ": " (fact(out, "service_day")) " · "
            (t(lang, "free_hours_per_week")) ": " (fact(out, "free_hours_per_week"))
            (lang.pick(" 小时", " h"))
            @if fact(out, "to") != "-" {
                " · " (t(lang, "evaluated_to")) ": " (fact(out, "to"))
            }
        }
    }
}

fn csv_href(site: &str, lang: Lang) -> String {
    format!(
        "/api/manager/free_hours?site={}&format=csv&lang={}",
        url_encode(site),
        lang.pick("zh", "en")
    )
}

/// The card on the manager page for one site: the hours per room, and links to
/// the printable list and its CSV.
pub(super) fn card(lang: Lang, site: &str, out: &Output) -> Markup {
    let print = format!(
        "/manager/free-hours?site={}&lang={}",
        url_encode(site),
        lang.pick("zh", "en")
    );
    let shown = [
        "room_name",
        "capacity",
        "idle_while_open_hours",
        "outside_opening_hours",
        "free_hours_per_week",
    ];
    html! {
        section.card #free {
            h2 { (t(lang, "free_hours")) }
            (facts_line(lang, out))
            (HtmlTable::new(&out.tables[1], lang).columns(&shown))
            p.csv {
                a href=(print) { (t(lang, "printable")) }
                " · "
                a href=(csv_href(site, lang)) download { (t(lang, "download_csv")) }
            }
        }
    }
}

/// The stretches of `table` (a `free_hours` table), kinds and services in the
/// page's language; `with_room`: a column for the room (the site's list).
pub(super) fn stretches(lang: Lang, table: &Table, with_room: bool) -> Markup {
    if table.rows.is_empty() {
        return html! { p.muted { (t(lang, "no_blocks")) } };
    }
    let mut shown = vec![];
    if with_room {
        shown.extend(["room_name", "capacity"]);
    }
    shown.extend([
        "weekdays",
        "start",
        "end",
        "hours",
        "kind",
        "service",
        "time_utilization",
    ]);
    let html = HtmlTable::new(table, lang)
        .columns(&shown)
        .cells(move |r, c| {
            let row = table.rows.get(r)?;
            match (
                c.name.as_str(),
                table.index(&c.name).and_then(|i| row.get(i)),
            ) {
                ("kind", Some(Value::Text(k))) => {
                    let kind = [FreeKind::IdleWhileOpen, FreeKind::OutsideOpening]
                        .into_iter()
                        .find(|f| f.as_str() == k)?;
                    Some(html! { (kind.label(lang)) })
                }
                ("service", Some(Value::Text(s))) => {
                    let name = s
                        .parse::<Category>()
                        .map_or("", |c| lang.pick(c.zh(), c.en()));
                    Some(html! { (name) })
                }
                _ => None,
            }
        });
    html! { (html) }
}
