//! `doorstep import` of a year of one-minute counts of one room: rows a second,
//! peak memory and the files written, as a user would run it (the release
//! binary, a CSV export, a fresh data directory), then once more with the
//! same file (the batch is replaced).

use crate::national::rss_kib;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REGISTRY: &str = r#"
[[site]]
id = "bench"
name = "基准社区"
[[site.room]]
id = "hall"
name = "活动室"
capacity = 40
area_m2 = 100
schedule = ["daily 08:00-20:00 culture"]
[[site.device]]
id = "hall-count"
room = "hall"
kind = "count"
"#;

/// A year of one-minute counts from 2025-01-01: people from 08:00 to 20:00, a
/// random walk; nobody at night.
fn year_csv(days: i64) -> String {
    let mut out = String::from("time,people\n");
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let mut n: i64 = 0;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for minute in 0..days * 1440 {
        let t = start + chrono::Duration::minutes(minute);
        let hour = minute % 1440 / 60;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        n = if (8..20).contains(&hour) {
            (n + (seed % 3) as i64 - 1).clamp(0, 40)
        } else {
            0
        };
        let _ = writeln!(out, "{},{n}", t.format("%Y-%m-%d %H:%M"));
    }
    out
}

/// Runs one import; (seconds, peak RSS in KiB).
fn import(exe: &Path, dir: &Path, csv: &Path) -> anyhow::Result<(f64, u64)> {
    let began = Instant::now();
    let mut child = Command::new(exe)
        .args(["import", "--format", "csv", "--device", "hall-count"])
        .args(["--time-column", "time", "--count", "people", "--registry"])
        .arg(dir.join("registry.toml"))
        .arg("--data")
        .arg(dir.join("data"))
        .arg(csv)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start doorstep (cargo build --release)")?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        peak = peak.max(rss_kib(pid, "VmHWM:"));
        if let Some(s) = child.try_wait()? {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    anyhow::ensure!(status.success(), "doorstep import failed: {status}");
    Ok((began.elapsed().as_secs_f64(), peak))
}

/// Parquet files under `dir`, by table.
fn files(dir: &Path) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let Ok(tables) = std::fs::read_dir(dir) else {
        return out;
    };
    for t in tables.flatten() {
        let mut n = 0;
        for part in std::fs::read_dir(t.path()).into_iter().flatten().flatten() {
            n += std::fs::read_dir(part.path())
                .into_iter()
                .flatten()
                .flatten()
                .filter(|f| f.path().extension().is_some_and(|e| e == "parquet"))
                .count();
        }
        if n > 0 {
            out.push((t.file_name().to_string_lossy().into_owned(), n));
        }
    }
    out.sort();
    out
}

pub fn run(days: i64) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("doorstep-bench-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("registry.toml"), REGISTRY)?;
    let csv = dir.join("year.csv");
    let text = year_csv(days);
    let rows = text.lines().count() - 1;
    std::fs::write(&csv, &text)?;
    let exe = std::env::current_exe()?
        .parent()
        .context("bench binary directory")?
        .join("doorstep");
    let (first_s, first_kib) = import(&exe, &dir, &csv)?;
    let (again_s, again_kib) = import(&exe, &dir, &csv)?;
    let written = files(&dir.join("data"));
    let _ = std::fs::remove_dir_all(&dir);

    println!("## Import\n");
    println!(
        "`doorstep import --format csv` of {days} days of one-minute counts of one room ({rows} rows, {:.1} MB of CSV), \
         release build, into a fresh data directory, then the same file again (its batch is replaced). \
         Timed from process start to exit; peak RSS is the process's VmHWM. \
         Measured by `doorstep-bench import --days {days}`.\n",
        text.len() as f64 / 1e6
    );
    println!("| run | seconds | rows per second | peak RSS |");
    println!("|---|---:|---:|---:|");
    for (name, s, kib) in [
        ("first import", first_s, first_kib),
        ("the same file again", again_s, again_kib),
    ] {
        println!(
            "| {name} | {s:.2} | **{:.0}** | {} MB |",
            rows as f64 / s,
            kib / 1024
        );
    }
    let total: usize = written.iter().map(|(_, n)| n).sum();
    let per: Vec<String> = written.iter().map(|(t, n)| format!("{t} {n}")).collect();
    println!(
        "\nFiles written: {total} ({}): one per table and local day, which the store does not compact for imports.\n",
        per.join(", ")
    );
    Ok(())
}
