//! Operator alerts, kept in memory: over capacity, device offline, after-hours
//! use. Each is raised when its condition appears on the live board, ends
//! when it clears, and can be acknowledged by an operator.
//!
//! Conditions are read from the board's snapshot whenever the list is asked
//! for (the page polls it), so there is no timer to keep in step with a
//! simulated clock.

use crate::board::LiveSnapshot;
use crate::time::rfc3339_ms;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// Ended alerts kept for the list.
const KEEP_ENDED: usize = 200;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// More people than the room's capacity (METRICS.md OVERCROWDED, live).
    OverCapacity,
    /// The room's devices sent nothing for `stale_after` (3x their interval).
    DeviceOffline,
    /// People in a room outside its opening hours.
    AfterHours,
}

impl AlertKind {
    /// All kinds, for metrics.
    pub const ALL: [AlertKind; 3] = [
        AlertKind::OverCapacity,
        AlertKind::DeviceOffline,
        AlertKind::AfterHours,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::OverCapacity => "over_capacity",
            AlertKind::DeviceOffline => "device_offline",
            AlertKind::AfterHours => "after_hours",
        }
    }
}

/// One alert as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Stable id, for `POST /api/alerts/{id}/ack`.
    pub id: u64,
    /// What it is about.
    pub kind: AlertKind,
    /// Site id.
    pub site_id: String,
    /// Site name.
    pub site_name: String,
    /// Room id.
    pub room_id: String,
    /// Room name.
    pub room_name: String,
    /// Since when the condition holds, RFC 3339.
    pub since: String,
    /// When it cleared, RFC 3339; null while active.
    pub ended: Option<String>,
    /// The numbers behind it, in words (Chinese and English).
    pub detail_zh: String,
    /// The same in English.
    pub detail_en: String,
    /// Who acknowledged it; null until then.
    pub acked_by: Option<String>,
    /// When, RFC 3339 (the board's clock).
    pub acked_at: Option<String>,
}

type Key = (AlertKind, String, String);

#[derive(Default)]
struct Book {
    next_id: u64,
    active: BTreeMap<Key, Alert>,
    ended: VecDeque<Alert>,
}

/// The alert list.
#[derive(Default)]
pub struct Alerts {
    book: Mutex<Book>,
}

/// Why an acknowledgement failed.
#[derive(Debug, PartialEq, Eq)]
pub enum AckError {
    /// No alert has this id.
    NotFound,
    /// The alert is of a site the caller may not see.
    Forbidden,
}

