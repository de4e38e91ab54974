//! The alert book: every alert with its start, end and acknowledgement.
//!
//! The book does not decide what is wrong. The pipeline evaluates the
//! conditions continuously (in event time) and hands the whole set to
//! [`Alerts::apply`]; the book opens an alert for each new condition, ends the
//! ones that cleared, and reopens an alert whose condition comes back within
//! the cooldown instead of opening (and paging) a new one. Every change is
//! queued for [`Alerts::take_changes`], from which the pipeline persists and
//! delivers. The web app lists and acknowledges.

mod board;

pub use board::board_conditions;

use crate::time::rfc3339_ms;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// Ended alerts kept for the list (and across a restart).
const KEEP_ENDED: usize = 200;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// More people than the room takes (a live OVERCROWDED).
    OverCapacity,
    /// A device sent nothing for its `stale_after`, or never reported since it was registered.
    DeviceOffline,
    /// A device's battery is below the configured level.
    LowBattery,
    /// People in a room outside its opening hours.
    AfterHours,
    /// The room was flagged IDLE (建而不用) at the close of a day.
    Idle,
    /// The room was flagged DOOR_DRIFT at the close of a day.
    DoorDrift,
    /// No device message reached doorstep for a while.
    IngestStalled,
}

impl AlertKind {
    /// All kinds, for metrics and configuration.
    pub const ALL: [AlertKind; 7] = [
        AlertKind::OverCapacity,
        AlertKind::DeviceOffline,
        AlertKind::LowBattery,
        AlertKind::AfterHours,
        AlertKind::Idle,
        AlertKind::DoorDrift,
        AlertKind::IngestStalled,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::OverCapacity => "over_capacity",
            AlertKind::DeviceOffline => "device_offline",
            AlertKind::LowBattery => "low_battery",
            AlertKind::AfterHours => "after_hours",
            AlertKind::Idle => "idle",
            AlertKind::DoorDrift => "door_drift",
            AlertKind::IngestStalled => "ingest_stalled",
        }
    }

    /// The kind named `s` (snake_case).
    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Its name in Chinese, for messages sent out.
    pub fn zh(self) -> &'static str {
        match self {
            AlertKind::OverCapacity => "超员",
            AlertKind::DeviceOffline => "设备离线",
            AlertKind::LowBattery => "电量低",
            AlertKind::AfterHours => "非开放时段使用",
            AlertKind::Idle => "建而不用",
            AlertKind::DoorDrift => "门计数偏差",
            AlertKind::IngestStalled => "数据接入中断",
        }
    }
}

/// A condition that holds now, as the pipeline sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// What it is about.
    pub kind: AlertKind,
    /// Site id; empty for a condition of the whole installation.
    pub site_id: String,
    /// Site name.
    pub site_name: String,
    /// Room id; empty when the condition is not about a room.
    pub room_id: String,
    /// Room name.
    pub room_name: String,
    /// The device, for device conditions.
    pub device_id: Option<String>,
    /// Since when it holds, Unix milliseconds (event time).
    pub since_ms: i64,
    /// The numbers behind it, in Chinese.
    pub detail_zh: String,
    /// The same in English.
    pub detail_en: String,
}

/// One alert as the API shows it, persists it and sends it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id, for `POST /api/alerts/{id}/ack`.
    pub id: u64,
    /// What it is about.
    pub kind: AlertKind,
    /// Site id (empty for the whole installation).
    pub site_id: String,
    /// Site name.
    pub site_name: String,
    /// Room id (empty when not about a room).
    pub room_id: String,
    /// Room name.
    pub room_name: String,
    /// The device, for device alerts.
    pub device_id: Option<String>,
    /// Since when the condition holds, RFC 3339.
    pub since: String,
    /// The same, Unix milliseconds.
    pub since_ms: i64,
    /// When it cleared, RFC 3339; null while active.
    pub ended: Option<String>,
    /// The same, Unix milliseconds.
    pub ended_ms: Option<i64>,
    /// The numbers behind it, in Chinese.
    pub detail_zh: String,
    /// The same in English.
    pub detail_en: String,
    /// Who acknowledged it; null until then.
    pub acked_by: Option<String>,
    /// When, RFC 3339 (the pipeline's clock).
    pub acked_at: Option<String>,
    /// Times the condition cleared and came back within the cooldown.
    pub reopened: u32,
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new alert: delivered to the channels.
    Opened,
    /// Its condition came back within the cooldown: the same alert goes on, nobody is paged.
    Reopened,
    /// Someone acknowledged it.
    Acknowledged,
    /// Its condition cleared.
    Ended,
}

