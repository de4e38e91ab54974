//! Days of stored history for a registry, written straight into the tables (as
//! `doorstep-bench reports` does), so that a run starts with its flags' and idle
//! slots' lookback full: `room_hour`, `room_day` and `device_day` for each room
//! and device over the days before today.

use crate::reports::mix;
use devices::{DeviceDay, Registry, RoomIdx, RoomWindow, VisitsMethod, WindowKind};
use std::path::Path;
use std::sync::Arc;

/// Writes `days` days before today (local) of every room and device of
/// `registry` into the tables under `data`; returns the rows written.
pub fn write(data: &Path, registry: &Arc<Registry>, days: i64) -> anyhow::Result<u64> {
    let store = analytics::Store::open(data, Arc::clone(registry))?;
    let now = chrono::Utc::now().timestamp();
    let mut rows = 0u64;
    for back in (1..=days).rev() {
        let mut windows = Vec::with_capacity(registry.rooms.len() * 25);
        let mut device_days = Vec::with_capacity(registry.devices.len());
        for (i, room) in registry.rooms.iter().enumerate() {
            let tz = registry.site(room.site).timezone;
            let start = stream::local_time::day_start(tz, now - back * 86_400);
            let end = stream::local_time::day_end(tz, start);
            let spans = room.schedule.open_spans(tz, start, end);
            let open_in = |a: i64, b: i64| -> u32 {
                spans
                    .iter()
                    .map(|s| (s.end.min(b) - s.start.max(a)).max(0) as u32)
                    .sum()
            };
            let row = |kind, a: i64, b: i64, salt: i64| {
                let h = mix(i as i64, a + salt);
                let open = open_in(a, b);
                let measured = open - (h % 8) as u32 * open / 100;
                let occupied = (h >> 12) as u32 % (measured / 2 + 1);
                RoomWindow {
                    kind,
                    room: RoomIdx(i as u32),
                    start: a,
                    end: b,
                    open_seconds: open,
                    measured_seconds: measured,
                    occupied_seconds: occupied,
                    person_seconds: u64::from(occupied) * 2,
                    peak_occupancy: Some((h >> 40) as u32 % 12),
                    visits: (h >> 20) % 40,
                    visits_method: VisitsMethod::Transitions,
                    longest_idle_seconds: measured - occupied,
                    after_hours_occupied_seconds: 0,
                    over_capacity_seconds: 0,
                    capacity: Some(room.capacity),
                    door_residual: None,
                    revision: 0,
                }
            };
            let mut hour = start;
            while hour < end {
                let next = stream::local_time::hour_end(tz, hour);
                windows.push(row(WindowKind::Hour, hour, next, 0));
                hour = next;
            }
            let day = row(WindowKind::Day, start, end, 1);
            for d in &room.devices {
                device_days.push(DeviceDay {
                    device: *d,
                    room: RoomIdx(i as u32),
                    start,
                    end,
                    open_seconds: day.open_seconds,
                    offline_seconds: day.open_seconds - day.measured_seconds,
                    reports: 2_800,
                    min_battery_pct: None,
                    constant_count: None,
                    implausible_counts: 0,
                    stuck: false,
                    revision: 0,
                });
            }
            windows.push(day);
        }
        store.write_windows(&windows)?;
        store.write_device_days(&device_days)?;
        rows += (windows.len() + device_days.len()) as u64;
    }
    Ok(rows)
}
