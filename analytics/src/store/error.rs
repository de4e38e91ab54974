//! The one error type of the store.

use std::path::PathBuf;

/// Why rows could not be stored or read back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be created, written, synced or renamed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The Parquet writer failed.
    #[error("{path}: cannot write Parquet: {source}")]
    Parquet {
        /// The file being written (its `.tmp` name).
        path: PathBuf,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// The rows did not fit the table's Arrow schema (a bug in this crate).
    #[error("cannot build a {table} batch: {source}")]
    Arrow {
        /// The table.
        table: &'static str,
        /// The cause.
        source: arrow::error::ArrowError,
    },
    /// A row names a room or device index that the store's registry does not have:
    /// the rows were made with another registry.
    #[error("{what} index {index} is not in the registry")]
    NotInRegistry {
        /// `room` or `device`.
        what: &'static str,
        /// The index.
        index: u32,
    },
    /// A time that no calendar can show (beyond year ±262,000).
    #[error("{table}: {field} {value} is out of range")]
    TimeOutOfRange {
        /// The table.
        table: &'static str,
        /// The field.
        field: &'static str,
        /// The value as given (ms for readings, s for windows).
        value: i64,
    },
    /// A window that does not end after it starts.
    #[error(
        "{table}: window of {} is empty: start {start}, end {end}",
        place(.site, .room.as_deref())
    )]
    EmptyWindow {
        /// The table.
        table: &'static str,
        /// Site id.
        site: String,
        /// Room id; `None` for a site's window.
        room: Option<String>,
        /// Window start, Unix seconds.
        start: i64,
        /// Window end, Unix seconds.
        end: i64,
    },
    /// A room window handed to the writer of another kind's table (a day to
    /// `room_hour`, an hour to `room_day`, ...); `Store::write_windows` routes
    /// each kind to its table.
    #[error(
        "{table}: window of site {site:?} room {room:?} starting {start} is a {kind:?} window, not one of this table"
    )]
    WrongWindowKind {
        /// The table written to.
        table: &'static str,
        /// Site id.
        site: String,
        /// Room id.
        room: String,
        /// Window start, Unix seconds.
        start: i64,
        /// The window's kind.
        kind: devices::WindowKind,
    },
    /// Stored rows could not be read back through the reports' reader
    /// (`Store::read_lookback` reads the window tables with it).
    #[error(transparent)]
    Read(#[from] crate::report::Error),
}

fn place(site: &str, room: Option<&str>) -> String {
    match room {
        Some(room) => format!("site {site:?} room {room:?}"),
        None => format!("site {site:?}"),
    }
}

/// A `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}