impl ChangeKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Opened => "opened",
            ChangeKind::Reopened => "reopened",
            ChangeKind::Acknowledged => "acknowledged",
            ChangeKind::Ended => "ended",
        }
    }
}

/// A change of an alert, with the alert as it is after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What happened.
    pub what: ChangeKind,
    /// When, Unix milliseconds (the pipeline's clock).
    pub at_ms: i64,
    /// The alert after the change.
    pub alert: Alert,
}

type Key = (AlertKind, String, String, String);

fn key_of(kind: AlertKind, site: &str, room: &str, device: Option<&str>) -> Key {
    (
        kind,
        site.to_owned(),
        room.to_owned(),
        device.unwrap_or_default().to_owned(),
    )
}

fn alert_key(a: &Alert) -> Key {
    key_of(a.kind, &a.site_id, &a.room_id, a.device_id.as_deref())
}

/// What the book keeps across a restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Saved {
    /// The last id given.
    pub next_id: u64,
    /// Active alerts.
    pub active: Vec<Alert>,
    /// Ended alerts, latest first.
    pub ended: Vec<Alert>,
}

#[derive(Default)]
struct Book {
    next_id: u64,
    active: BTreeMap<Key, Alert>,
    ended: VecDeque<Alert>,
    changes: Vec<Change>,
}

/// The alert list, shared between the pipeline (which applies conditions) and
/// the web app (which lists and acknowledges).
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

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("active", &self.lock().active.len())
            .finish_non_exhaustive()
    }
}

impl Alerts {
    /// A book holding what [`Alerts::save`] gave before a restart.
    pub fn restore(saved: Saved) -> Alerts {
        let mut book = Book {
            next_id: saved.next_id,
            ..Book::default()
        };
        for a in saved.active {
            book.next_id = book.next_id.max(a.id);
            book.active.insert(alert_key(&a), a);
        }
        for a in saved.ended.into_iter().take(KEEP_ENDED) {
            book.next_id = book.next_id.max(a.id);
            book.ended.push_back(a);
        }
        Alerts {
            book: Mutex::new(book),
        }
    }