impl Alerts {
    /// Brings the list up to date with `snap`, then returns active alerts
    /// (oldest first) and ended ones (latest first) that `visible` lets through.
    pub fn refresh(
        &self,
        snap: &LiveSnapshot,
        now_ms: i64,
        visible: impl Fn(&str) -> bool,
    ) -> Vec<Alert> {
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen = BTreeMap::new();
        for site in &snap.sites {
            for room in &site.rooms {
                let mut raise = |kind: AlertKind, since: String, zh: String, en: String| {
                    seen.insert(
                        (kind, site.id.clone(), room.id.clone()),
                        (site, room, since, zh, en),
                    );
                };
                if let Some(since) = &room.over_capacity_since {
                    let n = room.occupancy.unwrap_or(0);
                    raise(
                        AlertKind::OverCapacity,
                        since.clone(),
                        format!("{n} 人，容量 {}", room.capacity),
                        format!("{n} people, capacity {}", room.capacity),
                    );
                }
                if room.health == "offline" {
                    let ids: Vec<&str> = room.devices.iter().map(|d| d.id.as_str()).collect();
                    let since = room
                        .valid_until
                        .clone()
                        .or_else(|| room.updated.clone())
                        .unwrap_or_default();
                    raise(
                        AlertKind::DeviceOffline,
                        since,
                        format!("设备无数据：{}", ids.join("、")),
                        format!("no data from {}", ids.join(", ")),
                    );
                }
                if !room.open_now && !room.stale && room.occupancy.is_some_and(|n| n > 0) {
                    let n = room.occupancy.unwrap_or(0);
                    raise(
                        AlertKind::AfterHours,
                        room.updated.clone().unwrap_or_default(),
                        format!("非开放时段有 {n} 人"),
                        format!("{n} present outside opening hours"),
                    );
                }
            }
        }
        let now = rfc3339_ms(now_ms);
        let gone: Vec<Key> = book
            .active
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(mut a) = book.active.remove(&key) {
                a.ended = Some(now.clone());
                book.ended.push_front(a);
            }
        }
        book.ended.truncate(KEEP_ENDED);
        for (key, (site, room, since, zh, en)) in seen {
            let book = &mut *book;
            match book.active.get_mut(&key) {
                Some(a) => (a.detail_zh, a.detail_en) = (zh, en),
                None => {
                    book.next_id += 1;
                    book.active.insert(
                        key.clone(),
                        Alert {
                            id: book.next_id,
                            kind: key.0,
                            site_id: site.id.clone(),
                            site_name: site.name.clone(),
                            room_id: room.id.clone(),
                            room_name: room.name.clone(),
                            since,
                            ended: None,
                            detail_zh: zh,
                            detail_en: en,
                            acked_by: None,
                            acked_at: None,
                        },
                    );
                }
            }
        }
        let mut out: Vec<Alert> = book
            .active
            .values()
            .filter(|a| visible(&a.site_id))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.since.cmp(&b.since).then(a.id.cmp(&b.id)));
        out.extend(book.ended.iter().filter(|a| visible(&a.site_id)).cloned());
        out
    }

    /// Marks alert `id` acknowledged by `who` at `now_ms`.
    pub fn ack(
        &self,
        id: u64,
        who: &str,
        now_ms: i64,
        visible: impl Fn(&str) -> bool,
    ) -> Result<Alert, AckError> {
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        let book = &mut *book;
        let alert = book
            .active
            .values_mut()
            .chain(book.ended.iter_mut())
            .find(|a| a.id == id)
            .ok_or(AckError::NotFound)?;
        if !visible(&alert.site_id) {
            return Err(AckError::Forbidden);
        }
        if alert.acked_by.is_none() {
            alert.acked_by = Some(who.to_owned());
            alert.acked_at = Some(rfc3339_ms(now_ms));
            tracing::info!(id, kind = alert.kind.as_str(), site = %alert.site_id, room = %alert.room_id, by = who, "alert acknowledged");
        }
        Ok(alert.clone())
    }

    /// Active alerts per kind (for /metrics), as last refreshed.
    pub fn active_counts(&self) -> [(AlertKind, usize); 3] {
        let book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        AlertKind::ALL.map(|k| (k, book.active.keys().filter(|key| key.0 == k).count()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{RoomView, SiteView};

    fn snap(over: bool, offline: bool) -> LiveSnapshot {
        let room = RoomView {
            id: "hall".into(),
            name: "多功能厅".into(),
            floor: None,
            capacity: 10,
            area_m2: 50.0,
            occupancy: Some(12),
            last_occupancy: Some(12),
            updated: Some("2026-11-23T02:00:00Z".into()),
            valid_until: Some("2026-11-23T02:03:00Z".into()),
            stale: offline,
            load: Some(1.2),
            open_now: true,
            presence_only: false,
            category_now: None,
            category_now_zh: None,
            health: if offline { "offline" } else { "ok" },
            devices: Vec::new(),
            idle_since: None,
            over_capacity_since: over.then(|| "2026-11-23T01:50:00Z".into()),
        };
        LiveSnapshot {
            now: String::new(),
            clock_speed: 1.0,
            sites: vec![SiteView {
                id: "s1".into(),
                name: "一".into(),
                city: String::new(),
                district: String::new(),
                rooms: vec![room],
            }],
        }
    }

    #[test]
    fn raised_kept_acknowledged_and_ended() {
        let alerts = Alerts::default();
        let list = alerts.refresh(&snap(true, false), 0, |_| true);
        assert_eq!(list.len(), 1);
        let id = list[0].id;
        assert_eq!(list[0].kind, AlertKind::OverCapacity);
        // The same condition keeps its id.
        assert_eq!(alerts.refresh(&snap(true, false), 1, |_| true)[0].id, id);
        assert_eq!(
            alerts.ack(id, "op", 2, |_| false).err(),
            Some(AckError::Forbidden)
        );
        let acked = alerts.ack(id, "op", 2, |_| true).expect("ack");
        assert_eq!(acked.acked_by.as_deref(), Some("op"));
        assert_eq!(
            alerts.ack(999, "op", 2, |_| true).err(),
            Some(AckError::NotFound)
        );
        let list = alerts.refresh(&snap(false, true), 3, |_| true);
        assert_eq!(list[0].kind, AlertKind::DeviceOffline);
        assert!(list[1].ended.is_some() && list[1].acked_by.is_some());
        assert!(
            alerts
                .refresh(&snap(false, true), 3, |s| s != "s1")
                .is_empty()
        );
    }
}
