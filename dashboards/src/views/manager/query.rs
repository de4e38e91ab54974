//! The manager view's request: which sites or which room, in which language
//! and format, checked against what the user may see.

use crate::api::error::error_json;
use crate::api::state::AppState;
use crate::auth::User;
use crate::i18n::{self, Lang};
use crate::local_path::url_encode;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

/// `?site=&district=&room=&lang=&format=` of the manager's pages and API.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct ManagerQuery {
    /// One site; empty or absent: every site the user sees (of `district`).
    pub(super) site: Option<String>,
    /// The sites of one district.
    pub(super) district: Option<String>,
    /// One room of `site`, shown in detail.
    pub(super) room: Option<String>,
    /// `zh` or `en`; else from `Accept-Language`.
    pub(super) lang: Option<String>,
    /// `csv` for a download.
    pub(super) format: Option<String>,
}

fn not_allowed() -> Response {
    error_json(StatusCode::FORBIDDEN, "not allowed to see this site", "")
}

impl ManagerQuery {
    /// The language of the answer.
    pub(super) fn lang(&self, headers: &HeaderMap) -> Lang {
        i18n::negotiate(self.lang.as_deref(), headers)
    }

    /// Whether a CSV download is asked for.
    pub(super) fn csv(&self) -> bool {
        self.format.as_deref() == Some("csv")
    }

    /// The site asked for, when one is.
    pub(super) fn site(&self) -> Option<&str> {
        self.site.as_deref().filter(|s| !s.is_empty())
    }

    /// The district asked for, when one is.
    pub(super) fn district(&self) -> Option<&str> {
        self.district.as_deref().filter(|d| !d.is_empty())
    }

    /// The ids of the sites asked for among those `user` sees; 403 for a
    /// named site the user may not see.
    pub(super) fn sites(&self, state: &AppState, user: &User) -> Result<Vec<String>, Response> {
        if let Some(site) = self.site() {
            if !state.sees(user, site) {
                return Err(not_allowed());
            }
            return Ok(vec![site.to_owned()]);
        }
        let district = self.district();
        Ok(state
            .board
            .registry()
            .sites
            .iter()
            .filter(|s| user.sees(s) && district.is_none_or(|d| s.district == d))
            .map(|s| s.id.clone())
            .collect())
    }

    /// The (site, room) asked for: 400 without both, 403 for a site the user
    /// may not see.
    pub(super) fn room(&self, state: &AppState, user: &User) -> Result<(String, String), Response> {
        let (Some(site), Some(room)) = (self.site.clone(), self.room.clone()) else {
            return Err(error_json(
                StatusCode::BAD_REQUEST,
                "site and room are required",
                "",
            ));
        };
        if !state.sees(user, &site) {
            return Err(not_allowed());
        }
        Ok((site, room))
    }

    /// The filters as a query string (`site=..&district=..`), for links.
    pub(super) fn filters(&self) -> String {
        format!(
            "site={}&district={}",
            url_encode(self.site.as_deref().unwrap_or("")),
            url_encode(self.district.as_deref().unwrap_or(""))
        )
    }
}
