//! The managers' view: the rooms of a site or district with their time
//! utilization over 7 and 28 days, their flags and reasons, and per room the
//! weekday x hour heatmap, the idle blocks (错时 candidates) and a 28-day
//! trend. Everything comes from `analytics::report` (`slots`, `underuse`).
//!
//! [`query`] checks the request, [`data`] reads the reports into plain
//! structs, [`page`] is the HTML template; the handlers here join them.

mod data;
pub(crate) mod free;
mod page;
mod query;

use crate::api::error::error_json;
use crate::api::state::AppState;
use crate::auth::User;
use crate::i18n::{Lang, t};
use crate::local_path::url_encode;
use crate::views::{blocking, forbidden, frame::frame};
use analytics::report::slots;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use data::{RoomDetail, RoomRow};
use page::Room;
use query::ManagerQuery;

fn may_manage(user: &User) -> Result<(), Response> {
    if user.may_manage() {
        Ok(())
    } else {
        Err(forbidden("this role has no manager view"))
    }
}

/// The rooms the query selects.
async fn rooms(
    state: &AppState,
    user: &User,
    q: &ManagerQuery,
    lang: Lang,
) -> Result<Vec<RoomRow>, Response> {
    may_manage(user)?;
    let sites = q.sites(state, user)?;
    let Some(root) = state.data_dir.clone() else {
        return Ok(Vec::new());
    };
    let registry = state.board.registry();
    blocking(move || data::room_rows(&root, &registry, &sites, lang)).await
}

/// The room the query names, in detail.
async fn detail(
    state: &AppState,
    user: &User,
    q: &ManagerQuery,
    lang: Lang,
) -> Result<(RoomDetail, slots::Slots), Response> {
    may_manage(user)?;
    let (site, room) = q.room(state, user)?;
    let Some(root) = state.data_dir.clone() else {
        return Err(error_json(StatusCode::NOT_FOUND, "no data directory", ""));
    };
    let registry = state.board.registry();
    blocking(move || data::room_detail(&root, &registry, &site, &room, lang))
        .await?
        .map_err(|e| error_json(StatusCode::NOT_FOUND, &e.to_string(), ""))
}

/// `GET /api/manager/rooms`.
pub(crate) async fn rooms_api(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ManagerQuery>,
) -> Response {
    let user = match state.api_user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = q.lang(&headers);
    match rooms(&state, &user, &q, lang).await {
        Ok(rows) if q.csv() => {
            crate::csv::response("rooms", crate::csv::table(&data::rooms_table(&rows)))
        }
        Ok(rows) => Json(serde_json::json!({ "rooms": rows })).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/manager/room`.
pub(crate) async fn room_api(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ManagerQuery>,
) -> Response {
    let user = match state.api_user(&headers) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = q.lang(&headers);
    match detail(&state, &user, &q, lang).await {
        Ok((_, month)) if q.csv() => {
            let cells = month.output.tables.iter().find(|t| t.name == "cells");
            crate::csv::response("cells", cells.map(crate::csv::table).unwrap_or_default())
        }
        Ok((d, _)) => Json(d).into_response(),
        Err(r) => r,
    }
}

/// `GET /manager/heatmap.svg`: the `slots` heatmap of a room.
pub(crate) async fn heatmap(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ManagerQuery>,
) -> Response {
    let user = match state.page_user(&headers, &uri) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = q.lang(&headers);
    let month = match detail(&state, &user, &q, lang).await {
        Ok((_, m)) => m,
        Err(r) => return r,
    };
    match blocking(move || data::heatmap_svg(&month, lang)).await {
        Ok(Ok(svg)) => (
            [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
            svg,
        )
            .into_response(),
        Ok(Err(e)) => error_json(StatusCode::INTERNAL_SERVER_ERROR, &e, ""),
        Err(r) => r,
    }
}

/// `GET /manager`.
pub(crate) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ManagerQuery>,
) -> Response {
    let user = match state.page_user(&headers, &uri) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let lang = q.lang(&headers);
    let rows = match rooms(&state, &user, &q, lang).await {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    let room = match q.room {
        None => Room::NotAsked,
        Some(_) => match detail(&state, &user, &q, lang).await {
            Ok(shown) => Room::Shown(Box::new(shown)),
            Err(_) => Room::NoData,
        },
    };
    // One site chosen: its free hours too (the site was checked with the rooms).
    let free = match q.site() {
        Some(site) => free::report(&state, &user, site, lang).await.ok(),
        None => None,
    };
    let registry = state.board.registry();
    let sites: Vec<_> = registry.sites.iter().filter(|s| user.sees(s)).collect();
    let body = page::body(lang, &q, &sites, &rows, &room, free.as_ref());
    let query = format!(
        "{}&room={}",
        q.filters(),
        url_encode(q.room.as_deref().unwrap_or(""))
    );
    frame(
        &state,
        &user,
        lang,
        t(lang, "manager_title"),
        "/manager",
        &query,
        body,
    )
}
