//! The `raw_events` table: every accepted reading, one row each.

use super::error::{Error, Result};
use super::partition::Table;
use super::{METRICS_VERSION, room};
use arrow::array::Int16Array;
use arrow::array::{
    ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMillisecondArray, UInt8Array,
    UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use devices::{Reading, Registry, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

/// Directory name of the table under the store root.
pub const TABLE: &str = "raw_events";

pub(crate) const SPEC: Table = Table {
    name: TABLE,
    sort_by: &["site_id", "device_id", "event_time"],
    plain: &[
        "event_time",
        "received_time",
        "seq",
        "in_total",
        "out_total",
    ],
};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("event_time", ts(), false),
        Field::new("received_time", ts(), false),
        Field::new("site_id", DataType::Utf8, false),
        Field::new("room_id", DataType::Utf8, false),
        Field::new("device_id", DataType::Utf8, false),
        Field::new("seq", DataType::UInt64, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("count", DataType::UInt32, true),
        Field::new("present", DataType::Boolean, true),
        Field::new("door_in", DataType::UInt32, true),
        Field::new("door_out", DataType::UInt32, true),
        Field::new("in_total", DataType::UInt64, true),
        Field::new("out_total", DataType::UInt64, true),
        Field::new("battery_pct", DataType::UInt8, true),
        Field::new("rssi_dbm", DataType::Int16, true),
        Field::new("fw", DataType::Utf8, true),
        Field::new("interval_s", DataType::UInt32, true),
        Field::new("clock_skew", DataType::Boolean, false),
        Field::new("metrics_version", DataType::UInt16, false),
    ]))
});

/// The Arrow schema of `raw_events` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row; fields in sort order, so the derived `Ord` sorts by site, device
/// (`rank`: the device's place in (site id, device id) order), event time and
/// then everything else, whatever order readings came in.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Row<'a> {
    rank: u32,
    event_time: i64,
    seq: Option<u64>,
    received_time: i64,
    kind: &'static str,
    count: Option<u32>,
    present: Option<bool>,
    door_in: Option<u32>,
    door_out: Option<u32>,
    in_total: Option<u64>,
    out_total: Option<u64>,
    battery_pct: Option<u8>,
    rssi_dbm: Option<i16>,
    fw: Option<&'a str>,
    interval_s: Option<u32>,
    clock_skew: bool,
    site_id: &'a str,
    device_id: &'a str,
    room_id: &'a str,
}

/// Each device's place when devices are sorted by (site id, device id).
fn ranks(registry: &Registry) -> Vec<u32> {
    let mut order: Vec<usize> = (0..registry.devices.len()).collect();
    let key = |i: &usize| {
        let d = &registry.devices[*i];
        let site = registry
            .rooms
            .get(d.room.ix())
            .map(|r| &registry.site(r.site).id);
        (site, &d.id)
    };
    order.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
    let mut rank = vec![0; order.len()];
    for (place, i) in order.into_iter().enumerate() {
        rank[i] = place as u32;
    }
    rank
}

impl<'a> Row<'a> {
    fn new(registry: &'a Registry, ranks: &[u32], r: &'a Reading) -> Result<(NaiveDate, Row<'a>)> {
        let device = registry
            .devices
            .get(r.device.ix())
            .ok_or(Error::NotInRegistry {
                what: "device",
                index: r.device.0,
            })?;
        let room = room(registry, r.room)?;
        let site = registry.site(room.site);
        for (field, value) in [("event_time", r.time_ms), ("received_time", r.received_ms)] {
            if chrono::DateTime::from_timestamp_millis(value).is_none() {
                return Err(Error::TimeOutOfRange {
                    table: TABLE,
                    field,
                    value,
                });
            }
        }
        let mut row = Row {
            rank: ranks[r.device.ix()],
            site_id: &site.id,
            device_id: &device.id,
            event_time: r.time_ms,
            seq: r.seq,
            received_time: r.received_ms,
            room_id: &room.id,
            kind: r.value.kind(),
            count: None,
            present: None,
            door_in: None,
            door_out: None,
            in_total: None,
            out_total: None,
            battery_pct: None,
            rssi_dbm: None,
            fw: None,
            interval_s: None,
            clock_skew: r.clock_skew,
        };
        match &r.value {
            Value::Count(n) => row.count = Some(*n),
            Value::Presence(p) => row.present = Some(*p),
            Value::Door { inn, out } => {
                row.door_in = Some(*inn);
                row.door_out = Some(*out);
            }
            Value::DoorTotal {
                in_total,
                out_total,
            } => {
                row.in_total = Some(*in_total);
                row.out_total = Some(*out_total);
            }
            Value::Status(s) => {
                row.battery_pct = s.battery_pct;
                row.rssi_dbm = s.rssi_dbm;
                row.fw = s.fw.as_deref();
                row.interval_s = s.interval_s;
            }
        }
        let date = devices::schedule::local_date(site.timezone, r.time_s());
        Ok((date, row))
    }
}

/// Groups readings by the local date of their event at their site, one sorted batch per date.
pub(crate) fn batches(
    registry: &Registry,
    readings: &[Reading],
) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    let ranks = ranks(registry);
    let mut by_date: BTreeMap<NaiveDate, Vec<Row>> = BTreeMap::new();
    for r in readings {
        let (date, row) = Row::new(registry, &ranks, r)?;
        by_date.entry(date).or_default().push(row);
    }
    by_date
        .into_iter()
        .map(|(date, rows)| {
            // Sorting references moves 8 bytes a swap instead of a whole row.
            let mut sorted: Vec<&Row> = rows.iter().collect();
            sorted.sort_unstable();
            Ok((date, batch(&sorted)?))
        })
        .collect()
}

fn batch(rows: &[&Row]) -> Result<RecordBatch> {
    let ts = |f: fn(&&Row) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMillisecondArray::from_iter_values(rows.iter().map(f)).with_timezone("UTC"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        ts(|r| r.event_time),
        ts(|r| r.received_time),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.site_id),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.room_id),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.device_id),
        )),
        Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.seq))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.kind))),
        Arc::new(UInt32Array::from_iter(rows.iter().map(|r| r.count))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.present))),
        Arc::new(UInt32Array::from_iter(rows.iter().map(|r| r.door_in))),
        Arc::new(UInt32Array::from_iter(rows.iter().map(|r| r.door_out))),
        Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.in_total))),
        Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.out_total))),
        Arc::new(UInt8Array::from_iter(rows.iter().map(|r| r.battery_pct))),
        Arc::new(Int16Array::from_iter(rows.iter().map(|r| r.rssi_dbm))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.fw))),
        Arc::new(UInt32Array::from_iter(rows.iter().map(|r| r.interval_s))),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.clock_skew)),
        )),
        Arc::new(UInt16Array::from_iter_values(
            rows.iter().map(|_| METRICS_VERSION),
        )),
    ];
    RecordBatch::try_new(schema(), columns).map_err(|source| Error::Arrow {
        table: TABLE,
        source,
    })
}
