//! CSV downloads that are safe to open in a spreadsheet.
//!
//! A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a
//! formula (and skips a leading tab or carriage return before looking), so a
//! site or room name such as `=HYPERLINK(...)` would run on the evaluator's
//! machine. Following OWASP's CSV injection rule, such text cells get a
//! leading `'`. Numbers are written as they are, so `-3.5` stays a number;
//! only cells of number values are exempt, never text that looks like one
//! (a site id `-1` is text). Numbers are rounded as a reader needs them:
//! fractions to 4 decimals (a hundredth of a percent), other numbers to 2.

use crate::views::cell_text;
use analytics::report::{Kind, Table, Value};
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A text cell: neutralised if a spreadsheet would read it as a formula,
/// quoted if it holds a separator, a quote or a line break.
pub(crate) fn text(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        quote(&format!("'{cell}"))
    } else {
        quote(cell)
    }
}

/// A number cell, as it is.
pub(crate) fn number(n: impl std::fmt::Display) -> String {
    quote(&n.to_string())
}

fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// `f` rounded to `places` decimals.
fn rounded(f: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (f * scale).round() / scale
}

fn value(v: &Value, kind: Kind) -> String {
    match v {
        Value::Int(i) => number(i),
        Value::Float(f) if f.is_finite() => {
            number(rounded(*f, if kind == Kind::Fraction { 4 } else { 2 }))
        }
        // Text, and anything else written as text (dates, `NaN`, `-inf`).
        v => text(&cell_text(v)),
    }
}

/// One line, with its CRLF.
pub(crate) fn line(cells: impl IntoIterator<Item = String>) -> String {
    let mut out = cells.into_iter().collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

/// A report table as CSV (header of column names; empty fields are nulls).
pub(crate) fn table(table: &Table) -> String {
    let mut out = line(table.columns.iter().map(|c| text(&c.name)));
    for row in &table.rows {
        let kinds = table.columns.iter().map(|c| c.kind);
        out.push_str(&line(row.iter().zip(kinds).map(|(v, k)| value(v, k))));
    }
    out
}

/// A CSV download.
pub(crate) fn response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        // A BOM, so spreadsheet programs read the Chinese names as UTF-8.
        format!("\u{feff}{body}"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_in_text_are_neutralised() {
        for (cell, csv) in [
            ("=1+1", "'=1+1"),
            ("+86 21", "'+86 21"),
            ("-cmd", "'-cmd"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("=A1,B1", "\"'=A1,B1\""),
            ("长者食堂", "长者食堂"),
            ("a=b", "a=b"),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("", ""),
        ] {
            assert_eq!(text(cell), csv, "{cell:?}");
        }
    }

    #[test]
    fn numbers_stay_numbers() {
        assert_eq!(value(&Value::Float(-3.5), Kind::Float), "-3.5");
        assert_eq!(value(&Value::Int(-2), Kind::Float), "-2");
        assert_eq!(value(&Value::Text("-3.5".into()), Kind::Float), "'-3.5");
        assert_eq!(
            value(&Value::Float(f64::NEG_INFINITY), Kind::Float),
            "'-inf"
        );
        assert_eq!(value(&Value::Null, Kind::Float), "");
        assert_eq!(value(&Value::Bool(true), Kind::Float), "true");
        assert_eq!(value(&Value::Float(2.0 / 3.0), Kind::Float), "0.67");
        assert_eq!(value(&Value::Float(1.0 / 30.0), Kind::Fraction), "0.0333");
    }
}
