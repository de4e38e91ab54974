//! The `device_day` table: each device over one local day (device health).

use super::columns::{self, Column, boolean, date, instant, opt, req, utf8};
use super::error::{Error, Result};
use super::partition::Table;
use super::room;
use arrow::array::RecordBatch;
use arrow::datatypes::{Float64Type, SchemaRef, UInt8Type, UInt32Type};
use chrono::NaiveDate;
use devices::{Device, DeviceDay, Registry, Site};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Directory name of the table under the store root.
pub const TABLE: &str = "device_day";

pub(crate) const SPEC: Table = Table {
    name: TABLE,
    sort_by: &["site_id", "device_id", "day_start"],
    plain: &[],
};

struct Row<'a> {
    site: &'a Site,
    room: &'a devices::Room,
    device: &'a Device,
    day: NaiveDate,
    d: &'a DeviceDay,
}

type Key<'a> = (
    &'a str,
    &'a str,
    i64,
    i64,
    u32,
    u32,
    u32,
    Option<u8>,
    Option<u32>,
    bool,
    u32,
    u16,
);

impl Row<'_> {
    fn key(&self) -> Key<'_> {
        let d = self.d;
        (
            &self.site.id,
            &self.device.id,
            d.start,
            d.end,
            d.open_seconds,
            d.offline_seconds,
            d.reports,
            d.min_battery_pct,
            d.constant_count,
            d.stuck,
            d.implausible_counts,
            d.revision,
        )
    }
}

fn columns<'a>() -> Vec<Column<'a, Row<'a>>> {
    vec![
        utf8("site_id", |r: &Row| &r.site.id),
        utf8("device_id", |r: &Row| &r.device.id),
        utf8("room_id", |r: &Row| &r.room.id),
        utf8("kind", |r: &Row| r.device.kind.as_str()),
        date("day", |r: &Row| r.day),
        instant("day_start", |r: &Row| r.d.start),
        instant("day_end", |r: &Row| r.d.end),
        req::<Row, UInt32Type>("open_seconds", |r| r.d.open_seconds),
        req::<Row, UInt32Type>("offline_seconds", |r| r.d.offline_seconds),
        opt::<Row, Float64Type>("offline_share", |r| r.d.offline_share()),
        req::<Row, UInt32Type>("reports", |r| r.d.reports),
        opt::<Row, UInt8Type>("min_battery_pct", |r| r.d.min_battery_pct),
        opt::<Row, UInt32Type>("constant_count", |r| r.d.constant_count),
        boolean("stuck", |r: &Row| r.d.stuck),
        req::<Row, UInt32Type>("implausible_counts", |r| r.d.implausible_counts),
        columns::version(),
        columns::revision(|r: &Row| r.d.revision),
    ]
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| columns::schema(&columns()));

/// The Arrow schema of `device_day` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Groups device days by their local date, one sorted batch per date.
pub(crate) fn batches(
    registry: &Registry,
    days: &[DeviceDay],
) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    let mut by_date: BTreeMap<NaiveDate, Vec<Row>> = BTreeMap::new();
    for d in days {
        let room = room(registry, d.room)?;
        let site = registry.site(room.site);
        let device = registry
            .devices
            .get(d.device.ix())
            .ok_or(Error::NotInRegistry {
                what: "device",
                index: d.device.0,
            })?;
        chrono::DateTime::from_timestamp(d.end, 0).ok_or(Error::TimeOutOfRange {
            table: TABLE,
            field: "day_end",
            value: d.end,
        })?;
        let day = chrono::DateTime::from_timestamp(d.start, 0)
            .ok_or(Error::TimeOutOfRange {
                table: TABLE,
                field: "day_start",
                value: d.start,
            })?
            .with_timezone(&site.timezone)
            .date_naive();
        by_date.entry(day).or_default().push(Row {
            site,
            room,
            device,
            day,
            d,
        });
    }
    columns::dated_batches(TABLE, schema(), &columns(), by_date, |a, b| {
        a.key().cmp(&b.key())
    })
}
