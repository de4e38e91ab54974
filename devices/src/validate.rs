//! Checks a device message against the registry and the clock (DEVICES.md rules).

use crate::codec::decode_v1;
use crate::model::{Codec, Registry};
use crate::reading::{Reading, Value};
use crate::reason::Reason;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A rejected message, kept whole for the `quarantine` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Why.
    pub reason: Reason,
    /// Details for a person.
    pub detail: String,
    /// The topic it came on.
    pub topic: String,
    /// The payload as received (truncated to 4 KiB + 1 byte).
    pub payload: Vec<u8>,
    /// When it was received, Unix milliseconds.
    pub received_ms: i64,
}

/// `(site id, device id)` of a device topic `doorstep/v1/{site_id}/{device_id}`
/// whose ids are valid; `None` for any other topic.
pub fn device_topic(topic: &str) -> Option<(&str, &str)> {
    let mut parts = topic.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("doorstep"), Some("v1"), Some(site), Some(dev), None)
            if crate::registry::valid_id(site) && crate::registry::valid_id(dev) =>
        {
            Some((site, dev))
        }
        _ => None,
    }
}

/// Time rules of DEVICES.md and METRICS.md.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A timestamp this far ahead of receive time is replaced by it (`clock_skew`).
    pub max_skew_ms: i64,
    /// A timestamp this far ahead is rejected.
    pub max_future_ms: i64,
    /// A timestamp this old is rejected; `None` for imports of history.
    pub max_age_ms: Option<i64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_skew_ms: 5 * 60_000,
            max_future_ms: 24 * 3_600_000,
            max_age_ms: Some(7 * 24 * 3_600_000),
        }
    }
}

/// A count above this is "far beyond" a room built for `capacity` people.
pub fn absurd_above(capacity: u32) -> u32 {
    capacity.saturating_mul(5).max(capacity.saturating_add(50))
}

/// Turns `(topic, payload)` into a [`Reading`] or a [`Rejection`].
#[derive(Debug, Clone)]
pub struct Validator {
    /// Clones share it: a registry switch reaches every one.
    registry: crate::Current,
    limits: Limits,
}

impl Validator {
    /// A validator over `registry` with `limits`.
    pub fn new(registry: impl Into<crate::Current>, limits: Limits) -> Validator {
        Validator {
            registry: registry.into(),
            limits,
        }
    }

    /// The registry it checks against.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.get()
    }

    /// The handle through which it and its clones follow registry switches.
    pub fn current(&self) -> &crate::Current {
        &self.registry
    }

    /// Checks one message received at `received_ms`.
    pub fn check(
        &self,
        topic: &str,
        payload: &[u8],
        received_ms: i64,
    ) -> Result<Reading, Rejection> {
        self.check_inner(topic, payload, received_ms)
            .map_err(|(reason, detail)| Rejection {
                reason,
                detail,
                topic: topic.to_owned(),
                payload: payload[..payload.len().min(crate::codec::MAX_PAYLOAD + 1)].to_vec(),
                received_ms,
            })
    }

    fn check_inner(
        &self,
        topic: &str,
        payload: &[u8],
        received_ms: i64,
    ) -> Result<Reading, (Reason, String)> {
        let Some((site_id, device_id)) = device_topic(topic) else {
            return Err((
                Reason::BadTopic,
                format!("topic {topic:?} is not doorstep/v1/{{site_id}}/{{device_id}}"),
            ));
        };
        let reg = &*self.registry.get();
        let idx = reg.device_by_id(device_id).ok_or_else(|| {
            (
                Reason::UnknownDevice,
                format!("device {device_id:?} is not in the registry"),
            )
        })?;
        let device = reg.device(idx);
        let site = reg.site(device.site);
        if site.id != site_id {
            return Err((
                Reason::SiteMismatch,
                format!(
                    "device {device_id:?} belongs to site {:?}, not {site_id:?}",
                    site.id
                ),
            ));
        }
        let msg = match device.codec {
            Codec::NativeV1 => decode_v1(payload)?,
            Codec::MilesightVs13x => vs13x_for(device.kind, payload)?,
            Codec::MilesightVs121 => crate::vs121::decode_vs121(payload)?,
        };
        let limit = absurd_above(reg.room(device.room).capacity);
        let too_many = match &msg.value {
            Value::Count(n) => Some(*n),
            Value::Door { inn, out } => Some(*inn.max(out)),
            _ => None,
        };
        if let Some(n) = too_many.filter(|n| *n > limit) {
            return Err((
                Reason::AbsurdCount,
                format!("{n} people is far beyond the room's capacity (limit {limit})"),
            ));
        }
        let mut clock_skew = false;
        let time_ms = match msg.ts_ms {
            None => received_ms,
            Some(ts) => {
                let ahead = ts - received_ms;
                if ahead > self.limits.max_future_ms {
                    return Err((
                        Reason::FutureTimestamp,
                        format!("ts is {} s ahead of the clock", ahead / 1000),
                    ));
                }
                if let Some(max_age) = self.limits.max_age_ms
                    && -ahead > max_age
                {
                    return Err((
                        Reason::TooOld,
                        format!("ts is {} h old", -ahead / 3_600_000),
                    ));
                }
                if ahead > self.limits.max_skew_ms {
                    clock_skew = true;
                    received_ms
                } else {
                    ts
                }
            }
        };
        // Bound to the room the device had at the reading's time (a moved
        // device's late readings stay where they were taken).
        let room = reg.room_at(idx, time_ms).ok_or_else(|| {
            (
                Reason::UnknownDevice,
                format!(
                    "device {device_id:?} was not in the registry at {}",
                    crate::timeline::rfc3339(time_ms)
                ),
            )
        })?;
        Ok(Reading {
            device: idx,
            room,
            time_ms,
            received_ms,
            seq: msg.seq,
            clock_skew,
            value: msg.value,
        })
    }
}

