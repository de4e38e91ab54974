//! The printable monthly report (`/evaluator/monthly`): for a city (or the
//! whole country) or for one site, the month's comparison with its charts,
//! the sites left out, the rooms that need attention and, for a site, its
//! free hours. It prints on A4 from the browser (save as PDF), the form in
//! which evaluation results travel between offices.

use super::page::{compared_table, fact_label, overview};
use crate::api::state::AppState;
use crate::i18n::{self, Lang, t};
use crate::local_path::url_encode;
use crate::views::table::HtmlTable;
use crate::views::{blocking, forbidden, frame::frame};
use analytics::report::{self, Output, Value, Window, compare, free_hours, underuse};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use chrono::{Datelike, Months, NaiveDate};
use devices::Registry;
use maud::{Markup, html};
use serde::Deserialize;
use std::path::Path;

/// `?month=YYYY-MM&city=&site=&lang=`.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct MonthlyQuery {
    /// The month; default: the month of the latest day in the tables.
    month: Option<String>,
    /// One city's sites (default: every site).
    city: Option<String>,
    /// One site (its city's sites are its peers).
    site: Option<String>,
    /// `zh` or `en`; else from `Accept-Language`.
    lang: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// The month's reports.
struct Monthly {
    month: NaiveDate,
    from: NaiveDate,
    to: NaiveDate,
    compare: Option<Output>,
    flags: Option<Output>,
    free: Option<Output>,
}

/// The first day of `text` (`YYYY-MM`).
fn parse_month(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok()
}

