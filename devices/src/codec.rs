//! The native device message format, version 1 (DEVICES.md).

use crate::reading::{Status, Value};
use crate::validate::Reason;
use serde::Deserialize;
use std::borrow::Cow;

/// Largest payload accepted, bytes.
pub const MAX_PAYLOAD: usize = 4096;

/// A decoded v1 message, before it is checked against the registry and the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Device timestamp, Unix milliseconds, when given.
    pub ts_ms: Option<i64>,
    /// Sequence number, when given.
    pub seq: Option<u64>,
    /// The measurement.
    pub value: Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Ts<'a> {
    Millis(i64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ts: Option<Ts<'a>>,
    seq: Option<i64>,
    count: Option<i64>,
    present: Option<bool>,
    #[serde(rename = "in")]
    inn: Option<i64>,
    out: Option<i64>,
    in_total: Option<i64>,
    out_total: Option<i64>,
    battery_pct: Option<f64>,
    rssi_dbm: Option<f64>,
    fw: Option<String>,
    interval_s: Option<i64>,
}

/// Why a payload could not be decoded, with a human detail.
pub type DecodeError = (Reason, String);

fn need<T>(v: Option<T>, field: &str) -> Result<T, DecodeError> {
    v.ok_or_else(|| (Reason::MissingField, format!("field {field:?} is missing")))
}

fn count(v: Option<i64>, field: &str) -> Result<i64, DecodeError> {
    let n = need(v, field)?;
    if n < 0 {
        return Err((Reason::NegativeCount, format!("{field} is {n}")));
    }
    Ok(n)
}

fn small(v: Option<i64>, field: &str) -> Result<u32, DecodeError> {
    let n = count(v, field)?;
    u32::try_from(n).map_err(|_| (Reason::AbsurdCount, format!("{field} is {n}")))
}

/// Parses an RFC 3339 timestamp with offset into Unix milliseconds.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Decodes one v1 payload.
pub fn decode_v1(payload: &[u8]) -> Result<Message, DecodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err((
            Reason::Oversize,
            format!("{} bytes, at most {MAX_PAYLOAD}", payload.len()),
        ));
    }
    let text = std::str::from_utf8(payload)
        .map_err(|e| (Reason::InvalidUtf8, format!("invalid UTF-8: {e}")))?;
    let wire: Wire = serde_json::from_str(text).map_err(|e| {
        let reason = if e.is_data() {
            Reason::WrongType
        } else {
            Reason::MalformedJson
        };
        (reason, e.to_string())
    })?;
    let ts_ms = match wire.ts {
        None => None,
        Some(Ts::Millis(ms)) => Some(ms),
        Some(Ts::Text(t)) => Some(parse_rfc3339_ms(&t).ok_or_else(|| {
            (
                Reason::BadTimestamp,
                format!("ts {t:?} is not RFC 3339 with an offset"),
            )
        })?),
    };
    let seq = match wire.seq {
        None => None,
        Some(s) if s < 0 => return Err((Reason::WrongType, format!("seq is {s}"))),
        Some(s) => Some(s as u64),
    };
    let kind = need(wire.kind, "type")?;
    let value = match kind.as_ref() {
        "count" => Value::Count(small(wire.count, "count")?),
        "presence" => Value::Presence(need(wire.present, "present")?),
        "door" => Value::Door {
            inn: small(wire.inn, "in")?,
            out: small(wire.out, "out")?,
        },
        "door_total" => Value::DoorTotal {
            in_total: count(wire.in_total, "in_total")? as u64,
            out_total: count(wire.out_total, "out_total")? as u64,
        },
        "status" => Value::Status(Status {
            battery_pct: wire.battery_pct.map(|b| b.clamp(0.0, 100.0) as u8),
            rssi_dbm: wire.rssi_dbm.map(|r| r.clamp(-200.0, 50.0) as i16),
            fw: wire.fw,
            interval_s: match wire.interval_s {
                None => None,
                Some(i) if (1..=86_400).contains(&i) => Some(i as u32),
                Some(i) => {
                    return Err((
                        Reason::WrongType,
                        format!("interval_s {i} is not 1 to 86400"),
                    ));
                }
            },
        }),
        other => {
            return Err((
                Reason::UnknownType,
                format!("type {other:?} is not count, presence, door, door_total or status"),
            ));
        }
    };
    Ok(Message { ts_ms, seq, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(p: &str) -> Reason {
        decode_v1(p.as_bytes()).expect_err("should be rejected").0
    }

    #[test]
    fn decodes_every_kind_of_devices_md() {
        let m =
            decode_v1(br#"{"type":"count","ts":"2026-11-23T09:15:00+08:00","seq":812,"count":7}"#)
                .expect("valid");
        assert_eq!(m.value, Value::Count(7));
        assert_eq!(m.seq, Some(812));
        assert_eq!(m.ts_ms, Some(1_795_396_500_000));
        let m = decode_v1(br#"{"type":"presence","ts":1795446042796,"seq":9,"present":true}"#)
            .expect("valid");
        assert_eq!(
            (m.value, m.ts_ms),
            (Value::Presence(true), Some(1_795_446_042_796))
        );
        let m = decode_v1(
            br#"{"type":"door","ts":"2026-11-23T09:15:00+08:00","seq":40,"in":3,"out":1}"#,
        )
        .expect("valid");
        assert_eq!(m.value, Value::Door { inn: 3, out: 1 });
        let m = decode_v1(br#"{"type":"door_total","seq":41,"in_total":10234,"out_total":10190}"#)
            .expect("valid");
        assert_eq!(
            m.value,
            Value::DoorTotal {
                in_total: 10234,
                out_total: 10190
            }
        );
        assert_eq!(m.ts_ms, None);
        let m = decode_v1(
            br#"{"type":"status","ts":"2026-11-23T09:15:00+08:00","battery_pct":87,"rssi_dbm":-70,"fw":"1.4.2","interval_s":60,"extra":[1]}"#,
        )
        .expect("valid");
        assert_eq!(
            m.value,
            Value::Status(Status {
                battery_pct: Some(87),
                rssi_dbm: Some(-70),
                fw: Some("1.4.2".into()),
                interval_s: Some(60)
            })
        );
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(reason("{\"type\":\"count\""), Reason::MalformedJson);
        assert_eq!(reason(r#"{"type":"count","count":"7"}"#), Reason::WrongType);
        assert_eq!(reason(r#"{"type":"count"}"#), Reason::MissingField);
        assert_eq!(reason(r#"{"count":3}"#), Reason::MissingField);
        assert_eq!(
            reason(r#"{"type":"count","count":-2}"#),
            Reason::NegativeCount
        );
        assert_eq!(
            reason(r#"{"type":"door","in":1,"out":-1}"#),
            Reason::NegativeCount
        );
        assert_eq!(
            reason(r#"{"type":"count","count":99999999999}"#),
            Reason::AbsurdCount
        );
        assert_eq!(reason(r#"{"type":"smell","count":1}"#), Reason::UnknownType);
        assert_eq!(
            reason(r#"{"type":"count","count":1,"ts":"yesterday"}"#),
            Reason::BadTimestamp
        );
        assert_eq!(reason("[1,2]"), Reason::WrongType);
        let big = format!(
            r#"{{"type":"count","count":1,"pad":"{}"}}"#,
            "x".repeat(5000)
        );
        assert_eq!(reason(&big), Reason::Oversize);
        assert_eq!(
            decode_v1(b"{\"type\":\"count\",\"count\":\xff}")
                .expect_err("bad")
                .0,
            Reason::InvalidUtf8
        );
    }
}
