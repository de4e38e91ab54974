//! Replay throughput: events a second through decode, validation, the dataflow
//! and the Parquet sinks, without a broker.

use crate::fleet;
use analytics::Store;
use devices::sim::Fleet;
use devices::{Limits, Validator};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-02 (Monday) 00:00 in Shanghai, Unix ms.
const START_MS: i64 = 1_793_548_800_000;

pub fn run(sites: usize, days: i64, workers: usize) -> anyhow::Result<()> {
    let registry = fleet::registry(sites)?;
    eprintln!(
        "replay: simulating {days} days of {} devices",
        registry.devices.len()
    );
    let mut fleet = Fleet::new(Arc::clone(&registry), 3, START_MS);
    let messages = fleet.step(START_MS + days * 86_400_000);
    let n = messages.len();
    let dir = std::env::temp_dir().join(format!("doorstep-bench-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, Arc::clone(&registry))?;
    let validator = Validator::new(Arc::clone(&registry), Limits::default());
    eprintln!("replay: {n} messages");

    let began = Instant::now();
    let mut readings = Vec::with_capacity(n);
    for p in &messages {
        let r = validator.check(&p.topic, &p.payload, p.time_ms + 500);
        readings.push(r.map_err(|e| anyhow::anyhow!("simulated message rejected: {e:?}"))?);
    }
    let decoded = began.elapsed();
    for chunk in readings.chunks(200_000) {
        store.write_raw_events(chunk)?;
    }
    let raw_written = began.elapsed();
    let config = stream::StreamConfig {
        workers,
        ..stream::StreamConfig::default()
    };
    let until = START_MS / 1000 + days * 86_400;
    let out = stream::replay(Arc::clone(&registry), &config, readings, 4096, until)?;
    let streamed = began.elapsed();
    store.write_windows(&out.windows)?;
    store.write_flags(&out.flags)?;
    store.write_site_days(&out.site_days)?;
    store.write_idle_slots(&out.idle_slots)?;
    store.write_device_days(&out.device_days)?;
    let total = began.elapsed();
    let _ = std::fs::remove_dir_all(&dir);

    let piped = pipelined(&registry, &messages, workers, days)?;
    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!("## Replay throughput\n");
    println!(
        "{n} messages of a simulated fleet ({} sites, {} devices, {days} days), held in memory as MQTT payloads, \
         then decoded and validated, written to `raw_events`, run through the timely dataflow ({workers} worker{}) \
         and its tables written. Measured by `doorstep-bench replay --sites {sites} --days {days} --workers {workers}`.\n",
        registry.sites.len(),
        registry.devices.len(),
        if workers == 1 { "" } else { "s" }
    );
    println!(
        "As doorstep runs it (threads as in `doorstep run`: validation, intake writing `raw_events` every \
         1,000,000 readings, the dataflow workers, the sink writing the tables): **{:.0} events per second** \
         ({:.2} s). Each stage alone, one after the other:\n",
        rate(piped),
        piped.as_secs_f64()
    );
    println!("| stage | seconds | events per second |");
    println!("|---|---:|---:|");
    println!(
        "| decode + validate | {:.2} | {:.0} |",
        decoded.as_secs_f64(),
        rate(decoded)
    );
    println!(
        "| `raw_events` Parquet | {:.2} | {:.0} |",
        (raw_written - decoded).as_secs_f64(),
        rate(raw_written - decoded)
    );
    println!(
        "| dataflow | {:.2} | {:.0} |",
        (streamed - raw_written).as_secs_f64(),
        rate(streamed - raw_written)
    );
    println!(
        "| metric tables | {:.2} | |",
        (total - streamed).as_secs_f64()
    );
    println!(
        "| **all** | {:.2} | **{:.0}** |\n",
        total.as_secs_f64(),
        rate(total)
    );
    Ok(())
}

/// The same work with doorstep's own threads: validation, intake (dataflow feed and
/// `raw_events`), the dataflow workers and the table sink run side by side.
fn pipelined(
    registry: &Arc<devices::Registry>,
    messages: &[devices::sim::Publish],
    workers: usize,
    days: i64,
) -> anyhow::Result<Duration> {
    let dir = std::env::temp_dir().join(format!("doorstep-bench-piped-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, Arc::clone(registry))?;
    let config = stream::StreamConfig {
        workers,
        idle_after_s: 86_400,
        ..stream::StreamConfig::default()
    };
    let end_ms = START_MS + days * 86_400_000;
    let clock = devices::Clock::simulated(end_ms + 60_000, 1.0);
    let began = Instant::now();
    let (out_tx, out_rx) = std::sync::mpsc::sync_channel(65_536);
    let stream = stream::Stream::start(Arc::clone(registry), clock, &config, out_tx)?;
    let sink = {
        let store = store.clone();
        std::thread::spawn(move || -> anyhow::Result<usize> {
            let mut windows = Vec::new();
            let mut n = 0;
            for o in out_rx {
                n += 1;
                if let stream::Output::Window(w) = o {
                    windows.push(w);
                    if windows.len() >= 100_000 {
                        store.write_windows(&std::mem::take(&mut windows))?;
                    }
                }
            }
            store.write_windows(&windows)?;
            Ok(n)
        })
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<devices::Reading>>(16);
    let intake = {
        let store = store.clone();
        std::thread::spawn(move || -> anyhow::Result<stream::Stream> {
            let mut raw = Vec::new();
            for batch in rx {
                raw.extend(batch.iter().cloned());
                stream.send(batch)?;
                if raw.len() >= 1_000_000 {
                    store.write_raw_events(&std::mem::take(&mut raw))?;
                }
            }
            store.write_raw_events(&raw)?;
            Ok(stream)
        })
    };
    let validator = Validator::new(Arc::clone(registry), Limits::default());
    for chunk in messages.chunks(4096) {
        let mut batch = Vec::with_capacity(chunk.len());
        for p in chunk {
            let r = validator.check(&p.topic, &p.payload, p.time_ms + 500);
            batch.push(r.map_err(|e| anyhow::anyhow!("simulated message rejected: {e:?}"))?);
        }
        tx.send(batch)?;
    }
    drop(tx);
    let stream = intake
        .join()
        .map_err(|_| anyhow::anyhow!("intake thread panicked"))??;
    stream.shutdown()?;
    let outputs = sink
        .join()
        .map_err(|_| anyhow::anyhow!("sink thread panicked"))??;
    let took = began.elapsed();
    anyhow::ensure!(outputs > 0, "the dataflow produced nothing");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(took)
}
