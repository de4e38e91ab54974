//! Reports: `doorstep report compare` and `report underuse` over a simulated
//! year of 5,000 sites (rows written straight into the tables).

use crate::fleet;
use analytics::Store;
use devices::{Flag, FlagKind, RoomWindow, SiteDay, VisitsMethod, WindowKind};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

/// 2026-01-01 00:00 in Shanghai, Unix seconds.
const YEAR_S: i64 = 1_767_196_800;

/// A pseudo-random number from a few integers (no RNG state needed).
pub fn mix(a: i64, b: i64) -> u64 {
    let mut x = (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

pub fn run(sites: usize, days: i64) -> anyhow::Result<()> {
    let registry = fleet::registry(sites)?;
    let dir = std::env::temp_dir().join(format!("doorstep-bench-reports-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let registry_file = dir.join("registry.toml");
    std::fs::write(&registry_file, fleet::registry_toml(sites)?)?;
    let data = dir.join("data");
    let store = Store::open(&data, Arc::clone(&registry))?;
    let (mut room_days, mut flags_n) = (0usize, 0usize);
    for day in 0..days {
        let start = YEAR_S + day * 86_400;
        let mut windows = Vec::with_capacity(registry.rooms.len());
        let mut flags = Vec::new();
        for (i, room) in registry.rooms.iter().enumerate() {
            let h = mix(i as i64, day);
            let open = 36_000;
            let measured = open - (h % 4_000) as u32;
            let occupied = (h >> 12) as u32 % measured.max(1);
            windows.push(RoomWindow {
                kind: WindowKind::Day,
                room: devices::RoomIdx(i as u32),
                start,
                end: start + 86_400,
                open_seconds: open,
                measured_seconds: measured,
                occupied_seconds: occupied,
                person_seconds: u64::from(occupied) * 3,
                peak_occupancy: Some((h >> 40) as u32 % 30),
                visits: (h >> 20) % 200,
                visits_method: VisitsMethod::Transitions,
                longest_idle_seconds: measured - occupied,
                after_hours_occupied_seconds: 0,
                over_capacity_seconds: 0,
                capacity: Some(room.capacity),
                door_residual: None,
                revision: 0,
            });
            if h.is_multiple_of(10) {
                flags.push(Flag {
                    room: devices::RoomIdx(i as u32),
                    day: start,
                    kind: FlagKind::Underused,
                    lookback_days: 28,
                    coverage: Some(0.9),
                    time_utilization: Some(0.05),
                    idle_days: None,
                    worst_seconds: None,
                    worst_day: None,
                    reason_en: "time utilization 5% over the last 28 days".into(),
                    reason_zh: "近28天时间利用率5%".into(),
                    revision: 0,
                });
            }
        }
        let mut by_site: Vec<Vec<&RoomWindow>> = vec![Vec::new(); registry.sites.len()];
        for w in &windows {
            by_site[registry.rooms[w.room.ix()].site.ix()].push(w);
        }
        let mut site_days = Vec::with_capacity(registry.sites.len());
        for (s, (site, rooms)) in registry.sites.iter().zip(&by_site).enumerate() {
            let sum = |f: fn(&RoomWindow) -> u64| rooms.iter().map(|w| f(w)).sum::<u64>();
            site_days.push(SiteDay {
                site: devices::SiteIdx(s as u32),
                start,
                end: start + 86_400,
                rooms: site.rooms.len() as u32,
                open_seconds: sum(|w| w.open_seconds.into()),
                measured_seconds: sum(|w| w.measured_seconds.into()),
                occupied_seconds: sum(|w| w.occupied_seconds.into()),
                person_seconds: sum(|w| w.person_seconds),
                capacity_person_seconds: sum(|w| {
                    u64::from(w.capacity.unwrap_or(0)) * u64::from(w.measured_seconds)
                }),
                capacity_seconds: 0,
                visits: sum(|w| w.visits),
                area_m2: 300.0,
                rooms_covered: rooms.len() as u32,
                rooms_underused: 1,
                functions_in_use: Vec::new(),
                revision: 0,
            });
        }
        room_days += windows.len();
        flags_n += flags.len();
        store.write_windows(&windows)?;
        store.write_flags(&flags)?;
        store.write_site_days(&site_days)?;
        if day % 30 == 29 {
            eprintln!("reports: day {} of {days}", day + 1);
        }
    }
    let exe = std::env::current_exe()?
        .parent()
        .ok_or_else(|| anyhow::anyhow!("bench binary directory"))?
        .join("doorstep");
    let last = chrono::DateTime::from_timestamp(YEAR_S + (days - 1) * 86_400 + 43_200, 0)
        .unwrap_or_default()
        .date_naive();
    let time = |report: &str| -> anyhow::Result<f64> {
        let began = Instant::now();
        let status = Command::new(&exe)
            .args(["report", report, "--data"])
            .arg(&data)
            .arg("--registry")
            .arg(&registry_file)
            .args([
                "--from",
                "2026-01-01",
                "--to",
                &last.to_string(),
                "--format",
                "csv",
                "--output",
            ])
            .arg(dir.join(format!("{report}.csv")))
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "doorstep report {report} failed");
        Ok(began.elapsed().as_secs_f64())
    };
    let compare = time("compare")?;
    let underuse = time("underuse")?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("## Reports\n");
    println!(
        "A simulated year ({days} days from 2026-01-01) of {} sites and {} rooms written straight into the \
         tables ({room_days} `room_day` rows, {} `site_day` rows, {flags_n} flags; numbers made up, shapes real); \
         each report over the whole year, CSV to a file, timed as a process. \
         Measured by `doorstep-bench reports --sites {sites} --days {days}`.\n",
        registry.sites.len(),
        registry.rooms.len(),
        registry.sites.len() as i64 * days,
    );
    println!("| report | seconds |");
    println!("|---|---:|");
    println!("| `doorstep report compare` | {compare:.2} |");
    println!("| `doorstep report underuse` | {underuse:.2} |\n");
    Ok(())
}
