//! The evaluators' view: sites compared (`analytics::report::compare`) with
//! filters by city, district and category, a ranking and a distribution
//! chart, the function-mix check, a drill-down link per site, and every
//! table as CSV.

use crate::api::error::error_json;
use crate::api::state::AppState;
use crate::auth::User;
use crate::i18n::{self, Lang, t};
use crate::local_path::url_encode;
use crate::views::{self, blocking, charts, esc};
use analytics::report::{Output, Value, Window, compare};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use devices::Category;
use serde::Deserialize;
use std::fmt::Write;
use std::sync::Arc;

#[derive(Deserialize, Default, Clone)]
pub(crate) struct EvaluatorQuery {
    city: Option<String>,
    district: Option<String>,
    category: Option<String>,
    lang: Option<String>,
    format: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// The compare report for the query; `Ok(None)` when there is no data yet.
async fn report(
    state: &AppState,
    user: &User,
    q: &EvaluatorQuery,
    lang: Lang,
) -> Result<Option<Output>, Response> {
    if !user.may_evaluate() {
        return Err(views::forbidden("only evaluators and admins compare sites"));
    }
    let category = match nonempty(&q.category) {
        Some(c) => Some(
            c.parse::<Category>()
                .map_err(|_| error_json(StatusCode::BAD_REQUEST, "unknown category", ""))?,
        ),
        None => None,
    };
    let filter = compare::Filter {
        city: nonempty(&q.city),
        district: nonempty(&q.district),
        category,
    };
    let Some(root) = state.data_dir.clone() else {
        return Ok(None);
    };
    let registry = Arc::clone(state.board.registry());
    match blocking(move || compare::run(&root, Some(&registry), &Window::default(), &filter, lang))
        .await?
    {
        Ok(out) => Ok(Some(out)),
        Err(analytics::report::Error::NoData { .. }) => Ok(None),
        Err(e) => Err(error_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &e.to_string(),
            "",
        )),
    }
}

async fn table_api(
    state: AppState,
    headers: HeaderMap,
    q: EvaluatorQuery,
    which: usize,
    name: &str,
) -> Response {
    let user = match state.api_user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let out = match report(&state, &user, &q, lang).await {
        Ok(out) => out,
        Err(r) => return r,
    };
    let table = out.as_ref().and_then(|o| o.tables.get(which));
    if q.format.as_deref() == Some("csv") {
        return crate::csv::response(name, table.map(crate::csv::table).unwrap_or_default());
    }
    let facts: serde_json::Map<String, serde_json::Value> = out
        .iter()
        .flat_map(|o| &o.facts)
        .map(|(k, v)| ((*k).to_owned(), v.clone().into()))
        .collect();
    Json(serde_json::json!({
        "facts": facts,
        name: table.map(views::table_json).unwrap_or_default(),
    }))
    .into_response()
}

/// `GET /api/evaluator/sites`: compared sites, ranked.
pub(crate) async fn sites_api(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EvaluatorQuery>,
) -> Response {
    table_api(state, headers, q, 0, "sites").await
}

/// `GET /api/evaluator/left_out`: sites not compared, with the reason.
pub(crate) async fn left_out_api(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EvaluatorQuery>,
) -> Response {
    table_api(state, headers, q, 1, "left_out").await
}

