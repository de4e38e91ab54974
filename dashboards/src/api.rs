//! HTTP handlers: the page, the JSON snapshot, the event stream, health.

use crate::board::{LiveBoard, LiveSnapshot, Push};
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{Stream, StreamExt};

/// The live page: one self-contained file, nothing fetched from elsewhere.
pub const LIVE_HTML: &str = include_str!("assets/live.html");

/// How long a browser waits before reconnecting a dropped event stream.
const RECONNECT: Duration = Duration::from_secs(3);

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) board: Arc<LiveBoard>,
    /// Changes to `true` when the server shuts down; event streams end then,
    /// or graceful shutdown would wait for them forever.
    pub(crate) stop: watch::Receiver<bool>,
}

/// All routes of the web app.
pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/live", get(live))
        .route("/api/live/events", get(events))
        .route("/healthz", get(healthz))
        // Browsers ask for it; an empty answer keeps their consoles free of 404s.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(LIVE_HTML))
}

async fn live(State(state): State<AppState>) -> Json<LiveSnapshot> {
    Json(state.board.snapshot())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn events(State(state): State<AppState>) -> impl IntoResponse {
    let headers = [
        // Reverse proxies (nginx) would otherwise hold the events back.
        ("x-accel-buffering", "no"),
    ];
    let stream = push_events(state.board.subscribe(), state.stop);
    (headers, Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Pushes as SSE events, starting with the reconnect delay, until `stop` turns true.
fn push_events(
    pushes: impl Stream<Item = Push> + Send + 'static,
    stop: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let stopped = WatchStream::from_changes(stop)
        .filter(|stop| *stop)
        .map(|_| None);
    let hello = tokio_stream::once(Event::default().retry(RECONNECT));
    let body = pushes
        .map(|push| {
            Some(match push {
                Push::Room(json) => Event::default().data(&*json),
                Push::Resync => Event::default().event("resync").data("resync"),
            })
        })
        .merge(stopped)
        .take_while(Option::is_some)
        .filter_map(|event| event);
    hello.chain(body).map(Ok)
}

async fn not_found(uri: Uri) -> Response {
    error_json(StatusCode::NOT_FOUND, "not found", uri.path())
}

async fn method_not_allowed(uri: Uri) -> Response {
    error_json(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
        uri.path(),
    )
}

fn error_json(status: StatusCode, error: &str, path: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": error, "path": path })),
    )
        .into_response()
}
