//! The login form for browsers: `POST /login` with a token sets an HttpOnly
//! cookie (SameSite=Strict, so other sites cannot send it along); `POST
//! /logout` clears it. Both change state, so both pass the Origin check of
//! `guard` like every other POST.

use crate::api::state::AppState;
use crate::auth::{COOKIE, login_cookie};
use crate::i18n::{self, Lang, t};
use crate::local_path::safe_next;
use crate::views::frame::{document, logout_button};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
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

/// The sign-in form; `error`: after an unknown token.
fn page(lang: Lang, next: &str, error: bool) -> String {
    let title = t(lang, "login_title");
    document(
        lang,
        title,
        html! {
            main {
                section.card.login {
                    h2 { (title) }
                    @if error {
                        p.error { (t(lang, "bad_token")) }
                    }
                    form method="post" action="/login" {
                        label {
                            (t(lang, "token"))
                            input type="password" name="token"
                                autocomplete="current-password" required;
                        }
                        input type="hidden" name="next" value=(next);
                        button type="submit" { (t(lang, "login")) }
                    }
                }
            }
        },
    )
    .into_string()
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
    let title = t(lang, "logout");
    let page = document(
        lang,
        title,
        html! {
            main {
                section.card.login {
                    h2 { (title) }
                    (logout_button(lang))
                }
            }
        },
    );
    Html(page.into_string()).into_response()
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
