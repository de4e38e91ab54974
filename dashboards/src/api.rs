//! Routes and the live/alert/ops handlers. The shared state and who is
//! calling are in `api/state.rs`, the JSON error in `api/error.rs`; the views
//! and their JSON are in `views/`.

pub(crate) mod error;
pub(crate) mod state;

pub(crate) use state::AppState;

use crate::alerts::AckError;
use crate::auth::User;
use crate::board::{LiveSnapshot, Push};
use crate::guard::{self, Guard};
use crate::i18n::{self, Lang};
use crate::metrics;
use crate::{assets, openapi, secure_headers, views};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use error::error_json;
use serde::Deserialize;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{Stream, StreamExt};

/// How long a browser waits before reconnecting a dropped event stream.
const RECONNECT: Duration = Duration::from_secs(3);

/// All routes of the web app, behind the Host and Origin checks (`guard`) and
/// with the security headers on every answer; `listen` is the address served.
pub(crate) fn routes(state: AppState, listen: Option<SocketAddr>) -> Router {
    let guard = Arc::new(Guard::new(Arc::clone(&state.access), listen));
    Router::new()
        .route("/", get(views::operator::page))
        .route("/manager", get(views::manager::page))
        .route("/manager/heatmap.svg", get(views::manager::heatmap))
        .route("/manager/free-hours", get(views::manager::free::page))
        .route("/devices", get(views::devices::page))
        .route("/api/devices", get(views::devices::api))
        .route("/evaluator", get(views::evaluator::page))
        .route("/evaluator/monthly", get(views::evaluator::monthly::page))
        .route("/help/metrics", get(views::help::metrics))
        .route("/login", get(views::login::form).post(views::login::submit))
        .route(
            "/logout",
            get(views::login::logout_form).post(views::login::logout),
        )
        .route("/api/me", get(me))
        .route("/api/live", get(live))
        .route("/api/live/events", get(events))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/{id}/ack", post(ack))
        .route("/api/manager/rooms", get(views::manager::rooms_api))
        .route("/api/manager/room", get(views::manager::room_api))
        .route("/api/manager/free_hours", get(views::manager::free::api))
        .route("/api/evaluator/sites", get(views::evaluator::sites_api))
        .route(
            "/api/evaluator/left_out",
            get(views::evaluator::left_out_api),
        )
        .route("/api/openapi.json", get(openapi::document))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus))
        // Browsers ask for it; an empty answer keeps their consoles free of 404s.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .merge(assets::routes())
        .layer(middleware::from_fn_with_state(guard, guard::check))
        // Outermost, so the guard's refusals carry the headers too.
        .layer(middleware::map_response(secure_headers::add))
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.api_user(&headers) {
        Ok(user) => Json(serde_json::json!({
            "user": user,
            "auth": !state.access.is_open(),
        }))
        .into_response(),
        Err(r) => r,
    }
}

/// The snapshot, with only the sites `user` may see.
pub(crate) fn scoped_snapshot(state: &AppState, user: &User) -> LiveSnapshot {
    let mut snap = state.board.snapshot();
    let registry = state.board.registry();
    snap.sites
        .retain(|s| registry.sites.iter().any(|r| r.id == s.id && user.sees(r)));
    snap
}

async fn live(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.api_user(&headers) {
        Ok(user) => Json(scoped_snapshot(&state, &user)).into_response(),
        Err(r) => r,
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if metrics::ready(&state.ready, state.status.as_deref()) {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn prometheus(State(state): State<AppState>) -> Response {
    let body = metrics::render(
        state.status.as_deref(),
        &state.board,
        &state.alerts,
        &state.ready,
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

async fn alerts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let user = match state.api_user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let _: Lang = i18n::negotiate(q.lang.as_deref(), &headers);
    let now = crate::time::rfc3339_ms(state.board.clock().now_ms());
    let list = state.alerts.list(|site| state.sees(&user, site));
    Json(serde_json::json!({ "now": now, "alerts": list })).into_response()
}

async fn ack(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<u64>) -> Response {
    let user = match state.api_user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !user.may_act() {
        return error_json(StatusCode::FORBIDDEN, "this role is read-only", "");
    }
    let now = state.board.clock().now_ms();
    match state
        .alerts
        .ack(id, &user.name, now, |s| state.sees(&user, s))
    {
        Ok(alert) => Json(alert).into_response(),
        Err(AckError::NotFound) => error_json(StatusCode::NOT_FOUND, "no such alert", ""),
        Err(AckError::Forbidden) => {
            error_json(StatusCode::FORBIDDEN, "the alert is of another site", "")
        }
    }
}

async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let user = match state.api_user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let registry = state.board.registry();
    let visible: Vec<bool> = registry.sites.iter().map(|s| user.sees(s)).collect();
    let pushes = state.board.subscribe().filter(move |p| match p {
        Push::Room(site, _) => visible.get(*site).copied().unwrap_or(false),
        Push::Resync => true,
    });
    let headers = [
        // Reverse proxies (nginx) would otherwise hold the events back.
        ("x-accel-buffering", "no"),
    ];
    let stream = push_events(pushes, state.stop);
    (headers, Sse::new(stream).keep_alive(KeepAlive::default())).into_response()
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
                Push::Room(_, json) => Event::default().data(&*json),
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
