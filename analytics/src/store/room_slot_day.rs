//! The `room_slot_day` table: the metrics of METRICS.md for one (room, service
//! category) slot over one local day; the slot's opening time is the part of
//! the room's schedule that hosts the category.

use super::columns::{self, Column, utf8};
use super::error::Result;
use super::partition::Table;
use super::room_day::weekday;
use super::window::{self, AfterHours, Layout, Row};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use devices::{Registry, RoomWindow, WindowKind};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Directory name of the table under the store root.
pub const TABLE: &str = "room_slot_day";

pub(crate) const LAYOUT: Layout = Layout {
    spec: Table {
        name: TABLE,
        sort_by: &["site_id", "room_id", "day_start", "category"],
        plain: &[],
    },
    start: "day_start",
    end: "day_end",
    accepts: |k| matches!(k, WindowKind::SlotDay(_)),
};

fn columns<'a>() -> Vec<Column<'a, Row<'a>>> {
    let mut c = window::ids();
    c.push(utf8("category", |r: &Row| r.category().unwrap_or_default()));
    c.extend(window::span(&LAYOUT));
    c.push(weekday());
    c.extend(window::metrics(AfterHours::None));
    c.push(columns::version());
    c.push(columns::revision(|r: &Row| r.w.revision));
    c
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| columns::schema(&columns()));

/// The Arrow schema of `room_slot_day` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Slot-day windows grouped by the local date of their start, one sorted batch per date.
pub(crate) fn batches<'a>(
    registry: &'a Registry,
    windows: impl IntoIterator<Item = &'a RoomWindow>,
) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    window::batches(&LAYOUT, schema(), &columns(), registry, windows)
}
