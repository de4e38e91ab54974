//! The operators' live page: one HTML file with its style sheet and script
//! (`/assets/live.css`, `/assets/live.js`, both in the binary), drawn in the
//! browser from `/api/live`, kept current by `/api/live/events`, with the
//! alert list from `/api/alerts`. The server only fills in the language and
//! the links the caller's role may follow.

use crate::api::state::AppState;
use crate::i18n::{self, html_lang};
use crate::views::frame::{logout_button, nav};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use serde::Deserialize;

/// The live page's HTML; its style sheet and script come from `/assets/`,
/// nothing from another host.
pub const LIVE_HTML: &str = include_str!("../assets/live.html");

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    lang: Option<String>,
}

/// `GET /`.
pub(crate) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<PageQuery>,
) -> Response {
    let user = match state.page_user(&headers, &uri) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let links = html! {
        (nav(&user, lang, "/"))
        @if !state.access.is_open() {
            span { (user.name) }
            " "
            (logout_button(lang))
        }
    };
    let html = LIVE_HTML
        .replacen(
            "<html lang=\"zh-CN\">",
            &format!("<html lang=\"{}\">", html_lang(lang)),
            1,
        )
        .replacen(
            "<body>",
            &format!("<body data-can-ack=\"{}\">", user.may_act()),
            1,
        )
        .replacen("<!--NAV-->", &links.into_string(), 1);
    ([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response()
}
