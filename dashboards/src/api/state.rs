//! What the handlers share, and who is calling: an API caller or 401, a page
//! caller or a redirect to the login page.

use super::error::error_json;
use crate::Web;
use crate::alerts::Alerts;
use crate::auth::{Access, User};
use crate::board::LiveBoard;
use crate::local_path::url_encode;
use crate::metrics::{Readiness, StatusSource};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) board: Arc<LiveBoard>,
    pub(crate) access: Arc<Access>,
    pub(crate) alerts: Arc<Alerts>,
    pub(crate) ledger: Arc<crate::ledger::DeviceLedger>,
    pub(crate) data_dir: Option<Arc<PathBuf>>,
    pub(crate) status: Option<Arc<dyn StatusSource>>,
    pub(crate) ready: Readiness,
    /// The hours of a day the free-hours list covers.
    pub(crate) service_day: analytics::report::free_hours::ServiceDay,
    /// Changes to `true` when the server shuts down; event streams end then,
    /// or graceful shutdown would wait for them forever.
    pub(crate) stop: watch::Receiver<bool>,
}

impl AppState {
    pub(crate) fn new(web: Web, stop: watch::Receiver<bool>) -> AppState {
        AppState {
            board: web.board,
            access: Arc::new(web.access),
            alerts: web.alerts,
            ledger: web.ledger,
            data_dir: web.data_dir.map(Arc::new),
            status: web.status,
            ready: web.ready,
            service_day: web.service_day,
            stop,
        }
    }

    /// The caller of an API request, or 401.
    pub(crate) fn api_user(&self, headers: &HeaderMap) -> Result<User, Response> {
        self.access.caller(headers).ok_or_else(|| {
            let mut r = error_json(
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required",
                "",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"doorstep\""),
            );
            r
        })
    }

    /// The caller of a page, or a redirect to the login page.
    pub(crate) fn page_user(&self, headers: &HeaderMap, uri: &Uri) -> Result<User, Response> {
        self.access.caller(headers).ok_or_else(|| {
            let next = uri.path_and_query().map_or("/", |p| p.as_str());
            Redirect::to(&format!("/login?next={}", url_encode(next))).into_response()
        })
    }

    /// Whether `user` may see site `id`.
    pub(crate) fn sees(&self, user: &User, id: &str) -> bool {
        self.board
            .registry()
            .sites
            .iter()
            .any(|s| s.id == id && user.sees(s))
    }
}
