//! The views: HTML pages rendered on the server from `maud` templates
//! (manager, evaluator, login), the live page (rendered in the browser from
//! the JSON API), the shared page frame and the one HTML table renderer
//! (CSV: `crate::csv`).

pub(crate) mod charts;
pub(crate) mod devices;
pub(crate) mod evaluator;
pub(crate) mod frame;
pub(crate) mod help;
pub(crate) mod login;
pub(crate) mod manager;
pub(crate) mod operator;
pub(crate) mod table;

use crate::api::error::error_json;
use analytics::report::{Table, Value};
use axum::http::StatusCode;
use axum::response::Response;

/// A value as CSV writes it (fractions as fractions; empty for null).
pub(crate) fn cell_text(v: &Value) -> String {
    v.data_text().unwrap_or_default()
}

/// A report table as JSON objects, in column order.
pub(crate) fn table_json(table: &Table) -> Vec<serde_json::Map<String, serde_json::Value>> {
    table
        .rows
        .iter()
        .map(|row| {
            table
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| {
                    let json = match v {
                        Value::Null => serde_json::Value::Null,
                        Value::Text(s) => s.clone().into(),
                        Value::Int(i) => (*i).into(),
                        Value::Float(f) => serde_json::Number::from_f64(*f)
                            .map_or(serde_json::Value::Null, Into::into),
                        Value::Bool(b) => (*b).into(),
                        Value::Date(d) => d.to_string().into(),
                    };
                    (c.name.clone(), json)
                })
                .collect()
        })
        .collect()
}

/// 403 for a view the role may not open.
pub(crate) fn forbidden(what: &str) -> Response {
    error_json(StatusCode::FORBIDDEN, what, "")
}

/// Runs blocking report code off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::warn!(error = %e, "a report task failed");
        error_json(StatusCode::INTERNAL_SERVER_ERROR, "report failed", "")
    })
}