/// `GET /evaluator`.
pub(crate) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<EvaluatorQuery>,
) -> Response {
    let user = match state.page_user(&headers, &uri) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let out = match report(&state, &user, &q, lang).await {
        Ok(out) => out,
        Err(r) => return r,
    };
    let registry = state.board.registry();
    let mut cities: Vec<&str> = registry
        .sites
        .iter()
        .map(|s| s.city.as_str())
        .filter(|c| !c.is_empty())
        .collect();
    cities.sort_unstable();
    cities.dedup();
    let mut districts: Vec<&str> = registry
        .sites
        .iter()
        .map(|s| s.district.as_str())
        .filter(|c| !c.is_empty())
        .collect();
    districts.sort_unstable();
    districts.dedup();
    let sel = |name: &str, label: &str, items: &[(String, String)], current: Option<&str>| {
        let mut s = format!(
            "<label>{label}<select name=\"{name}\"><option value=\"\">{}</option>",
            t(lang, "all")
        );
        for (v, l) in items {
            let on = if current == Some(v.as_str()) {
                " selected"
            } else {
                ""
            };
            let _ = write!(s, "<option value=\"{}\"{on}>{}</option>", esc(v), esc(l));
        }
        s.push_str("</select></label>");
        s
    };
    let pairs = |v: &[&str]| {
        v.iter()
            .map(|s| ((*s).to_owned(), (*s).to_owned()))
            .collect::<Vec<_>>()
    };
    let cats: Vec<(String, String)> = Category::ALL
        .iter()
        .map(|c| {
            (
                c.as_str().to_owned(),
                lang.pick(c.zh(), c.as_str()).to_owned(),
            )
        })
        .collect();
    let code = lang.pick("zh", "en");
    let mut body = format!(
        "<section class=\"card\"><form class=\"filters\" method=\"get\" action=\"/evaluator\"><input type=\"hidden\" name=\"lang\" value=\"{code}\">{}{}{}<button type=\"submit\">{}</button></form></section>",
        sel("city", t(lang, "city"), &pairs(&cities), q.city.as_deref()),
        sel(
            "district",
            t(lang, "district"),
            &pairs(&districts),
            q.district.as_deref()
        ),
        sel(
            "category",
            t(lang, "category"),
            &cats,
            q.category.as_deref()
        ),
        t(lang, "filter"),
    );
    let query = format!(
        "city={}&district={}&category={}",
        url_encode(q.city.as_deref().unwrap_or("")),
        url_encode(q.district.as_deref().unwrap_or("")),
        url_encode(q.category.as_deref().unwrap_or(""))
    );
    match &out {
        None => {
            let _ = write!(
                body,
                "<section class=\"card\"><p class=\"muted\" id=\"no-data\">{}</p></section>",
                t(lang, "no_data")
            );
        }
        Some(out) => {
            let facts: Vec<String> = out.facts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let _ = write!(body, "<p class=\"muted\">{}</p>", esc(&facts.join(" · ")));
            if let Some(sites) = out.tables.first() {
                let (name, tu) = (sites.index("site_name"), sites.index("time_utilization"));
                let bars: Vec<(String, f64)> = sites
                    .rows
                    .iter()
                    .filter_map(|r| {
                        let label = match name.and_then(|i| r.get(i)) {
                            Some(Value::Text(s)) => s.clone(),
                            _ => String::new(),
                        };
                        match tu.and_then(|i| r.get(i)) {
                            Some(Value::Float(v)) => Some((label, *v)),
                            _ => None,
                        }
                    })
                    .collect();
                let values: Vec<f64> = bars.iter().map(|(_, v)| *v).collect();
                let _ = write!(
                    body,
                    "<section class=\"card\" id=\"charts\"><div class=\"charts\">{}{}</div></section>",
                    charts::ranking(t(lang, "ranking"), &bars),
                    charts::histogram(
                        t(lang, "distribution"),
                        &values,
                        lang.pick("时间利用率 (%)", "time use (%)")
                    ),
                );
                let id = sites.index("site_id");
                let _ = write!(
                    body,
                    "<section class=\"card\" id=\"sites\"><h2>{}</h2><p class=\"muted\">{}</p>{}\
<p class=\"csv\"><a href=\"/api/evaluator/sites?{query}&format=csv&lang={code}\" download>{}</a></p></section>",
                    t(lang, "evaluator_title"),
                    t(lang, "mix_note"),
                    views::table_html(sites, lang, |row| match id.and_then(|i| row.get(i)) {
                        Some(Value::Text(s)) =>
                            Some(format!("/manager?site={}&lang={code}", url_encode(s))),
                        _ => None,
                    }),
                    t(lang, "download_csv"),
                );
            }
            if let Some(left) = out.tables.get(1) {
                let _ = write!(
                    body,
                    "<section class=\"card\" id=\"left-out\"><h2>{}</h2>{}<p class=\"csv\"><a href=\"/api/evaluator/left_out?{query}&format=csv&lang={code}\" download>{}</a></p></section>",
                    t(lang, "left_out"),
                    views::table_html(left, lang, |_| None),
                    t(lang, "download_csv"),
                );
            }
        }
    }
    views::frame(
        &state,
        &user,
        lang,
        t(lang, "evaluator_title"),
        "/evaluator",
        &query,
        &body,
    )
}
