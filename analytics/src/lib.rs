//! What doorstep keeps and reads back, in three modules with one error type
//! each:
//!
//! - [`store`]: the Parquet tables the pipeline writes ([`Store`], [`Error`]);
//! - [`report`]: reports read back from those tables ([`report::Error`]);
//! - [`influx`]: the same rows sent to InfluxDB as points, spooled to disk
//!   while it is away ([`influx::Error`]).
//!
//! The store's items are re-exported here, so `analytics::Store` and
//! `analytics::room_day::TABLE` name the same things as their `store::` paths.
//!
//! ```
//! use analytics::{Store, report};
//! use devices::Registry;
//! use std::{path::Path, sync::Arc};
//!
//! let registry = Registry::from_toml(r#"
//!     [[site]]
//!     id = "s1"
//!     name = "示例社区"
//! "#, Path::new("example.toml")).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(&dir.path().join("data"), Arc::new(registry)).unwrap();
//!
//! // Reports read the store's directory, which holds no site days yet.
//! let window = report::Window::default();
//! let compared = report::compare::run(store.root(), None, &window, &Default::default(), report::Lang::En);
//! assert!(matches!(compared, Err(report::Error::NoData { .. })));
//! ```

pub mod influx;
pub mod report;
pub mod store;

pub use store::{
    Error, METRICS_VERSION, Result, Store, TABLES, Tidied, alerts, device_day, flags, idle_slots,
    imported, quarantine, raw_events, room_day, room_hour, room_slot_day, site_day, written,
};
