//! The formats with a fixed layout: the CalIt2 door counts and Milesight VS13x
//! payload lines. Tables with a column mapping are in `read.rs`, the rows both
//! make in `rows.rs`.

use super::rows::{Body, Row, bad, count_cell, fields, line_of, reader, text_of};
use super::time::TimeFormat;
use chrono_tz::Tz;
use devices::Reason;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::path::Path;

/// CalIt2.data: `flow,MM/DD/YY,HH:MM:SS,count`, flow 9 = in and 7 = out, each row
/// counting the half hour before its time. The two flows of a time make one `door`
/// message, stamped one second before the time so that its crossings fall in the
/// hour (and before the 04:00 reset) they happened in.
pub fn calit2(file: usize, path: &Path, bytes: &[u8], tz: Tz) -> anyhow::Result<Vec<Row>> {
    let text = text_of(path, bytes)?;
    let mut rd = reader(&text, false, b',');
    // (date, time) -> (first line, in, out)
    type Slot = (u64, Option<Json>, Option<Json>);
    let mut slots: BTreeMap<(String, String), Slot> = BTreeMap::new();
    let mut order = Vec::new();
    for record in rd.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            bad(path, line, format!("not CSV: {e}"))
        })?;
        let line = line_of(&record);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != 4 {
            return Err(bad(
                path,
                line,
                format!(
                    "{} fields; CalIt2 rows are flow,MM/DD/YY,HH:MM:SS,count",
                    record.len()
                ),
            ));
        }
        let key = (record[1].to_owned(), record[2].to_owned());
        let slot = slots.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            (line, None, None)
        });
        let target = match &record[0] {
            "9" => &mut slot.1,
            "7" => &mut slot.2,
            other => {
                return Err(bad(
                    path,
                    line,
                    format!("flow {other:?} is neither 9 (in) nor 7 (out)"),
                ));
            }
        };
        if target.is_some() {
            return Err(bad(
                path,
                line,
                format!(
                    "flow {} at {} {} appears twice",
                    &record[0], &record[1], &record[2]
                ),
            ));
        }
        *target = Some(count_cell(&record[3]).unwrap_or(Json::Null));
    }
    let format = TimeFormat::from_option("%m/%d/%y %H:%M:%S");
    let mut rows = Vec::with_capacity(order.len());
    for key in order {
        let Some((line, inn, out)) = slots.remove(&key) else {
            continue;
        };
        let when = format!("{} {}", key.0, key.1);
        let time_ms = format.parse(&when, tz).ok_or_else(|| {
            bad(
                path,
                line,
                format!("time {when:?} is not MM/DD/YY HH:MM:SS"),
            )
        })? - 1000;
        let nonnull = |v: Option<Json>| v.filter(|j| !j.is_null());
        rows.push(Row {
            file,
            line,
            time_ms: Some(time_ms),
            body: Body::Native(fields(
                "door",
                &[("in", nonnull(inn)), ("out", nonnull(out))],
            )),
        });
    }
    Ok(rows)
}

/// Milesight VS13x payloads, one JSON object a line, decoded by the vendor codec.
pub fn milesight(file: usize, bytes: &[u8], vs121: bool) -> Vec<Row> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rows = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_no = i as u64 + 1;
        let rejected = |reason, detail| Row {
            file,
            line: line_no,
            time_ms: None,
            body: Body::Rejected {
                reason,
                detail,
                payload: line.to_vec(),
            },
        };
        let decoded = if vs121 {
            devices::vs121::decode_vs121(line).map(|m| vec![m])
        } else {
            devices::milesight::decode_vs13x(line)
        };
        match decoded {
            Err((reason, detail)) => rows.push(rejected(reason, detail)),
            Ok(msgs) => {
                for msg in msgs {
                    let Some(ts) = msg.ts_ms else {
                        rows.push(rejected(
                            Reason::MissingField,
                            "no \"time\": an imported line needs its time".into(),
                        ));
                        continue;
                    };
                    let map = match serde_json::to_value(native(&msg.value)) {
                        Ok(Json::Object(m)) => m,
                        _ => Map::new(),
                    };
                    rows.push(Row {
                        file,
                        line: line_no,
                        time_ms: Some(ts),
                        body: Body::Native(map),
                    });
                }
            }
        }
    }
    rows
}

/// A decoded value as v1 fields.
fn native(v: &devices::Value) -> Map<String, Json> {
    use devices::Value;
    match v {
        Value::Count(n) => fields("count", &[("count", Some(Json::from(*n)))]),
        Value::Presence(p) => fields("presence", &[("present", Some(Json::from(*p)))]),
        Value::Door { inn, out } => fields(
            "door",
            &[
                ("in", Some(Json::from(*inn))),
                ("out", Some(Json::from(*out))),
            ],
        ),
        Value::DoorTotal {
            in_total,
            out_total,
        } => fields(
            "door_total",
            &[
                ("in_total", Some(Json::from(*in_total))),
                ("out_total", Some(Json::from(*out_total))),
            ],
        ),
        Value::Status(_) => fields("status", &[]),
    }
}
