//! The InfluxDB sink: live occupancy and the closed windows as InfluxDB points,
//! written in batches through the v2 write API (the `influxdb2` crate), with a
//! bounded disk spool that keeps them while the server is down.
//!
//! - [`point`] turns rows into points: measurements `room_live`, `room_hour`,
//!   `room_day`, `room_slot_day` and `site_day`, tagged with site, room and
//!   service category, in line protocol with millisecond timestamps.
//! - [`spool`] keeps batches the server did not take, as fsync'd segment files
//!   of line protocol under `<data_dir>/influx-spool/`, up to a byte bound.
//! - [`feed`] turns doorstep's rows into points and queues them without waiting.
//! - [`writer`] is the tokio task that batches, writes, backs off, spools and
//!   drains the spool, oldest first, before anything new.
//!
//! `docs/INFLUX.md` lists every measurement, tag and field.
//!
//! ```no_run
//! use analytics::influx::{InfluxConfig, InfluxWriter, point};
//! use std::sync::Arc;
//! # async fn run(registry: Arc<devices::Registry>, hour: devices::RoomWindow) -> Result<(), analytics::influx::Error> {
//! let config = InfluxConfig::new("http://127.0.0.1:8086", "pilot", "doorstep");
//! let writer = InfluxWriter::start(&config, None, std::path::Path::new("doorstep-data/influx-spool"))?;
//! writer.send(point::window(&registry, &hour, config.names)?)?;
//! writer.shutdown().await // writes what is buffered, or spools it
//! # }
//! ```

pub mod feed;
pub mod point;
pub mod spool;
pub mod writer;

pub use feed::Feed;
pub use point::Point;
pub use spool::Spool;
pub use writer::{InfluxWriter, PointSender};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

/// The folder of the spool under the data directory.
pub const SPOOL_DIR: &str = "influx-spool";

/// Settings of the InfluxDB sink (`[influx]` in the config file); the sink is
/// off when the section is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL of the server, `http://host:8086` (InfluxDB) or `http://host:8428` (VictoriaMetrics).
    pub url: String,
    /// Organization the bucket belongs to (VictoriaMetrics ignores it).
    pub org: String,
    /// Bucket the points go to.
    pub bucket: String,
    /// File holding the API token (first line); it must not be readable by group or others.
    /// None: no `Authorization` header (a VictoriaMetrics without auth).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Points per write request at most.
    #[serde(default = "default_batch_points")]
    pub batch_points: usize,
    /// A batch that is not full is written after this many milliseconds.
    #[serde(default = "default_flush_ms")]
    pub flush_ms: u64,
    /// Bytes of line protocol the disk spool may hold while the server is down;
    /// points beyond it are dropped, counted and logged as errors.
    #[serde(default = "default_max_spool_bytes")]
    pub max_spool_bytes: u64,
    /// Longest wait between two attempts while the server is down, milliseconds
    /// (the wait starts at 500 ms and doubles).
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Give up on one write request after this many milliseconds (then retry).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Points that may wait for the writer; beyond them new points are dropped
    /// and counted (`overflowed`), so that no other part of doorstep ever waits
    /// for InfluxDB.
    #[serde(default = "default_queue_points")]
    pub queue_points: usize,
    /// Also tag points with the Chinese display names (`site_name`, `room_name`).
    #[serde(default = "default_names")]
    pub names: bool,
}

fn default_batch_points() -> usize {
    5_000
}
fn default_flush_ms() -> u64 {
    1_000
}
fn default_max_spool_bytes() -> u64 {
    1 << 30
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_queue_points() -> usize {
    262_144
}
fn default_names() -> bool {
    true
}

impl InfluxConfig {
    /// A config with the given server, organization and bucket and every default.
    pub fn new(url: &str, org: &str, bucket: &str) -> InfluxConfig {
        InfluxConfig {
            url: url.to_owned(),
            org: org.to_owned(),
            bucket: bucket.to_owned(),
            token_file: None,
            batch_points: default_batch_points(),
            flush_ms: default_flush_ms(),
            max_spool_bytes: default_max_spool_bytes(),
            max_backoff_ms: default_max_backoff_ms(),
            timeout_ms: default_timeout_ms(),
            queue_points: default_queue_points(),
            names: default_names(),
        }
    }
}

/// Counters of the sink, for logs and a `/metrics` endpoint.
#[derive(Debug, Default)]
pub struct InfluxStats {
    /// Points the server accepted.
    pub written: AtomicU64,
    /// Points put in the disk spool (while the server was down, or behind spooled ones).
    pub spooled: AtomicU64,
    /// Points dropped because the spool was full (`max_spool_bytes`).
    pub dropped: AtomicU64,
    /// Points dropped because the writer's queue was full (`queue_points`).
    pub overflowed: AtomicU64,
    /// Points the server refused as malformed (HTTP 400 and the like), dropped.
    pub rejected: AtomicU64,
    /// Failed write attempts that will be tried again.
    pub retries: AtomicU64,
    /// Bytes in the spool now.
    pub spool_bytes: AtomicU64,
}

/// Errors of the InfluxDB sink.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `[influx]` settings cannot work.
    #[error("[influx] {0}")]
    Config(String),
    /// A file of the spool could not be read or written.
    #[error("InfluxDB spool {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A row points to a room or site the registry does not have.
    #[error("{what} index {index} is not in the registry")]
    NotInRegistry {
        /// `room` or `site`.
        what: &'static str,
        /// The index.
        index: u32,
    },
    /// The writer task has stopped (it failed or was shut down).
    #[error("the InfluxDB writer has stopped")]
    Stopped,
}

/// Result of the InfluxDB sink.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}
