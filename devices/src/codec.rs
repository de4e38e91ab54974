//! The native device message format, version 1 (DEVICES.md).

use crate::reading::{Status, Value};
use crate::reason::Reason;
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

/// Rejects a payload whose top-level JSON value is not an object.
///
/// serde's derived `Deserialize` also reads a struct from a JSON array of its
/// fields in order, so without this a 13-element array such as
/// `["count",null,null,7,null,null,null,null,null,null,null,null,null]` decodes
/// as a reading. DEVICES.md allows one JSON object per message, nothing else.
fn require_object(text: &str) -> Result<(), DecodeError> {
    if text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return Ok(());
    }
    // Only rejected payloads get here; parse them to say what they are.
    let what = match serde_json::from_str::<serde_json::Value>(text) {
        Err(e) => return Err((Reason::MalformedJson, e.to_string())),
        Ok(serde_json::Value::Object(_)) => return Ok(()),
        Ok(serde_json::Value::Array(_)) => "a JSON array",
        Ok(serde_json::Value::String(_)) => "a JSON string",
        Ok(serde_json::Value::Number(_)) => "a JSON number",
        Ok(serde_json::Value::Bool(_)) => "a JSON boolean",
        Ok(serde_json::Value::Null) => "JSON null",
    };
    Err((
        Reason::WrongType,
        format!("the payload is {what}, not an object"),
    ))
}

/// Decodes one v1 payload.
///
/// The payload must be one JSON object: an array, string, number, boolean or
/// `null` is rejected as `wrong_type`.
pub fn decode_v1(payload: &[u8]) -> Result<Message, DecodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err((
            Reason::Oversize,
            format!("{} bytes, at most {MAX_PAYLOAD}", payload.len()),
        ));
    }
    let text = std::str::from_utf8(payload)
        .map_err(|e| (Reason::InvalidUtf8, format!("invalid UTF-8: {e}")))?;
    require_object(text)?;
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

    /// Regression: a JSON array of the 13 fields of `Wire`, in order, decoded as a
    /// reading (serde's derive reads structs from sequences too).
    #[test]
    fn a_json_array_of_the_fields_is_not_a_reading() {
        let array = r#"["count",null,null,7,null,null,null,null,null,null,null,null,null]"#;
        let (reason, detail) = decode_v1(array.as_bytes()).expect_err("an array");
        assert_eq!(reason, Reason::WrongType);
        assert_eq!(detail, "the payload is a JSON array, not an object");
        let spaced = format!(" \r\n\t{array}\n");
        assert_eq!(reason_of(&spaced), (Reason::WrongType, "a JSON array"));
    }

    fn reason_of(p: &str) -> (Reason, &'static str) {
        let (reason, detail) = decode_v1(p.as_bytes()).expect_err("should be rejected");
        let what = [
            "a JSON array",
            "a JSON string",
            "a JSON number",
            "a JSON boolean",
            "JSON null",
        ]
        .into_iter()
        .find(|w| detail == format!("the payload is {w}, not an object"))
        .unwrap_or("other");
        (reason, what)
    }

    #[test]
    fn every_top_level_value_but_an_object_is_rejected() {
        assert_eq!(reason_of("[]"), (Reason::WrongType, "a JSON array"));
        assert_eq!(
            reason_of(r#""count""#),
            (Reason::WrongType, "a JSON string")
        );
        assert_eq!(reason_of("7"), (Reason::WrongType, "a JSON number"));
        assert_eq!(reason_of("-7.5e3"), (Reason::WrongType, "a JSON number"));
        assert_eq!(reason_of("true"), (Reason::WrongType, "a JSON boolean"));
        assert_eq!(reason_of("false"), (Reason::WrongType, "a JSON boolean"));
        assert_eq!(reason_of(" null "), (Reason::WrongType, "JSON null"));
        // Not JSON at all stays malformed, whatever it starts with.
        assert_eq!(reason_of("[1,2"), (Reason::MalformedJson, "other"));
        assert_eq!(reason_of(""), (Reason::MalformedJson, "other"));
        assert_eq!(reason_of("   "), (Reason::MalformedJson, "other"));
        assert_eq!(reason_of("nul"), (Reason::MalformedJson, "other"));
        assert_eq!(reason_of("{} []"), (Reason::MalformedJson, "other"));
        // An object with leading whitespace is still an object.
        let m = decode_v1(b" \n{\"type\":\"count\",\"count\":2}").expect("valid");
        assert_eq!(m.value, Value::Count(2));
    }
}
