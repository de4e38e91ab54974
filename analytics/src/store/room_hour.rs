//! The `room_hour` table: the metrics of METRICS.md for one room over one local hour.

use super::columns::{self, Column, req};
use super::error::Result;
use super::partition::Table;
use super::window::{self, AfterHours, Layout, Row};
use arrow::array::RecordBatch;
use arrow::datatypes::{SchemaRef, UInt8Type};
use chrono::{NaiveDate, Timelike};
use devices::{Registry, RoomWindow, WindowKind};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Directory name of the table under the store root.
pub const TABLE: &str = "room_hour";

pub(crate) const LAYOUT: Layout = Layout {
    spec: Table {
        name: TABLE,
        sort_by: &["site_id", "room_id", "hour_start"],
        plain: &[],
    },
    start: "hour_start",
    end: "hour_end",
    accepts: |k| k == WindowKind::Hour,
};

fn columns<'a>() -> Vec<Column<'a, Row<'a>>> {
    let mut c = window::ids();
    c.extend(window::span(&LAYOUT));
    c.push(req::<Row, UInt8Type>("local_hour", |r| {
        r.local_start.hour() as u8
    }));
    c.extend(window::metrics(AfterHours::Own));
    c.push(columns::version());
    c.push(columns::revision(|r: &Row| r.w.revision));
    c
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| columns::schema(&columns()));

/// The Arrow schema of `room_hour` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Hour windows grouped by the local date of their start, one sorted batch per date.
pub(crate) fn batches<'a>(
    registry: &'a Registry,
    windows: impl IntoIterator<Item = &'a RoomWindow>,
) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    window::batches(&LAYOUT, schema(), &columns(), registry, windows)
}
