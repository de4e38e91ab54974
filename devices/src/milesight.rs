//! Milesight VS13x-style people-counter payloads (DEVICES.md, "Vendor payloads").
//!
//! A VS13x counts crossings of one or more lines drawn in its view, and can
//! report regions' current occupancy. It publishes its own JSON:
//!
//! ```text
//! {"line_trigger_data":[{"line_uuid":"...","total":{"in":2,"out":0}}],"time":"..."}
//! {"line_total_data":[{"line_uuid":"...","total":{"in_counted":120,"out_counted":117}}]}
//! {"region_count_data":[{"total":{"current_total":5}}]}
//! ```
//!
//! [`decode_vs13x`] turns one such payload into native [`Message`]s: the lines
//! of one device are summed (they are the entrances it watches), so
//! `line_trigger_data` becomes a `door` message, `line_total_data` a
//! `door_total` (cumulative; a drop is a device reset, METRICS.md) and
//! `region_count_data` a `count`. The time comes from `time` (RFC 3339 with an
//! offset, epoch seconds or milliseconds, or a local `YYYY-MM-DD HH:MM:SS` with
//! a `timezone` such as `"UTC+8:00"`, as Milesight's VS121 sends); without it
//! the message has no `ts` and takes the receive time, as a v1 message would.
//!
//! ```
//! use devices::milesight::decode_vs13x;
//! use devices::Value;
//! let m = decode_vs13x(br#"{"line_trigger_data":[{"line_uuid":"a","total":{"in":2,"out":0}},
//!     {"line_uuid":"b","total":{"in":1,"out":3}}],"time":"2026-11-23T09:15:00+08:00"}"#).unwrap();
//! assert_eq!(m[0].value, Value::Door { inn: 3, out: 3 });
//! assert_eq!(m[0].ts_ms, Some(1_795_396_500_000));
//! ```

use crate::codec::{DecodeError, MAX_PAYLOAD, Message, parse_rfc3339_ms};
use crate::reading::Value;
use crate::reason::Reason;
use serde_json::{Map, Value as Json};

fn wrong(detail: String) -> DecodeError {
    (Reason::WrongType, detail)
}

/// A non-negative whole count at `obj[field]`.
fn count(obj: &Map<String, Json>, field: &str, path: &str) -> Result<u64, DecodeError> {
    match obj.get(field) {
        None | Some(Json::Null) => Err((
            Reason::MissingField,
            format!("field {path}.{field:?} is missing"),
        )),
        Some(Json::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(v)
            } else if n.as_i64().is_some_and(|v| v < 0) {
                Err((Reason::NegativeCount, format!("{path}.{field} is {n}")))
            } else {
                Err(wrong(format!("{path}.{field} is {n}, not a whole number")))
            }
        }
        Some(other) => Err(wrong(format!("{path}.{field} is {other}, not a number"))),
    }
}

/// Sums `field` of each element's `total` object in the array `name`.
fn sum_totals(
    root: &Map<String, Json>,
    name: &str,
    fields: &[&str],
) -> Result<Vec<u64>, DecodeError> {
    let Some(items) = root.get(name) else {
        return Err((Reason::MissingField, format!("field {name:?} is missing")));
    };
    let Json::Array(items) = items else {
        return Err(wrong(format!("{name} is not an array")));
    };
    let mut sums = vec![0u64; fields.len()];
    for (i, item) in items.iter().enumerate() {
        let path = format!("{name}[{i}].total");
        let total = item
            .get("total")
            .and_then(Json::as_object)
            .ok_or_else(|| (Reason::MissingField, format!("{path} is missing")))?;
        for (sum, field) in sums.iter_mut().zip(fields) {
            *sum = sum.saturating_add(count(total, field, &path)?);
        }
    }
    Ok(sums)
}