/// A report, or `None` when its table has no data in the window.
fn or_none(r: report::Result<Output>) -> Result<Option<Output>, String> {
    match r {
        Ok(out) => Ok(Some(out)),
        Err(report::Error::NoData { .. } | report::Error::BadWindow { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn build(
    root: &Path,
    registry: &Registry,
    q: &MonthlyQuery,
    day: free_hours::ServiceDay,
    lang: Lang,
) -> Result<Option<Monthly>, String> {
    let Some(latest) = report::latest_date(root, "site_day").map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let month = match nonempty(&q.month) {
        Some(m) => parse_month(&m).ok_or_else(|| format!("{m:?} is not a month YYYY-MM"))?,
        None => latest.with_day(1).unwrap_or(latest),
    };
    let last = month.with_day(days_in(month)).unwrap_or(month);
    let (from, to) = (month, last.min(latest));
    let window = Window {
        from: Some(from),
        to: Some(to),
    };
    let site = nonempty(&q.site);
    let city = match &site {
        Some(id) => registry
            .sites
            .iter()
            .find(|s| &s.id == id)
            .map(|s| s.city.clone()),
        None => nonempty(&q.city),
    };
    let filter = compare::Filter {
        city: city.clone(),
        ..compare::Filter::default()
    };
    let mut compared = or_none(compare::run(root, Some(registry), &window, &filter, lang))?;
    if let (Some(out), Some(id)) = (compared.as_mut(), &site) {
        for table in &mut out.tables {
            if let Some(i) = table.index("site_id") {
                table
                    .rows
                    .retain(|r| matches!(r.get(i), Some(Value::Text(s)) if s == id));
            }
        }
    }
    let flags = underuse::Filter {
        site: site.clone(),
        city,
    };
    let flags = or_none(underuse::run(root, Some(registry), &window, &flags, lang))?;
    let free = match &site {
        Some(id) => or_none(free_hours::run(
            Some(root),
            registry,
            &window,
            id,
            day,
            lang,
        ))?,
        None => None,
    };
    Ok(Some(Monthly {
        month,
        from,
        to,
        compare: compared,
        flags,
        free,
    }))
}

/// `GET /evaluator/monthly`.
pub(crate) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<MonthlyQuery>,
) -> Response {
    let user = match state.page_user(&headers, &uri) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let site = nonempty(&q.site);
    // Evaluators any; a manager the sites they see.
    let allowed = match &site {
        Some(id) => state.sees(&user, id) && (user.may_evaluate() || user.may_manage()),
        None => user.may_evaluate(),
    };
    if !allowed {
        return forbidden("this role or scope has no such monthly report");
    }
    let registry = state.board.registry();
    let scope = match &site {
        Some(id) => registry
            .sites
            .iter()
            .find(|s| &s.id == id)
            .map_or_else(|| id.clone(), |s| s.name.clone()),
        None => nonempty(&q.city).unwrap_or_else(|| lang.pick("全国", "all sites").to_owned()),
    };
    let built = match state.data_dir.clone() {
        None => Ok(None),
        Some(root) => {
            let (q, day) = (q.clone(), state.service_day);
            match blocking(move || build(&root, &registry, &q, day, lang)).await {
                Ok(r) => r,
                Err(r) => return r,
            }
        }
    };
    let body = match built {
        Ok(Some(m)) => body(lang, &scope, &q, &m),
        Ok(None) => html! { section.card { p.muted #no-data { (t(lang, "no_data")) } } },
        Err(e) => html! { section.card { p.muted #no-data { (e) } } },
    };
    let query = format!(
        "month={}&city={}&site={}",
        url_encode(q.month.as_deref().unwrap_or("")),
        url_encode(q.city.as_deref().unwrap_or("")),
        url_encode(site.as_deref().unwrap_or(""))
    );
    frame(
        &state,
        &user,
        lang,
        t(lang, "monthly"),
        "/evaluator/monthly",
        &query,
        body,
    )
}

fn month_name(lang: Lang, month: NaiveDate) -> String {
    match lang {
        Lang::Zh => format!("{}年{}月", month.year(), month.month()),
        Lang::En => month.format("%B %Y").to_string(),
    }
}

fn body(lang: Lang, scope: &str, q: &MonthlyQuery, m: &Monthly) -> Markup {
    let title = match lang {
        Lang::Zh => format!(
            "{scope} · 社区嵌入式服务设施使用月报 · {}",
            month_name(lang, m.month)
        ),
        Lang::En => format!(
            "{scope} · Community service facilities, monthly report · {}",
            month_name(lang, m.month)
        ),
    };
    let partial = m.to.day() < days_in(m.month);
    let flags_shown = [
        "site_name",
        "room_name",
        "flag_name",
        "time_utilization",
        "coverage",
        "reason",
    ];
    html! {
        section.card #monthly {
            form.filters method="get" action="/evaluator/monthly" {
                input type="hidden" name="lang" value=(lang.pick("zh", "en"));
                input type="hidden" name="city" value=(q.city.as_deref().unwrap_or(""));
                input type="hidden" name="site" value=(q.site.as_deref().unwrap_or(""));
                label {
                    (t(lang, "month"))
                    input type="month" name="month" value=(m.month.format("%Y-%m").to_string());
                }
                button type="submit" { (t(lang, "filter")) }
            }
            h2 { (title) }
            p.muted #period {
                (t(lang, "period")) (lang.pick("：", ": ")) (m.from) " – " (m.to)
                @if partial { " (" (t(lang, "partial_month")) ")" }
            }
            @match &m.compare {
                None => p.muted { (t(lang, "no_data")) },
                Some(out) => {
                    p.muted #facts {
                        @for (i, (k, v)) in out.facts.iter().filter(|(k, _)| *k != "from" && *k != "to").enumerate() {
                            @if i > 0 { " · " }
                            (fact_label(lang, k)) (lang.pick("：", ": ")) (v)
                        }
                    }
                    @if let Some(compared) = out.tables.first() {
                        @if q.site.as_deref().is_none_or(str::is_empty) {
                            (overview(lang, compared, compare::RankBy::default()))
                        }
                        h3 { (t(lang, "evaluator_title")) }
                        (compared_table(lang, compared))
                        @if q.site.as_deref().is_none_or(str::is_empty) {
                            (site_links(lang, compared, m.month))
                        }
                    }
                    @if let Some(left) = out.tables.get(1).filter(|t| !t.rows.is_empty()) {
                        h3 { (t(lang, "left_out")) }
                        (HtmlTable::new(left, lang))
                    }
                    @for n in &out.notes { p.muted { (n) } }
                }
            }
            h3 { (t(lang, "attention")) }
            @match m.flags.as_ref().and_then(|f| f.tables.first()).filter(|t| !t.rows.is_empty()) {
                None => p.muted { (t(lang, "no_flags")) },
                Some(flags) => (HtmlTable::new(flags, lang).columns(&flags_shown)),
            }
            @if let Some(free) = &m.free {
                h3 { (t(lang, "free_hours")) }
                (HtmlTable::new(&free.tables[1], lang).columns(&[
                    "room_name",
                    "capacity",
                    "idle_while_open_hours",
                    "outside_opening_hours",
                    "free_hours_per_week",
                ]))
            }
            p.muted.footer { (t(lang, "monthly_footer")) }
        }
    }
}

/// Each compared site's own monthly report, for the reader who goes on from the city's.
fn site_links(lang: Lang, compared: &analytics::report::Table, month: NaiveDate) -> Markup {
    let (id, name) = (compared.index("site_id"), compared.index("site_name"));
    let text = |row: &[Value], i: Option<usize>| match i.and_then(|i| row.get(i)) {
        Some(Value::Text(s)) => s.clone(),
        _ => String::new(),
    };
    html! {
        p.noprint #site-reports {
            (t(lang, "site_reports")) (lang.pick("：", ": "))
            @for (i, row) in compared.rows.iter().enumerate() {
                @if i > 0 { (lang.pick("、", ", ")) }
                a href={
                    "/evaluator/monthly?site=" (url_encode(&text(row, id)))
                    "&month=" (month.format("%Y-%m").to_string())
                    "&lang=" (lang.pick("zh", "en"))
                } { (text(row, name)) }
            }
        }
    }
}

fn days_in(month: NaiveDate) -> u32 {
    month
        .checked_add_months(Months::new(1))
        .and_then(|d| d.pred_opt())
        .map_or(28, |d| d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_read_and_name() {
        let m = parse_month("2026-11").expect("month");
        assert_eq!(m, NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"));
        assert_eq!(days_in(m), 30);
        assert_eq!(month_name(Lang::Zh, m), "2026年11月");
        assert_eq!(month_name(Lang::En, m), "November 2026");
        assert!(parse_month("2026-13").is_none());
        assert!(parse_month("11/2026").is_none());
    }
}
