//! Reports read back from the stored tables: rooms with their flags
//! ([`underuse`]), a room's weekday x hour use and its idle blocks ([`slots`]),
//! and sites compared for evaluators ([`compare`]). `docs/REPORTS.md` gives
//! every column and how each number is aggregated (METRICS.md v1).
//!
//! Reports stream over the Hive date partitions of their window, read only the
//! columns they need, keep the highest `revision` of each key within a
//! partition (all revisions of a row live in the same partition), and sum the
//! exact sums before dividing, never averaging ratios.
//!
//! ```
//! use analytics::report::{self, Lang, Window};
//! use chrono::NaiveDate;
//!
//! let dir = tempfile::tempdir().unwrap();
//! // An empty data directory has no site days to compare.
//! let err = report::compare::run(dir.path(), None, &Window::default(), &Default::default(), Lang::Zh);
//! assert!(matches!(err, Err(report::Error::NoData { .. })));
//!
//! // The default window: the 28 days ending at the latest day present.
//! let latest = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
//! let (from, to) = Window::default().resolve(Some(latest)).unwrap().unwrap();
//! assert_eq!((from, to), (NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(), latest));
//! ```

mod columnar;
pub mod compare;
pub mod day_flags;
pub mod free_hours;
mod grid;
mod idle_blocks;
pub(crate) mod read;
pub mod render;
mod site_sums;
pub mod slots;
mod svg;
mod table;
pub mod underuse;

pub use render::Format;
pub use table::{Column, Kind, Output, Table, Value};

use chrono::{Duration, NaiveDate};
use std::path::PathBuf;

/// Days in the default window, the flags' default lookback L (METRICS.md).
pub const DEFAULT_DAYS: u32 = 28;

/// Sites are compared only on windows where their coverage reaches this (METRICS.md).
pub const MIN_COVERAGE: f64 = 0.8;

/// Why a report could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A Parquet file could not be read or written.
    #[error("{path}: Parquet: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// A batch could not be read or built.
    #[error("{path}: Arrow: {source}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: arrow::error::ArrowError,
    },
    /// A stored file lacks a column the report needs, or has it with another type.
    #[error("{path}: no column {column} of type {expected} (is it a doorstep {table} file?)")]
    Column {
        /// The file.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The Arrow type expected.
        expected: &'static str,
    },
    /// The table has no date partition to report on.
    #[error(
        "no {table} data under {dir} (is --data the pipeline's data_dir? tables appear once days close)"
    )]
    NoData {
        /// The table looked for.
        table: &'static str,
        /// The data directory.
        dir: PathBuf,
    },
    /// `--from` after `--to`.
    #[error("the window starts ({from}) after it ends ({to})")]
    BadWindow {
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
    },
    /// The room has no hours in the window.
    #[error("no room_hour rows of room {room:?} in site {site:?} from {from} to {to}")]
    NoRoom {
        /// Site id.
        site: String,
        /// Room id.
        room: String,
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
    },
    /// The site is not in the registry.
    #[error("site {0:?} is not in the registry (doorstep registry check lists its sites)")]
    UnknownSite(String),
    /// Parquet output needs a file.
    #[error("--format parquet writes a file: add --output FILE")]
    ParquetNeedsFile,
    /// CSV could not be written.
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
    /// JSON could not be written.
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The SVG heatmap could not be drawn.
    #[error("{path}: cannot draw the heatmap: {message}")]
    Svg {
        /// The SVG file.
        path: PathBuf,
        /// What the plotting library said.
        message: String,
    },
}

/// A `Result` with the report [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The language of reasons, weekday names and table headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Chinese (the default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// `zh` or `en` text.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// The window of local dates a report covers, both ends included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// First local date; default: `DEFAULT_DAYS - 1` days before `to`.
    pub from: Option<NaiveDate>,
    /// Last local date; default: the latest date present in the report's table.
    pub to: Option<NaiveDate>,
}

