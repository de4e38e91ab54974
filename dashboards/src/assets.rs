//! The style sheets and the script of the pages, served from the binary under
//! `/assets/`. They are files rather than inline `<style>` and `<script>`
//! blocks so that the Content-Security-Policy (`secure_headers`) can allow
//! same-origin resources only, with nothing inline.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The style sheet of the server-rendered pages (phone first).
pub(crate) const APP_CSS_PATH: &str = "/assets/app.css";
const APP_CSS: &str = include_str!("assets/app.css");
/// The script of the server-rendered pages (sortable tables).
pub(crate) const APP_JS_PATH: &str = "/assets/app.js";
const APP_JS: &str = include_str!("assets/app.js");
/// The live page's style sheet.
const LIVE_CSS: &str = include_str!("assets/live.css");
/// The live page's script.
const LIVE_JS: &str = include_str!("assets/live.js");

/// `GET /assets/...`: open to everyone (the login page needs them; they tell
/// nothing about sites).
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(APP_CSS_PATH, get(|| serve("text/css", APP_CSS)))
        .route(APP_JS_PATH, get(|| serve("text/javascript", APP_JS)))
        .route("/assets/live.css", get(|| serve("text/css", LIVE_CSS)))
        .route("/assets/live.js", get(|| serve("text/javascript", LIVE_JS)))
}

async fn serve(kind: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, format!("{kind}; charset=utf-8")),
            // Revalidated on every load, so a new binary's assets show at once.
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
}
