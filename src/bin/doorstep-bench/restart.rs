//! A restart at national load: `doorstep run` with the national registry and a
//! full lookback in the tables takes national load, checkpointing every 300 s;
//! after `seconds` it is killed with SIGKILL and started again. Reports the
//! time until it serves live data again (`/readyz`), its memory while it
//! restarts, and the checkpoint it restarted from.

use crate::national::{self, metric, rss_kib};
use std::time::{Duration, Instant};

pub fn run(seconds: u64, rate: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("doorstep-bench-restart-{}", std::process::id()));
    let (mqtt, web, history_rows) = national::setup(&dir)?;
    let config = dir.join("doorstep.toml");
    let mut first = national::spawn(&config, &dir.join("doorstep-1.log"), &[])?;
    let pid = first.id();
    national::wait_web(web)?;
    let load = national::load(mqtt, web, &[pid], seconds, rate)?;
    let peak_load = rss_kib(pid, "VmHWM:");
    let checkpoints = metric(web, "doorstep_checkpoints_written_total").unwrap_or(0.0);
    let ck_bytes = metric(web, "doorstep_checkpoint_bytes").unwrap_or(0.0);
    let ck_secs = metric(web, "doorstep_checkpoint_write_seconds").unwrap_or(0.0);
    let ck_age = metric(web, "doorstep_checkpoint_age_seconds").unwrap_or(f64::NAN);
    first.kill()?;
    first.wait()?;

    let began = Instant::now();
    let mut second = national::spawn(&config, &dir.join("doorstep-2.log"), &[])?;
    let pid = second.id();
    let mut peak_restart = 0;
    let serving = loop {
        peak_restart = peak_restart.max(rss_kib(pid, "VmHWM:"));
        if ready(web) {
            break began.elapsed();
        }
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(900),
            "doorstep did not serve again within 15 minutes (see {})",
            dir.join("doorstep-2.log").display()
        );
        if let Some(status) = second.try_wait()? {
            anyhow::bail!("doorstep ended while restarting: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // A minute of load after the restart: the memory once it runs again.
    let after = national::load(mqtt, web, &[pid], 60, rate)?;
    let peak_after = rss_kib(pid, "VmHWM:");
    let resumed = metric(web, "doorstep_restart_from_checkpoint").unwrap_or(0.0);
    let replayed = metric(web, "doorstep_restart_replayed_readings").unwrap_or(0.0);
    let restart_s = metric(web, "doorstep_restart_seconds").unwrap_or(f64::NAN);
    national::stop(&mut [second]);
    let _ = std::fs::remove_dir_all(&dir);

    println!("## Restart at national load\n");
    println!(
        "`doorstep run` (release, 2 workers, embedded broker, the national registry of National load, {} days of \
         history in the tables: {history_rows} rows) takes {rate} messages a second for {seconds} s ({} messages), \
         checkpointing every 300 s (the default), and is killed with SIGKILL; it is started again at once. \
         Measured by `doorstep-bench restart --seconds {seconds} --rate {rate}`.\n",
        national::HISTORY_DAYS,
        load.published
    );
    println!("| figure | value |");
    println!("|---|---:|");
    println!(
        "| peak RSS under load (VmHWM) | **{} MB** |",
        peak_load / 1024
    );
    println!("| checkpoints written before the kill | {checkpoints} |");
    println!("| last checkpoint: size | {:.0} MB |", ck_bytes / 1e6);
    println!("| last checkpoint: asked to committed | {ck_secs:.1} s |");
    println!("| last checkpoint: age at the kill | {ck_age:.0} s |");
    println!(
        "| restart resumed from the checkpoint | {} |",
        if resumed > 0.0 { "yes" } else { "no" }
    );
    println!("| readings replayed after it | {replayed} |");
    println!(
        "| start to serving live data (`/readyz`) | **{:.1} s** |",
        serving.as_secs_f64()
    );
    println!("| start to end of replay (`doorstep_restart_seconds`) | {restart_s:.1} s |");
    println!(
        "| peak RSS until serving (VmHWM) | **{} MB** |",
        peak_restart / 1024
    );
    println!(
        "| peak RSS after a minute of load again (VmHWM) | {} MB |",
        peak_after / 1024
    );
    println!(
        "| probes seen after the restart, p99 latency | {}, {:.1} ms |\n",
        after.latencies.len(),
        after.percentile(0.99)
    );
    Ok(())
}

fn ready(web: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", web)) else {
        return false;
    };
    if write!(
        s,
        "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}
