//! The OpenAPI 3 document of the API, written by hand and served as is;
//! a test checks that every path it lists is routed.

use axum::http::header;
use axum::response::IntoResponse;

/// The document.
pub const OPENAPI_JSON: &str = include_str!("assets/openapi.json");

/// `GET /api/openapi.json`.
pub(crate) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
