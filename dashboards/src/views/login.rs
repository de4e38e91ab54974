//! The login form for browsers: `POST /login` with a token sets an HttpOnly
//! cookie (SameSite=Strict, so other sites cannot send it along); `POST
//! /logout` clears it. Both change state, so both pass the Origin check of
//! `guard` like every other POST.

use crate::api::state::AppState;
use crate::auth::{COOKIE, login_cookie};
use crate::i18n::{self, Lang, html_lang, t};
use crate::local_path::safe_next;
use crate::views::esc;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(crate) struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
    token: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct LoginForm {
    token: Option<String>,
    next: Option<String>,
}

fn page(lang: Lang, next: &str, error: bool) -> String {
    let err = if error {
        format!("<p class=\"error\">{}</p>", t(lang, "bad_token"))
    } else {
        String::new()
    };
    format!(
        "<!doctype html>\n<html lang=\"{hl}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
<link rel=\"stylesheet\" href=\"{css}\"></head><body><main><section class=\"card login\"><h2>{title}</h2>{err}\
<form method=\"post\" action=\"/login\"><label>{label}<input type=\"password\" name=\"token\" autocomplete=\"current-password\" required></label>\
<input type=\"hidden\" name=\"next\" value=\"{next}\"><button type=\"submit\">{button}</button></form></section></main></body></html>\n",
        hl = html_lang(lang),
        title = t(lang, "login_title"),
        css = crate::assets::APP_CSS_PATH,
        label = t(lang, "token"),
        next = esc(next),
        button = t(lang, "login"),
    )
}

/// `GET /login`.
pub(crate) async fn form(headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    Html(page(lang, safe_next(q.next.as_deref()), false)).into_response()
}

/// `POST /login`: the token from the form (or `?token=`).
pub(crate) async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let next = safe_next(f.next.as_deref().or(q.next.as_deref())).to_owned();
    let token = f.token.or(q.token).unwrap_or_default();
    let token = token.trim();
    match state.access.user(token) {
        Some(user) => {
            tracing::info!(user = %user.name, role = ?user.role, "browser login");
            (
                [(header::SET_COOKIE, login_cookie(token))],
                Redirect::to(&next),
            )
                .into_response()
        }
        None => (StatusCode::UNAUTHORIZED, Html(page(lang, &next, true))).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

/// `GET /logout`: a page with the button that signs out (a link cannot: signing
/// out changes state, so it is a POST).
pub(crate) async fn logout_form(headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = i18n::negotiate(q.lang.as_deref(), &headers);
    Html(format!(
        "<!doctype html>\n<html lang=\"{hl}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
<link rel=\"stylesheet\" href=\"{css}\"></head><body><main><section class=\"card login\"><h2>{title}</h2>\
{button}</section></main></body></html>\n",
        hl = html_lang(lang),
        title = t(lang, "logout"),
        css = crate::assets::APP_CSS_PATH,
        button = logout_button(lang),
    ))
    .into_response()
}

/// The sign-out button: a form that posts to `/logout`.
pub(crate) fn logout_button(lang: Lang) -> String {
    format!(
        "<form method=\"post\" action=\"/logout\" class=\"logout\"><button type=\"submit\">{}</button></form>",
        t(lang, "logout")
    )
}

/// `POST /logout`: clears the cookie.
pub(crate) async fn logout() -> Response {
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}