/// `UTC+8:00`, `UTC-05:30`, `UTC+8`, `UTC`: offset east of UTC in seconds.
pub(crate) fn utc_offset(text: &str) -> Option<i32> {
    let rest = text
        .trim()
        .strip_prefix("UTC")
        .or_else(|| text.trim().strip_prefix("GMT"))?;
    if rest.is_empty() {
        return Some(0);
    }
    let (sign, rest) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=14).contains(&h) && (0..60).contains(&m)).then_some(sign * (h * 3600 + m * 60))
}

/// The payload's time, Unix milliseconds; `None` when it gives none.
fn time_ms(root: &Map<String, Json>) -> Result<Option<i64>, DecodeError> {
    let bad = |t: &Json| {
        (
            Reason::BadTimestamp,
            format!(
                "time {t} is not RFC 3339, epoch seconds or milliseconds, or local time with a timezone"
            ),
        )
    };
    let Some(t) = root.get("time").or_else(|| root.get("timestamp")) else {
        return Ok(None);
    };
    match t {
        Json::Null => Ok(None),
        Json::Number(n) => {
            let v = n.as_i64().ok_or_else(|| bad(t))?;
            // Seconds until the year 5138; milliseconds beyond.
            Ok(Some(if v.abs() < 100_000_000_000 {
                v * 1000
            } else {
                v
            }))
        }
        Json::String(s) => {
            if let Some(ms) = parse_rfc3339_ms(s) {
                return Ok(Some(ms));
            }
            let offset = root
                .get("timezone")
                .and_then(Json::as_str)
                .and_then(utc_offset)
                .ok_or_else(|| bad(t))?;
            let local = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
                .iter()
                .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
                .ok_or_else(|| bad(t))?;
            Ok(Some(
                local.and_utc().timestamp_millis() - i64::from(offset) * 1000,
            ))
        }
        _ => Err(bad(t)),
    }
}

fn small(n: u64, field: &str) -> Result<u32, DecodeError> {
    u32::try_from(n).map_err(|_| (Reason::AbsurdCount, format!("{field} is {n}")))
}

