//! The JSON answer of every refused or failed request, pages' included.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A JSON error: `{"error": ..., "path": ...}`.
pub(crate) fn error_json(status: StatusCode, error: &str, path: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": error, "path": path })),
    )
        .into_response()
}
