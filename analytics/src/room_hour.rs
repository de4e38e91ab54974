//! The `room_hour` table: the metrics of METRICS.md for one room over one hour.

use crate::error::{Error, Result};
use crate::partition::Table;
use crate::{METRICS_VERSION, room};
use arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt8Array,
    UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{NaiveDate, Timelike};
use devices::{Registry, RoomWindow};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

/// Directory name of the table under the store root.
pub const TABLE: &str = "room_hour";

pub(crate) const SPEC: Table = Table {
    name: TABLE,
    sort_by: &["site_id", "room_id", "hour_start"],
    plain: &[],
};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let f = |name: &str, ty: DataType, nullable: bool| Field::new(name, ty, nullable);
    Arc::new(Schema::new(vec![
        f("site_id", DataType::Utf8, false),
        f("room_id", DataType::Utf8, false),
        f("hour_start", ts(), false),
        f("hour_end", ts(), false),
        f("local_hour", DataType::UInt8, false),
        f("open_seconds", DataType::UInt32, false),
        f("measured_seconds", DataType::UInt32, false),
        f("coverage", DataType::Float64, true),
        f("occupied_seconds", DataType::UInt32, false),
        f("time_utilization", DataType::Float64, true),
        f("mean_occupancy", DataType::Float64, true),
        f("capacity_utilization", DataType::Float64, true),
        f("mean_occupancy_when_used", DataType::Float64, true),
        f("peak_occupancy", DataType::UInt32, true),
        f("peak_utilization", DataType::Float64, true),
        f("visits", DataType::UInt64, false),
        f("visits_method", DataType::Utf8, false),
        f("mean_dwell_seconds", DataType::Float64, true),
        f("longest_idle_seconds", DataType::UInt32, false),
        f("after_hours_occupied_seconds", DataType::UInt32, false),
        f("over_capacity_seconds", DataType::UInt32, true),
        f("person_seconds", DataType::UInt64, false),
        f("capacity", DataType::UInt32, true),
        f("metrics_version", DataType::UInt16, false),
    ]))
});

/// The Arrow schema of `room_hour` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

struct Row<'a> {
    site_id: &'a str,
    room_id: &'a str,
    local_hour: u8,
    w: &'a RoomWindow,
}

/// The integer fields of a window, for a total order that needs no float compare.
type Key<'a> = (
    (&'a str, &'a str, i64, i64),
    (u32, u32, u32, u64, Option<u32>, u64, &'static str),
    (u32, u32, u32, Option<u32>),
);

impl Row<'_> {
    fn key(&self) -> Key<'_> {
        let w = self.w;
        (
            (self.site_id, self.room_id, w.start, w.end),
            (
                w.open_seconds,
                w.measured_seconds,
                w.occupied_seconds,
                w.person_seconds,
                w.peak_occupancy,
                w.visits,
                w.visits_method.as_str(),
            ),
            (
                w.longest_idle_seconds,
                w.after_hours_occupied_seconds,
                w.over_capacity_seconds,
                w.capacity,
            ),
        )
    }
}

/// Groups windows by the local date of their start at their site, one sorted batch per date.
pub(crate) fn batches(
    registry: &Registry,
    windows: &[RoomWindow],
) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    let mut by_date: BTreeMap<NaiveDate, Vec<Row>> = BTreeMap::new();
    for w in windows {
        let room = room(registry, w.room)?;
        let site = registry.site(room.site);
        if w.end <= w.start {
            return Err(Error::EmptyWindow {
                site: site.id.clone(),
                room: room.id.clone(),
                start: w.start,
                end: w.end,
            });
        }
        let out_of_range = |field, value| Error::TimeOutOfRange {
            table: TABLE,
            field,
            value,
        };
        let start = chrono::DateTime::from_timestamp(w.start, 0)
            .ok_or_else(|| out_of_range("hour_start", w.start))?;
        chrono::DateTime::from_timestamp(w.end, 0)
            .ok_or_else(|| out_of_range("hour_end", w.end))?;
        let local_hour = start.with_timezone(&site.timezone).hour() as u8;
        let date = devices::schedule::local_date(site.timezone, w.start);
        by_date.entry(date).or_default().push(Row {
            site_id: &site.id,
            room_id: &room.id,
            local_hour,
            w,
        });
    }
    by_date
        .into_iter()
        .map(|(date, mut rows)| {
            rows.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
            Ok((date, batch(&rows)?))
        })
        .collect()
}

fn batch(rows: &[Row]) -> Result<RecordBatch> {
    // Every ratio comes from the RoomWindow method of the same name: one definition.
    let ratio = |f: fn(&RoomWindow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| f(r.w))))
    };
    let u32s = |f: fn(&RoomWindow) -> u32| -> ArrayRef {
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| f(r.w))))
    };
    let ts = |f: fn(&RoomWindow) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| f(r.w) * 1000))
                .with_timezone("UTC"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.site_id),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.room_id),
        )),
        ts(|w| w.start),
        ts(|w| w.end),
        Arc::new(UInt8Array::from_iter_values(
            rows.iter().map(|r| r.local_hour),
        )),
        u32s(|w| w.open_seconds),
        u32s(|w| w.measured_seconds),
        ratio(RoomWindow::coverage),
        u32s(|w| w.occupied_seconds),
        ratio(RoomWindow::time_utilization),
        ratio(RoomWindow::mean_occupancy),
        ratio(RoomWindow::capacity_utilization),
        ratio(RoomWindow::mean_occupancy_when_used),
        Arc::new(UInt32Array::from_iter(
            rows.iter().map(|r| r.w.peak_occupancy),
        )),
        ratio(RoomWindow::peak_utilization),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| r.w.visits),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.w.visits_method.as_str()),
        )),
        ratio(RoomWindow::mean_dwell_seconds),
        u32s(|w| w.longest_idle_seconds),
        u32s(|w| w.after_hours_occupied_seconds),
        Arc::new(UInt32Array::from_iter(
            rows.iter().map(|r| r.w.over_capacity()),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| r.w.person_seconds),
        )),
        Arc::new(UInt32Array::from_iter(rows.iter().map(|r| r.w.capacity))),
        Arc::new(UInt16Array::from_iter_values(
            rows.iter().map(|_| METRICS_VERSION),
        )),
    ];
    RecordBatch::try_new(schema(), columns).map_err(|source| Error::Arrow {
        table: TABLE,
        source,
    })
}