impl Window {
    /// The first and last date, given the latest date the table holds (`None`: no data).
    pub fn resolve(&self, latest: Option<NaiveDate>) -> Option<Result<(NaiveDate, NaiveDate)>> {
        let to = self.to.or(latest)?;
        let from = self
            .from
            .unwrap_or_else(|| to - Duration::days(i64::from(DEFAULT_DAYS) - 1));
        Some(if from > to {
            Err(Error::BadWindow { from, to })
        } else {
            Ok((from, to))
        })
    }
}

/// The latest local date of `table` under `root` (`None`: no partition yet).
pub fn latest_date(root: &std::path::Path, table: &str) -> Result<Option<NaiveDate>> {
    Ok(read::dates(root, table)?.last().copied())
}

/// The resolved window, or [`Error::NoData`] when the table has no partition.
pub(crate) fn window_of(
    window: &Window,
    root: &std::path::Path,
    tables: &[&'static str],
) -> Result<(NaiveDate, NaiveDate)> {
    let mut latest = None;
    for table in tables {
        latest = latest.max(read::dates(root, table)?.last().copied());
    }
    let none = || Error::NoData {
        table: tables[0],
        dir: root.to_owned(),
    };
    match window.resolve(latest) {
        Some(r) => r,
        None => Err(none()),
    }
}

/// Weekday names, 1 = Monday (ISO 8601).
pub(crate) fn weekday_name(weekday: u8, lang: Lang) -> &'static str {
    const ZH: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
    const EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let i = usize::from(weekday.clamp(1, 7) - 1);
    match lang {
        Lang::Zh => ZH[i],
        Lang::En => EN[i],
    }
}

/// `num / den`, `None` when `den` is 0.
pub(crate) fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Site metadata the tables may lack: a registry's sites by id.
pub(crate) struct SiteMeta<'a> {
    pub name: &'a str,
    pub city: &'a str,
    pub district: &'a str,
}

/// The registry's site `id`, if a registry was given.
pub(crate) fn registry_site<'a>(
    registry: Option<&'a devices::Registry>,
    id: &str,
) -> Option<SiteMeta<'a>> {
    let site = registry?.sites.iter().find(|s| s.id == id)?;
    Some(SiteMeta {
        name: &site.name,
        city: &site.city,
        district: &site.district,
    })
}

/// `text` unless empty, else `fallback`.
pub(crate) fn or_else<'a>(text: &'a str, fallback: Option<&'a str>) -> &'a str {
    if text.is_empty() {
        fallback.unwrap_or("")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).expect("date")
    }

    #[test]
    fn default_window_is_28_days_ending_at_the_latest_day() {
        let w = Window::default();
        assert_eq!(
            w.resolve(Some(d(11, 28))).expect("data").expect("ok"),
            (d(11, 1), d(11, 28))
        );
        assert!(w.resolve(None).is_none(), "no data, no window");
    }

    #[test]
    fn window_ends_given_alone() {
        let to_only = Window {
            from: None,
            to: Some(d(11, 10)),
        };
        assert_eq!(
            to_only.resolve(None).expect("given").expect("ok"),
            (d(10, 14), d(11, 10))
        );
        let from_only = Window {
            from: Some(d(11, 5)),
            to: None,
        };
        assert_eq!(
            from_only
                .resolve(Some(d(11, 9)))
                .expect("data")
                .expect("ok"),
            (d(11, 5), d(11, 9))
        );
        let backwards = Window {
            from: Some(d(11, 12)),
            to: Some(d(11, 10)),
        };
        assert!(matches!(
            backwards.resolve(None),
            Some(Err(Error::BadWindow { .. }))
        ));
    }

    #[test]
    fn weekday_names() {
        assert_eq!(weekday_name(1, Lang::Zh), "周一");
        assert_eq!(weekday_name(7, Lang::En), "Sun");
    }
}
