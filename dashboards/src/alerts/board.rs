//! The conditions the live board shows by itself: a room over its capacity,
//! people in a room outside its opening hours.

use super::{AlertKind, Condition};
use crate::board::{LiveSnapshot, RoomView};

/// Unix milliseconds of an RFC 3339 time of the board (its own format).
fn ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Every room condition of `snap`: over capacity and after-hours use, while
/// the room's value is fresh (a stale value raises nothing here; its device
/// raises `device_offline`).
pub fn board_conditions(snap: &LiveSnapshot) -> Vec<Condition> {
    let mut out = Vec::new();
    for site in &snap.sites {
        for room in &site.rooms {
            let make = |kind, since_ms, detail_zh, detail_en| Condition {
                kind,
                site_id: site.id.clone(),
                site_name: site.name.clone(),
                room_id: room.id.clone(),
                room_name: room.name.clone(),
                device_id: None,
                since_ms,
                detail_zh,
                detail_en,
            };
            let Some(n) = room.occupancy.filter(|_| !room.stale) else {
                continue;
            };
            if let Some(since) = room.over_capacity_since.as_deref().and_then(ms) {
                out.push(make(
                    AlertKind::OverCapacity,
                    since,
                    format!("{n} 人，容量 {} 人", room.capacity),
                    format!("{n} people, capacity {}", room.capacity),
                ));
            }
            if !room.open_now && n > 0 {
                out.push(make(
                    AlertKind::AfterHours,
                    since_updated(room),
                    format!("非开放时段有 {n} 人"),
                    format!("{n} present outside opening hours"),
                ));
            }
        }
    }
    out
}

fn since_updated(room: &RoomView) -> i64 {
    room.updated.as_deref().and_then(ms).unwrap_or_default()
}
