//! Reading `raw_events` back into readings: what a restart or a recomputation
//! replays through the stream.

use super::error::Result;
use super::partition::read_batches;
use super::raw_events::TABLE;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int16Type, TimestampMillisecondType, UInt8Type, UInt32Type, UInt64Type};
use chrono::NaiveDate;
use devices::{Reading, Registry, Status, Value};
use std::path::Path;

/// Every reading in `raw_events` for the local `dates`, bound to its device's room in
/// `registry` (rows of devices no longer in the registry are left out, with a warning),
/// from the files whose name `keep` takes.
pub fn read_raw_events(
    root: &Path,
    registry: &Registry,
    dates: &[NaiveDate],
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<Reading>> {
    let mut out = Vec::new();
    let mut unknown = 0usize;
    read_batches(root, TABLE, dates, keep, |batch| {
        unknown += rows(batch, registry, &mut out);
    })?;
    if unknown > 0 {
        tracing::warn!(
            rows = unknown,
            "raw_events rows of devices no longer in the registry were left out"
        );
    }
    Ok(out)
}

/// Appends the batch's readings; returns how many rows named an unknown device.
fn rows(b: &RecordBatch, registry: &Registry, out: &mut Vec<Reading>) -> usize {
    let col = |name: &str| b.column_by_name(name);
    let (Some(event), Some(received), Some(device), Some(kind)) = (
        col("event_time").and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>().cloned()),
        col("received_time")
            .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>().cloned()),
        col("device_id").and_then(|c| c.as_string_opt::<i32>().cloned()),
        col("kind").and_then(|c| c.as_string_opt::<i32>().cloned()),
    ) else {
        return 0;
    };
    let u32s = |name: &str| col(name).and_then(|c| c.as_primitive_opt::<UInt32Type>().cloned());
    let u64s = |name: &str| col(name).and_then(|c| c.as_primitive_opt::<UInt64Type>().cloned());
    let (seq, count, door_in, door_out, in_total, out_total, interval) = (
        u64s("seq"),
        u32s("count"),
        u32s("door_in"),
        u32s("door_out"),
        u64s("in_total"),
        u64s("out_total"),
        u32s("interval_s"),
    );
    let present = col("present").and_then(|c| c.as_boolean_opt().cloned());
    let skew = col("clock_skew").and_then(|c| c.as_boolean_opt().cloned());
    let battery = col("battery_pct").and_then(|c| c.as_primitive_opt::<UInt8Type>().cloned());
    let rssi = col("rssi_dbm").and_then(|c| c.as_primitive_opt::<Int16Type>().cloned());
    let fw = col("fw").and_then(|c| c.as_string_opt::<i32>().cloned());
    macro_rules! get {
        ($a:expr, $i:expr) => {
            $a.as_ref().filter(|a| !a.is_null($i)).map(|a| a.value($i))
        };
    }
    let mut unknown = 0;
    for i in 0..b.num_rows() {
        let Some(idx) = registry.device_by_id(device.value(i)) else {
            unknown += 1;
            continue;
        };
        let value = match kind.value(i) {
            "count" => get!(count, i).map(Value::Count),
            "presence" => get!(present, i).map(Value::Presence),
            "door" => get!(door_in, i)
                .zip(get!(door_out, i))
                .map(|(inn, out)| Value::Door { inn, out }),
            "door_total" => {
                get!(in_total, i)
                    .zip(get!(out_total, i))
                    .map(|(in_total, out_total)| Value::DoorTotal {
                        in_total,
                        out_total,
                    })
            }
            "status" => Some(Value::Status(Status {
                battery_pct: get!(battery, i),
                rssi_dbm: get!(rssi, i),
                fw: get!(fw, i).map(str::to_owned),
                interval_s: get!(interval, i),
            })),
            _ => None,
        };
        let Some(value) = value else {
            continue;
        };
        // The room of the reading's time: a moved device's past stays in its old room.
        let Some(room) = registry.room_at(idx, event.value(i)) else {
            unknown += 1;
            continue;
        };
        out.push(Reading {
            device: idx,
            room,
            time_ms: event.value(i),
            received_ms: received.value(i),
            seq: get!(seq, i),
            clock_skew: get!(skew, i).unwrap_or(false),
            value,
        });
    }
    unknown
}
