//! The conditions of devices, of closed days and of the whole installation;
//! the board's own (over capacity, after hours) are `dashboards::board_conditions`.

use dashboards::ledger::Seen;
use dashboards::{AlertKind, Condition};
use devices::{Device, FlagKind, Registry};
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// A room's IDLE or DOOR_DRIFT flag of a closed day, kept until the end of the next day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagNote {
    /// Site id.
    pub site_id: String,
    /// Room id.
    pub room_id: String,
    /// `idle` or `door_drift`.
    pub kind: AlertKind,
    /// Start of the local day the flag is for, Unix ms.
    pub day_ms: i64,
    /// The flag's reason in Chinese.
    pub reason_zh: String,
    /// The same in English.
    pub reason_en: String,
}

impl FlagNote {
    /// The note of a flag that raises an alert (IDLE, DOOR_DRIFT); `None` for others.
    pub fn of(registry: &Registry, flag: &devices::Flag) -> Option<FlagNote> {
        let kind = match flag.kind {
            FlagKind::Idle => AlertKind::Idle,
            FlagKind::DoorDrift => AlertKind::DoorDrift,
            _ => return None,
        };
        let room = registry.rooms.get(flag.room.ix())?;
        Some(FlagNote {
            site_id: registry.site(room.site).id.clone(),
            room_id: room.id.clone(),
            kind,
            day_ms: flag.day * 1000,
            reason_zh: flag.reason_zh.clone(),
            reason_en: flag.reason_en.clone(),
        })
    }
}

/// A length of time in words: seconds under two minutes, else minutes.
fn span(ms: i64) -> (String, String) {
    match ms / 1000 {
        s if s < 120 => (format!("{s} 秒"), format!("{s} s")),
        s => (format!("{} 分钟", s / 60), format!("{} min", s / 60)),
    }
}

/// Local `MM-DD HH:MM` of `ms` at a site.
fn local(ms: i64, tz: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&tz).format("%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn device_condition(
    registry: &Registry,
    d: &Device,
    kind: AlertKind,
    since_ms: i64,
    zh: String,
    en: String,
) -> Condition {
    let site = registry.site(d.site);
    let room = registry.rooms.get(d.room.ix());
    Condition {
        kind,
        site_id: site.id.clone(),
        site_name: site.name.clone(),
        room_id: room.map(|r| r.id.clone()).unwrap_or_default(),
        room_name: room.map(|r| r.name.clone()).unwrap_or_default(),
        device_id: Some(d.id.clone()),
        since_ms,
        detail_zh: zh,
        detail_en: en,
    }
}

/// Offline and low-battery devices at `now_ms` (event time). A device is offline
/// once `stale_after` of its interval has passed since it was last heard, or,
/// never heard, since doorstep started watching (`watching_since_ms`).
pub fn device_conditions(
    registry: &Registry,
    seen: &[Option<Seen>],
    watching_since_ms: i64,
    now_ms: i64,
    low_battery_pct: u8,
) -> Vec<Condition> {
    let mut out = Vec::new();
    for (i, d) in registry.devices.iter().enumerate() {
        // Retired, or taken out of the registry: no alerts, the past stays.
        if d.retired || d.gone_from_ms.is_some() {
            continue;
        }
        let tz = registry.site(d.site).timezone;
        let s = seen.get(i).copied().flatten();
        let stale_ms = stream::signal::stale_after(d.interval_s) * 1000;
        let heard = s.map_or(watching_since_ms, |s| s.heard_ms);
        if now_ms >= heard + stale_ms {
            let since = heard + stale_ms;
            let (zh_for, en_for) = span(stale_ms);
            let (zh, en) = match s {
                Some(_) => (
                    format!(
                        "设备 {} 最后上报于 {}，已超过 {zh_for}无数据（上报间隔 {} 秒）",
                        d.id,
                        local(heard, tz),
                        d.interval_s
                    ),
                    format!(
                        "device {} last reported at {}, nothing for over {en_for} (reports every {} s)",
                        d.id,
                        local(heard, tz),
                        d.interval_s
                    ),
                ),
                None => (
                    format!("设备 {} 已登记，但从未上报", d.id),
                    format!("device {} is registered but has never reported", d.id),
                ),
            };
            out.push(device_condition(
                registry,
                d,
                AlertKind::DeviceOffline,
                since,
                zh,
                en,
            ));
        }
        if let Some((pct, at)) = s.and_then(|s| s.battery)
            && pct < low_battery_pct
        {
            out.push(device_condition(
                registry,
                d,
                AlertKind::LowBattery,
                at,
                format!("设备 {} 电量 {pct}%（低于 {low_battery_pct}%）", d.id),
                format!("device {} battery {pct}% (below {low_battery_pct}%)", d.id),
            ));
        }
    }
    out
}

/// The flags that still hold at `now_ms`: each from the close of its day to the
/// end of the next day (a room flagged again the next day keeps its alert).
pub fn flag_conditions(registry: &Registry, notes: &[FlagNote], now_ms: i64) -> Vec<Condition> {
    notes
        .iter()
        .filter(|n| now_ms >= n.day_ms + DAY_MS && now_ms < n.day_ms + 2 * DAY_MS)
        .filter_map(|n| {
            let room = registry.room_by_ids(&n.site_id, &n.room_id)?;
            let room = registry.rooms.get(room.ix())?;
            let site = registry.site(room.site);
            Some(Condition {
                kind: n.kind,
                site_id: site.id.clone(),
                site_name: site.name.clone(),
                room_id: room.id.clone(),
                room_name: room.name.clone(),
                device_id: None,
                since_ms: n.day_ms + DAY_MS,
                detail_zh: n.reason_zh.clone(),
                detail_en: n.reason_en.clone(),
            })
        })
        .collect()
}

/// Keeps the latest note per room and kind, and only those that can still hold.
pub fn keep_notes(notes: &mut Vec<FlagNote>, now_ms: i64) {
    notes.sort_by(|a, b| {
        (&a.site_id, &a.room_id, a.kind, b.day_ms).cmp(&(&b.site_id, &b.room_id, b.kind, a.day_ms))
    });
    notes.dedup_by(|b, a| (&a.site_id, &a.room_id, a.kind) == (&b.site_id, &b.room_id, b.kind));
    notes.retain(|n| now_ms < n.day_ms + 2 * DAY_MS);
}

/// `ingest_stalled`: no device message for `stalled_ms` (real time) since `last_ms` (the clock's time then).
pub fn stalled_condition(last_ms: i64, quiet_for_ms: i64, stalled_ms: i64) -> Option<Condition> {
    (quiet_for_ms >= stalled_ms).then(|| {
        let minutes = quiet_for_ms / 60_000;
        Condition {
            kind: AlertKind::IngestStalled,
            site_id: String::new(),
            site_name: String::new(),
            room_id: String::new(),
            room_name: String::new(),
            device_id: None,
            since_ms: last_ms,
            detail_zh: format!("{minutes} 分钟内没有收到任何设备消息：请检查 MQTT 代理与网络"),
            detail_en: format!(
                "no device message for {minutes} min: check the MQTT broker and the network"
            ),
        }
    })
}

#[cfg(test)]
mod tests;
