//! Milesight VS121-style region people counting (DEVICES.md, "Vendor payloads").
//!
//! A VS121 watches regions of a room from the ceiling and reports how many
//! people are in them, with a local time and a `UTC+8:00`-style zone:
//!
//! ```text
//! {"event":"Region People Counting","report_type":"interval",
//!  "time_info":{"timezone":"UTC+8:00","dst_status":false,
//!               "start_time":"2026/11/23 08:15:00","end_time":"2026/11/23 09:15:00"},
//!  "current_total":5,"current_counted":[3,2]}
//! ```
//!
//! [`decode_vs121`] turns it into one `count` message: `current_total` (the
//! people in all regions), at `end_time` (an interval report describes the
//! period ending then; a trigger report has `time`). `dst_status: true` adds
//! the hour of daylight saving to the zone.
//!
//! ```
//! use devices::vs121::decode_vs121;
//! use devices::Value;
//! let m = decode_vs121(br#"{"event":"Region People Counting","current_total":5,
//!     "time_info":{"timezone":"UTC+8:00","end_time":"2026/11/23 09:15:00"}}"#).unwrap();
//! assert_eq!(m.value, Value::Count(5));
//! assert_eq!(m.ts_ms, Some(1_795_396_500_000));
//! ```

use crate::codec::{DecodeError, MAX_PAYLOAD, Message, parse_rfc3339_ms};
use crate::milesight::utc_offset;
use crate::reading::Value;
use crate::reason::Reason;
use serde_json::{Map, Value as Json};

/// The event name of a people-counting report.
const EVENT: &str = "Region People Counting";

fn local_time(text: &str, info: &Map<String, Json>) -> Result<i64, DecodeError> {
    let bad = || {
        (
            Reason::BadTimestamp,
            format!(
                "time {text:?} is not RFC 3339, nor a local time with a timezone such as UTC+8:00"
            ),
        )
    };
    if let Some(ms) = parse_rfc3339_ms(text) {
        return Ok(ms);
    }
    let mut offset = info
        .get("timezone")
        .and_then(Json::as_str)
        .and_then(utc_offset)
        .ok_or_else(bad)?;
    if info.get("dst_status").and_then(Json::as_bool) == Some(true) {
        offset += 3600;
    }
    let local = [
        "%Y/%m/%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
    .ok_or_else(bad)?;
    Ok(local.and_utc().timestamp_millis() - i64::from(offset) * 1000)
}

/// Decodes one VS121 payload into the `count` message it stands for.
pub fn decode_vs121(payload: &[u8]) -> Result<Message, DecodeError> {
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
        return Err((Reason::WrongType, "the payload is not a JSON object".into()));
    };
    match root.get("event").and_then(Json::as_str) {
        Some(EVENT) => {}
        Some(other) => {
            return Err((
                Reason::UnknownType,
                format!("event {other:?} is not {EVENT:?}"),
            ));
        }
        None => return Err((Reason::MissingField, "field \"event\" is missing".into())),
    }
    let total = match root.get("current_total") {
        None | Some(Json::Null) => {
            return Err((
                Reason::MissingField,
                "field \"current_total\" is missing".into(),
            ));
        }
        Some(Json::Number(n)) => match n.as_u64() {
            Some(v) => u32::try_from(v)
                .map_err(|_| (Reason::AbsurdCount, format!("current_total is {v}")))?,
            None if n.as_i64().is_some_and(|v| v < 0) => {
                return Err((Reason::NegativeCount, format!("current_total is {n}")));
            }
            None => {
                return Err((
                    Reason::WrongType,
                    format!("current_total is {n}, not a whole number"),
                ));
            }
        },
        Some(other) => {
            return Err((
                Reason::WrongType,
                format!("current_total is {other}, not a number"),
            ));
        }
    };
    let empty = Map::new();
    let info = root
        .get("time_info")
        .and_then(Json::as_object)
        .unwrap_or(&empty);
    let when = ["end_time", "time"]
        .iter()
        .find_map(|k| info.get(*k).or_else(|| root.get(*k)))
        .and_then(Json::as_str);
    let ts_ms = when.map(|t| local_time(t, info)).transpose()?;
    Ok(Message {
        ts_ms,
        seq: None,
        value: Value::Count(total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(p: &str) -> Reason {
        decode_vs121(p.as_bytes()).expect_err("refused").0
    }

    #[test]
    fn interval_and_trigger_reports() {
        let m = decode_vs121(
            br#"{"event":"Region People Counting","report_type":"interval","device_info":{"device_sn":"1"},
                "time_info":{"timezone":"UTC+8:00","dst_status":false,"start_time":"2026/11/23 08:15:00","end_time":"2026/11/23 09:15:00"},
                "current_total":10,"current_counted":[5,5],"occupancy":[1,0]}"#,
        )
        .expect("interval");
        assert_eq!(
            (m.value, m.ts_ms),
            (Value::Count(10), Some(1_795_396_500_000))
        );
        // Daylight saving adds its hour to the zone: 09:15 at UTC-4 is 13:15 UTC.
        let m = decode_vs121(
            br#"{"event":"Region People Counting","time_info":{"timezone":"UTC-5:00","dst_status":true,"time":"2026-07-01 09:15:00"},"current_total":0}"#,
        )
        .expect("trigger");
        assert_eq!(m.ts_ms, Some(1_782_911_700_000));
        let m = decode_vs121(br#"{"event":"Region People Counting","current_total":3}"#)
            .expect("no time");
        assert_eq!(m.ts_ms, None, "receive time, as a v1 message without ts");
    }

    #[test]
    fn refuses_with_the_reason_codes_of_v1() {
        assert_eq!(
            reason(r#"{"event":"Line Crossing","current_total":3}"#),
            Reason::UnknownType
        );
        assert_eq!(reason(r#"{"current_total":3}"#), Reason::MissingField);
        assert_eq!(
            reason(r#"{"event":"Region People Counting"}"#),
            Reason::MissingField
        );
        assert_eq!(
            reason(r#"{"event":"Region People Counting","current_total":-1}"#),
            Reason::NegativeCount
        );
        assert_eq!(
            reason(r#"{"event":"Region People Counting","current_total":"5"}"#),
            Reason::WrongType
        );
        assert_eq!(
            reason(
                r#"{"event":"Region People Counting","current_total":5,"time_info":{"end_time":"2026/11/23 09:15:00"}}"#
            ),
            Reason::BadTimestamp
        );
        assert_eq!(reason("not json"), Reason::MalformedJson);
    }
}
