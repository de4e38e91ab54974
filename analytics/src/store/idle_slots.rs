//! The `idle_slots` table: idle blocks (错时 candidates) of a room over the
//! flags' lookback, evaluated on a local day.

use super::columns::{self, Column, date, opt, req, utf8};
use super::error::{Error, Result};
use super::partition::Table;
use super::room;
use arrow::array::RecordBatch;
use arrow::datatypes::{Float64Type, SchemaRef, UInt8Type, UInt16Type, UInt64Type};
use chrono::NaiveDate;
use devices::{IdleSlot, Registry, Site};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Directory name of the table under the store root.
pub const TABLE: &str = "idle_slots";

pub(crate) const SPEC: Table = Table {
    name: TABLE,
    sort_by: &["site_id", "room_id", "day", "weekday", "start_hour"],
    plain: &[],
};

struct Row<'a> {
    site: &'a Site,
    room: &'a devices::Room,
    day: NaiveDate,
    s: &'a IdleSlot,
}

type Key<'a> = (
    &'a str,
    &'a str,
    NaiveDate,
    u8,
    u8,
    u8,
    u16,
    u64,
    u64,
    u64,
    u16,
);

impl Row<'_> {
    fn key(&self) -> Key<'_> {
        let s = self.s;
        (
            &self.site.id,
            &self.room.id,
            self.day,
            s.weekday,
            s.start_hour,
            s.end_hour,
            s.lookback_days,
            s.open_seconds,
            s.measured_seconds,
            s.occupied_seconds,
            s.revision,
        )
    }
}

fn columns<'a>() -> Vec<Column<'a, Row<'a>>> {
    vec![
        utf8("site_id", |r: &Row| &r.site.id),
        utf8("room_id", |r: &Row| &r.room.id),
        utf8("site_name", |r: &Row| &r.site.name),
        utf8("room_name", |r: &Row| &r.room.name),
        date("day", |r: &Row| r.day),
        req::<Row, UInt8Type>("weekday", |r| r.s.weekday),
        req::<Row, UInt8Type>("start_hour", |r| r.s.start_hour),
        req::<Row, UInt8Type>("end_hour", |r| r.s.end_hour),
        req::<Row, UInt8Type>("hours", |r| r.s.hours()),
        req::<Row, UInt16Type>("lookback_days", |r| r.s.lookback_days),
        req::<Row, UInt64Type>("open_seconds", |r| r.s.open_seconds),
        req::<Row, UInt64Type>("measured_seconds", |r| r.s.measured_seconds),
        req::<Row, UInt64Type>("occupied_seconds", |r| r.s.occupied_seconds),
        opt::<Row, Float64Type>("coverage", |r| r.s.coverage()),
        opt::<Row, Float64Type>("time_utilization", |r| r.s.time_utilization()),
        columns::version(),
        columns::revision(|r: &Row| r.s.revision),
    ]
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| columns::schema(&columns()));

/// The Arrow schema of `idle_slots` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Groups idle slots by the local date they were evaluated for, one sorted batch per date.
pub(crate) fn batches(
    registry: &Registry,
    slots: &[IdleSlot],
) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    let mut by_date: BTreeMap<NaiveDate, Vec<Row>> = BTreeMap::new();
    for s in slots {
        let room = room(registry, s.room)?;
        let site = registry.site(room.site);
        let day = chrono::DateTime::from_timestamp(s.day, 0)
            .ok_or(Error::TimeOutOfRange {
                table: TABLE,
                field: "day",
                value: s.day,
            })?
            .with_timezone(&site.timezone)
            .date_naive();
        by_date
            .entry(day)
            .or_default()
            .push(Row { site, room, day, s });
    }
    columns::dated_batches(TABLE, schema(), &columns(), by_date, |a, b| {
        a.key().cmp(&b.key())
    })
}