/// Decodes one VS13x payload into the native messages it stands for.
pub fn decode_vs13x(payload: &[u8]) -> Result<Vec<Message>, DecodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err((
            Reason::Oversize,
            format!("{} bytes, at most {MAX_PAYLOAD}", payload.len()),
        ));
    }
    let text = std::str::from_utf8(payload)
        .map_err(|e| (Reason::InvalidUtf8, format!("invalid UTF-8: {e}")))?;
    let json: Json =
        serde_json::from_str(text).map_err(|e| (Reason::MalformedJson, e.to_string()))?;
    let Json::Object(root) = json else {
        return Err(wrong("the payload is not a JSON object".into()));
    };
    let ts_ms = time_ms(&root)?;
    let mut out = Vec::new();
    if root.contains_key("line_trigger_data") {
        let s = sum_totals(&root, "line_trigger_data", &["in", "out"])?;
        out.push(Value::Door {
            inn: small(s[0], "in")?,
            out: small(s[1], "out")?,
        });
    }
    if root.contains_key("line_total_data") {
        let s = sum_totals(&root, "line_total_data", &["in_counted", "out_counted"])?;
        out.push(Value::DoorTotal {
            in_total: s[0],
            out_total: s[1],
        });
    }
    if root.contains_key("region_count_data") {
        let s = sum_totals(&root, "region_count_data", &["current_total"])?;
        out.push(Value::Count(small(s[0], "current_total")?));
    }
    if out.is_empty() {
        return Err((
            Reason::UnknownType,
            "no line_trigger_data, line_total_data or region_count_data".into(),
        ));
    }
    Ok(out
        .into_iter()
        .map(|value| Message {
            ts_ms,
            seq: None,
            value,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(p: &str) -> Message {
        let mut m = decode_vs13x(p.as_bytes()).expect("valid");
        assert_eq!(m.len(), 1, "{m:?}");
        m.remove(0)
    }

    fn reason(p: &str) -> Reason {
        decode_vs13x(p.as_bytes()).expect_err("rejected").0
    }

    #[test]
    fn decodes_the_three_shapes_of_devices_md() {
        let m = one(
            r#"{"line_trigger_data":[{"line_uuid":"x","total":{"in":2,"out":0}}],"time":"2026-11-23T09:15:00+08:00"}"#,
        );
        assert_eq!(m.value, Value::Door { inn: 2, out: 0 });
        assert_eq!(m.ts_ms, Some(1_795_396_500_000));
        let m = one(
            r#"{"line_total_data":[{"line_uuid":"x","total":{"in_counted":120,"out_counted":117}}]}"#,
        );
        assert_eq!(
            m.value,
            Value::DoorTotal {
                in_total: 120,
                out_total: 117
            }
        );
        assert_eq!(m.ts_ms, None);
        let m = one(r#"{"region_count_data":[{"total":{"current_total":5}}]}"#);
        assert_eq!(m.value, Value::Count(5));
    }

    #[test]
    fn sums_the_lines_of_one_device() {
        let m = one(
            r#"{"line_total_data":[{"line_uuid":"a","total":{"in_counted":10,"out_counted":7}},{"line_uuid":"b","total":{"in_counted":5,"out_counted":8}}],"time":1795396500}"#,
        );
        assert_eq!(
            m.value,
            Value::DoorTotal {
                in_total: 15,
                out_total: 15
            }
        );
        assert_eq!(m.ts_ms, Some(1_795_396_500_000));
    }

    #[test]
    fn local_time_with_a_timezone_field() {
        let m = one(
            r#"{"region_count_data":[{"total":{"current_total":1}}],"time":"2026-11-23 09:15:00","timezone":"UTC+8:00"}"#,
        );
        assert_eq!(m.ts_ms, Some(1_795_396_500_000));
        assert_eq!(utc_offset("UTC-05:30"), Some(-(5 * 3600 + 1800)));
        assert_eq!(utc_offset("UTC"), Some(0));
        assert_eq!(utc_offset("CST"), None);
    }

    #[test]
    fn several_shapes_in_one_payload_give_several_messages() {
        let m = decode_vs13x(
            br#"{"line_trigger_data":[{"total":{"in":1,"out":0}}],"region_count_data":[{"total":{"current_total":4}}],"time":1795396500000}"#,
        )
        .expect("valid");
        assert_eq!(
            m.iter().map(|m| m.value.clone()).collect::<Vec<_>>(),
            vec![Value::Door { inn: 1, out: 0 }, Value::Count(4)]
        );
        assert!(m.iter().all(|m| m.ts_ms == Some(1_795_396_500_000)));
    }

    #[test]
    fn rejects_with_the_reason_codes_of_v1() {
        assert_eq!(reason("{"), Reason::MalformedJson);
        assert_eq!(reason("[1]"), Reason::WrongType);
        assert_eq!(
            reason(r#"{"time":"2026-11-23T09:15:00+08:00"}"#),
            Reason::UnknownType
        );
        assert_eq!(
            reason(r#"{"line_trigger_data":[{"total":{"in":-1,"out":0}}]}"#),
            Reason::NegativeCount
        );
        assert_eq!(
            reason(r#"{"line_trigger_data":[{"total":{"in":"1","out":0}}]}"#),
            Reason::WrongType
        );
        assert_eq!(
            reason(r#"{"line_trigger_data":[{"total":{"out":0}}]}"#),
            Reason::MissingField
        );
        assert_eq!(reason(r#"{"line_trigger_data":{}}"#), Reason::WrongType);
        assert_eq!(
            reason(r#"{"region_count_data":[{"total":{"current_total":1}}],"time":"tuesday"}"#),
            Reason::BadTimestamp
        );
        assert_eq!(
            reason(r#"{"line_trigger_data":[{"total":{"in":99999999999,"out":0}}]}"#),
            Reason::AbsurdCount
        );
        assert_eq!(
            decode_vs13x(b"{\"x\":\xff}").expect_err("bad").0,
            Reason::InvalidUtf8
        );
    }
}
