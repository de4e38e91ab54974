//! The rows the readers make, one device message each with where it came from,
//! and the helpers the fixed formats (`formats.rs`) and the mapped tables
//! (`read.rs`) share to read text, CSV records and cells.

use anyhow::anyhow;
use devices::Reason;
use serde_json::{Map, Value as Json};
use std::path::Path;

/// What a row becomes.
#[derive(Debug, Clone)]
pub enum Body {
    /// The fields of a native v1 message, without `ts` and `seq`.
    Native(Map<String, Json>),
    /// A vendor payload its codec rejected, kept whole.
    Rejected {
        /// The reason code.
        reason: Reason,
        /// What was wrong.
        detail: String,
        /// The line as read.
        payload: Vec<u8>,
    },
}

/// One message from an input file.
#[derive(Debug, Clone)]
pub struct Row {
    /// Index of the file in the command line.
    pub file: usize,
    /// 1-based line in the file.
    pub line: u64,
    /// Event time, Unix ms (`None` for a vendor line whose time could not be read).
    pub time_ms: Option<i64>,
    /// The message.
    pub body: Body,
}

pub(super) fn bad(path: &Path, line: u64, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{}:{line}: {what}", path.display())
}

/// A count cell as JSON: a whole number when it is one, else the text (validation
/// rejects it as `wrong_type`); `None` when empty (`missing_field`).
pub(super) fn count_cell(text: &str) -> Option<Json> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(n) = t.parse::<i64>() {
        return Some(Json::from(n));
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Some(Json::from(f as i64))
        }
        _ => Some(Json::from(t)),
    }
}

pub(super) fn fields(kind: &str, pairs: &[(&str, Option<Json>)]) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("type".into(), Json::from(kind));
    for (k, v) in pairs {
        if let Some(v) = v {
            m.insert((*k).into(), v.clone());
        }
    }
    m
}

/// The file's text: a UTF-8 byte-order mark dropped, invalid UTF-8 an error.
pub(super) fn text_of(path: &Path, bytes: &[u8]) -> anyhow::Result<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        // Windows line endings: the csv reader takes them, but counts lines wrongly after them.
        Ok(t) => Ok(t.replace("\r\n", "\n")),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            Err(bad(path, line as u64, "not UTF-8 text (save it as UTF-8)"))
        }
    }
}

pub(super) fn reader(text: &str, headers: bool, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(headers)
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(delimiter)
        .from_reader(text.as_bytes())
}

pub(super) fn line_of(r: &csv::StringRecord) -> u64 {
    r.position().map_or(0, csv::Position::line)
}
