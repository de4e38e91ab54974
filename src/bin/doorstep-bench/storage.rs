//! Storage: bytes per event in `raw_events` and per room-day in the metric tables.

use crate::fleet;
use analytics::Store;
use devices::sim::Fleet;
use devices::{Limits, Validator, WindowKind};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// 2026-11-01 00:00 in Shanghai, Unix ms.
const START_MS: i64 = 1_793_462_400_000;

/// Bytes and `.parquet` files under a table's directory.
fn size(root: &Path, table: &str) -> (u64, usize) {
    let (mut bytes, mut files) = (0, 0);
    let Ok(parts) = std::fs::read_dir(root.join(table)) else {
        return (0, 0);
    };
    for part in parts.flatten() {
        for f in std::fs::read_dir(part.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == "parquet") {
                bytes += f.metadata().map(|m| m.len()).unwrap_or(0);
                files += 1;
            }
        }
    }
    (bytes, files)
}

pub fn run(sites: usize, days: i64) -> anyhow::Result<()> {
    let began = Instant::now();
    let registry = fleet::registry(sites)?;
    let dir = std::env::temp_dir().join(format!("doorstep-bench-storage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, Arc::clone(&registry))?;
    let validator = Validator::new(Arc::clone(&registry), Limits::default());
    let mut fleet = Fleet::new(Arc::clone(&registry), 1, START_MS);
    let mut all = Vec::new();
    for hour in 0..days * 24 {
        let until = START_MS + (hour + 1) * 3_600_000;
        let mut readings = Vec::new();
        for p in fleet.step(until) {
            // Received 50 ms to 2 s after the measurement, scattered like network delays.
            let jitter = (p.time_ms.wrapping_mul(2_654_435_761) ^ p.payload.len() as i64)
                .rem_euclid(1950)
                + 50;
            let r = validator.check(&p.topic, &p.payload, p.time_ms + jitter);
            readings.push(r.map_err(|e| anyhow::anyhow!("simulated message rejected: {e:?}"))?);
        }
        store.write_raw_events(&readings)?;
        all.extend(readings);
        if hour % 24 == 23 {
            eprintln!(
                "storage: day {} of {days}, {} events",
                hour / 24 + 1,
                all.len()
            );
        }
    }
    let events = all.len() as u64;
    let (flushed, flushed_files) = size(&dir, analytics::raw_events::TABLE);
    let far = chrono::NaiveDate::MAX;
    store.compact(far, 1_000_000)?;
    let (compacted, compacted_files) = size(&dir, analytics::raw_events::TABLE);

    eprintln!("storage: replaying {events} events through the dataflow");
    let until = START_MS / 1000 + days * 86_400;
    let out = stream::replay(
        Arc::clone(&registry),
        &stream::StreamConfig::default(),
        all,
        4096,
        until,
    )?;
    store.write_windows(&out.windows)?;
    store.write_flags(&out.flags)?;
    store.write_site_days(&out.site_days)?;
    store.write_idle_slots(&out.idle_slots)?;
    store.write_device_days(&out.device_days)?;
    let room_days = out
        .windows
        .iter()
        .filter(|w| w.kind == WindowKind::Day)
        .count() as u64;
    let room_hours = out
        .windows
        .iter()
        .filter(|w| w.kind == WindowKind::Hour)
        .count() as u64;
    let metric_tables = [
        analytics::room_hour::TABLE,
        analytics::room_day::TABLE,
        analytics::room_slot_day::TABLE,
        analytics::flags::TABLE,
        analytics::idle_slots::TABLE,
        analytics::device_day::TABLE,
        analytics::site_day::TABLE,
    ];
    let metrics: u64 = metric_tables.iter().map(|t| size(&dir, t).0).sum();
    let (hour_bytes, _) = size(&dir, analytics::room_hour::TABLE);
    let (day_bytes, _) = size(&dir, analytics::room_day::TABLE);
    if std::env::var_os("DOORSTEP_BENCH_KEEP").is_some() {
        eprintln!("storage: tables kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }

    let per = |b: u64, n: u64| b as f64 / n.max(1) as f64;
    println!("## Storage\n");
    println!(
        "Simulated fleet: {} sites, {} rooms, {} devices (the sample registry copied), {days} days from 2026-11-01, \
         {events} events; written an hour at a time, then compacted as `[store]` does \
         (sorted files of up to 1,000,000 rows). Measured by `doorstep-bench storage --sites {sites} --days {days}` in {:.0} s.\n",
        registry.sites.len(),
        registry.rooms.len(),
        registry.devices.len(),
        began.elapsed().as_secs_f64()
    );
    println!("| what | rows | bytes | bytes per row |");
    println!("|---|---:|---:|---:|");
    println!(
        "| `raw_events` as flushed ({flushed_files} files) | {events} | {flushed} | {:.2} per event |",
        per(flushed, events)
    );
    println!(
        "| `raw_events` compacted ({compacted_files} files) | {events} | {compacted} | **{:.2} per event** |",
        per(compacted, events)
    );
    println!(
        "| `room_hour` | {room_hours} | {hour_bytes} | {:.1} per room-hour |",
        per(hour_bytes, room_hours)
    );
    println!(
        "| `room_day` | {room_days} | {day_bytes} | {:.1} per room-day |",
        per(day_bytes, room_days)
    );
    println!(
        "| all metric tables (`room_hour` to `site_day`) | | {metrics} | **{:.0} per room-day** |",
        per(metrics, room_days)
    );
    println!();
    Ok(())
}
