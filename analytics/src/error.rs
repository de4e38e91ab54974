//! The one error type of the crate.

use std::path::PathBuf;

/// Why rows could not be stored.
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
    /// A `room_hour` window that ends before it starts.
    #[error("room_hour: window of site {site:?} room {room:?} is empty: start {start}, end {end}")]
    EmptyWindow {
        /// Site id.
        site: String,
        /// Room id.
        room: String,
        /// Window start, Unix seconds.
        start: i64,
        /// Window end, Unix seconds.
        end: i64,
    },
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}