/// The message of a VS13x payload that a device of `kind` gives: a door device
/// its cumulative line totals when the payload has them (they survive a lost
/// message), else its line crossings; a count device its region count.
fn vs13x_for(
    kind: crate::model::DeviceKind,
    payload: &[u8],
) -> Result<crate::codec::Message, (Reason, String)> {
    use crate::model::DeviceKind;
    let messages = crate::milesight::decode_vs13x(payload)?;
    let rank = |v: &Value| match (kind, v) {
        (DeviceKind::Door, Value::DoorTotal { .. }) => Some(0),
        (DeviceKind::Door, Value::Door { .. }) => Some(1),
        (DeviceKind::Count, Value::Count(_)) => Some(0),
        _ => None,
    };
    messages
        .into_iter()
        .filter_map(|m| rank(&m.value).map(|r| (r, m)))
        .min_by_key(|(r, _)| *r)
        .map(|(_, m)| m)
        .ok_or_else(|| {
            (
                Reason::UnknownType,
                format!(
                    "the payload has no reading a {} device gives (line_trigger_data or line_total_data for door, region_count_data for count)",
                    kind.as_str()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn validator() -> Validator {
        let text = r#"
[[site]]
id = "s1"
name = "社区"
[[site.room]]
id = "r"
name = "厅"
capacity = 10
area_m2 = 50
[[site.device]]
id = "d1"
room = "r"
kind = "count"
"#;
        let reg = Registry::from_toml(text, Path::new("t.toml")).expect("valid");
        Validator::new(Arc::new(reg), Limits::default())
    }

    const NOW: i64 = 1_795_396_500_000;

    #[test]
    fn vendor_codecs_decode_live_messages_for_their_device() {
        let text = r#"
[[site]]
id = "s1"
name = "社区"
[[site.room]]
id = "r"
name = "厅"
capacity = 10
area_m2 = 50
[[site.device]]
id = "gate"
room = "r"
kind = "door"
codec = "milesight-vs13x"
[[site.device]]
id = "cam"
room = "r"
kind = "count"
codec = "milesight-vs121"
"#;
        let reg = Registry::from_toml(text, Path::new("t.toml")).expect("valid");
        let v = Validator::new(Arc::new(reg), Limits::default());
        let both = br#"{"line_trigger_data":[{"line_uuid":"a","total":{"in":2,"out":0}}],
            "line_total_data":[{"line_uuid":"a","total":{"in_counted":120,"out_counted":117}}],
            "time":"2026-11-23T09:15:00+08:00"}"#;
        let r = v.check("doorstep/v1/s1/gate", both, NOW).expect("door");
        assert_eq!(
            r.value,
            Value::DoorTotal {
                in_total: 120,
                out_total: 117
            },
            "the totals, which survive a lost message"
        );
        assert_eq!(r.time_ms, NOW);
        let region = br#"{"region_count_data":[{"total":{"current_total":5}}]}"#;
        let e = v
            .check("doorstep/v1/s1/gate", region, NOW)
            .expect_err("no door reading");
        assert_eq!(e.reason, Reason::UnknownType);
        let vs121 = br#"{"event":"Region People Counting","current_total":4,
            "time_info":{"timezone":"UTC+8:00","end_time":"2026/11/23 09:15:00"}}"#;
        let r = v.check("doorstep/v1/s1/cam", vs121, NOW).expect("count");
        assert_eq!((r.value, r.time_ms), (Value::Count(4), NOW));
        // A native message to a vendor device is not what it speaks.
        let native = br#"{"type":"count","count":3}"#;
        assert!(v.check("doorstep/v1/s1/cam", native, NOW).is_err());
    }

    fn reason(topic: &str, payload: &str) -> Reason {
        validator()
            .check(topic, payload.as_bytes(), NOW)
            .expect_err("rejected")
            .reason
    }

    #[test]
    fn accepts_and_binds_to_room() {
        let r = validator()
            .check(
                "doorstep/v1/s1/d1",
                br#"{"type":"count","count":3,"seq":1}"#,
                NOW,
            )
            .expect("valid");
        assert_eq!(
            (r.time_ms, r.value, r.clock_skew),
            (NOW, Value::Count(3), false)
        );
    }

    #[test]
    fn rejects_by_topic_registry_and_time() {
        let ok = r#"{"type":"count","count":3}"#;
        assert_eq!(reason("doorstep/v1/s1", ok), Reason::BadTopic);
        assert_eq!(reason("doorstep/v1/s1/d1/x", ok), Reason::BadTopic);
        assert_eq!(reason("doorstep/v1/s1/ghost", ok), Reason::UnknownDevice);
        assert_eq!(reason("doorstep/v1/s2/d1", ok), Reason::SiteMismatch);
        assert_eq!(
            reason("doorstep/v1/s1/d1", r#"{"type":"count","count":61}"#),
            Reason::AbsurdCount
        );
        let future = format!(
            r#"{{"type":"count","count":1,"ts":{}}}"#,
            NOW + 25 * 3_600_000
        );
        assert_eq!(
            reason("doorstep/v1/s1/d1", &future),
            Reason::FutureTimestamp
        );
        let old = format!(
            r#"{{"type":"count","count":1,"ts":{}}}"#,
            NOW - 8 * 24 * 3_600_000
        );
        assert_eq!(reason("doorstep/v1/s1/d1", &old), Reason::TooOld);
    }

    #[test]
    fn skewed_clock_takes_receive_time() {
        let ahead = format!(r#"{{"type":"count","count":1,"ts":{}}}"#, NOW + 600_000);
        let r = validator()
            .check("doorstep/v1/s1/d1", ahead.as_bytes(), NOW)
            .expect("valid");
        assert_eq!((r.time_ms, r.clock_skew), (NOW, true));
        let slight = format!(r#"{{"type":"count","count":1,"ts":{}}}"#, NOW + 60_000);
        let r = validator()
            .check("doorstep/v1/s1/d1", slight.as_bytes(), NOW)
            .expect("valid");
        assert_eq!((r.time_ms, r.clock_skew), (NOW + 60_000, false));
    }

    /// Regression: a JSON array of 13 elements was accepted as a count reading
    /// (serde's derive reads a struct from a sequence of its fields).
    #[test]
    fn a_payload_that_is_not_a_json_object_is_rejected() {
        let array = r#"["count",null,null,7,null,null,null,null,null,null,null,null,null]"#;
        let rej = validator()
            .check("doorstep/v1/s1/d1", array.as_bytes(), NOW)
            .expect_err("an array is not a reading");
        assert_eq!(rej.reason, Reason::WrongType);
        assert_eq!(rej.detail, "the payload is a JSON array, not an object");
        assert_eq!(rej.payload, array.as_bytes(), "kept whole");
        for (payload, what) in [
            (r#"[{"type":"count","count":3}]"#, "a JSON array"),
            (r#""{\"type\":\"count\",\"count\":3}""#, "a JSON string"),
            ("3", "a JSON number"),
            ("true", "a JSON boolean"),
            ("null", "JSON null"),
        ] {
            let rej = validator()
                .check("doorstep/v1/s1/d1", payload.as_bytes(), NOW)
                .expect_err(payload);
            assert_eq!(rej.reason, Reason::WrongType, "{payload}");
            assert_eq!(
                rej.detail,
                format!("the payload is {what}, not an object"),
                "{payload}"
            );
        }
    }
}
