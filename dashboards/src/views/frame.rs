//! The frame of the server-rendered pages: the document with its one style
//! sheet (`/assets/app.css`, nothing inline, so the Content-Security-Policy
//! holds), the header with the views the user's role may open, the language
//! switch and the sign-out button.

use crate::api::state::AppState;
use crate::assets::{APP_CSS_PATH, APP_JS_PATH};
use crate::auth::User;
use crate::i18n::{Lang, html_lang, t};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// An HTML document titled `title` with `body` in its `<body>`.
pub(crate) fn document(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(html_lang(lang)) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href=(APP_CSS_PATH);
            }
            body {
                (body)
                script src=(APP_JS_PATH) {}
            }
        }
    }
}

/// The views `user` may open, as (path, label key).
fn views(user: &User) -> Vec<(&'static str, &'static str)> {
    let mut views = vec![("/", "live"), ("/devices", "devices")];
    if user.may_manage() {
        views.push(("/manager", "manager"));
    }
    if user.may_evaluate() {
        views.push(("/evaluator", "evaluator"));
    }
    views
}

/// Links to the views `user` may open; the one at `here` marked as current.
pub(crate) fn nav(user: &User, lang: Lang, here: &str) -> Markup {
    let code = lang.pick("zh", "en");
    html! {
        // Both names, so the live page relabels its links when it switches language in place.
        @for (path, key) in views(user) {
            a href={ (path) "?lang=" (code) } class=[(path == here).then_some("on")]
                data-zh=(t(Lang::Zh, key)) data-en=(t(Lang::En, key)) {
                (t(lang, key))
            }
        }
    }
}

/// The sign-out button: a form that posts to `/logout`.
pub(crate) fn logout_button(lang: Lang) -> Markup {
    html! {
        form method="post" action="/logout" class="logout" {
            button type="submit" { (t(lang, "logout")) }
        }
    }
}

/// A whole page at path `here` with the navigation of `user`'s role; `query`
/// (without `lang`) is kept by the language switch.
pub(crate) fn frame(
    state: &AppState,
    user: &User,
    lang: Lang,
    title: &str,
    here: &str,
    query: &str,
    body: Markup,
) -> Response {
    let sep = if query.is_empty() { "" } else { "&" };
    let other = lang.pick("en", "zh");
    let page = document(
        lang,
        title,
        html! {
            header.top {
                h1 { (title) }
                nav.views { (nav(user, lang, here)) }
                nav.lang {
                    a href={ (here) "?" (query) (sep) "lang=" (other) } id="lang-switch" {
                        (lang.pick("EN", "中文"))
                    }
                    @if !state.access.is_open() {
                        span.muted { (user.name) }
                        " "
                        (logout_button(lang))
                    }
                }
            }
            main { (body) }
        },
    );
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Html(page.into_string()),
    )
        .into_response()
}
