//! The evaluators' view: sites compared (`analytics::report::compare`) with
//! filters by city, district and category, a ranking and a distribution
//! chart, the function-mix check, a drill-down link per site, and every
//! table as CSV.
//!
//! [`query`] checks the request, [`page`] is the HTML template; the handlers
//! here run the report and join them.

pub(crate) mod monthly;
mod page;
mod query;

use crate::api::error::error_json;
use crate::api::state::AppState;
use crate::auth::User;
use crate::i18n::{Lang, t};
use crate::views::{blocking, forbidden, frame::frame, table_json};
use analytics::report::{Output, Window, compare};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use query::EvaluatorQuery;

/// The compare report for the query; `Ok(None)` when there is no data yet.
async fn report(
    state: &AppState,
    user: &User,
    q: &EvaluatorQuery,
    lang: Lang,
) -> Result<Option<Output>, Response> {
    if !user.may_evaluate() {
        return Err(forbidden("only evaluators and admins compare sites"));
    }
    let filter = q.filter()?;
    let Some(root) = state.data_dir.clone() else {
        return Ok(None);
    };
    let registry = state.board.registry();
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

/// Table `which` of the report as JSON (with the report's facts) or CSV.
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
    let lang = q.lang(&headers);
    let out = match report(&state, &user, &q, lang).await {
        Ok(out) => out,
        Err(r) => return r,
    };
    let table = out.as_ref().and_then(|o| o.tables.get(which));
    if q.csv() {
        return crate::csv::response(name, table.map(crate::csv::table).unwrap_or_default());
    }
    let facts: serde_json::Map<String, serde_json::Value> = out
        .iter()
        .flat_map(|o| &o.facts)
        .map(|(k, v)| ((*k).to_owned(), v.clone().into()))
        .collect();
    Json(serde_json::json!({
        "facts": facts,
        name: table.map(table_json).unwrap_or_default(),
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
    let lang = q.lang(&headers);
    let out = match report(&state, &user, &q, lang).await {
        Ok(out) => out,
        Err(r) => return r,
    };
    let body = page::body(lang, &q, &state.board.registry().sites, out.as_ref());
    frame(
        &state,
        &user,
        lang,
        t(lang, "evaluator_title"),
        "/evaluator",
        &q.filters(),
        body,
    )
}