    /// What to keep across a restart.
    pub fn save(&self) -> Saved {
        let book = self.lock();
        Saved {
            next_id: book.next_id,
            active: book.active.values().cloned().collect(),
            ended: book.ended.iter().cloned().collect(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Brings the book up to date with every condition that holds at `now_ms`:
    /// new ones open an alert (or reopen one that ended less than `cooldown_ms`
    /// ago), those no longer there end.
    pub fn apply(&self, conditions: Vec<Condition>, now_ms: i64, cooldown_ms: i64) {
        let mut book = self.lock();
        let book = &mut *book;
        let mut holding: BTreeMap<Key, Condition> = BTreeMap::new();
        for c in conditions {
            let key = key_of(c.kind, &c.site_id, &c.room_id, c.device_id.as_deref());
            holding.entry(key).or_insert(c);
        }
        let cleared: Vec<Key> = book
            .active
            .keys()
            .filter(|k| !holding.contains_key(*k))
            .cloned()
            .collect();
        for key in cleared {
            if let Some(mut a) = book.active.remove(&key) {
                a.ended = Some(rfc3339_ms(now_ms));
                a.ended_ms = Some(now_ms);
                book.changes.push(Change {
                    what: ChangeKind::Ended,
                    at_ms: now_ms,
                    alert: a.clone(),
                });
                book.ended.push_front(a);
            }
        }
        book.ended.truncate(KEEP_ENDED);
        for (key, c) in holding {
            if let Some(a) = book.active.get_mut(&key) {
                (a.detail_zh, a.detail_en) = (c.detail_zh, c.detail_en);
                continue;
            }
            let recent = book.ended.iter().position(|a| {
                alert_key(a) == key && a.ended_ms.is_some_and(|e| now_ms - e < cooldown_ms)
            });
            let (alert, what) = match recent.and_then(|i| book.ended.remove(i)) {
                Some(mut a) => {
                    a.ended = None;
                    a.ended_ms = None;
                    a.reopened += 1;
                    (a.detail_zh, a.detail_en) = (c.detail_zh, c.detail_en);
                    (a, ChangeKind::Reopened)
                }
                None => {
                    book.next_id += 1;
                    let a = Alert {
                        id: book.next_id,
                        kind: c.kind,
                        site_id: c.site_id,
                        site_name: c.site_name,
                        room_id: c.room_id,
                        room_name: c.room_name,
                        device_id: c.device_id,
                        since: rfc3339_ms(c.since_ms),
                        since_ms: c.since_ms,
                        ended: None,
                        ended_ms: None,
                        detail_zh: c.detail_zh,
                        detail_en: c.detail_en,
                        acked_by: None,
                        acked_at: None,
                        reopened: 0,
                    };
                    (a, ChangeKind::Opened)
                }
            };
            book.changes.push(Change {
                what,
                at_ms: now_ms,
                alert: alert.clone(),
            });
            book.active.insert(key, alert);
        }
    }

    /// The changes since the last call, oldest first.
    pub fn take_changes(&self) -> Vec<Change> {
        std::mem::take(&mut self.lock().changes)
    }

    /// Whether alert `id` is active now.
    pub fn is_active(&self, id: u64) -> bool {
        self.lock().active.values().any(|a| a.id == id)
    }

    /// Active alerts (oldest first) and ended ones (latest first) that `visible`
    /// lets through. An alert of the whole installation (no site) is visible to all.
    pub fn list(&self, visible: impl Fn(&str) -> bool) -> Vec<Alert> {
        let book = self.lock();
        let shown = |a: &&Alert| a.site_id.is_empty() || visible(&a.site_id);
        let mut out: Vec<Alert> = book.active.values().filter(shown).cloned().collect();
        out.sort_by(|a, b| a.since_ms.cmp(&b.since_ms).then(a.id.cmp(&b.id)));
        out.extend(book.ended.iter().filter(shown).cloned());
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
        let mut book = self.lock();
        let book = &mut *book;
        let alert = book
            .active
            .values_mut()
            .chain(book.ended.iter_mut())
            .find(|a| a.id == id)
            .ok_or(AckError::NotFound)?;
        if !alert.site_id.is_empty() && !visible(&alert.site_id) {
            return Err(AckError::Forbidden);
        }
        if alert.acked_by.is_none() {
            alert.acked_by = Some(who.to_owned());
            alert.acked_at = Some(rfc3339_ms(now_ms));
            tracing::info!(id, kind = alert.kind.as_str(), site = %alert.site_id, room = %alert.room_id, by = who, "alert acknowledged");
            let alert = alert.clone();
            book.changes.push(Change {
                what: ChangeKind::Acknowledged,
                at_ms: now_ms,
                alert: alert.clone(),
            });
            return Ok(alert);
        }
        Ok(alert.clone())
    }

    /// Active alerts per kind (for /metrics).
    pub fn active_counts(&self) -> Vec<(AlertKind, usize)> {
        let book = self.lock();
        AlertKind::ALL
            .into_iter()
            .map(|k| (k, book.active.keys().filter(|key| key.0 == k).count()))
            .collect()
    }
}

#[cfg(test)]
mod tests;
