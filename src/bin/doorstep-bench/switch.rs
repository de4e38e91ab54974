//! A registry change at national load: `doorstep run` with the national
//! registry (JSON) and a full lookback takes national load; halfway through,
//! `doorstep registry apply` moves 100 presence sensors into 100 new rooms.
//! Reports how long `apply` took, how long the running doorstep's stream
//! workers took to take the switch (its log), and the probes' latency: over
//! the whole load, and the worst of those published while the change was
//! applied and taken (the pause a switch puts on ingest, end to end).

use crate::national::{self, rss_kib};
use anyhow::Context;
use std::time::{Duration, Instant};

/// Sites whose first room's presence sensor moves to a new room `x`.
const MOVED: usize = 100;

pub fn run(seconds: u64, rate: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("doorstep-bench-switch-{}", std::process::id()));
    let (mqtt, web, history_rows) = national::setup(&dir)?;
    let changed = dir.join("registry-new.json");
    write_change(&dir.join("registry.json"), &changed)?;
    let config = dir.join("doorstep.toml");
    let log = dir.join("doorstep.log");
    let child = national::spawn(&config, &log, &[])?;
    let pid = child.id();
    national::wait_web(web)?;
    let exe = std::env::current_exe()?
        .parent()
        .context("bench binary directory")?
        .join("doorstep");
    let applier = std::thread::spawn(move || -> anyhow::Result<(Instant, Duration, String)> {
        std::thread::sleep(Duration::from_secs(seconds / 2));
        let began = Instant::now();
        let out = std::process::Command::new(exe)
            .args(["registry", "apply"])
            .arg(&changed)
            .arg("--config")
            .arg(&config)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "registry apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((
            began,
            began.elapsed(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    });
    let load = national::load(mqtt, web, &[pid], seconds, rate)?;
    let (apply_began, apply_took, said) = applier
        .join()
        .map_err(|_| anyhow::anyhow!("the apply thread panicked"))??;
    let peak = rss_kib(pid, "VmHWM:");
    national::stop(&mut [child]);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let switched = text.lines().find(|l| l.contains("registry switched"));
    let field = |name: &str| {
        switched?
            .split(&format!("{name}="))
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
    };
    let (taken_ms, held_ms) = (field("taken_ms"), field("held_ms"));
    // From `apply` until 10 s after the doorstep took the change (the file is
    // looked at every second): every probe that a pause would delay.
    let (worst_ms, around) = load.worst_between(
        apply_began,
        apply_began + apply_took + Duration::from_secs(10),
    );
    if std::env::var_os("DOORSTEP_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("kept {}", dir.display());
    }
    let changes = said
        .lines()
        .filter(|l| l.starts_with(['+', '-', '~', '>']))
        .count();

    println!("## Registry change at national load\n");
    println!(
        "`doorstep run` (release, 2 workers, embedded broker, the national registry of National load as JSON, {} days of \
         history in the tables: {history_rows} rows) takes {rate} messages a second for {seconds} s ({} messages); after \
         {} s, `doorstep registry apply` installs a registry in which {MOVED} presence sensors move to {MOVED} new rooms \
         ({changes} changes). Measured by `doorstep-bench switch --seconds {seconds} --rate {rate}`.\n",
        national::HISTORY_DAYS,
        load.published,
        seconds / 2
    );
    println!("| figure | value |");
    println!("|---|---:|");
    println!(
        "| `registry apply` (check, compare, record, write) | **{:.1} s** |",
        apply_took.as_secs_f64()
    );
    match (taken_ms, held_ms) {
        (Some(ms), _) => {
            println!("| switched in place: until both stream workers had taken it | {ms} ms |")
        }
        (None, Some(ms)) => println!(
            "| not in place: messages held at the door while the pipeline restarted | **{:.1} s** |",
            ms as f64 / 1000.0
        ),
        (None, None) => println!("| switch | none in the log |"),
    }
    println!(
        "| worst latency of the {around} probes published from `apply` to 10 s after it | **{worst_ms:.0} ms** |"
    );
    println!(
        "| probes seen, p50 / p99 / max latency | {}, {:.1} / {:.1} / {:.1} ms |",
        load.latencies.len(),
        load.percentile(0.5),
        load.percentile(0.99),
        load.percentile(1.0)
    );
    println!("| peak RSS (VmHWM) | {} MB |\n", peak / 1024);
    Ok(())
}

/// The national registry with the presence sensor of room r0 of sites 0..MOVED
/// moved to a new room `x` of the same site.
fn write_change(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    let mut file: devices::RegistryFile = serde_json::from_slice(&std::fs::read(from)?)?;
    for site in file.site.iter_mut().take(MOVED) {
        let mut room = site.room[0].clone();
        room.id = "x".into();
        room.name = "新房间".into();
        site.room.push(room);
        let presence = format!("{}-r0-1", site.id);
        if let Some(d) = site.device.iter_mut().find(|d| d.id == presence) {
            d.room = "x".into();
        }
    }
    std::fs::write(to, serde_json::to_vec(&file)?)?;
    Ok(())
}
