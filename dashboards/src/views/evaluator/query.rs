//! The evaluator view's request: which sites to compare (city, district,
//! category), in which language and format.

use crate::api::error::error_json;
use crate::i18n::{self, Lang};
use crate::local_path::url_encode;
use analytics::report::compare;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use devices::Category;
use serde::Deserialize;

/// `?city=&district=&category=&lang=&format=` of the evaluator's page and API.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct EvaluatorQuery {
    /// Only the sites of this city.
    pub(super) city: Option<String>,
    /// Only the sites of this district.
    pub(super) district: Option<String>,
    /// Only rooms of this service category (`devices::Category`).
    pub(super) category: Option<String>,
    /// What to rank by (`time_utilization`, `capacity_utilization`, `visits_per_day`, `visits_per_100m2_day`).
    pub(super) rank_by: Option<String>,
    /// `zh` or `en`; else from `Accept-Language`.
    pub(super) lang: Option<String>,
    /// `csv` for a download.
    pub(super) format: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

impl EvaluatorQuery {
    /// The language of the answer.
    pub(super) fn lang(&self, headers: &HeaderMap) -> Lang {
        i18n::negotiate(self.lang.as_deref(), headers)
    }

    /// Whether a CSV download is asked for.
    pub(super) fn csv(&self) -> bool {
        self.format.as_deref() == Some("csv")
    }

    /// The comparison's filter; 400 for an unknown category.
    pub(super) fn filter(&self) -> Result<compare::Filter, Response> {
        let category = match nonempty(&self.category) {
            Some(c) => Some(
                c.parse::<Category>()
                    .map_err(|_| error_json(StatusCode::BAD_REQUEST, "unknown category", ""))?,
            ),
            None => None,
        };
        let rank_by = match nonempty(&self.rank_by) {
            Some(r) => compare::RankBy::parse(&r).ok_or_else(|| {
                error_json(StatusCode::BAD_REQUEST, "unknown rank_by", "time_utilization, capacity_utilization, visits_per_day or visits_per_100m2_day")
            })?,
            None => compare::RankBy::default(),
        };
        Ok(compare::Filter {
            city: nonempty(&self.city),
            district: nonempty(&self.district),
            category,
            rank_by,
        })
    }

    /// The filters as a query string (`city=..&district=..&category=..&rank_by=..`), for links.
    pub(super) fn filters(&self) -> String {
        format!(
            "city={}&district={}&category={}&rank_by={}",
            url_encode(self.city.as_deref().unwrap_or("")),
            url_encode(self.district.as_deref().unwrap_or("")),
            url_encode(self.category.as_deref().unwrap_or("")),
            url_encode(self.rank_by.as_deref().unwrap_or(""))
        )
    }

    /// What the sites are ranked by (the default for an unknown choice: the API refuses it).
    pub(super) fn rank_by(&self) -> compare::RankBy {
        self.rank_by
            .as_deref()
            .and_then(compare::RankBy::parse)
            .unwrap_or_default()
    }
}
