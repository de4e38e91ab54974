//! The `room_day` table: the metrics of METRICS.md for one room over one local day.

use super::columns::{self, Column, opt, req};
use super::error::Result;
use super::partition::Table;
use super::window::{self, AfterHours, Layout, Row};
use arrow::array::RecordBatch;
use arrow::datatypes::{SchemaRef, UInt8Type, UInt32Type};
use chrono::{Datelike, NaiveDate};
use devices::{Registry, RoomWindow, WindowKind};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Directory name of the table under the store root.
pub const TABLE: &str = "room_day";

pub(crate) const LAYOUT: Layout = Layout {
    spec: Table {
        name: TABLE,
        sort_by: &["site_id", "room_id", "day_start"],
        plain: &[],
    },
    start: "day_start",
    end: "day_end",
    accepts: |k| k == WindowKind::Day,
};

fn columns<'a>() -> Vec<Column<'a, Row<'a>>> {
    let mut c = window::ids();
    c.extend(window::span(&LAYOUT));
    c.push(weekday());
    c.extend(window::metrics(AfterHours::Own));
    c.push(opt::<Row, UInt32Type>("door_residual", |r| {
        r.w.door_residual
    }));
    c.push(columns::version());
    c.push(columns::revision(|r: &Row| r.w.revision));
    c
}

/// `weekday`: 1 = Monday ... 7 = Sunday, of the local day (shared with `room_slot_day`).
pub(crate) fn weekday<'a>() -> Column<'a, Row<'a>> {
    req::<Row, UInt8Type>("weekday", |r| {
        r.local_start.weekday().number_from_monday() as u8
    })
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| columns::schema(&columns()));

/// The Arrow schema of `room_day` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Day windows grouped by the local date of their start, one sorted batch per date.
pub(crate) fn batches<'a>(
    registry: &'a Registry,
    windows: impl IntoIterator<Item = &'a RoomWindow>,
) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    window::batches(&LAYOUT, schema(), &columns(), registry, windows)
}
